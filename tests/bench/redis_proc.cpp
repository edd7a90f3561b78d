#include "redis_proc.hpp"

#include "daemon_proc.hpp"
#include "proto/parse_number.hpp"

#include <hiredis/hiredis.h>

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace confab::bench {
using namespace std::chrono_literals;

namespace {

struct ContextFree {
    void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};

} // namespace

RedisServer::RedisServer(const std::string& binary, const std::string& dir, const std::string& aof) : dir_(dir) {
    if (aof != "always" && aof != "everysec" && aof != "no")
        throw std::runtime_error("--redis-aof wants always, everysec or no (got '" + aof + "')");
    const std::string log_path = dir_ + "/redis.log";
    // The port is picked free, then bound by redis-server: another process may take
    // it in between, so a start that fails is tried again on another port.
    for (int attempt = 0; attempt < 3; ++attempt) {
        port_ = pick_free_port();
        const std::string port = std::to_string(port_);
        std::vector<std::string> args = {binary,      "--bind",       "127.0.0.1",
                                         "--port",    port,           "--dir",
                                         dir_,        "--save",       "",
                                         "--logfile", log_path,       "--daemonize",
                                         "no",        "--appendonly", aof == "no" ? "no" : "yes"};
        if (aof != "no") { args.insert(args.end(), {"--appendfsync", aof}); }
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        child_.started(pid);
        if (pid == 0) {
            int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            ::execvp(argv[0], argv.data());
            fmt::print(stderr, "cannot run {}: {}\n", binary, std::strerror(errno));
            ::_exit(127);
        }
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline && alive()) {
            if (query("PING") == "PONG") return;
            std::this_thread::sleep_for(20ms);
        }
        if (alive()) break; // running but not answering: another try would not help
    }
    const std::string why = alive() ? "did not answer PING within 10 s" : "exited";
    const std::string tail = log_tail();
    stop(2);
    throw std::runtime_error(fmt::format("{} {}; its log:\n{}", binary, why, tail));
}

RedisServer::~RedisServer() {
    stop(10);
}

std::string RedisServer::address() const {
    return fmt::format("127.0.0.1:{}", port_);
}

std::string RedisServer::log_tail(std::size_t max_bytes) const {
    std::string log = read_text_file(dir_ + "/redis.log");
    if (log.size() > max_bytes) log = "..." + log.substr(log.size() - max_bytes);
    return log;
}

std::string RedisServer::query(const char* command) const {
    const timeval timeout{2, 0};
    std::unique_ptr<redisContext, ContextFree> c(redisConnectWithTimeout("127.0.0.1", port_, timeout));
    if (!c || c->err) return {};
    redisSetTimeout(c.get(), timeout);
    std::unique_ptr<redisReply, ReplyFree> r(static_cast<redisReply*>(redisCommand(c.get(), command)));
    if (!r) return {};
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) return std::string(r->str, r->len);
    return {};
}

std::uint64_t RedisServer::used_memory() const {
    const std::string info = query("INFO memory");
    constexpr std::string_view key = "used_memory:";
    const auto at = info.find(key);
    if (at == std::string::npos) return 0;
    const auto begin = at + key.size();
    const auto end = info.find_first_not_of("0123456789", begin);
    return confab::parse_number<std::uint64_t>(std::string_view(info).substr(begin, end - begin)).value_or(0);
}

} // namespace confab::bench
