#include "messages.hpp"

namespace confab::proto {
namespace {

// Field encoders, one per field type. Enums go on the wire as their underlying integer.
void put(Writer& w, std::uint8_t v) {
    w.u8(v);
}
void put(Writer& w, std::uint16_t v) {
    w.u16(v);
}
void put(Writer& w, std::uint32_t v) {
    w.u32(v);
}
void put(Writer& w, std::uint64_t v) {
    w.u64(v);
}
void put(Writer& w, std::string_view v) {
    w.str(v);
}
void put(Writer& w, const Token& v) {
    w.token(v);
}
template <class E>
requires std::is_enum_v<E>
void put(Writer& w, E v) {
    put(w, static_cast<std::underlying_type_t<E>>(v));
}
template <class T>
void put(Writer& w, const std::vector<T>& list) {
    // Never emit a list the decoder refuses (nor let the u16 count wrap).
    if (list.size() > max_list_entries) {
        w.fail();
        return;
    }
    w.u16(std::uint16_t(list.size()));
    for (const auto& item : list) put(w, item);
}

void get(Reader& r, std::uint8_t& v) {
    v = r.u8();
}
void get(Reader& r, std::uint16_t& v) {
    v = r.u16();
}
void get(Reader& r, std::uint32_t& v) {
    v = r.u32();
}
void get(Reader& r, std::uint64_t& v) {
    v = r.u64();
}
void get(Reader& r, std::string_view& v) {
    v = r.str();
}
void get(Reader& r, Token& v) {
    v = r.token();
}
template <class E>
requires std::is_enum_v<E>
void get(Reader& r, E& v) {
    std::underlying_type_t<E> raw{};
    get(r, raw);
    v = static_cast<E>(raw);
}
template <class T>
void get(Reader& r, std::vector<T>& list) {
    std::uint16_t n = r.u16();
    if (n > max_list_entries) {
        r.fail(DecodeError::too_many_entries);
        return;
    }
    // Every entry takes at least one byte, so a count the payload cannot hold
    // is refused before reserving memory for it.
    if (n > r.remaining()) {
        r.fail(DecodeError::truncated);
        return;
    }
    list.resize(n);
    for (auto& item : list) get(r, item);
}

template <class M>
void encode_fields(Writer& w, const M& m) {
    w.u8(static_cast<std::uint8_t>(M::type));
    // fields() ties references; encoding only reads through them.
    std::apply([&](auto&... f) { (put(w, f), ...); }, const_cast<M&>(m).fields());
}

template <class M>
DecodeResult decode_as(Reader& r) {
    M m{};
    std::apply([&](auto&... f) { (get(r, f), ...); }, m.fields());
    if (!r.failed() && r.remaining() != 0) r.fail(DecodeError::trailing_bytes);
    if (r.failed()) return {std::nullopt, r.error()};
    return {Message{std::move(m)}, {}};
}

std::size_t measure(const Message& m) {
    Writer w; // counting only
    std::visit([&](const auto& msg) { encode_fields(w, msg); }, m);
    return w.ok() ? w.size() : max_frame_size + 1;
}

template <std::size_t I = 0>
DecodeResult decode_by_type(MessageType t, Reader& r) {
    if constexpr (I == std::variant_size_v<Message>) {
        return {std::nullopt, DecodeError::unknown_type};
    } else {
        using M = std::variant_alternative_t<I, Message>;
        if (M::type == t) return decode_as<M>(r);
        return decode_by_type<I + 1>(t, r);
    }
}

} // namespace

MessageType type_of(const Message& m) noexcept {
    return std::visit([](const auto& msg) { return std::decay_t<decltype(msg)>::type; }, m);
}

std::size_t payload_size(const Message& m) noexcept {
    return measure(m);
}

std::size_t encode_frame(const Message& m, std::span<std::uint8_t> out) noexcept {
    if (out.size() < frame_header_size) return 0;
    Writer w(out.subspan(frame_header_size));
    std::visit([&](const auto& msg) { encode_fields(w, msg); }, m);
    if (!w.ok() || w.size() > max_frame_size) return 0;
    Writer header(out.first(frame_header_size));
    header.u32(std::uint32_t(w.size()));
    return frame_header_size + w.size();
}

bool append_frame(std::vector<std::uint8_t>& out, const Message& m) {
    std::size_t n = payload_size(m);
    if (n > max_frame_size) return false;
    std::size_t old = out.size();
    out.resize(old + frame_header_size + n);
    encode_frame(m, std::span(out).subspan(old));
    return true;
}

DecodeResult decode_payload(Bytes payload) {
    if (payload.empty()) return {std::nullopt, DecodeError::empty_frame};
    Reader r(payload.subspan(1));
    return decode_by_type(static_cast<MessageType>(payload[0]), r);
}

std::string_view to_string(MessageType t) noexcept {
    switch (t) {
    case MessageType::hello: return "Hello";
    case MessageType::login: return "Login";
    case MessageType::send_message: return "SendMessage";
    case MessageType::broadcast: return "Broadcast";
    case MessageType::who_else: return "WhoElse";
    case MessageType::who_else_since: return "WhoElseSince";
    case MessageType::block: return "Block";
    case MessageType::unblock: return "Unblock";
    case MessageType::logout: return "Logout";
    case MessageType::start_private: return "StartPrivate";
    case MessageType::stop_private: return "StopPrivate";
    case MessageType::private_listen: return "PrivateListen";
    case MessageType::ack_messages: return "AckMessages";
    case MessageType::private_activity: return "PrivateActivity";
    case MessageType::list_blocks: return "ListBlocks";
    case MessageType::who_else_since_seen: return "WhoElseSinceSeen";
    case MessageType::welcome: return "Welcome";
    case MessageType::login_result: return "LoginResult";
    case MessageType::result: return "Result";
    case MessageType::user_list: return "UserList";
    case MessageType::message_event: return "MessageEvent";
    case MessageType::broadcast_event: return "BroadcastEvent";
    case MessageType::presence_event: return "PresenceEvent";
    case MessageType::session_ended: return "SessionEnded";
    case MessageType::private_intro: return "PrivateIntro";
    case MessageType::private_invite: return "PrivateInvite";
    case MessageType::private_revoked: return "PrivateRevoked";
    case MessageType::idle_warning: return "IdleWarning";
    case MessageType::user_seen_list: return "UserSeenList";
    case MessageType::server_notice: return "ServerNotice";
    case MessageType::control_status: return "ControlStatus";
    case MessageType::control_who: return "ControlWho";
    case MessageType::control_kick: return "ControlKick";
    case MessageType::control_lock: return "ControlLock";
    case MessageType::control_unlock: return "ControlUnlock";
    case MessageType::control_reload: return "ControlReload";
    case MessageType::control_wall: return "ControlWall";
    case MessageType::control_metrics: return "ControlMetrics";
    case MessageType::control_status_reply: return "ControlStatusReply";
    case MessageType::control_who_reply: return "ControlWhoReply";
    case MessageType::control_metrics_reply: return "ControlMetricsReply";
    case MessageType::protocol_error: return "ProtocolError";
    case MessageType::peer_hello: return "PeerHello";
    case MessageType::peer_welcome: return "PeerWelcome";
    case MessageType::peer_text: return "PeerText";
    case MessageType::peer_bye: return "PeerBye";
    }
    return "unknown";
}

} // namespace confab::proto
