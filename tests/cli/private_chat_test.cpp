// PrivateChat when two users start a chat with each other at once (proto/PROTOCOL.md
// §8 step 4): real loopback sockets, the time passed in, so the invitations come
// exactly when a test says.
#include "cli/net.hpp"
#include "cli/poll_set.hpp"
#include "cli/private_chat.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace confab;
using namespace confab::cli;
using namespace std::chrono_literals;

namespace {

using Clock = PrivateChat::Clock;

class RecordingTerminal : public Terminal {
public:
    bool interactive() const noexcept override { return false; }
    void set_input(InputMode, std::string_view) override {}
    bool wants_read() const noexcept override { return false; }
    void on_readable() override {}
    bool printed(std::string_view part) const {
        return std::any_of(lines.begin(), lines.end(),
                           [&](const std::string& l) { return l.find(part) != std::string::npos; });
    }
    std::vector<std::string> lines;

protected:
    void write_out(std::string_view line) override { lines.emplace_back(line); }
    void write_err(std::string_view line) override { lines.emplace_back(line); }
};

struct User {
    explicit User(std::string name) : chat(name, terminal) { REQUIRE_FALSE(chat.listen("127.0.0.1")); }
    RecordingTerminal terminal;
    PrivateChat chat;
};

proto::Token token_of(std::uint8_t fill) {
    proto::Token t{};
    t.fill(fill);
    return t;
}

proto::PrivateIntro intro(std::string_view peer, std::uint16_t port, const proto::Token& token) {
    return proto::PrivateIntro{1, peer, "127.0.0.1", port, token};
}

// One poll round over every user's sockets, handled with the clock at `now`.
void pump(std::vector<User*> users, Clock::time_point now) {
    PollSet polls;
    for (User* u : users) u->chat.collect(polls);
    polls.wait(10);
    for (User* u : users) u->chat.dispatch(polls, now);
}

// Pumps until `done` holds, for at most 5 s of real time (sockets need it, the chats' clocks do not).
bool pump_until(std::vector<User*> users, Clock::time_point now, const std::function<bool()>& done) {
    const auto give_up = Clock::now() + 5s;
    while (!done()) {
        if (Clock::now() > give_up) return false;
        pump(users, now);
    }
    return true;
}

// A listener that takes one call and hangs up once the caller has spoken: what a
// peer whose name sorts first does to our call when it keeps its own.
class HangUpListener {
public:
    HangUpListener() : fd_(listen_ephemeral("127.0.0.1").fd) { REQUIRE(fd_); }
    std::uint16_t port() const { return local_port(fd_.get()); }
    // Accepts and reads the caller's first bytes (its TLS ClientHello) without blocking; then closes.
    bool step() {
        if (!call_) call_ = accept_connection(fd_.get());
        if (!call_) return false;
        pollfd p{call_.get(), POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) return false;
        char buf[4096];
        (void)::recv(call_.get(), buf, sizeof buf, 0);
        call_.reset();
        return true;
    }

private:
    UniqueFd fd_, call_;
};

// bob asks for a chat with alice and dials her; "alice" (sorting first) hangs up on
// the call, as when her own call to bob wins. Returns when bob has seen it closed.
void bob_call_hung_up(User& bob, Clock::time_point now) {
    HangUpListener alice_listener;
    REQUIRE_FALSE(bob.chat.request("alice"));
    bob.chat.introduced(intro("alice", alice_listener.port(), token_of(0xb0)), now);
    bool hung_up = false;
    REQUIRE(pump_until({&bob}, now, [&] { return hung_up || (hung_up = alice_listener.step()); }));
    // Closed: bob's next deadline moves from the call's handshake limit to the grace.
    REQUIRE(pump_until({&bob}, now, [&] {
        auto d = bob.chat.next_deadline();
        return !d || *d < now + PrivateChat::handshake_timeout || bob.terminal.printed("failed");
    }));
}

} // namespace

TEST_CASE("a crossed call closed before the winner's invitation came waits for it, and the winner's call is taken") {
    const auto t0 = Clock::now();
    User bob("bob");
    bob_call_hung_up(bob, t0);
    CHECK(bob.terminal.lines.empty());

    // alice's invitation comes after the hang-up, within the grace, then her call.
    const auto t1 = t0 + PrivateChat::invite_grace - 1ms;
    bob.chat.expire(t1);
    const proto::Token alice_token = token_of(0xa1);
    bob.chat.invited("alice", alice_token, t1);
    bob.chat.expire(t0 + PrivateChat::invite_grace + 1ms); // the grace has passed: the call now has longer
    CHECK_FALSE(bob.terminal.printed("failed"));

    User alice("alice");
    REQUIRE_FALSE(alice.chat.request("bob"));
    alice.chat.introduced(intro("bob", bob.chat.port(), alice_token), t1);
    CHECK(pump_until({&alice, &bob}, t1, [&] {
        return alice.terminal.printed("private chat with bob started") &&
               bob.terminal.printed("private chat with alice started");
    }));
    CHECK(bob.terminal.lines == std::vector<std::string>{"private chat with alice started"});
}

TEST_CASE("a call closed by a peer that sorts first and never invites fails once the grace has passed") {
    const auto t0 = Clock::now();
    User bob("bob");
    bob_call_hung_up(bob, t0);
    bob.chat.expire(t0 + PrivateChat::invite_grace - 1ms);
    CHECK(bob.terminal.lines.empty());
    bob.chat.expire(t0 + PrivateChat::invite_grace);
    CHECK(bob.terminal.lines ==
          std::vector<std::string>{"error: private chat with alice failed: the connection was closed"});
    CHECK(bob.chat.request("alice") == std::nullopt); // nothing is left of it
}

TEST_CASE("a call closed by a peer that sorts after us fails at once") {
    const auto t0 = Clock::now();
    User alice("alice");
    HangUpListener bob_listener;
    REQUIRE_FALSE(alice.chat.request("bob"));
    alice.chat.introduced(intro("bob", bob_listener.port(), token_of(0xa0)), t0);
    bool hung_up = false;
    REQUIRE(pump_until({&alice}, t0, [&] { return hung_up || (hung_up = bob_listener.step()); }));
    CHECK(pump_until({&alice}, t0, [&] { return alice.terminal.printed("failed"); }));
    CHECK(alice.terminal.lines ==
          std::vector<std::string>{"error: private chat with bob failed: the connection was closed"});
}

TEST_CASE("a revocation of a chat still being set up says why it failed; of one that is up, that it ended") {
    const auto t0 = Clock::now();
    User bob("bob");
    HangUpListener alice_listener; // never answers: the call stays being set up
    REQUIRE_FALSE(bob.chat.request("alice"));
    bob.chat.introduced(intro("alice", alice_listener.port(), token_of(0xb1)), t0);
    bob.chat.revoked("alice");
    CHECK(bob.terminal.lines == std::vector<std::string>{"error: private chat with alice failed: ended by a block"});
    CHECK(bob.chat.request("alice") == std::nullopt); // nothing is left of it

    User carol("carol");
    REQUIRE_FALSE(carol.chat.request("bob"));
    bob.chat.invited("carol", token_of(0xc1), t0);
    carol.chat.introduced(intro("bob", bob.chat.port(), token_of(0xc1)), t0);
    REQUIRE(pump_until({&bob, &carol}, t0, [&] { return bob.terminal.printed("private chat with carol started"); }));
    bob.chat.revoked("carol");
    CHECK(bob.terminal.lines.back() == "private chat with carol ended");
}
