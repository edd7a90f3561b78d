// The private-chat key derivation of proto/PROTOCOL.md §8, against the
// worked example given there.
#include "cli/private_tls.hpp"

#include <doctest/doctest.h>

#include <string>

using confab::cli::derive_private_keys;

namespace {
std::string hex(const std::array<std::uint8_t, 32>& bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (auto b : bytes) out += {digits[b >> 4], digits[b & 15]};
    return out;
}
} // namespace

TEST_CASE("the PSK and its identity for token 00 01 .. 0f are those of PROTOCOL.md") {
    confab::proto::Token token{};
    for (std::size_t i = 0; i < token.size(); ++i) token[i] = std::uint8_t(i);
    auto keys = derive_private_keys(token);
    CHECK(hex(keys.psk) == "c66d10934909d6771148fc66a0c1bfccfa959c508a25a0db97fc94a4af3417e2");
    CHECK(keys.identity == "8b0ee242d03bc1c31f73dde1c2976756");
}

TEST_CASE("a one-bit change of the token changes both the PSK and the identity") {
    confab::proto::Token a{}, b{};
    b[15] = 1;
    auto ka = derive_private_keys(a), kb = derive_private_keys(b);
    CHECK(ka.psk != kb.psk);
    CHECK(ka.identity != kb.identity);
    CHECK(ka.identity.size() == 32);
}
