// Multi-user scenarios: several real `confab` clients in scripted mode against
// the real confabd. Login and lockout, presence, live and offline messages,
// broadcast, blocking, whoelse/whoelsesince, idle timeout, input errors and
// the client's command line.
#include "proto/parse_number.hpp"
#include "scenario.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace confab;
using namespace confab::test;

namespace {

using Clock = std::chrono::steady_clock;

bool any_starts_with(const Lines& lines, const std::string& prefix) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; });
}

struct Attempt {
    int exit = -1;
    std::string err;
    Lines out;
};

// One scripted login that is expected to end the client.
Attempt try_login(std::uint16_t port, const std::string& name, const std::string& password) {
    ClientProcess c(port);
    c.send_line(name);
    c.send_line(password);
    Attempt a;
    a.exit = c.wait_exit(10000ms).value_or(-1);
    a.err = c.stderr_text();
    a.out = c.lines();
    return a;
}

bool has(const std::string& text, const std::string& needle) {
    return text.find(needle) != std::string::npos;
}

int exit_code(ClientProcess& c, Millis limit = 5000ms) {
    return c.wait_exit(limit).value_or(-1);
}

// `alice (offline, sent 2026-11-25 16:40:01): text` -> the time as Unix seconds, or -1.
// (No std::regex: GCC 12 warns inside it under -fsanitize.)
std::time_t offline_time(const std::string& line, const std::string& from, const std::string& text) {
    const std::string head = from + " (offline, sent ";
    const std::string tail = "): " + text;
    // "YYYY-MM-DD HH:MM:SS" is 19 characters.
    if (line.size() != head.size() + 19 + tail.size() || line.rfind(head, 0) != 0 ||
        line.compare(head.size() + 19, std::string::npos, tail) != 0)
        return -1;
    const std::string stamp = line.substr(head.size(), 19);
    for (std::size_t i = 0; i < stamp.size(); ++i) {
        char want = i == 4 || i == 7 ? '-' : i == 10 ? ' ' : i == 13 || i == 16 ? ':' : '0';
        if (want == '0' ? (stamp[i] < '0' || stamp[i] > '9') : stamp[i] != want) return -1;
    }
    std::tm tm{};
    auto field = [&](std::size_t at, std::size_t len) {
        return parse_number<int>(std::string_view(stamp).substr(at, len)).value_or(-1);
    };
    tm.tm_year = field(0, 4) - 1900;
    tm.tm_mon = field(5, 2) - 1;
    tm.tm_mday = field(8, 2);
    tm.tm_hour = field(11, 2);
    tm.tm_min = field(14, 2);
    tm.tm_sec = field(17, 2);
    tm.tm_isdst = -1;
    return std::mktime(&tm);
}

Lines offline_lines(const Lines& lines) {
    Lines out;
    for (const auto& l : lines)
        if (has(l, " (offline, sent ")) out.push_back(l);
    return out;
}

} // namespace

// ---------------------------------------------------------------- login

TEST_CASE("login prints the welcome line; presence of others; logout and end of input exit 0") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    CHECK(alice->lines().front() == "welcome, alice");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    CHECK(alice->expect_line("bob logged in"));
    Lines at_bob = sync(*bob);
    CHECK_FALSE(contains(at_bob, "alice logged in")); // only logins after one's own are told
    CHECK_FALSE(contains(at_bob, "bob logged in"));   // nor one's own

    bob->send_line("logout");
    CHECK(bob->expect_line("logged out"));
    CHECK(exit_code(*bob) == 0);
    CHECK(alice->expect_line("bob logged out"));

    auto carol = ClientProcess::logged_in(d.port(), "carol", "carol123");
    CHECK(alice->expect_line("carol logged in"));
    carol->close_stdin(); // end of input logs out
    CHECK(exit_code(*carol) == 0);
    CHECK(contains(carol->lines(), "logged out"));
    CHECK(alice->expect_line("carol logged out"));
    CHECK(carol->stderr_text().empty());
}

TEST_CASE("input that ends before the password: exit 1, nothing held") {
    Daemon d;
    ClientProcess c(d.port());
    c.send_line("alice");
    c.close_stdin();
    CHECK(exit_code(c) == 1);
    CHECK_MESSAGE(has(c.stderr_text(), "error: standard input ended before the password"), c.stderr_text());
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
}

