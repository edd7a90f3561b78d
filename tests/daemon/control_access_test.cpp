// Who may use the control socket: root, the daemon's user, its group's members.
#include "control_access.hpp"

#include <doctest/doctest.h>

#include <grp.h>
#include <pwd.h>

using namespace confab;

TEST_CASE("root, the daemon's own uid and the daemon's gid pass; a stranger does not") {
    const ControlIdentity self{1234, 5678};
    CHECK(control_peer_allowed(0, 99999, self));
    CHECK(control_peer_allowed(1234, 99999, self));
    CHECK(control_peer_allowed(99998, 5678, self));
    CHECK_FALSE(control_peer_allowed(99998, 99999, self)); // no such user: no groups either
}

TEST_CASE("a member of the daemon's group by the group database passes") {
    // nobody's own primary group, as the daemon's group: nobody is a member through getgrouplist.
    const passwd* nobody = ::getpwnam("nobody");
    REQUIRE(nobody);
    const gid_t primary = nobody->pw_gid;
    CHECK(control_peer_allowed(nobody->pw_uid, primary + 1, ControlIdentity{4321, primary}));
    CHECK_FALSE(control_peer_allowed(nobody->pw_uid, primary + 1, ControlIdentity{4321, primary + 1000}));
}
