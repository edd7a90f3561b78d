#include "cli/client.hpp"

#include "cli/format.hpp"
#include "cli/known_hosts.hpp"
#include "cli/net.hpp"
#include "cli/server_tls.hpp"
#include "cli/text_split.hpp"
#include "confab_build_config.hpp"
#include "proto/names.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <system_error>
#include <unistd.h>

namespace confab::cli {
namespace {

constexpr auto connect_timeout = std::chrono::seconds(10);
constexpr auto tls_handshake_timeout = std::chrono::seconds(10);
// A server that accepts but never says Welcome is not a confab server.
constexpr auto welcome_timeout = std::chrono::seconds(15);
// How long to wait for the server to confirm a logout before leaving anyway.
constexpr auto logout_timeout = std::chrono::seconds(3);

// A question on the terminal, answered before the event loop (and readline)
// start: read byte by byte so nothing typed after the answer is taken.
std::optional<std::string> ask_on_terminal(const std::string& question) {
    std::fputs(question.c_str(), stderr);
    std::fflush(stderr);
    std::string answer;
    char c;
    while (true) {
        ssize_t n = ::read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::nullopt;
        if (c == '\n') break;
        if (answer.size() < 256) answer += c;
    }
    while (!answer.empty() && (answer.back() == '\r' || answer.back() == ' ')) answer.pop_back();
    while (!answer.empty() && answer.front() == ' ') answer.erase(0, 1);
    return answer;
}

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

} // namespace

Client::Client(Options options, std::optional<std::string> password, Terminal& terminal)
    : options_(std::move(options)), terminal_(terminal), password_(std::move(password)),
      password_from_file_(password_.has_value()) {}

int Client::run() {
    SocketResult conn = connect_with_timeout(options_.host, options_.port, connect_timeout);
    if (!conn.fd) {
        connection_failed_ = true;
        terminal_.print_error(
            fmt::format("error: cannot connect to {}: {}", host_port(options_.host, options_.port), conn.error));
        return exit_failure;
    }
    std::unique_ptr<TlsSession> tls;
    if (uses_tls(options_)) {
        ServerTlsOptions o{options_.host,
                           options_.port,
                           options_.ca_file,
                           options_.fingerprint,
                           known_hosts_path(),
                           nullptr,
                           [this](const std::string& line) { terminal_.print_error(line); }};
        if (terminal_.interactive()) o.ask = ask_on_terminal;
        ServerTlsResult secured = secure_server_connection(conn.fd.get(), o, Clock::now() + tls_handshake_timeout);
        if (!secured.session) {
            terminal_.print_error(secured.error);
            return exit_failure;
        }
        tls = std::move(secured.session);
    }
    server_tls_ = tls != nullptr;
    server_.emplace(std::move(conn.fd), std::move(tls));
    // Only now: a Ctrl-C during the connect attempt simply ends the program.
    signals_.emplace(std::initializer_list<int>{SIGINT, SIGTERM, SIGHUP, SIGWINCH});
    server_->send(proto::Hello{proto::protocol_version, "confab/" CONFAB_VERSION});
    welcome_deadline_ = Clock::now() + welcome_timeout;

    while (state_ != State::finished) {
        process_input();
        if (state_ != State::finished) poll_once();
    }
    server_->stream().flush(); // best effort: a final Logout or acknowledgement
    return exit_code_;
}

// ---- loop ----

void Client::poll_once() {
    PollSet polls;
    std::size_t signal_poll = polls.add(signals_->fd(), POLLIN);
    std::size_t input_poll = PollSet::none;
    if (accepts_input() && !input_paused() && terminal_.wants_read()) input_poll = polls.add(STDIN_FILENO, POLLIN);
    short server_events = POLLIN;
    if (server_->stream().wants_write()) server_events |= POLLOUT;
    std::size_t server_poll = polls.add(server_->fd(), server_events);
    if (chat_) chat_->collect(polls);

    int timeout = -1;
    if (auto deadline = next_deadline()) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
        timeout = int(std::clamp<std::int64_t>(left.count(), 0, INT_MAX));
    }
    if (polls.wait(timeout) < 0) throw std::system_error(errno, std::generic_category(), "poll");
    auto now = Clock::now();

    if (polls.revents(signal_poll) & POLLIN)
        for (int s : signals_->take()) handle_signal(s);
    if (state_ == State::finished) return;
    if (polls.revents(input_poll)) terminal_.on_readable();
    if (polls.revents(server_poll) & (POLLIN | POLLHUP | POLLERR)) on_server_readable();
    if (state_ == State::finished) return;
    if (chat_) chat_->dispatch(polls, now);
    check_deadlines(now);
    if (state_ != State::finished) flush_server();
}

