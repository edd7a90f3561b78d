#include "cli/tls_session.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>

namespace confab::cli {

std::string take_ssl_errors(std::string_view fallback) {
    std::string text;
    while (unsigned long e = ERR_get_error()) {
        const char* reason = ERR_reason_error_string(e);
        if (!text.empty()) text += "; ";
        text += reason ? reason : "unknown TLS error";
    }
    return text.empty() ? std::string(fallback) : text;
}

TlsSession::TlsSession(SSL* ssl, std::shared_ptr<void> keep) : ssl_(ssl), keep_(std::move(keep)) {
    // Output is queued in a buffer that may move and is written piecemeal.
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

TlsSession::~TlsSession() {
    if (established_) SSL_shutdown(ssl_); // best effort close_notify; never waits
    SSL_free(ssl_);
    ERR_clear_error();
}

TlsSession::Status TlsSession::classify(int ret) {
    int err = SSL_get_error(ssl_, ret);
    wants_write_ = false;
    paused_ = false;
    switch (err) {
    case SSL_ERROR_WANT_READ: return Status::blocked;
    case SSL_ERROR_WANT_WRITE: wants_write_ = true; return Status::blocked;
    case SSL_ERROR_WANT_CLIENT_HELLO_CB: paused_ = true; return Status::paused;
    case SSL_ERROR_ZERO_RETURN: return Status::closed;
    case SSL_ERROR_SYSCALL:
        if (errno == EINTR) return Status::blocked;
        if (ERR_peek_error() == 0) { // no TLS error: the socket was closed or broke
            error_ = errno ? std::strerror(errno) : "the connection was closed";
            return errno == 0 || errno == ECONNRESET || errno == EPIPE ? Status::closed : Status::failed;
        }
        [[fallthrough]];
    default:
        error_reason_ = ERR_GET_REASON(ERR_peek_error());
        error_ = take_ssl_errors("TLS failure");
        return Status::failed;
    }
}

TlsSession::Status TlsSession::handshake() {
    if (established_) return Status::done;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_do_handshake(ssl_);
    if (ret == 1) {
        established_ = true;
        paused_ = wants_write_ = false;
        return Status::done;
    }
    return classify(ret);
}

// One SSL_read_ex or SSL_write_ex: both report progress and failure alike.
template <class Op>
std::size_t TlsSession::transfer(Op op, Status& status) {
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    int ret = op(&n);
    if (ret == 1) {
        status = Status::done;
        wants_write_ = false;
        return n;
    }
    status = classify(ret);
    return 0;
}

std::size_t TlsSession::read(std::span<std::uint8_t> into, Status& status) {
    return transfer([&](std::size_t* n) { return SSL_read_ex(ssl_, into.data(), into.size(), n); }, status);
}

std::size_t TlsSession::write(std::span<const std::uint8_t> data, Status& status) {
    return transfer([&](std::size_t* n) { return SSL_write_ex(ssl_, data.data(), data.size(), n); }, status);
}

bool TlsSession::has_buffered_input() const noexcept {
    return SSL_pending(ssl_) > 0;
}

} // namespace confab::cli
