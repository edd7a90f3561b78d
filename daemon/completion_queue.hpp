// The hand-off between the reactor thread and worker threads, shared by the
// password workers (HashPool) and the storage thread (Store). The reactor
// submits jobs without waiting, and a job is refused once max_queued are
// waiting, so a flood is answered instead of buffered without limit. Workers
// take jobs and post results; the reactor hears of results through an
// eventfd in its epoll set and takes them all at once.
#pragma once

#include "proto/io/unique_fd.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

namespace confab {

template <class Job, class Result>
class CompletionQueue {
public:
    explicit CompletionQueue(std::size_t max_queued)
        : event_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), max_queued_(max_queued) {
        if (!event_) throw std::system_error(errno, std::generic_category(), "eventfd");
    }
    CompletionQueue(const CompletionQueue&) = delete;
    CompletionQueue& operator=(const CompletionQueue&) = delete;

    // ---- reactor side
    int event_fd() const noexcept { return event_.get(); }
    // Queues `job` (moving from it) unless max_queued jobs are waiting; then
    // returns false and leaves `job` as it was.
    bool submit(Job& job) {
        {
            std::lock_guard lock(mutex_);
            if (jobs_.size() >= max_queued_) return false;
            jobs_.push_back(std::move(job));
        }
        wake_.notify_one();
        return true;
    }
    // Every result posted so far, oldest first; resets the eventfd.
    std::vector<Result> take_results() {
        std::uint64_t counter;
        while (::read(event_.get(), &counter, sizeof counter) < 0 && errno == EINTR) {}
        std::vector<Result> out;
        std::lock_guard lock(mutex_);
        out.swap(results_);
        return out;
    }

    // Jobs waiting for a worker (the store: changes waiting for the next commit).
    std::size_t queued() {
        std::lock_guard lock(mutex_);
        return jobs_.size();
    }

    // ---- worker side
    // Waits for one job. Nothing once stop() is called: jobs still queued stay unstarted.
    std::optional<Job> take_one() {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return std::nullopt;
        std::optional<Job> job(std::move(jobs_.front()));
        jobs_.pop_front();
        return job;
    }
    // Waits for jobs and hands over all that are queued as one batch. After
    // stop(), what is still queued is handed over first; then it returns false.
    bool take_all(std::deque<Job>& batch) {
        batch.clear();
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return false;
        batch.swap(jobs_);
        return true;
    }
    void post(Result r) {
        {
            std::lock_guard lock(mutex_);
            results_.push_back(std::move(r));
        }
        signal();
    }
    // Posts a batch with one wake-up; empties `rs`.
    void post(std::vector<Result>& rs) {
        if (rs.empty()) return;
        {
            std::lock_guard lock(mutex_);
            for (auto& r : rs) results_.push_back(std::move(r));
        }
        rs.clear();
        signal();
    }

    // Wakes every worker for good.
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
    }
    // Once the workers have exited: visits the jobs that never started (to wipe secrets).
    template <class F>
    void for_each_unstarted(F&& f) {
        std::lock_guard lock(mutex_);
        for (Job& j : jobs_) f(j);
    }

private:
    void signal() noexcept {
        std::uint64_t one = 1;
        while (::write(event_.get(), &one, sizeof one) < 0 && errno == EINTR) {}
    }

    UniqueFd event_;
    const std::size_t max_queued_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> jobs_;
    std::vector<Result> results_;
    bool stopping_ = false;
};

} // namespace confab
