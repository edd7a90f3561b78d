// The little JSON confabctl --json prints: one object per line, written field
// by field, strings escaped (control characters as \u00XX; UTF-8 passes through).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace confab::ctl {

std::string json_string(std::string_view s);

class JsonObject {
public:
    JsonObject& field(std::string_view key, std::string_view value);
    JsonObject& field(std::string_view key, const char* value) { return field(key, std::string_view(value)); }
    JsonObject& field(std::string_view key, std::uint64_t value);
    JsonObject& field(std::string_view key, bool value);
    JsonObject& raw(std::string_view key, std::string_view json); // an already encoded value
    std::string str() const { return "{" + body_ + "}"; }

private:
    void key(std::string_view k);
    std::string body_;
};

} // namespace confab::ctl
