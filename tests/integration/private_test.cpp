// Private chat between real `confab` clients: introduction through confabd,
// text over the direct connection (never through the server) and encrypted
// on it, refused tokens, and every way a private session ends.
#include "private_relay.hpp"
#include "psk_peer.hpp"
#include "scenario.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <vector>

using namespace confab;
using namespace confab::test;

namespace {

using Clock = std::chrono::steady_clock;

std::size_t count(const Lines& lines, const std::string& line) {
    return std::size_t(std::count(lines.begin(), lines.end(), line));
}

bool any_contains(const Lines& lines, const std::string& part) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

int exit_code(ClientProcess& c, Millis limit = 5000ms) {
    return c.wait_exit(limit).value_or(-1);
}

// Opens a private chat from `a` (named an) to `b` (named bn) and waits for both ends.
void open_private(ClientProcess& a, const std::string& an, ClientProcess& b, const std::string& bn) {
    a.send_line("startprivate " + bn);
    REQUIRE_MESSAGE(a.expect_line("private chat with " + bn + " started"), a.stderr_text());
    REQUIRE_MESSAGE(b.expect_line("private chat with " + an + " started"), b.stderr_text());
}

// A plaintext connection to a client's private listener, refused: closed
// without a frame (at most a TLS alert, which starts with 0x15, not 0x00).
bool refused_in_clear(RawClient& peer) {
    std::vector<std::uint8_t> got;
    auto deadline = Clock::now() + 3000ms;
    while (Clock::now() < deadline) {
        pollfd p{peer.fd(), POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        std::uint8_t buf[4096];
        ssize_t n = ::recv(peer.fd(), buf, sizeof buf, 0);
        if (n <= 0) return got.empty() || got[0] != 0x00;
        got.insert(got.end(), buf, buf + n);
    }
    return false;
}

// The private listener of `user`, as anyone logged in can learn it: `asker`
// (logged in) asks the server for an introduction. The intro's token is `token`.
std::uint16_t listener_of(RawClient& asker, const std::string& user, proto::Token* token = nullptr) {
    asker.send(proto::StartPrivate{asker.next_request(), user});
    std::vector<std::uint8_t> keep;
    auto intro = asker.expect<proto::PrivateIntro>(3000ms, &keep);
    REQUIRE(intro);
    if (token) *token = intro->token;
    return intro->port;
}

// Connections to `port` that never say a word: `per_address` from each of
// 127.0.0.2 .. 127.0.0.(1 + addresses).
std::vector<std::unique_ptr<RawClient>> silent_strangers(std::uint16_t port, int addresses, int per_address) {
    std::vector<std::unique_ptr<RawClient>> out;
    for (int a = 0; a < addresses; ++a) {
        const std::string source = "127.0.0." + std::to_string(2 + a);
        for (int i = 0; i < per_address; ++i) out.push_back(std::make_unique<RawClient>(port, 0, source.c_str()));
    }
    return out;
}

// Milliseconds until the other end closes `c` (reads nothing else); -1 if not within `limit`.
long long ms_until_closed(RawClient& c, Millis limit) {
    const auto start = Clock::now();
    while (Clock::now() - start < limit) {
        pollfd p{c.fd(), POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        std::uint8_t buf[4096];
        if (::recv(c.fd(), buf, sizeof buf, 0) <= 0)
            return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    }
    return -1;
}

} // namespace

TEST_CASE("silent strangers at a client's private listener do not stop a real private chat") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    RawClient carol(d.port());
    REQUIRE(carol.login("carol", "carol123").outcome == proto::LoginOutcome::ok);
    const std::uint16_t bob_port = listener_of(carol, "bob");

    std::vector<std::unique_ptr<RawClient>> strangers;
    SUBCASE("20 from one address") {
        strangers = silent_strangers(bob_port, 1, 20);
    }
    SUBCASE("40 from ten addresses") {
        strangers = silent_strangers(bob_port, 10, 4);
    }
    std::this_thread::sleep_for(300ms); // bob has taken them all in
    open_private(*alice, "alice", *bob, "bob");
    alice->send_line("private bob through the crowd");
    CHECK(bob->expect_line("alice (private): through the crowd"));
    CHECK(bob->stderr_text().empty());
}

TEST_CASE("a stranger at a client's private listener is closed once it has not proven a token in 5 s") {
    Daemon d;
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    RawClient carol(d.port());
    REQUIRE(carol.login("carol", "carol123").outcome == proto::LoginOutcome::ok);
    REQUIRE(bob->expect_line("carol logged in"));
    RawClient stranger(listener_of(carol, "bob"), 0, "127.0.0.2");
    const long long ms = ms_until_closed(stranger, 9000ms);
    CHECK(ms >= 4000);
    CHECK(ms <= 7000);
    Lines at_bob = sync(*bob);
    CHECK(at_bob.empty()); // the user is not bothered
}

TEST_CASE("an invitation not used in time expires with a line, and its token is refused afterwards") {
    Daemon d;
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123", {"--invite-timeout", "1"});
    RawClient carol(d.port());
    REQUIRE(carol.login("carol", "carol123").outcome == proto::LoginOutcome::ok);
    proto::Token token{};
    const std::uint16_t bob_port = listener_of(carol, "bob", &token);
    CHECK(bob->expect_line("private chat invitation from carol expired (not used within 1 s)", 4000ms));
    PskPeer peer(bob_port, token);
    CHECK_FALSE(peer.secured());
    CHECK_FALSE(any_contains(sync(*bob), "started"));
}

TEST_CASE("private chat works both ways and its text never passes through the server") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    open_private(*alice, "alice", *bob, "bob");

