#include "attacks.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace confab::bench {

namespace {

constexpr std::size_t flood_text_bytes = 1000;       // the longest text the protocol allows
constexpr std::size_t flood_batch_bytes = 64 * 1024; // queued on the flooder's socket at a time
constexpr Clock local_error_backoff = 10'000'000;    // 10 ms after running out of fds or ports
constexpr Clock login_refused_backoff = 100'000'000; // 100 ms before a refused flooder tries again
constexpr Clock burst_wait = 2'000'000'000;          // a burst is closed after 2 s even if not all answered
constexpr const char* wrong_password = "not-the-password";

std::uint32_t attacker_ip(std::uint64_t i, int sources) {
    return (127u << 24) | std::uint32_t(2 + i % std::uint64_t(sources));
}

// baseline: no attack, for the machine's own noise in the same figures.
class NoAttack final : public Attack {
public:
    using Attack::Attack;
    int tick(Clock) override { return 100; }
};

// lockout (fresh names, three tries each) and password (one known name):
// one Login in flight per connection, the next sent when the answer arrives
// (a second Login while one is checked is a protocol error).
class WrongPasswords final : public Attack {
public:
    WrongPasswords(Loop& loop, AttackSetup setup, bool fresh_names)
        : Attack(loop, std::move(setup)), fresh_names_(fresh_names) {}

    int tick(Clock now) override {
        while (now >= backoff_until_ && loop_.open_count() < std::size_t(setup_.connections)) {
            Conn* c = open();
            if (!c) break;
            c->user = next_name_++;
            c->inflight = 0; // tries on the current name
            loop_.send(*c, proto::Hello{proto::protocol_version, "confab-bench-attack"});
            login(*c);
        }
        return 10;
    }

    void on_frame(Conn& c, const proto::Message& m) override {
        const auto* r = std::get_if<proto::LoginResult>(&m);
        if (!r) return Attack::on_frame(c, m);
        ++stats_.replies;
        if (r->outcome == proto::LoginOutcome::locked) {
            ++stats_.locks;
        } else if (r->outcome != proto::LoginOutcome::wrong_password) {
            ++stats_.refused;
            note_error(fmt::format("LoginResult outcome {} value {}", int(r->outcome), r->value));
        }
        if (fresh_names_ && ++c.inflight >= 3) {
            c.user = next_name_++;
            c.inflight = 0;
        }
        login(c);
    }

private:
    void login(Conn& c) {
        std::string name = fresh_names_ ? fmt::format("nobody{}", c.user) : setup_.target;
        loop_.send(c, proto::Login{c.next_request++, std::move(name), wrong_password});
        ++stats_.requests;
    }

    bool fresh_names_;
    std::uint32_t next_name_ = 0;
};

// broadcast and direct: one logged-in user writes 1,000-byte texts as fast
// as the server takes them, reading (and counting) its replies.
class MessageFlood final : public Attack {
public:
    MessageFlood(Loop& loop, AttackSetup setup, bool broadcast)
        : Attack(loop, std::move(setup)), broadcast_(broadcast), text_(flood_text_bytes, 'x') {}

    int tick(Clock now) override {
        if (loop_.open_count() == 0 && now >= backoff_until_) {
            conn_ = open();
            if (conn_) {
                conn_->state = st_connecting;
                loop_.send(*conn_, proto::Hello{proto::protocol_version, "confab-bench-attack"});
                loop_.send(*conn_, proto::Login{conn_->next_request++, setup_.user, setup_.password});
                ++stats_.requests;
            }
        }
        // Refill only once the last batch is written: the socket stays full, the queue bounded.
        if (conn_ && conn_->open && conn_->state == st_online && conn_->out.empty()) {
            for (std::size_t queued = 0; queued < flood_batch_bytes; queued += flood_text_bytes) {
                if (broadcast_)
                    loop_.send(*conn_, proto::Broadcast{conn_->next_request++, text_});
                else
                    loop_.send(*conn_, proto::SendMessage{conn_->next_request++, setup_.target, text_});
                ++stats_.requests;
            }
        }
        return 1;
    }

