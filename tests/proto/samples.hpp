// Shared fixtures for the proto unit tests: two samples of every message type
// (one with default/empty fields, one with every field set to a distinctive,
// boundary-ish value), plus helpers to encode, decode and compare them.
#pragma once

#include "proto/frame.hpp"
#include "proto/messages.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace confab::proto::test {

using ByteVec = std::vector<std::uint8_t>;

inline Token sample_token() {
    Token t{};
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = std::uint8_t(0xF0 ^ (i * 17));
    return t;
}

// One default-constructed value of every alternative, in variant order.
template <std::size_t... I>
std::vector<Message> defaults_impl(std::index_sequence<I...>) {
    return {Message{std::in_place_index<I>}...};
}
inline std::vector<Message> default_samples() {
    return defaults_impl(std::make_index_sequence<std::variant_size_v<Message>>{});
}

// One fully populated value of every alternative, in variant order.
inline std::vector<Message> full_samples() {
    const Token tok = sample_token();
    std::vector<Message> v;
    v.push_back(Hello{0xBEEF, "confab/0.1.0"});
    v.push_back(Login{0xDEADBEEF, "alice_01.x-y",
                      "p\xC3\xA4ssw\xE2\x82\xAC"
                      "rd \xF0\x9F\x98\x80"});
    v.push_back(SendMessage{0x01020304, "bob", "h\xC3\xA9llo, w\xC3\xB6rld \xE2\x9C\x93"});
    v.push_back(Broadcast{0xFFFFFFFF, "to everyone"});
    v.push_back(WhoElse{7});
    v.push_back(WhoElseSince{8, 0xFFFFFFFE});
    v.push_back(Block{9, "carol"});
    v.push_back(Unblock{10, "dave"});
    v.push_back(Logout{11});
    v.push_back(StartPrivate{12, "erin"});
    v.push_back(StopPrivate{13, "frank"});
    v.push_back(PrivateListen{14, "2001:db8::1", 0xFFFF});
    v.push_back(AckMessages{{0, 1, 0x0102030405060708ULL, 0xFFFFFFFFFFFFFFFFULL}});
    v.push_back(Welcome{1, 65536, "confabd/0.1.0"});
    v.push_back(LoginResult{15, LoginOutcome::locked, 0x80000001});
    v.push_back(Result{16, Status::blocked_by_recipient, "bob has blocked you"});
    v.push_back(UserList{17, {"alice", "bob", "", "carol"}});
    v.push_back(
        MessageEvent{0x1122334455667788ULL, 1795000000123ULL, message_flag_offline, "alice", "stored \xE2\x98\x83"});
    v.push_back(BroadcastEvent{0x8000000000000001ULL, "bob", "hi all"});
    v.push_back(PresenceEvent{PresenceKind::logout, "carol"});
    v.push_back(SessionEnded{EndReason::server_shutdown, "server is shutting down"});
    v.push_back(PrivateIntro{18, "bob", "192.0.2.7", 40001, tok});
    v.push_back(PrivateInvite{"alice", tok});
    v.push_back(PrivateRevoked{"dave"});
    v.push_back(ProtocolError{Status::unsupported_version, "protocol version 2 is not supported"});
    v.push_back(PeerHello{1, "alice", tok});
    v.push_back(PeerWelcome{"bob"});
    v.push_back(PeerText{"private \xF0\x9F\x94\x92"});
    v.push_back(PeerBye{PeerByeReason::blocked});
    v.push_back(PrivateActivity{});
    v.push_back(ListBlocks{19});
    v.push_back(WhoElseSinceSeen{20, 0xFFFFFFFF});
    v.push_back(IdleWarning{60});
    v.push_back(UserSeenList{21, {"alice", "bob"}, {0, 3600}});
    v.push_back(ServerNotice{1795000000456ULL, "maintenance at 18:00 \xE2\x9A\xA0"});
    v.push_back(ControlStatus{22});
    v.push_back(ControlWho{23});
    v.push_back(ControlKick{24, "bob", "spamming"});
    v.push_back(ControlLock{25, "carol", 3600});
    v.push_back(ControlUnlock{26, "carol"});
    v.push_back(ControlReload{27});
    v.push_back(ControlWall{28, "back in 5 minutes"});
    v.push_back(ControlMetrics{0xFFFFFFFF});
    v.push_back(ControlStatusReply{29, "0.1.0", 86400, 2, 3, 0xFFFFFFFFFFFFFFFFULL, 5, 6, 7, 1234, 8ULL << 20});
    v.push_back(ControlWhoReply{30, {"alice", "bob"}, {"127.0.0.1:40000", "[::1]:40001"}, {1, 2}, {0, 59}, {0, 3}});
    v.push_back(ControlMetricsReply{31, "# EOF\n"});
    return v;
}

// Field-by-field equality (fields() ties references, tuples compare element-wise).
inline bool same_fields(const Message& a, const Message& b) {
    if (a.index() != b.index()) return false;
    return std::visit(
        [&](const auto& x) {
            using M = std::decay_t<decltype(x)>;
            M l = x;
            M r = std::get<M>(b);
            return l.fields() == r.fields();
        },
        a);
}

inline ByteVec frame_of(const Message& m) {
    ByteVec out;
    if (!append_frame(out, m)) return {};
    return out;
}

inline ByteVec bytes(std::initializer_list<int> l) {
    ByteVec v;
    for (int b : l) v.push_back(std::uint8_t(b));
    return v;
}

inline ByteVec concat(ByteVec a, const ByteVec& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

inline ByteVec str_bytes(std::string_view s) {
    return ByteVec(s.begin(), s.end());
}

// A frame header (u32 BE) for `len`.
inline ByteVec header(std::uint32_t len) {
    return bytes({int(len >> 24 & 0xFF), int(len >> 16 & 0xFF), int(len >> 8 & 0xFF), int(len & 0xFF)});
}

// Wraps a raw payload in a frame.
inline ByteVec raw_frame(const ByteVec& payload) {
    return concat(header(std::uint32_t(payload.size())), payload);
}

inline Bytes span_of(const ByteVec& v) {
    return Bytes(v.data(), v.size());
}

} // namespace confab::proto::test
