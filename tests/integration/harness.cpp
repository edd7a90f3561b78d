#include "harness.hpp"
#include "redis_server.hpp"

#include "proto/parse_number.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
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
        ::signal(SIGPIPE, SIG_DFL);     // the harness ignores it (see ClientProcess::send_line)
        ::execvp(args[0], args.data()); // a bare name (openssl) is looked up in PATH
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

ProcessResult run_in(const std::vector<std::string>& argv, const TempDir& dir) {
    std::string out_path = dir.path() + "/command.out";
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = spawn(argv, null_in, out, out);
    ::close(out);
    ::close(null_in);
    bool reaped = false;
    int status = 0;
    auto st = wait_for(pid, 10000ms, reaped, status);
    if (!st) {
        ::kill(pid, SIGKILL);
        wait_for(pid, 3000ms, reaped, status);
    }
    std::ifstream in(out_path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ::unlink(out_path.c_str());
    return {st.value_or(-1), text};
}

// Runs a command to completion; throws with its output when it fails.
void run_command(const std::vector<std::string>& argv, const TempDir& dir) {
    ProcessResult r = run_in(argv, dir);
    if (r.status != 0) throw std::runtime_error("command failed: " + argv[0] + " " + argv[1] + ":\n" + r.output);
}

std::string openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "no OpenSSL error queued" : out;
}

std::string hex_sha256(X509* cert) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!cert || X509_digest(cert, EVP_sha256(), md, &len) != 1) return "";
    static const char digits[] = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < len; ++i) {
        hex += digits[md[i] >> 4];
        hex += digits[md[i] & 15];
    }
    return hex;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// One client context for every TLS RawClient: no verification (tests compare fingerprints).
