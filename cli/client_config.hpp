// The client's config file, $XDG_CONFIG_HOME/confab/confab.toml (default
// ~/.config/confab/confab.toml): defaults for the command line, which
// overrides them. Also where the command history is kept. Pure apart from
// reading the file, so every key is unit-tested.
#pragma once

#include "cli/options.hpp"

#include <optional>
#include <string>

namespace confab::cli {

// The config file's path from XDG_CONFIG_HOME and HOME; empty if neither is set.
std::string config_file_path(const char* xdg_config_home, const char* home);
// The history file's path ($XDG_STATE_HOME/confab/history, default
// ~/.local/state/confab/history); empty if neither is set.
std::string history_file_path(const char* xdg_state_home, const char* home);

// Applies the keys in `text` (TOML) to `options`: host, port, user, tls, ca,
// fingerprint, color, timestamps. On error, says where (origin:line) and what.
std::optional<std::string> apply_config_text(const std::string& text, const std::string& origin, Options& options);
// The same for the file at `path`; a file that does not exist changes nothing.
std::optional<std::string> apply_config_file(const std::string& path, Options& options);

} // namespace confab::cli
