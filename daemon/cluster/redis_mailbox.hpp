// Offline mailboxes in Redis, shared by every node of a cluster (docs/CLUSTER.md):
// a stream per recipient (fields id, from, at, text) and a hash of how many of
// its messages each sender holds. A deposit is one script that checks the
// capacity and the sender's share and appends, atomically, so two nodes
// depositing at once cannot overfill a mailbox; the sender hears "stored" only
// once Redis has answered. The same script stores nothing when the recipient holds
// a session on another node (a login this node had not heard of yet): online_on()
// hands the message back to be sent there. Delivery at login reads the stream oldest first; an
// acknowledgement is a script that deletes the messages and lowers the counts.
//
// Nothing of the messages is kept in this process, so held() has no count: the
// mailboxes of every node's users are in Redis. A refusal for capacity or share comes
// with that answer (settled() with mailbox_full or sender_share_full), and the
// sender hears it exactly as from the local engine.
#pragma once

#include "cluster/redis_connection.hpp"
#include "core/cluster.hpp"
#include "core/mailbox.hpp"

#include <cstdint>
#include <memory>
#include <unordered_map>

namespace confab {

class RedisMailbox final : public OfflineMailbox {
public:
    // `link` says whether the engine is reachable (else deposits are refused as unavailable).
    RedisMailbox(MailboxEvents& events, const UserDirectory& users, std::size_t capacity, RedisConnection& commands,
                 const ClusterLink& link);
    ~RedisMailbox() override;

    DepositResult deposit(const Deposit& d) override;
    void on_stored(std::uint64_t, bool, std::string_view) override {} // no store writes of its own
    void deliver_waiting(UserId to) override;
    void acknowledge(UserId to, std::span<const std::uint64_t> ids) override;
    void restore(UserId, UserId, const StoredState::Message&) override {} // nothing is read at start-up
    void set_capacity(std::size_t per_user) override { capacity_ = per_user; }
    void forget_user(UserId u) override;
    std::optional<std::size_t> held() const override { return std::nullopt; }
    std::size_t pending() const noexcept { return pending_.size(); } // deposits waiting for Redis's answer

    static constexpr std::size_t max_pending = 10'000; // deposits waiting for Redis; beyond: store_busy

private:
    struct Pending {
        ReplyTo reply;
        UserId to, from;
        std::uint64_t id;
        std::int64_t sent_at_ms;
        std::string text;
    };
    void on_deposited(std::uint64_t tag, const redisReply* r);
    void on_read(UserId to, const redisReply* r);

    MailboxEvents& events_;
    const UserDirectory& users_;
    std::size_t capacity_;
    RedisConnection& commands_;
    const ClusterLink& link_;
    std::unordered_map<std::uint64_t, Pending> pending_; // deposits by tag
    std::unordered_map<UserId, std::uint32_t> reading_;  // mailboxes being read: XRANGEs not yet answered
    std::uint64_t next_tag_ = 1;
    // Replies that arrive after this mailbox is gone (the connection outlives it) find this expired.
    std::shared_ptr<RedisMailbox*> self_ = std::make_shared<RedisMailbox*>(this);
};

// The MailboxFactory for ChatCore: RedisMailboxes over `commands`.
MailboxFactory redis_mailbox_factory(RedisConnection& commands, const ClusterLink& link);

} // namespace confab