std::optional<Client::Clock::time_point> Client::next_deadline() const {
    std::optional<Clock::time_point> next;
    if (state_ == State::awaiting_welcome) next = welcome_deadline_;
    if (state_ == State::logging_out) next = logout_deadline_;
    if (chat_)
        if (auto d = chat_->next_deadline(); d && (!next || *d < *next)) next = d;
    if (state_ == State::logged_in)
        if (auto d = private_activity_.deadline(); d && (!next || *d < *next)) next = d;
    return next;
}

void Client::check_deadlines(Clock::time_point now) {
    if (state_ == State::awaiting_welcome && now >= welcome_deadline_) {
        fail(fmt::format("error: no answer from {} (is it a confab server?)", host_port(options_.host, options_.port)),
             exit_failure);
        return;
    }
    if (state_ == State::logging_out && now >= logout_deadline_) {
        show("logged out"); // the server is slow to confirm; we are leaving anyway
        finish(exit_ok);
        return;
    }
    if (chat_) chat_->expire(now);
    if (state_ == State::logged_in && private_activity_.due(now)) server_->send(proto::PrivateActivity{});
}

void Client::flush_server() {
    if (!server_->stream().flush() || server_->overflowed()) server_lost();
}

// ---- input ----

bool Client::accepts_input() const noexcept {
    return state_ == State::need_username || state_ == State::need_password || state_ == State::logged_in;
}

// Scripted input goes one command at a time, each after the previous reply,
// so the output lines come in the order of the commands that caused them.
// Interactively the user is the pacing; only a backlog stops the reading.
bool Client::input_paused() const noexcept {
    return server_->backlogged() || (!terminal_.interactive() && server_->awaiting_reply());
}

void Client::process_input() {
    while (accepts_input() && !input_paused()) {
        std::optional<std::string> line = terminal_.take_line();
        if (!line) break;
        handle_line(std::move(*line));
    }
    if (accepts_input() && !input_paused() && terminal_.at_eof()) handle_eof();
}

void Client::handle_line(std::string line) {
    switch (state_) {
    case State::need_username:
        if (line.empty() && terminal_.interactive()) {
            ask_credentials(); // just Enter: ask again
            return;
        }
        if (!proto::is_valid_user_name(line)) {
            login_refused(fmt::format("error: invalid user name '{}'", printable(line)), true);
            return;
        }
        username_ = std::move(line);
        ask_credentials();
        return;
    case State::need_password:
        password_ = std::move(line);
        send_login();
        return;
    case State::logged_in: {
        ParsedLine parsed = parse_command(line);
        if (!parsed.error.empty())
            show(std::move(parsed.error));
        else if (parsed.command)
            execute(*parsed.command);
        return;
    }
    default: return;
    }
}

void Client::handle_eof() {
    if (state_ == State::logged_in) {
        begin_logout();
        return;
    }
    // Input ended before the login: nothing to log out of.
    if (terminal_.interactive()) return fail("login cancelled", exit_failure);
    terminal_.print_error(
        fmt::format("error: standard input ended before the {}", username_ ? "password" : "user name"));
    finish(exit_failure);
}

void Client::handle_signal(int signal) {
    if (signal == SIGWINCH) {
        terminal_.resized();
        return;
    }
    // Ctrl-C with something typed only clears the line; on an empty line it logs out.
    if (signal == SIGINT && state_ == State::logged_in && terminal_.discard_typed_line()) return;
    if (state_ == State::logged_in) {
        begin_logout();
    } else if (state_ == State::logging_out) { // asked twice: stop waiting for the server
        show("logged out");
        finish(exit_ok);
    } else {
        if (terminal_.interactive())
            fail("login cancelled", exit_failure);
        else
            finish(exit_failure);
    }
}

