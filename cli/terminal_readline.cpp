// Interactive mode: GNU readline's callback interface, so the event loop
// keeps control and can print incoming events while a line is being typed.
#include "cli/completion.hpp"
#include "cli/terminal.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

namespace confab::cli {
namespace {

constexpr std::size_t max_secret = 1024;
constexpr int history_size = 500;

class ReadlineTerminal;
// readline calls back a plain function; there is only one terminal.
ReadlineTerminal* active_terminal = nullptr;

class ReadlineTerminal final : public Terminal {
public:
    explicit ReadlineTerminal(std::string history_path) : history_path_(std::move(history_path)) {
        active_terminal = this;
        // Signals arrive through the event loop's signalfd, not readline's handlers.
        rl_catch_signals = 0;
        rl_catch_sigwinch = 0;
        using_history();
        stifle_history(history_size);
        if (!history_path_.empty()) read_history(history_path_.c_str()); // none yet is fine
        // Completion of commands and user names only: never file names.
        rl_attempted_completion_function = &ReadlineTerminal::complete;
        rl_completion_entry_function = &ReadlineTerminal::no_entries;
        rl_basic_word_break_characters = const_cast<char*>(" \t");
    }
    ~ReadlineTerminal() override {
        set_input(InputMode::none, {});
        save_history();
        active_terminal = nullptr;
    }
    ReadlineTerminal(const ReadlineTerminal&) = delete;
    ReadlineTerminal& operator=(const ReadlineTerminal&) = delete;

    bool interactive() const noexcept override { return true; }

    void set_input(InputMode mode, std::string_view prompt) override {
        if (mode == mode_ && prompt == prompt_) return;
        leave_mode();
        mode_ = mode;
        prompt_ = prompt;
        if (editing()) {
            rl_callback_handler_install(prompt_.c_str(), &ReadlineTerminal::on_line);
            if (mode_ == InputMode::command && !kept_line_.empty()) {
                // What was being typed when the last session ended.
                rl_insert_text(kept_line_.c_str());
                kept_line_.clear();
                rl_redisplay();
            }
        } else if (mode_ == InputMode::secret) {
            hide_input();
            show_secret_prompt();
        }
    }

    bool wants_read() const noexcept override { return mode_ != InputMode::none && !eof_ && lines_.empty(); }

    void on_readable() override {
        if (editing())
            rl_callback_read_char();
        else if (mode_ == InputMode::secret)
            read_secret();
    }

    void write_out(std::string_view line) override { print_above(stdout, line); }
    void write_err(std::string_view line) override { print_above(stderr, line); }

    void resized() override {
        if (editing()) rl_resize_terminal();
    }

    // Commands only (never the password, which is not read through readline),
    // in a file only the user can read, in a directory only the user can enter.
    void save_history() {
        if (history_path_.empty() || history_length == 0) return;
        for (std::size_t slash = history_path_.find('/', 1); slash != std::string::npos;
             slash = history_path_.find('/', slash + 1))
            ::mkdir(history_path_.substr(0, slash).c_str(), 0700); // existing ones stay as they are
        int fd = ::open(history_path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) return;
        ::fchmod(fd, 0600);
        ::close(fd);
        write_history(history_path_.c_str());
    }

    void learn_name(std::string_view name) override { names_.add(name); }

    bool discard_typed_line() override {
        if (!editing()) return false;
        // Keys typed before the Ctrl-C may still wait in the tty: they are part of the line.
        pollfd in{STDIN_FILENO, POLLIN, 0};
        for (int n = 0; n < 4096 && editing() && ::poll(&in, 1, 0) > 0 && (in.revents & POLLIN); ++n)
            rl_callback_read_char();
        if (!editing() || rl_end == 0) return false;
        // Like a shell: the line stays visible with the ^C the tty echoed, a fresh prompt below.
        std::fputc('\n', stdout);
        rl_replace_line("", 0);
        rl_on_new_line();
        rl_redisplay();
        return true;
    }

private:
    bool editing() const noexcept { return mode_ == InputMode::text || mode_ == InputMode::command; }

