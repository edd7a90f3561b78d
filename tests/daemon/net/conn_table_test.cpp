// ConnTable: connection ids with slot generations.
#include "net/conn_table.hpp"

#include <doctest/doctest.h>

#include <set>

using confab::ConnTable;
using confab::UniqueFd;

TEST_CASE("inserted connections are found by id; ids are distinct and never 0") {
    ConnTable t;
    auto& a = t.insert(UniqueFd{}, "192.0.2.1");
    auto& b = t.insert(UniqueFd{}, "192.0.2.2");
    CHECK(a.id() != 0);
    CHECK(b.id() != 0);
    CHECK(a.id() != b.id());
    CHECK(t.size() == 2);
    CHECK(t.find(a.id()) == &a);
    CHECK(t.find(b.id())->peer() == "192.0.2.2");
    CHECK(t.find(0) == nullptr);
    CHECK(t.find(a.id() + 12345) == nullptr);
}

TEST_CASE("after erase, a stale id resolves to nothing even when its slot is reused") {
    ConnTable t;
    std::uint64_t old_id = t.insert(UniqueFd{}, "old").id();
    t.erase(old_id);
    CHECK(t.size() == 0);
    CHECK(t.find(old_id) == nullptr);
    auto& fresh = t.insert(UniqueFd{}, "new");
    CHECK(fresh.id() != old_id);
    CHECK(std::uint32_t(fresh.id()) == std::uint32_t(old_id)); // same slot, new generation
    CHECK(t.find(old_id) == nullptr);
    CHECK(t.find(fresh.id()) == &fresh);
    t.erase(old_id); // erasing a stale id must not touch the new occupant
    CHECK(t.find(fresh.id()) == &fresh);
    CHECK(t.size() == 1);
}

TEST_CASE("ids stay unique through many reuses of a slot, fit id_bits and stay above the reserved tokens") {
    ConnTable t;
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 10'000; ++i) {
        std::uint64_t id = t.insert(UniqueFd{}, "p").id();
        CHECK_MESSAGE(seen.insert(id).second, "id reused: ", id);
        CHECK((id >> ConnTable::id_bits) == 0);
        CHECK(id >= ConnTable::min_id);
        t.erase(id);
    }
    CHECK(t.size() == 0);
}

TEST_CASE("for_each visits exactly the live connections") {
    ConnTable t;
    auto a = t.insert(UniqueFd{}, "a").id();
    auto b = t.insert(UniqueFd{}, "b").id();
    auto c = t.insert(UniqueFd{}, "c").id();
    t.erase(b);
    std::set<std::uint64_t> visited;
    t.for_each([&](confab::Connection& conn) { visited.insert(conn.id()); });
    CHECK(visited == std::set<std::uint64_t>{a, c});
}
