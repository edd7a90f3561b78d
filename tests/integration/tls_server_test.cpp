// The real confabd with a TLS listener (certificates made at test time with
// the openssl command), spoken to by RawClient over TLS: chatting, versions,
// record boundaries, resumption, certificate reload, what plaintext and
// garbage get, stalled handshakes; and the refusal to listen in plaintext on
// a non-loopback address (checked without ever binding one).
#include "harness.hpp"

#include "proto/drain.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <thread>
#include <variant>

using namespace confab;
using namespace confab::test;
using proto::LoginOutcome;
using proto::Status;

namespace {

using Clock = std::chrono::steady_clock;

// A daemon whose listener speaks TLS with a fresh self-signed certificate.
struct TlsDaemon {
    TempDir certs;
    TestCert cert = make_test_cert(certs, "server");
    Daemon daemon;
    explicit TlsDaemon(DaemonOptions opts = {}, const std::string& extra = "")
        : daemon([&] {
              opts.extra_config += tls_config(cert) + extra;
              return opts;
          }()) {}
    std::uint16_t port() const { return daemon.port(); }
};

std::unique_ptr<RawClient> tls_login(std::uint16_t port, const std::string& name, TlsClientOptions o = {}) {
    auto c = std::make_unique<RawClient>(port, o);
    REQUIRE(c->login(name, name + "123").outcome == LoginOutcome::ok);
    return c;
}

// Sends `text` from `from` to `to` and checks it arrives.
void check_chat(RawClient& from, RawClient& to, const std::string& to_name, const std::string& text) {
    from.send(proto::SendMessage{from.next_request(), to_name, text});
    std::vector<std::uint8_t> keep;
    auto m = to.expect<proto::MessageEvent>(5000ms, &keep);
    REQUIRE_MESSAGE(m, "no message '" << text << "'");
    CHECK(m->text == text);
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

// True once the peer closes `c` within `limit`, whatever bytes (a TLS alert) come first.
bool closed_raw(RawClient& c, Millis limit = 3000ms) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
        pollfd p{c.fd(), POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        std::uint8_t buf[4096];
        if (::recv(c.fd(), buf, sizeof buf, 0) <= 0) return true;
    }
    return false;
}

std::string config_file(const TempDir& dir, const std::string& lines) {
    return dir.file("confabd.toml", "users_file = \"" + dir.file("users", "alice alice123\n") + "\"\nstate_dir = \"" +
                                        dir.path() + "/state\"\n" + lines);
}

} // namespace

TEST_CASE("TLS: clients log in and chat; the server shows the configured certificate over TLS 1.3") {
    TlsDaemon d;
    auto alice = tls_login(d.port(), "alice");
    auto bob = tls_login(d.port(), "bob");
    CHECK(alice->peer_fingerprint() == d.cert.fingerprint);
    CHECK(alice->tls_version() == "TLSv1.3");
    check_chat(*alice, *bob, "bob", "over TLS");
    check_chat(*bob, *alice, "alice", "and back");
    CHECK(d.daemon.log_contains("TLS 1.3+ with certificate CN=localhost"));
}

TEST_CASE("TLS: a certificate chain file is presented whole") {
    TempDir certs;
    TestCert ca = make_test_ca(certs, "ca");
    TestCert leaf = make_test_cert(certs, "leaf", "localhost", &ca);
    DaemonOptions o;
    o.extra_config = tls_config(leaf);
    Daemon d(o);
    auto alice = tls_login(d.port(), "alice");
    CHECK(alice->peer_fingerprint() == leaf.fingerprint);
    CHECK(alice->peer_chain_length() == 2);
}

