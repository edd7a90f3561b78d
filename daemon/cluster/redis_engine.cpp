#include "cluster/redis_engine.hpp"

#include "cluster/event_codec.hpp"
#include "cluster/keys.hpp"
#include "cluster/node_ordinal.hpp"
#include "cluster/redis_script.hpp"
#include "cluster/redis_store.hpp"
#include "core/clock.hpp"
#include "core/lockout.hpp"
#include "log.hpp"
#include "log_flood.hpp"
#include "proto/parse_number.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace confab {
namespace {

namespace keys = cluster::keys;
using cluster::hold_ordinal_script;
using cluster::release_ordinal_script;

// KEYS: a user hash. ARGV: this node, the session field. 2: claimed (the field was
// free), 1: it was this node's already (a re-claim after a reconnect), 0: another node holds it.
const RedisScript claim_script{R"lua(
local holder = redis.call('HGET', KEYS[1], ARGV[2])
if not holder then redis.call('HSET', KEYS[1], ARGV[2], ARGV[1]) return 2 end
if holder == ARGV[1] then return 1 end
return 0
)lua"};

// KEYS: a user hash. ARGV: a node, the session field. Deletes the field only if that node holds it.
const RedisScript release_script{R"lua(
if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[1] then return redis.call('HDEL', KEYS[1], ARGV[2]) end
return 0
)lua"};

const std::string alive_ttl = std::to_string(RedisEngine::alive_ttl_ms);

// A node's users hash value: "login_ms", or "login_ms listen_host listen_port" (the
// host may be empty) when the user has a private-chat listener. A bare number is
// what Redis stores most compactly.
std::string users_value(const cluster::Online& o) {
    if (o.listen_port == 0) return std::to_string(o.at_wall_ms);
    return fmt::format("{} {} {}", o.at_wall_ms, o.listen_host, o.listen_port);
}
std::optional<cluster::Online> parse_users_value(std::string_view name, std::string_view node, std::string_view v) {
    const std::size_t first = v.find(' '), last = v.rfind(' ');
    auto login = parse_number<std::int64_t>(v.substr(0, first));
    if (!login) return std::nullopt;
    if (first == std::string_view::npos)
        return cluster::Online{std::string(name), std::string(node), *login, "", 0, ""};
    auto port = parse_number<std::uint16_t>(v.substr(last + 1));
    if (first == last || !port) return std::nullopt;
    return cluster::Online{
        std::string(name), std::string(node), *login, std::string(v.substr(first + 1, last - first - 1)), *port, ""};
}

bool ok_reply(const redisReply* r) {
    return r && r->type != REDIS_REPLY_ERROR;
}

} // namespace

struct RedisEngine::Snapshotting {
    std::uint64_t generation;
    bool resync = false; // read again while available, after events were dropped
    int outstanding = 0; // parts not read yet
    bool failed = false;
    std::string error; // the first failed reply's, for the log
    cluster::Snapshot snapshot;
    bool track(const redisReply* r) {
        if (!ok_reply(r) && !failed) {
            failed = true;
            error = r ? std::string(redis_text(r)) : "no reply";
        }
        return !failed;
    }
};

RedisEngine::RedisEngine(const Connect& connect, std::string node_id, ClusterEvents& out, Timers timers,
                         std::size_t max_buffered)
    : node_id_(std::move(node_id)), out_(out), timers_(std::move(timers)), max_buffered_(max_buffered) {
    const auto hooks = [this](bool subscriber) {
        std::weak_ptr<RedisEngine*> self = self_;
        return RedisConnection::Hooks{[self] {
                                          if (auto e = self.lock()) (*e)->on_up();
                                      },
                                      [self, subscriber](std::string_view why) {
                                          if (auto e = self.lock()) {
                                              log::flood(log::Flood::cluster_error, log::Level::warning,
                                                         "Redis {} connection lost: {}",
                                                         subscriber ? "subscriber" : "command", why);
                                              (*e)->on_down(why);
                                          }
                                      }};
    };
    commands_ = &connect(hooks(false));
    subscriber_ = &connect(hooks(true));
}

RedisEngine::~RedisEngine() {
    self_.reset(); // the connections' last callbacks (null replies) find no engine
}

// ---------------------------------------------------------------- start-up and exit (blocking)

namespace {
// Removes `node`'s sessions and presence from Redis (its users are logged out now):
// after a restart of the same node id, and when leaving.
void clean_up_node(RedisSync& redis, const std::string& node) {
    std::vector<std::vector<std::string>> reads;
    for (std::uint32_t b = 0; b < keys::node_user_buckets; ++b) reads.push_back({"HKEYS", keys::node_users(node, b)});
    const auto buckets = redis.pipeline(reads);
    const std::int64_t at = wall_ms();
    const std::string now = std::to_string(at);
    std::vector<std::vector<std::string>> commands;
    std::vector<std::string> del{"DEL"};
    std::size_t ended = 0;
    for (std::uint32_t b = 0; b < keys::node_user_buckets; ++b) {
        const redisReply* users = buckets[b].get();
        if (users->type == REDIS_REPLY_ERROR) throw reply_error("reading " + reads[b][1], users);
        if (users->elements > 0) del.push_back(reads[b][1]);
        for (std::size_t i = 0; i < users->elements; ++i, ++ended) {
            const std::string name(redis_text(users->element[i])), user = keys::user(name);
            commands.push_back(release_script.eval_command({"1", user, node, std::string(keys::session_field)}));
            commands.push_back({"HSET", user, std::string(keys::seen_field), now});
            if (auto offline = cluster::encode_event(cluster::Offline{name, node, at}, node))
                commands.push_back({"PUBLISH", std::string(keys::all_channel), std::move(*offline)});
        }
    }
    if (del.size() > 1) commands.push_back(std::move(del));
    redis.pipeline(commands);
    if (ended > 0) log::info("cluster: {} session(s) of an earlier run of {} ended", ended, node);
}
} // namespace

