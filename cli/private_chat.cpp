#include "cli/private_chat.hpp"

#include "cli/command_parser.hpp"
#include "cli/format.hpp"
#include "proto/names.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace confab::cli {
namespace {

// A peer that stops reading gets this much backlog before texts are refused.
constexpr std::size_t peer_output_limit = 256 * 1024;
// Texts typed while a chat is still being set up, sent once it is up.
constexpr std::size_t max_queued_texts = 100;

// Compares every byte, so timing does not reveal how much of a guess matched.
bool same_token(const proto::Token& a, const proto::Token& b) noexcept {
    std::uint8_t diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= std::uint8_t(a[i] ^ b[i]);
    return diff == 0;
}

} // namespace

struct PrivateChat::Session {
    enum class State {
        requested,      // startprivate sent, waiting for the server's PrivateIntro
        connecting,     // we dialled the peer: waiting for PeerWelcome
        crossed,        // the peer dialled us at the same time and refused our call: wait for theirs
        awaiting_hello, // the peer dialled us: waiting for its PeerHello
        unverified,     // its PeerHello came before the matching PrivateInvite: waiting for it
        established,
        closed, // to be removed
    };
    State state = State::requested;
    std::string peer; // empty until an incoming connection names itself
    std::optional<FramedStream> stream;
    bool connected = false; // connecting: the TCP handshake has completed
    Clock::time_point deadline{};
    std::vector<std::string> queued;
    std::size_t poll_index = PollSet::none;
    // unverified after a PeerHello: what it claimed (a paused TLS handshake claims nothing yet)
    std::string claimed;
    proto::Token token{};
    std::string from; // an incoming connection's source address
    // crossed before the peer's PrivateInvite came: its call is not known to be coming yet
    bool awaiting_invite = false;
};

PrivateChat::PrivateChat(std::string me, Terminal& terminal, std::chrono::seconds invite_timeout)
    : me_(std::move(me)), terminal_(terminal), invite_timeout_(invite_timeout),
      tls_([this](std::string_view identity) { return token_for_identity(identity); }) {}

PrivateChat::~PrivateChat() = default;

std::optional<std::string> PrivateChat::listen(const std::string& host) {
    SocketResult r = listen_ephemeral(host);
    if (!r.fd) return fmt::format("cannot listen on {}: {}", host, r.error);
    listener_ = std::move(r.fd);
    port_ = local_port(listener_.get());
    return std::nullopt;
}

PrivateChat::Session* PrivateChat::find(std::string_view peer) {
    for (auto& s : sessions_)
        if (s->state != Session::State::closed && s->peer == peer) return s.get();
    return nullptr;
}

std::optional<std::string> PrivateChat::request(std::string_view peer) {
    if (Session* s = find(peer))
        return fmt::format("error: private chat with {} already {}", peer,
                           s->state == Session::State::established ? "active" : "being set up");
    auto s = std::make_unique<Session>();
    s->peer = peer;
    sessions_.push_back(std::move(s));
    return std::nullopt;
}

void PrivateChat::introduced(const proto::PrivateIntro& intro, Clock::time_point now) {
    Session* s = find(intro.peer);
    if (!s || s->state != Session::State::requested) return; // stopped meanwhile
    SocketResult c = connect_start(std::string(intro.host), intro.port);
    if (!c.fd) {
        fail(*s, c.error);
        reap();
        return;
    }
    int fd = c.fd.get();
    s->stream.emplace(std::move(c.fd), peer_output_limit, tls_.dial(fd, intro.token));
    s->stream->send(proto::PeerHello{proto::protocol_version, me_, intro.token});
    s->state = Session::State::connecting;
    s->deadline = now + handshake_timeout;
}

void PrivateChat::request_failed(std::string_view peer) {
    Session* s = find(peer);
    if (s && s->state == Session::State::requested) {
        s->state = Session::State::closed;
        reap();
    }
}

