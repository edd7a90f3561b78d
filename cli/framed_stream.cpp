#include "cli/framed_stream.hpp"

#include "proto/drain.hpp"

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
    auto r = proto::drain_frames(decoder_, proto::Bytes(buf.data(), std::size_t(n)), on_message);
    switch (r.kind) {
    case proto::DrainResult::Kind::drained: return ReadStatus::ok;
    case proto::DrainResult::Kind::stopped: return ReadStatus::stopped;
    case proto::DrainResult::Kind::malformed: break;
    }
    decode_error_ = r.error;
    return ReadStatus::malformed;
}

} // namespace confab::cli
