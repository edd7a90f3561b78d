#!/usr/bin/env python3
"""End-to-end check of confabd's systemd integration, without systemd:

- Type=notify: READY=1 (+STATUS=) on a fake $NOTIFY_SOCKET once listening,
  WATCHDOG=1 when $WATCHDOG_USEC is set, RELOADING=1 then READY=1 on SIGHUP,
  STOPPING=1 and exit 0 on SIGTERM;
- exit status 78 for a bad configuration (RestartPreventExitStatus=78);
- "<N>" syslog prefixes when $JOURNAL_STREAM names stderr;
- socket activation through systemd-socket-activate (if installed).

Usage: check-systemd-protocol.py PATH/TO/confabd
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CONFABD = os.path.abspath(sys.argv[1])
failures = []


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    failures.append(msg)


class Notify:
    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def wait_for(self, key, timeout=10.0):
        """Returns the first datagram containing line `key` (e.g. READY=1)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                return None
            if key in msg.split("\n"):
                return msg

    def drain(self):
        self.sock.settimeout(0)
        try:
            while True:
                self.sock.recv(4096)
        except (BlockingIOError, socket.timeout):
            pass


def base_env(tmp):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                        "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM")}
    return env


def start(args, env, stderr):
    return subprocess.Popen([CONFABD] + args, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=stderr)


def stop(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


# The logs are opened for appending: the daemon shares the file's offset, and a
# read from the start (seek(0)) must not make it write over what it wrote before.


def check_notify(tmp):
    notify = Notify(tmp)
    env = base_env(tmp)
    env["NOTIFY_SOCKET"] = notify.path
    env["WATCHDOG_USEC"] = "400000"
    log = open(os.path.join(tmp, "notify.log"), "a+")
    proc = start(["--listen", "127.0.0.1", "--port", "0",
                  "--state-dir", os.path.join(tmp, "state")], env, log)
    try:
        ready = notify.wait_for("READY=1")
        if ready is None:
            fail("no READY=1 on $NOTIFY_SOCKET within 10 s")
            return
        if not any(l.startswith("STATUS=") for l in ready.split("\n")):
            fail("READY=1 without STATUS=: %r" % ready)
        if notify.wait_for("WATCHDOG=1", timeout=2.0) is None:
            fail("no WATCHDOG=1 within 2 s with WATCHDOG_USEC=400000")
        notify.drain()
        proc.send_signal(signal.SIGHUP)
        if notify.wait_for("RELOADING=1") is None:
            fail("no RELOADING=1 after SIGHUP")
        elif notify.wait_for("READY=1") is None:
            fail("no READY=1 after the reload")
        proc.send_signal(signal.SIGTERM)
        if notify.wait_for("STOPPING=1") is None:
            fail("no STOPPING=1 after SIGTERM")
        rc = stop(proc)
        if rc != 0:
            fail("exit status %r after SIGTERM, expected 0" % rc)
    finally:
        stop(proc)
        log.seek(0)
        text = log.read()
        if failures:
            print(text, file=sys.stderr)


def check_bad_config(tmp):
    conf = os.path.join(tmp, "bad.toml")
    with open(conf, "w") as f:
        f.write('no_such_key = 1\n')
    r = subprocess.run([CONFABD, "--config", conf], env=base_env(tmp),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    if r.returncode != 78:
        fail("bad config: exit status %d, expected 78" % r.returncode)
    r = subprocess.run([CONFABD, "--config", conf, "--check-config"], env=base_env(tmp),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    if r.returncode != 78:
        fail("--check-config on a bad config: exit status %d, expected 78" % r.returncode)


def check_journal_prefix(tmp):
    path = os.path.join(tmp, "journal.log")
    log = open(path, "a+")
    st = os.fstat(log.fileno())
    env = base_env(tmp)
    env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    proc = start(["--listen", "127.0.0.1", "--port", "0",
                  "--state-dir", os.path.join(tmp, "state2")], env, log)
    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline and "listening on" not in text:
        time.sleep(0.05)
        log.seek(0)
        text = log.read()
    stop(proc)
    log.seek(0)
    lines = [l for l in log.read().splitlines() if l]
    if not lines:
        fail("no log output with JOURNAL_STREAM set")
    bad = [l for l in lines if not re.match(r"^<[0-7]>", l)]
    if bad:
        fail("log lines without <N> prefix although JOURNAL_STREAM names stderr: %r" % bad[:3])


def check_socket_activation(tmp):
    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        print("systemd-socket-activate not installed: socket activation not checked")
        return
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    notify = Notify(os.path.join(tmp, "sa"))
    env = base_env(tmp)
    env["NOTIFY_SOCKET"] = notify.path
    log = open(os.path.join(tmp, "activate.log"), "a+")
    # confabd is configured for another port: it must use the passed socket.
    proc = subprocess.Popen([activate, "-l", "127.0.0.1:%d" % port, "-E", "NOTIFY_SOCKET",
                             CONFABD, "--listen", "127.0.0.1", "--port", "0",
                             "--state-dir", os.path.join(tmp, "state3")],
                            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        time.sleep(0.3)
        client = None
        deadline = time.monotonic() + 10
        while client is None and time.monotonic() < deadline:
            try:
                client = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                time.sleep(0.1)
        if client is None:
            fail("cannot connect to the socket-activation port %d" % port)
            return
        if notify.wait_for("READY=1") is None:
            fail("socket activated confabd sent no READY=1")
        client.close()
        log.seek(0)
        text = log.read()
        if "listening on 127.0.0.1:%d" % port not in text and "passed by systemd" not in text:
            fail("confabd did not use the socket passed by systemd-socket-activate:\n" + text)
    finally:
        stop(proc)


def main():
    if not os.access(CONFABD, os.X_OK):
        print("SKIP: %s not built" % CONFABD, file=sys.stderr)
        return 77
    with tempfile.TemporaryDirectory(prefix="confab-sd-") as tmp:
        os.mkdir(os.path.join(tmp, "sa"))
        check_bad_config(tmp)
        check_notify(tmp)
        check_journal_prefix(tmp)
        check_socket_activation(tmp)
    if failures:
        return 1
    print("systemd protocol checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
