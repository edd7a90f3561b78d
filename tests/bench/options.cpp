#include "options.hpp"

#include "attacks.hpp"
#include "proto/parse_number.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <getopt.h>
#include <string_view>

namespace confab::bench {
namespace {

constexpr const char* usage_text = R"(usage: confab-bench [OPTIONS] [WORKLOAD...]

Workloads (default: all; with --smoke also hostile): direct fanout idle login store all
  hostile (every attack below, one fresh daemon each) or hostile-ATTACK, ATTACK one of
  baseline (no attack) lockout broadcast direct password connect stall burst

Target:
  --confabd PATH        daemon binary to start (default ./build/daemon/confabd)
  --connect HOST:PORT   use a running daemon instead (loopback only; its users
                        file must come from --print-users)
  --pid PID             the running daemon's pid, for CPU and RSS figures
  --daemon-log-level L  log_level of the started daemon (default info)
  --hash-workers N      hash_workers of the started daemon
  --presence            turn presence broadcasts on (default off)
  --keep-dir            keep the daemon's temp dir (config, users, log)
  --set KEY=VALUE       passed on to the started confabd as --set KEY=VALUE (repeatable)

Cluster (docs/CLUSTER.md):
  --nodes N             start a redis-server (127.0.0.1, ephemeral port, temp dir, no RDB)
                        and N confabd nodes ([cluster] engine = "redis", node ids node0..,
                        one users file); user u logs in on node u % N, so the two users of
                        a direct pair are on different nodes. CPU and RSS figures are the
                        sum over every node and redis-server. Default workloads: direct,
                        direct with --same-node, fanout, idle, login, store
  --same-node           direct: both users of a pair on one node (pairs spread over nodes)
  --redis-server PATH   redis-server binary (default redis-server on PATH)
  --redis-aof MODE      always (appendonly yes, appendfsync always: the prescribed
                        setting; default), everysec, or no (appendonly no)

Client:
  --tls                 TLS 1.3: the started daemon gets a certificate made at run time
                        (openssl req, ECDSA P-256, in its temp dir) and every session
                        speaks TLS (hostile attacks stay plaintext)
  --resume              with --tls: a first handshake saves a session ticket and every
                        measured connection resumes it (no certificate, no signature)
  --threads N           client threads, each owning a share of the connections (1)
  --window W            requests in flight per sender (64)
  --text-bytes N        message text size (64, at least 32)
  --concurrency N       connections in handshake at once (1000)
  --timeout S           deadline per workload in seconds (derived from the size)

direct:  --pairs P (50)  --messages M (200000)  --duration S  --rate MSG_PER_S
fanout:  --users K (10000)  --broadcasts B (200)  --in-flight N (1: next leaves when all have the last)
idle:    --sessions N (100000)  --hold S (1)
login:   --logins M (1000)  --login-pairs P (50)  --login-rate MSG_PER_S (5000)
store:   --store-senders S (20)  --store-messages M (100000)  --store-pairs P (50)
         (offline messages, durably stored; the P pairs send at --login-rate)
hostile: --duration S per attack (10)  --good-users N (100)  --good-rate MSG_PER_S (500)
         --attack-conns N (5000: connect, stall, burst; bounded by RLIMIT_NOFILE)
         --storm-conns N (50: lockout, password)  --attack-sources N (1: all from 127.0.0.2)
         --probe-logins N (3: fresh logins from 127.0.0.1 during each attack, yescrypt users)
         --plain-probes (the probes have plaintext passwords: no hash in the users file,
                         so unknown names are refused without the decoy hash)
         --require-targets (exit status 1 when a target is missed)
         The started daemon keeps its default limits; tune them with --set.

Output:
  --json                one JSON object per workload on stdout (text lines go to stderr)
  --smoke               every workload at its smallest size (CI)
  --print-users N       print a users file with N bench users (+ --logins hashed ones) and exit
  -h, --help
)";

template <class T>
bool parse_num(std::string_view s, T& out) {
    auto v = confab::parse_number<T>(s);
    if (v) out = *v;
    return v.has_value();
}

} // namespace

