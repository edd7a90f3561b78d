#include "proto/io/stream_io.hpp"

#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

namespace confab {

IoStatus read_some(int fd, std::span<std::uint8_t> buf, std::size_t& got) noexcept {
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n > 0) {
            got = std::size_t(n);
            return IoStatus::progress;
        }
        if (n == 0) return IoStatus::closed;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::would_block;
        return IoStatus::error;
    }
}

IoStatus send_pending(int fd, OutputBuffer& out) noexcept {
    while (!out.empty()) {
        auto bytes = out.pending();
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n > 0) {
            out.consume(std::size_t(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return IoStatus::would_block;
        return IoStatus::error;
    }
    return IoStatus::progress;
}

} // namespace confab
