// Scripted mode: stdin is a pipe or file driven by another program.
#include "cli/terminal.hpp"

#include <cerrno>
#include <cstdio>
#include <deque>
#include <unistd.h>

namespace confab::cli {
namespace {

// Longer lines are cut here; no valid command comes close (text is at most
// 16000 bytes), so the cut line is still refused as too long rather than
// growing memory without bound.
constexpr std::size_t max_line = 16384;

class PlainTerminal final : public Terminal {
public:
    bool interactive() const noexcept override { return false; }
    void set_input(InputMode mode, std::string_view) override { mode_ = mode; }
    bool wants_read() const noexcept override { return mode_ != InputMode::none && !eof_ && lines_.empty(); }

    void on_readable() override {
        char buf[4096];
        ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        if (n <= 0) { // an unreadable stdin ends the input like end of file
            if (!partial_.empty()) push_partial();
            eof_ = true;
            return;
        }
        for (ssize_t i = 0; i < n; ++i) {
            if (buf[i] == '\n')
                push_partial();
            else if (partial_.size() < max_line)
                partial_ += buf[i];
        }
    }

private:
    void write_out(std::string_view line) override { write_line(stdout, line); }
    void write_err(std::string_view line) override {
        std::fflush(stdout); // keep the two streams in order for a reader merging them
        write_line(stderr, line);
    }

    void push_partial() {
        if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back(); // CRLF input
        lines_.push_back(std::move(partial_));
        partial_.clear();
    }
    static void write_line(std::FILE* f, std::string_view line) {
        std::fwrite(line.data(), 1, line.size(), f);
        std::fputc('\n', f);
        std::fflush(f); // the driving program waits for whole lines
    }

    InputMode mode_ = InputMode::none;
    std::string partial_;
};

} // namespace

std::unique_ptr<Terminal> make_plain_terminal() {
    return std::make_unique<PlainTerminal>();
}

} // namespace confab::cli