    alice->send_line("private bob psst-pineapple-4711");
    CHECK(bob->expect_line("alice (private): psst-pineapple-4711"));
    bob->send_line("private alice reply-mango-0815");
    CHECK(alice->expect_line("bob (private): reply-mango-0815"));
    for (int i = 0; i < 5; ++i) alice->send_line("private bob line-kiwi-" + std::to_string(i));
    for (int i = 0; i < 5; ++i) CHECK(bob->expect_line("alice (private): line-kiwi-" + std::to_string(i)));

    // The log is live and at debug level, so the absence of the texts means something.
    alice->send_line("message bob through-the-server");
    CHECK(bob->expect_line("alice: through-the-server"));
    CHECK(d.log_contains("bob logged in", 2000ms));
    CHECK(d.log_contains("connection from", 0ms)); // a debug-level line
    std::string log = d.log();
    CHECK_FALSE(log.find("pineapple") != std::string::npos);
    CHECK_FALSE(log.find("mango") != std::string::npos);
    CHECK_FALSE(log.find("kiwi") != std::string::npos);

    // Each end is told exactly once.
    CHECK(count(alice->lines(), "private chat with bob started") == 1);
    CHECK(count(bob->lines(), "private chat with alice started") == 1);
    CHECK(alice->stderr_text().empty());
    CHECK(bob->stderr_text().empty());
}

TEST_CASE("a private chat is encrypted on the wire") {
    Daemon d;
    PrivateRelay relay(d.port()); // alice's server link, and her private-chat connections
    auto alice = std::make_unique<ClientProcess>(relay.port());
    alice->send_line("alice");
    alice->send_line("alice123");
    REQUIRE_MESSAGE(alice->expect_line("welcome, alice", 10000ms), alice->stderr_text());
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    open_private(*alice, "alice", *bob, "bob");
    alice->send_line("private bob psst-pineapple-4711");
    CHECK(bob->expect_line("alice (private): psst-pineapple-4711"));
    bob->send_line("private alice reply-mango-0815");
    CHECK(alice->expect_line("bob (private): reply-mango-0815"));

    CHECK(relay.private_connections() == 1); // the chat did go through the relay
    std::vector<std::uint8_t> wire = relay.private_bytes();
    std::string seen(wire.begin(), wire.end());
    REQUIRE(wire.size() > 2);
    CHECK(wire[0] == 0x16); // a TLS handshake record, not a frame
    CHECK(wire[1] == 0x03);
    CHECK(seen.find("pineapple") == std::string::npos);
    CHECK(seen.find("mango") == std::string::npos);
    CHECK(seen.find("alice") == std::string::npos); // the PeerHello is inside the tunnel too
}

