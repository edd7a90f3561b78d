// Error vocabularies of the protocol: decode failures (local, never sent as
// such) and the 16-bit status codes carried in Result and ProtocolError frames.
#pragma once

#include <cstdint>
#include <string_view>

namespace confab::proto {

// Why a byte stream or payload could not be decoded.
enum class DecodeError : std::uint8_t {
    frame_too_large,  // announced length above max_frame_size
    empty_frame,      // announced length 0: no type byte
    unknown_type,     // type byte not in the vocabulary
    truncated,        // a field runs past the end of the payload
    trailing_bytes,   // payload longer than its fields
    bad_utf8,         // a string field is not valid UTF-8
    too_many_entries, // a list longer than max_list_entries
};

std::string_view to_string(DecodeError e) noexcept;

// Status codes of Result.code and ProtocolError.code. Values are wire format.
enum class Status : std::uint16_t {
    ok = 0,
    ok_stored = 1,  // message kept for an offline recipient
    ok_partial = 2, // broadcast skipped recipients who blocked the sender

    bad_request = 10, // malformed frame, unknown type, bad UTF-8
    unsupported_version = 11,
    frame_too_large = 12,
    not_logged_in = 13, // command sent before a successful login
    wrong_state = 14,   // message not valid now (e.g. a second Hello or Login)

    unknown_user = 20,
    self_target = 21, // the command names yourself
    blocked_by_recipient = 22,
    already_blocked = 23,
    not_blocked = 24,
    invalid_name = 25, // 1..32 of [A-Za-z0-9_.-]
    invalid_text = 26, // 1..1000 bytes of UTF-8
    user_offline = 27,
    no_private_endpoint = 28, // the peer's client announced no listener
    mailbox_full = 29,
    storage_failed = 30,
    invalid_argument = 31,
    no_private_session = 32, // stopprivate with no session or pending token
    rate_limited = 33,       // over the sender's (or its address's) rate; the detail says when to retry

    output_overflow = 40,   // sent (best effort) to a reader too slow to keep up, just before it is dropped
    login_timeout = 41,     // no login within the handshake deadline
    server_busy = 42,       // connection limit reached
    permission_denied = 43, // control socket: the peer's uid is not allowed
    unavailable = 44,       // a cluster's shared engine cannot be reached now; try again
};

std::string_view to_string(Status s) noexcept;

// The status a peer is told when its bytes fail to decode.
Status status_for(DecodeError e) noexcept;
inline bool is_success(Status s) noexcept {
    return static_cast<std::uint16_t>(s) < 10;
}

} // namespace confab::proto