    void on_frame(Conn& c, const proto::Message& m) override {
        if (const auto* r = std::get_if<proto::LoginResult>(&m)) {
            ++stats_.replies;
            if (r->outcome == proto::LoginOutcome::ok) {
                c.state = st_online;
                return;
            }
            ++stats_.refused;
            note_error(fmt::format("the flooder's login refused (outcome {})", int(r->outcome)));
            loop_.close(c);
            backoff_until_ = now_ns() + login_refused_backoff;
            return;
        }
        if (const auto* r = std::get_if<proto::Result>(&m)) {
            ++stats_.replies;
            if (int(r->code) >= 10) {
                ++stats_.refused;
                note_error(fmt::format("{} ({})", proto::to_string(r->code), r->detail));
            }
            return;
        }
        Attack::on_frame(c, m);
    }

private:
    bool broadcast_;
    std::string text_;
    Conn* conn_ = nullptr;
};

// connect: as many silent connections as allowed, opened as fast as connect() goes.
// stall: each connection also sends all of a 64 KiB frame but its last byte.
class HeldConnections final : public Attack {
public:
    HeldConnections(Loop& loop, AttackSetup setup, bool stall) : Attack(loop, std::move(setup)) {
        if (!stall) return;
        const std::uint32_t len = proto::max_frame_size;
        partial_frame_ = {std::uint8_t(len >> 24), std::uint8_t(len >> 16), std::uint8_t(len >> 8), std::uint8_t(len)};
        partial_frame_.push_back(0x02); // Login's type byte
        partial_frame_.resize(proto::frame_header_size + len - 1, 'A');
    }

    int tick(Clock now) override {
        while (now >= backoff_until_ && loop_.open_count() < std::size_t(setup_.connections)) {
            Conn* c = open();
            if (!c) break;
            if (!partial_frame_.empty()) loop_.send_bytes(*c, partial_frame_.data(), partial_frame_.size());
        }
        return 10;
    }

private:
    std::vector<std::uint8_t> partial_frame_;
};

// burst: all connections at once, each sending Hello; once every one is
// answered (or after 2 s) all close at once, and the next burst starts.
class ConnectBurst final : public Attack {
public:
    using Attack::Attack;

    int tick(Clock now) override {
        if (!waiting_) {
            if (now < backoff_until_) return 10;
            opened_ = 0;
            welcomed_ = 0;
            closes_before_ = stats_.server_closes;
            for (int i = 0; i < setup_.connections; ++i) {
                Conn* c = open();
                if (!c) break;
                loop_.send(*c, proto::Hello{proto::protocol_version, "confab-bench-attack"});
                ++stats_.requests;
                ++opened_;
            }
            burst_start_ = now;
            waiting_ = opened_ > 0;
            return 10;
        }
        const std::uint64_t settled = welcomed_ + (stats_.server_closes - closes_before_);
        if (settled >= opened_ || now - burst_start_ > burst_wait) {
            close_all();
            ++stats_.cycles;
            waiting_ = false;
        }
        return waiting_ ? 10 : 0;
    }

    void on_frame(Conn& c, const proto::Message& m) override {
        if (std::holds_alternative<proto::Welcome>(m)) {
            ++welcomed_;
            ++stats_.replies;
            return;
        }
        Attack::on_frame(c, m);
    }

private:
    bool waiting_ = false;
    std::uint64_t opened_ = 0, welcomed_ = 0, closes_before_ = 0;
    Clock burst_start_ = 0;
};

} // namespace

const std::vector<std::string>& attack_names() {
    static const std::vector<std::string> names = {"baseline", "lockout", "broadcast", "direct",
                                                   "password", "connect", "stall",     "burst"};
    return names;
}

void Attack::on_frame(Conn&, const proto::Message& m) {
    if (const auto* e = std::get_if<proto::ProtocolError>(&m)) {
        ++stats_.replies;
        ++stats_.refused;
        note_error(fmt::format("ProtocolError {} ({})", proto::to_string(e->code), e->detail));
    }
}

void Attack::on_close(Conn&, const char*) {
    ++stats_.server_closes;
}

void Attack::close_all() {
    for (Conn& c : loop_.conns())
        if (c.open) loop_.close(c);
}

Conn* Attack::open() {
    std::string err;
    Conn* c = loop_.connect(setup_.server, attacker_ip(next_source_++, setup_.sources), err);
    if (!c) {
        if (stats_.connect_errors++ == 0) note_error("local: " + err);
        backoff_until_ = now_ns() + local_error_backoff;
        return nullptr;
    }
    ++stats_.connects;
    return c;
}

void Attack::note_error(const std::string& what) {
    if (stats_.first_error.empty()) stats_.first_error = what;
}

std::unique_ptr<Attack> make_attack(const std::string& name, Loop& loop, AttackSetup setup) {
    if (name == "baseline") return std::make_unique<NoAttack>(loop, std::move(setup));
    if (name == "lockout") return std::make_unique<WrongPasswords>(loop, std::move(setup), true);
    if (name == "password") return std::make_unique<WrongPasswords>(loop, std::move(setup), false);
    if (name == "broadcast") return std::make_unique<MessageFlood>(loop, std::move(setup), true);
    if (name == "direct") return std::make_unique<MessageFlood>(loop, std::move(setup), false);
    if (name == "connect") return std::make_unique<HeldConnections>(loop, std::move(setup), false);
    if (name == "stall") return std::make_unique<HeldConnections>(loop, std::move(setup), true);
    if (name == "burst") return std::make_unique<ConnectBurst>(loop, std::move(setup));
    throw std::invalid_argument("unknown attack " + name);
}

} // namespace confab::bench
