// Users file parsing and password checks.
#include "core/credentials.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace confab;

namespace {
std::string error_of(const std::string& text) {
    try {
        parse_users(text, "users.txt");
    } catch (const UsersFileError& e) { return e.what(); }
    return {};
}
bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}
const std::string sample_hash = "$y$j9T$abcdefghijklmnopqrstu.$0123456789abcdefghijklmnopqrstuvwxyzABCD";
} // namespace

TEST_CASE("plaintext and hash lines") {
    auto f = parse_users("alice secret\nbob:" + sample_hash + "\n", "u");
    REQUIRE(f.users.size() == 2);
    CHECK(f.plaintext_entries == 1);
    CHECK(f.users.at("alice").kind == Credential::Kind::plaintext);
    CHECK(f.users.at("alice").secret == "secret");
    CHECK(f.users.at("bob").kind == Credential::Kind::crypt_hash);
    CHECK(f.users.at("bob").secret == sample_hash);
}

TEST_CASE("comments, blank lines, surrounding whitespace, CRLF and a missing final newline") {
    auto f = parse_users("# users\n\n   \n  alice\tsecret  \r\n# bob nope\ncarol   pw\ndave:" + sample_hash, "u");
    CHECK(f.users.size() == 3);
    CHECK(f.users.at("alice").secret == "secret");
    CHECK(f.users.at("carol").secret == "pw");
    CHECK(f.users.at("dave").secret == sample_hash);
    CHECK(f.users.count("bob") == 0);
    CHECK(f.plaintext_entries == 2);
    CHECK(parse_users("", "u").users.empty());
}

TEST_CASE("a colon after the first space belongs to a plaintext password") {
    auto f = parse_users("alice pa:ss\n", "u");
    CHECK(f.users.at("alice").kind == Credential::Kind::plaintext);
    CHECK(f.users.at("alice").secret == "pa:ss");
}

TEST_CASE("malformed lines report origin:LINE:") {
    CHECK(contains(error_of("alice a\n\njustaname\n"), "users.txt:3:"));
    CHECK(contains(error_of("# c\nalice pass word\n"), "users.txt:2:"));
    CHECK(contains(error_of("bob:nothash\n"), "users.txt:1:"));
    CHECK(contains(error_of("bob:\n"), "users.txt:1:"));
    CHECK(contains(error_of("bob:$y$abc def\n"), "users.txt:1:"));
}

TEST_CASE("a user listed twice is an error on the second line") {
    auto e = error_of("alice a\nbob b\nalice c\n");
    CHECK(contains(e, "users.txt:3:"));
    CHECK(contains(e, "alice"));
    CHECK_FALSE(error_of("alice a\nalice:" + sample_hash + "\n").empty());
}

TEST_CASE("invalid user names are refused") {
    auto e = error_of("al/ice pw\n");
    CHECK(contains(e, "users.txt:1:"));
    CHECK(contains(e, "al/ice"));
    CHECK_FALSE(error_of(std::string(33, 'a') + " pw\n").empty());
    CHECK(error_of(std::string(32, 'a') + " pw\n").empty());
    CHECK(error_of("A.b_c-9 pw\n").empty());
    CHECK_FALSE(error_of(":" + sample_hash + "\n").empty());
}

TEST_CASE("load_users_file: missing file is a UsersFileError") {
    CHECK_THROWS_AS(load_users_file("/nonexistent/users"), UsersFileError);
}

TEST_CASE("demo users log in with <name>123") {
    auto f = demo_users();
    CHECK(f.users.size() == 4);
    CHECK(plaintext_matches(f.users.at("carol").secret, "carol123"));
}

TEST_CASE("crypt_matches with make_hash") {
    std::string h = make_hash("correct horse");
    CHECK(h.rfind("$y$", 0) == 0);
    CHECK(crypt_matches(h, "correct horse"));
    CHECK_FALSE(crypt_matches(h, "correct horsf"));
    CHECK_FALSE(crypt_matches(h, ""));
    CHECK(make_hash("correct horse") != h); // fresh salt each time
    CHECK_FALSE(crypt_matches("not a hash", "x"));
    CHECK_FALSE(crypt_matches("", ""));
    // A hash from make_hash parses as a users file entry and verifies.
    auto f = parse_users("erin:" + h + "\n", "u");
    CHECK(crypt_matches(f.users.at("erin").secret, "correct horse"));
    CHECK_FALSE(crypt_matches(decoy_hash(), ""));
    CHECK_FALSE(crypt_matches(decoy_hash(), "correct horse"));
}

TEST_CASE("plaintext_matches") {
    CHECK(plaintext_matches("secret", "secret"));
    CHECK(plaintext_matches("", ""));
    CHECK_FALSE(plaintext_matches("secret", "secreT"));
    CHECK_FALSE(plaintext_matches("secret", "secret2"));
    CHECK_FALSE(plaintext_matches("secret", "secre"));
    CHECK_FALSE(plaintext_matches("secret", ""));
    CHECK_FALSE(plaintext_matches(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
    CHECK_FALSE(plaintext_matches(std::string_view("ab\0", 3), "ab")); // trailing NUL is not padding
}

TEST_CASE("with_user_entry replaces the user's entry of either form in place and keeps every other line") {
    const std::string before = "# users\nalice alice123\n  bob:$y$old\n\nbobby bobby1\n#bob:$y$commented\n";
    CHECK(with_user_entry(before, "bob", "$y$new") ==
          "# users\nalice alice123\nbob:$y$new\n\nbobby bobby1\n#bob:$y$commented\n");
    CHECK(with_user_entry(before, "alice", "$y$new") ==
          "# users\nalice:$y$new\n  bob:$y$old\n\nbobby bobby1\n#bob:$y$commented\n");
    // The result is a users file the parser reads back with the new hash.
    auto users = parse_users(with_user_entry(before, "bob", "$y$new"), "t");
    CHECK(users.users.at("bob").secret == "$y$new");
    CHECK(users.users.at("alice").secret == "alice123");
}

TEST_CASE("with_user_entry appends a new user, ends the last line, and folds duplicates into one") {
    CHECK(with_user_entry("", "carol", "$y$h") == "carol:$y$h\n");
    CHECK(with_user_entry("alice alice123", "carol", "$y$h") == "alice alice123\ncarol:$y$h\n");
    CHECK(with_user_entry("dave:$y$1\nx y\ndave d2\n", "dave", "$y$h") == "dave:$y$h\nx y\n");
}

TEST_CASE("without_user_entry drops every entry for the user and keeps comments and other users") {
    const std::string before = "# users\nalice alice123\n  bob:$y$old\nbobby bobby1\n#bob:$y$commented\nbob b2\n";
    CHECK(without_user_entry(before, "bob") == "# users\nalice alice123\nbobby bobby1\n#bob:$y$commented\n");
    CHECK(without_user_entry(before, "nobody") == before);
    CHECK(without_user_entry("carol:$y$h", "carol").empty());
}

TEST_CASE("has_user_entry sees either form, not comments or longer names") {
    const std::string text = "# bob:$y$x\nalice alice123\nbobby:$y$h\n";
    CHECK(has_user_entry(text, "alice"));
    CHECK(has_user_entry(text, "bobby"));
    CHECK_FALSE(has_user_entry(text, "bob"));
    CHECK_FALSE(has_user_entry("", "bob"));
}
