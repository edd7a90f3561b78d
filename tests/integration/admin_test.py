#!/usr/bin/env python3
"""The administrator's side against the real binaries: confab-passwd (stdin
and terminal, Ctrl-C at the prompt), confabctl user with and without a
running daemon (a deleted user's session, messages and blocks end), and what confabd does with the files it
is given and makes (state modes under umask 000, an empty users file). Every wait is bounded; each daemon and tmux server is stopped at
the end whatever happens."""
import os
import configparser
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import time

from control_test import Client
from scenarios import Scenarios
from tmux_test import Screen

CONFABD = os.environ["CONFABD"]
CONFAB = os.environ["CONFAB"]
CONFAB_PASSWD = os.environ["CONFAB_PASSWD"]
CONFABCTL = os.environ["CONFABCTL"]
WAIT = 10.0
test = Scenarios()


def wait_until(predicate, what, limit=WAIT):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("%s within %.0f s" % (what, limit))


class Daemon:
    """confabd on an ephemeral 127.0.0.1 port with the given users file."""

    def __init__(self, workdir, users, extra="", umask=None, listen="127.0.0.1"):
        self.dir = workdir
        self.config = os.path.join(workdir, "confabd.toml")
        with open(self.config, "w") as f:
            f.write('listen = "%s"\nport = 0\nusers_file = "%s"\nstate_dir = "%s"\nhash_workers = 1\n%s'
                    % (listen, users, os.path.join(workdir, "state"), extra))
        self.log_path = os.path.join(workdir, "daemon.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([CONFABD, "--config", self.config], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     preexec_fn=None if umask is None else (lambda: os.umask(umask)))
        wait_until(lambda: self.listening_port() or self.proc.poll() is not None, "confabd listening")
        self.port = self.listening_port()
        if not self.port:
            raise AssertionError("confabd did not start:\n" + self.text())

    def text(self):
        return open(self.log_path).read()

    def listening_port(self):
        m = re.search(r"listening on (?:127\.0\.0\.1|::1|::ffff:127\.0\.0\.1):(\d+)\n", self.text())
        return int(m.group(1)) if m else None

    def reload(self):
        before = self.text().count("configuration reloaded")
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.text().count("configuration reloaded") > before, "reload finished")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def client(port, script):
    """A scripted confab; returns (exit status, stdout, stderr)."""
    r = subprocess.run([CONFAB, "--port", str(port)], input=script, text=True, capture_output=True, timeout=WAIT)
    return r.returncode, r.stdout, r.stderr


def passwd_stdin(users, name, password, umask=None):
    def set_umask():
        if umask is not None:
            os.umask(umask)
    return subprocess.run([CONFAB_PASSWD, "--stdin", users, name], input=password + "\n", text=True,
                          capture_output=True, timeout=WAIT, preexec_fn=set_umask)


@test
def confab_passwd_stdin_makes_a_0640_file_whatever_the_umask_and_a_reload_applies_a_change(workdir):
    users = os.path.join(workdir, "users")
    r = passwd_stdin(users, "alice", "first-pass", umask=0)
    assert r.returncode == 0, r
    assert "password for alice set in" in r.stderr, r.stderr
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o640, oct(os.stat(users).st_mode)
    assert re.fullmatch(r"alice:\$y\$\S+\n", open(users).read()), open(users).read()
    d = Daemon(workdir, users)
    try:
        code, out, err = client(d.port, "alice\nfirst-pass\n")
        assert "welcome, alice" in out, (out, err)
        assert passwd_stdin(users, "alice", "second-pass").returncode == 0
        d.reload()
        code, out, err = client(d.port, "alice\nfirst-pass\n")
        assert code == 2 and "wrong password" in err, (code, out, err)
        code, out, err = client(d.port, "alice\nsecond-pass\n")
        assert "welcome, alice" in out, (out, err)
    finally:
        d.stop()


