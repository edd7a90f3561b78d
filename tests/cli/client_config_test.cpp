// The client config file: every key, refusals naming line and key, and where the files live.
#include "cli/client_config.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace confab::cli;

TEST_CASE("file locations follow the XDG base directories, with the usual defaults") {
    CHECK(config_file_path("/x/config", "/home/a") == "/x/config/confab/confab.toml");
    CHECK(config_file_path(nullptr, "/home/a") == "/home/a/.config/confab/confab.toml");
    CHECK(config_file_path("", "/home/a") == "/home/a/.config/confab/confab.toml");
    CHECK(config_file_path(nullptr, nullptr).empty());
    CHECK(history_file_path("/x/state", "/home/a") == "/x/state/confab/history");
    CHECK(history_file_path(nullptr, "/home/a") == "/home/a/.local/state/confab/history");
}

TEST_CASE("every key sets its option") {
    Options o;
    auto error = apply_config_text("host = \"chat.example\"\nport = 7001\nuser = \"alice\"\ntls = true\n"
                                   "ca = \"/etc/ca.pem\"\ncolor = \"never\"\ntimestamps = false\n"
                                   "fingerprint = \"" +
                                       std::string(64, 'a') + "\"\n",
                                   "test.toml", o);
    REQUIRE_FALSE(error);
    CHECK(o.host == "chat.example");
    CHECK(o.port == 7001);
    CHECK(o.user == "alice");
    CHECK(o.tls == true);
    CHECK(o.ca_file == "/etc/ca.pem");
    CHECK(o.color == ColorMode::never);
    CHECK_FALSE(o.timestamps);
    CHECK(o.fingerprint.has_value());
}

TEST_CASE("an empty file changes nothing; a bad one changes nothing and says where and what") {
    Options o;
    CHECK_FALSE(apply_config_text("", "empty.toml", o));
    CHECK(o.host == "127.0.0.1");
    auto bad_port = apply_config_text("host = \"h\"\nport = 0\n", "c.toml", o);
    REQUIRE(bad_port);
    CHECK(*bad_port == "c.toml:2: 'port' must be an integer from 1 to 65535");
    CHECK(o.host == "127.0.0.1"); // all or nothing
    CHECK(apply_config_text("colour = \"pink\"\n", "c.toml", o)->find("'colour' must be") != std::string::npos);
    CHECK(apply_config_text("user = \"b@d\"\n", "c.toml", o)->find("'user' must be a user name") != std::string::npos);
    CHECK(*apply_config_text("nick = \"x\"\n", "c.toml", o) == "c.toml:1: unknown key 'nick'");
    CHECK(apply_config_text("port = \n", "c.toml", o)->find("TOML syntax error") != std::string::npos);
    CHECK(apply_config_text("fingerprint = \"zz\"\n", "c.toml", o)->find("fingerprint") != std::string::npos);
}

TEST_CASE("a missing config file is no error") {
    Options o;
    CHECK_FALSE(apply_config_file("/nonexistent/confab.toml", o));
}

TEST_CASE("command-line flags override the config file") {
    Options base;
    REQUIRE_FALSE(apply_config_text("port = 7001\nhost = \"cfg.example\"\ntimestamps = false\n", "c.toml", base));
    std::vector<std::string> args{"confab", "--port", "7002"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ParsedOptions r = parse_options(int(args.size()), argv.data(), base);
    REQUIRE(r.action == ParsedOptions::Action::run);
    CHECK(r.options.port == 7002);
    CHECK(r.options.host == "cfg.example");
    CHECK_FALSE(r.options.timestamps);
}
