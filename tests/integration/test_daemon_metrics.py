"""The daemon's metrics file (Prometheus text format for node_exporter's
textfile collector) and run progress (rate, ETA, the journal's progress
line), with real backups. The file is read with a small parser of the text
exposition format that also checks its rules (HELP/TYPE before a family's
samples, families together, no duplicate series, escaped label values)."""

import json
import os
import re
import shutil
import signal
import socket
import time
import unittest

import ibtest
from ibtest import scaled, wait_for

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
_LABEL_NC = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
# name, label block, value, optional timestamp
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*)?,?\})? (\S+)(?: (-?\d+))?$"
                    % (NAME, _LABEL_NC, _LABEL_NC))


def unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_prometheus(text):
    """{family: {"help": str, "type": str, "samples": {frozenset(labels.items()): float}}}.

    Raises AssertionError on anything the text format (version 0.0.4) does
    not allow."""
    families = {}
    current = None
    closed = set()
    if text and not text.endswith("\n"):
        raise AssertionError("the file does not end with a newline")
    for n, line in enumerate(text.splitlines(), 1):
        where = "line %d: %r" % (n, line)
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, rest = line[2:6], line[7:]
            name, _, value = rest.partition(" ")
            if not re.fullmatch(NAME, name):
                raise AssertionError("bad metric name, " + where)
            fam = families.setdefault(name, {"help": None, "type": None, "samples": {}})
            if fam["samples"] or name in closed:
                raise AssertionError("%s after the family's samples, %s" % (kind, where))
            key = kind.lower()
            if fam[key] is not None:
                raise AssertionError("second %s, %s" % (kind, where))
            if kind == "TYPE" and value not in ("counter", "gauge", "histogram", "summary",
                                                "untyped"):
                raise AssertionError("bad type, " + where)
            fam[key] = value
            if current and current != name:
                closed.add(current)
            current = name
            continue
        if line.startswith("#") or not line.strip():
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("not a sample, " + where)
        name = m.group(1)
        if name != current or name in closed:
            raise AssertionError("sample outside its family's block, " + where)
        labels = {}
        for lm in re.finditer(LABEL, m.group(2) or ""):
            if lm.group(1) in labels:
                raise AssertionError("label twice, " + where)
            labels[lm.group(1)] = unescape(lm.group(2))
        key = frozenset(labels.items())
        samples = families[name]["samples"]
        if key in samples:
            raise AssertionError("duplicate series, " + where)
        samples[key] = float(m.group(3))  # also "NaN", "+Inf"
    for name, fam in families.items():
        if fam["help"] is None or fam["type"] is None:
            raise AssertionError("family %s lacks HELP or TYPE" % name)
    return families


def value(fams, name, **labels):
    """The sample of name with exactly these labels, or None."""
    fam = fams.get(name)
    if not fam:
        return None
    return fam["samples"].get(frozenset(labels.items()))