void RedisEngine::prepare(RedisSync& redis) {
    clean_up_node(redis, node_id_);
    ordinal_ = cluster::take_ordinal(redis, node_id_, alive_ttl_ms);
    redis.command({"SET", keys::node_alive(node_id_), "1", "PX", alive_ttl});
    redis.command({"SADD", keys::nodes, node_id_});
    log::info("cluster: node {} (ordinal {})", node_id_, ordinal_);
}

void RedisEngine::leave(RedisSync& redis) {
    std::vector<std::vector<std::string>> commands;
    const auto release_command = [&](const std::string& name) {
        commands.push_back(
            release_script.eval_command({"1", keys::user(name), node_id_, std::string(keys::session_field)}));
    };
    for (const std::string& name : held_) release_command(name);
    // clean_up_node ends those still in this node's buckets
    for (const auto& [name, at] : unsent_releases_) release_command(name);
    commands.push_back(release_ordinal_script.eval_command({"1", keys::ordinal_slot(ordinal_), node_id_}));
    redis.pipeline(commands);
    clean_up_node(redis, node_id_);
    redis.command({"DEL", keys::node_alive(node_id_)});
    redis.command({"SREM", keys::nodes, node_id_});
    held_.clear();
    unsent_releases_.clear();
}

void RedisEngine::start() {
    commands_->start();
    std::weak_ptr<RedisEngine*> self = self_;
    subscriber_->subscribe({std::string(keys::all_channel), keys::node_channel(node_id_)},
                           [self](std::string_view channel, std::string_view payload) {
                               if (auto e = self.lock()) (*e)->on_message(channel, payload);
                           });
    subscriber_->start();
    timers_.heartbeat(heartbeat_ms);
    timers_.liveness(liveness_ms);
}

bool RedisEngine::connected() const noexcept {
    return commands_->up() && subscriber_->up();
}

bool RedisEngine::idle() const noexcept {
    return commands_->pending() == 0 && !has_batched();
}

// ---------------------------------------------------------------- connection state

void RedisEngine::on_up() {
    if (!connected()) return; // the other connection is not there yet
    ++generation_;
    log::info("cluster: connected to Redis");
    reassert();
    resend_releases();
    take_snapshot();
}

void RedisEngine::on_down(std::string_view) {
    ++generation_;                 // a Snapshot being read is no longer worth anything
    snapshot_retry_ = Retry::none; // the next up reads everything anyway
    buffered_.clear();
    resyncing_ = false; // the Snapshot after the reconnect reads everything again
    heard_resyncing_.clear();
    if (!ready_) return;
    ready_ = false;
    log::warning("cluster: Redis unreachable; logins and messages to other servers are refused until it is back");
    out_.on_cluster_available(false);
}

void RedisEngine::reassert() {
    // Redis may have been restarted, or another node may have taken this one for dead and
    // cleaned up after it: the alive key and the node set come back at once. The sessions
    // this node holds are claimed again as the replica is read (reclaim()).
    heartbeat();
}

void RedisEngine::heartbeat() {
    const std::string alive = keys::node_alive(node_id_);
    const std::array<std::string_view, 5> set{"SET", alive, "1", "PX", alive_ttl};
    send(set, [](const redisReply*) {});
    const std::array<std::string_view, 3> add{"SADD", keys::nodes, node_id_};
    send(add, [](const redisReply*) {});
    // The ordinal's slot too, unless another node took it while this one could not refresh it.
    const std::uint16_t ordinal = ordinal_;
    const std::string slot = keys::ordinal_slot(ordinal);
    const std::array<std::string_view, 4> hold{"1", slot, node_id_, alive_ttl};
    std::weak_ptr<RedisEngine*> self = self_;
    commands_->eval(hold_ordinal_script, hold, [self, ordinal](const redisReply* r) {
        auto e = self.lock();
        if (e && r && r->type == REDIS_REPLY_STRING && ordinal == (*e)->ordinal_)
            (*e)->ordinal_lost(std::string(redis_text(r)));
    });
}

// Like take_ordinal at start-up, without blocking: the counter and every slot read in one
// go, then the candidates tried one at a time. Until a new ordinal is held the old one stays
// in use; a failure (Redis gone again) leaves it to the next heartbeat to try again.
struct RedisEngine::OrdinalSearch {
    std::string holder; // who took ordinal_
    std::uint32_t start = 0;
    std::vector<std::optional<std::string>> holders = std::vector<std::optional<std::string>>(cluster::node_ordinals);
    std::uint32_t outstanding = cluster::node_ordinals + 1;
    bool failed = false;
    std::vector<std::uint32_t> candidates;
};

