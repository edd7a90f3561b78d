// The chat service's rules, without I/O: sessions, login and lockout,
// presence, messages (offline ones kept by an OfflineMailbox), blocking and
// private-chat introductions. It takes decoded messages, timer expiries and
// hash results, and answers through CoreEnv: frames to send, connections to
// close, timers to arm, passwords to verify. The reactor owns the sockets; tests drive this
// class directly with a fake environment and clock.
// In a cluster (docs/CLUSTER.md) it is one node: a ClusterLink claims sessions and
// carries events to the other nodes, whose users it keeps a replica of
// (chat_core_cluster.cpp); without one it is the whole service.
// Single-threaded: every call comes from the reactor thread.
#pragma once

#include "core/address_limits.hpp"
#include "core/cluster.hpp"
#include "core/counters.hpp"
#include "core/credentials.hpp"
#include "core/lockout.hpp"
#include "core/mailbox.hpp"
#include "core/store_ops.hpp"
#include "core/timer_key.hpp"
#include "core/timer_queue.hpp"
#include "core/token_bucket.hpp"
#include "core/trusted_addresses.hpp"

#include "proto/messages.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace confab {

using ConnId = std::uint64_t;

class CoreEnv {
public:
    virtual ~CoreEnv() = default;
    // Queue an encoded frame; the bytes are copied before returning.
    virtual void send(ConnId conn, proto::Bytes frame) = 0;
    // Close after the frames already queued are flushed. The core has forgotten the connection.
    virtual void close(ConnId conn) = 0;
    virtual void arm_timer(TimerQueue::Key key, TimePoint deadline) = 0;
    virtual void cancel_timer(TimerQueue::Key key) = 0;
    // Check `password` against crypt `hash` off the reactor thread; the answer comes back
    // through ChatCore::on_verify_result. Returns false if the workers are saturated.
    virtual bool verify_password(ConnId conn, std::uint64_t job, const std::string& hash, std::string password) = 0;
    virtual proto::Token random_token() = 0;
    // Make a change durable, off the reactor thread. An InsertMessage is answered
    // through ChatCore::on_stored once committed. Returns false if the store is saturated.
    virtual bool persist(StoreOp op) = 0;
    // The connection's user logged in: from now on it may send frames up to
    // max_frame_size (before, max_prelogin_frame_size).
    virtual void allow_large_frames(ConnId) {}
};

struct CoreSettings {
    std::int64_t block_duration_ms = 10'000;
    std::int64_t timeout_ms = 300'000;
    std::int64_t login_timeout_ms = 30'000;
    std::size_t max_offline_messages = 1000;
    bool presence = true;
    AddressLimitSettings address; // strangers per source address
    // What one user may send: deliveries (a direct message is one, a broadcast
    // one per recipient) and bytes delivered. Over it a request gets rate_limited.
    Rate user_deliveries;
    Rate user_bytes;
    // The message of the day: one ServerNotice per line right after a successful login.
    std::vector<std::string> motd;
};

class ChatCore : private MailboxEvents, private UserDirectory {
public:
    // cluster: null for a single node. mailboxes: null for Mailboxes over env.persist.
    ChatCore(CoreEnv& env, CoreSettings settings, UsersFile users, ClusterLink* cluster = nullptr,
             MailboxFactory mailboxes = {});

    // May a connection from `peer_host` be accepted? Asked before on_connect;
    // a refusal carries the status and text to send before closing.
    struct Admission {
        bool ok;
        proto::Status code;
        std::string detail;
    };
    Admission admit(std::string_view peer_host, Now now);
    void on_connect(ConnId conn, std::string peer_host, std::uint16_t peer_port, Now now);
    void on_message(ConnId conn, const proto::Message& msg, Now now);
    void on_protocol_error(ConnId conn, proto::Status code, std::string_view detail, Now now);
    void on_disconnect(ConnId conn, Now now); // the socket closed or failed
    void on_timer(TimerQueue::Key key, Now now);
    void on_verify_result(ConnId conn, std::uint64_t job, bool ok, Now now);
    // An InsertMessage with this tag was committed (ok) or failed.
    void on_stored(std::uint64_t tag, bool ok, std::string_view error);
    // Durable state read at start-up: mailboxes, blocks, running lockouts.
    void restore(const StoredState& state, Now now);
    // Tells every client the server is stopping and closes them all. In a cluster the
    // names are released; given the time, the other nodes are told of the logouts at once.
    void shutdown(std::optional<Now> now = std::nullopt);

