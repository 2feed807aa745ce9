"""The daemon end to end, talking to it directly: sd_notify (READY, STATUS,
RELOADING, STOPPING, WATCHDOG), the control socket protocol (JSON lines,
bounded lines, errors, many clients), SIGHUP reloads (all or nothing),
SIGTERM with an active run, a SIGKILLed daemon restarted, catch-up after
downtime and skipping of an overlapping slot. The store is checked with
Python's sqlite3."""

import datetime
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

import ibtest
from ibtest import scaled, wait_for


class Client:
    """A raw control-socket connection speaking JSON lines."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(scaled(timeout))
        self.sock.connect(path)
        self.buf = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def recv(self):
        """The next answer line as a dict, or None at EOF."""
        while b"\n" not in self.buf:
            data = self.sock.recv(1 << 20)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, obj):
        self.send(obj)
        return self.recv()

    def at_eof(self):
        """True when the daemon closed the connection (after any buffered answers)."""
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def local_iso(t):
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%dT%H:%M:%S")


class LifecycleCase(ibtest.DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.data = self.sb.gen_data()

    def client(self):
        c = Client(self.sb.socket_path)
        self.addCleanup(c.close)
        return c

    def slow_task(self, name="slow", mbps=2, **kw):
        """A LocalDir task whose full run takes a few seconds (bandwidth cap)."""
        task = self.sb.local_task(self.data, target=os.path.join(self.sb.root, "b-" + name), **kw)
        task["target"]["max_bandwidth_mbps"] = mbps
        self.sb.write_task(name, task)
        return task

    def runs(self, task=None):
        sql = "SELECT id, task, \"trigger\", type, result, error_code, error FROM runs"
        if task:
            return [dict(r) for r in self.sb.query(sql + " WHERE task = ? ORDER BY id", (task,))]
        return [dict(r) for r in self.sb.query(sql + " ORDER BY id")]

    def wait_state(self, c, task, state, timeout=20.0):
        def check():
            st = c.request({"v": 1, "cmd": "status"})
            t = [t for t in st["tasks"] if t["name"] == task]
            return t[0] if t and t[0]["state"] == state else None
        return wait_for(check, timeout, interval=0.1, what="task %s %s" % (task, state))

    def wait_finished(self, run_id, timeout=30.0):
        def check():
            rows = [r for r in self.runs() if r["id"] == run_id and r["result"] != "running"]
            return rows[0] if rows else None
        return wait_for(check, timeout, interval=0.1, what="run %d finished" % run_id)


class TestStartAndNotify(LifecycleCase):
    def test_ready_status_watchdog_and_stop(self):
        self.sb.write_task("p1", self.sb.local_task(self.data, mode="periodic", every=1,
                                                     unit="minutes"))
        d = self.sb.start_daemon(watchdog_usec=1000000)
        ready = d.notify.find("READY", "1")
        self.assertRegex(ready["STATUS"], r"^1 task, 0 running, next: p1 at \d{4}-\d\d-\d\dT")
        # Pings at half the interval: several within two seconds.
        wait_for(lambda: d.notify.count("WATCHDOG", "1") >= 3, 3.0, what="3 watchdog pings")
        self.assertIn("started", d.log())
        self.assertEqual(d.stop(), 0)
        self.assertIsNotNone(d.notify.find("STOPPING", "1"))
        self.assertFalse(os.path.exists(self.sb.socket_path), "socket removed at exit")

    def test_no_watchdog_without_request(self):
        d = self.sb.start_daemon()
        time.sleep(0.5)
        self.assertEqual(d.notify.count("WATCHDOG"), 0)
        self.assertEqual(d.notify.find("READY", "1")["STATUS"], "0 tasks, 0 running, next: none")

    def test_flags(self):
        r = ibtest.run_cmd([ibtest.DAEMON, "--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^iotdb-backupd \d+\.\d+\.\d+\n$")
        r = ibtest.run_cmd([ibtest.DAEMON, "--help"])
        self.assertEqual(r.returncode, 0)
        for flag in ("--config-dir", "--state-dir", "--runtime-dir", "--check-config"):
            self.assertIn(flag, r.stdout)
        for bad in (["--bogus"], ["extra"], ["--config-dir"]):
            r = ibtest.run_cmd([ibtest.DAEMON] + bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("Usage:", r.stderr)

    def test_check_config(self):
        self.sb.write_task("good", self.sb.local_task(self.data))
        r = ibtest.run_cmd([ibtest.DAEMON, "--check-config", "--config-dir", self.sb.config_dir])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.sb.write_task("bad", '{"mode": "manual", "period": 3}')
        r = ibtest.run_cmd([ibtest.DAEMON, "--check-config", "--config-dir", self.sb.config_dir])
        self.assertEqual(r.returncode, 1)
        self.assertIn("tasks.d/bad.json", r.stdout + r.stderr)

    def test_invalid_settings_refuse_start_invalid_tasks_do_not(self):
        self.sb.write_task("good", self.sb.local_task(self.data))
        self.sb.write_task("bad", '{"mode": "manual",')
        d = self.sb.start_daemon()
        st = self.client().request({"v": 1, "cmd": "status"})
        self.assertEqual([t["name"] for t in st["tasks"]], ["good"])
        self.assertTrue(any(e["file"] == "tasks.d/bad.json" and e["code"] == "E_TASK_SYNTAX"
                            for e in st["config_errors"]), st)
        self.assertIn("tasks.d/bad.json", d.log())
        self.assertEqual(d.stop(), 0)

        self.sb.write_settings({"max_parallel_runs": 0})
        d2 = self.sb.start_daemon(wait_ready=False)
        self.assertEqual(d2.proc.wait(scaled(15)), 1)
        self.assertIn("max_parallel_runs", d2.log())
        self.assertIsNone(d2.notify.find("READY"))

    def test_second_daemon_refuses_the_socket(self):
        d = self.sb.start_daemon()
        d2 = self.sb.start_daemon(wait_ready=False)
        self.assertEqual(d2.proc.wait(scaled(15)), 1)
        self.assertIn("already running", d2.log())
        # The first one is unharmed.
        self.assertTrue(self.client().request({"v": 1, "cmd": "status"})["ok"])
        self.assertEqual(d.stop(), 0)

    def test_stale_socket_is_replaced(self):
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(self.sb.socket_path)
        stale.close()  # the file stays, nobody listens
        d = self.sb.start_daemon()
        self.assertTrue(self.client().request({"v": 1, "cmd": "status"})["ok"])
        self.assertEqual(os.stat(self.sb.socket_path).st_mode & 0o777, 0o660)
        self.assertEqual(d.stop(), 0)


class TestControlProtocol(LifecycleCase):
    def setUp(self):
        super().setUp()
        self.sb.write_task("m1", self.sb.local_task(self.data))
        self.daemon = self.sb.start_daemon()

    def assertError(self, answer, code):
        self.assertIsNotNone(answer)
        self.assertEqual(answer["v"], 1)
        self.assertIs(answer["ok"], False)
        self.assertEqual(answer["error_code"], code, answer)
        self.assertTrue(answer["error"])

    def test_status_answer(self):
        st = self.client().request({"v": 1, "cmd": "status"})
        self.assertEqual(st["v"], 1)
        self.assertIs(st["ok"], True)
        self.assertEqual(st["daemon"]["pid"], self.daemon.pid)
        self.assertEqual(st["daemon"]["running"], 0)
        self.assertEqual(st["daemon"]["queued"], 0)
        self.assertEqual(st["daemon"]["max_parallel_runs"], 2)
        t = st["tasks"][0]
        self.assertEqual((t["name"], t["mode"], t["state"]), ("m1", "manual", "idle"))
        self.assertIsNone(t["next_run"])
        self.assertIsNone(t["last_run"])
        self.assertEqual(t["target"]["path_type"], "LocalDir")
        self.assertIsNone(t["target"]["nameservice"])
        self.assertEqual(st["config_errors"], [])

    def test_several_requests_on_one_connection_and_many_clients(self):
        c = self.client()
        for _ in range(3):
            self.assertTrue(c.request({"v": 1, "cmd": "status"})["ok"])
        clients = [self.client() for _ in range(20)]
        for cl in clients:
            cl.send({"v": 1, "cmd": "status"})
        for cl in clients:
            self.assertTrue(cl.recv()["ok"])

    def test_bad_requests_answer_an_error_and_close(self):
        cases = [
            b"this is not json\n",
            b"[1, 2, 3]\n",
            b'{"cmd": "status"}\n',
            b'{"v": 2, "cmd": "status"}\n',
            b'{"v": 1}\n',
            b'{"v": 1, "cmd": "format-disk"}\n',
            b'{"v": 1, "cmd": "status", "pad": "' + b"x" * 70000 + b'"}\n',
        ]
        for raw in cases:
            c = self.client()
            c.send_raw(raw)
            self.assertError(c.recv(), "E_CONTROL")
            self.assertTrue(c.at_eof(), raw[:40])
        # A line that never ends is cut off at the limit too.
        c = self.client()
        c.send_raw(b"{" + b" " * 70000)
        ans = c.recv()
        self.assertError(ans, "E_CONTROL")
        self.assertIn("65536", ans["error"])
        self.assertTrue(c.at_eof())
        # The daemon is fine.
        self.assertTrue(self.client().request({"v": 1, "cmd": "status"})["ok"])
        self.assertTrue(self.daemon.running())

    def test_run_errors_keep_the_connection(self):
        c = self.client()
        self.assertError(c.request({"v": 1, "cmd": "run", "task": "nope"}), "E_TASK_UNKNOWN")
        self.assertError(c.request({"v": 1, "cmd": "run", "task": "m1", "type": "half"}),
                         "E_CONTROL")
        self.assertError(c.request({"v": 1, "cmd": "run"}), "E_CONTROL")
        self.assertTrue(c.request({"v": 1, "cmd": "status"})["ok"])

    def test_run_wait_reports_accepted_progress_finished(self):
        c = self.client()
        first = c.request({"v": 1, "cmd": "run", "task": "m1", "type": None, "wait": True})
        self.assertEqual(first["event"], "accepted")
        self.assertEqual(first["state"], "running")
        events = []
        while True:
            ev = c.recv()
            self.assertIsNotNone(ev, "connection closed before the finished event")
            events.append(ev)
            if ev.get("event") == "finished":
                break
        self.assertTrue(all(e["event"] == "progress" for e in events[:-1]), events)
        run = events[-1]["run"]
        self.assertEqual(run["task"], "m1")
        self.assertEqual(run["run_id"], first["run_id"])
        self.assertEqual(run["result"], "succeeded", run)
        self.assertEqual(run["type"], "full")
        self.assertGreater(run["files_sent"], 0)
        rows = self.runs("m1")
        self.assertEqual([(r["id"], r["trigger"], r["result"]) for r in rows],
                         [(first["run_id"], "manual", "succeeded")])
        # STATUS= followed the run.
        notify = self.daemon.notify
        self.assertIsNotNone(notify.find("STATUS", "1 task, 1 running, next: none"))
        wait_for(lambda: notify.snapshot()[-1].get("STATUS") == "1 task, 0 running, next: none",
                 5, what="STATUS back to idle")
        log = self.daemon.log()
        self.assertRegex(log, r"TASK=m1 RUN_ID=%d BACKUP_TYPE=full TRIGGER=manual RESULT=succeeded"
                         % first["run_id"])
        # The policy now asks for an incremental.
        second = c.request({"v": 1, "cmd": "run", "task": "m1", "wait": False})
        self.assertEqual(second["state"], "running")
        self.assertEqual(self.wait_finished(second["run_id"])["type"], "incremental")

    def test_client_leaving_while_waiting_is_harmless(self):
        self.slow_task("slow")
        self.assertTrue(self.client().request({"v": 1, "cmd": "reload"})["ok"])
        c = Client(self.sb.socket_path)
        acc = c.request({"v": 1, "cmd": "run", "task": "slow", "wait": True})
        c.close()
        row = self.wait_finished(acc["run_id"], timeout=60)
        self.assertEqual(row["result"], "succeeded")
        self.assertTrue(self.client().request({"v": 1, "cmd": "status"})["ok"])

    def test_running_task_is_refused_and_parallel_limit_queues(self):
        self.sb.write_settings({"max_parallel_runs": 1})
        self.slow_task("s1")
        self.slow_task("s2")
        c = self.client()
        self.assertTrue(c.request({"v": 1, "cmd": "reload"})["ok"])
        a1 = c.request({"v": 1, "cmd": "run", "task": "s1"})
        a2 = c.request({"v": 1, "cmd": "run", "task": "s2"})
        self.assertEqual((a1["state"], a2["state"]), ("running", "queued"))
        st = c.request({"v": 1, "cmd": "status"})
        states = {t["name"]: t["state"] for t in st["tasks"]}
        self.assertEqual((states["s1"], states["s2"]), ("running", "queued"))
        self.assertEqual((st["daemon"]["running"], st["daemon"]["queued"]), (1, 1))
        again = c.request({"v": 1, "cmd": "run", "task": "s2", "type": "full"})
        self.assertError(again, "E_TASK_RUNNING")
        self.assertIn("run %d" % a2["run_id"], again["error"])
        self.assertError(c.request({"v": 1, "cmd": "run", "task": "s1"}), "E_TASK_RUNNING")
        self.wait_finished(a1["run_id"], timeout=60)
        self.wait_state(c, "s2", "running")
        self.assertEqual(self.wait_finished(a2["run_id"], timeout=60)["result"], "succeeded")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to connect as another user")
    def test_other_users_are_refused(self):
        os.chmod(self.sb.root, 0o755)
        os.chmod(self.sb.runtime_dir, 0o755)
        os.chmod(self.sb.socket_path, 0o666)  # let the connection reach the daemon's check
        code = ("import socket,sys\n"
                "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
                "try:\n"
                "    s.sendall(b'{\"v\":1,\"cmd\":\"status\"}\\n')\n"
                "except BrokenPipeError:\n"
                "    pass  # refused before the request was sent\n"
                "print(s.makefile().readline())\n")
        r = subprocess.run(["python3", "-c", code, self.sb.socket_path], capture_output=True,
                           text=True, timeout=scaled(10), user=65534, group=65534,
                           extra_groups=[])
        self.assertEqual(r.returncode, 0, r.stderr)
        answer = json.loads(r.stdout)
        self.assertEqual(answer["error_code"], "E_CONTROL")
        self.assertIn("permission denied", answer["error"])


class TestReload(LifecycleCase):
    def test_sighup_all_or_nothing(self):
        # Hours: no slot falls due during the test, next_run_unix must stay.
        self.sb.write_task("a", self.sb.local_task(self.data, mode="periodic", every=2,
                                                    unit="hours"))
        d = self.sb.start_daemon()
        c = self.client()
        next_a = c.request({"v": 1, "cmd": "status"})["tasks"][0]["next_run_unix"]

        self.sb.write_task("b", '{"mode": "manual", "policy": "sometimes"}')
        start = d.reload()
        reloading = d.notify.wait("RELOADING", "1", start=start)
        self.assertRegex(reloading.get("MONOTONIC_USEC", ""), r"^\d+$")
        d.notify.wait("READY", "1", start=start)
        d.wait_log("reload failed")
        self.assertIn("tasks.d/b.json", d.log())
        st = c.request({"v": 1, "cmd": "status"})
        self.assertEqual([t["name"] for t in st["tasks"]], ["a"])
        self.assertTrue(any(e["file"] == "tasks.d/b.json" for e in st["config_errors"]), st)

        ans = c.request({"v": 1, "cmd": "reload"})
        self.assertIs(ans["ok"], False)
        self.assertEqual(ans["error_code"], "E_CONFIG")
        self.assertIn("unchanged", ans["error"])
        # The same objects as status: the code is a field of its own.
        self.assertEqual(ans["errors"], st["config_errors"])
        self.assertTrue(any(e["file"] == "tasks.d/b.json" and e["pointer"] == "/policy"
                            and e["code"] == "E_TASK_FIELD" for e in ans["errors"]), ans)

        self.sb.write_task("b", self.sb.local_task(self.data))
        start = d.reload()
        d.notify.wait("RELOADING", "1", start=start)
        d.notify.wait("READY", "1", start=start)
        d.wait_log("configuration reloaded")
        st = c.request({"v": 1, "cmd": "status"})
        self.assertEqual([t["name"] for t in st["tasks"]], ["a", "b"])
        self.assertEqual(st["config_errors"], [])
        self.assertEqual(st["tasks"][0]["next_run_unix"], next_a, "unchanged task keeps its slot")

        # Change a, remove b: answered by the control command.
        self.sb.write_task("a", self.sb.local_task(self.data, mode="periodic", every=3,
                                                    unit="hours"))
        self.sb.remove_task("b")
        self.sb.write_task("c", self.sb.local_task(self.data))
        ans = c.request({"v": 1, "cmd": "reload"})
        self.assertEqual((ans["added"], ans["changed"], ans["removed"], ans["unchanged"]),
                         (["c"], ["a"], ["b"], 0))
        st = c.request({"v": 1, "cmd": "status"})
        self.assertEqual([t["name"] for t in st["tasks"]], ["a", "c"])
        self.assertEqual(st["tasks"][0]["period"], "3 hours")
        enabled = {r["name"]: r["enabled"] for r in self.sb.query("SELECT name, enabled FROM tasks")}
        self.assertEqual(enabled, {"a": 1, "b": 0, "c": 1})
        ans = c.request({"v": 1, "cmd": "reload"})
        self.assertEqual((ans["added"], ans["changed"], ans["removed"], ans["unchanged"]),
                         ([], [], [], 2))
        self.assertEqual(d.stop(), 0)

    def test_unchanged_task_keeps_its_running_run(self):
        self.slow_task("slow")
        d = self.sb.start_daemon()
        c = self.client()
        acc = c.request({"v": 1, "cmd": "run", "task": "slow"})
        self.sb.write_task("other", self.sb.local_task(self.data))
        ans = c.request({"v": 1, "cmd": "reload"})
        self.assertEqual((ans["added"], ans["unchanged"]), (["other"], 1))
        t = [t for t in c.request({"v": 1, "cmd": "status"})["tasks"] if t["name"] == "slow"][0]
        self.assertEqual(t["state"], "running")
        self.assertEqual(t["running"]["run_id"], acc["run_id"])
        self.assertEqual(self.wait_finished(acc["run_id"], 60)["result"], "succeeded")
        self.assertEqual(d.stop(), 0)


class TestStopAndCrash(LifecycleCase):
    def test_sigterm_interrupts_an_active_run(self):
        self.slow_task("slow")
        d = self.sb.start_daemon()
        c = self.client()
        acc = c.request({"v": 1, "cmd": "run", "task": "slow"})
        self.wait_state(c, "slow", "running")
        wait_for(lambda: c.request({"v": 1, "cmd": "status"})["tasks"][0]["running"]["phase"]
                 == "upload", 20, what="upload phase")
        self.assertEqual(d.stop(), 0)
        self.assertIsNotNone(d.notify.find("STOPPING", "1"))
        rows = self.runs("slow")
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0]["id"], rows[0]["result"], rows[0]["error_code"]),
                         (acc["run_id"], "interrupted", "E_INTERRUPTED"))
        self.assertIn("RESULT=interrupted", d.log())

    def test_second_sigterm_stops_at_once(self):
        self.slow_task("slow")
        self.sb.write_settings({"shutdown_timeout_s": 600})
        d = self.sb.start_daemon()
        c = self.client()
        acc = c.request({"v": 1, "cmd": "run", "task": "slow"})
        # In the upload phase the worker handles SIGTERM (earlier it would
        # simply die of it).
        wait_for(lambda: c.request({"v": 1, "cmd": "status"})["tasks"][0]["running"]["phase"]
                 == "upload", 20, what="upload phase")
        # Stop the worker so that it cannot honour the first SIGTERM.
        pids = subprocess.run(["pgrep", "-P", str(d.pid)], capture_output=True, text=True)
        workers = [int(p) for p in pids.stdout.split()]
        self.assertEqual(len(workers), 1, pids.stdout)
        os.kill(workers[0], signal.SIGSTOP)
        d.send_signal(signal.SIGTERM)
        d.wait_log("stopping")
        time.sleep(0.3)
        self.assertTrue(d.running(), d.log())
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM, timeout=10), 0)
        self.assertLess(time.monotonic() - t0, scaled(5))
        row = self.runs("slow")[0]
        self.assertEqual((row["id"], row["result"], row["error_code"]),
                         (acc["run_id"], "interrupted", "E_INTERRUPTED"))

    def test_worker_killed_is_a_failed_run(self):
        self.slow_task("slow")
        d = self.sb.start_daemon()
        c = self.client()
        acc = c.request({"v": 1, "cmd": "run", "task": "slow", "wait": True})

        def children():
            pids = subprocess.run(["pgrep", "-P", str(d.pid)], capture_output=True, text=True)
            return [int(p) for p in pids.stdout.split()]
        # The answer may arrive before the worker is forked.
        workers = wait_for(children, 10, what="the worker process")
        self.assertEqual(len(workers), 1, workers)
        os.kill(workers[0], signal.SIGKILL)
        while True:
            ev = c.recv()
            if ev["event"] == "finished":
                break
        self.assertEqual((ev["run"]["result"], ev["run"]["error_code"]), ("failed", "E_INTERNAL"))
        self.assertIn("signal 9", ev["run"]["error"])
        row = self.runs("slow")[0]
        self.assertEqual((row["id"], row["result"], row["error_code"]),
                         (acc["run_id"], "failed", "E_INTERNAL"))
        self.assertRegex(d.log(), r"RESULT=failed ERROR_CODE=E_INTERNAL")
        self.assertTrue(d.running())
        self.assertEqual(d.stop(), 0)

    def test_sigkilled_daemon_restarted_marks_running_interrupted(self):
        self.slow_task("slow")
        d = self.sb.start_daemon()
        c = self.client()
        acc = c.request({"v": 1, "cmd": "run", "task": "slow"})
        self.wait_state(c, "slow", "running")
        c.close()
        d.kill()
        self.assertEqual(self.runs("slow")[0]["result"], "running")
        d2 = self.sb.start_daemon()
        row = self.runs("slow")[0]
        self.assertEqual((row["id"], row["result"]), (acc["run_id"], "interrupted"))
        self.assertIn("1 run(s) were still running", d2.log())
        # The task works again.
        acc2 = self.client().request({"v": 1, "cmd": "run", "task": "slow"})
        self.assertTrue(acc2["ok"], acc2)
        self.assertEqual(d2.stop(), 0)


class TestSchedule(LifecycleCase):
    def set_last_slot(self, name, t):
        con = sqlite3.connect(self.sb.db_path, timeout=10)
        try:
            with con:
                con.execute("UPDATE tasks SET last_slot = ? WHERE name = ?", (t, name))
        finally:
            con.close()

    def prepare_downtime(self, catch_up):
        # The task fires every minute: start well before a minute boundary so
        # the checks are not raced by a regular slot.
        ibtest.away_from_minute_boundary(25)
        task = self.sb.local_task(self.data, mode="periodic", every=1, unit="minutes",
                                  started="2024-01-01T00:00:00", catch_up=catch_up)
        self.sb.write_task("p", task)
        d = self.sb.start_daemon()
        self.assertEqual(d.stop(), 0)
        self.assertEqual(self.runs(), [], "a new task does not catch up")
        row = self.sb.query("SELECT last_slot FROM tasks WHERE name = 'p'")[0]
        self.assertLessEqual(row["last_slot"], time.time())
        self.assertEqual(row["last_slot"] % 60, 0)
        # Pretend the daemon was down for ten minutes (and a bit).
        now = int(time.time())
        self.set_last_slot("p", now - now % 60 - 600)

    def test_catch_up_once_after_downtime(self):
        self.prepare_downtime("once")
        d = self.sb.start_daemon()
        d.wait_log("running once now (catch-up)")
        self.assertRegex(d.log(), r"task p: 1[01] run\(s\) missed since")
        rows = wait_for(lambda: [r for r in self.runs() if r["result"] != "running"], 60,
                        what="the catch-up run to finish")
        time.sleep(0.5)
        rows = self.runs()
        # One catch-up run, not a burst; a slow (sanitized) run may see the
        # next regular minute slot, which is a "schedule" run, not a replay.
        catch_up = [r for r in rows if r["trigger"] == "catch-up"]
        self.assertEqual(len(catch_up), 1, rows)
        self.assertEqual(catch_up[0]["result"], "succeeded")
        self.assertEqual(rows[0]["id"], catch_up[0]["id"], rows)
        self.assertLessEqual(len(rows), 2, rows)
        self.assertTrue(all(r["trigger"] == "schedule" for r in rows[1:]), rows)
        last = self.sb.query("SELECT last_slot FROM tasks WHERE name = 'p'")[0]["last_slot"]
        self.assertGreater(last, time.time() - 61)
        self.assertEqual(d.stop(), 0)

    def test_catch_up_skip(self):
        self.prepare_downtime("skip")
        d = self.sb.start_daemon()
        self.assertRegex(d.log(), r"task p: skipped 1[01] missed run\(s\)")
        time.sleep(0.5)
        self.assertEqual(self.runs(), [])
        self.assertEqual(d.stop(), 0)

    def test_slot_due_while_running_is_skipped(self):
        # The first slot falls due a few seconds after the task is added,
        # while a manual run (slowed down by the bandwidth cap: ~11 s) is
        # still going.
        d = self.sb.start_daemon()
        c = self.client()
        first = time.time() + 3
        self.slow_task("p", mbps=0.5, mode="periodic", every=1, unit="minutes",
                       started=local_iso(first))
        self.assertEqual(c.request({"v": 1, "cmd": "reload"})["added"], ["p"])
        st = c.request({"v": 1, "cmd": "status"})["tasks"][0]
        self.assertEqual(st["next_run_unix"], int(first))
        acc = c.request({"v": 1, "cmd": "run", "task": "p"})
        self.assertEqual(acc["state"], "running")
        skipped = wait_for(lambda: [r for r in self.runs("p") if r["result"] == "skipped"],
                           15, what="a skipped run")
        self.assertEqual(len(skipped), 1)
        self.assertEqual(skipped[0]["trigger"], "schedule")
        self.assertEqual(skipped[0]["error"], "previous run %d still running" % acc["run_id"])
        self.assertIn("RESULT=skipped", d.log())
        # The next slot is a minute later; the manual run goes on undisturbed.
        st = c.request({"v": 1, "cmd": "status"})["tasks"][0]
        self.assertEqual(st["next_run_unix"], int(first) + 60)
        self.assertEqual(st["state"], "running", (st, self.runs("p"), d.log()))
        self.assertEqual(st["running"]["run_id"], acc["run_id"])
        self.assertEqual(d.stop(), 0)
        self.assertEqual([r["result"] for r in self.runs("p")], ["interrupted", "skipped"])

    def test_scheduled_slot_runs(self):
        first = time.time() + scaled(2)
        self.sb.write_task("p", self.sb.local_task(self.data, mode="periodic", every=1,
                                                    unit="minutes", started=local_iso(first)))
        d = self.sb.start_daemon()
        rows = wait_for(lambda: [r for r in self.runs("p") if r["result"] != "running"], 30,
                        what="the scheduled run")
        self.assertEqual((rows[0]["trigger"], rows[0]["result"], rows[0]["type"]),
                         ("schedule", "succeeded", "full"))
        st = self.client().request({"v": 1, "cmd": "status"})["tasks"][0]
        self.assertEqual(st["next_run_unix"], int(first) + 60)
        self.assertEqual(st["last_run"]["trigger"], "schedule")
        self.assertEqual(d.stop(), 0)


def msgids():
    """IBD_MSGID_* of daemon/msgid.h as {"BACKUP_SUCCEEDED": "29e6..."}."""
    out = {}
    with open(os.path.join(ibtest.SOURCE_DIR, "daemon", "msgid.h")) as f:
        for m in re.finditer(r'#define IBD_MSGID_(\w+) "([0-9a-f]{32})"', f.read()):
            out[m.group(1)] = m.group(2)
    return out


def parse_journal_datagram(data):
    """Fields of one message of journald's native protocol."""
    fields = {}
    while data:
        nl = data.index(b"\n")
        line, data = data[:nl], data[nl + 1:]
        if b"=" in line:
            k, v = line.split(b"=", 1)
        else:  # KEY\n<le64 size><value>\n
            k = line
            size = int.from_bytes(data[:8], "little")
            v, data = data[8:8 + size], data[8 + size + 1:]
        fields[k.decode()] = v.decode("utf-8", "replace")
    return fields


