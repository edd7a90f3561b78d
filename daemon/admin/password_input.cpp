#include "admin/password_input.hpp"

#include "proto/io/unique_fd.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstring>
#include <iostream>
#include <optional>

namespace confab::admin {

namespace {

// What the signal handler needs to give the terminal its echo back. Written
// before the handlers are installed and after they are removed, so the
// handler only ever reads settled values.
int echo_tty = -1;
termios echo_saved{};

constexpr std::array<int, 4> restoring_signals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// Async-signal-safe: tcsetattr, write, sigaction and raise are all on the POSIX list.
extern "C" void restore_echo_and_die(int sig) {
    ::tcsetattr(echo_tty, TCSANOW, &echo_saved);
    [[maybe_unused]] auto n = ::write(echo_tty, "\n", 1);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(sig, &dfl, nullptr);
    ::raise(sig); // the default action, so the shell sees the signal as usual
}

// Echo off for its lifetime; restored on return, exception or signal.
class EchoOff {
public:
    explicit EchoOff(int tty) : tty_(tty) {
        if (::tcgetattr(tty, &saved_) != 0) return;
        echo_tty = tty;
        echo_saved = saved_;
        struct sigaction sa {};
        sa.sa_handler = restore_echo_and_die;
        sigemptyset(&sa.sa_mask);
        for (std::size_t i = 0; i < restoring_signals.size(); ++i)
            ::sigaction(restoring_signals[i], &sa, &previous_[i]);
        termios quiet = saved_;
        quiet.c_lflag &= ~tcflag_t(ECHO);
        quiet.c_lflag |= ECHONL; // the user's Enter still moves to the next line
        active_ = ::tcsetattr(tty, TCSAFLUSH, &quiet) == 0;
    }
    ~EchoOff() {
        if (!active_) return;
        ::tcsetattr(tty_, TCSAFLUSH, &saved_);
        for (std::size_t i = 0; i < restoring_signals.size(); ++i)
            ::sigaction(restoring_signals[i], &previous_[i], nullptr);
    }
    EchoOff(const EchoOff&) = delete;
    EchoOff& operator=(const EchoOff&) = delete;

private:
    int tty_;
    termios saved_{};
    std::array<struct sigaction, restoring_signals.size()> previous_{};
    bool active_ = false;
};

void say(int tty, const char* text) {
    [[maybe_unused]] auto n = ::write(tty, text, std::strlen(text));
}

// One line from the terminal with echo off; empty optional at end of input.
std::optional<std::string> read_hidden(int tty, const char* prompt) {
    std::string line;
    bool got_newline = false;
    {
        EchoOff quiet(tty); // before the prompt: what is typed after seeing it never echoes
        say(tty, prompt);
        char ch;
        for (;;) {
            ssize_t n = ::read(tty, &ch, 1);
            if (n < 0 && errno == EINTR) continue;
            if (n != 1) break;
            if (ch == '\n') {
                got_newline = true;
                break;
            }
            line.push_back(ch);
        }
    }
    if (!got_newline && line.empty()) return std::nullopt;
    return line;
}

} // namespace

std::string read_new_password(PasswordSource source) {
    if (source == PasswordSource::standard_input) {
        std::string password;
        if (!std::getline(std::cin, password)) throw PasswordInputError("no password on standard input");
        if (!password.empty() && password.back() == '\r') password.pop_back();
        return password;
    }
    UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
    if (!tty) throw PasswordInputError("no terminal to ask for the password; use --stdin");
    auto first = read_hidden(tty.get(), "New password: ");
    auto second = first ? read_hidden(tty.get(), "Retype new password: ") : std::nullopt;
    if (!first || !second) throw PasswordInputError("no password entered");
    if (*first != *second) throw PasswordInputError("passwords do not match; nothing changed");
    return *first;
}

} // namespace confab::admin
