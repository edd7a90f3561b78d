// The client's TLS to the server: verification by CA and host name, pinned
// fingerprints, the known-hosts file, and clear lines when one side speaks
// TLS and the other does not. Certificates are made at test time.
#include "scenario.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace confab;
using namespace confab::test;

namespace {

// confabd speaking TLS with `cert`.
class TlsServer {
public:
    explicit TlsServer(const TestCert& cert) : daemon_(options(cert)) {}
    std::uint16_t port() const { return daemon_.port(); }

private:
    static DaemonOptions options(const TestCert& cert) {
        DaemonOptions o;
        o.extra_config = tls_config(cert);
        return o;
    }
    Daemon daemon_;
};

// A server that answers whatever comes with a TLS alert record (as a TLS
// server that does not tell plaintext clients in plain would), then closes.
class AlertServer {
public:
    AlertServer() {
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listener_, 4) != 0 ||
            ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            throw std::runtime_error("cannot listen");
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] {
            pollfd p{listener_, POLLIN, 0};
            if (::poll(&p, 1, 10000) <= 0) return;
            int c = ::accept(listener_, nullptr, nullptr);
            char buf[512];
            (void)::recv(c, buf, sizeof buf, 0);
            const unsigned char alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46}; // fatal protocol_version
            (void)::send(c, alert, sizeof alert, MSG_NOSIGNAL);
            ::close(c);
        });
    }
    ~AlertServer() {
        thread_.join();
        ::close(listener_);
    }
    std::uint16_t port() const { return port_; }

private:
    int listener_ = -1;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

// A client of `port` at host `localhost`, with its own XDG_DATA_HOME.
std::unique_ptr<ClientProcess> client(std::uint16_t port, const TempDir& home, std::vector<std::string> args) {
    args.insert(args.begin(), {"--host", "localhost"});
    return std::make_unique<ClientProcess>(port, args, std::vector<std::string>{"XDG_DATA_HOME=" + home.path()});
}

bool logs_in(ClientProcess& c, const std::string& name, const std::string& password) {
    c.send_line(name);
    c.send_line(password);
    return c.expect_line("welcome, " + name, 10000ms);
}

int exit_code(ClientProcess& c) {
    return c.wait_exit(10000ms).value_or(-1);
}

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::string known_hosts_file(const TempDir& home) {
    return home.path() + "/confab/known_hosts";
}

void write_known_hosts(const TempDir& home, const std::string& content) {
    std::filesystem::create_directories(home.path() + "/confab");
    std::ofstream(known_hosts_file(home)) << content;
}

// Counts the lines of `text` (the last one may lack its newline).
std::size_t line_count(const std::string& text) {
    std::size_t n = std::size_t(std::count(text.begin(), text.end(), '\n'));
    return n + (!text.empty() && text.back() != '\n');
}

// confab on a pseudo-terminal, as a person would run it.
class TerminalClient {
public:
    TerminalClient(std::uint16_t port, const TempDir& home) {
        std::string xdg = "XDG_DATA_HOME=" + home.path();
        std::string port_arg = std::to_string(port);
        pid_ = ::forkpty(&master_, nullptr, nullptr, nullptr);
        if (pid_ < 0) throw std::runtime_error("forkpty failed");
        if (pid_ == 0) {
            ::putenv(xdg.data());
            ::putenv(const_cast<char*>("TERM=dumb"));
            std::string path = confab_path();
            ::execl(path.c_str(), path.c_str(), "--host", "localhost", "--port", port_arg.c_str(), "--tls", nullptr);
            ::_exit(127);
        }
    }
    ~TerminalClient() {
        if (!reaped_ && pid_ > 0) { // never kill(-1): that is every process
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(master_);
    }
    // Waits until the output so far contains `text`.
    bool wait_for(const std::string& text, Millis limit = 5000ms) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (output_.find(text) == std::string::npos) {
            auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
            if (left <= 0) return false;
            pollfd p{master_, POLLIN, 0};
            if (::poll(&p, 1, int(left)) <= 0) continue;
            char buf[4096];
            ssize_t n = ::read(master_, buf, sizeof buf);
            if (n <= 0) return false;
            output_.append(buf, std::size_t(n));
        }
        return true;
    }
    void type(const std::string& line) {
        std::string data = line + "\n";
        if (::write(master_, data.data(), data.size()) != ssize_t(data.size())) throw std::runtime_error("pty write");
    }
    std::optional<int> wait_exit(Millis limit = 5000ms) {
        if (reaped_) return status_;
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            int st = 0;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                reaped_ = true;
                status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
                return status_;
            }
            wait_for("\x01never", 20ms); // keep draining the terminal
        }
        return std::nullopt;
    }
    const std::string& output() const { return output_; }