void RedisEngine::ordinal_lost(std::string holder) {
    if (searching_ordinal_) return;
    searching_ordinal_ = true;
    auto s = std::make_shared<OrdinalSearch>();
    s->holder = std::move(holder);
    std::weak_ptr<RedisEngine*> self = self_;
    auto read = [this, self, s] {
        if (--s->outstanding > 0) return;
        if (s->failed) {
            searching_ordinal_ = false;
            return;
        }
        s->candidates = cluster::ordinal_candidates(s->holders, node_id_, s->start);
        try_ordinal(s, 0);
    };
    const std::array<std::string_view, 2> incr{"INCR", keys::node_ordinal};
    send(incr, [self, s, read](const redisReply* r) {
        if (!self.lock()) return;
        if (r && r->type == REDIS_REPLY_INTEGER)
            s->start = std::uint32_t(std::uint64_t(r->integer) % cluster::node_ordinals);
        else
            s->failed = true;
        read();
    });
    for (std::uint32_t n = 0; n < cluster::node_ordinals; ++n) {
        const std::string slot = keys::ordinal_slot(n);
        const std::array<std::string_view, 2> get{"GET", slot};
        send(get, [self, s, read, n](const redisReply* r) {
            if (!self.lock()) return;
            if (r && r->type == REDIS_REPLY_STRING)
                s->holders[n] = std::string(redis_text(r));
            else if (!r || r->type != REDIS_REPLY_NIL)
                s->failed = true;
            read();
        });
    }
}

void RedisEngine::try_ordinal(const std::shared_ptr<OrdinalSearch>& s, std::size_t i) {
    if (i == s->candidates.size()) {
        searching_ordinal_ = false;
        log::flood(log::Flood::cluster_error, log::Level::error,
                   "cluster: node ordinal {} was taken by node {} while this node could not refresh it (cut off "
                   "from Redis), and no other is free: message ids of the two may repeat until one is",
                   ordinal_, s->holder);
        return;
    }
    const std::uint32_t n = s->candidates[i];
    const std::string slot = keys::ordinal_slot(n);
    const std::array<std::string_view, 4> hold{"1", slot, node_id_, alive_ttl};
    std::weak_ptr<RedisEngine*> self = self_;
    commands_->eval(hold_ordinal_script, hold, [this, self, s, i, n](const redisReply* r) {
        if (!self.lock()) return;
        if (r && r->type == REDIS_REPLY_STRING) return try_ordinal(s, i + 1); // taken meanwhile
        searching_ordinal_ = false;
        if (!r || r->type != REDIS_REPLY_INTEGER) return;
        log::warning("cluster: node ordinal {} was taken by node {} while this node could not refresh it (cut "
                     "off from Redis); now ordinal {}, the low bits of the message ids it makes from now on",
                     ordinal_, s->holder, n);
        ordinal_ = std::uint16_t(n);
    });
}

void RedisEngine::on_heartbeat_timer() {
    if (commands_->up()) heartbeat();
    timers_.heartbeat(heartbeat_ms);
}

// ---------------------------------------------------------------- the replica after a (re)connect

void RedisEngine::take_snapshot(bool resync) {
    auto s = std::make_shared<Snapshotting>();
    s->generation = generation_;
    s->resync = resync;
    s->outstanding = 2; // the other nodes' users, the users file's names
    s->snapshot.stored.emplace().names = names_;
    std::weak_ptr<RedisEngine*> self = self_;
    if (!resync) reclaim(s);
    const std::array<std::string_view, 2> members{"SMEMBERS", keys::nodes};
    send(members, [this, self, s](const redisReply* r) {
        if (!self.lock()) return;
        if (s->track(r) && r->type == REDIS_REPLY_ARRAY) {
            for (std::size_t i = 0; i < r->elements; ++i) {
                const std::string node(redis_text(r->element[i]));
                if (node == node_id_) continue;
                // Users of a node that stopped heartbeating are dropped by its NodeDown soon after.
                for (std::uint32_t b = 0; b < keys::node_user_buckets; ++b) {
                    ++s->outstanding;
                    const std::string users = keys::node_users(node, b);
                    const std::array<std::string_view, 2> all{"HGETALL", users};
                    send(all, [this, self, s, node](const redisReply* u) {
                        if (!self.lock()) return;
                        if (s->track(u) && u->type == REDIS_REPLY_ARRAY)
                            for (std::size_t j = 0; j + 1 < u->elements; j += 2)
                                if (auto o = parse_users_value(redis_text(u->element[j]), node,
                                                               redis_text(u->element[j + 1])))
                                    s->snapshot.online.push_back(std::move(*o));
                        snapshot_part_done(s);
                    });
                }
            }
        }
        snapshot_part_done(s);
    });
    read_stored(s, 0);
}

