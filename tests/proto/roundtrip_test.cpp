// Every message type survives append_frame -> FrameDecoder -> decode_payload
// with all fields intact, and its wire type byte is the documented one.
#include "samples.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace confab::proto;
using namespace confab::proto::test;

namespace {

// Encodes `m` with append_frame, pushes it through a FrameDecoder, decodes it
// and compares every field with the original.
void round_trip(const Message& m) {
    ByteVec wire;
    REQUIRE(append_frame(wire, m));
    REQUIRE(wire.size() == frame_header_size + payload_size(m));

    // Header is the payload length, big-endian; first payload byte is the type.
    const std::size_t len = payload_size(m);
    CHECK(wire[0] == std::uint8_t(len >> 24));
    CHECK(wire[1] == std::uint8_t(len >> 16));
    CHECK(wire[2] == std::uint8_t(len >> 8));
    CHECK(wire[3] == std::uint8_t(len));
    CHECK(wire[4] == static_cast<std::uint8_t>(type_of(m)));

    FrameDecoder dec;
    REQUIRE(dec.feed(span_of(wire)) == wire.size());
    FrameResult fr = dec.next();
    REQUIRE(fr.kind == FrameResult::Kind::frame);
    CHECK(fr.consumed == wire.size());
    CHECK(fr.payload.size() == len);
    DecodeResult dr = decode_payload(fr.payload);
    REQUIRE(dr.message.has_value());
    CHECK(type_of(*dr.message) == type_of(m));
    CHECK(same_fields(m, *dr.message));
    CHECK(dec.next().kind == FrameResult::Kind::need_more);
    CHECK(dec.buffered() == 0);

    // encode_frame into an exact-size buffer produces the same bytes.
    ByteVec buf(wire.size());
    CHECK(encode_frame(m, buf) == wire.size());
    CHECK(buf == wire);
}

} // namespace

TEST_CASE("every variant alternative has a sample and a distinct type byte") {
    auto full = full_samples();
    auto defs = default_samples();
    REQUIRE(full.size() == std::variant_size_v<Message>);
    REQUIRE(defs.size() == std::variant_size_v<Message>);
    std::set<std::uint8_t> seen;
    for (std::size_t i = 0; i < full.size(); ++i) {
        CHECK(full[i].index() == i);
        CHECK(defs[i].index() == i);
        seen.insert(static_cast<std::uint8_t>(type_of(full[i])));
        CHECK(to_string(type_of(full[i])) != "unknown");
    }
    CHECK(seen.size() == full.size());
}

TEST_CASE("round trip of every message type with all fields set") {
    for (const Message& m : full_samples()) {
        CAPTURE(to_string(type_of(m)));
        round_trip(m);
    }
}

TEST_CASE("round trip of every message type with default (zero / empty) fields") {
    for (const Message& m : default_samples()) {
        CAPTURE(to_string(type_of(m)));
        round_trip(m);
    }
}

TEST_CASE("field comparison notices a changed field (the round-trip check can fail)") {
    Message a = SendMessage{1, "bob", "hello"};
    Message b = SendMessage{1, "bob", "hellp"};
    Message c = SendMessage{2, "bob", "hello"};
    Message d = Broadcast{1, "hello"};
    CHECK(same_fields(a, a));
    CHECK_FALSE(same_fields(a, b));
    CHECK_FALSE(same_fields(a, c));
    CHECK_FALSE(same_fields(a, d));
    Token t1 = sample_token(), t2 = sample_token();
    t2[15] ^= 1;
    CHECK_FALSE(same_fields(PeerHello{1, "a", t1}, PeerHello{1, "a", t2}));
    CHECK_FALSE(same_fields(AckMessages{{1, 2}}, AckMessages{{1, 2, 3}}));
}

TEST_CASE("decoded string fields are views into the payload") {
    ByteVec wire = frame_of(SendMessage{5, "bob", "hello"});
    DecodeResult dr = decode_payload(span_of(wire).subspan(frame_header_size));
    REQUIRE(dr.message.has_value());
    const auto& sm = std::get<SendMessage>(*dr.message);
    const char* lo = reinterpret_cast<const char*>(wire.data());
    const char* hi = lo + wire.size();
    CHECK(sm.to.data() >= lo);
    CHECK(sm.text.data() + sm.text.size() <= hi);
    CHECK(sm.to == "bob");
    CHECK(sm.text == "hello");
}

