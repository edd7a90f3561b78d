#include "cli/options.hpp"

#include "cli/command_parser.hpp"
#include "proto/limits.hpp"
#include "proto/names.hpp"

#include <fmt/format.h>

#include <getopt.h>

namespace confab::cli {
namespace {

// Long-only options get values outside the char range.
enum : int { opt_password_file = 256, opt_private_host };

std::optional<std::uint16_t> parse_port(std::string_view s) {
    if (s.empty() || s.size() > 5) return std::nullopt;
    unsigned value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + unsigned(c - '0');
    }
    if (value == 0 || value > 65535) return std::nullopt;
    return std::uint16_t(value);
}

ParsedOptions usage_error(std::string message) {
    ParsedOptions r;
    r.action = ParsedOptions::Action::usage_error;
    r.error = std::move(message);
    return r;
}

} // namespace

ParsedOptions parse_options(int argc, char* const argv[]) {
    static const option long_options[] = {
        {"host", required_argument, nullptr, 'H'},
        {"port", required_argument, nullptr, 'p'},
        {"user", required_argument, nullptr, 'u'},
        {"password-file", required_argument, nullptr, opt_password_file},
        {"private-host", required_argument, nullptr, opt_private_host},
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0},
    };
    ParsedOptions r;
    optind = 0; // GNU: 0 fully re-initialises getopt, so parsing can run more than once
    int c;
    while ((c = getopt_long(argc, argv, "H:p:u:hV", long_options, nullptr)) != -1) {
        std::string_view arg = optarg ? optarg : "";
        switch (c) {
        case 'H':
            if (arg.empty()) return usage_error("the host must not be empty");
            r.options.host = arg;
            break;
        case 'p':
            if (auto port = parse_port(arg))
                r.options.port = *port;
            else
                return usage_error(fmt::format("invalid port '{}' (1-65535)", arg));
            break;
        case 'u':
            if (!proto::is_valid_user_name(arg))
                return usage_error(fmt::format("invalid user name '{}' ({})", arg, proto::user_name_rule));
            r.options.user = arg;
            break;
        case opt_password_file:
            if (arg.empty()) return usage_error("the password file name must not be empty");
            r.options.password_file = arg;
            break;
        case opt_private_host:
            if (arg.empty() || arg.size() > proto::max_host_length)
                return usage_error(fmt::format("invalid private host '{}'", arg));
            r.options.private_host = arg;
            break;
        case 'h': r.action = ParsedOptions::Action::help; return r;
        case 'V': r.action = ParsedOptions::Action::version; return r;
        default: return usage_error({}); // getopt has described the problem
        }
    }
    if (optind < argc) return usage_error(fmt::format("unexpected argument '{}'", argv[optind]));
    return r;
}

std::string help_text() {
    std::string text = "Usage: confab [OPTION]...\n"
                       "Terminal client for the confab instant-messaging server.\n"
                       "\n"
                       "  -H, --host HOST           server address (default 127.0.0.1)\n"
                       "  -p, --port PORT           server port (default 7420)\n"
                       "  -u, --user NAME           log in as NAME instead of asking for it\n"
                       "      --password-file FILE  read the password from the first line of FILE\n"
                       "      --private-host ADDR   address to accept private chats on and to announce\n"
                       "                            to peers (default: the address used to reach the\n"
                       "                            server)\n"
                       "  -h, --help                show this help and exit\n"
                       "  -V, --version             show the version and exit\n"
                       "\n"
                       "When standard input is not a terminal, confab reads the user name and the\n"
                       "password from its first lines (unless given by options), then one command\n"
                       "per line, and logs out at the end of the input.\n"
                       "\n"
                       "Commands:\n";
    std::string_view commands = command_help();
    while (!commands.empty()) { // indent each command line
        auto end = commands.find('\n');
        text += "  ";
        text += commands.substr(0, end + 1);
        commands.remove_prefix(end + 1);
    }
    text += "\n"
            "Exit status: 0 after logout, 1 on a connection or usage error, 2 if the\n"
            "login is refused, 3 if the server ends the session.\n";
    return text;
}

std::string_view short_usage() noexcept {
    return "Usage: confab [-H HOST] [-p PORT] [-u NAME] [--password-file FILE] "
           "[--private-host ADDR]\n"
           "Try 'confab --help' for more information.\n";
}

} // namespace confab::cli