    // ---- the cluster (only with a ClusterLink), answers and events the glue forwards
    // The claim `tag` of a login was answered.
    void on_claimed(std::uint64_t tag, cluster::Claim result, Now now);
    // A login's claim that another node refused is asked again after each of these waits (ms)
    // before the login is refused: that node may be releasing the session this client just
    // dropped. A second login of a name in use is still refused, 0.7 s later in all.
    static constexpr std::array<std::int64_t, 3> claim_retry_ms{100, 200, 400};
    // The Direct sent with `tag` reached its node (delivered) or not.
    void on_routed(std::uint64_t tag, bool delivered, Now now);
    // The flush `tag` was answered: what this node published before it reached the others (ok).
    void on_flushed(std::uint64_t tag, bool ok, Now now);
    void on_cluster_event(const cluster::Event& e, Now now);
    // The engine lost (false) or regained (true) the shared state.
    void on_cluster_available(bool up, Now now);
    std::size_t remote_online_count() const noexcept { return remote_.size(); } // users online on other nodes
    bool online_elsewhere(std::string_view name) const; // the replica has `name` online on another node

    void update_settings(const CoreSettings& s);
    // New credentials (SIGHUP): changed passwords apply at next login; sessions stay.
    // A user no longer in the file is logged out (SessionEnded{account_removed}) and
    // their stored messages, blocks and trusted addresses are dropped (ForgetUser).
    void replace_users(UsersFile users, Now now);

    std::size_t online_count() const noexcept { return online_.size(); }
    // "alice (192.0.2.7)" for a logged-in connection, else its address: for log lines.
    std::string describe(ConnId conn) const;
    std::size_t session_count() const noexcept { return sessions_.size(); }
    std::size_t user_count() const noexcept; // names in the users file now

    // ---- administration (the control socket, PROTOCOL.md §11). Each answers with the
    // Status and detail the control client is told.
    struct AdminResult {
        proto::Status code;
        std::string detail;
    };
    // Ends NAME's session, telling them `reason` (empty: a default text).
    AdminResult kick(std::string_view name, std::string_view reason, Now now);
    // Locks NAME for `seconds` (proto::lock_until_unlocked: until unlock()), ending its session;
    // persisted, so it survives a restart.
    AdminResult lock(std::string_view name, std::uint32_t seconds, Now now);
    // Lifts an administrative lock and a lockout after wrong passwords alike.
    AdminResult unlock(std::string_view name, Now now);
    // A ServerNotice to every online user.
    AdminResult wall(std::string_view text, Now now);
    struct OnlineUser {
        std::string_view name;
        ConnId conn;
        std::int64_t login_at_ms; // Unix milliseconds
        std::uint32_t idle_s;     // since the last command
        std::uint16_t private_chats;
    };
    std::vector<OnlineUser> who(Now now) const; // sorted by name
    const CoreCounters& counters() const noexcept { return counters_; }
    // Stored messages waiting now; nullopt in a cluster (they are in Redis, shared by every node).
    std::optional<std::size_t> offline_held() const { return mailbox_->held(); }
    std::size_t lockouts_tracked() const noexcept { return lockout_.tracked(); }

private:
    using UserIdx = UserId;
    static constexpr UserIdx no_user = UINT32_MAX;
    // What a request that needs a cluster's unreachable shared state is told (Status::unavailable).
    static constexpr std::string_view unavailable_text = "service temporarily unavailable; try again";

    struct User {
        std::string name;
        std::optional<Credential> cred;  // empty: removed from the users file
        ConnId conn = 0;                 // 0: offline
        std::size_t online_pos = 0;      // index in online_ while online
        TimePoint last_seen = INT64_MIN; // when the last session ended
        std::vector<UserIdx> blocked;    // sorted: users this one has blocked
        std::vector<UserIdx> blocked_by; // sorted: users who have blocked this one (kept by set_block)
        TokenBucket deliveries, bytes;   // what this user has sent lately (user_deliveries, user_bytes)
        TrustedAddresses trusted;        // where this user last logged in from
    };
    enum class State : std::uint8_t { awaiting_hello, awaiting_login, verifying, claiming, online };
    struct Session {
        State state = State::awaiting_hello;
        UserIdx user = no_user;
        TimePoint last_activity = 0;
        bool idle_warned = false; // IdleWarning sent since the last activity
        std::string peer_host;    // address the connection comes from
        std::string endpoint;     // peer_host:port as log lines write it (core/endpoint)
        std::string listen_host;  // private-chat listener; empty = peer_host
        std::uint16_t listen_port = 0;
        std::int64_t login_at_ms = 0; // Unix milliseconds, once online
        // while verifying (job) or claiming (claim_tag)
        std::uint64_t job = 0;
        std::uint64_t claim_tag = 0;   // 0 while waiting to claim again (claim_waits_)
        UserIdx claim_user = no_user;  // whose name is claimed
        std::uint8_t claims_taken = 0; // this login's claims that another node refused so far
        std::uint32_t login_request = 0;
        std::string login_name;
        std::string login_lock; // the Lockout key the attempt counts under
    };

