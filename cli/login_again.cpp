#include "cli/login_again.hpp"

#include "cli/poll_set.hpp"
#include "cli/signals.hpp"

#include <cerrno>
#include <csignal>
#include <system_error>
#include <unistd.h>

namespace confab::cli {

bool ask_to_log_in_again(Terminal& terminal) {
    SignalWatch signals({SIGINT, SIGTERM, SIGHUP});
    terminal.set_input(InputMode::text, "Press Enter to log in again, Ctrl-D to quit: ");
    for (;;) {
        if (terminal.take_line()) {
            terminal.set_input(InputMode::none, {});
            return true;
        }
        if (terminal.at_eof()) return false;
        PollSet polls;
        std::size_t signal_poll = polls.add(signals.fd(), POLLIN);
        std::size_t input_poll = polls.add(STDIN_FILENO, POLLIN);
        if (polls.wait(-1) < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "poll");
        }
        if (polls.revents(signal_poll) & POLLIN) {
            terminal.set_input(InputMode::none, {});
            terminal.print("");
            return false;
        }
        if (polls.revents(input_poll)) terminal.on_readable();
    }
}

} // namespace confab::cli
