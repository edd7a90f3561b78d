#include "metrics_http.hpp"

#include "core/endpoint.hpp"

#include "log.hpp"
#include "log_flood.hpp"

#include <fmt/format.h>

#include <sys/socket.h>

#include <algorithm>

namespace confab {

namespace {
constexpr std::uint32_t http_events = EPOLLIN | EPOLLRDHUP | EPOLLET;

std::string response(std::string_view status, std::string_view type, std::string_view body) {
    return fmt::format("HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", status,
                       type, body.size(), body);
}
std::string plain(std::string_view status) {
    return response(status, "text/plain; charset=utf-8", fmt::format("{}\n", status));
}
} // namespace

std::optional<std::string> http_answer(std::string_view received, std::size_t max_request,
                                       const std::function<std::string()>& metrics) {
    std::size_t head_end = received.find("\r\n\r\n");
    if (head_end == std::string_view::npos) head_end = received.find("\n\n");
    if (head_end == std::string_view::npos) {
        if (received.size() >= max_request) return plain("431 Request Header Fields Too Large");
        return std::nullopt;
    }
    const std::string_view line = received.substr(0, received.find_first_of("\r\n"));
    const std::size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1 || !line.substr(sp2 + 1).starts_with("HTTP/1."))
        return plain("400 Bad Request");
    const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (method != "GET" && method != "HEAD") return plain("405 Method Not Allowed");
    if (target != "/metrics" && !target.starts_with("/metrics?")) return plain("404 Not Found");
    std::string r = response("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics());
    if (method == "HEAD") r.resize(r.find("\r\n\r\n") + 4);
    return r;
}

MetricsHttp::MetricsHttp(const std::string& address, std::uint16_t port, Reactor& reactor,
                         std::function<std::string()> metrics, ArmDeadline arm)
    : listener_(address, port), reactor_(reactor), metrics_(std::move(metrics)), arm_(std::move(arm)) {
    reactor_.add(listener_.fd(), listener_token, EPOLLIN | EPOLLET);
}

MetricsHttp::~MetricsHttp() {
    for (auto& c : clients_) reactor_.remove(c.conn->fd());
    reactor_.remove(listener_.fd());
}

MetricsHttp::Client* MetricsHttp::find(std::uint64_t token) {
    for (auto& c : clients_)
        if (c.conn->id() == token) return &c;
    return nullptr;
}

void MetricsHttp::on_accept() {
    while (listener_.accept_some(max_connections, [this](UniqueFd fd, PeerAddress address) {
        std::string peer = endpoint_string(address.host, address.port);
        if (clients_.size() >= max_connections) {
            // A scraper asks once per interval; more at once is a flood: the close is the answer.
            log::flood(log::Flood::refused_connection, log::Level::warning,
                       "metrics: refused a connection from {}: {} already open", peer, max_connections);
            return;
        }
        auto& c = clients_.emplace_back(Client{std::make_unique<Connection>(std::move(fd), next_token_++, peer), {}});
        reactor_.add(c.conn->fd(), c.conn->id(), http_events);
        arm_(c.conn->id(), monotonic_ms() + idle_timeout_ms);
    })) {}
}

void MetricsHttp::on_event(std::uint64_t token, std::uint32_t events) {
    Client* c = find(token);
    if (!c) return;
    if (events & EPOLLERR) return close(*c);
    if (events & EPOLLOUT) flush(*c);
    if ((c = find(token)) && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) read_request(*c);
}

void MetricsHttp::on_deadline(std::uint64_t token) {
    if (Client* c = find(token)) close(*c);
}

void MetricsHttp::read_request(Client& c) {
    for (int reads = 0; reads < 16; ++reads) { // then others get a turn; more input brings another edge
        std::size_t got = 0;
        switch (c.conn->read_into(read_buf_, got)) {
        case Connection::IoStatus::would_block: return;
        case Connection::IoStatus::closed:
        case Connection::IoStatus::error: return close(c);
        case Connection::IoStatus::progress: break;
        }
        if (c.answered) continue; // one request per connection: the rest is read and dropped
        c.request.append(reinterpret_cast<const char*>(read_buf_.data()),
                         std::min(got, max_request - std::min(max_request, c.request.size())));
        if (auto answer = http_answer(c.request, max_request, metrics_)) {
            c.answered = true;
            c.request.clear();
            c.conn->output().append(std::span(reinterpret_cast<const std::uint8_t*>(answer->data()), answer->size()),
                                    SIZE_MAX);
            flush(c);
            return;
        }
    }
}

void MetricsHttp::flush(Client& c) {
    if (c.conn->flush() == Connection::IoStatus::error) return close(c);
    // Answer written: say so with a FIN and close at the client's own EOF (or the deadline), so
    // request bytes still unread never turn the close into a reset that destroys the answer.
    if (c.answered && c.conn->output().empty() && !c.shut_down) {
        ::shutdown(c.conn->fd(), SHUT_WR);
        c.shut_down = true;
    }
    if (c.conn->wants_writable() != c.conn->epollout) {
        c.conn->epollout = !c.conn->epollout;
        reactor_.modify(c.conn->fd(), c.conn->id(), c.conn->epollout ? http_events | EPOLLOUT : http_events);
    }
}

void MetricsHttp::close(Client& c) {
    reactor_.remove(c.conn->fd());
    const Connection* gone = c.conn.get();
    std::erase_if(clients_, [&](const Client& x) { return x.conn.get() == gone; });
}

} // namespace confab