TEST_CASE("wire values of message types match PROTOCOL.md") {
    CHECK(std::uint8_t(MessageType::hello) == 0x01);
    CHECK(std::uint8_t(MessageType::login) == 0x02);
    CHECK(std::uint8_t(MessageType::send_message) == 0x03);
    CHECK(std::uint8_t(MessageType::broadcast) == 0x04);
    CHECK(std::uint8_t(MessageType::who_else) == 0x05);
    CHECK(std::uint8_t(MessageType::who_else_since) == 0x06);
    CHECK(std::uint8_t(MessageType::block) == 0x07);
    CHECK(std::uint8_t(MessageType::unblock) == 0x08);
    CHECK(std::uint8_t(MessageType::logout) == 0x09);
    CHECK(std::uint8_t(MessageType::start_private) == 0x0A);
    CHECK(std::uint8_t(MessageType::stop_private) == 0x0B);
    CHECK(std::uint8_t(MessageType::private_listen) == 0x0C);
    CHECK(std::uint8_t(MessageType::ack_messages) == 0x0D);
    CHECK(std::uint8_t(MessageType::private_activity) == 0x0E);
    CHECK(std::uint8_t(MessageType::list_blocks) == 0x0F);
    CHECK(std::uint8_t(MessageType::who_else_since_seen) == 0x10);
    CHECK(std::uint8_t(MessageType::welcome) == 0x80);
    CHECK(std::uint8_t(MessageType::login_result) == 0x81);
    CHECK(std::uint8_t(MessageType::result) == 0x82);
    CHECK(std::uint8_t(MessageType::user_list) == 0x83);
    CHECK(std::uint8_t(MessageType::message_event) == 0x84);
    CHECK(std::uint8_t(MessageType::broadcast_event) == 0x85);
    CHECK(std::uint8_t(MessageType::presence_event) == 0x86);
    CHECK(std::uint8_t(MessageType::session_ended) == 0x87);
    CHECK(std::uint8_t(MessageType::private_intro) == 0x88);
    CHECK(std::uint8_t(MessageType::private_invite) == 0x89);
    CHECK(std::uint8_t(MessageType::private_revoked) == 0x8A);
    CHECK(std::uint8_t(MessageType::idle_warning) == 0x8B);
    CHECK(std::uint8_t(MessageType::user_seen_list) == 0x8C);
    CHECK(std::uint8_t(MessageType::server_notice) == 0x8D);
    CHECK(std::uint8_t(MessageType::control_status) == 0x60);
    CHECK(std::uint8_t(MessageType::control_who) == 0x61);
    CHECK(std::uint8_t(MessageType::control_kick) == 0x62);
    CHECK(std::uint8_t(MessageType::control_lock) == 0x63);
    CHECK(std::uint8_t(MessageType::control_unlock) == 0x64);
    CHECK(std::uint8_t(MessageType::control_reload) == 0x65);
    CHECK(std::uint8_t(MessageType::control_wall) == 0x66);
    CHECK(std::uint8_t(MessageType::control_metrics) == 0x67);
    CHECK(std::uint8_t(MessageType::control_status_reply) == 0xA0);
    CHECK(std::uint8_t(MessageType::control_who_reply) == 0xA1);
    CHECK(std::uint8_t(MessageType::control_metrics_reply) == 0xA2);
    CHECK(std::uint8_t(MessageType::protocol_error) == 0xBF);
    CHECK(std::uint8_t(MessageType::peer_hello) == 0xC0);
    CHECK(std::uint8_t(MessageType::peer_welcome) == 0xC1);
    CHECK(std::uint8_t(MessageType::peer_text) == 0xC2);
    CHECK(std::uint8_t(MessageType::peer_bye) == 0xC3);
}

