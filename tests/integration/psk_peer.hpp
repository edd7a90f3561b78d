// A private-chat peer written from proto/PROTOCOL.md §8 alone: TCP, TLS 1.3
// with the token's external PSK, then frames. Lets tests present any token
// (right, wrong, replayed) to a real client's listener.
#pragma once

#include "proto/frame.hpp"
#include "proto/messages.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

using SSL = struct ssl_st;
using SSL_CTX = struct ssl_ctx_st;

namespace confab::test {

// §8's derivation, spelled out independently of the client's.
std::vector<std::uint8_t> private_psk(const proto::Token& token);
std::string private_identity(const proto::Token& token);

class PskPeer {
public:
    // Connects to 127.0.0.1:port and runs the TLS handshake with `token`'s PSK.
    PskPeer(std::uint16_t port, const proto::Token& token);
    ~PskPeer();
    PskPeer(const PskPeer&) = delete;
    PskPeer& operator=(const PskPeer&) = delete;

    // The handshake completed (the listener knew the PSK).
    bool secured() const { return secured_; }
    // The (EC)DHE group of the handshake; 0 if none (a PSK-only key exchange).
    int key_exchange_group() const;
    void send(const proto::Message& m);
    // The next frame's message (views into an owned buffer kept until the next call), or nullopt
    // on timeout, close or failure.
    std::optional<proto::Message> receive(std::chrono::milliseconds limit = std::chrono::milliseconds(3000));
    // True if the listener closed without sending a frame.
    bool refused();

    struct Keys {
        std::vector<std::uint8_t> psk;
        std::string identity;
    };

private:
    int fd_ = -1;
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    bool secured_ = false;
    Keys keys_;
    proto::FrameDecoder decoder_;
    std::vector<std::uint8_t> backlog_, payload_;
};

} // namespace confab::test
