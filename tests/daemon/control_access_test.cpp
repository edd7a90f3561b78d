// Who may use the control socket: root, the daemon's user, its group's members.
#include "control_access.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

using namespace confab;

namespace {
PeerCredentials peer(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
    PeerCredentials p;
    p.uid = uid;
    p.gid = gid;
    p.groups = std::move(groups);
    return p;
}
} // namespace

TEST_CASE("root, the daemon's own uid and the daemon's gid pass; a stranger does not") {
    const ControlIdentity self{1234, 5678};
    CHECK(control_peer_allowed(peer(0, 99999), self));
    CHECK(control_peer_allowed(peer(1234, 99999), self));
    CHECK(control_peer_allowed(peer(99998, 5678), self));
    CHECK_FALSE(control_peer_allowed(peer(99998, 99999), self));
    CHECK_FALSE(control_peer_allowed(peer(99998, 99999, {1, 2, 3}), self));
}

TEST_CASE("a member of the daemon's group through a supplementary group passes") {
    const ControlIdentity self{1234, 5678};
    CHECK(control_peer_allowed(peer(99998, 99999, {100, 5678}), self));
}

TEST_CASE("peer_credentials reads this process's own uid, gid and groups over a socket pair") {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    PeerCredentials p;
    REQUIRE(peer_credentials(sv[0], p));
    CHECK(p.uid == ::geteuid());
    CHECK(p.gid == ::getegid());
    CHECK(p.pid == ::getpid());
    std::vector<gid_t> mine(std::size_t(::getgroups(0, nullptr)));
    mine.resize(std::size_t(::getgroups(int(mine.size()), mine.data())));
    CHECK(p.groups.size() == mine.size());
    ::close(sv[0]);
    ::close(sv[1]);
}
