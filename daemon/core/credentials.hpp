// The users file: who may log in and how their password is checked.
// Lines are `name password` (plaintext, accepted with a warning) or
// `name:HASH` with a crypt(3) string such as yescrypt `$y$...`.
// Parsing is pure; verification of hashes is slow and runs on hash workers.
#pragma once

#include "proto/names.hpp"

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace confab {

struct Credential {
    enum class Kind { plaintext, crypt_hash };
    Kind kind = Kind::crypt_hash;
    std::string secret; // the plaintext password or the crypt(3) string
};

using CredentialMap = std::map<std::string, Credential, std::less<>>;

struct UsersFile {
    CredentialMap users;
    std::size_t plaintext_entries = 0;
};

// Thrown with "FILE:LINE: reason" for the first malformed line.
struct UsersFileError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Names follow the protocol's rule, in the users file as on the wire.
using proto::is_valid_user_name;
UsersFile parse_users(std::string_view text, std::string_view origin);
UsersFile load_users_file(const std::string& path);
// `text` (a users file) with every entry for `name`, of either form, replaced
// by one `name:HASH` line where the first was, or that line appended.
// Everything else is kept as it was, each line ending in a newline.
std::string with_user_entry(std::string_view text, std::string_view name, std::string_view hash);
// `text` without any entry for `name`; everything else kept as it was.
std::string without_user_entry(std::string_view text, std::string_view name);
// Whether `text` has an entry for `name`, of either form (even if other lines are malformed).
bool has_user_entry(std::string_view text, std::string_view name);
// Demo accounts of the embedded default configuration.
UsersFile demo_users();

// Constant-time comparison for plaintext entries (fast: runs inline).
bool plaintext_matches(std::string_view expected, std::string_view given) noexcept;
// crypt(3) check (slow: milliseconds). Thread-safe; allocates its own crypt_data.
bool crypt_matches(const std::string& hash, const std::string& password);
// A valid-looking hash that matches nothing, verified for unknown names so a
// failed login costs the same time whether or not the name exists.
const std::string& decoy_hash();
// Fresh yescrypt hash of `password` (used by confab-passwd).
std::string make_hash(const std::string& password);

} // namespace confab
