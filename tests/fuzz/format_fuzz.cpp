// Whatever a server or a peer sends, and whatever the local user typed, a
// line the client prints carries no terminal control: no C0 control but tab,
// no DEL, no C1 control (U+0080-U+009F), no bidirectional embedding, override
// or isolate (U+202A-U+202E, U+2066-U+2069), which would reorder what the
// user sees; and every line is valid UTF-8, whatever bytes went in (invalid
// UTF-8 is shown as U+FFFD, so no stray byte can combine with what follows).
//
// Input: [u8 which formatter] then its fields (strings as [u8 length][bytes]).
#include "check.hpp"
#include "fuzz_input.hpp"

#include "cli/format.hpp"
#include "proto/wire.hpp"

#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

using namespace confab;
using confab::fuzz::FuzzInput;

namespace {

bool is_bidi_control(std::uint32_t cp) {
    return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}
bool is_terminal_control(std::uint32_t cp) {
    return (cp < 0x20 && cp != '\t') || (cp >= 0x7f && cp <= 0x9f) || is_bidi_control(cp);
}

void check_line(std::string_view line) {
    while (!line.empty()) {
        auto c = proto::decode_utf8_char(line);
        FUZZ_CHECK(c.has_value(), "a line is not valid UTF-8");
        FUZZ_CHECK(!is_terminal_control(c->code_point), "a terminal control character reaches the terminal");
        line.remove_prefix(c->size);
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    setenv("TZ", "UTC", 1); // timestamps in a fixed zone: runs repeat exactly
    tzset();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzInput in(data, size);
    std::vector<std::string> lines;
    switch (in.u8() % 20) {
    case 0: lines.push_back(cli::printable(in.str())); break;
    case 1: {
        proto::MessageEvent m{in.u32(), std::uint64_t(in.u32()) * 1000, in.u8(), in.str(), in.str()};
        lines.push_back(cli::format_message(m));
        break;
    }
    case 2: lines.push_back(cli::format_broadcast({std::uint64_t(in.u32()) * 1000, in.str(), in.str()})); break;
    case 3: lines.push_back(cli::format_presence({proto::PresenceKind(in.u8()), in.str()})); break;
    case 4: {
        std::string_view peer = in.str();
        lines.push_back(cli::format_private_text(peer, in.str()));
        break;
    }
    case 5: {
        proto::UserList list{in.u32(), {}};
        for (unsigned n = in.u8() % 8; n > 0; --n) list.names.push_back(in.str());
        lines = cli::format_user_list(list);
        FUZZ_CHECK(!lines.empty(), "a user list prints at least one line");
        break;
    }
    case 6: {
        auto code = proto::Status(in.u16());
        lines.push_back(cli::format_error(code, in.str()));
        break;
    }
    case 7: {
        auto kind = cli::RequestKind(in.u8() % 10);
        bool closed = in.flag();
        cli::PendingRequest request(kind, std::string(in.str()), closed);
        proto::Result r{in.u32(), proto::Status(in.u16()), {}};
        r.detail = in.str();
        if (auto line = cli::format_result(request, r)) lines.push_back(*line);
        break;
    }
    case 8: {
        proto::LoginResult r{in.u32(), proto::LoginOutcome(in.u8()), in.u32()};
        lines.push_back(cli::format_login_refusal(r, in.str()));
        break;
    }
    case 9: lines.push_back(cli::format_session_end({proto::EndReason(in.u8()), in.str()})); break;
    case 10: lines.push_back(cli::welcome_line(in.str())); break;
    case 11: lines.push_back(cli::private_started_line(in.str())); break;
    case 12: lines.push_back(cli::private_ended_line(in.str())); break;
    case 13: {
        proto::UserList list{in.u32(), {}};
        for (unsigned n = in.u8() % 8; n > 0; --n) list.names.push_back(in.str());
        lines = cli::format_block_list(list);
        FUZZ_CHECK(!lines.empty(), "a block list prints at least one line");
        break;
    }
    case 14: {
        proto::UserList list{in.u32(), {}};
        for (unsigned n = in.u8() % 8; n > 0; --n) list.names.push_back(in.str());
        lines = cli::format_user_block(list);
        FUZZ_CHECK(!lines.empty(), "a whoelse block prints at least one line");
        break;
    }
    case 15: {
        proto::UserSeenList list{in.u32(), {}, {}};
        std::uint32_t seconds = in.u32();
        auto now = std::time_t(in.u32());
        for (unsigned n = in.u8() % 8; n > 0; --n) {
            list.names.push_back(in.str());
            list.offline_for_s.push_back(in.u32());
        }
        lines = cli::format_seen_block(list, seconds, now);
        FUZZ_CHECK(!lines.empty(), "a whoelsesince block prints at least one line");
        break;
    }
    case 16: {
        proto::UserList list{in.u32(), {}};
        for (unsigned n = in.u8() % 8; n > 0; --n) list.names.push_back(in.str());
        lines.push_back(cli::format_online_line(list));
        break;
    }
    case 17: lines.push_back(cli::format_server_notice({std::uint64_t(in.u32()) * 1000, in.str()})); break;
    case 18: lines.push_back(cli::private_invite_expired_line(in.str(), std::int64_t(in.u32()))); break;
    default: lines.push_back(cli::format_timestamp(std::uint64_t(in.u32()) << 16 | in.u16())); break;
    }
    for (const auto& line : lines) check_line(line);
    return 0;
}