TEST_CASE("text typed while the private chat is being set up is sent once it is up") {
    Daemon d;
    auto carol = ClientProcess::logged_in(d.port(), "carol", "carol123");
    auto dave = ClientProcess::logged_in(d.port(), "dave", "dave123");
    dave->send_line("startprivate carol");
    dave->send_line("private carol early bird");
    CHECK(wait_all(*carol, {"private chat with dave started", "dave (private): early bird"}).empty());
    CHECK(dave->expect_line("private chat with carol started"));
    carol->send_line("private dave got it");
    CHECK(dave->expect_line("carol (private): got it"));
    dave->send_line("startprivate carol");
    CHECK(dave->expect_line("error: private chat with carol already active"));
}

TEST_CASE("startprivate errors: offline, unknown, self, blocked; no session, bad name") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");

    alice->send_line("startprivate carol");
    CHECK(alice->expect_line("error: carol is offline"));
    alice->send_line("startprivate zed");
    CHECK(alice->expect_line("error: unknown user 'zed'"));
    alice->send_line("startprivate alice");
    CHECK(alice->expect_line("error: you cannot start a private chat with yourself"));
    alice->send_line("startprivate b@d");
    CHECK(alice->wait_line([](const std::string& l) { return l.rfind("error: invalid user name 'b@d'", 0) == 0; }));
    alice->send_line("startprivate");
    CHECK(alice->expect_line("error: usage: startprivate <user>"));

    bob->send_line("block alice");
    CHECK(bob->expect_line("alice is blocked"));
    alice->send_line("startprivate bob");
    CHECK(alice->expect_line("error: bob has blocked you"));
    Lines at_bob = sync(*bob);
    CHECK_FALSE(any_contains(at_bob, "private chat"));

    alice->send_line("private bob anyone?");
    CHECK(alice->expect_line("error: no private session with bob"));
    alice->send_line("private bob");
    CHECK(alice->expect_line("error: usage: private <user> <text>"));
    alice->send_line("stopprivate bob");
    CHECK(alice->expect_line("error: no private session with bob"));

    // Once unblocked, the same pair can talk, in either direction.
    bob->send_line("unblock alice");
    CHECK(bob->expect_line("alice is unblocked"));
    open_private(*alice, "alice", *bob, "bob");
    alice->send_line("private bob finally");
    CHECK(bob->expect_line("alice (private): finally"));

    // Now the other way: alice blocks bob, so bob cannot open a chat with her.
    alice->send_line("stopprivate bob");
    CHECK(alice->expect_line("private chat with bob ended"));
    CHECK(bob->expect_line("private chat with alice ended"));
    alice->send_line("block bob");
    CHECK(alice->expect_line("bob is blocked"));
    bob->send_line("startprivate alice");
    CHECK(bob->expect_line("error: alice has blocked you"));
}

