// ChatCore as one node of a cluster (docs/CLUSTER.md): the replica of the other
// nodes' users, login claims, messages routed to other nodes and the events
// they send. Apart from chat_core.cpp so that the single-node rules read
// without it: everything here runs only when the core has a ClusterLink.
#include "core/chat_core.hpp"

#include "log.hpp"
#include "log_flood.hpp"

#include <algorithm>
#include <unordered_set>

namespace confab {

using namespace proto;

namespace {

template <class... F>
struct Overloaded : F... {
    using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;
} // namespace

std::optional<UserId> ChatCore::find(std::string_view name) const {
    UserIdx u = find_user(name);
    if (u == no_user || !users_[u].cred) return std::nullopt;
    return u;
}

const ChatCore::RemoteUser* ChatCore::remote(UserIdx u) const {
    if (!cluster_) return nullptr;
    auto it = remote_.find(u);
    return it == remote_.end() ? nullptr : &it->second;
}

bool ChatCore::online_elsewhere(std::string_view name) const {
    const UserIdx u = find_user(name);
    return u != no_user && remote(u) != nullptr;
}

cluster::Online ChatCore::online_event(UserIdx u, const Session& s) const {
    const std::string& host = s.listen_host.empty() ? s.peer_host : s.listen_host;
    return cluster::Online{users_[u].name, cluster_->node_id(), s.login_at_ms, host, s.listen_port, {}};
}

// ---------------------------------------------------------------- sessions

void ChatCore::claim(ConnId c, Session& s, UserIdx u) {
    // Two local logins of one name would both win the claim (a node may re-claim its own).
    if (claiming_.contains(u)) return login_result(c, s.login_request, LoginOutcome::already_logged_in, 0);
    if (!cluster_->available()) return login_result(c, s.login_request, LoginOutcome::unavailable, 0);
    claiming_.insert(u);
    s.state = State::claiming;
    s.claim_user = u;
    s.claims_taken = 0;
    send_claim(c, s, u);
}

void ChatCore::send_claim(ConnId c, Session& s, UserIdx u) {
    const std::uint64_t tag = next_cluster_tag_++;
    claims_.emplace(tag, PendingClaim{c, u});
    s.claim_tag = tag;
    cluster_->claim(tag, users_[u].name); // may answer at once: nothing of `s` is used after it
}

void ChatCore::claim_again(UserIdx u, Now now) {
    auto wait = claim_waits_.extract(u);
    if (wait.empty()) return;
    env_.cancel_timer(timer_key(TimerKind::claim_retry, u));
    const ConnId c = wait.mapped();
    auto it = sessions_.find(c);
    if (it == sessions_.end() || it->second.state != State::claiming || it->second.claim_user != u) {
        claiming_.erase(u); // ended without end_session (a shutdown): nothing to answer
        return;
    }
    Session& s = it->second;
    if (!cluster_->available()) return refuse_claim(c, s, u, LoginOutcome::unavailable, 0);
    if (auto refused = refused_meanwhile(u, s.login_lock, now))
        return refuse_claim(c, s, u, refused->first, refused->second);
    send_claim(c, s, u);
}

void ChatCore::refuse_claim(ConnId c, Session& s, UserIdx u, LoginOutcome outcome, std::uint32_t value) {
    claiming_.erase(u);
    s.state = State::awaiting_login;
    s.claim_user = no_user;
    login_result(c, s.login_request, outcome, value);
}

std::optional<std::pair<LoginOutcome, std::uint32_t>> ChatCore::refused_meanwhile(UserIdx u, std::string_view key,
                                                                                  Now now) {
    if (auto locked = locked_value(users_[u].name, key, now)) return std::pair{LoginOutcome::locked, *locked};
    if (!users_[u].cred) return std::pair{LoginOutcome::wrong_password, std::uint32_t(Lockout::max_failures - 1)};
    return std::nullopt;
}

void ChatCore::on_claimed(std::uint64_t tag, cluster::Claim result, Now now) {
    auto node = claims_.extract(tag);
    if (node.empty()) return;
    const PendingClaim p = node.mapped();
    const std::string& name = users_[p.user].name;
    auto it = sessions_.find(p.conn);
    if (it == sessions_.end() || it->second.state != State::claiming || it->second.claim_tag != tag) {
        // The connection closed while the claim was out: give the name back.
        claiming_.erase(p.user);
        if (result == cluster::Claim::claimed && users_[p.user].conn == 0) cluster_->release(name);
        return;
    }
    Session& s = it->second;
    if (result == cluster::Claim::taken && s.claims_taken < claim_retry_ms.size()) {
        // Held by another node: most often this client's own session there, dropped a moment ago
        // and not yet released. Ask again shortly, or once that logout is heard (claim_again).
        s.claim_tag = 0;
        claim_waits_.emplace(p.user, p.conn);
        env_.arm_timer(timer_key(TimerKind::claim_retry, p.user), now.mono + claim_retry_ms[s.claims_taken++]);
        return;
    }
    if (result != cluster::Claim::claimed)
        return refuse_claim(
            p.conn, s, p.user,
            result == cluster::Claim::taken ? LoginOutcome::already_logged_in : LoginOutcome::unavailable, 0);
    const std::string key = std::move(s.login_lock);
    if (auto refused = refused_meanwhile(p.user, key, now)) {
        cluster_->release(name);
        return refuse_claim(p.conn, s, p.user, refused->first, refused->second);
    }
    // Failures are counted on every node: a success starts the count again everywhere.
    if (lockout_.tracks(key)) cluster_->publish(cluster::Locked{key, 0, false});
    lockout_.record_success(key);
    announce_login(p.conn, s, p.user, now);
}

void ChatCore::announce_login(ConnId c, Session& s, UserIdx u, Now now) {
    // Still `claiming` (and in claiming_, so a second local login waits its turn) until every
    // node has heard: a message or whoelse sent after the welcome then finds the user online.
    s.login_at_ms = now.wall_ms;
    cluster::Online login = online_event(u, s);
    // The others trust the login's address as this node does once it is done (trust_address).
    if (std::string key = AddressLimits::key_of(s.peer_host); key.size() <= AddressLimits::max_key_length)
        login.trusted_address = std::move(key);
    cluster_->publish(login);
    const std::uint64_t tag = next_cluster_tag_++;
    s.claim_tag = tag;
    flushes_.emplace(tag, PendingFlush{c, u, true, {}});
    cluster_->flush(tag); // may answer at once: nothing of `s` is used after it
}

void ChatCore::reply_when_flushed(ConnId c, const Message& reply) {
    if (!cluster_) return send(c, reply);
    const std::uint64_t tag = next_cluster_tag_++;
    PendingFlush& f = flushes_.emplace(tag, PendingFlush{c, sessions_.at(c).user, false, {}}).first->second;
    append_frame(f.frame, reply);
    cluster_->flush(tag);
}

void ChatCore::on_flushed(std::uint64_t tag, bool ok, Now now) {
    auto node = flushes_.extract(tag);
    if (node.empty()) return;
    PendingFlush& f = node.mapped();
    auto it = sessions_.find(f.conn);
    if (!f.login) {
        // Sent even when the flush failed: the change holds on this node, the others catch up.
        // A reply from before the login (a wrong password's) is still this connection's.
        if (it != sessions_.end() && (it->second.user == f.user || f.user == no_user)) env_.send(f.conn, f.frame);
        return;
    }
    claiming_.erase(f.user);
    const std::string& name = users_[f.user].name;
    const bool waiting = it != sessions_.end() && it->second.state == State::claiming && it->second.claim_tag == tag;
    if (waiting && ok) return complete_login(f.conn, it->second, f.user, now);
    // Gone meanwhile, or the others may not have heard: the login does not happen.
    if (users_[f.user].conn == 0) {
        cluster_->release(name);
        cluster_->publish(cluster::Offline{name, cluster_->node_id(), now.wall_ms});
    }
    if (!waiting) return;
    it->second.state = State::awaiting_login;
    it->second.login_at_ms = 0;
    login_result(f.conn, it->second.login_request, LoginOutcome::unavailable, 0);
}

void ChatCore::left_cluster(UserIdx u, Now now) {
    cluster_->release(users_[u].name);
    cluster_->publish(cluster::Offline{users_[u].name, cluster_->node_id(), now.wall_ms});
}

void ChatCore::end_remote_pairs(UserIdx u) {
    for (const auto& [users, pair] : private_pairs_) {
        const auto [a, b] = users;
        if (a != u && b != u) continue;
        const UserIdx peer = a == u ? b : a;
        if (const RemoteUser* r = remote(peer))
            cluster_->send_to(r->node, 0, cluster::PairEnded{users_[peer].name, users_[u].name, false, pair.heard()});
    }
}

void ChatCore::on_cluster_available(bool up, Now now) {
    const bool was = cluster_up_;
    cluster_up_ = up;
    if (!cluster_ || up == was) return;
    if (!up) {
        log::warning("cluster: the shared state cannot be reached; logins and messages to other nodes are refused "
                     "until it is back");
        // A login waiting to claim again is told at once, as one arriving now would be.
        std::vector<UserIdx> waiting;
        for (const auto& [u, c] : claim_waits_) waiting.push_back(u);
        for (UserIdx u : waiting) claim_again(u, now);
        return;
    }
    // This node's sessions were claimed again as the replica was read: its Snapshot, next, says
    // which another node holds now.
    log::notice("cluster: the shared state is reachable again");
}

// ---------------------------------------------------------------- messages

void ChatCore::route_direct(const ReplyTo& answer_to, UserIdx from, UserIdx to, std::string_view node, std::uint64_t id,
                            std::int64_t sent_at_ms, std::string_view text, Now now) {
    if (!cluster_->available()) return reply(answer_to, Status::unavailable, unavailable_text);
    const std::uint64_t tag = next_cluster_tag_++;
    if (routes_.empty()) env_.arm_timer(timer_key(TimerKind::route_answer, 0), now.mono + route_answer_ms);
    const PendingRoute& route = routes_
                                    .emplace(tag, PendingRoute{answer_to, std::string(node), to, from, id, sent_at_ms,
                                                               std::string(text), now.mono})
                                    .first->second;
    // One routed here by another node goes on with that node's tag: the answer goes straight back there.
    const bool forwarded = !answer_to.node.empty();
    cluster_->send_to(route.node, tag,
                      cluster::Direct{users_[to].name, users_[from].name, id, sent_at_ms, route.text,
                                      forwarded ? answer_to.node : cluster_->node_id(),
                                      forwarded ? answer_to.tag : tag});
}

void ChatCore::online_on(std::string_view node, const Deposit& d, Now now) {
    // The shared store found the recipient logged in on `node` (a login this node's replica
    // had not heard of yet): theirs live, as if the replica had known.
    route_direct(d.reply, d.from, d.to, node, d.id, d.sent_at_ms, d.text, now);
}

void ChatCore::expire_routes(Now now) {
    // The recipient's node took the message and went silent (it died): say so rather than nothing.
    while (!routes_.empty() && routes_.begin()->second.sent + route_answer_ms <= now.mono) {
        const PendingRoute r = std::move(routes_.begin()->second);
        routes_.erase(routes_.begin());
        auto s = sessions_.find(r.answer_to.conn);
        if (r.answer_to.node.empty() && s != sessions_.end() && s->second.state == State::online &&
            s->second.user == r.from)
            result(r.answer_to.conn, r.answer_to.request, Status::unavailable,
                   fmt::format("no answer from the server {} is on; the message may not have been delivered",
                               users_[r.to].name));
    }
    if (!routes_.empty())
        env_.arm_timer(timer_key(TimerKind::route_answer, 0), routes_.begin()->second.sent + route_answer_ms);
}

void ChatCore::on_routed(std::uint64_t tag, bool delivered, Now) {
    auto it = routes_.find(tag);
    if (it == routes_.end()) return;
    // Delivered: the recipient's node answers with a DirectAnswer (or expire_routes speaks);
    // one forwarded from another node is answered there, which waits for it itself.
    if (delivered) {
        if (!it->second.answer_to.node.empty()) routes_.erase(it);
        return;
    }
    const PendingRoute r = std::move(it->second);
    routes_.erase(it);
    // Its node is gone: kept for the next login, as for any offline user (unless the store
    // finds them logged in on yet another node by now).
    deposit(
        Deposit{r.to, r.from, users_[r.to].name, users_[r.from].name, r.id, r.sent_at_ms, r.text, r.answer_to, r.node});
}

void ChatCore::remote_direct(const cluster::Direct& e, Now) {
    // Another node checked the text already; one that did not must not reach a client.
    if (!valid_text(e.text)) return answer_direct(e, Status::invalid_text, invalid_text_detail);
    const UserIdx to = find_user(e.to), from = find_user(e.from);
    if (to == no_user || from == no_user || !users_[to].cred)
        return answer_direct(e, Status::unknown_user, fmt::format("{} is not a user here", e.to));
    // Decided here: the recipient's own block list is the one in force.
    if (blocks(to, from))
        return answer_direct(e, Status::blocked_by_recipient, fmt::format("{} has blocked you", e.to));
    if (users_[to].conn != 0) {
        send(users_[to].conn, MessageEvent{e.id, std::uint64_t(e.sent_at_ms), 0, e.from, e.text});
        ++counters_.messages_direct;
        return answer_direct(e, Status::ok, {});
    }
    // `to` left this node just now (or is still logging in here): the message waits for their
    // login, and its sender hears so; the store sends it on if they are logged in elsewhere by now.
    deposit(Deposit{to, from, users_[to].name, users_[from].name, e.id, e.sent_at_ms, e.text,
                    ReplyTo{0, 0, e.reply_node, e.reply_tag}});
}

void ChatCore::answer_direct(const cluster::Direct& e, Status status, std::string_view detail) {
    reply(ReplyTo{0, 0, e.reply_node, e.reply_tag}, status, utf8_prefix(detail, max_detail_length)); // echoes e.to
}

void ChatCore::remote_direct_answer(const cluster::DirectAnswer& e) {
    auto node = routes_.extract(e.tag);
    if (node.empty()) return; // timed out already
    const PendingRoute& r = node.mapped();
    auto s = sessions_.find(r.answer_to.conn);
    if (r.answer_to.node.empty() && s != sessions_.end() && s->second.state == State::online &&
        s->second.user == r.from)
        result(r.answer_to.conn, r.answer_to.request, e.status, utf8_prefix(e.detail, max_detail_length));
}

void ChatCore::remote_broadcast(const cluster::Broadcast& e) {
    const UserIdx from = find_user(e.from);
    if (from == no_user || e.node == cluster_->node_id() || !valid_text(e.text)) return;
    frame_.clear();
    append_frame(frame_, Message{BroadcastEvent{std::uint64_t(e.sent_at_ms), e.from, e.text}});
    for (UserIdx u : online_) {
        if (u == from || blocks(u, from)) continue;
        env_.send(users_[u].conn, frame_);
        ++counters_.broadcast_deliveries;
    }
}

void ChatCore::remote_notice(const cluster::Notice& e) {
    if (!valid_text(e.text)) return;
    frame_.clear();
    append_frame(frame_, Message{ServerNotice{std::uint64_t(e.at_wall_ms), e.text}});
    for (UserIdx u : online_) env_.send(users_[u].conn, frame_);
}

// ---------------------------------------------------------------- presence

void ChatCore::remote_online(const cluster::Online& e) {
    if (e.node == cluster_->node_id()) return;
    const UserIdx u = find_user(e.name);
    if (u == no_user || users_[u].conn != 0) return; // unknown here, or stale: the claim says it is ours
    // A login there trusts its address here too, by this node's own rule; its node stores it.
    if (!e.trusted_address.empty() && e.trusted_address.size() <= AddressLimits::max_key_length && users_[u].cred)
        users_[u].trusted.remember(e.trusted_address);
    auto [it, fresh] = remote_.try_emplace(u);
    it->second = RemoteUser{e.node, e.at_wall_ms, e.listen_host, e.listen_port};
    if (fresh) announce(u, PresenceKind::login);
}

void ChatCore::remote_offline(UserIdx u, TimePoint seen) {
    users_[u].last_seen = std::max(users_[u].last_seen, seen);
    std::erase_if(private_pairs_, pair_with(u));
    announce(u, PresenceKind::logout);
}

void ChatCore::node_down(const cluster::NodeDown& e, Now now) {
    std::vector<UserIdx> gone;
    for (const auto& [u, r] : remote_)
        if (r.node == e.node) gone.push_back(u);
    if (gone.empty()) return;
    log::notice("cluster: node {} is down; its {} user(s) are logged out", e.node, gone.size());
    std::sort(gone.begin(), gone.end());
    for (UserIdx u : gone) {
        remote_.erase(u);
        remote_offline(u, now.mono);
    }
}

void ChatCore::snapshot(const cluster::Snapshot& e, Now now) {
    // First: the logins announced below are hidden by them.
    if (e.stored) stored_from_cluster(*e.stored, e.reclaim.has_value(), now);
    std::unordered_map<UserIdx, RemoteUser> fresh;
    for (const auto& o : e.online) {
        const UserIdx u = find_user(o.name);
        if (o.node == cluster_->node_id() || u == no_user) continue;
        fresh[u] = RemoteUser{o.node, o.at_wall_ms, o.listen_host, o.listen_port};
    }
    std::vector<UserIdx> moved; // online here before, on another node now: to this node's users, they never left
    if (e.reclaim) {
        // A name another node holds now was logged in there while this node was cut off.
        for (const std::string& name : e.reclaim->taken) {
            const UserIdx u = find_user(name);
            if (u == no_user || users_[u].conn == 0) continue;
            const bool elsewhere = fresh.contains(u);
            if (elsewhere) moved.push_back(u);
            log::notice("{} logged in on another node while this one was cut off: session ended", name);
            close_with(users_[u].conn, SessionEnded{EndReason::kicked, "you logged in on another server"}, now,
                       !elsewhere);
        }
        // The others are still this node's: announced again, as the other nodes may have forgotten them.
        for (UserIdx u : online_) cluster_->publish(online_event(u, sessions_.at(users_[u].conn)));
    }
    std::erase_if(fresh,
                  [this](const auto& entry) { return users_[entry.first].conn != 0; }); // ours: the claim says so
    for (const auto& [name, at_ms] : e.last_seen) {
        const UserIdx u = find_user(name);
        if (u != no_user)
            users_[u].last_seen = std::max(users_[u].last_seen, mono_of(std::min(at_ms, now.wall_ms), now));
    }
    std::vector<UserIdx> gone, came;
    for (const auto& [u, r] : remote_)
        if (!fresh.contains(u)) gone.push_back(u);
    for (const auto& [u, r] : fresh)
        if (!remote_.contains(u) && std::find(moved.begin(), moved.end(), u) == moved.end()) came.push_back(u);
    remote_ = std::move(fresh);
    std::sort(gone.begin(), gone.end());
    std::sort(came.begin(), came.end());
    for (UserIdx u : gone) remote_offline(u, now.mono);
    for (UserIdx u : came) announce(u, PresenceKind::login);
}

void ChatCore::stored_from_cluster(const cluster::Snapshot::Stored& st, bool reconnected, Now now) {
    // The blocks, locks and unlocks other nodes made while this one could not hear them.
    std::unordered_map<UserIdx, std::vector<UserIdx>> lists;
    for (const auto& [blocker, blocked] : st.state.blocks) {
        const UserIdx a = find_user(blocker), b = find_user(blocked);
        if (a != no_user && b != no_user && a != b && users_[b].cred) lists[a].push_back(b); // as restore()
    }
    std::unordered_map<UserIdx, TrustedAddresses> trusted;
    for (const auto& t : st.state.trusted) // oldest first, so the most recent ends first
        if (const UserIdx u = find_user(t.name); u != no_user) trusted[u].remember(t.address);
    std::unordered_map<std::string_view, std::int64_t> admin;
    for (const auto& [name, until] : st.state.admin_locks)
        if (until == INT64_MAX || until > now.wall_ms) admin.emplace(name, until);
    std::vector<std::pair<UserIdx, UserIdx>> missed_blocks; // (blocker, blocked)
    for (const std::string& name : st.names) {
        const UserIdx u = find_user(name);
        if (u == no_user || !users_[u].cred) continue; // removed from the users file since
        std::vector<UserIdx> list = std::move(lists[u]);
        std::sort(list.begin(), list.end());
        list.erase(std::unique(list.begin(), list.end()), list.end());
        for (UserIdx b : list)
            if (!blocks(u, b)) missed_blocks.emplace_back(u, b);
        replace_blocks(u, std::move(list));
        // A user logged in here keeps this node's addresses: their logins add to them here.
        if (users_[u].conn == 0) users_[u].trusted = std::move(trusted[u]);
    }
    // As the events would have: a private pair with the blocker ends, a lock ends the session
    // here, an unlock lifts the name's lockouts too.
    for (const auto& [a, b] : missed_blocks) pair_ended_elsewhere(b, a, true);
    for (const std::string& name : st.names) {
        auto it = admin.find(name);
        if (it != admin.end())
            remote_locked(cluster::Locked{name, it->second, true}, now);
        else if (auto here = admin_locks_.find(name); here != admin_locks_.end() && here->second > now.mono)
            remote_locked(cluster::Locked{name, 0, true}, now);
    }
    // A lockout running here that is stored no more was lifted elsewhere (confabctl unlock there)
    // while this node could not hear it, unless this node counted it itself while cut off: that
    // one was never stored. Only after a reconnect: the read again after dropped events may
    // have read a name's locks before a lockout stored since, so it lifts none.
    if (reconnected) {
        std::unordered_set<std::string_view> read(st.names.begin(), st.names.end()), stored;
        for (const auto& [key, until] : st.state.locks) stored.insert(key);
        std::vector<std::string> lifted;
        for (const auto& [id, key] : lock_timers_)
            if (read.contains(Lockout::name_of(key)) && !stored.contains(key) && !locked_while_cut_off_.contains(key))
                lifted.push_back(key);
        for (const std::string& key : lifted) {
            if (lockout_.locked_for(key, now.mono) == 0) continue; // ended, or a second timer of one key
            lockout_.record_success(key);                          // its timer then finds nothing
            log::flood(log::Flood::locked_name, log::Level::info,
                       "login name {} unlocked on another node while this one was cut off", Lockout::label(key));
        }
    }
    // Lockouts stored are added (one running here already keeps its own end).
    for (const auto& [key, until] : st.state.locks) {
        if (until <= now.wall_ms || lockout_.locked_for(key, now.mono) > 0) continue;
        const TimePoint at = mono_of(until, now);
        lockout_.restore(key, at);
        lock_timer(key, at);
    }
}

TimePoint ChatCore::mono_of(std::int64_t wall_ms, Now now) {
    // Another node's time may be anything (INT64_MIN from a confused peer): saturate, never overflow.
    std::int64_t delta = 0;
    if (__builtin_sub_overflow(wall_ms, now.wall_ms, &delta)) delta = wall_ms < 0 ? INT64_MIN : INT64_MAX;
    TimePoint at = 0;
    if (__builtin_add_overflow(now.mono, delta, &at)) at = delta < 0 ? INT64_MIN : INT64_MAX;
    return at;
}

// ---------------------------------------------------------------- blocks, locks, private chats, sessions

void ChatCore::remote_block(const cluster::BlockChanged& e) {
    const UserIdx a = find_user(e.blocker), b = find_user(e.blocked);
    if (a == no_user || b == no_user || a == b) return;
    set_block(a, b, e.on);
}

void ChatCore::remote_login_failed(const cluster::LoginFailed& e, Now now) {
    if (lockout_.locked_for(e.lock_key, now.mono) > 0) return;
    auto f = lockout_.record_failure(e.lock_key, now.mono);
    if (f.attempts_left > 0) return;
    lock_timer(e.lock_key, f.locked_until); // the node that saw the last failure stores the lock
    ++counters_.lockouts;
    log::flood(log::Flood::locked_name, log::Level::info,
               "login name '{}' locked for {} s after wrong passwords on "
               "several nodes",
               e.lock_key, settings_.block_duration_ms / 1000);
}

void ChatCore::remote_locked(const cluster::Locked& e, Now now) {
    if (!e.admin) {
        // A login succeeded on another node: its failure count starts again (a running lock stays).
        if (e.until_wall_ms == 0 && lockout_.locked_for(e.lock_key, now.mono) == 0) lockout_.record_success(e.lock_key);
        return;
    }
    const UserIdx u = find_user(e.lock_key);
    if (u == no_user) return;
    if (e.until_wall_ms == 0) {
        lift_locks(u, false, now); // the node that was asked stored it
        return;
    }
    if (e.until_wall_ms != INT64_MAX && e.until_wall_ms <= now.wall_ms) return;
    admin_locks_.insert_or_assign(e.lock_key,
                                  e.until_wall_ms == INT64_MAX ? TimePoint(INT64_MAX) : mono_of(e.until_wall_ms, now));
    if (ConnId c = users_[u].conn) {
        log::notice("{} locked by the administrator on another node: session ended", users_[u].name);
        close_with(c, SessionEnded{EndReason::locked, "your account was locked by the administrator"}, now);
    }
}

void ChatCore::remote_invite(const cluster::Invite& e) {
    const UserIdx to = find_user(e.to), from = find_user(e.from);
    if (to == no_user || from == no_user || users_[to].conn == 0) return;
    if (blocks(to, from)) {
        // Started before the block reached its node: it ends there as the block would have ended it.
        if (const RemoteUser* r = remote(from))
            cluster_->send_to(r->node, 0, cluster::PairEnded{e.from, e.to, true, e.token});
        return;
    }
    private_pairs_[std::minmax(to, from)].there = e.token; // one made here stays: they may have crossed
    send(users_[to].conn, PrivateInvite{e.from, e.token});
}

void ChatCore::remote_pair_ended(const cluster::PairEnded& e) {
    const UserIdx to = find_user(e.to), peer = find_user(e.peer);
    if (to == no_user || peer == no_user) return;
    auto it = private_pairs_.find(std::minmax(to, peer));
    if (it == private_pairs_.end()) return;
    // Every introduction from the peer's node came before its end. One made here ends only if the
    // peer's node had heard of it: else its invitation is still on its way there, a new pair to it.
    it->second.there.reset();
    if (it->second.here == e.token) it->second.here.reset();
    if (it->second.here) return;
    private_pairs_.erase(it);
    if (e.revoked && users_[to].conn != 0) send(users_[to].conn, PrivateRevoked{users_[peer].name});
}

void ChatCore::pair_ended_elsewhere(UserIdx to, UserIdx peer, bool revoked) {
    if (private_pairs_.erase(std::minmax(to, peer)) == 0) return;
    if (revoked && users_[to].conn != 0) send(users_[to].conn, PrivateRevoked{users_[peer].name});
}

void ChatCore::remote_end_session(const cluster::EndSession& e, Now now) {
    const UserIdx u = find_user(e.name);
    if (u == no_user || users_[u].conn == 0) return;
    log::notice("{} logged out by the administrator on another node{}{}", describe(users_[u].conn),
                e.detail.empty() ? "" : ": ", e.detail);
    close_with(users_[u].conn, SessionEnded{e.reason, utf8_prefix(e.detail, max_detail_length)}, now);
}

void ChatCore::on_cluster_event(const cluster::Event& event, Now now) {
    if (!cluster_) return;
    std::visit(Overloaded{
                   [&](const cluster::Online& e) { remote_online(e); },
                   [&](const cluster::Offline& e) {
                       const UserIdx u = find_user(e.name);
                       if (u == no_user) return;
                       const TimePoint seen = mono_of(std::min(e.at_wall_ms, now.wall_ms), now); // never in the future
                       auto it = remote_.find(u);
                       if (it == remote_.end() || it->second.node != e.node) {
                           // Already gone here, or logged in again elsewhere since: only the time is news.
                           if (users_[u].conn == 0) users_[u].last_seen = std::max(users_[u].last_seen, seen);
                       } else {
                           remote_.erase(it);
                           remote_offline(u, seen);
                       }
                       // That node released the name before it published this: a login here that
                       // found it held need not wait for its timer.
                       claim_again(u, now);
                   },
                   [&](const cluster::Direct& e) { remote_direct(e, now); },
                   [&](const cluster::Directs& e) {
                       for (const cluster::Direct& d : e.directs) remote_direct(d, now);
                   },
                   [&](const cluster::DirectAnswer& e) { remote_direct_answer(e); },
                   [&](const cluster::DirectAnswers& e) {
                       for (const cluster::DirectAnswer& a : e.answers) remote_direct_answer(a);
                   },
                   [&](const cluster::Broadcast& e) { remote_broadcast(e); },
                   [&](const cluster::BlockChanged& e) { remote_block(e); },
                   [&](const cluster::LoginFailed& e) { remote_login_failed(e, now); },
                   [&](const cluster::Locked& e) { remote_locked(e, now); },
                   [&](const cluster::Invite& e) { remote_invite(e); },
                   [&](const cluster::PairEnded& e) { remote_pair_ended(e); },
                   [&](const cluster::EndSession& e) { remote_end_session(e, now); },
                   [&](const cluster::Notice& e) { remote_notice(e); },
                   [&](const cluster::NodeDown& e) { node_down(e, now); },
                   [&](const cluster::Snapshot& e) { snapshot(e, now); },
               },
               event);
}

} // namespace confab
