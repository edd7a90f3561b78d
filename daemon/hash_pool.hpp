// Worker threads that check passwords against crypt(3) hashes, which takes
// milliseconds and must never run on the reactor thread. Results come back
// through an eventfd the reactor polls; the queue is bounded so a login flood
// is refused (LoginOutcome::unavailable) rather than buffered without limit.
// submit()/take_results()/event_fd() are for the reactor thread; the workers
// are internal.
#pragma once

#include "proto/io/unique_fd.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
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

    int event_fd() const noexcept { return event_.get(); }
    bool submit(Job job);             // false when max_queued jobs are already waiting
    std::vector<Done> take_results(); // drains the eventfd counter too

private:
    void work();

    UniqueFd event_;
    std::size_t max_queued_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> queue_;
    std::vector<Done> done_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

} // namespace confab
