// One client socket: the fd, its frame decoder, its bounded output queue, its
// lifecycle phase and the bookkeeping the reactor glue needs. Reads and writes
// are non-blocking and report EAGAIN/EOF/errors as values; nothing here knows
// about chat. Owned by ConnTable; reactor thread only.
#pragma once

#include "proto/frame.hpp"
#include "proto/io/output_buffer.hpp"
#include "proto/io/stream_io.hpp" // IoStatus
#include "proto/io/unique_fd.hpp"

#include <cstdint>
#include <span>
#include <string>

namespace confab {

class Connection {
public:
    // Phases only move down the list.
    enum class Phase : std::uint8_t {
        // A transport with a handshake (TLS) starts here, before open, until it is done.
        open,    // frames flow both ways
        closing, // no more input; closed once output drains
        dead,    // to be destroyed after the current event
    };

    Connection(UniqueFd fd, std::uint64_t id, std::string peer) : fd_(std::move(fd)), id_(id), peer_(std::move(peer)) {}

    int fd() const noexcept { return fd_.get(); }
    std::uint64_t id() const noexcept { return id_; }
    const std::string& peer() const noexcept { return peer_; }

    Phase phase() const noexcept { return phase_; }
    bool is_open() const noexcept { return phase_ == Phase::open; }
    bool is_dead() const noexcept { return phase_ == Phase::dead; }
    // The owner asked for an orderly close (even if the connection died since).
    bool close_requested() const noexcept { return close_requested_; }
    // Open -> closing; false if a close was already requested.
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

    // The transport seam: the only two places bytes touch the socket, so a
    // transport with its own framing (TLS) replaces exactly these.
    using IoStatus = confab::IoStatus;
    // One read into `buf`; `got` receives the byte count on progress.
    IoStatus read_into(std::span<std::uint8_t> buf, std::size_t& got) noexcept;
    // Writes pending output until it is empty or the socket would block.
    IoStatus flush() noexcept;

    proto::FrameDecoder& decoder() noexcept { return decoder_; }
    OutputBuffer& output() noexcept { return output_; }

    // Bookkeeping owned by the server glue.
    bool epollout = false;     // EPOLLOUT currently requested
    bool dirty = false;        // on the flush list
    bool read_pending = false; // on the re-read list: read budget ran out with input left

private:
    UniqueFd fd_;
    std::uint64_t id_;
    std::string peer_;
    proto::FrameDecoder decoder_{proto::max_prelogin_frame_size}; // raised at login
    OutputBuffer output_;
    Phase phase_ = Phase::open;
    bool close_requested_ = false;
};

} // namespace confab
