// direct: P sender->receiver pairs, each pipelining up to W SendMessages to
// its own receiver. Reports server CPU per delivered message, messages/s and
// end-to-end latency. With --rate it sends at a fixed total rate instead
// (latency at a chosen fraction of peak).
#include "proto/limits.hpp"
#include "traffic.hpp"
#include "workloads.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace confab::bench {

double deadline_seconds(const Options& opts, double derived) {
    return opts.timeout_s > 0 ? opts.timeout_s : derived;
}

void settle_presence(Loop& loop, const Servers& servers, const std::vector<Conn*>& conns, std::int64_t online,
                     Clock deadline, Crew& crew) {
    if (servers.size() < 2) return;
    if (online > std::int64_t(proto::max_listed_names))
        return crew.fail(fmt::format("on a cluster at most {} users can wait for presence (whoelse's cap), not {}",
                                     proto::max_listed_names, online));
    std::vector<std::string> names;
    for (std::int64_t u = 0; u < online; ++u) names.push_back(plain_user(u));
    const std::string why = await_presence(
        loop, servers, conns, names, [](std::uint32_t u) { return plain_user(u); }, deadline);
    if (!why.empty()) crew.fail(why);
}

DaemonSetup setup_for(const std::string& w, const Options& o) {
    if (w.rfind("hostile-", 0) == 0) return hostile_setup(o);
    DaemonSetup s;
    s.presence = o.presence;
    if (w == "direct") s.plain_users = 2 * std::int64_t(o.pairs);
    if (w == "fanout") s.plain_users = std::int64_t(o.users) + 1;
    if (w == "idle") s.plain_users = o.sessions;
    if (w == "login") {
        s.plain_users = 2 * std::int64_t(o.login_pairs);
        s.hashed_users = o.logins;
    }
    if (w == "store") {
        // Pairs, then senders, then their recipients (who never log in).
        s.plain_users = 2 * std::int64_t(o.store_pairs) + 2 * std::int64_t(o.store_senders);
        // Every message stays queued: lift the per-recipient cap to the daemon's maximum.
        s.extra_config = "max_offline_messages = 1000000\n";
    }
    return s;
}

Report run_direct(const Options& o, Target& target) {
    Report rep("direct");
    rep.param("pairs", o.pairs);
    rep.param("window", o.window);
    if (o.duration_s > 0)
        rep.param("duration_s", o.duration_s);
    else
        rep.param("msgs", double(o.messages));
    if (o.rate > 0) rep.param("target_rate", o.rate);

    const int threads = std::min(o.threads, o.pairs);
    const double limit_s = deadline_seconds(o, 60 + double(o.messages) / 20000 + o.duration_s);
    const Clock deadline = deadline_after(limit_s);
    const Servers servers = target.servers();

    Crew crew(threads);
    std::mutex merge_mutex;
    Histogram latency;
    std::uint64_t sent = 0, received = 0;
    Clock phase_start = 0;

    crew.start(threads, [&](int t) {
        Loop loop;
        LoginBatch batch;
        std::vector<int> my_pairs;
        for (int p = t; p < o.pairs; p += threads) {
            my_pairs.push_back(p);
            batch.users.push_back(std::uint32_t(2 * p));
            batch.users.push_back(std::uint32_t(2 * p + 1));
        }
        batch.credentials = [](std::uint32_t u) { return Credentials{plain_user(u), plain_password(u)}; };
        batch.concurrency = o.concurrency;
        LoginOutcome lo = login_all(loop, servers, batch, deadline);
        if (!lo.ok) crew.fail("login: " + lo.error);
        if (lo.ok) settle_presence(loop, servers, lo.conns, 2 * std::int64_t(o.pairs), deadline, crew);

        std::vector<PairTraffic::Pair> pairs;
        if (lo.ok) {
            for (std::size_t k = 0; k < my_pairs.size(); ++k) {
                const int p = my_pairs[k];
                PairTraffic::Pair pr{lo.conns[2 * k], lo.conns[2 * k + 1], plain_user(2 * p + 1), UINT64_MAX};
                if (o.duration_s <= 0)
                    pr.quota = std::uint64_t(o.messages / o.pairs + (p < o.messages % o.pairs ? 1 : 0));
                pairs.push_back(std::move(pr));
            }
        }
        PairTraffic traffic(loop, std::move(pairs), o.window, o.text_bytes);
        crew.sync(); // all logged in: main samples the daemon
        crew.sync(); // go
        if (!crew.failed()) {
            const Clock start = phase_start;
            if (o.rate > 0) traffic.set_rate(o.rate / threads, start);
            const Clock stop_at = o.duration_s > 0 ? start + Clock(o.duration_s * 1e9) : 0;
            std::string closed;
            auto on_frame = [&](Conn& c, const proto::Message& m) { traffic.on_frame(c, m); };
            auto on_close = [&](Conn&, const char* why) {
                if (closed.empty()) closed = why;
            };
            while (!traffic.finished() && closed.empty()) {
                const Clock now = now_ns();
                if (now > deadline) {
                    crew.fail(fmt::format("deadline ({} s) passed: sent {}, answered ok {}, received {}", limit_s,
                                          traffic.sent(), traffic.results_ok(), traffic.received()));
                    break;
                }
                if (stop_at && now >= stop_at) traffic.stop_sending();
                int wait_ms = traffic.pump(now);
                loop.flush();
                loop.poll(wait_ms < 0 ? 100 : std::min(wait_ms, 100), on_frame, on_close);
            }
            if (!closed.empty()) crew.fail("a session was " + closed);
            if (!traffic.error().empty()) crew.fail(traffic.error());
        }
        {
            std::lock_guard lock(merge_mutex);
            latency.merge(traffic.latency());
            sent += traffic.sent();
            received += traffic.received();
        }
        crew.sync(); // done
    });

    crew.sync();
    const ProcSample before = target.sample();
    phase_start = now_ns();
    crew.sync();
    crew.sync();
    const Clock end = now_ns();
    const ProcSample after = target.sample();
    crew.join();

    const double secs = double(end - phase_start) / 1e9;
    rep.figure("sent", double(sent), "");
    rep.figure("delivered", double(received), "");
    rep.figure("seconds", secs, "");
    rep.figure("msg_per_s", double(received) / secs, fmt::format("rate={} msg/s", human_rate(double(received) / secs)));
    rep.server_cpu(before, after, double(received), "msg");
    rep.latency("", latency);
    if (crew.failed()) rep.fail(crew.error());
    if (received != sent) rep.fail(fmt::format("{} of {} messages lost", sent - received, sent));
    if (!target.alive()) rep.fail("the daemon died");
    return rep;
}

} // namespace confab::bench
