#include "core/credentials.hpp"
#include "proto/io/read_file.hpp"

#include <crypt.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace confab {

namespace {
std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// Takes the first line off `text` (getline's view: a last line needs no newline).
std::string_view next_line(std::string_view& text) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    return line;
}

// An entry line split at its separator: `name:HASH` (a colon first) or
// `name password` (a blank first). `line` is trimmed, not blank nor a comment.
struct Entry {
    std::string_view name;
    bool hashed = false;   // name:HASH
    std::string_view rest; // after the separator
};
std::optional<Entry> split_entry(std::string_view line) {
    std::size_t colon = line.find(':');
    std::size_t space = line.find_first_of(" \t");
    if (colon != std::string_view::npos && (space == std::string_view::npos || colon < space))
        return Entry{line.substr(0, colon), true, line.substr(colon + 1)};
    if (space != std::string_view::npos) return Entry{line.substr(0, space), false, line.substr(space)};
    return std::nullopt;
}

bool is_comment_or_blank(std::string_view trimmed) {
    return trimmed.empty() || trimmed.front() == '#';
}
} // namespace

UsersFile parse_users(std::string_view text, std::string_view origin) {
    UsersFile out;
    std::size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        std::string_view line = trim(next_line(text));
        if (is_comment_or_blank(line)) continue;

        auto fail = [&](std::string_view why) { throw UsersFileError(fmt::format("{}:{}: {}", origin, line_no, why)); };
        auto entry = split_entry(line);
        if (!entry) fail("expected `name password` or `name:HASH`");
        const std::string_view name = entry->name;
        Credential cred;
        if (entry->hashed) {
            cred.kind = Credential::Kind::crypt_hash;
            cred.secret = std::string(entry->rest);
            if (cred.secret.empty() || cred.secret.front() != '$' ||
                cred.secret.find_first_of(" \t") != std::string::npos)
                fail("expected `name:$id$...` with a crypt(3) hash after the colon");
        } else {
            std::string_view pw = trim(entry->rest);
            if (pw.find_first_of(" \t") != std::string_view::npos)
                fail("expected `name password` (the password may not contain spaces)");
            cred.kind = Credential::Kind::plaintext;
            cred.secret = std::string(pw);
            ++out.plaintext_entries;
        }
        if (!is_valid_user_name(name)) fail(fmt::format("invalid user name '{}' ({})", name, proto::user_name_rule));
        if (!out.users.emplace(std::string(name), std::move(cred)).second)
            fail(fmt::format("user '{}' is listed twice", name));
    }
    return out;
}

UsersFile load_users_file(const std::string& path) {
    FileText file = read_file(path);
    if (file.error)
        throw UsersFileError(fmt::format("{}: cannot read users file: {}", path, std::strerror(file.error)));
    return parse_users(file.text, path);
}

namespace {
// `text` line by line, with each entry for `name` replaced by `replacement`
// (the first one only; an empty replacement drops them all). Whether one was found.
bool replace_entries(std::string_view text, std::string_view name, std::string_view replacement, std::string& out) {
    out.reserve(text.size() + replacement.size());
    bool found = false;
    while (!text.empty()) {
        std::string_view line = next_line(text);
        std::string_view trimmed = trim(line);
        auto e = is_comment_or_blank(trimmed) ? std::nullopt : split_entry(trimmed);
        if (e && e->name == name) {
            if (!found) out += replacement;
            found = true;
            continue;
        }
        out.append(line);
        out += '\n';
    }
    return found;
}
} // namespace

std::string with_user_entry(std::string_view text, std::string_view name, std::string_view hash) {
    const std::string entry = fmt::format("{}:{}\n", name, hash);
    std::string out;
    if (!replace_entries(text, name, entry, out)) out += entry;
    return out;
}

std::string without_user_entry(std::string_view text, std::string_view name) {
    std::string out;
    replace_entries(text, name, {}, out);
    return out;
}

bool has_user_entry(std::string_view text, std::string_view name) {
    std::string ignored;
    return replace_entries(text, name, {}, ignored);
}

UsersFile demo_users() {
    return parse_users("alice alice123\nbob bob123\ncarol carol123\ndave dave123\n", "<embedded demo users>");
}

bool plaintext_matches(std::string_view expected, std::string_view given) noexcept {
    // Touch every byte of the longer input so timing does not reveal a prefix match.
    std::size_t n = std::max(expected.size(), given.size());
    unsigned char diff = expected.size() == given.size() ? 0 : 1;
    for (std::size_t i = 0; i < n; ++i) {
        unsigned char a = i < expected.size() ? expected[i] : 0;
        unsigned char b = i < given.size() ? given[i] : 0;
        diff |= a ^ b;
    }
    return diff == 0;
}

bool crypt_matches(const std::string& hash, const std::string& password) {
    auto data = std::make_unique<crypt_data>(); // ~32 KiB: too big for a worker's stack habits
    const char* out = crypt_r(password.c_str(), hash.c_str(), data.get());
    if (!out || out[0] == '*') return false; // invalid or unsupported setting
    return plaintext_matches(hash, out);
}

const std::string& decoy_hash() {
    static const std::string h = make_hash("confab-decoy-password-never-matches");
    return h;
}

std::string make_hash(const std::string& password) {
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$y$", 0, nullptr, 0, setting, sizeof setting))
        throw std::runtime_error(fmt::format("crypt_gensalt failed: {}", std::strerror(errno)));
    auto data = std::make_unique<crypt_data>();
    const char* out = crypt_r(password.c_str(), setting, data.get());
    if (!out || out[0] == '*') throw std::runtime_error("crypt failed");
    return out;
}

} // namespace confab
