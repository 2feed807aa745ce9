"""Shared helpers for the integration tests (Python 3 stdlib only).

Typical use::

    import ibtest

    class TestX(ibtest.DaemonTestCase):
        def test_run(self):
            sb = self.sb                                   # a fresh Sandbox
            data = sb.gen_data()                           # demo IoTDB data dir
            sb.write_task("t1", sb.local_task(data))       # LocalDir task
            d = sb.start_daemon()                          # waits for READY=1
            r = sb.ctl("run", "t1", "--wait", "--json")    # iotdb-backupctl
            self.assertEqual(r.returncode, 0, r.stderr)
            rows = sb.query("SELECT result FROM runs")     # the store, read-only
            self.assertEqual(d.stop(), 0)                  # SIGTERM, exit code

Everything lives in one temporary directory removed by Sandbox.cleanup()
(DaemonTestCase does it in tearDown, after stopping any daemon it started).

Environment (set by ctest): IB_BUILD_DIR (binaries iotdb-backupd and
iotdb-backupctl), IB_SOURCE_DIR (repo root), IB_SANITIZE ("1" in the
ASan+UBSan build: timeouts are scaled by TIMEOUT_SCALE).

IB_VALGRIND=1 (ctest's integration.valgrind): every daemon, and every worker
it starts, runs under valgrind's memcheck (VALGRIND_ARGS). The daemon execs
its worker through /proc/self/exe, which under valgrind is valgrind's own
tool, so IB_WORKER_EXE names the real binary for it (daemon/runs.c reads it;
only tests set it). A daemon with an error exits 99; at the end of each test
every memcheck report is read, and an error or a definite leak in any
process (a worker's too, whose exit status the daemon does not judge after
its result) fails the test. Timeouts are scaled by TIMEOUT_SCALE.
"""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SOURCE_DIR = os.path.abspath(
    os.environ.get("IB_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
)
BUILD_DIR = os.path.abspath(os.environ.get("IB_BUILD_DIR") or os.path.join(SOURCE_DIR, "build"))
DAEMON = os.path.join(BUILD_DIR, "iotdb-backupd")
CTL = os.path.join(BUILD_DIR, "iotdb-backupctl")
GEN_DATA = os.path.join(SOURCE_DIR, "tests", "tools", "gen_iotdb_data.py")
SANITIZE = os.environ.get("IB_SANITIZE", "").lower() in ("1", "on", "true", "yes")
VALGRIND = os.environ.get("IB_VALGRIND", "").lower() in ("1", "on", "true", "yes")
VALGRIND_ARGS = ["valgrind", "--tool=memcheck", "--trace-children=yes",
                 "--child-silent-after-fork=yes", "--leak-check=full",
                 "--errors-for-leak-kinds=definite", "--error-exitcode=99"]
# Sanitized binaries are several times slower, binaries under valgrind more
# so: scale every default timeout.
TIMEOUT_SCALE = 8.0 if VALGRIND else 4.0 if SANITIZE else 1.0
# The WebHDFS test server's DataNode receive path in C (tests/tools/webhdfs_dn.c),
# built in every build but a sanitizer one (whose runs keep the server's
# Python path): every server a test starts inherits it.
if not SANITIZE:
    os.environ.setdefault("WEBHDFS_DN_LIB", os.path.join(BUILD_DIR, "tests", "libwebhdfs_dn.so"))


def scaled(seconds):
    """A timeout in seconds, scaled for sanitizer builds."""
    return seconds * TIMEOUT_SCALE


def away_from_minute_boundary(seconds_needed=25):
    """Sleep until the next wall-clock minute is at least seconds_needed away,
    so a test of an every-minute task is not raced by its next regular slot."""
    while 60 - time.time() % 60 < seconds_needed:
        time.sleep(0.5)


def wait_for(cond, timeout=10.0, interval=0.05, what="condition"):
    """Poll cond() until it returns something truthy and return that value.

    Raises AssertionError naming `what` after `timeout` seconds (scaled).
    """
    deadline = time.monotonic() + scaled(timeout)
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (scaled(timeout), what))
        time.sleep(interval)


