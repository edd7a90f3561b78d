#include "config.hpp"

#include "log.hpp"
#include "net/listener.hpp"
#include "net/tls_context.hpp"
#include "proto/io/read_file.hpp"
#include "proto/parse_number.hpp"
#include "proto/wire.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <toml.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace confab {
namespace {

using Member = std::variant<std::int64_t Config::*, std::string Config::*, bool Config::*>;

struct KeySpec {
    ConfigKey key;
    Member member;
    std::int64_t min = 0, max = 0; // integers only
};

constexpr std::int64_t i64max = std::numeric_limits<std::int64_t>::max();

const std::vector<KeySpec>& specs() {
    static const std::vector<KeySpec> table = {
        {{"listen", "IPv4 or IPv6 address to listen on", false}, &Config::listen},
        {{"port", "TCP port (0 = any free port)", false}, &Config::port, 0, 65535},
        {{"users_file", "credentials file; empty = embedded demo users", true}, &Config::users_file},
        {{"state_dir", "directory for persistent state", false}, &Config::state_dir},
        {{"block_duration", "seconds a name stays locked after 3 wrong passwords", true},
         &Config::block_duration,
         1,
         86400 * 365},
        {{"timeout", "seconds without a command before a user is logged out", true}, &Config::timeout, 1, 86400 * 365},
        {{"login_timeout", "seconds a new connection has to log in", true}, &Config::login_timeout, 1, 3600},
        {{"max_connections", "simultaneous client connections", true}, &Config::max_connections, 1, 10'000'000},
        {{"max_output_bytes", "unsent bytes per client before it is dropped", true},
         &Config::max_output_bytes,
         65536 + 4,
         i64max},
        {{"max_offline_messages", "stored messages per offline recipient", true},
         &Config::max_offline_messages,
         0,
         1'000'000},
        {{"hash_workers", "threads verifying password hashes", false}, &Config::hash_workers, 1, 256},
        {{"presence", "announce logins and logouts", true}, &Config::presence},
        {{"max_unauthenticated", "connections not yet logged in, from all addresses (0 = no limit)", true},
         &Config::max_unauthenticated,
         0,
         10'000'000},
        {{"max_unauthenticated_per_address", "connections not yet logged in from one address (0 = no limit)", true},
         &Config::max_unauthenticated_per_address,
         0,
         10'000'000},
        {{"address_connect_rate", "new connections per second from one address (0 = no limit)", true},
         &Config::address_connect_rate,
         0,
         1'000'000},
        {{"address_failed_logins", "wrong passwords one address may send per window (0 = no limit)", true},
         &Config::address_failed_logins,
         0,
         1'000'000},
        {{"address_failure_window", "seconds over which address_failed_logins is counted", true},
         &Config::address_failure_window,
         1,
         86400},
        {{"user_message_rate", "deliveries per second one user may cause (0 = no limit)", true},
         &Config::user_message_rate,
         0,
         10'000'000},
        {{"user_byte_rate", "message bytes per second one user may have delivered (0 = no limit)", true},
         &Config::user_byte_rate,
         0,
         i64max},
        {{"log_level", "error, warning, info or debug", true}, &Config::log_level},
        {{"tls_cert", "PEM certificate chain; with tls_key the listener speaks TLS", true}, &Config::tls_cert},
        {{"tls_key", "PEM private key of tls_cert", true}, &Config::tls_key},
        {{"tls_min_version", "oldest TLS version accepted: 1.2 or 1.3", true}, &Config::tls_min_version},
        {{"allow_plaintext", "listen without TLS on an address other than loopback", false}, &Config::allow_plaintext},
        {{"control_socket", "UNIX socket for confabctl; empty = <state_dir>/control.sock", false},
         &Config::control_socket},
        {{"metrics_listen", "ADDRESS:PORT serving GET /metrics; empty = off", false}, &Config::metrics_listen},
        {{"motd_file", "message of the day shown to each user at login (UTF-8, at most 4096 bytes); empty = none",
          true},
         &Config::motd_file},
        {{"cluster.engine", "\"local\" (one daemon, SQLite) or \"redis\" (a node of a cluster sharing Redis)", false},
         &Config::cluster_engine},
        {{"cluster.redis", "Redis as HOST:PORT or a unix socket path", false}, &Config::cluster_redis},
        {{"cluster.redis_user", "Redis ACL user; empty = the default user", false}, &Config::cluster_redis_user},
        {{"cluster.redis_password", "Redis password; empty = no AUTH", false}, &Config::cluster_redis_password},
        {{"cluster.node_id", "this node's id in the cluster; empty = host name:port", false}, &Config::cluster_node_id},
    };
    return table;
}

const KeySpec* find_spec(std::string_view name) {
    for (const auto& s : specs())
        if (name == s.key.name) return &s;
    return nullptr;
}

void check_range(const KeySpec& s, std::int64_t v, const std::string& where) {
    if (v < s.min || v > s.max)
        throw ConfigError(
            fmt::format("{}: '{}' must be between {} and {} (got {})", where, s.key.name, s.min, s.max, v));
}

std::string where_of(const toml::value& v, const std::string& origin) {
    const auto loc = v.location();
    if (loc.line() == 0) return origin;
    return fmt::format("{}:{}", origin, loc.line());
}

// Sets the member of `c` that key `name` names from its TOML value.
void apply_key(Config& c, const std::string& name, const toml::value& value, const std::string& origin) {
    const std::string where = where_of(value, origin);
    const KeySpec* s = find_spec(name);
    if (!s) throw ConfigError(fmt::format("{}: unknown key '{}'", where, name));
    std::visit(
        [&](auto member) {
            using T = std::remove_reference_t<decltype(c.*member)>;
            if constexpr (std::is_same_v<T, std::int64_t>) {
                if (!value.is_integer()) throw ConfigError(fmt::format("{}: '{}' must be an integer", where, name));
                check_range(*s, value.as_integer(), where);
                c.*member = value.as_integer();
            } else if constexpr (std::is_same_v<T, bool>) {
                if (!value.is_boolean()) throw ConfigError(fmt::format("{}: '{}' must be true or false", where, name));
                c.*member = value.as_boolean();
            } else {
                if (!value.is_string()) throw ConfigError(fmt::format("{}: '{}' must be a string", where, name));
                c.*member = value.as_string().str;
            }
        },
        s->member);
}

bool is_section(std::string_view name) {
    for (const auto& s : specs()) {
        std::string_view key = s.key.name;
        if (key.size() > name.size() && key.starts_with(name) && key[name.size()] == '.') return true;
    }
    return false;
}

} // namespace

