// parse_command: every command's happy path, and each way a line is refused
// locally (so that nothing malformed is ever sent).
#include "cli/command_parser.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace confab::cli;

namespace {

template <class C>
C parse_as(std::string_view line) {
    ParsedLine p = parse_command(line);
    INFO("line: ", std::string(line), " error: ", p.error);
    REQUIRE(p.error.empty());
    REQUIRE(p.command.has_value());
    REQUIRE(std::holds_alternative<C>(*p.command));
    return std::get<C>(*p.command);
}

std::string error_of(std::string_view line) {
    ParsedLine p = parse_command(line);
    INFO("line: ", std::string(line));
    CHECK_FALSE(p.command.has_value());
    CHECK(p.error.rfind("error: ", 0) == 0);
    return p.error;
}

} // namespace

TEST_CASE("blank lines are neither commands nor errors") {
    for (std::string_view line : {"", "   ", "\t \t"}) {
        ParsedLine p = parse_command(line);
        CHECK_FALSE(p.command.has_value());
        CHECK(p.error.empty());
    }
}

TEST_CASE("message takes a user and the rest of the line verbatim") {
    auto m = parse_as<cmd::Message>("message bob hello   there, bob  ");
    CHECK(m.to == "bob");
    CHECK(m.text == "hello   there, bob  ");

    auto spaced = parse_as<cmd::Message>("  message\tbob \t x");
    CHECK(spaced.to == "bob");
    CHECK(spaced.text == "x");
}

TEST_CASE("broadcast keeps the whole text") {
    CHECK(parse_as<cmd::Broadcast>("broadcast hi all").text == "hi all");
    CHECK(error_of("broadcast") == "error: usage: broadcast <text>");
    CHECK(error_of("broadcast    ") == "error: usage: broadcast <text>");
}

TEST_CASE("commands without arguments refuse extra words") {
    parse_as<cmd::WhoElse>("whoelse");
    parse_as<cmd::WhoElse>("whoelse  ");
    parse_as<cmd::Logout>("logout");
    parse_as<cmd::Help>("help");
    CHECK(error_of("whoelse bob") == "error: usage: whoelse");
    CHECK(error_of("logout now") == "error: usage: logout");
}

TEST_CASE("whoelsesince takes any whole number of seconds; more than 32 bits hold means ever") {
    CHECK(parse_as<cmd::WhoElseSince>("whoelsesince 0").seconds == 0);
    CHECK(parse_as<cmd::WhoElseSince>("whoelsesince 300").seconds == 300);
    CHECK(parse_as<cmd::WhoElseSince>("whoelsesince 4294967295").seconds == 4294967295u);
    CHECK(parse_as<cmd::WhoElseSince>("whoelsesince 4294967296").seconds == 4294967295u);
    CHECK(parse_as<cmd::WhoElseSince>("whoelsesince 9999999999").seconds == 4294967295u);
    CHECK(parse_as<cmd::WhoElseSince>("whoelsesince 000000000000000000000000007").seconds == 7);
    for (std::string_view bad : {"whoelsesince", "whoelsesince -1", "whoelsesince 1.5", "whoelsesince 10s",
                                 "whoelsesince 1 2", "whoelsesince +5"})
        CHECK(error_of(bad).find("usage: whoelsesince <seconds>") != std::string::npos);
}

TEST_CASE("one-user commands") {
    CHECK(parse_as<cmd::Block>("block bob").user == "bob");
    CHECK(parse_as<cmd::Unblock>("unblock bob").user == "bob");
    CHECK(parse_as<cmd::StartPrivate>("startprivate carol").user == "carol");
    CHECK(parse_as<cmd::StopPrivate>("stopprivate carol").user == "carol");
    CHECK(error_of("block") == "error: usage: block <user>");
    CHECK(error_of("block bob carol") == "error: usage: block <user>");
    CHECK(error_of("startprivate") == "error: usage: startprivate <user>");
    CHECK(error_of("stopprivate a b") == "error: usage: stopprivate <user>");
}

