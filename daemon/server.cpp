#include "server.hpp"

#include "core/clock.hpp"
#include "core/endpoint.hpp"
#include "log.hpp"
#include "log_flood.hpp"
#include "proto/drain.hpp"
#include "signals.hpp"
#include "systemd_integration.hpp"

#include "confab_build_config.hpp"

#include <poll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace confab {

namespace {
// epoll tokens: the reactor's own fds, then connection ids, which never come that low.
// Between them: ReactorRedisLoop's (0x100...), ControlSocket's and MetricsHttp's connections.
constexpr std::uint64_t listener_token = 1, timer_token = 2, signal_token = 3, hash_token = 4, store_token = 5;
static_assert(store_token < ControlSocket::listener_token, "the control socket's tokens come after these");
static_assert(ControlSocket::first_token > ControlSocket::listener_token);
static_assert(ControlSocket::first_token > MetricsHttp::listener_token && MetricsHttp::listener_token > store_token);
static_assert(ControlSocket::first_token + (std::uint64_t(1) << 30) < MetricsHttp::first_token,
              "control connection tokens never reach the metrics connections'");
static_assert(MetricsHttp::first_token + (std::uint64_t(1) << 30) < ConnTable::min_id,
              "metrics connection tokens never reach the connection ids");
static_assert(ConnTable::id_bits <= timer_id_bits, "a connection id is the id of its timers");
constexpr std::uint32_t conn_events = EPOLLIN | EPOLLRDHUP | EPOLLET;

constexpr std::int64_t close_grace_ms = 5000; // a closing client gets this long to take its last frames
constexpr std::size_t reads_per_wakeup = 16;  // then other clients get a turn
// A burst of connects, or thousands of login deadlines expiring together, is
// handled in slices of this size per loop iteration, so delivery to everyone
// else never stalls for more than a few milliseconds.
constexpr std::size_t accepts_per_wakeup = 64;
constexpr std::size_t timers_per_wakeup = 256;
// A TLS handshake step (the ClientHello's key exchange and signature) costs up to
// ~250 us of CPU: a burst of a thousand would hold the reactor for a quarter of a
// second. At most this many (about 1 ms) run per loop iteration, after everyone
// else's input and output.
constexpr std::size_t handshake_steps_per_iteration = 4;
// A fan-out to many users is written in slices of this many connections per loop
// iteration: input that arrives meanwhile (the next broadcast) is read in between
// and joins the output of the connections not yet written, one write for both.
constexpr std::size_t flushes_per_iteration = 512;
constexpr std::size_t max_queued_hashes = 1024; // beyond this, logins are answered "unavailable"

UniqueFd make_signal_fd() {
    const sigset_t set = handled_signals();
    UniqueFd fd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd) throw std::system_error(errno, std::generic_category(), "signalfd");
    return fd;
}

std::unique_ptr<Store> open_store(const Config& c) {
    std::error_code ec;
    // Stored messages are private: a directory made here is 0700 whatever the umask (the parents are not ours).
    // Made in cluster mode too: the control socket lives there by default.
    if (std::filesystem::create_directories(c.state_dir, ec))
        std::filesystem::permissions(c.state_dir, std::filesystem::perms::owner_all, ec);
    if (ec) throw StoreError(fmt::format("cannot create state directory {}: {}", c.state_dir, ec.message()));
    if (c.clustered()) return nullptr; // the state is in Redis
    return std::make_unique<Store>(c.state_dir + "/confab.db");
}

RedisAddress redis_address(const Config& c) {
    RedisAddress a;
    RedisEndpoint e = parse_redis_endpoint(c.cluster_redis);
    a.host = e.host;
    a.port = e.port;
    a.unix_path = e.unix_path;
    a.user = c.cluster_redis_user;
    a.password = c.cluster_redis_password;
    return a;
}

// cluster.node_id, or this host's name and the port clients connect to.
std::string node_id_of(const Config& c, std::uint16_t port) {
    if (!c.cluster_node_id.empty()) return c.cluster_node_id;
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
    std::string id = fmt::format("{}:{}", host, port);
    if (auto problem = node_id_problem(id); !problem.empty())
        throw ConfigError(
            fmt::format("the host name makes no valid node id ('{}' {}): set cluster.node_id", id, problem));
    return id;
}

std::vector<std::string> names_of(const UsersFile& users) {
    std::vector<std::string> names;
    names.reserve(users.users.size());
    for (const auto& [name, cred] : users.users) names.push_back(name);
    return names;
}

std::unique_ptr<Listener> make_listener(const Config& c) {
    auto activated = systemd::listen_fds();
    if (!activated.empty()) {
        for (std::size_t i = 1; i < activated.size(); ++i) ::close(activated[i]);
        log::info("using the listening socket passed by systemd");
        return std::make_unique<Listener>(activated.front());
    }
    return std::make_unique<Listener>(c.listen, std::uint16_t(c.port));
}
} // namespace

