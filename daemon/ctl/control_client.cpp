#include "control_client.hpp"

#include "proto/frame.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace confab::ctl {

namespace {
using Kind = ControlError::Kind;

[[noreturn]] void unreachable(const std::string& what) {
    throw ControlError(Kind::unreachable, what);
}

void set_request_id(proto::Message& m, std::uint32_t id) {
    std::visit(
        [id](auto& r) {
            if constexpr (requires { r.request_id; }) r.request_id = id;
        },
        m);
}

std::uint32_t request_id_of(const proto::Message& m) {
    return std::visit(
        [](const auto& r) -> std::uint32_t {
            if constexpr (requires { r.request_id; })
                return r.request_id;
            else
                return 0;
        },
        m);
}
} // namespace

ControlClient::ControlClient(std::string path) : path_(std::move(path)) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path_.size() >= sizeof sa.sun_path) unreachable(fmt::format("socket path too long: {}", path_));
    std::memcpy(sa.sun_path, path_.data(), path_.size());
    fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_) unreachable(fmt::format("socket: {}", std::strerror(errno)));
    if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
        const int err = errno;
        if (err == EACCES || err == EPERM)
            throw ControlError(Kind::permission_denied, fmt::format("cannot connect to {}: {} (run as root or as a "
                                                                    "member of the daemon's group)",
                                                                    path_, std::strerror(err)));
        unreachable(fmt::format("cannot connect to {}: {} (is confabd running?)", path_, std::strerror(err)));
    }
}

const proto::Message& ControlClient::request(proto::Message request) {
    const std::uint32_t id = next_id_++;
    set_request_id(request, id);
    std::vector<std::uint8_t> frame;
    if (!proto::append_frame(frame, request)) unreachable("request too large");
    // A refused peer may be closed on before its request is written: the refusal frame is read below all the same.
    for (std::size_t sent = 0; sent < frame.size();) {
        ssize_t n = ::send(fd_.get(), frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        sent += std::size_t(n);
    }
    proto::FrameDecoder decoder;
    std::vector<std::uint8_t> buf(64 * 1024);
    for (;;) {
        pollfd p{fd_.get(), POLLIN, 0};
        int ready = ::poll(&p, 1, reply_timeout_ms);
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) unreachable(fmt::format("{}: no reply within {} s", path_, reply_timeout_ms / 1000));
        ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) unreachable(fmt::format("{}: the daemon closed the connection", path_));
        proto::Bytes data(buf.data(), std::size_t(n));
        proto::FrameResult f{};
        do { // the decoder takes at most one frame at a time; one reply is all that comes
            data = data.subspan(decoder.feed(data));
            f = decoder.next();
        } while (f.kind == proto::FrameResult::Kind::need_more && !data.empty());
        if (f.kind == proto::FrameResult::Kind::need_more) continue;
        if (f.kind == proto::FrameResult::Kind::error)
            unreachable(fmt::format("{}: malformed reply ({})", path_, proto::to_string(f.error)));
        in_.assign(f.payload.begin(), f.payload.end());
        auto decoded = proto::decode_payload(proto::Bytes(in_.data(), in_.size()));
        if (!decoded.message)
            unreachable(fmt::format("{}: malformed reply ({})", path_, proto::to_string(decoded.error)));
        if (const auto* e = std::get_if<proto::ProtocolError>(&*decoded.message)) {
            auto kind = e->code == proto::Status::permission_denied ? Kind::permission_denied : Kind::unreachable;
            throw ControlError(
                kind, fmt::format("confabd refused: {}", e->detail.empty() ? proto::to_string(e->code) : e->detail));
        }
        if (request_id_of(*decoded.message) != id) unreachable(fmt::format("{}: reply to another request", path_));
        reply_ = std::move(decoded.message);
        return *reply_;
    }
}

} // namespace confab::ctl
