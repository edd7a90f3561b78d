// ChatCore under a fuzzer-chosen run of the glue's calls (tests/fuzz/chat_script.hpp),
// through the unit tests' FakeEnv and Driver. After every call:
//  - every reply (LoginResult, Result, UserList, PrivateIntro) answers a request of
//    its connection with that request id that had no reply yet, and once the run
//    ends with every hash and store answered, each open connection has its reply
//    to every request (PROTOCOL.md 7.4: exactly one reply);
//  - a name has at most one logged-in session, and the core counts the sessions
//    and users the replies imply; an administrator's kick or lock that succeeds
//    leaves no session for the name, `who` lists exactly the users logged in, and
//    a ServerNotice (wall) reaches only logged-in users;
//  - a private token is never handed out twice, and each PrivateIntro comes with
//    the PrivateInvite carrying its token;
//  - every frame decodes as one whole frame within the limits (FakeEnv checks
//    each one), details stay within 1000 bytes, and a SessionEnded or
//    ProtocolError is followed by the close.
// Built with CONFAB_FUZZ_CLUSTER=1 (fuzz-chat-core-cluster), the core is one node
// of a cluster behind FuzzLink, and the input also sends it other nodes' events
// (built from fields, or any payload decode_event accepts), answers its claims,
// routed messages and flushes (in any order, stale or unknown tags included, or
// at once from inside the call) and takes the shared state away and back. The
// checks above hold as far as a cluster keeps them (replies wait for claims and
// flushes; a PrivateInvite or PrivateIntro may belong to a peer on another
// node), and moreover:
//  - no name is both logged in here and, in the replica, online on another node;
//  - every Direct from another node that asks for an answer (names a node and a
//    tag) gets exactly one DirectAnswer, sent to the node it names, once claims, flushes, routes and
//    stores are answered;
//  - every event the core publishes or sends encodes (encode_event) and decodes back.
// FakeEnv's doctest assertions abort the run here (no test case is running).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "chat_script.hpp"
#include "check.hpp"
#include "fuzz_input.hpp"

#include "cluster/event_codec.hpp"
#include "daemon/core/fake_env.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace confab;
using namespace confab::fuzz::chat;
using confab::fuzz::FuzzInput;

namespace {

constexpr bool cluster_mode = CONFAB_FUZZ_CLUSTER;

// The engine as the fuzzer plays it: claims, routed Directs and flushes wait
// for the input to answer them, or are answered at once from its next bytes.
struct FuzzLink final : ClusterLink {
    std::string id{node_table[0]};
    bool up = true;
    bool at_once = false;
    ChatCore* core = nullptr;
    std::function<Now()> clock;
    FuzzInput* in = nullptr;                            // the input being run, for answers given at once
    std::vector<std::uint64_t> claims, routes, flushes; // tags not answered yet
    std::vector<std::uint64_t> direct_tags;             // the reply tags of every Direct sent
    struct Out {
        std::string node; // empty: published to all
        cluster::Event event;
    };
    std::vector<Out> out; // since the last check