JOURNAL_DIR = "/run/systemd/journal"


class FakeJournal:
    """A stand-in for journald's socket, read by a thread from the start: a
    unix datagram queue holds only net.unix.max_dgram_qlen (10) messages,
    and a daemon whose journal is full blocks."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.received = []
        self.closing = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.closing:
            try:
                self.received.append(parse_journal_datagram(self.sock.recv(1 << 20)))
            except socket.timeout:
                continue
            except OSError:
                return

    def messages(self):
        """Everything received, once the sender is quiet (call after the daemon stopped)."""
        n = -1
        while n != len(self.received):
            n = len(self.received)
            time.sleep(0.3)
        return list(self.received)

    def close(self):
        self.closing = True
        self.thread.join()
        self.sock.close()


@unittest.skipUnless(os.geteuid() == 0 and not os.path.exists(JOURNAL_DIR),
                     "needs root and no journald: a stand-in journal socket is created")
class TestJournal(LifecycleCase):
    def fake_journal(self):
        created = []
        for p in ("/run/systemd", JOURNAL_DIR):
            if not os.path.exists(p):
                os.mkdir(p)
                created.append(p)
        path = os.path.join(JOURNAL_DIR, "socket")
        journal = FakeJournal(path)

        def cleanup():
            journal.close()
            os.unlink(path)
            for p in reversed(created):
                os.rmdir(p)
        self.addCleanup(cleanup)
        return journal

    def start_with_journal(self, **kw):
        """The daemon with stderr "being the journal stream": JOURNAL_STREAM names its inode."""
        log_path = os.path.join(self.sb.root, "daemon-%d.log" % len(self.sb.daemons))
        open(log_path, "wb").close()
        st = os.stat(log_path)
        return self.sb.start_daemon(env={"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)},
                                    **kw)

    def test_structured_fields_when_stderr_is_the_journal(self):
        journal = self.fake_journal()
        self.sb.write_task("m1", self.sb.local_task(self.data))
        d = self.start_with_journal()
        acc = self.client().request({"v": 1, "cmd": "run", "task": "m1"})
        self.wait_finished(acc["run_id"])
        self.assertEqual(d.stop(), 0)
        messages = journal.messages()
        ids = msgids()
        by_id = {m.get("MESSAGE_ID"): m for m in messages}
        self.assertIn(ids["DAEMON_STARTED"], by_id, messages)
        started = by_id[ids["BACKUP_STARTED"]]
        done = by_id[ids["BACKUP_SUCCEEDED"]]
        for m in (started, done):
            self.assertEqual(m["SYSLOG_IDENTIFIER"], "iotdb-backupd")
            self.assertEqual(m["PRIORITY"], "6")
            self.assertEqual((m["TASK"], m["RUN_ID"], m["BACKUP_TYPE"], m["TRIGGER"]),
                             ("m1", str(acc["run_id"]), "full", "manual"))
        self.assertEqual(done["RESULT"], "succeeded")
        self.assertRegex(done["FILES_SENT"], r"^[1-9]\d*$")
        self.assertRegex(done["DURATION_S"], r"^\d+\.\d$")
        # The counts and the copy of the run, as recorded in the store.
        rec = self.sb.query("SELECT files_total, files_sent, bytes_sent, files_deleted, copy "
                            "FROM runs WHERE id = ?", (acc["run_id"],))[0]
        self.assertEqual((done["FILES_TOTAL"], done["FILES_SENT"], done["BYTES_SENT"],
                          done["FILES_DELETED"], done["COPY"]), tuple(str(v) for v in rec))
        self.assertEqual(done["FILES_TOTAL"], done["FILES_SENT"])  # a full first copy
        self.assertNotIn("COPY", started)
        # The worker's own messages carry the run's fields too.
        relayed = [m for m in messages if m.get("RUN_ID") == str(acc["run_id"])
                   and "MESSAGE_ID" not in m]
        self.assertTrue(relayed, messages)
        self.assertTrue(all(m["TASK"] == "m1" for m in relayed))
        # Nothing went to stderr as text.
        self.assertNotRegex(d.log(), r"(?m)^<\d>")

    def test_failed_run_and_invalid_task_file_fields(self):
        journal = self.fake_journal()
        self.sb.write_task("f1", self.sb.local_task(self.data))
        self.sb.write_task("bad", '{"mode": "manual", "policy": 3}')
        d = self.start_with_journal()
        os.rename(self.data, self.data + ".gone")  # the run fails: no data dir
        acc = self.client().request({"v": 1, "cmd": "run", "task": "f1"})
        self.assertEqual(self.wait_finished(acc["run_id"])["result"], "failed")
        self.assertEqual(d.stop(), 0)
        messages = journal.messages()
        failed = [m for m in messages if m.get("MESSAGE_ID") == msgids()["BACKUP_FAILED"]]
        self.assertEqual(len(failed), 1, messages)
        m = failed[0]
        self.assertEqual((m["RESULT"], m["ERROR_CODE"], m["FILES_SENT"], m["FILES_DELETED"]),
                         ("failed", "E_SOURCE_MISSING", "0", "0"))
        self.assertRegex(m["FILES_TOTAL"], r"^\d+$")
        self.assertNotIn("COPY", m)  # no copy was made
        # Each problem of a task file is found with journalctl TASK=<file stem>.
        bad = [m for m in messages if m.get("TASK") == "bad"]
        self.assertGreaterEqual(len(bad), 1, messages)
        for m in bad:
            self.assertEqual((m["PRIORITY"], m["ERROR_CODE"]), ("3", "E_TASK_FIELD"))
            self.assertTrue(m["MESSAGE"].startswith("tasks.d/bad.json: "), m)

    def test_pruned_copies_have_their_message_id(self):
        journal = self.fake_journal()
        self.sb.write_task("p1", self.sb.local_task(self.data, max_copies=1))
        d = self.start_with_journal()
        c = self.client()
        first = c.request({"v": 1, "cmd": "run", "task": "p1"})
        self.assertEqual(self.wait_finished(first["run_id"])["result"], "succeeded")
        second = c.request({"v": 1, "cmd": "run", "task": "p1"})
        self.assertEqual(self.wait_finished(second["run_id"])["result"], "succeeded")
        self.assertEqual(d.stop(), 0)
        messages = journal.messages()
        pruned = [m for m in messages if m.get("MESSAGE_ID") == msgids()["PRUNED"]]
        # max_copies 1: the second run pruned the first run's copy, once.
        self.assertEqual(len(pruned), 1, messages)
        m = pruned[0]
        self.assertEqual((m["TASK"], m["RUN_ID"], m["PRIORITY"]),
                         ("p1", str(second["run_id"]), "6"))
        copy = self.sb.query("SELECT copy FROM runs WHERE id = ?", (first["run_id"],))[0][0]
        self.assertIn("pruned copy " + copy, m["MESSAGE"])

    def test_retries_of_the_target_have_their_message_id(self):
        from test_webhdfs_cycle import WebHdfs  # the test WebHDFS server and its admin port
        storage = tempfile.mkdtemp(prefix="whjournal-")
        self.addCleanup(shutil.rmtree, storage, ignore_errors=True)
        hdfs = WebHdfs(storage)
        self.addCleanup(hdfs.stop)
        self.assertEqual(hdfs.call("PUT", "/backup", "MKDIRS")[0], 200)
        task = self.sb.local_task(self.data)
        task["target"] = {"path_type": "RemoteHDFS", "target_path": "/backup",
                          "nameservice": "hacluster", "ip_mode": "IPv4",
                          "active_namenode": "127.0.0.1", "standby_namenode": "127.0.0.2",
                          "namenode_http_port": hdfs.port, "namenode_rpc_port": 8020,
                          "auth": {"mode": "simple", "user": "hdfs"}, "max_copies": 3}
        self.sb.write_task("h1", task)
        journal = self.fake_journal()
        d = self.start_with_journal()
        # One transient failure of the NameNode: the run retries and succeeds.
        hdfs.admin("/admin/fault", {"kind": "status", "code": 503, "count": 1})
        acc = self.client().request({"v": 1, "cmd": "run", "task": "h1"})
        self.assertEqual(self.wait_finished(acc["run_id"], timeout=60)["result"], "succeeded")
        self.assertEqual(hdfs.admin("/admin/stats")["faults"], 0)
        self.assertEqual(d.stop(), 0)
        messages = journal.messages()
        retrying = [m for m in messages if m.get("MESSAGE_ID") == msgids()["RETRYING"]]
        self.assertEqual(len(retrying), 1, messages)
        m = retrying[0]
        self.assertEqual((m["TASK"], m["RUN_ID"], m["PRIORITY"]),
                         ("h1", str(acc["run_id"]), "4"))
        self.assertRegex(m["MESSAGE"], r"^task h1: [A-Z]+ /backup\S*: .*503.*\(attempt 1/\d+\)")

    def test_progress_lines_carry_their_numbers_as_fields(self):
        journal = self.fake_journal()
        self.sb.write_settings({"progress_log_interval_s": 1})
        self.slow_task("slow", mbps=2)
        d = self.start_with_journal()
        acc = self.client().request({"v": 1, "cmd": "run", "task": "slow"})
        self.assertEqual(self.wait_finished(acc["run_id"], timeout=60)["result"], "succeeded")
        self.assertEqual(d.stop(), 0)
        messages = journal.messages()
        progress = [m for m in messages if "FILES_DONE" in m]
        self.assertGreaterEqual(len(progress), 2, messages)
        for m in progress:
            self.assertEqual((m["TASK"], m["RUN_ID"], m["PRIORITY"]),
                             ("slow", str(acc["run_id"]), "6"))
            done, total = int(m["BYTES_DONE"]), int(m["BYTES_TOTAL"])
            self.assertLessEqual(done, total)
            self.assertLessEqual(int(m["FILES_DONE"]), int(m["FILES_TOTAL"]))
            self.assertIn("backup of task slow (run %d)" % acc["run_id"], m["MESSAGE"])
        # Bytes move on from one line to a later one.
        self.assertLess(int(progress[0]["BYTES_DONE"]), int(progress[-1]["BYTES_DONE"]))


if __name__ == "__main__":
    unittest.main()