class NotifyListener:
    """An sd_notify receiver: an AF_UNIX datagram socket at `path`.

    Pass env NOTIFY_SOCKET=path to the daemon (Sandbox.start_daemon does).
    `messages` is the list of received datagrams, each a dict of its
    KEY=VALUE lines in order of arrival (thread-safe to read).
    """

    def __init__(self, path):
        self.path = path
        self.messages = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(path)
        self._sock.settimeout(0.2)
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop:
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = {}
            for line in data.decode("utf-8", "replace").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            with self._lock:
                self.messages.append(fields)

    def snapshot(self):
        """A copy of the messages received so far."""
        with self._lock:
            return list(self.messages)

    def find(self, key, value=None, start=0):
        """The first message (index >= start) having key (= value if given), or None."""
        for m in self.snapshot()[start:]:
            if key in m and (value is None or m[key] == value):
                return m
        return None

    def wait(self, key, value=None, timeout=10.0, start=0):
        """Wait for a message with key (= value); return it."""
        return wait_for(lambda: self.find(key, value, start), timeout,
                        what="sd_notify %s%s" % (key, "" if value is None else "=" + value))

    def count(self, key, value=None):
        return sum(1 for m in self.snapshot() if key in m and (value is None or m[key] == value))

    def close(self):
        self._stop = True
        self._thread.join(2)
        self._sock.close()


