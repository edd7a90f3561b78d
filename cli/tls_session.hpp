// One TLS connection over a non-blocking socket (OpenSSL): the handshake and
// the record I/O in small steps that never wait, so the poll loop keeps
// control. Used for the server connection and for every private chat.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

using SSL = struct ssl_st;
using SSL_CTX = struct ssl_ctx_st;
using SSL_SESSION = struct ssl_session_st;

namespace confab::cli {

// The OpenSSL error queue as one sentence (emptied); `fallback` if it is empty.
std::string take_ssl_errors(std::string_view fallback);

class TlsSession {
public:
    // Takes ownership of `ssl`, whose socket and role are already set.
    // `keep` is whatever the callbacks of `ssl` point into.
    explicit TlsSession(SSL* ssl, std::shared_ptr<void> keep = {});
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    enum class Status {
        done,    // the step is complete
        blocked, // try again when the socket is ready (see wants_write())
        paused,  // the handshake waits for the application (a PSK not known yet)
        closed,  // the peer closed the connection
        failed,  // broken: error() says why
    };
    Status handshake();
    bool established() const noexcept { return established_; }
    bool paused() const noexcept { return paused_; }
    // The last step that blocked waits for the socket to become writable.
    bool wants_write() const noexcept { return wants_write_; }

    // Reads decrypted bytes: > 0, or 0 with `status` set.
    std::size_t read(std::span<std::uint8_t> into, Status& status);
    // Writes (part of) `data`: bytes taken, or 0 with `status` set.
    std::size_t write(std::span<const std::uint8_t> data, Status& status);
    // Decrypted bytes OpenSSL holds that poll(2) cannot see.
    bool has_buffered_input() const noexcept;

    const std::string& error() const noexcept { return error_; }
    // The OpenSSL reason code of the failure (ERR_GET_REASON), 0 if none.
    int error_reason() const noexcept { return error_reason_; }
    SSL* ssl() const noexcept { return ssl_; }

private:
    Status classify(int ret);
    template <class Op>
    std::size_t transfer(Op op, Status& status);

    SSL* ssl_;
    std::shared_ptr<void> keep_;
    bool established_ = false;
    bool paused_ = false;
    bool wants_write_ = false;
    std::string error_;
    int error_reason_ = 0;
};

} // namespace confab::cli
