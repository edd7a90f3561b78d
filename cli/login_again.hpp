// After a session the server ended (timeout, kick, lost connection), an
// interactive user is asked whether to log in again: Enter says yes; Ctrl-D,
// Ctrl-C or a termination signal say no.
#pragma once

#include "cli/terminal.hpp"

namespace confab::cli {

bool ask_to_log_in_again(Terminal& terminal);

} // namespace confab::cli
