// Reading a new password for the users file, for confab-passwd and
// confabctl user: twice from the terminal (/dev/tty) with echo off, or one
// line from standard input for scripts. Never from the command line. The
// terminal's settings come back however the prompt ends, Ctrl-C included.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace confab::admin {

struct PasswordInputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class PasswordSource : std::uint8_t { terminal, standard_input };

// The password typed (twice, matching) or read; throws PasswordInputError.
std::string read_new_password(PasswordSource source);

} // namespace confab::admin
