// Test harness for integration tests: starts the real confabd on an
// ephemeral 127.0.0.1 port in a private temp directory, speaks the protocol
// through the proto library (RawClient), and drives real `confab` clients in
// scripted mode (ClientProcess). Every wait is bounded; every process is
// stopped when its owner goes out of scope.
#pragma once

#include "proto/frame.hpp"
#include "proto/messages.hpp"

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

struct DaemonOptions {
    std::string users = "alice alice123\nbob bob123\ncarol carol123\ndave dave123\n";
    std::string extra_config; // appended TOML lines
    int block_duration = 2;
    int timeout = 60;
    int login_timeout = 30;
    std::vector<std::string> extra_args;
    std::vector<std::string> env; // KEY=VALUE added to the daemon's environment
    std::string state_dir;        // empty: a fresh directory inside the daemon's temp dir
    int max_fds = 0;              // > 0: the daemon's RLIMIT_NOFILE
};

class Daemon {
public:
    explicit Daemon(DaemonOptions opts = {});
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    const TempDir& dir() const { return dir_; }
    std::string users_path() const { return dir_.path() + "/users"; }
    std::string log() const;    // everything the daemon wrote to stderr so far
    double cpu_seconds() const; // user + system CPU time the daemon has used
    bool log_contains(const std::string& needle, Millis wait = 0ms) const;
    void signal(int sig) const;
    // Waits for the process to end; returns its exit status, or nullopt on timeout.
    std::optional<int> wait_exit(Millis limit);

private:
    TempDir dir_;
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    bool reaped_ = false;
    int status_ = 0;
};

// A connection that speaks frames directly, for protocol-level checks.
class RawClient {
public:
    explicit RawClient(std::uint16_t port, int rcvbuf = 0);
    ~RawClient();
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    void send(const proto::Message& m);
    void send_bytes(const std::vector<std::uint8_t>& bytes);

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

private:
    int fd_ = -1;
    proto::FrameDecoder decoder_;
    std::vector<std::uint8_t> backlog_; // received, not yet taken by the decoder
    bool eof_ = false;
    std::uint32_t request_ = 0;
};

// A real `confab` client in scripted mode (stdin/stdout are pipes).
class ClientProcess {
public:
    ClientProcess(std::uint16_t port, const std::vector<std::string>& args = {});
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
                                                    const std::string& password);

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

// Paths of the built binaries (set by meson through the environment).
std::string confabd_path();
std::string confab_path();

} // namespace confab::test
