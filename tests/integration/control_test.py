#!/usr/bin/env python3
"""confabctl against the real confabd: every command through the real binary
over the daemon's control socket (in the test's temporary directory), kick,
lock and wall seen by real scripted confab clients, a peer of another uid
refused, the family rule on both kinds of socket, and the metrics parsed.
Every wait is bounded; the daemons and clients are stopped at the end."""
import json
import os
import queue
import re
import shutil
import socket
import struct
import subprocess
import threading
import time

from scenarios import Scenarios

CONFABD = os.environ["CONFABD"]
CONFAB = os.environ["CONFAB"]
CONFABCTL = os.environ["CONFABCTL"]
WAIT = 10.0
test = Scenarios()


class Daemon:
    def __init__(self, workdir, extra=""):
        self.dir = workdir
        self.users = os.path.join(workdir, "users")
        if not os.path.exists(self.users):
            with open(self.users, "w") as f:
                f.write("alice alice123\nbob bob123\ncarol carol123\n")
        self.socket = os.path.join(workdir, "ctl.sock")
        self.config = os.path.join(workdir, "confabd.toml")
        with open(self.config, "w") as f:
            f.write('listen = "127.0.0.1"\nport = 0\nusers_file = "%s"\nstate_dir = "%s"\ncontrol_socket = "%s"\n'
                    "hash_workers = 1\n%s" % (self.users, os.path.join(workdir, "state"), self.socket, extra))
        self.log_path = os.path.join(workdir, "daemon.log")
        self.start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.proc = subprocess.Popen([CONFABD, "--config", self.config], stdin=subprocess.DEVNULL,
                                     stdout=open(self.log_path, "a"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)\n", self.log())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError("confabd did not start:\n" + self.log())

    def log(self):
        """What this daemon logged (an earlier one in the same directory logged before `start`)."""
        with open(self.log_path) as f:
            f.seek(self.start)
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def ctl(daemon, *args, user=None, groups=None):
    """Runs confabctl --socket, as `user` with only the supplementary `groups` if given;
    returns (exit status, stdout, stderr)."""
    cmd = [CONFABCTL, "--socket", daemon.socket] + list(args)
    if user:
        extra = ["--groups", ",".join(str(g) for g in groups)] if groups else ["--clear-groups"]
        cmd = ["setpriv", "--reuid", user, "--regid", "nogroup"] + extra + cmd
    r = subprocess.run(cmd, text=True, capture_output=True, timeout=WAIT)
    return r.returncode, r.stdout, r.stderr


class Client:
    """A scripted confab that stays logged in; its output lines are collected as they come."""

    def __init__(self, daemon, name, password=None):
        self.proc = subprocess.Popen([CONFAB, "--port", str(daemon.port)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.send(name)
        self.send(password or name + "123")

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, pattern):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError("no line matching %r; saw %r" % (pattern, self.seen))

    def exit_status(self):
        return self.proc.wait(WAIT)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


class Frames:
    """Reads whole frames off a socket, keeping what arrived beyond the current one."""

    def __init__(self, sock):
        self.sock, self.data = sock, b""
        sock.settimeout(WAIT)

    def next(self):
        while len(self.data) < 4 or len(self.data) < 4 + struct.unpack(">I", self.data[:4])[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("closed after %r" % self.data)
            self.data += chunk
        n = struct.unpack(">I", self.data[:4])[0]
        payload, self.data = self.data[4:4 + n], self.data[4 + n:]
        return payload


@test
def status_and_who_list_the_online_users(workdir):
    d = Daemon(workdir)
    alice = bob = None
    try:
        alice, bob = Client(d, "alice"), Client(d, "bob")
        alice.expect("welcome, alice")
        bob.expect("welcome, bob")
        bob.send("message alice hi")
        alice.expect("bob: hi")
        code, out, err = ctl(d, "status")
        assert code == 0, (code, out, err)
        assert re.search(r"^users online +2$", out, re.M), out
        assert re.search(r"^messages direct +1$", out, re.M), out
        code, out, err = ctl(d, "--json", "status")
        s = json.loads(out)
        assert s["users_online"] == 2 and s["connections"] == 2 and s["version"], s
        assert s["memory_bytes"] > 0 and s["uptime_s"] >= 0, s
        code, out, err = ctl(d, "who")
        assert code == 0, (code, out, err)
        assert re.search(r"^alice +127\.0\.0\.1:\d+ +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d+s +0$", out, re.M), out
        assert re.search(r"^bob +127\.0\.0\.1:\d+ ", out, re.M), out
        code, out, err = ctl(d, "--json", "who")
        users = json.loads(out)["users"]
        assert [u["name"] for u in users] == ["alice", "bob"], users
        assert abs(users[0]["login_at_ms"] / 1000 - time.time()) < 60, users
        # --config finds the socket the daemon's configuration names.
        r = subprocess.run([CONFABCTL, "--config", d.config, "who"], text=True, capture_output=True, timeout=WAIT)
        assert r.returncode == 0 and "alice" in r.stdout, r
    finally:
        for c in (alice, bob):
            if c:
                c.close()
        d.stop()


@test
def kick_tells_the_user_why_and_logs_them_out(workdir):
    d = Daemon(workdir)
    alice = None
    try:
        alice = Client(d, "alice")
        alice.expect("welcome, alice")
        code, out, err = ctl(d, "kick", "alice", "please", "stop")
        assert code == 0 and "alice logged out" in out, (code, out, err)
        alice.expect("logged out: please stop")
        assert alice.exit_status() == 3
        code, out, err = ctl(d, "kick", "alice")
        assert code == 1 and "alice is not logged in" in err, (code, out, err)
        code, out, err = ctl(d, "--json", "kick", "nobody_here")
        assert code == 1 and json.loads(out)["error"] == "unknown user", (code, out)
        assert re.search(r"alice \(127\.0\.0\.1:\d+\) kicked by the administrator: please stop", d.log()), d.log()
    finally:
        if alice:
            alice.close()
        d.stop()


@test
def lock_ends_the_session_survives_a_restart_and_unlock_lifts_it(workdir):
    d = Daemon(workdir)
    bob = None
    try:
        bob = Client(d, "bob")
        bob.expect("welcome, bob")
        code, out, err = ctl(d, "lock", "bob")
        assert code == 0 and "bob locked until unlocked" in out, (code, out, err)
        bob.expect("logged out: your account was locked by the administrator")
        bob.close()
        d.stop()
        d = Daemon(workdir)
        bob = Client(d, "bob")
        bob.expect("error: account locked by the administrator")
        bob.close()
        code, out, err = ctl(d, "unlock", "bob")
        assert code == 0 and "bob unlocked" in out, (code, out, err)
        bob = Client(d, "bob")
        bob.expect("welcome, bob")
        code, out, err = ctl(d, "lock", "bob", "0")
        assert code == 2, (code, out, err)
        code, out, err = ctl(d, "lock", "bob", "3600")
        assert code == 0 and "bob locked for 3600 s" in out, (code, out, err)
    finally:
        if bob:
            bob.close()
        d.stop()


@test
def wall_reaches_every_online_user(workdir):
    d = Daemon(workdir)
    alice = bob = None
    try:
        alice, bob = Client(d, "alice"), Client(d, "bob")
        alice.expect("welcome, alice")
        bob.expect("welcome, bob")
        code, out, err = ctl(d, "wall", "restart", "at", "noon")
        assert code == 0 and "sent to 2 user(s)" in out, (code, out, err)
        for c in (alice, bob):
            c.expect(r"^announcement from the server: restart at noon$")
        code, out, err = ctl(d, "wall")
        assert code == 2, (code, out, err)
    finally:
        for c in (alice, bob):
            if c:
                c.close()
        d.stop()


@test
def reload_reads_the_users_file_again_and_reports_a_refusal(workdir):
    d = Daemon(workdir)
    try:
        with open(d.users, "a") as f:
            f.write("dave dave123\n")
        code, out, err = ctl(d, "reload")
        assert code == 0 and "configuration reloaded: 4 users" in out, (code, out, err)
        with open(d.config, "a") as f:
            f.write("timeout = -5\n")
        code, out, err = ctl(d, "reload")
        assert code == 1 and "reload refused" in err and "timeout" in err, (code, out, err)
    finally:
        d.stop()


@test
def usage_and_unreachable_daemon_exit_statuses(workdir):
    r = subprocess.run([CONFABCTL, "--socket", os.path.join(workdir, "none.sock"), "status"], text=True,
                       capture_output=True, timeout=WAIT)
    assert r.returncode == 3 and "is confabd running?" in r.stderr, r
    r = subprocess.run([CONFABCTL, "frobnicate"], text=True, capture_output=True, timeout=WAIT)
    assert r.returncode == 2 and "unknown command" in r.stderr, r
    r = subprocess.run([CONFABCTL, "--help"], text=True, capture_output=True, timeout=WAIT)
    assert r.returncode == 0 and "kick NAME [REASON]" in r.stdout, r


@test
def another_uid_is_refused(workdir):
    if os.geteuid() != 0:
        print("skip another_uid_is_refused: needs root to run confabctl as nobody")
        return
    os.chmod(workdir, 0o755)  # nobody must reach the socket to be refused by it
    d = Daemon(workdir)
    try:
        st = os.stat(d.socket)
        assert st.st_mode & 0o777 == 0o660 and st.st_gid == os.getegid(), oct(st.st_mode)
        # The file's mode keeps nobody out...
        code, out, err = ctl(d, "status", user="nobody")
        assert code == 4 and "Permission denied" in err, (code, out, err)
        # ... and so does the daemon's credentials check when the mode would not.
        os.chmod(d.socket, 0o666)
        code, out, err = ctl(d, "status", user="nobody")
        assert code == 4 and "permission denied" in err, (code, out, err)
        assert re.search(r"notice: control socket: refused uid 65534 pid \d+", d.log()), d.log()
        code, out, err = ctl(d, "status")
        assert code == 0, (code, out, err)
    finally:
        d.stop()


@test
def a_member_of_the_daemons_group_is_let_in(workdir):
    if os.geteuid() != 0:
        print("skip a_member_of_the_daemons_group_is_let_in: needs root to run confabctl as nobody")
        return
    os.chmod(workdir, 0o755)
    d = Daemon(workdir)
    try:
        # nobody, with the daemon's group among its supplementary groups only
        # (not in the group database): the kernel's record of the peer decides.
        code, out, err = ctl(d, "status", user="nobody", groups=[os.getegid()])
        assert code == 0 and "users online" in out.lower(), (code, out, err)
    finally:
        d.stop()


@test
def each_socket_takes_its_own_family_only(workdir):
    d = Daemon(workdir)
    try:
        # A control request on a user connection: ProtocolError{bad_request}.
        with socket.create_connection(("127.0.0.1", d.port), timeout=WAIT) as s:
            s.sendall(frame(b"\x01\x00\x01\x00\x04test") + frame(b"\x60\x00\x00\x00\x01"))
            frames = Frames(s)
            assert frames.next()[0] == 0x80  # Welcome
            reply = frames.next()
            assert reply[:3] == b"\xbf\x00\x0a", reply
        # A user request on the control socket: the same.
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(d.socket)
            s.sendall(frame(b"\x01\x00\x01\x00\x04test"))
            reply = Frames(s).next()
            assert reply[:3] == b"\xbf\x00\x0a", reply
        # At most 8 control clients at a time: the 9th is told the socket is busy.
        held = []
        try:
            for _ in range(8):
                held.append(socket.socket(socket.AF_UNIX))
                held[-1].connect(d.socket)
            ctl_status = ctl(d, "status")
            assert ctl_status[0] == 3 and "too many control connections" in ctl_status[2], ctl_status
        finally:
            for h in held:
                h.close()
        time.sleep(0.2)
        assert ctl(d, "status")[0] == 0
        # The control socket answers several requests on one connection.
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(d.socket)
            s.sendall(frame(b"\x60\x00\x00\x00\x07") + frame(b"\x61\x00\x00\x00\x08"))
            frames = Frames(s)
            assert frames.next()[:5] == b"\xa0\x00\x00\x00\x07"
            assert frames.next()[:5] == b"\xa1\x00\x00\x00\x08"
    finally:
        d.stop()


def parse_metrics(text):
    """The Prometheus text format, strictly: {sample with labels: value}, {family: type}."""
    types, samples, family = {}, {}, None
    name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
    for line in text.splitlines():
        m = re.fullmatch(r"# HELP (%s) .+" % name_re, line)
        if m:
            continue
        m = re.fullmatch(r"# TYPE (%s) (counter|gauge|histogram)" % name_re, line)
        if m:
            family = m.group(1)
            assert family not in types, line
            types[family] = m.group(2)
            assert m.group(2) != "counter" or family.endswith("_total"), line
            continue
        m = re.fullmatch(r'(%s)(\{[a-zA-Z_]\w*="[^"\\]*"(?:,[a-zA-Z_]\w*="[^"\\]*")*\})? (\S+)' % name_re, line)
        assert m, "not a sample line: %r" % line
        name = m.group(1)
        allowed = [family] if types[family] != "histogram" else [family + s for s in ("_bucket", "_sum", "_count")]
        assert name in allowed, (line, family)
        samples[name + (m.group(2) or "")] = float(m.group(3))
    return types, samples


@test
def metrics_count_what_happened(workdir):
    d = Daemon(workdir)
    alice = bob = None
    try:
        alice, bob = Client(d, "alice"), Client(d, "bob")
        alice.expect("welcome, alice")
        bob.expect("welcome, bob")
        bob.send("message alice one")
        alice.expect("bob: one")
        bob.send("message carol stored")
        bob.expect("stored for delivery")
        alice.send("broadcast hello")
        bob.expect("alice \\(broadcast\\): hello")
        assert ctl(d, "kick", "bob")[0] == 0
        bob.expect("logged out")
        code, out, err = ctl(d, "metrics")
        assert code == 0, (code, err)
        types, m = parse_metrics(out)
        assert m["confab_sessions"] == 1 and m["confab_connections"] == 1, m
        assert m['confab_logins_total{outcome="ok"}'] == 2, m
        assert m['confab_messages_total{kind="direct"}'] == 1, m
        assert m['confab_messages_total{kind="broadcast"}'] == 1, m
        assert m['confab_messages_total{kind="stored_offline"}'] == 1, m
        assert m["confab_kicks_total"] == 1 and m['confab_session_ends_total{reason="kicked"}'] == 1, m
        assert m["confab_offline_messages"] == 1, m
        assert m["confab_received_bytes_total"] > 0 and m["confab_sent_bytes_total"] > 0, m
        assert m["process_resident_memory_bytes"] > 0, m
        for h in ("confab_event_loop_iteration_seconds", "confab_store_commit_seconds"):
            assert types[h] == "histogram", types
            assert m[h + '_bucket{le="+Inf"}'] == m[h + "_count"] > 0, (h, m)
        # promtool (Debian's prometheus package) checks it too where it is installed.
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "metrics"], input=out, text=True, capture_output=True,
                               timeout=WAIT)
            assert r.returncode == 0, r
    finally:
        for c in (alice, bob):
            if c:
                c.close()
        d.stop()


@test
def metrics_over_http(workdir):
    d = Daemon(workdir, 'metrics_listen = "127.0.0.1:0"\n')
    try:
        port = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", d.log()).group(1))

        def get(request):
            with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
                s.sendall(request)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        return data.decode()
                    data += chunk

        r = get(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = r.split("\r\n\r\n", 1)
        assert head.startswith("HTTP/1.1 200 OK") and "version=0.0.4" in head, head
        assert int(re.search(r"Content-Length: (\d+)", head).group(1)) == len(body.encode())
        types, m = parse_metrics(body)
        assert m["confab_sessions"] == 0 and types["confab_logins_total"] == "counter", m
        assert get(b"GET /other HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 404")
        assert get(b"DELETE /metrics HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 405")
        assert get(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 5000).startswith("HTTP/1.1 431")
        # The daemon is unharmed.
        assert ctl(d, "status")[0] == 0
    finally:
        d.stop()


@test
def user_commands_edit_the_file_and_reload_the_daemon(workdir):
    d = Daemon(workdir)
    dave = None
    try:
        def user(*args, stdin=None):
            r = subprocess.run([CONFABCTL, "--config", d.config, "--socket", d.socket, "user"] + list(args),
                               input=stdin, text=True, capture_output=True, timeout=WAIT)
            return r.returncode, r.stdout, r.stderr

        code, out, err = user("add", "dave", "--stdin", stdin="dave-secret\n")
        assert code == 0 and "dave added" in out and "confabd reloaded" in out, (code, out, err)
        assert re.search(r"^dave:\$y\$", open(d.users).read(), re.M), open(d.users).read()
        dave = Client(d, "dave", "dave-secret")
        dave.expect("welcome, dave")
        code, out, err = user("add", "dave", "--stdin", stdin="again\n")
        assert code == 1 and "dave" in err, (code, out, err)
        code, out, err = user("passwd", "zoe", "--stdin", stdin="x\n")
        assert code == 1, (code, out, err)
        code, out, err = user("list")
        assert out.split("\n")[:4] == ["alice (plaintext password)", "bob (plaintext password)",
                                        "carol (plaintext password)", "dave"], out
        code, out, err = subprocess.run([CONFABCTL, "--config", d.config, "--json", "user", "list"], text=True,
                                        capture_output=True, timeout=WAIT).returncode, None, None
        assert code == 0
        code, out, err = user("del", "carol")
        assert code == 0 and "carol deleted" in out, (code, out, err)
        assert "carol" not in open(d.users).read()
        code, out, err = user("frob")
        assert code == 2, (code, out, err)
        d.stop()
        # Without a daemon the file is still edited.
        code, out, err = user("passwd", "dave", "--stdin", stdin="new-secret\n")
        assert code == 0 and "not running" in out, (code, out, err)
    finally:
        if dave:
            dave.close()
        d.stop()


@test
def the_socket_file_is_replaced_when_stale_and_removed_at_exit(workdir):
    d = Daemon(workdir)
    d.proc.kill()  # no chance to clean up
    d.proc.wait(5)
    assert os.path.exists(d.socket), "the killed daemon's socket file"
    d = Daemon(workdir)
    try:
        assert "removed the stale control socket" in d.log(), d.log()
        # A second daemon must not take over a live socket.
        r = subprocess.run([CONFABD, "--config", d.config], text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=WAIT)
        assert r.returncode != 0 and "another daemon is listening there" in r.stdout, r
        code, out, err = ctl(d, "status")
        assert code == 0, (code, out, err)
    finally:
        d.stop()
    assert not os.path.exists(d.socket), "the socket file after exit"


if __name__ == "__main__":
    test.run("confab-control-", 240)