private:
    pid_t pid_ = -1;
    bool reaped_ = false;
    int status_ = -1;
    int master_ = -1;
    std::string output_;
};

unsigned mode_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

} // namespace

TEST_CASE("login and chat over TLS, verified by --ca and the host name") {
    TempDir dir, home;
    TestCert ca = make_test_ca(dir, "ca");
    TestCert cert = make_test_cert(dir, "server", "localhost", &ca);
    TlsServer server(cert);
    auto alice = client(server.port(), home, {"--ca", ca.cert_path});
    auto bob = client(server.port(), home, {"--tls", "--ca", ca.cert_path});
    REQUIRE_MESSAGE(logs_in(*alice, "alice", "alice123"), alice->stderr_text());
    REQUIRE_MESSAGE(logs_in(*bob, "bob", "bob123"), bob->stderr_text());
    alice->send_line("message bob over TLS");
    CHECK(bob->expect_line("alice: over TLS"));
    bob->send_line("broadcast hello all");
    CHECK(alice->expect_line("bob (broadcast): hello all"));
    alice->send_line("logout");
    CHECK(exit_code(*alice) == 0);
    CHECK(alice->stderr_text().empty());
    CHECK_FALSE(std::filesystem::exists(known_hosts_file(home))); // a verified server is not written down
}

TEST_CASE("a certificate for another host name is refused") {
    TempDir dir, home;
    TestCert ca = make_test_ca(dir, "ca");
    TestCert cert = make_test_cert(dir, "server", "other.example", &ca);
    TlsServer server(cert);
    auto c = client(server.port(), home, {"--ca", ca.cert_path});
    CHECK(exit_code(*c) == 1);
    std::string err = c->stderr_text();
    CHECK_MESSAGE(has(err, "error: the certificate of localhost:" + std::to_string(server.port()) +
                               " cannot be verified (hostname mismatch)"),
                  err);
    CHECK(c->lines().empty());
    // The same certificate names the address 127.0.0.1 too: by address it is good.
    auto by_address = client(server.port(), home, {"--ca", ca.cert_path, "--host", "127.0.0.1"});
    CHECK_MESSAGE(logs_in(*by_address, "alice", "alice123"), by_address->stderr_text());
}

TEST_CASE("an unverified certificate is refused in scripted mode; --fingerprint pins it") {
    TempDir dir, home;
    TestCert cert = make_test_cert(dir, "server"); // self-signed
    TlsServer server(cert);
    const std::string where = "localhost:" + std::to_string(server.port());

    SUBCASE("refused, with the fingerprint and what to do") {
        auto c = client(server.port(), home, {"--tls"});
        CHECK(exit_code(*c) == 1);
        std::string err = c->stderr_text();
        CHECK_MESSAGE(has(err, "error: the certificate of " + where + " cannot be verified (self-signed certificate)"),
                      err);
        CHECK(has(err, "its fingerprint is SHA256:"));
        CHECK(has(err, "--fingerprint"));
        CHECK(line_count(err) == 1);
        CHECK_FALSE(std::filesystem::exists(known_hosts_file(home))); // nothing asked, nothing remembered
    }
    SUBCASE("a matching --fingerprint (hex, as openssl prints it) is accepted") {
        auto c = client(server.port(), home, {"--fingerprint", "SHA256:" + cert.fingerprint});
        CHECK_MESSAGE(logs_in(*c, "alice", "alice123"), c->stderr_text());
        c->send_line("whoelse");
        CHECK(c->expect_line("no other users"));
    }
    SUBCASE("a wrong --fingerprint is refused") {
        std::string wrong = cert.fingerprint;
        wrong[0] = wrong[0] == '0' ? '1' : '0';
        auto c = client(server.port(), home, {"--fingerprint", wrong});
        CHECK(exit_code(*c) == 1);
        std::string err = c->stderr_text();
        CHECK_MESSAGE(has(err, "error: the certificate of " + where + " has the fingerprint SHA256:"), err);
        CHECK(has(err, "not the one given with --fingerprint"));
    }
    SUBCASE("a --fingerprint overrides even a CA's word") {
        TestCert ca = make_test_ca(dir, "ca");
        std::string wrong = cert.fingerprint;
        wrong[5] = wrong[5] == 'a' ? 'b' : 'a';
        auto c = client(server.port(), home, {"--ca", cert.cert_path, "--fingerprint", wrong});
        CHECK(exit_code(*c) == 1);
        CHECK(has(c->stderr_text(), "not the one given with --fingerprint"));
    }
}