std::pair<Config, UsersFile> load_settings(const ConfigSource& src) {
    Config c = src.config_path.empty() ? Config{} : parse_config(src.config_path);
    for (const auto& [k, v] : src.overrides) set_config_value(c, k, v);
    UsersFile users;
    if (c.users_file.empty()) {
        users = demo_users();
        log::warning("no users file configured: using the embedded demo users (alice, bob, carol, dave)");
    } else {
        users = load_users_file(c.users_file);
        if (users.plaintext_entries > 0)
            log::warning("{}: {} plaintext password(s); confab-passwd writes hashed entries", c.users_file,
                         users.plaintext_entries);
        if (users.users.empty()) log::warning("{}: no users yet: {}", c.users_file, add_first_user_hint);
    }
    if (!c.motd_file.empty()) c.motd = load_motd(c.motd_file);
    validate_transport(c, c.listen);
    return {std::move(c), std::move(users)};
}

namespace {
TlsSettings tls_settings(const Config& c) {
    return TlsSettings{c.tls_cert, c.tls_key, c.tls_min_version};
}
} // namespace

std::unique_ptr<TlsContext> load_tls(const Config& c) {
    if (!c.tls()) return nullptr;
    return std::make_unique<TlsContext>(tls_settings(c));
}

CoreSettings core_settings(const Config& c) {
    CoreSettings s;
    s.block_duration_ms = c.block_duration * 1000;
    s.timeout_ms = c.timeout * 1000;
    s.login_timeout_ms = c.login_timeout * 1000;
    s.max_offline_messages = std::size_t(c.max_offline_messages);
    s.presence = c.presence;
    s.motd = c.motd;
    s.address.max_unauthenticated = std::size_t(c.max_unauthenticated);
    s.address.max_unauthenticated_per_address = std::size_t(c.max_unauthenticated_per_address);
    s.address.connects = Rate{double(c.address_connect_rate), 5.0 * double(c.address_connect_rate)};
    s.address.failed_logins =
        Rate{double(c.address_failed_logins) / double(c.address_failure_window), double(c.address_failed_logins)};
    s.user_deliveries = Rate{double(c.user_message_rate), 2.0 * double(c.user_message_rate)};
    s.user_bytes = Rate{double(c.user_byte_rate), 2.0 * double(c.user_byte_rate)};
    return s;
}

Server::Server(ConfigSource source, Config config, UsersFile users, std::unique_ptr<TlsContext> tls)
    : source_(std::move(source)), config_(std::move(config)), tls_(std::move(tls)), listener_(make_listener(config_)),
      signal_fd_(make_signal_fd()), hashes_(std::size_t(config_.hash_workers), max_queued_hashes),
      store_(open_store(config_)),
      redis_loop_(config_.clustered() ? std::make_unique<ReactorRedisLoop>(reactor_, timers_) : nullptr),
      engine_(make_engine(users)), redis_store_(engine_ ? std::make_unique<RedisStore>(engine_->commands()) : nullptr),
      core_(*this, core_settings(config_), std::move(users), engine_.get(),
            engine_ ? redis_mailbox_factory(engine_->commands(), *engine_) : MailboxFactory{}),
      control_(std::make_unique<ControlSocket>(config_.control_socket_path(), reactor_,
                                               static_cast<ControlRequests&>(*this),
                                               ControlIdentity{::geteuid(), ::getegid()},
                                               [this](std::uint64_t token, TimePoint deadline) {
                                                   arm_timer(timer_key(TimerKind::control_idle, token), deadline);
                                               })),
      started_mono_(monotonic_ms()), started_wall_ms_(wall_ms()) {
    // A socket passed by systemd listens where its unit says, not where `listen` does.
    validate_transport(config_, listener_->address());
    if (tls_)
        log::info("TLS {}+ with certificate {}", config_.tls_min_version, tls_->summary());
    else if (!is_loopback_address(listener_->address()))
        log::warning("listening on {} without TLS (allow_plaintext = true): passwords and messages cross the "
                     "network unencrypted",
                     listener_->address());
    if (store_) {
        core_.restore(store_->load(), now());
        store_->start();
        reactor_.add(store_->event_fd(), store_token, EPOLLIN | EPOLLET);
    } else {
        at_startup_with_redis(
            [this](RedisSync& redis) { core_.restore(RedisStore::load(redis, engine_->names()), now()); });
        engine_->start();
    }
    reactor_.add(listener_->fd(), listener_token, EPOLLIN | EPOLLET);
    reactor_.add(timer_fd_.fd(), timer_token, EPOLLIN | EPOLLET);
    reactor_.add(signal_fd_.get(), signal_token, EPOLLIN | EPOLLET);
    reactor_.add(hashes_.event_fd(), hash_token, EPOLLIN | EPOLLET);
    notify_ = systemd::notify_socket_present();
    if (auto wd = systemd::watchdog_interval()) {
        watchdog_ = std::chrono::duration_cast<std::chrono::milliseconds>(*wd) / 2;
        arm_timer(timer_key(TimerKind::watchdog, 0), monotonic_ms() + watchdog_->count());
    }
    if (notify_) arm_timer(timer_key(TimerKind::status, 0), monotonic_ms() + 2000);
    arm_timer(timer_key(TimerKind::log_summary, 0), monotonic_ms() + log::interval_seconds * 1000);
    log::info("control socket {}", control_->path());
    if (!config_.metrics_listen.empty()) {
        auto [address, port] = parse_host_port(config_.metrics_listen);
        metrics_http_ = std::make_unique<MetricsHttp>(
            address, port, reactor_, [this] { return metrics_text(); },
            [this](std::uint64_t token, TimePoint deadline) {
                arm_timer(timer_key(TimerKind::metrics_idle, token), deadline);
            });
        log::info("metrics on http://{}:{}/metrics",
                  address.find(':') == std::string::npos ? address : "[" + address + "]", metrics_http_->port());
    }
}

