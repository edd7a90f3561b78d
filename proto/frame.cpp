#include "frame.hpp"

#include <algorithm>
#include <cstring>

namespace confab::proto {

FrameResult parse_frame(Bytes buf, std::size_t max_frame) noexcept {
    FrameResult r;
    if (buf.size() < frame_header_size) return r;
    std::uint32_t len = Reader(buf.first(frame_header_size)).u32();
    if (len > max_frame) {
        r.kind = FrameResult::Kind::error;
        r.error = DecodeError::frame_too_large;
        return r;
    }
    if (len == 0) {
        r.kind = FrameResult::Kind::error;
        r.error = DecodeError::empty_frame;
        return r;
    }
    if (buf.size() - frame_header_size < len) return r;
    r.kind = FrameResult::Kind::frame;
    r.payload = buf.subspan(frame_header_size, len);
    r.consumed = frame_header_size + len;
    return r;
}

std::size_t FrameDecoder::feed(Bytes in) {
    if (failed_) return 0;
    if (begin_ > 0) { // slide pending bytes to the front before growing
        std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    std::size_t take = std::min(in.size(), capacity_limit() - end_);
    // Grow only to what the current frame needs (its announced length, once
    // the header is in), so a small frame never costs max_frame bytes.
    std::size_t want = end_ + take;
    if (want > buf_.size()) buf_.resize(std::min(capacity_limit(), std::max(want, std::size_t(256))));
    if (take) std::memcpy(buf_.data() + end_, in.data(), take);
    end_ += take;
    return take;
}

FrameResult FrameDecoder::next() noexcept {
    FrameResult r;
    if (failed_) {
        r.kind = FrameResult::Kind::error;
        r.error = error_;
        return r;
    }
    r = parse_frame(Bytes(buf_.data() + begin_, end_ - begin_), max_frame_);
    if (r.kind == FrameResult::Kind::frame) {
        begin_ += r.consumed;
        if (begin_ == end_) begin_ = end_ = 0;
    } else if (r.kind == FrameResult::Kind::error) {
        failed_ = true;
        error_ = r.error;
    }
    return r;
}

void FrameDecoder::release_if_empty() {
    if (begin_ == end_) {
        begin_ = end_ = 0;
        std::vector<std::uint8_t>().swap(buf_);
    }
}

} // namespace confab::proto
