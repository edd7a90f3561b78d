// fanout: one sender broadcasts to K online users. By default one broadcast
// at a time (the next leaves once every receiver has the previous one), so the
// time for a broadcast to reach all K is not blurred by queueing behind the
// last; --in-flight N lets N overlap, as a busy sender would.
#include "session.hpp"
#include "workloads.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace confab::bench {

Report run_fanout(const Options& o, Target& target) {
    Report rep("fanout");
    rep.param("users", o.users);
    rep.param("broadcasts", o.broadcasts);
    rep.param("in_flight", o.in_flight);

    const int threads = std::max(1, std::min(o.threads, o.users));
    const std::uint32_t B = std::uint32_t(o.broadcasts);
    const std::uint64_t K = std::uint64_t(o.users);
    const double limit_s = deadline_seconds(o, 60 + double(K) / 500 + double(B * K) / 200000);
    const Clock deadline = deadline_after(limit_s);
    const Servers servers = target.servers();

    Crew crew(threads);
    std::vector<Clock> sent_at(B, 0);
    std::vector<Clock> reached_at(B, 0); // max receive time over all receivers
    std::atomic<std::uint64_t> delivered{0};
    std::vector<Loop*> loops(std::size_t(threads), nullptr);
    std::mutex merge_mutex;
    Histogram latency;
    Clock phase_start = 0;
    std::uint32_t broadcasts_done = 0;

    crew.start(threads, [&](int t) {
        Loop loop;
        loops[std::size_t(t)] = &loop;
        LoginBatch batch;
        if (t == 0) batch.users.push_back(0); // the sender
        std::uint64_t mine = 0;
        for (std::uint64_t u = 1 + std::uint64_t(t); u <= K; u += std::uint64_t(threads)) {
            batch.users.push_back(std::uint32_t(u));
            ++mine;
        }
        batch.credentials = [](std::uint32_t u) { return Credentials{plain_user(u), plain_password(u)}; };
        batch.concurrency = std::max(1, o.concurrency / threads);
        batch.spread_sources = K > 20000;
        batch.source_offset = std::uint64_t(t) * 7919;
        LoginOutcome lo = login_all(loop, servers, batch, deadline);
        if (!lo.ok) crew.fail("login: " + lo.error);
        Conn* sender = t == 0 && lo.ok ? lo.conns[0] : nullptr;

        std::vector<Clock> local_reach(B, 0);
        Histogram local_latency;
        std::uint64_t got = 0, unreported = 0;
        std::string closed, error;
        std::uint32_t next_b = 0, answered = 0;
        std::string text;

        crew.sync(); // logged in: main samples
        crew.sync(); // go
        auto on_frame = [&](Conn& c, const proto::Message& m) {
            if (const auto* e = std::get_if<proto::BroadcastEvent>(&m)) {
                Clock sent = 0;
                std::uint32_t b = 0;
                const Clock now = now_ns();
                if (!parse_stamp(e->text, sent, b) || b >= B) {
                    if (error.empty()) error = "a BroadcastEvent without a bench stamp";
                    return;
                }
                local_reach[b] = std::max(local_reach[b], now);
                local_latency.record(now - sent);
                ++got;
                ++unreported;
            } else if (const auto* r = std::get_if<proto::Result>(&m); r && &c == sender) {
                ++answered;
                if (r->code != proto::Status::ok && error.empty())
                    error = fmt::format("Broadcast answered {} ({})", proto::to_string(r->code), r->detail);
            }
        };
        auto on_close = [&](Conn&, const char* why) {
            if (closed.empty()) closed = why;
        };
        while (!crew.failed()) {
            if (now_ns() > deadline) {
                crew.fail(
                    fmt::format("deadline ({} s) passed after {} of {} deliveries", limit_s, delivered.load(), B * K));
                break;
            }
            if (sender) {
                // Broadcast n may leave once broadcast n - in_flight reached everyone.
                const std::uint32_t W = std::uint32_t(o.in_flight);
                bool sent = false;
                while (next_b < B && (next_b < W || (answered >= next_b - W + 1 &&
                                                     delivered.load() >= std::uint64_t(next_b - W + 1) * K))) {
                    stamp_text(text, std::size_t(o.text_bytes), now_ns(), next_b);
                    sent_at[next_b] = now_ns();
                    loop.send(*sender, proto::Broadcast{sender->next_request++, text});
                    ++next_b;
                    sent = true;
                }
                if (sent) loop.flush();
            }
            loop.poll(100, on_frame, on_close);
            if (unreported) {
                delivered.fetch_add(unreported);
                unreported = 0;
                if (t != 0 && loops[0]) loops[0]->wake(); // the sender waits on this count
            }
            if (!closed.empty()) {
                crew.fail("a session was " + closed);
                break;
            }
            if (!error.empty()) {
                crew.fail(error);
                break;
            }
            const bool mine_done = got >= mine * B;
            const bool sender_done = !sender || (answered == B && delivered.load() >= B * K);
            if (mine_done && sender_done) break;
        }
        {
            std::lock_guard lock(merge_mutex);
            for (std::uint32_t b = 0; b < B; ++b) reached_at[b] = std::max(reached_at[b], local_reach[b]);
            latency.merge(local_latency);
            if (sender) broadcasts_done = answered;
        }
        crew.sync(); // done; the loop must outlive other threads' wake() calls
        loops[std::size_t(t)] = nullptr;
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
    const double deliveries = double(delivered.load());
    std::vector<Clock> reach;
    for (std::uint32_t b = 0; b < B; ++b)
        if (sent_at[b] && reached_at[b]) reach.push_back(reached_at[b] - sent_at[b]);
    std::sort(reach.begin(), reach.end());
    const Clock reach_median = reach.empty() ? 0 : reach[reach.size() / 2];
    const Clock reach_max = reach.empty() ? 0 : reach.back();
    rep.figure("broadcasts_done", broadcasts_done, "");
    rep.figure("deliveries", deliveries, "");
    rep.figure("seconds", secs, "");
    rep.figure("deliveries_per_s", deliveries / secs,
               fmt::format("rate={} deliveries/s", human_rate(deliveries / secs)));
    rep.server_cpu(before, after, deliveries, "delivery");
    rep.figure("reach_all_median_us", double(reach_median) / 1e3, "reach_all_p50=" + human_ns(reach_median));
    rep.figure("reach_all_max_us", double(reach_max) / 1e3, "reach_all_max=" + human_ns(reach_max));
    rep.latency("delivery_", latency, false);
    if (crew.failed()) rep.fail(crew.error());
    if (delivered.load() != B * K)
        rep.fail(fmt::format("{} of {} deliveries missing", B * K - delivered.load(), B * K));
    if (!target.alive()) rep.fail("the daemon died");
    return rep;
}

} // namespace confab::bench
