// How an output line looks on a terminal: the local time in front of
// incoming lines, each user name in its own stable colour, errors in red,
// server notices dim. Pure (the time is passed in), so it is unit-tested; the
// plain terminal of scripted mode never uses it.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace confab::cli {

enum class LineKind {
    reply,  // output of the user's own command; "error: ..." replies are errors
    event,  // something from another user, shown with the time it arrived
    dated,  // an event that carries its own date (offline messages): no arrival time
    notice, // from the server or the client itself (presence, warnings, chats starting)
};

enum class ColorMode { auto_detect, always, never };

// auto_detect: colour when stdout is a terminal and NO_COLOR is unset or empty.
bool color_wanted(ColorMode mode, bool stdout_is_tty, const char* no_color_env) noexcept;

struct LineStyle {
    bool timestamps = false;
    bool color = false;
};

// `name` is the user the line starts with ("" if none), coloured by name_color.
std::string style_line(std::string_view line, LineKind kind, std::string_view name, const LineStyle& style,
                       std::time_t now);
// An `error: ...` line, in red when colour is on.
std::string style_error(std::string_view line, const LineStyle& style);
// The SGR colour number of a user name: the same name always gets the same
// colour, and red (kept for errors) is never used.
int name_color(std::string_view name) noexcept;

} // namespace confab::cli
