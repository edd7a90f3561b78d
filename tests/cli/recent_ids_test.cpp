// RecentIds: duplicate suppression with bounded memory.
#include "cli/recent_ids.hpp"

#include <doctest/doctest.h>

using confab::cli::RecentIds;

TEST_CASE("an id is new once; past the capacity the oldest is forgotten") {
    RecentIds ids(3);
    CHECK(ids.insert(10));
    CHECK_FALSE(ids.insert(10));
    CHECK(ids.insert(11));
    CHECK(ids.insert(12));
    CHECK(ids.insert(13)); // 10 forgotten
    CHECK(ids.size() == 3);
    CHECK(ids.insert(10));
    CHECK_FALSE(ids.insert(13));
}
