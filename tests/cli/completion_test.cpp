// Tab completion: commands in the first word, user names where a command takes one, nothing else.
#include "cli/completion.hpp"

#include <doctest/doctest.h>

using namespace confab::cli;
using Words = std::vector<std::string>;

namespace {
KnownNames some_names() {
    KnownNames n;
    for (const char* name : {"alice", "albert", "bob"}) n.add(name);
    n.add("not a name"); // ignored
    return n;
}
} // namespace

TEST_CASE("the first word completes to commands, with or without a leading slash") {
    auto n = some_names();
    CHECK(completions("whoel", n) == Words{"whoelse", "whoelsesince"});
    CHECK(completions("mes", n) == Words{"message"});
    CHECK(completions("/blo", n) == Words{"/block", "/blocks"});
    CHECK(completions("zzz", n).empty());
    CHECK(completions("", n).size() >= 10); // every command
}

TEST_CASE("the user argument completes to known names, other arguments to nothing") {
    auto n = some_names();
    CHECK(completions("message al", n) == Words{"albert", "alice"});
    CHECK(completions("msg b", n) == Words{"bob"});
    CHECK(completions("/startprivate ", n) == Words{"albert", "alice", "bob"});
    CHECK(completions("message alice he", n).empty()); // the text
    CHECK(completions("broadcast al", n).empty());     // no user argument
    CHECK(completions("whoelsesince 1", n).empty());
    CHECK(completions("cat /et", n).empty()); // never file names
}

TEST_CASE("known names are bounded") {
    KnownNames n;
    for (std::size_t i = 0; i < KnownNames::max_names + 10; ++i) n.add("u" + std::to_string(i));
    CHECK(n.all().size() == KnownNames::max_names);
}
