// confabd's settings: one table of keys (name, type, default, bounds) loaded
// from TOML with toml11, overridden by command-line flags, validated in one
// place. Loading throws ConfigError with the file, line and key at fault.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace confab {

struct Config {
    std::string listen = "127.0.0.1";
    std::int64_t port = 7420;
    std::string users_file; // empty: embedded demo users
    std::string state_dir = "confab-state";
    std::int64_t block_duration = 10; // seconds a name stays locked after 3 failures
    std::int64_t timeout = 300;       // seconds without a command before logout
    std::int64_t login_timeout = 30;  // seconds to log in after connecting
    std::int64_t max_connections = 10000;
    std::int64_t max_output_bytes = 1 << 20;  // unsent bytes per client before it is dropped
    std::int64_t max_offline_messages = 1000; // per recipient
    std::int64_t hash_workers = 2;
    bool presence = true; // login/logout notices (off for mass-session tests)
    // Limits on strangers per source address and on what one user sends (0: off).
    std::int64_t max_unauthenticated = 4096;           // connections not logged in, all addresses
    std::int64_t max_unauthenticated_per_address = 64; // ... from one address (IPv6: one /64)
    std::int64_t address_connect_rate = 20;            // new connections per second per address (burst 5x)
    std::int64_t address_failed_logins = 10;           // wrong passwords per address per window
    std::int64_t address_failure_window = 300;         // seconds
    std::int64_t user_message_rate = 200;              // deliveries per second per user (burst 2 s)
    std::int64_t user_byte_rate = 256 * 1024;          // bytes delivered per second per user (burst 2 s)
    std::string log_level = "info";
    std::string tls_cert;                // PEM certificate chain; with tls_key the listener speaks TLS
    std::string tls_key;                 // PEM private key of tls_cert
    std::string tls_min_version = "1.3"; // "1.2" or "1.3"
    bool allow_plaintext = false;        // plaintext on an address other than loopback
    std::string control_socket;          // confabctl's UNIX socket; empty: <state_dir>/control.sock
    std::string metrics_listen;          // "ADDR:PORT" for GET /metrics; empty: off
    std::string motd_file;               // message of the day shown at login; empty: none
    std::vector<std::string> motd;       // motd_file's lines, read by load_motd (not a key)
    // [cluster] (docs/CLUSTER.md): "local" is one daemon with its own SQLite state;
    // "redis" makes this daemon one node of a cluster sharing state through Redis.
    std::string cluster_engine = "local";
    std::string cluster_redis = "127.0.0.1:6379"; // host:port, or a unix socket's path
    std::string cluster_redis_user;               // ACL user; empty: the default user
    std::string cluster_redis_password;           // empty: no AUTH
    std::string cluster_node_id;                  // empty: host name + ":" + port

    bool clustered() const { return cluster_engine == "redis"; }

    std::string control_socket_path() const {
        return control_socket.empty() ? state_dir + "/control.sock" : control_socket;
    }

    bool tls() const { return !tls_cert.empty(); }
};

struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// One row per key; the single source for parsing, bounds, docs and reload.
struct ConfigKey {
    const char* name;
    const char* description;
    bool reloadable; // takes effect on SIGHUP without a restart
};
const std::vector<ConfigKey>& config_keys();

// Parses a TOML document (`origin` names it in errors) on top of the defaults.
Config parse_config(const std::string& path);
Config parse_config_text(const std::string& text, const std::string& origin);

// Applies `key=value` (from command-line flags) with the same checks as the file.
void set_config_value(Config& c, const std::string& key, const std::string& value);

// "127.0.0.1:9420" or "[::1]:9420" -> address and port. Throws ConfigError.
std::pair<std::string, std::uint16_t> parse_host_port(std::string_view s);

// cluster.redis -> (host, port) or a unix socket path (starting with '/'). Throws ConfigError.
struct RedisEndpoint {
    std::string host;
    std::uint16_t port = 0;
    std::string unix_path;
};
RedisEndpoint parse_redis_endpoint(std::string_view s);
// A node id: 1..200 printable ASCII characters, none of them a space or a brace
// (it goes into Redis keys as a hash tag). Empty for a valid one, else why not.
std::string node_id_problem(std::string_view id);

// Single-value checks (listen address syntax, log level names, TLS version).
void validate(const Config& c);

// Checks that need the whole configuration, made once every source has been applied:
// tls_cert and tls_key come together, and a listener on `address` (normally c.listen)
// other than loopback speaks TLS unless allow_plaintext says otherwise.
void validate_transport(const Config& c, const std::string& address);

// The message of the day: at most max_motd_bytes of UTF-8, each line at most
// max_motd_line_bytes (one ServerNotice per line at login). `origin` names it in errors;
// a final newline and trailing blank lines are dropped. Throws ConfigError.
inline constexpr std::size_t max_motd_bytes = 4096;
inline constexpr std::size_t max_motd_line_bytes = 1000;
std::vector<std::string> parse_motd(std::string_view text, const std::string& origin);
std::vector<std::string> load_motd(const std::string& path);

// Keys whose change needs a restart, named for the reload log line.
std::vector<std::string> restart_only_changes(const Config& before, const Config& after);
// Copies every key that needs a restart from `running` into `next`: a reload
// applies the rest and leaves the running sockets, state and workers as they are.
void keep_restart_only(const Config& running, Config& next);

} // namespace confab
