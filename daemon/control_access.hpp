// Who may use the control socket: root, the daemon's own user, and members of
// the daemon's group (the peer's gid or one of its supplementary groups, as the
// kernel recorded them at connect). One rule, shared by the daemon and its tests.
#pragma once

#include "net/unix_listener.hpp"

#include <sys/types.h>

namespace confab {

struct ControlIdentity {
    uid_t uid; // the daemon's
    gid_t gid; // the daemon's group
};

bool control_peer_allowed(const PeerCredentials& peer, const ControlIdentity& self);

} // namespace confab
