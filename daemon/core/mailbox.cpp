#include "core/mailbox.hpp"

#include <algorithm>
#include <iterator>
#include <utility>
#include <vector>

namespace confab {

namespace {
bool by_id(const StoredMessage& m, std::uint64_t id) {
    return m.id < id;
}
} // namespace

std::size_t Mailboxes::waiting(UserId to) const {
    auto box = boxes_.find(to);
    return box == boxes_.end() ? 0 : box->second.size();
}

void Mailboxes::forget(UserId to, UserId from) {
    --total_;
    auto it = held_.find(pair_key(to, from));
    if (it != held_.end() && --it->second == 0) held_.erase(it);
}

void Mailboxes::insert(UserId to, StoredMessage m) {
    ++held_[pair_key(to, m.from)];
    ++total_;
    Box& box = boxes_[to];
    // Ids grow with time, so this is nearly always the end; order is by id whatever the caller does.
    auto pos = box.empty() || box.back().id < m.id ? box.end() : std::lower_bound(box.begin(), box.end(), m.id, by_id);
    box.insert(pos, std::move(m));
}

Mailboxes::Box::iterator Mailboxes::find(Box& box, std::uint64_t id) {
    // Ordered by id, so found by bisection: storing N messages for one user stays O(N log N).
    auto it = std::lower_bound(box.begin(), box.end(), id, by_id);
    return it != box.end() && it->id == id ? it : box.end();
}

DepositResult Mailboxes::deposit(const Deposit& d) {
    if (waiting(d.to) >= capacity_) return DepositResult::mailbox_full;
    if (auto held = held_.find(pair_key(d.to, d.from)); held != held_.end() && held->second >= sender_share())
        return DepositResult::sender_share_full;
    std::uint64_t tag = next_tag_++;
    if (!persist_(store_op::InsertMessage{tag, d.id, std::string(d.to_name), std::string(d.from_name), d.sent_at_ms,
                                          std::string(d.text)}))
        return DepositResult::store_busy;
    insert(d.to, StoredMessage{d.id, d.sent_at_ms, d.from, std::string(d.text), false});
    pending_.emplace(tag, Pending{d.reply, d.to, d.id});
    return DepositResult::accepted;
}

void Mailboxes::on_stored(std::uint64_t tag, bool ok, std::string_view error) {
    auto node = pending_.extract(tag);
    if (node.empty()) return;
    const Pending& p = node.mapped();
    auto box = boxes_.find(p.to);
    if (box == boxes_.end()) return;
    auto it = find(box->second, p.id);
    if (it == box->second.end()) return;
    if (!ok) {
        forget(p.to, it->from);
        box->second.erase(it);
        if (box->second.empty()) boxes_.erase(box);
        events_.settled(p.to, p.reply, DepositResult::lost, error);
        return;
    }
    it->committed = true;
    events_.settled(p.to, p.reply, DepositResult::accepted, {});
    // Reaches the recipient if they logged in while it was being stored.
    if (!events_.deliver(p.to, *it)) acknowledge(p.to, std::span(&p.id, 1));
}

void Mailboxes::deliver_waiting(UserId to) {
    auto box = boxes_.find(to);
    if (box == boxes_.end()) return;
    std::vector<std::uint64_t> unwanted;
    for (const StoredMessage& m : box->second)
        if (m.committed && !events_.deliver(to, m)) unwanted.push_back(m.id);
    if (!unwanted.empty()) acknowledge(to, unwanted);
}

void Mailboxes::acknowledge(UserId to, std::span<const std::uint64_t> ids) {
    auto box = boxes_.find(to);
    if (box == boxes_.end()) return;
    // One pass over the mailbox whatever the number of ids acknowledged.
    std::vector<std::uint64_t> acked(ids.begin(), ids.end());
    std::sort(acked.begin(), acked.end());
    store_op::DeleteMessages done;
    std::erase_if(box->second, [&](const StoredMessage& m) {
        // An uncommitted message was never delivered, so it cannot have been processed.
        if (!m.committed || !std::binary_search(acked.begin(), acked.end(), m.id)) return false;
        done.ids.push_back(m.id);
        forget(to, m.from);
        return true;
    });
    if (box->second.empty()) boxes_.erase(box);
    if (!done.ids.empty()) persist_(std::move(done));
}

void Mailboxes::forget_user(UserId u) {
    std::vector<std::pair<UserId, std::uint64_t>> lost; // (recipient, id) of deposits not yet durable
    for (auto box = boxes_.begin(); box != boxes_.end();) {
        const UserId to = box->first;
        std::erase_if(box->second, [&](const StoredMessage& m) {
            if (to != u && m.from != u) return false;
            if (!m.committed) lost.emplace_back(to, m.id);
            forget(to, m.from);
            return true;
        });
        box = box->second.empty() ? boxes_.erase(box) : std::next(box);
    }
    if (lost.empty()) return;
    std::sort(lost.begin(), lost.end());
    for (auto it = pending_.begin(); it != pending_.end();) {
        const Pending p = it->second;
        if (!std::binary_search(lost.begin(), lost.end(), std::pair{p.to, p.id})) {
            ++it;
            continue;
        }
        it = pending_.erase(it);
        events_.settled(p.to, p.reply, DepositResult::lost, "the user was removed");
    }
}

void Mailboxes::restore(UserId to, UserId from, const StoredState::Message& m) {
    insert(to, StoredMessage{m.id, m.sent_at_ms, from, m.text, true});
}

} // namespace confab
