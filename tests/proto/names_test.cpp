// The user-name rule of PROTOCOL.md §9, which the daemon and the client both apply.
#include "proto/names.hpp"

#include <doctest/doctest.h>

#include <string>

using confab::proto::is_ip_literal;
using confab::proto::is_valid_user_name;

TEST_CASE("names of 1 to 32 letters, digits, '_', '.' and '-' are valid") {
    CHECK(is_valid_user_name("a"));
    CHECK(is_valid_user_name("alice"));
    CHECK(is_valid_user_name("Alice_Smith-2.0"));
    CHECK(is_valid_user_name(std::string(32, 'x')));
}

TEST_CASE("empty, too long, and names with any other byte are invalid") {
    CHECK_FALSE(is_valid_user_name(""));
    CHECK_FALSE(is_valid_user_name(std::string(33, 'x')));
    CHECK_FALSE(is_valid_user_name("a b"));
    CHECK_FALSE(is_valid_user_name("bob!"));
    CHECK_FALSE(is_valid_user_name("a/b"));
    CHECK_FALSE(is_valid_user_name("a:b"));
    CHECK_FALSE(is_valid_user_name("bøb"));
    CHECK_FALSE(is_valid_user_name(std::string("a\0b", 3)));
}

TEST_CASE("listener hosts: IPv4 and IPv6 literals, never names") {
    CHECK(is_ip_literal("127.0.0.1"));
    CHECK(is_ip_literal("2001:db8::7"));
    CHECK(is_ip_literal("::1"));
    CHECK_FALSE(is_ip_literal("localhost"));
    CHECK_FALSE(is_ip_literal("chat.example"));
    CHECK_FALSE(is_ip_literal("127.1"));
    CHECK_FALSE(is_ip_literal("[::1]"));
    CHECK_FALSE(is_ip_literal(""));
    CHECK_FALSE(is_ip_literal(std::string("127.0.0.1\0x", 11)));
}
