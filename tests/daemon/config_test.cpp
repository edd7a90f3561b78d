// Config: TOML parsing, bounds, command-line overrides, reload classification.
#include "config.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using namespace confab;

namespace {
// The ConfigError message of parsing `text`, or "" if it parsed.
std::string error_of(const std::string& text) {
    try {
        parse_config_text(text, "test.toml");
    } catch (const ConfigError& e) { return e.what(); }
    return {};
}
bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}
} // namespace

TEST_CASE("defaults match the documented values") {
    Config c;
    CHECK(c.listen == "127.0.0.1");
    CHECK(c.port == 7420);
    CHECK(c.users_file.empty());
    CHECK(c.block_duration == 10);
    CHECK(c.timeout == 300);
    CHECK(c.login_timeout == 30);
    CHECK(c.max_connections == 10000);
    CHECK(c.max_output_bytes == 1048576);
    CHECK(c.max_offline_messages == 1000);
    CHECK(c.hash_workers == 2);
    CHECK(c.presence == true);
    CHECK(c.log_level == "info");
    CHECK(c.tls_cert.empty());
    CHECK(c.tls_key.empty());
    CHECK(c.tls_min_version == "1.3");
    CHECK(c.allow_plaintext == false);
    CHECK_NOTHROW(validate(c));
    CHECK_NOTHROW(validate_transport(c, c.listen));

    Config empty = parse_config_text("", "empty.toml");
    CHECK(empty.port == 7420);
    CHECK(empty.timeout == 300);
    Config comments = parse_config_text("# nothing here\n\n", "c.toml");
    CHECK(comments.listen == "127.0.0.1");
}

TEST_CASE("every key is parsed") {
    Config c = parse_config_text(R"(
listen = "::1"
port = 0
users_file = "/etc/confab/users"
state_dir = "/var/lib/confab"
block_duration = 60
timeout = 900
login_timeout = 5
max_connections = 50
max_output_bytes = 70000
max_offline_messages = 0
hash_workers = 4
presence = false
log_level = "debug"
tls_cert = "/etc/confab/fullchain.pem"
tls_key = "/etc/confab/privkey.pem"
tls_min_version = "1.2"
allow_plaintext = true
)",
                                 "full.toml");
    CHECK(c.listen == "::1");
    CHECK(c.port == 0);
    CHECK(c.users_file == "/etc/confab/users");
    CHECK(c.state_dir == "/var/lib/confab");
    CHECK(c.block_duration == 60);
    CHECK(c.timeout == 900);
    CHECK(c.login_timeout == 5);
    CHECK(c.max_connections == 50);
    CHECK(c.max_output_bytes == 70000);
    CHECK(c.max_offline_messages == 0);
    CHECK(c.hash_workers == 4);
    CHECK(c.presence == false);
    CHECK(c.log_level == "debug");
    CHECK(c.tls_cert == "/etc/confab/fullchain.pem");
    CHECK(c.tls_key == "/etc/confab/privkey.pem");
    CHECK(c.tls_min_version == "1.2");
    CHECK(c.allow_plaintext == true);
}

TEST_CASE("every documented key is in config_keys()") {
    std::vector<std::string> names;
    for (const auto& k : config_keys()) names.emplace_back(k.name);
    for (const char* want : {"listen", "port", "users_file", "state_dir", "block_duration", "timeout", "login_timeout",
                             "max_connections", "max_output_bytes", "max_offline_messages", "hash_workers", "presence",
                             "log_level", "tls_cert", "tls_key", "tls_min_version", "allow_plaintext"})
        CHECK_MESSAGE(std::count(names.begin(), names.end(), want) == 1, want);
}

TEST_CASE("an unknown key is an error naming the key and its line") {
    auto e = error_of("port = 1\n\nprot = 7421\n");
    CHECK(contains(e, "test.toml:3:"));
    CHECK(contains(e, "'prot'"));
    e = error_of("port = 1\n[extra]\nx = 1\n");
    CHECK(contains(e, "'extra'"));
}

