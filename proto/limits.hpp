// Protocol constants shared by the daemon, the client and the tests.
// Every number here is part of the wire contract documented in PROTOCOL.md.
#pragma once

#include <cstddef>
#include <cstdint>

namespace confab::proto {

// Bumped on any incompatible change; the server refuses other versions.
inline constexpr std::uint16_t protocol_version = 1;

// Frame header: payload length as a 32-bit big-endian integer.
inline constexpr std::size_t frame_header_size = 4;
// Largest payload (type byte included) a peer may announce.
inline constexpr std::size_t max_frame_size = 64 * 1024;
// Until its login succeeds a connection may send only small frames (Hello and
// Login fit easily), so a stranger stalled mid-frame costs at most this much.
inline constexpr std::size_t max_prelogin_frame_size = 1024;

inline constexpr std::size_t max_name_length = 32;      // user names, bytes
inline constexpr std::size_t max_text_length = 1000;    // message text, bytes
inline constexpr std::size_t max_password_length = 256; // bytes
inline constexpr std::size_t max_host_length = 255;     // private-chat host, bytes
inline constexpr std::size_t max_detail_length = 1000;  // human-readable detail strings
inline constexpr std::size_t private_token_size = 16;   // 128-bit one-time token
inline constexpr std::size_t max_list_entries = 4096;   // names in one user list / ids in one ack
// Names the server puts in one UserList or UserSeenList reply: as many of the
// longest names as one frame holds in the larger of the two (type byte,
// request_id, two list counts; per name its u16 length, its bytes and a u32),
// so a listing is always one reply however many users match.
inline constexpr std::size_t max_listed_names = (max_frame_size - (1 + 4 + 2 + 2)) / (2 + max_name_length + 4); // 1724
static_assert(max_listed_names <= max_list_entries);

} // namespace confab::proto
