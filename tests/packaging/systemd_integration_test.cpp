// Unit test of daemon/systemd_integration: talks to a fake $NOTIFY_SOCKET,
// fakes $WATCHDOG_USEC, $LISTEN_FDS and $JOURNAL_STREAM.
#include "daemon/systemd_integration.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace sd = confab::systemd;

namespace {

struct NotifySocket {
    int fd = -1;
    std::string path;

    NotifySocket() {
        char dir[] = "/tmp/confab-notify-XXXXXX";
        REQUIRE(mkdtemp(dir) != nullptr);
        path = std::string(dir) + "/notify";
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        timeval tv{2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setenv("NOTIFY_SOCKET", path.c_str(), 1);
    }
    ~NotifySocket() {
        unsetenv("NOTIFY_SOCKET");
        close(fd);
        unlink(path.c_str());
        rmdir(path.substr(0, path.rfind('/')).c_str());
    }
    std::string receive() const {
        char buf[4096];
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }
};

} // namespace

TEST_CASE("without a service manager everything is a silent no-op") {
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("LISTEN_FDS");
    CHECK_FALSE(sd::notify_socket_present());
    sd::notify_ready("ready");
    sd::notify_reloading();
    sd::notify_status("status");
    sd::notify_watchdog();
    sd::notify_stopping();
    CHECK_FALSE(sd::watchdog_interval().has_value());
    CHECK(sd::listen_fds().empty());
}

TEST_CASE("notifications reach $NOTIFY_SOCKET") {
    if (!sd::compiled_with_systemd()) {
        MESSAGE("built without libsystemd: notifications are no-ops");
        return;
    }
    NotifySocket ns;
    CHECK(sd::notify_socket_present());

    sd::notify_ready("listening on 127.0.0.1:7420\nsecond line");
    const std::string ready = ns.receive();
    CHECK(ready.find("READY=1\n") == 0);
    CHECK(ready.find("STATUS=listening on 127.0.0.1:7420 second line") != std::string::npos);
    CHECK(ready.find("MONOTONIC_USEC=") != std::string::npos);

    sd::notify_reloading();
    const std::string reloading = ns.receive();
    CHECK(reloading.find("RELOADING=1\nMONOTONIC_USEC=") == 0);

    sd::notify_status("3 users online");
    CHECK(ns.receive() == "STATUS=3 users online");
    sd::notify_watchdog();
    CHECK(ns.receive() == "WATCHDOG=1");
    sd::notify_stopping();
    CHECK(ns.receive() == "STOPPING=1");
}

TEST_CASE("watchdog interval comes from $WATCHDOG_USEC for this pid") {
    setenv("WATCHDOG_USEC", "30000000", 1);
    setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
    const auto interval = sd::watchdog_interval();
    if (sd::compiled_with_systemd()) {
        REQUIRE(interval.has_value());
        CHECK(interval->count() == 30000000);
    } else {
        CHECK_FALSE(interval.has_value());
    }
    setenv("WATCHDOG_PID", "1", 1); // meant for another process
    CHECK_FALSE(sd::watchdog_interval().has_value());
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

TEST_CASE("listen_fds returns the passed sockets once") {
    if (!sd::compiled_with_systemd()) {
        CHECK(sd::listen_fds().empty());
        return;
    }
    // Put a socket on fd 3 (SD_LISTEN_FDS_START) as systemd would.
    const int saved3 = fcntl(3, F_DUPFD_CLOEXEC, 10); // -1 if fd 3 was free
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(s >= 0);
    if (s != 3) {
        REQUIRE(dup2(s, 3) == 3);
        close(s);
    }
    setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
    setenv("LISTEN_FDS", "1", 1);

    const auto fds = sd::listen_fds();
    REQUIRE(fds.size() == 1);
    CHECK(fds[0] == 3);
    CHECK((fcntl(3, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(std::getenv("LISTEN_FDS") == nullptr); // unset after the first call
    CHECK(sd::listen_fds().empty());

    close(3);
    if (saved3 >= 0) {
        dup2(saved3, 3);
        close(saved3);
    }
}

TEST_CASE("journal_stream_is_stderr compares dev:ino of fd 2") {
    struct stat st {};
    REQUIRE(fstat(2, &st) == 0);
    const std::string match = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                              std::to_string(static_cast<unsigned long long>(st.st_ino));
    setenv("JOURNAL_STREAM", match.c_str(), 1);
    CHECK(sd::journal_stream_is_stderr());

    const std::string other = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                              std::to_string(static_cast<unsigned long long>(st.st_ino) + 1);
    setenv("JOURNAL_STREAM", other.c_str(), 1);
    CHECK_FALSE(sd::journal_stream_is_stderr());

    for (const char* bad : {"", ":", "12", "12:", ":34", "x:1", "1:2:3", "-1:5"}) {
        setenv("JOURNAL_STREAM", bad, 1);
        CHECK_FALSE(sd::journal_stream_is_stderr());
    }
    unsetenv("JOURNAL_STREAM");
    CHECK_FALSE(sd::journal_stream_is_stderr());
}
