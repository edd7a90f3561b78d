// The known-hosts file: server certificates the user chose to trust
// without a CA, one per host:port, so a later change can be noticed.
// Format: one entry per line, "HOST:PORT SHA256:<base64>" (HOST in
// brackets when it is an IPv6 literal); blank lines and lines starting
// with '#' are ignored, and so are lines that do not parse.
#pragma once

#include "cli/fingerprint.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace confab::cli {

// $XDG_DATA_HOME/confab/known_hosts, else ~/.local/share/confab/known_hosts;
// empty if neither XDG_DATA_HOME nor HOME is set.
std::string known_hosts_path();

struct KnownHostMatch {
    enum class Kind { unknown, same, changed };
    Kind kind = Kind::unknown;
    int line = 0; // same/changed: the (1-based) line of the entry for the key
};
// What `content` (a known-hosts file) says about `fp` for `key` ("host:port").
KnownHostMatch find_known_host(std::string_view content, std::string_view key, const Fingerprint& fp);

// The file's content ("" if it does not exist), or nullopt with `error` set.
std::optional<std::string> read_known_hosts(const std::string& path, std::string& error);
// Appends an entry, creating the directory (mode 0700) and the file (0600)
// as needed; an error sentence on failure.
std::optional<std::string> add_known_host(const std::string& path, std::string_view key, const Fingerprint& fp);
std::string known_host_line(std::string_view key, const Fingerprint& fp);

} // namespace confab::cli
