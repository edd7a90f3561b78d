// Any pub/sub payload that decodes (docs/CLUSTER.md "Payloads") is the one
// canonical encoding of its event: encode_event of the decoded event and its
// origin gives back the very same bytes (so decode -> encode -> decode is the
// identity, and no two payloads decode to one event). A payload that does not
// decode fails with a named error. What a decoded event holds is bounded by
// the payload: every list entry took bytes of it (a Snapshot's counts are
// checked before anything is reserved).
//
// Input: one payload, type byte first.
#include "check.hpp"

#include "cluster/event_codec.hpp"

#include <cstring>
#include <string_view>

using namespace confab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view payload(reinterpret_cast<const char*>(data), size);
    cluster::DecodeOutcome first = cluster::decode_event(payload);
    if (!first.decoded) {
        FUZZ_CHECK(proto::to_string(first.error) != "unknown decode error", "decode failed with an unnamed error");
        return 0;
    }
    const cluster::DecodedEvent& d = *first.decoded;
    if (const auto* s = std::get_if<cluster::Snapshot>(&d.event))
        FUZZ_CHECK(s->online.size() * 18 + s->last_seen.size() * 10 <= size, "more snapshot entries than bytes");

    std::optional<std::string> again = cluster::encode_event(d.event, d.origin);
    FUZZ_CHECK(again.has_value(), "a decoded event cannot be encoded");
    FUZZ_CHECK(again->size() == size && std::memcmp(again->data(), data, size) == 0, "re-encoding changed the payload");
    cluster::DecodeOutcome second = cluster::decode_event(*again);
    FUZZ_CHECK(second.decoded && second.decoded->origin == d.origin && second.decoded->event.index() == d.event.index(),
               "the re-encoded payload does not decode to the same event");
    return 0;
}
