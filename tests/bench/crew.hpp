// Workers that meet the main thread at phase boundaries: main waits at each
// sync() for all workers, samples /proc, and releases them. Workers are threads
// (start), or forked processes (start_processes) when the sessions outnumber
// the file descriptors one process may hold (a cluster run past RLIMIT_NOFILE).
#pragma once

#include <atomic>
#include <barrier>
#include <cstdint>
#include <functional>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace confab::bench {

// Anonymous shared memory (MAP_SHARED) holding one T, so that worker
// processes forked after it report into the parent's copy. T: atomics and
// plain data only.
void* map_shared(std::size_t bytes);
void unmap_shared(void* p, std::size_t bytes);
template <class T>
class SharedValue {
public:
    SharedValue() : p_(new (map_shared(sizeof(T))) T{}) {}
    ~SharedValue() {
        p_->~T();
        unmap_shared(p_, sizeof(T));
    }
    SharedValue(const SharedValue&) = delete;
    SharedValue& operator=(const SharedValue&) = delete;
    T* operator->() const { return p_; }
    T& operator*() const { return *p_; }

private:
    T* p_;
};

class Crew {
public:
    explicit Crew(int workers) : workers_(workers), barrier_(std::in_place, workers + 1) {}
    ~Crew();
    Crew(const Crew&) = delete;
    Crew& operator=(const Crew&) = delete;

    void sync();
    template <class Fn>
    void start(int workers, Fn fn) {
        for (int t = 0; t < workers; ++t) threads_.emplace_back([fn, t] { fn(t); });
    }
    // Forks `workers_` processes, worker t running fn(t) and then exiting without
    // running the parent's destructors. Call it while the parent has no other
    // thread. What a worker reports must live in a SharedValue made before.
    // A worker that dies makes every sync() return at once and fails the crew.
    void start_processes(const std::function<void(int)>& fn);
    void join();
    // First failure of any worker; workers keep arriving at barriers after it.
    void fail(const std::string& why);
    bool failed() const { return shared_->failed.load(); }
    std::string error() const;

private:
    struct Shared {
        std::atomic<bool> failed{false};
        std::atomic<bool> error_claimed{false};
        std::atomic<bool> error_written{false};
        char error[1024] = {};
        // The process barrier: the last of parties to arrive bumps the generation.
        std::atomic<std::uint32_t> arrived{0};
        std::atomic<std::uint32_t> generation{0};
        std::atomic<bool> broken{false};
    };
    void process_sync();
    bool reap_exited(); // parent: true if a worker process is gone

    int workers_;
    std::optional<std::barrier<>> barrier_; // threads; empty once processes started
    std::vector<std::thread> threads_;
    std::vector<pid_t> children_;
    std::vector<bool> child_exited_;
    bool in_child_ = false;
    pid_t parent_ = 0;
    SharedValue<Shared> shared_;
};

} // namespace confab::bench
