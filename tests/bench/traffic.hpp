// Direct-message traffic between sender->receiver pairs on one Loop: senders
// pipeline up to `window` SendMessage requests, replenished by their Result
// replies; receivers time every MessageEvent against the stamp in its text.
// Used by the direct workload (flat out or at --rate) and by login (background).
#pragma once

#include "event_loop.hpp"
#include "histogram.hpp"
#include "session.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace confab::bench {

enum Role : std::uint8_t { role_sender = 10, role_receiver = 11 };

class PairTraffic {
public:
    struct Pair {
        Conn* sender = nullptr;
        Conn* receiver = nullptr;
        std::string receiver_name;
        std::uint64_t quota = UINT64_MAX; // messages to send
    };
    PairTraffic(Loop& loop, std::vector<Pair> pairs, int window, int text_bytes);

    // Messages per second across these pairs from `start`; 0 = as fast as windows allow.
    void set_rate(double per_s, Clock start);
    // No new messages from now on (duration over, storm over).
    void stop_sending() { stopped_ = true; }
    // Messages sent while `tagged` returns true are also timed into tagged_latency.
    void set_tagger(std::function<bool(Clock)> tagged) { tagged_ = std::move(tagged); }
    // A reply other than `ok` is counted (stored(), refused()) instead of failing the traffic:
    // under attack a receiver may be gone or a limit may refuse a message.
    void tolerate_refusals() { tolerant_ = true; }

    // Sends what windows, quotas and the rate allow. Returns the ms until the
    // rate allows the next message (for the poll timeout), or -1.
    int pump(Clock now);
    // Handles traffic frames; false if the frame is not traffic.
    bool on_frame(Conn& c, const proto::Message& m);
    // Every message sent was answered and received (and nothing more will be sent).
    bool finished() const;

    std::uint64_t sent() const { return sent_; }
    std::uint64_t received() const { return received_; }
    std::uint64_t results_ok() const { return results_ok_; }
    std::uint64_t answered() const { return answered_; }
    std::uint64_t stored() const { return stored_; }   // ok_stored (tolerant only)
    std::uint64_t refused() const { return refused_; } // error codes (tolerant only)
    const std::string& first_refusal() const { return first_refusal_; }
    const std::string& error() const { return error_; }
    const Histogram& latency() const { return latency_; }
    const Histogram& tagged_latency() const { return tagged_latency_; }

private:
    Loop& loop_;
    std::vector<Pair> pairs_;
    std::uint32_t window_;
    std::size_t text_bytes_;
    double rate_ = 0; // per ns
    Clock rate_start_ = 0;
    bool stopped_ = false;
    bool tolerant_ = false;
    std::size_t rr_ = 0; // round-robin start for rate-limited sends
    std::uint64_t sent_ = 0, received_ = 0, results_ok_ = 0, answered_ = 0, stored_ = 0, refused_ = 0;
    std::string error_, first_refusal_;
    std::string text_;
    std::function<bool(Clock)> tagged_;
    Histogram latency_, tagged_latency_;
};

} // namespace confab::bench