void Client::execute(const Command& command) {
    ServerLink& server = *server_;
    std::visit(overloaded{
                   // A text longer than one message goes out as several, in order.
                   [&](const cmd::Message& c) {
                       for (auto part : split_text(c.text, proto::max_text_length))
                           server.request(proto::SendMessage{0, c.to, part}, {RequestKind::send_message, c.to});
                   },
                   [&](const cmd::Broadcast& c) {
                       for (auto part : split_text(c.text, proto::max_text_length))
                           server.request(proto::Broadcast{0, part}, {RequestKind::broadcast});
                   },
                   [&](const cmd::Blocks&) { server.request(proto::ListBlocks{}, {RequestKind::list_blocks}); },
                   [&](const cmd::WhoElse&) { server.request(proto::WhoElse{}, {RequestKind::who_else}); },
                   [&](const cmd::WhoElseSince& c) {
                       // People get who left when; scripts keep their one name per line.
                       if (terminal_.interactive())
                           server.request(proto::WhoElseSinceSeen{0, c.seconds},
                                          {RequestKind::who_else_since, std::to_string(c.seconds)});
                       else
                           server.request(proto::WhoElseSince{0, c.seconds}, {RequestKind::who_else});
                   },
                   [&](const cmd::Block& c) {
                       server.request(proto::Block{0, c.user}, {RequestKind::block, c.user});
                   },
                   [&](const cmd::Unblock& c) {
                       server.request(proto::Unblock{0, c.user}, {RequestKind::unblock, c.user});
                   },
                   [&](const cmd::Logout&) { begin_logout(); },
                   [&](const cmd::StartPrivate& c) {
                       if (auto error = chat_->request(c.user))
                           show(std::move(*error));
                       else
                           server.request(proto::StartPrivate{0, c.user}, {RequestKind::start_private, c.user});
                   },
                   [&](const cmd::Private& c) {
                       for (auto part : split_text(c.text, proto::max_text_length)) {
                           if (auto error = chat_->send_text(c.user, part)) {
                               show(std::move(*error));
                               return;
                           }
                       }
                       if (private_activity_.on_activity(Clock::now())) server.send(proto::PrivateActivity{});
                   },
                   [&](const cmd::StopPrivate& c) {
                       bool closed = chat_->stop(c.user);
                       // The server may still hold an unused introduction for the pair.
                       server.request(proto::StopPrivate{0, c.user}, {RequestKind::stop_private, c.user, closed});
                   },
                   [&](const cmd::Help&) {
                       std::string_view help = command_help();
                       while (!help.empty()) {
                           auto end = help.find('\n');
                           show(std::string(help.substr(0, end)));
                           help.remove_prefix(end + 1);
                       }
                   },
               },
               command);
}

// ---- login ----

// Moves to the next missing credential, or logs in when both are known.
void Client::ask_credentials() {
    if (!username_ && options_.user) username_ = options_.user;
    if (!username_) {
        state_ = State::need_username;
        terminal_.set_input(InputMode::text, "Username: ");
    } else if (!password_) {
        state_ = State::need_password;
        terminal_.set_input(InputMode::secret, "Password: ");
    } else {
        send_login();
    }
}

void Client::send_login() {
    state_ = State::awaiting_login;
    terminal_.set_input(InputMode::none, {});
    server_->request(proto::Login{0, *username_, *password_}, {RequestKind::login});
}

// Interactively a refused login may be retried (new password, or new name
// for a name the server would not take); scripted, it ends the program.
void Client::login_refused(const std::string& line, bool may_retry) {
    terminal_.print_error(line);
    if (!may_retry || !terminal_.interactive() || password_from_file_) {
        finish(exit_refused);
        return;
    }
    if (!options_.user && state_ == State::need_username) username_.reset();
    password_.reset();
    ask_credentials();
}

void Client::logged_in() {
    state_ = State::logged_in;
    password_.reset();
    chat_.emplace(*username_, terminal_, options_.invite_timeout);
    // Listen where the server connection comes from unless told otherwise;
    // the announced host "" lets the server fill in the address it sees.
    std::string bind_host = options_.private_host.value_or(local_address(server_->fd()));
    if (auto error = chat_->listen(bind_host)) {
        show(welcome_line(*username_));
        show(fmt::format("error: private chat unavailable: {}", *error));
    } else {
        std::string announced = options_.private_host.value_or("");
        server_->request(proto::PrivateListen{0, announced, chat_->port()}, {RequestKind::private_listen});
        // Interactively the login also says who is online, before the offline messages.
        if (terminal_.interactive()) server_->request(proto::WhoElse{}, {RequestKind::login_who});
        held_lines_.emplace();
        show(welcome_line(*username_));
        return; // the prompt comes with the welcome line
    }
    terminal_.set_input(InputMode::command, "> ");
}

// ---- server ----

