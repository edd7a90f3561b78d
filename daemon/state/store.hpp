// Durable state in SQLite (WAL): offline messages, block lists, running
// lockouts and each user's trusted addresses. open() and load() run once at start-up on the main thread; after
// start(), a single storage thread owns the connection. The reactor submits
// operations without waiting through a bounded CompletionQueue; the thread
// commits everything that queued up while the previous commit ran as one
// transaction (group commit) and reports completions through its eventfd.
//
// Durability: journal_mode=WAL with synchronous=FULL, so a completed commit
// has been fsynced; a power loss loses nothing the sender was told is stored.
#pragma once

#include "completion_queue.hpp"
#include "core/store_ops.hpp"
#include "latency_histogram.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

struct sqlite3;

namespace confab {

struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Store {
public:
    static constexpr int schema_version = 3;

    struct Completion {
        std::uint64_t tag;
        bool ok;
        std::string error;
    };

    // Opens (creating if needed) and migrates the database. Throws StoreError.
    explicit Store(const std::string& path);
    ~Store(); // commits what is queued, then stops the thread
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    StoredState load(); // start-up only, before start()
    void start();

    int event_fd() const noexcept { return queue_.event_fd(); }
    // Queues an operation. Returns false (and queues nothing) when the queue is full.
    bool submit(StoreOp op);
    std::vector<Completion> take_completions(); // drains the eventfd too

    // For status and metrics: changes waiting for the next commit, and how long commits take.
    std::size_t queue_depth() { return queue_.queued(); }
    struct CommitStats {
        LatencyHistogram latency;
        std::int64_t last_us = 0; // the last commit; 0 before the first
    };
    CommitStats commit_stats();

private:
    void run();
    void commit_batch(const std::deque<StoreOp>& batch, std::vector<Completion>& done);
    void exec(const char* sql);
    struct Statements;
    std::unique_ptr<Statements> statements_; // storage thread only

    std::string path_;
    sqlite3* db_ = nullptr;
    static constexpr std::size_t max_queued = 100'000;
    CompletionQueue<StoreOp, Completion> queue_{max_queued};
    std::thread thread_;
    std::mutex stats_mutex_;
    CommitStats stats_; // written by the storage thread, under stats_mutex_
};

} // namespace confab
