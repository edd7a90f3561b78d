// Output lines, checked against the formats confab(1) OUTPUT documents.
#include "cli/format.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>

using namespace confab;
using namespace confab::cli;

namespace {

// Local time is part of the offline format: pin the zone for the test.
struct UtcZone {
    UtcZone() {
        setenv("TZ", "UTC", 1);
        tzset();
    }
};

proto::Result result(proto::Status code, std::string_view detail = {}) {
    return proto::Result{7, code, detail};
}

} // namespace

TEST_CASE("messages, live and offline") {
    UtcZone utc;
    proto::MessageEvent live{0, 0, 0, "alice", "hello"};
    CHECK(format_message(live) == "alice: hello");

    // 2026-11-25 16:40:01 UTC
    proto::MessageEvent stored{42, 1795624801123ull, proto::message_flag_offline, "alice", "hi"};
    CHECK(format_message(stored) == "alice (offline, sent 2026-11-25 16:40:01): hi");
    CHECK(format_timestamp(0) == "1970-01-01 00:00:00");
}

TEST_CASE("broadcast, presence and private text") {
    CHECK(format_broadcast({0, "alice", "hello"}) == "alice (broadcast): hello");
    CHECK(format_presence({proto::PresenceKind::login, "bob"}) == "bob logged in");
    CHECK(format_presence({proto::PresenceKind::logout, "bob"}) == "bob logged out");
    CHECK(format_private_text("alice", "hi") == "alice (private): hi");
    CHECK(private_started_line("bob") == "private chat with bob started");
    CHECK(private_ended_line("bob") == "private chat with bob ended");
    CHECK(welcome_line("alice") == "welcome, alice");
}

TEST_CASE("user lists") {
    proto::UserList empty{1, {}};
    CHECK(format_user_list(empty) == std::vector<std::string>{"no other users"});
    proto::UserList two{1, {"bob", "carol"}};
    CHECK(format_user_list(two) == std::vector<std::string>{"bob", "carol"});
}

TEST_CASE("control characters from others cannot reach the terminal") {
    CHECK(printable("plain text, tabs\tstay") == "plain text, tabs\tstay");
    CHECK(printable("a\x1b[2Jb") == "a^[[2Jb");
    CHECK(printable("two\nlines\r") == "two^Jlines^M");
    CHECK(printable("del\x7f") == "del^?");
    CHECK(printable("c1:\xc2\x9b!") == "c1:?!");
}

TEST_CASE("invalid UTF-8 is shown as U+FFFD one byte at a time, and cannot hide a control byte") {
    const std::string fffd = "\xEF\xBF\xBD";
    CHECK(printable("\xEE\x60\x05") == fffd + "`^E"); // the lead byte promised two continuation bytes
    CHECK(printable("\xC3\x1B[2J") == fffd + "^[[2J");
    CHECK(printable("\xF0\x9F\x98\x07") == fffd + fffd + fffd + "^G");
    CHECK(printable("a\x80z") == "a" + fffd + "z");                    // stray continuation byte
    CHECK(printable("\xC0\xAF") == fffd + fffd);                       // overlong '/'
    CHECK(printable("\xE0\x82\x9B") == fffd + fffd + fffd);            // overlong C1 control (CSI)
    CHECK(printable("\xED\xA0\x80") == fffd + fffd + fffd);            // surrogate U+D800
    CHECK(printable("\xF4\x90\x80\x80") == fffd + fffd + fffd + fffd); // beyond U+10FFFF
    CHECK(printable("\xE2\x82") == fffd + fffd);                       // truncated at the end
}

