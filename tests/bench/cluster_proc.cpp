#include "cluster_proc.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace confab::bench {
namespace fs = std::filesystem;

Cluster::Cluster(const Options& opts, const DaemonSetup& setup) : keep_dir_(opts.keep_dir) {
    dir_ = make_temp_dir();
    try {
        fs::create_directory(dir_ + "/redis");
        redis_ = std::make_unique<RedisServer>(opts.redis_server, dir_ + "/redis", opts.redis_aof);
        DaemonSetup node_setup = setup;
        node_setup.users_file = dir_ + "/users";
        write_text_file(node_setup.users_file, users_file_text(setup.plain_users, setup.hashed_users));
        node_setup.redis = redis_->address();
        for (int i = 0; i < opts.nodes; ++i) {
            node_setup.node_id = fmt::format("node{}", i);
            try {
                nodes_.push_back(std::make_unique<Daemon>(opts, node_setup));
            } catch (const std::exception& e) {
                const std::string why = e.what();
                const bool no_engine = why.find("'cluster'") != std::string::npos;
                throw std::runtime_error(fmt::format(
                    "cluster node {} did not start{}: {}", node_setup.node_id,
                    no_engine ? " (this confabd has no [cluster] engine; --nodes needs one built with it)" : "", why));
            }
        }
        await_available(opts);
    } catch (...) {
        stop(2);
        if (!keep_dir_) {
            std::error_code ec;
            fs::remove_all(dir_, ec);
        }
        throw;
    }
}

void Cluster::await_available(const Options& opts) {
    using namespace std::chrono_literals;
    // A node listens before its engine has read the cluster's state from Redis, and
    // refuses logins as unavailable until then: wait for its "available" log line.
    const bool logged = opts.daemon_log_level == "info" || opts.daemon_log_level == "debug";
    if (!logged) return std::this_thread::sleep_for(2s);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        while (nodes_[i]->log_tail(SIZE_MAX).find("cluster: available") == std::string::npos) {
            if (!nodes_[i]->alive() || std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error(fmt::format(
                    "cluster node node{} did not reach Redis within 30 s; its log:\n{}", i, nodes_[i]->log_tail()));
            std::this_thread::sleep_for(10ms);
        }
    }
}

Cluster::~Cluster() {
    stop(10);
    nodes_.clear();
    redis_.reset();
    if (keep_dir_) {
        fmt::print(stderr, "confab-bench: kept {}\n", dir_);
    } else {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

std::vector<int> Cluster::pids() const {
    std::vector<int> out;
    for (const auto& n : nodes_) out.push_back(n->pid());
    if (redis_) out.push_back(redis_->pid());
    return out;
}

bool Cluster::alive() {
    for (auto& n : nodes_)
        if (!n->alive()) return false;
    return redis_ && redis_->alive();
}

std::string Cluster::log_tails() const {
    std::string out;
    for (std::size_t i = 0; i < nodes_.size(); ++i)
        out += fmt::format("--- node{} ---\n{}\n", i, nodes_[i]->log_tail(1000));
    if (redis_) out += fmt::format("--- redis-server ---\n{}\n", redis_->log_tail(1000));
    return out;
}

int Cluster::stop(double wait_s) {
    int first_bad = 0;
    for (auto& n : nodes_) {
        const int status = n->stop(wait_s);
        if (status != 0 && first_bad == 0) first_bad = status;
    }
    if (redis_) {
        const int status = redis_->stop(wait_s);
        if (status != 0 && first_bad == 0) first_bad = status;
    }
    return first_bad;
}

} // namespace confab::bench