@test
def confab_passwd_refuses_bad_input_and_leaves_the_file_alone(workdir):
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write("bob bob123\n")
    r = passwd_stdin(users, "al/ice", "x")
    assert r.returncode == 1 and "invalid user name" in r.stderr, r
    r = passwd_stdin(users, "alice", "")
    assert r.returncode == 1 and "must not be empty" in r.stderr, r
    r = subprocess.run([CONFAB_PASSWD, users], capture_output=True, text=True, timeout=WAIT)
    assert r.returncode == 1 and "usage" in r.stderr.lower(), r
    assert open(users).read() == "bob bob123\n"


@test
def ctrl_c_at_the_confab_passwd_prompt_gives_the_echo_back(workdir):
    users = os.path.join(workdir, "users")
    s = Screen("confab-admin-%d-%s" % (os.getpid(), os.path.basename(workdir)), "%s %s alice" % (CONFAB_PASSWD, users))
    try:
        s.wait_for(r"^New password:")
        s.type("half-typed")
        s.keys("C-c")
        s.wait_for(r"^\[exit 130\]")  # killed by SIGINT, as the shell expects
        s.wait_for(r"^\[echo on\]")
        assert not os.path.exists(users)
    finally:
        s.close()


@test
def confab_passwd_on_the_terminal_asks_twice(workdir):
    users = os.path.join(workdir, "users")
    s = Screen("confab-admin-%d-%s" % (os.getpid(), os.path.basename(workdir)), "%s %s alice" % (CONFAB_PASSWD, users))
    try:
        s.wait_for(r"^New password:")
        s.type("one")
        s.keys("Enter")
        s.wait_for(r"^Retype new password:")
        s.type("two")
        s.keys("Enter")
        screen = s.wait_for(r"^\[exit 1\]")
        assert "passwords do not match" in screen, screen
        assert "one" not in screen.replace("done", ""), screen  # nothing typed was echoed
        s.wait_for(r"^\[echo on\]")
    finally:
        s.close()
    assert not os.path.exists(users)


def ctl_user(d, *args, password=None):
    """confabctl --config CONFIG user ARGS; the password, if any, on stdin."""
    cmd = [CONFABCTL, "--config", d.config, "user"] + list(args)
    return subprocess.run(cmd, input=None if password is None else password + "\n", text=True,
                          capture_output=True, timeout=WAIT)


class Config:
    """The files a daemon would use, without one running."""

    def __init__(self, workdir):
        self.users = os.path.join(workdir, "users")
        self.config = os.path.join(workdir, "confabd.toml")
        with open(self.config, "w") as f:
            f.write('listen = "127.0.0.1"\nport = 0\nusers_file = "%s"\nstate_dir = "%s"\nhash_workers = 1\n'
                    % (self.users, os.path.join(workdir, "state")))


def rows(workdir, sql):
    db = sqlite3.connect(os.path.join(workdir, "state", "confab.db"))
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


