#include "tls_client.hpp"

#include <fmt/format.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace confab::bench {

namespace {

std::atomic<TlsClient*> current{nullptr};
int session_owner_index = -1; // ex_data slot: the TlsClient of an SSL_CTX

std::string openssl_reason() {
    unsigned long last = 0;
    while (unsigned long e = ERR_get_error()) last = e;
    const char* reason = last ? ERR_reason_error_string(last) : nullptr;
    return reason ? reason : "unknown error";
}

} // namespace

void set_client_tls(TlsClient* tls) {
    current.store(tls);
}
TlsClient* client_tls() {
    return current.load();
}

void make_test_cert(const std::string& dir, std::string& cert_path, std::string& key_path) {
    cert_path = dir + "/tls.pem";
    key_path = dir + "/tls.key";
    const std::string log_path = dir + "/openssl.log";
    const std::vector<std::string> args = {"openssl",
                                           "req",
                                           "-x509",
                                           "-days",
                                           "2",
                                           "-addext",
                                           "subjectAltName=DNS:localhost,IP:127.0.0.1",
                                           "-out",
                                           cert_path,
                                           "-newkey",
                                           "ec",
                                           "-pkeyopt",
                                           "ec_paramgen_curve:P-256",
                                           "-nodes",
                                           "-keyout",
                                           key_path,
                                           "-subj",
                                           "/CN=confab-bench"};
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        ::execvp(argv[0], argv.data());
        fmt::print(stderr, "cannot run openssl: {}\n", std::strerror(errno));
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::ifstream in(log_path);
        std::ostringstream ss;
        ss << in.rdbuf();
        throw std::runtime_error("openssl req could not make the test certificate:\n" + ss.str());
    }
}

TlsClient::TlsClient(const std::string& ca_file, bool resume) : resume_(resume) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) throw std::runtime_error("cannot create a TLS client context: " + openssl_reason());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    if (!ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1)
            throw std::runtime_error(fmt::format("cannot load {}: {}", ca_file, openssl_reason()));
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx_), "127.0.0.1");
    }
    // Output queued per connection may move and is written as far as the socket takes it.
    // No SSL_MODE_RELEASE_BUFFERS: record buffers are allocated once per connection,
    // so the per-message path allocates nothing.
    SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx_, 1);
    SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF); // a close without close_notify reads as EOF
    if (session_owner_index < 0) session_owner_index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    SSL_CTX_set_ex_data(ctx_, session_owner_index, this);
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx_, &TlsClient::on_new_session);
}

TlsClient::~TlsClient() {
    if (session_) SSL_SESSION_free(session_);
    SSL_CTX_free(ctx_);
}

int TlsClient::on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* self = static_cast<TlsClient*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), session_owner_index));
    std::lock_guard lock(self->mutex_);
    if (self->session_) SSL_SESSION_free(self->session_);
    self->session_ = session;
    return 1; // we keep the reference
}

bool TlsClient::has_session() {
    std::lock_guard lock(mutex_);
    return session_ != nullptr;
}

void TlsClient::handshake_done(SSL* ssl) {
    handshakes_.fetch_add(1, std::memory_order_relaxed);
    if (SSL_session_reused(ssl)) resumed_.fetch_add(1, std::memory_order_relaxed);
}

SSL* TlsClient::open(int fd) {
    SSL* ssl = SSL_new(ctx_);
    if (!ssl) return nullptr;
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    if (resume_) {
        std::lock_guard lock(mutex_);
        if (session_) {
            // A copy per connection: OpenSSL's client writes to the session it resumes, and
            // one object shared by concurrent handshakes makes some of them fall back to a
            // full handshake.
            SSL_SESSION* copy = SSL_SESSION_dup(session_);
            SSL_set_session(ssl, copy);
            SSL_SESSION_free(copy);
        }
    }
    return ssl;
}

void TlsClient::prime(const sockaddr_in& server) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    timeval tv{5, 0}; // bounded: a silent server fails the run instead of hanging it
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0) {
        int err = errno;
        ::close(fd);
        throw std::runtime_error(std::string("connect: ") + std::strerror(err));
    }
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    std::string error;
    if (SSL_connect(ssl) != 1) {
        error = "TLS handshake failed: " + openssl_reason();
    } else {
        // The ticket follows the handshake; the server sends nothing else before our Hello.
        // Without auto-retry a read returns once the ticket is processed instead of
        // waiting for application data that never comes.
        SSL_clear_mode(ssl, SSL_MODE_AUTO_RETRY);
        char byte;
        for (int i = 0; i < 4 && !has_session(); ++i) {
            int r = SSL_peek(ssl, &byte, 1);
            if (r <= 0 && SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ) break;
        }
        if (!has_session()) error = "the server sent no session ticket";
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ::close(fd);
    ERR_clear_error();
    if (!error.empty()) throw std::runtime_error(error);
}

} // namespace confab::bench