void RedisEngine::reclaim(const std::shared_ptr<Snapshotting>& s) {
    // The other nodes may have taken this one for dead meanwhile and released its sessions (or
    // Redis restarted without them): each is claimed again, before anything is read on the same
    // connection, so a name another node holds now is read as online there, where it is.
    s->snapshot.reclaim.emplace();
    std::weak_ptr<RedisEngine*> self = self_;
    for (const std::string& name : held_) {
        ++s->outstanding;
        const std::string key = keys::user(name);
        const std::array<std::string_view, 4> tail{"1", key, node_id_, keys::session_field};
        commands_->eval(claim_script, tail, [this, self, s, name](const redisReply* r) {
            if (!self.lock()) return;
            if (s->track(r) && r->type == REDIS_REPLY_INTEGER && r->integer == 0)
                s->snapshot.reclaim->taken.push_back(name);
            snapshot_part_done(s);
        });
    }
}

void RedisEngine::read_stored(const std::shared_ptr<Snapshotting>& s, std::size_t start) {
    // Each name's block list, locks and user hash (last seen, trusted addresses), as
    // RedisStore::load reads them at start-up: what other nodes changed while this one
    // could not hear them. A chunk of names at a time: the next chunk is sent when the
    // last reply of this one came, so a long users file never fills the connection.
    constexpr std::size_t chunk = 200; // names: 600 commands in flight
    const std::vector<std::string>& names = s->snapshot.stored->names;
    const std::size_t end = std::min(names.size(), start + chunk);
    if (start >= end || s->failed) return snapshot_part_done(s);
    std::weak_ptr<RedisEngine*> self = self_;
    for (std::size_t i = start; i < end; ++i) {
        const std::string& name = names[i];
        const std::string blocks = keys::blocks(name), locks = keys::locks(name), user = keys::user(name);
        const std::array<std::string_view, 2> smembers{"SMEMBERS", blocks}, hgetall_locks{"HGETALL", locks},
            hgetall_user{"HGETALL", user};
        send(smembers, [self, s, i](const redisReply* r) {
            if (self.lock() && s->track(r))
                RedisStore::read_blocks(s->snapshot.stored->names[i], r, s->snapshot.stored->state);
        });
        send(hgetall_locks, [self, s, i](const redisReply* r) {
            if (self.lock() && s->track(r))
                RedisStore::read_locks(s->snapshot.stored->names[i], r, s->snapshot.stored->state);
        });
        send(hgetall_user, [this, self, s, i, last = i + 1 == end, end](const redisReply* r) {
            if (!self.lock()) return;
            const std::string& who = s->snapshot.stored->names[i];
            if (s->track(r))
                if (auto at = RedisStore::read_user(who, r, s->snapshot.stored->state))
                    s->snapshot.last_seen.emplace_back(who, *at);
            if (last) read_stored(s, end);
        });
    }
}

void RedisEngine::snapshot_part_done(const std::shared_ptr<Snapshotting>& s) {
    if (--s->outstanding == 0) finish_snapshot(*s);
}

namespace {
// What a resync read, with the events heard (and handed to the core) or made by this node
// meanwhile applied to it, since the read may be older than them: the Snapshot then says
// what the core already knows.
struct Folded {
    std::unordered_map<std::string, cluster::Online> online;
    std::set<std::pair<std::string, std::string>> blocks;      // (blocker, blocked)
    std::unordered_map<std::string, std::int64_t> admin_locks; // name -> until
    std::unordered_set<std::string> unlocked;                  // names whose lockouts were lifted
};
void fold(Folded& f, cluster::Snapshot& s, const cluster::Event& e) {
    if (const auto* on = std::get_if<cluster::Online>(&e)) {
        f.online[on->name] = *on;
        // A login heard since the read: its address is the user's most recent (the list is oldest first).
        if (!on->trusted_address.empty())
            s.stored->state.trusted.push_back({on->name, on->trusted_address, on->at_wall_ms});
    } else if (const auto* off = std::get_if<cluster::Offline>(&e)) {
        if (auto it = f.online.find(off->name); it != f.online.end() && it->second.node == off->node)
            f.online.erase(it);
        s.last_seen.emplace_back(off->name, off->at_wall_ms);
    } else if (const auto* down = std::get_if<cluster::NodeDown>(&e)) {
        std::erase_if(f.online, [&](const auto& entry) { return entry.second.node == down->node; });
    } else if (const auto* block = std::get_if<cluster::BlockChanged>(&e)) {
        if (block->on)
            f.blocks.emplace(block->blocker, block->blocked);
        else
            f.blocks.erase({block->blocker, block->blocked});
    } else if (const auto* lock = std::get_if<cluster::Locked>(&e); lock && lock->admin) {
        if (lock->until_wall_ms != 0) {
            f.admin_locks[lock->lock_key] = lock->until_wall_ms;
        } else {
            f.admin_locks.erase(lock->lock_key); // an unlock lifts the name's lockouts too
            f.unlocked.insert(lock->lock_key);
        }
    }
}
// The events a resync keeps to fold into what it read: presence, and the stored state's changes.
bool folded_in_resync(const cluster::Event& e) {
    if (const auto* lock = std::get_if<cluster::Locked>(&e)) return lock->admin;
    return std::holds_alternative<cluster::Online>(e) || std::holds_alternative<cluster::Offline>(e) ||
           std::holds_alternative<cluster::NodeDown>(e) || std::holds_alternative<cluster::BlockChanged>(e);
}
void fold_resync(cluster::Snapshot& s, const std::vector<cluster::Event>& heard) {
    Folded f;
    for (auto& o : s.online) f.online.emplace(o.name, std::move(o));
    StoredState& stored = s.stored->state;
    for (auto& b : stored.blocks) f.blocks.insert(std::move(b));
    for (const auto& [name, until] : stored.admin_locks) f.admin_locks[name] = until;
    for (const auto& e : heard) fold(f, s, e);
    s.online.clear();
    for (auto& [name, o] : f.online) s.online.push_back(std::move(o));
    stored.blocks.assign(f.blocks.begin(), f.blocks.end());
    stored.admin_locks.assign(f.admin_locks.begin(), f.admin_locks.end());
    std::erase_if(stored.locks,
                  [&](const auto& lock) { return f.unlocked.contains(std::string(Lockout::name_of(lock.first))); });
}
} // namespace

