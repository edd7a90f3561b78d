// Pieces every workload shares: logging sessions in (bounded concurrency,
// source addresses spread over 127.0.0.x), and the timestamp carried in
// message texts for end-to-end latency.
#pragma once

#include "event_loop.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace confab::bench {

enum ConnState : std::uint8_t { st_connecting = 0, st_online = 1, st_failed = 2 };

using Clock = std::int64_t; // now_ns() value
inline Clock deadline_after(double seconds) {
    return now_ns() + std::int64_t(seconds * 1e9);
}

struct Credentials {
    std::string name, password;
};
using CredentialsFn = std::function<Credentials(std::uint32_t user)>;

// Where each user logs in: one daemon, or the nodes of a cluster. User u goes
// to node (u / span) % N: span 1 puts the two users of a direct pair (2p, 2p+1)
// on different nodes, span 2 keeps each pair on one node.
class Servers {
public:
    Servers(const sockaddr_in& one) : nodes_{one} {} // implicit: a lone daemon is a Servers of one
    Servers(std::vector<sockaddr_in> nodes, std::uint32_t span) : nodes_(std::move(nodes)), span_(span) {}
    const sockaddr_in& of(std::uint32_t user) const { return nodes_[(user / span_) % nodes_.size()]; }
    const sockaddr_in& first() const { return nodes_.front(); }
    std::size_t size() const { return nodes_.size(); }

private:
    std::vector<sockaddr_in> nodes_;
    std::uint32_t span_ = 1;
};

struct LoginBatch {
    std::vector<std::uint32_t> users; // user indices to log in
    CredentialsFn credentials;
    int concurrency = 1000;          // handshakes in flight at once
    bool spread_sources = false;     // bind to 127.0.0.2..254 (needed beyond ~28k sessions)
    std::uint64_t source_offset = 0; // decorrelates the source addresses of threads
};

struct LoginOutcome {
    bool ok = false;
    std::string error;
    std::vector<Conn*> conns; // in the order of batch.users
    Clock started = 0, finished = 0;
};

// Starts the handshakes of `batch` (Hello + Login pipelined, each user to its
// node of `servers`), keeping at most
// `concurrency` in flight, and polls until all are online or `deadline`.
// Frames other than the handshake's are passed to `other` (may be empty).
class LoginDriver {
public:
    LoginDriver(Loop& loop, Servers servers, LoginBatch batch);
    // Call after each poll (or use run()). True once every login finished.
    bool done() const { return finished_ == batch_.users.size() || !error_.empty(); }
    // Frame/close hooks to call from the loop's callbacks; return true if consumed.
    bool on_frame(Conn& c, const proto::Message& m);
    bool on_close(Conn& c, const char* why);
    // Opens connections up to the concurrency bound.
    void pump();
    LoginOutcome outcome() const;

private:
    Loop& loop_;
    Servers servers_;
    LoginBatch batch_;
    std::vector<Conn*> conns_;
    std::size_t next_ = 0, finished_ = 0, in_flight_ = 0;
    std::string error_;
    Clock started_ = 0, finished_at_ = 0;
};

// Runs a LoginDriver alone on `loop` until done or deadline.
LoginOutcome login_all(Loop& loop, const Servers& servers, LoginBatch batch, Clock deadline);

// A cluster's presence is eventually consistent: a node learns of a login on
// another node when that node's Online event reaches it through Redis, and
// until then takes the user for offline. Before timing messages between
// nodes, waits until whoelse on each node that one of `conns` is on lists
// every name of `online` (but the asker's). Returns "" or why it gave up. The
// names must sort among the first max_listed_names (whoelse's cap).
std::string await_presence(Loop& loop, const Servers& servers, const std::vector<Conn*>& conns,
                           const std::vector<std::string>& online,
                           const std::function<std::string(std::uint32_t user)>& name_of, Clock deadline);

// Message text: "<16 hex ns> <8 hex seq> " padded with '.' to `size` bytes.
void stamp_text(std::string& buf, std::size_t size, Clock sent, std::uint32_t seq);
bool parse_stamp(std::string_view text, Clock& sent, std::uint32_t& seq);

sockaddr_in make_address(const std::string& host, std::uint16_t port);

} // namespace confab::bench
