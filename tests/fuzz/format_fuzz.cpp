// Whatever a server or a peer sends, and whatever the local user typed, a
// line the client prints carries no terminal control: no C0 control but tab,
// no DEL, no C1 control (U+0080-U+009F), no bidirectional embedding, override
// or isolate (U+202A-U+202E, U+2066-U+2069), which would reorder what the
// user sees; and valid UTF-8 stays valid UTF-8.
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

// Length of the valid UTF-8 sequence at the start of `s` (0: none), and its code point.
std::size_t decode_one(std::string_view s, std::uint32_t& cp) {
    for (std::size_t n = 1; n <= 4 && n <= s.size(); ++n) {
        if (proto::is_valid_utf8(s.substr(0, n))) {
            cp = 0;
            auto lead = static_cast<unsigned char>(s[0]);
            cp = n == 1 ? lead : lead & (0x7f >> n);
            for (std::size_t i = 1; i < n; ++i) cp = cp << 6 | (static_cast<unsigned char>(s[i]) & 0x3f);
            return n;
        }
    }
    return 0;
}

// `inputs_valid`: every string that went in was valid UTF-8.
void check_line(std::string_view line, bool inputs_valid) {
    for (std::size_t i = 0; i < line.size();) {
        std::uint32_t cp = 0;
        std::size_t n = decode_one(line.substr(i), cp);
        if (n == 0) { // a stray byte of invalid input: terminals show it as U+FFFD
            FUZZ_CHECK(!inputs_valid, "valid UTF-8 in, invalid UTF-8 out");
            FUZZ_CHECK(static_cast<unsigned char>(line[i]) >= 0x80, "stray ASCII byte");
            ++i;
            continue;
        }
        FUZZ_CHECK(!is_terminal_control(cp), "a terminal control character reaches the terminal");
        i += n;
    }
}

struct Strings {
    FuzzInput& in;
    bool valid = true;
    std::string_view next() {
        std::string_view s = in.str();
        valid = valid && proto::is_valid_utf8(s);
        return s;
    }
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    setenv("TZ", "UTC", 1); // timestamps in a fixed zone: runs repeat exactly
    tzset();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzInput in(data, size);
    Strings s{in};
    std::vector<std::string> lines;
    switch (in.u8() % 15) {
    case 0: lines.push_back(cli::printable(s.next())); break;
    case 1: {
        proto::MessageEvent m{in.u32(), std::uint64_t(in.u32()) * 1000, in.u8(), s.next(), s.next()};
        lines.push_back(cli::format_message(m));
        break;
    }
    case 2: lines.push_back(cli::format_broadcast({std::uint64_t(in.u32()) * 1000, s.next(), s.next()})); break;
    case 3: lines.push_back(cli::format_presence({proto::PresenceKind(in.u8()), s.next()})); break;
    case 4: {
        std::string_view peer = s.next();
        lines.push_back(cli::format_private_text(peer, s.next()));
        break;
    }
    case 5: {
        proto::UserList list{in.u32(), {}};
        for (unsigned n = in.u8() % 8; n > 0; --n) list.names.push_back(s.next());
        lines = cli::format_user_list(list);
        FUZZ_CHECK(!lines.empty(), "a user list prints at least one line");
        break;
    }
    case 6: {
        auto code = proto::Status(in.u16());
        lines.push_back(cli::format_error(code, s.next()));
        break;
    }
    case 7: {
        auto kind = cli::RequestKind(in.u8() % 10);
        bool closed = in.flag();
        cli::PendingRequest request(kind, std::string(s.next()), closed);
        proto::Result r{in.u32(), proto::Status(in.u16()), {}};
        r.detail = s.next();
        if (auto line = cli::format_result(request, r)) lines.push_back(*line);
        break;
    }
    case 8: {
        proto::LoginResult r{in.u32(), proto::LoginOutcome(in.u8()), in.u32()};
        lines.push_back(cli::format_login_refusal(r, s.next()));
        break;
    }
    case 9: lines.push_back(cli::format_session_end({proto::EndReason(in.u8()), s.next()})); break;
    case 10: lines.push_back(cli::welcome_line(s.next())); break;
    case 11: lines.push_back(cli::private_started_line(s.next())); break;
    case 12: lines.push_back(cli::private_ended_line(s.next())); break;
    case 13: {
        proto::UserList list{in.u32(), {}};
        for (unsigned n = in.u8() % 8; n > 0; --n) list.names.push_back(s.next());
        lines = cli::format_block_list(list);
        FUZZ_CHECK(!lines.empty(), "a block list prints at least one line");
        break;
    }
    default: lines.push_back(cli::format_timestamp(std::uint64_t(in.u32()) << 16 | in.u16())); break;
    }
    for (const auto& line : lines) check_line(line, s.valid);
    return 0;
}
