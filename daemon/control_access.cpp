#include "control_access.hpp"

#include <algorithm>

namespace confab {

bool control_peer_allowed(const PeerCredentials& peer, const ControlIdentity& self) {
    return peer.uid == 0 || peer.uid == self.uid || peer.gid == self.gid ||
           std::find(peer.groups.begin(), peer.groups.end(), self.gid) != peer.groups.end();
}

} // namespace confab