std::optional<Options> parse_options(int argc, char** argv, int& exit_code) {
    Options o;
    enum Id {
        confabd = 256,
        connect,
        pid,
        daemon_log_level,
        hash_workers,
        presence,
        keep_dir,
        threads,
        window,
        text_bytes,
        concurrency,
        timeout,
        pairs,
        messages,
        duration,
        rate,
        users,
        broadcasts,
        in_flight,
        sessions,
        hold,
        logins,
        login_pairs,
        login_rate,
        store_senders,
        store_messages,
        store_pairs,
        daemon_set,
        good_users,
        good_rate,
        attack_conns,
        storm_conns,
        attack_sources,
        probe_logins,
        plain_probes,
        require_targets,
        tls,
        resume,
        json,
        smoke,
        nodes,
        same_node,
        redis_server,
        redis_aof,
        print_users
    };
    static const option longopts[] = {
        {"confabd", required_argument, nullptr, confabd},
        {"connect", required_argument, nullptr, connect},
        {"pid", required_argument, nullptr, pid},
        {"daemon-log-level", required_argument, nullptr, daemon_log_level},
        {"hash-workers", required_argument, nullptr, hash_workers},
        {"presence", no_argument, nullptr, presence},
        {"keep-dir", no_argument, nullptr, keep_dir},
        {"threads", required_argument, nullptr, threads},
        {"window", required_argument, nullptr, window},
        {"text-bytes", required_argument, nullptr, text_bytes},
        {"concurrency", required_argument, nullptr, concurrency},
        {"timeout", required_argument, nullptr, timeout},
        {"pairs", required_argument, nullptr, pairs},
        {"messages", required_argument, nullptr, messages},
        {"duration", required_argument, nullptr, duration},
        {"rate", required_argument, nullptr, rate},
        {"users", required_argument, nullptr, users},
        {"broadcasts", required_argument, nullptr, broadcasts},
        {"in-flight", required_argument, nullptr, in_flight},
        {"sessions", required_argument, nullptr, sessions},
        {"hold", required_argument, nullptr, hold},
        {"logins", required_argument, nullptr, logins},
        {"login-pairs", required_argument, nullptr, login_pairs},
        {"login-rate", required_argument, nullptr, login_rate},
        {"store-senders", required_argument, nullptr, store_senders},
        {"store-messages", required_argument, nullptr, store_messages},
        {"store-pairs", required_argument, nullptr, store_pairs},
        {"set", required_argument, nullptr, daemon_set},
        {"good-users", required_argument, nullptr, good_users},
        {"good-rate", required_argument, nullptr, good_rate},
        {"attack-conns", required_argument, nullptr, attack_conns},
        {"storm-conns", required_argument, nullptr, storm_conns},
        {"attack-sources", required_argument, nullptr, attack_sources},
        {"probe-logins", required_argument, nullptr, probe_logins},
        {"plain-probes", no_argument, nullptr, plain_probes},
        {"require-targets", no_argument, nullptr, require_targets},
        {"tls", no_argument, nullptr, tls},
        {"resume", no_argument, nullptr, resume},
        {"json", no_argument, nullptr, json},
        {"smoke", no_argument, nullptr, smoke},
        {"nodes", required_argument, nullptr, nodes},
        {"same-node", no_argument, nullptr, same_node},
        {"redis-server", required_argument, nullptr, redis_server},
        {"redis-aof", required_argument, nullptr, redis_aof},
        {"print-users", required_argument, nullptr, print_users},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    // Sizes given explicitly survive --smoke; the rest shrink.
    bool given[print_users + 1] = {};
    auto bad = [&](std::string_view what) {
        fmt::print(stderr, "confab-bench: {}\n(try --help)\n", what);
        exit_code = 2;
        return std::nullopt;
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, nullptr)) != -1) {
        if (c == 'h') {
            fmt::print("{}", usage_text);
            exit_code = 0;
            return std::nullopt;
        }
        if (c == '?') {
            exit_code = 2;
            return std::nullopt;
        }
        given[c] = true;
        std::string_view a = optarg ? optarg : "";
        bool ok = true;
        switch (c) {
        case confabd: o.confabd = a; break;
        case connect: {
            auto colon = a.rfind(':');
            if (colon == std::string_view::npos) return bad("--connect wants HOST:PORT");
            o.connect_host = a.substr(0, colon);
            ok = parse_num(a.substr(colon + 1), o.connect_port) && o.connect_port != 0;
            break;
        }
        case pid: ok = parse_num(a, o.pid) && o.pid > 0; break;
        case daemon_log_level: o.daemon_log_level = a; break;
        case hash_workers: ok = parse_num(a, o.hash_workers) && o.hash_workers > 0; break;
        case presence: o.presence = true; break;
        case keep_dir: o.keep_dir = true; break;
        case threads: ok = parse_num(a, o.threads) && o.threads >= 1 && o.threads <= 64; break;
        case window: ok = parse_num(a, o.window) && o.window >= 1; break;
        case text_bytes: ok = parse_num(a, o.text_bytes) && o.text_bytes >= 32 && o.text_bytes <= 1000; break;
        case concurrency: ok = parse_num(a, o.concurrency) && o.concurrency >= 1; break;
        case timeout: ok = parse_num(a, o.timeout_s) && o.timeout_s > 0; break;
        case pairs: ok = parse_num(a, o.pairs) && o.pairs >= 1; break;
        case messages: ok = parse_num(a, o.messages) && o.messages >= 1; break;
        case duration: ok = parse_num(a, o.duration_s) && o.duration_s > 0; break;
        case rate: ok = parse_num(a, o.rate) && o.rate > 0; break;
        case users: ok = parse_num(a, o.users) && o.users >= 1; break;
        case broadcasts: ok = parse_num(a, o.broadcasts) && o.broadcasts >= 1; break;
        case in_flight: ok = parse_num(a, o.in_flight) && o.in_flight >= 1; break;
        case sessions: ok = parse_num(a, o.sessions) && o.sessions >= 1; break;
        case hold: ok = parse_num(a, o.hold_s) && o.hold_s >= 0; break;
        case logins: ok = parse_num(a, o.logins) && o.logins >= 1; break;
        case login_pairs: ok = parse_num(a, o.login_pairs) && o.login_pairs >= 1; break;
        case login_rate: ok = parse_num(a, o.login_rate) && o.login_rate > 0; break;
        case store_senders: ok = parse_num(a, o.store_senders) && o.store_senders >= 1; break;
        case store_messages: ok = parse_num(a, o.store_messages) && o.store_messages >= 1; break;
        case store_pairs: ok = parse_num(a, o.store_pairs) && o.store_pairs >= 1; break;
        case daemon_set:
            ok = a.find('=') != std::string_view::npos && a.find('=') > 0;
            if (ok) o.daemon_set.emplace_back(a);
            break;
        case good_users: ok = parse_num(a, o.good_users) && o.good_users >= 2 && o.good_users % 2 == 0; break;
        case good_rate: ok = parse_num(a, o.good_rate) && o.good_rate > 0; break;
        case attack_conns: ok = parse_num(a, o.attack_conns) && o.attack_conns >= 1; break;
        case storm_conns: ok = parse_num(a, o.storm_conns) && o.storm_conns >= 1; break;
        case attack_sources:
            ok = parse_num(a, o.attack_sources) && o.attack_sources >= 1 && o.attack_sources <= 250;
            break;
        case probe_logins: ok = parse_num(a, o.probe_logins) && o.probe_logins >= 0; break;
        case plain_probes: o.plain_probes = true; break;
        case require_targets: o.require_targets = true; break;
        case tls: o.tls = true; break;
        case resume: o.resume = true; break;
        case json: o.json = true; break;
        case smoke: o.smoke = true; break;
        case nodes: ok = parse_num(a, o.nodes) && o.nodes >= 1 && o.nodes <= 64; break;
        case same_node: o.same_node = true; break;
        case redis_server: o.redis_server = a; break;
        case redis_aof:
            ok = a == "always" || a == "everysec" || a == "no";
            o.redis_aof = a;
            break;
        case print_users: ok = parse_num(a, o.print_users) && o.print_users >= 0; break;
        default: ok = false;
        }
        if (!ok) return bad(fmt::format("bad value '{}' for --{}", a, longopts[c - confabd].name));
    }
    auto add_hostile = [&] {
        for (const auto& a : attack_names()) o.workloads.push_back("hostile-" + a);
    };
    auto is_attack = [](std::string_view w) {
        const auto& names = attack_names();
        return w.rfind("hostile-", 0) == 0 && std::find(names.begin(), names.end(), w.substr(8)) != names.end();
    };
    for (int i = optind; i < argc; ++i) {
        std::string_view w = argv[i];
        if (w == "all") {
            for (const char* n : {"direct", "fanout", "idle", "login", "store"}) o.workloads.emplace_back(n);
        } else if (w == "direct" || w == "fanout" || w == "idle" || w == "login" || w == "store" || is_attack(w)) {
            o.workloads.emplace_back(w);
        } else if (w == "hostile") {
            add_hostile();
        } else {
            return bad(fmt::format("unknown workload '{}'", w));
        }
    }
    if (o.resume && !o.tls) return bad("--resume needs --tls");
    if (o.nodes > 1) {
        if (!o.connect_host.empty()) return bad("--nodes starts its own cluster: not with --connect");
        if (o.tls) return bad("--nodes runs plaintext only (each node would present its own certificate)");
        for (const auto& w : o.workloads)
            if (w.rfind("hostile-", 0) == 0) return bad("hostile attacks run against one daemon: not with --nodes");
        if (o.workloads.empty()) o.workloads = {"direct", "same-node:direct", "fanout", "idle", "login", "store"};
    }
    if (o.workloads.empty()) {
        o.workloads = {"direct", "fanout", "idle", "login", "store"};
        if (o.smoke) add_hostile();
        // CI also runs the TLS transport: messages, full handshakes, and logins that resume.
        if (o.smoke && !o.tls)
            for (const char* n : {"tls:direct", "tls:fanout", "tls:idle", "tls-resume:login"})
                o.workloads.emplace_back(n);
    }
    if (o.smoke) {
        if (!given[pairs]) o.pairs = 4;
        if (!given[messages]) o.messages = 2000;
        if (!given[users]) o.users = 50;
        if (!given[broadcasts]) o.broadcasts = 20;
        if (!given[sessions]) o.sessions = 200;
        if (!given[hold]) o.hold_s = 0.2;
        if (!given[logins]) o.logins = 20;
        if (!given[login_pairs]) o.login_pairs = 4;
        if (!given[login_rate]) o.login_rate = 2000;
        if (!given[store_senders]) o.store_senders = 2;
        if (!given[store_messages]) o.store_messages = 200;
        if (!given[store_pairs]) o.store_pairs = 4;
        if (!given[timeout]) o.timeout_s = 30;
        if (!given[good_users]) o.good_users = 8;
        if (!given[good_rate]) o.good_rate = 200;
        if (!given[attack_conns]) o.attack_conns = 50;
        if (!given[storm_conns]) o.storm_conns = 4;
        if (!given[probe_logins]) o.probe_logins = 1;
    }
    return o;
}

} // namespace confab::bench
