#include "hash_pool.hpp"

#include "core/credentials.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <utility>

namespace confab {

namespace {
void wipe(std::string& secret) noexcept {
    explicit_bzero(secret.data(), secret.size());
}
} // namespace

HashPool::HashPool(std::size_t threads, std::size_t max_queued) : queue_(max_queued) {
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

HashPool::~HashPool() {
    queue_.stop();
    for (auto& t : threads_) t.join();
    queue_.for_each_unstarted([](Job& j) { wipe(j.password); });
}

bool HashPool::submit(Job job) {
    if (queue_.submit(job)) return true;
    wipe(job.password);
    return false;
}

std::vector<HashPool::Done> HashPool::take_results() {
    return queue_.take_results();
}

void HashPool::work() {
    // Hashing is deliberately slow; give the reactor thread the CPU first so chat
    // traffic keeps flowing during a login storm (per-thread nice on Linux).
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    while (auto job = queue_.take_one()) {
        bool ok = crypt_matches(job->hash, job->password);
        wipe(job->password);
        queue_.post({job->conn, job->job, ok});
    }
}

} // namespace confab