TEST_CASE("a private listener refuses wrong, misattributed and replayed tokens without bothering its user") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    RawClient carol(d.port());
    REQUIRE(carol.login("carol", "carol123").outcome == proto::LoginOutcome::ok);
    CHECK(bob->expect_line("carol logged in"));

    // carol asks the server for an introduction to bob: that reveals bob's listener.
    carol.send(proto::StartPrivate{carol.next_request(), "bob"});
    std::vector<std::uint8_t> keep;
    auto intro = carol.expect<proto::PrivateIntro>(3000ms, &keep);
    REQUIRE(intro);
    CHECK(intro->peer == "bob");
    CHECK(intro->host == "127.0.0.1");
    const std::uint16_t bob_port = intro->port;
    const proto::Token token = intro->token;
    REQUIRE(bob_port != 0);

    SUBCASE("wrong tokens and wrong names are refused; the right one works once") {
        {
            proto::Token wrong = token;
            wrong[0] ^= 0x01;
            PskPeer peer(bob_port, wrong); // a guess: the TLS handshake fails
            CHECK_FALSE(peer.secured());
        }
        {
            PskPeer peer(bob_port, proto::Token{});
            CHECK_FALSE(peer.secured());
        }
        {
            PskPeer peer(bob_port, token); // carol's token, presented under another name
            REQUIRE(peer.secured());
            peer.send(proto::PeerHello{proto::protocol_version, "alice", token});
            CHECK(peer.refused());
        }
        {
            PskPeer peer(bob_port, token); // the right key, then a hello with another token
            REQUIRE(peer.secured());
            proto::Token other = token;
            other[7] ^= 0x40;
            peer.send(proto::PeerHello{proto::protocol_version, "carol", other});
            CHECK(peer.refused());
        }
        {
            PskPeer peer(bob_port, token); // something other than a PeerHello
            REQUIRE(peer.secured());
            peer.send(proto::PeerText{"let me in"});
            CHECK(peer.refused());
        }
        {
            RawClient peer(bob_port); // the right hello, but in the clear
            peer.send(proto::PeerHello{proto::protocol_version, "carol", token});
            CHECK(refused_in_clear(peer));
        }
        Lines at_bob = sync(*bob);
        CHECK_MESSAGE(at_bob.empty(), at_bob.size() << " unexpected line(s) at bob");
        CHECK(bob->stderr_text().empty());

        // The invitation is still good after failed attempts: the real token works.
        {
            PskPeer peer(bob_port, token);
            REQUIRE(peer.secured());
            CHECK(peer.key_exchange_group() != 0); // psk_dhe_ke: forward secrecy on top of the PSK
            peer.send(proto::PeerHello{proto::protocol_version, "carol", token});
            auto w = peer.receive();
            REQUIRE(w);
            REQUIRE(std::holds_alternative<proto::PeerWelcome>(*w));
            CHECK(std::get<proto::PeerWelcome>(*w).name == "bob");
            CHECK(bob->expect_line("private chat with carol started"));
            peer.send(proto::PeerText{"hello from a raw peer"});
            CHECK(bob->expect_line("carol (private): hello from a raw peer"));
            bob->send_line("private carol hello raw");
            auto t = peer.receive();
            REQUIRE(t);
            REQUIRE(std::holds_alternative<proto::PeerText>(*t));
            CHECK(std::get<proto::PeerText>(*t).text == "hello raw");
            peer.send(proto::PeerBye{proto::PeerByeReason::stopped});
            CHECK(bob->expect_line("private chat with carol ended"));
        }
        // Replayed: the token was single use, so its key opens nothing any more.
        {
            PskPeer peer(bob_port, token);
            CHECK_FALSE(peer.secured());
        }
        at_bob = sync(*bob);
        CHECK_FALSE(any_contains(at_bob, "carol"));
    }

    SUBCASE("a token is good only at the listener of the user it was issued for") {
        carol.send(proto::StartPrivate{carol.next_request(), "alice"});
        std::vector<std::uint8_t> k;
        auto to_alice = carol.expect<proto::PrivateIntro>(3000ms, &k);
        REQUIRE(to_alice);
        REQUIRE(to_alice->port != bob_port);
        PskPeer peer(to_alice->port, token); // bob's token
        CHECK_FALSE(peer.secured());
        Lines at_alice = sync(*alice);
        CHECK_FALSE(any_contains(at_alice, "private"));
    }

    SUBCASE("a token used by a real client cannot be replayed by anyone") {
        // alice (real) opens a chat with bob and uses her token. A stranger cannot
        // know it; whatever it presents in alice's name is refused, and the live
        // chat is not disturbed.
        open_private(*alice, "alice", *bob, "bob");
        for (const proto::Token& guess : {token, proto::Token{}}) {
            PskPeer peer(bob_port, guess);
            if (peer.secured()) peer.send(proto::PeerHello{proto::protocol_version, "alice", guess});
            CHECK(peer.refused());
        }
        alice->send_line("private bob still private");
        CHECK(bob->expect_line("alice (private): still private"));
        Lines at_bob = sync(*bob);
        CHECK_FALSE(any_contains(at_bob, "ended"));
        CHECK(count(bob->lines(), "private chat with alice started") == 1);
    }
}

