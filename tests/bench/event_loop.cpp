#include "event_loop.hpp"

#include "proto/drain.hpp"
#include "tls_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <netinet/tcp.h>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace confab::bench {

std::int64_t now_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::uint32_t source_ip_for(std::uint64_t i) {
    return (127u << 24) | std::uint32_t(2 + i % 253); // 127.0.0.2 .. 127.0.0.254
}

Loop::Loop() : tls_(client_tls()), rbuf_(256 * 1024) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epfd_ < 0 || wakefd_ < 0) throw std::runtime_error("epoll/eventfd: " + std::string(std::strerror(errno)));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr; // nullptr marks the wake fd
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
}

Loop::~Loop() {
    for (Conn& c : conns_) close(c);
    ::close(wakefd_);
    ::close(epfd_);
}

void Loop::wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wakefd_, &one, sizeof one);
}

Conn* Loop::connect(const sockaddr_in& dst, std::uint32_t src_ip, std::string& error) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("socket: ") + std::strerror(errno);
        return nullptr;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src_ip != 0) {
        // Defer the port choice to connect(): ports then only need to be unique
        // per 4-tuple, not per source address across all destinations.
        ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(src_ip);
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
            error = std::string("bind: ") + std::strerror(errno);
            ::close(fd);
            return nullptr;
        }
    }
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS) {
        error = std::string("connect: ") + std::strerror(errno);
        ::close(fd);
        return nullptr;
    }
    Conn* slot = nullptr;
    if (!reusable_.empty()) {
        slot = reusable_.back();
        reusable_.pop_back();
        Conn fresh;
        *slot = std::move(fresh);
    } else {
        slot = &conns_.emplace_back();
    }
    Conn& c = *slot;
    c.fd = fd;
    c.open = true;
    ++open_;
    if (tls_) {
        c.ssl = tls_->open(fd);
        if (!c.ssl) {
            close(c);
            error = "SSL_new failed";
            return nullptr;
        }
        mark_dirty(c); // the first flush sends the ClientHello, with or without data
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = &c;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    return &c;
}

void Loop::mark_dirty(Conn& c) {
    if (!c.dirty) {
        c.dirty = true;
        dirty_.push_back(&c);
    }
}

void Loop::send(Conn& c, const proto::Message& m) {
    if (!c.open) return;
    proto::append_frame(c.out, m);
    mark_dirty(c);
}

void Loop::send_bytes(Conn& c, const std::uint8_t* data, std::size_t n) {
    if (!c.open) return;
    c.out.insert(c.out.end(), data, data + n);
    mark_dirty(c);
}

void Loop::set_out(Conn& c, bool on) {
    if (c.want_out == on) return;
    c.want_out = on;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u);
    ev.data.ptr = &c;
    ::epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
}

bool Loop::write_some(Conn& c) {
    if (c.ssl) return write_tls(c);
    while (c.out_off < c.out.size()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c.out_off += std::size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_out(c, true); // also covers a connect still in progress
            return true;
        }
        return false;
    }
    c.out.clear();
    c.out_off = 0;
    if (c.out.capacity() > 64 * 1024) c.out.shrink_to_fit();
    set_out(c, false);
    return true;
}

// SSL_write also drives the handshake: WANT_WRITE waits for EPOLLOUT, WANT_READ
// for input (read_tls then queues the connection for the next flush).
bool Loop::write_tls(Conn& c) {
    c.tls_wants_read = false;
    if (c.out_off == c.out.size() && !SSL_is_init_finished(c.ssl)) {
        int r = SSL_do_handshake(c.ssl);
        if (r != 1) {
            int e = SSL_get_error(c.ssl, r);
            if (e == SSL_ERROR_WANT_WRITE) {
                set_out(c, true);
                return true;
            }
            if (e == SSL_ERROR_WANT_READ) {
                c.tls_wants_read = true;
                set_out(c, false);
                return true;
            }
            ERR_clear_error();
            return false;
        }
    }
    while (c.out_off < c.out.size()) {
        const std::size_t left = std::min<std::size_t>(c.out.size() - c.out_off, 1 << 30);
        int n = SSL_write(c.ssl, c.out.data() + c.out_off, int(left));
        if (n > 0) {
            c.out_off += std::size_t(n);
            continue;
        }
        int e = SSL_get_error(c.ssl, n);
        if (e == SSL_ERROR_WANT_WRITE) {
            set_out(c, true); // also covers a connect still in progress
            return true;
        }
        if (e == SSL_ERROR_WANT_READ) {
            c.tls_wants_read = true;
            set_out(c, false); // writable, but OpenSSL needs input first: no EPOLLOUT spin
            return true;
        }
        ERR_clear_error();
        return false;
    }
    c.out.clear();
    c.out_off = 0;
    if (c.out.capacity() > 64 * 1024) c.out.shrink_to_fit();
    set_out(c, false);
    return true;
}

