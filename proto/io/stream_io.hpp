// Non-blocking stream socket I/O with outcomes as values: one read(2), and
// writing a bounded output queue until it is empty or the socket is full.
// EINTR is retried; nothing here blocks or knows what the bytes mean.
#pragma once

#include "proto/io/output_buffer.hpp"

#include <cstdint>
#include <span>

namespace confab {

enum class IoStatus { progress, would_block, closed, error };

// One read into `buf`; `got` receives the byte count on progress.
IoStatus read_some(int fd, std::span<std::uint8_t> buf, std::size_t& got) noexcept;
// Sends `out` until it is empty (progress) or the socket would block.
IoStatus send_pending(int fd, OutputBuffer& out) noexcept;

} // namespace confab