TEST_CASE("stopprivate ends the chat at both ends; either side can start again") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    open_private(*alice, "alice", *bob, "bob");
    alice->send_line("stopprivate bob");
    CHECK(alice->expect_line("private chat with bob ended"));
    CHECK(bob->expect_line("private chat with alice ended"));
    alice->send_line("private bob are you there");
    CHECK(alice->expect_line("error: no private session with bob"));
    bob->send_line("private alice are you there");
    CHECK(bob->expect_line("error: no private session with alice"));
    Lines at_alice = sync(*alice);
    CHECK_FALSE(any_contains(at_alice, "error"));
    CHECK(count(alice->lines(), "private chat with bob ended") == 1);
    CHECK(count(bob->lines(), "private chat with alice ended") == 1);

    open_private(*bob, "bob", *alice, "alice"); // the other way round
    bob->send_line("private alice round two");
    CHECK(alice->expect_line("bob (private): round two"));
    alice->send_line("private bob indeed");
    CHECK(bob->expect_line("alice (private): indeed"));
    bob->send_line("stopprivate alice");
    CHECK(bob->expect_line("private chat with alice ended"));
    CHECK(alice->expect_line("private chat with bob ended"));
}

TEST_CASE("a logout ends the private chat at the other end") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    auto carol = ClientProcess::logged_in(d.port(), "carol", "carol123");
    open_private(*alice, "alice", *bob, "bob");
    open_private(*carol, "carol", *alice, "alice");

    bob->send_line("logout");
    CHECK(exit_code(*bob) == 0);
    CHECK(wait_all(*alice, {"private chat with bob ended", "bob logged out"}).empty());
    alice->send_line("private bob hello?");
    CHECK(alice->expect_line("error: no private session with bob"));
    // The chat with carol is unaffected.
    alice->send_line("private carol still here");
    CHECK(carol->expect_line("alice (private): still here"));

    carol->close_stdin(); // end of input is a logout too
    CHECK(exit_code(*carol) == 0);
    CHECK(wait_all(*alice, {"private chat with carol ended", "carol logged out"}).empty());

    // bob back: a fresh chat works.
    bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    open_private(*bob, "bob", *alice, "alice");
    bob->send_line("private alice back again");
    CHECK(alice->expect_line("bob (private): back again"));
}

TEST_CASE("blocking during a private chat ends it at both ends") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    auto carol = ClientProcess::logged_in(d.port(), "carol", "carol123");
    auto dave = ClientProcess::logged_in(d.port(), "dave", "dave123");

    // The initiator blocks.
    open_private(*alice, "alice", *bob, "bob");
    alice->send_line("block bob");
    CHECK(wait_all(*alice, {"bob is blocked", "private chat with bob ended"}).empty());
    CHECK(bob->expect_line("private chat with alice ended"));
    bob->send_line("private alice hello?");
    CHECK(bob->expect_line("error: no private session with alice"));
    alice->send_line("private bob hello?");
    CHECK(alice->expect_line("error: no private session with bob"));

    // The one who accepted blocks.
    open_private(*carol, "carol", *dave, "dave");
    dave->send_line("block carol");
    CHECK(wait_all(*dave, {"carol is blocked", "private chat with carol ended"}).empty());
    CHECK(carol->expect_line("private chat with dave ended"));
    carol->send_line("startprivate dave");
    CHECK(carol->expect_line("error: dave has blocked you"));

    // Each end said it once.
    Lines a = sync(*alice), b = sync(*bob), c = sync(*carol), dv = sync(*dave);
    CHECK(count(alice->lines(), "private chat with bob ended") == 1);
    CHECK(count(bob->lines(), "private chat with alice ended") == 1);
    CHECK(count(carol->lines(), "private chat with dave ended") == 1);
    CHECK(count(dave->lines(), "private chat with carol ended") == 1);
}

