// confab: terminal client for confabd. Parses the command line, picks the
// terminal flavour and runs one session; the exit code says how it ended.
#include "cli/client.hpp"
#include "cli/client_config.hpp"
#include "cli/login_again.hpp"
#include "cli/options.hpp"
#include "cli/terminal.hpp"
#include "confab_build_config.hpp"
#include "proto/io/read_file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <clocale>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <unistd.h>

namespace {

using namespace confab::cli;

// The first line of `path`; an error sentence instead if there is none.
std::optional<std::string> read_password_file(const std::string& path, std::string& error) {
    confab::FileText file = confab::read_file(path);
    if (file.error) {
        error = std::strerror(file.error);
        return std::nullopt;
    }
    std::string line = file.text.substr(0, file.text.find('\n'));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
        error = "the file is empty";
        return std::nullopt;
    }
    return line;
}

} // namespace

int main(int argc, char** argv) {
    std::setlocale(LC_CTYPE, "");  // readline needs the locale to edit multibyte text
    std::signal(SIGPIPE, SIG_IGN); // a closed socket or pipe is an error return, not a death

    // The config file gives defaults; the command line overrides them.
    Options defaults;
    std::string config_path = config_file_path(std::getenv("XDG_CONFIG_HOME"), std::getenv("HOME"));
    if (!config_path.empty())
        if (auto error = apply_config_file(config_path, defaults)) {
            fmt::print(stderr, "confab: {}\n", *error);
            return exit_failure;
        }
    ParsedOptions parsed = parse_options(argc, argv, std::move(defaults));
    switch (parsed.action) {
    case ParsedOptions::Action::help: std::fputs(help_text().c_str(), stdout); return exit_ok;
    case ParsedOptions::Action::version: std::puts("confab " CONFAB_VERSION); return exit_ok;
    case ParsedOptions::Action::usage_error:
        if (!parsed.error.empty()) fmt::print(stderr, "confab: {}\n", parsed.error);
        std::fputs(short_usage().data(), stderr);
        return exit_failure;
    case ParsedOptions::Action::run: break;
    }

    std::optional<std::string> password;
    if (parsed.options.password_file) {
        std::string error;
        password = read_password_file(*parsed.options.password_file, error);
        if (!password) {
            fmt::print(stderr, "error: cannot read password file {}: {}\n", *parsed.options.password_file, error);
            return exit_failure;
        }
    }

    auto terminal = isatty(STDIN_FILENO)
                        ? make_readline_terminal(history_file_path(std::getenv("XDG_STATE_HOME"), std::getenv("HOME")))
                        : make_plain_terminal();
    Options options = std::move(parsed.options);
    if (terminal->interactive()) // scripts always get plain lines
        terminal->set_style(LineStyle{
            .timestamps = options.timestamps,
            .color = color_wanted(options.color, isatty(STDOUT_FILENO) != 0, std::getenv("NO_COLOR")),
        });
    try {
        // Interactively, a session the server ended may be followed by another
        // one, with the same name, the same history and the half-typed line.
        bool again = false;
        for (;;) {
            Client client(options, password, *terminal);
            int code = client.run();
            bool offer = client.may_log_in_again() || (again && client.connection_failed());
            if (!terminal->interactive() || !offer || !ask_to_log_in_again(*terminal)) return code;
            if (client.user_name()) options.user = client.user_name();
            again = true;
        }
    } catch (const std::exception& e) {
        terminal->print_error(fmt::format("error: {}", e.what()));
        return exit_failure;
    }
}
