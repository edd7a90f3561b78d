#!/usr/bin/env python3
"""The classic invocations: `confabd PORT BLOCK_DURATION TIMEOUT` reading
./credentials.txt, the --block-duration/--timeout flags, and `confab HOST PORT`.
Every wait is bounded; the daemon is stopped at the end whatever happens."""
import os
import re
import subprocess
import time

from scenarios import Scenarios

CONFABD = os.environ["CONFABD"]
CONFAB = os.environ["CONFAB"]
WAIT = 10.0
test = Scenarios()


def start_daemon(workdir, args):
    log_path = os.path.join(workdir, "daemon.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([CONFABD] + args, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)\n", open(log_path).read())
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("confabd did not start:\n" + open(log_path).read())


def idle_client(args, name, password):
    """A scripted confab that logs in and then sends nothing (its input stays open)."""
    cmd = "(printf '%%s\\n%%s\\n' '%s' '%s'; sleep 4) | %s %s" % (name, password, CONFAB, " ".join(args))
    r = subprocess.run(["sh", "-c", cmd], text=True, capture_output=True, timeout=WAIT)
    return r.returncode, r.stdout, r.stderr


def client(args, script):
    """A scripted confab; returns (exit status, stdout, stderr)."""
    r = subprocess.run([CONFAB] + args, input=script, text=True, capture_output=True, timeout=WAIT)
    return r.returncode, r.stdout, r.stderr


@test
def positional_port_block_duration_timeout_with_credentials_txt(workdir):
    with open(os.path.join(workdir, "credentials.txt"), "w") as f:
        f.write("hans falcon*solo\nyoda wise@!man\n")
    proc, port = start_daemon(workdir, ["0", "2", "1"])
    try:
        # confab HOST PORT; the users come from ./credentials.txt, the timeout is 1 s.
        code, out, err = client(["127.0.0.1", str(port)], "yoda\nwise@!man\n")
        assert "welcome, yoda" in out, (out, err)
        code, out, err = client(["127.0.0.1", str(port)], "hans\nfalcon*solo\n" + "whoelse\n")
        assert "no other users" in out, (out, err)
        # Without input the session idles: logged out after TIMEOUT = 1 s.
        code, out, err = idle_client(["127.0.0.1", str(port)], "yoda", "wise@!man")
        assert code == 3, (code, out, err)
        assert "logged out: timed out after 1 seconds without a command" in out, out
        # BLOCK_DURATION = 2: the third wrong password locks for 2 s.
        code, out, err = client(["127.0.0.1", str(port)], "hans\nx\n")
        code, out, err = client(["127.0.0.1", str(port)], "hans\nx\n")
        code, out, err = client(["127.0.0.1", str(port)], "hans\nx\n")
        assert "account locked, try again in 2 seconds" in err, err
    finally:
        proc.terminate()
        proc.wait(5)


@test
def positional_form_without_credentials_txt_names_the_file(workdir):
    r = subprocess.run([CONFABD, "0", "2", "1"], cwd=workdir, capture_output=True, text=True, timeout=WAIT)
    assert r.returncode == 78, r
    assert "credentials.txt" in r.stderr, r.stderr


@test
def positional_form_wants_exactly_three_values(workdir):
    r = subprocess.run([CONFABD, "0", "2"], cwd=workdir, capture_output=True, text=True, timeout=WAIT)
    assert r.returncode == 1 and "PORT BLOCK_DURATION TIMEOUT" in r.stderr, r
    r = subprocess.run([CONFABD, "0", "x", "1"], cwd=workdir, capture_output=True, text=True, timeout=WAIT)
    assert r.returncode == 78 and "block_duration" in r.stderr, r


@test
def block_duration_and_timeout_flags(workdir):
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write("alice alice123\n")
    proc, port = start_daemon(workdir, ["-u", users, "-p", "0", "--timeout", "1", "--block-duration", "3"])
    try:
        code, out, err = idle_client(["--port", str(port)], "alice", "alice123")
        assert "logged out: timed out after 1 seconds without a command" in out, out
        for _ in range(3):
            code, out, err = client(["--port", str(port)], "alice\nwrong\n")
        assert "account locked, try again in 3 seconds" in err, err
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    test.run("confab-invocation-", 120)