    const std::string& node_id() const override { return id; }
    std::uint16_t node_ordinal() const override { return 1; }
    bool available() const override { return up; }
    void claim(std::uint64_t tag, std::string_view) override {
        if (at_once && in->flag()) return core->on_claimed(tag, cluster::Claim(in->u8() % 3), clock());
        claims.push_back(tag);
    }
    void release(std::string_view) override {}
    void publish(const cluster::Event& e) override { out.push_back({{}, e}); }
    void send_to(std::string_view node, std::uint64_t tag, const cluster::Event& e) override {
        out.push_back({std::string(node), e});
        if (tag != 0) routes.push_back(tag);
        if (const auto* d = std::get_if<cluster::Direct>(&e)) direct_tags.push_back(d->reply_tag);
    }
    void flush(std::uint64_t tag) override {
        if (at_once && in->flag()) return core->on_flushed(tag, in->flag(), clock());
        flushes.push_back(tag);
    }
};

const CoreSettings settings_table[] = {
    {},
    {.block_duration_ms = 1, .timeout_ms = 1000, .login_timeout_ms = 1},
    {.block_duration_ms = 60'000, .timeout_ms = 600'000, .login_timeout_ms = 30'000},
    {.block_duration_ms = 10'000, .timeout_ms = 300'000, .login_timeout_ms = 30'000, .max_offline_messages = 0},
    {.block_duration_ms = 10'000, .timeout_ms = 300'000, .login_timeout_ms = 30'000, .presence = false},
};

const proto::Status status_table[] = {proto::Status::bad_request, proto::Status::frame_too_large,
                                      proto::Status::unsupported_version};

std::string users_text(std::uint8_t mask, bool hashed_user) {
    std::string text;
    for (std::size_t i = 0; i + 1 < user_count; ++i)
        if (mask >> i & 1) text += std::string(user_names[i]) + " " + std::string(user_names[i]) + "123\n";
    if (mask >> (user_count - 1) & 1)
        text += hashed_user ? "erin:$y$j9T$fuzz$notarealhash\n" : "erin erin123\n"; // never checked: fuzzer answers
    return text;
}

// Every users file the byte code can name, parsed once: [hashed erin][mask of the five users].
const UsersFile& users_file(std::uint8_t mask, bool hashed_user) {
    static_assert(user_count == 5);
    static const auto files = [] {
        std::vector<UsersFile> f;
        for (int hashed = 0; hashed < 2; ++hashed)
            for (std::uint8_t m = 0; m < 32; ++m) f.push_back(parse_users(users_text(m, hashed), "fuzz-users"));
        return f;
    }();
    return files[(hashed_user ? 32 : 0) + (mask & 31)];
}

// Strings at and over the protocol's limits.
const std::string max_text(proto::max_text_length, 'a');
const std::string over_max_text(proto::max_text_length + 1, 'b');
const std::string over_max_host(proto::max_host_length + 1, 'h');
const std::string over_max_address_key(AddressLimits::max_key_length + 1, 'a');

struct Request {
    std::uint32_t rid;
    proto::MessageType type;
    std::string login_name;   // Login only
    bool after_login = false; // sent once logged in (the core answers as it was then, maybe later)
};

struct Conn {
    ConnId id = 0;
    bool logged_in = false;
    std::string name;
    bool must_close = false; // got SessionEnded or ProtocolError
    std::vector<Request> unanswered;
    std::vector<std::uint64_t> message_ids; // delivered here: what AckMessages may name
};

// Which request a reply can answer, given whether the connection was logged in when it was sent.
bool answers(proto::MessageType reply, proto::MessageType request, bool logged_in) {
    using T = proto::MessageType;
    switch (reply) {
    case T::login_result: return request == T::login;
    case T::user_list: return request == T::who_else || request == T::who_else_since || request == T::list_blocks;
    case T::user_seen_list: return request == T::who_else_since_seen;
    case T::private_intro: return request == T::start_private;
    default: // Result: the command's own, not_logged_in before login, wrong_state for a Login after it
        switch (request) {
        case T::login: return logged_in;
        case T::who_else:
        case T::who_else_since:
        case T::who_else_since_seen:
        case T::list_blocks:
        case T::logout:
        case T::ack_messages:
        case T::private_activity: return !logged_in;
        default: return true;
        }
    }
}

class Run {
public:
    explicit Run(std::uint8_t setup)
        : hashed_(setup & setup_hashed_user),
          d_(settings(setup), users_file(0xFF, setup & setup_hashed_user), cluster_mode ? &link_ : nullptr) {
        d_.commit_stores = false; // the input says when the store answers
        if (cluster_mode) {
            link_.core = &d_.core;
            link_.clock = [this] { return d_.now(); };
            d_.core.on_cluster_available(true, d_.now());
        }
    }

    // Runs one operation; false once the run is over (shutdown).
    bool step(FuzzInput& in) {
        link_.in = &in;
        constexpr std::uint8_t ops = std::uint8_t(Op::count) + (cluster_mode ? std::uint8_t(ClusterOp::count) : 0);
        const std::uint8_t op = in.u8() % ops;
        if (op >= std::uint8_t(Op::count)) {
            cluster_step(in, ClusterOp(op - std::uint8_t(Op::count)));
            check_output();
            return true;
        }
        switch (Op(op)) {
        case Op::connect: {
            ConnId id = (std::uint64_t(1) << 32) + next_conn_++;
            Conn c;
            c.id = id;
            conns_.push_back(std::move(c));
            d_.connect(id, std::string(in.pick(peer_host_table)));
            break;
        }
        case Op::message:
            if (Conn* c = pick(in)) message(in, *c);
            break;
        case Op::protocol_error:
            if (Conn* c = pick(in)) d_.core.on_protocol_error(c->id, in.pick(status_table), "fuzz", d_.now());
            break;
        case Op::disconnect:
            if (Conn* c = pick(in)) {
                d_.core.on_disconnect(c->id, d_.now());
                d_.env.closed.insert(c->id); // gone: nothing may be sent to or closed on it any more
                forget(c->id);
            }
            break;
        case Op::advance: d_.advance(in.pick(delay_table)); break;
        case Op::verify_result: {
            std::uint8_t which = in.u8(), bits = in.u8();
            if (d_.env.jobs.empty()) break;
            auto it = d_.env.jobs.begin() + which % d_.env.jobs.size();
            FakeEnvJob job = *it;
            if (bits & 2) { // a stale answer: a job id the connection is not waiting for; the real one comes later
                d_.core.on_verify_result(job.conn, job.job + 1, bits & 1, d_.now());
                break;
            }
            d_.env.jobs.erase(it);
            d_.core.on_verify_result(job.conn, job.job, bits & 1, d_.now());
            break;
        }
        case Op::store_result: {
            std::uint8_t which = in.u8(), ok = in.u8() & 1;
            if (d_.env.uncommitted.empty()) break;
            auto it = d_.env.uncommitted.begin() + which % d_.env.uncommitted.size();
            std::uint64_t tag = *it;
            d_.env.uncommitted.erase(it);
            d_.core.on_stored(tag, ok, ok ? "" : "disk full");
            break;
        }
        case Op::saturate: {
            std::uint8_t bits = in.u8();
            d_.env.accept_jobs = !(bits & 1);
            d_.env.accept_stores = !(bits & 2);
            break;
        }
        case Op::settings: d_.core.update_settings(in.pick(settings_table)); break;
        case Op::users: d_.core.replace_users(users_file(in.u8(), hashed_), d_.now()); break;
        case Op::shutdown:
            d_.core.shutdown();
            for (const Conn& c : conns_) FUZZ_CHECK(d_.env.is_closed(c.id), "shutdown left a connection open");
            check_output();
            FUZZ_CHECK(d_.core.session_count() == 0 && d_.core.online_count() == 0, "sessions after shutdown");
            return false;
        case Op::admin: admin(in); break;
        case Op::count: break;
        }
        check_output();
        return true;
    }

    // The run is over: every hash and store answers, then every open connection
    // must have had its reply to every request.
    void finish() {
        d_.env.accept_jobs = d_.env.accept_stores = true;
        link_.at_once = false;
        for (bool answer_directs = cluster_mode, waited = false;;) {
            while (!d_.env.jobs.empty() || !d_.env.uncommitted.empty() || !link_.claims.empty() ||
                   !link_.flushes.empty() || !link_.routes.empty()) {
                while (!d_.env.jobs.empty()) {
                    auto job = d_.env.jobs.front();
                    d_.env.jobs.pop_front();
                    d_.core.on_verify_result(job.conn, job.job, false, d_.now());
                }
                d_.commit_pending(true);
                // The engine's answers: claims won, flushes done, routed Directs whose node is gone.
                for (auto tag : take(link_.claims)) d_.core.on_claimed(tag, cluster::Claim::claimed, d_.now());
                for (auto tag : take(link_.flushes)) d_.core.on_flushed(tag, true, d_.now());
                for (auto tag : take(link_.routes)) d_.core.on_routed(tag, false, d_.now());
                check_output();
            }
            // A login whose claim another node refused claims again when its wait is over.
            if (cluster_mode && !waited && login_unanswered()) {
                waited = true;
                d_.advance(ChatCore::claim_retry_ms.back()); // the longest wait
                check_output();
                continue;
            }
            if (!answer_directs) break;
            // The recipients' nodes answer every Direct (those routed back already are forgotten).
            answer_directs = false;
            for (auto tag : take(link_.direct_tags))
                d_.core.on_cluster_event(cluster::DirectAnswer{tag, proto::Status::ok, {}}, d_.now());
            check_output();
        }
        for (const Conn& c : conns_) { FUZZ_CHECK(c.unanswered.empty(), "an open connection misses a reply"); }
        for (const auto& [to, n] : direct_answers_due_)
            FUZZ_CHECK(n == 0, "a Direct from another node got no DirectAnswer");
    }

private:
    using FakeEnvJob = test::FakeEnv::Job;

    static std::vector<std::uint64_t> take(std::vector<std::uint64_t>& v) { return std::exchange(v, {}); }
    // A pending tag chosen by [which], taken from `pending`; which 255: any tag [u8], stale or unknown.
    static std::optional<std::uint64_t> tag(FuzzInput& in, std::vector<std::uint64_t>& pending) {
        const std::uint8_t which = in.u8();
        if (which == 0xFF) return in.u8();
        if (pending.empty()) return std::nullopt;
        auto it = pending.begin() + which % pending.size();
        const std::uint64_t t = *it;
        pending.erase(it);
        return t;
    }

    void cluster_step(FuzzInput& in, ClusterOp op) {
        switch (op) {
        case ClusterOp::event: remote_event(in); break;
        case ClusterOp::claimed: {
            auto t = tag(in, link_.claims);
            const auto result = cluster::Claim(in.u8() % 3);
            if (t) d_.core.on_claimed(*t, result, d_.now());
            break;
        }
        case ClusterOp::routed: {
            auto t = tag(in, link_.routes);
            const bool delivered = in.flag();
            if (t) d_.core.on_routed(*t, delivered, d_.now());
            break;
        }
        case ClusterOp::flushed: {
            auto t = tag(in, link_.flushes);
            const bool ok = in.flag();
            if (t) d_.core.on_flushed(*t, ok, d_.now());
            break;
        }
        case ClusterOp::available:
            link_.up = in.flag();
            d_.core.on_cluster_available(link_.up, d_.now());
            break;
        case ClusterOp::at_once: link_.at_once = in.flag(); break;
        case ClusterOp::count: break;
        }
    }

    std::string node(FuzzInput& in) { return std::string(in.pick(node_table)); }
    std::int64_t time(FuzzInput& in) {
        const std::uint8_t which = in.u8();
        if (which & 0x80) return in.pick(time_absolute_table);
        return d_.now().wall_ms + time_offset_table[which % std::size(time_offset_table)];
    }
    cluster::Online online(FuzzInput& in) {
        cluster::Online e{std::string(name(in)), node(in), time(in), {}, in.pick(port_table), {}};
        e.listen_host = in.pick(host_table);
        if (e.listen_host == "long") e.listen_host = over_max_host;
        e.trusted_address = in.pick(trusted_address_table);
        if (e.trusted_address == "long") e.trusted_address = over_max_address_key;
        return e;
    }

    static proto::Token token(FuzzInput& in) {
        proto::Token t{};
        const std::string_view b = in.bytes(proto::private_token_size);
        std::copy(b.begin(), b.end(), t.begin());
        return t;
    }

    // An event from another node, as the engine hands it over.
    void remote_event(FuzzInput& in) {
        cluster::Event e;
        switch (Remote(in.u8() % std::uint8_t(Remote::count))) {
        case Remote::online: e = online(in); break;
        case Remote::offline: e = cluster::Offline{std::string(name(in)), node(in), time(in)}; break;
        case Remote::direct: {
            cluster::Direct d;
            d.to = name(in);
            d.from = name(in);
            d.id = in.u32();
            d.sent_at_ms = time(in);
            d.text = text(in);
            d.reply_node = node(in);
            d.reply_tag = in.u8();
            e = std::move(d);
            break;
        }
        case Remote::broadcast: {
            cluster::Broadcast b{std::string(name(in)), node(in), 0, {}};
            b.sent_at_ms = time(in);
            b.text = text(in);
            e = std::move(b);
            break;
        }
        case Remote::block_changed: {
            cluster::BlockChanged b{std::string(name(in)), {}, false};
            b.blocked = name(in);
            b.on = in.flag();
            e = std::move(b);
            break;
        }
        case Remote::login_failed: e = cluster::LoginFailed{std::string(name(in))}; break;
        case Remote::locked: {
            cluster::Locked l{std::string(name(in)), time(in), false};
            l.admin = in.flag();
            e = std::move(l);
            break;
        }
        case Remote::invite: {
            cluster::Invite i{std::string(name(in)), {}, {}};
            i.from = name(in);
            i.token = token(in);
            e = std::move(i);
            break;
        }
        case Remote::pair_ended: {
            cluster::PairEnded p{std::string(name(in)), {}, false};
            p.peer = name(in);
            p.revoked = in.flag();
            p.token = token(in);
            e = std::move(p);
            break;
        }
        case Remote::end_session: {
            cluster::EndSession s{std::string(name(in)), proto::EndReason(1 + in.u8() % 6), {}};
            s.detail = text(in);
            e = std::move(s);
            break;
        }
        case Remote::notice: {
            cluster::Notice n{time(in), {}};
            n.text = text(in);
            e = std::move(n);
            break;
        }
        case Remote::node_down: e = cluster::NodeDown{node(in)}; break;
        case Remote::snapshot: {
            cluster::Snapshot s;
            for (unsigned n = in.u8() % 8; n > 0; --n) s.online.push_back(online(in));
            for (unsigned n = in.u8() % 8; n > 0; --n) {
                std::string who(name(in));
                s.last_seen.emplace_back(std::move(who), time(in));
            }
            if (in.flag()) { // the stored state read with it: blocks, locks, trusted addresses
                auto& st = s.stored.emplace();
                for (unsigned n = in.u8() % 8; n > 0; --n) st.names.emplace_back(name(in));
                for (unsigned n = in.u8() % 8; n > 0; --n) {
                    std::string blocker(name(in));
                    st.state.blocks.emplace_back(std::move(blocker), std::string(name(in)));
                }
                for (unsigned n = in.u8() % 4; n > 0; --n) {
                    std::string who(name(in));
                    st.state.admin_locks.emplace_back(std::move(who), in.flag() ? INT64_MAX : time(in));
                }
                for (unsigned n = in.u8() % 4; n > 0; --n) {
                    std::string key(name(in));
                    if (in.flag()) key = Lockout::scoped(key, in.pick(peer_host_table));
                    st.state.locks.emplace_back(std::move(key), time(in));
                }
                for (unsigned n = in.u8() % 4; n > 0; --n) {
                    std::string who(name(in));
                    st.state.trusted.push_back({std::move(who), std::string(in.pick(peer_host_table)), time(in)});
                }
            }
            if (in.flag()) { // read after a reconnect: the re-claims, some names taken by other nodes
                auto& taken = s.reclaim.emplace().taken;
                for (unsigned n = in.u8() % 4; n > 0; --n) taken.emplace_back(name(in));
            }
            e = std::move(s);
            break;
        }
        case Remote::direct_answer: {
            auto t = tag(in, link_.direct_tags);
            cluster::DirectAnswer a{t.value_or(0), proto::Status(in.u16()), {}};
            a.detail = text(in);
            e = std::move(a);
            break;
        }
        case Remote::raw: {
            auto decoded = cluster::decode_event(in.str());
            if (!decoded.decoded) return;
            e = std::move(decoded.decoded->event);
            break;
        }
        case Remote::count: return;
        }
        // A Direct naming no node or no tag cannot be answered (reply() then looks for a local sender).
        const auto due = [this](const cluster::Direct& d) {
            if (d.reply_tag != 0 && !d.reply_node.empty()) ++direct_answers_due_[{d.reply_node, d.reply_tag}];
        };
        if (const auto* d = std::get_if<cluster::Direct>(&e)) due(*d);
        if (const auto* ds = std::get_if<cluster::Directs>(&e)) // a raw payload may be a batch
            for (const cluster::Direct& d : ds->directs) due(d);
        if (const auto* i = std::get_if<cluster::Invite>(&e)) remote_invites_.insert(i->token);
        d_.core.on_cluster_event(e, d_.now());
    }

    // What the core asked of the other nodes since the last check.
    void check_cluster_output(std::set<proto::Token>& invites_sent) {
        for (const FuzzLink::Out& o : std::exchange(link_.out, {})) {
            std::optional<std::string> bytes = cluster::encode_event(o.event, link_.id);
            FUZZ_CHECK(bytes.has_value(), "an event the core made cannot be encoded");
            auto back = cluster::decode_event(*bytes);
            FUZZ_CHECK(back.decoded && back.decoded->event.index() == o.event.index(),
                       "an event the core made does not decode");
            if (const auto* i = std::get_if<cluster::Invite>(&o.event)) invites_sent.insert(i->token);
            if (const auto* a = std::get_if<cluster::DirectAnswer>(&o.event)) {
                FUZZ_CHECK(a->tag != 0, "a DirectAnswer without its tag");
                auto it = direct_answers_due_.find({o.node, a->tag});
                FUZZ_CHECK(it != direct_answers_due_.end() && it->second > 0,
                           "a DirectAnswer to no Direct (or a second one)");
                --it->second;
                check_detail(a->detail);
            }
        }
        // A session the core ended in this call (a Snapshot's lock, say) holds the name no more.
        for (const Conn& c : conns_)
            FUZZ_CHECK(!(c.logged_in && !d_.env.is_closed(c.id) && d_.core.online_elsewhere(c.name)),
                       "a user logged in here is online on another node in the replica");
    }

    static CoreSettings settings(std::uint8_t setup) {
        CoreSettings s;
        s.presence = !(setup & setup_no_presence);
        if (setup & setup_small_mailbox) s.max_offline_messages = 2;
        return s;
    }

    Conn* pick(FuzzInput& in) {
        std::uint8_t which = in.u8();
        return conns_.empty() ? nullptr : &conns_[which % conns_.size()];
    }
    bool login_unanswered() const {
        return std::any_of(conns_.begin(), conns_.end(), [](const Conn& c) {
            return std::any_of(c.unanswered.begin(), c.unanswered.end(),
                               [](const Request& r) { return r.type == proto::MessageType::login; });
        });
    }
    void forget(ConnId id) {
        std::erase_if(conns_, [id](const Conn& c) { return c.id == id; });
    }
    Conn* find(ConnId id) {
        for (auto& c : conns_)
            if (c.id == id) return &c;
        return nullptr;
    }

    std::string_view name(FuzzInput& in) {
        std::size_t i = in.u8() % std::size(name_table);
        return i == raw_name ? utf8(in.str()) : name_table[i];
    }
    std::string_view text(FuzzInput& in) {
        std::size_t i = in.u8() % std::size(text_table);
        if (i == long_text) return max_text;
        if (i == too_long_text) return over_max_text;
        return i == raw_text ? utf8(in.str()) : text_table[i];
    }
    // The core only sees decoded strings, which are valid UTF-8.
    static std::string_view utf8(std::string_view s) { return proto::is_valid_utf8(s) ? s : "?"; }

    void admin(FuzzInput& in) {
        auto kind = Admin(in.u8() % std::uint8_t(Admin::count));
        std::string_view n = name(in), t = text(in);
        std::uint32_t seconds = in.pick(seconds_table);
        auto now = d_.now();
        ChatCore::AdminResult r{proto::Status::ok, {}};
        switch (kind) {
        case Admin::kick: r = d_.core.kick(n, t, now); break;
        case Admin::lock: r = d_.core.lock(n, seconds, now); break;
        case Admin::unlock: r = d_.core.unlock(n, now); break;
        case Admin::wall: r = d_.core.wall(t, now); break;
        case Admin::who: {
            std::vector<std::string> listed, logged_in;
            for (const auto& u : d_.core.who(now)) listed.emplace_back(u.name);
            for (const Conn& c : conns_)
                if (c.logged_in) logged_in.push_back(c.name);
            std::sort(logged_in.begin(), logged_in.end());
            FUZZ_CHECK(listed == logged_in, "who differs from the users logged in");
            break;
        }
        case Admin::count: break;
        }
        check_detail(r.detail);
        check_output();
        if (r.code == proto::Status::ok && (kind == Admin::kick || kind == Admin::lock))
            for (const Conn& c : conns_)
                FUZZ_CHECK(!(c.logged_in && c.name == n), "a kicked or locked user keeps a session");
    }

    void message(FuzzInput& in, Conn& c) {
        auto kind = Msg(in.u8() % std::uint8_t(Msg::count));
        if (kind == Msg::raw) { // any message type at all, as the decoder hands it over
            std::string_view raw = in.str();
            auto decoded =
                proto::decode_payload(proto::Bytes(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()));
            if (decoded.message) deliver(c, *decoded.message);
            return;
        }
        std::uint32_t rid = in.u8();
        switch (kind) {
        case Msg::hello: return deliver(c, proto::Hello{in.pick(version_table), "confab/fuzz"});
        case Msg::login: {
            std::string_view n = name(in);
            std::string own = std::string(n) + "123";
            std::size_t pw = in.u8() % password_count;
            std::string_view password = pw == 0   ? std::string_view(own)
                                        : pw == 1 ? "wrong"
                                        : pw == 2 ? ""
                                                  : utf8(in.str());
            return deliver(c, proto::Login{rid, n, password});
        }
        case Msg::send_message: {
            std::string_view to = name(in);
            return deliver(c, proto::SendMessage{rid, to, text(in)});
        }
        case Msg::broadcast: return deliver(c, proto::Broadcast{rid, text(in)});
        case Msg::who_else: return deliver(c, proto::WhoElse{rid});
        case Msg::who_else_since: return deliver(c, proto::WhoElseSince{rid, in.pick(seconds_table)});
        case Msg::who_else_since_seen: return deliver(c, proto::WhoElseSinceSeen{rid, in.pick(seconds_table)});
        case Msg::list_blocks: return deliver(c, proto::ListBlocks{rid});
        case Msg::private_activity: return deliver(c, proto::PrivateActivity{});
        case Msg::block: return deliver(c, proto::Block{rid, name(in)});
        case Msg::unblock: return deliver(c, proto::Unblock{rid, name(in)});
        case Msg::logout: return deliver(c, proto::Logout{rid});
        case Msg::start_private: return deliver(c, proto::StartPrivate{rid, name(in)});
        case Msg::stop_private: return deliver(c, proto::StopPrivate{rid, name(in)});
        case Msg::private_listen: {
            std::string_view host = in.pick(host_table);
            if (host == "long") host = over_max_host;
            return deliver(c, proto::PrivateListen{rid, host, in.pick(port_table)});
        }
        case Msg::ack_messages: {
            proto::AckMessages ack;
            for (unsigned n = rid % 8; n > 0; --n) {
                std::uint8_t choice = in.u8();
                ack.ids.push_back(
                    c.message_ids.empty() || choice == 0xFF ? choice : c.message_ids[choice % c.message_ids.size()]);
            }
            return deliver(c, ack);
        }
        case Msg::raw:
        case Msg::count: return;
        }
    }

    void deliver(Conn& c, const proto::Message& m) {
        std::visit(
            [&](const auto& msg) {
                using M = std::decay_t<decltype(msg)>;
                if constexpr (std::is_same_v<M, proto::Login>)
                    c.unanswered.push_back({msg.request_id, M::type, std::string(msg.name), c.logged_in});
                else if constexpr (requires { msg.request_id; })
                    if (M::type < proto::MessageType::welcome)
                        c.unanswered.push_back({msg.request_id, M::type, {}, c.logged_in});
                // AckMessages and PrivateActivity get no reply, except Result{0, not_logged_in}
                // before login (PROTOCOL.md 7.2).
                if constexpr (std::is_same_v<M, proto::AckMessages> || std::is_same_v<M, proto::PrivateActivity>)
                    if (!c.logged_in) c.unanswered.push_back({0, M::type, {}, false});
            },
            m);
        d_.send(c.id, m);
    }

    void reply(Conn& c, proto::MessageType type, std::uint32_t rid, const proto::LoginResult* login = nullptr) {
        const auto matches = [&](const Request& r) { return r.rid == rid && answers(type, r.type, r.after_login); };
        // Replies that waited for a cluster flush come late, so request ids may repeat among the
        // unanswered: any of them will do, but a login that succeeds is the last one sent (a Login
        // while one is checked or claimed ends the connection), so its name is the last one's.
        auto it = std::find_if(c.unanswered.begin(), c.unanswered.end(), matches);
        if (login && login->outcome == proto::LoginOutcome::ok) {
            auto last = std::find_if(c.unanswered.rbegin(), c.unanswered.rend(), matches);
            it = last == c.unanswered.rend() ? c.unanswered.end() : std::prev(last.base());
        }
        FUZZ_CHECK(it != c.unanswered.end(), "a reply to no request (or a second reply to one)");
        if (login && login->outcome == proto::LoginOutcome::ok) {
            FUZZ_CHECK(!c.logged_in, "logged in twice on one connection");
            for (const Conn& other : conns_)
                FUZZ_CHECK(!(other.logged_in && other.name == it->login_name), "two sessions for one name");
            c.logged_in = true;
            c.name = it->login_name;
        }
        c.unanswered.erase(it);
    }

    static void check_detail(std::string_view detail) {
        FUZZ_CHECK(detail.size() <= proto::max_detail_length, "detail over 1000 bytes");
    }

    void receive(Conn& c, const proto::Message& m, std::set<proto::Token>& intros, std::set<proto::Token>& invites) {
        std::visit(
            [&](const auto& msg) {
                using M = std::decay_t<decltype(msg)>;
                if constexpr (std::is_same_v<M, proto::LoginResult>) {
                    reply(c, M::type, msg.request_id, &msg);
                } else if constexpr (std::is_same_v<M, proto::Result>) {
                    check_detail(msg.detail);
                    reply(c, M::type, msg.request_id);
                } else if constexpr (std::is_same_v<M, proto::UserList>) {
                    FUZZ_CHECK(msg.names.size() <= proto::max_listed_names, "user list too long");
                    reply(c, M::type, msg.request_id);
                } else if constexpr (std::is_same_v<M, proto::UserSeenList>) {
                    FUZZ_CHECK(msg.names.size() <= proto::max_listed_names, "user list too long");
                    FUZZ_CHECK(msg.offline_for_s.size() == msg.names.size(), "one last-seen age per name");
                    reply(c, M::type, msg.request_id);
                } else if constexpr (std::is_same_v<M, proto::PrivateIntro>) {
                    FUZZ_CHECK(used_tokens_.insert(msg.token).second, "a private token handed out twice");
                    intros.insert(msg.token);
                    reply(c, M::type, msg.request_id);
                } else if constexpr (std::is_same_v<M, proto::PrivateInvite>) {
                    FUZZ_CHECK(invites.insert(msg.token).second, "two invites with one token");
                } else if constexpr (std::is_same_v<M, proto::MessageEvent>) {
                    FUZZ_CHECK(c.logged_in, "a message to a connection not logged in");
                    FUZZ_CHECK(is_valid_user_name(msg.from), "a message from an invalid name");
                    FUZZ_CHECK(!msg.text.empty() && msg.text.size() <= proto::max_text_length, "message text size");
                    c.message_ids.push_back(msg.message_id);
                } else if constexpr (std::is_same_v<M, proto::ServerNotice>) {
                    FUZZ_CHECK(c.logged_in, "a notice to a connection not logged in");
                    FUZZ_CHECK(!msg.text.empty() && msg.text.size() <= proto::max_text_length, "notice text size");
                } else if constexpr (std::is_same_v<M, proto::SessionEnded> ||
                                     std::is_same_v<M, proto::ProtocolError>) {
                    check_detail(msg.detail);
                    c.must_close = true;
                }
            },
            m);
    }

    // Reads everything the last call sent and checks it.
    void check_output() {
        std::set<proto::Token> intros, invites;
        for (auto& [id, queue] : d_.env.inbox) {
            Conn* c = find(id);
            FUZZ_CHECK(c || queue.empty(), "frames for a connection that is gone");
            for (const auto& m : queue) receive(*c, m, intros, invites);
            queue.clear();
        }
        if (cluster_mode) {
            // A peer on another node gets its invite there, and one from there comes without an intro here.
            std::set<proto::Token> invites_sent = invites;
            check_cluster_output(invites_sent);
            for (const auto& t : intros) FUZZ_CHECK(invites_sent.contains(t), "a PrivateIntro without its invite");
            for (const auto& t : invites)
                FUZZ_CHECK(intros.contains(t) || remote_invites_.contains(t), "a PrivateInvite without its intro");
            remote_invites_.clear();
        } else {
            FUZZ_CHECK(intros == invites, "a PrivateIntro without its PrivateInvite (or the reverse)");
        }
        std::size_t online = 0;
        for (const Conn& c : conns_) {
            if (c.must_close) FUZZ_CHECK(d_.env.is_closed(c.id), "SessionEnded or ProtocolError without the close");
            online += c.logged_in && !d_.env.is_closed(c.id);
        }
        std::erase_if(conns_, [&](const Conn& c) { return d_.env.is_closed(c.id); });
        FUZZ_CHECK(d_.core.session_count() == conns_.size(), "the core's sessions differ from the open connections");
        FUZZ_CHECK(d_.core.online_count() == online, "the core's online users differ from the logins");
    }

    bool hashed_;
    FuzzLink link_; // before d_: the core is given it
    test::Driver d_;
    std::map<std::pair<std::string, std::uint64_t>, unsigned> direct_answers_due_; // (reply node, tag): Directs
    std::set<proto::Token> remote_invites_; // Invites from other nodes since the last check
    std::vector<Conn> conns_;               // open: connected, neither closed by the core nor disconnected
    std::uint64_t next_conn_ = 1;
    std::set<proto::Token> used_tokens_;
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    static doctest::Context context;
    context.setAsDefaultForAssertsOutOfTestCases();
    context.setAssertHandler([](const doctest::AssertData& a) {
        std::fprintf(stderr, "%s:%d: %s failed (%s)\n", a.m_file, a.m_line, a.m_expr, a.m_decomp.c_str());
        std::abort();
    });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzInput in(data, size);
    Run run(in.u8());
    while (!in.empty())
        if (!run.step(in)) return 0;
    run.finish();
    return 0;
}