Server::~Server() = default;

std::unique_ptr<RedisEngine> Server::make_engine(const UsersFile& users) {
    if (!config_.clustered()) return nullptr;
    const RedisAddress address = redis_address(config_);
    auto connect = [this, address](RedisConnection::Hooks hooks) -> RedisConnection& {
        return redis_loop_->connect(address, std::move(hooks));
    };
    RedisEngine::Timers timers{
        [this](std::int64_t ms) { arm_timer(timer_key(TimerKind::cluster_heartbeat, 0), monotonic_ms() + ms); },
        [this](std::int64_t ms) { arm_timer(timer_key(TimerKind::cluster_liveness, 0), monotonic_ms() + ms); }};
    auto engine = std::make_unique<RedisEngine>(connect, node_id_of(config_, listener_->port()),
                                                static_cast<ClusterEvents&>(*this), std::move(timers));
    engine->set_names(names_of(users));
    at_startup_with_redis([&engine](RedisSync& redis) { engine->prepare(redis); });
    log::info("cluster: Redis {}", address.describe());
    return engine;
}

void Server::at_startup_with_redis(const std::function<void(RedisSync&)>& step) {
    const RedisAddress address = redis_address(config_);
    constexpr int first_retry_ms = 500, max_retry_ms = 5000, connect_timeout_ms = 5000;
    for (int retry_ms = first_retry_ms;; retry_ms = std::min(2 * retry_ms, max_retry_ms)) {
        try {
            RedisSync redis(address, connect_timeout_ms);
            step(redis);
            return;
        } catch (const RedisError& e) {
            if (!e.transient) throw ConfigError(fmt::format("cluster: {}", e.what()));
            log::warning("cluster: {}; trying again in {:.1f} s (the node serves once Redis answers)", e.what(),
                         retry_ms / 1000.0);
            systemd::notify_status(fmt::format("waiting for Redis {}", address.describe()));
            // A unit's start timeout must not end a node that is only waiting for Redis.
            systemd::notify_extend_timeout(std::chrono::milliseconds(retry_ms + connect_timeout_ms + 5000));
        }
        pollfd p{signal_fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, retry_ms) <= 0) continue;
        signalfd_siginfo info;
        while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info)
            if (info.ssi_signo != SIGHUP) throw StartupCancelled{int(info.ssi_signo)}; // SIGHUP: nothing to reload yet
    }
}

void Server::leave_cluster() {
    if (!engine_) return;
    try {
        RedisSync redis(redis_address(config_), 2000);
        engine_->leave(redis);
        log::info("cluster: node {} left", engine_->node_id());
    } catch (const RedisError& e) {
        log::warning("cluster: could not leave cleanly ({}); the other nodes notice within {} s", e.what(),
                     (RedisEngine::alive_ttl_ms + RedisEngine::liveness_ms) / 1000);
    }
}

void Server::on_claimed(std::uint64_t tag, cluster::Claim result) {
    core_.on_claimed(tag, result, now());
}
void Server::on_routed(std::uint64_t tag, bool delivered) {
    core_.on_routed(tag, delivered, now());
}
void Server::on_flushed(std::uint64_t tag, bool ok) {
    core_.on_flushed(tag, ok, now());
}
void Server::on_cluster_event(const cluster::Event& e) {
    core_.on_cluster_event(e, now());
}
void Server::on_cluster_available(bool up) {
    core_.on_cluster_available(up, now());
}

Now Server::now() const {
    return Now{monotonic_ms(), wall_ms()};
}

// ---------------------------------------------------------------- CoreEnv