TEST_CASE("known hosts: a remembered certificate is accepted, a changed one refused naming the line") {
    TempDir dir, home;
    TestCert cert = make_test_cert(dir, "server");
    TlsServer server(cert);
    const std::string where = "localhost:" + std::to_string(server.port());

    SUBCASE("known") {
        write_known_hosts(home, "# trusted by hand\n" + where + " SHA256:" + cert.fingerprint + "\n");
        auto c = client(server.port(), home, {"--tls"});
        CHECK_MESSAGE(logs_in(*c, "alice", "alice123"), c->stderr_text());
        c->send_line("logout");
        CHECK(exit_code(*c) == 0);
        CHECK(c->stderr_text().empty());
    }
    SUBCASE("known for another port only: not trusted here") {
        write_known_hosts(home, "localhost:1 SHA256:" + cert.fingerprint + "\n");
        auto c = client(server.port(), home, {"--tls"});
        CHECK(exit_code(*c) == 1);
        CHECK(has(c->stderr_text(), "cannot be verified"));
    }
    SUBCASE("changed") {
        TestCert other = make_test_cert(dir, "other");
        write_known_hosts(home, "# trusted by hand\n\n" + where + " SHA256:" + other.fingerprint + "\n");
        auto c = client(server.port(), home, {"--tls"});
        CHECK(exit_code(*c) == 1);
        std::string err = c->stderr_text();
        CHECK_MESSAGE(has(err, "error: the certificate of " + where + " has CHANGED"), err);
        CHECK(has(err, "line 3 of " + known_hosts_file(home)));
        CHECK(has(err, "delete line 3 of " + known_hosts_file(home)));
        CHECK(c->lines().empty());
    }
}

TEST_CASE("TLS to a plaintext server, and plaintext to a TLS server, end with one clear line") {
    TempDir dir, home;
    TestCert cert = make_test_cert(dir, "server");
    SUBCASE("--tls to a plaintext port") {
        Daemon d;
        auto c = client(d.port(), home, {"--tls"});
        CHECK(exit_code(*c) == 1);
        std::string err = c->stderr_text();
        CHECK_MESSAGE(err == "error: the server at localhost:" + std::to_string(d.port()) +
                                 " does not speak TLS: use --no-tls\n",
                      err);
    }
    SUBCASE("plaintext to a TLS port") {
        TlsServer server(cert);
        auto c = client(server.port(), home, {"--no-tls"});
        c->send_line("alice");
        c->send_line("alice123");
        CHECK(exit_code(*c) == 1);
        std::string err = c->stderr_text();
        CHECK_MESSAGE(err == "error: this port speaks TLS: connect with --tls\n", err);
    }
    SUBCASE("plaintext to a TLS server that answers only in TLS") {
        AlertServer server;
        auto c = client(server.port(), home, {});
        CHECK(exit_code(*c) == 1);
        std::string err = c->stderr_text();
        CHECK_MESSAGE(
            err == "error: the server at localhost:" + std::to_string(server.port()) + " speaks TLS: use --tls\n", err);
    }
}

TEST_CASE("on a terminal an unverified certificate is asked about; yes is remembered, no refuses") {
    TempDir dir, home;
    TestCert cert = make_test_cert(dir, "server");
    TlsServer server(cert);
    const std::string where = "localhost:" + std::to_string(server.port());

    SUBCASE("no") {
        TerminalClient t(server.port(), home);
        REQUIRE_MESSAGE(t.wait_for("(yes/no)? "), t.output());
        t.type("no");
        CHECK(t.wait_exit() == 1);
        CHECK(t.wait_for("error: the certificate of " + where + " is not trusted"));
        CHECK_FALSE(std::filesystem::exists(known_hosts_file(home)));
    }
    SUBCASE("yes, after an answer that is neither") {
        TerminalClient t(server.port(), home);
        REQUIRE_MESSAGE(t.wait_for("(yes/no)? "), t.output());
        CHECK(has(t.output(), "The certificate of " + where + " cannot be verified (self-signed certificate)."));
        CHECK(has(t.output(), "Its SHA-256 fingerprint is SHA256:"));
        t.type("perhaps");
        REQUIRE(t.wait_for("Please type 'yes' or 'no': "));
        t.type("yes");
        REQUIRE_MESSAGE(t.wait_for("Username: "), t.output());
        t.type("alice");
        REQUIRE(t.wait_for("Password: "));
        t.type("alice123");
        REQUIRE_MESSAGE(t.wait_for("welcome, alice"), t.output());
        t.type("logout");
        CHECK(t.wait_exit() == 0);

        // Remembered, privately, and trusted from now on, even by a script.
        const std::string file = known_hosts_file(home);
        CHECK(mode_of(file) == 0600);
        CHECK(mode_of(home.path() + "/confab") == 0700);
        std::ifstream in(file);
        std::string line;
        REQUIRE(std::getline(in, line));
        CHECK(line.rfind(where + " SHA256:", 0) == 0);
        auto c = client(server.port(), home, {"--tls"});
        CHECK_MESSAGE(logs_in(*c, "alice", "alice123"), c->stderr_text());
    }
}
