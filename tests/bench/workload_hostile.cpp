// hostile: one attack (attacks.hpp) from 127.0.0.2.. against a daemon that
// keeps its default limits, while good users chat from 127.0.0.1 at a fixed
// rate and a few more log in during the attack. Reports what the good users
// lost and waited, the daemon's peak RSS and how much it logged, each
// against the hardening targets (PASS/FAIL). Missing a target fails the run
// only with --require-targets: the figures are the result.
#include "attacks.hpp"
#include "traffic.hpp"
#include "workloads.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sys/resource.h>
#include <thread>

namespace confab::bench {

namespace {

// The targets, per attack.
constexpr double target_p99_us = 5000;
constexpr double target_rss_bytes = 64.0 * 1024 * 1024;
constexpr std::uint64_t target_log_lines = 2000;

constexpr double probe_timeout_s = 5; // a legitimate login slower than this failed

struct Timing {
    double warmup, duration, cooldown, drain; // seconds
};

Timing timing_for(const Options& o) {
    const double duration = o.duration_s > 0 ? o.duration_s : o.smoke ? 0.4 : 10;
    return o.smoke ? Timing{0.2, duration, 0.2, 1} : Timing{1, duration, 1, 3};
}

// The users file: good users user0000000.. (plaintext, cheap to set up), then
// the flooder's account; the probes log in as hash0000000.. (yescrypt, so a
// probe costs what a real login costs, and unknown names are checked against
// the daemon's decoy hash as they are in production), or with --plain-probes
// as plaintext users after the flooder (no hash anywhere: wrong passwords
// cost the daemon nothing and a storm runs as fast as it can).
std::uint32_t flooder_index(const Options& o) {
    return std::uint32_t(o.good_users);
}

Credentials probe_user(const Options& o, std::uint32_t k) {
    if (!o.plain_probes) return {hashed_user(k), hashed_password};
    const std::uint32_t u = flooder_index(o) + 1 + k;
    return {plain_user(u), plain_password(u)};
}

// Connections the fd limit leaves for an attack here (the daemon inherits the same limit).
int bounded_connections(int want, const Options& o) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    const std::int64_t room = std::int64_t(rl.rlim_cur) - o.good_users - o.probe_logins - 256;
    return int(std::clamp<std::int64_t>(want, 1, std::max<std::int64_t>(room, 1)));
}

struct GoodTotals {
    std::uint64_t sent = 0, answered = 0, ok = 0, stored = 0, refused = 0, received = 0;
    std::uint64_t disconnects = 0, flood_seen = 0;
    std::string first_disconnect, first_refusal;
};

} // namespace

DaemonSetup hostile_setup(const Options& o) {
    DaemonSetup s;
    const std::int64_t probes = std::max(o.probe_logins, 1);
    s.plain_users = std::int64_t(o.good_users) + 1 + (o.plain_probes ? probes : 0);
    s.hashed_users = o.plain_probes ? 0 : probes;
    s.presence = o.presence;
    s.lift_limits = false;
    return s;
}

