#include "session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <map>
#include <set>
#include <stdexcept>

namespace confab::bench {

sockaddr_in make_address(const std::string& host, std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) throw std::runtime_error("not an IPv4 address: " + host);
    return a;
}

void stamp_text(std::string& buf, std::size_t size, Clock sent, std::uint32_t seq) {
    buf.clear();
    fmt::format_to(std::back_inserter(buf), "{:016x} {:08x} ", std::uint64_t(sent), seq);
    buf.resize(std::max(size, buf.size()), '.');
}

bool parse_stamp(std::string_view text, Clock& sent, std::uint32_t& seq) {
    if (text.size() < 26) return false;
    std::uint64_t ns = 0;
    auto r1 = std::from_chars(text.data(), text.data() + 16, ns, 16);
    auto r2 = std::from_chars(text.data() + 17, text.data() + 25, seq, 16);
    sent = Clock(ns);
    return r1.ec == std::errc{} && r2.ec == std::errc{};
}

LoginDriver::LoginDriver(Loop& loop, Servers servers, LoginBatch batch)
    : loop_(loop), servers_(std::move(servers)), batch_(std::move(batch)), conns_(batch_.users.size(), nullptr) {
    started_ = now_ns();
}

void LoginDriver::pump() {
    while (error_.empty() && next_ < batch_.users.size() && in_flight_ < std::size_t(batch_.concurrency)) {
        std::size_t i = next_++;
        std::uint32_t src = batch_.spread_sources ? source_ip_for(batch_.source_offset + i) : 0;
        std::string err;
        Conn* c = loop_.connect(servers_.of(batch_.users[i]), src, err);
        if (!c) {
            error_ = fmt::format("session {}: {}", i, err);
            return;
        }
        c->user = batch_.users[i];
        c->peer = std::uint32_t(i); // index in the batch until online
        c->state = st_connecting;
        conns_[i] = c;
        ++in_flight_;
        Credentials cr = batch_.credentials(c->user);
        // Login goes right behind Hello: the server reads frames in order.
        loop_.send(*c, proto::Hello{proto::protocol_version, "confab-bench"});
        loop_.send(*c, proto::Login{c->next_request++, cr.name, cr.password});
    }
}

bool LoginDriver::on_frame(Conn& c, const proto::Message& m) {
    if (c.state != st_connecting) return false;
    if (std::holds_alternative<proto::Welcome>(m)) return true;
    if (const auto* r = std::get_if<proto::LoginResult>(&m)) {
        --in_flight_;
        ++finished_;
        if (r->outcome != proto::LoginOutcome::ok) {
            c.state = st_failed;
            if (error_.empty())
                error_ = fmt::format("login of {} refused (outcome {}, value {})", batch_.credentials(c.user).name,
                                     int(r->outcome), r->value);
        } else {
            c.state = st_online;
        }
        if (finished_ == batch_.users.size()) finished_at_ = now_ns();
        pump();
        return true;
    }
    if (const auto* e = std::get_if<proto::ProtocolError>(&m)) {
        if (error_.empty()) error_ = fmt::format("protocol error during login: {}", e->detail);
        c.state = st_failed;
        return true;
    }
    return false;
}

bool LoginDriver::on_close(Conn& c, const char* why) {
    if (c.state != st_connecting) return false;
    if (error_.empty()) error_ = fmt::format("session {} {} before its login finished", c.peer, why);
    c.state = st_failed;
    return true;
}

LoginOutcome LoginDriver::outcome() const {
    LoginOutcome o;
    o.ok = error_.empty() && finished_ == batch_.users.size();
    o.error = error_;
    o.conns = conns_;
    o.started = started_;
    o.finished = finished_at_;
    return o;
}

LoginOutcome login_all(Loop& loop, const Servers& servers, LoginBatch batch, Clock deadline) {
    LoginDriver d(loop, servers, std::move(batch));
    d.pump();
    loop.flush();
    while (!d.done() && now_ns() < deadline) {
        loop.poll(
            50, [&](Conn& c, const proto::Message& m) { d.on_frame(c, m); },
            [&](Conn& c, const char* why) { d.on_close(c, why); });
    }
    LoginOutcome o = d.outcome();
    if (!o.ok && o.error.empty()) o.error = "logins did not finish before the deadline";
    return o;
}

std::string await_presence(Loop& loop, const Servers& servers, const std::vector<Conn*>& conns,
                           const std::vector<std::string>& online,
                           const std::function<std::string(std::uint32_t user)>& name_of, Clock deadline) {
    if (servers.size() < 2) return {};
    // One asker per node: the first of `conns` logged in there.
    std::map<std::uint16_t, Conn*> askers;
    for (Conn* c : conns)
        if (c && c->open) askers.try_emplace(servers.of(c->user).sin_port, c);
    const std::set<std::string> everyone(online.begin(), online.end());
    std::map<Conn*, std::uint32_t> asked; // asker -> request id of its WhoElse in flight
    std::size_t settled = 0;
    std::string missing;
    auto ask = [&](Conn* c) {
        asked[c] = c->next_request;
        loop.send(*c, proto::WhoElse{c->next_request++});
    };
    for (const auto& [port, c] : askers) ask(c);
    loop.flush();
    Clock retry_at = 0;
    std::vector<Conn*> again;
    while (settled < askers.size()) {
        if (now_ns() > deadline)
            return fmt::format("presence not settled before the deadline ({} of {} nodes list everyone; {})", settled,
                               askers.size(), missing);
        if (!again.empty() && now_ns() >= retry_at) {
            for (Conn* c : again) ask(c);
            again.clear();
            loop.flush();
        }
        std::string closed;
        loop.poll(
            10,
            [&](Conn& c, const proto::Message& m) {
                const auto* list = std::get_if<proto::UserList>(&m);
                auto it = asked.find(&c);
                if (!list || it == asked.end() || list->request_id != it->second) return;
                asked.erase(it);
                std::set<std::string> want = everyone;
                want.erase(name_of(c.user));
                for (std::string_view n : list->names) want.erase(std::string(n));
                if (want.empty()) {
                    ++settled;
                } else {
                    missing = fmt::format("{} not yet listed, e.g. {}", want.size(), *want.begin());
                    again.push_back(&c);
                    retry_at = now_ns() + 20'000'000; // 20 ms
                }
            },
            [&](Conn&, const char* why) {
                if (closed.empty()) closed = why;
            });
        if (!closed.empty()) return fmt::format("a session was {} while waiting for presence", closed);
    }
    return {};
}

} // namespace confab::bench
