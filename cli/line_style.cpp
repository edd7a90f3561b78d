#include "cli/line_style.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <array>
#include <ctime>
#include <string>

namespace confab::cli {
namespace {

constexpr std::string_view reset = "\x1b[0m";
constexpr std::string_view red = "\x1b[31m";
constexpr std::string_view dim = "\x1b[2m";

std::string local_hh_mm(std::time_t now) {
    try {
        return fmt::format("{:%H:%M}", fmt::localtime(now));
    } catch (const fmt::format_error&) { return "--:--"; } // beyond what the local calendar can say
}

} // namespace

bool color_wanted(ColorMode mode, bool stdout_is_tty, const char* no_color_env) noexcept {
    switch (mode) {
    case ColorMode::always: return true;
    case ColorMode::never: return false;
    case ColorMode::auto_detect: break;
    }
    return stdout_is_tty && (no_color_env == nullptr || *no_color_env == '\0');
}

int name_color(std::string_view name) noexcept {
    // Green, yellow, blue, magenta, cyan and their bright forms: no red, no
    // black or white, which vanish on some backgrounds.
    static constexpr std::array<int, 10> palette{32, 33, 34, 35, 36, 92, 93, 94, 95, 96};
    std::uint32_t h = 2166136261u; // FNV-1a: stable across runs and machines
    for (unsigned char c : name) h = (h ^ c) * 16777619u;
    return palette[h % palette.size()];
}

std::string style_error(std::string_view line, const LineStyle& style) {
    if (!style.color) return std::string(line);
    return fmt::format("{}{}{}", red, line, reset);
}

std::string style_line(std::string_view line, LineKind kind, std::string_view name, const LineStyle& style,
                       std::time_t now) {
    if (kind == LineKind::reply && line.starts_with("error: ")) return style_error(line, style);
    std::string out;
    bool incoming = kind == LineKind::event || kind == LineKind::notice;
    if (style.timestamps && incoming) {
        if (style.color) out += dim;
        out += local_hh_mm(now);
        if (style.color) out += reset;
        out += ' ';
    }
    if (!style.color) {
        out += line;
        return out;
    }
    if (kind == LineKind::notice) {
        fmt::format_to(std::back_inserter(out), "{}{}{}", dim, line, reset);
        return out;
    }
    if (!name.empty() && line.starts_with(name)) {
        fmt::format_to(std::back_inserter(out), "\x1b[{}m{}{}", name_color(name), name, reset);
        line.remove_prefix(name.size());
    }
    out += line;
    return out;
}

} // namespace confab::cli