const std::vector<ConfigKey>& config_keys() {
    static const std::vector<ConfigKey> keys = [] {
        std::vector<ConfigKey> k;
        for (const auto& s : specs()) k.push_back(s.key);
        return k;
    }();
    return keys;
}

Config parse_config_text(const std::string& text, const std::string& origin) {
    toml::value doc;
    try {
        std::istringstream in(text);
        doc = toml::parse(in, origin);
    } catch (const std::exception& e) { throw ConfigError(fmt::format("{}: TOML syntax error: {}", origin, e.what())); }
    if (!doc.is_table()) throw ConfigError(fmt::format("{}: expected a table of keys", origin));

    Config c;
    for (const auto& [name, value] : doc.as_table()) {
        // A section ([cluster]) holds the keys named "section.key" in the table.
        if (value.is_table() && is_section(name)) {
            for (const auto& [key, v] : value.as_table()) apply_key(c, name + "." + key, v, origin);
            continue;
        }
        apply_key(c, name, value, origin);
    }
    try {
        validate(c);
    } catch (const ConfigError& e) { throw ConfigError(fmt::format("{}: {}", origin, e.what())); }
    return c;
}

Config parse_config(const std::string& path) {
    FileText file = read_file(path);
    if (file.error) throw ConfigError(fmt::format("{}: cannot read: {}", path, std::strerror(file.error)));
    return parse_config_text(file.text, path);
}

void set_config_value(Config& c, const std::string& key, const std::string& value) {
    const KeySpec* s = find_spec(key);
    if (!s) throw ConfigError(fmt::format("unknown setting '{}'", key));
    const std::string where = "command line";
    std::visit(
        [&](auto member) {
            using T = std::remove_reference_t<decltype(c.*member)>;
            if constexpr (std::is_same_v<T, std::int64_t>) {
                auto v = parse_number<std::int64_t>(value);
                if (!v) throw ConfigError(fmt::format("{}: '{}' must be an integer (got '{}')", where, key, value));
                check_range(*s, *v, where);
                c.*member = *v;
            } else if constexpr (std::is_same_v<T, bool>) {
                if (value != "true" && value != "false")
                    throw ConfigError(fmt::format("{}: '{}' must be true or false", where, key));
                c.*member = value == "true";
            } else {
                c.*member = value;
            }
        },
        s->member);
    validate(c);
}

void validate(const Config& c) {
    in6_addr a6{};
    in_addr a4{};
    if (inet_pton(AF_INET, c.listen.c_str(), &a4) != 1 && inet_pton(AF_INET6, c.listen.c_str(), &a6) != 1)
        throw ConfigError(fmt::format("'listen' must be an IPv4 or IPv6 address (got '{}')", c.listen));
    if (!log::parse_level(c.log_level))
        throw ConfigError(fmt::format("'log_level' must be error, warning, info or debug (got '{}')", c.log_level));
    if (!parse_tls_version(c.tls_min_version))
        throw ConfigError(fmt::format("'tls_min_version' must be \"1.2\" or \"1.3\" (got '{}')", c.tls_min_version));
    if (!c.metrics_listen.empty()) parse_host_port(c.metrics_listen);
    if (c.cluster_engine != "local" && c.cluster_engine != "redis")
        throw ConfigError(fmt::format("'cluster.engine' must be \"local\" or \"redis\" (got '{}')", c.cluster_engine));
    parse_redis_endpoint(c.cluster_redis);
    if (!c.cluster_node_id.empty())
        if (auto problem = node_id_problem(c.cluster_node_id); !problem.empty())
            throw ConfigError(fmt::format("'cluster.node_id' {} (got '{}')", problem, c.cluster_node_id));
    if (!c.cluster_redis_user.empty() && c.cluster_redis_password.empty())
        throw ConfigError("'cluster.redis_user' needs 'cluster.redis_password'");
}

