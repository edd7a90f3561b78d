// Fingerprints as printed (ssh style) and as accepted (ssh style or hex).
#include "cli/fingerprint.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace confab::cli;

namespace {
// SHA-256 of the empty string: a value everyone can check with sha256sum.
const std::string empty_hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string empty_b64 = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";

std::string with_colons(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) out += (i ? ":" : "") + hex.substr(i, 2);
    return out;
}
} // namespace

TEST_CASE("printed like ssh: SHA256: and unpadded base64") {
    auto fp = parse_fingerprint(empty_hex);
    REQUIRE(fp);
    CHECK(format_fingerprint(*fp) == empty_b64);
    Fingerprint zeros{};
    CHECK(format_fingerprint(zeros) == "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
}

TEST_CASE("accepted as base64 or hex, with or without the prefix") {
    auto expected = parse_fingerprint(empty_hex);
    REQUIRE(expected);
    for (std::string text : {empty_b64, empty_b64.substr(7), empty_b64 + "=", "sha256:" + empty_b64.substr(7),
                             "SHA256:" + empty_hex, with_colons(empty_hex), "SHA256:" + with_colons(empty_hex)}) {
        CAPTURE(text);
        auto fp = parse_fingerprint(text);
        REQUIRE(fp);
        CHECK(*fp == *expected);
    }
    std::string upper = empty_hex;
    for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
    CHECK(parse_fingerprint(upper) == expected);
}

TEST_CASE("anything else is refused") {
    for (std::string text : {std::string(), std::string("SHA256:"), empty_hex.substr(1), empty_hex + "0",
                             empty_b64.substr(0, empty_b64.size() - 1), empty_b64 + "A", "MD5:" + empty_hex,
                             empty_hex.substr(0, 63) + "g", empty_b64.substr(0, 20) + "*" + empty_b64.substr(21),
                             ":" + with_colons(empty_hex).substr(1), with_colons(empty_hex).replace(2, 1, "-")}) {
        CAPTURE(text);
        CHECK_FALSE(parse_fingerprint(text));
    }
    // 43 base64 digits carry 258 bits: the last 2 must be zero (a canonical encoding).
    std::string sloppy = empty_b64;
    sloppy.back() = 'V';
    CHECK_FALSE(parse_fingerprint(sloppy));
}
