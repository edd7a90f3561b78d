// The cluster's pub/sub payloads: every event survives encode -> decode, and
// truncated, padded or garbage payloads are refused with an error.
#include "cluster/event_codec.hpp"
#include "core/address_limits.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace confab;
using namespace confab::cluster;

namespace {

std::vector<Event> samples() {
    proto::Token token{};
    for (std::size_t i = 0; i < token.size(); ++i) token[i] = std::uint8_t(i * 7 + 1);
    Snapshot snap;
    snap.online.push_back(Online{"alice", "n1:7420", 1'700'000'000'123, "192.0.2.1", 40000, ""});
    snap.online.push_back(Online{"bob", "n2:7420", 1'700'000'000'456, "", 0, ""});
    snap.last_seen.emplace_back("carol", 1'699'999'999'000);
    return {
        Online{"alice", "n1:7420", 1'700'000'000'123, "2001:db8::1", 65535, "2001:db8::/64"},
        Online{"alice", "n1:7420", 1'700'000'000'123, "", 0, ""},
        Offline{"alice", "n1:7420", 1'700'000'001'000},
        Direct{"bob", "alice", 0xfedc'ba98'7654'3210ULL, 1'700'000'000'999, "héllo wörld", "n1:7420", 12345},
        DirectAnswer{12345, proto::Status::blocked_by_recipient, "bob has blocked you"},
        DirectAnswers{{DirectAnswer{1, proto::Status::ok, ""}, DirectAnswer{2, proto::Status::ok_stored, "stored"}}},
        Directs{{Direct{"bob", "alice", 1, 1'700'000'000'999, "first", "n1:7420", 1},
                 Direct{"carol", "dave", 2, 1'700'000'001'000, "", "n1:7420", 2}}},
        Directs{},
        Broadcast{"alice", "n1:7420", 42, "to everyone"},
        BlockChanged{"alice", "bob", true},
        BlockChanged{"alice", "bob", false},
        LoginFailed{"alice@192.0.2.7"},
        Locked{"alice", INT64_MAX, true},
        Locked{"alice", 0, false},
        Invite{"bob", "alice", token},
        PairEnded{"bob", "alice", true, token},
        EndSession{"bob", proto::EndReason::locked, "locked by the administrator"},
        Notice{-5, "maintenance at noon"},
        NodeDown{"n3:7420"},
        snap,
        Snapshot{},
    };
}

std::string encoded(const Event& e, std::string_view origin = "n1:7420") {
    auto bytes = encode_event(e, origin);
    REQUIRE(bytes);
    return *bytes;
}

} // namespace

TEST_CASE("every event type survives a round trip, with its origin") {
    for (const Event& e : samples()) {
        const std::string bytes = encoded(e, "node-a:7420");
        auto out = decode_event(bytes);
        REQUIRE(out.decoded);
        CHECK(out.decoded->origin == "node-a:7420");
        CHECK(out.decoded->event.index() == e.index());
        // The encoding is injective, so equal bytes mean equal fields.
        CHECK(encoded(out.decoded->event, "node-a:7420") == bytes);
    }
}

TEST_CASE("decoded fields are the ones sent") {
    auto out = decode_event(encoded(Direct{"bob", "alice", 77, -1, "hi", "node-a", 9}));
    REQUIRE(out.decoded);
    const auto& d = std::get<Direct>(out.decoded->event);
    CHECK(d.to == "bob");
    CHECK(d.from == "alice");
    CHECK(d.id == 77);
    CHECK(d.sent_at_ms == -1);
    CHECK(d.text == "hi");
    CHECK(d.reply_node == "node-a");
    CHECK(d.reply_tag == 9);
    auto answer = decode_event(encoded(DirectAnswer{9, proto::Status::ok_stored, "stored"}));
    REQUIRE(answer.decoded);
    CHECK(std::get<DirectAnswer>(answer.decoded->event).tag == 9);
    CHECK(std::get<DirectAnswer>(answer.decoded->event).status == proto::Status::ok_stored);
    CHECK(std::get<DirectAnswer>(answer.decoded->event).detail == "stored");
    auto batch = decode_event(encoded(
        DirectAnswers{{DirectAnswer{3, proto::Status::ok, ""}, DirectAnswer{4, proto::Status::mailbox_full, "full"}}}));
    REQUIRE(batch.decoded);
    const auto& answers = std::get<DirectAnswers>(batch.decoded->event).answers;
    REQUIRE(answers.size() == 2);
    CHECK(answers[1].tag == 4);
    CHECK(answers[1].status == proto::Status::mailbox_full);
    CHECK(answers[1].detail == "full");
    auto directs = decode_event(encoded(Directs{
        {Direct{"bob", "alice", 5, 10, "one", "node-a", 31}, Direct{"carol", "alice", 6, 11, "two", "node-a", 32}}}));
    REQUIRE(directs.decoded);
    const auto& ds = std::get<Directs>(directs.decoded->event).directs;
    REQUIRE(ds.size() == 2); // in the order they were sent
    CHECK(ds[0].to == "bob");
    CHECK(ds[0].text == "one");
    CHECK(ds[0].reply_tag == 31);
    CHECK(ds[1].to == "carol");
    CHECK(ds[1].id == 6);
    CHECK(ds[1].sent_at_ms == 11);
    CHECK(ds[1].text == "two");
    CHECK(ds[1].reply_node == "node-a");
    CHECK(ds[1].reply_tag == 32);
    auto on = decode_event(encoded(Online{"carol", "n2", 5, "::1", 7000, "192.0.2.7"}));
    REQUIRE(on.decoded);
    CHECK(std::get<Online>(on.decoded->event).listen_port == 7000);
    CHECK(std::get<Online>(on.decoded->event).listen_host == "::1");
    CHECK(std::get<Online>(on.decoded->event).trusted_address == "192.0.2.7");
}

TEST_CASE("an Online's trusted address: the longest address key passes, a longer one is neither sent nor read") {
    const std::string longest(AddressLimits::max_key_length, 'f');
    auto out = decode_event(encoded(Online{"carol", "n2", 5, "", 0, longest}));
    REQUIRE(out.decoded);
    CHECK(std::get<Online>(out.decoded->event).trusted_address == longest);

    CHECK_FALSE(encode_event(Online{"carol", "n2", 5, "", 0, longest + "f"}, "n1"));
    // The same bytes made by hand: the field's length and one more byte.
    std::string bytes = encoded(Online{"carol", "n2", 5, "", 0, longest});
    const std::size_t length_at = bytes.size() - longest.size() - 2;
    bytes[length_at + 1] = char(longest.size() + 1);
    bytes += 'f';
    auto refused = decode_event(bytes);
    CHECK_FALSE(refused.decoded);
    CHECK(refused.error == proto::DecodeError::truncated);
}

TEST_CASE("an Online of the layout before the trusted address is refused, never read as one without it") {
    // That layout ended after the port: today's with an empty address, less its length.
    const std::string today = encoded(Online{"carol", "n2", 5, "::1", 7000, ""});
    auto out = decode_event(std::string_view(today).substr(0, today.size() - 2));
    CHECK_FALSE(out.decoded);
    CHECK(out.error == proto::DecodeError::truncated);
}

TEST_CASE("every truncation of every event is refused") {
    for (const Event& e : samples()) {
        const std::string bytes = encoded(e);
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            auto out = decode_event(std::string_view(bytes).substr(0, n));
            CHECK_FALSE(out.decoded);
        }
    }
    CHECK(decode_event("").error == proto::DecodeError::empty_frame);
}

