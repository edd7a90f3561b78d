// Bytes queued for one socket, with a hard bound checked at enqueue time:
// a peer that stops reading is dropped instead of growing memory.
// Drained storage above a small size is released so idle peers stay cheap.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace confab {

class OutputBuffer {
public:
    // Appends `bytes` unless the pending total would exceed `limit`; returns false then.
    bool append(std::span<const std::uint8_t> bytes, std::size_t limit);
    std::span<const std::uint8_t> pending() const noexcept { return {data_.data() + head_, data_.size() - head_}; }
    void consume(std::size_t n) noexcept;
    bool empty() const noexcept { return head_ == data_.size(); }
    std::size_t size() const noexcept { return data_.size() - head_; }
    std::size_t capacity() const noexcept { return data_.capacity(); }

private:
    static constexpr std::size_t keep_capacity = 4096; // kept across drains: no malloc per message
    std::vector<std::uint8_t> data_;
    std::size_t head_ = 0;
};

} // namespace confab
