#include "cluster_proc.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <stdexcept>

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
    } catch (...) {
        stop(2);
        if (!keep_dir_) {
            std::error_code ec;
            fs::remove_all(dir_, ec);
        }
        throw;
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