TEST_CASE("a wrong password is refused with the attempts left and exit code 2") {
    Daemon d;
    Attempt a = try_login(d.port(), "alice", "wrong");
    CHECK(a.exit == 2);
    CHECK_MESSAGE(has(a.err, "error: wrong password (2 attempts left)"), a.err);
    CHECK_FALSE(contains(a.out, "welcome, alice"));
    a = try_login(d.port(), "alice", "alice");
    CHECK(a.exit == 2);
    CHECK_MESSAGE(has(a.err, "error: wrong password (1 attempt left)"), a.err);
    // A success resets the count.
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    alice->send_line("logout");
    CHECK(exit_code(*alice) == 0);
    a = try_login(d.port(), "alice", "nope");
    CHECK_MESSAGE(has(a.err, "error: wrong password (2 attempts left)"), a.err);
}

TEST_CASE("three wrong passwords lock the name across clients until block_duration has passed") {
    DaemonOptions o;
    o.block_duration = 2;
    Daemon d(o);
    Attempt a1 = try_login(d.port(), "alice", "bad1");
    Attempt a2 = try_login(d.port(), "alice", "bad2");
    Attempt a3 = try_login(d.port(), "alice", "bad3");
    auto locked_at = Clock::now();
    CHECK_MESSAGE(has(a1.err, "(2 attempts left)"), a1.err);
    CHECK_MESSAGE(has(a2.err, "(1 attempt left)"), a2.err);
    CHECK(a3.exit == 2);
    CHECK_MESSAGE(has(a3.err, "error: account locked, try again in 2 seconds"), a3.err);

    // The right password is refused while the lock lasts.
    Attempt a4 = try_login(d.port(), "alice", "alice123");
    CHECK(a4.exit == 2);
    CHECK_MESSAGE(has(a4.err, "error: account locked, try again in "), a4.err);
    CHECK_MESSAGE(has(a4.err, "second"), a4.err);
    CHECK_FALSE(contains(a4.out, "welcome, alice"));

    // Other names are not affected.
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");

    // Attempts during the lock do not extend it.
    std::this_thread::sleep_until(locked_at + 2300ms);
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    CHECK(bob->expect_line("alice logged in"));
}

TEST_CASE("an unknown name is answered exactly like a wrong password, lock included") {
    DaemonOptions o;
    o.block_duration = 2;
    Daemon d(o);
    Attempt z1 = try_login(d.port(), "zed", "whatever");
    Attempt z2 = try_login(d.port(), "zed", "whatever");
    Attempt z3 = try_login(d.port(), "zed", "whatever");
    Attempt z4 = try_login(d.port(), "zed", "whatever");
    CHECK(z1.exit == 2);
    CHECK(z2.exit == 2);
    CHECK(z3.exit == 2);
    CHECK(z4.exit == 2);
    CHECK_MESSAGE(has(z1.err, "error: wrong password (2 attempts left)"), z1.err);
    CHECK_MESSAGE(has(z2.err, "error: wrong password (1 attempt left)"), z2.err);
    CHECK_MESSAGE(has(z3.err, "error: account locked, try again in 2 seconds"), z3.err);
    CHECK_MESSAGE(has(z4.err, "error: account locked, try again in "), z4.err);
    CHECK_FALSE(has(z1.err + z2.err + z3.err + z4.err, "unknown"));

    // A name that cannot exist is refused by the client before asking.
    Attempt bad = try_login(d.port(), "no such/name", "x");
    CHECK(bad.exit == 2);
    CHECK_MESSAGE(has(bad.err, "error: invalid user name"), bad.err);
}

TEST_CASE("a second login of a logged-in name is refused; the first session is untouched") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    REQUIRE(alice->expect_line("bob logged in"));

    Attempt again = try_login(d.port(), "alice", "alice123");
    CHECK(again.exit == 2);
    CHECK_MESSAGE(has(again.err, "error: alice is already logged in"), again.err);
    CHECK_FALSE(contains(again.out, "welcome, alice"));

    bob->send_line("message alice are you still there?");
    CHECK(alice->expect_line("bob: are you still there?"));
    alice->send_line("message bob yes");
    CHECK(bob->expect_line("alice: yes"));
    Lines at_bob = sync(*bob);
    CHECK_FALSE(contains(at_bob, "alice logged out"));
    CHECK_FALSE(contains(at_bob, "alice logged in"));
    bob->send_line("whoelse");
    CHECK(bob->expect_line("alice"));
}

