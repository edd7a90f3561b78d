#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace confab::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    return left < 0 ? 0 : int(left);
}

pid_t spawn(const std::vector<std::string>& argv, int in_fd, int out_fd, int err_fd,
            const std::vector<std::string>& extra_env = {}, rlim_t max_fds = 0) {
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        if (in_fd >= 0) ::dup2(in_fd, 0);
        if (out_fd >= 0) ::dup2(out_fd, 1);
        if (err_fd >= 0) ::dup2(err_fd, 2);
        for (const auto& kv : extra_env) ::putenv(const_cast<char*>(kv.c_str()));
        if (max_fds > 0) {
            rlimit lim{max_fds, max_fds};
            ::setrlimit(RLIMIT_NOFILE, &lim);
        }
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        // The test's own signal mask and dispositions must not leak into the child.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL); // the harness ignores it (see ClientProcess::send_line)
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    return pid;
}

std::optional<int> wait_for(pid_t pid, Millis limit, bool& reaped, int& status) {
    if (reaped) return status;
    auto deadline = Clock::now() + limit;
    for (;;) {
        int st = 0;
        pid_t r = ::waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            reaped = true;
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return status;
        }
        if (Clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(5ms);
    }
}

void stop_process(pid_t pid, bool& reaped, int& status) {
    if (pid <= 0 || reaped) return;
    ::kill(pid, SIGTERM);
    if (!wait_for(pid, 3000ms, reaped, status)) {
        ::kill(pid, SIGKILL);
        wait_for(pid, 3000ms, reaped, status);
    }
}
} // namespace

std::string confabd_path() {
    return env_or("CONFABD", "daemon/confabd");
}
std::string confab_path() {
    return env_or("CONFAB", "cli/confab");
}

// ---------------------------------------------------------------- TempDir

TempDir::TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "confab-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

std::string TempDir::file(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
    return p;
}

// ---------------------------------------------------------------- Daemon

Daemon::Daemon(DaemonOptions opts) {
    std::string users = dir_.file("users", opts.users);
    std::ostringstream cfg;
    cfg << "listen = \"127.0.0.1\"\nport = 0\n"
        << "users_file = \"" << users << "\"\n"
        << "state_dir = \"" << (opts.state_dir.empty() ? dir_.path() + "/state" : opts.state_dir) << "\"\n"
        << "block_duration = " << opts.block_duration << "\n"
        << "timeout = " << opts.timeout << "\n"
        << "login_timeout = " << opts.login_timeout << "\n"
        << "hash_workers = 2\n"
        << opts.extra_config << "\n";
    std::string config = dir_.file("confabd.toml", cfg.str());
    int err = ::open((dir_.path() + "/daemon.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    std::vector<std::string> argv = {confabd_path(), "--config", config, "--log-level", "debug"};
    argv.insert(argv.end(), opts.extra_args.begin(), opts.extra_args.end());
    pid_ = spawn(argv, null_in, err, err, opts.env, rlim_t(opts.max_fds));
    ::close(err);
    ::close(null_in);

    // No std::regex: GCC 12 warns inside it under -fsanitize (maybe-uninitialized).
    static const std::string listening = "listening on 127.0.0.1:";
    auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
        std::string text = log();
        if (auto at = text.find(listening); at != std::string::npos) {
            std::size_t digits = at + listening.size(), end = digits;
            while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
            if (end > digits && end < text.size()) { // the whole number has been written
                port_ = std::uint16_t(std::stoi(text.substr(digits, end - digits)));
                return;
            }
        }
        int st;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            reaped_ = true;
            throw std::runtime_error("confabd exited during start-up:\n" + text);
        }
        std::this_thread::sleep_for(10ms);
    }
    throw std::runtime_error("confabd did not report its port within 10 s:\n" + log());
}

Daemon::~Daemon() {
    stop_process(pid_, reaped_, status_);
}

std::string Daemon::log() const {
    std::ifstream in(dir_.path() + "/daemon.log", std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

bool Daemon::log_contains(const std::string& needle, Millis wait) const {
    auto deadline = Clock::now() + wait;
    do {
        if (log().find(needle) != std::string::npos) return true;
        std::this_thread::sleep_for(10ms);
    } while (Clock::now() < deadline);
    return false;
}

double Daemon::cpu_seconds() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
}

void Daemon::signal(int sig) const {
    ::kill(pid_, sig);
}

std::optional<int> Daemon::wait_exit(Millis limit) {
    return wait_for(pid_, limit, reaped_, status_);
}

// ---------------------------------------------------------------- RawClient

RawClient::RawClient(std::uint16_t port, int rcvbuf) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
}

RawClient::~RawClient() {
    if (fd_ >= 0) ::close(fd_);
}

void RawClient::send_bytes(const std::vector<std::uint8_t>& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
        off += std::size_t(n);
    }
}

void RawClient::send(const proto::Message& m) {
    std::vector<std::uint8_t> bytes;
    if (!proto::append_frame(bytes, m)) throw std::runtime_error("message too large to encode");
    send_bytes(bytes);
}

