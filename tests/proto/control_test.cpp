// The control family of PROTOCOL.md §11: its type ranges and the worked
// examples' exact bytes.
#include "samples.hpp"

#include <doctest/doctest.h>

using namespace confab::proto;
using namespace confab::proto::test;

TEST_CASE("every message type belongs to the family its range says") {
    for (const Message& m : full_samples()) {
        const MessageType t = type_of(m);
        CAPTURE(to_string(t));
        const MessageFamily f = family_of(t);
        const auto v = std::uint8_t(t);
        if (to_string(t).starts_with("Control"))
            CHECK((f == MessageFamily::control_request || f == MessageFamily::control_reply));
        else
            CHECK((f != MessageFamily::control_request && f != MessageFamily::control_reply));
        if (v <= 0x5F) CHECK(f == MessageFamily::user_request);
        if (v >= 0x60 && v <= 0x7F) CHECK(f == MessageFamily::control_request);
        if (v >= 0xA0 && v <= 0xBE) CHECK(f == MessageFamily::control_reply);
        if (v >= 0xC0) CHECK(f == MessageFamily::peer);
    }
    CHECK(family_of(MessageType::protocol_error) == MessageFamily::server_reply);
    CHECK(family_of(MessageType::result) == MessageFamily::server_reply);
}

TEST_CASE("control worked examples of PROTOCOL.md: exact bytes") {
    CHECK(frame_of(ControlStatus{1}) == bytes({0, 0, 0, 5, 0x60, 0, 0, 0, 1}));
    CHECK(frame_of(ControlKick{2, "bob", "spam"}) ==
          bytes({0, 0, 0, 16, 0x62, 0, 0, 0, 2, 0, 3, 'b', 'o', 'b', 0, 4, 's', 'p', 'a', 'm'}));
    CHECK(frame_of(ControlLock{3, "bob", lock_until_unlocked}) ==
          bytes({0, 0, 0, 14, 0x63, 0, 0, 0, 3, 0, 3, 'b', 'o', 'b', 0xFF, 0xFF, 0xFF, 0xFF}));
    CHECK(frame_of(ServerNotice{1000, "hi"}) ==
          bytes({0, 0, 0, 13, 0x8D, 0, 0, 0, 0, 0, 0, 0x03, 0xE8, 0, 2, 'h', 'i'}));
    CHECK(frame_of(ControlWhoReply{4, {"al"}, {"[::1]:9"}, {5}, {6}, {1}}) ==
          bytes({0, 0, 0, 42, 0xA1, 0,   0,   0,   4,             // request_id
                 0, 1, 0, 2,  'a',  'l',                          // names
                 0, 1, 0, 7,  '[',  ':', ':', '1', ']', ':', '9', // addresses
                 0, 1, 0, 0,  0,    0,   0,   0,   0,   5,        // login_at_ms
                 0, 1, 0, 0,  0,    6,                            // idle_s
                 0, 1, 0, 1}));                                   // private_chats
    CHECK(frame_of(ProtocolError{Status::permission_denied, ""}) == bytes({0, 0, 0, 5, 0xBF, 0, 43, 0, 0}));
}
