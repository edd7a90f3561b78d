// The server's TLS configuration: one shared SSL_CTX built from a PEM
// certificate chain and its private key, checked to match. Every new
// connection takes its SSL from the current SSL_CTX. A reload builds a new
// TlsContext (which throws if the new pair does not load or match) and
// assigns it over the old one; sessions already running keep the context
// they started with (SSL objects hold a reference).
// Session tickets are stateless, with keys OpenSSL draws at random for each
// context, so they rotate with every process and every reload.
// Reactor thread only.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace confab {

struct TlsError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// "1.2" or "1.3" as an OpenSSL protocol version constant; nullopt for anything else.
std::optional<int> parse_tls_version(std::string_view text);

struct TlsSettings {
    std::string cert_file;           // PEM: the certificate, then any intermediates
    std::string key_file;            // PEM private key, not encrypted
    std::string min_version = "1.3"; // parse_tls_version
};

class TlsContext {
public:
    // Loads and checks the pair; throws TlsError naming the file at fault.
    explicit TlsContext(const TlsSettings& settings);

    SSL_CTX* get() const noexcept { return ctx_.get(); }
    // Subject and expiry of the certificate in use, for the log.
    const std::string& summary() const noexcept { return summary_; }

private:
    struct Free {
        void operator()(SSL_CTX* ctx) const noexcept;
    };
    std::unique_ptr<SSL_CTX, Free> ctx_;
    std::string summary_;
};

} // namespace confab
