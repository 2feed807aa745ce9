"""The whole backup cycle on a RemoteHDFS target with the real daemon and CLI
against tests/tools/webhdfs_server.py (two NameNodes on 127.0.0.1 and
127.0.0.2, one port): full, incremental (exact counts), prune at max_copies
(HDFS snapshots deleted), restore of every kept copy, verify; the active
NameNode turned standby mid-run; injected faults that end in a completed run
or a failed run with a clear error code, earlier copies still restorable;
leftover temporaries swept; a target path with special characters."""

import http.client
import json
import os
import sys
import threading
import time
import unittest
import urllib.parse

import ibtest
from test_backup_cycle import BackupCycleTest, expected_tree, summary

SERVER = os.path.join(ibtest.SOURCE_DIR, "tests", "tools", "webhdfs_server.py")
TEMP_SUFFIX = "._COPYING_"


class WebHdfs:
    """The test server as a subprocess, plus a small WebHDFS client (as hdfs)."""

    def __init__(self, storage):
        self.proc = ibtest.subprocess.Popen(
            [sys.executable, SERVER, "--storage", storage, "--nn-hosts", "127.0.0.1,127.0.0.2"],
            stdin=ibtest.subprocess.PIPE, stdout=ibtest.subprocess.PIPE)
        ports = json.loads(self.proc.stdout.readline())
        self.port = ports["namenodes"][0]
        self.admin_port = ports["admin"]

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()

    def admin(self, path, obj=None):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        c.request("GET" if obj is None else "POST", path,
                  body=None if obj is None else json.dumps(obj))
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        if r.status != 200:
            raise AssertionError("admin %s: %s" % (path, body))
        return body

    def call(self, method, path, op, user="hdfs", **params):
        """One request to the active NameNode; (status, parsed JSON or raw)."""
        host = "127.0.0.%d" % (self.admin("/admin/stats")["active"] + 1)
        q = urllib.parse.urlencode([("op", op), ("user.name", user)] + list(params.items()))
        c = http.client.HTTPConnection(host, self.port, timeout=10)
        c.request(method, "/webhdfs/v1" + urllib.parse.quote(path, safe="/") + "?" + q)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data

    def ls(self, path):
        st, body = self.call("GET", path, "LISTSTATUS")
        if st == 404:
            return None
        assert st == 200, (st, body)
        return sorted(s["pathSuffix"] for s in body["FileStatuses"]["FileStatus"])

    def walk(self, path):
        """Every file under path (relative names), not entering .snapshot."""
        st, body = self.call("GET", path, "LISTSTATUS")
        assert st == 200, (st, body)
        out = []
        for s in body["FileStatuses"]["FileStatus"]:
            if s["type"] == "DIRECTORY":
                out += [s["pathSuffix"] + "/" + f for f in self.walk(path + "/" + s["pathSuffix"])]
            else:
                out.append(s["pathSuffix"])
        return out

    def put(self, path, data):
        st, body = self.call("PUT", path, "CREATE", overwrite="true", noredirect="true")
        assert st == 200, (st, body)
        u = urllib.parse.urlsplit(body["Location"])
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        c.request("PUT", u.path + "?" + u.query, body=data)
        r = c.getresponse()
        r.read()
        c.close()
        assert r.status == 201, r.status


