// store: S senders, each pipelining up to W SendMessages to its own recipient
// who never logs in, so every message goes to the daemon's SQLite store (WAL,
// synchronous=FULL, group commit on the storage thread) and is answered
// `ok_stored` only once committed. Meanwhile P pairs of online users exchange
// direct messages at --login-rate; the p99 of those sent while the store is
// busy shows whether the reactor ever waits for storage.
#include "traffic.hpp"
#include "workloads.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <linux/magic.h>
#include <sys/vfs.h>

namespace confab::bench {

namespace {

constexpr std::uint8_t role_storer = 12; // Conn::state of a store sender

// Senders to offline recipients on one Loop. Each Result must be ok_stored;
// the time from send to Result is the commit (ack) latency.
class StoreSenders {
public:
    struct Sender {
        Conn* conn = nullptr;
        std::string recipient;
        std::uint64_t quota = 0;
        std::uint64_t answered = 0;
        std::deque<Clock> sent_at; // Results come back in send order
    };

    StoreSenders(Loop& loop, std::vector<Sender> senders, int window, int text_bytes)
        : loop_(loop), senders_(std::move(senders)), window_(std::uint32_t(window)),
          text_bytes_(std::size_t(text_bytes)) {
        for (std::size_t i = 0; i < senders_.size(); ++i) {
            Conn& c = *senders_[i].conn;
            c.state = role_storer;
            c.peer = std::uint32_t(i);
            c.inflight = 0;
            c.sent = 0;
        }
    }

    void pump() {
        for (Sender& s : senders_) {
            Conn& c = *s.conn;
            while (c.open && c.inflight < window_ && c.sent < s.quota) {
                const Clock now = now_ns();
                stamp_text(text_, text_bytes_, now, std::uint32_t(c.sent));
                loop_.send(c, proto::SendMessage{c.next_request++, s.recipient, text_});
                s.sent_at.push_back(now);
                ++c.inflight;
                ++c.sent;
                ++sent_;
            }
        }
    }

    bool on_frame(Conn& c, const proto::Message& m) {
        if (c.state != role_storer) return false;
        Sender& s = senders_[c.peer];
        if (const auto* r = std::get_if<proto::Result>(&m)) {
            if (c.inflight > 0) --c.inflight;
            ++s.answered;
            ++answered_;
            if (!s.sent_at.empty()) {
                ack_latency_.record(now_ns() - s.sent_at.front());
                s.sent_at.pop_front();
            }
            if (r->code == proto::Status::ok_stored) {
                ++stored_;
            } else {
                ++refused_;
                if (first_refusal_.empty())
                    first_refusal_ = fmt::format("SendMessage to offline {} answered status {}, {} ({})", s.recipient,
                                                 int(r->code), proto::to_string(r->code), r->detail);
            }
            if (answered_ == total_quota()) finished_at_ = now_ns();
            return true;
        }
        if (const auto* e = std::get_if<proto::ProtocolError>(&m)) {
            if (error_.empty()) error_ = fmt::format("protocol error to a store sender: {}", e->detail);
            return true;
        }
        if (error_.empty()) error_ = "a store sender got an unexpected frame";
        return true;
    }

    // Every message answered (ok_stored or not), or a protocol error.
    bool done() const { return !error_.empty() || answered_ == total_quota(); }
    std::uint64_t total_quota() const {
        std::uint64_t q = 0;
        for (const Sender& s : senders_) q += s.quota;
        return q;
    }

