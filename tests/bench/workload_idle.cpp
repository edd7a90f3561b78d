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
    if (rl.rlim_cur < rlim_t(o.sessions) + 64) {
        rep.fail(fmt::format("{} sessions need {} file descriptors in this process (and as many in the daemon) but "
                             "RLIMIT_NOFILE is {} (hard {}); raise it, e.g. `ulimit -Hn {} && ulimit -n {}` as root, "
                             "or LimitNOFILE= / /etc/security/limits.conf (fs.nr_open bounds it); raising the hard "
                             "limit needs CAP_SYS_RESOURCE, and the daemon started by the bench inherits it",
                             o.sessions, o.sessions + 64, rl.rlim_cur, rl.rlim_max, o.sessions + 1000,
                             o.sessions + 1000));
        return rep;
    }

    const int threads = std::max<int>(1, int(std::min<std::int64_t>(o.threads, o.sessions)));
    const double limit_s = deadline_seconds(o, 60 + double(o.sessions) / 2000 + o.hold_s);
    const Clock deadline = deadline_after(limit_s);
    const sockaddr_in server = make_address(target.host, target.port);

    Crew crew(threads);
    std::atomic<std::uint64_t> online{0};
    Clock login_end = 0;
    std::mutex merge_mutex;

    // Baseline: the daemon with its users loaded and no session.
    const ProcSample before = target.sample();
    const Clock login_start = now_ns();
    crew.start(threads, [&](int t) {
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
                LoginOutcome lo = login_all(loop, server, batch, deadline);
                if (!lo.ok) crew.fail("login: " + lo.error);
                mine_online += std::uint64_t(std::count_if(
                    lo.conns.begin(), lo.conns.end(), [](Conn* c) { return c && c->open && c->state == st_online; }));
                std::lock_guard lock(merge_mutex);
                login_end = std::max(login_end, lo.finished ? lo.finished : now_ns());
            }
            if (half == 0) crew.sync(); // half online: main samples
        }
        online.fetch_add(mine_online);
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
    });

    crew.sync();
    const ProcSample half = target.sample();
    crew.sync();
    const ProcSample after = target.sample();
    crew.sync();
    crew.sync();
    const ProcSample held = target.sample();
    crew.join(); // closes the sessions

    const double n = double(online.load());
    const double login_secs = double(login_end - login_start) / 1e9;
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
    if (crew.failed()) rep.fail(crew.error());
    if (online.load() != std::uint64_t(o.sessions))
        rep.fail(fmt::format("{} of {} sessions online", online.load(), o.sessions));
    if (!target.alive()) rep.fail("the daemon died");
    return rep;
}

} // namespace confab::bench
