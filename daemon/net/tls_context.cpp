#include "net/tls_context.hpp"

#include "log.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

namespace confab {

namespace {

// The last OpenSSL reason queued, for messages; clears the queue.
std::string openssl_reason() {
    unsigned long last = 0;
    while (unsigned long e = ERR_get_error()) last = e;
    const char* reason = last ? ERR_reason_error_string(last) : nullptr;
    return reason ? reason : "unknown error";
}

// Never prompt for a passphrase (that would block the reactor): encrypted keys are refused.
int no_passphrase(char*, int, int, void*) {
    return -1;
}

struct BioFree {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct KeyFree {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> open_file(const std::string& path, const char* what) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "rb"));
    if (!bio) {
        int err = errno;
        ERR_clear_error();
        throw TlsError(fmt::format("{} {}: cannot open: {}", what, path, std::strerror(err)));
    }
    return bio;
}

std::string describe(X509* cert) {
    std::unique_ptr<BIO, BioFree> mem(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(mem.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    BIO_puts(mem.get(), ", valid until ");
    ASN1_TIME_print(mem.get(), X509_get0_notAfter(cert));
    char* data = nullptr;
    long len = BIO_get_mem_data(mem.get(), &data);
    return std::string(data, std::size_t(len));
}

} // namespace

std::optional<int> parse_tls_version(std::string_view text) {
    if (text == "1.2") return TLS1_2_VERSION;
    if (text == "1.3") return TLS1_3_VERSION;
    return std::nullopt;
}

void TlsContext::Free::operator()(SSL_CTX* ctx) const noexcept {
    SSL_CTX_free(ctx);
}

TlsContext::TlsContext(const TlsSettings& s) {
    auto version = parse_tls_version(s.min_version);
    if (!version) throw TlsError(fmt::format("TLS version '{}' is neither 1.2 nor 1.3", s.min_version));
    // Read both files before building anything, so the errors name the file at fault.
    open_file(s.cert_file, "TLS certificate");
    auto key_bio = open_file(s.key_file, "TLS key");
    std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_passphrase, nullptr));
    if (!key)
        throw TlsError(
            fmt::format("TLS key {}: not an unencrypted PEM private key ({})", s.key_file, openssl_reason()));

    std::unique_ptr<SSL_CTX, Free> ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) throw TlsError(fmt::format("cannot create a TLS context: {}", openssl_reason()));
    SSL_CTX* c = ctx.get();
    SSL_CTX_set_default_passwd_cb(c, no_passphrase);
    if (SSL_CTX_use_certificate_chain_file(c, s.cert_file.c_str()) != 1)
        throw TlsError(
            fmt::format("TLS certificate {}: not a PEM certificate chain ({})", s.cert_file, openssl_reason()));
    if (SSL_CTX_use_PrivateKey(c, key.get()) != 1 || SSL_CTX_check_private_key(c) != 1) {
        ERR_clear_error();
        throw TlsError(fmt::format("TLS key {} does not match the certificate in {}", s.key_file, s.cert_file));
    }

    SSL_CTX_set_min_proto_version(c, *version);
    // TLS 1.2 only with forward-secret AEAD suites; TLS 1.3 suites are all fine.
    SSL_CTX_set_cipher_list(c, "ECDHE+AESGCM:ECDHE+CHACHA20");
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                               SSL_OP_IGNORE_UNEXPECTED_EOF); // a peer vanishing without close_notify is an EOF
    // Idle sessions give their 2 x ~17 KiB record buffers back; output may move and be
    // written record by record as it drains (see TlsTransport::write).
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // One read(2) fetches every record that has arrived, not a header and a body per record.
    SSL_CTX_set_read_ahead(c, 1);
    // Stateless tickets need no server cache; without one, TLS 1.2 sessions cost no memory either.
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(c, 1); // one reconnect needs one ticket
    static const unsigned char id_context[] = "confabd";
    SSL_CTX_set_session_id_context(c, id_context, sizeof id_context - 1);

    X509* cert = SSL_CTX_get0_certificate(c);
    std::string summary = describe(cert);
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
        log::warning("TLS certificate {} has expired ({}): clients will refuse it", s.cert_file, summary);
    else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
        log::warning("TLS certificate {} is not valid yet ({})", s.cert_file, summary);
    ctx_ = std::move(ctx);
    summary_ = std::move(summary);
}

} // namespace confab
