#!/usr/bin/env python3
"""Interactive confab in a real terminal: a tmux server of its own runs the
client against a confabd on an ephemeral 127.0.0.1 port; keys are sent with
send-keys and the screen read with capture-pane. Every wait is bounded; the
daemon and the tmux server are stopped at the end whatever happens."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CONFABD = os.environ["CONFABD"]
CONFAB = os.environ["CONFAB"]
WAIT = 10.0  # seconds for any one thing to appear on screen

failures = []


class Daemon:
    def __init__(self, workdir, timeout=60):
        self.dir = workdir
        users = os.path.join(workdir, "users")
        with open(users, "w") as f:
            f.write("alice alice123\nbob bob123\ncarol carol123\n")
        config = os.path.join(workdir, "confabd.toml")
        with open(config, "w") as f:
            f.write('listen = "127.0.0.1"\nport = 0\nusers_file = "%s"\nstate_dir = "%s"\n'
                    "timeout = %d\nhash_workers = 1\n" % (users, os.path.join(workdir, "state"), timeout))
        self.log_path = os.path.join(workdir, "daemon.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([CONFABD, "--config", config], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)\n", open(self.log_path).read())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("confabd did not start:\n" + open(self.log_path).read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Screen:
    """One tmux session running `command` through sh; SIGINT reaches only confab
    (the shell traps it), as with a shell's job control."""

    def __init__(self, socket, command, env=None):
        self.tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
        wrapped = "trap true INT; %s; echo \"[exit $?]\"; stty -a | grep -q -- ' echo ' && echo '[echo on]'; " \
                  "sleep 60" % command
        full_env = dict(os.environ, **(env or {}))
        subprocess.run(self.tmux + ["new-session", "-d", "-x", "120", "-y", "40", wrapped], check=True, env=full_env)

    def keys(self, *keys):
        subprocess.run(self.tmux + ["send-keys"] + list(keys), check=True)

    def type(self, text):
        subprocess.run(self.tmux + ["send-keys", "-l", text], check=True)

    def text(self, escapes=False):
        args = ["capture-pane", "-p"] + (["-e"] if escapes else [])
        return subprocess.run(self.tmux + args, check=True, capture_output=True, text=True).stdout

    def wait_for(self, pattern, escapes=False, limit=WAIT):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            screen = self.text(escapes)
            if re.search(pattern, screen, re.M):
                return screen
            time.sleep(0.1)
        raise AssertionError("%r not on the screen within %.0f s:\n%s" % (pattern, limit, self.text(escapes)))

    def close(self):
        subprocess.run(self.tmux + ["kill-server"], capture_output=True)


def confab(port, *args):
    return " ".join([CONFAB, "--port", str(port)] + list(args))


def login(screen, password):
    screen.wait_for(r"^Password:")
    screen.type(password)
    screen.keys("Enter")
    screen.wait_for(r"^>")


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def ctrl_c_at_the_password_prompt_exits_cleanly(d, socket):
    s = Screen(socket, confab(d.port, "--user", "alice"))
    try:
        s.wait_for(r"^Password:")
        s.keys("C-c")
        screen = s.wait_for(r"^\[exit 1\]")
        assert "login cancelled" in screen, screen
        s.wait_for(r"^\[echo on\]")  # the terminal echoes again
    finally:
        s.close()


@test
def ctrl_d_at_the_password_prompt_exits_cleanly(d, socket):
    s = Screen(socket, confab(d.port, "--user", "alice"))
    try:
        s.wait_for(r"^Password:")
        s.keys("C-d")
        screen = s.wait_for(r"^\[exit 1\]")
        assert "login cancelled" in screen, screen
        s.wait_for(r"^\[echo on\]")
    finally:
        s.close()


@test
def ctrl_c_clears_the_line_then_logs_out_on_an_empty_one(d, socket):
    s = Screen(socket, confab(d.port, "--user", "alice"))
    try:
        login(s, "alice123")
        s.type("message bob never sent")
        s.wait_for(r"^> message bob never sent$")
        s.keys("C-c")
        s.wait_for(r"^>\s*$")  # a fresh, empty prompt
        s.type("whoelse")
        s.keys("Enter")
        s.wait_for(r"no other users")
        assert "never sent" not in open(d.log_path).read()
        s.keys("C-c")
        screen = s.wait_for(r"^\[exit 0\]")
        assert "logged out" in screen, screen
    finally:
        s.close()


