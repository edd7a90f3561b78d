// The user's side of the client: where input lines come from and where
// output lines go. Two implementations: a plain one for scripted use (stdin
// not a terminal: no prompts, no escapes, stdout flushed per line) and a
// GNU readline one for people (prompts, line editing, history, echo-less
// password entry, events printed above the line being typed).
#pragma once

#include "cli/line_style.hpp"

#include <ctime>
#include <deque>
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
    std::optional<std::string> take_line() {
        if (lines_.empty()) return std::nullopt;
        std::string line = std::move(lines_.front());
        lines_.pop_front();
        return line;
    }
    // No line waiting and none will come.
    bool at_eof() const noexcept { return eof_ && lines_.empty(); }

    // One line of output on stdout, styled as `kind` (starting with user `name`).
    void print(std::string_view line, LineKind kind = LineKind::reply, std::string_view name = {}) {
        write_out(style_line(line, kind, name, style_, std::time(nullptr)));
    }
    // One `error: ...` line on stderr.
    void print_error(std::string_view line) { write_err(style_error(line, style_)); }
    // Time stamps and colours; the default (none) is what scripts get.
    void set_style(LineStyle style) noexcept { style_ = style; }
    // The window size changed (SIGWINCH).
    virtual void resized() {}
    // A user name seen in a list or in traffic, offered by tab completion.
    virtual void learn_name(std::string_view) {}
    // Ctrl-C: throws away the line being typed; false if there was none.
    virtual bool discard_typed_line() { return false; }

protected:
    virtual void write_out(std::string_view line) = 0;
    virtual void write_err(std::string_view line) = 0;

    LineStyle style_;
    std::deque<std::string> lines_; // complete input lines not taken yet
    bool eof_ = false;              // stdin has ended
};

std::unique_ptr<Terminal> make_plain_terminal();
// `history_path`: where the command history is kept between runs ("" = nowhere).
std::unique_ptr<Terminal> make_readline_terminal(std::string history_path);

} // namespace confab::cli