void Server::send(ConnId id, proto::Bytes frame) {
    Connection* c = conns_.find(id);
    if (!c || c->is_dead() || c->close_requested()) return;
    const auto limit = std::size_t(config_.max_output_bytes);
    // Output is normally flushed once per loop iteration; a client that reaches the
    // limit within one iteration gets an early write, so only a client that really
    // stopped reading is dropped.
    bool queued = c->output().append(frame, limit) ||
                  (flush_counted(*c) != Connection::IoStatus::error && c->output().append(frame, limit));
    if (!queued) {
        log::flood(log::Flood::dropped_client, log::Level::warning,
                   "dropping {}: more than {} bytes of unsent output (it reads too slowly)", core_.describe(id),
                   config_.max_output_bytes);
        // Best effort: the reason goes after what is queued, just past the limit,
        // and the client gets the close grace to read it. Its session ends after
        // the current event (the core may be iterating over its users right now).
        std::vector<std::uint8_t> reason;
        proto::append_frame(reason, proto::ProtocolError{proto::Status::output_overflow,
                                                         "you were disconnected: you read your messages too slowly"});
        c->output().append(reason, limit + reason.size());
        c->request_close();
        ++counters_.output_overflows;
        overflowed_.push_back(id);
        mark_dirty(*c);
        return;
    }
    mark_dirty(*c);
}

void Server::close(ConnId id) {
    Connection* c = conns_.find(id);
    if (!c || !c->request_close()) return; // the core has forgotten it: no on_disconnect later
    // Nothing can reach a peer whose TLS handshake has not finished: close at once, so a
    // stalled handshake ends at the login deadline.
    if (c->phase() == Connection::Phase::handshaking) return drop(*c, DropReason::handshake_unfinished);
    mark_dirty(*c);
    arm_timer(timer_key(TimerKind::close_deadline, id), monotonic_ms() + close_grace_ms);
}

void Server::allow_large_frames(ConnId id) {
    if (Connection* c = conns_.find(id)) c->decoder().set_max_frame(proto::max_frame_size);
}

void Server::arm_timer(TimerQueue::Key key, TimePoint deadline) {
    timers_.arm(key, deadline);
}
void Server::cancel_timer(TimerQueue::Key key) {
    timers_.cancel(key);
}

bool Server::verify_password(ConnId conn, std::uint64_t job, const std::string& hash, std::string password) {
    return hashes_.submit({conn, job, hash, std::move(password)});
}

bool Server::persist(StoreOp op) {
    if (redis_store_) return redis_store_->persist(op);
    if (store_->submit(std::move(op))) return true;
    // Messages tell their sender; blocks, locks and acks have no one to tell but the log.
    log::error("state database queue full: a change was not saved");
    return false;
}

