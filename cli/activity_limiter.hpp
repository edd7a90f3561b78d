// When to tell the server that the user chats privately (PrivateActivity):
// the first private text is reported at once, later ones at most once per
// window, and the last one of a burst is reported when its window ends, so the
// server never lags more than one window behind the user. A held-back report
// also goes out at once when the server warns of the idle timeout (timeouts
// shorter than the window). Pure, clock passed in.
#pragma once

#include <chrono>
#include <optional>

namespace confab::cli {

class ActivityLimiter {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr auto window = std::chrono::seconds(10);

    // The user sent private text at `now`; true if the report goes out now.
    bool on_activity(Clock::time_point now) {
        if (!last_sent_ || now - *last_sent_ >= window) {
            last_sent_ = now;
            pending_ = false;
            return true;
        }
        pending_ = true;
        return false;
    }
    // When a held-back report is due, if one is.
    std::optional<Clock::time_point> deadline() const {
        if (!pending_) return std::nullopt;
        return *last_sent_ + window;
    }
    // True if a held-back report is due at `now` (and counts it as sent).
    bool due(Clock::time_point now) {
        if (!pending_ || now < *last_sent_ + window) return false;
        last_sent_ = now;
        pending_ = false;
        return true;
    }

    // The server warned of the idle timeout: true if a held-back report should
    // answer it now (and counts it as sent).
    bool take_pending(Clock::time_point now) {
        if (!pending_) return false;
        last_sent_ = now;
        pending_ = false;
        return true;
    }

private:
    std::optional<Clock::time_point> last_sent_;
    bool pending_ = false;
};

} // namespace confab::cli
