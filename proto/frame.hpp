// Framing: a 4-byte big-endian payload length, then the payload.
// parse_frame() works in place on any byte span; FrameDecoder adds a bounded
// buffer for streams that arrive in arbitrary pieces.
#pragma once

#include "errors.hpp"
#include "limits.hpp"
#include "wire.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace confab::proto {

struct FrameResult {
    enum class Kind : std::uint8_t { need_more, frame, error };
    Kind kind = Kind::need_more;
    Bytes payload;                              // kind == frame: the payload (type byte first)
    std::size_t consumed = 0;                   // kind == frame: header + payload bytes to drop
    DecodeError error = DecodeError::truncated; // kind == error
};

// Looks for one whole frame at the start of `buf`. A length above `max_frame`
// is an error as soon as the header is complete, before any body arrives.
FrameResult parse_frame(Bytes buf, std::size_t max_frame = max_frame_size) noexcept;

// Incremental decoder. Holds at most one frame's worth of bytes
// (header + max_frame): feed() takes only what fits and says how much it took,
// so a caller with more input drains frames with next() and feeds the rest.
// After an error the stream has lost its framing; the decoder stays failed.
class FrameDecoder {
public:
    explicit FrameDecoder(std::size_t max_frame = max_frame_size) : max_frame_(max_frame) {}

    // Copies as much of `in` as the bound allows; returns the bytes taken.
    std::size_t feed(Bytes in);
    // The next whole frame, need_more, or the stream's error. The payload
    // view stays valid until the next call to feed() or next().
    FrameResult next() noexcept;

    // Changes the largest frame accepted from the next frame on (a peer that
    // has logged in may send larger ones).
    void set_max_frame(std::size_t max_frame) noexcept { max_frame_ = max_frame; }
    std::size_t buffered() const noexcept { return end_ - begin_; }
    bool failed() const noexcept { return failed_; }
    // Frees the buffer when nothing is pending: idle connections cost nothing.
    void release_if_empty();

private:
    std::size_t capacity_limit() const noexcept { return frame_header_size + max_frame_; }
    std::size_t max_frame_;
    std::vector<std::uint8_t> buf_;
    std::size_t begin_ = 0, end_ = 0;
    bool failed_ = false;
    DecodeError error_ = DecodeError::truncated;
};

} // namespace confab::proto
