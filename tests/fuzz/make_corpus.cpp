// Writes the seed corpora of the harnesses into DIR/<harness>/ (the committed
// tests/fuzz/corpus/): valid frames and payloads of every message type, chat
// scenarios in the ChatCore harness's byte code, and hostile display strings.
// Usage: fuzz-make-corpus DIR
#include "chat_script.hpp"
#include "fuzz_input.hpp"

#include "cluster/event_codec.hpp"
#include "proto/samples.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

using namespace confab;
using confab::fuzz::InputWriter;
namespace fs = std::filesystem;
namespace chat = confab::fuzz::chat;

namespace {

fs::path root;

void write(const std::string& harness, const std::string& name, const std::vector<std::uint8_t>& data) {
    fs::create_directories(root / harness);
    std::ofstream out(root / harness / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
}

// ---- frame-decoder: [limit choice][raise after] then [u8 length][bytes] chunks
std::vector<std::uint8_t> chunked(std::uint8_t limit, const std::vector<std::uint8_t>& stream, std::size_t piece,
                                  std::uint8_t raise_after = 0) {
    InputWriter w;
    w.u8(limit).u8(raise_after);
    std::string_view s(reinterpret_cast<const char*>(stream.data()), stream.size());
    for (std::size_t i = 0; i < s.size(); i += piece) w.str(s.substr(i, piece));
    return w.data();
}

void frame_seeds() {
    using namespace proto::test;
    auto samples = full_samples();
    ByteVec stream;
    for (std::size_t i = 0; i < samples.size(); i += 4) stream = concat(stream, frame_of(samples[i]));
    write("frame-decoder", "stream-in-7-byte-pieces", chunked(0, stream, 7));
    write("frame-decoder", "stream-in-one-piece", chunked(0, frame_of(samples[2]), 255));
    write("frame-decoder", "header-split", chunked(0, concat(frame_of(samples[4]), frame_of(samples[8])), 3));
    write("frame-decoder", "small-limit", chunked(64 + 20, stream, 50)); // limit 21: the long frames are refused
    // limit 21 until the first frame, then 64 KiB (as at login)
    write("frame-decoder", "raised-after-one",
          chunked(64 + 20, concat(frame_of(samples[4]), frame_of(samples[1])), 6, 1));
    write("frame-decoder", "empty-frame", chunked(0, concat(frame_of(samples[4]), header(0)), 5));
    write("frame-decoder", "too-large", chunked(0, header(proto::max_frame_size + 1), 4));
    write("frame-decoder", "bad-payload", chunked(0, concat(frame_of(samples[4]), raw_frame(bytes({0x7F, 1}))), 9));
}

// ---- message-roundtrip: one payload
void message_seeds() {
    using namespace proto::test;
    auto write_payloads = [](const std::vector<proto::Message>& samples, const char* kind) {
        for (const auto& m : samples) {
            ByteVec f = frame_of(m);
            write("message-roundtrip", std::string(proto::to_string(proto::type_of(m))) + "-" + kind,
                  ByteVec(f.begin() + proto::frame_header_size, f.end()));
        }
    };
    write_payloads(full_samples(), "full");
    write_payloads(default_samples(), "default");
}

// ---- cluster-event: one pub/sub payload of every event type
void cluster_event_seeds() {
    using namespace cluster;
    const Event events[] = {
        Online{"alice", "node-2", 1'764'000'000'000, "198.51.100.4", 40000, "198.51.100.4"},
        Offline{"alice", "node-2", 1'764'000'000'000},
        Direct{"bob", "alice", 1025, 1'764'000'000'000, "h\xC3\xA9llo", "node-2", 7},
        Broadcast{"alice", "node-2", 1'764'000'000'000, "hi all"},
        BlockChanged{"bob", "alice", true},
        LoginFailed{"alice@192.0.2.7"},
        Locked{"alice", INT64_MAX, true},
        Invite{"bob", "alice", proto::Token{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
        PairEnded{"bob", "alice", true, proto::Token{16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
        EndSession{"bob", proto::EndReason::kicked, "bye"},
        Notice{1'764'000'000'000, "maintenance at noon"},
        NodeDown{"node-3"},
        Snapshot{std::nullopt, {Online{"carol", "node-3", 1, "", 0, ""}}, {{"dave", 1'763'999'000'000}}, std::nullopt},
        DirectAnswer{7, proto::Status::ok_stored, "message to bob stored for delivery at next login"},
        DirectAnswers{{DirectAnswer{7, proto::Status::ok, ""},
                       DirectAnswer{8, proto::Status::blocked_by_recipient, "bob has blocked you"}}},
        Directs{{Direct{"bob", "alice", 1025, 1'764'000'000'000, "h\xC3\xA9llo", "node-2", 7},
                 Direct{"carol", "alice", 2049, 1'764'000'000'001, "again", "node-2", 8}}},
    };
    for (const Event& e : events) {
        const std::string payload = *encode_event(e, "node-2");
        write("cluster-event", "type-" + std::to_string(std::uint8_t(payload[0])),
              std::vector<std::uint8_t>(payload.begin(), payload.end()));
    }
}

// ---- chat-core: scenarios in chat_script.hpp's byte code
struct Script {
    InputWriter w;
    explicit Script(std::uint8_t setup) { w.u8(setup); }
    Script& op(chat::Op o) {
        w.u8(std::uint8_t(o));
        return *this;
    }
    Script& connect() { return op(chat::Op::connect).u8(0); }
    Script& msg(std::uint8_t conn, chat::Msg m) {
        op(chat::Op::message).w.u8(conn).u8(std::uint8_t(m));
        return *this;
    }
    Script& u8(std::uint8_t v) {
        w.u8(v);
        return *this;
    }
    // connect, Hello and a Login with the right password of user `user` (an index of user_names).
    Script& login(std::uint8_t conn, std::uint8_t user) {
        connect();
        msg(conn, chat::Msg::hello).u8(0);
        return msg(conn, chat::Msg::login).u8(1).u8(user).u8(0);
    }
};

enum : std::uint8_t { alice, bob, carol, dave, erin, zed };

void chat_seeds() {
    using chat::Msg;
    using chat::Op;
    { // live message, broadcast, whoelse, logout
        Script s(0);
        s.login(0, alice).login(1, bob);
        s.msg(0, Msg::send_message).u8(2).u8(bob).u8(0);
        s.msg(1, Msg::broadcast).u8(3).u8(2);
        s.msg(0, Msg::who_else).u8(4);
        s.msg(1, Msg::who_else_since).u8(5).u8(3);
        s.msg(0, Msg::logout).u8(6);
        write("chat-core", "live-chat", s.w.data());
    }
    { // offline message stored, committed, delivered at login, acknowledged
        Script s(chat::setup_small_mailbox);
        s.login(0, alice);
        s.msg(0, Msg::send_message).u8(2).u8(carol).u8(2);
        s.msg(0, Msg::send_message).u8(3).u8(carol).u8(0);
        s.op(Op::store_result).u8(0).u8(1);
        s.op(Op::store_result).u8(0).u8(0);
        s.login(1, carol);
        s.msg(1, Msg::ack_messages).u8(1).u8(0);
        write("chat-core", "offline-message", s.w.data());
    }
    { // three wrong passwords lock the name; the lock runs out
        Script s(0);
        s.connect().msg(0, Msg::hello).u8(0);
        for (std::uint8_t rid = 1; rid <= 4; ++rid) s.msg(0, Msg::login).u8(rid).u8(dave).u8(1);
        s.op(Op::advance).u8(6).op(Op::advance).u8(7);
        s.msg(0, Msg::login).u8(5).u8(dave).u8(0);
        write("chat-core", "lockout", s.w.data());
    }
    { // hashed user: the password check answers later; a stale answer is ignored
        Script s(chat::setup_hashed_user);
        s.connect().msg(0, Msg::hello).u8(0).msg(0, Msg::login).u8(1).u8(erin).u8(0);
        s.op(Op::verify_result).u8(0).u8(2 | 1);
        s.connect().msg(1, Msg::hello).u8(0).msg(1, Msg::login).u8(7).u8(zed).u8(0);
        s.op(Op::verify_result).u8(0).u8(1).op(Op::verify_result).u8(0).u8(1);
        write("chat-core", "hashed-login", s.w.data());
    }
    { // private chat: listen, start, block revokes, stop
        Script s(0);
        s.login(0, alice).login(1, bob);
        s.msg(1, Msg::private_listen).u8(2).u8(0).u8(2);
        s.msg(0, Msg::private_listen).u8(2).u8(1).u8(2);
        s.msg(0, Msg::start_private).u8(3).u8(bob);
        s.msg(1, Msg::start_private).u8(3).u8(alice);
        s.msg(1, Msg::block).u8(4).u8(alice);
        s.msg(0, Msg::stop_private).u8(5).u8(bob);
        s.msg(1, Msg::unblock).u8(6).u8(alice);
        write("chat-core", "private-chat", s.w.data());
    }
    { // idle timeout, login deadline, a protocol error, a disconnect, a reload, shutdown
        Script s(0);
        s.login(0, alice).login(1, bob).connect();
        s.op(Op::advance).u8(11).op(Op::advance).u8(12);
        s.msg(1, Msg::who_else).u8(9);
        s.op(Op::settings).u8(1).op(Op::users).u8(0x0D);
        s.op(Op::protocol_error).u8(0).u8(0);
        s.login(0, carol).op(Op::disconnect).u8(0);
        s.op(Op::advance).u8(13).op(Op::shutdown);
        write("chat-core", "timers-and-shutdown", s.w.data());
    }
    { // the administrator: who, wall, kick, lock (the login is refused), unlock (it succeeds)
        using chat::Admin;
        auto admin = [](Script& s, Admin a, std::uint8_t name, std::uint8_t text, std::uint8_t seconds) {
            s.op(Op::admin).u8(std::uint8_t(a)).u8(name).u8(text).u8(seconds);
        };
        Script s(0);
        s.login(0, alice).login(1, bob);
        admin(s, Admin::who, 0, 0, 0);
        admin(s, Admin::wall, 0, 0, 0);
        admin(s, Admin::kick, bob, 0, 0);
        admin(s, Admin::lock, alice, 0, 3);
        s.login(0, alice);
        admin(s, Admin::unlock, alice, 0, 0);
        s.login(1, alice);
        admin(s, Admin::who, 0, 0, 0);
        write("chat-core", "administrator", s.w.data());
    }
    { // names that break the rule, raw strings, a server message sent to the server
        Script s(0);
        s.login(0, alice);
        s.msg(0, Msg::send_message).u8(2).u8(9).u8(0);
        s.msg(0, Msg::block)
            .u8(3)
            .u8(std::uint8_t(chat::raw_name))
            .w.str("b\xC3\xB6"
                   "b");
        s.msg(0, Msg::send_message).u8(4).u8(bob).u8(std::uint8_t(chat::raw_text)).w.str("\xF0\x9F\x98\x80");
        s.msg(0, Msg::raw).w.str(std::string("\x82\0\0\0\1\0\0\0\0", 9));
        write("chat-core", "bad-input", s.w.data());
    }
}

// ---- format: [which formatter] then its fields
void format_seeds() {
    const char* hostile[] = {"x\x1B]0;title\x07y",
                             "two\nlines\r",
                             "c1:\xC2\x9B"
                             "2J",
                             "tab\there",
                             "caf\xC3\xA9 \xE2\x82\xAC",
                             "bidi \xE2\x80\xAE"
                             "desrever\xE2\x81\xA9",
                             "del\x7F",
                             "\xEE\x60\x05 lead byte without its continuations"};
    for (std::uint8_t which = 0; which < 20; ++which) {
        InputWriter w;
        w.u8(which).u32(0x01020304).u8(which % 2).u32(1795624801).u8(3);
        for (int i = 0; i < 4; ++i) w.str(hostile[(which + i) % std::size(hostile)]);
        write("format", "formatter-" + std::to_string(which), w.data());
    }
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    root = argv[1];
    frame_seeds();
    message_seeds();
    chat_seeds();
    cluster_event_seeds();
    format_seeds();
    return 0;
}