class Daemon:
    """A running iotdb-backupd started by Sandbox.start_daemon()."""

    def __init__(self, proc, log_path, notify):
        self.proc = proc
        self.pid = proc.pid
        self.log_path = log_path
        self.notify = notify  # NotifyListener

    def running(self):
        return self.proc.poll() is None

    def log(self):
        """Everything the daemon (and its workers) wrote to stdout/stderr so far."""
        with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=10.0):
        """Wait until text appears in the log; return the log."""
        return wait_for(lambda: self.log() if text in self.log() else None, timeout,
                        what="%r in the daemon log" % text)

    def wait_ready(self, timeout=15.0):
        """Wait for READY=1; fails early if the daemon exits."""
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("iotdb-backupd exited with %s before READY=1; log:\n%s"
                                     % (self.proc.returncode, self.log()))
            return self.notify.find("READY", "1")
        return wait_for(ready, timeout, what="READY=1")

    def send_signal(self, sig):
        if self.running():
            os.kill(self.pid, sig)

    def reload(self):
        """SIGHUP; returns the notify index to pass as start= to wait()."""
        start = len(self.notify.snapshot())
        self.send_signal(signal.SIGHUP)
        return start

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Send sig and wait for exit; return the exit code (negative: killed by a signal).

        If it does not exit within timeout, SIGKILL it and fail."""
        if self.running():
            os.kill(self.pid, sig)
        try:
            return self.proc.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("iotdb-backupd did not exit within %.0fs after signal %d; log:\n%s"
                                 % (scaled(timeout), sig, self.log()))

    def kill(self):
        """SIGKILL, like a crash; returns the exit code."""
        if self.running():
            self.proc.kill()
        return self.proc.wait()


class Sandbox:
    """A temporary tree: config/ (with tasks.d/), state/, run/, data/, backup/."""

    def __init__(self, prefix="ibtest-"):
        # Short base path: Unix socket paths are limited to 107 bytes.
        base = os.environ.get("TMPDIR", "/tmp")
        self.root = tempfile.mkdtemp(prefix=prefix, dir=base)
        self.config_dir = os.path.join(self.root, "config")
        self.tasks_dir = os.path.join(self.config_dir, "tasks.d")
        self.state_dir = os.path.join(self.root, "state")
        self.runtime_dir = os.path.join(self.root, "run")
        self.data_dir = os.path.join(self.root, "data")
        self.backup_dir = os.path.join(self.root, "backup")
        for d in (self.tasks_dir, self.state_dir, self.runtime_dir, self.backup_dir):
            os.makedirs(d, exist_ok=True)
        self.socket_path = os.path.join(self.runtime_dir, "control.sock")
        self.db_path = os.path.join(self.state_dir, "iotdb-backupd.db")
        self.daemons = []

    # -- configuration -------------------------------------------------
    def write_task(self, name, task):
        """Write tasks.d/<name>.json from a dict (as JSON) or a str (verbatim)."""
        text = task if isinstance(task, str) else json.dumps(task, indent=2)
        path = os.path.join(self.tasks_dir, name + ".json")
        tmp = path + ".tmp~"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)  # the daemon never sees half a file
        return path

    def remove_task(self, name):
        os.remove(os.path.join(self.tasks_dir, name + ".json"))

    def write_settings(self, settings):
        """Write iotdb-backupd.conf from a dict or str."""
        text = settings if isinstance(settings, str) else json.dumps(settings, indent=2)
        path = os.path.join(self.config_dir, "iotdb-backupd.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def local_task(self, data_dir=None, target=None, databases=None, mode="manual",
                   every=1, unit="minutes", started="2020-01-01T00:00:00", max_copies=3, **extra):
        """A LocalDir task definition (a dict; extra keys are merged at the top level).

        databases None: every database found in data_dir at call time (needs the data)."""
        data_dir = data_dir or self.data_dir
        if databases is None:
            databases = list_databases(data_dir)
        task = {
            "mode": mode,
            "policy": "full-then-incremental",
            "cluster_mode": "normal",
            "source": {"data_dirs": [data_dir], "databases": databases},
            "target": {"path_type": "LocalDir", "target_path": target or self.backup_dir,
                       "max_copies": max_copies},
        }
        if mode == "periodic":
            task["started"] = started
            task["period"] = {"every": every, "unit": unit}
        task.update(extra)
        return task

    def gen_data(self, data_dir=None, seed=1, extra=()):
        """Create a demo IoTDB data dir with tests/tools/gen_iotdb_data.py (init).

        extra: more arguments for `init` (e.g. ["--files-per-partition", "2"]).

        Falls back to a minimal tree (one database, one sealed TsFile) when the
        generator is not available. Returns the data dir."""
        data_dir = data_dir or self.data_dir
        if os.path.exists(GEN_DATA):
            subprocess.run([sys.executable, GEN_DATA, "init", data_dir, "--seed", str(seed)]
                           + list(extra), check=True, stdout=subprocess.DEVNULL)
        else:
            make_minimal_data(data_dir)
        return data_dir

    def grow_data(self, *args, data_dir=None):
        """gen_iotdb_data.py grow DIR args... (e.g. "--new-files", "2", "--compact", "--delete")."""
        subprocess.run([sys.executable, GEN_DATA, "grow", data_dir or self.data_dir] + list(args),
                       check=True, stdout=subprocess.DEVNULL)

    # -- processes -----------------------------------------------------
    def dir_args(self):
        return ["--config-dir", self.config_dir, "--state-dir", self.state_dir,
                "--runtime-dir", self.runtime_dir]

    def start_daemon(self, *args, env=None, wait_ready=True, watchdog_usec=None, timeout=15.0,
                     prefix=None):
        """Start iotdb-backupd in the foreground with this sandbox's dirs.

        stdout+stderr go to <root>/daemon-N.log (Daemon.log()); NOTIFY_SOCKET
        points at a fresh NotifyListener (Daemon.notify). watchdog_usec sets
        WATCHDOG_USEC and WATCHDOG_PID (the daemon's own pid). prefix is a
        command that execs the daemon (e.g. setpriv). Waits for READY=1
        unless wait_ready is False."""
        n = len(self.daemons)
        notify = NotifyListener(os.path.join(self.root, "notify-%d.sock" % n))
        log_path = os.path.join(self.root, "daemon-%d.log" % n)
        full_env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM",
                  "LISTEN_FDS", "LISTEN_PID", "RUNTIME_DIRECTORY", "STATE_DIRECTORY",
                  "CONFIGURATION_DIRECTORY"):
            full_env.pop(k, None)
        full_env["NOTIFY_SOCKET"] = notify.path
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        full_env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        cmd = [DAEMON] + self.dir_args() + list(args)
        if watchdog_usec:
            full_env["WATCHDOG_USEC"] = str(watchdog_usec)
            # The pid is only known in the child: let the shell export its own
            # pid, which exec keeps.
            cmd = ["/bin/sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', "sh"] + cmd
        if prefix:
            cmd = list(prefix) + cmd
        if VALGRIND:
            full_env["IB_WORKER_EXE"] = DAEMON
            cmd = VALGRIND_ARGS + ["--log-file=" + os.path.join(self.root, "valgrind-%p.log")] + cmd
        if env:
            full_env.update(env)
        log = open(log_path, "wb")
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    env=full_env)
        finally:
            log.close()
        d = Daemon(proc, log_path, notify)
        self.daemons.append(d)
        if wait_ready:
            d.wait_ready(timeout)
        return d

    def ctl(self, *args, timeout=60.0, dirs=True, env=None, input=None):
        """Run iotdb-backupctl [dir options] args; returns CompletedProcess (text)."""
        cmd = [CTL] + (self.dir_args() if dirs else []) + list(args)
        return run_cmd(cmd, timeout=timeout, env=env, input=input)

    def ctl_json(self, *args, expect_rc=0, **kw):
        """ctl(...) whose stdout is one JSON document; asserts the exit code."""
        r = self.ctl(*args, **kw)
        if r.returncode != expect_rc:
            raise AssertionError("%s exited %d (expected %d)\nstdout: %s\nstderr: %s"
                                 % (" ".join(args), r.returncode, expect_rc, r.stdout, r.stderr))
        return json.loads(r.stdout)

    def status(self):
        """`status --json` as a dict."""
        return self.ctl_json("status", "--json")

    def query(self, sql, params=()):
        """Rows (sqlite3.Row) of a read-only query on the daemon's store."""
        return store_query(self.db_path, sql, params)

    def cleanup(self):
        for d in self.daemons:
            if d.running():
                try:
                    d.stop(timeout=10)
                except AssertionError:
                    pass
            d.notify.close()
        problems = valgrind_problems(self.root) if VALGRIND else []
        shutil.rmtree(self.root, ignore_errors=True)
        if problems:
            raise AssertionError("valgrind found errors or definite leaks:\n" + "\n".join(problems))


def valgrind_problems(root):
    """The memcheck reports (valgrind-<pid>.log) under root that show an error
    or a definite leak, as text; a process still running has no summary yet."""
    problems = []
    for name in sorted(os.listdir(root)):
        if not (name.startswith("valgrind-") and name.endswith(".log")):
            continue
        with open(os.path.join(root, name), "r", errors="replace") as f:
            report = f.read()
        errors = re.search(r"ERROR SUMMARY: (\d+) errors", report)
        lost = re.search(r"definitely lost: ([\d,]+) bytes", report)
        if (errors and errors.group(1) != "0") or (lost and lost.group(1) != "0"):
            problems.append("== %s\n%s" % (name, report))
    return problems


def run_cmd(cmd, timeout=60.0, env=None, input=None):
    """subprocess.run with text output captured and a scaled timeout."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=scaled(timeout),
                          env=full_env, input=input, stdin=None if input else subprocess.DEVNULL)


def store_query(db_path, sql, params=()):
    """Rows of a read-only query on an SQLite file (sqlite3.Row: by index or name)."""
    con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=10)
    try:
        con.row_factory = sqlite3.Row
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def list_databases(data_dir):
    """Database names found under data_dir/{sequence,unsequence}, sorted."""
    names = set()
    for kind in ("sequence", "unsequence"):
        p = os.path.join(data_dir, kind)
        if os.path.isdir(p):
            names.update(n for n in os.listdir(p) if os.path.isdir(os.path.join(p, n)))
    return sorted(names)


def make_minimal_data(data_dir, database="root.demo", size=4096):
    """One sealed TsFile (head and tail magic) with its .resource."""
    part = os.path.join(data_dir, "sequence", database, "0", "0")
    os.makedirs(part, exist_ok=True)
    ts = os.path.join(part, "1-1-0-0.tsfile")
    with open(ts, "wb") as f:
        f.write(b"TsFile\x03" + os.urandom(size) + b"TsFile")
    with open(ts + ".resource", "wb") as f:
        f.write(b"\x01" + os.urandom(32))
    return data_dir


def tree_files(root):
    """{relative path: bytes} of every regular file under root (for comparisons)."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


class DaemonTestCase(unittest.TestCase):
    """self.sb is a fresh Sandbox per test, cleaned up (daemons stopped) afterwards."""

    def setUp(self):
        for path in (DAEMON, CTL):
            if not os.access(path, os.X_OK):
                self.fail("%s is missing: build first (IB_BUILD_DIR=%s)" % (path, BUILD_DIR))
        self.sb = Sandbox()
        self.addCleanup(self.sb.cleanup)
