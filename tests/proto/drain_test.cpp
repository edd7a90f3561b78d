// drain_frames: the one feed/decode loop of daemon and client. Input split
// anywhere, input larger than the decoder holds, a handler that stops, and
// decode errors reported with the status a peer is told.
#include "samples.hpp"

#include "proto/drain.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace confab::proto;
using namespace confab::proto::test;

namespace {

ByteVec texts_wire(int count) {
    ByteVec wire;
    for (int i = 0; i < count; ++i) wire = concat(wire, frame_of(PeerText{"line " + std::to_string(i)}));
    return wire;
}

// Collects the texts of PeerText messages (copies: the views die with the call).
struct Collector {
    std::vector<std::string> texts;
    std::size_t stop_after = SIZE_MAX;
    bool operator()(const Message& m) {
        texts.emplace_back(std::get<PeerText>(m).text);
        return texts.size() < stop_after;
    }
};

std::vector<std::string> expected_texts(int count) {
    std::vector<std::string> v;
    for (int i = 0; i < count; ++i) v.push_back("line " + std::to_string(i));
    return v;
}

} // namespace

TEST_CASE("every frame of one chunk reaches the handler in order") {
    FrameDecoder d;
    Collector got;
    ByteVec wire = texts_wire(5);
    auto r = drain_frames(d, span_of(wire), std::ref(got));
    CHECK(r.kind == DrainResult::Kind::drained);
    CHECK(got.texts == expected_texts(5));
    CHECK(d.buffered() == 0);
}

TEST_CASE("input split at every byte: same messages, nothing early") {
    ByteVec wire = texts_wire(3);
    for (std::size_t split = 1; split < wire.size(); ++split) {
        FrameDecoder d;
        Collector got;
        CHECK(drain_frames(d, span_of(wire).first(split), std::ref(got)).kind == DrainResult::Kind::drained);
        CHECK(got.texts.size() <= 3);
        CHECK(drain_frames(d, span_of(wire).subspan(split), std::ref(got)).kind == DrainResult::Kind::drained);
        CHECK(got.texts == expected_texts(3));
    }
}

TEST_CASE("a chunk larger than the decoder's bound is fed in turns") {
    FrameDecoder d(32); // holds one small frame at a time
    Collector got;
    ByteVec wire = texts_wire(50);
    REQUIRE(wire.size() > 10 * (frame_header_size + 32));
    CHECK(drain_frames(d, span_of(wire), std::ref(got)).kind == DrainResult::Kind::drained);
    CHECK(got.texts == expected_texts(50));
}

TEST_CASE("a handler returning false stops at once, even with frames left in the chunk") {
    FrameDecoder d;
    Collector got;
    got.stop_after = 2;
    ByteVec wire = texts_wire(5);
    CHECK(drain_frames(d, span_of(wire), std::ref(got)).kind == DrainResult::Kind::stopped);
    CHECK(got.texts == expected_texts(2));
}

TEST_CASE("an oversized length header is reported as frame_too_large, after the frames before it") {
    FrameDecoder d(64);
    Collector got;
    ByteVec wire = concat(texts_wire(1), header(65));
    auto r = drain_frames(d, span_of(wire), std::ref(got));
    CHECK(r.kind == DrainResult::Kind::malformed);
    CHECK(r.error == DecodeError::frame_too_large);
    CHECK(got.texts == expected_texts(1));
    CHECK(status_for(r.error) == Status::frame_too_large);
}

TEST_CASE("a payload that does not decode is reported with its reason, later frames unread") {
    FrameDecoder d;
    Collector got;
    ByteVec wire = concat(raw_frame(bytes({0xEE})), texts_wire(1));
    auto r = drain_frames(d, span_of(wire), std::ref(got));
    CHECK(r.kind == DrainResult::Kind::malformed);
    CHECK(r.error == DecodeError::unknown_type);
    CHECK(got.texts.empty());
    CHECK(status_for(r.error) == Status::bad_request);
}

TEST_CASE("status_for: only an oversized frame has its own status") {
    for (auto e : {DecodeError::empty_frame, DecodeError::unknown_type, DecodeError::truncated,
                   DecodeError::trailing_bytes, DecodeError::bad_utf8, DecodeError::too_many_entries})
        CHECK(status_for(e) == Status::bad_request);
    CHECK(status_for(DecodeError::frame_too_large) == Status::frame_too_large);
}
