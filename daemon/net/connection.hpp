// One client socket: the fd, its frame decoder, its bounded output queue and
// the flags the reactor glue needs. Reads and writes are non-blocking and
// report EAGAIN/EOF/errors as values; nothing here knows about chat.
// Owned by ConnTable; reactor thread only.
#pragma once

#include "proto/io/output_buffer.hpp"
#include "proto/io/stream_io.hpp"
#include "proto/io/unique_fd.hpp"

#include "proto/frame.hpp"

#include <cstdint>
#include <span>
#include <string>

namespace confab {

class Connection {
public:
    Connection(UniqueFd fd, std::uint64_t id, std::string peer) : fd_(std::move(fd)), id_(id), peer_(std::move(peer)) {}

    int fd() const noexcept { return fd_.get(); }
    std::uint64_t id() const noexcept { return id_; }
    const std::string& peer() const noexcept { return peer_; }

    using IoStatus = confab::IoStatus;
    // One read(2) into `buf`; `got` receives the byte count on progress.
    IoStatus read_into(std::span<std::uint8_t> buf, std::size_t& got) noexcept;
    // Writes pending output until it is empty or the socket would block.
    IoStatus flush() noexcept;

    proto::FrameDecoder& decoder() noexcept { return decoder_; }
    OutputBuffer& output() noexcept { return output_; }

    // Registration and bookkeeping flags owned by the server glue.
    bool epollout = false;     // EPOLLOUT currently requested
    bool dirty = false;        // on the flush list
    bool closing = false;      // no more input; close once output drains
    bool dead = false;         // to be destroyed after the current event
    bool read_pending = false; // read budget ran out with input left (ET will not re-notify)

private:
    UniqueFd fd_;
    std::uint64_t id_;
    std::string peer_;
    proto::FrameDecoder decoder_;
    OutputBuffer output_;
};

} // namespace confab