proto::Token Server::random_token() {
    proto::Token t{};
    std::size_t got = 0;
    while (got < t.size()) {
        ssize_t n = ::getrandom(t.data() + got, t.size() - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::system_error(errno, std::generic_category(), "getrandom");
        got += std::size_t(n);
    }
    return t;
}

// ---------------------------------------------------------------- events

// Best effort: tell a refused client why, then close; never block on it. A TLS
// client could not read a plain frame, so it just sees the close.
void Server::refuse(const UniqueFd& fd, proto::Status code, std::string_view detail) const {
    if (tls_) return;
    std::vector<std::uint8_t> frame;
    proto::append_frame(frame, proto::ProtocolError{code, detail});
    [[maybe_unused]] auto n = ::send(fd.get(), frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Server::on_accept() {
    accept_pending_ = listener_->accept_some(accepts_per_wakeup, [this](UniqueFd fd, PeerAddress peer) {
        if (stopping_) return;
        std::string endpoint = endpoint_string(peer.host, peer.port);
        if (conns_.size() >= std::size_t(config_.max_connections)) {
            ++counters_.connections_refused;
            refuse(fd, proto::Status::server_busy, "too many connections");
            log::flood(log::Flood::refused_connection, log::Level::warning,
                       "refused a connection from {}: max_connections ({}) reached", endpoint, config_.max_connections);
            return;
        }
        const Now t = now();
        if (auto a = core_.admit(peer.host, t); !a.ok) {
            ++counters_.connections_refused;
            refuse(fd, a.code, a.detail);
            log::flood(log::Flood::refused_connection, log::Level::warning, "refused a connection from {}: {}",
                       endpoint, a.detail);
            return;
        }
        std::unique_ptr<TlsTransport> tls;
        if (tls_) {
            try {
                tls = std::make_unique<TlsTransport>(tls_->get(), fd.get());
            } catch (const TlsError& e) {
                log::warning("refused a connection from {}: {}", endpoint, e.what());
                return;
            }
        }
        Connection& c = conns_.insert(std::move(fd), std::move(endpoint), std::move(tls));
        ++counters_.connections_accepted;
        reactor_.add(c.fd(), c.id(), conn_events);
        log::debug("connection from {}", c.peer());
        core_.on_connect(c.id(), std::move(peer.host), peer.port, t);
    });
}

void Server::on_connection_event(Connection& c, std::uint32_t events) {
    if (events & EPOLLERR) return drop(c, DropReason::socket_error);
    const bool readable = events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP), writable = events & EPOLLOUT;
    // TLS turns directions around: a read can wait for the socket to be writable, a write to be readable.
    const bool write_waits = c.write_wants_readable();
    if (readable || (writable && c.read_wants_writable())) {
        // Its turn comes in advance_handshakes(); edge-triggered epoll will not repeat the news.
        if (c.phase() == Connection::Phase::handshaking) return handshakes_ready_.push(c.id(), c.handshake_ready);
        read_frames(c);
    }
    if (c.is_dead()) return;
    if (writable || (readable && write_waits)) mark_dirty(c);
    watch_writable(c);
}

void Server::watch_writable(Connection& c) {
    // EPOLLOUT only while the transport waits for it: otherwise every wakeup would report it.
    if (c.is_dead() || c.wants_writable() == c.epollout) return;
    c.epollout = !c.epollout;
    reactor_.modify(c.fd(), c.id(), c.epollout ? conn_events | EPOLLOUT : conn_events);
}

void Server::mark_dirty(Connection& c) {
    dirty_.push(c.id(), c.dirty);
}

void Server::read_frames(Connection& c) {
    for (std::size_t i = 0; i < reads_per_wakeup; ++i) {
        if (!c.reads_input()) return;
        std::size_t got = 0;
        switch (c.read_into(read_buf_, got)) {
        case Connection::IoStatus::would_block: c.decoder().release_if_empty(); return;
        case Connection::IoStatus::closed: return drop(c, DropReason::peer_closed);
        case Connection::IoStatus::error: return read_failed(c);
        case Connection::IoStatus::progress: break;
        }
        counters_.bytes_received += got;
        const Now t = now(); // one clock reading per read: frames of one read share a time
        auto r = proto::drain_frames(c.decoder(), proto::Bytes(read_buf_.data(), got), [&](const proto::Message& m) {
            core_.on_message(c.id(), m, t);
            return c.is_open();
        });
        if (r.kind == proto::DrainResult::Kind::stopped) return;
        if (r.kind == proto::DrainResult::Kind::malformed)
            return core_.on_protocol_error(c.id(), proto::status_for(r.error), proto::to_string(r.error), t);
    }
    // Budget spent with input possibly left: edge-triggered epoll will not say so again.
    read_pending_.push(c.id(), c.read_pending);
}

void Server::read_failed(Connection& c) {
    if (c.refused_plaintext())
        return core_.on_protocol_error(c.id(), proto::Status::bad_request, "this port speaks TLS: connect with --tls",
                                       now());
    // One line per failed connection: a broken or hostile TLS client is worth knowing about, not a flood.
    if (c.phase() == Connection::Phase::handshaking)
        log::info("TLS handshake with {} failed: {}", c.peer(), c.transport_failure());
    else if (!c.transport_failure().empty())
        log::info("TLS connection from {} failed: {}", c.peer(), c.transport_failure());
    drop(c, DropReason::read_error);
}

Connection::IoStatus Server::flush_counted(Connection& c) {
    const std::size_t before = c.output().size();
    const auto status = c.flush();
    counters_.bytes_sent += before - c.output().size();
    return status;
}

void Server::drop(Connection& c, DropReason why) {
    if (!c.kill()) return;
    ++counters_.disconnects[std::size_t(why)];
    log::debug("connection from {}: {}", c.peer(), to_string(why));
    dead_.push_back(c.id());
}

void Server::destroy(Connection& c) {
    reactor_.remove(c.fd());
    timers_.cancel(timer_key(TimerKind::close_deadline, c.id()));
    conns_.erase(c.id());
}

void Server::destroy_dead() {
    while (!overflowed_.empty()) {
        std::uint64_t id = overflowed_.back();
        overflowed_.pop_back();
        core_.on_disconnect(id, now());
        arm_timer(timer_key(TimerKind::close_deadline, id), monotonic_ms() + close_grace_ms);
    }
    while (!dead_.empty()) {
        std::uint64_t id = dead_.back();
        dead_.pop_back();
        Connection* c = conns_.find(id);
        if (!c) continue;
        ConnId cid = c->id();
        bool core_knows = !c->close_requested();
        destroy(*c);
        // After destroy: the core's logout presence must not be queued to this connection.
        if (core_knows) core_.on_disconnect(cid, now());
    }
}

void Server::flush_dirty() {
    std::size_t flushed = 0;
    for (std::uint64_t id : dirty_.take()) {
        Connection* c = conns_.find(id);
        if (!c) continue;
        c->dirty = false;
        if (c->is_dead()) continue;
        // Over budget: first in line next iteration (the list keeps its order).
        if (flushed == flushes_per_iteration) {
            mark_dirty(*c);
            continue;
        }
        ++flushed;
        switch (flush_counted(*c)) {
        case Connection::IoStatus::progress:
            if (c->phase() == Connection::Phase::closing) {
                c->close_notify();
                drop(*c, DropReason::server_closed);
            }
            break;
        case Connection::IoStatus::would_block: break;
        default: drop(*c, DropReason::write_error); break;
        }
        watch_writable(*c);
    }
}

void Server::advance_handshakes() {
    std::size_t steps = 0;
    for (std::uint64_t id : handshakes_ready_.take()) {
        Connection* c = conns_.find(id);
        if (!c) continue;
        c->handshake_ready = false;
        if (c->is_dead()) continue;
        // Over budget: first in line next iteration (the list keeps its order).
        if (steps == handshake_steps_per_iteration) {
            handshakes_ready_.push(id, c->handshake_ready);
            continue;
        }
        ++steps;
        read_frames(*c); // the step, and the first frames if it finished the handshake
        if (c->tls_established()) {
            ++counters_.tls_handshakes;
            counters_.tls_resumed += c->tls_resumed();
        }
        // Output queued while the handshake ran waited for it to end.
        if (c->is_open() && !c->output().empty()) mark_dirty(*c);
        watch_writable(*c);
        destroy_dead();
    }
}

bool Server::timers_due(TimePoint now) {
    auto next = timers_.next_deadline();
    return next && *next <= now;
}

void Server::on_timers() {
    timer_fd_.drain();
    Now t = now();
    for (TimerQueue::Key key : timers_.expire(t.mono, timers_per_wakeup)) {
        switch (timer_kind(key)) {
        case TimerKind::close_deadline:
            if (Connection* c = conns_.find(timer_id(key))) drop(*c, DropReason::close_timeout);
            break;
        case TimerKind::watchdog:
            systemd::notify_watchdog();
            arm_timer(key, t.mono + watchdog_->count());
            break;
        case TimerKind::status:
            update_status();
            arm_timer(key, t.mono + 2000);
            break;
        case TimerKind::log_summary:
            log::summarize_floods();
            arm_timer(key, t.mono + log::interval_seconds * 1000);
            break;
        case TimerKind::control_idle: control_->on_deadline(timer_id(key)); break;
        case TimerKind::metrics_idle:
            if (metrics_http_) metrics_http_->on_deadline(timer_id(key));
            break;
        case TimerKind::redis_retry:
            if (redis_loop_) redis_loop_->on_timer(timer_id(key));
            break;
        case TimerKind::cluster_heartbeat:
            if (engine_) engine_->on_heartbeat_timer();
            break;
        case TimerKind::cluster_liveness:
            if (engine_) engine_->on_liveness_timer();
            break;
        case TimerKind::login_deadline:
        case TimerKind::idle:
        case TimerKind::lock:
        case TimerKind::route_answer:
        case TimerKind::claim_retry: core_.on_timer(key, t); break;
        }
    }
}

void Server::on_hash_results() {
    for (const auto& done : hashes_.take_results()) core_.on_verify_result(done.conn, done.job, done.ok, now());
}

void Server::on_store_results() {
    for (const auto& done : store_->take_completions()) core_.on_stored(done.tag, done.ok, done.error);
}

void Server::on_signal() {
    signalfd_siginfo info;
    while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGHUP) {
            reload();
        } else if (!stopping_) {
            log::info("received {}: shutting down", strsignal(int(info.ssi_signo)));
            systemd::notify_stopping();
            stopping_ = true;
            reactor_.remove(listener_->fd());
            // With the time, a cluster node publishes its users' logouts: the other nodes' users
            // see them go now, not when this node's alive key expires. run() bounds the wait.
            core_.shutdown(now());
        }
    }
}

