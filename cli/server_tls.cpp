#include "cli/server_tls.hpp"

#include "cli/known_hosts.hpp"
#include "cli/net.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <cerrno>
#include <climits>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>

namespace confab::cli {
namespace {

using Clock = std::chrono::steady_clock;

bool is_ip_literal(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Waits for `events` until the deadline: > 0 ready, 0 timed out, < 0 error.
int wait_for(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return 0;
        pollfd pfd{fd, events, 0};
        int n = ::poll(&pfd, 1, int(std::min<long long>(left, INT_MAX)));
        if (n < 0 && errno == EINTR) continue;
        return n;
    }
}

std::string not_tls(const std::string& where) {
    return fmt::format("error: the server at {} does not speak TLS: use --no-tls", where);
}

ServerTlsResult refuse(std::string error) {
    return {nullptr, std::move(error)};
}

// The handshake; errors name the likely cause (a plaintext server above all).
ServerTlsResult handshake(int fd, const ServerTlsOptions& o, Clock::time_point deadline) {
    const std::string where = host_port(o.host, o.port);
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return refuse("error: cannot set up TLS: " + take_ssl_errors("SSL_CTX_new"));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    bool trust_loaded =
        o.ca_file ? SSL_CTX_load_verify_file(ctx, o.ca_file->c_str()) == 1 : SSL_CTX_set_default_verify_paths(ctx) == 1;
    if (!trust_loaded && o.ca_file) {
        SSL_CTX_free(ctx);
        return refuse(
            fmt::format("error: cannot read the CA file {}: {}", *o.ca_file, take_ssl_errors("no certificate in it")));
    }
    // The chain and the name are checked during the handshake, but what a
    // failure means (pin, known host, question) is decided afterwards.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    SSL* ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); // the SSL keeps its own reference
    if (!ssl || !SSL_set_fd(ssl, fd)) return refuse("error: cannot set up TLS: " + take_ssl_errors("SSL_new"));
    SSL_set_connect_state(ssl);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip_literal(o.host)) {
        X509_VERIFY_PARAM_set1_ip_asc(param, o.host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl, o.host.c_str());
        SSL_set1_host(ssl, o.host.c_str());
    }
    auto session = std::make_unique<TlsSession>(ssl);

    bool peeked = false;
    for (;;) {
        TlsSession::Status status = session->handshake();
        if (status == TlsSession::Status::done) return {std::move(session), {}};
        if (status == TlsSession::Status::closed || status == TlsSession::Status::failed) {
            int reason = session->error_reason();
            if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
                reason == SSL_R_RECORD_LENGTH_MISMATCH || reason == SSL_R_UNEXPECTED_RECORD)
                return refuse(not_tls(where));
            return refuse(fmt::format("error: TLS handshake with {} failed: {}", where, session->error()));
        }
        short events = session->wants_write() ? POLLOUT : POLLIN;
        int ready = wait_for(fd, events, deadline);
        if (ready == 0) return refuse(fmt::format("error: no TLS answer from {} (is it a confab server?)", where));
        if (ready < 0)
            return refuse(fmt::format("error: TLS handshake with {} failed: {}", where, std::strerror(errno)));
        if (!peeked && events == POLLIN) {
            // A confab frame starts with the high byte of its length, 0x00;
            // every TLS record starts with 0x14..0x17.
            std::uint8_t first = 0;
            ssize_t n = ::recv(fd, &first, 1, MSG_PEEK);
            if (n == 1 && first == 0x00) return refuse(not_tls(where));
            if (n == 0)
                return refuse(fmt::format(
                    "error: the server at {} closed the connection during the TLS handshake (does it speak TLS? "
                    "try --no-tls)",
                    where));
            peeked = n == 1;
        }
    }
}

// Whether to trust the certificate the server showed.
std::string trust(SSL* ssl, const ServerTlsOptions& o) {
    const std::string where = host_port(o.host, o.port);
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (!cert) return fmt::format("error: the server at {} showed no certificate", where);
    Fingerprint fp{};
    unsigned length = 0;
    if (X509_digest(cert, EVP_sha256(), fp.data(), &length) != 1 || length != fp.size())
        return "error: cannot compute the certificate's fingerprint: " + take_ssl_errors("X509_digest");
    const std::string shown = format_fingerprint(fp);

    if (o.fingerprint) { // a pin decides alone
        if (*o.fingerprint == fp) return {};
        return fmt::format("error: the certificate of {} has the fingerprint {}, not the one given with "
                           "--fingerprint ({}); refusing to connect",
                           where, shown, format_fingerprint(*o.fingerprint));
    }
    long verified = SSL_get_verify_result(ssl);
    if (verified == X509_V_OK) return {};
    const std::string why = X509_verify_cert_error_string(verified);

    std::string error;
    auto content = o.known_hosts.empty() ? std::optional<std::string>("") : read_known_hosts(o.known_hosts, error);
    if (!content) return fmt::format("error: cannot read {}: {}", o.known_hosts, error);
    KnownHostMatch known = find_known_host(*content, where, fp);
    if (known.kind == KnownHostMatch::Kind::same) return {};
    if (known.kind == KnownHostMatch::Kind::changed)
        return fmt::format(
            "error: the certificate of {0} has CHANGED since you trusted it; someone may be intercepting the "
            "connection.\n"
            "error: it is now {1}, but line {2} of {3} holds another one for {0}.\n"
            "error: if the server really has a new certificate, delete line {2} of {3} and connect again "
            "(or pass --fingerprint {1} once you have checked it with the server's operator).",
            where, shown, known.line, o.known_hosts);

    // 1 yes, 0 no, -1 nobody to ask (or no answer).
    int answer = -1;
    if (o.ask) {
        o.tell(fmt::format("The certificate of {} cannot be verified ({}).", where, why));
        o.tell(fmt::format("Its SHA-256 fingerprint is {}.", shown));
        std::string question = "Trust it and remember it for this server (yes/no)? ";
        while (answer < 0) {
            std::optional<std::string> line = o.ask(question);
            if (!line) break;
            if (*line == "yes") answer = 1;
            if (*line == "no") answer = 0;
            question = "Please type 'yes' or 'no': ";
        }
    }
    if (answer < 0)
        return fmt::format("error: the certificate of {} cannot be verified ({}); its fingerprint is {}. Use --ca "
                           "FILE, or --fingerprint {} once you have checked it, or connect once on a terminal to "
                           "trust it",
                           where, why, shown, shown);
    if (answer == 0) return fmt::format("error: the certificate of {} is not trusted", where);
    if (o.known_hosts.empty()) return {}; // trusted for this session only: nowhere to remember it
    if (auto failed = add_known_host(o.known_hosts, where, fp))
        o.tell(fmt::format("warning: cannot remember the certificate in {}: {}", o.known_hosts, *failed));
    else
        o.tell(fmt::format("Remembered {} for {} in {}.", shown, where, o.known_hosts));
    return {};
}

} // namespace

ServerTlsResult secure_server_connection(int fd, const ServerTlsOptions& options, Clock::time_point deadline) {
    ServerTlsResult result = handshake(fd, options, deadline);
    if (!result.session) return result;
    if (std::string refused = trust(result.session->ssl(), options); !refused.empty())
        return refuse(std::move(refused));
    return result;
}

} // namespace confab::cli