SSL_CTX* client_ctx() {
    static SSL_CTX* ctx = [] {
        SSL_CTX* c = SSL_CTX_new(TLS_client_method());
        if (!c) throw std::runtime_error("SSL_CTX_new: " + openssl_errors());
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
        return c;
    }();
    return ctx;
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

ProcessResult run_confabd(const std::vector<std::string>& args) {
    TempDir dir;
    std::vector<std::string> argv = {confabd_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_in(argv, dir);
}

// ---------------------------------------------------------------- certificates

TestCert make_test_cert(const TempDir& dir, const std::string& name, const std::string& common_name,
                        const TestCert* issuer) {
    TestCert c{dir.path() + "/" + name + ".pem", dir.path() + "/" + name + ".key", ""};
    const std::string ext = "subjectAltName=DNS:" + common_name + ",IP:127.0.0.1";
    const std::vector<std::string> new_key = {"-newkey", "ec",       "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                              "-keyout", c.key_path, "-subj",    "/CN=" + common_name};
    std::vector<std::string> argv = {"openssl", "req"};
    if (!issuer) {
        argv.insert(argv.end(), {"-x509", "-days", "2", "-addext", ext, "-out", c.cert_path});
        argv.insert(argv.end(), new_key.begin(), new_key.end());
        run_command(argv, dir);
    } else {
        const std::string csr = dir.path() + "/" + name + ".csr", ext_file = dir.file(name + ".ext", ext + "\n");
        argv.insert(argv.end(), {"-new", "-out", csr});
        argv.insert(argv.end(), new_key.begin(), new_key.end());
        run_command(argv, dir);
        const std::string leaf = dir.path() + "/" + name + ".leaf.pem";
        run_command({"openssl", "x509", "-req", "-in", csr, "-CA", issuer->cert_path, "-CAkey", issuer->key_path,
                     "-CAcreateserial", "-days", "2", "-extfile", ext_file, "-out", leaf},
                    dir);
        // The chain file a server presents: the certificate, then its issuer.
        std::ofstream(c.cert_path, std::ios::binary | std::ios::trunc)
            << read_text(leaf) << read_text(issuer->cert_path);
    }
    c.fingerprint = pem_fingerprint(c.cert_path);
    return c;
}

TestCert make_test_ca(const TempDir& dir, const std::string& name, const std::string& common_name) {
    TestCert c{dir.path() + "/" + name + ".pem", dir.path() + "/" + name + ".key", ""};
    run_command({"openssl",
                 "req",
                 "-x509",
                 "-days",
                 "2",
                 "-newkey",
                 "ec",
                 "-pkeyopt",
                 "ec_paramgen_curve:P-256",
                 "-nodes",
                 "-keyout",
                 c.key_path,
                 "-subj",
                 "/CN=" + common_name,
                 "-addext",
                 "basicConstraints=critical,CA:TRUE",
                 "-addext",
                 "keyUsage=critical,keyCertSign,cRLSign",
                 "-out",
                 c.cert_path},
                dir);
    c.fingerprint = pem_fingerprint(c.cert_path);
    return c;
}

std::string pem_fingerprint(const std::string& cert_path) {
    FILE* f = std::fopen(cert_path.c_str(), "rb");
    if (!f) throw std::runtime_error("cannot open " + cert_path);
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (!cert) throw std::runtime_error("no certificate in " + cert_path + ": " + openssl_errors());
    std::string hex = hex_sha256(cert);
    X509_free(cert);
    return hex;
}

std::string tls_config(const TestCert& cert) {
    return "tls_cert = \"" + cert.cert_path + "\"\ntls_key = \"" + cert.key_path + "\"\n";
}

// ---------------------------------------------------------------- Daemon

namespace {
// "listening on 127.0.0.1:PORT" once the whole number is in `text`; 0 before.
// (No std::regex: GCC 12 warns inside it under -fsanitize (maybe-uninitialized).)
std::uint16_t listening_port(const std::string& text) {
    static const std::string listening = "listening on 127.0.0.1:";
    auto at = text.find(listening);
    if (at == std::string::npos) return 0;
    std::size_t digits = at + listening.size(), end = digits;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (end == digits || end == text.size()) return 0; // not all of it written yet
    return parse_number<std::uint16_t>(std::string_view(text).substr(digits, end - digits)).value_or(0);
}

// The nodes' Redis ACL user exactly as docs/CLUSTER.md prescribes it (its `ACL SETUSER confabd`
// line, at $CONFAB_CLUSTER_DOC), with `password`: the cluster runs with no more rights than
// a deployment gives it, so a command the docs' list lacks fails a test.
std::vector<std::string> documented_acl_user(const std::string& password) {
    static const std::string setuser = "ACL SETUSER ";
    const std::string doc = env_or("CONFAB_CLUSTER_DOC", "");
    std::istringstream lines(doc.empty() ? std::string() : read_text(doc));
    for (std::string line; std::getline(lines, line);) {
        auto at = line.find(setuser + "confabd ");
        if (at == std::string::npos) continue;
        std::vector<std::string> words;
        std::istringstream in(line.substr(at + setuser.size()));
        for (std::string w; in >> w;) words.push_back(w.starts_with('>') ? ">" + password : w);
        return words;
    }
    throw std::runtime_error("no `ACL SETUSER confabd` line in $CONFAB_CLUSTER_DOC (" + doc + ")");
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
    return n;
}
} // namespace

std::size_t default_nodes() {
    std::string v = env_or("CONFAB_TEST_NODES", "1");
    return std::max<std::size_t>(1, parse_number<std::size_t>(v).value_or(1));
}

bool single_node_only(const char* why) {
    if (default_nodes() == 1) return false;
    std::fprintf(stderr, "skipped on a cluster: %s\n", why);
    return true;
}

Daemon::Daemon(DaemonOptions opts) {
    const std::string users = dir_.file("users", opts.users);
    const std::string state = opts.state_dir.empty() ? dir_.path() + "/state" : opts.state_dir;
    const bool cluster = opts.nodes > 1;
    std::ostringstream common;
    common << "listen = \"127.0.0.1\"\nport = 0\n"
           << "users_file = \"" << users << "\"\n"
           << "block_duration = " << opts.block_duration << "\n"
           << "timeout = " << opts.timeout << "\n"
           << "login_timeout = " << opts.login_timeout << "\n"
           << "hash_workers = 2\n"
           << opts.extra_config << "\n";
    if (!cluster) {
        nodes_.resize(1);
        nodes_[0].log_path = dir_.path() + "/daemon.log";
        spawn_node(nodes_[0], opts, dir_.file("confabd.toml", "state_dir = \"" + state + "\"\n" + common.str()));
        await_port(nodes_[0]);
        return;
    }
    // The cluster's shared state lives in Redis; its append-only file under state_dir.
    fs::create_directories(state + "/redis");
    RedisServerOptions redis;
    redis.aof = true;
    redis.data_dir = state + "/redis";
    static const std::string acl_password = "confab-test-acl";
    redis.acl_user = documented_acl_user(acl_password);
    redis_ = std::make_unique<RedisServer>(redis);
    if (!opts.redis_up_first) redis_->stop(); // its port and data stay, for start()
    nodes_.resize(opts.nodes);
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        Node& n = nodes_[i];
        n.name = "node-" + std::to_string(i);
        n.log_path = dir_.path() + "/" + n.name + ".log";
        // Each node's own directory for what is not shared; the same settings otherwise.
        std::string config = "state_dir = \"" + state + "/" + n.name + "\"\n" + common.str() +
                             "\n[cluster]\nengine = \"redis\"\nredis = \"127.0.0.1:" + std::to_string(redis_->port()) +
                             "\"\nnode_id = \"" + n.name + "\"\nredis_user = \"" + redis.acl_user.front() +
                             "\"\nredis_password = \"" + acl_password + "\"\n";
        spawn_node(n, opts, dir_.file(n.name + ".toml", config));
    }
    if (opts.redis_up_first) await_serving();
}

void Daemon::await_serving() {
    for (Node& n : nodes_) await_port(n);
    if (redis_) await_cluster_up();
}

void Daemon::await_cluster_up() {
    // A node answers logins once it has connected to Redis and read the other nodes' users.
    static const std::string available = "cluster: available";
    auto deadline = Clock::now() + 10s;
    for (Node& n : nodes_) {
        while (read_text(n.log_path).find(available) == std::string::npos) {
            if (wait_for(n.pid, 0ms, n.reaped, n.status) || Clock::now() >= deadline) {
                stop_nodes();
                throw std::runtime_error(n.label() + " did not connect to Redis within 10 s:\n" +
                                         read_text(n.log_path));
            }
            std::this_thread::sleep_for(10ms);
        }
    }
}

void Daemon::spawn_node(Node& node, const DaemonOptions& opts, const std::string& config) {
    int err = ::open(node.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    std::vector<std::string> argv = {confabd_path(), "--config", config, "--log-level", "debug"};
    argv.insert(argv.end(), opts.extra_args.begin(), opts.extra_args.end());
    node.pid = spawn(argv, null_in, err, err, opts.env, rlim_t(opts.max_fds));
    ::close(err);
    ::close(null_in);
}

void Daemon::await_port(Node& node) {
    auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
        std::string text = read_text(node.log_path);
        if ((node.port = listening_port(text)) != 0) return;
        if (wait_for(node.pid, 0ms, node.reaped, node.status)) {
            stop_nodes();
            throw std::runtime_error(node.label() + " exited during start-up:\n" + text);
        }
        std::this_thread::sleep_for(10ms);
    }
    stop_nodes();
    throw std::runtime_error(node.label() + " did not report its port within 10 s:\n" + read_text(node.log_path));
}

void Daemon::stop_nodes() {
    // All at once: a cluster's nodes shut down in parallel.
    for (Node& n : nodes_)
        if (n.pid > 0 && !n.reaped) ::kill(n.pid, SIGTERM);
    for (Node& n : nodes_) stop_process(n.pid, n.reaped, n.status);
}

Daemon::~Daemon() {
    stop_nodes();
    // CONFAB_TEST_DUMP_LOGS=1: every node's log on stderr, to see why a test failed.
    if (env_or("CONFAB_TEST_DUMP_LOGS", "") == "1")
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            std::fprintf(stderr, "----- %s log\n%s", nodes_[i].label().c_str(), node_log(i).c_str());
    // redis_ (stopped by its destructor) outlives the nodes that use it.
}

std::uint16_t Daemon::port() const {
    return nodes_[next_node_++ % nodes_.size()].port;
}

RedisServer& Daemon::redis() const {
    if (!redis_) throw std::logic_error("a single daemon has no Redis");
    return *redis_;
}

std::string Daemon::node_log(std::size_t node) const {
    return read_text(nodes_.at(node).log_path);
}

std::string Daemon::log() const {
    std::string all;
    for (std::size_t i = 0; i < nodes_.size(); ++i) all += node_log(i);
    return all;
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
    double total = 0;
    for (const Node& n : nodes_) {
        std::ifstream in("/proc/" + std::to_string(n.pid) + "/stat");
        std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        std::string_view rest(stat);
        rest.remove_prefix(std::min(rest.size(), stat.rfind(')') + 2));
        unsigned long long utime = 0, stime = 0;
        for (int i = 3; i <= 15 && !rest.empty(); ++i) {
            std::string_view field = rest.substr(0, rest.find(' '));
            rest.remove_prefix(std::min(rest.size(), field.size() + 1));
            if (i == 14) utime = parse_number<unsigned long long>(field).value_or(0);
            if (i == 15) stime = parse_number<unsigned long long>(field).value_or(0);
        }
        total += double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
    }
    return total;
}

void Daemon::signal(int sig) const {
    static const std::string reload_outcome = "reload"; // in "configuration reloaded" and "reload failed"
    std::vector<std::size_t> before;
    for (std::size_t i = 0; i < nodes_.size(); ++i) before.push_back(count_of(node_log(i), reload_outcome));
    for (std::size_t i = 0; i < nodes_.size(); ++i) signal_node(i, sig);
    if (sig != SIGHUP || nodes_.size() == 1) return;
    auto deadline = Clock::now() + 5s;
    for (std::size_t i = 0; i < nodes_.size(); ++i)
        while (count_of(node_log(i), reload_outcome) == before[i] && Clock::now() < deadline)
            std::this_thread::sleep_for(10ms);
}

void Daemon::signal_node(std::size_t node, int sig) const {
    ::kill(nodes_.at(node).pid, sig);
}

std::optional<int> Daemon::wait_node_exit(std::size_t node, Millis limit) {
    Node& n = nodes_.at(node);
    return wait_for(n.pid, limit, n.reaped, n.status);
}

std::optional<int> Daemon::wait_exit(Millis limit) {
    auto deadline = Clock::now() + limit;
    int worst = 0;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        auto st = wait_node_exit(i, Millis(remaining_ms(deadline)));
        if (!st) return std::nullopt;
        if (worst == 0) worst = *st;
    }
    return worst;
}

// ---------------------------------------------------------------- RawClient

RawClient::RawClient(std::uint16_t port, int rcvbuf, const char* source) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (source) {
        sockaddr_in from{};
        from.sin_family = AF_INET;
        inet_pton(AF_INET, source, &from.sin_addr);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0)
            throw std::runtime_error(std::string("bind ") + source + ": " + std::strerror(errno));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
}

