#include "cli/signals.hpp"

#include <csignal>
#include <sys/signalfd.h>
#include <system_error>
#include <unistd.h>

namespace confab::cli {

SignalWatch::SignalWatch(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : signals) sigaddset(&set, s);
    if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0)
        throw std::system_error(errno, std::generic_category(), "sigprocmask");
    fd_ = UniqueFd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd_) throw std::system_error(errno, std::generic_category(), "signalfd");
}

std::vector<int> SignalWatch::take() {
    std::vector<int> received;
    signalfd_siginfo info;
    while (::read(fd_.get(), &info, sizeof info) == ssize_t(sizeof info)) received.push_back(int(info.ssi_signo));
    return received;
}

} // namespace confab::cli