void RedisEngine::finish_snapshot(Snapshotting& s) {
    if (s.generation != generation_) return; // a newer connection takes its own
    if (!connected()) return;                // the connection went down: the next up tries again
    if (s.failed) {
        // Redis answered with an error while both connections stay up (a command the ACL
        // forbids, a Redis not ready): nothing else would try again, so the liveness tick does.
        if (s.resync) {
            resyncing_ = false;
            heard_resyncing_.clear();
        }
        if (snapshot_failures_++ % 60 == 0)
            log::warning("cluster: reading the replica {}failed ({}); trying again every {} s while it fails",
                         s.resync ? "again " : "", s.error, liveness_ms / 1000);
        snapshot_retry_ = s.resync ? Retry::resync : Retry::first;
        return;
    }
    snapshot_failures_ = 0;
    RedisStore::sort_trusted(s.snapshot.stored->state);
    if (s.resync) {
        resyncing_ = false;
        std::vector<cluster::Event> heard;
        heard.swap(heard_resyncing_);
        fold_resync(s.snapshot, heard);
        log::info("cluster: replica read again ({} user(s) online on other servers)", s.snapshot.online.size());
        out_.on_cluster_event(s.snapshot);
    } else {
        ready_ = true;
        log::info("cluster: available ({} user(s) online on other servers)", s.snapshot.online.size());
        out_.on_cluster_available(true);
        out_.on_cluster_event(s.snapshot);
        // What was heard while the Snapshot was read happened after (or during) it: applied on top.
        std::vector<cluster::Event> heard;
        heard.swap(buffered_);
        for (const auto& e : heard) out_.on_cluster_event(e);
    }
    if (dropped_ == 0) return;
    // Logins and logouts among them are missing from the replica: it is read again, while
    // this node stays available. Broadcasts and messages among them are lost.
    log::warning("cluster: {} event(s) from other nodes dropped while the replica was read (at most {} are kept); "
                 "messages and broadcasts among them are lost; reading the replica again",
                 dropped_, max_buffered_);
    dropped_ = 0;
    resyncing_ = true;
    take_snapshot(true);
}

void RedisEngine::drop_event() {
    ++counters_.events_dropped;
    ++dropped_;
}

void RedisEngine::heard_while_resyncing(const cluster::Event& e) {
    if (!folded_in_resync(e)) return; // the Snapshot says nothing of the others
    if (heard_resyncing_.size() < max_buffered_)
        heard_resyncing_.push_back(e);
    else
        drop_event(); // handed to the core, but the Snapshot may undo it: read once more after
}

// ---------------------------------------------------------------- the core's requests

void RedisEngine::answer(std::function<void()> f) {
    if (in_call_ > 0)
        deferred_.push_back(std::move(f));
    else
        f();
}

void RedisEngine::deliver_deferred() {
    std::vector<std::function<void()>> now;
    now.swap(deferred_);
    for (auto& f : now) f();
}

void RedisEngine::send(std::span<const std::string_view> argv, RedisConnection::ReplyHandler done) {
    commands_->command(argv, std::move(done));
}

namespace {
// Marks the engine as being called by the core for the scope, so answers that come at
// once (Redis down) wait for the loop instead of re-entering the core.
struct InCall {
    int& depth;
    explicit InCall(int& d) : depth(d) { ++depth; }
    ~InCall() { --depth; }
};
} // namespace

void RedisEngine::claim(std::uint64_t tag, std::string_view name) {
    InCall in(in_call_);
    const std::string who(name);
    if (!ready_) return answer([this, tag] { out_.on_claimed(tag, cluster::Claim::unavailable); });
    // Two claims of one name at once from this node: the script would let both through as "this node's".
    if (!claiming_.insert(who).second) return answer([this, tag] { out_.on_claimed(tag, cluster::Claim::taken); });
    const std::string key = keys::user(name);
    const std::array<std::string_view, 4> tail{"1", key, node_id_, keys::session_field};
    std::weak_ptr<RedisEngine*> self = self_;
    commands_->eval(claim_script, tail, [self, tag, who](const redisReply* r) {
        auto e = self.lock();
        if (!e) return;
        RedisEngine& engine = **e;
        engine.claiming_.erase(who);
        cluster::Claim result = cluster::Claim::unavailable;
        if (!r) engine.unsent_releases_.try_emplace(who, 0); // Redis may have run it: given back once back
        if (r && r->type == REDIS_REPLY_INTEGER)
            result = r->integer > 0 ? cluster::Claim::claimed : cluster::Claim::taken;
        if (result == cluster::Claim::claimed) {
            engine.held_.insert(who);
            engine.unsent_releases_.erase(who); // an older session's, not to be undone for this one
        }
        engine.answer([&engine, tag, result] { engine.out_.on_claimed(tag, result); });
    });
}

