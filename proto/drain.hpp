// The one frame-reading loop: feeds bytes that just arrived into a
// FrameDecoder, decodes each whole frame and hands the message to a handler,
// until the bytes are used up, the handler asks to stop, or the stream turns
// out malformed. The daemon and the client both read through it.
#pragma once

#include "frame.hpp"
#include "messages.hpp"

#include <cstdint>

namespace confab::proto {

struct DrainResult {
    enum class Kind : std::uint8_t { drained, stopped, malformed };
    Kind kind = Kind::drained;
    DecodeError error = DecodeError::truncated; // kind == malformed
};

// `on_message(const Message&)` returns false to stop; the message's string
// views die when it returns. After `stopped` the rest of `data` is dropped;
// after `malformed` the stream has lost its framing.
template <class Handler>
DrainResult drain_frames(FrameDecoder& decoder, Bytes data, Handler&& on_message) {
    // The decoder holds at most one frame, so feed and drain in turns.
    do {
        data = data.subspan(decoder.feed(data));
        for (;;) {
            FrameResult frame = decoder.next();
            if (frame.kind == FrameResult::Kind::need_more) break;
            if (frame.kind == FrameResult::Kind::error) return {DrainResult::Kind::malformed, frame.error};
            DecodeResult decoded = decode_payload(frame.payload);
            if (!decoded.message) return {DrainResult::Kind::malformed, decoded.error};
            if (!on_message(*decoded.message)) return {DrainResult::Kind::stopped};
        }
    } while (!data.empty());
    return {};
}

} // namespace confab::proto
