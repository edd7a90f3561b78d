#include "cli/server_link.hpp"

#include <algorithm>

namespace confab::cli {

void ServerLink::send(const proto::Message& m) {
    if (!stream_.send(m)) overflowed_ = true;
}

std::optional<PendingRequest> ServerLink::take_pending(std::uint32_t request_id) {
    auto it = pending_.find(request_id);
    if (it == pending_.end()) return std::nullopt;
    PendingRequest what = std::move(it->second);
    pending_.erase(it);
    return what;
}

void ServerLink::acknowledge(const std::vector<std::uint64_t>& ids) {
    for (std::size_t i = 0; i < ids.size(); i += proto::max_list_entries) {
        std::size_t end = std::min(ids.size(), i + proto::max_list_entries);
        proto::AckMessages ack;
        ack.ids.assign(ids.begin() + std::ptrdiff_t(i), ids.begin() + std::ptrdiff_t(end));
        send(ack);
    }
}

} // namespace confab::cli
