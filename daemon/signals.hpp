// The signals confabd reads from its signalfd instead of taking them:
// SIGTERM and SIGINT stop it, SIGHUP reloads. main() blocks this set before
// any thread starts (so every thread inherits the mask) and Server reads it.
#pragma once

#include <csignal>

namespace confab {

inline sigset_t handled_signals() noexcept {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    return set;
}

} // namespace confab
