#include "net/unix_listener.hpp"

#include "log.hpp"

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace confab {

namespace {
[[noreturn]] void fail(int err, const std::string& what) {
    throw std::system_error(err, std::generic_category(), what);
}

sockaddr_un address_of(const std::string& path) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof sa.sun_path)
        fail(ENAMETOOLONG, "control socket path '" + path + "' (at most 107 bytes)");
    std::memcpy(sa.sun_path, path.data(), path.size());
    return sa;
}

// A socket file nobody listens on is what a crashed daemon leaves behind: remove it.
// Anything else at the path is not ours to remove.
void remove_stale(const std::string& path, const sockaddr_un& sa) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return; // nothing there
    if (!S_ISSOCK(st.st_mode)) fail(EEXIST, "control socket " + path + " exists and is not a socket");
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!probe) fail(errno, "socket");
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0 || errno == EAGAIN)
        fail(EADDRINUSE, "control socket " + path + ": another daemon is listening there");
    if (errno != ECONNREFUSED) fail(errno, "control socket " + path);
    if (::unlink(path.c_str()) != 0) fail(errno, "removing stale control socket " + path);
    log::info("removed the stale control socket {}", path);
}
} // namespace

UnixListener::UnixListener(std::string path) : path_(std::move(path)) {
    const sockaddr_un sa = address_of(path_);
    remove_stale(path_, sa);
    fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_) fail(errno, "socket");
    // The file is born 0660: no moment when others could connect. umask is per process,
    // but nothing else creates files while the daemon starts.
    const mode_t old = ::umask(0117);
    const int rc = ::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    const int err = errno;
    ::umask(old);
    if (rc != 0) fail(err, "bind control socket " + path_);
    // The daemon's group even in a set-group-id directory. chown only then: the packaged unit's
    // system-call filter refuses it (~@privileged), and a file born in the daemon's group needs none.
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0 ||
        (st.st_gid != ::getegid() && ::chown(path_.c_str(), uid_t(-1), ::getegid()) != 0) ||
        ::chmod(path_.c_str(), 0660) != 0) {
        const int e = errno;
        ::unlink(path_.c_str());
        fail(e, "control socket " + path_);
    }
    if (::listen(fd_.get(), 16) != 0) {
        const int e = errno;
        ::unlink(path_.c_str());
        fail(e, "listen on control socket " + path_);
    }
}

UnixListener::~UnixListener() {
    if (fd_) ::unlink(path_.c_str());
}

bool UnixListener::accept_some(std::size_t budget, const std::function<void(UniqueFd)>& on_accept) {
    for (std::size_t accepted = 0; accepted < budget;) {
        int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            ++accepted;
            on_accept(UniqueFd(fd));
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN) log::error("accept on control socket: {}", std::strerror(errno));
        return false;
    }
    return true;
}

bool peer_credentials(int fd, PeerCredentials& out) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) return false;
    out.uid = cred.uid;
    out.gid = cred.gid;
    out.pid = cred.pid;
    // The kernel answers ERANGE with the size it needs when the buffer is short.
    out.groups.resize(32);
    for (int attempt = 0; attempt < 2; ++attempt) {
        len = socklen_t(out.groups.size() * sizeof(gid_t));
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, out.groups.data(), &len) == 0) {
            out.groups.resize(len / sizeof(gid_t));
            return true;
        }
        if (errno != ERANGE) return false;
        out.groups.resize(len / sizeof(gid_t));
    }
    return false;
}

} // namespace confab
