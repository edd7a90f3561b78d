// confabd: argument parsing, configuration, logging setup, exit status.
// Everything else lives in Server.
#include "config.hpp"
#include "core/credentials.hpp"
#include "log.hpp"
#include "server.hpp"
#include "signals.hpp"
#include "systemd_integration.hpp"

#include "confab_build_config.hpp"

#include <getopt.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <tuple>

namespace {

constexpr int exit_config = 78; // EX_CONFIG: systemd's RestartPreventExitStatus=78 stops the loop

void usage(std::FILE* out) {
    std::fputs("Usage: confabd [OPTION]... [PORT BLOCK_DURATION TIMEOUT]\n"
               "Run the confab chat daemon in the foreground.\n\n"
               "  -c, --config FILE      read settings from FILE (TOML); default: built-in defaults\n"
               "  -u, --users FILE       credentials file (overrides users_file)\n"
               "  -l, --listen ADDR      address to listen on (overrides listen)\n"
               "  -p, --port N           TCP port, 0 = any free port (overrides port)\n"
               "      --state-dir DIR    persistent state directory (overrides state_dir)\n"
               "      --block-duration N seconds a name stays locked after 3 wrong passwords\n"
               "      --timeout N        seconds without a command before a user is logged out\n"
               "      --set KEY=VALUE    override any configuration key\n"
               "      --log-level LEVEL  error, warning, info or debug\n"
               "      --check-config     validate the configuration, users file and TLS certificate\n"
               "                         and key, then exit\n"
               "  -h, --help             show this help\n"
               "  -V, --version          show the version\n\n"
               "Without --config the daemon listens on 127.0.0.1:7420 with demo users\n"
               "alice, bob, carol and dave (passwords alice123, bob123, ...).\n"
               "The positional form PORT BLOCK_DURATION TIMEOUT sets those three and, unless\n"
               "--config or --users is given, reads the users from ./credentials.txt\n"
               "(\"name password\" lines).\n"
               "Exit status: 0 after SIGTERM/SIGINT, 78 for a bad configuration, 1 otherwise.\n",
               out);
}

} // namespace

int main(int argc, char** argv) {
    using namespace confab;
    enum { opt_state_dir = 256, opt_log_level, opt_check, opt_set, opt_block_duration, opt_timeout };
    static const option long_opts[] = {
        {"config", required_argument, nullptr, 'c'},
        {"users", required_argument, nullptr, 'u'},
        {"listen", required_argument, nullptr, 'l'},
        {"port", required_argument, nullptr, 'p'},
        {"state-dir", required_argument, nullptr, opt_state_dir},
        {"block-duration", required_argument, nullptr, opt_block_duration},
        {"timeout", required_argument, nullptr, opt_timeout},
        {"log-level", required_argument, nullptr, opt_log_level},
        {"set", required_argument, nullptr, opt_set},
        {"check-config", no_argument, nullptr, opt_check},
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0},
    };
    ConfigSource source;
    bool check_only = false;
    bool users_given = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:u:l:p:hV", long_opts, nullptr)) != -1) {
        switch (opt) {
        case 'c': source.config_path = optarg; break;
        case 'u':
            source.overrides.emplace_back("users_file", optarg);
            users_given = true;
            break;
        case 'l': source.overrides.emplace_back("listen", optarg); break;
        case 'p': source.overrides.emplace_back("port", optarg); break;
        case opt_state_dir: source.overrides.emplace_back("state_dir", optarg); break;
        case opt_block_duration: source.overrides.emplace_back("block_duration", optarg); break;
        case opt_timeout: source.overrides.emplace_back("timeout", optarg); break;
        case opt_log_level: source.overrides.emplace_back("log_level", optarg); break;
        case opt_set: {
            std::string kv = optarg;
            auto eq = kv.find('=');
            if (eq == std::string::npos) {
                std::fprintf(stderr, "confabd: --set expects KEY=VALUE, got '%s'\n", optarg);
                return exit_config;
            }
            source.overrides.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
            break;
        }
        case opt_check: check_only = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': std::printf("confabd %s\n", CONFAB_VERSION); return 0;
        default: usage(stderr); return 1;
        }
    }
    // The classic invocation: confabd PORT BLOCK_DURATION TIMEOUT (values checked like the config keys).
    if (optind < argc) {
        if (argc - optind != 3) {
            std::fprintf(stderr, "confabd: expected PORT BLOCK_DURATION TIMEOUT, got %d argument(s)\n", argc - optind);
            usage(stderr);
            return 1;
        }
        source.overrides.emplace_back("port", argv[optind]);
        source.overrides.emplace_back("block_duration", argv[optind + 1]);
        source.overrides.emplace_back("timeout", argv[optind + 2]);
        if (!users_given && source.config_path.empty()) source.overrides.emplace_back("users_file", "credentials.txt");
    }

    log::set_journal_prefix(systemd::journal_stream_is_stderr());
    if (systemd::notify_socket_present() && !systemd::compiled_with_systemd())
        log::warning("NOTIFY_SOCKET is set but this confabd was built without systemd support");

    Config config;
    UsersFile users;
    std::unique_ptr<TlsContext> tls;
    try {
        std::tie(config, users) = load_settings(source);
        tls = load_tls(config); // before binding: a bad certificate or key is a configuration error
    } catch (const std::exception& e) {
        log::error("{}", e.what());
        return exit_config;
    }
    log::set_level(*log::parse_level(config.log_level));
    if (check_only) {
        if (users.users.empty())
            std::printf("configuration OK, but %s has no users yet: %s\n", config.users_file.c_str(),
                        add_first_user_hint);
        else if (tls)
            std::printf("configuration OK: %zu users, TLS certificate %s\n", users.users.size(),
                        tls->summary().c_str());
        else
            std::printf("configuration OK: %zu users\n", users.users.size());
        if (config.clustered())
            std::printf("cluster: engine redis, Redis %s%s%s, node id %s\n", config.cluster_redis.c_str(),
                        config.cluster_redis_user.empty() ? "" : (" as " + config.cluster_redis_user).c_str(),
                        config.cluster_redis_password.empty() ? "" : " with a password",
                        config.cluster_node_id.empty() ? "<host name>:<port>" : config.cluster_node_id.c_str());
        else
            std::printf("cluster: engine local (this daemon alone, state in %s)\n", config.state_dir.c_str());
        return 0;
    }

    // Signals are read from a signalfd in the loop; block them before any thread
    // exists so hash workers inherit the mask and never take them.
    const sigset_t set = handled_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    try {
        Server server(std::move(source), config, std::move(users), std::move(tls));
        log::info("confabd {} listening on {}:{}", CONFAB_VERSION, server.address(), server.port());
        return server.run();
    } catch (const StartupCancelled& s) {
        log::info("received {} while waiting for Redis: stopped", strsignal(s.signal));
        return 0;
    } catch (const ConfigError& e) {
        log::error("{}", e.what());
        return exit_config;
    } catch (const std::exception& e) {
        log::error("{}", e.what());
        return 1;
    }
}
