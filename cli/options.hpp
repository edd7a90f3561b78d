// The confab command line (GNU getopt_long), parsed without side effects
// beyond getopt's own diagnostics on stderr.
#pragma once

#include "cli/fingerprint.hpp"
#include "cli/line_style.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace confab::cli {

inline constexpr std::uint16_t default_port = 7420;

struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = default_port;
    std::optional<std::string> user;
    std::optional<std::string> password_file;
    std::optional<std::string> private_host; // an IP literal: peers connect without a name lookup
    // An invitation to a private chat nobody used within this is forgotten.
    std::chrono::seconds invite_timeout{60};
    std::optional<bool> tls; // --tls / --no-tls; unset: by the host (uses_tls)
    std::optional<std::string> ca_file;
    std::optional<Fingerprint> fingerprint;

    // ---- how lines look on a terminal (scripted mode never styles them)
    ColorMode color = ColorMode::auto_detect;
    bool timestamps = true;
};

// Loopback hosts (localhost, 127.0.0.0/8, ::1) talk in the clear unless told
// otherwise; every other host, and --ca or --fingerprint, means TLS.
bool is_loopback_host(std::string_view host);
bool uses_tls(const Options& options);

struct ParsedOptions {
    enum class Action { run, help, version, usage_error };
    Action action = Action::run;
    Options options;
    std::string error; // usage_error: what was wrong, empty if getopt already said so
};

// `defaults` (e.g. from the config file) are what the flags start from.
ParsedOptions parse_options(int argc, char* const argv[], Options defaults = {});

std::string help_text();
// The lines printed on stderr after a usage error.
std::string_view short_usage() noexcept;

} // namespace confab::cli
