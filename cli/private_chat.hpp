// Direct client-to-client chats: the listener announced to the server, the
// invitations (peer + one-time token) the server hands out, and one framed
// connection per peer, encrypted with TLS keyed by the token (private_tls).
// The server brokers the introduction but never sees the text.
#pragma once

#include "cli/framed_stream.hpp"
#include "cli/net.hpp"
#include "cli/poll_set.hpp"
#include "cli/private_tls.hpp"
#include "cli/terminal.hpp"
#include "proto/messages.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace confab::cli {

class PrivateChat {
public:
    using Clock = std::chrono::steady_clock;
    // How long our call to a peer may take to finish its TLS handshake and PeerHello/PeerWelcome exchange.
    static constexpr auto handshake_timeout = std::chrono::seconds(10);
    // How long a connection to our listener may stay without proving a token:
    // a real peer needs milliseconds; a stranger must not hold a slot for long.
    static constexpr auto stranger_timeout = std::chrono::seconds(5);
    // Unidentified connections to our listener: per source address, and in all
    // (when full, the oldest is dropped for the newcomer, so strangers from many
    // addresses cannot keep a real peer out either).
    static constexpr std::size_t max_strangers_per_address = 4;
    static constexpr std::size_t max_strangers = 32;
    // Invitations held at once; the oldest goes for a newer one.
    static constexpr std::size_t max_invites = 64;
    // A hello may overtake the server's PrivateInvite for it (two different
    // connections): a well-formed one waits this long for its invite. So does
    // our call closed by a peer whose name sorts first (a crossed call whose
    // invite has not come yet) before it counts as failed.
    static constexpr auto invite_grace = std::chrono::seconds(1);

    // An invitation nobody used within `invite_timeout` is forgotten (with a line saying so).
    PrivateChat(std::string me, Terminal& terminal, std::chrono::seconds invite_timeout = std::chrono::seconds(60));
    ~PrivateChat();
    PrivateChat(const PrivateChat&) = delete;
    PrivateChat& operator=(const PrivateChat&) = delete;

    // Opens the listener on an ephemeral port of `host`; an error sentence on failure.
    std::optional<std::string> listen(const std::string& host);
    std::uint16_t port() const noexcept { return port_; }

    // startprivate: notes that an introduction to `peer` was asked for.
    // An `error: ...` line if a chat with `peer` already exists.
    std::optional<std::string> request(std::string_view peer);
    // The server's answer to our request: connect and say hello.
    void introduced(const proto::PrivateIntro& intro, Clock::time_point now);
    // The server refused our request (it prints its own error line).
    void request_failed(std::string_view peer);
    // The server says `peer` will connect to us with `token`.
    void invited(std::string_view peer, const proto::Token& token, Clock::time_point now);

    // private: an `error: ...` line if the text cannot go out.
    std::optional<std::string> send_text(std::string_view peer, std::string_view text);
    // stopprivate: closes whatever exists with `peer`; false if nothing did.
    bool stop(std::string_view peer);
    // The server ended the chat, or the one being set up (one side blocked the other).
    void revoked(std::string_view peer);
    // Logout or exit: says goodbye to every peer and stops listening.
    void close_all(proto::PeerByeReason reason);

    // Event-loop hooks.
    void collect(PollSet& polls);
    void dispatch(const PollSet& polls, Clock::time_point now);
    std::optional<Clock::time_point> next_deadline() const;
    void expire(Clock::time_point now);

private:
    struct Session;

    Session* find(std::string_view peer);
    void accept_pending(Clock::time_point now);
    void on_poll(Session& s, short revents, Clock::time_point now);
    bool on_message(Session& s, const proto::Message& m);
    bool on_hello(Session& s, const proto::PeerHello& hello, Clock::time_point now);
    void resume_handshake(Session& s, Clock::time_point now);
    std::optional<proto::Token> token_for_identity(std::string_view identity) const;
    bool accept_call(Session& s, std::string peer); // a verified hello: keep or drop the call
    void establish(Session& s);
    void lost(Session& s, Clock::time_point now);
    // Whether `peer` holds an invitation to call us, and would win a tie-break.
    bool peer_is_calling(std::string_view peer) const;
    bool peer_wins(std::string_view peer) const;
    void fail(Session& s, std::string_view why);
    void end(Session& s, std::optional<proto::PeerByeReason> bye, bool announce);
    void reap();

    struct Invite {
        proto::Token token;
        std::string identity; // of the token's PSK, as its ClientHello will offer it
        Clock::time_point expires;
    };
    bool is_stranger(const Session& s) const; // an incoming connection that has not proven a token
    void make_room_for_stranger();
    void expire_invites(Clock::time_point now);

    std::string me_;
    Terminal& terminal_;
    std::chrono::seconds invite_timeout_;
    PrivateTls tls_; // before sessions_: their TLS callbacks point into it
    UniqueFd listener_;
    std::uint16_t port_ = 0;
    std::size_t listener_poll_ = PollSet::none;
    std::vector<std::unique_ptr<Session>> sessions_;
    std::map<std::string, Invite, std::less<>> invites_;
};

} // namespace confab::cli