Report run_hostile(const std::string& attack, const Options& o, Target& target) {
    Report rep("hostile-" + attack);
    const Timing tm = timing_for(o);
    const bool storm = attack == "lockout" || attack == "password";
    const bool flood = attack == "broadcast" || attack == "direct";
    const bool held = attack == "connect" || attack == "stall" || attack == "burst";
    const int conns = storm ? o.storm_conns : flood ? 1 : held ? bounded_connections(o.attack_conns, o) : 0;
    rep.param("good_users", o.good_users);
    rep.param("good_rate", o.good_rate);
    rep.param("duration_s", tm.duration);
    rep.param("attack_conns", conns);
    if (o.plain_probes) rep.param("plain_probes", 1);
    if (o.attack_sources > 1) rep.param("attack_sources", o.attack_sources);

    const int pairs = o.good_users / 2;
    const int threads = std::max(1, std::min(o.threads, pairs));
    const double limit_s = deadline_seconds(o, 60 + tm.warmup + tm.duration + tm.cooldown + tm.drain + probe_timeout_s);
    const Clock deadline = deadline_after(limit_s);
    const sockaddr_in server = make_address(target.host, target.port);
    const std::string flooder = plain_user(flooder_index(o));

    AttackSetup setup;
    setup.server = server;
    setup.sources = o.attack_sources;
    setup.connections = conns;
    setup.user = flooder;
    setup.password = plain_password(flooder_index(o));
    setup.target = attack == "password" ? probe_user(o, 0).name : plain_user(1); // plain_user(1): pair 0's receiver

    Crew crew(threads + 1); // good-traffic threads + the attacker
    std::mutex merge_mutex;
    Histogram attack_latency, all_latency;
    GoodTotals good;
    AttackStats attack_stats;
    Clock traffic_start = 0, attack_start = 0, attack_end = 0, stop_sending = 0;

    auto good_thread = [&](int t) {
        Loop loop;
        LoginBatch batch;
        std::vector<int> my_pairs;
        for (int p = t; p < pairs; p += threads) {
            my_pairs.push_back(p);
            batch.users.push_back(std::uint32_t(2 * p));
            batch.users.push_back(std::uint32_t(2 * p + 1));
        }
        batch.credentials = [](std::uint32_t u) { return Credentials{plain_user(u), plain_password(u)}; };
        // All from 127.0.0.1: stay under the daemon's default of 64 logins in progress per address.
        batch.concurrency = std::min(o.concurrency, 32);
        LoginOutcome lo = login_all(loop, server, batch, deadline);
        if (!lo.ok) crew.fail("login of the good users: " + lo.error);
        std::vector<PairTraffic::Pair> pairs_here;
        if (lo.ok)
            for (std::size_t k = 0; k < my_pairs.size(); ++k)
                pairs_here.push_back(
                    {lo.conns[2 * k], lo.conns[2 * k + 1], plain_user(2 * my_pairs[k] + 1), UINT64_MAX});
        PairTraffic traffic(loop, std::move(pairs_here), o.window, o.text_bytes);
        traffic.tolerate_refusals();

        crew.sync(); // good users online: main samples
        crew.sync(); // go
        GoodTotals mine;
        if (!crew.failed()) {
            traffic.set_rate(o.good_rate / threads, traffic_start);
            traffic.set_tagger([&](Clock now) { return now >= attack_start && now < attack_end; });
            auto on_frame = [&](Conn& c, const proto::Message& m) {
                if (const auto* e = std::get_if<proto::MessageEvent>(&m); e && e->from == flooder) {
                    ++mine.flood_seen;
                    return;
                }
                if (traffic.on_frame(c, m)) return;
                if (std::holds_alternative<proto::BroadcastEvent>(m)) ++mine.flood_seen;
            };
            auto on_close = [&](Conn& c, const char* why) {
                if (mine.disconnects++ == 0) mine.first_disconnect = fmt::format("{} {}", plain_user(c.user), why);
            };
            const Clock drain_end = stop_sending + Clock(tm.drain * 1e9);
            for (;;) {
                const Clock now = now_ns();
                if (now > deadline) {
                    crew.fail(fmt::format("deadline ({} s) passed", limit_s));
                    break;
                }
                if (now >= stop_sending) {
                    traffic.stop_sending();
                    if (traffic.finished() || now >= drain_end) break;
                }
                const int wait_ms = traffic.pump(now);
                loop.flush();
                loop.poll(wait_ms < 0 ? 20 : std::min(wait_ms, 20), on_frame, on_close);
            }
            if (!traffic.error().empty()) crew.fail(traffic.error());
        }
        {
            std::lock_guard lock(merge_mutex);
            attack_latency.merge(traffic.tagged_latency());
            all_latency.merge(traffic.latency());
            good.sent += traffic.sent();
            good.answered += traffic.answered();
            good.ok += traffic.results_ok();
            good.stored += traffic.stored();
            good.refused += traffic.refused();
            good.received += traffic.received();
            good.disconnects += mine.disconnects;
            good.flood_seen += mine.flood_seen;
            if (good.first_disconnect.empty()) good.first_disconnect = mine.first_disconnect;
            if (good.first_refusal.empty()) good.first_refusal = traffic.first_refusal();
        }
        crew.sync(); // done
    };

    auto attacker_thread = [&] {
        Loop loop;
        std::unique_ptr<Attack> a = make_attack(attack, loop, setup);
        crew.sync();
        crew.sync();
        std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<Clock>(0, attack_start - now_ns())));
        auto on_frame = [&](Conn& c, const proto::Message& m) { a->on_frame(c, m); };
        auto on_close = [&](Conn& c, const char* why) { a->on_close(c, why); };
        for (;;) {
            const Clock now = now_ns();
            if (now >= attack_end || crew.failed()) break;
            const int wait_ms = std::min<Clock>(a->tick(now), (attack_end - now) / 1'000'000 + 1);
            loop.flush();
            loop.poll(wait_ms, on_frame, on_close);
        }
        a->close_all(); // at once: mass close is part of every attack
        {
            std::lock_guard lock(merge_mutex);
            attack_stats = a->stats();
        }
        crew.sync();
    };

    // The storm's victim is a real user: it has logged in before from its usual
    // address, 127.0.0.1 (where the probes come from), so the daemon trusts that
    // address, while the attacker storms from 127.0.0.2 ...
    if (attack == "password") {
        Loop loop;
        LoginBatch b;
        b.users = {0};
        b.credentials = [&o](std::uint32_t k) { return probe_user(o, k); };
        b.concurrency = 1;
        LoginOutcome lo = login_all(loop, server, b, now_ns() + Clock(probe_timeout_s * 1e9));
        if (!lo.ok) {
            rep.fail("the victim's earlier login: " + lo.error);
            return rep;
        }
        for (Conn* c : lo.conns)
            if (c) loop.close(*c);
        // That login was a while ago: the 100 good users' logins come next from the same
        // address, exactly the burst of address_connect_rate (5 s of it) by default.
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }

    crew.start(threads + 1, [&](int t) {
        if (t == threads)
            attacker_thread();
        else
            good_thread(t);
    });

    crew.sync();
    const ProcSample before = target.sample();
    traffic_start = now_ns();
    attack_start = traffic_start + Clock(tm.warmup * 1e9);
    attack_end = attack_start + Clock(tm.duration * 1e9);
    stop_sending = attack_end + Clock(tm.cooldown * 1e9);
    crew.sync();

    // During the attack: fresh logins from 127.0.0.1 at evenly spaced moments,
    // the daemon's RSS sampled in between. The log is counted up to the end of
    // the cooldown, so what the mass close at the end makes it say counts too.
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<Clock>(0, attack_start - now_ns())));
    const std::uint64_t log_from = target.daemon ? target.daemon->log_size() : 0;
    const ProcSample attack_before = target.sample();
    std::uint64_t rss_peak = attack_before.rss_bytes;
    int probes_done = 0, probes_ok = 0;
    Clock probe_max = 0;
    std::string probe_error;
    Loop probe_loop;
    for (;;) {
        const Clock now = now_ns();
        if (now >= stop_sending) break;
        const Clock probe_at =
            attack_start + Clock(tm.duration * 1e9 * double(probes_done + 1) / double(o.probe_logins + 1));
        if (probes_done < o.probe_logins && now >= probe_at) {
            LoginBatch b;
            // The password storm's victim is the real user trying to get in; otherwise a fresh user each time.
            b.users = {attack == "password" ? 0u : std::uint32_t(probes_done)};
            b.credentials = [&o](std::uint32_t k) { return probe_user(o, k); };
            b.concurrency = 1;
            LoginOutcome lo = login_all(probe_loop, server, b, now + Clock(probe_timeout_s * 1e9));
            ++probes_done;
            if (lo.ok) {
                ++probes_ok;
                probe_max = std::max(probe_max, lo.finished - lo.started);
            } else if (probe_error.empty()) {
                probe_error = lo.error;
            }
            for (Conn* c : lo.conns)
                if (c) probe_loop.close(*c);
            continue;
        }
        const ProcSample s = target.sample();
        rss_peak = std::max(rss_peak, s.rss_bytes);
        const Clock next = std::min(stop_sending, probes_done < o.probe_logins ? probe_at : stop_sending);
        std::this_thread::sleep_for(std::chrono::nanoseconds(std::clamp<Clock>(next - now_ns(), 0, 50'000'000)));
    }
    const LogSpan logged = target.daemon ? target.daemon->log_since(log_from) : LogSpan{};
    const ProcSample attack_after = target.sample();
    crew.sync();
    crew.join();

    // Good users: every message answered, every ok delivered, nobody dropped.
    const std::uint64_t lost = good.ok > good.received ? good.ok - good.received : 0;
    const std::uint64_t unanswered = good.sent - std::min(good.sent, good.answered);
    rep.figure("good_sent", double(good.sent), "");
    rep.figure("good_received", double(good.received), "");
    rep.figure("good_stored", double(good.stored), "");
    rep.figure("good_refused", double(good.refused), good.refused ? fmt::format("refused={}", good.refused) : "");
    rep.figure("good_lost", double(lost), fmt::format("lost={}", lost));
    rep.check("lost", lost == 0);
    rep.figure("good_unanswered", double(unanswered), fmt::format("unanswered={}", unanswered));
    rep.check("unanswered", unanswered == 0);
    rep.figure("good_disconnects", double(good.disconnects), fmt::format("disconnects={}", good.disconnects));
    rep.check("disconnects", good.disconnects == 0);
    rep.latency("attack_", attack_latency);
    rep.check("p99", attack_latency.count() > 0 && double(attack_latency.quantile(0.99)) / 1e3 <= target_p99_us);
    rep.latency("all_", all_latency, false);
    rep.figure("flood_received", double(good.flood_seen), "");

    if (attack_after.ok) {
        const double peak = double(std::max(rss_peak, attack_after.hwm_bytes));
        rep.figure("rss_before_bytes", double(before.rss_bytes), "");
        rep.figure("rss_peak_bytes", peak, "rss_peak=" + human_bytes(peak));
        rep.check("rss", peak <= target_rss_bytes);
        if (attack_before.sched_ns > 0)
            rep.figure("server_cpu_s", double(attack_after.sched_ns - attack_before.sched_ns) / 1e9,
                       fmt::format("server_cpu={:.1f}s", double(attack_after.sched_ns - attack_before.sched_ns) / 1e9));
    }
    if (target.daemon) {
        rep.figure("log_lines", double(logged.lines), fmt::format("log_lines={}", logged.lines));
        rep.check("log_lines", logged.lines <= target_log_lines);
        rep.note("log_first", logged.first);
    }
    if (o.probe_logins > 0) {
        rep.figure("logins_ok", probes_ok, fmt::format("logins={}/{}", probes_ok, probes_done));
        rep.check("logins", probes_done == o.probe_logins && probes_ok == probes_done);
        rep.figure("login_max_us", double(probe_max) / 1e3, "");
        if (!probe_error.empty()) rep.note("login_error", probe_error);
    }

    const AttackStats& a = attack_stats;
    rep.figure("attack_connects", double(a.connects), fmt::format("attack_connects={}", a.connects));
    rep.figure("attack_server_closes", double(a.server_closes), fmt::format("closed_by_server={}", a.server_closes));
    rep.figure("attack_replies", double(a.replies), fmt::format("attack_replies={}", a.replies));
    rep.figure("attack_connect_errors", double(a.connect_errors), "");
    rep.figure("attack_requests", double(a.requests), "");
    rep.figure("attack_refused", double(a.refused), "");
    rep.figure("attack_locks", double(a.locks), "");
    rep.figure("attack_cycles", double(a.cycles), "");
    if (!a.first_error.empty()) rep.note("attack_first_error", a.first_error);
    if (!good.first_disconnect.empty()) rep.note("good_first_disconnect", good.first_disconnect);
    if (!good.first_refusal.empty()) rep.note("good_first_refusal", good.first_refusal);

    const auto missed = rep.missed();
    const std::string verdict = missed.empty() ? "met" : fmt::format("missed ({})", fmt::join(missed, ","));
    rep.note("targets", verdict);
    rep.text("targets " + verdict);
    if (crew.failed()) rep.fail(crew.error());
    if (a.connects == 0 && attack != "baseline")
        rep.fail("the attack opened no connection" + (a.first_error.empty() ? "" : ": " + a.first_error));
    if (!target.alive()) rep.fail("the daemon died");
    if (o.require_targets && !missed.empty()) rep.fail(fmt::format("targets missed: {}", fmt::join(missed, ", ")));
    return rep;
}

} // namespace confab::bench