@test
def idle_warning_then_log_in_again_keeps_history_and_the_half_typed_line(d, socket):
    s = Screen(socket, confab(d.port, "--user", "alice"))
    try:
        login(s, "alice123")
        s.type("whoelse")
        s.keys("Enter")
        s.wait_for(r"no other users")
        s.type("half typed")
        s.wait_for(r"you will be logged out for inactivity in 1 second unless you type a command")
        s.wait_for(r"logged out: timed out after 6 seconds without a command")
        s.wait_for(r"^Press Enter to log in again, Ctrl-D to quit:")
        s.keys("Enter")
        # The second prompt, below the offer (the first login's is still on the screen).
        s.wait_for(r"^Press Enter to log in again, Ctrl-D to quit:\s*\nPassword:")
        s.type("alice123")
        s.keys("Enter")
        s.wait_for(r"^> half typed$")
        s.keys("C-u", "Up")
        s.wait_for(r"^> whoelse$")  # the history of the first session
        s.keys("C-u", "C-d")
        s.wait_for(r"^\[exit 0\]")
    finally:
        s.close()


idle_warning_then_log_in_again_keeps_history_and_the_half_typed_line.daemon = {"timeout": 6}


@test
def a_lost_connection_offers_to_log_in_again_and_ctrl_d_declines(d, socket):
    s = Screen(socket, confab(d.port, "--user", "alice"))
    try:
        login(s, "alice123")
        d.proc.kill()  # no goodbye: the connection just ends
        s.wait_for(r"error: connection to server lost")
        s.wait_for(r"^Press Enter to log in again, Ctrl-D to quit:")
        s.keys("C-d")
        s.wait_for(r"^\[exit 1\]")
    finally:
        s.close()


def send_as_bob(d, *commands):
    """bob, in scripted mode, runs `commands` and logs out."""
    script = "bob\nbob123\n" + "".join(c + "\n" for c in commands)
    subprocess.run([CONFAB, "--port", str(d.port)], input=script, text=True, capture_output=True, timeout=WAIT,
                   check=True)


def line_with(screen, needle):
    return next((l for l in screen.splitlines() if needle in l), "")


@test
def names_in_colour_with_the_time_on_a_terminal(d, socket):
    s = Screen(socket, "env -u NO_COLOR " + confab(d.port, "--user", "alice"))
    try:
        login(s, "alice123")
        send_as_bob(d, "message alice hi there")
        screen = s.wait_for(r"hi there", escapes=True)
        line = line_with(screen, "hi there")
        assert re.match(r"^\d\d:\d\d bob: hi there", re.sub(r"\x1b\[[0-9;]*m", "", line)), repr(line)
        assert re.search(r"\x1b\[(3[2-6]|9[2-6])mbob", line), repr(line)  # the name in a colour, not red
        s.type("frobnicate")
        s.keys("Enter")
        line = line_with(s.wait_for(r"unknown command", escapes=True), "unknown command")
        assert line.startswith("\x1b[31m"), repr(line)  # errors in red
    finally:
        s.close()


@test
def no_colour_with_NO_COLOR_or_never_and_no_time_with_no_timestamps(d, socket):
    for i, (prefix, args) in enumerate((("env NO_COLOR=1 ", []),
                                        ("env -u NO_COLOR ", ["--color=never", "--no-timestamps"]))):
        s = Screen(socket + str(i), prefix + confab(d.port, "--user", "alice", *args))
        try:
            login(s, "alice123")
            send_as_bob(d, "message alice plain please")
            line = line_with(s.wait_for(r"plain please", escapes=True), "plain please")
            assert "\x1b" not in line, repr(line)
            if args:
                assert line.startswith("bob: plain please"), repr(line)
            else:
                assert re.match(r"^\d\d:\d\d bob: plain please", line), repr(line)
        finally:
            s.close()


