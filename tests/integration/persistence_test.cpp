// Durable state across restarts and crashes: the real confabd is killed and
// started again on the same state directory.
#include "harness.hpp"
#include "proto/parse_number.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <csignal>
#include <map>
#include <regex>
#include <set>
#include <thread>

using namespace confab;
using namespace confab::test;
using proto::Status;

namespace {
// "m<i>"; built by append because GCC 12 at -O3 warns falsely on "m" + std::string.
std::string message_text(int i) {
    std::string s = "m";
    s += std::to_string(i);
    return s;
}

DaemonOptions on_state(const TempDir& state, int block_duration = 2) {
    DaemonOptions o;
    o.state_dir = state.path();
    o.block_duration = block_duration;
    o.extra_config = std::string("max_offline_messages = 10000\n") + no_rate_limits;
    return o;
}

// The index in "m<index>" texts of offline message lines printed by the client.
std::vector<int> offline_indexes(const std::vector<std::string>& lines) {
    static const std::regex offline(R"(^alice \(offline, sent [0-9-]+ [0-9:]+\): m(\d+)$)");
    std::vector<int> out;
    for (const auto& l : lines) {
        std::smatch m;
        if (std::regex_match(l, m, offline)) out.push_back(parse_number<int>(m[1].str()).value_or(-1));
    }
    return out;
}
} // namespace

TEST_CASE("SIGKILL while messages are being stored: every message acknowledged as stored is delivered once, in order") {
    TempDir state;
    std::set<int> acknowledged;
    {
        Daemon d(on_state(state));
        RawClient alice(d.port());
        REQUIRE(alice.login("alice", "alice123").outcome == proto::LoginOutcome::ok);
        constexpr int total = 3000;
        std::jthread writer([&] { // joins even when a REQUIRE fails
            std::vector<std::uint8_t> bytes;
            for (int i = 0; i < total; ++i)
                proto::append_frame(bytes, proto::SendMessage{std::uint32_t(i + 1), "bob", message_text(i)});
            try {
                alice.send_bytes(bytes);
            } catch (const std::exception&) {
                // the daemon may die before it has read everything
            }
        });
        // Kill the daemon part-way through the stream, without warning.
        while (acknowledged.size() < 400) {
            std::vector<std::uint8_t> keep;
            auto r = alice.expect<proto::Result>(5000ms, &keep);
            REQUIRE(r);
            REQUIRE(r->code == Status::ok_stored);
            acknowledged.insert(int(r->request_id) - 1);
        }
        d.signal(SIGKILL);
        // Replies already on their way still count: the daemon said "stored".
        while (auto r = alice.receive(1000ms))
            if (auto* res = std::get_if<proto::Result>(&r->msg); res && res->code == Status::ok_stored)
                acknowledged.insert(int(res->request_id) - 1);
        writer.join();
        REQUIRE(d.wait_exit(3000ms));
    }
    Daemon d(on_state(state));
    auto bob = ClientProcess::logged_in(d.port(), "bob", "bob123");
    bob->send_line("whoelse"); // its answer marks the end of the delivery at login
    REQUIRE(bob->expect_line("no other users", 10000ms));
    auto got = offline_indexes(bob->lines());
    INFO("acknowledged ", acknowledged.size(), ", delivered ", got.size());
    std::set<int> seen(got.begin(), got.end());
    CHECK(seen.size() == got.size()); // no duplicates on the screen
    CHECK(std::is_sorted(got.begin(), got.end()));
    for (int i : acknowledged) CHECK_MESSAGE(seen.count(i), "message m", i, " was acknowledged as stored but lost");

    // Acknowledged by bob's client: not delivered again at the next login.
    bob->send_line("logout");
    REQUIRE(bob->wait_exit(5000ms) == 0);
    auto again = ClientProcess::logged_in(d.port(), "bob", "bob123");
    again->send_line("whoelse");
    REQUIRE(again->expect_line("no other users"));
    CHECK(offline_indexes(again->lines()).empty());
}

TEST_CASE("a client that drops before acknowledging gets its stored messages again, then never again") {
    TempDir state;
    Daemon d(on_state(state));
    {
        RawClient alice(d.port());
        REQUIRE(alice.login("alice", "alice123").outcome == proto::LoginOutcome::ok);
        for (int i = 0; i < 3; ++i) {
            alice.send(proto::SendMessage{alice.next_request(), "bob", message_text(i)});
            std::vector<std::uint8_t> keep;
            auto r = alice.expect<proto::Result>(3000ms, &keep);
            REQUIRE(r);
            REQUIRE(r->code == Status::ok_stored);
        }
    }
    std::vector<std::uint64_t> ids;
    {
        RawClient bob(d.port());
        REQUIRE(bob.login("bob", "bob123").outcome == proto::LoginOutcome::ok);
        for (int i = 0; i < 3; ++i) {
            std::vector<std::uint8_t> keep;
            auto m = bob.expect<proto::MessageEvent>(3000ms, &keep);
            REQUIRE(m);
            CHECK(m->text == message_text(i));
            CHECK((m->flags & proto::message_flag_offline) != 0);
            ids.push_back(m->message_id);
        }
        // drops without AckMessages
    }
    // Once the server has seen the drop: on a cluster the next login may reach another node
    // before this one has released the name.
    REQUIRE(d.log_contains("bob logged out", 5000ms));
    {
        RawClient bob(d.port());
        REQUIRE(bob.login("bob", "bob123").outcome == proto::LoginOutcome::ok);
        for (int i = 0; i < 3; ++i) {
            std::vector<std::uint8_t> keep;
            auto m = bob.expect<proto::MessageEvent>(3000ms, &keep);
            REQUIRE(m);
            CHECK(m->message_id == ids[std::size_t(i)]); // same id: the client can drop duplicates
        }
        bob.send(proto::AckMessages{ids});
        bob.send(proto::Logout{bob.next_request()});
        CHECK(bob.closed_by_server());
    }
    RawClient bob(d.port());
    REQUIRE(bob.login("bob", "bob123").outcome == proto::LoginOutcome::ok);
    std::vector<std::uint8_t> keep;
    CHECK_FALSE(bob.expect<proto::MessageEvent>(700ms, &keep));
}