void Loop::flush() {
    for (std::size_t i = 0; i < dirty_.size(); ++i) {
        Conn* c = dirty_[i];
        c->dirty = false;
        if (c->open && !write_some(*c)) failed_.push_back(c);
    }
    dirty_.clear();
}

void Loop::close(Conn& c) {
    if (!c.open) return;
    if (c.ssl) {
        if (SSL_is_init_finished(c.ssl)) {
            tls_->handshake_done(c.ssl);
            SSL_shutdown(c.ssl); // close_notify, best effort
        }
        SSL_free(c.ssl);
        c.ssl = nullptr;
        ERR_clear_error();
    }
    ::close(c.fd);
    c.fd = -1;
    c.open = false;
    --open_;
    c.out.clear();
    c.out.shrink_to_fit();
    c.decoder = proto::FrameDecoder{};
    if (recycle_) closed_.push_back(&c);
}

bool Loop::read_tls(Conn& c, const FrameFn& on_frame, const char*& why) {
    for (;;) {
        int n = SSL_read(c.ssl, rbuf_.data(), int(rbuf_.size()));
        if (n <= 0) {
            int e = SSL_get_error(c.ssl, n);
            if (e == SSL_ERROR_WANT_READ) break;
            if (e == SSL_ERROR_WANT_WRITE) {
                set_out(c, true);
                break;
            }
            ERR_clear_error();
            why = e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0) ? "closed by the server"
                  : e == SSL_ERROR_SSL                                                 ? "TLS error"
                                                                                       : "read error";
            return false;
        }
        auto r =
            proto::drain_frames(c.decoder, proto::Bytes(rbuf_.data(), std::size_t(n)), [&](const proto::Message& m) {
                on_frame(c, m);
                return c.open;
            });
        if (r.kind == proto::DrainResult::Kind::stopped) return true; // the handler closed it
        if (r.kind == proto::DrainResult::Kind::malformed) {
            why = proto::to_string(r.error).data(); // a string literal
            return false;
        }
    }
    // Input may have finished the handshake a write was waiting for.
    if (c.tls_wants_read || c.out_off < c.out.size()) mark_dirty(c);
    c.decoder.release_if_empty();
    return true;
}

bool Loop::read_all(Conn& c, const FrameFn& on_frame, const char*& why) {
    if (c.ssl) return read_tls(c, on_frame, why);
    for (;;) {
        ssize_t n = ::recv(c.fd, rbuf_.data(), rbuf_.size(), 0);
        if (n == 0) {
            why = "closed by the server";
            return false;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            why = "read error";
            return false;
        }
        auto r =
            proto::drain_frames(c.decoder, proto::Bytes(rbuf_.data(), std::size_t(n)), [&](const proto::Message& m) {
                on_frame(c, m);
                return c.open;
            });
        if (r.kind == proto::DrainResult::Kind::stopped) return true; // the handler closed it
        if (r.kind == proto::DrainResult::Kind::malformed) {
            why = proto::to_string(r.error).data(); // a string literal
            return false;
        }
        if (std::size_t(n) < rbuf_.size()) break; // drained: skip the EAGAIN round trip
    }
    c.decoder.release_if_empty(); // idle connections hold no buffer
    return true;
}

int Loop::poll(int timeout_ms, const FrameFn& on_frame, const CloseFn& on_close) {
    // Slots closed before this poll: no event of this epoll_wait can name them any more.
    reusable_.insert(reusable_.end(), closed_.begin(), closed_.end());
    closed_.clear();
    for (Conn* c : failed_) {
        if (!c->open) continue;
        close(*c);
        on_close(*c, "write error");
    }
    failed_.clear();
    epoll_event evs[512];
    int n = ::epoll_wait(epfd_, evs, 512, timeout_ms);
    if (n < 0) return 0;
    for (int i = 0; i < n; ++i) {
        auto* c = static_cast<Conn*>(evs[i].data.ptr);
        if (!c) {
            std::uint64_t v;
            [[maybe_unused]] auto r = ::read(wakefd_, &v, sizeof v);
            continue;
        }
        if (!c->open) continue;
        const char* why = nullptr;
        bool ok = true;
        if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ok = read_all(*c, on_frame, why);
        if (ok && c->open && (evs[i].events & EPOLLOUT) && !write_some(*c)) {
            ok = false;
            why = "write error";
        }
        if (!ok && c->open) {
            close(*c);
            on_close(*c, why);
        }
    }
    flush();
    return n;
}

} // namespace confab::bench
