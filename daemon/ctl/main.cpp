// confabctl: controls a running confabd through its control socket.
//   confabctl [--socket PATH | --config FILE] [--json] COMMAND [ARG...]
// Exit statuses: command.hpp (and confabctl(8)).
#include "command.hpp"

#include "config.hpp"

#include "confab_build_config.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace confab::ctl;

namespace {

constexpr const char* packaged_socket = "/run/confab/control.sock";

std::string usage() {
    std::string u = "usage: confabctl [--socket PATH | --config FILE] [--users-file FILE] [--json] COMMAND "
                    "[ARG...]\n\ncommands:\n";
    for (const Command& c : commands()) u += fmt::format("  {:<22} {}\n", c.synopsis, c.summary);
    u += fmt::format("\nThe socket is {} unless --socket names one or --config names the daemon's configuration;\n"
                     "user commands edit the users file that configuration names ({}/confab/confabd.toml by\n"
                     "default) or --users-file.\n"
                     "Exit status: 0 done, 1 refused, 2 usage, 3 daemon not reachable, 4 permission denied.\n",
                     packaged_socket, CONFAB_SYSCONFDIR);
    return u;
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "confabctl: %s\n%s", message.c_str(), usage().c_str());
    return exit_usage;
}

} // namespace

int main(int argc, char** argv) {
    Context ctx;
    std::string socket;
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* flag) -> std::optional<std::string> {
            if (a.starts_with(std::string(flag) + "=")) return a.substr(std::strlen(flag) + 1);
            if (a != flag) return std::nullopt;
            if (i + 1 >= argc) return std::string();
            return std::string(argv[++i]);
        };
        if (a == "--help" || a == "-h") {
            std::fputs(usage().c_str(), stdout);
            return exit_ok;
        }
        if (a == "--version") {
            std::printf("confabctl %s\n", CONFAB_VERSION);
            return exit_ok;
        }
        if (a == "--json") {
            ctx.json = true;
        } else if (auto v = value("--socket")) {
            if (v->empty()) return usage_error("--socket needs a PATH");
            socket = *v;
        } else if (auto f = value("--users-file")) {
            if (f->empty()) return usage_error("--users-file needs a FILE");
            ctx.users_file = *f;
        } else if (auto c = value("--config")) {
            if (c->empty()) return usage_error("--config needs a FILE");
            ctx.config_path = *c;
        } else if (a.starts_with("-")) {
            return usage_error(fmt::format("unknown option '{}'", a));
        } else {
            break;
        }
    }
    if (i >= argc) return usage_error("no command given");
    const Command* command = find_command(argv[i]);
    if (!command) return usage_error(fmt::format("unknown command '{}'", argv[i]));
    ctx.args.assign(argv + i + 1, argv + argc);

    try {
        if (!socket.empty())
            ctx.socket_path = socket;
        else if (!ctx.config_path.empty())
            ctx.socket_path = confab::parse_config(ctx.config_path).control_socket_path();
        else
            ctx.socket_path = packaged_socket;
        return command->run(ctx);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "confabctl %s: %s\nusage: confabctl [OPTIONS] %s\n", std::string(command->name).c_str(),
                     e.what(), std::string(command->synopsis).c_str());
        return exit_usage;
    } catch (const ControlError& e) {
        std::fprintf(stderr, "confabctl: %s\n", e.what());
        return e.kind == ControlError::Kind::permission_denied ? exit_denied : exit_unreachable;
    } catch (const confab::ConfigError& e) {
        std::fprintf(stderr, "confabctl: %s\n", e.what());
        return exit_usage;
    }
}
