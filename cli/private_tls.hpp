// TLS 1.3 for private chats, keyed by the server-issued one-time token as an
// external pre-shared key (proto/PROTOCOL.md §8): no certificates, the
// token never crosses the wire, and (EC)DHE on top gives forward secrecy.
#pragma once

#include "cli/tls_session.hpp"
#include "proto/messages.hpp"

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace confab::cli {

// What a token turns into (§8): the PSK, and the identity that names it on
// the wire without revealing it.
struct PrivateKeys {
    std::array<std::uint8_t, 32> psk{};
    std::string identity; // 32 lowercase hex digits
};
PrivateKeys derive_private_keys(const proto::Token& token);

class PrivateTls {
public:
    // The token of a pending invitation whose identity is `identity`, if any.
    using Lookup = std::function<std::optional<proto::Token>(std::string_view identity)>;

    explicit PrivateTls(Lookup lookup);
    ~PrivateTls();
    PrivateTls(const PrivateTls&) = delete;
    PrivateTls& operator=(const PrivateTls&) = delete;

    // A session for a connection we placed with `token`.
    std::unique_ptr<TlsSession> dial(int fd, const proto::Token& token);
    // A session for a connection we accepted: its handshake pauses while
    // the identity it offers matches no invitation, and goes on with
    // TlsSession::handshake() once one has arrived.
    std::unique_ptr<TlsSession> accept(int fd);

private:
    static int on_client_hello(SSL* ssl, int* alert, void* arg);
    static int find_psk(SSL* ssl, const unsigned char* identity, std::size_t length, SSL_SESSION** session);

    Lookup lookup_;
    SSL_CTX* dial_ctx_ = nullptr;
    SSL_CTX* accept_ctx_ = nullptr;
};

} // namespace confab::cli