TEST_CASE("TLS: TLS 1.2 is refused by default and accepted with tls_min_version = \"1.2\"") {
    TlsClientOptions old;
    old.max_version = TLS1_2_VERSION;
    {
        TlsDaemon d;
        CHECK_THROWS(RawClient(d.port(), old));
        CHECK(d.daemon.log_contains("TLS handshake with 127.0.0.1:", 3000ms));
        auto alice = tls_login(d.port(), "alice"); // the refusal harmed nothing
    }
    TlsDaemon d({}, "tls_min_version = \"1.2\"\n");
    auto alice = tls_login(d.port(), "alice", old);
    CHECK(alice->tls_version() == "TLSv1.2");
    auto bob = tls_login(d.port(), "bob");
    check_chat(*alice, *bob, "bob", "1.2 to 1.3");
}

TEST_CASE("TLS: a plaintext client gets one clear ProtocolError in plain, then the close") {
    TlsDaemon d;
    RawClient plain(d.port());
    plain.send(proto::Hello{proto::protocol_version, "plaintext"});
    plain.send(proto::Login{plain.next_request(), "alice", "alice123"});
    std::vector<std::uint8_t> keep;
    auto e = plain.expect<proto::ProtocolError>(3000ms, &keep);
    REQUIRE(e);
    CHECK(e->code == Status::bad_request);
    CHECK(e->detail == "this port speaks TLS: connect with --tls");
    CHECK(plain.closed_by_server());
    CHECK(d.daemon.log_contains("this port speaks TLS"));
    auto alice = tls_login(d.port(), "alice");

    ClientProcess client(d.port()); // the real client, without --tls: says why and fails
    client.send_line("bob");
    client.send_line("bob123");
    CHECK(client.wait_exit(5000ms) == 1);
    std::string said = client.stderr_text();
    for (const auto& l : client.lines()) said += l + "\n";
    CHECK_MESSAGE(said.find("this port speaks TLS: connect with --tls") != std::string::npos, said);
}

TEST_CASE("TLS: garbage instead of a ClientHello is logged once and disturbs no one") {
    TlsDaemon d;
    auto alice = tls_login(d.port(), "alice");
    auto bob = tls_login(d.port(), "bob");
    {
        RawClient bad(d.port()); // a handshake record header, then nonsense
        std::vector<std::uint8_t> junk = {0x16, 0x03, 0x01, 0x00, 0x40};
        for (int i = 0; i < 64; ++i) junk.push_back(std::uint8_t(i * 37));
        bad.send_bytes(junk);
        CHECK(closed_raw(bad));
    }
    {
        RawClient huge(d.port()); // a handshake record announcing more than a record may hold
        huge.send_bytes({0x16, 0x03, 0x03, 0xFF, 0xFF, 0x01, 0x02});
        CHECK(closed_raw(huge));
    }
    check_chat(*alice, *bob, "bob", "still fine");
    CHECK(d.daemon.log_contains("TLS handshake with 127.0.0.1:", 3000ms));
    std::this_thread::sleep_for(200ms);
    CHECK(count_of(d.daemon.log(), "TLS handshake with 127.0.0.1:") == 2); // one line per connection
    auto carol = tls_login(d.port(), "carol");
    check_chat(*carol, *alice, "alice", "new ones too");
}

TEST_CASE("TLS: a stalled handshake is closed at the login deadline") {
    DaemonOptions o;
    o.login_timeout = 1;
    TlsDaemon d(o);
    auto alice = tls_login(d.port(), "alice");
    RawClient silent(d.port());  // connects and sends nothing
    RawClient partial(d.port()); // starts a ClientHello and stops
    partial.send_bytes({0x16, 0x03, 0x01, 0x01, 0x00, 0x01});
    auto start = Clock::now();
    CHECK(partial.closed_by_server(4000ms));
    CHECK(silent.closed_by_server(1000ms));
    CHECK(Clock::now() - start >= 500ms);
    CHECK(Clock::now() - start < 3000ms); // the deadline, not the 5 s grace for closing sessions
    auto bob = tls_login(d.port(), "bob");
    check_chat(*bob, *alice, "alice", "alive");
}