@test
def tab_completes_commands_and_user_names_never_files(d, socket):
    s = Screen(socket, confab(d.port, "--user", "alice"))
    try:
        login(s, "alice123")
        send_as_bob(d, "whoelse")  # alice learns the name from the presence notices
        s.wait_for(r"bob logged out")
        s.type("mes")
        s.keys("Tab")
        s.wait_for(r"^> message$")
        s.type("b")
        s.keys("Tab")
        s.wait_for(r"^> message bob$")
        s.keys("C-u")
        s.type("whoel")
        s.keys("Tab")
        s.wait_for(r"^> whoelse$")
        s.keys("Tab", "Tab")  # still ambiguous: a double Tab lists the candidates
        s.wait_for(r"whoelse\s+whoelsesince")  # both candidates listed
        s.keys("C-u")
        s.type("message bob /tm")
        s.keys("Tab")
        time.sleep(0.2)
        s.keys("Tab")
        time.sleep(0.5)
        screen = s.text()
        assert re.search(r"^> message bob /tm$", screen, re.M) and "/tmp/" not in screen, screen
        s.keys("C-u")
        s.type("/tm")
        s.keys("Tab")
        time.sleep(0.2)
        s.keys("Tab")
        time.sleep(0.5)
        screen = s.text()
        assert re.search(r"^> /tm$", screen, re.M), screen
    finally:
        s.close()


@test
def history_is_kept_between_runs_in_a_private_file(d, socket):
    state = os.path.join(d.dir, "xdg-state")
    history = os.path.join(state, "confab", "history")
    s = Screen(socket + "0", "env XDG_STATE_HOME=%s %s" % (state, confab(d.port, "--user", "alice")))
    try:
        login(s, "alice123")
        s.type("whoelse")
        s.keys("Enter")
        s.wait_for(r"no other users")
        s.keys("C-d")
        s.wait_for(r"^\[exit 0\]")
    finally:
        s.close()
    assert os.stat(history).st_mode & 0o777 == 0o600, oct(os.stat(history).st_mode)
    content = open(history).read()
    assert "whoelse" in content and "alice123" not in content, content
    s = Screen(socket + "1", "env XDG_STATE_HOME=%s %s" % (state, confab(d.port, "--user", "alice")))
    try:
        login(s, "alice123")
        s.keys("Up")
        s.wait_for(r"^> whoelse$")
    finally:
        s.close()


@test
def login_says_who_is_online_then_the_offline_messages(d, socket):
    send_as_bob(d, "message carol see you")  # stored for carol
    bob = subprocess.Popen([CONFAB, "--port", str(d.port)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        bob.stdin.write("bob\nbob123\n")  # and stays online
        bob.stdin.flush()
        deadline = time.monotonic() + WAIT
        while open(d.log_path).read().count("bob logged in") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        s = Screen(socket, confab(d.port, "--user", "carol", "--no-timestamps"))
        try:
            login(s, "carol123")
            screen = s.wait_for(r"see you")
            lines = [l for l in screen.splitlines() if l.strip()]
            at = lines.index("welcome, carol")
            assert lines[at + 1] == "online: bob", lines
            assert lines[at + 2].startswith("bob (offline, sent "), lines
            s.type("whoelse")
            s.keys("Enter")
            s.wait_for(r"^online now \(1\):\n  bob$")
            s.type("whoelsesince 99999999999")
            s.keys("Enter")
            s.wait_for(r"^online in the last 4294967295 seconds \(1\):\n  bob  online$")
        finally:
            s.close()
    finally:
        bob.stdin.close()
        bob.wait(WAIT)


def run_all():
    for fn in TESTS:
        workdir = tempfile.mkdtemp(prefix="confab-tmux-")
        socket = "confab-test-%d-%s" % (os.getpid(), fn.__name__)
        d = None
        try:
            # Nothing from the developer's own config, no history written into their home.
            os.environ["XDG_CONFIG_HOME"] = os.path.join(workdir, "xdg-config")
            os.environ["XDG_STATE_HOME"] = os.path.join(workdir, "xdg-state-default")
            d = Daemon(workdir, **getattr(fn, "daemon", {}))
            fn(d, socket)
            print("ok   %s" % fn.__name__)
        except Exception as e:  # report and go on with the next test
            failures.append(fn.__name__)
            print("FAIL %s: %s" % (fn.__name__, e))
        finally:
            for suffix in ("", "0", "1"):
                subprocess.run(["tmux", "-L", socket + suffix, "kill-server"], capture_output=True)
            if d:
                d.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    print("%d passed, %d failed" % (len(TESTS) - len(failures), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    if not shutil.which("tmux"):
        print("tmux is not installed (scripts/install-deps installs it)")
        sys.exit(1)
    signal.alarm(300)  # the whole run is bounded whatever hangs
    sys.exit(run_all())
