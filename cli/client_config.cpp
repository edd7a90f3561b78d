#include "cli/client_config.hpp"

#include "proto/names.hpp"

#include <toml.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace confab::cli {
namespace {

std::string xdg_path(const char* xdg, const char* home, const char* home_default, const char* file) {
    if (xdg && *xdg) return fmt::format("{}/confab/{}", xdg, file);
    if (home && *home) return fmt::format("{}/{}/confab/{}", home, home_default, file);
    return {};
}

std::string where_of(const toml::value& v, const std::string& origin) {
    const auto loc = v.location();
    if (loc.line() == 0) return origin;
    return fmt::format("{}:{}", origin, loc.line());
}

// Sets the option that `key` names from its TOML value; the error text if the key or the value is wrong.
std::optional<std::string> apply_key(Options& o, const std::string& key, const toml::value& value,
                                     const std::string& origin) {
    const std::string where = where_of(value, origin);
    auto wrong = [&](std::string_view what) { return fmt::format("{}: '{}' must be {}", where, key, what); };
    if (key == "host") {
        if (!value.is_string() || value.as_string().str.empty()) return wrong("a non-empty string");
        o.host = value.as_string().str;
    } else if (key == "port") {
        if (!value.is_integer() || value.as_integer() < 1 || value.as_integer() > 65535)
            return wrong("an integer from 1 to 65535");
        o.port = std::uint16_t(value.as_integer());
    } else if (key == "user") {
        if (!value.is_string() || !proto::is_valid_user_name(value.as_string().str))
            return wrong(fmt::format("a user name ({})", proto::user_name_rule));
        o.user = value.as_string().str;
    } else if (key == "tls") {
        if (!value.is_boolean()) return wrong("true or false");
        o.tls = value.as_boolean();
    } else if (key == "ca") {
        if (!value.is_string() || value.as_string().str.empty()) return wrong("a file name");
        o.ca_file = value.as_string().str;
    } else if (key == "fingerprint") {
        std::optional<Fingerprint> f;
        if (value.is_string()) f = parse_fingerprint(value.as_string().str);
        if (!f) return wrong("a SHA-256 fingerprint (64 hex digits, colons allowed)");
        o.fingerprint = f;
    } else if (key == "color" || key == "colour") {
        std::string v = value.is_string() ? value.as_string().str : "";
        if (v == "auto")
            o.color = ColorMode::auto_detect;
        else if (v == "always")
            o.color = ColorMode::always;
        else if (v == "never")
            o.color = ColorMode::never;
        else
            return wrong("\"auto\", \"always\" or \"never\"");
    } else if (key == "timestamps") {
        if (!value.is_boolean()) return wrong("true or false");
        o.timestamps = value.as_boolean();
    } else {
        return fmt::format("{}: unknown key '{}'", where, key);
    }
    return std::nullopt;
}

} // namespace

std::string config_file_path(const char* xdg_config_home, const char* home) {
    return xdg_path(xdg_config_home, home, ".config", "confab.toml");
}

std::string history_file_path(const char* xdg_state_home, const char* home) {
    return xdg_path(xdg_state_home, home, ".local/state", "history");
}

std::optional<std::string> apply_config_text(const std::string& text, const std::string& origin, Options& options) {
    toml::value doc;
    try {
        std::istringstream in(text);
        doc = toml::parse(in, origin);
    } catch (const std::exception& e) { return fmt::format("{}: TOML syntax error: {}", origin, e.what()); }
    if (!doc.is_table()) return fmt::format("{}: expected a table of keys", origin);
    Options o = options;
    for (const auto& [key, value] : doc.as_table())
        if (auto error = apply_key(o, key, value, origin)) return error;
    options = std::move(o);
    return std::nullopt;
}

std::optional<std::string> apply_config_file(const std::string& path, Options& options) {
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) return std::nullopt; // no config file: nothing to change
        return fmt::format("{}: cannot read: {}", path, std::strerror(errno));
    }
    std::stringstream text;
    text << in.rdbuf();
    return apply_config_text(text.str(), path, options);
}

} // namespace confab::cli
