#include "json.hpp"

#include <fmt/format.h>

namespace confab::ctl {

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7F)
                out += fmt::format("\\u{:04x}", c);
            else
                out += ch;
        }
    }
    return out + "\"";
}

void JsonObject::key(std::string_view k) {
    if (!body_.empty()) body_ += ',';
    body_ += json_string(k);
    body_ += ':';
}

JsonObject& JsonObject::field(std::string_view k, std::string_view value) {
    key(k);
    body_ += json_string(value);
    return *this;
}

JsonObject& JsonObject::field(std::string_view k, std::uint64_t value) {
    key(k);
    body_ += std::to_string(value);
    return *this;
}

JsonObject& JsonObject::field(std::string_view k, bool value) {
    key(k);
    body_ += value ? "true" : "false";
    return *this;
}

JsonObject& JsonObject::raw(std::string_view k, std::string_view json) {
    key(k);
    body_ += json;
    return *this;
}

} // namespace confab::ctl
