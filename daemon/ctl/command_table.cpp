// Every confabctl subcommand, in the order the usage text lists them. A new
// family of commands (e.g. `user ...`) adds its rows here.
#include "command.hpp"
#include "daemon_commands.hpp"
#include "user_commands.hpp"

namespace confab::ctl {

namespace {
const Command table[] = {
    {"status", "status", "version, uptime, users online, traffic, store and memory", run_status},
    {"who", "who", "online users: address, login time, idle time, private chats", run_who},
    {"kick", "kick NAME [REASON]", "end NAME's session, telling them REASON", run_kick},
    {"lock", "lock NAME [SECONDS]", "lock NAME out (until unlocked, or for SECONDS); ends its session", run_lock},
    {"unlock", "unlock NAME", "lift an administrative lock or a lockout after wrong passwords", run_unlock},
    {"reload", "reload", "re-read the configuration, users file and certificate", run_reload},
    {"wall", "wall TEXT", "an announcement every online user sees", run_wall},
    {"metrics", "metrics", "the metrics in the Prometheus text format", run_metrics},
    {"user", "user add|passwd|del NAME [--stdin] | user list",
     "edit the users file (also without a daemon), then reload", run_user},
};
} // namespace

std::span<const Command> commands() {
    return table;
}

const Command* find_command(std::string_view name) {
    for (const Command& c : table)
        if (c.name == name) return &c;
    return nullptr;
}

} // namespace confab::ctl