RawClient::RawClient(std::uint16_t port, const TlsClientOptions& tls) : RawClient(port) {
    ssl_ = SSL_new(client_ctx());
    if (!ssl_) throw std::runtime_error("SSL_new: " + openssl_errors());
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK); // every wait below is a bounded poll
    SSL_set_fd(ssl_, fd_);
    if (!tls.server_name.empty()) SSL_set_tlsext_host_name(ssl_, tls.server_name.c_str());
    if (tls.max_version) SSL_set_max_proto_version(ssl_, tls.max_version);
    if (tls.resume) SSL_set_session(ssl_, tls.resume.get());
    auto deadline = Clock::now() + 5000ms;
    for (;;) {
        int r = SSL_connect(ssl_);
        if (r == 1) return;
        tls_wait(r, remaining_ms(deadline), "TLS handshake");
    }
}

RawClient::~RawClient() {
    if (ssl_) {
        // close_notify, or OpenSSL marks the session not resumable when it is freed.
        if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
        ERR_clear_error();
        SSL_free(ssl_);
    }
    if (fd_ >= 0) ::close(fd_);
}

// After an SSL call returned `ssl_result` <= 0: waits for the socket as OpenSSL asks, or throws.
void RawClient::tls_wait(int ssl_result, int timeout_ms, const char* what) {
    int err = SSL_get_error(ssl_, ssl_result);
    short events = err == SSL_ERROR_WANT_READ ? POLLIN : err == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) throw std::runtime_error(std::string(what) + " failed: " + openssl_errors());
    pollfd p{fd_, events, 0};
    if (timeout_ms <= 0 || ::poll(&p, 1, timeout_ms) <= 0) throw std::runtime_error(std::string(what) + " timed out");
}