    template <class M> // here, not in the .cpp: chat_core_cluster.cpp sends too
    void send(ConnId conn, const M& msg) {
        frame_.clear();
        proto::append_frame(frame_, proto::Message{msg});
        env_.send(conn, frame_);
    }
    void result(ConnId conn, std::uint32_t rid, proto::Status code, std::string_view detail = {});
    void login_result(ConnId conn, std::uint32_t rid, proto::LoginOutcome outcome, std::uint32_t value);
    // The LoginResult{locked} value when `name` is locked administratively, or its
    // `lock_key` (lock_key()) after wrong passwords.
    std::optional<std::uint32_t> locked_value(std::string_view name, std::string_view lock_key, Now now);
    // An administrative target: a valid name in the users file, else no_user and `error` says why.
    UserIdx admin_target(std::string_view name, AdminResult& error) const;
    void install_users(UsersFile users);
    void remove_user(UserIdx u, Now now);
    // Forgets a session; a logged-in one's logout is announced unless `announce_logout` is false
    // (its user is online on another node, and so, to this node's users, never left).
    void end_session(ConnId conn, Now now, bool announce_logout = true);
    void close_with(ConnId conn, const proto::Message& last, Now now, bool announce_logout = true);

    void handle_hello(ConnId c, Session& s, const proto::Hello& m, Now now);
    void handle_login(ConnId c, Session& s, const proto::Login& m, Now now);
    void finish_login(ConnId c, Session& s, bool password_ok, Now now);
    // The password was right: claim the name cluster-wide, or log in at once on a single node.
    void accept_login(ConnId c, Session& s, UserIdx u, std::string key, Now now);
    void complete_login(ConnId c, Session& s, UserIdx u, Now now);
    void handle_command(ConnId c, Session& s, const proto::Message& m, Now now);
    // Charges `from` for `deliveries` and `bytes`; false (and a rate_limited answer) when over its rate.
    bool charge(ConnId c, std::uint32_t rid, UserIdx from, double deliveries, double bytes, Now now);
    void send_message(ConnId c, UserIdx from, const proto::SendMessage& m, Now now);
    void broadcast(ConnId c, UserIdx from, const proto::Broadcast& m, Now now);
    // WhoElse (no since_s) and WhoElseSince; `seen` answers with a UserSeenList instead of a UserList.
    void list_users(ConnId c, UserIdx me, std::uint32_t rid, std::optional<std::uint32_t> since_s, bool seen, Now now);
    void list_blocks(ConnId c, UserIdx me, std::uint32_t rid);
    // When the idle timer should next look at `s`: the warning, then the timeout.
    TimePoint idle_check_at(const Session& s, std::int64_t timeout_ms) const;
    void block(ConnId c, UserIdx me, std::uint32_t rid, std::string_view name, bool on);
    void start_private(ConnId c, UserIdx me, const proto::StartPrivate& m);
    void stop_private(ConnId c, UserIdx me, const proto::StopPrivate& m);
    void announce(UserIdx who, proto::PresenceKind kind);
    // MailboxEvents
    void settled(UserIdx to, const ReplyTo& reply, DepositResult outcome, std::string_view error) override;
    bool deliver(UserIdx to, const StoredMessage& m) override;
    void online_on(std::string_view node, const Deposit& d, Now now) override;
    // UserDirectory
    std::string_view name_of(UserId u) const override { return users_[u].name; }
    std::optional<UserId> find(std::string_view name) const override;
    // Keeps a message for offline `to` and answers `reply` (conn 0: nobody).
    void deposit(const Deposit& d);
    std::uint64_t next_message_id(Now now);
    void lock_timer(const std::string& name, TimePoint until);
    // Where a Login for `name` from `peer_host` counts its failures: the name's
    // own key, or the name and address when the user trusts that address.
    std::string lock_key(std::string_view name, std::string_view peer_host) const;
    void trust_address(UserIdx u, std::string_view peer_host, Now now);
    void revoke_private(UserIdx a, UserIdx b);
    // Lifts `name`'s administrative lock and lockouts (its own and its trusted addresses');
    // `persist`: this node is where it was asked. Returns whether anything was locked.
    bool lift_locks(UserIdx u, bool persist, Now now);

