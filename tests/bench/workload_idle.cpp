// idle: N logged-in sessions that never send a command. Reports the daemon's
// RSS per session beyond its baseline (RSS after the logins minus RSS before)
// and the login rate. Source addresses are spread over 127.0.0.2..254 so a
// million sessions do not run out of ephemeral ports (~28k per address).
#include "session.hpp"
#include "workloads.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <sys/resource.h>

namespace confab::bench {

Report run_idle(const Options& o, Target& target) {
    Report rep("idle");
    rep.param("sessions", double(o.sessions));

    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    const std::int64_t nodes = target.cluster ? std::int64_t(target.servers().size()) : 1;
    const std::int64_t per_node = (o.sessions + nodes - 1) / nodes;
    if (rl.rlim_cur < rlim_t(per_node) + 64) {
        rep.fail(fmt::format("{} sessions need {} file descriptors in {} (and as many in the bench) but "
                             "RLIMIT_NOFILE is {} (hard {}); raise it, e.g. `ulimit -Hn {} && ulimit -n {}` as root, "
                             "or LimitNOFILE= / /etc/security/limits.conf (fs.nr_open bounds it); raising the hard "
                             "limit needs CAP_SYS_RESOURCE, and the daemons started by the bench inherit it{}",
                             o.sessions, per_node + 64, nodes > 1 ? "each node" : "the daemon", rl.rlim_cur,
                             rl.rlim_max, per_node + 1000, per_node + 1000,
                             nodes > 1 ? "; or spread them over more nodes (--nodes)" : ""));
        return rep;
    }
    // A cluster may hold more sessions than one process may open: then the
    // client side is several processes, each within the same limit.
    const std::int64_t per_process = std::int64_t(rl.rlim_cur) - 256;
    const bool processes = o.sessions > per_process;
    if (processes) rep.param("client_processes", double((o.sessions + per_process - 1) / per_process));

    const int threads = processes ? int((o.sessions + per_process - 1) / per_process)
                                  : std::max<int>(1, int(std::min<std::int64_t>(o.threads, o.sessions)));
    const double limit_s = deadline_seconds(o, 60 + double(o.sessions) / 2000 + o.hold_s);
    const Clock deadline = deadline_after(limit_s);
    const Servers servers = target.servers();

    Crew crew(threads);
    struct Totals {
        std::atomic<std::uint64_t> online{0};
        std::atomic<Clock> login_end{0};
    };
    SharedValue<Totals> totals; // written by worker processes too

    // Baseline: the daemon with its users loaded and no session.
    const ProcSample before = target.sample();
    const std::uint64_t redis_before = target.redis_used_memory();
    const Clock login_start = now_ns();
    auto worker = [&](int t) {
        Loop loop;
        // Two halves with a sample in between: freed start-up heap (the parsed
        // users file) is reused by the first sessions and hides their cost from
        // after-minus-before; the second half's growth is the marginal cost.
        std::uint64_t mine_online = 0;
        for (int half = 0; half < 2; ++half) {
            LoginBatch batch;
            const std::int64_t lo_u = half == 0 ? 0 : o.sessions / 2, hi_u = half == 0 ? o.sessions / 2 : o.sessions;
            for (std::int64_t u = lo_u + ((t - lo_u) % threads + threads) % threads; u < hi_u; u += threads)
                batch.users.push_back(std::uint32_t(u));
            batch.credentials = [](std::uint32_t u) { return Credentials{plain_user(u), plain_password(u)}; };
            batch.concurrency = std::max(1, o.concurrency / threads);
            batch.spread_sources = true;
            batch.source_offset = std::uint64_t(t) * 7919 + std::uint64_t(lo_u);
            if (!crew.failed()) {
                LoginOutcome lo = login_all(loop, servers, batch, deadline);
                if (!lo.ok) crew.fail("login: " + lo.error);
                mine_online += std::uint64_t(std::count_if(
                    lo.conns.begin(), lo.conns.end(), [](Conn* c) { return c && c->open && c->state == st_online; }));
                const Clock end = lo.finished ? lo.finished : now_ns();
                for (Clock seen = totals->login_end.load();
                     seen < end && !totals->login_end.compare_exchange_weak(seen, end);) {}
            }
            if (half == 0) crew.sync(); // half online: main samples
        }
        totals->online.fetch_add(mine_online);
        crew.sync(); // all logged in: main samples
        crew.sync(); // hold: the sessions must stay
        std::string closed;
        const Clock hold_end = now_ns() + Clock(o.hold_s * 1e9);
        while (!crew.failed() && now_ns() < hold_end && closed.empty())
            loop.poll(
                50, [](Conn&, const proto::Message&) {},
                [&](Conn&, const char* why) {
                    if (closed.empty()) closed = why;
                });
        if (!closed.empty()) crew.fail("an idle session was " + closed);
        crew.sync();
    };
    if (processes)
        crew.start_processes(worker);
    else
        crew.start(threads, worker);

    crew.sync();
    const ProcSample half = target.sample();
    crew.sync();
    const ProcSample after = target.sample();
    const std::uint64_t redis_after = target.redis_used_memory();
    crew.sync();
    crew.sync();
    const ProcSample held = target.sample();
    crew.join(); // closes the sessions

    const double n = double(totals->online.load());
    const double login_secs = double(totals->login_end.load() - login_start) / 1e9;
    rep.figure("online", n, "");
    rep.figure("login_seconds", login_secs, "");
    rep.figure("logins_per_s", n / login_secs, fmt::format("logins={}/s", human_rate(n / login_secs)));
    if (before.ok && after.ok && n > 0) {
        const double per = (double(after.rss_bytes) - double(before.rss_bytes)) / n;
        rep.figure("rss_baseline_bytes", double(before.rss_bytes), "");
        rep.figure("rss_bytes", double(after.rss_bytes), "rss=" + human_bytes(double(after.rss_bytes)));
        rep.figure("rss_per_session_bytes", per, fmt::format("rss_per_session={:.0f}B", per));
        if (half.ok && o.sessions >= 2) {
            const double marginal =
                (double(after.rss_bytes) - double(half.rss_bytes)) / double(o.sessions - o.sessions / 2);
            rep.figure("rss_half_bytes", double(half.rss_bytes), "");
            rep.figure("rss_per_session_marginal_bytes", marginal, fmt::format("marginal={:.0f}B", marginal));
        }
        if (held.ok) rep.figure("rss_after_hold_bytes", double(held.rss_bytes), "");
        rep.figure("server_cpu_us_per_login", double(after.cpu_us - before.cpu_us) / n,
                   fmt::format("server_cpu={:.2f} us/login", double(after.cpu_us - before.cpu_us) / n));
    } else {
        rep.figure("rss_per_session_bytes", NAN, "rss_per_session=n/a");
    }
    if (redis_before > 0 && redis_after > 0 && n > 0) {
        // What Redis holds per online user: the session claim and the node's presence entry.
        const double per = (double(redis_after) - double(redis_before)) / n;
        rep.figure("redis_used_memory_bytes", double(redis_after), "");
        rep.figure("redis_bytes_per_user", per, fmt::format("redis_per_user={:.0f}B", per));
    }
    if (crew.failed()) rep.fail(crew.error());
    if (totals->online.load() != std::uint64_t(o.sessions))
        rep.fail(fmt::format("{} of {} sessions online", totals->online.load(), o.sessions));
    if (!target.alive()) rep.fail("the daemon died");
    return rep;
}

} // namespace confab::bench
