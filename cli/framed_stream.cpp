#include "cli/framed_stream.hpp"

#include "proto/drain.hpp"
#include "proto/io/stream_io.hpp"

#include <array>

namespace confab::cli {

bool FramedStream::send(const proto::Message& m) {
    frame_.clear();
    return proto::append_frame(frame_, m) && out_.append(frame_, limit_);
}

bool FramedStream::wants_write() const noexcept {
    if (!tls_) return !out_.empty();
    if (!tls_->established()) return tls_->wants_write(); // queued frames wait for the handshake
    return !out_.empty() || tls_->wants_write();
}

bool FramedStream::flush() {
    if (!tls_) return send_pending(fd_.get(), out_) != IoStatus::error;
    return flush_tls();
}

bool FramedStream::flush_tls() {
    using Status = TlsSession::Status;
    if (handshaking()) {
        Status status = tls_->handshake();
        if (status == Status::closed || status == Status::failed) return false;
        if (handshaking()) return true;
    }
    while (!out_.empty()) {
        Status status;
        std::size_t n = tls_->write(out_.pending(), status);
        if (n == 0) return status == Status::blocked;
        out_.consume(n);
    }
    return true;
}

FramedStream::ReadStatus FramedStream::read(const std::function<bool(const proto::Message&)>& on_message) {
    std::array<std::uint8_t, 16384> buf;
    if (!tls_) {
        std::size_t got = 0;
        switch (read_some(fd_.get(), buf, got)) {
        case IoStatus::progress: break;
        case IoStatus::would_block: return ReadStatus::ok;
        case IoStatus::closed: return ReadStatus::closed;
        case IoStatus::error: return ReadStatus::failed;
        }
        return decode(proto::Bytes(buf.data(), got), on_message);
    }
    using Status = TlsSession::Status;
    if (handshaking()) {
        Status status = tls_->handshake();
        if (status == Status::closed) return ReadStatus::closed;
        if (status == Status::failed) return ReadStatus::failed;
        if (handshaking()) return ReadStatus::ok;
        if (!flush_tls()) return ReadStatus::failed; // frames queued during the handshake
    }
    // TLS may hold decrypted bytes that poll(2) cannot see: take them all.
    do {
        Status status;
        std::size_t got = tls_->read(buf, status);
        if (got == 0) {
            if (status == Status::blocked) return ReadStatus::ok;
            return status == Status::closed ? ReadStatus::closed : ReadStatus::failed;
        }
        if (auto r = decode(proto::Bytes(buf.data(), got), on_message); r != ReadStatus::ok) return r;
    } while (tls_->has_buffered_input());
    return ReadStatus::ok;
}

FramedStream::ReadStatus FramedStream::decode(proto::Bytes input,
                                              const std::function<bool(const proto::Message&)>& on_message) {
    auto r = proto::drain_frames(decoder_, input, on_message);
    switch (r.kind) {
    case proto::DrainResult::Kind::drained: return ReadStatus::ok;
    case proto::DrainResult::Kind::stopped: return ReadStatus::stopped;
    case proto::DrainResult::Kind::malformed: break;
    }
    decode_error_ = r.error;
    return ReadStatus::malformed;
}

} // namespace confab::cli