// ---------------------------------------------------------------- idle timeout

TEST_CASE("idle users are logged out after timeout; commands postpone it, received messages do not") {
    DaemonOptions o;
    o.timeout = 2;
    Daemon d(o);
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123"); // idle
    auto carol = ClientProcess::logged_in(d.port(), "carol", "carol123"); // only receives
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");       // active
    auto start = Clock::now();

    // bob: a command every 0.5 s for well over the timeout, half of them messages to carol.
    for (int i = 0; Clock::now() < start + 3500ms; ++i) {
        bob->send_line(i % 2 ? "whoelse" : "message carol ping " + std::to_string(i));
        std::this_thread::sleep_for(500ms);
    }
    auto alice_exit = alice->wait_exit(3000ms);
    auto alice_end = Clock::now();
    CHECK(alice_exit.value_or(-1) == 3);
    CHECK(contains(alice->lines(), "you will be logged out for inactivity in 1 second unless you type a command"));
    CHECK(contains(alice->lines(), "logged out: timed out after 2 seconds without a command"));
    CHECK(exit_code(*carol, 3000ms) == 3);
    CHECK(any_starts_with(carol->lines(), "logged out: "));
    CHECK(contains(carol->lines(), "bob: ping 0")); // it did receive
    CHECK(alice_end - start >= 1500ms);

    Lines at_bob = sync(*bob); // still connected
    CHECK(contains(bob->lines(), "alice logged out"));
    CHECK(contains(bob->lines(), "carol logged out"));
    CHECK_FALSE(any_starts_with(bob->lines(), "logged out"));
    bob->send_line("whoelse");
    CHECK(bob->expect_line("no other users"));
    // A timed-out name is free again at once.
    alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    CHECK(bob->expect_line("alice logged in"));
    bob->send_line("logout");
    CHECK(exit_code(*bob) == 0);
}

// ---------------------------------------------------------------- messages

TEST_CASE("messages: live delivery, offline storage in order, delivered once") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto carol = ClientProcess::logged_in(d.port(), "carol", "carol123");
    {
        auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
        alice->send_line("message bob hi");
        CHECK(bob->expect_line("alice: hi"));
        bob->send_line("message alice hello   with  spaces ");
        CHECK(alice->expect_line("bob: hello   with  spaces "));
        bob->send_line("logout");
        CHECK(exit_code(*bob) == 0);
        CHECK(alice->expect_line("bob logged out"));
    }

    std::time_t before = std::time(nullptr);
    alice->send_line("message bob first");
    CHECK(alice->expect_line("message to bob stored for delivery at next login"));
    carol->send_line("message bob second");
    CHECK(carol->expect_line("message to bob stored for delivery at next login"));
    alice->send_line("message bob third");
    CHECK(alice->expect_line("message to bob stored for delivery at next login"));
    std::time_t after = std::time(nullptr);
    std::this_thread::sleep_for(2100ms); // the time shown is when it was sent, not delivered

    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    Lines stored = offline_lines(sync(*bob));
    REQUIRE(stored.size() == 3);
    for (auto [i, from, text] : {std::tuple{0, "alice", "first"}, {1, "carol", "second"}, {2, "alice", "third"}}) {
        std::time_t t = offline_time(stored[std::size_t(i)], from, text);
        CHECK_MESSAGE(t != -1, stored[std::size_t(i)]);
        CHECK_MESSAGE((t >= before && t <= after), stored[std::size_t(i)]);
    }
    // Stored messages come before live ones, and live ones are not marked.
    alice->send_line("message bob live again");
    CHECK(bob->expect_line("alice: live again"));

    // Acknowledged: a later login shows nothing old.
    bob->send_line("logout");
    CHECK(exit_code(*bob) == 0);
    auto bob2 = ClientProcess::logged_in(d.port(), "bob", "bob123");
    Lines again = sync(*bob2);
    CHECK_MESSAGE(offline_lines(again).empty(), again.size());
}