TEST_CASE("wire values of status codes and enums match PROTOCOL.md") {
    const std::pair<Status, int> table[] = {
        {Status::ok, 0},
        {Status::ok_stored, 1},
        {Status::ok_partial, 2},
        {Status::bad_request, 10},
        {Status::unsupported_version, 11},
        {Status::frame_too_large, 12},
        {Status::not_logged_in, 13},
        {Status::wrong_state, 14},
        {Status::unknown_user, 20},
        {Status::self_target, 21},
        {Status::blocked_by_recipient, 22},
        {Status::already_blocked, 23},
        {Status::not_blocked, 24},
        {Status::invalid_name, 25},
        {Status::invalid_text, 26},
        {Status::user_offline, 27},
        {Status::no_private_endpoint, 28},
        {Status::mailbox_full, 29},
        {Status::storage_failed, 30},
        {Status::invalid_argument, 31},
        {Status::no_private_session, 32},
        {Status::output_overflow, 40},
        {Status::login_timeout, 41},
        {Status::server_busy, 42},
        {Status::permission_denied, 43},
        {Status::unavailable, 44},
    };
    for (auto [s, v] : table) {
        CAPTURE(v);
        CHECK(static_cast<int>(s) == v);
        CHECK(is_success(s) == (v < 10));
        CHECK(to_string(s) != "unknown status");
    }
    CHECK(int(LoginOutcome::ok) == 0);
    CHECK(int(LoginOutcome::wrong_password) == 1);
    CHECK(int(LoginOutcome::locked) == 2);
    CHECK(int(LoginOutcome::already_logged_in) == 3);
    CHECK(int(LoginOutcome::unknown_user) == 4);
    CHECK(int(LoginOutcome::unavailable) == 5);
    CHECK(int(PresenceKind::login) == 1);
    CHECK(int(PresenceKind::logout) == 2);
    CHECK(int(EndReason::timed_out) == 1);
    CHECK(int(EndReason::server_shutdown) == 2);
    CHECK(int(EndReason::logged_out) == 3);
    CHECK(int(EndReason::kicked) == 4);
    CHECK(int(EndReason::locked) == 5);
    CHECK(int(EndReason::account_removed) == 6);
    CHECK(lock_until_unlocked == 0xFFFFFFFF);
    CHECK(int(PeerByeReason::stopped) == 1);
    CHECK(int(PeerByeReason::logged_out) == 2);
    CHECK(int(PeerByeReason::blocked) == 3);
    CHECK(message_flag_offline == 0x01);
    CHECK(protocol_version == 1);
    CHECK(max_frame_size == 65536);
}

TEST_CASE("worked examples of PROTOCOL.md: exact bytes") {
    // Hello{version 1, client "confab/0.1.0"}
    ByteVec hello = frame_of(Hello{1, "confab/0.1.0"});
    ByteVec want_hello =
        concat(bytes({0x00, 0x00, 0x00, 0x11, 0x01, 0x00, 0x01, 0x00, 0x0C}), str_bytes("confab/0.1.0"));
    CHECK(hello == want_hello);

    // SendMessage{request_id 1, to "bob", text "hello"}
    ByteVec sm = frame_of(SendMessage{1, "bob", "hello"});
    ByteVec want_sm = bytes({0x00, 0x00, 0x00, 0x11, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x03,
                             'b',  'o',  'b',  0x00, 0x05, 'h',  'e',  'l',  'l',  'o'});
    CHECK(sm == want_sm);

    // ProtocolError{unsupported_version, ""}: type, u16 code, empty string
    CHECK(frame_of(ProtocolError{Status::unsupported_version, ""}) ==
          bytes({0, 0, 0, 5, 0xBF, 0x00, 0x0B, 0x00, 0x00}));

    // AckMessages{[1, 2]}: u16 count then u64 ids
    CHECK(frame_of(AckMessages{{1, 2}}) ==
          bytes({0, 0, 0, 19, 0x0D, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2}));

    // LoginResult{3, wrong_password, 2}
    CHECK(frame_of(LoginResult{3, LoginOutcome::wrong_password, 2}) ==
          bytes({0, 0, 0, 10, 0x81, 0, 0, 0, 3, 0x01, 0, 0, 0, 2}));
}

TEST_CASE("round trip at the size limits") {
    SUBCASE("list of exactly max_list_entries") {
        std::vector<std::uint64_t> ids(max_list_entries);
        for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = 0xA5A5A5A500000000ULL + i;
        round_trip(AckMessages{ids});
        std::vector<std::string_view> names(max_list_entries, "user.name-01");
        round_trip(UserList{99, names});
    }
    SUBCASE("payload of exactly max_frame_size bytes") {
        // type (1) + u16 length (2) + text
        std::string big(max_frame_size - 3, 'x');
        Message m = PeerText{big};
        REQUIRE(payload_size(m) == max_frame_size);
        round_trip(m);
    }
    SUBCASE("multi-byte UTF-8 at every length") {
        std::string s = "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x7F\xEF\xBF\xBD";
        round_trip(MessageEvent{1, 2, 0, "a", s});
        round_trip(Login{1, "a", s});
    }
}