std::string RawClient::peer_fingerprint() const {
    return ssl_ ? hex_sha256(SSL_get0_peer_certificate(ssl_)) : "";
}

int RawClient::peer_chain_length() const {
    STACK_OF(X509)* chain = ssl_ ? SSL_get_peer_cert_chain(ssl_) : nullptr;
    return chain ? sk_X509_num(chain) : 0;
}

std::shared_ptr<SSL_SESSION> RawClient::session() const {
    return ssl_ ? std::shared_ptr<SSL_SESSION>(SSL_get1_session(ssl_), SSL_SESSION_free) : nullptr;
}

bool RawClient::session_reused() const {
    return ssl_ && SSL_session_reused(ssl_) == 1;
}

std::string RawClient::tls_version() const {
    return ssl_ ? SSL_get_version(ssl_) : "";
}

void RawClient::send_bytes(const std::vector<std::uint8_t>& bytes, std::size_t record_size) {
    if (ssl_) {
        auto deadline = Clock::now() + 5000ms;
        std::size_t off = 0;
        while (off < bytes.size()) {
            std::size_t n = record_size ? std::min(record_size, bytes.size() - off) : bytes.size() - off;
            int r = SSL_write(ssl_, bytes.data() + off, int(n)); // one SSL_write of <= 16 KiB: one record
            if (r > 0)
                off += std::size_t(r);
            else
                tls_wait(r, remaining_ms(deadline), "SSL_write");
        }
        return;
    }
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
        if (!read_some(remaining_ms(deadline))) return std::nullopt;
    }
}