TEST_CASE("printable neutralises invisible and bidi format characters, and keeps other text") {
    CHECK(printable("evil\xE2\x80\xAEgnp.exe") == "evil<U+202E>gnp.exe"); // right-to-left override
    CHECK(printable("a\xE2\x81\xA6"
                    "b\xE2\x81\xA9"
                    "c") == "a<U+2066>b<U+2069>c"); // isolates
    CHECK(printable("ali\xE2\x80\x8B"
                    "ce") == "ali<U+200B>ce"); // zero-width space
    CHECK(printable("x\xE2\x80\x8Fy\xE2\x80\xAAz") == "x<U+200F>y<U+202A>z");
    CHECK(printable("line\xE2\x80\xA8sep\xE2\x80\xA9") == "line<U+2028>sep<U+2029>");
    CHECK(printable("\xEF\xBB\xBF"
                    "bom") == "<U+FEFF>bom");
    CHECK(printable("\xD8\x9C") == "<U+061C>");
    CHECK(printable("soft\xC2\xADhyphen") == "soft<U+00AD>hyphen");
    // Ordinary non-ASCII text is untouched.
    CHECK(printable("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80 \xD8\xB3\xD9\x84\xD8\xA7\xD9\x85") ==
          "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80 \xD8\xB3\xD9\x84\xD8\xA7\xD9\x85");
    CHECK(printable("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");
    CHECK(format_message({0, 0, 0, "eve", "x\x1b]0;pwned\x07"}) == "eve: x^[]0;pwned^G");
}

TEST_CASE("names in every line are shown through printable too") {
    // A peer name arrives from the server (PrivateInvite): a hostile one must not drive the terminal.
    CHECK(private_started_line("e\x1b[2Jve") == "private chat with e^[[2Jve started");
    CHECK(private_ended_line("e\x1b[2Jve") == "private chat with e^[[2Jve ended");
    CHECK(welcome_line("a\nb") == "welcome, a^Jb");
    CHECK(format_result({RequestKind::block, "b\x07"}, result(proto::Status::ok)) == "b^G is blocked");
    CHECK(format_result({RequestKind::unblock, "b\x07"}, result(proto::Status::ok)) == "b^G is unblocked");
    CHECK(format_result({RequestKind::send_message, "b\x07"}, result(proto::Status::ok_stored)) ==
          "message to b^G stored for delivery at next login");
}

TEST_CASE("results of each command") {
    PendingRequest send{RequestKind::send_message, "bob"};
    CHECK(format_result(send, result(proto::Status::ok)) == std::nullopt);
    CHECK(format_result(send, result(proto::Status::ok_stored)) == "message to bob stored for delivery at next login");
    CHECK(format_result(send, result(proto::Status::blocked_by_recipient, "bob has blocked you")) ==
          "error: bob has blocked you");
    // No detail: the status's own description.
    CHECK(format_result(send, result(proto::Status::unknown_user)) == "error: unknown user");

    PendingRequest broadcast{RequestKind::broadcast};
    CHECK(format_result(broadcast, result(proto::Status::ok)) == std::nullopt);
    CHECK(format_result(broadcast, result(proto::Status::ok_partial)) ==
          "your message could not be delivered to some recipients");
    CHECK(format_result(broadcast, result(proto::Status::ok_partial, "users on other servers could not be reached")) ==
          "users on other servers could not be reached");
    CHECK(format_result(send, result(proto::Status::unavailable)) == "error: service temporarily unavailable");

    CHECK(format_result({RequestKind::block, "bob"}, result(proto::Status::ok)) == "bob is blocked");
    CHECK(format_result({RequestKind::unblock, "bob"}, result(proto::Status::ok)) == "bob is unblocked");
    CHECK(
        format_result({RequestKind::block, "bob"}, result(proto::Status::already_blocked, "bob is already blocked")) ==
        "error: bob is already blocked");

    CHECK(format_result({RequestKind::private_listen}, result(proto::Status::ok)) == std::nullopt);
    CHECK(format_result({RequestKind::private_listen}, result(proto::Status::invalid_argument)) ==
          "error: private chat unavailable: invalid argument");
}

TEST_CASE("stopprivate after a local close does not complain twice") {
    PendingRequest closed{RequestKind::stop_private, "bob", true};
    PendingRequest unknown{RequestKind::stop_private, "bob", false};
    auto none = result(proto::Status::no_private_session, "no private session with bob");
    CHECK(format_result(closed, none) == std::nullopt);
    CHECK(format_result(unknown, none) == "error: no private session with bob");
    CHECK(format_result(closed, result(proto::Status::ok)) == std::nullopt);
}

TEST_CASE("login refusals say how many attempts or seconds remain") {
    using proto::LoginOutcome;
    CHECK(format_login_refusal({1, LoginOutcome::wrong_password, 2}, "alice") ==
          "error: wrong password (2 attempts left)");
    CHECK(format_login_refusal({1, LoginOutcome::wrong_password, 1}, "alice") ==
          "error: wrong password (1 attempt left)");
    CHECK(format_login_refusal({1, LoginOutcome::wrong_password, 0}, "alice") ==
          "error: wrong password (no attempts left)");
    CHECK(format_login_refusal({1, LoginOutcome::locked, 8}, "alice") ==
          "error: account locked, try again in 8 seconds");
    CHECK(format_login_refusal({1, LoginOutcome::locked, 1}, "alice") ==
          "error: account locked, try again in 1 second");
    CHECK(format_login_refusal({1, LoginOutcome::already_logged_in, 0}, "alice") ==
          "error: alice is already logged in");
    CHECK(format_login_refusal({1, LoginOutcome::unavailable, 0}, "alice").rfind("error: ", 0) == 0);
}

TEST_CASE("session ends") {
    CHECK(format_session_end({proto::EndReason::timed_out, "timed out after 300 s of inactivity"}) ==
          "logged out: timed out after 300 s of inactivity");
    CHECK(format_session_end({proto::EndReason::server_shutdown, ""}) == "logged out: the server is shutting down");
    CHECK(format_session_end({proto::EndReason::kicked, "spamming"}) == "logged out: spamming");
    CHECK(format_session_end({proto::EndReason::kicked, ""}) == "logged out: removed by the administrator");
    CHECK(format_session_end({proto::EndReason::locked, ""}) ==
          "logged out: your account was locked by the administrator");
    CHECK(format_session_end({proto::EndReason::account_removed, ""}) ==
          "logged out: your account was removed by the administrator");
    CHECK(format_server_notice({0, "maintenance at 6"}) == "announcement from the server: maintenance at 6");
    CHECK(format_login_refusal({1, proto::LoginOutcome::locked, proto::lock_until_unlocked}, "bob") ==
          "error: account locked by the administrator");
    CHECK(format_session_end({proto::EndReason::logged_out, ""}) == "logged out");
}

TEST_CASE("errors fall back to the status description") {
    CHECK(format_error(proto::Status::login_timeout, "") == "error: no login before the deadline");
    CHECK(format_error(proto::Status::server_busy, "too many connections") == "error: too many connections");
}

TEST_CASE("interactive lists: whoelse and whoelsesince as one block with a header") {
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK(format_user_block(proto::UserList{1, {"bob", "carol"}}) ==
          std::vector<std::string>{"online now (2):", "  bob", "  carol"});
    CHECK(format_user_block(proto::UserList{1, {}}) == std::vector<std::string>{"no other users"});
    const std::time_t now = 1'764'000'000; // 2025-11-24 16:00:00 UTC
    proto::UserSeenList seen{1, {"bob", "carol", "dave"}, {0, 3600, 3 * 86400}};
    CHECK(format_seen_block(seen, 4294967295u, now) ==
          std::vector<std::string>{"online in the last 4294967295 seconds (3):", "  bob    online",
                                   "  carol  offline since 15:00", "  dave   offline since 2025-11-21 16:00"});
    CHECK(format_seen_block(proto::UserSeenList{1, {}, {}}, 60, now) == std::vector<std::string>{"no other users"});
    CHECK(format_online_line(proto::UserList{1, {"bob", "carol"}}) == "online: bob, carol");
    CHECK(format_online_line(proto::UserList{1, {}}) == "online: nobody else");
}

TEST_CASE("a listing as long as the server's cap says it may have been cut") {
    proto::UserList full{1, std::vector<std::string_view>(proto::max_listed_names, "bob")};
    CHECK(format_user_block(full).at(0) == "online now (1724 shown; one reply lists no more):");
    CHECK(format_block_list(full).at(0) == "blocked (1724 shown; one reply lists no more):");
    CHECK(format_online_line(full).ends_with(", bob (the first 1724 by name)"));
    proto::UserSeenList seen{1, full.names, std::vector<std::uint32_t>(proto::max_listed_names, 0)};
    CHECK(format_seen_block(seen, 60, 0).at(0) ==
          "online in the last 60 seconds (1724 shown; one reply lists no more):");
    full.names.pop_back();
    CHECK(format_user_block(full).at(0) == "online now (1723):");
    CHECK(format_block_list(full).at(0) == "blocked:");
}