void PrivateChat::invited(std::string_view peer, const proto::Token& token, Clock::time_point now) {
    if (invites_.size() >= max_invites && invites_.find(peer) == invites_.end()) {
        auto oldest = std::min_element(invites_.begin(), invites_.end(), [](const auto& a, const auto& b) {
            return a.second.expires < b.second.expires;
        });
        invites_.erase(oldest);
    }
    // A newer invitation replaces the old.
    invites_.insert_or_assign(std::string(peer),
                              Invite{token, derive_private_keys(token).identity, now + invite_timeout_});
    // A call that arrived before this invitation goes on now if it matches.
    for (std::size_t i = 0; i < sessions_.size(); ++i) {
        Session& s = *sessions_[i];
        if (s.state == Session::State::crossed && s.awaiting_invite && s.peer == peer) {
            s.awaiting_invite = false; // the peer's call is on its way: give it the time a call takes
            s.deadline = now + handshake_timeout;
            continue;
        }
        if (s.state != Session::State::unverified) continue;
        if (s.stream->handshake_paused()) {
            resume_handshake(s, now);
            continue;
        }
        if (s.claimed != peer || !same_token(s.token, token)) continue;
        invites_.erase(std::string(peer)); // single use
        accept_call(s, std::string(peer));
        break;
    }
    reap();
}

std::optional<std::string> PrivateChat::send_text(std::string_view peer, std::string_view text) {
    Session* s = find(peer);
    if (!s) return fmt::format("error: no private session with {}", peer);
    if (s->state != Session::State::established) {
        if (s->queued.size() >= max_queued_texts) return fmt::format("error: private chat with {} is not up yet", peer);
        s->queued.emplace_back(text);
        return std::nullopt;
    }
    if (!s->stream->send(proto::PeerText{text}))
        return fmt::format("error: {} is not reading the private chat; text not sent", peer);
    if (!s->stream->flush()) {
        lost(*s, Clock::now());
        reap();
    }
    return std::nullopt;
}

bool PrivateChat::stop(std::string_view peer) {
    invites_.erase(std::string(peer)); // declines a chat the peer may be about to open
    Session* s = find(peer);
    if (!s) return false;
    end(*s, proto::PeerByeReason::stopped, true);
    reap();
    return true;
}

void PrivateChat::revoked(std::string_view peer) {
    invites_.erase(std::string(peer));
    if (Session* s = find(peer)) {
        // One still being set up is the user's own request: say why it will not come up (on a
        // cluster a block can reach the server after its PrivateIntro).
        if (s->state == Session::State::established)
            end(*s, proto::PeerByeReason::blocked, true);
        else
            fail(*s, "ended by a block");
        reap();
    }
}

void PrivateChat::close_all(proto::PeerByeReason reason) {
    for (auto& s : sessions_)
        if (s->state != Session::State::closed) end(*s, reason, s->state == Session::State::established);
    invites_.clear();
    listener_.reset();
    reap();
}

void PrivateChat::collect(PollSet& polls) {
    listener_poll_ = listener_ ? polls.add(listener_.get(), POLLIN) : PollSet::none;
    for (auto& s : sessions_) {
        s->poll_index = PollSet::none;
        if (!s->stream) continue;
        short events = POLLOUT; // until connected, writability is what we wait for
        if (s->state != Session::State::connecting || s->connected) {
            events = POLLIN;
            if (s->stream->wants_write()) events |= POLLOUT;
        }
        if (s->stream->handshake_paused()) events = 0; // nothing to do until an invitation comes
        s->poll_index = polls.add(s->stream->fd(), events);
    }
}

void PrivateChat::dispatch(const PollSet& polls, Clock::time_point now) {
    std::size_t polled = sessions_.size(); // connections accepted now wait for the next round
    if (polls.revents(listener_poll_) & POLLIN) accept_pending(now);
    for (std::size_t i = 0; i < polled; ++i) {
        Session& s = *sessions_[i];
        if (s.state == Session::State::closed) continue;
        if (short revents = polls.revents(s.poll_index)) on_poll(s, revents, now);
    }
    reap();
}

std::optional<PrivateChat::Clock::time_point> PrivateChat::next_deadline() const {
    std::optional<Clock::time_point> next;
    for (const auto& s : sessions_) {
        if (s->state != Session::State::connecting && s->state != Session::State::awaiting_hello &&
            s->state != Session::State::crossed && s->state != Session::State::unverified)
            continue;
        if (!next || s->deadline < *next) next = s->deadline;
    }
    for (const auto& [peer, invite] : invites_)
        if (!next || invite.expires < *next) next = invite.expires;
    return next;
}

