// The user's side of the client: where input lines come from and where
// output lines go. Two implementations: a plain one for scripted use (stdin
// not a terminal: no prompts, no escapes, stdout flushed per line) and a
// GNU readline one for people (prompts, line editing, history, echo-less
// password entry, events printed above the line being typed).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace confab::cli {

enum class InputMode {
    none,    // not reading: type-ahead stays in the kernel's buffer
    text,    // one line (e.g. the user name), then back to none
    secret,  // one line without echo (the password), then back to none
    command, // lines until told otherwise, kept in the history
};

class Terminal {
public:
    virtual ~Terminal() = default;

    virtual bool interactive() const noexcept = 0;
    // Starts reading in `mode` with `prompt` (prompts are shown only interactively).
    virtual void set_input(InputMode mode, std::string_view prompt) = 0;
    // Whether stdin should be polled: reading, and no complete line waiting.
    virtual bool wants_read() const noexcept = 0;
    // stdin is readable.
    virtual void on_readable() = 0;
    virtual std::optional<std::string> take_line() = 0;
    // No line waiting and none will come.
    virtual bool at_eof() const noexcept = 0;

    // One line of output on stdout / stderr.
    virtual void print(std::string_view line) = 0;
    virtual void print_error(std::string_view line) = 0;
    // The window size changed (SIGWINCH).
    virtual void resized() {}
};

std::unique_ptr<Terminal> make_plain_terminal();
std::unique_ptr<Terminal> make_readline_terminal();

} // namespace confab::cli
