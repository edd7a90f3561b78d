// Reads a fuzzer's input front to back as a little byte code: every harness
// parses its input with this, and the seed generator writes the same layout
// with InputWriter, so a seed means to the harness what the generator meant.
// Reads past the end return zeros and empty strings, so every input is valid.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace confab::fuzz {

class FuzzInput {
public:
    FuzzInput(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    bool empty() const noexcept { return pos_ == size_; }
    std::uint8_t u8() noexcept { return empty() ? 0 : data_[pos_++]; }
    std::uint16_t u16() noexcept { return std::uint16_t(u8() << 8 | u8()); }
    std::uint32_t u32() noexcept { return std::uint32_t(u16()) << 16 | u16(); }
    bool flag() noexcept { return u8() & 1; }
    // Up to `n` bytes (fewer at the end of the input).
    std::string_view bytes(std::size_t n) noexcept {
        n = std::min(n, size_ - pos_);
        std::string_view s(reinterpret_cast<const char*>(data_ + pos_), n);
        pos_ += n;
        return s;
    }
    // A u8 length, then that many bytes.
    std::string_view str() noexcept { return bytes(u8()); }
    std::string_view rest() noexcept { return bytes(size_ - pos_); }
    // One element of a fixed table, chosen by the next byte.
    template <class T, std::size_t N>
    const T& pick(const T (&table)[N]) noexcept {
        return table[u8() % N];
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

// Writes what FuzzInput reads (used by the seed generator).
class InputWriter {
public:
    InputWriter& u8(std::uint8_t v) {
        out_.push_back(v);
        return *this;
    }
    InputWriter& u16(std::uint16_t v) { return u8(std::uint8_t(v >> 8)).u8(std::uint8_t(v)); }
    InputWriter& u32(std::uint32_t v) { return u16(std::uint16_t(v >> 16)).u16(std::uint16_t(v)); }
    InputWriter& bytes(std::string_view s) {
        out_.insert(out_.end(), s.begin(), s.end());
        return *this;
    }
    InputWriter& str(std::string_view s) { return u8(std::uint8_t(s.size())).bytes(s.substr(0, 255)); }
    const std::vector<std::uint8_t>& data() const noexcept { return out_; }

private:
    std::vector<std::uint8_t> out_;
};

} // namespace confab::fuzz
