// confab-bench: runs the selected workloads against confabd (one fresh
// daemon per workload, or --connect's) and prints one result line each.
// Exit status 0 only if every workload completed without loss.
#include "cluster_proc.hpp"
#include "daemon_proc.hpp"
#include "options.hpp"
#include "session.hpp"
#include "tls_client.hpp"
#include "workloads.hpp"

#include "proto/parse_number.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string_view>
#include <sys/resource.h>

using namespace confab::bench;

namespace {

// One fd per session here and in the daemon (which inherits this limit).
// As root the hard limit may go up to fs.nr_open.
void raise_fd_limit(std::int64_t want) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rlim_t(want)) {
        std::string text;
        std::getline(std::ifstream("/proc/sys/fs/nr_open"), text);
        const rlim_t nr_open = confab::parse_number<rlim_t>(text).value_or(0);
        rlimit up{std::max(rl.rlim_cur, std::min(rlim_t(want), nr_open)), std::min(rlim_t(want), nr_open)};
        if (up.rlim_max > rl.rlim_max && ::setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
    }
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
}

Report run(const std::string& w, const Options& o, Target& t) {
    if (w == "direct") return run_direct(o, t);
    if (w == "fanout") return run_fanout(o, t);
    if (w == "idle") return run_idle(o, t);
    if (w == "store") return run_store(o, t);
    if (w.rfind("hostile-", 0) == 0) return run_hostile(w.substr(8), o, t);
    return run_login(o, t);
}

} // namespace

int main(int argc, char** argv) {
    int exit_code = 0;
    auto parsed = parse_options(argc, argv, exit_code);
    if (!parsed) return exit_code;
    const Options& o = *parsed;
    std::signal(SIGPIPE, SIG_IGN);

    if (o.print_users >= 0) {
        fmt::print("{}", users_file_text(o.print_users, o.logins));
        return 0;
    }
    raise_fd_limit(std::max<std::int64_t>({o.sessions, o.users, o.logins}) + 1000);

    bool all_ok = true;
    for (const auto& entry : o.workloads) {
        Options wo = o; // this workload's options: a "tls:" entry turns TLS on for it
        std::string w = entry;
        for (const std::string_view prefix : {"tls:", "tls-resume:"})
            if (w.rfind(prefix, 0) == 0) {
                wo.tls = true;
                wo.resume = wo.resume || prefix == "tls-resume:";
                w = w.substr(prefix.size());
            }
        if (w.rfind("same-node:", 0) == 0) {
            wo.same_node = true;
            w = w.substr(10);
        }
        if (w.rfind("hostile-", 0) == 0) wo.tls = wo.resume = false; // attacks speak plain TCP
        Target target;
        std::unique_ptr<Daemon> daemon;
        std::unique_ptr<Cluster> cluster;
        std::unique_ptr<TlsClient> tls;
        std::optional<Report> rep;
        try {
            if (!o.connect_host.empty()) {
                target.host = o.connect_host;
                target.port = o.connect_port;
                target.pid = o.pid;
            } else if (o.nodes > 1) {
                cluster = std::make_unique<Cluster>(wo, setup_for(w, wo));
                target.port = cluster->node(0).port();
                target.pid = cluster->node(0).pid();
                target.cluster = cluster.get();
                target.pair_span = wo.same_node ? 2 : 1;
            } else {
                daemon = std::make_unique<Daemon>(wo, setup_for(w, wo));
                target.port = daemon->port();
                target.pid = daemon->pid();
                target.daemon = daemon.get();
            }
            if (wo.tls) {
                tls = std::make_unique<TlsClient>(daemon ? daemon->tls_cert() : std::string(), wo.resume);
                if (wo.resume) tls->prime(make_address(target.host, target.port));
                set_client_tls(tls.get());
            }
            rep = run(w, wo, target);
            if (tls) {
                // Counted as each Loop closes its connections, so after the workload.
                const auto done = double(tls->handshakes()), resumed = double(tls->resumed());
                rep->figure("tls_handshakes", done, "");
                rep->figure("tls_resumed", resumed, fmt::format("resumed={:.0f}/{:.0f}", resumed, done));
                if (wo.resume && resumed < done)
                    rep->fail(fmt::format("{:.0f} of {:.0f} handshakes did not resume", done - resumed, done));
            }
        } catch (const std::exception& e) {
            rep.emplace(w);
            rep->fail(e.what());
        }
        set_client_tls(nullptr);
        if (wo.tls) rep->tag(wo.resume ? "tls+resume" : "tls");
        if (o.threads > 1) rep->param("threads", o.threads);
        if (o.nodes > 1) {
            rep->param("nodes", o.nodes);
            if (wo.same_node) rep->param("same_node", 1);
            rep->note("redis_aof", o.redis_aof);
        }
        if (daemon) {
            if (!rep->ok()) fmt::print(stderr, "confabd log (tail):\n{}\n", daemon->log_tail());
            int status = daemon->stop(30);
            if (status != 0) rep->fail(fmt::format("confabd did not stop cleanly (status {})", status));
        }
        if (cluster) {
            if (!rep->ok()) fmt::print(stderr, "cluster logs (tails):\n{}\n", cluster->log_tails());
            int status = cluster->stop(30);
            if (status != 0) rep->fail(fmt::format("a cluster process did not stop cleanly (status {})", status));
        }
        all_ok = all_ok && rep->ok();
        if (o.json) {
            fmt::print(stderr, "{}\n", rep->text_line());
            fmt::print("{}\n", rep->json_line());
        } else {
            fmt::print("{}\n", rep->text_line());
        }
        std::fflush(stdout);
    }
    return all_ok ? 0 : 1;
}
