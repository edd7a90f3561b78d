// decode_payload: each kind of malformed payload gives its exact DecodeError.
#include "samples.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace confab::proto;
using namespace confab::proto::test;

namespace {

ByteVec payload_of(const Message& m) {
    ByteVec f = frame_of(m);
    REQUIRE(f.size() > frame_header_size);
    return ByteVec(f.begin() + frame_header_size, f.end());
}

// Decodes and expects a specific error.
void expect_error(const ByteVec& payload, DecodeError want) {
    DecodeResult r = decode_payload(span_of(payload));
    CHECK_FALSE(r.message.has_value());
    CHECK(to_string(r.error) == to_string(want));
}

// Payload of a Login whose name field is the given raw bytes.
ByteVec login_with_name(const ByteVec& name) {
    ByteVec p = bytes({0x02, 0, 0, 0, 1});
    p.push_back(std::uint8_t(name.size() >> 8));
    p.push_back(std::uint8_t(name.size()));
    p = concat(p, name);
    p = concat(p, bytes({0, 2, 'p', 'w'})); // password "pw"
    return p;
}

} // namespace

TEST_CASE("empty payload: empty_frame") {
    DecodeResult r = decode_payload(Bytes{});
    CHECK_FALSE(r.message);
    CHECK(r.error == DecodeError::empty_frame);
}

TEST_CASE("unknown type bytes: unknown_type; known ones alone: truncated, or whole if they have no fields") {
    std::set<int> known;
    for (const auto& m : full_samples()) known.insert(int(type_of(m)));
    REQUIRE(known.size() == std::variant_size_v<Message>);
    int unknown = 0;
    for (int b = 0; b < 256; ++b) {
        CAPTURE(b);
        ByteVec p = bytes({b});
        DecodeResult r = decode_payload(span_of(p));
        if (b == int(MessageType::private_activity)) {
            CHECK(r.message); // the one message without fields
        } else if (known.count(b)) {
            CHECK_FALSE(r.message);
            CHECK(r.error == DecodeError::truncated);
        } else {
            CHECK_FALSE(r.message);
            CHECK(r.error == DecodeError::unknown_type);
            ++unknown;
        }
    }
    CHECK(unknown == 256 - int(known.size()));
    // An unknown type with a body is still unknown_type (not trailing_bytes).
    expect_error(bytes({0x7F, 0, 0, 0, 1}), DecodeError::unknown_type);
    expect_error(bytes({0x00, 0, 1}), DecodeError::unknown_type);
    expect_error(bytes({0xFF}), DecodeError::unknown_type);
}

TEST_CASE("every proper prefix of every message payload: truncated") {
    for (const auto& m : full_samples()) {
        CAPTURE(to_string(type_of(m)));
        ByteVec p = payload_of(m);
        for (std::size_t len = 1; len < p.size(); ++len) {
            CAPTURE(len);
            DecodeResult r = decode_payload(span_of(p).first(len));
            REQUIRE_FALSE(r.message);
            REQUIRE(r.error == DecodeError::truncated);
        }
        // and the whole payload decodes
        CHECK(decode_payload(span_of(p)).message.has_value());
    }
}

TEST_CASE("extra bytes after the last field: trailing_bytes") {
    for (const auto& m : full_samples()) {
        CAPTURE(to_string(type_of(m)));
        ByteVec p = payload_of(m);
        expect_error(concat(p, bytes({0x00})), DecodeError::trailing_bytes);
        expect_error(concat(p, bytes({0xFF, 0xFF, 0xFF})), DecodeError::trailing_bytes);
    }
    for (const auto& m : default_samples()) {
        CAPTURE(to_string(type_of(m)));
        expect_error(concat(payload_of(m), bytes({0x41})), DecodeError::trailing_bytes);
    }
}

TEST_CASE("string length running past the payload: truncated") {
    // Login name announces 10 bytes, 3 present.
    expect_error(bytes({0x02, 0, 0, 0, 1, 0, 10, 'a', 'b', 'c'}), DecodeError::truncated);
    // Token needs 16 bytes: PrivateInvite{peer "a", 15-byte token}.
    ByteVec inv = bytes({0x89, 0, 1, 'a'});
    inv.resize(inv.size() + 15, 0x11);
    expect_error(inv, DecodeError::truncated);
    inv.push_back(0x11);
    CHECK(decode_payload(span_of(inv)).message.has_value());
}

