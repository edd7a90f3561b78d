// Long texts split into messages at word or character boundaries.
#include "cli/text_split.hpp"

#include "proto/wire.hpp"

#include <doctest/doctest.h>

#include <string>

using confab::cli::split_text;
using Parts = std::vector<std::string_view>;

TEST_CASE("a text that fits is one part; an empty one none") {
    CHECK(split_text("hello world", 20) == Parts{"hello world"});
    CHECK(split_text("exactly10!", 10) == Parts{"exactly10!"});
    CHECK(split_text("", 10).empty());
}

TEST_CASE("cut at the last blank before the limit, blanks at the cut dropped") {
    CHECK(split_text("the quick brown fox", 10) == Parts{"the quick", "brown fox"});
    CHECK(split_text("aaaa bbbb   cccc", 9) == Parts{"aaaa bbbb", "cccc"});
    CHECK(split_text("one two", 4) == Parts{"one", "two"});
}

TEST_CASE("a word longer than the limit is cut, never inside a UTF-8 character") {
    CHECK(split_text("abcdefghij", 4) == Parts{"abcd", "efgh", "ij"});
    std::string euros; // U+20AC is 3 bytes
    for (int i = 0; i < 5; ++i) euros += "\xE2\x82\xAC";
    auto parts = split_text(euros, 7); // 2 characters (6 bytes) fit, not 7 bytes
    REQUIRE(parts.size() == 3);
    CHECK(parts[0].size() == 6);
    CHECK(parts[1].size() == 6);
    CHECK(parts[2].size() == 3);
    for (auto p : parts) CHECK(confab::proto::is_valid_utf8(p));
}

TEST_CASE("every part of a long text fits, is valid, and together they keep every word") {
    std::string text;
    for (int i = 0; i < 400; ++i) text += (i ? " w\xC3\xB6rd" : "w\xC3\xB6rd") + std::to_string(i);
    auto parts = split_text(text, 1000);
    CHECK(parts.size() >= 3);
    std::string joined;
    for (auto p : parts) {
        CHECK(p.size() <= 1000);
        CHECK_FALSE(p.empty());
        CHECK(confab::proto::is_valid_utf8(p));
        joined += (joined.empty() ? "" : " ") + std::string(p);
    }
    CHECK(joined == text);
}