TEST_CASE("a value of the wrong type is an error naming the key and its line") {
    auto e = error_of("\nport = \"7420\"\n");
    CHECK(contains(e, "test.toml:2:"));
    CHECK(contains(e, "'port'"));
    CHECK(contains(e, "integer"));
    CHECK(contains(error_of("presence = 1\n"), "'presence'"));
    CHECK(contains(error_of("listen = 127\n"), "'listen'"));
    CHECK(contains(error_of("timeout = 1.5\n"), "'timeout'"));
}

TEST_CASE("values out of range are refused with the bounds") {
    auto e = error_of("port = 65536\n");
    CHECK(contains(e, "test.toml:1:"));
    CHECK(contains(e, "'port'"));
    CHECK(contains(e, "65535"));
    CHECK_FALSE(error_of("port = -1\n").empty());
    CHECK_FALSE(error_of("block_duration = 0\n").empty());
    CHECK_FALSE(error_of("timeout = 0\n").empty());
    CHECK_FALSE(error_of("login_timeout = 3601\n").empty());
    CHECK_FALSE(error_of("max_connections = 0\n").empty());
    CHECK_FALSE(error_of("max_output_bytes = 65539\n").empty()); // must hold one largest frame
    CHECK(error_of("max_output_bytes = 65540\n").empty());
    CHECK_FALSE(error_of("max_offline_messages = -1\n").empty());
    CHECK_FALSE(error_of("hash_workers = 0\n").empty());
    CHECK_FALSE(error_of("hash_workers = 257\n").empty());
    CHECK(error_of("port = 65535\nblock_duration = 1\nhash_workers = 256\n").empty());
}

TEST_CASE("bad listen address and bad log level are refused") {
    auto e = error_of("listen = \"localhost\"\n");
    CHECK(contains(e, "test.toml"));
    CHECK(contains(e, "'listen'"));
    CHECK(contains(e, "localhost"));
    CHECK_FALSE(error_of("listen = \"300.1.1.1\"\n").empty());
    CHECK_FALSE(error_of("listen = \"\"\n").empty());
    CHECK(error_of("listen = \"0.0.0.0\"\n").empty());
    CHECK(error_of("listen = \"::\"\n").empty());
    CHECK(contains(error_of("log_level = \"verbose\"\n"), "'log_level'"));
    for (const char* lvl : {"error", "warning", "info", "debug"})
        CHECK(error_of(std::string("log_level = \"") + lvl + "\"\n").empty());
}

TEST_CASE("tls_min_version is 1.2 or 1.3") {
    CHECK(error_of("tls_min_version = \"1.2\"\n").empty());
    CHECK(error_of("tls_min_version = \"1.3\"\n").empty());
    for (const char* bad : {"1.1", "1.0", "TLSv1.3", "", "1.4"}) {
        auto e = error_of(std::string("tls_min_version = \"") + bad + "\"\n");
        CHECK_MESSAGE(contains(e, "'tls_min_version'"), bad);
    }
}