TEST_CASE("message errors: unknown user, self, blocked by the recipient (not stored either)") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    alice->send_line("message zed hello");
    CHECK(alice->expect_line("error: unknown user 'zed'"));
    alice->send_line("message alice hello me");
    CHECK(alice->expect_line("error: you cannot message yourself"));

    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    bob->send_line("block alice");
    CHECK(bob->expect_line("alice is blocked"));
    alice->send_line("message bob are you there");
    CHECK(alice->expect_line("error: bob has blocked you"));
    Lines at_bob = sync(*bob);
    CHECK_FALSE(any_starts_with(at_bob, "alice"));

    bob->send_line("logout");
    CHECK(exit_code(*bob) == 0);
    alice->send_line("message bob for later");
    CHECK(alice->expect_line("error: bob has blocked you"));
    Lines at_alice = sync(*alice);
    CHECK_FALSE(contains(at_alice, "message to bob stored for delivery at next login"));

    auto bob2 = ClientProcess::logged_in(d.port(), "bob", "bob123");
    Lines shown = sync(*bob2);
    CHECK(offline_lines(shown).empty());
    CHECK_FALSE(any_starts_with(shown, "alice"));
    // The session goes on after errors.
    alice->send_line("message carol later");
    CHECK(alice->expect_line("message to carol stored for delivery at next login"));
}

TEST_CASE("broadcast reaches every other user except those who blocked the sender") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    auto carol = ClientProcess::logged_in(d.port(), "carol", "carol123");
    auto dave = ClientProcess::logged_in(d.port(), "dave", "dave123");

    alice->send_line("broadcast hello everyone");
    CHECK(bob->expect_line("alice (broadcast): hello everyone"));
    CHECK(carol->expect_line("alice (broadcast): hello everyone"));
    CHECK(dave->expect_line("alice (broadcast): hello everyone"));
    Lines at_alice = sync(*alice);
    CHECK_FALSE(contains(at_alice, "alice (broadcast): hello everyone"));
    CHECK_FALSE(contains(at_alice, "your message could not be delivered to some recipients"));

    dave->send_line("block alice");
    CHECK(dave->expect_line("alice is blocked"));
    alice->send_line("broadcast second round");
    CHECK(alice->expect_line("your message could not be delivered to some recipients"));
    CHECK(bob->expect_line("alice (broadcast): second round"));
    CHECK(carol->expect_line("alice (broadcast): second round"));
    Lines at_dave = sync(*dave);
    CHECK_FALSE(contains(at_dave, "alice (broadcast): second round"));

    // Offline users get nothing later: broadcasts are not stored.
    carol->send_line("logout");
    CHECK(exit_code(*carol) == 0);
    alice->send_line("broadcast third round");
    CHECK(bob->expect_line("alice (broadcast): third round"));
    auto carol2 = ClientProcess::logged_in(d.port(), "carol", "carol123");
    Lines at_carol = sync(*carol2);
    CHECK_FALSE(any_starts_with(at_carol, "alice"));
}

// ---------------------------------------------------------------- blocking