TEST_CASE("a trailing byte, an unknown type, bad UTF-8 and bad flags are refused") {
    std::string bytes = encoded(LoginFailed{"alice"});
    CHECK(decode_event(bytes + "x").error == proto::DecodeError::trailing_bytes);

    std::string unknown = bytes;
    unknown[0] = char(0);
    CHECK(decode_event(unknown).error == proto::DecodeError::unknown_type);
    unknown[0] = char(200);
    CHECK(decode_event(unknown).error == proto::DecodeError::unknown_type);

    std::string utf8 = bytes;
    utf8.back() = char(0xff); // inside "alice"
    CHECK(decode_event(utf8).error == proto::DecodeError::bad_utf8);

    std::string flag = encoded(BlockChanged{"a", "b", true});
    flag.back() = char(2);
    CHECK_FALSE(decode_event(flag).decoded);

    std::string reason = encoded(EndSession{"bob", proto::EndReason::kicked, ""});
    reason[reason.size() - 3] = char(99); // the reason byte, before the empty detail's length
    CHECK_FALSE(decode_event(reason).decoded);
}

TEST_CASE("a snapshot announcing more entries than its payload holds is refused before allocating") {
    std::string bytes = encoded(Snapshot{});
    // type, origin, then the online count: make it 2^32 - 1.
    const std::size_t count_at = 1 + 2 + std::string("n1:7420").size();
    for (std::size_t i = 0; i < 4; ++i) bytes[count_at + i] = char(0xff);
    auto out = decode_event(bytes);
    CHECK_FALSE(out.decoded);
    CHECK(out.error == proto::DecodeError::truncated);
}

TEST_CASE("a batch announcing more Directs or answers than its payload holds is refused before allocating") {
    const std::size_t count_at = 1 + 2 + std::string("n1:7420").size();
    for (const Event& e : {Event{Directs{}}, Event{DirectAnswers{}}}) {
        std::string bytes = encoded(e);
        for (std::size_t i = 0; i < 4; ++i) bytes[count_at + i] = char(0xff);
        auto out = decode_event(bytes);
        CHECK_FALSE(out.decoded);
        CHECK(out.error == proto::DecodeError::truncated);
    }
}

TEST_CASE("a batch entry's size is what it adds to the payload") {
    const Direct d{"bob", "alice", 1, 2, "hello", "n1:7420", 3};
    const DirectAnswer a{3, proto::Status::ok_stored, "stored"};
    REQUIRE(batched_size(d));
    REQUIRE(batched_size(a));
    CHECK(encoded(Directs{{d, d}}).size() == encoded(Directs{{d}}).size() + *batched_size(d));
    CHECK(encoded(DirectAnswers{{a, a}}).size() == encoded(DirectAnswers{{a}}).size() + *batched_size(a));
    CHECK_FALSE(batched_size(Direct{"bob", "alice", 1, 2, std::string(70000, 'x'), "n1", 3}));
}

TEST_CASE("random garbage never crashes the decoder") {
    std::mt19937 rng(12345);
    std::size_t accepted = 0;
    for (int round = 0; round < 20000; ++round) {
        std::string bytes(rng() % 64, '\0');
        for (char& c : bytes) c = char(rng());
        if (!bytes.empty()) bytes[0] = char(1 + rng() % 16); // a real type byte, to reach the fields
        accepted += decode_event(bytes).decoded.has_value();
    }
    CHECK(accepted < 20000);
}

TEST_CASE("a string field over 65535 bytes cannot be encoded") {
    CHECK_FALSE(encode_event(Notice{0, std::string(70000, 'x')}, "n1"));
}
