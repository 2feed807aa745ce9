"""iotdb-backupctl against the real daemon: status, run (Back Up Now),
reload, check-config, the local commands, and its error handling."""

import json
import os
import re
import shutil
import subprocess
import time
import unittest

import ibtest

RESULT_KEYS = ["task", "run_id", "copy", "type", "result", "files_total", "files_sent",
               "bytes_sent", "files_deleted", "duration_s", "error", "error_code"]
HINT = "HINT: is the service running? systemctl status iotdb-backupd"
# A configuration problem in status --json, reload and check-config --json.
DIAG_KEYS = ["file", "pointer", "line", "column", "code", "message"]


def diag_line(o):
    """The line printed for a diagnostic object (ib_diag_format's text)."""
    if o["line"] is not None:
        return "%s:%d:%d: %s (%s)" % (o["file"], o["line"], o["column"], o["message"], o["code"])
    if o["pointer"] is not None:
        return "%s: %s: %s (%s)" % (o["file"], o["pointer"], o["message"], o["code"])
    return "%s: %s (%s)" % (o["file"], o["message"], o["code"])


class CtlTestCase(ibtest.DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.data = self.sb.gen_data()
        self.expected = json.loads(ibtest.run_cmd(
            ["python3", ibtest.GEN_DATA, "json-summary", self.data]).stdout)

    def assertRc(self, r, rc):
        self.assertEqual(r.returncode, rc, "stdout:\n%s\nstderr:\n%s" % (r.stdout, r.stderr))

    def slow_task(self, name="slow", **kw):
        """A task whose full run takes several seconds (~1 MB at 250 KB/s)."""
        task = self.sb.local_task(self.data, target=os.path.join(self.sb.root, "slowbackup"), **kw)
        task["target"]["max_bandwidth_mbps"] = 2
        self.sb.write_task(name, task)


class TestStatus(CtlTestCase):
    def test_status_json_and_text(self):
        ibtest.away_from_minute_boundary(15)  # p1 must still be idle below
        self.sb.write_task("p1", self.sb.local_task(self.data, mode="periodic", every=1,
                                                     unit="minutes"))
        self.sb.write_task("m1", self.sb.local_task(self.data))
        d = self.sb.start_daemon()
        st = self.sb.status()
        self.assertEqual(list(st.keys()), ["tasks", "daemon", "config_errors"])
        self.assertEqual(st["config_errors"], [])
        self.assertEqual(st["daemon"]["pid"], d.pid)
        self.assertEqual(st["daemon"]["max_parallel_runs"], 2)
        self.assertEqual(os.path.realpath(st["daemon"]["config_dir"]),
                         os.path.realpath(self.sb.config_dir))
        names = [t["name"] for t in st["tasks"]]
        self.assertEqual(names, ["m1", "p1"])
        m1, p1 = st["tasks"]
        for t in (m1, p1):
            for key in ("mode", "policy", "enabled", "period", "started", "target", "next_run",
                        "next_run_unix", "state", "running", "last_run", "last_success",
                        "copies_kept"):
                self.assertIn(key, t)
            self.assertEqual(t["state"], "idle")
            self.assertIsNone(t["last_run"])
            self.assertIsNone(t["copies_kept"])
            self.assertEqual(t["target"]["path_type"], "LocalDir")
            self.assertEqual(t["target"]["max_copies"], 3)
        self.assertEqual(m1["mode"], "manual")
        self.assertIsNone(m1["next_run_unix"])
        self.assertEqual(p1["mode"], "periodic")
        now = time.time()
        self.assertGreater(p1["next_run_unix"], now - 1)
        self.assertLessEqual(p1["next_run_unix"], now + 61)

        r = self.sb.ctl("status")
        self.assertRc(r, 0)
        lines = r.stdout.splitlines()
        header = [l for l in lines if l.startswith("TASK")]
        self.assertEqual(len(header), 1, r.stdout)
        for col in ("MODE", "POLICY", "LAST RESULT", "NEXT RUN", "COPIES", "STATE"):
            self.assertIn(col, header[0])
        m1_line = [l for l in lines if l.startswith("m1 ")][0]
        self.assertRegex(m1_line,
                         r"^m1\s+manual\s+full-then-incremental\s+-\s+manual\s+-\s+idle$")
        p1_line = [l for l in lines if l.startswith("p1 ")][0]
        self.assertRegex(p1_line, r"periodic .* \d{4}-\d\d-\d\d \d\d:\d\d \((in \d+[sm]|due)\)\s+"
                                  r"-\s+(idle|running.*|queued)$")
        # The columns line up: STATE starts at the same offset in every row.
        col = header[0].index("STATE")
        self.assertTrue(m1_line[col:].startswith("idle"), r.stdout)

    def test_status_after_a_run_shows_result_and_age(self):
        self.sb.write_task("m1", self.sb.local_task(self.data))
        self.sb.start_daemon()
        self.assertRc(self.sb.ctl("run", "m1", "--wait"), 0)
        r = self.sb.ctl("status")
        self.assertRc(r, 0)
        self.assertRegex(r.stdout,
                         r"\nm1\s+manual\s+\S+\s+succeeded \d+s ago\s+manual\s+1\s+idle\n")
        t = self.sb.status()["tasks"][0]
        self.assertEqual(t["last_run"]["result"], "succeeded")
        self.assertEqual(t["last_run"]["trigger"], "manual")
        self.assertIsNotNone(t["last_success"])
        self.assertEqual(t["copies_kept"], 1)

    def test_copies_kept_after_pruning_survives_a_restart(self):
        self.sb.write_task("m1", self.sb.local_task(self.data, max_copies=2))
        d = self.sb.start_daemon()
        for _ in range(3):
            self.assertRc(self.sb.ctl("run", "m1", "--wait"), 0)
        self.assertEqual(self.sb.status()["tasks"][0]["copies_kept"], 2)
        # A failed run prunes nothing and leaves the count.
        shutil.rmtree(self.data)
        self.assertRc(self.sb.ctl("run", "m1", "--wait"), 1)
        self.assertEqual(d.stop(), 0)
        self.sb.start_daemon()
        t = self.sb.status()["tasks"][0]
        self.assertEqual(t["last_run"]["result"], "failed")
        self.assertEqual(t["copies_kept"], 2)
        r = self.sb.ctl("status")
        self.assertRc(r, 0)
        self.assertRegex(r.stdout, r"\nm1\s+manual\s+\S+\s+failed \S+ ago \(E_\w+\)\s+manual\s+2\s+idle\n")

    def test_status_lists_config_errors(self):
        self.sb.write_task("good", self.sb.local_task(self.data))
        self.sb.write_task("bad", '{"mode": "manual",\n "policy": 3}\n')
        self.sb.start_daemon()
        st = self.sb.status()
        self.assertEqual([t["name"] for t in st["tasks"]], ["good"])
        # An object per error: the code is a field, not text to parse.
        self.assertEqual([e["pointer"] for e in st["config_errors"]],
                         ["/policy", "/source", "/target"], st)
        for e in st["config_errors"]:
            self.assertEqual(list(e), DIAG_KEYS)
        e = st["config_errors"][0]
        self.assertEqual((e["file"], e["pointer"], e["line"], e["column"], e["code"]),
                         ("tasks.d/bad.json", "/policy", None, None, "E_TASK_FIELD"))
        self.assertTrue(e["message"])
        # The text keeps its one line per error.
        r = self.sb.ctl("status")
        self.assertRc(r, 0)
        self.assertIn("\nconfig error: %s\n" % diag_line(e), r.stdout)
        self.assertRegex(r.stdout, r"\nconfig error: tasks.d/bad.json: /policy: .*\(E_TASK_FIELD\)")

    def test_status_without_tasks(self):
        self.sb.start_daemon()
        r = self.sb.ctl("status")
        self.assertRc(r, 0)
        self.assertIn("no tasks configured", r.stdout)
        self.assertEqual(self.sb.status()["tasks"], [])


class TestRun(CtlTestCase):
    def test_run_wait_json_full_then_incremental(self):
        self.sb.write_task("m1", self.sb.local_task(self.data))
        self.sb.start_daemon()
        r = self.sb.ctl("run", "m1", "--wait", "--json")
        self.assertRc(r, 0)
        self.assertEqual(len(r.stdout.strip().splitlines()), 1, r.stdout)  # exactly one object
        res = json.loads(r.stdout)
        self.assertEqual(list(res.keys()), RESULT_KEYS)
        self.assertEqual(res["task"], "m1")
        self.assertEqual(res["result"], "succeeded")
        self.assertEqual(res["type"], "full")
        self.assertRegex(res["copy"], r"^\d{8}T\d{6}Z-full$")
        n = len(self.expected["files"])
        self.assertEqual(res["files_total"], n)
        self.assertEqual(res["files_sent"], n)
        self.assertEqual(res["bytes_sent"], sum(f["size"] for f in self.expected["files"]))
        self.assertEqual(res["files_deleted"], 0)
        self.assertIsInstance(res["duration_s"], (int, float))
        self.assertIsNone(res["error"])
        self.assertIsNone(res["error_code"])
        rows = self.sb.query("SELECT id, result, type, trigger FROM runs")
        self.assertEqual([tuple(r) for r in rows],
                         [(res["run_id"], "succeeded", "full", "manual")])

        # Nothing changed: the policy asks for an incremental that sends nothing.
        res2 = self.sb.ctl_json("run", "m1", "--wait", "--json")
        self.assertEqual(res2["type"], "incremental")
        self.assertEqual(res2["files_total"], n)
        self.assertEqual(res2["files_sent"], 0)
        self.assertGreater(res2["run_id"], res["run_id"])

        # --full overrides the policy once.
        res3 = self.sb.ctl_json("run", "m1", "--full", "--wait", "--json")
        self.assertEqual(res3["type"], "full")
        self.assertEqual(res3["files_sent"], n)

    def test_run_wait_human_summary(self):
        self.sb.write_task("m1", self.sb.local_task(self.data))
        self.sb.start_daemon()
        r = self.sb.ctl("run", "m1", "--wait")
        self.assertRc(r, 0)
        # Not a terminal: no progress drawing, just the summary line.
        self.assertNotIn("\r", r.stdout)
        self.assertRegex(r.stdout, r"^run \d+ of m1 succeeded in [0-9.]+s: full copy "
                                   r"\d{8}T\d{6}Z-full, %d files, %d sent \(.*\), 0 deleted\n$"
                         % (len(self.expected["files"]), len(self.expected["files"])))

    @unittest.skipUnless(shutil.which("script"), "script(1) is not installed")
    def test_run_wait_on_a_terminal_draws_progress(self):
        self.slow_task()
        self.sb.start_daemon()
        cmd = " ".join([ibtest.CTL] + self.sb.dir_args() + ["run", "slow", "--wait"])
        # Bytes: text mode would turn the carriage returns into newlines.
        r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=ibtest.scaled(60))
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("(Ctrl-C stops waiting, not the run)", out)
        # Redrawn in place: carriage return + clear line, then files/bytes/percent.
        self.assertRegex(out, r"\r\x1b\[Krun \d+ of slow: \w+ \d+/\d+ files, .*/.*, \d+% "
                              r"\[[#-]{20}\]")
        # Once the daemon has measured a rate, the line shows it and an ETA.
        self.assertRegex(out, r"\], [\d.]+ \w*B/s, ETA \d+[smhd]")
        self.assertRegex(out, r"\r\x1b\[Krun \d+ of slow succeeded in ")
        self.assertNotRegex(out, r"\d+% *\r?\n")  # no progress line left behind

    def test_run_without_wait(self):
        self.sb.write_task("m1", self.sb.local_task(self.data))
        self.sb.start_daemon()
        r = self.sb.ctl("run", "m1")
        self.assertRc(r, 0)
        m = re.match(r"^started run (\d+) of m1\n$", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        run_id = int(m.group(1))
        ibtest.wait_for(lambda: self.sb.query(
            "SELECT result FROM runs WHERE id = ? AND result = 'succeeded'", (run_id,)),
            timeout=30, what="run %d to succeed" % run_id)
        r = self.sb.ctl("run", "m1", "--json")
        self.assertRc(r, 0)
        accepted = json.loads(r.stdout)
        self.assertEqual(accepted["task"], "m1")
        self.assertGreater(accepted["run_id"], run_id)
        self.assertIn(accepted["state"], ("running", "queued"))

    def test_failed_run_exits_1(self):
        self.sb.write_task("m1", self.sb.local_task(self.data))
        self.sb.start_daemon()
        shutil.rmtree(self.data)  # the data dir vanished
        r = self.sb.ctl("run", "m1", "--wait", "--json")
        self.assertRc(r, 1)
        res = json.loads(r.stdout)
        self.assertEqual(res["result"], "failed")
        self.assertEqual(res["error_code"], "E_SOURCE_MISSING")
        self.assertIn(self.data, res["error"])
        r = self.sb.ctl("run", "m1", "--wait")
        self.assertRc(r, 1)
        self.assertRegex(r.stderr, r"run \d+ of m1 failed after .*: .*\(E_SOURCE_MISSING\)")

    def test_run_unknown_task(self):
        self.sb.start_daemon()
        for args in (("run", "nosuch"), ("run", "nosuch", "--wait", "--json")):
            r = self.sb.ctl(*args)
            self.assertRc(r, 1)
            self.assertIn("nosuch", r.stderr)
            self.assertIn("E_TASK_UNKNOWN", r.stderr)
            self.assertEqual(r.stdout, "")

    def test_run_while_running_is_refused(self):
        self.slow_task()
        d = self.sb.start_daemon()
        r = self.sb.ctl("run", "slow")
        self.assertRc(r, 0)
        run_id = int(re.match(r"started run (\d+)", r.stdout).group(1))
        r = self.sb.ctl("run", "slow", "--wait")
        self.assertRc(r, 1)
        self.assertIn("already running", r.stderr)
        self.assertIn("E_TASK_RUNNING", r.stderr)
        self.assertIn("slow", r.stderr)
        st = self.sb.status()["tasks"][0]
        self.assertEqual(st["state"], "running")
        self.assertEqual(st["running"]["run_id"], run_id)
        r = self.sb.ctl("status")
        self.assertRegex(r.stdout, r"\nslow\s+.*running")
        # Refused, never queued: only the first run exists.
        self.assertEqual(len(self.sb.query("SELECT id FROM runs")), 1)
        self.assertEqual(d.stop(), 0)


class TestReload(CtlTestCase):
    def test_reload_broken_then_fixed(self):
        self.sb.write_task("a", self.sb.local_task(self.data))
        self.sb.start_daemon()
        self.sb.write_task("b", '{"mode": "manual", "policy": "full-every-time",\n'
                                ' "cluster_mode": "normal", "sourc": {}}\n')
        r = self.sb.ctl("reload")
        self.assertRc(r, 1)
        self.assertIn("unchanged", r.stderr)
        self.assertIn("E_CONFIG", r.stderr)
        self.assertRegex(r.stderr, r"tasks.d/b.json: /sourc: .*\(E_TASK_FIELD\)")
        # The old configuration stays in force.
        self.assertEqual([t["name"] for t in self.sb.status()["tasks"]], ["a"])
        self.assertRc(self.sb.ctl("run", "b"), 1)

        self.sb.write_task("b", self.sb.local_task(self.data, policy="full-every-time"))
        changed = self.sb.local_task(self.data)
        changed["target"]["max_copies"] = 5
        self.sb.write_task("a", changed)
        r = self.sb.ctl("reload")
        self.assertRc(r, 0)
        self.assertEqual(r.stdout,
                         "configuration reloaded: added b; changed a; 0 unchanged\n")
        st = self.sb.status()
        self.assertEqual([t["name"] for t in st["tasks"]], ["a", "b"])
        self.assertEqual(st["tasks"][0]["target"]["max_copies"], 5)

        self.sb.remove_task("b")
        r = self.sb.ctl("reload")
        self.assertRc(r, 0)
        self.assertEqual(r.stdout, "configuration reloaded: removed b; 1 unchanged\n")
        r = self.sb.ctl("reload")
        self.assertRc(r, 0)
        self.assertEqual(r.stdout, "configuration reloaded: no changes (1 task(s) unchanged)\n")


class TestCheckConfig(CtlTestCase):
    def test_clean(self):
        self.sb.write_task("a", self.sb.local_task(self.data))
        r = self.sb.ctl("check-config")
        self.assertRc(r, 0)
        self.assertIn("configuration OK: 1 task(s)", r.stdout)

    def test_broken_reports_every_error(self):
        self.sb.write_task("a", self.sb.local_task(self.data))
        bad = self.sb.local_task(self.data, mode="periodic")
        bad["period"]["every"] = 0
        bad["target"]["max_copies"] = 0
        self.sb.write_task("bad", bad)
        self.sb.write_task("syntax", '{\n  "mode": "manual",\n  "policy" "x"\n}\n')
        r = self.sb.ctl("check-config")
        self.assertRc(r, 1)
        out = r.stdout + r.stderr
        self.assertRegex(out, r"tasks.d/bad.json: /period/every: .*\(E_TASK_FIELD\)")
        self.assertRegex(out, r"tasks.d/bad.json: /target/max_copies: .*\(E_TASK_FIELD\)")
        self.assertRegex(out, r"tasks.d/syntax.json:3:\d+: .*\(E_TASK_SYNTAX\)")
        self.assertIn("configuration has 3 error(s)", out)

    def test_json(self):
        self.sb.write_task("a", self.sb.local_task(self.data))
        r = self.sb.ctl("check-config", "--json")
        self.assertRc(r, 0)
        self.assertEqual(json.loads(r.stdout),
                         {"ok": True, "tasks": 1, "errors": [], "warnings": []})
        bad = self.sb.local_task(self.data, mode="periodic")
        bad["period"]["every"] = 0
        self.sb.write_task("bad", bad)
        self.sb.write_task("syntax", '{\n  "mode": "manual",\n  "policy" "x"\n}\n')
        text = self.sb.ctl("check-config")
        r = self.sb.ctl("check-config", "--json")
        self.assertRc(r, 1)
        self.assertEqual(r.stderr, "")
        out = json.loads(r.stdout)
        self.assertEqual(list(out), ["ok", "tasks", "errors", "warnings"])
        self.assertEqual((out["ok"], out["tasks"], out["warnings"]), (False, 1, []))
        for e in out["errors"]:
            self.assertEqual(list(e), DIAG_KEYS)
        field, syntax = out["errors"]
        self.assertEqual((field["file"], field["pointer"], field["line"], field["column"],
                          field["code"]),
                         ("tasks.d/bad.json", "/period/every", None, None, "E_TASK_FIELD"))
        self.assertEqual((syntax["file"], syntax["pointer"], syntax["line"], syntax["code"]),
                         ("tasks.d/syntax.json", None, 3, "E_TASK_SYNTAX"))
        self.assertIsInstance(syntax["column"], int)
        # The same problems as the text, in the same order.
        lines = [ln for ln in (text.stdout + text.stderr).splitlines()
                 if ln.startswith("tasks.d/")]
        self.assertEqual([diag_line(e) for e in out["errors"]], lines)

    def test_json_warnings_and_settings(self):
        # A simple-auth HDFS target of a security cluster is valid, with a warning.
        task = self.sb.local_task(self.data)
        task["cluster_mode"] = "security"
        task["target"] = {"path_type": "RemoteHDFS", "target_path": "/backup",
                          "nameservice": "hacluster", "active_namenode": "192.0.2.10",
                          "auth": {"mode": "simple", "user": "hdfs"}, "max_copies": 3}
        self.sb.write_task("w", task)
        r = self.sb.ctl("check-config", "--json")
        self.assertRc(r, 0)
        out = json.loads(r.stdout)
        self.assertEqual((out["ok"], out["tasks"], out["errors"]), (True, 1, []))
        self.assertEqual(len(out["warnings"]), 1, out)
        w = out["warnings"][0]
        self.assertEqual(list(w), DIAG_KEYS)
        self.assertEqual((w["file"], w["pointer"], w["code"]),
                         ("tasks.d/w.json", "/target/auth/mode", "E_TASK_FIELD"))
        # Invalid daemon settings are errors of their file.
        self.sb.write_settings({"max_parallel_runs": 0})
        r = self.sb.ctl("check-config", "--json")
        self.assertRc(r, 1)
        out = json.loads(r.stdout)
        self.assertIs(out["ok"], False)
        self.assertEqual([(e["file"], e["pointer"], e["code"]) for e in out["errors"]],
                         [("iotdb-backupd.conf", "/max_parallel_runs", "E_CONFIG")])

    def test_config_dir_after_the_command_and_no_daemon_needed(self):
        other = os.path.join(self.sb.root, "other")
        os.makedirs(os.path.join(other, "tasks.d"))
        with open(os.path.join(other, "iotdb-backupd.conf"), "w") as f:
            f.write('{"max_parallel_runs": 0}')
        r = self.sb.ctl("check-config", "--config-dir", other)
        self.assertRc(r, 1)
        self.assertRegex(r.stdout + r.stderr, r"iotdb-backupd.conf: /max_parallel_runs: ")

    def test_conf_examples_pass(self):
        conf = os.path.join(ibtest.SOURCE_DIR, "conf")
        r = self.sb.ctl("check-config", "--config-dir", conf, dirs=False)
        self.assertRc(r, 0)
        self.assertRegex(r.stdout, r"configuration OK: [1-9]\d* task\(s\)")


class TestLocalCommands(CtlTestCase):
    def test_copies_verify_restore(self):
        self.sb.write_task("m1", self.sb.local_task(self.data))
        r = self.sb.ctl("copies", "m1")
        self.assertRc(r, 0)
        self.assertIn("no copies of m1", r.stdout)
        self.sb.start_daemon()
        res = self.sb.ctl_json("run", "m1", "--wait", "--json")

        cp = self.sb.ctl_json("copies", "m1", "--json")
        self.assertEqual(cp["task"], "m1")
        self.assertEqual(len(cp["copies"]), 1)
        c = cp["copies"][0]
        self.assertEqual(list(c.keys()), ["name", "type", "start", "end", "files", "bytes",
                                          "valid", "invalid_reason"])
        self.assertEqual(c["name"], res["copy"])
        self.assertEqual(c["type"], "full")
        self.assertTrue(c["valid"])
        self.assertIsNone(c["invalid_reason"])
        self.assertEqual(c["files"], res["files_total"])
        self.assertEqual(c["bytes"], res["bytes_sent"])
        r = self.sb.ctl("copies", "m1")
        self.assertRc(r, 0)
        self.assertRegex(r.stdout, r"^NAME\s+TYPE\s+TIME\s+FILES\s+BYTES\n%s\s+full\s+"
                                   r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+%d\s+\d+(\.\d)? \w?i?B\n$"
                         % (res["copy"], res["files_total"]))

        r = self.sb.ctl("verify", "m1")
        self.assertRc(r, 0)
        self.assertIn("verify OK", r.stdout)

        to = os.path.join(self.sb.root, "restored")
        r = self.sb.ctl("restore", "m1", "--to", to)
        self.assertRc(r, 0)
        self.assertIn("restored copy %s of m1" % res["copy"], r.stdout)
        restored = ibtest.tree_files(to)
        self.assertEqual(sorted(restored), sorted(f["path"] for f in self.expected["files"]))

        # Works without the daemon and without the state store.
        self.assertEqual(self.sb.daemons[0].stop(), 0)
        shutil.rmtree(self.sb.state_dir)
        cp2 = self.sb.ctl_json("copies", "m1", "--json")
        self.assertEqual(cp2["copies"][0]["name"], res["copy"])

    def test_verify_reports_problems(self):
        task = self.sb.local_task(self.data)
        task["source"]["data_dirs"] = [os.path.join(self.sb.root, "missing")]
        self.sb.write_task("m1", task)
        r = self.sb.ctl("verify", "m1")
        self.assertRc(r, 1)
        self.assertIn(os.path.join(self.sb.root, "missing"), r.stdout)
        self.assertRegex(r.stdout, r"\n\d+ problem\(s\)\n$")

    def test_unknown_and_invalid_task(self):
        for cmd in (["copies", "nosuch"], ["verify", "nosuch"],
                    ["restore", "nosuch", "--to", self.sb.root]):
            r = self.sb.ctl(*cmd)
            self.assertRc(r, 1)
            self.assertIn("no task 'nosuch'", r.stderr)
        self.sb.write_task("bad", '{"mode": 1}')
        r = self.sb.ctl("verify", "bad")
        self.assertRc(r, 1)
        self.assertIn("tasks.d/bad.json", r.stderr)


class TestNoDaemon(CtlTestCase):
    def test_daemon_not_running(self):
        sock = os.path.join(self.sb.runtime_dir, "control.sock")
        for args in (["status"], ["status", "--json"], ["run", "x"], ["reload"]):
            r = self.sb.ctl(*args)
            self.assertRc(r, 1)
            self.assertIn("cannot reach iotdb-backupd at %s: " % sock, r.stderr)
            self.assertIn(HINT, r.stderr)
            self.assertEqual(r.stdout, "")

    def test_stale_socket(self):
        # A socket file nobody listens on (the daemon was killed).
        self.sb.write_task("m1", self.sb.local_task(self.data))
        d = self.sb.start_daemon()
        d.kill()
        r = self.sb.ctl("status")
        self.assertRc(r, 1)
        self.assertIn("cannot reach iotdb-backupd", r.stderr)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv")
    def test_permission_denied_hint(self):
        self.sb.start_daemon()
        # The sandbox is mode 0700: user nobody cannot reach the socket.
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ibtest.CTL,
               "--runtime-dir", self.sb.runtime_dir, "status"]
        r = ibtest.run_cmd(cmd)
        self.assertRc(r, 1)
        self.assertIn("Permission denied", r.stderr)
        self.assertIn("member of the group iotdb-backup", r.stderr)

    def test_environment_defaults(self):
        env = {"RUNTIME_DIRECTORY": os.path.join(self.sb.root, "elsewhere")}
        r = self.sb.ctl("status", dirs=False, env=env)
        self.assertRc(r, 1)
        self.assertIn(os.path.join(self.sb.root, "elsewhere", "control.sock"), r.stderr)


