#include "crew.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace confab::bench {
using namespace std::chrono_literals;

void* map_shared(std::size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error(fmt::format("mmap of shared memory: {}", std::strerror(errno)));
    return p;
}

void unmap_shared(void* p, std::size_t bytes) {
    ::munmap(p, bytes);
}

Crew::~Crew() {
    if (in_child_) return;
    join();
}

void Crew::sync() {
    if (barrier_)
        barrier_->arrive_and_wait();
    else
        process_sync();
}

void Crew::start_processes(const std::function<void(int)>& fn) {
    barrier_.reset();
    parent_ = ::getpid();
    for (int t = 0; t < workers_; ++t) {
        const pid_t pid = ::fork();
        if (pid < 0) {
            fail(fmt::format("fork of client process {}: {}", t, std::strerror(errno)));
            shared_->broken = true;
            return;
        }
        if (pid == 0) {
            in_child_ = true;
            try {
                fn(t);
            } catch (const std::exception& e) {
                fail(fmt::format("client process {}: {}", t, e.what()));
                shared_->broken = true;
            }
            ::_exit(0); // not exit(): the parent's daemons and buffers are not ours
        }
        children_.push_back(pid);
        child_exited_.push_back(false);
    }
}

bool Crew::reap_exited() {
    bool gone = false;
    for (std::size_t i = 0; i < children_.size(); ++i) {
        if (child_exited_[i]) {
            gone = true;
            continue;
        }
        int status = 0;
        if (::waitpid(children_[i], &status, WNOHANG) == children_[i]) {
            child_exited_[i] = true;
            gone = true;
        }
    }
    return gone;
}

void Crew::process_sync() {
    Shared& s = *shared_;
    if (s.broken) return;
    const std::uint32_t gen = s.generation.load();
    const std::uint32_t parties = std::uint32_t(workers_) + 1;
    if (s.arrived.fetch_add(1) + 1 == parties) {
        s.arrived = 0;
        s.generation.fetch_add(1);
        return;
    }
    // Phases are seconds long: polling every millisecond costs nothing measurable.
    while (s.generation.load() == gen && !s.broken) {
        if (in_child_) {
            if (::getppid() != parent_) ::_exit(1);
        } else if (reap_exited() && s.generation.load() == gen) {
            fail("a client process exited before the workload ended");
            s.broken = true;
        }
        std::this_thread::sleep_for(1ms);
    }
}

void Crew::join() {
    for (auto& th : threads_) th.join();
    threads_.clear();
    for (std::size_t i = 0; i < children_.size(); ++i) {
        if (child_exited_[i]) continue;
        int status = 0;
        ::waitpid(children_[i], &status, 0);
        child_exited_[i] = true;
    }
}

void Crew::fail(const std::string& why) {
    Shared& s = *shared_;
    if (!s.error_claimed.exchange(true)) {
        const std::size_t n = std::min(why.size(), sizeof s.error - 1);
        std::memcpy(s.error, why.data(), n);
        s.error[n] = '\0';
        s.error_written = true;
    }
    s.failed = true;
}

std::string Crew::error() const {
    return shared_->error_written.load() ? std::string(shared_->error) : std::string();
}

} // namespace confab::bench
