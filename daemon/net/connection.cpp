#include "net/connection.hpp"

// Plain TCP: bytes go straight to and from the socket.

namespace confab {

IoStatus Connection::read_into(std::span<std::uint8_t> buf, std::size_t& got) noexcept {
    return read_some(fd_.get(), buf, got);
}

IoStatus Connection::flush() noexcept {
    return send_pending(fd_.get(), output_);
}

} // namespace confab
