#include "core/chat_core.hpp"

#include "core/endpoint.hpp"

#include "log.hpp"
#include "log_flood.hpp"

#include <algorithm>

namespace confab {

using namespace proto;

namespace {
using cluster::node_ordinal_bits;
using cluster::node_ordinals;
// An invalid name is echoed in its error reply up to this many bytes, cut on a character boundary.
constexpr std::size_t shown_name_bytes = 64;
std::uint32_t ceil_seconds(std::int64_t ms) {
    return std::uint32_t((ms + 999) / 1000);
}

// How long before the idle timeout the user is warned: long enough to react,
// but never most of a short timeout.
std::int64_t idle_warning_lead(std::int64_t timeout_ms) {
    return std::min<std::int64_t>(60'000, timeout_ms / 10);
}
} // namespace

ChatCore::ChatCore(CoreEnv& env, CoreSettings settings, UsersFile users, ClusterLink* cluster, MailboxFactory mailboxes)
    : env_(env), settings_(settings), lockout_(settings.block_duration_ms), addresses_(settings.address),
      cluster_(cluster) {
    install_users(std::move(users));
    MailboxEvents& events = *this;
    if (mailboxes)
        mailbox_ = mailboxes(events, static_cast<const UserDirectory&>(*this), settings.max_offline_messages);
    else
        mailbox_ = std::make_unique<Mailboxes>(
            events, [&env](StoreOp op) { return env.persist(std::move(op)); }, settings.max_offline_messages);
}

bool ChatCore::valid_text(std::string_view t) noexcept {
    return !t.empty() && t.size() <= max_text_length; // UTF-8 was checked by the decoder
}

void ChatCore::result(ConnId conn, std::uint32_t rid, Status code, std::string_view detail) {
    send(conn, Result{rid, code, detail});
}

void ChatCore::login_result(ConnId conn, std::uint32_t rid, LoginOutcome outcome, std::uint32_t value) {
    counters_.count_login(outcome);
    send(conn, LoginResult{rid, outcome, value});
}

// ---------------------------------------------------------------- users

void ChatCore::replace_users(UsersFile file, Now now) {
    std::vector<UserIdx> had;
    for (UserIdx u = 0; u < users_.size(); ++u)
        if (users_[u].cred) had.push_back(u);
    install_users(std::move(file));
    for (UserIdx u : had)
        if (!users_[u].cred) remove_user(u, now);
}

void ChatCore::remove_user(UserIdx u, Now now) {
    User& user = users_[u];
    if (user.conn != 0) {
        log::notice("{} was removed from the users file: session ended", user.name);
        close_with(user.conn, SessionEnded{EndReason::account_removed, "your account was removed by the administrator"},
                   now);
    } else {
        log::notice("{} was removed from the users file", user.name);
    }
    // Nothing of theirs is kept: a name added again later starts afresh.
    mailbox_->forget_user(u);
    while (!user.blocked.empty()) set_block(u, user.blocked.back(), false);
    while (!user.blocked_by.empty()) set_block(user.blocked_by.back(), u, false);
    user.trusted.clear();
    user.last_seen = INT64_MIN; // whoelsesince no longer lists them
    env_.persist(store_op::ForgetUser{user.name});
}

void ChatCore::install_users(UsersFile file) {
    has_hashes_ = file.plaintext_entries < file.users.size();
    for (auto& u : users_) u.cred.reset();
    for (auto& [name, cred] : file.users) {
        UserIdx idx = find_user(name);
        if (idx == no_user) {
            idx = UserIdx(users_.size());
            users_.push_back(User{});
            users_.back().name = name;
            by_name_.emplace(name, idx);
        }
        users_[idx].cred = std::move(cred);
    }
}

void ChatCore::update_settings(const CoreSettings& s) {
    // A shorter timeout applies to sessions already idle too, not only after their old deadline.
    if (s.timeout_ms < settings_.timeout_ms)
        for (const auto& [conn, session] : sessions_)
            if (session.state == State::online)
                env_.arm_timer(timer_key(TimerKind::idle, conn), idle_check_at(session, s.timeout_ms));
    settings_ = s;
    lockout_.set_block_duration(s.block_duration_ms);
    mailbox_->set_capacity(s.max_offline_messages);
    addresses_.update_settings(s.address);
}

std::size_t ChatCore::user_count() const noexcept {
    return std::size_t(std::count_if(users_.begin(), users_.end(), [](const User& u) { return u.cred.has_value(); }));
}

ChatCore::UserIdx ChatCore::find_user(std::string_view name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? no_user : it->second;
}

bool ChatCore::blocks(UserIdx a, UserIdx b) const {
    const auto& list = users_[a].blocked;
    return std::binary_search(list.begin(), list.end(), b);
}

namespace {
void set_member(std::vector<UserId>& sorted, UserId x, bool on) {
    auto pos = std::lower_bound(sorted.begin(), sorted.end(), x);
    const bool present = pos != sorted.end() && *pos == x;
    if (on && !present) sorted.insert(pos, x);
    if (!on && present) sorted.erase(pos);
}
} // namespace

void ChatCore::set_block(UserIdx a, UserIdx b, bool on) {
    set_member(users_[a].blocked, b, on);
    set_member(users_[b].blocked_by, a, on);
}

void ChatCore::replace_blocks(UserIdx a, std::vector<UserIdx> sorted) {
    for (UserIdx b : users_[a].blocked) set_member(users_[b].blocked_by, a, false);
    for (UserIdx b : sorted) set_member(users_[b].blocked_by, a, true);
    users_[a].blocked = std::move(sorted);
}

void ChatCore::add_online(UserIdx u, ConnId c) {
    users_[u].conn = c;
    users_[u].online_pos = online_.size();
    online_.push_back(u);
}

void ChatCore::remove_online(UserIdx u) {
    std::size_t pos = users_[u].online_pos;
    online_[pos] = online_.back();
    users_[online_[pos]].online_pos = pos;
    online_.pop_back();
    users_[u].conn = 0;
}

// ---------------------------------------------------------------- connection lifecycle

ChatCore::Admission ChatCore::admit(std::string_view peer_host, Now now) {
    auto d = addresses_.admit(peer_host, now.mono);
    switch (d.verdict) {
    case AddressLimits::Admission::ok: return {true, Status::ok, {}};
    case AddressLimits::Admission::server_busy:
        return {false, Status::server_busy, "too many connections are logging in; try again shortly"};
    case AddressLimits::Admission::address_busy:
        return {false, Status::server_busy, "too many connections from your address are logging in"};
    case AddressLimits::Admission::too_fast:
        return {false, Status::rate_limited,
                fmt::format("too many connections from your address; retry in {} s", ceil_seconds(d.retry_ms))};
    }
    return {false, Status::server_busy, {}};
}

std::string ChatCore::describe(ConnId conn) const {
    auto it = sessions_.find(conn);
    if (it == sessions_.end()) return "a closed connection";
    if (it->second.state != State::online) return it->second.endpoint;
    return fmt::format("{} ({})", users_[it->second.user].name, it->second.endpoint);
}

void ChatCore::on_connect(ConnId conn, std::string peer_host, std::uint16_t peer_port, Now now) {
    addresses_.opened(peer_host);
    Session& s = sessions_[conn];
    s.endpoint = endpoint_string(peer_host, peer_port);
    s.peer_host = std::move(peer_host);
    env_.arm_timer(timer_key(TimerKind::login_deadline, conn), now.mono + settings_.login_timeout_ms);
}

void ChatCore::on_disconnect(ConnId conn, Now now) {
    end_session(conn, now);
}

void ChatCore::end_session(ConnId conn, Now now, bool announce_logout) {
    auto it = sessions_.find(conn);
    if (it == sessions_.end()) return;
    env_.cancel_timer(timer_key(TimerKind::login_deadline, conn));
    env_.cancel_timer(timer_key(TimerKind::idle, conn));
    UserIdx u = it->second.user;
    if (it->second.state != State::online) addresses_.closed_unauthenticated(it->second.peer_host);
    // A login waiting to claim again gives the name up at once: the client may be back already.
    if (auto w = claim_waits_.find(it->second.claim_user); w != claim_waits_.end() && w->second == conn) {
        env_.cancel_timer(timer_key(TimerKind::claim_retry, w->first));
        claiming_.erase(w->first);
        claim_waits_.erase(w);
    }
    sessions_.erase(it);
    if (u == no_user) return;
    remove_online(u);
    users_[u].last_seen = now.mono;
    if (cluster_) {
        end_remote_pairs(u);
        left_cluster(u, now);
    }
    // Private sessions die with the login; the clients see their peer connection close.
    std::erase_if(private_pairs_, pair_with(u));
    log::info("{} logged out", users_[u].name);
    if (announce_logout) announce(u, PresenceKind::logout);
}

void ChatCore::close_with(ConnId conn, const Message& last, Now now, bool announce_logout) {
    if (const auto* e = std::get_if<SessionEnded>(&last)) counters_.count_end(e->reason);
    if (const auto* e = std::get_if<ProtocolError>(&last)) {
        ++counters_.protocol_errors;
        if (e->code == Status::login_timeout) ++counters_.login_timeouts;
    }
    frame_.clear();
    append_frame(frame_, last);
    env_.send(conn, frame_);
    end_session(conn, now, announce_logout);
    env_.close(conn);
}

void ChatCore::on_protocol_error(ConnId conn, Status code, std::string_view detail, Now now) {
    auto it = sessions_.find(conn);
    if (it == sessions_.end()) return;
    log::flood(log::Flood::dropped_client, log::Level::info, "connection from {} dropped: {}", it->second.endpoint,
               detail);
    close_with(conn, ProtocolError{code, detail}, now);
}

void ChatCore::shutdown(std::optional<Now> now) {
    std::vector<ConnId> conns;
    for (const auto& [c, s] : sessions_) conns.push_back(c);
    for (ConnId c : conns) {
        if (sessions_[c].state == State::online) {
            send(c, SessionEnded{EndReason::server_shutdown, "server shutting down"});
            counters_.count_end(EndReason::server_shutdown);
            if (cluster_) {
                const std::string& name = users_[sessions_[c].user].name;
                cluster_->release(name);
                if (now) cluster_->publish(cluster::Offline{name, cluster_->node_id(), now->wall_ms});
            }
        } else
            addresses_.closed_unauthenticated(sessions_[c].peer_host);
        sessions_.erase(c);
        env_.close(c);
    }
    online_.clear();
    for (auto& u : users_) u.conn = 0;
}

void ChatCore::on_timer(TimerQueue::Key key, Now now) {
    switch (timer_kind(key)) {
    case TimerKind::login_deadline: {
        ConnId c = timer_id(key);
        auto it = sessions_.find(c);
        if (it == sessions_.end() || it->second.state == State::online) return;
        log::flood(log::Flood::login_deadline, log::Level::info, "connection from {} closed: no login within {} s",
                   it->second.endpoint, settings_.login_timeout_ms / 1000);
        close_with(c, ProtocolError{Status::login_timeout, "no login before the deadline"}, now);
        return;
    }
    case TimerKind::idle: {
        ConnId c = timer_id(key);
        auto it = sessions_.find(c);
        if (it == sessions_.end() || it->second.state != State::online) return;
        // Activity only moves last_activity; the timer re-files itself until it is really due.
        Session& s = it->second;
        TimePoint due = s.last_activity + settings_.timeout_ms;
        if (due > now.mono) {
            if (!s.idle_warned && now.mono >= due - idle_warning_lead(settings_.timeout_ms)) {
                s.idle_warned = true;
                send(c, IdleWarning{ceil_seconds(due - now.mono)});
            }
            env_.arm_timer(key, idle_check_at(s, settings_.timeout_ms));
            return;
        }
        log::info("{} timed out", users_[it->second.user].name);
        std::string detail = fmt::format("timed out after {} seconds without a command", settings_.timeout_ms / 1000);
        close_with(c, SessionEnded{EndReason::timed_out, detail}, now);
        return;
    }
    case TimerKind::lock: {
        auto it = lock_timers_.find(timer_id(key));
        if (it == lock_timers_.end()) return;
        if (lockout_.lift(it->second, now.mono)) {
            log::flood(log::Flood::locked_name, log::Level::info, "login name {} unlocked", Lockout::label(it->second));
            env_.persist(store_op::SetLock{it->second, 0});
        }
        if (lockout_.locked_for(it->second, now.mono) == 0) locked_while_cut_off_.erase(it->second);
        lock_timers_.erase(it);
        return;
    }
    case TimerKind::route_answer: return expire_routes(now);
    case TimerKind::claim_retry: return claim_again(UserIdx(timer_id(key)), now);
    case TimerKind::close_deadline:
    case TimerKind::watchdog:
    case TimerKind::status:
    case TimerKind::log_summary:
    case TimerKind::control_idle:
    case TimerKind::metrics_idle:
    case TimerKind::redis_retry:
    case TimerKind::cluster_heartbeat:
    case TimerKind::cluster_liveness: return; // the glue's own: never passed here
    }
}

// ---------------------------------------------------------------- dispatch

void ChatCore::on_message(ConnId conn, const Message& msg, Now now) {
    auto it = sessions_.find(conn);
    if (it == sessions_.end()) return;
    Session& s = it->second;
    if (const auto* h = std::get_if<Hello>(&msg)) return handle_hello(conn, s, *h, now);
    if (s.state == State::awaiting_hello) {
        close_with(conn, ProtocolError{Status::wrong_state, "expected Hello first"}, now);
        return;
    }
    if (const auto* l = std::get_if<Login>(&msg)) return handle_login(conn, s, *l, now);
    handle_command(conn, s, msg, now);
}

void ChatCore::handle_hello(ConnId c, Session& s, const Hello& m, Now now) {
    if (s.state != State::awaiting_hello) {
        close_with(c, ProtocolError{Status::wrong_state, "Hello sent twice"}, now);
        return;
    }
    if (m.version != protocol_version) {
        std::string detail =
            fmt::format("server speaks protocol version {}, client sent {}", protocol_version, m.version);
        close_with(c, ProtocolError{Status::unsupported_version, detail}, now);
        return;
    }
    s.state = State::awaiting_login;
    send(c, Welcome{protocol_version, std::uint32_t(max_frame_size), "confabd"});
}

// ---------------------------------------------------------------- login

void ChatCore::handle_login(ConnId c, Session& s, const Login& m, Now now) {
    if (s.state == State::online) return result(c, m.request_id, Status::wrong_state, "already logged in");
    if (s.state == State::verifying || s.state == State::claiming) {
        close_with(c, ProtocolError{Status::wrong_state, "Login sent while the previous one is being checked"}, now);
        return;
    }
    // Names that break the syntax rule can never exist: refuse without tracking them.
    if (!is_valid_user_name(m.name)) {
        login_result(c, m.request_id, LoginOutcome::wrong_password, Lockout::max_failures - 1);
        return;
    }
    // An address over its wrong-password budget is refused before any check,
    // so its attempts never count toward a name's lock (PROTOCOL.md §5).
    if (std::int64_t wait = addresses_.failures_wait_ms(s.peer_host, now.mono)) {
        login_result(c, m.request_id, LoginOutcome::too_many_attempts, ceil_seconds(wait));
        return;
    }
    std::string key = lock_key(m.name, s.peer_host);
    if (auto value = locked_value(m.name, key, now)) return login_result(c, m.request_id, LoginOutcome::locked, *value);
    s.login_request = m.request_id;
    s.login_name = std::string(m.name);
    s.login_lock = std::move(key);
    UserIdx u = find_user(m.name);
    const Credential* cred = u == no_user || !users_[u].cred ? nullptr : &*users_[u].cred;

    if (cred && cred->kind == Credential::Kind::plaintext) {
        return finish_login(c, s, plaintext_matches(cred->secret, m.password), now);
    }
    if (!cred && !has_hashes_) return finish_login(c, s, false, now);
    // Hashed (or unknown, checked against a decoy so both take the same time): off-thread.
    const std::string& hash = cred ? cred->secret : decoy_hash();
    s.job = next_job_++;
    if (!env_.verify_password(c, s.job, hash, std::string(m.password))) {
        login_result(c, m.request_id, LoginOutcome::unavailable, 1);
        return;
    }
    s.state = State::verifying;
}

void ChatCore::on_verify_result(ConnId conn, std::uint64_t job, bool ok, Now now) {
    auto it = sessions_.find(conn);
    if (it == sessions_.end() || it->second.state != State::verifying || it->second.job != job) return;
    it->second.state = State::awaiting_login;
    UserIdx u = find_user(it->second.login_name);
    finish_login(conn, it->second, ok && u != no_user && users_[u].cred, now);
}

void ChatCore::finish_login(ConnId c, Session& s, bool password_ok, Now now) {
    const std::string name = std::move(s.login_name);
    const std::string key = std::move(s.login_lock);
    const std::uint32_t rid = s.login_request;
    // Other connections may have locked the name while this password was checked.
    if (auto value = locked_value(name, key, now)) return login_result(c, rid, LoginOutcome::locked, *value);
    if (!password_ok) {
        // packaging/fail2ban/confabd.conf matches this line: failed login for 'NAME' from HOST:PORT ([IPv6]:PORT)
        log::flood_from(log::Flood::failed_login, s.peer_host, log::Level::notice, "failed login for '{}' from {}",
                        name, s.endpoint);
        addresses_.record_failure(s.peer_host, now.mono);
        auto f = lockout_.record_failure(key, now.mono);
        if (cluster_) cluster_->publish(cluster::LoginFailed{key}); // it counts on every node
        if (f.attempts_left > 0) {
            counters_.count_login(LoginOutcome::wrong_password);
            // In a cluster the next attempt, on any node, finds this failure counted.
            reply_when_flushed(c, LoginResult{rid, LoginOutcome::wrong_password, f.attempts_left});
            return;
        }
        lock_timer(key, f.locked_until);
        ++counters_.lockouts;
        // Stored as wall-clock time: a restart must not reset a lock an attacker triggered.
        env_.persist(store_op::SetLock{key, now.wall_ms + (f.locked_until - now.mono)});
        if (cluster_ && !cluster_->available()) locked_while_cut_off_.insert(key); // the store is away too
        log::flood(log::Flood::locked_name, log::Level::warning,
                   "login name {} locked for {} s after {} wrong passwords (last from {})", Lockout::label(key),
                   settings_.block_duration_ms / 1000, Lockout::max_failures, s.endpoint);
        counters_.count_login(LoginOutcome::locked);
        reply_when_flushed(c, LoginResult{rid, LoginOutcome::locked, ceil_seconds(f.locked_until - now.mono)});
        return;
    }
    UserIdx u = find_user(name);
    if (users_[u].conn != 0) {
        login_result(c, rid, LoginOutcome::already_logged_in, 0);
        return;
    }
    accept_login(c, s, u, std::string(key), now);
}

void ChatCore::accept_login(ConnId c, Session& s, UserIdx u, std::string key, Now now) {
    if (cluster_) {
        s.login_lock = std::move(key); // looked at again when the claim is answered
        return claim(c, s, u);
    }
    lockout_.record_success(key);
    complete_login(c, s, u, now);
}

void ChatCore::complete_login(ConnId c, Session& s, UserIdx u, Now now) {
    addresses_.authenticated(s.peer_host);
    env_.allow_large_frames(c);
    s.state = State::online;
    s.user = u;
    s.last_activity = now.mono;
    if (s.login_at_ms == 0) s.login_at_ms = now.wall_ms; // in a cluster: the time announce_login published
    add_online(u, c);
    env_.cancel_timer(timer_key(TimerKind::login_deadline, c));
    s.idle_warned = false;
    env_.arm_timer(timer_key(TimerKind::idle, c), idle_check_at(s, settings_.timeout_ms));
    trust_address(u, s.peer_host, now);
    log::info("{} logged in from {}", users_[u].name, s.endpoint);
    login_result(c, s.login_request, LoginOutcome::ok, 0);
    for (const std::string& line : settings_.motd) send(c, ServerNotice{std::uint64_t(now.wall_ms), line});
    mailbox_->deliver_waiting(u);
    announce(u, PresenceKind::login);
    if (cluster_) remote_.erase(u); // a stale entry: the claim says the name is ours now (announce_login told all)
}

void ChatCore::announce(UserIdx who, PresenceKind kind) {
    if (!settings_.presence) return;
    frame_.clear();
    append_frame(frame_, Message{PresenceEvent{kind, users_[who].name}});
    for (UserIdx other : online_) {
        if (other == who || blocks(who, other)) continue; // hidden from those `who` blocked
        env_.send(users_[other].conn, frame_);
    }
}

// ---------------------------------------------------------------- commands

void ChatCore::handle_command(ConnId c, Session& s, const Message& msg, Now now) {
    if (s.state != State::online) {
        // Requests a client may send are answered; anything else is a protocol violation.
        std::uint32_t rid = std::visit(
            [](const auto& m) -> std::uint32_t {
                if constexpr (requires { m.request_id; }) return m.request_id;
                return 0;
            },
            msg);
        if (family_of(type_of(msg)) == MessageFamily::user_request)
            return result(c, rid, Status::not_logged_in, "log in first");
        close_with(c, ProtocolError{Status::bad_request, "unexpected message type"}, now);
        return;
    }
    const UserIdx me = s.user;
    if (const auto* ack = std::get_if<AckMessages>(&msg)) {
        mailbox_->acknowledge(me, ack->ids); // an automatic acknowledgement is not user activity
        return;
    }
    s.last_activity = now.mono; // any command counts as activity, PrivateActivity included
    s.idle_warned = false;

    std::visit(
        [&](const auto& m) {
            using M = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<M, SendMessage>)
                send_message(c, me, m, now);
            else if constexpr (std::is_same_v<M, Broadcast>)
                broadcast(c, me, m, now);
            else if constexpr (std::is_same_v<M, WhoElse>)
                list_users(c, me, m.request_id, std::nullopt, false, now);
            else if constexpr (std::is_same_v<M, WhoElseSince>)
                list_users(c, me, m.request_id, m.seconds, false, now);
            else if constexpr (std::is_same_v<M, WhoElseSinceSeen>)
                list_users(c, me, m.request_id, m.seconds, true, now);
            else if constexpr (std::is_same_v<M, ListBlocks>)
                list_blocks(c, me, m.request_id);
            else if constexpr (std::is_same_v<M, PrivateActivity>)
                return; // the activity itself was the point; no reply
            else if constexpr (std::is_same_v<M, Block>)
                block(c, me, m.request_id, m.user, true);
            else if constexpr (std::is_same_v<M, Unblock>)
                block(c, me, m.request_id, m.user, false);
            else if constexpr (std::is_same_v<M, StartPrivate>)
                start_private(c, me, m);
            else if constexpr (std::is_same_v<M, StopPrivate>)
                stop_private(c, me, m);
            else if constexpr (std::is_same_v<M, PrivateListen>) {
                if (m.port == 0)
                    return result(c, m.request_id, Status::invalid_argument, "listener port must not be 0");
                if (m.host.size() > max_host_length)
                    return result(c, m.request_id, Status::invalid_argument,
                                  fmt::format("listener host is longer than {} bytes", max_host_length));
                // Peers dial it from their event loop: a name would need a blocking lookup.
                if (!m.host.empty() && !proto::is_ip_literal(m.host))
                    return result(c, m.request_id, Status::invalid_argument,
                                  "listener host must be an IP address (or empty: the address you connect from)");
                s.listen_host = std::string(m.host);
                s.listen_port = m.port;
                if (cluster_) cluster_->publish(online_event(me, s)); // the endpoint peers elsewhere dial
                reply_when_flushed(c, Result{m.request_id, Status::ok, {}});
            } else if constexpr (std::is_same_v<M, Logout>) {
                close_with(c, SessionEnded{EndReason::logged_out, "logged out"}, now);
            } else {
                close_with(
                    c,
                    ProtocolError{Status::bad_request, fmt::format("{} is not a client request", to_string(M::type))},
                    now);
            }
        },
        msg);
}

ChatCore::UserIdx ChatCore::target(ConnId c, std::uint32_t rid, UserIdx me, std::string_view name,
                                   std::string_view self_error) {
    if (!is_valid_user_name(name)) {
        result(c, rid, Status::invalid_name,
               fmt::format("invalid user name '{}'", proto::utf8_prefix(name, shown_name_bytes)));
        return no_user;
    }
    UserIdx u = find_user(name);
    if (u == no_user || !users_[u].cred) {
        result(c, rid, Status::unknown_user, fmt::format("unknown user '{}'", name));
        return no_user;
    }
    if (u == me) {
        result(c, rid, Status::self_target, self_error);
        return no_user;
    }
    return u;
}

bool ChatCore::charge(ConnId c, std::uint32_t rid, UserIdx from, double deliveries, double bytes, Now now) {
    User& u = users_[from];
    std::int64_t wait = std::max(u.deliveries.wait_ms(settings_.user_deliveries, deliveries, now.mono),
                                 u.bytes.wait_ms(settings_.user_bytes, bytes, now.mono));
    if (wait > 0) {
        result(c, rid, Status::rate_limited, fmt::format("you are sending too fast; retry in {} ms", wait));
        return false;
    }
    u.deliveries.take(settings_.user_deliveries, deliveries, now.mono);
    u.bytes.take(settings_.user_bytes, bytes, now.mono);
    return true;
}

void ChatCore::send_message(ConnId c, UserIdx from, const SendMessage& m, Now now) {
    UserIdx to = target(c, m.request_id, from, m.to, "you cannot message yourself");
    if (to == no_user) return;
    if (!valid_text(m.text)) return result(c, m.request_id, Status::invalid_text, invalid_text_detail);
    if (blocks(to, from))
        return result(c, m.request_id, Status::blocked_by_recipient, fmt::format("{} has blocked you", m.to));
    if (!charge(c, m.request_id, from, 1, double(m.text.size()), now)) return;
    User& r = users_[to];
    std::uint64_t id = next_message_id(now);
    if (r.conn != 0) {
        send(r.conn, MessageEvent{id, std::uint64_t(now.wall_ms), 0, users_[from].name, m.text});
        ++counters_.messages_direct;
        return result(c, m.request_id, Status::ok);
    }
    if (cluster_)
        if (const RemoteUser* rr = remote(to))
            return route_direct(ReplyTo{c, m.request_id, {}, 0}, from, to, rr->node, id, now.wall_ms, m.text, now);
    deposit(Deposit{to, from, r.name, users_[from].name, id, now.wall_ms, m.text, ReplyTo{c, m.request_id, {}, 0}});
}

void ChatCore::deposit(const Deposit& d) {
    const DepositResult outcome = mailbox_->deposit(d);
    // "stored" is only said (and counted) once the message is durable: settled() answers.
    if (outcome == DepositResult::accepted) return;
    settled(d.to, d.reply, outcome, {}); // refused at once: the same words as refused later
}

void ChatCore::settled(UserIdx to, const ReplyTo& to_sender, DepositResult outcome, std::string_view error) {
    if (outcome == DepositResult::accepted) ++counters_.messages_stored;
    const std::string& name = users_[to].name;
    switch (outcome) {
    case DepositResult::accepted:
        return reply(to_sender, Status::ok_stored,
                     fmt::format("message to {} stored for delivery at next login", name));
    case DepositResult::mailbox_full:
        return reply(to_sender, Status::mailbox_full, fmt::format("{}'s mailbox is full", name));
    case DepositResult::sender_share_full:
        return reply(to_sender, Status::mailbox_full,
                     fmt::format("you already have as many messages waiting for {} as one sender may; wait until "
                                 "they log in",
                                 name));
    case DepositResult::store_busy:
        return reply(to_sender, Status::storage_failed, "the server is too busy to store messages; try again");
    case DepositResult::unavailable:
        return reply(to_sender, Status::unavailable, "service temporarily unavailable; try again");
    case DepositResult::lost:
        return reply(to_sender, Status::storage_failed,
                     fmt::format("message to {} could not be stored: {}", name, error));
    }
}

void ChatCore::reply(const ReplyTo& to, Status status, std::string_view detail) {
    if (!to.node.empty()) {
        if (to.tag != 0) cluster_->send_to(to.node, 0, cluster::DirectAnswer{to.tag, status, std::string(detail)});
        return;
    }
    // The sender may have left meanwhile (a deposit after a failed route, too).
    auto sender = sessions_.find(to.conn);
    if (sender == sessions_.end() || sender->second.state != State::online) return;
    result(to.conn, to.request, status, detail);
}

void ChatCore::on_stored(std::uint64_t tag, bool ok, std::string_view error) {
    mailbox_->on_stored(tag, ok, error);
}

bool ChatCore::deliver(UserIdx to, const StoredMessage& m) {
    // Blocking hides the blocked user's messages, those stored before the block too.
    if (blocks(to, m.from)) return false;
    if (users_[to].conn == 0) return true;
    ++counters_.messages_offline_delivered;
    send(users_[to].conn,
         MessageEvent{m.id, std::uint64_t(m.sent_at_ms), message_flag_offline, users_[m.from].name, m.text});
    return true;
}

std::uint64_t ChatCore::next_message_id(Now now) {
    // Unique across restarts without a stored counter: ids follow the wall clock
    // (microsecond scale) and never go backwards within a run.
    last_message_id_ = std::max(last_message_id_ + 1, std::uint64_t(std::max<std::int64_t>(now.wall_ms, 0)) * 1000);
    // In a cluster the node's ordinal fills the low bits, so two nodes never make the same id.
    if (cluster_) return last_message_id_ << node_ordinal_bits | (cluster_->node_ordinal() & (node_ordinals - 1));
    return last_message_id_;
}

void ChatCore::lock_timer(const std::string& name, TimePoint until) {
    std::uint64_t id = next_lock_timer_++;
    lock_timers_.emplace(id, name);
    env_.arm_timer(timer_key(TimerKind::lock, id), until);
}

std::string ChatCore::lock_key(std::string_view name, std::string_view peer_host) const {
    UserIdx u = find_user(name);
    if (u == no_user || !users_[u].cred || users_[u].trusted.keys().empty()) return std::string(name);
    std::string address = AddressLimits::key_of(peer_host);
    if (!users_[u].trusted.contains(address)) return std::string(name);
    return Lockout::scoped(name, address);
}

void ChatCore::trust_address(UserIdx u, std::string_view peer_host, Now now) {
    auto change = users_[u].trusted.remember(AddressLimits::key_of(peer_host));
    if (!change.changed) return;
    env_.persist(store_op::SetTrustedAddress{users_[u].name, users_[u].trusted.keys().front(), now.wall_ms});
    if (change.evicted) env_.persist(store_op::SetTrustedAddress{users_[u].name, *change.evicted, 0});
}

void ChatCore::restore(const StoredState& state, Now now) {
    // Users removed from the users file while the daemon was down are forgotten as at a reload.
    std::set<std::string_view> gone;
    bool any_known = false;
    auto known = [&](std::string_view name) {
        if (find_user(name) != no_user) return any_known = true;
        gone.insert(name);
        return false;
    };
    std::size_t messages = 0;
    for (const auto& m : state.messages) {
        last_message_id_ = std::max(last_message_id_, cluster_ ? m.id >> node_ordinal_bits : m.id);
        const bool to_known = known(m.recipient), from_known = known(m.sender);
        if (!to_known || !from_known) continue;
        mailbox_->restore(find_user(m.recipient), find_user(m.sender), m);
        ++messages;
    }
    for (const auto& [blocker, blocked] : state.blocks) {
        const bool a_known = known(blocker), b_known = known(blocked);
        if (!a_known || !b_known) continue;
        set_block(find_user(blocker), find_user(blocked), true);
    }
    for (const auto& t : state.trusted) { // oldest first, so the most recent ends first
        if (!known(t.name)) continue;
        UserIdx u = find_user(t.name);
        auto change = users_[u].trusted.remember(t.address);
        if (change.evicted) env_.persist(store_op::SetTrustedAddress{t.name, *change.evicted, 0});
    }
    std::size_t locks = 0;
    for (const auto& [name, until_wall] : state.locks) {
        std::int64_t left = until_wall - now.wall_ms;
        if (left <= 0) {
            env_.persist(store_op::SetLock{name, 0}); // ran out while the daemon was down
            continue;
        }
        lockout_.restore(name, now.mono + left);
        lock_timer(name, now.mono + left);
        ++locks;
    }
    for (const auto& [name, until_wall] : state.admin_locks) {
        if (until_wall == INT64_MAX) {
            admin_locks_.emplace(name, TimePoint(INT64_MAX));
        } else if (until_wall > now.wall_ms) {
            admin_locks_.emplace(name, now.mono + (until_wall - now.wall_ms));
        } else {
            env_.persist(store_op::SetLock{name, 0, true});
            continue;
        }
        ++locks;
    }
    log::info("restored {} stored message(s), {} block(s), {} running lock(s), {} trusted address(es)", messages,
              state.blocks.size(), locks, state.trusted.size());
    if (!gone.empty() && !any_known) {
        // Not one name with stored state is in the users file: more likely the
        // wrong file (a demo one, a typo in users_file) than every user deleted.
        // Forgetting would destroy real users' messages; keep them unrestored.
        log::warning("none of the {} name(s) with stored messages, blocks or trusted addresses is in the users "
                     "file; nothing is forgotten (is users_file the right file?)",
                     gone.size());
        return;
    }
    for (std::string_view name : gone) {
        log::notice("forgetting the stored messages and blocks of '{}', who is no longer in the users file", name);
        env_.persist(store_op::ForgetUser{std::string(name)});
    }
}

void ChatCore::broadcast(ConnId c, UserIdx from, const Broadcast& m, Now now) {
    if (!valid_text(m.text)) return result(c, m.request_id, Status::invalid_text, invalid_text_detail);
    // A broadcast weighs what it reaches: one delivery per other user online (on any node it can reach).
    const bool shared = cluster_ && cluster_->available();
    const double reach = double(online_.size() - 1) + (shared ? double(remote_.size()) : 0.0);
    if (!charge(c, m.request_id, from, reach, reach * double(m.text.size()), now)) return;
    frame_.clear();
    append_frame(frame_, Message{BroadcastEvent{std::uint64_t(now.wall_ms), users_[from].name, m.text}});
    bool skipped = false;
    for (UserIdx u : online_) {
        if (u == from) continue;
        if (blocks(u, from)) {
            skipped = true;
            continue;
        }
        env_.send(users_[u].conn, frame_);
        ++counters_.broadcast_deliveries;
    }
    ++counters_.broadcasts;
    if (cluster_) {
        if (!shared)
            return result(c, m.request_id, Status::ok_partial,
                          "users on other servers could not be reached (service temporarily unavailable)");
        cluster_->publish(cluster::Broadcast{users_[from].name, cluster_->node_id(), now.wall_ms, std::string(m.text)});
        // Through the index of who blocks the sender: a walk of every remote user per broadcast cost more.
        const auto& blockers = users_[from].blocked_by;
        skipped =
            skipped || std::any_of(blockers.begin(), blockers.end(), [&](UserIdx r) { return remote_.contains(r); });
    }
    if (skipped)
        return result(c, m.request_id, Status::ok_partial, "your message could not be delivered to some recipients");
    result(c, m.request_id, Status::ok);
}

void ChatCore::list_users(ConnId c, UserIdx me, std::uint32_t rid, std::optional<std::uint32_t> since_s, bool seen,
                          Now now) {
    std::vector<UserIdx> found;
    auto visible = [&](UserIdx u) { return u != me && !blocks(u, me); }; // blockers are hidden
    if (!since_s) {
        for (UserIdx u : online_)
            if (visible(u)) found.push_back(u);
        if (cluster_)
            for (const auto& r : remote_)
                if (visible(r.first)) found.push_back(r.first);
    } else {
        const TimePoint cutoff = now.mono - std::int64_t(*since_s) * 1000;
        for (UserIdx u = 0; u < users_.size(); ++u) {
            const User& user = users_[u];
            if (visible(u) && (user.last_seen >= cutoff || online_anywhere(u))) found.push_back(u);
        }
    }
    std::sort(found.begin(), found.end(), [&](UserIdx a, UserIdx b) { return users_[a].name < users_[b].name; });
    if (found.size() > max_listed_names) found.resize(max_listed_names); // the first ones in byte-wise order
    if (!seen) {
        UserList reply{rid, {}};
        for (UserIdx u : found) reply.names.push_back(users_[u].name);
        return send(c, reply);
    }
    UserSeenList reply{rid, {}, {}};
    for (UserIdx u : found) {
        reply.names.push_back(users_[u].name);
        // 0 means online, so someone who left this very millisecond is 1 s ago.
        std::int64_t ago =
            online_anywhere(u) ? 0 : std::max<std::int64_t>(1, ceil_seconds(now.mono - users_[u].last_seen));
        reply.offline_for_s.push_back(std::uint32_t(ago));
    }
    send(c, reply);
}

void ChatCore::list_blocks(ConnId c, UserIdx me, std::uint32_t rid) {
    UserList reply{rid, {}};
    for (UserIdx u : users_[me].blocked) reply.names.push_back(users_[u].name);
    std::sort(reply.names.begin(), reply.names.end());
    if (reply.names.size() > max_listed_names) reply.names.resize(max_listed_names);
    send(c, reply);
}

TimePoint ChatCore::idle_check_at(const Session& s, std::int64_t timeout_ms) const {
    TimePoint due = s.last_activity + timeout_ms;
    return s.idle_warned ? due : due - idle_warning_lead(timeout_ms);
}

void ChatCore::block(ConnId c, UserIdx me, std::uint32_t rid, std::string_view name, bool on) {
    UserIdx u = target(c, rid, me, name, on ? "you cannot block yourself" : "you cannot unblock yourself");
    if (u == no_user) return;
    const bool present = blocks(me, u);
    if (on && present) return result(c, rid, Status::already_blocked, fmt::format("{} is already blocked", name));
    if (!on && !present) return result(c, rid, Status::not_blocked, fmt::format("{} is not blocked", name));
    // The other nodes must hear of it, and it must be stored for them: not while the shared state is away.
    if (cluster_ && !cluster_->available()) return result(c, rid, Status::unavailable, unavailable_text);
    set_block(me, u, on);
    env_.persist(store_op::SetBlock{users_[me].name, users_[u].name, on});
    if (cluster_) cluster_->publish(cluster::BlockChanged{users_[me].name, users_[u].name, on});
    if (on) revoke_private(me, u);
    // Confirmed once every node has it: a message or whoelse sent after this sees the block.
    const std::string text = fmt::format("{} is {}", name, on ? "blocked" : "unblocked");
    reply_when_flushed(c, Result{rid, Status::ok, text});
}

// ---------------------------------------------------------------- administration

std::optional<std::uint32_t> ChatCore::locked_value(std::string_view name, std::string_view lock_key, Now now) {
    if (auto it = admin_locks_.find(name); it != admin_locks_.end()) {
        if (it->second == INT64_MAX) return lock_until_unlocked;
        if (it->second > now.mono) return ceil_seconds(it->second - now.mono);
        env_.persist(store_op::SetLock{it->first, 0, true}); // ran out: forget it here and on disk
        admin_locks_.erase(it);
    }
    if (std::int64_t left = lockout_.locked_for(lock_key, now.mono)) return ceil_seconds(left);
    return std::nullopt;
}

ChatCore::UserIdx ChatCore::admin_target(std::string_view name, AdminResult& error) const {
    if (!is_valid_user_name(name)) {
        error = {Status::invalid_name,
                 fmt::format("invalid user name '{}'", proto::utf8_prefix(name, shown_name_bytes))};
        return no_user;
    }
    UserIdx u = find_user(name);
    if (u == no_user || !users_[u].cred) {
        error = {Status::unknown_user, fmt::format("unknown user '{}'", name)};
        return no_user;
    }
    return u;
}

ChatCore::AdminResult ChatCore::kick(std::string_view name, std::string_view reason, Now now) {
    AdminResult r{Status::ok, {}};
    UserIdx u = admin_target(name, r);
    if (u == no_user) return r;
    if (reason.size() > max_detail_length)
        return {Status::invalid_text, fmt::format("the reason is longer than {} bytes", max_detail_length)};
    if (users_[u].conn == 0) {
        const RemoteUser* elsewhere = remote(u);
        if (!elsewhere) return {Status::user_offline, fmt::format("{} is not logged in", name)};
        if (!cluster_->available()) return {Status::unavailable, std::string(unavailable_text)};
        log::notice("{} (on node {}) kicked by the administrator{}{}", name, elsewhere->node,
                    reason.empty() ? "" : ": ", reason);
        ++counters_.kicks;
        // Its node ends the session (cluster::EndSession).
        cluster_->send_to(elsewhere->node, 0,
                          cluster::EndSession{std::string(name), EndReason::kicked,
                                              reason.empty() ? "removed by the administrator" : std::string(reason)});
        return {Status::ok, fmt::format("{} logged out", name)};
    }
    log::notice("{} kicked by the administrator{}{}", describe(users_[u].conn), reason.empty() ? "" : ": ", reason);
    ++counters_.kicks;
    close_with(users_[u].conn,
               SessionEnded{EndReason::kicked, reason.empty() ? "removed by the administrator" : reason}, now);
    return {Status::ok, fmt::format("{} logged out", name)};
}

ChatCore::AdminResult ChatCore::lock(std::string_view name, std::uint32_t seconds, Now now) {
    AdminResult r{Status::ok, {}};
    UserIdx u = admin_target(name, r);
    if (u == no_user) return r;
    if (seconds == 0) return {Status::invalid_argument, "a lock lasts at least 1 second"};
    // Stored for the other nodes and heard by them, or not at all (a node's replica is read
    // again from the shared state when it is back): not while that is away.
    if (cluster_ && !cluster_->available()) return {Status::unavailable, std::string(unavailable_text)};
    const bool forever = seconds == lock_until_unlocked;
    const std::int64_t ms = std::int64_t(seconds) * 1000;
    admin_locks_.insert_or_assign(std::string(name), forever ? TimePoint(INT64_MAX) : now.mono + ms);
    env_.persist(store_op::SetLock{std::string(name), forever ? INT64_MAX : now.wall_ms + ms, true});
    // Every node refuses the name from now on, and the one holding its session ends it.
    if (cluster_) cluster_->publish(cluster::Locked{std::string(name), forever ? INT64_MAX : now.wall_ms + ms, true});
    ++counters_.admin_locks;
    std::string how = forever ? "until unlocked" : fmt::format("for {} s", seconds);
    log::notice("login name '{}' locked by the administrator {}", name, how);
    if (ConnId c = users_[u].conn)
        close_with(c, SessionEnded{EndReason::locked, "your account was locked by the administrator"}, now);
    return {Status::ok, fmt::format("{} locked {}", name, how)};
}

ChatCore::AdminResult ChatCore::unlock(std::string_view name, Now now) {
    AdminResult r{Status::ok, {}};
    UserIdx u = admin_target(name, r);
    if (u == no_user) return r;
    if (cluster_ && !cluster_->available()) return {Status::unavailable, std::string(unavailable_text)}; // as lock()
    const bool was_locked = lift_locks(u, true, now);
    if (cluster_) cluster_->publish(cluster::Locked{std::string(name), 0, true});
    if (!was_locked) return {Status::ok, fmt::format("{} was not locked", name)};
    log::notice("login name '{}' unlocked by the administrator", name);
    return {Status::ok, fmt::format("{} unlocked", name)};
}

bool ChatCore::lift_locks(UserIdx u, bool persist, Now now) {
    const std::string& name = users_[u].name;
    bool was_locked = false;
    if (auto it = admin_locks_.find(name); it != admin_locks_.end()) {
        was_locked = it->second > now.mono;
        admin_locks_.erase(it);
        if (persist) env_.persist(store_op::SetLock{name, 0, true});
    }
    // The name's own lockout and those of its trusted addresses.
    std::vector<std::string> keys{name};
    for (const auto& address : users_[u].trusted.keys()) keys.push_back(Lockout::scoped(name, address));
    for (const auto& key : keys) {
        if (lockout_.locked_for(key, now.mono) > 0) {
            was_locked = true;
            if (persist) env_.persist(store_op::SetLock{key, 0});
        }
        lockout_.record_success(key); // forgets a lock and a failure count alike; its timer then finds nothing
        locked_while_cut_off_.erase(key);
    }
    return was_locked;
}

ChatCore::AdminResult ChatCore::wall(std::string_view text, Now now) {
    if (!valid_text(text)) return {Status::invalid_text, "the announcement must be 1-1000 bytes"};
    frame_.clear();
    append_frame(frame_, Message{ServerNotice{std::uint64_t(now.wall_ms), text}});
    for (UserIdx u : online_) env_.send(users_[u].conn, frame_);
    ++counters_.notices;
    std::size_t reached = online_.size();
    if (cluster_) {
        if (!cluster_->available()) {
            log::notice("announcement to {} user(s) of this node only: {}", reached, text);
            return {Status::ok_partial,
                    fmt::format("sent to {} user(s) of this server; the others cannot be reached now", reached)};
        }
        cluster_->publish(cluster::Notice{now.wall_ms, std::string(text)});
        reached += remote_.size();
    }
    log::notice("announcement to {} user(s): {}", reached, text);
    return {Status::ok, fmt::format("sent to {} user(s)", reached)};
}

std::vector<ChatCore::OnlineUser> ChatCore::who(Now now) const {
    std::vector<OnlineUser> list;
    list.reserve(online_.size());
    for (UserIdx u : online_) {
        const Session& s = sessions_.at(users_[u].conn);
        auto chats = std::count_if(private_pairs_.begin(), private_pairs_.end(), pair_with(u));
        list.push_back(OnlineUser{users_[u].name, users_[u].conn, s.login_at_ms,
                                  std::uint32_t(std::max<std::int64_t>(0, now.mono - s.last_activity) / 1000),
                                  std::uint16_t(std::min<std::ptrdiff_t>(chats, UINT16_MAX))});
    }
    std::sort(list.begin(), list.end(), [](const OnlineUser& a, const OnlineUser& b) { return a.name < b.name; });
    return list;
}

// ---------------------------------------------------------------- private chat introductions

void ChatCore::start_private(ConnId c, UserIdx me, const StartPrivate& m) {
    UserIdx peer = target(c, m.request_id, me, m.user, "you cannot start a private chat with yourself");
    if (peer == no_user) return;
    if (blocks(peer, me))
        return result(c, m.request_id, Status::blocked_by_recipient, fmt::format("{} has blocked you", m.user));
    if (users_[peer].conn == 0) {
        const RemoteUser* r = remote(peer);
        if (!r) return result(c, m.request_id, Status::user_offline, fmt::format("{} is offline", m.user));
        if (r->listen_port == 0)
            return result(c, m.request_id, Status::no_private_endpoint,
                          fmt::format("{} cannot accept private chats", m.user));
        if (!cluster_->available()) return result(c, m.request_id, Status::unavailable, unavailable_text);
        Token token = env_.random_token();
        private_pairs_[std::minmax(me, peer)].here = token; // one from there stays: they may have crossed
        send(c, PrivateIntro{m.request_id, users_[peer].name, r->listen_host, r->listen_port, token});
        cluster_->send_to(r->node, 0, cluster::Invite{users_[peer].name, users_[me].name, token});
        return;
    }
    const Session& ps = sessions_.at(users_[peer].conn);
    if (ps.listen_port == 0)
        return result(c, m.request_id, Status::no_private_endpoint,
                      fmt::format("{} cannot accept private chats", m.user));
    Token token = env_.random_token();
    private_pairs_.insert_or_assign(std::minmax(me, peer), PrivatePair{token, std::nullopt});
    send(users_[peer].conn, PrivateInvite{users_[me].name, token});
    const std::string& host = ps.listen_host.empty() ? ps.peer_host : ps.listen_host;
    send(c, PrivateIntro{m.request_id, users_[peer].name, host, ps.listen_port, token});
}

void ChatCore::stop_private(ConnId c, UserIdx me, const StopPrivate& m) {
    if (!is_valid_user_name(m.user))
        return result(c, m.request_id, Status::invalid_name,
                      fmt::format("invalid user name '{}'", proto::utf8_prefix(m.user, shown_name_bytes)));
    UserIdx peer = find_user(m.user);
    auto it = peer == no_user ? private_pairs_.end() : private_pairs_.find(std::minmax(me, peer));
    if (it == private_pairs_.end())
        return result(c, m.request_id, Status::no_private_session, fmt::format("no private session with {}", m.user));
    const Token heard = it->second.heard();
    private_pairs_.erase(it);
    if (const RemoteUser* r = remote(peer))
        cluster_->send_to(r->node, 0, cluster::PairEnded{users_[peer].name, users_[me].name, false, heard});
    result(c, m.request_id, Status::ok);
}

void ChatCore::revoke_private(UserIdx a, UserIdx b) {
    auto it = private_pairs_.find(std::minmax(a, b));
    if (it == private_pairs_.end()) return;
    const Token heard = it->second.heard();
    private_pairs_.erase(it);
    if (users_[a].conn) send(users_[a].conn, PrivateRevoked{users_[b].name});
    if (users_[b].conn) send(users_[b].conn, PrivateRevoked{users_[a].name});
    if (const RemoteUser* r = remote(b))
        cluster_->send_to(r->node, 0, cluster::PairEnded{users_[b].name, users_[a].name, true, heard});
}

} // namespace confab
