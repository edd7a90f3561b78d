#include "metrics.hpp"

#include <fmt/format.h>

namespace confab {

std::string_view to_string(DropReason r) noexcept {
    switch (r) {
    case DropReason::peer_closed: return "peer_closed";
    case DropReason::read_error: return "read_error";
    case DropReason::write_error: return "write_error";
    case DropReason::socket_error: return "socket_error";
    case DropReason::server_closed: return "server_closed";
    case DropReason::close_timeout: return "close_timeout";
    case DropReason::handshake_unfinished: return "handshake_unfinished";
    case DropReason::count: break;
    }
    return "unknown";
}

namespace {

// One metric family at a time: its HELP and TYPE lines, then its samples.
class Writer {
public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    template <class V>
    void sample(std::string_view name, V value, std::string_view labels = {}) {
        if (labels.empty())
            out_ += fmt::format("{} {}\n", name, value);
        else
            out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
    }
    template <class V>
    void single(std::string_view name, std::string_view type, std::string_view help, V value) {
        family(name, type, help);
        sample(name, value);
    }
    // Seconds from microseconds, cumulative buckets as Prometheus wants them.
    void histogram(std::string_view name, std::string_view help, const LatencyHistogram& h) {
        family(name, "histogram", help);
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < LatencyHistogram::bounds_us.size(); ++i) {
            cumulative += h.bucket(i);
            sample(fmt::format("{}_bucket", name), cumulative,
                   fmt::format("le=\"{}\"", double(LatencyHistogram::bounds_us[i]) / 1e6));
        }
        sample(fmt::format("{}_bucket", name), h.count(), "le=\"+Inf\"");
        sample(fmt::format("{}_sum", name), double(h.sum_us()) / 1e6);
        sample(fmt::format("{}_count", name), h.count());
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

constexpr std::string_view login_outcomes[] = {
    "ok", "wrong_password", "locked", "already_logged_in", "unknown_user", "unavailable", "too_many_attempts"};
static_assert(std::size(login_outcomes) == CoreCounters::login_outcomes);
constexpr std::string_view end_reasons[] = {"", "timed_out", "server_shutdown", "logged_out", "kicked", "locked"};
static_assert(std::size(end_reasons) == CoreCounters::end_reasons);

} // namespace

std::string render_metrics(const MetricsSnapshot& m) {
    const CoreCounters& c = *m.core;
    const ServerCounters& s = *m.server;
    Writer w;
    w.family("confab_build_info", "gauge", "confabd version (always 1)");
    w.sample("confab_build_info", 1, fmt::format("version=\"{}\"", m.version));
    w.single("process_start_time_seconds", "gauge", "start time of the daemon, Unix seconds", m.start_time_s);
    w.single("process_resident_memory_bytes", "gauge", "resident set of the daemon", m.resident_bytes);

    w.single("confab_connections", "gauge", "user connections open, logged in or not", m.connections);
    w.single("confab_connections_accepted_total", "counter", "user connections accepted", s.connections_accepted);
    w.single("confab_connections_refused_total", "counter", "connections refused (connection or address limits)",
             s.connections_refused);
    w.single("confab_sessions", "gauge", "users logged in", m.sessions);
    w.family("confab_tls_handshakes_total", "counter",
             "TLS handshakes finished, by whether a session ticket resumed them");
    w.sample("confab_tls_handshakes_total", s.tls_handshakes - s.tls_resumed, "resumed=\"false\"");
    w.sample("confab_tls_handshakes_total", s.tls_resumed, "resumed=\"true\"");

    w.family("confab_logins_total", "counter", "login answers by outcome");
    for (std::size_t i = 0; i < c.logins.size(); ++i)
        if (i != std::size_t(proto::LoginOutcome::unknown_user)) // never sent (PROTOCOL.md §7.2)
            w.sample("confab_logins_total", c.logins[i], fmt::format("outcome=\"{}\"", login_outcomes[i]));
    w.single("confab_lockouts_total", "counter", "names locked after wrong passwords", c.lockouts);
    w.single("confab_lockouts_tracked", "gauge", "names with failure counts or running lockouts", m.lockouts_tracked);
    w.single("confab_admin_locks_total", "counter", "administrative locks (confabctl lock)", c.admin_locks);
    w.single("confab_kicks_total", "counter", "sessions ended by confabctl kick", c.kicks);

    w.family("confab_messages_total", "counter", "messages by kind");
    w.sample("confab_messages_total", c.messages_direct, "kind=\"direct\"");
    w.sample("confab_messages_total", c.broadcasts, "kind=\"broadcast\"");
    w.sample("confab_messages_total", c.messages_stored, "kind=\"stored_offline\"");
    w.sample("confab_messages_total", c.messages_offline_delivered, "kind=\"delivered_offline\"");
    w.single("confab_broadcast_deliveries_total", "counter", "broadcast copies queued to recipients",
             c.broadcast_deliveries);
    w.single("confab_notices_total", "counter", "announcements (confabctl wall)", c.notices);
    if (m.offline_held)
        w.single("confab_offline_messages", "gauge", "stored messages waiting for their recipients", *m.offline_held);

    w.single("confab_received_bytes_total", "counter", "bytes received from user connections", s.bytes_received);
    w.single("confab_sent_bytes_total", "counter", "bytes sent to user connections", s.bytes_sent);

    w.family("confab_session_ends_total", "counter", "sessions ended by the server, by reason");
    for (std::size_t i = 1; i < c.session_ends.size(); ++i)
        w.sample("confab_session_ends_total", c.session_ends[i], fmt::format("reason=\"{}\"", end_reasons[i]));
    w.single("confab_protocol_errors_total", "counter", "connections closed with a protocol error", c.protocol_errors);
    w.single("confab_login_timeouts_total", "counter", "connections closed for not logging in in time",
             c.login_timeouts);
    w.single("confab_output_overflows_total", "counter", "clients dropped for reading too slowly", s.output_overflows);
    w.family("confab_disconnects_total", "counter", "user connections closed, by reason");
    for (std::size_t i = 0; i < s.disconnects.size(); ++i)
        w.sample("confab_disconnects_total", s.disconnects[i], fmt::format("reason=\"{}\"", to_string(DropReason(i))));

    if (m.store_commit) {
        w.single("confab_store_queue_depth", "gauge", "changes waiting for the next commit", m.store_queue_depth);
        w.histogram("confab_store_commit_seconds", "duration of each group commit to the state database",
                    *m.store_commit);
    }
    if (const ClusterCounters* k = m.cluster) {
        w.single("confab_cluster_available", "gauge", "1 while the cluster engine (Redis) is reachable",
                 int(m.cluster_available));
        w.single("confab_cluster_published_total", "counter", "events published to other nodes", k->published);
        w.single("confab_cluster_received_total", "counter", "events received from other nodes", k->received);
        w.single("confab_cluster_undecodable_total", "counter", "cluster messages that could not be decoded",
                 k->undecodable);
        w.single("confab_cluster_routed_not_delivered_total", "counter",
                 "events for one node that found it not listening", k->routed_not_delivered);
        w.single("confab_cluster_nodes_down_total", "counter", "nodes noticed to have stopped heartbeating",
                 k->nodes_down);
        w.single("confab_cluster_events_dropped_total", "counter",
                 "events from other nodes dropped while the replica was read (more than are kept)", k->events_dropped);
        w.single("confab_cluster_failed_writes_total", "counter", "state writes Redis did not take", k->failed_writes);
        w.single("confab_cluster_answers_lost_total", "counter",
                 "answers to other nodes' messages not sent because Redis was unreachable", k->answers_lost);
    }
    w.histogram("confab_event_loop_iteration_seconds", "work done per event-loop iteration", s.loop);

    w.single("confab_control_connections", "gauge", "control-socket connections open", m.control_connections);
    w.single("confab_control_requests_total", "counter", "control requests answered", m.control_requests);
    w.single("confab_control_refused_total", "counter", "control-socket peers refused", m.control_refused);
    return w.take();
}

} // namespace confab
