// The one number parser of the daemon, the client and the tests: the whole
// string as a decimal number, or nothing. std::from_chars: no locale, no
// exceptions, no blanks, no partial match, no sign on an unsigned type.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace confab {

template <class T>
std::optional<T> parse_number(std::string_view s) noexcept {
    T value{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return value;
}

} // namespace confab
