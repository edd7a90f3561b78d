#include "cli/framed_stream.hpp"

#include "proto/drain.hpp"
#include "proto/io/stream_io.hpp"

#include <array>

namespace confab::cli {

bool FramedStream::send(const proto::Message& m) {
    frame_.clear();
    return proto::append_frame(frame_, m) && out_.append(frame_, limit_);
}

bool FramedStream::flush() {
    return send_pending(fd_.get(), out_) != IoStatus::error;
}

FramedStream::ReadStatus FramedStream::read(const std::function<bool(const proto::Message&)>& on_message) {
    std::array<std::uint8_t, 16384> buf;
    std::size_t got = 0;
    switch (read_some(fd_.get(), buf, got)) {
    case IoStatus::progress: break;
    case IoStatus::would_block: return ReadStatus::ok;
    case IoStatus::closed: return ReadStatus::closed;
    case IoStatus::error: return ReadStatus::failed;
    }
    auto r = proto::drain_frames(decoder_, proto::Bytes(buf.data(), got), on_message);
    switch (r.kind) {
    case proto::DrainResult::Kind::drained: return ReadStatus::ok;
    case proto::DrainResult::Kind::stopped: return ReadStatus::stopped;
    case proto::DrainResult::Kind::malformed: break;
    }
    decode_error_ = r.error;
    return ReadStatus::malformed;
}

} // namespace confab::cli
