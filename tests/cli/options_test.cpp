// parse_options: GNU long options, short aliases, defaults and refusals.
#include "cli/options.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace confab::cli;

namespace {

ParsedOptions parse(std::vector<std::string> args) {
    args.insert(args.begin(), "confab");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return parse_options(int(args.size()), argv.data());
}

} // namespace

TEST_CASE("defaults") {
    ParsedOptions r = parse({});
    REQUIRE(r.action == ParsedOptions::Action::run);
    CHECK(r.options.host == "127.0.0.1");
    CHECK(r.options.port == 7420);
    CHECK_FALSE(r.options.user);
    CHECK_FALSE(r.options.password_file);
    CHECK_FALSE(r.options.private_host);
}

TEST_CASE("long options") {
    ParsedOptions r = parse({"--host", "chat.example", "--port=7000", "--user", "alice", "--password-file", "/tmp/pw",
                             "--private-host", "10.0.0.5"});
    REQUIRE(r.action == ParsedOptions::Action::run);
    CHECK(r.options.host == "chat.example");
    CHECK(r.options.port == 7000);
    CHECK(r.options.user == "alice");
    CHECK(r.options.password_file == "/tmp/pw");
    CHECK(r.options.private_host == "10.0.0.5");
}

TEST_CASE("short aliases") {
    ParsedOptions r = parse({"-H", "::1", "-p1", "-u", "bob"});
    REQUIRE(r.action == ParsedOptions::Action::run);
    CHECK(r.options.host == "::1");
    CHECK(r.options.port == 1);
    CHECK(r.options.user == "bob");
    CHECK(parse({"-h"}).action == ParsedOptions::Action::help);
    CHECK(parse({"--help"}).action == ParsedOptions::Action::help);
    CHECK(parse({"-V"}).action == ParsedOptions::Action::version);
    CHECK(parse({"--version"}).action == ParsedOptions::Action::version);
}

TEST_CASE("bad usage") {
    for (auto args : std::vector<std::vector<std::string>>{
             {"--port", "0"},
             {"--port", "65536"},
             {"-p", "7a"},
             {"--port", ""},
             {"--user", "bad name"},
             {"--host", ""},
             {"--private-host", ""},
             {"stray"},
         }) {
        ParsedOptions r = parse(args);
        CHECK(r.action == ParsedOptions::Action::usage_error);
        CHECK_FALSE(r.error.empty());
    }
    // getopt reports these itself (on stderr): no message of ours.
    ParsedOptions unknown = parse({"--no-such-option"});
    CHECK(unknown.action == ParsedOptions::Action::usage_error);
    CHECK(parse({"--port"}).action == ParsedOptions::Action::usage_error);
}

TEST_CASE("help text documents every option") {
    std::string help = help_text();
    for (std::string_view opt : {"--host", "--port", "--user", "--password-file", "--private-host", "--help",
                                 "--version", "-H,", "-p,", "-u,"})
        CHECK(help.find(opt) != std::string::npos);
    CHECK(std::string(short_usage()).find("confab --help") != std::string::npos);
}
