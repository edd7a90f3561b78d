// Encoder limits: too-small output buffers, oversized payloads, lists and
// strings that cannot be represented.
#include "samples.hpp"

#include <doctest/doctest.h>

using namespace confab::proto;
using namespace confab::proto::test;

TEST_CASE("encode_frame into a too-small buffer returns 0 and writes nothing outside it") {
    for (const auto& m : full_samples()) {
        CAPTURE(to_string(type_of(m)));
        const ByteVec want = frame_of(m);
        REQUIRE(!want.empty());
        for (std::size_t n = 0; n < want.size(); ++n) {
            ByteVec buf(n + 8, 0xAB); // 8 guard bytes after the span
            std::size_t got = encode_frame(m, std::span(buf).first(n));
            REQUIRE(got == 0);
            for (std::size_t i = n; i < buf.size(); ++i) REQUIRE(buf[i] == 0xAB);
        }
        ByteVec exact(want.size());
        CHECK(encode_frame(m, exact) == want.size());
        CHECK(exact == want);
        ByteVec roomy(want.size() + 10, 0xCD);
        CHECK(encode_frame(m, roomy) == want.size());
        CHECK(ByteVec(roomy.begin(), roomy.begin() + std::ptrdiff_t(want.size())) == want);
        CHECK(roomy.back() == 0xCD);
    }
}

TEST_CASE("payload_size is type byte + fields, header excluded") {
    CHECK(payload_size(WhoElse{1}) == 5);
    CHECK(payload_size(Hello{1, "confab/0.1.0"}) == 17);
    CHECK(payload_size(PeerBye{}) == 2);
    CHECK(payload_size(PrivateInvite{"ab", {}}) == 1 + 2 + 2 + 16);
    CHECK(payload_size(AckMessages{{1, 2, 3}}) == 1 + 2 + 24);
    CHECK(payload_size(UserList{1, {"a", "bc"}}) == 1 + 4 + 2 + 3 + 4);
}

TEST_CASE("payload over max_frame_size is refused by append_frame and encode_frame") {
    // PeerText: 1 type + 2 length + text.
    const std::string fits(max_frame_size - 3, 'a');
    const std::string over(max_frame_size - 2, 'a');
    ByteVec out = bytes({1, 2, 3});
    CHECK(append_frame(out, PeerText{fits}));
    CHECK(out.size() == 3 + frame_header_size + max_frame_size);

    out = bytes({1, 2, 3});
    CHECK_FALSE(append_frame(out, PeerText{over}));
    CHECK(out == bytes({1, 2, 3})); // unchanged

    ByteVec buf(frame_header_size + max_frame_size + 100);
    CHECK(encode_frame(PeerText{over}, buf) == 0);
    CHECK(encode_frame(PeerText{fits}, buf) == frame_header_size + max_frame_size);

    // Same limit reached through a list.
    std::vector<std::string_view> names(max_list_entries, std::string_view(fits).substr(0, 20));
    out.clear();
    CHECK_FALSE(append_frame(out, UserList{1, names})); // 4096 * 22 bytes > 64 KiB
    CHECK(out.empty());
}

TEST_CASE("a string longer than 65535 bytes cannot be encoded") {
    const std::string huge(70000, 'b');
    ByteVec out;
    CHECK_FALSE(append_frame(out, Broadcast{1, huge}));
    CHECK(out.empty());
    CHECK(payload_size(Broadcast{1, huge}) > max_frame_size);
    ByteVec buf(100000);
    CHECK(encode_frame(Broadcast{1, huge}, buf) == 0);
}

TEST_CASE("the encoder refuses lists the decoder would refuse (more than max_list_entries)") {
    // 4097 ids = 32 779 payload bytes: fits in a frame, but no decoder accepts it.
    std::vector<std::uint64_t> ids(max_list_entries + 1, 42);
    ByteVec out = bytes({9});
    CHECK_FALSE(append_frame(out, AckMessages{ids}));
    CHECK(out == bytes({9}));
    ByteVec buf(100000);
    CHECK(encode_frame(AckMessages{ids}, buf) == 0);

    std::vector<std::string_view> names(max_list_entries + 1, "");
    CHECK_FALSE(append_frame(out, UserList{1, names}));

    ids.pop_back();
    CHECK(append_frame(out, AckMessages{ids}));
}

TEST_CASE("append_frame appends after existing bytes") {
    ByteVec out;
    REQUIRE(append_frame(out, WhoElse{1}));
    REQUIRE(append_frame(out, Logout{2}));
    CHECK(out == bytes({0, 0, 0, 5, 0x05, 0, 0, 0, 1, 0, 0, 0, 5, 0x09, 0, 0, 0, 2}));
}