void RedisEngine::release(std::string_view name) {
    InCall in(in_call_);
    held_.erase(std::string(name));
    const std::string key = keys::user(name), users = keys::node_users_of(node_id_, name);
    const std::array<std::string_view, 4> tail{"1", key, node_id_, keys::session_field};
    commands_->eval(release_script, tail, release_lost(std::string(name), 0));
    const std::array<std::string_view, 3> hdel{"HDEL", users, name};
    send(hdel, release_lost(std::string(name), 0));
}

RedisConnection::ReplyHandler RedisEngine::release_lost(std::string name, std::int64_t at_wall_ms) {
    std::weak_ptr<RedisEngine*> self = self_;
    return [self, name = std::move(name), at_wall_ms](const redisReply* r) {
        if (r) return; // answered, even with an error: not lost
        if (auto e = self.lock()) {
            std::int64_t& at = (*e)->unsent_releases_[name];
            at = std::max(at, at_wall_ms);
        }
    };
}

void RedisEngine::resend_releases() {
    // Without them the name would stay held by this node (refused everywhere else as already
    // logged in) and online here for every node that reads the replica. No login of the name
    // here can have come since: none is claimed before the replica is read.
    for (const auto& [name, at] : std::exchange(unsent_releases_, {})) {
        release(name);
        if (at != 0) publish(cluster::Offline{name, node_id_, at});
    }
}

void RedisEngine::publish(const cluster::Event& e) {
    InCall in(in_call_);
    send_batched(); // a broadcast or a logout after a message: the message first
    if (const auto* on = std::get_if<cluster::Online>(&e)) {
        const std::string users = keys::node_users_of(node_id_, on->name), value = users_value(*on);
        const std::array<std::string_view, 4> hset{"HSET", users, on->name, value};
        send(hset, [](const redisReply*) {});
    } else if (const auto* off = std::get_if<cluster::Offline>(&e)) {
        const std::string users = keys::node_users_of(node_id_, off->name), user = keys::user(off->name);
        const std::string at = std::to_string(off->at_wall_ms);
        const std::array<std::string_view, 3> hdel{"HDEL", users, off->name};
        send(hdel, release_lost(off->name, off->at_wall_ms));
        const std::array<std::string_view, 4> seen{"HSET", user, keys::seen_field, at};
        send(seen, release_lost(off->name, off->at_wall_ms));
    }
    // This node's own block or lock, made after a resync's read perhaps: folded into it too.
    if (resyncing_ && (std::holds_alternative<cluster::BlockChanged>(e) || std::holds_alternative<cluster::Locked>(e)))
        heard_while_resyncing(e);
    auto payload = cluster::encode_event(e, node_id_);
    if (!payload) return log::error("cluster: an event too large to encode was not published");
    const std::array<std::string_view, 3> argv{"PUBLISH", keys::all_channel, *payload};
    ++counters_.published;
    RedisConnection::ReplyHandler done = [](const redisReply*) {};
    if (const auto* off = std::get_if<cluster::Offline>(&e)) done = release_lost(off->name, off->at_wall_ms);
    send(argv, std::move(done));
}

void RedisEngine::send_to(std::string_view node, std::uint64_t tag, const cluster::Event& e) {
    InCall in(in_call_);
    // Many messages for one node come in one turn: they, and the answers, go together.
    if (const auto* d = std::get_if<cluster::Direct>(&e); d && ready_) {
        if (const auto size = cluster::batched_size(*d)) {
            const std::string to(node);
            auto it = directs_.try_emplace(to).first;
            if (!it->second.tags.empty() && it->second.bytes + *size > max_batched_bytes)
                send_directs(to, std::move(directs_.extract(it).mapped()));
            it = directs_.try_emplace(to).first;
            DirectBatch& batch = it->second;
            batch.directs.directs.push_back(*d);
            batch.tags.push_back(tag);
            batch.bytes += *size;
            if (batch.tags.size() >= max_batched || batch.bytes >= max_batched_bytes)
                send_directs(to, std::move(directs_.extract(it).mapped()));
            return;
        }
    }
    // Answers go in a batch even with Redis away: send_answers counts and logs the ones lost.
    if (const auto* a = std::get_if<cluster::DirectAnswer>(&e); a && tag == 0) {
        if (const auto size = cluster::batched_size(*a)) {
            const std::string to(node);
            auto it = answers_.try_emplace(to).first;
            if (!it->second.answers.answers.empty() && it->second.bytes + *size > max_batched_bytes)
                send_answers(to, answers_.extract(it).mapped());
            it = answers_.try_emplace(to).first;
            AnswerBatch& batch = it->second;
            batch.answers.answers.push_back(*a);
            batch.bytes += *size;
            if (batch.answers.answers.size() >= max_batched || batch.bytes >= max_batched_bytes)
                send_answers(to, answers_.extract(it).mapped());
            return;
        }
    }
    send_batched(); // an invitation or a kick after a message: the message first
    auto payload = cluster::encode_event(e, node_id_);
    if (!ready_ || !payload) {
        if (!payload) log::error("cluster: an event too large to encode was not sent");
        ++counters_.routed_not_delivered;
        if (tag != 0) answer([this, tag] { out_.on_routed(tag, false); });
        return;
    }
    const std::string channel = keys::node_channel(node);
    const std::array<std::string_view, 3> argv{"PUBLISH", channel, *payload};
    ++counters_.published;
    std::weak_ptr<RedisEngine*> self = self_;
    send(argv, [self, tag](const redisReply* r) {
        auto e = self.lock();
        if (!e) return;
        RedisEngine& engine = **e;
        // PUBLISH answers with the number of subscribers that got it: 0, the node is gone.
        const bool delivered = r && r->type == REDIS_REPLY_INTEGER && r->integer > 0;
        if (!delivered) ++engine.counters_.routed_not_delivered;
        if (tag != 0) engine.answer([&engine, tag, delivered] { engine.out_.on_routed(tag, delivered); });
    });
}