TEST_CASE("validate_transport: plaintext only on loopback unless allowed; TLS cert and key together") {
    Config c;
    for (const char* loopback : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"})
        CHECK_NOTHROW(validate_transport(c, loopback));
    for (const char* remote : {"0.0.0.0", "::", "192.0.2.7", "2001:db8::1", "::ffff:192.0.2.7", "128.0.0.1"}) {
        std::string e;
        try {
            validate_transport(c, remote);
        } catch (const ConfigError& err) { e = err.what(); }
        CHECK_MESSAGE(contains(e, std::string("refusing to listen on ") + remote + " without TLS"), remote);
        CHECK(contains(e, "allow_plaintext"));
    }
    c.allow_plaintext = true;
    CHECK_NOTHROW(validate_transport(c, "0.0.0.0"));
    c.allow_plaintext = false;
    c.tls_cert = "/c.pem";
    c.tls_key = "/k.pem";
    CHECK_NOTHROW(validate_transport(c, "0.0.0.0"));
    c.tls_key.clear();
    CHECK_THROWS_WITH_AS(validate_transport(c, "127.0.0.1"), doctest::Contains("'tls_key'"), ConfigError);
    c.tls_cert.clear();
    c.tls_key = "/k.pem";
    CHECK_THROWS_WITH_AS(validate_transport(c, "127.0.0.1"), doctest::Contains("'tls_cert'"), ConfigError);
}

TEST_CASE("a TOML syntax error names the file and the line") {
    auto e = error_of("port = 7420\ntimeout = 30\nlisten = \"127.0.0.1\n");
    CHECK(contains(e, "test.toml"));
    CHECK(contains(e, "syntax"));
    CHECK(contains(e, "3"));
    CHECK_FALSE(error_of("port = 1\nport = 2\n").empty()); // duplicate key
}

TEST_CASE("parse_config reads a file; a missing file is a ConfigError") {
    CHECK_THROWS_AS(parse_config("/nonexistent/confabd.toml"), ConfigError);
}

TEST_CASE("set_config_value overrides with the same checks as the file") {
    Config c;
    set_config_value(c, "port", "8000");
    CHECK(c.port == 8000);
    set_config_value(c, "listen", "::");
    CHECK(c.listen == "::");
    set_config_value(c, "presence", "false");
    CHECK(c.presence == false);
    set_config_value(c, "users_file", "/tmp/u");
    CHECK(c.users_file == "/tmp/u");
    set_config_value(c, "log_level", "debug");
    CHECK(c.log_level == "debug");

    CHECK_THROWS_AS(set_config_value(c, "port", "80x"), ConfigError);
    CHECK_THROWS_AS(set_config_value(c, "port", ""), ConfigError);
    CHECK_THROWS_AS(set_config_value(c, "port", "70000"), ConfigError);
    CHECK_THROWS_AS(set_config_value(c, "presence", "yes"), ConfigError);
    CHECK_THROWS_AS(set_config_value(c, "nope", "1"), ConfigError);
    CHECK_THROWS_AS(set_config_value(c, "log_level", "loud"), ConfigError);
    CHECK(c.port == 8000); // failed integer overrides leave the value alone
    try {
        set_config_value(c, "prot", "1");
        FAIL("no error");
    } catch (const ConfigError& e) { CHECK(contains(e.what(), "'prot'")); }
}

TEST_CASE("restart_only_changes names exactly the changed keys that need a restart") {
    Config a, b;
    CHECK(restart_only_changes(a, b).empty());
    b.timeout = 10;
    b.block_duration = 99;
    b.presence = false;
    b.log_level = "debug";
    b.users_file = "/x";
    b.max_connections = 5;
    b.tls_cert = "/c.pem";
    b.tls_key = "/k.pem";
    b.tls_min_version = "1.2";
    CHECK(restart_only_changes(a, b).empty()); // all reloadable
    b.port = 1;
    b.listen = "::1";
    auto r = restart_only_changes(a, b);
    std::sort(r.begin(), r.end());
    CHECK(r == std::vector<std::string>{"listen", "port"});
    b.hash_workers = 9;
    b.state_dir = "/elsewhere";
    b.allow_plaintext = true;
    r = restart_only_changes(a, b);
    std::sort(r.begin(), r.end());
    CHECK(r == std::vector<std::string>{"allow_plaintext", "hash_workers", "listen", "port", "state_dir"});
}

TEST_CASE("keep_restart_only keeps the running restart-only keys and takes every reloadable one") {
    Config running;
    Config next = parse_config_text("listen = \"::1\"\nport = 1\nstate_dir = \"/elsewhere\"\nhash_workers = 9\n"
                                    "users_file = \"/x\"\ntimeout = 10\nblock_duration = 99\nlogin_timeout = 7\n"
                                    "max_connections = 5\nmax_output_bytes = 70000\nmax_offline_messages = 3\n"
                                    "presence = false\nlog_level = \"debug\"\n",
                                    "next.toml");
    keep_restart_only(running, next);
    CHECK(restart_only_changes(running, next).empty());
    CHECK(next.listen == "127.0.0.1");
    CHECK(next.port == 7420);
    CHECK(next.state_dir == "confab-state");
    CHECK(next.hash_workers == 2);
    CHECK(next.users_file == "/x");
    CHECK(next.timeout == 10);
    CHECK(next.block_duration == 99);
    CHECK(next.login_timeout == 7);
    CHECK(next.max_connections == 5);
    CHECK(next.max_output_bytes == 70000);
    CHECK(next.max_offline_messages == 3);
    CHECK(next.presence == false);
    CHECK(next.log_level == "debug");
}

TEST_CASE("motd: lines without the final newline and trailing blank lines; CRLF; bounded and UTF-8") {
    CHECK(parse_motd("Welcome to confab\r\n\nBe nice. \xc3\xa9\n\n \n", "motd") ==
          std::vector<std::string>{"Welcome to confab", "", "Be nice. \xc3\xa9"});
    CHECK(parse_motd("", "motd").empty());
    std::string four_full_lines;
    for (int i = 0; i < 4; ++i) four_full_lines += std::string(max_motd_line_bytes, 'x') + "\n";
    CHECK(parse_motd(four_full_lines, "motd").size() == 4);
    CHECK_THROWS_WITH_AS(parse_motd(std::string(max_motd_bytes + 1, 'x'), "motd"),
                         "motd: the message of the day is over 4096 bytes", ConfigError);
    CHECK_THROWS_WITH_AS(parse_motd("ok\n\xff\n", "motd"), "motd: the message of the day is not UTF-8", ConfigError);
    CHECK_THROWS_WITH_AS(parse_motd("short\n" + std::string(1001, 'y'), "motd"),
                         "motd:2: a line of the message of the day is over 1000 bytes", ConfigError);
    CHECK_THROWS_AS(load_motd("/nonexistent/motd"), ConfigError);
    CHECK(parse_config_text("motd_file = \"/etc/confab/motd\"\n", "t").motd_file == "/etc/confab/motd");
}

TEST_CASE("the [cluster] table: the local engine by default, redis with its address, credentials and node id") {
    Config d;
    CHECK(d.cluster_engine == "local");
    CHECK_FALSE(d.clustered());
    CHECK(d.cluster_redis == "127.0.0.1:6379");
    CHECK(d.cluster_node_id.empty());

    Config c = parse_config_text("port = 1\n[cluster]\nengine = \"redis\"\nredis = \"redis.example:6380\"\n"
                                 "redis_user = \"confab\"\nredis_password = \"s3cret\"\nnode_id = \"chat1:7420\"\n",
                                 "test.toml");
    CHECK(c.clustered());
    CHECK(c.cluster_redis == "redis.example:6380");
    CHECK(c.cluster_redis_user == "confab");
    CHECK(c.cluster_redis_password == "s3cret");
    CHECK(c.cluster_node_id == "chat1:7420");
    CHECK(c.port == 1);

    auto e = parse_redis_endpoint("redis.example:6380");
    CHECK(e.host == "redis.example");
    CHECK(e.port == 6380);
    CHECK(e.unix_path.empty());
    CHECK(parse_redis_endpoint("[::1]:6379").host == "::1");
    CHECK(parse_redis_endpoint("/run/redis/redis.sock").unix_path == "/run/redis/redis.sock");

    Config s;
    set_config_value(s, "cluster.engine", "redis");
    CHECK(s.clustered());
    for (const auto& key : restart_only_changes(Config{}, s)) CHECK(key == "cluster.engine");
    CHECK(restart_only_changes(Config{}, s).size() == 1);
}

TEST_CASE("bad [cluster] values are refused with the key named") {
    CHECK(contains(error_of("[cluster]\nengine = \"etcd\"\n"), "'cluster.engine'"));
    CHECK(contains(error_of("[cluster]\nredis = \"localhost\"\n"), "'cluster.redis'"));
    CHECK(contains(error_of("[cluster]\nredis = \"localhost:0\"\n"), "'cluster.redis'"));
    CHECK(contains(error_of("[cluster]\nredis = \"localhost:99999\"\n"), "'cluster.redis'"));
    CHECK(contains(error_of("[cluster]\nnode_id = \"a {b}\"\n"), "'cluster.node_id'"));
    CHECK(contains(error_of("[cluster]\nnode_id = \"\"\nredis_user = \"u\"\n"), "'cluster.redis_user'"));
    CHECK(contains(error_of("[cluster]\nengines = \"redis\"\n"), "'cluster.engines'"));
    CHECK(contains(error_of("[cluster]\nengine = 1\n"), "must be a string"));
    CHECK(node_id_problem("chat1:7420").empty());
    CHECK_FALSE(node_id_problem(std::string(201, 'x')).empty());
}