TEST_CASE("blocks and a running lockout survive a restart") {
    TempDir state;
    {
        Daemon d(on_state(state, 60));
        RawClient alice(d.port());
        REQUIRE(alice.login("alice", "alice123").outcome == proto::LoginOutcome::ok);
        alice.send(proto::Block{alice.next_request(), "bob"});
        std::vector<std::uint8_t> keep;
        auto r = alice.expect<proto::Result>(3000ms, &keep);
        REQUIRE(r);
        REQUIRE(r->code == Status::ok);
        RawClient attacker(d.port());
        attacker.send(proto::Hello{1, "x"});
        REQUIRE(attacker.expect<proto::Welcome>());
        for (int i = 0; i < 3; ++i) {
            attacker.send(proto::Login{attacker.next_request(), "carol", "guess"});
            REQUIRE(attacker.expect<proto::LoginResult>());
        }
        d.signal(SIGTERM);
        REQUIRE(d.wait_exit(5000ms) == 0);
    }
    Daemon d(on_state(state, 60));
    RawClient carol(d.port());
    auto r = carol.login("carol", "carol123");
    CHECK(r.outcome == proto::LoginOutcome::locked);
    CHECK(r.value > 50); // seconds left of the 60 s lock, not a fresh start
    RawClient bob(d.port());
    REQUIRE(bob.login("bob", "bob123").outcome == proto::LoginOutcome::ok);
    bob.send(proto::SendMessage{bob.next_request(), "alice", "let me in"});
    std::vector<std::uint8_t> keep;
    auto res = bob.expect<proto::Result>(3000ms, &keep);
    REQUIRE(res);
    CHECK(res->code == Status::blocked_by_recipient);
}

TEST_CASE("the addresses a user logged in from survive a restart: a storm from elsewhere does not lock them out") {
    TempDir state;
    {
        Daemon d(on_state(state, 60));
        RawClient dave(d.port(), 0, "127.0.0.1");
        REQUIRE(dave.login("dave", "dave123").outcome == proto::LoginOutcome::ok);
        d.signal(SIGTERM);
        REQUIRE(d.wait_exit(5000ms) == 0);
    }
    Daemon d(on_state(state, 60));
    RawClient attacker(d.port(), 0, "127.0.0.2");
    attacker.send(proto::Hello{1, "x"});
    REQUIRE(attacker.expect<proto::Welcome>());
    for (int i = 0; i < 3; ++i) {
        attacker.send(proto::Login{attacker.next_request(), "dave", "guess"});
        REQUIRE(attacker.expect<proto::LoginResult>());
    }
    attacker.send(proto::Login{attacker.next_request(), "dave", "dave123"});
    auto locked = attacker.expect<proto::LoginResult>();
    REQUIRE(locked);
    CHECK(locked->outcome == proto::LoginOutcome::locked);
    RawClient dave(d.port(), 0, "127.0.0.1");
    CHECK(dave.login("dave", "dave123").outcome == proto::LoginOutcome::ok);
}

// A cluster keeps its state in Redis: it has no SQLite file to damage (nor a schema version, below).
TEST_CASE("a corrupt state database is a clear start-up error" *
          doctest::skip(single_node_only("a corrupt state database: a cluster keeps its state in Redis"))) {
    TempDir state;
    state.file("confab.db", std::string(8192, 'x'));
    try {
        Daemon d(on_state(state));
        FAIL("confabd started on a corrupt database");
    } catch (const std::runtime_error& e) {
        std::string what = e.what();
        CHECK(what.find("state database") != std::string::npos);
        CHECK(what.find("not a database") != std::string::npos);
    }
}

TEST_CASE("a database written by a newer confabd is refused with a clear error" *
          doctest::skip(single_node_only("a newer schema version: a cluster keeps its state in Redis"))) {
    TempDir state;
    {
        Daemon d(on_state(state)); // creates the current schema
    }
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((state.path() + "/confab.db").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 99;", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
    try {
        Daemon d(on_state(state));
        FAIL("confabd started on a newer schema");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("schema version 99 is newer") != std::string::npos);
    }
}
