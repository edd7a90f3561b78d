#include "cluster/redis_mailbox.hpp"

#include "cluster/keys.hpp"
#include "cluster/redis_script.hpp"
#include "cluster/redis_sync.hpp"
#include "core/clock.hpp"
#include "log_flood.hpp"
#include "proto/parse_number.hpp"

#include <array>
#include <string>
#include <vector>

namespace confab {
namespace {

namespace keys = cluster::keys;

// KEYS: mailbox, senders, the recipient's user hash. ARGV: capacity, sender share, from,
// id, at, text, the session field, this node, the node a route found not listening.
// {node}: the recipient holds a session on that other node, nothing stored; -1: the
// mailbox is full; -2: the sender holds its share; else the entry's stream id.
//
// The session is looked at in the same script as the store, so a deposit and a login's
// claim are ordered by Redis: a deposit before the claim is in the mailbox when the login
// reads it (that read follows the claim), one after it goes to the session's node. A
// second read by that node after its login would not do: a deposit its replica's lag let
// through may reach Redis at any time after that read. This node's own session (a login
// still being announced here) is stored, read by the login after it; so is one held by a
// node that was just found gone.
const RedisScript deposit_script{R"lua(
local holder = redis.call('HGET', KEYS[3], ARGV[7])
if holder and holder ~= ARGV[8] and holder ~= ARGV[9] then return {holder} end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0')
if held >= tonumber(ARGV[2]) then return -2 end
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
return redis.call('XADD', KEYS[1], '*', 'id', ARGV[4], 'from', ARGV[3], 'at', ARGV[5], 'text', ARGV[6])
)lua"};

// KEYS: mailbox, senders. ARGV: message ids. Deletes those messages and lowers
// their senders' counts; returns how many went. One pass over the mailbox,
// which holds at most its capacity.
const RedisScript acknowledge_script{R"lua(
local want = {}
for _, id in ipairs(ARGV) do want[id] = true end
local gone = 0
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f, id, from = entry[2], nil, nil
  for i = 1, #f, 2 do
    if f[i] == 'id' then id = f[i + 1] elseif f[i] == 'from' then from = f[i + 1] end
  end
  if id and want[id] then
    redis.call('XDEL', KEYS[1], entry[1])
    if from and redis.call('HINCRBY', KEYS[2], from, -1) <= 0 then redis.call('HDEL', KEYS[2], from) end
    gone = gone + 1
  end
end
return gone
)lua"};

constexpr std::string_view unavailable_text = "service temporarily unavailable; try again";

} // namespace

RedisMailbox::RedisMailbox(MailboxEvents& events, const UserDirectory& users, std::size_t capacity,
                           RedisConnection& commands, const ClusterLink& link)
    : events_(events), users_(users), capacity_(capacity), commands_(commands), link_(link) {}

RedisMailbox::~RedisMailbox() = default;

DepositResult RedisMailbox::deposit(const Deposit& d) {
    if (!link_.available()) return DepositResult::unavailable;
    if (pending_.size() >= max_pending) return DepositResult::store_busy;
    const std::uint64_t tag = next_tag_++;
    pending_.emplace(tag, Pending{d.reply, d.to, d.from, d.id, d.sent_at_ms, std::string(d.text)});
    const std::string mailbox = keys::mailbox(d.to_name), senders = keys::senders(d.to_name);
    const std::string user = keys::user(d.to_name);
    const std::string capacity = std::to_string(capacity_), share = std::to_string(sender_share_of(capacity_));
    const std::string id = std::to_string(d.id), at = std::to_string(d.sent_at_ms);
    const std::array<std::string_view, 13> tail{"3",
                                                mailbox,
                                                senders,
                                                user,
                                                capacity,
                                                share,
                                                d.from_name,
                                                id,
                                                at,
                                                d.text,
                                                keys::session_field,
                                                link_.node_id(),
                                                d.unreachable_node};
    std::weak_ptr<RedisMailbox*> self = self_;
    commands_.eval(deposit_script, tail, [self, tag](const redisReply* r) {
        if (auto box = self.lock()) (*box)->on_deposited(tag, r);
    });
    return DepositResult::accepted;
}

void RedisMailbox::on_deposited(std::uint64_t tag, const redisReply* r) {
    auto node = pending_.extract(tag);
    if (node.empty()) return; // forgotten meanwhile (the user was removed), and settled then
    const Pending& p = node.mapped();
    if (!r || r->type == REDIS_REPLY_ERROR) {
        if (r) log::flood(log::Flood::cluster_error, log::Level::warning, "Redis: a deposit failed: {}", redis_text(r));
        return events_.settled(p.to, p.reply, DepositResult::lost, unavailable_text);
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_STRING) {
        // The recipient is logged in on that node: the message goes there, not in the mailbox.
        return events_.online_on(
            redis_text(r->element[0]),
            Deposit{p.to, p.from, users_.name_of(p.to), users_.name_of(p.from), p.id, p.sent_at_ms, p.text, p.reply},
            Now{monotonic_ms(), wall_ms()});
    }
    if (r->type == REDIS_REPLY_INTEGER) // the script's refusal: answered as the local mailbox would at once
        return events_.settled(p.to, p.reply,
                               r->integer == -1 ? DepositResult::mailbox_full : DepositResult::sender_share_full, {});
    events_.settled(p.to, p.reply, DepositResult::accepted, {});
    // A read of this mailbox sent after the deposit (a login meanwhile) delivers it: not twice.
    if (reading_.contains(p.to)) return;
    const StoredMessage m{p.id, p.sent_at_ms, p.from, p.text, true};
    if (!events_.deliver(p.to, m)) acknowledge(p.to, std::span(&p.id, 1));
}

void RedisMailbox::deliver_waiting(UserId to) {
    if (!link_.available()) return; // they stay in Redis for the next login
    const std::string mailbox = keys::mailbox(users_.name_of(to));
    const std::string count = std::to_string(std::max<std::size_t>(capacity_, 1) * 2);
    const std::array<std::string_view, 6> argv{"XRANGE", mailbox, "-", "+", "COUNT", count};
    ++reading_[to];
    std::weak_ptr<RedisMailbox*> self = self_;
    commands_.command(argv, [self, to](const redisReply* r) {
        if (auto box = self.lock()) (*box)->on_read(to, r);
    });
}

void RedisMailbox::on_read(UserId to, const redisReply* r) {
    if (auto it = reading_.find(to); it != reading_.end() && --it->second == 0) reading_.erase(it);
    if (!r || r->type != REDIS_REPLY_ARRAY) return; // redelivered at the next login
    std::vector<std::uint64_t> unwanted;
    for (std::size_t i = 0; i < r->elements; ++i) {
        const redisReply* entry = r->element[i];
        if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 || entry->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        const redisReply* f = entry->element[1];
        std::optional<std::uint64_t> id;
        std::optional<std::int64_t> at;
        std::string_view from, text;
        for (std::size_t j = 0; j + 1 < f->elements; j += 2) {
            const std::string_view name = redis_text(f->element[j]), value = redis_text(f->element[j + 1]);
            if (name == "id")
                id = parse_number<std::uint64_t>(value);
            else if (name == "from")
                from = value;
            else if (name == "at")
                at = parse_number<std::int64_t>(value);
            else if (name == "text")
                text = value;
        }
        if (!id || !at) {
            log::flood(log::Flood::cluster_error, log::Level::warning, "Redis: a malformed entry in {}'s mailbox",
                       users_.name_of(to));
            continue;
        }
        const std::optional<UserId> sender = users_.find(from);
        // A sender no longer in the users file: their messages go (as ForgetUser does locally).
        if (!sender || !events_.deliver(to, StoredMessage{*id, *at, *sender, std::string(text), true}))
            unwanted.push_back(*id);
    }
    if (!unwanted.empty()) acknowledge(to, unwanted);
}

void RedisMailbox::acknowledge(UserId to, std::span<const std::uint64_t> ids) {
    if (ids.empty()) return;
    const std::string_view name = users_.name_of(to);
    const std::string mailbox = keys::mailbox(name), senders = keys::senders(name);
    std::vector<std::string> id_text;
    id_text.reserve(ids.size());
    for (std::uint64_t id : ids) id_text.push_back(std::to_string(id));
    std::vector<std::string_view> tail{"2", mailbox, senders};
    tail.insert(tail.end(), id_text.begin(), id_text.end());
    // Not acknowledged when Redis is down: redelivered at the next login, as the rules say.
    commands_.eval(acknowledge_script, tail, [](const redisReply* r) {
        if (r && r->type == REDIS_REPLY_ERROR)
            log::flood(log::Flood::cluster_error, log::Level::warning, "Redis: an acknowledgement failed: {}",
                       redis_text(r));
    });
}

void RedisMailbox::forget_user(UserId u) {
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.to != u && it->second.from != u) {
            ++it;
            continue;
        }
        const Pending p = std::move(it->second);
        it = pending_.erase(it);
        events_.settled(p.to, p.reply, DepositResult::lost, "the user was removed");
    }
    // After any deposit already sent: commands are answered in order.
    const std::string_view name = users_.name_of(u);
    const std::string mailbox = keys::mailbox(name), senders = keys::senders(name);
    const std::array<std::string_view, 3> argv{"DEL", mailbox, senders};
    commands_.command(argv, [](const redisReply*) {});
}

MailboxFactory redis_mailbox_factory(RedisConnection& commands, const ClusterLink& link) {
    return [&commands, &link](MailboxEvents& events, const UserDirectory& users, std::size_t capacity) {
        return std::make_unique<RedisMailbox>(events, users, capacity, commands, link);
    };
}

} // namespace confab