TEST_CASE("bad UTF-8 in a name: bad_utf8") {
    const std::pair<const char*, ByteVec> bad[] = {
        {"overlong 2-byte '/'", bytes({0xC0, 0xAF})},
        {"overlong 2-byte NUL", bytes({0xC0, 0x80})},
        {"overlong 2-byte max (C1 BF)", bytes({0xC1, 0xBF})},
        {"overlong 3-byte '/'", bytes({0xE0, 0x80, 0xAF})},
        {"overlong 3-byte U+07FF", bytes({0xE0, 0x9F, 0xBF})},
        {"overlong 4-byte '/'", bytes({0xF0, 0x80, 0x80, 0xAF})},
        {"overlong 4-byte U+FFFF", bytes({0xF0, 0x8F, 0xBF, 0xBF})},
        {"surrogate U+D800", bytes({0xED, 0xA0, 0x80})},
        {"surrogate U+DBFF", bytes({0xED, 0xAF, 0xBF})},
        {"surrogate U+DC00", bytes({0xED, 0xB0, 0x80})},
        {"surrogate U+DFFF", bytes({0xED, 0xBF, 0xBF})},
        {"surrogate pair (CESU-8)", bytes({0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80})},
        {"above U+10FFFF", bytes({0xF4, 0x90, 0x80, 0x80})},
        {"F5 lead", bytes({0xF5, 0x80, 0x80, 0x80})},
        {"F8 5-byte lead", bytes({0xF8, 0x88, 0x80, 0x80, 0x80})},
        {"FE", bytes({0xFE})},
        {"FF", bytes({0xFF})},
        {"lone continuation", bytes({'a', 0x80, 'b'})},
        {"truncated 2-byte at end", bytes({'a', 0xC3})},
        {"truncated 3-byte at end", bytes({0xE2, 0x82})},
        {"truncated 4-byte at end", bytes({0xF0, 0x9F, 0x98})},
        {"truncated 3-byte followed by ASCII", bytes({0xE2, 0x82, 'x'})},
        {"truncated 2-byte followed by lead", bytes({0xC3, 0xC3, 0xA9})},
    };
    for (const auto& [what, raw] : bad) {
        CAPTURE(what);
        CHECK_FALSE(is_valid_utf8(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size())));
        expect_error(login_with_name(raw), DecodeError::bad_utf8);
    }
}

TEST_CASE("valid UTF-8 boundaries are accepted") {
    const ByteVec good[] = {
        bytes({}),
        bytes({0x00}),
        bytes({0x7F}),
        bytes({0xC2, 0x80}),
        bytes({0xDF, 0xBF}),
        bytes({0xE0, 0xA0, 0x80}),
        bytes({0xED, 0x9F, 0xBF}),       // U+D7FF, just below the surrogates
        bytes({0xEE, 0x80, 0x80}),       // U+E000, just above
        bytes({0xEF, 0xBF, 0xBF}),       // U+FFFF
        bytes({0xF0, 0x90, 0x80, 0x80}), // U+10000
        bytes({0xF4, 0x8F, 0xBF, 0xBF}), // U+10FFFF
    };
    for (const auto& raw : good) {
        CAPTURE(raw.size());
        CHECK(is_valid_utf8(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size())));
        const ByteVec payload = login_with_name(raw); // decoded views point into it
        DecodeResult r = decode_payload(span_of(payload));
        REQUIRE(r.message);
        auto name = std::get<Login>(*r.message).name;
        CHECK(ByteVec(name.begin(), name.end()) == raw);
    }
}