TEST_CASE("TLS: many frames in one record and one frame over many records") {
    TlsDaemon d;
    auto bob = tls_login(d.port(), "bob");
    RawClient alice(d.port(), TlsClientOptions{});
    std::vector<std::uint8_t> batch; // Hello, Login and 50 messages in one SSL_write: one record
    proto::append_frame(batch, proto::Hello{proto::protocol_version, "batch"});
    proto::append_frame(batch, proto::Login{alice.next_request(), "alice", "alice123"});
    for (int i = 0; i < 50; ++i)
        proto::append_frame(batch, proto::SendMessage{alice.next_request(), "bob", "m" + std::to_string(i)});
    REQUIRE(batch.size() < 16384);
    alice.send_bytes(batch);
    for (int i = 0; i < 50; ++i) {
        std::vector<std::uint8_t> keep;
        auto m = bob->expect<proto::MessageEvent>(5000ms, &keep);
        REQUIRE(m);
        CHECK(m->text == "m" + std::to_string(i));
    }
    std::vector<std::uint8_t> one; // one 1000-byte message cut into 3-byte records
    const std::string text(1000, 'x');
    proto::append_frame(one, proto::SendMessage{alice.next_request(), "bob", text});
    alice.send_bytes(one, 3);
    std::vector<std::uint8_t> keep;
    auto m = bob->expect<proto::MessageEvent>(5000ms, &keep);
    REQUIRE(m);
    CHECK(m->text == text);
}

TEST_CASE("TLS: output larger than a record reaches a client that reads late") {
    TlsDaemon d;
    auto alice = tls_login(d.port(), "alice");
    auto bob = tls_login(d.port(), "bob");
    const std::string text(900, 'y');
    for (int i = 0; i < 300; ++i) alice->send(proto::Broadcast{alice->next_request(), text}); // ~280 KiB to bob
    std::this_thread::sleep_for(300ms);
    int got = 0;
    for (int i = 0; i < 300; ++i) {
        std::vector<std::uint8_t> keep;
        auto b = bob->expect<proto::BroadcastEvent>(5000ms, &keep);
        if (!b) break;
        got += b->text == text;
    }
    CHECK(got == 300);
}

namespace {

// One client of a login storm: a non-blocking TLS connection that sends Hello + Login
// as soon as its handshake ends and is done at its LoginResult.
struct StormClient {
    int fd = -1;
    SSL* ssl = nullptr;
    bool sent = false, done = false, ok = false;
    std::vector<std::uint8_t> out;
    proto::FrameDecoder decoder;
    ~StormClient() {
        SSL_free(ssl);
        if (fd >= 0) ::close(fd);
    }
    // One pass over whatever the socket allows; false on a TLS or socket failure.
    bool step() {
        if (!sent) {
            int r = SSL_write(ssl, out.data(), int(out.size())); // drives the handshake first
            if (r <= 0)
                return SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ || SSL_get_error(ssl, r) == SSL_ERROR_WANT_WRITE;
            sent = true;
        }
        std::uint8_t buf[4096];
        for (;;) {
            int n = SSL_read(ssl, buf, sizeof buf);
            if (n <= 0) return SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ;
            auto r = proto::drain_frames(decoder, proto::Bytes(buf, std::size_t(n)), [&](const proto::Message& m) {
                if (auto* res = std::get_if<proto::LoginResult>(&m)) {
                    done = true;
                    ok = res->outcome == LoginOutcome::ok;
                }
                return !done;
            });
            if (done || r.kind == proto::DrainResult::Kind::malformed) return done;
        }
    }
};

} // namespace