class WebHdfsCycleTest(BackupCycleTest):
    target_path = "/backup"

    @classmethod
    def setUpClass(cls):
        cls.storage = ibtest.tempfile.mkdtemp(prefix="whcycle-")
        cls.hdfs = WebHdfs(cls.storage)

    @classmethod
    def tearDownClass(cls):
        cls.hdfs.stop()
        ibtest.shutil.rmtree(cls.storage, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.hdfs.admin("/admin/reset", {})
        st, body = self.hdfs.call("PUT", self.target_path, "MKDIRS")
        self.assertEqual(st, 200, body)

    def write_task(self, name="cycle", target_path=None, bandwidth=None, user="hdfs",
                   target_extra=None, **kw):
        """target_extra: more target keys (e.g. retry_attempts)."""
        task = self.sb.local_task(self.data, **kw)
        target = {"path_type": "RemoteHDFS", "target_path": target_path or self.target_path,
                  "nameservice": "hacluster", "ip_mode": "IPv4",
                  "active_namenode": "127.0.0.1", "standby_namenode": "127.0.0.2",
                  "namenode_http_port": self.hdfs.port, "namenode_rpc_port": 8020,
                  "auth": {"mode": "simple", "user": user},
                  "max_copies": task["target"]["max_copies"]}
        if bandwidth:
            target["max_bandwidth_mbps"] = bandwidth
        target.update(target_extra or {})
        task["target"] = target
        self.sb.write_task(name, task)
        return task

    def task_dir(self, name="cycle", target=None):
        target = target or self.target_path
        dirs = [d for d in self.hdfs.ls(target) if d.startswith(name + "_IoTDB_")]
        self.assertEqual(len(dirs), 1, dirs)
        return target + "/" + dirs[0]

    def grow(self, *args):
        r = ibtest.run_cmd([ibtest.sys.executable, ibtest.GEN_DATA, "grow", self.data] + list(args))
        self.assertRc(r, 0)
        g = json.loads(r.stdout)
        added, removed, changed = set(g["added"]), set(g["removed"]), set(g["changed"])
        return len((added | changed) - removed), len(removed - added)

    def assertAllRestore(self, states):
        for c in self.copies():
            self.assertTrue(c["valid"], c)
            self.assertRestores(c["name"], states[c["name"]])

    def log(self):
        return self.sb.daemons[-1].log() if self.sb.daemons else ""

    def failed_run(self, code):
        res = self.run_task(expect="failed")
        self.assertEqual(res.get("error_code"), code, res)
        return res


class TestWebHdfsCycle(WebHdfsCycleTest):
    def test_full_incremental_prune_restore_verify(self):
        self.write_task(max_copies=2)
        self.sb.start_daemon()
        states = {}
        full = self.run_task()
        total = len(summary(self.data)["files"])
        self.assertEqual((full["type"], full["files_sent"], full["files_total"]),
                         ("full", total, total))
        states[full["copy"]] = expected_tree(self.data)
        runs = [full]
        for seed in (2, 3):
            sent, deleted = self.grow("--seed", str(seed), "--new-files", "2", "--compact",
                                      "--delete")
            inc = self.run_task()
            self.assertEqual(inc["type"], "incremental")
            self.assertEqual((inc["files_sent"], inc["files_deleted"]), (sent, deleted), inc)
            states[inc["copy"]] = expected_tree(self.data)
            runs.append(inc)
        # Three copies made, two kept; the pruned copy's HDFS snapshot is gone.
        copies = self.copies()
        self.assertEqual([c["name"] for c in copies], [r["copy"] for r in runs[-2:]])
        task_dir = self.task_dir()
        self.assertEqual(self.hdfs.ls(task_dir + "/.snapshot"), sorted(c["name"] for c in copies))
        self.assertAllRestore(states)
        # The live directory holds exactly the newest state.
        live = [f for f in self.hdfs.walk(task_dir) if f != "MANIFEST.json"]
        self.assertEqual(sorted(live), sorted(states[runs[-1]["copy"]]))
        r = self.sb.ctl("verify", "cycle")
        self.assertRc(r, 0)
        out = r.stdout + r.stderr
        self.assertIn("hacluster", out)
        self.assertIn("8020", out)
        self.assertIn("127.0.0.1:%d" % self.hdfs.port, out)
        self.assertIn("active", out)

    def test_special_characters_in_target_path(self):
        path = "/backup/a b%c+d/\u00fcber \u6570\u636e"
        st, body = self.hdfs.call("PUT", path, "MKDIRS")
        self.assertEqual(st, 200, body)
        self.write_task(target_path=path)
        self.sb.start_daemon()
        full = self.run_task()
        states = {full["copy"]: expected_tree(self.data)}
        self.assertEqual(len(self.hdfs.ls(path)), 1)
        self.assertTrue(self.hdfs.ls(path)[0].startswith("cycle_IoTDB_"))
        self.assertAllRestore(states)
        self.assertRc(self.sb.ctl("verify", "cycle"), 0)

    def test_failover_mid_run(self):
        self.write_task(bandwidth=2)  # ~0.9 MB at 2 Mbit/s: several seconds
        self.sb.start_daemon()
        out = {}
        runner = threading.Thread(target=lambda: out.update(res=self.run_task()))
        runner.start()
        ibtest.wait_for(lambda: self.hdfs.admin("/admin/stats")["ops"].get("nn0 CREATE", 0) >= 10,
                        timeout=30, what="ten files uploaded")
        self.hdfs.admin("/admin/state", {"active": 1})
        runner.join(ibtest.scaled(120))
        self.assertIn("res", out, "the run did not succeed (see above)")
        self.assertEqual(out["res"]["type"], "full")
        stats = self.hdfs.admin("/admin/stats")
        self.assertGreater(stats["ops"].get("nn1 CREATE", 0), 0, stats)
        self.assertFalse(stats["ops"].get("nn0 CREATE", 0) >= len(summary(self.data)["files"]))
        self.assertAllRestore({out["res"]["copy"]: expected_tree(self.data)})
        # The failover is told in the log: operation, cause, attempt, where to.
        self.assertRegex(self.log(), r"StandbyException \(http 403\) from 127\.0\.0\.1:%d "
                         r"\(attempt 1/10\), failing over to namenode 127\.0\.0\.2:%d"
                         % (self.hdfs.port, self.hdfs.port))


class TestWebHdfsFaults(WebHdfsCycleTest):
    # A short retry budget: a dead DataNode fails the run in seconds, not
    # minutes; the other faults still fit into it.
    RETRY = {"retry_attempts": 6, "retry_max_wait_s": 1}

    def setUp(self):
        super().setUp()
        self.write_task(max_copies=5, target_extra=self.RETRY)
        self.sb.start_daemon()
        self.states = {}
        full = self.run_task()
        self.states[full["copy"]] = expected_tree(self.data)
        self.grow("--seed", "7", "--new-files", "2")

    def finish(self, res=None):
        if res is not None:
            self.states[res["copy"]] = expected_tree(self.data)
        self.hdfs.admin("/admin/clear", {})
        self.assertAllRestore(self.states)

    def test_datanode_down(self):
        self.hdfs.admin("/admin/datanode", {"up": False})
        started = time.monotonic()
        res = self.failed_run("E_TARGET_UNREACHABLE")
        took = time.monotonic() - started
        self.hdfs.admin("/admin/datanode", {"up": True})
        self.finish()
        self.assertIn("127.0.0.1", res.get("error", ""))
        # Six attempts with waits of at most 1 s, and every retry is told.
        self.assertLess(took, ibtest.scaled(30))
        # (The incremental run reads the last manifest first: OPEN.)
        self.assertRegex(self.log(), r"(OPEN|CREATE) /backup/\S+: connection refused by datanode "
                         r"127\.0\.0\.1:\d+ \(attempt 5/6\), [a-z0-9 ]+ in [01]\.\d s")

    def test_503_storm_completes(self):
        self.hdfs.admin("/admin/fault", {"kind": "status", "code": 503, "count": 4})
        res = self.run_task()
        self.assertEqual(self.hdfs.admin("/admin/stats")["faults"], 0)
        self.finish(res)

    def test_reset_mid_body_completes(self):
        self.hdfs.admin("/admin/fault", {"kind": "reset", "after_bytes": 1000, "count": 2})
        res = self.run_task()
        self.assertEqual(self.hdfs.admin("/admin/stats")["faults"], 0)
        self.finish(res)

    def test_quota_exceeded(self):
        self.hdfs.admin("/admin/quota", {"path": "/backup", "ds_quota": 1024})
        res = self.failed_run("E_TARGET_SPACE")
        self.assertIn("Quota", res.get("error", ""))
        self.hdfs.admin("/admin/quota", {"path": "/backup", "ds_quota": -1})
        self.finish()

    def test_safe_mode_waits_and_completes(self):
        self.hdfs.admin("/admin/fault", {"kind": "safemode", "count": 3})
        res = self.run_task()
        self.assertEqual(self.hdfs.admin("/admin/stats")["faults"], 0)
        self.finish(res)

    def test_leftover_temporaries_swept(self):
        task_dir = self.task_dir()
        name = sorted(f for f in self.hdfs.walk(task_dir) if f != "MANIFEST.json")[0]
        left = task_dir + "/" + name + TEMP_SUFFIX
        self.hdfs.put(left, b"half a file")
        self.assertIn(name.rsplit("/", 1)[-1] + TEMP_SUFFIX,
                      self.hdfs.ls(left.rsplit("/", 1)[0]))
        res = self.run_task()
        self.assertEqual([f for f in self.hdfs.walk(task_dir) if f.endswith(TEMP_SUFFIX)], [])
        self.finish(res)


class TestWebHdfsStall(WebHdfsCycleTest):
    """A NameNode and a DataNode that accept a request and then say nothing
    for longer than target.stall_timeout_s: each request is given up after
    the timeout (the NameNode's by failing over, the DataNode's upload
    started again) and the run completes."""

    def test_stalls_past_the_timeout_complete(self):
        self.write_task(max_copies=5, target_extra={"retry_attempts": 6, "retry_max_wait_s": 1,
                                                    "stall_timeout_s": 2})
        self.sb.start_daemon()
        states = {}
        full = self.run_task()
        states[full["copy"]] = expected_tree(self.data)
        self.grow("--seed", "7", "--new-files", "2")
        self.hdfs.admin("/admin/fault", {"kind": "slow", "node": "nn0", "delay": 8})
        self.hdfs.admin("/admin/fault", {"kind": "slow", "node": "dn", "method": "PUT",
                                         "delay": 20})
        started = time.monotonic()
        res = self.run_task()
        took = time.monotonic() - started
        self.assertEqual(self.hdfs.admin("/admin/stats")["faults"], 0)
        states[res["copy"]] = expected_tree(self.data)
        log = self.log()
        self.assertRegex(log, r"timed out talking to 127\.0\.0\.1:%d \(attempt 1/6\), "
                         r"failing over to namenode 127\.0\.0\.2:%d"
                         % (self.hdfs.port, self.hdfs.port))
        self.assertRegex(log, r"CREATE /backup/\S+: timed out talking to datanode "
                         r"127\.0\.0\.1:\d+ (after \d+ bytes )?\(attempt 1/6\), restarting the upload")
        # Not the 20 s the DataNode would take to answer. libcurl measures
        # progress over a window of a few seconds, so a body sent at once
        # and then stalled is given up some seconds after stall_timeout_s.
        self.assertLess(took, 18)
        self.assertAllRestore(states)


class TestWebHdfsSnapshotsRefused(WebHdfsCycleTest):
    def test_snapshots_not_allowed(self):
        # alice owns the target but may not allow snapshots (superuser only).
        st, body = self.hdfs.call("PUT", "/backup", "SETOWNER", owner="alice")
        self.assertEqual(st, 200, body)
        self.write_task(user="alice")
        self.sb.start_daemon()
        # Before the first run verify probes a scratch directory, but its
        # HINT names the task directory the run will make, once.
        r = self.sb.ctl("verify", "cycle")
        self.assertRc(r, 1)
        out = r.stdout + r.stderr
        line = [ln for ln in out.splitlines() if "snapshots cannot be made" in ln]
        self.assertEqual(len(line), 1, out)
        self.assertEqual(line[0].count("-allowSnapshot"), 1, line[0])
        self.assertRegex(line[0], r"'hdfs dfs -mkdir -p (/backup/cycle_IoTDB_[0-9]{14}) && "
                                  r"hdfs dfsadmin -allowSnapshot \1'")
        planned = line[0].split("hdfs dfs -mkdir -p ", 1)[1].split(" ", 1)[0]
        res = self.failed_run("E_TARGET_SNAPSHOT")
        self.assertEqual(res.get("error", "").count("hdfs dfsadmin -allowSnapshot"), 1, res)
        self.assertEqual(self.task_dir(), planned)
        # Now the task directory exists: the HINT names it, once.
        r = self.sb.ctl("verify", "cycle")
        self.assertRc(r, 1)
        out = r.stdout + r.stderr
        line = [ln for ln in out.splitlines() if "cannot hold snapshots" in ln]
        self.assertEqual(len(line), 1, out)
        self.assertEqual(line[0].count("-allowSnapshot"), 1, line[0])
        self.assertIn("'hdfs dfsadmin -allowSnapshot %s'" % planned, line[0])


class TestWebHdfsVerifyChecks(WebHdfsCycleTest):
    def test_clock_skew_and_quota(self):
        self.write_task()
        self.sb.start_daemon()
        self.run_task()
        self.assertRc(self.sb.ctl("verify", "cycle"), 0)
        self.hdfs.admin("/admin/config", {"clock_skew_s": 120})
        r = self.sb.ctl("verify", "cycle")
        self.assertRc(r, 1)
        self.assertIn("clock", r.stdout + r.stderr)
        self.hdfs.admin("/admin/config", {"clock_skew_s": 0})
        # Less free quota than the last copy's size.
        self.hdfs.admin("/admin/quota", {"path": "/backup", "ds_quota": 1 << 20})
        r = self.sb.ctl("verify", "cycle")
        self.assertRc(r, 1)
        self.assertIn("quota", r.stdout + r.stderr)

    def test_standby_shown(self):
        self.write_task()
        self.hdfs.admin("/admin/state", {"active": 1})
        r = self.sb.ctl("verify", "cycle")
        self.assertRc(r, 0)
        self.assertRegex(r.stdout + r.stderr, r"127\.0\.0\.1:\d+.*standby")


if __name__ == "__main__":
    unittest.main()
