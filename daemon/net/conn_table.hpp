// Sole owner of the Connections. An id packs a slot index (low 32 bits) and
// the slot's generation (next 24 bits), so an id of a closed connection never
// resolves to the slot's next occupant. Ids are never 0.
// Reactor thread only.
#pragma once

#include "net/connection.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace confab {

class ConnTable {
public:
    Connection& insert(UniqueFd fd, std::string peer);
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
        std::uint32_t generation = 1;
    };
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_;
    std::size_t count_ = 0;
};

} // namespace confab
