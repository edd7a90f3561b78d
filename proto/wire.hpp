// Bounds-checked big-endian field readers and writers over byte spans.
// Pure functions of memory: never touch a socket, never allocate.
#pragma once

#include "errors.hpp"
#include "limits.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

namespace confab::proto {

using Bytes = std::span<const std::uint8_t>;
using Token = std::array<std::uint8_t, private_token_size>;

// One character of UTF-8: its code point and how many bytes it takes.
struct Utf8Char {
    char32_t code_point;
    std::size_t size;
};
// The character `s` starts with; nullopt if `s` is empty or starts with no valid
// UTF-8 (a stray continuation byte, a truncated or overlong sequence, a surrogate, beyond U+10FFFF).
std::optional<Utf8Char> decode_utf8_char(std::string_view s) noexcept;
bool is_valid_utf8(std::string_view s) noexcept;
// The longest prefix of valid UTF-8 `s` that fits in `max_bytes` and ends on a
// character boundary: texts built from client input are cut with this, never mid-character.
std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes) noexcept;

// Writes fields into a caller-provided span; `ok()` turns false (and stays
// false) if the span is too small, so callers check once at the end.
// A default-constructed Writer only counts, to size a frame before writing it.
class Writer {
public:
    Writer() noexcept : counting_(true) {}
    explicit Writer(std::span<std::uint8_t> out) noexcept : out_(out) {}

    void u8(std::uint8_t v) noexcept { put(&v, 1); }
    void u16(std::uint16_t v) noexcept {
        std::uint8_t b[2] = {std::uint8_t(v >> 8), std::uint8_t(v)};
        put(b, 2);
    }
    void u32(std::uint32_t v) noexcept {
        std::uint8_t b[4] = {std::uint8_t(v >> 24), std::uint8_t(v >> 16), std::uint8_t(v >> 8), std::uint8_t(v)};
        put(b, 4);
    }
    void u64(std::uint64_t v) noexcept {
        u32(std::uint32_t(v >> 32));
        u32(std::uint32_t(v));
    }
    // Strings: u16 byte length, then the bytes. Longer than 65535 cannot be written.
    void str(std::string_view s) noexcept {
        if (s.size() > 0xffff) {
            ok_ = false;
            return;
        }
        u16(std::uint16_t(s.size()));
        put(s.data(), s.size());
    }
    void token(const Token& t) noexcept { put(t.data(), t.size()); }

    // Marks the output unrepresentable (e.g. a list over max_list_entries).
    void fail() noexcept { ok_ = false; }
    bool ok() const noexcept { return ok_; }
    std::size_t size() const noexcept { return pos_; }

private:
    void put(const void* p, std::size_t n) noexcept {
        if (counting_) {
            pos_ += n;
            return;
        }
        if (!ok_ || out_.size() - pos_ < n) {
            ok_ = false;
            return;
        }
        if (n) std::memcpy(out_.data() + pos_, p, n);
        pos_ += n;
    }
    std::span<std::uint8_t> out_;
    std::size_t pos_ = 0;
    bool ok_ = true;
    bool counting_ = false;
};

// Reads fields from a payload; the first failure is kept in `error()` and all
// later reads return zero values, so callers check once at the end.
// Strings are views into the payload and live as long as it does.
class Reader {
public:
    explicit Reader(Bytes in) noexcept : in_(in) {}

    std::uint8_t u8() noexcept { return take(1) ? in_[pos_ - 1] : 0; }
    std::uint16_t u16() noexcept {
        if (!take(2)) return 0;
        return std::uint16_t(in_[pos_ - 2] << 8 | in_[pos_ - 1]);
    }
    std::uint32_t u32() noexcept {
        if (!take(4)) return 0;
        const auto* p = &in_[pos_ - 4];
        return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | std::uint32_t(p[3]);
    }
    std::uint64_t u64() noexcept {
        std::uint64_t hi = u32();
        return hi << 32 | u32();
    }
    std::string_view str() noexcept {
        std::uint16_t n = u16();
        if (!take(n)) return {};
        std::string_view s(reinterpret_cast<const char*>(&in_[pos_ - n]), n);
        if (!is_valid_utf8(s)) {
            fail(DecodeError::bad_utf8);
            return {};
        }
        return s;
    }
    Token token() noexcept {
        Token t{};
        if (take(t.size())) std::memcpy(t.data(), &in_[pos_ - t.size()], t.size());
        return t;
    }

    void fail(DecodeError e) noexcept {
        if (!failed_) {
            failed_ = true;
            error_ = e;
        }
    }
    bool failed() const noexcept { return failed_; }
    DecodeError error() const noexcept { return error_; }
    std::size_t remaining() const noexcept { return failed_ ? 0 : in_.size() - pos_; }

private:
    bool take(std::size_t n) noexcept {
        if (failed_) return false;
        if (in_.size() - pos_ < n) {
            fail(DecodeError::truncated);
            return false;
        }
        pos_ += n;
        return true;
    }
    Bytes in_;
    std::size_t pos_ = 0;
    bool failed_ = false;
    DecodeError error_ = DecodeError::truncated;
};

} // namespace confab::proto
