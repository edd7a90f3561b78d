#include "control_access.hpp"

#include <grp.h>
#include <pwd.h>

#include <vector>

namespace confab {

bool control_peer_allowed(uid_t peer_uid, gid_t peer_gid, const ControlIdentity& self) {
    if (peer_uid == 0 || peer_uid == self.uid || peer_gid == self.gid) return true;
    // The user database is local files on a server; a lookup takes microseconds.
    passwd pw{}, *found = nullptr;
    std::vector<char> buf(16384);
    if (::getpwuid_r(peer_uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return false;
    std::vector<gid_t> groups(64);
    int n = int(groups.size());
    if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
        groups.resize(std::size_t(n));
        if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) return false;
    }
    for (int i = 0; i < n; ++i)
        if (groups[std::size_t(i)] == self.gid) return true;
    return false;
}

} // namespace confab
