// confabctl's output: the human tables and the --json objects, and the command table.
#include "command.hpp"
#include "daemon_commands.hpp"
#include "json.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace confab;
using namespace confab::ctl;

TEST_CASE("who: a table sorted as the daemon sent it, or one JSON object") {
    proto::ControlWhoReply r{1, {"alice", "bob"}, {"127.0.0.1:40000", "[::1]:40001"}, {0, 0}, {5, 3700}, {0, 2}};
    auto lines = render_who(r, false);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0].starts_with("NAME   ADDRESS          LOGIN"));
    CHECK(lines[1].starts_with("alice  127.0.0.1:40000  "));
    CHECK(lines[1].ends_with("     5s  0"));
    CHECK(lines[2].ends_with("  1h01m  2"));
    CHECK(
        render_who(r, true) ==
        std::vector<std::string>{R"({"users":[{"name":"alice","address":"127.0.0.1:40000","login_at_ms":0,"idle_s":5,)"
                                 R"("private_chats":0},{"name":"bob","address":"[::1]:40001","login_at_ms":0,)"
                                 R"("idle_s":3700,"private_chats":2}]})"});
    CHECK(render_who(proto::ControlWhoReply{}, false) == std::vector<std::string>{"no users online"});
}

TEST_CASE("a refusal says why, in words or as JSON with the status name") {
    CHECK(render_result({1, proto::Status::ok, "bob unlocked"}, false) == "bob unlocked");
    CHECK(render_result({1, proto::Status::unknown_user, "unknown user 'zoe'"}, false) ==
          "confabctl: unknown user 'zoe'");
    CHECK(render_result({1, proto::Status::unknown_user, "unknown user 'zoe'"}, true) ==
          R"({"ok":false,"error":"unknown user","code":20,"detail":"unknown user 'zoe'"})");
    CHECK(render_result({1, proto::Status::ok, "sent"}, true) == R"({"ok":true,"detail":"sent"})");
}

TEST_CASE("status in JSON carries every field") {
    proto::ControlStatusReply r{1, "0.1.0", 90061, 2, 3, 4, 5, 6, 7, 1500, 3 << 20};
    auto human = render_status(r, false);
    CHECK(human[0] == "confabd 0.1.0, up 1d01h");
    CHECK(human[7] == "last commit         1.500 ms");
    CHECK(human[8] == "memory              3.0 MiB");
    CHECK(render_status(r, true)[0] ==
          R"({"version":"0.1.0","uptime_s":90061,"users_online":2,"connections":3,"messages_direct":4,)"
          R"("messages_broadcast":5,"offline_stored":6,"store_queue_depth":7,"last_commit_us":1500,)"
          R"("memory_bytes":3145728})");
}

TEST_CASE("status of a cluster node says its offline messages are not counted, rather than a wrong count") {
    proto::ControlStatusReply r{1, "0.1.0", 1, 2, 3, 4, 5, proto::offline_not_counted, 7, 0, 0};
    CHECK(render_status(r, false)[5] == "offline stored      not counted by a cluster node (they are in Redis)");
    CHECK(render_status(r, true)[0].find(R"("offline_stored":null,)") != std::string::npos);
}

TEST_CASE("JSON strings escape quotes, backslashes and control characters") {
    CHECK(json_string("a\"b\\c\nd\x01") == R"("a\"b\\c\nd\u0001")");
}

TEST_CASE("the command table names each command once and finds it") {
    std::set<std::string_view> names;
    for (const Command& c : commands()) {
        CHECK(names.insert(c.name).second);
        CHECK(c.synopsis.starts_with(c.name));
        CHECK(find_command(c.name) == &c);
    }
    for (auto n : {"status", "who", "kick", "lock", "unlock", "reload", "wall", "metrics"}) CHECK(names.count(n));
    CHECK(find_command("frobnicate") == nullptr);
}
