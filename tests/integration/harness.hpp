// Test harness for integration tests: starts the real confabd on an
// ephemeral 127.0.0.1 port in a private temp directory, speaks the protocol
// through the proto library (RawClient), and drives real `confab` clients in
// scripted mode (ClientProcess); RawClient speaks plain TCP or TLS, with
// certificates made at test time by the `openssl` command (make_test_cert).
// Every wait is bounded; every process is stopped when its owner goes out of scope.
#pragma once

#include "proto/frame.hpp"
#include "proto/messages.hpp"

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace confab::test {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

// A private directory removed (recursively) on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }
    std::string file(const std::string& name, const std::string& content) const; // writes, returns path

private:
    std::string path_;
};

// A certificate and its private key as PEM files, made with the `openssl` command.
struct TestCert {
    std::string cert_path;   // the certificate, then its issuer's when it has one (a chain file)
    std::string key_path;    // unencrypted private key (EC P-256)
    std::string fingerprint; // SHA-256 of the certificate's DER encoding, lowercase hex, no separators
};
// A certificate for `common_name` (also its DNS subjectAltName, with IP 127.0.0.1), valid for 2
// days, written to dir/NAME.pem and dir/NAME.key: self-signed, or signed by `issuer` (a
// make_test_ca result). Throws with openssl's message when the command fails.
TestCert make_test_cert(const TempDir& dir, const std::string& name, const std::string& common_name = "localhost",
                        const TestCert* issuer = nullptr);
// A self-signed CA certificate (basicConstraints CA:TRUE) to sign make_test_cert certificates.
TestCert make_test_ca(const TempDir& dir, const std::string& name, const std::string& common_name = "confab test CA");
// The SHA-256 fingerprint (as in TestCert) of the first certificate in a PEM file.
std::string pem_fingerprint(const std::string& cert_path);
// TOML lines that make a DaemonOptions listener speak TLS with `cert` (for extra_config).
std::string tls_config(const TestCert& cert);

// Config lines that lift the per-user send rate, for tests that flood on purpose.
inline constexpr const char* no_rate_limits = "user_message_rate = 0\nuser_byte_rate = 0\n";

class RedisServer; // redis_server.hpp

// How many confabd nodes a Daemon starts unless told: CONFAB_TEST_NODES (meson's cluster
// suite runs the scenario tests again with 3), otherwise 1.
std::size_t default_nodes();
// For doctest::skip() on a scenario that cannot hold on a cluster by design: true when this
// run starts clusters, and then `why` goes to stderr so the test log says what was skipped and why.
bool single_node_only(const char* why);

struct DaemonOptions {
    std::string users = "alice alice123\nbob bob123\ncarol carol123\ndave dave123\n";
    std::string extra_config; // appended TOML lines
    int block_duration = 2;
    int timeout = 60;
    int login_timeout = 30;
    std::vector<std::string> extra_args;
    std::vector<std::string> env; // KEY=VALUE added to the daemon's environment
    std::string state_dir;        // empty: a fresh directory inside the daemon's temp dir
    int max_fds = 0;              // > 0: the daemon's RLIMIT_NOFILE (each node's)
    // 1: one confabd with the local engine, as installed. More: a cluster of that many nodes
    // with the Redis engine, sharing one users file, one configuration and one redis-server,
    // whose data (append-only file) lives in state_dir, so a Daemon started again on the same
    // state_dir finds it again.
    std::size_t nodes = default_nodes();
    // false: a cluster's redis-server is not running yet when its nodes start (start it with
    // redis().start(), then await_serving()); the constructor returns at once.
    bool redis_up_first = true;
};

// The daemon under test: one confabd, or a cluster of nodes (DaemonOptions::nodes) with their
// redis-server. What a test asks of "the daemon" holds for the whole cluster: log() is every
// node's, signal() goes to every node, and port() spreads the clients a test opens over the nodes.
class Daemon {
public:
    explicit Daemon(DaemonOptions opts = {});
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // The port to open the next client on: a single daemon's port; on a cluster, each call
    // hands out the next node's port in turn.
    std::uint16_t port() const;
    std::size_t nodes() const { return nodes_.size(); }
    std::uint16_t node_port(std::size_t node) const { return nodes_.at(node).port; }
    pid_t pid() const { return nodes_.front().pid; } // node 0's
    const TempDir& dir() const { return dir_; }
    std::string users_path() const { return dir_.path() + "/users"; }
    std::string log() const; // everything the daemon (every node) wrote to stderr so far
    std::string node_log(std::size_t node) const;
    double cpu_seconds() const; // user + system CPU time the daemon (every node) has used
    bool log_contains(const std::string& needle, Millis wait = 0ms) const;
    // Sends `sig` to every node. On a cluster, SIGHUP returns once every node has logged the
    // outcome of its reload, as one process would have by the time its log says so.
    void signal(int sig) const;
    void signal_node(std::size_t node, int sig) const;
    // Waits for every node to end; returns the exit status (the first non-zero one of a
    // cluster), or nullopt on timeout.
    std::optional<int> wait_exit(Millis limit);
    std::optional<int> wait_node_exit(std::size_t node, Millis limit);
    RedisServer& redis() const; // a cluster's; throws for a single daemon
    void await_serving();       // every node listening (and a cluster's connected to Redis)

private:
    struct Node {
        std::string name, log_path; // name: a cluster node's id, empty for a single daemon
        std::string label() const { return name.empty() ? "confabd" : "confabd " + name; }
        pid_t pid = -1;
        std::uint16_t port = 0;
        bool reaped = false;
        int status = 0;
    };
    void spawn_node(Node& node, const DaemonOptions& opts, const std::string& config);
    void await_port(Node& node);
    void await_cluster_up(); // every node connected to Redis and serving logins
    void stop_nodes();