TEST_CASE("blocking works in all directions, survives logouts and is undone by unblock") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    auto carol = ClientProcess::logged_in(d.port(), "carol", "carol123"); // a bystander
    alice->send_line("block bob");
    CHECK(alice->expect_line("bob is blocked"));

    // bob -> alice refused; alice -> bob still fine.
    bob->send_line("message alice hi");
    CHECK(bob->expect_line("error: alice has blocked you"));
    alice->send_line("message bob I can still talk to you");
    CHECK(bob->expect_line("alice: I can still talk to you"));

    // bob's broadcast skips alice.
    bob->send_line("broadcast to all");
    CHECK(bob->expect_line("your message could not be delivered to some recipients"));
    CHECK(carol->expect_line("bob (broadcast): to all"));
    Lines at_alice = sync(*alice);
    CHECK_FALSE(contains(at_alice, "bob (broadcast): to all"));
    CHECK_FALSE(contains(at_alice, "bob: hi"));

    // bob does not see alice in whoelse, carol does; alice sees bob.
    bob->send_line("whoelse");
    Lines list = sync(*bob);
    CHECK(contains(list, "carol"));
    CHECK_FALSE(contains(list, "alice"));
    alice->send_line("whoelse");
    list = sync(*alice);
    CHECK(contains(list, "bob"));

    // bob is not told of alice's logout and login; carol is.
    alice->send_line("logout");
    CHECK(exit_code(*alice) == 0);
    CHECK(carol->expect_line("alice logged out"));
    Lines at_bob = sync(*bob);
    CHECK_FALSE(contains(at_bob, "alice logged out"));

    // While alice is away, bob's messages are not stored for her.
    bob->send_line("message alice when you are back");
    CHECK(bob->expect_line("error: alice has blocked you"));

    // bob logs out too; the block survives both logouts.
    bob->send_line("logout");
    CHECK(exit_code(*bob) == 0);
    bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    CHECK(carol->expect_line("alice logged in"));
    Lines at_alice2 = sync(*alice);
    CHECK(offline_lines(at_alice2).empty());
    CHECK(contains(alice->lines(), "welcome, alice"));
    at_bob = sync(*bob);
    CHECK_FALSE(contains(at_bob, "alice logged in"));
    bob->send_line("message alice still blocked?");
    CHECK(bob->expect_line("error: alice has blocked you"));

    // Unblock restores everything.
    alice->send_line("unblock bob");
    CHECK(alice->expect_line("bob is unblocked"));
    bob->send_line("message alice hello again");
    CHECK(alice->expect_line("bob: hello again"));
    bob->send_line("broadcast everyone now");
    CHECK(alice->expect_line("bob (broadcast): everyone now"));
    Lines at_bob2 = sync(*bob);
    CHECK_FALSE(contains(at_bob2, "your message could not be delivered to some recipients"));
    bob->send_line("whoelse");
    CHECK(contains(sync(*bob), "alice"));
    alice->send_line("logout");
    CHECK(exit_code(*alice) == 0);
    CHECK(bob->expect_line("alice logged out"));
}

TEST_CASE("block and unblock errors") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    alice->send_line("block alice");
    CHECK(alice->expect_line("error: you cannot block yourself"));
    alice->send_line("unblock alice");
    CHECK(alice->expect_line("error: you cannot unblock yourself"));
    alice->send_line("block zed");
    CHECK(alice->expect_line("error: unknown user 'zed'"));
    alice->send_line("block bob"); // offline users can be blocked
    CHECK(alice->expect_line("bob is blocked"));
    alice->send_line("block bob");
    CHECK(alice->expect_line("error: bob is already blocked"));
    alice->send_line("unblock carol");
    CHECK(alice->expect_line("error: carol is not blocked"));
    alice->send_line("unblock bob");
    CHECK(alice->expect_line("bob is unblocked"));
    alice->send_line("unblock bob");
    CHECK(alice->expect_line("error: bob is not blocked"));
    alice->send_line("block");
    CHECK(alice->expect_line("error: usage: block <user>"));
    alice->send_line("block bob carol");
    CHECK(alice->expect_line("error: usage: block <user>"));
    alice->send_line("block b@d");
    CHECK(alice->wait_line([](const std::string& l) { return l.rfind("error: invalid user name 'b@d'", 0) == 0; }));
    // The block of an offline user took effect: bob cannot write.
    alice->send_line("block bob");
    CHECK(alice->expect_line("bob is blocked"));
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    bob->send_line("message alice hi");
    CHECK(bob->expect_line("error: alice has blocked you"));
}

// ---------------------------------------------------------------- whoelse

TEST_CASE("whoelse lists the other users online, one per line") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    alice->send_line("whoelse");
    CHECK(sync(*alice) == Lines{"no other users"});

    auto carol = ClientProcess::logged_in(d.port(), "carol", "carol123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    CHECK(wait_all(*alice, {"bob logged in", "carol logged in"}).empty());
    alice->send_line("whoelse");
    Lines list = sync(*alice);
    std::sort(list.begin(), list.end());
    CHECK(list == Lines{"bob", "carol"});

    // Users who blocked the requester are hidden from it.
    carol->send_line("block alice");
    CHECK(carol->expect_line("alice is blocked"));
    alice->send_line("whoelse");
    CHECK(sync(*alice) == Lines{"bob"});
    bob->send_line("whoelse");
    list = sync(*bob);
    std::sort(list.begin(), list.end());
    CHECK(list == Lines{"alice", "carol"});

    bob->send_line("logout");
    CHECK(exit_code(*bob) == 0);
    CHECK(alice->expect_line("bob logged out"));
    alice->send_line("whoelse");
    CHECK(sync(*alice) == Lines{"no other users"});
}