@test
def confabctl_user_edits_the_file_without_a_daemon(workdir):
    c = Config(workdir)
    r = ctl_user(c, "add", "--stdin", "alice", password="alice-pass")
    assert r.returncode == 0, r
    assert r.stdout.strip() == "alice added in %s; confabd is not running here: it reads the file when it starts" \
        % c.users, r.stdout
    assert stat.S_IMODE(os.stat(c.users).st_mode) == 0o640
    r = ctl_user(c, "add", "--stdin", "alice", password="again")
    assert r.returncode == 1 and "user 'alice' already exists" in r.stderr, r
    r = ctl_user(c, "passwd", "--stdin", "bob", password="x")
    assert r.returncode == 1 and "no user 'bob'" in r.stderr, r
    r = ctl_user(c, "del", "bob")
    assert r.returncode == 1 and "no user 'bob'" in r.stderr, r
    r = ctl_user(c, "add", "--stdin", "al/ice", password="x")
    assert r.returncode == 2 and "invalid user name" in r.stderr, r
    r = ctl_user(c, "frob")
    assert r.returncode == 2 and "unknown subcommand 'frob'" in r.stderr, r
    r = ctl_user(c, "add")
    assert r.returncode == 2 and "takes one NAME" in r.stderr, r
    assert ctl_user(c, "add", "--stdin", "bob", password="bob-pass").returncode == 0
    r = ctl_user(c, "list")
    assert r.returncode == 0 and r.stdout == "alice\nbob\n", r
    r = subprocess.run([CONFABCTL, "--config", c.config, "--json", "user", "list"], text=True, capture_output=True,
                       timeout=WAIT)
    assert r.stdout == '{"users":[{"name":"alice","plaintext":false},{"name":"bob","plaintext":false}]}\n', r.stdout
    r = ctl_user(c, "del", "alice")
    assert r.returncode == 0 and "alice deleted from" in r.stdout, r
    assert ctl_user(c, "list").stdout == "bob\n"


