// Client side I/O: one epoll instance per bench thread owning a set of
// non-blocking connections. Output is queued per connection and written once
// per loop iteration (pipelined requests coalesce into one write); input goes
// through a proto::FrameDecoder per connection.
#pragma once

#include "proto/frame.hpp"
#include "proto/messages.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <netinet/in.h>
#include <string>
#include <vector>

typedef struct ssl_st SSL;

namespace confab::bench {

class TlsClient;

// One client connection plus the small amount of workload state every
// workload needs; kept compact because the idle workload holds a million.
struct Conn {
    int fd = -1;
    bool open = false;
    bool dirty = false;          // on the loop's flush list
    bool want_out = false;       // EPOLLOUT armed
    bool tls_wants_read = false; // a TLS write waits for input (handshake)
    std::uint8_t state = 0;      // workload-defined
    std::uint32_t user = 0;      // user index
    std::uint32_t peer = 0;      // workload-defined (e.g. the pair's receiver)
    std::uint32_t inflight = 0;
    std::uint32_t next_request = 1;
    std::uint64_t sent = 0, received = 0;
    std::size_t out_off = 0;
    SSL* ssl = nullptr; // --tls: the client end; `out` then holds plaintext
    std::vector<std::uint8_t> out;
    proto::FrameDecoder decoder;
};

class Loop {
public:
    // Connections speak TLS through client_tls() if it is set when the Loop is made.
    Loop();
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    // Starts a non-blocking connect to `dst`, from `src_ip` (host order, 0 = any).
    // Returns nullptr (and sets `error`) if the socket cannot be created.
    Conn* connect(const sockaddr_in& dst, std::uint32_t src_ip, std::string& error);
    // Queues a frame; written at the next flush().
    void send(Conn& c, const proto::Message& m);
    void send_bytes(Conn& c, const std::uint8_t* data, std::size_t n);
    // Writes every connection with queued output. False entries are closed
    // and reported through the next poll's on_close.
    void flush();
    void close(Conn& c);

    using FrameFn = std::function<void(Conn&, const proto::Message&)>;
    using CloseFn = std::function<void(Conn&, const char* why)>;
    // Waits up to timeout_ms, dispatches frames and closes, then flushes.
    // Returns the number of ready events.
    int poll(int timeout_ms, const FrameFn& on_frame, const CloseFn& on_close);

    // Cross-thread wake-up: makes a poll() in progress return.
    void wake();

    std::deque<Conn>& conns() { return conns_; }
    std::size_t open_count() const { return open_; }

    // Reuse closed connections' slots for new ones (from the next poll() on),
    // for loops that open and close without end. Conn pointers held across a
    // close then name whatever connection reuses the slot.
    void recycle_closed() { recycle_ = true; }

private:
    bool write_some(Conn& c);
    bool write_tls(Conn& c);
    bool read_all(Conn& c, const FrameFn& on_frame, const char*& why);
    bool read_tls(Conn& c, const FrameFn& on_frame, const char*& why);
    void mark_dirty(Conn& c);
    void set_out(Conn& c, bool on);

    TlsClient* tls_ = nullptr;
    int epfd_ = -1;
    int wakefd_ = -1;
    std::deque<Conn> conns_; // stable addresses: epoll data points at them
    std::vector<Conn*> dirty_;
    std::vector<Conn*> failed_; // write errors, reported on the next poll
    bool recycle_ = false;
    std::vector<Conn*> closed_;   // closed since the last poll() started
    std::vector<Conn*> reusable_; // free slots for connect()
    std::size_t open_ = 0;
    std::vector<std::uint8_t> rbuf_;
};

// Host-order IPv4 of 127.0.0.x spread: session i's source address. Each source
// address has its own ~28k ephemeral ports towards one server port.
std::uint32_t source_ip_for(std::uint64_t i);

// CLOCK_MONOTONIC in ns: the same clock in every thread and process here.
std::int64_t now_ns() noexcept;

} // namespace confab::bench
