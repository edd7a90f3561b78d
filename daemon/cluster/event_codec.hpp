// cluster::Event <-> bytes, for Redis pub/sub payloads (docs/CLUSTER.md).
// An envelope: one type byte, the sending node's id, then the event's fields,
// all with proto's own field primitives (proto/wire.hpp: big-endian integers,
// u16-length UTF-8 strings), so there is one encoding of a field in the project.
// Decoding checks every length and refuses trailing bytes: bad input is an
// error, never a crash.
#pragma once

#include "core/cluster.hpp"
#include "proto/errors.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace confab::cluster {

// Wire values of the envelope's type byte.
enum class EventType : std::uint8_t {
    online = 1,
    offline = 2,
    direct = 3,
    broadcast = 4,
    block_changed = 5,
    login_failed = 6,
    locked = 7,
    invite = 8,
    pair_ended = 9,
    end_session = 10,
    notice = 11,
    node_down = 12,
    snapshot = 13,
    direct_answer = 14,
    direct_answers = 15,
    directs = 16,
};

// `e` as sent by node `origin`; nullopt when a field cannot be represented
// (a string over 65535 bytes, a snapshot list over 2^32 entries).
std::optional<std::string> encode_event(const Event& e, std::string_view origin);

// The bytes `e` adds to a batch of its kind (Directs, DirectAnswers): its fields;
// nullopt when a field cannot be represented.
std::optional<std::size_t> batched_size(const Direct& e);
std::optional<std::size_t> batched_size(const DirectAnswer& e);

struct DecodedEvent {
    Event event;
    std::string origin; // the sending node
};
struct DecodeOutcome {
    std::optional<DecodedEvent> decoded; // empty: `error` says why
    proto::DecodeError error = proto::DecodeError::truncated;
};
DecodeOutcome decode_event(std::string_view payload);

} // namespace confab::cluster