std::optional<RawClient::Received> RawClient::receive(Millis limit) {
    auto deadline = Clock::now() + limit;
    for (;;) {
        // Bytes the decoder had no room for last time go in first.
        backlog_.erase(backlog_.begin(), backlog_.begin() + std::ptrdiff_t(decoder_.feed(backlog_)));
        auto r = decoder_.next();
        if (r.kind == proto::FrameResult::Kind::frame) {
            Received out;
            out.payload.assign(r.payload.begin(), r.payload.end());
            auto d = proto::decode_payload(out.payload);
            if (!d.message) throw std::runtime_error("server sent an undecodable frame");
            out.msg = *d.message;
            return out;
        }
        if (r.kind == proto::FrameResult::Kind::error) throw std::runtime_error("server broke framing");
        if (eof_) return std::nullopt;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return std::nullopt;
        std::uint8_t buf[65536];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) {
            eof_ = true;
            continue;
        }
        backlog_.insert(backlog_.end(), buf, buf + n);
    }
}

bool RawClient::closed_by_server(Millis limit) {
    auto deadline = Clock::now() + limit;
    while (!eof_) {
        if (!receive(Millis(remaining_ms(deadline))) && !eof_) return false;
    }
    return true;
}

proto::LoginResult RawClient::login(const std::string& name, const std::string& password) {
    send(proto::Hello{proto::protocol_version, "harness"});
    if (!expect<proto::Welcome>()) throw std::runtime_error("no Welcome");
    send(proto::Login{next_request(), name, password});
    auto r = expect<proto::LoginResult>(10000ms);
    if (!r) throw std::runtime_error("no LoginResult");
    return *r;
}

// ---------------------------------------------------------------- ClientProcess

ClientProcess::ClientProcess(std::uint16_t port, const std::vector<std::string>& args) {
    int in_pipe[2], out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    static int counter = 0;
    err_path_ = (fs::temp_directory_path() /
                 ("confab-client-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".err"))
                    .string();
    int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::vector<std::string> argv = {confab_path(), "--host", "127.0.0.1", "--port", std::to_string(port)};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = spawn(argv, in_pipe[0], out_pipe[1], err);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err);
    in_ = in_pipe[1];
    out_ = out_pipe[0];
}

ClientProcess::~ClientProcess() {
    if (in_ >= 0) ::close(in_);
    stop_process(pid_, reaped_, status_);
    if (out_ >= 0) ::close(out_);
    ::unlink(err_path_.c_str());
}

void ClientProcess::send_line(const std::string& line) {
    // Writing to a client that has just exited must fail with EPIPE, not kill the test.
    static const bool sigpipe_ignored = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
    (void)sigpipe_ignored;
    std::string data = line + "\n";
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(in_, data.data() + off, data.size() - off);
        if (n <= 0) throw std::runtime_error("client stdin closed");
        off += std::size_t(n);
    }
}

void ClientProcess::close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
}

bool ClientProcess::read_more(Millis limit) {
    if (eof_) return false;
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, int(limit.count())) <= 0) return false;
    char buf[4096];
    ssize_t n = ::read(out_, buf, sizeof buf);
    if (n <= 0) {
        eof_ = true;
        return false;
    }
    partial_.append(buf, std::size_t(n));
    std::size_t nl;
    while ((nl = partial_.find('\n')) != std::string::npos) {
        lines_.push_back(partial_.substr(0, nl));
        partial_.erase(0, nl + 1);
    }
    return true;
}

std::optional<std::string> ClientProcess::wait_line(const std::function<bool(const std::string&)>& pred, Millis limit) {
    auto deadline = Clock::now() + limit;
    for (;;) {
        while (cursor_ < lines_.size()) {
            const std::string& l = lines_[cursor_++];
            if (pred(l)) return l;
        }
        if (Clock::now() >= deadline) return std::nullopt;
        if (!read_more(Millis(remaining_ms(deadline))) && eof_) return std::nullopt;
    }
}

bool ClientProcess::expect_line(const std::string& line, Millis limit) {
    return wait_line([&](const std::string& l) { return l == line; }, limit).has_value();
}

std::vector<std::string> ClientProcess::lines_for(Millis span) {
    auto deadline = Clock::now() + span;
    while (Clock::now() < deadline) read_more(Millis(remaining_ms(deadline)));
    std::vector<std::string> out(lines_.begin() + std::ptrdiff_t(cursor_), lines_.end());
    cursor_ = lines_.size();
    return out;
}

std::string ClientProcess::stderr_text() const {
    std::ifstream in(err_path_, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::optional<int> ClientProcess::wait_exit(Millis limit) {
    // Keep draining stdout so the client never blocks on a full pipe while exiting.
    auto deadline = Clock::now() + limit;
    for (;;) {
        if (auto st = wait_for(pid_, 0ms, reaped_, status_)) {
            // Gone: collect what it wrote before it ended, so lines() is complete.
            auto drain = Clock::now() + 1000ms;
            while (!eof_ && Clock::now() < drain) read_more(Millis(remaining_ms(drain)));
            return st;
        }
        if (Clock::now() >= deadline) return std::nullopt;
        if (!read_more(10ms)) std::this_thread::sleep_for(5ms);
    }
}

std::unique_ptr<ClientProcess> ClientProcess::logged_in(std::uint16_t port, const std::string& name,
                                                        const std::string& password) {
    auto c = std::make_unique<ClientProcess>(port);
    c->send_line(name);
    c->send_line(password);
    if (!c->expect_line("welcome, " + name, 10000ms))
        throw std::runtime_error("client " + name + " did not log in; stderr: " + c->stderr_text());
    return c;
}

} // namespace confab::test