TEST_CASE("private takes a user and text") {
    auto p = parse_as<cmd::Private>("private bob see you at 5");
    CHECK(p.user == "bob");
    CHECK(p.text == "see you at 5");
    CHECK(error_of("private bob") == "error: usage: private <user> <text>");
    CHECK(error_of("private") == "error: usage: private <user> <text>");
}

TEST_CASE("a user argument breaking the protocol's name rule is refused before sending, with the rule") {
    CHECK(error_of("message b@d hi") == "error: invalid user name 'b@d' (1-32 letters, digits, '_', '.' or '-')");
    CHECK(error_of("block " + std::string(33, 'x')).find("invalid user name") != std::string::npos);
}

TEST_CASE("text must be 1..16000 bytes of UTF-8 (past 1000 it is sent as several messages)") {
    std::string longest(16000, 'a');
    CHECK(parse_as<cmd::Message>("message bob " + longest).text == longest);
    CHECK(error_of("message bob " + longest + "a") == "error: the text is too long (16001 bytes, at most 16000)");
    CHECK(error_of("broadcast " + std::string(16001, 'b')).find("too long") != std::string::npos);

    CHECK(parse_as<cmd::Message>("message bob h\xc3\xa9llo \xe2\x82\xac").text == "h\xc3\xa9llo \xe2\x82\xac");
    CHECK(error_of("message bob \xff\xfe") == "error: the text is not valid UTF-8");
    CHECK(error_of("private bob \xc3") == "error: the text is not valid UTF-8");

    CHECK(text_problem("ok") == std::nullopt);
    CHECK(text_problem("").has_value());
}

TEST_CASE("unknown commands point at help, or at the command they nearly spell") {
    CHECK(error_of("foo") == "error: unknown command 'foo' (type 'help' for the list of commands)");
    CHECK(error_of("mesage bob hi") == "error: unknown command 'mesage' (did you mean 'message'?)");
    CHECK(error_of("/brodcast hi") == "error: unknown command '/brodcast' (did you mean 'broadcast'?)");
    CHECK(error_of("WHOELS") == "error: unknown command 'WHOELS' (did you mean 'whoelse'?)");
    CHECK(error_of("frobnicate").find("type 'help'") != std::string::npos);
    CHECK(error_of("ab").find("type 'help'") != std::string::npos); // too short to guess
    CHECK(near_miss("blok") == "block");
    CHECK_FALSE(near_miss("xyzzy"));
}

TEST_CASE("habits: a leading slash, any case, and the aliases msg, quit, exit and ?") {
    CHECK(parse_as<cmd::Message>("MESSAGE bob hi").to == "bob");
    CHECK(parse_as<cmd::Message>("/msg bob hi").text == "hi");
    CHECK(parse_as<cmd::Message>("msg bob hi there").text == "hi there");
    parse_as<cmd::Logout>("/quit");
    parse_as<cmd::Logout>("quit");
    parse_as<cmd::Logout>("Exit");
    parse_as<cmd::Help>("/help");
    parse_as<cmd::Help>("?");
    parse_as<cmd::WhoElse>("/WhoElse");
    parse_as<cmd::Blocks>("blocks");
    CHECK(error_of("blocks bob") == "error: usage: blocks");
    CHECK(error_of("/").find("unknown command '/'") != std::string::npos);
    CHECK(command_takes_user("/MSG"));
    CHECK_FALSE(command_takes_user("broadcast"));
    CHECK(canonical_command("exit") == "logout");
    CHECK(canonical_command("nope").empty());
}

TEST_CASE("help lists every command") {
    std::string_view help = command_help();
    for (std::string_view name : {"message", "broadcast", "whoelse", "whoelsesince", "block", "unblock", "startprivate",
                                  "private", "stopprivate", "logout"})
        CHECK(help.find(name) != std::string_view::npos);
}