TEST_CASE("whoelsesince lists users online now or within the window") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    {
        auto carol = ClientProcess::logged_in(d.port(), "carol", "carol123");
        CHECK(alice->expect_line("carol logged in"));
        carol->send_line("logout");
        CHECK(exit_code(*carol) == 0);
        CHECK(alice->expect_line("carol logged out"));
    }
    auto left_at = Clock::now();
    alice->send_line("whoelsesince 5");
    Lines list = sync(*alice);
    std::sort(list.begin(), list.end());
    CHECK(list == Lines{"bob", "carol"});

    std::this_thread::sleep_until(left_at + 2500ms);
    alice->send_line("whoelsesince 0");
    CHECK(sync(*alice) == Lines{"bob"});
    alice->send_line("whoelsesince 1");
    CHECK(sync(*alice) == Lines{"bob"});
    alice->send_line("whoelsesince 60");
    list = sync(*alice);
    std::sort(list.begin(), list.end());
    CHECK(list == Lines{"bob", "carol"});
    // dave never logged in: never listed, however long the window.
    alice->send_line("whoelsesince 4294967295");
    list = sync(*alice);
    std::sort(list.begin(), list.end());
    CHECK(list == Lines{"bob", "carol"});

    // Users who blocked the requester are hidden here too.
    bob->send_line("block alice");
    CHECK(bob->expect_line("alice is blocked"));
    alice->send_line("whoelsesince 60");
    CHECK(sync(*alice) == Lines{"carol"});
    bob->send_line("whoelsesince 60");
    list = sync(*bob);
    std::sort(list.begin(), list.end());
    CHECK(list == Lines{"alice", "carol"});

    alice->send_line("whoelsesince");
    CHECK(alice->wait_line([](const std::string& l) { return l.rfind("error: usage: whoelsesince", 0) == 0; }));
    alice->send_line("whoelsesince -1");
    CHECK(alice->wait_line([](const std::string& l) { return l.rfind("error: usage: whoelsesince", 0) == 0; }));
    alice->send_line("whoelsesince 1.5");
    CHECK(alice->wait_line([](const std::string& l) { return l.rfind("error: usage: whoelsesince", 0) == 0; }));
}

// ---------------------------------------------------------------- habits, long texts, blocks

TEST_CASE("scripted: aliases and near misses, long texts split, blocks listed, whoelsesince of any size") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    alice->send_line("/MSG bob hi");
    CHECK(bob->expect_line("alice: hi"));
    alice->send_line("mesage bob hi");
    CHECK(alice->expect_line("error: unknown command 'mesage' (did you mean 'message'?)"));
    // 2500 bytes of words: three messages, cut between words.
    std::string words;
    while (words.size() < 2500) words += "word" + std::to_string(words.size()) + " ";
    words.pop_back();
    alice->send_line("msg bob " + words);
    std::string joined;
    for (int i = 0; i < 3; ++i) {
        auto line = bob->wait_line([](const std::string& l) { return l.starts_with("alice: word"); });
        REQUIRE(line);
        CHECK(line->size() <= std::string("alice: ").size() + 1000);
        joined += (i ? " " : "") + line->substr(7);
    }
    CHECK(joined == words);

    alice->send_line("blocks");
    CHECK(alice->expect_line("you have not blocked anyone"));
    alice->send_line("block carol");
    CHECK(alice->expect_line("carol is blocked"));
    alice->send_line("block bob");
    CHECK(alice->expect_line("bob is blocked"));
    alice->send_line("blocks");
    CHECK(alice->expect_line("blocked:"));
    CHECK(alice->expect_line("  bob"));
    CHECK(alice->expect_line("  carol"));
    alice->send_line("whoelsesince 9999999999");
    CHECK(alice->expect_line("bob"));
    alice->send_line("quit");
    CHECK(alice->expect_line("logged out"));
    CHECK(alice->wait_exit().value_or(-1) == 0);
}

// ---------------------------------------------------------------- input errors

