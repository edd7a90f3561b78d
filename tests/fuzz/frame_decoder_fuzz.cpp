// The frame decoder sees the same frames and the same error whether a stream
// arrives in one piece (parse_frame over the whole buffer) or in arbitrary
// chunks (FrameDecoder::feed/next, and drain_frames as the daemon and the
// client read it); it never holds more than one frame's worth of bytes and
// never stalls with input left to take. Like the daemon at login, a run may
// raise the limit to max_frame_size after some frames (set_max_frame).
//
// Input: [u8 frame-size limit choice][u8 raise the limit after this many frames
// (low 4 bits, 0: never)] then chunks, each [u8 length][bytes].
#include "check.hpp"
#include "fuzz_input.hpp"

#include "proto/drain.hpp"
#include "proto/frame.hpp"
#include "proto/messages.hpp"
#include "proto/samples.hpp"

#include <cstring>
#include <vector>

using namespace confab::proto;
using ByteVec = std::vector<std::uint8_t>;

namespace {

// Mostly small limits, so chunks overrun the decoder's bound; sometimes the real one.
std::size_t frame_limit(std::uint8_t choice) {
    return choice < 64 ? max_frame_size : std::size_t(choice - 63);
}

struct Limits {
    std::size_t first;       // the decoder's limit at the start
    std::size_t raise_after; // frames delivered before the limit becomes max_frame_size; 0: never
    std::size_t at(std::size_t frames_seen) const {
        return raise_after != 0 && frames_seen >= raise_after ? max_frame_size : first;
    }
};

// The one-shot frames are views into the whole stream; the chunked decoder's
// frames are compared with them as they come (its views die at the next call),
// so no frame is copied.
struct Outcome {
    std::vector<Bytes> frames; // one_shot only
    std::size_t frame_count = 0;
    bool failed = false;
    DecodeError error = DecodeError::truncated; // failed
    std::size_t pending = 0;                    // !failed: bytes of an incomplete frame left over
};

Outcome one_shot(const ByteVec& stream, const Limits& limits) {
    Outcome o;
    Bytes rest(stream);
    for (;;) {
        const std::size_t max_frame = limits.at(o.frames.size());
        FrameResult r = parse_frame(rest, max_frame);
        if (r.kind == FrameResult::Kind::need_more) break;
        if (r.kind == FrameResult::Kind::error) {
            o.failed = true;
            o.error = r.error;
            o.frame_count = o.frames.size();
            return o;
        }
        FUZZ_CHECK(r.consumed == frame_header_size + r.payload.size() && r.consumed <= rest.size(), "frame size");
        FUZZ_CHECK(!r.payload.empty() && r.payload.size() <= max_frame, "payload within 1..max_frame");
        o.frames.push_back(r.payload);
        rest = rest.subspan(r.consumed);
    }
    o.frame_count = o.frames.size();
    o.pending = rest.size();
    return o;
}

bool same_bytes(Bytes a, Bytes b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

Outcome chunked(const std::vector<ByteVec>& chunks, const Limits& limits, const Outcome& ref) {
    Outcome o;
    FrameDecoder decoder(limits.first);
    for (const ByteVec& chunk : chunks) {
        Bytes rest(chunk);
        do {
            std::size_t took = decoder.feed(rest);
            FUZZ_CHECK(took <= rest.size(), "feed took more than it was given");
            FUZZ_CHECK(decoder.buffered() <= frame_header_size + limits.at(o.frame_count),
                       "decoder holds more than one frame");
            rest = rest.subspan(took);
            bool progressed = took > 0;
            for (;;) {
                FrameResult r = decoder.next();
                if (r.kind == FrameResult::Kind::need_more) break;
                if (r.kind == FrameResult::Kind::error) {
                    o.failed = true;
                    o.error = r.error;
                    FUZZ_CHECK(decoder.failed() && decoder.feed(rest) == 0, "a failed decoder takes nothing");
                    FrameResult again = decoder.next();
                    FUZZ_CHECK(again.kind == FrameResult::Kind::error && again.error == r.error, "error is sticky");
                    return o;
                }
                FUZZ_CHECK(o.frame_count < ref.frames.size() && same_bytes(r.payload, ref.frames[o.frame_count]),
                           "chunked frames differ from one-shot frames");
                if (++o.frame_count == limits.raise_after) decoder.set_max_frame(max_frame_size);
                progressed = true;
            }
            FUZZ_CHECK(progressed || rest.empty(), "decoder stalled with input left");
        } while (!rest.empty());
        if (chunk.size() % 2) decoder.release_if_empty(); // as an idle connection does
    }
    o.pending = decoder.buffered();
    return o;
}

// drain_frames over the same chunks delivers exactly the messages the
// reference frames decode to, and stops at the first bad frame or payload.
void check_drain(const std::vector<ByteVec>& chunks, const Limits& limits, const Outcome& ref) {
    std::size_t expected_messages = 0;
    bool expect_malformed = ref.failed;
    DecodeError expected_error = ref.error;
    std::vector<DecodeResult> decoded;
    decoded.reserve(ref.frames.size());
    for (Bytes f : ref.frames) {
        DecodeResult d = decode_payload(f);
        if (!d.message) {
            expect_malformed = true;
            expected_error = d.error;
            break;
        }
        decoded.push_back(std::move(d));
        ++expected_messages;
    }
    FrameDecoder decoder(limits.first);
    std::size_t seen = 0;
    for (const ByteVec& chunk : chunks) {
        DrainResult r = drain_frames(decoder, Bytes(chunk), [&](const Message& m) {
            FUZZ_CHECK(seen < expected_messages, "drain delivered a message the stream does not hold");
            FUZZ_CHECK(confab::proto::test::same_fields(m, *decoded[seen].message), "drain delivered another message");
            if (++seen == limits.raise_after) decoder.set_max_frame(max_frame_size); // as the daemon at login
            return true;
        });
        FUZZ_CHECK(r.kind != DrainResult::Kind::stopped, "drain stopped without being asked");
        if (r.kind == DrainResult::Kind::malformed) {
            FUZZ_CHECK(expect_malformed && r.error == expected_error, "drain reported another error");
            FUZZ_CHECK(seen == expected_messages, "drain failed before delivering every good message");
            return;
        }
    }
    FUZZ_CHECK(seen == expected_messages, "drain missed messages");
    FUZZ_CHECK(!expect_malformed, "drain missed a malformed frame");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    confab::fuzz::FuzzInput in(data, size);
    const std::size_t first = frame_limit(in.u8());
    const Limits limits{first, std::size_t(in.u8() & 0x0F)};
    // Each chunk is a heap block of its own size, so ASan catches a read past it.
    std::vector<ByteVec> chunks;
    chunks.reserve(size / 2);
    ByteVec stream;
    stream.reserve(size);
    while (!in.empty()) {
        std::string_view c = in.str();
        chunks.emplace_back(c.begin(), c.end());
        stream.insert(stream.end(), c.begin(), c.end());
    }

    const Outcome ref = one_shot(stream, limits);
    const Outcome got = chunked(chunks, limits, ref);
    FUZZ_CHECK(got.frame_count == ref.frame_count, "chunked frames differ from one-shot frames");
    FUZZ_CHECK(got.failed == ref.failed, "chunked and one-shot disagree on failure");
    if (ref.failed) FUZZ_CHECK(got.error == ref.error, "chunked and one-shot report different errors");
    if (!ref.failed) FUZZ_CHECK(got.pending == ref.pending, "chunked decoder kept another partial frame");
    check_drain(chunks, limits, ref);
    return 0;
}
