// Changing the users file from the command line (confab-passwd, confabctl
// user): every edit takes an exclusive flock on `FILE.lock` in the same
// directory, reads the file, changes one entry, checks the result with the
// daemon's own parser, and replaces the file atomically (a temporary file in
// the same directory, fsync, rename, fsync of the directory). The old file's
// mode, owner and group are kept; a new file is 0640 with the daemon's group.
// The entry format itself lives in core/credentials, next to the parser.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace confab::admin {

// The group a new users file is given when it exists (packaging: sysusers, postinst).
inline constexpr const char* daemon_group = "_confab";

// Every failure, worded for the administrator; the file is then unchanged.
struct EditError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class SetMode : std::uint8_t {
    add,            // the user must not exist yet
    change,         // the user must exist
    add_or_replace, // either (confab-passwd)
};
enum class SetOutcome : std::uint8_t { added, replaced };

struct EditOptions {
    std::string new_file_group = daemon_group; // group of a file created by the edit, if that group exists
};

// Throws EditError for a name the protocol's rule refuses (before asking for a password).
void check_user_name(std::string_view name);
// The refusal for a password that cannot be set (empty, too long), or empty when it is fine.
std::string password_problem(std::string_view password);

// Sets `name`'s password as a fresh yescrypt hash. Throws EditError.
SetOutcome set_password(const std::string& path, std::string_view name, const std::string& password, SetMode mode,
                        const EditOptions& options = {});
// Removes `name`'s entry; an unknown name is an EditError.
void delete_user(const std::string& path, std::string_view name, const EditOptions& options = {});
// The names in the file, sorted, with whether each has a plaintext password. Throws EditError.
struct ListedUser {
    std::string name;
    bool plaintext;
};
std::vector<ListedUser> list_users(const std::string& path);

} // namespace confab::admin