void Client::on_server_readable() {
    if (!server_tls_ && !server_spoke_) {
        // Every confab frame starts with 0x00 (the high byte of its length);
        // a TLS record starts with 0x15 (alert) or 0x16 (handshake).
        int first = peek_byte(server_->fd());
        if (first == 0x15 || first == 0x16) {
            fail(fmt::format("error: the server at {} speaks TLS: use --tls", host_port(options_.host, options_.port)),
                 exit_failure);
            return;
        }
        server_spoke_ = first >= 0;
    }
    auto status = server_->stream().read([this](const proto::Message& m) { return on_server_message(m); });
    // Acknowledge what was just printed, once per batch rather than per message.
    if (!unacked_ids_.empty()) {
        server_->acknowledge(unacked_ids_);
        unacked_ids_.clear();
    }
    switch (status) {
    case FramedStream::ReadStatus::ok:
    case FramedStream::ReadStatus::stopped: break;
    case FramedStream::ReadStatus::closed:
    case FramedStream::ReadStatus::failed: server_lost(); break;
    case FramedStream::ReadStatus::malformed:
        fail(fmt::format("error: malformed data from the server ({})",
                         proto::to_string(server_->stream().decode_error())),
             exit_failure);
        break;
    }
}

bool Client::on_server_message(const proto::Message& m) {
    bool keep_reading = std::visit(
        [this](const auto& msg) {
            if constexpr (requires { this->handle(msg); })
                return handle(msg);
            else
                return true; // client-bound types only; anything else is ignored
        },
        m);
    return keep_reading && state_ != State::finished;
}

bool Client::handle(const proto::Welcome& m) {
    if (state_ != State::awaiting_welcome) return true;
    if (m.version != proto::protocol_version) {
        fail(fmt::format("error: the server speaks protocol version {}, this client version {}", m.version,
                         proto::protocol_version),
             exit_failure);
        return false;
    }
    ask_credentials();
    return true;
}

bool Client::handle(const proto::LoginResult& m) {
    if (state_ != State::awaiting_login) return true;
    server_->take_pending(m.request_id);
    if (m.outcome == proto::LoginOutcome::ok) {
        logged_in();
        return true;
    }
    bool attempts_left =
        (m.outcome == proto::LoginOutcome::wrong_password || m.outcome == proto::LoginOutcome::unknown_user) &&
        m.value > 0;
    login_refused(format_login_refusal(m, *username_), attempts_left);
    return true;
}

bool Client::handle(const proto::Result& m) {
    std::optional<PendingRequest> request = server_->take_pending(m.request_id);
    if (!request) {
        if (!proto::is_success(m.code)) show(format_error(m.code, m.detail));
        return true;
    }
    if (request->kind == RequestKind::login) { // e.g. a name the server will not take
        if (state_ == State::awaiting_login) {
            state_ = State::need_username; // lets an interactive user pick another name
            login_refused(format_error(m.code, m.detail), true);
        }
        return true;
    }
    if (request->kind == RequestKind::start_private && !proto::is_success(m.code))
        chat_->request_failed(request->target);
    if (request->kind == RequestKind::private_listen && !terminal_.interactive()) release_held_lines();
    if (auto line = format_result(*request, m)) show(std::move(*line));
    return true;
}

bool Client::handle(const proto::UserList& m) {
    std::optional<PendingRequest> request = server_->take_pending(m.request_id);
    for (auto name : m.names) terminal_.learn_name(name);
    if (request && request->kind == RequestKind::list_blocks) {
        for (auto& line : format_block_list(m)) show(std::move(line));
        return true;
    }
    if (request && request->kind == RequestKind::login_who) {
        std::string line = format_online_line(m);
        if (held_lines_ && !held_lines_->empty()) // right after "welcome", before the offline messages
            held_lines_->insert(held_lines_->begin() + 1, HeldLine{std::move(line), LineKind::notice, {}});
        else
            show(std::move(line), LineKind::notice);
        release_held_lines();
        return true;
    }
    if (terminal_.interactive()) {
        for (auto& line : format_user_block(m)) show(std::move(line));
        return true;
    }
    for (auto& line : format_user_list(m)) show(std::move(line));
    return true;
}

bool Client::handle(const proto::UserSeenList& m) {
    std::optional<PendingRequest> request = server_->take_pending(m.request_id);
    for (auto name : m.names) terminal_.learn_name(name);
    std::uint32_t seconds = 0;
    if (request) std::from_chars(request->target.data(), request->target.data() + request->target.size(), seconds);
    for (auto& line : format_seen_block(m, seconds, std::time(nullptr))) show(std::move(line));
    return true;
}