TEST_CASE("bad UTF-8 is refused in every string field position") {
    const ByteVec bad = bytes({0xED, 0xA0, 0x80});
    auto s = [&] { return concat(bytes({0, 3}), bad); };
    // Login password
    expect_error(concat(bytes({0x02, 0, 0, 0, 1, 0, 1, 'a'}), s()), DecodeError::bad_utf8);
    // SendMessage text
    expect_error(concat(bytes({0x03, 0, 0, 0, 1, 0, 1, 'b'}), s()), DecodeError::bad_utf8);
    // Hello client string
    expect_error(concat(bytes({0x01, 0, 1}), s()), DecodeError::bad_utf8);
    // UserList: second name of two
    expect_error(concat(bytes({0x83, 0, 0, 0, 1, 0, 2, 0, 1, 'a'}), s()), DecodeError::bad_utf8);
    // PeerText
    expect_error(concat(bytes({0xC2}), s()), DecodeError::bad_utf8);
    // A bad string before more fields still reports bad_utf8 (first error wins).
    expect_error(concat(concat(bytes({0x03, 0, 0, 0, 1}), s()), bytes({0, 1, 'x'})), DecodeError::bad_utf8);
}

TEST_CASE("first error wins: bad UTF-8 then a truncated field") {
    // SendMessage: `to` is bad UTF-8, then `text` is missing entirely.
    expect_error(bytes({0x03, 0, 0, 0, 1, 0, 1, 0xFF}), DecodeError::bad_utf8);
}

TEST_CASE("lists longer than max_list_entries: too_many_entries") {
    auto count = [](std::size_t n) { return bytes({int(n >> 8), int(n & 0xFF)}); };
    SUBCASE("AckMessages with 4097 ids (all present)") {
        ByteVec p = concat(bytes({0x0D}), count(max_list_entries + 1));
        p.resize(p.size() + 8 * (max_list_entries + 1), 0x01);
        expect_error(p, DecodeError::too_many_entries);
        // exactly 4096 decodes
        ByteVec q = concat(bytes({0x0D}), count(max_list_entries));
        q.resize(q.size() + 8 * max_list_entries, 0x01);
        DecodeResult r = decode_payload(span_of(q));
        REQUIRE(r.message);
        CHECK(std::get<AckMessages>(*r.message).ids.size() == max_list_entries);
    }
    SUBCASE("UserList with 4097 empty names") {
        ByteVec p = concat(bytes({0x83, 0, 0, 0, 9}), count(max_list_entries + 1));
        p.resize(p.size() + 2 * (max_list_entries + 1), 0x00);
        expect_error(p, DecodeError::too_many_entries);
    }
    SUBCASE("count 0xFFFF with no entries is too_many_entries, not truncated") {
        expect_error(bytes({0x0D, 0xFF, 0xFF}), DecodeError::too_many_entries);
        expect_error(bytes({0x83, 0, 0, 0, 1, 0xFF, 0xFF}), DecodeError::too_many_entries);
    }
    SUBCASE("count within the limit but more than the payload holds: truncated") {
        expect_error(bytes({0x0D, 0x10, 0x00, 1, 2, 3}), DecodeError::truncated);
        expect_error(bytes({0x0D, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1}), DecodeError::truncated);
        expect_error(bytes({0x83, 0, 0, 0, 1, 0, 3, 0, 1, 'a', 0, 0}), DecodeError::truncated);
    }
}

TEST_CASE("DecodeError has a human-readable name for every value") {
    for (auto e :
         {DecodeError::frame_too_large, DecodeError::empty_frame, DecodeError::unknown_type, DecodeError::truncated,
          DecodeError::trailing_bytes, DecodeError::bad_utf8, DecodeError::too_many_entries}) {
        CHECK(to_string(e) != "unknown decode error");
    }
}

TEST_CASE("utf8_prefix never cuts inside a character") {
    using confab::proto::utf8_prefix;
    const std::string s = "ab\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"; // a b é € 😀
    CHECK(utf8_prefix(s, 100) == s);
    CHECK(utf8_prefix(s, 2) == "ab");
    CHECK(utf8_prefix(s, 3) == "ab");
    CHECK(utf8_prefix(s, 4) == "ab\xC3\xA9");
    CHECK(utf8_prefix(s, 6) == "ab\xC3\xA9");
    CHECK(utf8_prefix(s, 7) == "ab\xC3\xA9\xE2\x82\xAC");
    CHECK(utf8_prefix(s, 10) == "ab\xC3\xA9\xE2\x82\xAC");
    CHECK(utf8_prefix(s, 0).empty());
    for (std::size_t n = 0; n <= s.size(); ++n) CHECK(confab::proto::is_valid_utf8(utf8_prefix(s, n)));
}
