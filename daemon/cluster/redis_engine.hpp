// The Redis engine behind ClusterLink (docs/CLUSTER.md): one Redis connection
// for commands and one subscribed to this node's channels, both on the
// reactor. It claims and releases sessions, publishes events and routes them
// to one node, heartbeats this node's alive key, notices nodes that stopped
// heartbeating (NodeDown, then cleans up after them), and after every
// (re)connect rebuilds the remote replica with a Snapshot before saying it is
// available again. Everything it hears goes to the daemon's glue (ClusterEvents),
// which hands it to ChatCore with the time.
//
// Reactor thread only, except prepare() and leave() (blocking, start-up and exit).
#pragma once

#include "cluster/cluster_counters.hpp"
#include "cluster/redis_connection.hpp"
#include "cluster/redis_sync.hpp"
#include "core/cluster.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace confab {

// What the engine tells the glue; each is forwarded to ChatCore's on_* of the same name.
class ClusterEvents {
public:
    virtual void on_claimed(std::uint64_t tag, cluster::Claim result) = 0;
    virtual void on_routed(std::uint64_t tag, bool delivered) = 0;
    virtual void on_flushed(std::uint64_t tag, bool ok) = 0;
    virtual void on_cluster_event(const cluster::Event& e) = 0;
    virtual void on_cluster_available(bool up) = 0;

protected:
    ~ClusterEvents() = default;
};

class RedisEngine final : public ClusterLink {
public:
    static constexpr std::int64_t alive_ttl_ms = 10'000;       // an alive key lives this long
    static constexpr std::int64_t heartbeat_ms = 3000;         // ... and is refreshed this often
    static constexpr std::int64_t liveness_ms = 1000;          // other nodes' alive keys checked this often
    static constexpr std::size_t max_buffered_events = 10'000; // heard while a Snapshot is being read

    // Timers the engine asks for (the glue arms TimerKind cluster_heartbeat / cluster_liveness).
    struct Timers {
        std::function<void(std::int64_t delay_ms)> heartbeat, liveness;
    };
    // Makes a connection to Redis (not started) that outlives the engine: the reactor glue's.
    using Connect = std::function<RedisConnection&(RedisConnection::Hooks)>;
    // `max_buffered`: events heard while a Snapshot is read that are kept (tests make it small).
    RedisEngine(const Connect& connect, std::string node_id, ClusterEvents& out, Timers timers,
                std::size_t max_buffered = max_buffered_events);
    ~RedisEngine() override;

    // Start-up, blocking (before the reactor runs): this node's ordinal, and the clean-up
    // of an earlier run of the same node id (a restart after SIGKILL). Throws RedisError,
    // or std::runtime_error when every ordinal is held by a live node.
    void prepare(RedisSync& redis);
    // Connects both connections; available once connected and a Snapshot was taken.
    void start();
    // Exit, blocking: this node's sessions and presence are removed from Redis.
    void leave(RedisSync& redis);
    // The names whose last-seen times and stored state (blocks, locks, trusted addresses)
    // a Snapshot carries (the users file).
    void set_names(std::vector<std::string> names) { names_ = std::move(names); }
    const std::vector<std::string>& names() const noexcept { return names_; }

    // ClusterLink
    const std::string& node_id() const override { return node_id_; }
    std::uint16_t node_ordinal() const override { return ordinal_; }
    bool available() const override { return ready_; }
    void claim(std::uint64_t tag, std::string_view name) override;
    void release(std::string_view name) override;
    void publish(const cluster::Event& e) override;
    void send_to(std::string_view node, std::uint64_t tag, const cluster::Event& e) override;
    void flush(std::uint64_t tag) override;
    // End of a turn of the loop: the Directs and the DirectAnswers of the turn go out, one
    // PUBLISH per node and kind. Anything else published or sent, and a flush, sends them first,
    // so nothing this node publishes overtakes a message its users sent before it.
    void send_batched();
    bool has_batched() const noexcept { return !directs_.empty() || !answers_.empty(); }
    // A node's batch is sent at once when it holds this many messages (or answers) ...
    static constexpr std::size_t max_batched = 256;
    // ... or this many bytes of their fields: a subscriber's pub/sub output buffer stays small.
    static constexpr std::size_t max_batched_bytes = 64 * 1024;

    // From the glue
    void on_heartbeat_timer();
    void on_liveness_timer();
    // Answers that came while the core was calling in (a refused claim): delivered from the loop.
    bool has_deferred() const noexcept { return !deferred_.empty(); }
    void deliver_deferred();
    bool idle() const noexcept; // nothing sent and unanswered (shutdown waits for this)

