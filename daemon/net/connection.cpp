#include "net/connection.hpp"

#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

namespace confab {

Connection::IoStatus Connection::read_into(std::span<std::uint8_t> buf, std::size_t& got) noexcept {
    for (;;) {
        ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
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

Connection::IoStatus Connection::flush() noexcept {
    while (!output_.empty()) {
        auto bytes = output_.pending();
        ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n > 0) {
            output_.consume(std::size_t(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return IoStatus::would_block;
        return IoStatus::error;
    }
    return IoStatus::progress;
}

} // namespace confab
