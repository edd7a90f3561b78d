// FrameDecoder and parse_frame: arbitrary splits of a byte stream, the bound
// on buffered bytes, early refusal of oversized and empty frames.
#include "samples.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace confab::proto;
using namespace confab::proto::test;

namespace {

// A stream of several frames of different types and sizes.
struct Stream {
    ByteVec wire;
    std::vector<ByteVec> payloads; // expected, in order
};

Stream make_stream() {
    Stream s;
    const Message msgs[] = {
        Hello{1, "confab/0.1.0"},
        Login{1, "alice", "alice123"},
        WhoElse{2},
        UserList{2, {"bob", "carol"}},
        AckMessages{{}},
        PeerText{"\xE2\x82\xAC"},
        PeerBye{PeerByeReason::stopped},
    };
    for (const auto& m : msgs) {
        ByteVec f = frame_of(m);
        REQUIRE(!f.empty());
        s.payloads.emplace_back(f.begin() + frame_header_size, f.end());
        s.wire.insert(s.wire.end(), f.begin(), f.end());
    }
    return s;
}

// Feeds `chunk` completely (re-feeding what the bound refused after draining),
// copying every complete payload into `out`. Fails the test on a decode error
// or if the decoder makes no progress.
void feed_all(FrameDecoder& dec, Bytes chunk, std::vector<ByteVec>& out) {
    for (;;) {
        std::size_t took = dec.feed(chunk);
        chunk = chunk.subspan(took);
        bool drained = false;
        for (;;) {
            FrameResult r = dec.next();
            REQUIRE(r.kind != FrameResult::Kind::error);
            if (r.kind == FrameResult::Kind::need_more) break;
            out.emplace_back(r.payload.begin(), r.payload.end());
            drained = true;
        }
        if (chunk.empty()) return;
        REQUIRE((took > 0 || drained));
    }
}

bool all_decode(const std::vector<ByteVec>& payloads) {
    for (const auto& p : payloads)
        if (!decode_payload(span_of(p)).message) return false;
    return true;
}

} // namespace

TEST_CASE("whole stream in one feed yields every frame in order") {
    Stream s = make_stream();
    FrameDecoder dec;
    std::vector<ByteVec> got;
    feed_all(dec, span_of(s.wire), got);
    CHECK(got == s.payloads);
    CHECK(all_decode(got));
    CHECK(dec.buffered() == 0);
}

TEST_CASE("one byte at a time yields the same frames") {
    Stream s = make_stream();
    FrameDecoder dec;
    std::vector<ByteVec> got;
    for (std::size_t i = 0; i < s.wire.size(); ++i) {
        CHECK(dec.feed(span_of(s.wire).subspan(i, 1)) == 1);
        for (;;) {
            FrameResult r = dec.next();
            REQUIRE(r.kind != FrameResult::Kind::error);
            if (r.kind == FrameResult::Kind::need_more) break;
            got.emplace_back(r.payload.begin(), r.payload.end());
        }
    }
    CHECK(got == s.payloads);
    CHECK(dec.buffered() == 0);
}

TEST_CASE("every single cut point yields the same frames") {
    Stream s = make_stream();
    for (std::size_t cut = 0; cut <= s.wire.size(); ++cut) {
        CAPTURE(cut);
        FrameDecoder dec;
        std::vector<ByteVec> got;
        feed_all(dec, span_of(s.wire).first(cut), got);
        feed_all(dec, span_of(s.wire).subspan(cut), got);
        REQUIRE(got == s.payloads);
        REQUIRE(dec.buffered() == 0);
    }
}

TEST_CASE("every pair of cut points yields the same frames") {
    Stream s = make_stream();
    const std::size_t n = s.wire.size();
    std::size_t cases = 0;
    for (std::size_t a = 0; a <= n; ++a) {
        for (std::size_t b = a; b <= n; ++b) {
            FrameDecoder dec;
            std::vector<ByteVec> got;
            Bytes w = span_of(s.wire);
            feed_all(dec, w.subspan(0, a), got);
            feed_all(dec, w.subspan(a, b - a), got);
            feed_all(dec, w.subspan(b), got);
            if (got != s.payloads || dec.buffered() != 0) {
                CAPTURE(a);
                CAPTURE(b);
                FAIL("split changed the decoded frames");
            }
            ++cases;
        }
    }
    CHECK(cases == (n + 1) * (n + 2) / 2);
}