TEST_CASE("private chat text keeps the chatting sessions alive (PrivateActivity); an idle user times out") {
    DaemonOptions o;
    o.timeout = 2;
    Daemon d(o);
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    auto carol = ClientProcess::logged_in(d.port(), "carol", "carol123"); // idle
    open_private(*alice, "alice", *bob, "bob");
    auto start = Clock::now();
    // Both keep chatting privately, well past the timeout.
    for (int i = 0; Clock::now() < start + 4000ms; ++i) {
        alice->send_line("private bob tick " + std::to_string(i));
        bob->send_line("private alice tock " + std::to_string(i));
        std::this_thread::sleep_for(250ms);
    }
    CHECK(exit_code(*carol, 3000ms) == 3);
    CHECK(contains(carol->lines(), "you will be logged out for inactivity in 1 second unless you type a command"));
    // Once they stop, they are warned and timed out like anyone, but only then.
    CHECK(exit_code(*alice, 4000ms) == 3);
    CHECK(exit_code(*bob, 4000ms) == 3);
    CHECK(Clock::now() - start >= 4000ms);
    CHECK(contains(bob->lines(), "alice (private): tick 0")); // the chat did carry text
    CHECK(contains(alice->lines(), "bob (private): tock 10"));
    CHECK(contains(alice->lines(), "logged out: timed out after 2 seconds without a command"));
    CHECK(contains(alice->lines(), "you will be logged out for inactivity in 1 second unless you type a command"));
}

TEST_CASE("a private peer that dies: the other end is told the chat ended") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    open_private(*alice, "alice", *bob, "bob");
    ::kill(bob->pid(), SIGKILL);
    CHECK(wait_all(*alice, {"private chat with bob ended", "bob logged out"}).empty());
    alice->send_line("private bob hello?");
    CHECK(alice->expect_line("error: no private session with bob"));
    alice->send_line("startprivate bob");
    CHECK(alice->expect_line("error: bob is offline"));
}

TEST_CASE("both users starting a private chat with each other at once end up with one chat") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    for (int round = 0; round < 3; ++round) {
        CAPTURE(round);
        alice->send_line("startprivate bob");
        bob->send_line("startprivate alice");
        CHECK(alice->expect_line("private chat with bob started"));
        CHECK(bob->expect_line("private chat with alice started"));
        alice->send_line("private bob crossed " + std::to_string(round));
        CHECK(bob->expect_line("alice (private): crossed " + std::to_string(round)));
        bob->send_line("private alice crossed back " + std::to_string(round));
        CHECK(alice->expect_line("bob (private): crossed back " + std::to_string(round)));
        sync(*alice);
        sync(*bob);
        CHECK(count(alice->lines(), "private chat with bob started") == std::size_t(round + 1));
        CHECK(count(bob->lines(), "private chat with alice started") == std::size_t(round + 1));
        alice->send_line("stopprivate bob");
        CHECK(alice->expect_line("private chat with bob ended"));
        CHECK(bob->expect_line("private chat with alice ended"));
    }
    // No set-up failed on the way at either end. (If one request is handled
    // after the other's chat is up, "already active" is a fair answer.)
    auto errors = [](const Lines& ls) {
        Lines out;
        for (const auto& l : ls)
            if (l.rfind("error: private chat", 0) == 0 && l.find(" failed") != std::string::npos) out.push_back(l);
        return out;
    };
    auto join = [](const Lines& ls) {
        std::string out;
        for (const auto& l : ls) out += l + "\n";
        return out;
    };
    CHECK_MESSAGE(errors(alice->lines()).empty(), join(alice->lines()));
    CHECK_MESSAGE(errors(bob->lines()).empty(), join(bob->lines()));
}