std::optional<std::string> Server::reload() {
    systemd::notify_reloading();
    log::info("reloading configuration");
    std::optional<std::string> failure;
    try {
        auto [config, users] = load_settings(source_);
        for (const auto& key : restart_only_changes(config_, config))
            log::warning("'{}' changed: the new value takes effect after a restart", key);
        keep_restart_only(config_, config);
        if (config.tls() != bool(tls_)) {
            log::warning("turning TLS {} takes effect after a restart", tls_ ? "off" : "on");
            config.tls_cert = config_.tls_cert;
            config.tls_key = config_.tls_key;
        }
        // The files are read again even under the same names: a renewed certificate keeps its paths.
        std::unique_ptr<TlsContext> tls = load_tls(config);
        log::set_level(*log::parse_level(config.log_level));
        std::size_t count = users.users.size();
        core_.update_settings(core_settings(config));
        if (engine_) engine_->set_names(names_of(users));
        core_.replace_users(std::move(users), now());
        config_ = std::move(config);
        if (tls) {
            tls_ = std::move(tls); // new handshakes only: running sessions keep their context
            log::info("TLS certificate reloaded: {}", tls_->summary());
        }
        log::info("configuration reloaded: {} users", count);
    } catch (const std::exception& e) {
        log::error("reload failed, keeping the current configuration: {}", e.what());
        failure = e.what();
    }
    systemd::notify_ready(last_status_);
    return failure;
}

// ---------------------------------------------------------------- control requests