void PrivateChat::expire(Clock::time_point now) {
    for (auto& s : sessions_) {
        if (s->deadline > now) continue;
        if (s->state == Session::State::crossed && s->awaiting_invite)
            fail(*s, "the connection was closed"); // no crossing after all: the peer refused the call
        else if (s->state == Session::State::connecting || s->state == Session::State::crossed)
            fail(*s, "no answer");
        else if (s->state == Session::State::awaiting_hello || s->state == Session::State::unverified)
            end(*s, std::nullopt, false);
    }
    expire_invites(now);
    reap();
}

void PrivateChat::expire_invites(Clock::time_point now) {
    for (auto it = invites_.begin(); it != invites_.end();) {
        if (it->second.expires > now) {
            ++it;
            continue;
        }
        terminal_.print(private_invite_expired_line(it->first, invite_timeout_.count()), LineKind::notice);
        it = invites_.erase(it);
    }
}

bool PrivateChat::is_stranger(const Session& s) const {
    return s.state == Session::State::awaiting_hello || s.state == Session::State::unverified;
}

// Before a new stranger is let in (its address has room): when all the slots
// are taken, the one that has waited longest goes.
void PrivateChat::make_room_for_stranger() {
    std::size_t total = 0;
    Session* oldest = nullptr; // sessions_ is in arrival order
    for (auto& s : sessions_) {
        if (!is_stranger(*s)) continue;
        ++total;
        if (!oldest) oldest = s.get();
    }
    if (total >= max_strangers && oldest) end(*oldest, std::nullopt, false);
}

void PrivateChat::accept_pending(Clock::time_point now) {
    while (UniqueFd fd = accept_connection(listener_.get())) {
        std::string from = remote_address(fd.get());
        auto same_address = std::count_if(sessions_.begin(), sessions_.end(),
                                          [&](const auto& s) { return is_stranger(*s) && s->from == from; });
        if (std::size_t(same_address) >= max_strangers_per_address) continue; // fd closes here
        make_room_for_stranger();
        auto s = std::make_unique<Session>();
        s->state = Session::State::awaiting_hello;
        s->from = std::move(from);
        int raw = fd.get();
        s->stream.emplace(std::move(fd), peer_output_limit, tls_.accept(raw));
        s->deadline = now + stranger_timeout;
        sessions_.push_back(std::move(s));
    }
}

void PrivateChat::on_poll(Session& s, short revents, Clock::time_point now) {
    if (s.state == Session::State::connecting && !s.connected) {
        if (int err = connect_error(s.stream->fd())) {
            fail(s, std::strerror(err));
            return;
        }
        s.connected = true;
        if (!s.stream->flush()) fail(s, "connection lost");
        return;
    }
    if (s.stream->handshake_paused()) { // only a hang-up can be reported
        end(s, std::nullopt, false);
        return;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        auto status = s.stream->read([&](const proto::Message& m) { return on_message(s, m); });
        if (s.state == Session::State::closed) return;
        if (status != FramedStream::ReadStatus::ok) {
            lost(s, now);
            return;
        }
        if (s.state == Session::State::awaiting_hello && s.stream->handshake_paused()) {
            // Its ClientHello names a PSK no invitation has: maybe the invitation
            // is still on its way from the server. Wait briefly, then drop it.
            s.state = Session::State::unverified;
            s.deadline = now + invite_grace;
            return;
        }
    }
    if ((revents & POLLOUT) && !s.stream->flush()) lost(s, now);
}

bool PrivateChat::on_message(Session& s, const proto::Message& m) {
    switch (s.state) {
    case Session::State::awaiting_hello:
        if (auto* hello = std::get_if<proto::PeerHello>(&m)) return on_hello(s, *hello, Clock::now());
        end(s, std::nullopt, false);
        return false;
    case Session::State::connecting:
        if (auto* welcome = std::get_if<proto::PeerWelcome>(&m); welcome && welcome->name == s.peer) {
            establish(s);
            return true;
        }
        fail(s, "unexpected answer");
        return false;
    case Session::State::established:
        if (auto* text = std::get_if<proto::PeerText>(&m)) {
            terminal_.print(format_private_text(s.peer, text->text), LineKind::event, s.peer);
            return true;
        }
        end(s, std::nullopt, true); // PeerBye, or anything a peer should not send
        return false;
    case Session::State::unverified: // nothing may come before our welcome
        end(s, std::nullopt, false);
        return false;
    case Session::State::requested:
    case Session::State::crossed:
    case Session::State::closed: break; // no socket to read
    }
    return false;
}

