#include "control_socket.hpp"

#include "log.hpp"

#include "proto/drain.hpp"

#include <algorithm>

namespace confab {

namespace {
constexpr std::uint32_t control_events = EPOLLIN | EPOLLRDHUP | EPOLLET;
}

ControlSocket::ControlSocket(std::string path, Reactor& reactor, ControlRequests& requests, ControlIdentity self,
                             ArmDeadline arm)
    : listener_(std::move(path)), reactor_(reactor), requests_(requests), self_(self), arm_(std::move(arm)) {
    reactor_.add(listener_.fd(), listener_token, EPOLLIN | EPOLLET);
}

ControlSocket::~ControlSocket() {
    for (auto& c : conns_) reactor_.remove(c->fd());
    reactor_.remove(listener_.fd());
}

Connection* ControlSocket::find(std::uint64_t token) {
    for (auto& c : conns_)
        if (c->id() == token) return c.get();
    return nullptr;
}

void ControlSocket::on_accept() {
    // The few clients an administrator runs fit in one pass; a flood waits for the next edge.
    while (listener_.accept_some(max_connections, [this](UniqueFd fd) {
        PeerCredentials peer;
        const bool known = peer_credentials(fd.get(), peer);
        auto& c = *conns_.emplace_back(std::make_unique<Connection>(
            std::move(fd), next_token_++, known ? fmt::format("uid {} pid {}", peer.uid, peer.pid) : "unknown peer"));
        reactor_.add(c.fd(), c.id(), control_events);
        if (!known || !control_peer_allowed(peer, self_)) {
            log::notice("control socket: refused {} (not root, the daemon's user or a member of its group)", c.peer());
            return refuse(c, proto::Status::permission_denied,
                          "permission denied: only root, the daemon's user and its group may control it");
        }
        if (conns_.size() > max_connections) {
            log::warning("control socket: refused {}: {} control connections already open", c.peer(), max_connections);
            return refuse(c, proto::Status::server_busy, "too many control connections");
        }
        c.decoder().set_max_frame(max_frame);
        arm_(c.id(), monotonic_ms() + idle_timeout_ms);
        log::debug("control connection from {}", c.peer());
    })) {}
}

void ControlSocket::on_event(std::uint64_t token, std::uint32_t events) {
    Connection* c = find(token);
    if (!c) return;
    if (events & EPOLLERR) return close(*c);
    if (events & EPOLLOUT) flush(*c);
    if (find(token) && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) read_requests(*c);
}

void ControlSocket::on_deadline(std::uint64_t token) {
    if (Connection* c = find(token)) {
        log::debug("control connection from {} closed: idle", c->peer());
        close(*c);
    }
}

void ControlSocket::read_requests(Connection& c) {
    for (;;) {
        std::size_t got = 0;
        switch (c.read_into(read_buf_, got)) {
        case Connection::IoStatus::would_block: return flush(c);
        case Connection::IoStatus::closed: // a client may send its requests, then shut its side down
            c.request_close();
            return flush(c);
        case Connection::IoStatus::error: return close(c);
        case Connection::IoStatus::progress: break;
        }
        bool refused = false;
        auto r = proto::drain_frames(c.decoder(), proto::Bytes(read_buf_.data(), got), [&](const proto::Message& m) {
            if (proto::family_of(proto::type_of(m)) != proto::MessageFamily::control_request) {
                refused = true;
                return false;
            }
            reply_.clear();
            requests_.answer(m, reply_);
            ++answered_;
            if (!c.output().append(reply_, max_output)) {
                refused = true;
                return false;
            }
            return true;
        });
        if (refused)
            return refuse(c, proto::Status::bad_request,
                          "this is the control socket: it takes control requests only (PROTOCOL.md §11)");
        if (r.kind == proto::DrainResult::Kind::malformed)
            return refuse(c, proto::status_for(r.error), proto::to_string(r.error));
        arm_(c.id(), monotonic_ms() + idle_timeout_ms);
    }
}

void ControlSocket::flush(Connection& c) {
    const auto status = c.flush();
    if (status == Connection::IoStatus::error) return close(c);
    if (c.close_requested() && c.output().empty()) return close(c);
    if (c.wants_writable() != c.epollout) {
        c.epollout = !c.epollout;
        reactor_.modify(c.fd(), c.id(), c.epollout ? control_events | EPOLLOUT : control_events);
    }
}

void ControlSocket::refuse(Connection& c, proto::Status code, std::string_view detail) {
    std::vector<std::uint8_t> frame;
    proto::append_frame(frame, proto::ProtocolError{code, detail});
    c.output().append(frame, max_output + frame.size());
    c.request_close();
    flush(c);
}

void ControlSocket::close(Connection& c) {
    reactor_.remove(c.fd());
    std::erase_if(conns_, [&](const auto& p) { return p.get() == &c; });
}

} // namespace confab
