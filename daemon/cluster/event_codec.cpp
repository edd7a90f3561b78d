#include "cluster/event_codec.hpp"

#include "core/address_limits.hpp"
#include "proto/wire.hpp"

#include <limits>
#include <type_traits>
#include <vector>

namespace confab::cluster {
namespace {

using proto::Reader;
using proto::Writer;

template <class T>
constexpr EventType type_of() {
    if constexpr (std::is_same_v<T, Online>)
        return EventType::online;
    else if constexpr (std::is_same_v<T, Offline>)
        return EventType::offline;
    else if constexpr (std::is_same_v<T, Direct>)
        return EventType::direct;
    else if constexpr (std::is_same_v<T, Broadcast>)
        return EventType::broadcast;
    else if constexpr (std::is_same_v<T, BlockChanged>)
        return EventType::block_changed;
    else if constexpr (std::is_same_v<T, LoginFailed>)
        return EventType::login_failed;
    else if constexpr (std::is_same_v<T, Locked>)
        return EventType::locked;
    else if constexpr (std::is_same_v<T, Invite>)
        return EventType::invite;
    else if constexpr (std::is_same_v<T, PairEnded>)
        return EventType::pair_ended;
    else if constexpr (std::is_same_v<T, EndSession>)
        return EventType::end_session;
    else if constexpr (std::is_same_v<T, Notice>)
        return EventType::notice;
    else if constexpr (std::is_same_v<T, NodeDown>)
        return EventType::node_down;
    else if constexpr (std::is_same_v<T, DirectAnswer>)
        return EventType::direct_answer;
    else if constexpr (std::is_same_v<T, DirectAnswers>)
        return EventType::direct_answers;
    else if constexpr (std::is_same_v<T, Directs>)
        return EventType::directs;
    else {
        static_assert(std::is_same_v<T, Snapshot>, "every Event alternative has a type byte");
        return EventType::snapshot;
    }
}

// ---- fields, one writer and one reader per event (the same order in both)

void put_i64(Writer& w, std::int64_t v) {
    w.u64(std::uint64_t(v));
}
std::int64_t get_i64(Reader& r) {
    return std::int64_t(r.u64());
}
bool get_bool(Reader& r) {
    std::uint8_t v = r.u8();
    if (v > 1) r.fail(proto::DecodeError::truncated); // not a flag: the payload is corrupt
    return v == 1;
}
std::string get_str(Reader& r) {
    return std::string(r.str());
}

void put_online(Writer& w, const Online& e) {
    if (e.trusted_address.size() > AddressLimits::max_key_length) return w.fail();
    w.str(e.name);
    w.str(e.node);
    put_i64(w, e.at_wall_ms);
    w.str(e.listen_host);
    w.u16(e.listen_port);
    w.str(e.trusted_address);
}
Online get_online(Reader& r) {
    Online e;
    e.name = get_str(r);
    e.node = get_str(r);
    e.at_wall_ms = get_i64(r);
    e.listen_host = get_str(r);
    e.listen_port = r.u16();
    e.trusted_address = get_str(r);
    if (e.trusted_address.size() > AddressLimits::max_key_length)
        r.fail(proto::DecodeError::truncated); // no address key is that long: the payload is corrupt
    return e;
}

void put_fields(Writer& w, const Online& e) {
    put_online(w, e);
}
void put_fields(Writer& w, const Offline& e) {
    w.str(e.name);
    w.str(e.node);
    put_i64(w, e.at_wall_ms);
}
void put_fields(Writer& w, const Direct& e) {
    w.str(e.to);
    w.str(e.from);
    w.u64(e.id);
    put_i64(w, e.sent_at_ms);
    w.str(e.text);
    w.str(e.reply_node);
    w.u64(e.reply_tag);
}
Direct get_direct(Reader& r) {
    Direct e;
    e.to = get_str(r);
    e.from = get_str(r);
    e.id = r.u64();
    e.sent_at_ms = get_i64(r);
    e.text = get_str(r);
    e.reply_node = get_str(r);
    e.reply_tag = r.u64();
    return e;
}
void put_fields(Writer& w, const Directs& e) {
    if (e.directs.size() > std::numeric_limits<std::uint32_t>::max()) return w.fail();
    w.u32(std::uint32_t(e.directs.size()));
    for (const auto& d : e.directs) put_fields(w, d);
}
void put_fields(Writer& w, const DirectAnswer& e) {
    w.u64(e.tag);
    w.u16(std::uint16_t(e.status));
    w.str(e.detail);
}
DirectAnswer get_direct_answer(Reader& r) {
    DirectAnswer e;
    e.tag = r.u64();
    e.status = proto::Status(r.u16());
    e.detail = get_str(r);
    return e;
}
void put_fields(Writer& w, const DirectAnswers& e) {
    if (e.answers.size() > std::numeric_limits<std::uint32_t>::max()) return w.fail();
    w.u32(std::uint32_t(e.answers.size()));
    for (const auto& a : e.answers) put_fields(w, a);
}
void put_fields(Writer& w, const Broadcast& e) {
    w.str(e.from);
    w.str(e.node);
    put_i64(w, e.sent_at_ms);
    w.str(e.text);
}
void put_fields(Writer& w, const BlockChanged& e) {
    w.str(e.blocker);
    w.str(e.blocked);
    w.u8(e.on);
}
void put_fields(Writer& w, const LoginFailed& e) {
    w.str(e.lock_key);
}
void put_fields(Writer& w, const Locked& e) {
    w.str(e.lock_key);
    put_i64(w, e.until_wall_ms);
    w.u8(e.admin);
}
void put_fields(Writer& w, const Invite& e) {
    w.str(e.to);
    w.str(e.from);
    w.token(e.token);
}
void put_fields(Writer& w, const PairEnded& e) {
    w.str(e.to);
    w.str(e.peer);
    w.u8(e.revoked);
    w.token(e.token);
}
void put_fields(Writer& w, const EndSession& e) {
    w.str(e.name);
    w.u8(std::uint8_t(e.reason));
    w.str(e.detail);
}
void put_fields(Writer& w, const Notice& e) {
    put_i64(w, e.at_wall_ms);
    w.str(e.text);
}
void put_fields(Writer& w, const NodeDown& e) {
    w.str(e.node);
}
void put_fields(Writer& w, const Snapshot& e) {
    constexpr auto max = std::numeric_limits<std::uint32_t>::max();
    if (e.online.size() > max || e.last_seen.size() > max || e.stored || e.reclaim) return w.fail();
    w.u32(std::uint32_t(e.online.size()));
    for (const auto& o : e.online) put_online(w, o);
    w.u32(std::uint32_t(e.last_seen.size()));
    for (const auto& [name, at] : e.last_seen) {
        w.str(name);
        put_i64(w, at);
    }
}

// A list count the payload cannot hold (every entry takes bytes) is refused
// before anything is reserved for it.
bool plausible_count(Reader& r, std::uint32_t n, std::size_t min_entry_bytes) {
    if (std::uint64_t(n) * min_entry_bytes > r.remaining()) {
        r.fail(proto::DecodeError::truncated);
        return false;
    }
    return true;
}

std::optional<Event> get_fields(Reader& r, EventType type) {
    switch (type) {
    case EventType::online: return get_online(r);
    case EventType::offline: {
        Offline e;
        e.name = get_str(r);
        e.node = get_str(r);
        e.at_wall_ms = get_i64(r);
        return e;
    }
    case EventType::direct: return get_direct(r);
    case EventType::directs: {
        Directs e;
        // A Direct takes at least 2+2+8+8+2+2+8 bytes.
        const std::uint32_t n = r.u32();
        if (!plausible_count(r, n, 32)) return std::nullopt;
        e.directs.reserve(n);
        for (std::uint32_t i = 0; i < n && !r.failed(); ++i) e.directs.push_back(get_direct(r));
        return e;
    }
    case EventType::direct_answer: return get_direct_answer(r);
    case EventType::direct_answers: {
        DirectAnswers e;
        // An answer takes at least 8+2+2 bytes.
        const std::uint32_t n = r.u32();
        if (!plausible_count(r, n, 12)) return std::nullopt;
        e.answers.reserve(n);
        for (std::uint32_t i = 0; i < n && !r.failed(); ++i) e.answers.push_back(get_direct_answer(r));
        return e;
    }
    case EventType::broadcast: {
        Broadcast e;
        e.from = get_str(r);
        e.node = get_str(r);
        e.sent_at_ms = get_i64(r);
        e.text = get_str(r);
        return e;
    }
    case EventType::block_changed: {
        BlockChanged e;
        e.blocker = get_str(r);
        e.blocked = get_str(r);
        e.on = get_bool(r);
        return e;
    }
    case EventType::login_failed: return LoginFailed{get_str(r)};
    case EventType::locked: {
        Locked e;
        e.lock_key = get_str(r);
        e.until_wall_ms = get_i64(r);
        e.admin = get_bool(r);
        return e;
    }
    case EventType::invite: {
        Invite e;
        e.to = get_str(r);
        e.from = get_str(r);
        e.token = r.token();
        return e;
    }
    case EventType::pair_ended: {
        PairEnded e;
        e.to = get_str(r);
        e.peer = get_str(r);
        e.revoked = get_bool(r);
        e.token = r.token();
        return e;
    }
    case EventType::end_session: {
        EndSession e;
        e.name = get_str(r);
        const std::uint8_t reason = r.u8();
        if (reason < std::uint8_t(proto::EndReason::timed_out) ||
            reason > std::uint8_t(proto::EndReason::account_removed))
            r.fail(proto::DecodeError::truncated); // no such reason: the payload is corrupt
        e.reason = proto::EndReason(reason);
        e.detail = get_str(r);
        return e;
    }
    case EventType::notice: {
        Notice e;
        e.at_wall_ms = get_i64(r);
        e.text = get_str(r);
        return e;
    }
    case EventType::node_down: return NodeDown{get_str(r)};
    case EventType::snapshot: {
        Snapshot e;
        // An Online takes at least 2+2+8+2+2+2 bytes, a last-seen entry 2+8.
        std::uint32_t n = r.u32();
        if (!plausible_count(r, n, 18)) return std::nullopt;
        e.online.reserve(n);
        for (std::uint32_t i = 0; i < n && !r.failed(); ++i) e.online.push_back(get_online(r));
        n = r.u32();
        if (!plausible_count(r, n, 10)) return std::nullopt;
        e.last_seen.reserve(n);
        for (std::uint32_t i = 0; i < n && !r.failed(); ++i) {
            std::string name = get_str(r);
            e.last_seen.emplace_back(std::move(name), get_i64(r));
        }
        return e;
    }
    }
    r.fail(proto::DecodeError::unknown_type);
    return std::nullopt;
}

template <class T>
std::optional<std::size_t> fields_size(const T& e) {
    Writer count;
    put_fields(count, e);
    if (!count.ok()) return std::nullopt;
    return count.size();
}

} // namespace

std::optional<std::size_t> batched_size(const Direct& e) {
    return fields_size(e);
}
std::optional<std::size_t> batched_size(const DirectAnswer& e) {
    return fields_size(e);
}

std::optional<std::string> encode_event(const Event& e, std::string_view origin) {
    const auto write = [&](Writer& w) {
        std::visit(
            [&](const auto& ev) {
                w.u8(std::uint8_t(type_of<std::decay_t<decltype(ev)>>()));
                w.str(origin);
                put_fields(w, ev);
            },
            e);
    };
    Writer count;
    write(count);
    if (!count.ok()) return std::nullopt;
    std::string out(count.size(), '\0');
    Writer w(std::span(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
    write(w);
    if (!w.ok()) return std::nullopt;
    return out;
}

DecodeOutcome decode_event(std::string_view payload) {
    DecodeOutcome out;
    if (payload.empty()) {
        out.error = proto::DecodeError::empty_frame;
        return out;
    }
    Reader r(proto::Bytes(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
    const auto type = EventType(r.u8());
    std::string origin = get_str(r);
    std::optional<Event> event = get_fields(r, type);
    if (!r.failed() && r.remaining() != 0) r.fail(proto::DecodeError::trailing_bytes);
    if (r.failed() || !event) {
        out.error = r.failed() ? r.error() : proto::DecodeError::unknown_type;
        return out;
    }
    out.decoded = DecodedEvent{std::move(*event), std::move(origin)};
    return out;
}

} // namespace confab::cluster