bool PrivateChat::on_hello(Session& s, const proto::PeerHello& hello, Clock::time_point now) {
    if (hello.version != proto::protocol_version || !proto::is_valid_user_name(hello.name)) {
        end(s, std::nullopt, false); // not a confab peer: drop it without bothering the user
        return false;
    }
    auto invite = invites_.find(hello.name);
    if (invite == invites_.end() || !same_token(invite->second.token, hello.token)) {
        // Unknown or replayed token, or the invitation is still on its way from
        // the server: wait briefly for it, then drop the call silently.
        s.state = Session::State::unverified;
        s.claimed = std::string(hello.name);
        s.token = hello.token;
        s.deadline = now + invite_grace;
        return true;
    }
    invites_.erase(invite); // single use
    return accept_call(s, std::string(hello.name));
}

void PrivateChat::resume_handshake(Session& s, Clock::time_point now) {
    if (!s.stream->flush()) {
        end(s, std::nullopt, false);
    } else if (!s.stream->handshake_paused()) {
        s.state = Session::State::awaiting_hello;
        s.deadline = now + stranger_timeout;
    }
}

std::optional<proto::Token> PrivateChat::token_for_identity(std::string_view identity) const {
    for (const auto& [peer, invite] : invites_)
        if (invite.identity == identity) return invite.token;
    return std::nullopt;
}

bool PrivateChat::accept_call(Session& s, std::string peer) {
    if (Session* other = find(peer)) {
        // Both asked at once. If both have dialled, the call placed by the
        // smaller name wins on both ends, so exactly one connection survives;
        // a chat we have only asked the server for simply yields.
        bool keep_ours = other->state == Session::State::established ||
                         (other->state == Session::State::connecting && !peer_wins(peer));
        if (keep_ours) {
            end(s, std::nullopt, false);
            return false;
        }
        s.queued = std::move(other->queued);
        end(*other, std::nullopt, false);
    }
    s.peer = std::move(peer);
    s.stream->send(proto::PeerWelcome{me_});
    establish(s);
    return true;
}

void PrivateChat::establish(Session& s) {
    s.state = Session::State::established;
    terminal_.print(private_started_line(s.peer), LineKind::notice);
    for (const auto& text : s.queued) s.stream->send(proto::PeerText{text});
    s.queued.clear();
    s.stream->flush(); // a broken connection shows up on the next read
}

void PrivateChat::lost(Session& s, Clock::time_point now) {
    if (s.state != Session::State::connecting) {
        end(s, std::nullopt, s.state == Session::State::established);
    } else if (peer_wins(s.peer)) {
        // Our call may have lost the tie-break at the peer, and theirs is on its
        // way. Its PrivateInvite can come after the peer closed ours (it travels
        // through the server, on a cluster through another node): without it,
        // wait briefly for it before calling the chat failed.
        s.stream.reset();
        s.state = Session::State::crossed;
        s.awaiting_invite = !peer_is_calling(s.peer);
        s.deadline = now + (s.awaiting_invite ? invite_grace : handshake_timeout);
    } else {
        fail(s, "the connection was closed");
    }
}

bool PrivateChat::peer_is_calling(std::string_view peer) const {
    return invites_.find(peer) != invites_.end();
}

bool PrivateChat::peer_wins(std::string_view peer) const {
    return peer < me_;
}

void PrivateChat::fail(Session& s, std::string_view why) {
    terminal_.print(fmt::format("error: private chat with {} failed: {}", s.peer, why));
    end(s, std::nullopt, false);
}

// Marks the session closed; the socket is closed by reap(), since this may
// run inside the session's own read callback.
void PrivateChat::end(Session& s, std::optional<proto::PeerByeReason> bye, bool announce) {
    if (bye && s.state == Session::State::established && s.stream) {
        s.stream->send(proto::PeerBye{*bye});
        s.stream->flush();
    }
    if (announce) terminal_.print(private_ended_line(s.peer), LineKind::notice);
    s.state = Session::State::closed;
}

void PrivateChat::reap() {
    std::erase_if(sessions_, [](const auto& s) { return s->state == Session::State::closed; });
}

} // namespace confab::cli