    // ---- the cluster's side (chat_core_cluster.cpp); each is called only with cluster_ set
    struct RemoteUser { // online on another node
        std::string node;
        std::int64_t login_at_ms = 0;
        std::string listen_host; // the effective private-chat host
        std::uint16_t listen_port = 0;
    };
    const RemoteUser* remote(UserIdx u) const; // null: not online on another node (or no cluster)
    bool online_anywhere(UserIdx u) const { return users_[u].conn != 0 || (cluster_ && remote(u) != nullptr); }
    cluster::Online online_event(UserIdx u, const Session& s) const;
    void claim(ConnId c, Session& s, UserIdx u);
    void send_claim(ConnId c, Session& s, UserIdx u); // one attempt of claim()'s
    // A login waiting after a refused claim tries again (its timer, or the name's logout heard),
    // unless a lock came, the user was removed or the shared state is gone meanwhile.
    void claim_again(UserIdx u, Now now);
    // The login claiming `u`'s name is answered `outcome` without the name: it is free here again.
    void refuse_claim(ConnId c, Session& s, UserIdx u, proto::LoginOutcome outcome, std::uint32_t value);
    // What a login about to hold `u`'s name is told instead, if a lock came (here or from another
    // node) or the user was removed while it claimed.
    std::optional<std::pair<proto::LoginOutcome, std::uint32_t>> refused_meanwhile(UserIdx u, std::string_view key,
                                                                                   Now now);
    // A claimed login: announced to the other nodes, completed once they have heard it.
    void announce_login(ConnId c, Session& s, UserIdx u, Now now);
    // Sends `reply` to `c` once the other nodes have what this node published so far
    // (at once without a cluster), so a client acting on it finds them up to date.
    void reply_when_flushed(ConnId c, const proto::Message& reply);
    // A deposit's or a Direct's answer: to a local sender, or to the node that routed it here.
    void reply(const ReplyTo& to, proto::Status status, std::string_view detail);
    void answer_direct(const cluster::Direct& e, proto::Status status, std::string_view detail);
    void remote_direct_answer(const cluster::DirectAnswer& e);
    void expire_routes(Now now);
    void left_cluster(UserIdx u, Now now); // a local session of `u` ended
    // A message for `to`, online on `node`: sent there, which decides and answers `answer_to`
    // (a local sender, or the node that routed it here).
    void route_direct(const ReplyTo& answer_to, UserIdx from, UserIdx to, std::string_view node, std::uint64_t id,
                      std::int64_t sent_at_ms, std::string_view text, Now now);
    void remote_online(const cluster::Online& e);
    void remote_offline(UserIdx u, TimePoint seen); // `u` is no longer in remote_
    void remote_direct(const cluster::Direct& e, Now now);
    void remote_broadcast(const cluster::Broadcast& e);
    void remote_block(const cluster::BlockChanged& e);
    void remote_login_failed(const cluster::LoginFailed& e, Now now);
    void remote_locked(const cluster::Locked& e, Now now);
    void remote_invite(const cluster::Invite& e);
    void remote_pair_ended(const cluster::PairEnded& e);
    void pair_ended_elsewhere(UserIdx to, UserIdx peer, bool revoked); // whichever introductions it had
    void remote_end_session(const cluster::EndSession& e, Now now);
    void remote_notice(const cluster::Notice& e);
    void node_down(const cluster::NodeDown& e, Now now);
    void snapshot(const cluster::Snapshot& e, Now now);
    // A Snapshot's block lists, locks, ...; `reconnected`: read after a reconnect (it carries re-claims).
    void stored_from_cluster(const cluster::Snapshot::Stored& st, bool reconnected, Now now);
    // The private pairs of local `u` with remote users end: tell their nodes.
    void end_remote_pairs(UserIdx u);
    static bool valid_text(std::string_view t) noexcept; // a message's or notice's: 1..max_text_length bytes
    static constexpr std::string_view invalid_text_detail = "message text must be 1-1000 bytes"; // refused: why
    static TimePoint mono_of(std::int64_t wall_ms, Now now); // a Unix time from another node, on our clock

