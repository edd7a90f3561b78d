// SPDX-License-Identifier: GPL-3.0-or-later
#include "daemon/systemd_integration.hpp"

#include "confab_build_config.hpp"
#include "proto/parse_number.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

#if CONFAB_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace confab::systemd {

namespace {

#if CONFAB_HAVE_SYSTEMD
std::string sanitized(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c == '\n' || c == '\0') { c = ' '; }
    }
    return out;
}

std::string monotonic_usec() {
    timespec ts{};
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) { return {}; }
    const auto usec =
        static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000U + static_cast<std::uint64_t>(ts.tv_nsec) / 1'000U;
    return "MONOTONIC_USEC=" + std::to_string(usec);
}

void send(const std::string& state) {
    // Errors (no socket, socket gone) are deliberately ignored: notification
    // is best effort and the daemon must keep running without a manager.
    (void)sd_notify(0, state.c_str());
}
#endif

} // namespace

bool compiled_with_systemd() noexcept {
    return CONFAB_HAVE_SYSTEMD != 0;
}

bool notify_socket_present() noexcept {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    return socket != nullptr && socket[0] != '\0';
}

#if CONFAB_HAVE_SYSTEMD

void notify_ready(std::string_view status) {
    std::string state = "READY=1\nSTATUS=" + sanitized(status);
    if (auto mono = monotonic_usec(); !mono.empty()) {
        state += '\n';
        state += mono;
    }
    send(state);
}

void notify_reloading() {
    std::string state = "RELOADING=1";
    if (auto mono = monotonic_usec(); !mono.empty()) {
        state += '\n';
        state += mono;
    }
    send(state);
}

void notify_stopping() {
    send("STOPPING=1");
}

void notify_status(std::string_view status) {
    send("STATUS=" + sanitized(status));
}

void notify_extend_timeout(std::chrono::microseconds by) {
    send("EXTEND_TIMEOUT_USEC=" + std::to_string(by.count()));
}

std::optional<std::chrono::microseconds> watchdog_interval() {
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(usec));
    }
    return std::nullopt;
}

void notify_watchdog() {
    send("WATCHDOG=1");
}

std::vector<int> listen_fds() {
    std::vector<int> fds;
    const int n = sd_listen_fds(1);
    for (int i = 0; i < n; ++i) { fds.push_back(SD_LISTEN_FDS_START + i); }
    return fds;
}

#else // !CONFAB_HAVE_SYSTEMD: no-op fallbacks

void notify_ready(std::string_view /*status*/) {}
void notify_reloading() {}
void notify_stopping() {}
void notify_status(std::string_view /*status*/) {}
void notify_extend_timeout(std::chrono::microseconds /*by*/) {}

std::optional<std::chrono::microseconds> watchdog_interval() {
    return std::nullopt;
}

void notify_watchdog() {}

std::vector<int> listen_fds() {
    return {};
}

#endif

bool journal_stream_is_stderr() noexcept {
    const char* env = std::getenv("JOURNAL_STREAM");
    if (env == nullptr) { return false; }
    const std::string_view value(env);
    const auto colon = value.find(':');
    if (colon == std::string_view::npos) { return false; }
    const auto dev = parse_number<std::uint64_t>(value.substr(0, colon));
    const auto ino = parse_number<std::uint64_t>(value.substr(colon + 1));
    if (!dev || !ino) { return false; }
    struct stat st {};
    if (fstat(2, &st) != 0) { return false; }
    return static_cast<std::uint64_t>(st.st_dev) == *dev && static_cast<std::uint64_t>(st.st_ino) == *ino;
}

} // namespace confab::systemd
