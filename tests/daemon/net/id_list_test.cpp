// IdList: each id listed once per pass, take() hands over the list while new
// pushes go to the next one, and the two vectors are reused, not reallocated.
#include "net/id_list.hpp"

#include <doctest/doctest.h>

#include <vector>

using confab::IdList;

namespace {
std::vector<std::uint64_t> as_vector(std::span<const std::uint64_t> s) {
    return {s.begin(), s.end()};
}
} // namespace

TEST_CASE("an id whose flag is set is not listed twice") {
    IdList l;
    bool a = false, b = false;
    l.push(1, a);
    l.push(2, b);
    l.push(1, a);
    CHECK(a);
    CHECK(b);
    CHECK(as_vector(l.take()) == std::vector<std::uint64_t>{1, 2});
    CHECK(l.empty());
}

TEST_CASE("ids pushed while a taken list is walked wait for the next take") {
    IdList l;
    bool flags[4] = {};
    l.push(0, flags[0]);
    l.push(1, flags[1]);
    std::vector<std::uint64_t> walked;
    for (std::uint64_t id : l.take()) {
        flags[id] = false;
        walked.push_back(id);
        l.push(id + 2, flags[id + 2]); // e.g. a flush that queues more output
    }
    CHECK(walked == std::vector<std::uint64_t>{0, 1});
    CHECK_FALSE(l.empty());
    CHECK(as_vector(l.take()) == std::vector<std::uint64_t>{2, 3});
    CHECK(l.empty());
    CHECK(l.take().empty());
}

TEST_CASE("once warm, passes reuse the same two buffers") {
    IdList l;
    auto fill = [&] {
        for (std::uint64_t id = 0; id < 100; ++id) {
            bool listed = false;
            l.push(id, listed);
        }
    };
    fill();
    const std::uint64_t* first = l.take().data();
    fill();
    const std::uint64_t* second = l.take().data();
    CHECK(first != second);
    for (int pass = 0; pass < 10; ++pass) {
        fill();
        const std::uint64_t* p = l.take().data();
        CHECK((p == first || p == second));
    }
}
