#include "redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace confab::test {

namespace {
using Clock = std::chrono::steady_clock;

std::string redis_server_path() {
    const char* v = std::getenv("REDIS_SERVER");
    return v && *v ? v : "redis-server";
}

// A port nobody listens on right now (the kernel's choice for port 0).
std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("bind to an ephemeral port failed");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

// Waits for `pid` to end; true when it did within `limit`.
bool reap(pid_t pid, std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    for (;;) {
        int st = 0;
        if (::waitpid(pid, &st, WNOHANG) == pid) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

struct Context {
    redisContext* c;
    ~Context() {
        if (c) redisFree(c);
    }
};
struct Reply {
    redisReply* r;
    ~Reply() {
        if (r) freeReplyObject(r);
    }
};

redisReply* run(redisContext* c, const std::vector<std::string>& args) {
    std::vector<const char*> v;
    std::vector<std::size_t> n;
    for (const auto& a : args) {
        v.push_back(a.data());
        n.push_back(a.size());
    }
    return static_cast<redisReply*>(redisCommandArgv(c, int(v.size()), v.data(), n.data()));
}
} // namespace

std::string reply_text(const redisReply* r) {
    if (!r) return "(no reply)";
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR: return std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "(nil)";
    case REDIS_REPLY_ARRAY: {
        std::string out;
        for (std::size_t i = 0; i < r->elements; ++i) {
            if (i) out += '\n';
            out += reply_text(r->element[i]);
        }
        return out;
    }
    default: return "(unknown reply type)";
    }
}

RedisServer::RedisServer(RedisServerOptions opts) : opts_(std::move(opts)) {
    for (int attempt = 0; attempt < 5; ++attempt) { // another process may take the port meanwhile
        port_ = free_port();
        if (launch()) return;
    }
    throw std::runtime_error("redis-server did not start on 5 ports:\n" + log());
}

RedisServer::~RedisServer() {
    if (pid_ > 0) kill();
}

bool RedisServer::launch() {
    std::vector<std::string> argv = {redis_server_path(),
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--unixsocket",
                                     unix_path(),
                                     "--unixsocketperm",
                                     "700",
                                     "--dir",
                                     opts_.data_dir.empty() ? dir_.path() : opts_.data_dir,
                                     "--logfile",
                                     dir_.path() + "/redis.log",
                                     "--daemonize",
                                     "no",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     opts_.aof ? "yes" : "no",
                                     "--appendfsync",
                                     "always"};
    if (!opts_.password.empty() && opts_.user.empty()) {
        argv.insert(argv.end(), {"--requirepass", opts_.password});
    } else if (!opts_.password.empty()) {
        argv.insert(argv.end(), {"--user", opts_.user, "on", ">" + opts_.password, "~*", "&*", "+@all", "--user",
                                 "default", "off"});
    }
    if (!opts_.acl_user.empty()) {
        // Redis takes a command-line `--user name rule...` as the `user` line of its config.
        argv.push_back("--user");
        argv.insert(argv.end(), opts_.acl_user.begin(), opts_.acl_user.end());
    }
    argv.insert(argv.end(), opts_.extra_args.begin(), opts_.extra_args.end());
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        int null_fd = ::open("/dev/null", O_RDWR);
        ::dup2(null_fd, 0);
        ::dup2(null_fd, 1);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        try {
            // Ours, not another server that took the port while ours failed to bind it.
            if (cli({"PING"}) == "PONG")
                return cli({"INFO", "server"}).find("process_id:" + std::to_string(pid_) + "\r") != std::string::npos;
        } catch (const std::exception&) {}
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill();
    throw std::runtime_error("redis-server did not answer PING within 10 s:\n" + log());
}

void RedisServer::start() {
    if (pid_ > 0) return;
    if (!launch())
        throw std::runtime_error("redis-server did not start again on port " + std::to_string(port_) + ":\n" + log());
}

void RedisServer::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT); // a paused one would not act on SIGTERM
    ::kill(pid_, SIGTERM);
    if (!reap(pid_, std::chrono::seconds(10))) {
        ::kill(pid_, SIGKILL);
        reap(pid_, std::chrono::seconds(5));
    }
    pid_ = -1;
}

void RedisServer::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    reap(pid_, std::chrono::seconds(5));
    pid_ = -1;
}

void RedisServer::pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisServer::resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
}

std::string RedisServer::cli(const std::vector<std::string>& args) const {
    Context ctx{redisConnectWithTimeout("127.0.0.1", port_, timeval{2, 0})};
    if (!ctx.c || ctx.c->err)
        throw std::runtime_error(std::string("cannot reach redis-server: ") + (ctx.c ? ctx.c->errstr : "no memory"));
    redisSetTimeout(ctx.c, timeval{2, 0});
    if (!opts_.password.empty()) {
        std::vector<std::string> auth = {"AUTH"};
        if (!opts_.user.empty()) auth.push_back(opts_.user);
        auth.push_back(opts_.password);
        Reply r{run(ctx.c, auth)};
        if (!r.r || r.r->type == REDIS_REPLY_ERROR) throw std::runtime_error("AUTH failed: " + reply_text(r.r));
    }
    Reply r{run(ctx.c, args)};
    if (!r.r) throw std::runtime_error(std::string("redis-server did not answer: ") + ctx.c->errstr);
    return reply_text(r.r);
}

std::string RedisServer::log() const {
    std::ifstream in(dir_.path() + "/redis.log", std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

} // namespace confab::test
