// Offline mailboxes: messages sent to users who were offline, kept until the
// recipient's client acknowledges them. The rules: a message is delivered only
// once it is durable (committed), oldest first, at every login until it is
// acknowledged; a mailbox holds at most `capacity` messages, committed or not.
//
// OfflineMailbox is the boundary the chat core talks to, so the messages can
// live elsewhere (a store shared by several daemons) without the core
// changing: results come back through MailboxEvents, so an implementation may
// answer later. Only offline traffic crosses it; live messages never do.
// Mailboxes is the single-daemon implementation: messages in memory, made
// durable through the daemon's store (StoreOp), answered by on_stored.
#pragma once

#include "core/clock.hpp"
#include "core/store_ops.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace confab {

using UserId = std::uint32_t; // the chat core's index of a user

struct StoredMessage {
    std::uint64_t id;
    std::int64_t sent_at_ms;
    UserId from;
    std::string text;
    bool committed; // durable: only these are delivered
};

// Whom to answer once a deposit is durable or lost: a local sender's connection
// and request, or (node set) the cluster node that routed the message here,
// which answers its sender (cluster::DirectAnswer with `tag`).
struct ReplyTo {
    std::uint64_t conn = 0; // the sender's connection
    std::uint32_t request = 0;
    std::string node;
    std::uint64_t tag = 0;
};

// A message for an offline user, as SendMessage accepted it.
struct Deposit {
    UserId to, from;
    std::string_view to_name, from_name; // what the store keeps: user indexes are this process's own
    std::uint64_t id;
    std::int64_t sent_at_ms;
    std::string_view text;
    ReplyTo reply;
    // A cluster node a route found not listening (gone): a session it still holds is no
    // reason not to store (online_on() would route it straight back there).
    std::string_view unreachable_node{};
};

// How many messages of one mailbox one sender may hold: three quarters of it (at
// least one), so one sender can never fill it for everyone else.
constexpr std::size_t sender_share_of(std::size_t capacity) noexcept {
    return std::max<std::size_t>(1, capacity - capacity / 4);
}

// sender_share_full: this sender already holds its share of the recipient's
// mailbox (three quarters of it), so one sender can never fill it for everyone else.
// unavailable: the shared store (a cluster's engine) cannot be reached now.
// lost: accepted, but the store could not keep it (only in settled(), with the reason).
enum class DepositResult : std::uint8_t { accepted, mailbox_full, sender_share_full, store_busy, unavailable, lost };

// What a mailbox tells its owner.
class MailboxEvents {
public:
    // An accepted deposit is durable (accepted), refused after all by a store that checks its
    // limits itself (a reason deposit() could have given at once), or lost (`error` says why):
    // answer its sender.
    virtual void settled(UserId to, const ReplyTo& reply, DepositResult outcome, std::string_view error) = 0;
    // Show a durable message to `to` if they are online. It stays in the mailbox until
    // acknowledged, so a message that finds nobody waits for the next login.
    // false: `to` is never to see it (they blocked its sender): the mailbox forgets
    // it as if it had been acknowledged.
    virtual bool deliver(UserId to, const StoredMessage& m) = 0;
    // Not stored: `d.to` holds a session on `node`, another node of a cluster (a login this
    // node had not heard of yet when it deposited). Send it there instead, as any message to
    // a user online elsewhere; nothing was kept and settled() does not follow. Only a store
    // shared by several daemons, which knows their sessions, answers so.
    virtual void online_on(std::string_view node, const Deposit& d, Now now) = 0;

protected:
    ~MailboxEvents() = default;
};

class OfflineMailbox {
public:
    virtual ~OfflineMailbox() = default;

    // Keeps `d` for its recipient. accepted: settled() follows once it is durable or lost,
    // then deliver() if durable, or online_on() instead. Refused (mailbox_full, store_busy):
    // nothing was kept.
    virtual DepositResult deposit(const Deposit& d) = 0;
    // A durable write this mailbox asked for (tagged `tag`) finished.
    virtual void on_stored(std::uint64_t tag, bool ok, std::string_view error) = 0;
    // `to` logged in: deliver() every durable message waiting for them, oldest first.
    virtual void deliver_waiting(UserId to) = 0;
    // `to`'s client has processed these messages: forget them. Ids of messages not
    // delivered to `to` are ignored.
    virtual void acknowledge(UserId to, std::span<const std::uint64_t> ids) = 0;
    // A message read back from durable state at start-up (its names resolved by the core).
    virtual void restore(UserId to, UserId from, const StoredState::Message& m) = 0;
    virtual void set_capacity(std::size_t per_user) = 0;
    // `u` no longer exists: drop every message to or from them. A deposit still being
    // stored is settled as lost; the store forgets the user's rows itself (ForgetUser).
    virtual void forget_user(UserId u) = 0;
    // Messages waiting for all recipients, committed or not; nullopt when they live in a store
    // shared by several daemons (a cluster's Redis), which no one daemon counts.
    virtual std::optional<std::size_t> held() const = 0;
};

// Names for the core's user indexes, for a mailbox that keeps names (a store shared
// by several daemons, whose user indexes differ).
class UserDirectory {
public:
    virtual std::string_view name_of(UserId u) const = 0;
    virtual std::optional<UserId> find(std::string_view name) const = 0; // a name in the users file
protected:
    ~UserDirectory() = default;
};

// Makes the mailbox a ChatCore talks to (default: Mailboxes over the daemon's store).
using MailboxFactory =
    std::function<std::unique_ptr<OfflineMailbox>(MailboxEvents&, const UserDirectory&, std::size_t capacity)>;

class Mailboxes final : public OfflineMailbox {
public:
    using Persist = std::function<bool(StoreOp)>; // false: the store is saturated
    Mailboxes(MailboxEvents& events, Persist persist, std::size_t capacity)
        : events_(events), persist_(std::move(persist)), capacity_(capacity) {}

    DepositResult deposit(const Deposit& d) override;
    void on_stored(std::uint64_t tag, bool ok, std::string_view error) override;
    void deliver_waiting(UserId to) override;
    void acknowledge(UserId to, std::span<const std::uint64_t> ids) override;
    void restore(UserId to, UserId from, const StoredState::Message& m) override;
    void set_capacity(std::size_t per_user) override { capacity_ = per_user; }
    void forget_user(UserId u) override;
    std::optional<std::size_t> held() const override { return total_; }

    // Messages held for `to`, committed or not.
    std::size_t waiting(UserId to) const;
    // How many of them one sender may hold: three quarters of the mailbox (at least one).
    std::size_t sender_share() const noexcept { return sender_share_of(capacity_); }

private:
    using Box = std::vector<StoredMessage>; // a vector: an empty deque costs ~600 B
    void insert(UserId to, StoredMessage m);
    void forget(UserId to, UserId from); // one message of `from` left `to`'s mailbox
    static std::uint64_t pair_key(UserId to, UserId from) { return std::uint64_t(to) << 32 | from; }
    Box::iterator find(Box& box, std::uint64_t id);

    struct Pending {
        ReplyTo reply;
        UserId to;
        std::uint64_t id;
    };
    MailboxEvents& events_;
    Persist persist_;
    std::size_t capacity_;
    // Only users with messages waiting have an entry, ordered by id: an idle user costs nothing here.
    std::unordered_map<UserId, Box> boxes_;
    std::unordered_map<std::uint64_t, Pending> pending_;    // by store tag
    std::unordered_map<std::uint64_t, std::uint32_t> held_; // messages per (recipient, sender) pair
    std::uint64_t next_tag_ = 1;
    std::size_t total_ = 0; // messages in all boxes
};

} // namespace confab