bool Client::handle(const proto::MessageEvent& m) {
    if (m.message_id != 0) { // live messages may carry no id; those cannot repeat
        // A redelivered message is acknowledged again (our ack may have been
        // lost) but not shown again.
        if ((m.flags & proto::message_flag_offline) &&
            std::find(unacked_ids_.begin(), unacked_ids_.end(), m.message_id) == unacked_ids_.end())
            unacked_ids_.push_back(m.message_id);
        if (!shown_ids_.insert(m.message_id)) return true;
    }
    terminal_.learn_name(m.from);
    bool offline = m.flags & proto::message_flag_offline;
    show(format_message(m), offline ? LineKind::dated : LineKind::event, m.from);
    return true;
}

bool Client::handle(const proto::BroadcastEvent& m) {
    terminal_.learn_name(m.from);
    show(format_broadcast(m), LineKind::event, m.from);
    return true;
}

bool Client::handle(const proto::PresenceEvent& m) {
    terminal_.learn_name(m.user);
    show(format_presence(m), LineKind::notice);
    return true;
}

bool Client::handle(const proto::ServerNotice& m) {
    show(format_server_notice(m), LineKind::notice);
    return true;
}

bool Client::handle(const proto::IdleWarning& m) {
    if (state_ != State::logged_in) return true;
    // Private text the server has not heard of yet: the user is not idle.
    if (private_activity_.take_pending(Clock::now()))
        server_->send(proto::PrivateActivity{});
    else
        show(format_idle_warning(m), LineKind::notice);
    return true;
}

bool Client::handle(const proto::SessionEnded& m) {
    close_private_chats();
    // An account that no longer exists cannot log in again.
    may_log_in_again_ = m.reason != proto::EndReason::logged_out && m.reason != proto::EndReason::account_removed;
    show(format_session_end(m), LineKind::notice);
    finish(m.reason == proto::EndReason::logged_out ? exit_ok : exit_ended_by_server);
    return false;
}

bool Client::handle(const proto::PrivateIntro& m) {
    std::optional<PendingRequest> request = server_->take_pending(m.request_id);
    if (chat_ && request && request->kind == RequestKind::start_private) chat_->introduced(m, Clock::now());
    return true;
}

bool Client::handle(const proto::PrivateInvite& m) {
    if (chat_ && state_ == State::logged_in) chat_->invited(m.peer, m.token, Clock::now());
    return true;
}

bool Client::handle(const proto::PrivateRevoked& m) {
    if (chat_) chat_->revoked(m.peer);
    return true;
}

bool Client::handle(const proto::ProtocolError& m) {
    may_log_in_again_ = state_ == State::logged_in; // e.g. dropped for reading too slowly
    fail(format_error(m.code, m.detail), m.code == proto::Status::login_timeout ? exit_ended_by_server : exit_failure);
    return false;
}

// ---- output ----

void Client::show(std::string line, LineKind kind, std::string_view name) {
    if (held_lines_)
        held_lines_->push_back(HeldLine{std::move(line), kind, std::string(name)});
    else
        terminal_.print(line, kind, name);
}

void Client::release_held_lines() {
    if (!held_lines_) return;
    std::vector<HeldLine> lines = std::move(*held_lines_);
    held_lines_.reset();
    for (const auto& line : lines) terminal_.print(line.text, line.kind, line.name);
    if (state_ == State::logged_in) terminal_.set_input(InputMode::command, "> ");
}

// ---- endings ----

void Client::begin_logout() {
    close_private_chats();
    server_->request(proto::Logout{}, {RequestKind::logout});
    state_ = State::logging_out;
    logout_deadline_ = Clock::now() + logout_timeout;
    terminal_.set_input(InputMode::none, {});
}

void Client::close_private_chats() {
    if (chat_) chat_->close_all(proto::PeerByeReason::logged_out);
}

void Client::server_lost() {
    if (state_ == State::finished) return;
    if (state_ == State::logging_out) { // the server closed instead of confirming: same thing
        show("logged out");
        finish(exit_ok);
        return;
    }
    may_log_in_again_ = state_ == State::logged_in;
    connection_failed_ = !may_log_in_again_;
    if (!server_tls_ && !server_spoke_) // a TLS server may hang up on a plaintext hello without a word
        fail(fmt::format("error: the server at {} closed the connection without an answer (if it speaks TLS, use "
                         "--tls)",
                         host_port(options_.host, options_.port)),
             exit_failure);
    else
        fail("error: connection to server lost", exit_failure);
}

void Client::fail(std::string_view line, int code) {
    release_held_lines();
    close_private_chats();
    terminal_.set_input(InputMode::none, {});
    terminal_.print_error(line);
    finish(code);
}

void Client::finish(int code) {
    release_held_lines();
    state_ = State::finished;
    exit_code_ = code;
    terminal_.set_input(InputMode::none, {});
}

} // namespace confab::cli
