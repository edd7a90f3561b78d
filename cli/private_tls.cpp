#include "cli/private_tls.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include <stdexcept>

namespace confab::cli {
namespace {

// §8: both ends use exactly this suite (its hash, SHA-256, is the PSK's).
constexpr const char* cipher_suite = "TLS_AES_128_GCM_SHA256";
constexpr unsigned char cipher_id[2] = {0x13, 0x01};
constexpr std::string_view psk_label = "confab private-chat psk v1";
constexpr std::string_view identity_label = "confab private-chat identity v1";

// HKDF-SHA256 (RFC 5869) without salt, IKM = the token.
void hkdf(const proto::Token& token, std::string_view info, unsigned char* out, std::size_t length) {
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
    EVP_KDF_free(kdf);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(token.data()), token.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
        OSSL_PARAM_construct_end(),
    };
    bool ok = ctx && EVP_KDF_derive(ctx, out, length, params) == 1;
    EVP_KDF_CTX_free(ctx);
    if (!ok) throw std::runtime_error("HKDF-SHA256 is not available: " + take_ssl_errors("unknown error"));
}

SSL_SESSION* psk_session(SSL* ssl, const std::array<std::uint8_t, 32>& psk) {
    const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, cipher_id);
    SSL_SESSION* session = SSL_SESSION_new();
    if (!cipher || !session || !SSL_SESSION_set1_master_key(session, psk.data(), psk.size()) ||
        !SSL_SESSION_set_cipher(session, cipher) || !SSL_SESSION_set_protocol_version(session, TLS1_3_VERSION)) {
        SSL_SESSION_free(session);
        return nullptr;
    }
    return session;
}

// The dialling side offers the PSK of its token, under its identity.
int use_psk(SSL* ssl, const EVP_MD* md, const unsigned char** id, std::size_t* id_length, SSL_SESSION** session) {
    const auto* keys = static_cast<const PrivateKeys*>(SSL_get_app_data(ssl));
    *session = nullptr;
    *id = nullptr;
    *id_length = 0;
    const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, cipher_id);
    if (!keys || !cipher || (md && md != SSL_CIPHER_get_handshake_digest(cipher))) return 1; // offer nothing
    *session = psk_session(ssl, keys->psk);
    if (!*session) return 0;
    *id = reinterpret_cast<const unsigned char*>(keys->identity.data());
    *id_length = keys->identity.size();
    return 1;
}

// The first identity of a ClientHello's pre_shared_key extension (RFC 8446
// 4.2.11), or nullopt if it has none or it is malformed.
std::optional<std::string_view> offered_identity(SSL* ssl) {
    const unsigned char* ext = nullptr;
    std::size_t size = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_psk, &ext, &size) != 1 || size < 4) return std::nullopt;
    std::size_t identities = (std::size_t(ext[0]) << 8) | ext[1];
    std::size_t length = (std::size_t(ext[2]) << 8) | ext[3];
    if (identities < length + 6 || size < 2 + identities || length == 0) return std::nullopt;
    return std::string_view(reinterpret_cast<const char*>(ext + 4), length);
}

SSL_CTX* make_ctx(const SSL_METHOD* method) {
    SSL_CTX* ctx = SSL_CTX_new(method);
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) || !SSL_CTX_set_ciphersuites(ctx, cipher_suite))
        throw std::runtime_error("cannot set up TLS for private chats: " + take_ssl_errors("unknown error"));
    // No session tickets: every chat has its own token.
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    // Not SSL_OP_ALLOW_NO_DHE_KEX: psk_dhe_ke only, for forward secrecy.
    return ctx;
}

std::string hex(const unsigned char* data, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < size; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 0x0f];
    }
    return out;
}

} // namespace

PrivateKeys derive_private_keys(const proto::Token& token) {
    PrivateKeys keys;
    hkdf(token, psk_label, keys.psk.data(), keys.psk.size());
    unsigned char id[16];
    hkdf(token, identity_label, id, sizeof id);
    keys.identity = hex(id, sizeof id);
    return keys;
}

PrivateTls::PrivateTls(Lookup lookup) : lookup_(std::move(lookup)) {
    dial_ctx_ = make_ctx(TLS_client_method());
    // A listener that does not take our PSK can only offer a certificate,
    // and no certificate is trusted here.
    SSL_CTX_set_verify(dial_ctx_, SSL_VERIFY_PEER, nullptr);
    accept_ctx_ = make_ctx(TLS_server_method());
    SSL_CTX_set_client_hello_cb(accept_ctx_, &PrivateTls::on_client_hello, this);
    SSL_CTX_set_psk_find_session_callback(accept_ctx_, &PrivateTls::find_psk);
}

PrivateTls::~PrivateTls() {
    SSL_CTX_free(dial_ctx_);
    SSL_CTX_free(accept_ctx_);
}

std::unique_ptr<TlsSession> PrivateTls::dial(int fd, const proto::Token& token) {
    auto keys = std::make_shared<PrivateKeys>(derive_private_keys(token));
    SSL* ssl = SSL_new(dial_ctx_);
    if (!ssl || !SSL_set_fd(ssl, fd)) throw std::runtime_error("cannot set up TLS: " + take_ssl_errors("SSL_new"));
    SSL_set_connect_state(ssl);
    SSL_set_app_data(ssl, keys.get());
    SSL_set_psk_use_session_callback(ssl, use_psk);
    return std::make_unique<TlsSession>(ssl, std::move(keys));
}

std::unique_ptr<TlsSession> PrivateTls::accept(int fd) {
    SSL* ssl = SSL_new(accept_ctx_);
    if (!ssl || !SSL_set_fd(ssl, fd)) throw std::runtime_error("cannot set up TLS: " + take_ssl_errors("SSL_new"));
    SSL_set_accept_state(ssl);
    return std::make_unique<TlsSession>(ssl);
}

int PrivateTls::on_client_hello(SSL* ssl, int* alert, void* arg) {
    auto* self = static_cast<PrivateTls*>(arg);
    std::optional<std::string_view> identity = offered_identity(ssl);
    if (!identity) {
        *alert = SSL_AD_HANDSHAKE_FAILURE;
        return SSL_CLIENT_HELLO_ERROR;
    }
    // Unknown: maybe the invitation is still on its way from the server.
    if (!self->lookup_(*identity)) return SSL_CLIENT_HELLO_RETRY;
    SSL_set_app_data(ssl, self);
    return SSL_CLIENT_HELLO_SUCCESS;
}

int PrivateTls::find_psk(SSL* ssl, const unsigned char* identity, std::size_t length, SSL_SESSION** session) {
    *session = nullptr;
    auto* self = static_cast<PrivateTls*>(SSL_get_app_data(ssl));
    if (!self) return 1;
    auto token = self->lookup_(std::string_view(reinterpret_cast<const char*>(identity), length));
    if (!token) return 1; // no PSK: the handshake fails, there is no certificate either
    *session = psk_session(ssl, derive_private_keys(*token).psk);
    return *session ? 1 : 0;
}

} // namespace confab::cli
