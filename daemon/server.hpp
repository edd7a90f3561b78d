// The glue between the sockets and the chat rules: one reactor thread that
// accepts, reads frames, hands decoded messages to ChatCore, queues its
// frames, flushes each client at most once per loop iteration, and drives
// every timer from one timerfd. Signals arrive through a signalfd and hash
// results through the HashPool's eventfd, all in the same epoll set.
// Owned and run by main(); every method runs on the reactor thread.
#pragma once

#include "cluster/reactor_redis_loop.hpp"
#include "cluster/redis_engine.hpp"
#include "cluster/redis_mailbox.hpp"
#include "cluster/redis_store.hpp"
#include "config.hpp"
#include "control_socket.hpp"
#include "core/chat_core.hpp"
#include "hash_pool.hpp"
#include "metrics.hpp"
#include "metrics_http.hpp"
#include "net/conn_table.hpp"
#include "net/id_list.hpp"
#include "net/listener.hpp"
#include "net/reactor.hpp"
#include "net/timer_fd.hpp"
#include "net/tls_context.hpp"
#include "state/store.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace confab {

// Where the settings came from, so SIGHUP can read them again the same way.
struct ConfigSource {
    std::string config_path;                                    // empty: defaults only
    std::vector<std::pair<std::string, std::string>> overrides; // command-line key=value
};

// How an administrator adds the first user to an empty users file (confabd --check-config, the log).
inline constexpr const char* add_first_user_hint = "add the first one with `confabctl user add NAME`";

// Loads config + users as main() and SIGHUP both need. Throws ConfigError/UsersFileError.
std::pair<Config, UsersFile> load_settings(const ConfigSource& src);
CoreSettings core_settings(const Config& c);
// The TLS context the configuration asks for (null: plaintext). Throws TlsError.
std::unique_ptr<TlsContext> load_tls(const Config& c);

// Thrown by Server's constructor when told to stop while it waited for Redis.
struct StartupCancelled {
    int signal;
};

class Server final : private CoreEnv, private ControlRequests, private ClusterEvents {
public:
    // `tls` (from load_tls) makes the listener speak TLS. Throws ConfigError when the
    // listening socket turns out to need TLS the configuration does not give it.
    Server(ConfigSource source, Config config, UsersFile users, std::unique_ptr<TlsContext> tls);
    ~Server() override;

    std::uint16_t port() const { return listener_->port(); }
    const std::string& control_path() const { return control_->path(); }
    std::uint16_t metrics_port() const { return metrics_http_ ? metrics_http_->port() : 0; }
    std::string address() const { return listener_->address(); }
    // Runs until SIGTERM/SIGINT; returns the process exit status.
    int run();

private:
    // CoreEnv
    void send(ConnId conn, proto::Bytes frame) override;
    void close(ConnId conn) override;
    void arm_timer(TimerQueue::Key key, TimePoint deadline) override;
    void cancel_timer(TimerQueue::Key key) override;
    bool verify_password(ConnId conn, std::uint64_t job, const std::string& hash, std::string password) override;
    proto::Token random_token() override;
    bool persist(StoreOp op) override;
    void allow_large_frames(ConnId conn) override;

    // ClusterEvents: the Redis engine's answers and news, to the core with the time.
    void on_claimed(std::uint64_t tag, cluster::Claim result) override;
    void on_routed(std::uint64_t tag, bool delivered) override;
    void on_flushed(std::uint64_t tag, bool ok) override;
    void on_cluster_event(const cluster::Event& e) override;
    void on_cluster_available(bool up) override;
    // cluster.engine = "redis": the engine, connected to Redis and prepared (blocking, start-up).
    std::unique_ptr<RedisEngine> make_engine(const UsersFile& users);
    // One start-up step on a blocking Redis connection. While Redis cannot be reached it is
    // tried again with backoff (Redis may start after the node: another host, the boot order);
    // a refusal (a wrong password, a forbidden command) is a ConfigError; SIGTERM or SIGINT
    // meanwhile throws StartupCancelled.
    void at_startup_with_redis(const std::function<void(RedisSync&)>& step);
    void leave_cluster(); // exit: this node's sessions and presence out of Redis (blocking)

    // ControlRequests: confabctl's requests, answered from the core and the server's own state.
    void answer(const proto::Message& request, std::vector<std::uint8_t>& reply) override;
    proto::ControlStatusReply status_reply(std::uint32_t rid) const;

    void on_accept();
    void refuse(const UniqueFd& fd, proto::Status code, std::string_view detail) const;
    void on_connection_event(Connection& c, std::uint32_t events);
    void read_frames(Connection& c);
    void advance_handshakes();          // a bounded number of TLS handshake steps
    void read_failed(Connection& c);    // read_into said error: log or explain, then drop
    void watch_writable(Connection& c); // EPOLLOUT registered exactly while the transport waits for it
    void mark_dirty(Connection& c);     // flush it at the end of this loop iteration
    void on_timers();
    bool timers_due(TimePoint now);
    void on_signal();
    void on_hash_results();
    void on_store_results();
    void flush_dirty();
    void drop(Connection& c, DropReason why); // server-side close: tells the core
    Connection::IoStatus flush_counted(Connection& c);
    std::string metrics_text();
    void destroy(Connection& c);
    void destroy_dead();
    // Re-reads config, users and certificate; on failure keeps the old ones and returns why.
    std::optional<std::string> reload();
    void update_status();
    Now now() const;

    ConfigSource source_;
    Config config_;
    std::unique_ptr<TlsContext> tls_; // null: plaintext listener
    Reactor reactor_;
    std::unique_ptr<Listener> listener_;
    TimerFd timer_fd_;
    UniqueFd signal_fd_;
    HashPool hashes_;
    std::unique_ptr<Store> store_; // null in cluster mode: the state is in Redis
    TimerQueue timers_;
    // Cluster mode (cluster.engine = "redis"), else all null. Before core_, which they serve.
    std::unique_ptr<ReactorRedisLoop> redis_loop_;
    std::unique_ptr<RedisEngine> engine_;
    std::unique_ptr<RedisStore> redis_store_;
    ConnTable conns_;
    ChatCore core_;
    std::unique_ptr<ControlSocket> control_;
    std::unique_ptr<MetricsHttp> metrics_http_; // null: metrics_listen not set
    TimePoint started_mono_;
    std::int64_t started_wall_ms_;
    ServerCounters counters_;
    IdList dirty_;                          // connections with output to flush
    IdList read_pending_;                   // connections whose read budget ran out
    IdList handshakes_ready_;               // TLS handshakes waiting for their turn to take a step
    std::vector<std::uint64_t> dead_;       // destroy after the current event
    std::vector<std::uint64_t> overflowed_; // slow readers: end their session after the current event
    // Where each read(2) lands before the decoder copies it; reactor thread only.
    std::vector<std::uint8_t> read_buf_ = std::vector<std::uint8_t>(64 * 1024);
    std::optional<std::chrono::milliseconds> watchdog_;
    std::string last_status_;
    bool notify_ = false;
    bool stopping_ = false;
    bool accept_pending_ = false; // the accept budget ran out with connections possibly waiting
};

} // namespace confab
