#include "proto/io/output_buffer.hpp"

#include <cstring>

namespace confab {

bool OutputBuffer::append(std::span<const std::uint8_t> bytes, std::size_t limit) {
    if (size() + bytes.size() > limit) return false;
    if (head_ > 0 && head_ >= data_.size() / 2) { // reclaim the consumed front before growing
        std::memmove(data_.data(), data_.data() + head_, data_.size() - head_);
        data_.resize(data_.size() - head_);
        head_ = 0;
    }
    data_.insert(data_.end(), bytes.begin(), bytes.end());
    return true;
}

void OutputBuffer::consume(std::size_t n) noexcept {
    head_ += n;
    if (head_ < data_.size()) return;
    head_ = 0;
    if (data_.capacity() > keep_capacity)
        std::vector<std::uint8_t>().swap(data_);
    else
        data_.clear();
}

} // namespace confab
