// Worker threads that check passwords against crypt(3) hashes, which takes
// milliseconds and must never run on the reactor thread. Jobs and results go
// through a CompletionQueue: bounded, so a login flood is refused
// (LoginOutcome::unavailable) rather than buffered, and answered through an
// eventfd the reactor polls.
// submit()/take_results()/event_fd() are for the reactor thread; the workers
// are internal.
#pragma once

#include "completion_queue.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace confab {

class HashPool {
public:
    struct Job {
        std::uint64_t conn;
        std::uint64_t job;
        std::string hash;
        std::string password; // wiped after use
    };
    struct Done {
        std::uint64_t conn;
        std::uint64_t job;
        bool ok;
    };

    HashPool(std::size_t threads, std::size_t max_queued);
    ~HashPool();
    HashPool(const HashPool&) = delete;
    HashPool& operator=(const HashPool&) = delete;

    int event_fd() const noexcept { return queue_.event_fd(); }
    bool submit(Job job);             // false when max_queued jobs are already waiting
    std::vector<Done> take_results(); // drains the eventfd counter too

private:
    void work();

    CompletionQueue<Job, Done> queue_;
    std::vector<std::thread> threads_;
};

} // namespace confab
