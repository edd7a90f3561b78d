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
#include <vector>

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

// The credentials the process at the other end of a UNIX socket connected with.
struct PeerCredentials {
    uid_t uid = 0;
    gid_t gid = 0;
    pid_t pid = 0;
    std::vector<gid_t> groups; // its supplementary groups
};

// SO_PEERCRED and SO_PEERGROUPS: the kernel's record of the peer, so no user
// database lookup (which may go to the network through NSS) runs on the reactor.
bool peer_credentials(int fd, PeerCredentials& out);

} // namespace confab
