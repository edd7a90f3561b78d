// One client socket: the fd, its transport (plain TCP, or TLS through a
// TlsTransport), its frame decoder, its bounded output queue, its lifecycle
// phase and the bookkeeping the reactor glue needs. Reads and writes are
// non-blocking and report EAGAIN/EOF/errors as values; nothing here knows
// about chat. Owned by ConnTable; reactor thread only.
#pragma once

#include "proto/frame.hpp"
#include "proto/io/output_buffer.hpp"
#include "proto/io/stream_io.hpp" // IoStatus
#include "proto/io/unique_fd.hpp"

#include "net/tls_transport.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace confab {

class Connection {
public:
    // Phases only move down the list.
    enum class Phase : std::uint8_t {
        handshaking, // TLS: no frame either way until the handshake is done
        open,        // frames flow both ways
        closing,     // no more input; closed once output drains
        dead,        // to be destroyed after the current event
    };

    // With `tls` (a TlsTransport on `fd`) the connection starts handshaking.
    Connection(UniqueFd fd, std::uint64_t id, std::string peer, std::unique_ptr<TlsTransport> tls = nullptr)
        : fd_(std::move(fd)), id_(id), peer_(std::move(peer)), tls_(std::move(tls)),
          phase_(tls_ ? Phase::handshaking : Phase::open) {}

    int fd() const noexcept { return fd_.get(); }
    std::uint64_t id() const noexcept { return id_; }
    const std::string& peer() const noexcept { return peer_; }

    Phase phase() const noexcept { return phase_; }
    bool is_open() const noexcept { return phase_ == Phase::open; }
    // Input is read while handshaking and open.
    bool reads_input() const noexcept { return phase_ == Phase::handshaking || phase_ == Phase::open; }
    bool is_dead() const noexcept { return phase_ == Phase::dead; }
    // The owner asked for an orderly close (even if the connection died since).
    bool close_requested() const noexcept { return close_requested_; }
    // Open -> closing (a handshaking connection stays so: the owner kills it); false if a
    // close was already requested.
    bool request_close() noexcept {
        if (close_requested_) return false;
        close_requested_ = true;
        if (phase_ == Phase::open) phase_ = Phase::closing;
        return true;
    }
    // Any phase -> dead; false if it already was.
    bool kill() noexcept {
        if (phase_ == Phase::dead) return false;
        phase_ = Phase::dead;
        return true;
    }

    // The transport seam: the only two places bytes touch the socket. Over TLS
    // they go through the TlsTransport, and a finished handshake opens the connection.
    using IoStatus = confab::IoStatus;
    // One read into `buf`; `got` receives the byte count on progress.
    IoStatus read_into(std::span<std::uint8_t> buf, std::size_t& got) noexcept;
    // Writes pending output until it is empty or the socket would block.
    IoStatus flush() noexcept;
    // The transport waits for the socket to become writable (to go on reading or writing).
    bool wants_writable() const noexcept { return tls_ ? tls_->wants_writable() : flush_blocked_; }
    // TLS only: the last flush waits for input (a handshake not finished yet); the last read
    // waits for the socket to take output (the handshake's last flight, a key update).
    bool write_wants_readable() const noexcept { return tls_ && tls_->write_wants_readable(); }
    bool read_wants_writable() const noexcept { return tls_ && tls_->read_wants_writable(); }
    // TLS: the handshake has finished; it resumed a session from a ticket.
    bool tls_established() const noexcept { return tls_ && tls_->handshake_done(); }
    bool tls_resumed() const noexcept { return tls_ && tls_->session_reused(); }
    // Orderly close: TLS close_notify, when it can be sent without blocking.
    void close_notify() noexcept {
        if (tls_) tls_->close_notify();
    }
    // A TLS connection whose peer spoke something else: read_into returned error, the input
    // was discarded and output now goes out unencrypted, so the peer can be told in plain.
    bool refused_plaintext() const noexcept { return refused_plaintext_; }
    // Why the TLS transport failed ("" for plain TCP), for one log line.
    std::string_view transport_failure() const noexcept { return tls_ ? std::string_view(tls_->failure()) : ""; }

    proto::FrameDecoder& decoder() noexcept { return decoder_; }
    OutputBuffer& output() noexcept { return output_; }

    // Bookkeeping owned by the server glue.
    bool epollout = false;        // EPOLLOUT currently requested
    bool dirty = false;           // on the flush list
    bool read_pending = false;    // on the re-read list: read budget ran out with input left
    bool handshake_ready = false; // on the handshake list: its TLS handshake can take a step

private:
    UniqueFd fd_;
    std::uint64_t id_;
    std::string peer_;
    proto::FrameDecoder decoder_{proto::max_prelogin_frame_size}; // raised at login
    OutputBuffer output_;
    std::unique_ptr<TlsTransport> tls_; // null: plain TCP
    Phase phase_;
    bool close_requested_ = false;
    bool flush_blocked_ = false; // plain TCP: the last flush stopped at a full socket
    bool refused_plaintext_ = false;
};

} // namespace confab
