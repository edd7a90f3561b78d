// The server end of one TLS connection over a non-blocking socket: the
// handshake and the records, with OpenSSL reading and writing the fd itself.
// Each call does what it can without blocking and says which way the socket
// must become ready before it can go on: a read may need to write (TLS 1.3
// key updates, the handshake's last flight) and a write may need to read (a
// handshake not finished yet), so the owner watches both directions.
// Before the handshake, the first byte is peeked: a stream that does not start
// with a TLS handshake record is reported as not TLS (a plaintext client on a
// TLS port) so the owner can tell that client in its own protocol.
// Reactor thread only.
#pragma once

#include "proto/io/output_buffer.hpp"
#include "proto/io/stream_io.hpp" // IoStatus

#include <openssl/types.h>

#include <cstdint>
#include <span>
#include <string>

namespace confab {

class TlsTransport {
public:
    // Takes a new SSL from `ctx` for `fd` (not owned). Throws TlsError when OpenSSL cannot.
    TlsTransport(SSL_CTX* ctx, int fd);
    ~TlsTransport();
    TlsTransport(const TlsTransport&) = delete;
    TlsTransport& operator=(const TlsTransport&) = delete;

    // Drives the handshake, then decrypts into `buf` (`got` bytes on progress, at most one
    // record). would_block: nothing more until the socket is ready (see the wants_* below);
    // closed: close_notify or EOF; error: a TLS or socket error (failure() says which).
    IoStatus read(std::span<std::uint8_t> buf, std::size_t& got) noexcept;
    // Encrypts and sends `out` record by record until it is empty or the socket is full,
    // consuming what was sent. Before the handshake ends it waits (would_block).
    IoStatus write(OutputBuffer& out) noexcept;
    // Sends close_notify if that can be done without blocking; the last call on an orderly close.
    void close_notify() noexcept;

    bool handshake_done() const noexcept { return handshake_done_; }
    // The finished handshake resumed a session from a ticket.
    bool session_reused() const noexcept;
    // The last read or write stopped until the socket is writable / the last write until it is readable.
    bool wants_writable() const noexcept { return read_wants_write_ || write_wants_write_; }
    bool write_wants_readable() const noexcept { return write_wants_read_; }
    bool read_wants_writable() const noexcept { return read_wants_write_; }
    // The peer's first byte was not a TLS handshake record (read() then returned error).
    bool peer_not_tls() const noexcept { return peer_not_tls_; }
    // Why the last read or write failed, for one log line.
    const std::string& failure() const noexcept { return failure_; }

private:
    enum class Want : std::uint8_t { none, read, write };
    // Classifies a failed SSL call; records a hard failure's reason.
    IoStatus outcome(int ssl_result, Want& want) noexcept;
    bool peek_first_byte(IoStatus& status) noexcept;

    SSL* ssl_;
    int fd_;
    std::string failure_;
    bool sniffed_ = false;
    bool peer_not_tls_ = false;
    bool handshake_done_ = false;
    bool read_wants_write_ = false, write_wants_read_ = false, write_wants_write_ = false;
};

} // namespace confab