    // Looks up a command's target: sends the error Result and returns no_user on failure.
    UserIdx target(ConnId c, std::uint32_t rid, UserIdx me, std::string_view name, std::string_view self_error);
    bool blocks(UserIdx a, UserIdx b) const;                     // has a blocked b?
    void set_block(UserIdx a, UserIdx b, bool on);               // a blocks b, or no longer; both users' lists
    void replace_blocks(UserIdx a, std::vector<UserIdx> sorted); // a's whole list, as set_block keeps them
    UserIdx find_user(std::string_view name) const;
    void add_online(UserIdx u, ConnId c);
    void remove_online(UserIdx u);

    CoreEnv& env_;
    CoreSettings settings_;
    Lockout lockout_;
    AddressLimits addresses_;
    std::vector<User> users_;
    // Transparent hashing: lookups by string_view from a frame allocate nothing.
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, UserIdx, NameHash, std::equal_to<>> by_name_;
    bool has_hashes_ = false;
    std::vector<UserIdx> online_;
    std::unordered_map<ConnId, Session> sessions_;
    // An introduced pair: the token of its latest introduction made here, and of the latest one
    // the peer's node sent (Invite) for a peer there. Both nodes of a pair may introduce it at
    // once; a stop ends what its node had heard of, so an end from the peer's node ends `there`
    // and ends `here` only if it names it (its invitation reached the peer's node first).
    struct PrivatePair {
        std::optional<proto::Token> here, there;
        // What an end sent to the peer's node names: the introduction from there (none: zeros).
        proto::Token heard() const { return there.value_or(proto::Token{}); }
    };
    std::map<std::pair<UserIdx, UserIdx>, PrivatePair> private_pairs_; // (lower, higher) introduced pairs
    // A predicate on private_pairs_' entries: is `u` either side of the pair?
    static auto pair_with(UserIdx u) {
        return [u](const auto& entry) { return entry.first.first == u || entry.first.second == u; };
    }
    std::unordered_map<std::uint64_t, std::string> lock_timers_; // lock timer id -> name
    // Administrative locks: name -> monotonic end (TimePoint max: until unlocked). Few, never evicted;
    // one that ran out is forgotten when next looked at.
    std::unordered_map<std::string, TimePoint, NameHash, std::equal_to<>> admin_locks_;
    CoreCounters counters_;
    std::uint64_t next_lock_timer_ = 1;
    std::uint64_t next_job_ = 1;
    std::uint64_t last_message_id_ = 0;
    std::unique_ptr<OfflineMailbox> mailbox_;

    // ---- the cluster (all empty without one)
    ClusterLink* cluster_;
    bool cluster_up_ = false;                        // what on_cluster_available last said
    std::unordered_map<UserIdx, RemoteUser> remote_; // the replica: users online on other nodes
    struct PendingClaim {
        ConnId conn;
        UserIdx user;
    };
    std::unordered_map<std::uint64_t, PendingClaim> claims_; // by tag
    std::unordered_set<UserIdx> claiming_;                   // users with a login claim in flight
    // Logins whose claim another node refused, waiting to claim again: user -> connection. Most
    // often the client dropped its session on that node and reconnected here before that node's
    // release reached the shared state; a single node would have ended the first session first.
    std::unordered_map<UserIdx, ConnId> claim_waits_;
    // Lockout keys this node locked while the shared state was unreachable: never stored, so a
    // re-read that lacks them does not lift them. Each goes when its lock ends.
    std::unordered_set<std::string> locked_while_cut_off_;
    struct PendingRoute {
        ReplyTo answer_to; // a node: the Direct came from there, and its recipient's node answers it there
        std::string node;  // where it went
        UserIdx to, from;
        std::uint64_t id;
        std::int64_t sent_at_ms;
        std::string text;
        TimePoint sent = 0;
    };
    // Directs sent to other nodes, by tag: in the order sent, so the oldest times out first.
    std::map<std::uint64_t, PendingRoute> routes_;
    static constexpr std::int64_t route_answer_ms = 5000; // then the sender hears `unavailable`
    struct PendingFlush {
        ConnId conn;
        UserIdx user;                    // the session's user (no_user before login)
        bool login = false;              // announce_login's: complete the login
        std::vector<std::uint8_t> frame; // else the reply to send
    };
    std::unordered_map<std::uint64_t, PendingFlush> flushes_; // by tag
    std::uint64_t next_cluster_tag_ = 1;
    std::vector<std::uint8_t> frame_; // scratch: one encoding shared by every recipient
};

} // namespace confab
