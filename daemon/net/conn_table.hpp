// Sole owner of the Connections. An id packs a slot index (low 32 bits) and
// the slot's generation (next 24 bits), so an id of a closed connection never
// resolves to the slot's next occupant. Generations start at 1, so every id
// is at least 2^32 and smaller numbers are free for other epoll tokens.
// Reactor thread only.
#pragma once

#include "net/connection.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace confab {

class ConnTable {
public:
    static constexpr unsigned slot_bits = 32, generation_bits = 24, id_bits = slot_bits + generation_bits;
    static constexpr std::uint64_t min_id = std::uint64_t(1) << slot_bits;

    Connection& insert(UniqueFd fd, std::string peer, std::unique_ptr<TlsTransport> tls = nullptr);
    Connection* find(std::uint64_t id) noexcept;
    void erase(std::uint64_t id) noexcept;
    std::size_t size() const noexcept { return count_; }
    template <class F>
    void for_each(F&& f) {
        for (auto& s : slots_)
            if (s.conn) f(*s.conn);
    }

private:
    struct Slot {
        std::unique_ptr<Connection> conn;
        std::uint32_t generation = 1; // never 0: see min_id
    };
    static_assert(slot_bits == 8 * sizeof(std::uint32_t), "a slot index is a uint32_t");
    static_assert(generation_bits < 8 * sizeof(Slot::generation), "a generation fits its field");
    static_assert(id_bits <= 64, "an id is a uint64_t");
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_;
    std::size_t count_ = 0;
};

} // namespace confab
