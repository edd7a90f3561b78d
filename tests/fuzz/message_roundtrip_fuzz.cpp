// Any payload that decodes is the one canonical encoding of its message:
// encoding the decoded message gives back the same bytes (so decode -> encode
// -> decode is the identity), encode_frame and append_frame agree with
// payload_size, and nothing over max_frame_size is ever encoded.
//
// Input: one frame payload, type byte first.
#include "check.hpp"

#include "proto/frame.hpp"
#include "proto/messages.hpp"
#include "proto/samples.hpp"

#include <cstring>
#include <vector>

using namespace confab::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const Bytes payload(data, size);
    DecodeResult first = decode_payload(payload);
    if (!first.message) {
        FUZZ_CHECK(to_string(first.error) != "unknown decode error", "decode failed with an unnamed error");
        FUZZ_CHECK(!is_success(status_for(first.error)), "a decode failure maps to a success status");
        return 0;
    }
    const Message& m = *first.message;
    FUZZ_CHECK(to_string(type_of(m)) != "unknown", "decoded an unnamed message type");
    FUZZ_CHECK(std::uint8_t(type_of(m)) == data[0], "decoded as another type");
    FUZZ_CHECK(payload_size(m) == size, "payload_size differs from the decoded payload");

    std::vector<std::uint8_t> framed(frame_header_size + size + 1, 0xEE);
    std::vector<std::uint8_t> appended{0x5A};
    if (size > max_frame_size) {
        FUZZ_CHECK(encode_frame(m, framed) == 0, "encoded a payload over max_frame_size");
        FUZZ_CHECK(!append_frame(appended, m) && appended.size() == 1, "appended a payload over max_frame_size");
        return 0;
    }
    const std::size_t n = encode_frame(m, framed);
    FUZZ_CHECK(n == frame_header_size + size, "encode_frame wrote another size");
    FUZZ_CHECK(framed[n] == 0xEE, "encode_frame wrote past its frame");
    FUZZ_CHECK(std::memcmp(framed.data() + frame_header_size, data, size) == 0, "re-encoding changed the payload");
    std::vector<std::uint8_t> small(n - 1);
    FUZZ_CHECK(encode_frame(m, small) == 0, "encode_frame claimed a frame in too small a buffer");

    FrameResult f = parse_frame(Bytes(framed).first(n));
    FUZZ_CHECK(f.kind == FrameResult::Kind::frame && f.consumed == n, "the encoded frame does not parse whole");
    DecodeResult second = decode_payload(f.payload);
    FUZZ_CHECK(second.message && confab::proto::test::same_fields(m, *second.message), "decode -> encode -> decode");

    FUZZ_CHECK(append_frame(appended, m), "append_frame refused what encode_frame wrote");
    FUZZ_CHECK(appended.size() == 1 + n && std::memcmp(appended.data() + 1, framed.data(), n) == 0,
               "append_frame and encode_frame disagree");
    return 0;
}