    std::uint64_t sent() const { return sent_; }
    std::uint64_t stored() const { return stored_; }
    std::uint64_t refused() const { return refused_; }
    Clock finished_at() const { return finished_at_; }
    const std::string& first_refusal() const { return first_refusal_; }
    const std::string& error() const { return error_; }
    const Histogram& ack_latency() const { return ack_latency_; }

private:
    Loop& loop_;
    std::vector<Sender> senders_;
    std::uint32_t window_;
    std::size_t text_bytes_;
    std::string text_;
    std::uint64_t sent_ = 0, answered_ = 0, stored_ = 0, refused_ = 0;
    Clock finished_at_ = 0;
    std::string first_refusal_, error_;
    Histogram ack_latency_;
};

// Name of the state directory's filesystem when fsync there is not real.
std::string volatile_fs(const std::string& dir) {
    struct statfs st {};
    if (::statfs(dir.c_str(), &st) != 0) return {};
    if (st.f_type == TMPFS_MAGIC) return "tmpfs";
    if (st.f_type == RAMFS_MAGIC) return "ramfs";
    return {};
}

} // namespace

Report run_store(const Options& o, Target& target) {
    Report rep("store");
    rep.param("senders", o.store_senders);
    rep.param("window", o.window);
    rep.param("msgs", double(o.store_messages));
    rep.param("pairs", o.store_pairs);
    rep.param("msg_rate", o.login_rate);

    const int threads = std::max(1, std::min(o.threads, std::max(o.store_pairs, o.store_senders)));
    const double limit_s = deadline_seconds(o, 60 + double(o.store_messages) / 500);
    const Clock deadline = deadline_after(limit_s);
    const Servers servers = target.servers();
    constexpr double warmup_s = 0.2, cooldown_s = 0.2;
    // User indices: pairs 0..2P-1, then the senders, then their recipients.
    const std::int64_t first_sender = 2 * std::int64_t(o.store_pairs);
    const std::int64_t first_recipient = first_sender + o.store_senders;

    Crew crew(threads);
    std::mutex merge_mutex;
    Histogram busy_latency, all_latency, ack_latency;
    std::uint64_t sent = 0, received = 0, store_sent = 0, stored = 0, refused = 0;
    std::string first_refusal;
    Clock phase_start = 0, store_start = 0, store_end = 0;
    std::atomic<int> stores_running{threads};

    crew.start(threads, [&](int t) {
        Loop loop;
        LoginBatch batch;
        std::vector<int> my_pairs, my_senders;
        for (int p = t; p < o.store_pairs; p += threads) {
            my_pairs.push_back(p);
            batch.users.push_back(std::uint32_t(2 * p));
            batch.users.push_back(std::uint32_t(2 * p + 1));
        }
        for (int s = t; s < o.store_senders; s += threads) {
            my_senders.push_back(s);
            batch.users.push_back(std::uint32_t(first_sender + s));
        }
        batch.credentials = [](std::uint32_t u) { return Credentials{plain_user(u), plain_password(u)}; };
        batch.concurrency = o.concurrency;
        LoginOutcome lo = login_all(loop, servers, batch, deadline);
        if (!lo.ok) crew.fail("login of the pairs and senders: " + lo.error);
        if (lo.ok) settle_presence(loop, servers, lo.conns, first_recipient, deadline, crew);
        std::vector<PairTraffic::Pair> pairs;
        std::vector<StoreSenders::Sender> senders;
        if (lo.ok) {
            std::size_t k = 0;
            for (int p : my_pairs) {
                pairs.push_back({lo.conns[k], lo.conns[k + 1], plain_user(2 * p + 1), UINT64_MAX});
                k += 2;
            }
            for (int s : my_senders) {
                StoreSenders::Sender sd;
                sd.conn = lo.conns[k++];
                sd.recipient = plain_user(first_recipient + s);
                sd.quota = std::uint64_t(o.store_messages / o.store_senders +
                                         (s < o.store_messages % o.store_senders ? 1 : 0));
                senders.push_back(std::move(sd));
            }
        }
        PairTraffic traffic(loop, std::move(pairs), o.window, o.text_bytes);
        StoreSenders store(loop, std::move(senders), o.window, o.text_bytes);

        crew.sync(); // everyone online: main samples
        crew.sync(); // go
        bool store_done = false, store_started = false;
        Clock stop_at = 0, my_store_end = 0;
        std::string closed;
        if (!crew.failed()) {
            traffic.set_rate(o.login_rate / threads, phase_start);
            traffic.set_tagger([&](Clock now) { return now >= store_start && stores_running.load() > 0; });
            auto on_frame = [&](Conn& c, const proto::Message& m) {
                if (traffic.on_frame(c, m)) return;
                store.on_frame(c, m);
            };
            auto on_close = [&](Conn&, const char* why) {
                if (closed.empty()) closed = why;
            };
            while (closed.empty()) {
                const Clock now = now_ns();
                if (now > deadline) {
                    crew.fail(
                        fmt::format("deadline ({} s) passed: store sent {}, stored {}; traffic sent {}, received {}",
                                    limit_s, store.sent(), store.stored(), traffic.sent(), traffic.received()));
                    break;
                }
                if (now >= store_start) store_started = true;
                if (store_started && !store_done) {
                    if (store.done()) {
                        store_done = true;
                        my_store_end = store.finished_at() ? store.finished_at() : now;
                        if (!store.error().empty()) crew.fail(store.error());
                        stores_running.fetch_sub(1);
                    } else {
                        store.pump();
                    }
                }
                // Keep the traffic going until every thread's store phase ended, plus a little.
                if (store_done && stores_running.load() == 0 && !stop_at) stop_at = now + Clock(cooldown_s * 1e9);
                if (stop_at && now >= stop_at) traffic.stop_sending();
                if (stop_at && now >= stop_at && traffic.finished()) break;
                if (crew.failed() && store_done) break;
                int wait_ms = traffic.pump(now);
                if (!store_started)
                    wait_ms = std::min(wait_ms < 0 ? 20 : wait_ms, int((store_start - now) / 1'000'000) + 1);
                loop.flush();
                loop.poll(wait_ms < 0 ? 20 : std::min(wait_ms, 20), on_frame, on_close);
            }
            if (!store_done) stores_running.fetch_sub(1);
            if (!closed.empty()) crew.fail("a session was " + closed);
            if (!traffic.error().empty()) crew.fail(traffic.error());
        }
        {
            std::lock_guard lock(merge_mutex);
            busy_latency.merge(traffic.tagged_latency());
            all_latency.merge(traffic.latency());
            ack_latency.merge(store.ack_latency());
            sent += traffic.sent();
            received += traffic.received();
            store_sent += store.sent();
            stored += store.stored();
            refused += store.refused();
            if (first_refusal.empty()) first_refusal = store.first_refusal();
            store_end = std::max(store_end, my_store_end);
        }
        crew.sync();
    });

    crew.sync();
    const ProcSample before = target.sample();
    const std::uint64_t redis_before = target.redis_used_memory();
    phase_start = now_ns();
    store_start = phase_start + Clock(warmup_s * 1e9);
    crew.sync();
    crew.sync();
    const ProcSample after = target.sample();
    const std::uint64_t redis_after = target.redis_used_memory(); // every stored message still queued
    crew.join();

    const double store_secs = store_end > store_start ? double(store_end - store_start) / 1e9 : NAN;
    rep.figure("store_seconds", store_secs, "");
    rep.figure("stored", double(stored), "");
    rep.figure("refused", double(refused), "");
    rep.figure("stored_per_s", double(stored) / store_secs,
               fmt::format("stored={}/s", human_rate(double(stored) / store_secs)));
    // Includes the background traffic: an upper bound of the cost of one stored message.
    rep.server_cpu(before, after, double(stored), "stored");
    rep.latency("busy_", busy_latency);
    rep.latency("all_", all_latency, false);
    // Send -> ok_stored: the commit latency a sender sees (window-full queueing included).
    rep.latency("ack_", ack_latency);
    rep.figure("messages_sent", double(sent), "");
    rep.figure("messages_received", double(received), "");
    if (redis_before > 0 && redis_after > 0 && stored > 0) {
        const double per = (double(redis_after) - double(redis_before)) / double(stored);
        rep.figure("redis_used_memory_bytes", double(redis_after), "");
        rep.figure("redis_bytes_per_stored", per,
                   fmt::format("redis_per_stored={:.0f}B ({}B text)", per, o.text_bytes));
    }
    if (target.daemon) {
        const std::string fs = volatile_fs(target.daemon->state_dir());
        if (!fs.empty()) {
            rep.note("state_fs", fs);
            rep.figure("state_on_volatile_fs", 1,
                       fmt::format("state_dir on {}: fsync is free, set TMPDIR to a disk", fs));
        }
    }
    if (crew.failed()) rep.fail(crew.error());
    if (refused > 0)
        rep.fail(fmt::format("{} of {} offline messages not stored; first: {}", refused, store_sent, first_refusal));
    if (stored != std::uint64_t(o.store_messages))
        rep.fail(fmt::format("{} of {} offline messages stored", stored, o.store_messages));
    if (received != sent) rep.fail(fmt::format("{} of {} online messages lost", sent - received, sent));
    if (busy_latency.count() == 0) rep.fail("no online message was timed while the store was busy");
    if (!target.alive()) rep.fail("the daemon died");
    return rep;
}

} // namespace confab::bench
