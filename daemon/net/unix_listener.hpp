// A listening UNIX stream socket at a path (the control socket): created with
// mode 0660 and the daemon's group, a stale socket file left by a crash
// replaced, a live one (another daemon listening) refused, and the file removed
// again when the listener goes. Accepts until EAGAIN, like Listener.
// Reactor thread only.
#pragma once

#include "proto/io/unique_fd.hpp"

#include <sys/socket.h>

#include <cstddef>
#include <functional>
#include <string>

namespace confab {

class UnixListener {
public:
    // Throws std::system_error (naming the path) when the socket cannot be made.
    explicit UnixListener(std::string path);
    ~UnixListener();
    UnixListener(const UnixListener&) = delete;
    UnixListener& operator=(const UnixListener&) = delete;

    int fd() const noexcept { return fd_.get(); }
    const std::string& path() const noexcept { return path_; }
    // Calls on_accept(fd) for every pending connection, at most `budget`; true when the
    // budget ran out first (connections may be pending).
    bool accept_some(std::size_t budget, const std::function<void(UniqueFd)>& on_accept);

private:
    std::string path_;
    UniqueFd fd_;
};

// The uid, gid and pid of the process at the other end of a UNIX socket (SO_PEERCRED).
bool peer_credentials(int fd, ucred& out) noexcept;

} // namespace confab
