// Client side of --tls: one TLS 1.3 client context per workload, shared by
// every bench thread's Loop, and the certificate the started daemon presents
// (made at run time with the openssl command, never committed).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;
struct sockaddr_in;

namespace confab::bench {

// Writes `dir`/tls.pem and `dir`/tls.key (ECDSA P-256, self-signed for
// 127.0.0.1). Throws std::runtime_error with openssl's output on failure.
void make_test_cert(const std::string& dir, std::string& cert_path, std::string& key_path);

class TlsClient {
public:
    // `ca_file` empty: the server's certificate is not verified (a --connect target).
    // `resume`: new connections offer the saved session (see prime()).
    TlsClient(const std::string& ca_file, bool resume);
    ~TlsClient();
    TlsClient(const TlsClient&) = delete;
    TlsClient& operator=(const TlsClient&) = delete;

    // A client SSL on `fd` (connect state), offering the saved session if resuming.
    // nullptr if OpenSSL refuses (out of memory).
    SSL* open(int fd);
    // One blocking handshake to `server`, kept until its session ticket
    // arrives, so that every measured connection can resume. Throws on failure.
    void prime(const sockaddr_in& server);
    bool resume() const { return resume_; }
    bool has_session();
    // Called by a Loop as each measured handshake ends: counts it, and whether the
    // server accepted the offered ticket (SSL_session_reused) for the report.
    void handshake_done(SSL* ssl);
    std::uint64_t handshakes() const { return handshakes_.load(); }
    std::uint64_t resumed() const { return resumed_.load(); }

private:
    static int on_new_session(SSL* ssl, SSL_SESSION* session);

    SSL_CTX* ctx_ = nullptr;
    bool resume_ = false;
    std::mutex mutex_;
    SSL_SESSION* session_ = nullptr; // the latest ticket received
    std::atomic<std::uint64_t> handshakes_{0}, resumed_{0};
};

// The client context new Loops use (nullptr: plaintext). Set by main around a workload.
void set_client_tls(TlsClient* tls);
TlsClient* client_tls();

} // namespace confab::bench
