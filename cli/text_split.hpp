// A text longer than one message can carry, cut into messages: at the last
// blank before the limit when there is one, otherwise at the last whole
// UTF-8 character, never inside one. Pure, unit-tested.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace confab::cli {

// The most parts one line is split into: a paste that needs more is refused.
inline constexpr std::size_t max_text_parts = 16;

// `text` (valid UTF-8) in pieces of at most `max_bytes` bytes, none empty;
// blanks at a cut are dropped. Views into `text`.
std::vector<std::string_view> split_text(std::string_view text, std::size_t max_bytes);

} // namespace confab::cli