TEST_CASE("invalid commands and arguments print an error and the session continues") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    auto starts = [&](const std::string& prefix) {
        return alice->wait_line([&](const std::string& l) { return l.rfind(prefix, 0) == 0; }).has_value();
    };
    alice->send_line("frobnicate now");
    CHECK(starts("error: unknown command 'frobnicate'"));
    alice->send_line("message bob");
    CHECK(alice->expect_line("error: usage: message <user> <text>"));
    alice->send_line("message bob    ");
    CHECK(alice->expect_line("error: usage: message <user> <text>"));
    alice->send_line("message");
    CHECK(alice->expect_line("error: usage: message <user> <text>"));
    alice->send_line("message b!b hi");
    CHECK(starts("error: invalid user name 'b!b'"));
    alice->send_line("message " + std::string(33, 'x') + " hi");
    CHECK(starts("error: invalid user name"));
    alice->send_line("message bob " + std::string(16001, 'y'));
    CHECK(alice->expect_line("error: the text is too long (16001 bytes, at most 16000)"));
    alice->send_line("message bob " + std::string(20000, 'y')); // cut at the input bound, still refused
    CHECK(starts("error: the text is too long"));
    alice->send_line("message bob bad \xff utf8");
    CHECK(alice->expect_line("error: the text is not valid UTF-8"));
    alice->send_line("broadcast");
    CHECK(alice->expect_line("error: usage: broadcast <text>"));
    alice->send_line("whoelse now");
    CHECK(alice->expect_line("error: usage: whoelse"));
    alice->send_line("logout now");
    CHECK(alice->expect_line("error: usage: logout"));
    alice->send_line("");

    // None of it reached bob, and alice is still there.
    Lines at_bob = sync(*bob);
    CHECK_FALSE(any_starts_with(at_bob, "alice"));
    alice->send_line("message bob " + std::string(1000, 'z'));
    CHECK(bob->expect_line("alice: " + std::string(1000, 'z')));
    alice->send_line("message bob h\xc3\xa9llo w\xc3\xb6rld");
    CHECK(bob->expect_line("alice: h\xc3\xa9llo w\xc3\xb6rld"));
    alice->send_line("logout");
    CHECK(alice->expect_line("logged out"));
    CHECK(exit_code(*alice) == 0);
}

// ---------------------------------------------------------------- command line

TEST_CASE("--help and --version exit 0; a bad option exits 1") {
    Daemon d;
    {
        ClientProcess c(d.port(), {"--help"});
        CHECK(exit_code(c) == 0);
        CHECK(any_starts_with(c.lines(), "Usage: confab"));
    }
    {
        ClientProcess c(d.port(), {"--version"});
        CHECK(exit_code(c) == 0);
        CHECK(any_starts_with(c.lines(), "confab "));
    }
    {
        ClientProcess c(d.port(), {"--no-such-option"});
        CHECK(exit_code(c) == 1);
        CHECK_FALSE(c.stderr_text().empty());
    }
}

TEST_CASE("a server that cannot be reached: exit 1 with a message on stderr") {
    // A bound socket that does not listen: connections to it are refused.
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    std::uint16_t port = ntohs(addr.sin_port);

    ClientProcess c(port);
    c.send_line("alice");
    c.send_line("alice123");
    CHECK(exit_code(c, 15000ms) == 1);
    std::string err = c.stderr_text();
    CHECK_MESSAGE(has(err, "error: cannot connect to"), err);
    CHECK_MESSAGE(has(err, std::to_string(port)), err);
    CHECK_FALSE(contains(c.lines(), "welcome, alice"));
    ::close(fd);
}

TEST_CASE("--user and --password-file log in without reading credentials from stdin") {
    Daemon d;
    std::string good = d.dir().file("good.pw", "alice123\n");
    std::string bad = d.dir().file("bad.pw", "alice124\n");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    {
        ClientProcess c(d.port(), {"--user", "alice", "--password-file", good});
        CHECK(c.expect_line("welcome, alice"));
        CHECK(bob->expect_line("alice logged in"));
        c.send_line("message bob via options");
        CHECK(bob->expect_line("alice: via options"));
        c.close_stdin();
        CHECK(exit_code(c) == 0);
    }
    {
        ClientProcess c(d.port(), {"-u", "alice", "--password-file", bad});
        CHECK(exit_code(c) == 2);
        CHECK_MESSAGE(has(c.stderr_text(), "error: wrong password (2 attempts left)"), c.stderr_text());
    }
    {
        ClientProcess c(d.port(), {"--user", "alice", "--password-file", d.dir().path() + "/missing.pw"});
        CHECK(exit_code(c) == 1);
        CHECK_MESSAGE(has(c.stderr_text(), "error: cannot read password file"), c.stderr_text());
    }
}

