#include "net/tls_transport.hpp"

#include "net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace confab {

namespace {
constexpr std::uint8_t tls_handshake_record = 0x16; // TLS record type of every ClientHello

// The reason of the newest queued OpenSSL error, and an empty queue afterwards (so a
// stale error never makes SSL_get_error misjudge the next connection's call).
std::string take_reason() {
    unsigned long last = 0;
    while (unsigned long e = ERR_get_error()) last = e;
    const char* reason = last ? ERR_reason_error_string(last) : nullptr;
    return reason ? reason : "";
}
} // namespace

TlsTransport::TlsTransport(SSL_CTX* ctx, int fd) : ssl_(SSL_new(ctx)), fd_(fd) {
    if (!ssl_ || SSL_set_fd(ssl_, fd) != 1) {
        std::string reason = take_reason();
        SSL_free(ssl_);
        throw TlsError("cannot start a TLS session: " + reason);
    }
    SSL_set_accept_state(ssl_);
}

TlsTransport::~TlsTransport() {
    SSL_free(ssl_);
}

bool TlsTransport::peek_first_byte(IoStatus& status) noexcept {
    std::uint8_t first = 0;
    for (;;) {
        ssize_t n = ::recv(fd_, &first, 1, MSG_PEEK);
        if (n == 1) break;
        if (n == 0) return status = IoStatus::closed, false;
        if (errno == EINTR) continue;
        status = errno == EAGAIN || errno == EWOULDBLOCK ? IoStatus::would_block : IoStatus::error;
        if (status == IoStatus::error) failure_ = std::strerror(errno);
        return false;
    }
    sniffed_ = true;
    if (first == tls_handshake_record) return true;
    peer_not_tls_ = true;
    failure_ = "not a TLS handshake";
    status = IoStatus::error;
    return false;
}

IoStatus TlsTransport::outcome(int ssl_result, Want& want) noexcept {
    switch (SSL_get_error(ssl_, ssl_result)) {
    case SSL_ERROR_WANT_READ: want = Want::read; return IoStatus::would_block;
    case SSL_ERROR_WANT_WRITE: want = Want::write; return IoStatus::would_block;
    case SSL_ERROR_ZERO_RETURN: ERR_clear_error(); return IoStatus::closed; // close_notify or EOF
    case SSL_ERROR_SYSCALL: {
        int err = errno;
        failure_ = take_reason();
        if (failure_.empty()) failure_ = err ? std::strerror(err) : "connection closed";
        return IoStatus::error;
    }
    default:
        failure_ = take_reason();
        if (failure_.empty()) failure_ = "TLS error";
        return IoStatus::error;
    }
}

IoStatus TlsTransport::read(std::span<std::uint8_t> buf, std::size_t& got) noexcept {
    read_wants_write_ = false;
    Want want = Want::none;
    IoStatus status = IoStatus::progress;
    if (!sniffed_ && !peek_first_byte(status)) return status;
    if (!handshake_done_) {
        int r = SSL_do_handshake(ssl_);
        if (r != 1) {
            status = outcome(r, want);
            read_wants_write_ = want == Want::write;
            return status;
        }
        handshake_done_ = true;
    }
    std::size_t n = 0;
    int r = SSL_read_ex(ssl_, buf.data(), buf.size(), &n);
    if (r == 1) {
        got = n;
        return IoStatus::progress;
    }
    status = outcome(r, want);
    read_wants_write_ = want == Want::write;
    return status;
}

IoStatus TlsTransport::write(OutputBuffer& out) noexcept {
    write_wants_read_ = write_wants_write_ = false;
    if (!handshake_done_) {
        // Output before the handshake ends waits for it; read() drives the handshake.
        if (!out.empty()) write_wants_read_ = true;
        return out.empty() ? IoStatus::progress : IoStatus::would_block;
    }
    while (!out.empty()) {
        // Everything queued in one call: one record per 16 KiB. With partial writes each
        // record is consumed as it leaves, and the buffer may move between retries.
        auto bytes = out.pending();
        std::size_t n = 0;
        int r = SSL_write_ex(ssl_, bytes.data(), std::min<std::size_t>(bytes.size(), INT_MAX), &n);
        if (r == 1) {
            out.consume(n);
            continue;
        }
        Want want = Want::none;
        IoStatus status = outcome(r, want);
        write_wants_read_ = want == Want::read;
        write_wants_write_ = want == Want::write;
        return status;
    }
    return IoStatus::progress;
}

bool TlsTransport::session_reused() const noexcept {
    return SSL_session_reused(ssl_) == 1;
}

void TlsTransport::close_notify() noexcept {
    if (!handshake_done_) return;
    if (SSL_shutdown(ssl_) < 0) ERR_clear_error(); // a full socket: the peer sees the TCP close
}

} // namespace confab