    RedisConnection& commands() noexcept { return *commands_; }
    const ClusterCounters& counters() const noexcept { return counters_; }
    bool connected() const noexcept; // both connections up (available() also needs the Snapshot)

private:
    struct Snapshotting;
    struct OrdinalSearch;
    void on_up();
    void on_down(std::string_view why);
    void reassert(); // after a reconnect: alive key and node set
    void take_snapshot(bool resync = false);
    void reclaim(const std::shared_ptr<Snapshotting>& s); // this node's sessions, before the read
    // The handler of a release's or an Offline's command: no reply keeps it for resend_releases.
    RedisConnection::ReplyHandler release_lost(std::string name, std::int64_t at_wall_ms);
    void resend_releases(); // after a reconnect
    void read_stored(const std::shared_ptr<Snapshotting>& s, std::size_t start);
    void snapshot_part_done(const std::shared_ptr<Snapshotting>& s);
    void finish_snapshot(Snapshotting& s);
    void drop_event();
    void heard_while_resyncing(const cluster::Event& e);
    void on_message(std::string_view channel, std::string_view payload);
    void node_down(const std::string& node);
    void heartbeat();
    void ordinal_lost(std::string holder); // its slot is another node's now: look for a free one
    void try_ordinal(const std::shared_ptr<OrdinalSearch>& s, std::size_t i);
    void flush_round(std::uint64_t tag, int rounds_left); // flush(): a PING, after its answer another
    void answer(std::function<void()> f);                 // now, or deferred when the core is calling in
    void send(std::span<const std::string_view> argv, RedisConnection::ReplyHandler done);

    std::string node_id_;
    ClusterEvents& out_;
    Timers timers_;
    RedisConnection* commands_ = nullptr;
    RedisConnection* subscriber_ = nullptr;
    std::uint16_t ordinal_ = 0;      // its slot refreshed with the heartbeat (cluster/node_ordinal.hpp)
    bool searching_ordinal_ = false; // ordinal_'s slot was lost; a free one is being looked for
    bool ready_ = false;             // available(): connected and the replica rebuilt
    std::uint64_t generation_ = 0;   // of connections: a Snapshot of an older one is dropped
    int in_call_ = 0;                // > 0 while the core calls in
    std::vector<std::function<void()>> deferred_;
    std::vector<cluster::Event> buffered_;     // heard while not ready
    std::unordered_set<std::string> held_;     // sessions this node holds (released at leave())
    std::unordered_set<std::string> claiming_; // claims sent, not answered
    std::unordered_set<std::string> cleaning_; // nodes being cleaned up after
    std::vector<std::string> names_;
    // Names whose release, or whose Offline, got no reply (Redis was away), and login claims that
    // got none (they may have been applied): name -> the Offline's time (0: a release alone).
    // Sent again once connected, before anything is claimed again or read.
    std::unordered_map<std::string, std::int64_t> unsent_releases_;
    // What one node gets at the end of the turn: Directs (with their routing tags) or answers.
    struct DirectBatch {
        cluster::Directs directs;
        std::vector<std::uint64_t> tags; // directs' own, answered by on_routed
        std::size_t bytes = 0;
    };
    struct AnswerBatch {
        cluster::DirectAnswers answers;
        std::size_t bytes = 0;
    };
    void send_directs(const std::string& node, DirectBatch batch);
    void send_answers(const std::string& node, const AnswerBatch& batch);
    std::unordered_map<std::string, DirectBatch> directs_; // by node, until send_batched()
    std::unordered_map<std::string, AnswerBatch> answers_; // by node, until send_batched()
    ClusterCounters counters_;

    std::size_t max_buffered_; // of buffered_, and of heard_resyncing_
    // Events dropped since the replica was last read: beyond max_buffered_ while not ready,
    // or presence beyond it during a resync. The replica may then be stale: read again.
    std::uint64_t dropped_ = 0;
    bool resyncing_ = false;                  // reading the replica again while available
    enum class Retry { none, first, resync }; // a replica read that Redis failed, to try at the liveness tick
    Retry snapshot_retry_ = Retry::none;
    std::uint64_t snapshot_failures_ = 0;         // in a row: logged at the first and every 60th
    std::vector<cluster::Event> heard_resyncing_; // presence, blocks and locks heard or made meanwhile, folded in
    std::shared_ptr<RedisEngine*> self_ = std::make_shared<RedisEngine*>(this);
};

} // namespace confab
