// One confab session from connect to exit: the single-threaded poll(2) loop
// over stdin, the server, the private-chat sockets and a signalfd, and the
// session's states (handshake, login, commands, logout).
#pragma once

#include "cli/activity_limiter.hpp"
#include "cli/command_parser.hpp"
#include "cli/options.hpp"
#include "cli/private_chat.hpp"
#include "cli/recent_ids.hpp"
#include "cli/server_link.hpp"
#include "cli/signals.hpp"
#include "cli/terminal.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace confab::cli {

// Process exit codes, as confab(1) EXIT STATUS documents them.
enum ExitCode : int {
    exit_ok = 0,
    exit_failure = 1, // connection or usage error
    exit_refused = 2, // the login was refused
    exit_ended_by_server = 3,
};

class Client {
public:
    using Clock = std::chrono::steady_clock;

    // `password` comes from --password-file, if given.
    Client(Options options, std::optional<std::string> password, Terminal& terminal);
    // Runs the session to its end and returns the exit code.
    int run();
    // The session ended without the user asking (timeout, kick, lost
    // connection): an interactive user may want to log in again.
    bool may_log_in_again() const noexcept { return may_log_in_again_; }
    // The server could not be reached or went away before the login.
    bool connection_failed() const noexcept { return connection_failed_; }
    // The name the session logged in with, if it got that far.
    const std::optional<std::string>& user_name() const noexcept { return username_; }

private:
    enum class State {
        awaiting_welcome,
        need_username,
        need_password,
        awaiting_login,
        logged_in,
        logging_out,
        finished,
    };

    // Loop.
    void poll_once();
    std::optional<Clock::time_point> next_deadline() const;
    void check_deadlines(Clock::time_point now);
    void flush_server();

    // Input.
    bool accepts_input() const noexcept;
    bool input_paused() const noexcept;
    void process_input();
    void handle_line(std::string line);
    void handle_eof();
    void handle_signal(int signal);
    void execute(const Command& command);

    // Login.
    void ask_credentials();
    void send_login();
    void login_refused(const std::string& line, bool may_retry);
    void logged_in();

    // Server.
    void on_server_readable();
    bool on_server_message(const proto::Message& m);
    bool handle(const proto::Welcome& m);
    bool handle(const proto::LoginResult& m);
    bool handle(const proto::Result& m);
    bool handle(const proto::UserList& m);
    bool handle(const proto::UserSeenList& m);
    bool handle(const proto::MessageEvent& m);
    bool handle(const proto::BroadcastEvent& m);
    bool handle(const proto::PresenceEvent& m);
    bool handle(const proto::ServerNotice& m);
    bool handle(const proto::SessionEnded& m);
    bool handle(const proto::PrivateIntro& m);
    bool handle(const proto::PrivateInvite& m);
    bool handle(const proto::PrivateRevoked& m);
    bool handle(const proto::ProtocolError& m);
    bool handle(const proto::IdleWarning& m);

    // Output: one line on stdout, held back while the login completes.
    void show(std::string line, LineKind kind = LineKind::reply, std::string_view name = {});
    void release_held_lines();

    // Endings.
    void begin_logout();
    void close_private_chats();
    void server_lost();
    void fail(std::string_view line, int code);
    void finish(int code);

    Options options_;
    Terminal& terminal_;
    std::optional<ServerLink> server_;
    std::optional<SignalWatch> signals_;
    std::optional<PrivateChat> chat_;

    State state_ = State::awaiting_welcome;
    bool server_tls_ = false;
    bool server_spoke_ = false; // the server has sent something: its first byte was checked
    int exit_code_ = exit_ok;
    std::optional<std::string> username_;
    std::optional<std::string> password_;
    bool password_from_file_ = false;
    Clock::time_point welcome_deadline_{};
    Clock::time_point logout_deadline_{};

    // Set from the login until the server has registered our private-chat
    // listener: "welcome" then promises that peers can start chats with us.
    struct HeldLine {
        std::string text;
        LineKind kind;
        std::string name;
    };
    std::optional<std::vector<HeldLine>> held_lines_;
    RecentIds shown_ids_{16'384};      // duplicate suppression for the session
    ActivityLimiter private_activity_; // paces PrivateActivity reports
    bool may_log_in_again_ = false;
    bool connection_failed_ = false;
    std::vector<std::uint64_t> unacked_ids_;
};

} // namespace confab::cli
