// A child process the bench started (confabd, redis-server): whether it still
// runs, and stopping it with a bounded wait. One place for the waitpid
// bookkeeping every launcher needs.
#pragma once

#include <sys/types.h>

namespace confab::bench {

class ChildProcess {
public:
    // The child fork() returned; resets what was known of an earlier one.
    void started(pid_t pid) noexcept;
    pid_t pid() const noexcept { return pid_; }
    // Reaps it if it has exited.
    bool alive() noexcept;
    // SIGTERM, up to wait_s for it to exit, then SIGKILL. Returns its exit status
    // (128 + signal if a signal ended it), or -1 if it had to be killed or never ran.
    int stop(double wait_s);

private:
    pid_t pid_ = -1;
    bool reaped_ = false;
    int status_ = 0;
};

} // namespace confab::bench
