// Certificate fingerprints as users see and type them: SHA-256 over the
// certificate's DER encoding, written like ssh writes host keys
// ("SHA256:" + unpadded base64) and accepted in that form or as hex.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace confab::cli {

using Fingerprint = std::array<std::uint8_t, 32>;

// "SHA256:" followed by the 43 characters of unpadded base64.
std::string format_fingerprint(const Fingerprint& fp);
// Accepts an optional "SHA256:" prefix (any case), then either 64 hex digits
// (colons between byte pairs allowed, as `openssl x509 -fingerprint` prints
// them) or base64 (43 characters, or 44 ending in '=').
std::optional<Fingerprint> parse_fingerprint(std::string_view text);

} // namespace confab::cli
