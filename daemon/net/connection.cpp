#include "net/connection.hpp"

namespace confab {

IoStatus Connection::read_into(std::span<std::uint8_t> buf, std::size_t& got) noexcept {
    if (!tls_) return read_some(fd_.get(), buf, got);
    IoStatus status = tls_->read(buf, got);
    if (tls_->handshake_done() && phase_ == Phase::handshaking) phase_ = Phase::open;
    if (status == IoStatus::error && tls_->peer_not_tls()) {
        // Drop what the peer sent so our close is a FIN, not a reset that could
        // destroy the explanation before the peer reads it.
        for (std::size_t drained = 0, n = 0; drained < 4 * buf.size(); drained += n)
            if (read_some(fd_.get(), buf, n) != IoStatus::progress) break;
        tls_.reset();
        refused_plaintext_ = true;
        phase_ = Phase::open;
    }
    return status;
}

IoStatus Connection::flush() noexcept {
    if (tls_) return tls_->write(output_);
    IoStatus status = send_pending(fd_.get(), output_);
    flush_blocked_ = status == IoStatus::would_block;
    return status;
}

} // namespace confab
