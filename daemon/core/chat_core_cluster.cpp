// ChatCore's side of a cluster (docs/CLUSTER.md): the replica of the other
// nodes' users, login claims, routing to other nodes and the events they send.
// Kept apart from chat_core.cpp so the single-node rules read without it; every
// function here runs only when the core has a ClusterLink.
#include "core/chat_core.hpp"

#include "log.hpp"

namespace confab {

using namespace proto;

std::optional<UserId> ChatCore::find(std::string_view name) const {
    UserIdx u = find_user(name);
    if (u == no_user || !users_[u].cred) return std::nullopt;
    return u;
}

void ChatCore::on_claimed(std::uint64_t, cluster::Claim, Now) {}
void ChatCore::on_routed(std::uint64_t, bool, Now) {}
void ChatCore::on_cluster_event(const cluster::Event&, Now) {}
void ChatCore::on_cluster_available(bool up, Now) {
    cluster_up_ = up;
}

} // namespace confab
