// The metrics renderer: its output parsed back as the Prometheus text format
// (0.0.4) by a small strict parser, and the values found where they belong.
#include "metrics.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace confab;

namespace {

struct Parsed {
    std::map<std::string, std::string> types; // family -> type
    std::map<std::string, double> samples;    // "name{labels}" -> value
    std::vector<std::string> order;           // sample keys as they came
};

// Fails the test on any line that is not HELP, TYPE or a sample of a declared family.
Parsed parse(const std::string& text) {
    static const std::regex help(R"re(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)re");
    static const std::regex type(R"re(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))re");
    static const std::regex sample(
        R"re(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})? (\S+))re");
    Parsed p;
    REQUIRE(!text.empty());
    CHECK(text.back() == '\n');
    std::istringstream in(text);
    std::string line, family;
    std::set<std::string> helped;
    while (std::getline(in, line)) {
        CAPTURE(line);
        std::smatch m;
        if (std::regex_match(line, m, help)) {
            CHECK(helped.insert(m[1]).second);
        } else if (std::regex_match(line, m, type)) {
            family = m[1];
            CHECK(helped.count(family));
            CHECK(p.types.emplace(family, m[2]).second); // one TYPE per family
            if (m[2] == "counter") CHECK(family.ends_with("_total"));
        } else if (std::regex_match(line, m, sample)) {
            const std::string name = m[1];
            const std::string& t = p.types[family];
            if (t == "histogram")
                CHECK((name == family + "_bucket" || name == family + "_sum" || name == family + "_count"));
            else
                CHECK(name == family);
            std::size_t used = 0;
            const std::string value = m[4];
            double v = value == "+Inf" ? INFINITY : std::stod(value, &used);
            if (value != "+Inf") CHECK(used == value.size());
            const std::string key = name + std::string(m[2]);
            CHECK(p.samples.emplace(key, v).second);
            p.order.push_back(key);
        } else {
            FAIL("not a line of the text format");
        }
    }
    return p;
}

// Cumulative buckets with increasing bounds, ending at +Inf == _count.
void check_histogram(const Parsed& p, const std::string& name) {
    double last_le = -1, last_count = 0;
    bool inf = false;
    static const std::regex le(R"re(.*\{le="([^"]+)"\})re");
    for (const auto& key : p.order) {
        if (!key.starts_with(name + "_bucket")) continue;
        std::smatch m;
        REQUIRE(std::regex_match(key, m, le));
        const double bound = m[1] == "+Inf" ? INFINITY : std::stod(m[1]);
        CHECK(bound > last_le);
        CHECK(p.samples.at(key) >= last_count);
        last_le = bound;
        last_count = p.samples.at(key);
        inf = m[1] == "+Inf";
    }
    CHECK(inf);
    CHECK(last_count == p.samples.at(name + "_count"));
}

} // namespace

TEST_CASE("the metrics parse as the Prometheus text format and carry the counters") {
    CoreCounters core;
    core.logins[std::size_t(proto::LoginOutcome::ok)] = 7;
    core.logins[std::size_t(proto::LoginOutcome::wrong_password)] = 3;
    core.lockouts = 1;
    core.messages_direct = 100;
    core.broadcasts = 4;
    core.messages_stored = 5;
    core.messages_offline_delivered = 2;
    core.count_end(proto::EndReason::kicked);
    ServerCounters server;
    server.bytes_received = 12345;
    server.bytes_sent = 67890;
    server.disconnects[std::size_t(DropReason::peer_closed)] = 9;
    server.loop.observe_us(3);
    server.loop.observe_us(700);
    server.loop.observe_us(5'000'000);
    LatencyHistogram commits;
    commits.observe_us(2'000);
    MetricsSnapshot m;
    m.version = "1.2.3";
    m.start_time_s = 1764000000.5;
    m.resident_bytes = 4096;
    m.connections = 3;
    m.sessions = 2;
    m.core = &core;
    m.server = &server;
    m.store_commit = &commits;
    m.offline_held = 6;

    const Parsed p = parse(render_metrics(m));
    CHECK(p.samples.at("confab_build_info{version=\"1.2.3\"}") == 1);
    CHECK(p.samples.at("process_start_time_seconds") == 1764000000.5);
    CHECK(p.samples.at("confab_connections") == 3);
    CHECK(p.samples.at("confab_sessions") == 2);
    CHECK(p.samples.at("confab_logins_total{outcome=\"ok\"}") == 7);
    CHECK(p.samples.at("confab_logins_total{outcome=\"wrong_password\"}") == 3);
    CHECK(p.samples.count("confab_logins_total{outcome=\"unknown_user\"}") == 0); // never sent
    CHECK(p.samples.at("confab_lockouts_total") == 1);
    CHECK(p.samples.at("confab_messages_total{kind=\"direct\"}") == 100);
    CHECK(p.samples.at("confab_messages_total{kind=\"broadcast\"}") == 4);
    CHECK(p.samples.at("confab_messages_total{kind=\"stored_offline\"}") == 5);
    CHECK(p.samples.at("confab_messages_total{kind=\"delivered_offline\"}") == 2);
    CHECK(p.samples.at("confab_offline_messages") == 6);
    CHECK(p.samples.at("confab_session_ends_total{reason=\"kicked\"}") == 1);
    CHECK(p.samples.at("confab_received_bytes_total") == 12345);
    CHECK(p.samples.at("confab_sent_bytes_total") == 67890);
    CHECK(p.samples.at("confab_disconnects_total{reason=\"peer_closed\"}") == 9);
    CHECK(p.types.at("confab_event_loop_iteration_seconds") == "histogram");
    check_histogram(p, "confab_event_loop_iteration_seconds");
    check_histogram(p, "confab_store_commit_seconds");
    CHECK(p.samples.at("confab_event_loop_iteration_seconds_count") == 3);
    CHECK(p.samples.at("confab_event_loop_iteration_seconds_bucket{le=\"1e-05\"}") == 1);
    CHECK(p.samples.at("confab_event_loop_iteration_seconds_bucket{le=\"0.001\"}") == 2);
    CHECK(p.samples.at("confab_event_loop_iteration_seconds_bucket{le=\"2.5\"}") == 2); // 5 s is past the last bound
    CHECK(p.samples.at("confab_event_loop_iteration_seconds_sum") == doctest::Approx(5.000703));
    CHECK(p.samples.at("confab_store_commit_seconds_sum") == doctest::Approx(0.002));
}

TEST_CASE("a histogram puts each sample in the first bucket whose bound holds it") {
    LatencyHistogram h;
    h.observe_us(10); // on the bound: that bucket
    h.observe_us(11);
    h.observe_us(-1); // a clock step back counts as 0
    CHECK(h.bucket(0) == 2);
    CHECK(h.bucket(1) == 1);
    CHECK(h.count() == 3);
    CHECK(h.sum_us() == 21);
}

TEST_CASE("a cluster node shows the engine's counters instead of the SQLite store's") {
    CoreCounters core;
    ServerCounters server;
    ClusterCounters cluster;
    cluster.published = 11;
    cluster.received = 7;
    cluster.undecodable = 1;
    cluster.routed_not_delivered = 2;
    cluster.nodes_down = 1;
    cluster.events_dropped = 4;
    cluster.failed_writes = 3;
    cluster.answers_lost = 5;
    MetricsSnapshot m;
    m.version = "1";
    m.core = &core;
    m.server = &server;
    m.cluster = &cluster;
    m.cluster_available = true;
    const Parsed p = parse(render_metrics(m));
    CHECK(p.samples.at("confab_cluster_available") == 1);
    CHECK(p.samples.at("confab_cluster_published_total") == 11);
    CHECK(p.samples.at("confab_cluster_received_total") == 7);
    CHECK(p.samples.at("confab_cluster_undecodable_total") == 1);
    CHECK(p.samples.at("confab_cluster_routed_not_delivered_total") == 2);
    CHECK(p.samples.at("confab_cluster_nodes_down_total") == 1);
    CHECK(p.samples.at("confab_cluster_events_dropped_total") == 4);
    CHECK(p.samples.at("confab_cluster_failed_writes_total") == 3);
    CHECK(p.samples.at("confab_cluster_answers_lost_total") == 5);
    CHECK(p.samples.count("confab_store_queue_depth") == 0);
    CHECK(p.samples.count("confab_offline_messages") == 0); // in Redis: no node's count is the true one

    MetricsSnapshot local = m;
    local.cluster = nullptr;
    CHECK(parse(render_metrics(local)).samples.count("confab_cluster_available") == 0);
}
