// login: M concurrent logins against real yescrypt hashes while P pairs of
// logged-in users exchange direct messages at a fixed rate. Hashing runs on
// the daemon's hash workers; the p99 of the messages sent during the storm
// shows whether the reactor ever waited for it. The storm and the timed pairs
// run on separate client threads, so the client's own handshake work never
// delays a timed message.
#include "traffic.hpp"
#include "workloads.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace confab::bench {

Report run_login(const Options& o, Target& target) {
    Report rep("login");
    rep.param("logins", o.logins);
    rep.param("pairs", o.login_pairs);
    rep.param("msg_rate", o.login_rate);

    const int threads = std::max(1, std::min(o.threads, o.login_pairs));
    const double limit_s = deadline_seconds(o, 60 + double(o.logins) / 20);
    const Clock deadline = deadline_after(limit_s);
    const Servers servers = target.servers();
    constexpr double warmup_s = 0.2, cooldown_s = 0.2;

    Crew crew(2 * threads);
    std::mutex merge_mutex;
    Histogram storm_latency, all_latency;
    std::uint64_t sent = 0, received = 0, storm_ok = 0;
    Clock phase_start = 0, storm_start = 0, storm_end = 0;
    std::atomic<int> storms_running{threads};

    // The storm runs on threads of its own: a client thread busy with a thousand TLS
    // handshakes would delay the timed messages itself and hide what the daemon does.
    crew.start(2 * threads, [&](int worker) {
        Loop loop;
        const bool storm_role = worker >= threads;
        const int t = storm_role ? worker - threads : worker;
        std::optional<PairTraffic> traffic;
        if (!storm_role) {
            LoginBatch batch;
            std::vector<int> my_pairs;
            for (int p = t; p < o.login_pairs; p += threads) {
                my_pairs.push_back(p);
                batch.users.push_back(std::uint32_t(2 * p));
                batch.users.push_back(std::uint32_t(2 * p + 1));
            }
            batch.credentials = [](std::uint32_t u) { return Credentials{plain_user(u), plain_password(u)}; };
            LoginOutcome lo = login_all(loop, servers, batch, deadline);
            if (!lo.ok) crew.fail("login of the traffic pairs: " + lo.error);
            if (lo.ok) settle_presence(loop, servers, lo.conns, 2 * std::int64_t(o.login_pairs), deadline, crew);
            std::vector<PairTraffic::Pair> pairs;
            if (lo.ok)
                for (std::size_t k = 0; k < my_pairs.size(); ++k)
                    pairs.push_back(
                        {lo.conns[2 * k], lo.conns[2 * k + 1], plain_user(2 * my_pairs[k] + 1), UINT64_MAX});
            traffic.emplace(loop, std::move(pairs), o.window, o.text_bytes);
        }

        crew.sync(); // pairs online: main samples
        crew.sync(); // go
        LoginBatch storm;
        if (storm_role)
            for (int i = t; i < o.logins; i += threads) storm.users.push_back(std::uint32_t(i));
        storm.credentials = [](std::uint32_t i) { return Credentials{hashed_user(i), hashed_password}; };
        storm.concurrency = o.logins; // all at once: that is the storm
        storm.spread_sources = true;
        storm.source_offset = std::uint64_t(t) * 7919;
        std::optional<LoginDriver> driver;
        bool storm_done = !storm_role;
        Clock my_storm_end = 0, stop_at = 0;
        std::uint64_t my_ok = 0;
        std::string closed;
        if (!crew.failed()) {
            if (traffic) {
                traffic->set_rate(o.login_rate / threads, phase_start);
                traffic->set_tagger([&](Clock now) { return now >= storm_start && storms_running.load() > 0; });
            }
            auto on_frame = [&](Conn& c, const proto::Message& m) {
                if (traffic && traffic->on_frame(c, m)) return;
                if (driver) driver->on_frame(c, m);
            };
            auto on_close = [&](Conn& c, const char* why) {
                if (driver && driver->on_close(c, why)) return;
                if (closed.empty()) closed = why;
            };
            while (closed.empty()) {
                const Clock now = now_ns();
                if (now > deadline) {
                    crew.fail(fmt::format("deadline ({} s) passed: storm {}", limit_s,
                                          storms_running.load() == 0 ? "finished" : "unfinished"));
                    break;
                }
                if (storm_role && !driver && now >= storm_start) {
                    driver.emplace(loop, servers, storm);
                    driver->pump();
                }
                if (driver && !storm_done && driver->done()) {
                    storm_done = true;
                    LoginOutcome so = driver->outcome();
                    my_storm_end = so.finished ? so.finished : now;
                    if (!so.ok)
                        crew.fail("storm: " + so.error);
                    else
                        my_ok = std::uint64_t(storm.users.size());
                    storms_running.fetch_sub(1);
                }
                if (storm_role && storm_done) break; // its sessions stay online until the end
                // Keep the traffic going until every thread's storm ended, plus a little.
                if (storms_running.load() == 0 && !stop_at) stop_at = now + Clock(cooldown_s * 1e9);
                if (stop_at && now >= stop_at) traffic->stop_sending();
                if (stop_at && now >= stop_at && traffic->finished()) break;
                if (crew.failed() && storms_running.load() == 0) break;
                int wait_ms = traffic ? traffic->pump(now) : -1;
                loop.flush();
                loop.poll(wait_ms < 0 ? 20 : std::min(wait_ms, 20), on_frame, on_close);
            }
            if (!closed.empty()) crew.fail("a session was " + closed);
            if (traffic && !traffic->error().empty()) crew.fail(traffic->error());
        }
        {
            std::lock_guard lock(merge_mutex);
            if (traffic) {
                storm_latency.merge(traffic->tagged_latency());
                all_latency.merge(traffic->latency());
                sent += traffic->sent();
                received += traffic->received();
            }
            storm_end = std::max(storm_end, my_storm_end);
            storm_ok += my_ok;
        }
        crew.sync();
    });

    crew.sync();
    const ProcSample before = target.sample();
    phase_start = now_ns();
    storm_start = phase_start + Clock(warmup_s * 1e9);
    crew.sync();
    crew.sync();
    const ProcSample after = target.sample();
    crew.join();

    const double storm_secs = storm_end > storm_start ? double(storm_end - storm_start) / 1e9 : NAN;
    rep.figure("storm_seconds", storm_secs, "");
    rep.figure("logins_ok", double(storm_ok), "");
    rep.figure("logins_per_s", double(storm_ok) / storm_secs,
               fmt::format("logins={}/s", human_rate(double(storm_ok) / storm_secs)));
    rep.figure("messages_sent", double(sent), "");
    rep.figure("messages_received", double(received), "");
    rep.latency("storm_", storm_latency);
    rep.latency("all_", all_latency, false);
    // Includes the background traffic: an upper bound of the cost of one login.
    rep.server_cpu(before, after, double(storm_ok), "login");
    if (crew.failed()) rep.fail(crew.error());
    if (storm_ok != std::uint64_t(o.logins)) rep.fail(fmt::format("{} of {} logins succeeded", storm_ok, o.logins));
    if (received != sent) rep.fail(fmt::format("{} of {} messages lost", sent - received, sent));
    if (storm_latency.count() == 0) rep.fail("no message was timed during the storm");
    if (!target.alive()) rep.fail("the daemon died");
    return rep;
}

} // namespace confab::bench
