#include "net/conn_table.hpp"

namespace confab {

namespace {
constexpr std::uint32_t generation_mask = (std::uint32_t(1) << ConnTable::generation_bits) - 1;
std::uint32_t slot_of(std::uint64_t id) {
    return std::uint32_t(id);
}
std::uint32_t generation_of(std::uint64_t id) {
    return std::uint32_t(id >> ConnTable::slot_bits);
}
} // namespace

Connection& ConnTable::insert(UniqueFd fd, std::string peer, std::unique_ptr<TlsTransport> tls) {
    std::uint32_t slot;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
    } else {
        slot = std::uint32_t(slots_.size());
        slots_.emplace_back();
    }
    Slot& s = slots_[slot];
    std::uint64_t id = std::uint64_t(s.generation) << slot_bits | slot;
    s.conn = std::make_unique<Connection>(std::move(fd), id, std::move(peer), std::move(tls));
    ++count_;
    return *s.conn;
}

Connection* ConnTable::find(std::uint64_t id) noexcept {
    std::uint32_t slot = slot_of(id);
    if (slot >= slots_.size()) return nullptr;
    Slot& s = slots_[slot];
    if (!s.conn || s.generation != generation_of(id)) return nullptr;
    return s.conn.get();
}

void ConnTable::erase(std::uint64_t id) noexcept {
    Connection* c = find(id);
    if (!c) return;
    Slot& s = slots_[slot_of(id)];
    s.conn.reset();
    s.generation = (s.generation + 1) & generation_mask;
    if (s.generation == 0) s.generation = 1;
    free_.push_back(slot_of(id));
    --count_;
}

} // namespace confab
