#include "psk_peer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include <cstring>
#include <stdexcept>

namespace confab::test {
namespace {

// RFC 5869 by hand (HMAC-SHA256, zero salt), not through the client's code.
std::vector<std::uint8_t> hkdf_sha256(const proto::Token& ikm, const std::string& info, std::size_t length) {
    unsigned char salt[32] = {};
    unsigned char prk[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), salt, sizeof salt, ikm.data(), ikm.size(), prk, &len);
    std::vector<std::uint8_t> out, block;
    for (std::uint8_t i = 1; out.size() < length; ++i) {
        std::vector<std::uint8_t> input(block);
        input.insert(input.end(), info.begin(), info.end());
        input.push_back(i);
        unsigned char t[32];
        HMAC(EVP_sha256(), prk, sizeof prk, input.data(), input.size(), t, &len);
        block.assign(t, t + 32);
        out.insert(out.end(), block.begin(), block.end());
    }
    out.resize(length);
    return out;
}

constexpr unsigned char aes128gcm_sha256[2] = {0x13, 0x01};

int use_psk(SSL* ssl, const EVP_MD* md, const unsigned char** id, std::size_t* idlen, SSL_SESSION** sess) {
    const auto* keys = static_cast<const PskPeer::Keys*>(SSL_get_app_data(ssl));
    const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, aes128gcm_sha256);
    *sess = nullptr;
    if (md && md != SSL_CIPHER_get_handshake_digest(cipher)) return 1;
    SSL_SESSION* s = SSL_SESSION_new();
    SSL_SESSION_set1_master_key(s, keys->psk.data(), keys->psk.size());
    SSL_SESSION_set_cipher(s, cipher);
    SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION);
    *sess = s;
    *id = reinterpret_cast<const unsigned char*>(keys->identity.data());
    *idlen = keys->identity.size();
    return 1;
}

} // namespace

std::vector<std::uint8_t> private_psk(const proto::Token& token) {
    return hkdf_sha256(token, "confab private-chat psk v1", 32);
}

std::string private_identity(const proto::Token& token) {
    static const char digits[] = "0123456789abcdef";
    std::string hex;
    for (std::uint8_t b : hkdf_sha256(token, "confab private-chat identity v1", 16)) {
        hex += digits[b >> 4];
        hex += digits[b & 15];
    }
    return hex;
}

PskPeer::PskPeer(std::uint16_t port, const proto::Token& token) : keys_{private_psk(token), private_identity(token)} {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    timeval tv{3, 0}; // bounded: a listener that holds the handshake cannot hang the test
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    SSL_CTX_set_ciphersuites(ctx_, "TLS_AES_128_GCM_SHA256");
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_app_data(ssl_, &keys_);
    SSL_set_psk_use_session_callback(ssl_, use_psk);
    secured_ = SSL_connect(ssl_) == 1;
}

int PskPeer::key_exchange_group() const {
    return secured_ ? SSL_get_negotiated_group(ssl_) : 0;
}

PskPeer::~PskPeer() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
}

void PskPeer::send(const proto::Message& m) {
    std::vector<std::uint8_t> bytes;
    if (!proto::append_frame(bytes, m)) throw std::runtime_error("message too large to encode");
    if (!secured_ || SSL_write(ssl_, bytes.data(), int(bytes.size())) != int(bytes.size()))
        throw std::runtime_error("PskPeer: cannot send");
}

std::optional<proto::Message> PskPeer::receive(std::chrono::milliseconds limit) {
    if (!secured_) return std::nullopt;
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        backlog_.erase(backlog_.begin(), backlog_.begin() + std::ptrdiff_t(decoder_.feed(backlog_)));
        auto r = decoder_.next();
        if (r.kind == proto::FrameResult::Kind::frame) {
            payload_.assign(r.payload.begin(), r.payload.end());
            auto d = proto::decode_payload(payload_);
            if (!d.message) return std::nullopt;
            return *d.message;
        }
        if (r.kind == proto::FrameResult::Kind::error) return std::nullopt;
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::uint8_t buf[16384];
        int n = SSL_read(ssl_, buf, sizeof buf);
        if (n <= 0) return std::nullopt; // closed, failed or the receive timeout passed
        backlog_.insert(backlog_.end(), buf, buf + n);
    }
}

bool PskPeer::refused() {
    if (!secured_) return true;
    return !receive(std::chrono::milliseconds(3000));
}

} // namespace confab::test