    // readline's completion hook: candidates for the word before the cursor.
    static char** complete(const char*, int, int end) {
        rl_attempted_completion_over = 1; // no fallback to file names, even with no match
        if (mode_of_active() != InputMode::command) return nullptr;
        candidates_ = completions(std::string_view(rl_line_buffer, std::size_t(end)), active_terminal->names_);
        if (candidates_.empty()) return nullptr;
        return rl_completion_matches("", &ReadlineTerminal::next_candidate);
    }
    static char* next_candidate(const char*, int state) {
        static std::size_t next = 0;
        if (state == 0) next = 0;
        if (next >= candidates_.size()) return nullptr;
        return strdup(candidates_[next++].c_str());
    }
    static char* no_entries(const char*, int) { return nullptr; }
    static InputMode mode_of_active() { return active_terminal ? active_terminal->mode_ : InputMode::none; }

    static void on_line(char* raw) {
        ReadlineTerminal& self = *active_terminal;
        if (!raw) { // Ctrl-D on an empty line; readline has already moved to a new line
            self.eof_ = true;
            self.stop_editing();
            return;
        }
        std::string line(raw);
        std::free(raw);
        if (self.mode_ == InputMode::command && !line.empty()) add_history(line.c_str());
        self.lines_.push_back(std::move(line));
        if (self.mode_ == InputMode::text) self.stop_editing(); // one line only
    }

    void stop_editing() {
        rl_callback_handler_remove(); // also gives the terminal its settings back
        mode_ = InputMode::none;
        prompt_.clear();
    }

    void leave_mode() {
        if (editing()) {
            if (mode_ == InputMode::command) kept_line_.assign(rl_line_buffer, std::size_t(rl_end));
            // Wipe the prompt and any half-typed line before handing the terminal back.
            rl_set_prompt("");
            rl_replace_line("", 0);
            rl_redisplay();
            stop_editing();
        } else if (mode_ == InputMode::secret) {
            restore_echo();
            std::fputc('\n', stdout);
            std::fflush(stdout);
            secret_.clear();
            mode_ = InputMode::none;
        }
    }

    // Canonical mode stays on, so the kernel still handles backspace and ^U;
    // ECHONL moves to a new line on Enter even though the keys are not echoed.
    void hide_input() {
        if (tcgetattr(STDIN_FILENO, &saved_termios_) != 0) return;
        termios quiet = saved_termios_;
        quiet.c_lflag &= ~tcflag_t(ECHO);
        quiet.c_lflag |= ECHONL;
        echo_hidden_ = tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
    }
    void restore_echo() {
        if (echo_hidden_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios_);
        echo_hidden_ = false;
    }
    void show_secret_prompt() {
        std::fwrite(prompt_.data(), 1, prompt_.size(), stdout);
        std::fflush(stdout);
    }

    void read_secret() {
        char buf[256];
        ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        if (n <= 0) { // Ctrl-D: no password
            eof_ = true;
            leave_mode();
            return;
        }
        for (ssize_t i = 0; i < n; ++i) {
            if (buf[i] == '\n') {
                restore_echo(); // ECHONL has already moved to the next line
                mode_ = InputMode::none;
                prompt_.clear();
                lines_.push_back(std::move(secret_));
                secret_.clear();
                return;
            }
            if (secret_.size() < max_secret) secret_ += buf[i];
        }
    }

    // Prints a line above the prompt and redraws the half-typed input intact.
    void print_above(std::FILE* f, std::string_view line) {
        if (f == stderr) std::fflush(stdout);
        if (editing()) {
            int point = rl_point;
            std::string typed(rl_line_buffer, std::size_t(rl_end));
            rl_save_prompt();
            rl_replace_line("", 0);
            rl_redisplay();
            write_line(f, line);
            rl_restore_prompt();
            rl_replace_line(typed.c_str(), 0);
            rl_point = point;
            rl_forced_update_display();
        } else if (mode_ == InputMode::secret) {
            std::fputc('\n', stdout); // off the prompt line, then ask again below
            write_line(f, line);
            show_secret_prompt();
        } else {
            write_line(f, line);
        }
    }
    static void write_line(std::FILE* f, std::string_view line) {
        std::fwrite(line.data(), 1, line.size(), f);
        std::fputc('\n', f);
        std::fflush(f);
    }

    InputMode mode_ = InputMode::none;
    std::string prompt_;
    std::string secret_;
    std::string history_path_;
    KnownNames names_;
    static inline std::vector<std::string> candidates_; // of the completion in progress
    std::string kept_line_;                             // half-typed command line kept for the next command prompt
    termios saved_termios_{};
    bool echo_hidden_ = false;
};

} // namespace

std::unique_ptr<Terminal> make_readline_terminal(std::string history_path) {
    return std::make_unique<ReadlineTerminal>(std::move(history_path));
}

} // namespace confab::cli
