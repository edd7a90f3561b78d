// What the chat core asks the durable store to do, and what the store hands
// back at start-up. Plain data, so the core stays free of SQLite and threads.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace confab {

namespace store_op {
struct InsertMessage {
    std::uint64_t tag; // reported back in a Completion
    std::uint64_t id;
    std::string recipient, sender;
    std::int64_t sent_at_ms;
    std::string text;
};
struct DeleteMessages {
    std::vector<std::uint64_t> ids;
};
struct SetBlock {
    std::string blocker, blocked;
    bool blocked_now;
};
// A user removed from the users file: their messages (to and from them), blocks
// (theirs and of them) and trusted addresses go.
struct ForgetUser {
    std::string name;
};
struct SetLock {
    std::string name;
    std::int64_t until_wall_ms; // 0 clears the lock; INT64_MAX: until unlocked (admin locks)
    bool admin = false;         // an administrator's lock (confabctl lock), kept apart from lockouts
};
// `name` logged in from `address` (an AddressLimits key) at `at_wall_ms`; 0 forgets it.
struct SetTrustedAddress {
    std::string name, address;
    std::int64_t at_wall_ms;
};
} // namespace store_op

using StoreOp = std::variant<store_op::InsertMessage, store_op::DeleteMessages, store_op::SetBlock, store_op::SetLock,
                             store_op::SetTrustedAddress, store_op::ForgetUser>;

struct StoredState {
    struct Message {
        std::uint64_t id;
        std::string recipient, sender;
        std::int64_t sent_at_ms;
        std::string text;
    };
    std::vector<Message> messages;                                 // ordered by id
    std::vector<std::pair<std::string, std::string>> blocks;       // (blocker, blocked)
    std::vector<std::pair<std::string, std::int64_t>> locks;       // (name, locked until, Unix ms)
    std::vector<std::pair<std::string, std::int64_t>> admin_locks; // the same, INT64_MAX: until unlocked
    struct TrustedAddress {
        std::string name, address;
        std::int64_t at_wall_ms; // the last login from it
    };
    std::vector<TrustedAddress> trusted; // oldest login first
};

} // namespace confab
