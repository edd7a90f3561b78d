#include "cli/framed_stream.hpp"

#include <array>
#include <cerrno>
#include <sys/socket.h>

namespace confab::cli {

bool FramedStream::send(const proto::Message& m) {
    std::size_t size = proto::frame_header_size + proto::payload_size(m);
    if (pending_output() + size > limit_) return false;
    return proto::append_frame(out_, m);
}

bool FramedStream::flush() {
    while (sent_ < out_.size()) {
        ssize_t n = ::send(fd_.get(), out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
        if (n > 0) {
            sent_ += std::size_t(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            return false;
        }
    }
    if (sent_ == out_.size()) {
        out_.clear();
        sent_ = 0;
    } else if (sent_ > out_.size() / 2) { // keep the buffer from creeping forward forever
        out_.erase(out_.begin(), out_.begin() + std::ptrdiff_t(sent_));
        sent_ = 0;
    }
    return true;
}

FramedStream::ReadStatus FramedStream::read(const std::function<bool(const proto::Message&)>& on_message) {
    std::array<std::uint8_t, 16384> buf;
    ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
    if (n == 0) return ReadStatus::closed;
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return ReadStatus::ok;
        return errno == ECONNRESET ? ReadStatus::closed : ReadStatus::failed;
    }
    proto::Bytes input(buf.data(), std::size_t(n));
    // The decoder holds at most one frame, so feed and drain in turns.
    while (true) {
        input = input.subspan(decoder_.feed(input));
        while (true) {
            proto::FrameResult frame = decoder_.next();
            if (frame.kind == proto::FrameResult::Kind::need_more) break;
            if (frame.kind == proto::FrameResult::Kind::error) {
                decode_error_ = frame.error;
                return ReadStatus::malformed;
            }
            proto::DecodeResult decoded = proto::decode_payload(frame.payload);
            if (!decoded.message) {
                decode_error_ = decoded.error;
                return ReadStatus::malformed;
            }
            if (!on_message(*decoded.message)) return ReadStatus::stopped;
        }
        if (input.empty()) return ReadStatus::ok;
    }
}

} // namespace confab::cli
