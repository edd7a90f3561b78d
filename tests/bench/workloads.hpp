// The workloads. Each runs against `target`, bounded by its deadline,
// and returns one Report (failed if messages were lost, a session dropped,
// the daemon died or the deadline passed).
#pragma once

#include "crew.hpp"
#include "daemon_proc.hpp"
#include "options.hpp"
#include "report.hpp"
#include "target.hpp"

#include <mutex>
#include <string>

namespace confab::bench {

// Users the daemon needs for a workload (when the bench starts it).
DaemonSetup setup_for(const std::string& workload, const Options& opts);

Report run_direct(const Options& opts, Target& target);
Report run_fanout(const Options& opts, Target& target);
Report run_idle(const Options& opts, Target& target);
Report run_login(const Options& opts, Target& target);
Report run_store(const Options& opts, Target& target);
// hostile-<attack>: `attack` is one of attack_names() (attacks.hpp).
Report run_hostile(const std::string& attack, const Options& opts, Target& target);
DaemonSetup hostile_setup(const Options& opts);

double deadline_seconds(const Options& opts, double derived);

// On a cluster: await_presence (session.hpp) for plain users 0..online-1, failing the crew if it gives up.
void settle_presence(Loop& loop, const Servers& servers, const std::vector<Conn*>& conns, std::int64_t online,
                     Clock deadline, Crew& crew);

} // namespace confab::bench
