// Memory behaviour of FrameDecoder, observed through a counting global
// operator new/delete (this executable only): release_if_empty gives the
// buffer back, and an announced 4 GiB frame costs no more than a small buffer.
#include "samples.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <new>

namespace {
std::size_t g_live_bytes = 0;   // tests are single-threaded
constexpr std::size_t hdr = 16; // keeps max_align_t alignment

void* counted_alloc(std::size_t n) {
    void* p = std::malloc(n + hdr);
    if (!p) throw std::bad_alloc();
    *static_cast<std::size_t*>(p) = n;
    g_live_bytes += n;
    return static_cast<char*>(p) + hdr;
}
void counted_free(void* p) noexcept {
    if (!p) return;
    void* base = static_cast<char*>(p) - hdr;
    g_live_bytes -= *static_cast<std::size_t*>(base);
    std::free(base);
}
} // namespace

void* operator new(std::size_t n) {
    return counted_alloc(n);
}
void* operator new[](std::size_t n) {
    return counted_alloc(n);
}
void operator delete(void* p) noexcept {
    counted_free(p);
}
void operator delete[](void* p) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    counted_free(p);
}

using namespace confab::proto;
using namespace confab::proto::test;

TEST_CASE("the counting allocator sees allocations") {
    std::size_t before = g_live_bytes;
    auto* v = new std::vector<std::uint8_t>(1000);
    std::size_t during = g_live_bytes;
    delete v;
    std::size_t after = g_live_bytes;
    CHECK(during >= before + 1000);
    CHECK(after == before);
}

TEST_CASE("a fresh decoder owns no buffer; release_if_empty frees the buffer") {
    ByteVec big = frame_of(PeerText{std::string(60000, 'q')});
    ByteVec small = frame_of(WhoElse{1});
    REQUIRE(!big.empty());

    const std::size_t base = g_live_bytes;
    auto* dec = new FrameDecoder();
    const std::size_t empty_cost = g_live_bytes - base;

    dec->feed(span_of(big));
    const std::size_t loaded = g_live_bytes - base;
    FrameResult r = dec->next();
    const bool got_frame = r.kind == FrameResult::Kind::frame;
    const std::size_t drained = g_live_bytes - base; // buffer still held
    dec->release_if_empty();
    const std::size_t released = g_live_bytes - base;

    // Not empty: release keeps the buffer and the bytes.
    dec->feed(span_of(small).first(3));
    dec->release_if_empty();
    const std::size_t partial = g_live_bytes - base;
    const std::size_t pending = dec->buffered();
    delete dec;
    const std::size_t gone = g_live_bytes - base;

    CHECK(empty_cost == sizeof(FrameDecoder));
    CHECK(got_frame);
    CHECK(loaded >= sizeof(FrameDecoder) + 60000);
    CHECK(drained == loaded);
    CHECK(released == sizeof(FrameDecoder));
    CHECK(partial > sizeof(FrameDecoder));
    CHECK(pending == 3);
    CHECK(gone == 0);
}

TEST_CASE("an announced 4 GiB frame costs only a small buffer before it is refused") {
    const ByteVec hdr4 = bytes({0xFF, 0xFF, 0xFF, 0xFF});
    const std::size_t base = g_live_bytes;
    FrameDecoder dec;
    std::size_t took = dec.feed(span_of(hdr4));
    const std::size_t cost = g_live_bytes - base;
    FrameResult r = dec.next();
    const std::size_t after = g_live_bytes - base;

    CHECK(took == 4);
    CHECK(cost <= 1024);
    CHECK(after == cost);
    REQUIRE(r.kind == FrameResult::Kind::error);
    CHECK(r.error == DecodeError::frame_too_large);
}

TEST_CASE("a small frame does not cost a max-size buffer") {
    ByteVec f = frame_of(SendMessage{1, "bob", "hello"});
    const std::size_t base = g_live_bytes;
    FrameDecoder dec;
    for (std::uint8_t b : f) dec.feed(Bytes(&b, 1)); // byte by byte
    const std::size_t cost = g_live_bytes - base;
    CHECK(dec.next().kind == FrameResult::Kind::frame);
    CHECK(cost <= 1024);
}
