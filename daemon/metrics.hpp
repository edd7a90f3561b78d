// The daemon's metrics: what the server glue counts itself (ServerCounters),
// everything gathered at one moment (MetricsSnapshot: the core's counters, the
// gauges, both latency histograms), and the one renderer, to the Prometheus
// text exposition format 0.0.4 (confabctl metrics; GET /metrics).
#pragma once

#include "cluster/cluster_counters.hpp"
#include "core/counters.hpp"
#include "latency_histogram.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace confab {

// Why the server closed a user connection's socket (confab_disconnects_total{reason}).
enum class DropReason : std::uint8_t {
    peer_closed,          // the client closed
    read_error,           // reading failed (reset, TLS failure)
    write_error,          // writing failed
    socket_error,         // EPOLLERR
    server_closed,        // closed once its last frames were written (logout, kick, timeout, error...)
    close_timeout,        // it did not read its last frames within the close grace
    handshake_unfinished, // closed before its TLS handshake finished
    count
};
std::string_view to_string(DropReason r) noexcept;

// Counted by the reactor glue: plain integers, reactor thread only.
struct ServerCounters {
    std::uint64_t connections_accepted = 0;
    std::uint64_t connections_refused = 0; // max_connections or a per-address limit
    std::uint64_t bytes_received = 0;      // user connections, after TLS
    std::uint64_t bytes_sent = 0;
    std::uint64_t output_overflows = 0; // clients dropped for reading too slowly
    std::uint64_t tls_handshakes = 0;   // finished, resumed or not
    std::uint64_t tls_resumed = 0;      // of those, resumed from a session ticket
    std::array<std::uint64_t, std::size_t(DropReason::count)> disconnects{};
    LatencyHistogram loop; // work per event-loop iteration (after epoll_wait returns)
};

struct MetricsSnapshot {
    std::string_view version;
    double start_time_s = 0; // Unix seconds
    std::uint64_t resident_bytes = 0;
    std::uint64_t connections = 0;             // user connections open now
    std::uint64_t sessions = 0;                // logged-in users now
    std::optional<std::uint64_t> offline_held; // nullopt: not counted here (a cluster's are in Redis)
    std::uint64_t lockouts_tracked = 0;
    std::uint64_t store_queue_depth = 0;
    std::uint64_t control_connections = 0;
    std::uint64_t control_requests = 0;
    std::uint64_t control_refused = 0; // peers the control socket turned away
    const CoreCounters* core = nullptr;
    const ServerCounters* server = nullptr;
    const LatencyHistogram* store_commit = nullptr; // null: no SQLite store (cluster mode)
    const ClusterCounters* cluster = nullptr;       // null: not a cluster node
    bool cluster_available = false;
};

std::string render_metrics(const MetricsSnapshot& m);

} // namespace confab
