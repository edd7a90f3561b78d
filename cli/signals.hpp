// Signals as readable events: the ones the client cares about are blocked
// and delivered through a signalfd, so they are handled in the event loop
// instead of interrupting it (readline's own handlers are switched off).
#pragma once

#include "proto/io/unique_fd.hpp"

#include <initializer_list>
#include <vector>

namespace confab::cli {

class SignalWatch {
public:
    explicit SignalWatch(std::initializer_list<int> signals);
    int fd() const noexcept { return fd_.get(); }
    // The signals received since the last call.
    std::vector<int> take();

private:
    UniqueFd fd_;
};

} // namespace confab::cli
