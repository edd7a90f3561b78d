// The daemon under test: started by the bench in a private temp dir (own
// users file, config and state_dir), or a running one given by --connect.
// Also reads its CPU time and RSS from /proc, the figures every workload reports.
#pragma once

#include "child_process.hpp"

#include "options.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace confab::bench {

// Bench user names and passwords. Plaintext users make logins cheap; the
// `hash*` users carry a real yescrypt hash for the login storm.
std::string plain_user(std::int64_t i);
std::string plain_password(std::int64_t i);
std::string hashed_user(std::int64_t i);
inline constexpr const char* hashed_password = "storm-password";

// The users file text: `plain` plaintext users, then `hashed` yescrypt ones
// (one hash computed once and shared: the daemon still pays full cost per login).
std::string users_file_text(std::int64_t plain, std::int64_t hashed);

// Small helpers shared with the redis-server process.
std::string read_text_file(const std::string& path);
void write_text_file(const std::string& path, const std::string& text); // throws on failure
std::string make_temp_dir();                                            // under $TMPDIR, else /tmp
std::uint16_t pick_free_port();                                         // on 127.0.0.1; 0 if none

struct ProcSample {
    bool ok = false;
    std::uint64_t cpu_us = 0;   // utime + stime, all threads (clock-tick resolution)
    std::uint64_t sched_ns = 0; // sum of the threads' run time from schedstat (ns resolution; 0 if unavailable)
    std::uint64_t rss_bytes = 0;
    std::uint64_t hwm_bytes = 0; // VmHWM: the peak RSS since the process started
};
ProcSample sample_process(int pid);
// Summed over processes (all of a cluster's): CPU and RSS add up; ok only if every sample was.
ProcSample& operator+=(ProcSample& sum, const ProcSample& one);

struct DaemonSetup {
    std::int64_t plain_users = 0;
    std::int64_t hashed_users = 0;
    bool presence = false;
    std::string extra_config; // TOML lines appended to the generated config (e.g. raised limits)
    // Lift timeout, login_timeout and max_connections out of the way (false: the daemon's defaults).
    bool lift_limits = true;
    // A cluster node: the users file the nodes share (written once; empty: the daemon's own),
    // and its [cluster] settings (empty redis: the local engine).
    std::string users_file;
    std::string redis; // host:port
    std::string node_id;
};

// Lines of a log file from byte `offset` on, and the first of them.
struct LogSpan {
    std::uint64_t lines = 0;
    std::string first;
};

class Daemon {
public:
    // Starts confabd and waits until it listens. Throws std::runtime_error
    // with the daemon's log on failure.
    Daemon(const Options& opts, const DaemonSetup& setup);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    std::uint16_t port() const { return port_; }
    int pid() const { return child_.pid(); }
    std::string state_dir() const { return dir_ + "/state"; }
    // With opts.tls: the certificate the daemon presents (empty otherwise).
    const std::string& tls_cert() const { return tls_cert_; }
    bool alive() { return child_.alive(); }
    std::string log_tail(std::size_t max_bytes = 2000) const;
    std::uint64_t log_size() const;
    LogSpan log_since(std::uint64_t offset) const;
    // SIGTERM, bounded wait, then SIGKILL. Returns the exit status if it stopped cleanly.
    int stop(double wait_s) { return child_.stop(wait_s); }

private:
    std::string dir_;
    std::string tls_cert_;
    bool keep_dir_ = false;
    ChildProcess child_;
    std::uint16_t port_ = 0;
};

} // namespace confab::bench
