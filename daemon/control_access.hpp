// Who may use the control socket: root, the daemon's own user, and members of
// the daemon's group (the peer's own gid, or any group getgrouplist(3) lists
// for the peer uid's user). One rule, shared by the daemon and its tests.
#pragma once

#include <sys/types.h>

namespace confab {

struct ControlIdentity {
    uid_t uid; // the daemon's
    gid_t gid; // the daemon's group
};

bool control_peer_allowed(uid_t peer_uid, gid_t peer_gid, const ControlIdentity& self);

} // namespace confab