TEST_CASE("a client that does not finish logging in before login_timeout is dropped") {
    DaemonOptions o;
    o.login_timeout = 1;
    Daemon d(o);
    ClientProcess c(d.port());
    c.send_line("alice"); // and never a password
    CHECK(exit_code(c, 5000ms) == 3);
    CHECK_MESSAGE(has(c.stderr_text(), "error: "), c.stderr_text());
    CHECK_FALSE(contains(c.lines(), "welcome, alice"));
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123"); // nothing held the name
}

TEST_CASE("a client that dies is logged out: others are told and the name is free again") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    REQUIRE(alice->expect_line("bob logged in"));
    ::kill(bob->pid(), SIGKILL);
    CHECK(exit_code(*bob) == 128 + SIGKILL);
    CHECK(alice->expect_line("bob logged out"));
    alice->send_line("message bob are you gone?");
    CHECK(alice->expect_line("message to bob stored for delivery at next login"));
    bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    CHECK(alice->expect_line("bob logged in"));
    Lines stored = offline_lines(sync(*bob));
    REQUIRE(stored.size() == 1);
    CHECK(offline_time(stored[0], "alice", "are you gone?") != -1);
}

TEST_CASE("a daemon shutdown ends every session (exit 3) and the daemon exits 0") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    // Some state to tear down: a block and a stored message.
    alice->send_line("block carol");
    CHECK(alice->expect_line("carol is blocked"));
    bob->send_line("message dave see you");
    CHECK(bob->expect_line("message to dave stored for delivery at next login"));

    d.signal(SIGTERM);
    CHECK(exit_code(*alice) == 3);
    CHECK(exit_code(*bob) == 3);
    CHECK(contains(alice->lines(), "logged out: server shutting down"));
    CHECK(contains(bob->lines(), "logged out: server shutting down"));
    CHECK(d.wait_exit(5000ms).value_or(-1) == 0);
}

TEST_CASE("control characters in texts are shown escaped, never sent raw to the terminal") {
    Daemon d;
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    alice->send_line("message bob \x1b[31mred\x07 and\ttab");
    CHECK(bob->expect_line("alice: ^[[31mred^G and\ttab"));
    alice->send_line("broadcast \x1b]0;title\x07");
    CHECK(bob->expect_line("alice (broadcast): ^[]0;title^G"));
    for (const auto& l : bob->lines()) CHECK(l.find('\x1b') == std::string::npos);
}

TEST_CASE("a full mailbox refuses further offline messages") {
    DaemonOptions o;
    o.extra_config = "max_offline_messages = 2\n";
    Daemon d(o);
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    alice->send_line("message bob one");
    CHECK(alice->expect_line("message to bob stored for delivery at next login"));
    alice->send_line("message bob two");
    CHECK(alice->expect_line("message to bob stored for delivery at next login"));
    alice->send_line("message bob three");
    CHECK(alice->expect_line("error: bob's mailbox is full"));
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    Lines stored = offline_lines(sync(*bob));
    REQUIRE(stored.size() == 2);
    CHECK(offline_time(stored[0], "alice", "one") != -1);
    CHECK(offline_time(stored[1], "alice", "two") != -1);
    // Emptied by the delivery: there is room again.
    bob->send_line("logout");
    CHECK(exit_code(*bob) == 0);
    alice->send_line("message bob four");
    CHECK(alice->expect_line("message to bob stored for delivery at next login"));
}

TEST_CASE("presence = false: no login or logout announcements") {
    DaemonOptions o;
    o.extra_config = "presence = false\n";
    Daemon d(o);
    auto alice = ClientProcess::logged_in(d.port(), "alice", "alice123");
    {
        auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
        bob->send_line("logout");
        CHECK(exit_code(*bob) == 0);
    }
    alice->send_line("whoelsesince 60");
    CHECK(sync(*alice) == Lines{"bob"});
    for (const auto& l : alice->lines()) CHECK(l.find("logged") == std::string::npos);
}