namespace {
// Resident set size from /proc (a read of a few bytes from procfs, which never blocks).
std::uint64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::uint64_t pages = 0, resident = 0;
    if (!(statm >> pages >> resident)) return 0;
    return resident * std::uint64_t(::sysconf(_SC_PAGESIZE));
}

void reply_with(std::vector<std::uint8_t>& out, std::uint32_t rid, const ChatCore::AdminResult& r) {
    proto::append_frame(out, proto::Result{rid, r.code, r.detail});
}
} // namespace

proto::ControlStatusReply Server::status_reply(std::uint32_t rid) const {
    const auto& n = core_.counters();
    proto::ControlStatusReply r;
    r.request_id = rid;
    r.version = CONFAB_VERSION;
    r.uptime_s = std::uint64_t(monotonic_ms() - started_mono_) / 1000;
    r.users_online = std::uint32_t(core_.online_count());
    r.connections = std::uint32_t(conns_.size());
    r.messages_direct = n.messages_direct;
    r.messages_broadcast = n.broadcasts;
    r.offline_stored = core_.offline_held().value_or(proto::offline_not_counted);
    if (store_) {
        r.store_queue_depth = std::uint32_t(store_->queue_depth());
        r.last_commit_us = std::uint64_t(store_->commit_stats().last_us);
    } else {
        r.store_queue_depth = std::uint32_t(engine_->commands().pending()); // Redis commands in flight
    }
    r.memory_bytes = resident_bytes();
    return r;
}

std::string Server::metrics_text() {
    const Store::CommitStats store = store_ ? store_->commit_stats() : Store::CommitStats{};
    ClusterCounters cluster;
    if (engine_) {
        cluster = engine_->counters();
        cluster.failed_writes = redis_store_->failed_writes();
    }
    MetricsSnapshot m;
    m.version = CONFAB_VERSION;
    m.start_time_s = double(started_wall_ms_) / 1000;
    m.resident_bytes = resident_bytes();
    m.connections = conns_.size();
    m.sessions = core_.online_count();
    m.offline_held = core_.offline_held();
    m.lockouts_tracked = core_.lockouts_tracked();
    m.store_queue_depth = store_ ? store_->queue_depth() : engine_->commands().pending();
    m.control_connections = control_->connections();
    m.control_requests = control_->requests_answered();
    m.control_refused = control_->peers_refused();
    m.core = &core_.counters();
    m.server = &counters_;
    m.store_commit = store_ ? &store.latency : nullptr;
    m.cluster = engine_ ? &cluster : nullptr;
    m.cluster_available = engine_ && engine_->available();
    return render_metrics(m);
}

void Server::answer(const proto::Message& request, std::vector<std::uint8_t>& out) {
    const Now t = now();
    std::visit(
        [&](const auto& m) {
            using M = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<M, proto::ControlStatus>) {
                proto::append_frame(out, status_reply(m.request_id));
            } else if constexpr (std::is_same_v<M, proto::ControlWho>) {
                auto users = core_.who(t);
                if (users.size() > proto::max_list_entries) users.resize(proto::max_list_entries);
                std::vector<std::string> endpoints;
                endpoints.reserve(users.size());
                proto::ControlWhoReply r{m.request_id, {}, {}, {}, {}, {}};
                for (const auto& u : users) {
                    const Connection* c = conns_.find(u.conn);
                    endpoints.push_back(c ? c->peer() : "?"); // endpoint_string at accept
                    r.names.push_back(u.name);
                    r.login_at_ms.push_back(std::uint64_t(u.login_at_ms));
                    r.idle_s.push_back(u.idle_s);
                    r.private_chats.push_back(u.private_chats);
                }
                for (const auto& e : endpoints) r.addresses.push_back(e);
                // 4096 entries of at most ~110 bytes each could pass the frame limit: shorten rather than fail.
                while (!proto::append_frame(out, r)) {
                    for (auto* list : {&r.names, &r.addresses}) list->resize(list->size() / 2);
                    r.login_at_ms.resize(r.names.size());
                    r.idle_s.resize(r.names.size());
                    r.private_chats.resize(r.names.size());
                }
            } else if constexpr (std::is_same_v<M, proto::ControlKick>) {
                reply_with(out, m.request_id, core_.kick(m.user, m.reason, t));
            } else if constexpr (std::is_same_v<M, proto::ControlLock>) {
                reply_with(out, m.request_id, core_.lock(m.user, m.seconds, t));
            } else if constexpr (std::is_same_v<M, proto::ControlUnlock>) {
                reply_with(out, m.request_id, core_.unlock(m.user, t));
            } else if constexpr (std::is_same_v<M, proto::ControlWall>) {
                reply_with(out, m.request_id, core_.wall(m.text, t));
            } else if constexpr (std::is_same_v<M, proto::ControlReload>) {
                log::notice("reload requested on the control socket");
                auto failure = reload();
                std::string detail = failure ? fmt::format("reload refused, the old configuration stays: {}", *failure)
                                             : fmt::format("configuration reloaded: {} users", core_.user_count());
                proto::append_frame(out, proto::Result{m.request_id,
                                                       failure ? proto::Status::invalid_argument : proto::Status::ok,
                                                       proto::utf8_prefix(detail, proto::max_detail_length)});
            } else if constexpr (std::is_same_v<M, proto::ControlMetrics>) {
                const std::string text = metrics_text();
                if (!proto::append_frame(out, proto::ControlMetricsReply{m.request_id, text}))
                    proto::append_frame(out, proto::Result{m.request_id, proto::Status::invalid_argument,
                                                           "the metrics do not fit in one frame"});
            }
        },
        request);
}

