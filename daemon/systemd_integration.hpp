// SPDX-License-Identifier: GPL-3.0-or-later
//
// Thin wrapper around the parts of libsystemd (sd-daemon.h) that confabd uses:
// readiness/status notification, the service watchdog, socket activation and
// detection of a journald-connected stderr.
//
// When confab is built without libsystemd (CONFAB_HAVE_SYSTEMD == 0) every
// notify_* function is a no-op, watchdog_interval() returns nullopt and
// listen_fds() returns an empty vector. journal_stream_is_stderr() does not
// need libsystemd and always works.
//
// All functions are safe to call when the process was not started by systemd
// (no $NOTIFY_SOCKET, $WATCHDOG_USEC, $LISTEN_FDS): they then do nothing.
// They never throw.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>
#include <vector>

namespace confab::systemd {

// True when this build links libsystemd (notifications are really sent).
[[nodiscard]] bool compiled_with_systemd() noexcept;

// True when $NOTIFY_SOCKET is set, i.e. the service manager waits for
// READY=1 (Type=notify). Useful to log a warning when it is set but
// compiled_with_systemd() is false (the unit would then time out on start).
[[nodiscard]] bool notify_socket_present() noexcept;

// READY=1 + STATUS=<status> + MONOTONIC_USEC=<now>. Call once listeners are
// bound and the configuration is validated, and again after a reload
// completed (that ends the RELOADING=1 state). Newlines in status are replaced
// by spaces.
void notify_ready(std::string_view status);

// RELOADING=1 + MONOTONIC_USEC=<now>. Call when SIGHUP processing starts;
// follow with notify_ready() when done (also when the new config was rejected
// and the old one kept).
void notify_reloading();

// STOPPING=1. Call when SIGTERM/SIGINT processing starts.
void notify_stopping();

// STATUS=<status> (shown by `systemctl status`), e.g. "42 users online".
void notify_status(std::string_view status);

// EXTEND_TIMEOUT_USEC=<by>: the start (or stop) in progress may take `by` longer than the
// unit's timeout from now, e.g. while waiting for a service on another host.
void notify_extend_timeout(std::chrono::microseconds by);

// The watchdog interval requested by the unit (WatchdogSec=) for this
// process, or nullopt if the watchdog is not enabled. Send notify_watchdog()
// at least every interval/2.
[[nodiscard]] std::optional<std::chrono::microseconds> watchdog_interval();

// WATCHDOG=1.
void notify_watchdog();

// Sockets passed by socket activation (confabd.socket): the fds
// SD_LISTEN_FDS_START (3) .. 3+n-1, already FD_CLOEXEC. Empty when not socket
// activated. Unsets $LISTEN_FDS/$LISTEN_PID/$LISTEN_FDNAMES, so call it once,
// early, and keep the result.
[[nodiscard]] std::vector<int> listen_fds();

// True when $JOURNAL_STREAM ("<dev>:<inode>") names the file open on fd 2,
// i.e. stderr is connected to journald: log lines should then carry a "<N>"
// syslog-priority prefix and no own timestamp.
[[nodiscard]] bool journal_stream_is_stderr() noexcept;

} // namespace confab::systemd
