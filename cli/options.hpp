// The confab command line (GNU getopt_long), parsed without side effects
// beyond getopt's own diagnostics on stderr.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace confab::cli {

inline constexpr std::uint16_t default_port = 7420;

struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = default_port;
    std::optional<std::string> user;
    std::optional<std::string> password_file;
    std::optional<std::string> private_host;
};

struct ParsedOptions {
    enum class Action { run, help, version, usage_error };
    Action action = Action::run;
    Options options;
    std::string error; // usage_error: what was wrong, empty if getopt already said so
};

ParsedOptions parse_options(int argc, char* const argv[]);

std::string help_text();
// The two lines printed on stderr after a usage error.
std::string_view short_usage() noexcept;

} // namespace confab::cli