TEST_CASE("parse_frame walks a stream in place") {
    Stream s = make_stream();
    Bytes w = span_of(s.wire);
    std::vector<ByteVec> got;
    for (;;) {
        FrameResult r = parse_frame(w);
        REQUIRE(r.kind != FrameResult::Kind::error);
        if (r.kind == FrameResult::Kind::need_more) break;
        got.emplace_back(r.payload.begin(), r.payload.end());
        w = w.subspan(r.consumed);
    }
    CHECK(w.empty());
    CHECK(got == s.payloads);
    // Every strict prefix of the first frame is need_more.
    ByteVec first = frame_of(Hello{1, "confab/0.1.0"});
    for (std::size_t i = 0; i < first.size(); ++i)
        CHECK(parse_frame(span_of(first).first(i)).kind == FrameResult::Kind::need_more);
}

TEST_CASE("announced length 0xFFFFFFFF is refused as soon as the header is in") {
    const ByteVec hdr = bytes({0xFF, 0xFF, 0xFF, 0xFF});
    SUBCASE("header in one feed") {
        FrameDecoder dec;
        CHECK(dec.feed(span_of(hdr)) == 4);
        CHECK(dec.buffered() <= frame_header_size);
        FrameResult r = dec.next();
        REQUIRE(r.kind == FrameResult::Kind::error);
        CHECK(r.error == DecodeError::frame_too_large);
        CHECK(dec.failed());
        CHECK(dec.buffered() <= frame_header_size);
    }
    SUBCASE("header byte by byte") {
        FrameDecoder dec;
        for (int i = 0; i < 3; ++i) {
            CHECK(dec.feed(span_of(hdr).subspan(i, 1)) == 1);
            CHECK(dec.next().kind == FrameResult::Kind::need_more);
            CHECK_FALSE(dec.failed());
        }
        CHECK(dec.feed(span_of(hdr).subspan(3, 1)) == 1);
        CHECK(dec.buffered() == frame_header_size);
        FrameResult r = dec.next();
        REQUIRE(r.kind == FrameResult::Kind::error);
        CHECK(r.error == DecodeError::frame_too_large);
    }
    SUBCASE("parse_frame on the bare header") {
        FrameResult r = parse_frame(span_of(hdr));
        REQUIRE(r.kind == FrameResult::Kind::error);
        CHECK(r.error == DecodeError::frame_too_large);
    }
    SUBCASE("the decoder stays failed") {
        FrameDecoder dec;
        dec.feed(span_of(hdr));
        REQUIRE(dec.next().kind == FrameResult::Kind::error);
        ByteVec good = frame_of(WhoElse{1});
        CHECK(dec.feed(span_of(good)) == 0);
        FrameResult r = dec.next();
        REQUIRE(r.kind == FrameResult::Kind::error);
        CHECK(r.error == DecodeError::frame_too_large);
    }
}

TEST_CASE("frame length limit is exact: max_frame accepted, max_frame + 1 refused") {
    {
        ByteVec h = header(std::uint32_t(max_frame_size));
        CHECK(parse_frame(span_of(h)).kind == FrameResult::Kind::need_more);
        FrameDecoder dec;
        dec.feed(span_of(h));
        CHECK(dec.next().kind == FrameResult::Kind::need_more);
        CHECK_FALSE(dec.failed());
    }
    {
        ByteVec h = header(std::uint32_t(max_frame_size + 1));
        FrameResult r = parse_frame(span_of(h));
        REQUIRE(r.kind == FrameResult::Kind::error);
        CHECK(r.error == DecodeError::frame_too_large);
        FrameDecoder dec;
        dec.feed(span_of(h));
        r = dec.next();
        REQUIRE(r.kind == FrameResult::Kind::error);
        CHECK(r.error == DecodeError::frame_too_large);
    }
    {
        // A decoder with a smaller limit applies its own.
        ByteVec f = frame_of(PeerText{std::string(100, 'a')}); // payload 103
        FrameDecoder small(102);
        small.feed(span_of(f));
        FrameResult r = small.next();
        REQUIRE(r.kind == FrameResult::Kind::error);
        CHECK(r.error == DecodeError::frame_too_large);
        FrameDecoder exact(103);
        exact.feed(span_of(f));
        CHECK(exact.next().kind == FrameResult::Kind::frame);
    }
}

