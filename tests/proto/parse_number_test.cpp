// parse_number: the whole string as a number, or nothing.
#include "proto/parse_number.hpp"

#include <doctest/doctest.h>

#include <cstdint>

using confab::parse_number;

TEST_CASE("a whole decimal number in range is parsed") {
    CHECK(parse_number<int>("42") == 42);
    CHECK(parse_number<int>("-7") == -7);
    CHECK(parse_number<std::uint16_t>("65535") == 65535);
    CHECK(parse_number<std::uint64_t>("18446744073709551615") == UINT64_MAX);
    CHECK(parse_number<double>("0.25") == 0.25);
}

TEST_CASE("empty, partial, signed-unsigned, blank-padded and out-of-range input is refused") {
    CHECK_FALSE(parse_number<int>(""));
    CHECK_FALSE(parse_number<int>("12x"));
    CHECK_FALSE(parse_number<int>(" 12"));
    CHECK_FALSE(parse_number<int>("12 "));
    CHECK_FALSE(parse_number<int>("+12"));
    CHECK_FALSE(parse_number<std::uint32_t>("-1"));
    CHECK_FALSE(parse_number<std::uint16_t>("65536"));
    CHECK_FALSE(parse_number<double>("1.5s"));
}