void RedisEngine::flush(std::uint64_t tag) {
    InCall in(in_call_);
    send_batched(); // the PING follows everything sent before the call
    if (!ready_) return answer([this, tag] { out_.on_flushed(tag, false); });
    flush_round(tag, 2);
}

// Redis runs one connection's commands in order and queues a PUBLISH for every
// subscriber before it answers the next command, but it may write that answer to
// this node before it writes the PUBLISH to the others. It writes everything
// queued before it reads again: the answer to a PING sent after the first PING's
// answer means the earlier events are in the other nodes' sockets.
void RedisEngine::flush_round(std::uint64_t tag, int rounds_left) {
    static constexpr std::array<std::string_view, 1> ping{"PING"};
    std::weak_ptr<RedisEngine*> self = self_;
    send(ping, [self, tag, rounds_left](const redisReply* r) {
        auto e = self.lock();
        if (!e) return;
        RedisEngine& engine = **e;
        const bool ok = r && r->type == REDIS_REPLY_STATUS;
        if (ok && rounds_left > 1 && engine.ready_) return engine.flush_round(tag, rounds_left - 1);
        engine.answer([&engine, tag, ok] { engine.out_.on_flushed(tag, ok); });
    });
}

void RedisEngine::send_batched() {
    if (!has_batched()) return;
    // A PUBLISH that fails at once answers its senders from the loop, not in the middle of this.
    InCall in(in_call_);
    auto directs = std::exchange(directs_, {});
    auto answers = std::exchange(answers_, {});
    for (auto& [node, batch] : directs) send_directs(node, std::move(batch));
    for (const auto& [node, batch] : answers) send_answers(node, batch);
}

void RedisEngine::send_directs(const std::string& node, DirectBatch batch) {
    std::optional<std::string> payload;
    if (ready_) {
        payload = batch.tags.size() == 1 ? cluster::encode_event(batch.directs.directs.front(), node_id_)
                                         : cluster::encode_event(batch.directs, node_id_);
        if (!payload) log::error("cluster: messages too large to encode were not sent");
    }
    if (!payload) { // Redis went away during the turn: as for a node not listening
        counters_.routed_not_delivered += batch.tags.size();
        answer([this, tags = std::move(batch.tags)] {
            for (std::uint64_t tag : tags)
                if (tag != 0) out_.on_routed(tag, false);
        });
        return;
    }
    const std::string channel = keys::node_channel(node);
    const std::array<std::string_view, 3> argv{"PUBLISH", channel, *payload};
    ++counters_.published;
    std::weak_ptr<RedisEngine*> self = self_;
    send(argv, [self, tags = std::move(batch.tags)](const redisReply* r) {
        auto e = self.lock();
        if (!e) return;
        RedisEngine& engine = **e;
        // One subscriber count for the whole batch: every message reached the node, or none did.
        const bool delivered = r && r->type == REDIS_REPLY_INTEGER && r->integer > 0;
        if (!delivered) engine.counters_.routed_not_delivered += tags.size();
        engine.answer([&engine, tags, delivered] {
            for (std::uint64_t tag : tags)
                if (tag != 0) engine.out_.on_routed(tag, delivered);
        });
    });
}

void RedisEngine::send_answers(const std::string& node, const AnswerBatch& batch) {
    if (!ready_) { // the senders' nodes say unavailable when no answer comes
        counters_.answers_lost += batch.answers.answers.size();
        log::flood(log::Flood::cluster_error, log::Level::warning,
                   "cluster: {} answer(s) to node {} lost: Redis is unreachable", batch.answers.answers.size(), node);
        return;
    }
    const auto& answers = batch.answers.answers;
    auto payload = answers.size() == 1 ? cluster::encode_event(answers.front(), node_id_)
                                       : cluster::encode_event(batch.answers, node_id_);
    if (!payload) return log::error("cluster: answers too large to encode were not sent");
    const std::string channel = keys::node_channel(node);
    const std::array<std::string_view, 3> argv{"PUBLISH", channel, *payload};
    ++counters_.published;
    send(argv, [](const redisReply*) {});
}

// ---------------------------------------------------------------- what other nodes say