RedisEndpoint parse_redis_endpoint(std::string_view s) {
    const auto bad = [&](std::string_view why) {
        return ConfigError(fmt::format("'cluster.redis' must be HOST:PORT (e.g. \"127.0.0.1:6379\") or the path of "
                                       "a unix socket (e.g. \"/run/redis/redis.sock\") (got '{}': {})",
                                       s, why));
    };
    RedisEndpoint e;
    if (s.starts_with('/')) {
        e.unix_path = std::string(s);
        return e;
    }
    const std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0) throw bad("no port");
    std::string_view host = s.substr(0, colon);
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    if (host.empty() || host.find_first_of(" \t[]/") != std::string_view::npos) throw bad("not a host name or address");
    auto port = parse_number<std::uint16_t>(s.substr(colon + 1));
    if (!port || *port == 0) throw bad("the port must be a number from 1 to 65535");
    e.host = std::string(host);
    e.port = *port;
    return e;
}

std::string node_id_problem(std::string_view id) {
    if (id.empty() || id.size() > 200) return "must be 1 to 200 characters";
    for (char ch : id)
        if (ch <= ' ' || ch > '~' || ch == '{' || ch == '}') return "must be printable ASCII without spaces or braces";
    return {};
}

std::vector<std::string> parse_motd(std::string_view text, const std::string& origin) {
    if (text.size() > max_motd_bytes)
        throw ConfigError(fmt::format("{}: the message of the day is over {} bytes", origin, max_motd_bytes));
    if (!proto::is_valid_utf8(text)) throw ConfigError(fmt::format("{}: the message of the day is not UTF-8", origin));
    std::vector<std::string> lines;
    while (!text.empty()) {
        std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > max_motd_line_bytes)
            throw ConfigError(fmt::format("{}:{}: a line of the message of the day is over {} bytes", origin,
                                          lines.size() + 1, max_motd_line_bytes));
        lines.emplace_back(line);
    }
    while (!lines.empty() && lines.back().find_first_not_of(" \t") == std::string::npos) lines.pop_back();
    return lines;
}

std::vector<std::string> load_motd(const std::string& path) {
    FileText file = read_file(path, max_motd_bytes + 1);
    if (file.error == EFBIG)
        throw ConfigError(fmt::format("{}: the message of the day is over {} bytes", path, max_motd_bytes));
    if (file.error)
        throw ConfigError(fmt::format("{}: cannot read the message of the day: {}", path, std::strerror(file.error)));
    return parse_motd(file.text, path);
}

std::pair<std::string, std::uint16_t> parse_host_port(std::string_view s) {
    const auto bad = [&](std::string_view why) {
        return ConfigError(fmt::format("'metrics_listen' must be ADDRESS:PORT, e.g. \"127.0.0.1:9420\" or "
                                       "\"[::1]:9420\" (got '{}': {})",
                                       s, why));
    };
    const std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0) throw bad("no port");
    std::string host(s.substr(0, colon));
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    in6_addr a6{};
    in_addr a4{};
    if (inet_pton(AF_INET, host.c_str(), &a4) != 1 && inet_pton(AF_INET6, host.c_str(), &a6) != 1)
        throw bad("not an IPv4 or IPv6 address");
    auto port = parse_number<std::uint16_t>(s.substr(colon + 1));
    if (!port) throw bad("the port must be a number from 0 to 65535");
    return {host, *port};
}

void validate_transport(const Config& c, const std::string& address) {
    if (c.tls_cert.empty() != c.tls_key.empty())
        throw ConfigError("'tls_cert' and 'tls_key' go together: set both or neither");
    if (c.tls() || c.allow_plaintext || is_loopback_address(address)) return;
    throw ConfigError(fmt::format("refusing to listen on {} without TLS: set tls_cert and tls_key (confabd.toml(5)), "
                                  "or allow_plaintext = true to send passwords and messages unencrypted",
                                  address));
}

std::vector<std::string> restart_only_changes(const Config& before, const Config& after) {
    std::vector<std::string> changed;
    for (const auto& s : specs()) {
        if (s.key.reloadable) continue;
        bool differs = std::visit([&](auto m) { return before.*m != after.*m; }, s.member);
        if (differs) changed.emplace_back(s.key.name);
    }
    return changed;
}

void keep_restart_only(const Config& running, Config& next) {
    for (const auto& s : specs())
        if (!s.key.reloadable) std::visit([&](auto m) { next.*m = running.*m; }, s.member);
}

} // namespace confab
