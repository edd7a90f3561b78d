#include "cli/options.hpp"

#include "cli/command_parser.hpp"
#include "proto/limits.hpp"
#include "proto/names.hpp"
#include "proto/parse_number.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>

namespace confab::cli {
namespace {

// Long-only options get values outside the char range.
enum : int {
    opt_password_file = 256,
    opt_private_host,
    opt_invite_timeout,
    opt_tls,
    opt_no_tls,
    opt_ca,
    opt_fingerprint
};
// Display options.
enum : int { opt_color = 320, opt_no_timestamps };

std::optional<std::uint16_t> parse_port(std::string_view s) {
    auto port = parse_number<std::uint16_t>(s);
    if (port == 0) return std::nullopt;
    return port;
}

ParsedOptions usage_error(std::string message) {
    ParsedOptions r;
    r.action = ParsedOptions::Action::usage_error;
    r.error = std::move(message);
    return r;
}

} // namespace

ParsedOptions parse_options(int argc, char* const argv[], Options defaults) {
    static const option long_options[] = {
        {"host", required_argument, nullptr, 'H'},
        {"port", required_argument, nullptr, 'p'},
        {"user", required_argument, nullptr, 'u'},
        {"password-file", required_argument, nullptr, opt_password_file},
        {"private-host", required_argument, nullptr, opt_private_host},
        {"invite-timeout", required_argument, nullptr, opt_invite_timeout},
        {"tls", no_argument, nullptr, opt_tls},
        {"no-tls", no_argument, nullptr, opt_no_tls},
        {"ca", required_argument, nullptr, opt_ca},
        {"fingerprint", required_argument, nullptr, opt_fingerprint},
        // display
        {"color", required_argument, nullptr, opt_color},
        {"colour", required_argument, nullptr, opt_color},
        {"no-timestamps", no_argument, nullptr, opt_no_timestamps},
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0},
    };
    ParsedOptions r;
    r.options = std::move(defaults);
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
            if (!proto::is_ip_literal(arg))
                return usage_error(fmt::format("invalid private host '{}': an IP address is needed (e.g. 192.0.2.7 "
                                               "or 2001:db8::7), peers connect to it without a name lookup",
                                               arg));
            r.options.private_host = arg;
            break;
        case opt_invite_timeout:
            if (auto s = parse_number<std::uint32_t>(arg); s && *s >= 1 && *s <= 3600)
                r.options.invite_timeout = std::chrono::seconds(*s);
            else
                return usage_error(fmt::format("invalid invite timeout '{}' (1-3600 seconds)", arg));
            break;
        case opt_tls: r.options.tls = true; break;
        case opt_no_tls: r.options.tls = false; break;
        case opt_ca:
            if (arg.empty()) return usage_error("the CA file name must not be empty");
            r.options.ca_file = arg;
            break;
        case opt_fingerprint:
            r.options.fingerprint = parse_fingerprint(arg);
            if (!r.options.fingerprint)
                return usage_error(
                    fmt::format("invalid fingerprint '{}' (SHA256: and 64 hex digits or 43 base64 characters)", arg));
            break;
        // display
        case opt_color:
            if (arg == "auto")
                r.options.color = ColorMode::auto_detect;
            else if (arg == "always")
                r.options.color = ColorMode::always;
            else if (arg == "never")
                r.options.color = ColorMode::never;
            else
                return usage_error(fmt::format("invalid colour mode '{}' (auto, always or never)", arg));
            break;
        case opt_no_timestamps: r.options.timestamps = false; break;
        case 'h': r.action = ParsedOptions::Action::help; return r;
        case 'V': r.action = ParsedOptions::Action::version; return r;
        default: return usage_error({}); // getopt has described the problem
        }
    }
    // `confab HOST PORT`, the classic form, besides --host and --port.
    if (optind < argc) {
        std::string_view host = argv[optind++];
        if (host.empty()) return usage_error("the host must not be empty");
        r.options.host = host;
    }
    if (optind < argc) {
        std::string_view arg = argv[optind++];
        if (auto port = parse_port(arg))
            r.options.port = *port;
        else
            return usage_error(fmt::format("invalid port '{}' (1-65535)", arg));
    }
    if (optind < argc) return usage_error(fmt::format("unexpected argument '{}'", argv[optind]));
    if (r.options.tls == false && (r.options.ca_file || r.options.fingerprint))
        return usage_error("--ca and --fingerprint need TLS; they cannot go with --no-tls");
    return r;
}

bool is_loopback_host(std::string_view host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    std::string name(host);
    for (char& c : name) c = char(c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (name == "localhost" || name == "localhost.") return true;
    in_addr v4{};
    if (::inet_pton(AF_INET, name.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (::inet_pton(AF_INET6, name.c_str(), &v6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
        return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127; // ::ffff:127.x.y.z
    }
    return false;
}

bool uses_tls(const Options& options) {
    if (options.tls) return *options.tls;
    return options.ca_file || options.fingerprint || !is_loopback_host(options.host);
}

std::string help_text() {
    std::string text = "Usage: confab [OPTION]... [HOST [PORT]]\n"
                       "Terminal client for the confab instant-messaging server.\n"
                       "\n"
                       "  -H, --host HOST           server address (default 127.0.0.1)\n"
                       "  -p, --port PORT           server port (default 7420)\n"
                       "  -u, --user NAME           log in as NAME instead of asking for it\n"
                       "      --password-file FILE  read the password from the first line of FILE\n"
                       "      --private-host ADDR   address to accept private chats on and to announce\n"
                       "                            to peers (default: the address used to reach the\n"
                       "                            server); an IP address, never a name\n"
                       "      --invite-timeout SECS an unused private-chat invitation expires after\n"
                       "                            SECS seconds (default 60)\n"
                       "      --tls                 use TLS even to a loopback host\n"
                       "      --no-tls              talk to the server in the clear\n"
                       "                            (default: TLS except to localhost, 127.0.0.0/8, ::1)\n"
                       "      --ca FILE             trust the CA certificates in FILE instead of the\n"
                       "                            system's (implies --tls)\n"
                       "      --fingerprint SHA256:FP  accept exactly the server certificate with this\n"
                       "                            SHA-256 fingerprint (base64 or hex; implies --tls)\n"
                       "      --color=WHEN          colour names, errors and notices: auto (on a\n"
                       "                            terminal, unless NO_COLOR is set), always, never\n"
                       "      --no-timestamps       no HH:MM before incoming lines\n"
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
            "login is refused, 3 if the server ends the session.\n"
            "\n"
            "A server certificate that neither the trusted CAs nor --fingerprint vouch\n"
            "for is shown with its fingerprint; on a terminal confab asks whether to\n"
            "trust it and remembers the answer in $XDG_DATA_HOME/confab/known_hosts\n"
            "(default ~/.local/share/confab/known_hosts). Scripted, it is refused.\n";
    return text;
}

std::string_view short_usage() noexcept {
    return "Usage: confab [-H HOST] [-p PORT] [-u NAME] [--password-file FILE] "
           "[--private-host ADDR] [--invite-timeout SECS] [--color=WHEN] [--no-timestamps]\n"
           "       [--tls|--no-tls] [--ca FILE] [--fingerprint SHA256:FP] [HOST [PORT]]\n"
           "Try 'confab --help' for more information.\n";
}

} // namespace confab::cli