void RedisEngine::on_message(std::string_view channel, std::string_view payload) {
    auto decoded = cluster::decode_event(payload);
    if (!decoded.decoded) {
        ++counters_.undecodable;
        log::flood(log::Flood::cluster_error, log::Level::warning,
                   "cluster: an undecodable message ({} bytes) on {}: {}", payload.size(), channel,
                   proto::to_string(decoded.error));
        return;
    }
    if (decoded.decoded->origin == node_id_ && channel == keys::all_channel) return; // our own
    // Made by engines, never sent: one from the wire is a bug or an impostor.
    if (std::holds_alternative<cluster::NodeDown>(decoded.decoded->event) ||
        std::holds_alternative<cluster::Snapshot>(decoded.decoded->event)) {
        ++counters_.undecodable;
        return;
    }
    if (!ready_) {
        if (buffered_.size() < max_buffered_)
            buffered_.push_back(std::move(decoded.decoded->event));
        else
            drop_event(); // counted, and reported once the Snapshot is read
        return;
    }
    ++counters_.received;
    if (resyncing_) heard_while_resyncing(decoded.decoded->event);
    out_.on_cluster_event(decoded.decoded->event);
}

// ---------------------------------------------------------------- liveness of the others

void RedisEngine::on_liveness_timer() {
    timers_.liveness(liveness_ms);
    if (snapshot_retry_ != Retry::none && connected()) {
        const bool resync = snapshot_retry_ == Retry::resync;
        snapshot_retry_ = Retry::none;
        resyncing_ = resync;
        take_snapshot(resync);
    }
    if (!ready_) return;
    std::weak_ptr<RedisEngine*> self = self_;
    const std::array<std::string_view, 2> members{"SMEMBERS", keys::nodes};
    send(members, [self](const redisReply* r) {
        auto e = self.lock();
        if (!e || !r || r->type != REDIS_REPLY_ARRAY) return;
        RedisEngine& engine = **e;
        for (std::size_t i = 0; i < r->elements; ++i) {
            std::string node(redis_text(r->element[i]));
            if (node == engine.node_id_ || engine.cleaning_.contains(node)) continue;
            const std::string alive = keys::node_alive(node);
            const std::array<std::string_view, 2> exists{"EXISTS", alive};
            engine.send(exists, [self, node = std::move(node)](const redisReply* x) {
                auto e2 = self.lock();
                // Only a clear "no such key" says the node is gone, not a failed check.
                if (e2 && x && x->type == REDIS_REPLY_INTEGER && x->integer == 0) (*e2)->node_down(node);
            });
        }
    });
}

void RedisEngine::node_down(const std::string& node) {
    if (!ready_ || !cleaning_.insert(node).second) return;
    ++counters_.nodes_down;
    log::warning("cluster: node {} stopped heartbeating; its users are logged out", node);
    if (resyncing_) heard_while_resyncing(cluster::NodeDown{node});
    out_.on_cluster_event(cluster::NodeDown{node});
    // Each bucket of its users: every name released and given its last-seen time; once
    // every bucket was read, the buckets and the node go.
    struct Cleanup {
        std::uint32_t outstanding = keys::node_user_buckets;
        bool failed = false;
        std::vector<std::string> del{"DEL"};
        std::int64_t at = wall_ms();
        std::string now = std::to_string(at);
    };
    auto c = std::make_shared<Cleanup>();
    std::weak_ptr<RedisEngine*> self = self_;
    for (std::uint32_t b = 0; b < keys::node_user_buckets; ++b) {
        const std::string users = keys::node_users(node, b);
        const std::array<std::string_view, 2> hkeys{"HKEYS", users};
        send(hkeys, [this, self, c, node, users](const redisReply* r) {
            if (!self.lock()) return;
            if (r && r->type == REDIS_REPLY_ARRAY) {
                if (r->elements > 0) c->del.push_back(users);
                for (std::size_t i = 0; i < r->elements; ++i) {
                    const std::string name(redis_text(r->element[i])), user = keys::user(name);
                    const std::array<std::string_view, 4> release{"1", user, node, keys::session_field};
                    commands_->eval(release_script, release, [](const redisReply*) {});
                    const std::array<std::string_view, 4> seen{"HSET", user, keys::seen_field, c->now};
                    send(seen, [](const redisReply*) {});
                    // The first node to clean up takes `node` out of the node set, so the others may
                    // never see it stop heartbeating: they learn of the logouts from these.
                    if (auto offline = cluster::encode_event(cluster::Offline{name, node, c->at}, node_id_)) {
                        const std::array<std::string_view, 3> publish{"PUBLISH", keys::all_channel, *offline};
                        ++counters_.published;
                        send(publish, [](const redisReply*) {});
                    }
                }
            } else {
                c->failed = true;
            }
            if (--c->outstanding > 0) return;
            if (c->failed) {
                cleaning_.erase(node); // tried again at the next check
                return;
            }
            if (c->del.size() > 1) {
                const std::vector<std::string_view> del(c->del.begin(), c->del.end());
                send(del, [](const redisReply*) {});
            }
            const std::array<std::string_view, 3> srem{"SREM", keys::nodes, node};
            send(srem, [self, node](const redisReply*) {
                if (auto e = self.lock()) (*e)->cleaning_.erase(node);
            });
        });
    }
}

} // namespace confab