bool RawClient::read_some(int timeout_ms) {
    std::uint8_t buf[65536];
    if (!ssl_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return false;
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0)
            eof_ = true;
        else
            backlog_.insert(backlog_.end(), buf, buf + n);
        return true;
    }
    auto deadline = Clock::now() + Millis(timeout_ms);
    for (;;) {
        int r = SSL_read(ssl_, buf, sizeof buf);
        if (r > 0) {
            backlog_.insert(backlog_.end(), buf, buf + r);
            return true;
        }
        int err = SSL_get_error(ssl_, r);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) { // close_notify, EOF or a TLS error
            ERR_clear_error();
            eof_ = true;
            return true;
        }
        pollfd p{fd_, short(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
        if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return false;
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

ClientProcess::ClientProcess(std::uint16_t port, const std::vector<std::string>& args,
                             const std::vector<std::string>& env) {
    int in_pipe[2], out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    static int counter = 0;
    err_path_ = (fs::temp_directory_path() /
                 ("confab-client-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".err"))
                    .string();
    int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::vector<std::string> argv = {confab_path(), "--host", "127.0.0.1", "--port", std::to_string(port)};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = spawn(argv, in_pipe[0], out_pipe[1], err, env);
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
                                                        const std::string& password,
                                                        const std::vector<std::string>& args) {
    auto c = std::make_unique<ClientProcess>(port, args);
    c->send_line(name);
    c->send_line(password);
    if (!c->expect_line("welcome, " + name, 10000ms))
        throw std::runtime_error("client " + name + " did not log in; stderr: " + c->stderr_text());
    return c;
}

} // namespace confab::test
