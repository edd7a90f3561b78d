#include "hash_pool.hpp"

#include "core/credentials.hpp"

#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <system_error>

namespace confab {

HashPool::HashPool(std::size_t threads, std::size_t max_queued)
    : event_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), max_queued_(max_queued) {
    if (!event_) throw std::system_error(errno, std::generic_category(), "eventfd");
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

HashPool::~HashPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    for (auto& j : queue_) explicit_bzero(j.password.data(), j.password.size());
}

bool HashPool::submit(Job job) {
    {
        std::lock_guard lock(mutex_);
        if (queue_.size() >= max_queued_) {
            explicit_bzero(job.password.data(), job.password.size());
            return false;
        }
        queue_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
}

std::vector<HashPool::Done> HashPool::take_results() {
    std::uint64_t counter;
    while (::read(event_.get(), &counter, sizeof counter) < 0 && errno == EINTR) {}
    std::lock_guard lock(mutex_);
    std::vector<Done> out;
    out.swap(done_);
    return out;
}

void HashPool::work() {
    // Hashing is deliberately slow; give the reactor thread the CPU first so chat
    // traffic keeps flowing during a login storm (per-thread nice on Linux).
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        bool ok = crypt_matches(job.hash, job.password);
        explicit_bzero(job.password.data(), job.password.size());
        {
            std::lock_guard lock(mutex_);
            done_.push_back({job.conn, job.job, ok});
        }
        std::uint64_t one = 1;
        while (::write(event_.get(), &one, sizeof one) < 0 && errno == EINTR) {}
    }
}

} // namespace confab