class TestUsage(ibtest.DaemonTestCase):
    def test_usage_errors_exit_2(self):
        cases = [
            [], ["nosuch"], ["--nosuch", "status"], ["status", "extra"], ["status", "--nosuch"],
            ["run"], ["run", "a", "b"], ["run", "a", "--full", "--incremental"],
            ["reload", "x"], ["copies"], ["verify"], ["restore", "a"],
            ["check-config", "x"], ["--runtime-dir"],
        ]
        for args in cases:
            r = self.sb.ctl(*args, dirs=False)
            self.assertEqual(r.returncode, 2, "%s: %s" % (args, r.stderr))
            self.assertIn("usage: iotdb-backupctl", r.stderr)
            self.assertEqual(r.stdout, "")

    def test_help_and_version(self):
        r = self.sb.ctl("--help", dirs=False)
        self.assertEqual(r.returncode, 0)
        for cmd in ("status", "run", "reload", "check-config", "copies", "restore", "verify"):
            self.assertIn("  " + cmd, r.stdout)
        r = self.sb.ctl("run", "--help", dirs=False)
        self.assertEqual(r.returncode, 0)
        self.assertIn("run TASK [--full|--incremental] [--wait] [--json]", r.stdout)
        r = self.sb.ctl("--version", dirs=False)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^iotdb-backupctl \d+\.\d+\.\d+\n$")


if __name__ == "__main__":
    unittest.main()