TEST_CASE("TLS: a storm of concurrent handshakes all complete, and chat goes on meanwhile") {
    constexpr int clients = 300;
    DaemonOptions o;
    for (int i = 0; i < clients; ++i) o.users += "storm" + std::to_string(i) + " pw" + std::to_string(i) + "\n";
    TlsDaemon d(o, "max_unauthenticated_per_address = 0\naddress_connect_rate = 0\n");
    auto alice = tls_login(d.port(), "alice");
    auto bob = tls_login(d.port(), "bob");

    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    REQUIRE(ctx);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(d.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::vector<std::unique_ptr<StormClient>> storm;
    // Every ClientHello is on its way before any answer is read: the handshakes queue up at once.
    for (int i = 0; i < clients; ++i) {
        auto c = std::make_unique<StormClient>();
        c->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(c->fd >= 0);
        REQUIRE(::connect(c->fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::fcntl(c->fd, F_SETFL, O_NONBLOCK) == 0);
        c->ssl = SSL_new(ctx.get());
        SSL_set_fd(c->ssl, c->fd);
        SSL_set_connect_state(c->ssl);
        const std::string name = "storm" + std::to_string(i);
        proto::append_frame(c->out, proto::Hello{proto::protocol_version, "storm"});
        proto::append_frame(c->out, proto::Login{1, name, "pw" + std::to_string(i)});
        REQUIRE(c->step());
        storm.push_back(std::move(c));
    }
    check_chat(*alice, *bob, "bob", "during the storm");

    const auto deadline = Clock::now() + 30s;
    // A client can finish within its first step when the daemon answers at once.
    std::size_t finished = std::size_t(std::count_if(storm.begin(), storm.end(), [](auto& c) { return c->done; }));
    std::vector<pollfd> fds;
    while (finished < storm.size() && Clock::now() < deadline) {
        fds.clear();
        for (auto& c : storm)
            if (!c->done) fds.push_back({c->fd, POLLIN, 0});
        if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
        for (auto& c : storm) {
            if (c->done) continue;
            if (!c->step()) {
                const char* why = ERR_reason_error_string(ERR_get_error());
                FAIL_CHECK("a storm client failed: " << std::string(why ? why : "connection closed"));
                c->done = true;
            }
            finished += c->done;
        }
    }
    ERR_clear_error();
    CHECK(finished == storm.size());
    CHECK(std::count_if(storm.begin(), storm.end(), [](auto& c) { return c->ok; }) == clients);
    check_chat(*bob, *alice, "alice", "after the storm");
}

TEST_CASE("TLS: a reconnecting client resumes its session") {
    TlsDaemon d;
    std::shared_ptr<SSL_SESSION> session;
    {
        auto first = tls_login(d.port(), "alice"); // the ticket arrives with the first records
        CHECK_FALSE(first->session_reused());
        session = first->session();
        first->send(proto::Logout{first->next_request()});
        CHECK(first->closed_by_server());
    }
    REQUIRE(session);
    TlsClientOptions again;
    again.resume = session;
    auto second = tls_login(d.port(), "alice", again);
    CHECK(second->session_reused());
    auto bob = tls_login(d.port(), "bob");
    check_chat(*second, *bob, "bob", "resumed");
}

TEST_CASE("TLS: SIGHUP loads a new certificate for new connections; a broken pair keeps the old one") {
    namespace fs = std::filesystem;
    TlsDaemon d;
    auto alice = tls_login(d.port(), "alice");
    CHECK(alice->peer_fingerprint() == d.cert.fingerprint);

    TestCert renewed = make_test_cert(d.certs, "renewed");
    fs::copy_file(renewed.cert_path, d.cert.cert_path, fs::copy_options::overwrite_existing);
    fs::copy_file(renewed.key_path, d.cert.key_path, fs::copy_options::overwrite_existing);
    d.daemon.signal(SIGHUP);
    REQUIRE(d.daemon.log_contains("TLS certificate reloaded", 5000ms));
    auto bob = tls_login(d.port(), "bob");
    CHECK(bob->peer_fingerprint() == renewed.fingerprint);
    check_chat(*alice, *bob, "bob", "old session, new certificate");

    // A key that does not match the certificate: refused, the renewed pair stays.
    TestCert other = make_test_cert(d.certs, "other");
    fs::copy_file(other.key_path, d.cert.key_path, fs::copy_options::overwrite_existing);
    d.daemon.signal(SIGHUP);
    CHECK(d.daemon.log_contains("does not match the certificate", 5000ms));
    auto carol = tls_login(d.port(), "carol");
    CHECK(carol->peer_fingerprint() == renewed.fingerprint);
    // A certificate file that is not PEM: refused too.
    fs::copy_file(renewed.key_path, d.cert.key_path, fs::copy_options::overwrite_existing);
    d.certs.file("server.pem", "not a certificate\n");
    d.daemon.signal(SIGHUP);
    CHECK(d.daemon.log_contains("not a PEM certificate chain", 5000ms));
    auto dave = tls_login(d.port(), "dave");
    CHECK(dave->peer_fingerprint() == renewed.fingerprint);
    check_chat(*alice, *dave, "dave", "everyone still here");
    check_chat(*carol, *bob, "bob", "and here");
}

TEST_CASE("plaintext on a non-loopback address is refused before binding unless allow_plaintext") {
    TempDir dir;
    auto r = run_confabd({"--check-config", "--config", config_file(dir, "listen = \"0.0.0.0\"\n")});
    CHECK(r.status == 78);
    CHECK_MESSAGE(r.output.find("refusing to listen on 0.0.0.0 without TLS") != std::string::npos, r.output);
    // Starting for real fails the same way, before it listens anywhere.
    r = run_confabd({"--config", config_file(dir, "listen = \"::\"\nport = 0\n")});
    CHECK(r.status == 78);
    CHECK(r.output.find("refusing to listen on :: without TLS") != std::string::npos);
    CHECK(r.output.find("listening on") == std::string::npos);

    r = run_confabd({"--check-config", "--config", config_file(dir, "listen = \"0.0.0.0\"\nallow_plaintext = true\n")});
    CHECK_MESSAGE(r.status == 0, r.output);
    // Loopback needs no TLS and no permission.
    r = run_confabd({"--check-config", "--config", config_file(dir, "listen = \"127.0.0.1\"\n")});
    CHECK_MESSAGE(r.status == 0, r.output);
}

TEST_CASE("--check-config loads the TLS pair and refuses one that does not load or match") {
    TempDir dir;
    TestCert a = make_test_cert(dir, "a"), b = make_test_cert(dir, "b");
    auto cfg = [&](const std::string& cert, const std::string& key) {
        return config_file(dir, "listen = \"0.0.0.0\"\ntls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"\n");
    };
    auto r = run_confabd({"--check-config", "--config", cfg(a.cert_path, a.key_path)});
    CHECK_MESSAGE(r.status == 0, r.output);
    CHECK(r.output.find("TLS certificate CN=localhost") != std::string::npos);

    r = run_confabd({"--check-config", "--config", cfg(a.cert_path, b.key_path)});
    CHECK(r.status == 78);
    CHECK_MESSAGE(r.output.find("does not match the certificate") != std::string::npos, r.output);
    r = run_confabd({"--check-config", "--config", cfg(dir.path() + "/missing.pem", a.key_path)});
    CHECK(r.status == 78);
    CHECK_MESSAGE(r.output.find("missing.pem: cannot open") != std::string::npos, r.output);
    r = run_confabd({"--check-config", "--config", cfg(a.key_path, a.key_path)});
    CHECK(r.status == 78);
    CHECK_MESSAGE(r.output.find("not a PEM certificate chain") != std::string::npos, r.output);
    r = run_confabd({"--check-config", "--config", config_file(dir, "tls_cert = \"" + a.cert_path + "\"\n")});
    CHECK(r.status == 78);
    CHECK_MESSAGE(r.output.find("'tls_cert' and 'tls_key' go together") != std::string::npos, r.output);
}