class Client:
    """A raw control-socket connection speaking JSON lines."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(scaled(60))
        self.sock.connect(path)
        self.buf = b""

    def request(self, obj):
        self.sock.sendall(json.dumps(obj).encode() + b"\n")
        return self.recv()

    def recv(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(1 << 20)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        self.sock.close()


class TestParser(unittest.TestCase):
    """The parser must refuse what Prometheus refuses, or the tests prove little."""

    def test_accepts_and_unescapes(self):
        fams = parse_prometheus('# HELP a x y\n# TYPE a gauge\na{t="q\\"}\\\\\\n",b=""} 1.5\n'
                                'a 2\n')
        self.assertEqual(fams["a"]["help"], "x y")
        self.assertEqual(value(fams, "a", t='q"}\\\n', b=""), 1.5)
        self.assertEqual(value(fams, "a"), 2)

    def test_refuses(self):
        head = "# HELP a x\n# TYPE a gauge\n"
        for bad in ["a 1\n", head + "a 1\na 1\n", head + 'a{x="1} 2\n', head + "a 1",
                    head + "a 1\n# HELP b x\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n",
                    head + "# TYPE a gauge\n", "# HELP a x\n# TYPE a gauges\na 1\n",
                    head + "a one\n", "# HELP 1a x\n# TYPE 1a gauge\n"]:
            with self.assertRaises((AssertionError, ValueError), msg=repr(bad)):
                parse_prometheus(bad)


class MetricsCase(ibtest.DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.data = self.sb.gen_data()
        self.textfile_dir = os.path.join(self.sb.root, "textfile")
        os.makedirs(self.textfile_dir)
        self.prom = os.path.join(self.textfile_dir, "iotdb-backupd.prom")

    def client(self):
        c = Client(self.sb.socket_path)
        self.addCleanup(c.close)
        return c

    def run_wait(self, task, events=None):
        """run --wait over the socket; returns the finished run (progress events into events)."""
        c = self.client()
        acc = c.request({"v": 1, "cmd": "run", "task": task, "wait": True})
        self.assertEqual(acc.get("event"), "accepted", acc)
        while True:
            ev = c.recv()
            self.assertIsNotNone(ev, "connection closed before the finished event")
            if ev["event"] == "finished":
                return ev["run"]
            if events is not None:
                events.append(ev)

    def metrics(self):
        with open(self.prom, encoding="utf-8") as f:
            return parse_prometheus(f.read())

    def wait_metrics(self, cond, what, timeout=15):
        """Wait until cond(families) holds for the file; return the families."""
        def check():
            if not os.path.exists(self.prom):
                return None
            fams = self.metrics()
            return fams if cond(fams) else None
        return wait_for(check, timeout, interval=0.1, what=what)

    def slow_task(self, name="slow", mbps=2, **kw):
        task = self.sb.local_task(self.data, target=os.path.join(self.sb.root, "b-" + name), **kw)
        task["target"]["max_bandwidth_mbps"] = mbps
        self.sb.write_task(name, task)
        return task


class TestMetricsFile(MetricsCase):
    def test_off_by_default(self):
        self.sb.write_task("m1", self.sb.local_task(self.data))
        d = self.sb.start_daemon()
        self.assertEqual(self.run_wait("m1")["result"], "succeeded")
        self.assertEqual(d.stop(), 0)
        found = [os.path.join(r, f) for r, _, fs in os.walk(self.sb.root) for f in fs
                 if f.endswith(".prom") or ".prom." in f]
        self.assertEqual(found, [])

    def test_values_follow_runs_reloads_and_stop(self):
        self.sb.write_settings({"metrics_file": self.prom})
        self.sb.write_task("m1", self.sb.local_task(self.data, max_copies=2))
        self.sb.write_task("p1", self.sb.local_task(self.data, mode="periodic", every=1,
                                                     unit="days",
                                                     target=os.path.join(self.sb.root, "b-p1")))
        t0 = int(time.time())
        d = self.sb.start_daemon()
        fams = self.wait_metrics(lambda f: value(f, "iotdb_backupd_up") == 1, "the first write")
        self.assertEqual(os.stat(self.prom).st_mode & 0o777, 0o644)
        self.assertEqual(value(fams, "iotdb_backupd_tasks"), 2)
        self.assertEqual(value(fams, "iotdb_backupd_config_errors"), 0)
        started = value(fams, "iotdb_backupd_start_time_seconds")
        self.assertTrue(t0 - 1 <= started <= time.time() + 1, started)
        build = fams["iotdb_backupd_build_info"]["samples"]
        self.assertEqual(list(build.values()), [1])
        self.assertRegex(dict(next(iter(build)))["version"], r"^\d+\.\d+\.\d+$")
        st = self.sb.status()
        p1 = [t for t in st["tasks"] if t["name"] == "p1"][0]
        self.assertEqual(value(fams, "iotdb_backupd_next_run_timestamp_seconds", task="p1"),
                         p1["next_run_unix"])
        self.assertIsNone(value(fams, "iotdb_backupd_next_run_timestamp_seconds", task="m1"))
        self.assertEqual(value(fams, "iotdb_backupd_running", task="m1"), 0)
        for fam in ("iotdb_backupd_last_run_result", "iotdb_backupd_last_success_timestamp_seconds",
                    "iotdb_backupd_copies_kept", "iotdb_backupd_last_run_bytes_sent"):
            self.assertEqual(fams[fam]["samples"], {}, fam)  # documented, but no run yet
        for fam in fams.values():
            self.assertEqual(fam["type"], "gauge")
            self.assertTrue(fam["help"])

        # Three successful runs with max_copies 2: 1, 2, then 2 copies kept.
        kept = []
        for i in range(3):
            before = int(time.time())
            run = self.run_wait("m1")
            self.assertEqual(run["result"], "succeeded", run)
            # The duration tells this run from the one before.
            fams = self.wait_metrics(
                lambda f: abs((value(f, "iotdb_backupd_last_run_duration_seconds", task="m1")
                               or -1) - run["duration_s"]) < 0.001
                and value(f, "iotdb_backupd_running", task="m1") == 0,
                "metrics of run %d" % (i + 1))
            kept.append(value(fams, "iotdb_backupd_copies_kept", task="m1"))
            for res in ("succeeded", "failed", "interrupted"):
                self.assertEqual(value(fams, "iotdb_backupd_last_run_result", task="m1",
                                       result=res), 1 if res == "succeeded" else 0, res)
            self.assertEqual(value(fams, "iotdb_backupd_last_run_bytes_sent", task="m1"),
                             run["bytes_sent"])
            self.assertEqual(value(fams, "iotdb_backupd_last_run_files_sent", task="m1"),
                             run["files_sent"])
            success = value(fams, "iotdb_backupd_last_success_timestamp_seconds", task="m1")
            self.assertTrue(before <= success <= time.time() + 1, (before, success))
            self.assertEqual(value(fams, "iotdb_backupd_last_run_timestamp_seconds", task="m1"),
                             success)
        self.assertEqual(kept, [1, 2, 2])
        self.assertGreater(value(fams, "iotdb_backupd_last_run_bytes_sent", task="m1") or 1, 0)

        # A failed run: the result flips, the last success and the copies stay.
        shutil.move(self.data, self.data + ".away")
        run = self.run_wait("m1")
        self.assertEqual(run["result"], "failed", run)
        fams = self.wait_metrics(
            lambda f: value(f, "iotdb_backupd_last_run_result", task="m1", result="failed") == 1,
            "the failed run")
        self.assertEqual(value(fams, "iotdb_backupd_last_run_result", task="m1",
                               result="succeeded"), 0)
        self.assertEqual(value(fams, "iotdb_backupd_last_success_timestamp_seconds", task="m1"),
                         success)
        self.assertEqual(value(fams, "iotdb_backupd_copies_kept", task="m1"), 2)
        shutil.move(self.data + ".away", self.data)

        # A reload that fails counts its errors; the tasks stay.
        self.sb.write_task("bad", '{"mode": "sometimes"}')
        ans = self.client().request({"v": 1, "cmd": "reload"})
        self.assertIs(ans["ok"], False)
        fams = self.wait_metrics(lambda f: value(f, "iotdb_backupd_config_errors") >= 1,
                                 "config errors after a failed reload")
        self.assertEqual(value(fams, "iotdb_backupd_tasks"), 2)
        self.sb.remove_task("bad")
        self.sb.remove_task("p1")
        self.assertIs(self.client().request({"v": 1, "cmd": "reload"})["ok"], True)
        fams = self.wait_metrics(lambda f: value(f, "iotdb_backupd_tasks") == 1, "p1 removed")
        self.assertEqual(value(fams, "iotdb_backupd_config_errors"), 0)
        self.assertIsNone(value(fams, "iotdb_backupd_running", task="p1"))

        # Stopping writes up 0 and leaves no temporary file.
        self.assertEqual(d.stop(), 0)
        fams = self.metrics()
        self.assertEqual(value(fams, "iotdb_backupd_up"), 0)
        self.assertEqual(value(fams, "iotdb_backupd_last_run_result", task="m1", result="failed"),
                         1)
        self.assertEqual(os.listdir(self.textfile_dir), ["iotdb-backupd.prom"])

    def test_running_gauge_and_restart_from_the_store(self):
        self.sb.write_settings({"metrics_file": self.prom})
        self.slow_task("slow")
        d = self.sb.start_daemon()
        acc = self.client().request({"v": 1, "cmd": "run", "task": "slow"})
        self.assertEqual(acc["state"], "running")
        self.wait_metrics(lambda f: value(f, "iotdb_backupd_running", task="slow") == 1
                          and value(f, "iotdb_backupd_runs", state="running") == 1,
                          "the running gauge")
        fams = self.wait_metrics(
            lambda f: value(f, "iotdb_backupd_running", task="slow") == 0
            and value(f, "iotdb_backupd_last_run_result", task="slow", result="succeeded") == 1,
            "the run's end", timeout=60)
        self.assertEqual(value(fams, "iotdb_backupd_runs", state="running"), 0)
        success = value(fams, "iotdb_backupd_last_success_timestamp_seconds", task="slow")
        bytes_sent = value(fams, "iotdb_backupd_last_run_bytes_sent", task="slow")
        self.assertGreater(bytes_sent, 0)
        self.assertEqual(value(fams, "iotdb_backupd_copies_kept", task="slow"), 1)
        self.assertEqual(d.stop(), 0)
        # A new daemon knows the last run and the copies it kept from the store.
        d = self.sb.start_daemon()
        fams = self.wait_metrics(lambda f: value(f, "iotdb_backupd_up") == 1,
                                 "the restarted daemon's file")
        self.assertEqual(value(fams, "iotdb_backupd_last_success_timestamp_seconds", task="slow"),
                         success)
        self.assertEqual(value(fams, "iotdb_backupd_last_run_bytes_sent", task="slow"),
                         bytes_sent)
        self.assertEqual(value(fams, "iotdb_backupd_last_run_result", task="slow",
                               result="succeeded"), 1)
        self.assertEqual(value(fams, "iotdb_backupd_copies_kept", task="slow"), 1)
        self.assertEqual(d.stop(), 0)

    def test_unwritable_path_is_logged_once_and_reload_moves_the_file(self):
        missing = os.path.join(self.sb.root, "nope", "x.prom")
        self.sb.write_settings({"metrics_file": missing})
        self.sb.write_task("m1", self.sb.local_task(self.data))
        d = self.sb.start_daemon()
        d.wait_log("HINT: check the directory of metrics_file")
        self.assertEqual(self.run_wait("m1")["result"], "succeeded")
        time.sleep(scaled(2.5))  # a second write attempt, after the coalescing interval
        self.assertEqual(d.log().count("HINT: check the directory of metrics_file"), 1, d.log())
        self.assertIn("nope/x.prom.tmp", d.log())
        self.assertTrue(d.running())
        # Reload to a good path: written there.
        self.sb.write_settings({"metrics_file": self.prom})
        self.assertIs(self.client().request({"v": 1, "cmd": "reload"})["ok"], True)
        fams = self.wait_metrics(
            lambda f: value(f, "iotdb_backupd_last_run_result", task="m1", result="succeeded"),
            "the file at its new path")
        self.assertEqual(value(fams, "iotdb_backupd_up"), 1)
        # Moved again: the former file goes away.
        other = os.path.join(self.textfile_dir, "other.prom")
        self.sb.write_settings({"metrics_file": other})
        self.assertIs(self.client().request({"v": 1, "cmd": "reload"})["ok"], True)
        wait_for(lambda: os.path.exists(other) and not os.path.exists(self.prom), 10,
                 what="the file moved")
        # Turned off: removed.
        self.sb.write_settings({})
        self.assertIs(self.client().request({"v": 1, "cmd": "reload"})["ok"], True)
        wait_for(lambda: not os.path.exists(other), 10, what="the file removed")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(os.listdir(self.textfile_dir), [])

    def test_invalid_setting_refuses_to_start(self):
        self.sb.write_settings({"metrics_file": "metrics.prom"})
        d = self.sb.start_daemon(wait_ready=False)
        self.assertEqual(d.proc.wait(scaled(15)), 1)
        self.assertIn("/metrics_file", d.log())
        self.assertIn("absolute path", d.log())


class TestStatusFromMemory(MetricsCase):
    """status reads no store: the history loaded at start-up must match it."""

    def test_history_of_many_tasks_after_a_restart(self):
        n = 300
        for i in range(n):
            self.sb.write_task("t%03d" % i, self.sb.local_task(self.data, databases=["root.x"]))
        d = self.sb.start_daemon()
        self.assertEqual(d.stop(), 0)
        # A history per task, written as the daemon would: task i has i % 4 runs
        # (the newest skipped for i % 5 == 0, one still "running" for i % 7 == 0).
        con = ibtest.sqlite3.connect(self.sb.db_path)
        expect = {}
        base = int(time.time()) - 100000
        for i in range(n):
            name = "t%03d" % i
            last, success = None, None
            for k in range(i % 4):
                start = base + i * 10 + k
                result = "failed" if (i + k) % 3 == 0 else "succeeded"
                cur = con.execute(
                    'INSERT INTO runs (task, "trigger", type, result, start, "end", files_total,'
                    " files_sent, bytes_sent, files_deleted, copy, error_code, error)"
                    " VALUES (?, 'schedule', 'full', ?, ?, ?, 3, 2, ?, 0, NULL, ?, ?)",
                    (name, result, start, start + 5, 1000 * i + k,
                     "E_SOURCE_MISSING" if result == "failed" else None,
                     "gone" if result == "failed" else None))
                last = (cur.lastrowid, result, 1000 * i + k)
                if result == "succeeded":
                    success = start + 5
            if last and i % 5 == 0:
                con.execute('INSERT INTO runs (task, "trigger", type, result, start, "end", error)'
                            " VALUES (?, 'schedule', NULL, 'skipped', ?, ?, 'busy')",
                            (name, base + 99999, base + 99999))
            if i % 7 == 0:  # marked interrupted at start-up: then the last run
                cur = con.execute('INSERT INTO runs (task, "trigger", type, result, start)'
                                  " VALUES (?, 'manual', 'full', 'running', ?)",
                                  (name, base + 99998))
                last = (cur.lastrowid, "interrupted", 0)
            expect[name] = (last, success)
        con.commit()
        con.close()
        d = self.sb.start_daemon()
        st = self.client().request({"v": 1, "cmd": "status"})
        self.assertEqual(len(st["tasks"]), n)
        for t in st["tasks"]:
            last, success = expect[t["name"]]
            if last is None:
                self.assertIsNone(t["last_run"], t["name"])
            else:
                lr = t["last_run"]
                self.assertEqual((lr["run_id"], lr["result"], lr["bytes_sent"]), last, t["name"])
                codes = {"failed": "E_SOURCE_MISSING", "interrupted": "E_INTERRUPTED"}
                self.assertEqual(lr["error_code"], codes.get(last[1]))
                if last[1] != "interrupted":
                    self.assertEqual(lr["duration_s"], 5)
            if success is None:
                self.assertIsNone(t["last_success"], t["name"])
            else:
                self.assertEqual(t["last_success"],
                                 time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(success))
                                 + t["last_success"][19:], t["name"])
        self.assertEqual(d.stop(), 0)


class TestProgress(MetricsCase):
    def test_rate_and_eta_in_events_status_and_journal_lines(self):
        self.sb.write_settings({"progress_log_interval_s": 1})
        self.slow_task("slow", mbps=2)
        d = self.sb.start_daemon()
        c = self.client()
        acc = c.request({"v": 1, "cmd": "run", "task": "slow", "wait": True})
        self.assertEqual(acc["event"], "accepted")
        events, statuses = [], []
        while True:
            ev = c.recv()
            self.assertIsNotNone(ev)
            if ev["event"] == "finished":
                break
            events.append(ev)
            if len(statuses) < 3 and ev.get("rate_bytes_per_s"):
                st = self.client().request({"v": 1, "cmd": "status"})
                statuses.append(st["tasks"][0]["running"])
        self.assertEqual(ev["run"]["result"], "succeeded", ev)
        for e in events:
            self.assertIn("rate_bytes_per_s", e)
            self.assertIn("eta_s", e)
        rated = [e for e in events if e["rate_bytes_per_s"] is not None]
        self.assertTrue(rated, events)
        # 2 Mbit/s = 250 kB/s; the rate is measured, allow a wide margin.
        upload = [e for e in rated if e["phase"] == "upload"]
        self.assertTrue(upload, events)
        self.assertTrue(any(50000 < e["rate_bytes_per_s"] < 400000 for e in upload), upload)
        with_eta = [e for e in upload if e["eta_s"] is not None]
        self.assertTrue(with_eta, upload)
        for e in with_eta:
            self.assertIsInstance(e["eta_s"], int)
            self.assertGreaterEqual(e["eta_s"], 0)
            left = e["bytes_total"] - e["bytes_done"]
            self.assertAlmostEqual(e["eta_s"], left / e["rate_bytes_per_s"], delta=1.0)
        self.assertTrue(statuses, "no status while the run went on")
        for r in statuses:
            self.assertIn("rate_bytes_per_s", r)
            self.assertIn("eta_s", r)
        # The journal's progress lines (as text fields: stderr is no journal here).
        lines = [l for l in d.log().splitlines() if "FILES_DONE=" in l]
        self.assertGreaterEqual(len(lines), 2, d.log())
        pat = re.compile(r"TASK=slow RUN_ID=%d .*FILES_DONE=(\d+) FILES_TOTAL=(\d+) "
                         r"BYTES_DONE=(\d+) BYTES_TOTAL=(\d+)" % acc["run_id"])
        for line in lines:
            m = pat.search(line)
            self.assertIsNotNone(m, line)
            fd, ft, bd, bt = map(int, m.groups())
            self.assertLessEqual(fd, ft)
            self.assertLessEqual(bd, bt)
            self.assertIn("backup of task slow (run %d)" % acc["run_id"], line)
        self.assertEqual(d.stop(), 0)

    def test_progress_lines_off(self):
        self.sb.write_settings({"progress_log_interval_s": 0})
        self.slow_task("slow", mbps=4)
        d = self.sb.start_daemon()
        self.assertEqual(self.run_wait("slow")["result"], "succeeded")
        self.assertNotIn("FILES_DONE=", d.log())
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
