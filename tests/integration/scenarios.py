"""The runner the Python integration tests share: `@test` registers a scenario
and `run` calls each with a fresh temporary directory, goes on after a failure
and exits non-zero if any failed. The alarm bounds the whole run."""

import shutil
import signal
import sys
import tempfile


class Scenarios:
    def __init__(self):
        self.tests = []

    def __call__(self, fn):
        self.tests.append(fn)
        return fn

    def run(self, prefix, alarm_seconds):
        signal.alarm(alarm_seconds)
        failures = []
        for fn in self.tests:
            workdir = tempfile.mkdtemp(prefix=prefix)
            try:
                fn(workdir)
                print("ok   %s" % fn.__name__)
            except Exception as e:
                failures.append(fn.__name__)
                print("FAIL %s: %s" % (fn.__name__, e))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        print("%d passed, %d failed" % (len(self.tests) - len(failures), len(failures)))
        sys.exit(1 if failures else 0)