@test
def concurrent_confabctl_user_adds_lose_nothing(workdir):
    c = Config(workdir)
    names = ["user%d" % i for i in range(6)]
    procs = [subprocess.Popen([CONFABCTL, "--config", c.config, "user", "add", "--stdin", n], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in names]
    for p in procs:
        p.communicate("pw-%d\n" % procs.index(p), timeout=WAIT)
        assert p.returncode == 0, p.returncode
    assert ctl_user(c, "list").stdout.split() == names


@test
def confabctl_user_against_a_running_daemon(workdir):
    c = Config(workdir)
    for name in ("alice", "bob", "carol", "dave"):
        assert ctl_user(c, "add", "--stdin", name, password=name + "-pass").returncode == 0
    d = Daemon(workdir, c.users)
    alice = Client(d, "alice", "alice-pass")
    try:
        alice.expect(r"welcome, alice")
        alice.send("block bob")
        alice.expect(r"bob is blocked")
        # A message waits for dave, who is offline.
        code, out, err = client(d.port, "carol\ncarol-pass\nmessage dave for later\n")
        assert "stored" in out + err, (out, err)
        wait_until(lambda: rows(workdir, "SELECT count(*) FROM messages WHERE recipient = 'dave'") == [(1,)],
                   "the message to dave stored")
        # A new user can log in at once; a changed password keeps alice's session.
        r = ctl_user(d, "add", "--stdin", "erin", password="erin-pass")
        assert r.returncode == 0 and r.stdout.strip().endswith("confabd reloaded"), r
        code, out, err = client(d.port, "erin\nerin-pass\n")
        assert "welcome, erin" in out, (out, err)
        r = ctl_user(d, "passwd", "--stdin", "alice", password="alice-new")
        assert r.returncode == 0 and "alice password changed" in r.stdout, r
        alice.send("whoelse")
        alice.expect(r"no other users|online")
        # Deleting alice ends her session with the reason, and drops her blocks.
        r = ctl_user(d, "del", "alice")
        assert r.returncode == 0 and r.stdout.strip().endswith("confabd reloaded"), r
        alice.expect(r"^logged out: your account was removed by the administrator$")
        assert alice.exit_status() == 3
        wait_until(lambda: rows(workdir, "SELECT count(*) FROM blocks WHERE blocker = 'alice'") == [(0,)],
                   "alice's blocks deleted")
        assert "alice was removed from the users file: session ended" in d.text()
        code, out, err = client(d.port, "alice\nalice-new\n")
        assert code == 2, (code, out, err)
        # dave's stored message goes with him.
        assert ctl_user(d, "del", "dave").returncode == 0
        wait_until(lambda: rows(workdir, "SELECT count(*) FROM messages WHERE recipient = 'dave'") == [(0,)],
                   "dave's stored message deleted")
    finally:
        alice.close()
        d.stop()


# fail2ban's own expansion of <HOST> (filter.d/common.conf and failregex.py, 0.11).
FAIL2BAN_HOST = (r"(?:(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})"
                 r"|\[?(?P<ip6>(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):))\]?"
                 r"|(?P<dns>[\w\-.^_]*\w))")


def fail2ban_filters():
    """The shipped filter's failregex lines, as fail2ban would compile them (one regex per line)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packaging", "fail2ban",
                             "confabd.conf"))
    return [re.compile(line.strip().replace("<HOST>", FAIL2BAN_HOST))
            for line in parser["Definition"]["failregex"].splitlines() if line.strip()]


def fail2ban_hosts(d):
    """The host of each line of the daemon's log that the filter matches, in order."""
    patterns = fail2ban_filters()
    hosts = []
    for line in d.text().splitlines():
        for pattern in patterns:
            m = pattern.search(line)
            if m:
                assert " notice: " in line, line
                hosts.append(m.group("ip4") or m.group("ip6"))
                break
    return hosts


def failed_login_hosts(d, count):
    """The hosts the filter finds in the daemon's log, once `count` failed-login lines are there."""
    wait_until(lambda: d.text().count("failed login for") >= count, "%d failed-login lines" % count)
    return fail2ban_hosts(d)


@test
def a_storm_of_failed_logins_is_summarised_per_address_for_the_fail2ban_filter(workdir):
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write("alice alice123\n")
    # More wrong passwords than the 20 lines per 10 s the daemon writes one by one
    # (even if the attempts straddle two of its 10 s intervals).
    attempts = 45
    d = Daemon(workdir, users, extra="address_failed_logins = 1000\n")
    try:
        for k in range(attempts):
            client(d.port, "mallory%d\nguess\n" % k)

        def summarised():
            return [int(n) for n in re.findall(r"notice: \.\.\. (\d+) more failed logins from 127\.0\.0\.1 in the last "
                                               r"10 s \(not logged one by one\)\n", d.text())]
        wait_until(lambda: d.text().count("failed login for") + sum(summarised()) == attempts,
                   "every failed login logged or summarised", limit=25)
        one_by_one = d.text().count("failed login for")
        assert summarised() and one_by_one <= 40, d.text()
        assert fail2ban_hosts(d) == ["127.0.0.1"] * (one_by_one + len(summarised())), d.text()
    finally:
        d.stop()


@test
def failed_logins_name_address_and_port_for_the_fail2ban_filter(workdir):
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write("alice alice123\n")
    # An IPv6 socket taking IPv4 connections, as a dual-stack listener on :: does.
    d = Daemon(workdir, users, listen="::ffff:127.0.0.1")
    try:
        client(d.port, "alice\nwrong\n")
        client(d.port, "mallory\nguess\n")
        code, out, err = client(d.port, "alice\nalice123\n")
        assert "welcome, alice" in out, (out, err)
        assert failed_login_hosts(d, 2) == ["127.0.0.1", "127.0.0.1"], d.text()
        lines = [l for l in d.text().splitlines() if "failed login" in l]
        assert re.search(r"notice: failed login for 'alice' from 127\.0\.0\.1:\d+$", lines[0]), lines
        assert re.search(r"notice: failed login for 'mallory' from 127\.0\.0\.1:\d+$", lines[1]), lines
        assert "::ffff:" not in d.text(), d.text()
        assert re.search(r"alice logged in from 127\.0\.0\.1:\d+\n", d.text()), d.text()
    finally:
        d.stop()


@test
def an_ipv6_peer_is_logged_in_brackets(workdir):
    if not socket.has_ipv6:
        return
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        return  # no IPv6 loopback here
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write("alice alice123\n")
    d = Daemon(workdir, users, listen="::1")
    try:
        r = subprocess.run([CONFAB, "--host", "::1", "--port", str(d.port)], input="alice\nwrong\n", text=True,
                           capture_output=True, timeout=WAIT)
        assert "wrong password" in r.stderr, r
        assert failed_login_hosts(d, 1) == ["::1"], d.text()
        assert re.search(r"failed login for 'alice' from \[::1\]:\d+$", d.text(), re.M), d.text()
    finally:
        d.stop()


@test
def the_message_of_the_day_is_shown_at_login_and_reloaded(workdir):
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write("alice alice123\n")
    motd = os.path.join(workdir, "motd")
    with open(motd, "w") as f:
        f.write("Welcome to confab.\nMaintenance on Sunday.\n")
    d = Daemon(workdir, users, extra='motd_file = "%s"\n' % motd)
    try:
        code, out, err = client(d.port, "alice\nalice123\n")
        assert "announcement from the server: Welcome to confab.\n" in out, (out, err)
        assert "announcement from the server: Maintenance on Sunday.\n" in out, (out, err)
        with open(motd, "w") as f:
            f.write("New text.\n")
        d.reload()
        code, out, err = client(d.port, "alice\nalice123\n")
        assert "announcement from the server: New text.\n" in out and "Sunday" not in out, (out, err)
        # Not UTF-8: the reload is refused and the old text stays.
        with open(motd, "wb") as f:
            f.write(b"caf\xe9\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload failed" in d.text(), "the reload refused")
        assert "the message of the day is not UTF-8" in d.text(), d.text()
        code, out, err = client(d.port, "alice\nalice123\n")
        assert "announcement from the server: New text.\n" in out, (out, err)
    finally:
        d.stop()


@test
def state_directory_0700_and_database_0600_under_umask_000(workdir):
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write("alice alice123\nbob bob123\n")
    d = Daemon(workdir, users, umask=0)
    try:
        # A stored message makes sure the WAL files exist too.
        code, out, err = client(d.port, "alice\nalice123\nmessage bob hello\n")
        assert "stored" in out + err, (out, err)
        state = os.path.join(workdir, "state")
        assert stat.S_IMODE(os.stat(state).st_mode) == 0o700, oct(os.stat(state).st_mode)
        db_files = [n for n in os.listdir(state) if n.startswith("confab.db")]
        assert "confab.db" in db_files and "confab.db-wal" in db_files, db_files
        for name in db_files:
            mode = stat.S_IMODE(os.stat(os.path.join(state, name)).st_mode)
            assert mode == 0o600, (name, oct(mode))
    finally:
        d.stop()


@test
def a_database_left_world_readable_is_made_private(workdir):
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write("alice alice123\n")
    state = os.path.join(workdir, "state")
    os.mkdir(state)
    open(os.path.join(state, "confab.db"), "w").close()
    os.chmod(os.path.join(state, "confab.db"), 0o644)
    d = Daemon(workdir, users)
    try:
        mode = stat.S_IMODE(os.stat(os.path.join(state, "confab.db")).st_mode)
        assert mode == 0o600, oct(mode)
    finally:
        d.stop()


@test
def an_empty_users_file_says_how_to_add_the_first_user(workdir):
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write("# nobody yet\n")
    config = os.path.join(workdir, "confabd.toml")
    with open(config, "w") as f:
        f.write('users_file = "%s"\nstate_dir = "%s"\n' % (users, os.path.join(workdir, "state")))
    r = subprocess.run([CONFABD, "--check-config", "--config", config], capture_output=True, text=True, timeout=WAIT)
    assert r.returncode == 0, r
    assert "has no users yet: add the first one with `confabctl user add NAME`" in r.stdout, r.stdout
    with open(users, "a") as f:
        f.write("alice alice123\n")
    r = subprocess.run([CONFABD, "--check-config", "--config", config], capture_output=True, text=True, timeout=WAIT)
    assert r.returncode == 0 and "configuration OK: 1 users" in r.stdout and "confabctl" not in r.stdout, r


if __name__ == "__main__":
    test.run("confab-admin-", 240)
