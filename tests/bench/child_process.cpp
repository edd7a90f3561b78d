#include "child_process.hpp"

#include <chrono>
#include <csignal>
#include <sys/wait.h>
#include <thread>

namespace confab::bench {

void ChildProcess::started(pid_t pid) noexcept {
    pid_ = pid;
    reaped_ = false;
    status_ = 0;
}

bool ChildProcess::alive() noexcept {
    if (reaped_ || pid_ <= 0) return false;
    if (::waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
    return !reaped_;
}

int ChildProcess::stop(double wait_s) {
    using namespace std::chrono_literals;
    if (pid_ <= 0) return -1;
    if (alive()) {
        ::kill(pid_, SIGTERM);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
        while (alive() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
        if (alive()) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status_, 0);
            reaped_ = true;
            return -1;
        }
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

} // namespace confab::bench
