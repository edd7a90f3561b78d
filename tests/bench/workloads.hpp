// The workloads. Each runs against `target`, bounded by its deadline,
// and returns one Report (failed if messages were lost, a session dropped,
// the daemon died or the deadline passed).
#pragma once

#include "daemon_proc.hpp"
#include "options.hpp"
#include "report.hpp"

#include <atomic>
#include <barrier>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

// Worker threads that meet the main thread at phase boundaries: main waits
// at each sync() for all workers, samples /proc, and releases them.
class Crew {
public:
    explicit Crew(int workers) : barrier_(workers + 1) {}
    void sync() { barrier_.arrive_and_wait(); }
    template <class Fn>
    void start(int workers, Fn fn) {
        for (int t = 0; t < workers; ++t) threads_.emplace_back([fn, t] { fn(t); });
    }
    void join() {
        for (auto& th : threads_) th.join();
        threads_.clear();
    }
    // First failure of any worker; workers keep arriving at barriers after it.
    void fail(const std::string& why) {
        std::lock_guard lock(mutex_);
        if (error_.empty()) error_ = why;
        failed_ = true;
    }
    bool failed() const { return failed_.load(); }
    std::string error() const {
        std::lock_guard lock(mutex_);
        return error_;
    }

private:
    std::barrier<> barrier_;
    std::vector<std::thread> threads_;
    mutable std::mutex mutex_;
    std::string error_;
    std::atomic<bool> failed_{false};
};

double deadline_seconds(const Options& opts, double derived);

} // namespace confab::bench