    TempDir dir_;
    std::unique_ptr<RedisServer> redis_;
    std::vector<Node> nodes_;
    mutable std::size_t next_node_ = 0;
};

// How a TLS RawClient connects. It does not verify the server certificate: tests
// compare peer_fingerprint() with the one they expect.
struct TlsClientOptions {
    std::shared_ptr<SSL_SESSION> resume;   // offer this session (from session()) for resumption
    int max_version = 0;                   // e.g. TLS1_2_VERSION; 0 = the newest OpenSSL speaks
    std::string server_name = "localhost"; // SNI; empty = none
};

// A connection that speaks frames directly, for protocol-level checks, over
// plain TCP or (second constructor) TLS.
class RawClient {
public:
    // `source`: a loopback address to connect from (127.0.0.x), as another host would.
    explicit RawClient(std::uint16_t port, int rcvbuf = 0, const char* source = nullptr);
    // Connects and completes a TLS handshake within 5 s; throws with the reason otherwise.
    RawClient(std::uint16_t port, const TlsClientOptions& tls);
    ~RawClient();
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    void send(const proto::Message& m);
    // Over TLS, `record_size` > 0 cuts the bytes into TLS records of at most that many
    // bytes; otherwise they go as one write (one record up to 16 KiB).
    void send_bytes(const std::vector<std::uint8_t>& bytes, std::size_t record_size = 0);

    // A received frame; `msg` views point into `payload`, which it owns.
    struct Received {
        std::vector<std::uint8_t> payload;
        proto::Message msg;
    };
    // The next frame, or nullopt on timeout or when the server closed the connection.
    std::optional<Received> receive(Millis limit = 3000ms);
    // The next frame of type M (skipping others), or nullopt.
    template <class M>
    std::optional<M> expect(Millis limit = 3000ms, std::vector<std::uint8_t>* keep = nullptr) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
            if (left <= 0ms) return std::nullopt;
            auto r = receive(left);
            if (!r) return std::nullopt;
            if (auto* m = std::get_if<M>(&r->msg)) {
                if (keep) *keep = std::move(r->payload); // views stay valid: the buffer moves
                return *m;
            }
        }
    }
    // True once the server has closed the connection (reads EOF within `limit`).
    bool closed_by_server(Millis limit = 3000ms);

    // Hello + Login; returns the LoginResult.
    proto::LoginResult login(const std::string& name, const std::string& password);
    std::uint32_t next_request() { return ++request_; }
    int fd() const { return fd_; }

    // TLS connections only.
    std::string peer_fingerprint() const;         // like TestCert::fingerprint
    int peer_chain_length() const;                // certificates the server sent
    std::shared_ptr<SSL_SESSION> session() const; // resumable once a frame has been received
    bool session_reused() const;                  // this handshake resumed a session
    std::string tls_version() const;              // "TLSv1.3", ...

private:
    bool read_some(int timeout_ms); // appends to backlog_; false on timeout; sets eof_
    void tls_wait(int ssl_result, int timeout_ms, const char* what);
    int fd_ = -1;
    SSL* ssl_ = nullptr;
    proto::FrameDecoder decoder_;
    std::vector<std::uint8_t> backlog_; // received, not yet taken by the decoder
    bool eof_ = false;
    std::uint32_t request_ = 0;
};

// A real `confab` client in scripted mode (stdin/stdout are pipes).
class ClientProcess {
public:
    // `env`: KEY=VALUE added to the client's environment.
    ClientProcess(std::uint16_t port, const std::vector<std::string>& args = {},
                  const std::vector<std::string>& env = {});
    ~ClientProcess();
    ClientProcess(const ClientProcess&) = delete;
    ClientProcess& operator=(const ClientProcess&) = delete;

    void send_line(const std::string& line);
    void close_stdin();
    // Waits for a stdout line satisfying `pred`; returns it, or nullopt on timeout/EOF.
    std::optional<std::string> wait_line(const std::function<bool(const std::string&)>& pred, Millis limit = 5000ms);
    // Waits for a stdout line equal to `line`.
    bool expect_line(const std::string& line, Millis limit = 5000ms);
    // Lines seen so far (all of them, including ones consumed by waits).
    const std::vector<std::string>& lines() const { return lines_; }
    // Collects stdout lines for `span` and returns the ones that arrived.
    std::vector<std::string> lines_for(Millis span);
    std::string stderr_text() const;
    pid_t pid() const { return pid_; }
    std::optional<int> wait_exit(Millis limit = 5000ms);

    // Logs in with name/password as the first two stdin lines and waits for `welcome, NAME`.
    static std::unique_ptr<ClientProcess> logged_in(std::uint16_t port, const std::string& name,
                                                    const std::string& password,
                                                    const std::vector<std::string>& args = {});

private:
    bool read_more(Millis limit);
    pid_t pid_ = -1;
    int in_ = -1, out_ = -1;
    std::string err_path_;
    std::string partial_;
    std::vector<std::string> lines_;
    std::size_t cursor_ = 0; // lines before this were consumed by a wait
    bool eof_ = false;
    bool reaped_ = false;
    int status_ = 0;
};

// A finished process: its exit status (-1 if it had to be killed after 10 s) and its stdout + stderr.
struct ProcessResult {
    int status;
    std::string output;
};
// Runs confabd with `args` (e.g. --check-config --config FILE) to completion.
ProcessResult run_confabd(const std::vector<std::string>& args);

// Paths of the built binaries (set by meson through the environment).
std::string confabd_path();
std::string confab_path();

} // namespace confab::test
