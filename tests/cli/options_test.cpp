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
    CHECK(r.options.invite_timeout == std::chrono::seconds(60));
}

TEST_CASE("--private-host takes IPv4 and IPv6 literals only; --invite-timeout seconds") {
    ParsedOptions r = parse({"--private-host", "2001:db8::7", "--invite-timeout", "5"});
    REQUIRE(r.action == ParsedOptions::Action::run);
    CHECK(r.options.private_host == "2001:db8::7");
    CHECK(r.options.invite_timeout == std::chrono::seconds(5));
    ParsedOptions name = parse({"--private-host", "localhost"});
    REQUIRE(name.action == ParsedOptions::Action::usage_error);
    CHECK(name.error.find("an IP address is needed") != std::string::npos);
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
             {"--private-host", "chat.example"}, // a name would need a blocking lookup
             {"--invite-timeout", "0"},
             {"--invite-timeout", "3601"},
             {"h", "p", "stray"},
             {"h", "notaport"},
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
                                 "--version", "-H,", "-p,", "-u,", "--color", "--no-timestamps", "[HOST [PORT]]"})
        CHECK(help.find(opt) != std::string::npos);
    CHECK(std::string(short_usage()).find("confab --help") != std::string::npos);
}

// ---- display options and the classic positional form

TEST_CASE("--color and --no-timestamps") {
    ParsedOptions d = parse({});
    CHECK(d.options.color == ColorMode::auto_detect);
    CHECK(d.options.timestamps);
    CHECK(parse({"--color=always"}).options.color == ColorMode::always);
    CHECK(parse({"--color", "never"}).options.color == ColorMode::never);
    CHECK(parse({"--colour=auto"}).options.color == ColorMode::auto_detect);
    ParsedOptions bad = parse({"--color=sometimes"});
    CHECK(bad.action == ParsedOptions::Action::usage_error);
    CHECK(bad.error.find("sometimes") != std::string::npos);
    CHECK_FALSE(parse({"--no-timestamps"}).options.timestamps);
}

TEST_CASE("confab HOST PORT") {
    ParsedOptions r = parse({"chat.example", "7001"});
    REQUIRE(r.action == ParsedOptions::Action::run);
    CHECK(r.options.host == "chat.example");
    CHECK(r.options.port == 7001);
    ParsedOptions host_only = parse({"-u", "alice", "chat.example"});
    CHECK(host_only.options.host == "chat.example");
    CHECK(host_only.options.port == 7420);
    CHECK(parse({"h", "0"}).action == ParsedOptions::Action::usage_error);
    CHECK(parse({"h", "65536"}).action == ParsedOptions::Action::usage_error);
    ParsedOptions extra = parse({"h", "7000", "more"});
    CHECK(extra.action == ParsedOptions::Action::usage_error);
    CHECK(extra.error == "unexpected argument 'more'");
}

TEST_CASE("TLS by default except to loopback hosts; --tls and --no-tls decide") {
    CHECK_FALSE(uses_tls(parse({}).options)); // 127.0.0.1
    for (const char* host : {"localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1"}) {
        CAPTURE(host);
        CHECK(is_loopback_host(host));
        CHECK_FALSE(uses_tls(parse({"--host", host}).options));
        CHECK(uses_tls(parse({"--host", host, "--tls"}).options));
    }
    for (const char* host : {"chat.example.org", "128.0.0.1", "10.0.0.1", "::2", "localhost.example", "2001:db8::1"}) {
        CAPTURE(host);
        CHECK_FALSE(is_loopback_host(host));
        CHECK(uses_tls(parse({"--host", host}).options));
        CHECK_FALSE(uses_tls(parse({"--host", host, "--no-tls"}).options));
    }
    // The last of --tls / --no-tls wins, like any repeated option.
    CHECK_FALSE(uses_tls(parse({"--host", "chat.example", "--tls", "--no-tls"}).options));
}

TEST_CASE("--ca and --fingerprint imply TLS and cannot go with --no-tls") {
    ParsedOptions r = parse({"--ca", "/etc/confab/ca.pem"});
    REQUIRE(r.action == ParsedOptions::Action::run);
    CHECK(r.options.ca_file == "/etc/confab/ca.pem");
    CHECK(uses_tls(r.options));

    const std::string fp = "SHA256:lxnQ3/VWDGZNuP4k9SrW0YK15zzQVGi4BrCip2KXim0";
    r = parse({"--fingerprint", fp});
    REQUIRE(r.action == ParsedOptions::Action::run);
    REQUIRE(r.options.fingerprint);
    CHECK(format_fingerprint(*r.options.fingerprint) == fp);
    CHECK(uses_tls(r.options));

    r = parse({"--fingerprint", "SHA256:nonsense"});
    CHECK(r.action == ParsedOptions::Action::usage_error);
    CHECK(r.error.find("invalid fingerprint") != std::string::npos);
    r = parse({"--ca", "ca.pem", "--no-tls"});
    CHECK(r.action == ParsedOptions::Action::usage_error);
    CHECK(r.error.find("--no-tls") != std::string::npos);
    CHECK(parse({"--ca", ""}).action == ParsedOptions::Action::usage_error);
}