TEST_CASE("a frame of exactly max_frame_size bytes passes the decoder") {
    ByteVec f = frame_of(PeerText{std::string(max_frame_size - 3, 'z')});
    REQUIRE(f.size() == frame_header_size + max_frame_size);
    FrameDecoder dec;
    CHECK(dec.feed(span_of(f)) == f.size());
    FrameResult r = dec.next();
    REQUIRE(r.kind == FrameResult::Kind::frame);
    CHECK(r.payload.size() == max_frame_size);
    auto d = decode_payload(r.payload);
    REQUIRE(d.message);
    CHECK(std::get<PeerText>(*d.message).text.size() == max_frame_size - 3);
}

TEST_CASE("announced length 0 is an empty_frame error") {
    ByteVec zero = bytes({0, 0, 0, 0});
    FrameResult r = parse_frame(span_of(zero));
    REQUIRE(r.kind == FrameResult::Kind::error);
    CHECK(r.error == DecodeError::empty_frame);

    FrameDecoder dec;
    ByteVec stream = concat(frame_of(WhoElse{1}), zero);
    dec.feed(span_of(stream));
    CHECK(dec.next().kind == FrameResult::Kind::frame); // the good frame first
    r = dec.next();
    REQUIRE(r.kind == FrameResult::Kind::error);
    CHECK(r.error == DecodeError::empty_frame);
    CHECK(dec.failed());
}

TEST_CASE("feed takes no more than header + max_frame bytes") {
    // Many small frames: more than one frame's worth of bytes in one call.
    ByteVec many;
    while (many.size() < 3 * (frame_header_size + max_frame_size))
        many = concat(std::move(many), frame_of(SendMessage{7, "bob", "0123456789"}));
    const std::size_t one_frame = frame_header_size + max_frame_size;

    FrameDecoder dec;
    CHECK(dec.feed(span_of(many)) == one_frame);
    CHECK(dec.buffered() == one_frame);
    // Full: nothing more is taken until frames are drained.
    CHECK(dec.feed(span_of(many).subspan(one_frame)) == 0);

    // Drain and feed the rest; every frame comes out exactly once.
    FrameDecoder dec2;
    std::vector<ByteVec> got;
    feed_all(dec2, span_of(many), got);
    ByteVec expect_payload = frame_of(SendMessage{7, "bob", "0123456789"});
    expect_payload.erase(expect_payload.begin(), expect_payload.begin() + frame_header_size);
    CHECK(got.size() * (frame_header_size + expect_payload.size()) == many.size());
    CHECK(std::all_of(got.begin(), got.end(), [&](const ByteVec& p) { return p == expect_payload; }));

    // The bound follows the decoder's own max_frame.
    FrameDecoder small(100);
    CHECK(small.feed(span_of(many)) == frame_header_size + 100);
    CHECK(small.buffered() == frame_header_size + 100);
}

TEST_CASE("payload views stay valid until the next feed/next call") {
    ByteVec stream = concat(frame_of(PeerText{"first"}), frame_of(PeerText{"second"}));
    FrameDecoder dec;
    dec.feed(span_of(stream));
    FrameResult a = dec.next();
    REQUIRE(a.kind == FrameResult::Kind::frame);
    auto da = decode_payload(a.payload);
    REQUIRE(da.message);
    CHECK(std::get<PeerText>(*da.message).text == "first");
    FrameResult b = dec.next();
    REQUIRE(b.kind == FrameResult::Kind::frame);
    auto db = decode_payload(b.payload);
    REQUIRE(db.message);
    CHECK(std::get<PeerText>(*db.message).text == "second");
}

TEST_CASE("release_if_empty keeps pending bytes") {
    ByteVec f = frame_of(Broadcast{3, "hello there"});
    FrameDecoder dec;
    dec.feed(span_of(f).first(5));
    dec.release_if_empty(); // not empty: must not drop the 5 bytes
    CHECK(dec.buffered() == 5);
    dec.feed(span_of(f).subspan(5));
    FrameResult r = dec.next();
    REQUIRE(r.kind == FrameResult::Kind::frame);
    auto d = decode_payload(r.payload);
    REQUIRE(d.message);
    CHECK(std::get<Broadcast>(*d.message).text == "hello there");
    dec.release_if_empty();
    CHECK(dec.buffered() == 0);
    // Still usable after release.
    CHECK(dec.feed(span_of(f)) == f.size());
    CHECK(dec.next().kind == FrameResult::Kind::frame);
}
