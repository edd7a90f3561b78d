// OutputBuffer: bounded per-socket output queue.
#include "proto/io/output_buffer.hpp"

#include <doctest/doctest.h>

#include <numeric>
#include <vector>

using confab::OutputBuffer;

namespace {
std::vector<std::uint8_t> bytes(std::size_t n, std::uint8_t first = 0) {
    std::vector<std::uint8_t> v(n);
    std::iota(v.begin(), v.end(), first);
    return v;
}
std::vector<std::uint8_t> pending(const OutputBuffer& b) {
    return {b.pending().begin(), b.pending().end()};
}
} // namespace

TEST_CASE("append within the cap queues the bytes in order") {
    OutputBuffer b;
    CHECK(b.empty());
    CHECK(b.append(bytes(3, 1), 10));
    CHECK(b.append(bytes(2, 4), 10));
    CHECK(b.size() == 5);
    CHECK(pending(b) == std::vector<std::uint8_t>{1, 2, 3, 4, 5});
}

TEST_CASE("the cap is enforced at enqueue: nothing appended when it would be exceeded") {
    OutputBuffer b;
    CHECK(b.append(bytes(8), 10));
    CHECK_FALSE(b.append(bytes(3, 100), 10));
    CHECK(b.size() == 8);
    CHECK(pending(b) == bytes(8));
    CHECK(b.append(bytes(2, 8), 10)); // exactly at the cap is fine
    CHECK(b.size() == 10);
    CHECK_FALSE(b.append(bytes(1), 10));
    CHECK_FALSE(OutputBuffer{}.append(bytes(11), 10)); // even into an empty buffer
}

TEST_CASE("the cap counts only unsent bytes") {
    OutputBuffer b;
    CHECK(b.append(bytes(10), 10));
    b.consume(6);
    CHECK(b.size() == 4);
    CHECK(b.append(bytes(6, 50), 10));
    CHECK(b.size() == 10);
    std::vector<std::uint8_t> want{6, 7, 8, 9, 50, 51, 52, 53, 54, 55};
    CHECK(pending(b) == want);
}

TEST_CASE("partial consume keeps the rest in order across appends") {
    OutputBuffer b;
    CHECK(b.append(bytes(100), 1000));
    b.consume(30);
    CHECK(b.size() == 70);
    CHECK(b.pending()[0] == 30);
    b.consume(1);
    CHECK(b.pending()[0] == 31);
    CHECK(b.append(bytes(5, 200), 1000)); // may compact the consumed front
    CHECK(b.size() == 74);
    auto p = pending(b);
    CHECK(p.front() == 31);
    CHECK(p[68] == 99);
    CHECK(p[69] == 200);
    CHECK(p.back() == 204);
    b.consume(74);
    CHECK(b.empty());
    CHECK(b.size() == 0);
}

TEST_CASE("a drained buffer releases large storage but keeps small storage") {
    OutputBuffer big;
    CHECK(big.append(bytes(1 << 20), 1 << 21));
    CHECK(big.capacity() >= (1u << 20));
    big.consume(1000);
    CHECK(big.capacity() >= (1u << 20)); // not drained yet
    big.consume((1 << 20) - 1000);
    CHECK(big.empty());
    CHECK(big.capacity() <= 4096);
    CHECK(big.append(bytes(3), 10)); // still usable
    CHECK(big.size() == 3);

    OutputBuffer small;
    CHECK(small.append(bytes(100), 1000));
    auto cap = small.capacity();
    small.consume(100);
    CHECK(small.empty());
    CHECK(small.capacity() == cap);
}