void Server::update_status() {
    std::string status = fmt::format("{} users online, {} connections", core_.online_count(), conns_.size());
    if (status == last_status_) return;
    last_status_ = std::move(status);
    systemd::notify_status(last_status_);
}

int Server::run() {
    update_status();
    systemd::notify_ready(last_status_);
    const TimePoint never = INT64_MAX;
    TimePoint stop_by = never;
    for (;;) {
        if (stopping_) {
            if (stop_by == never) stop_by = monotonic_ms() + 2000; // bounded goodbye
            // The goodbyes' Redis commands (releases, Offline) go out before leaving.
            const bool redis_idle = !engine_ || engine_->idle() || !engine_->connected();
            if ((conns_.size() == 0 && redis_idle) || monotonic_ms() >= stop_by) break;
        }
        timer_fd_.arm(timers_.next_deadline());
        const bool more_work = !read_pending_.empty() || !handshakes_ready_.empty() || !dirty_.empty() ||
                               accept_pending_ || timers_due(now().mono) ||
                               (engine_ && (engine_->has_deferred() || engine_->has_batched()));
        int timeout = more_work ? 0 : -1;
        if (stopping_ && !more_work) timeout = 50;
        const auto events = reactor_.wait(timeout);
        const auto work_started = std::chrono::steady_clock::now();
        // Redis first: what the other nodes said (a block, a login) was sent before anything
        // a client did after hearing of it, so the replica is up to date for that client's command.
        if (redis_loop_)
            for (const epoll_event& ev : events)
                if (ReactorRedisLoop::is_token(ev.data.u64)) {
                    redis_loop_->on_event(ev.data.u64, ev.events);
                    destroy_dead();
                }
        for (const epoll_event& ev : events) {
            switch (ev.data.u64) {
            case listener_token: on_accept(); break;
            case timer_token: on_timers(); break;
            case signal_token: on_signal(); break;
            case hash_token: on_hash_results(); break;
            case store_token: on_store_results(); break;
            case ControlSocket::listener_token: control_->on_accept(); break;
            case MetricsHttp::listener_token:
                if (metrics_http_) metrics_http_->on_accept();
                break;
            default:
                if (ev.data.u64 < ConnTable::min_id) {
                    if (ReactorRedisLoop::is_token(ev.data.u64)) {
                        // handled above
                    } else if (MetricsHttp::is_connection_token(ev.data.u64)) {
                        if (metrics_http_) metrics_http_->on_event(ev.data.u64, ev.events);
                    } else if (ControlSocket::is_connection_token(ev.data.u64)) {
                        control_->on_event(ev.data.u64, ev.events);
                    }
                } else if (Connection* c = conns_.find(ev.data.u64)) {
                    on_connection_event(*c, ev.events);
                }
                break;
            }
            destroy_dead();
        }
        // The engine's answers that came while the core was calling in (a claim refused at once).
        if (engine_ && engine_->has_deferred()) {
            engine_->deliver_deferred();
            destroy_dead();
        }
        // Work whose budget ran out: edge-triggered epoll and a fired timerfd will not report it again.
        if (accept_pending_ && !stopping_) on_accept();
        if (timers_due(now().mono)) on_timers();
        destroy_dead();
        // Connections that still had input when their read budget ran out.
        for (std::uint64_t id : read_pending_.take()) {
            if (Connection* c = conns_.find(id)) {
                c->read_pending = false;
                read_frames(*c);
                watch_writable(*c);
            }
            destroy_dead();
        }
        // A broadcast's PUBLISH leaves before this node's own fan-out: the other nodes
        // deliver it while this one writes to its users, not after.
        if (redis_loop_) {
            if (engine_) engine_->send_batched();
            redis_loop_->flush();
            destroy_dead();
        }
        // Established traffic goes out before the handshakes take their share of the iteration.
        flush_dirty();
        destroy_dead();
        advance_handshakes();
        // Destroying a connection can queue logout notices for others: settle both lists.
        while (!dead_.empty()) {
            flush_dirty();
            destroy_dead();
        }
        counters_.loop.observe_us(
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - work_started)
                .count());
    }
    leave_cluster();
    log::info("stopped");
    return 0;
}

} // namespace confab
