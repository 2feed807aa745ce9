"""The whole backup cycle with the real daemon and CLI on a LocalDir target:
full, incremental after growth (exact counts), restore of every kept copy
equal to the source as it was, pruning at max_copies, a worker or the whole
daemon killed mid-copy and the repair that follows, and failures that must
leave the earlier copies intact."""

import json
import os
import shutil
import signal
import subprocess
import time
import unittest

import ibtest

TEMP_SUFFIX = "._COPYING_"


def summary(data_dir):
    """gen_iotdb_data.py json-summary: what a backup of data_dir must hold."""
    r = ibtest.run_cmd([ibtest.sys.executable, ibtest.GEN_DATA, "json-summary", data_dir])
    if r.returncode != 0:
        raise AssertionError("json-summary failed: %s" % r.stderr)
    return json.loads(r.stdout)


def expected_tree(data_dir):
    """{path: bytes} a restore must produce now: the summary's files, each cut
    to its summary size (a partial last line of a text .mods is not taken)."""
    out = {}
    for f in summary(data_dir)["files"]:
        with open(os.path.join(data_dir, f["path"]), "rb") as fh:
            out[f["path"]] = fh.read(f["size"])
        assert len(out[f["path"]]) == f["size"], f["path"]
    return out


def live_files(task_dir):
    """Complete data files in the live task directory (no temporaries, no
    manifest, no snapshots)."""
    found = []
    for dirpath, dirs, files in os.walk(task_dir):
        if dirpath == task_dir:
            dirs[:] = [d for d in dirs if d != ".snapshot"]
        for name in files:
            if name.endswith(TEMP_SUFFIX) or (dirpath == task_dir and name == "MANIFEST.json"):
                continue
            found.append(os.path.relpath(os.path.join(dirpath, name), task_dir))
    return found


def children(pid):
    """Pids of the processes whose parent is pid."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class BackupCycleTest(ibtest.DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.data = self.sb.gen_data(seed=1)

    def assertRc(self, r, rc):
        self.assertEqual(r.returncode, rc, "stdout:\n%s\nstderr:\n%s" % (r.stdout, r.stderr))

    def write_task(self, name="cycle", **kw):
        task = self.sb.local_task(self.data, **kw)
        self.sb.write_task(name, task)
        return task

    def run_task(self, name="cycle", *extra, expect="succeeded"):
        r = self.sb.ctl("run", name, "--wait", "--json", *extra, timeout=120)
        res = json.loads(r.stdout) if r.stdout.strip() else {}
        if res.get("result") != expect:
            self.fail("run %s: expected %s, got rc %d\nstdout: %s\nstderr: %s\nlog:\n%s"
                      % (name, expect, r.returncode, r.stdout, r.stderr,
                         self.sb.daemons[-1].log() if self.sb.daemons else ""))
        return res

    def copies(self, name="cycle"):
        return self.sb.ctl_json("copies", name, "--json")["copies"]

    def task_dir(self, name="cycle", target=None):
        target = target or self.sb.backup_dir
        dirs = [d for d in os.listdir(target) if d.startswith(name + "_IoTDB_")]
        self.assertEqual(len(dirs), 1, dirs)
        return os.path.join(target, dirs[0])

    def restore(self, copy, name="cycle", label=None):
        to = os.path.join(self.sb.root, "restore-" + (label or copy or "newest"))
        args = ["restore", name, "--to", to] + (["--copy", copy] if copy else [])
        r = self.sb.ctl(*args, timeout=120)
        self.assertRc(r, 0)
        return ibtest.tree_files(to)

    def assertRestores(self, copy, expected, name="cycle"):
        got = self.restore(copy, name)
        self.assertEqual(sorted(got), sorted(expected), "files of copy %s" % copy)
        for path, data in expected.items():
            self.assertTrue(got[path] == data, "%s differs in copy %s" % (path, copy))


class TestCycle(BackupCycleTest):
    def grow(self, *args):
        r = ibtest.run_cmd([ibtest.sys.executable, ibtest.GEN_DATA, "grow", self.data] + list(args))
        self.assertRc(r, 0)
        g = json.loads(r.stdout)
        added, removed, changed = set(g["added"]), set(g["removed"]), set(g["changed"])
        return len((added | changed) - removed), len(removed - added)

    def test_full_incremental_restore_prune(self):
        self.write_task(max_copies=3)
        self.sb.start_daemon()
        states = {}

        full = self.run_task()
        total = len(summary(self.data)["files"])
        self.assertEqual(full["type"], "full")
        self.assertEqual(full["files_total"], total)
        self.assertEqual(full["files_sent"], total)
        self.assertEqual(full["files_deleted"], 0)
        self.assertGreater(full["bytes_sent"], 0)
        self.assertRegex(full["copy"], r"^\d{8}T\d{6}Z-full$")
        states[full["copy"]] = expected_tree(self.data)

        runs = [full]
        for seed in (2, 3, 4):
            sent, deleted = self.grow("--seed", str(seed), "--new-files", "2", "--compact",
                                      "--delete")
            self.assertGreater(sent, 0)
            self.assertGreater(deleted, 0)
            inc = self.run_task()
            self.assertEqual(inc["type"], "incremental")
            self.assertEqual(inc["files_total"], len(summary(self.data)["files"]))
            self.assertEqual(inc["files_sent"], sent, inc)
            self.assertEqual(inc["files_deleted"], deleted, inc)
            self.assertRegex(inc["copy"], r"^\d{8}T\d{6}Z-incremental(-\d+)?$")
            states[inc["copy"]] = expected_tree(self.data)
            runs.append(inc)

        # Nothing changed: an incremental sends nothing.
        same = self.run_task()
        self.assertEqual((same["files_sent"], same["files_deleted"]), (0, 0))
        states[same["copy"]] = expected_tree(self.data)
        runs.append(same)

        # Five copies made, three kept: the newest ones, oldest first.
        copies = self.copies()
        self.assertEqual([c["name"] for c in copies], [r["copy"] for r in runs[-3:]])
        for c in copies:
            self.assertTrue(c["valid"])
            self.assertEqual(c["files"], len(states[c["name"]]))
            self.assertEqual(c["bytes"], sum(len(b) for b in states[c["name"]].values()))
        snaps = os.listdir(os.path.join(self.task_dir(), ".snapshot"))
        self.assertEqual(sorted(snaps), sorted(c["name"] for c in copies))

        # Every kept copy restores to the source as it was then.
        for c in copies:
            self.assertRestores(c["name"], states[c["name"]])

        # A restore refuses a non-empty directory unless --force.
        to = os.path.join(self.sb.root, "restore-" + copies[-1]["name"])
        r = self.sb.ctl("restore", "cycle", "--to", to)
        self.assertRc(r, 1)
        self.assertIn("not empty", r.stderr)
        self.assertRc(self.sb.ctl("restore", "cycle", "--to", to, "--force"), 0)

        # The copies survive the loss of the state dir.
        self.sb.daemons[-1].stop()
        shutil.rmtree(self.sb.state_dir)
        os.makedirs(self.sb.state_dir)
        again = self.copies()
        self.assertEqual([c["name"] for c in again], [c["name"] for c in copies])
        self.assertRestores(None, states[runs[-1]["copy"]])

    def test_verify(self):
        self.write_task()
        r = self.sb.ctl("verify", "cycle")
        self.assertRc(r, 0)
        self.sb.start_daemon()
        self.run_task()
        self.assertRc(self.sb.ctl("verify", "cycle"), 0)
        # No probe left behind.
        self.assertEqual([n for n in os.listdir(self.sb.backup_dir) if "verify" in n], [])

        bad = self.sb.local_task(os.path.join(self.sb.root, "no-such-data"),
                                 target=os.path.join(self.sb.root, "not-mounted"),
                                 databases=["root.ln"])
        self.sb.write_task("bad", bad)
        r = self.sb.ctl("verify", "bad")
        self.assertRc(r, 1)
        problems = [l for l in r.stdout.splitlines() if "HINT" in l]
        self.assertEqual(len(problems), 2, r.stdout)
        self.assertIn("no-such-data", r.stdout)
        self.assertIn("not-mounted", r.stdout)


class TestNeverLoseData(BackupCycleTest):
    def setUp(self):
        super().setUp()
        # About 2.7 MB at 2 Mbit/s: a full copy takes several seconds.
        ibtest.run_cmd([ibtest.sys.executable, ibtest.GEN_DATA, "grow", self.data, "--seed", "9",
                        "--new-files", "8", "--size-kb", "256"])
        self.target = os.path.join(self.sb.root, "slowbackup")
        task = self.write_task(target=self.target)
        task["target"]["max_bandwidth_mbps"] = 2
        self.sb.write_task("cycle", task)
        self.expected = expected_tree(self.data)
        self.total = len(self.expected)

    def start_run(self):
        cmd = [ibtest.CTL] + self.sb.dir_args() + ["run", "cycle", "--wait", "--json"]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)

    def wait_files(self, n):
        def enough():
            dirs = os.listdir(self.target) if os.path.isdir(self.target) else []
            if not dirs:
                return None
            return len(live_files(os.path.join(self.target, dirs[0]))) >= n
        ibtest.wait_for(enough, timeout=60, what="%d files on the target" % n)

    def worker_of(self, daemon):
        return ibtest.wait_for(lambda: children(daemon.pid), timeout=10, what="a worker")[0]

    def assertRepairs(self, kill):
        """kill(daemon, worker_pid) mid-copy; then the next run completes the
        copy sending only what was not complete yet."""
        d = self.sb.start_daemon()
        proc = self.start_run()
        worker = self.worker_of(d)
        self.wait_files(5)
        # The run's snapshot: hard links that pin IoTDB's TsFiles.
        staging_root = os.path.join(self.sb.state_dir, "staging")
        staged = os.listdir(staging_root)
        self.assertEqual(len(staged), 1, staged)
        staging = os.path.join(staging_root, staged[0])
        kill(d, worker)
        ibtest.wait_for(lambda: not alive(worker), timeout=10, what="the worker to die")
        out, err = proc.communicate(timeout=ibtest.scaled(60))
        if out.strip():
            self.assertNotEqual(json.loads(out)["result"], "succeeded", out)
        task_dir = self.task_dir(target=self.target)
        self.assertFalse(os.path.exists(os.path.join(task_dir, ".snapshot"))
                         and os.listdir(os.path.join(task_dir, ".snapshot")),
                         "an interrupted run made a copy")
        complete = len(live_files(task_dir))
        self.assertGreaterEqual(complete, 5)
        self.assertLess(complete, self.total)

        if not d.running():
            d = self.sb.start_daemon()
        # The killed run is recorded (the daemon that saw its worker die did
        # it, or the next one at start-up), and its staging is gone.
        self.assertFalse(os.path.lexists(staging), "%s left behind" % staging)
        res = self.run_task()
        self.assertEqual(res["files_total"], self.total)
        self.assertEqual(res["files_sent"], self.total - complete, res)
        self.assertEqual([c["name"] for c in self.copies()], [res["copy"]])
        self.assertEqual([n for n in live_files(task_dir) if n.endswith(TEMP_SUFFIX)], [])
        self.assertRestores(res["copy"], self.expected)

    def test_sigkill_worker_mid_copy(self):
        # Removing the staging never follows a symlink out of it.
        outside = os.path.join(self.sb.root, "outside")
        os.makedirs(outside)
        with open(os.path.join(outside, "keep"), "w") as f:
            f.write("not staging\n")

        def kill(d, worker):
            staging_root = os.path.join(self.sb.state_dir, "staging")
            for run in os.listdir(staging_root):
                os.symlink(outside, os.path.join(staging_root, run, "link-out"))
            os.kill(worker, signal.SIGKILL)
        self.assertRepairs(kill)
        self.assertEqual(os.listdir(outside), ["keep"])

    def test_sigkill_daemon_mid_copy(self):
        self.assertRepairs(lambda d, worker: d.kill())


class TestFailures(BackupCycleTest):
    def test_missing_data_dir(self):
        self.write_task()
        self.sb.start_daemon()
        os.rename(self.data, self.data + ".gone")
        res = self.run_task(expect="failed")
        self.assertEqual(res["error_code"], "E_SOURCE_MISSING")
        self.assertIn(self.data, res["error"])

    def test_named_database_without_sealed_files(self):
        """No REST (no flush): a named database whose directory holds only a
        working file has nothing to back up; the run fails E_SOURCE_MISSING."""
        part = os.path.join(self.data, "sequence", "root.empty", "1", "2790")
        os.makedirs(part)
        with open(os.path.join(part, "1-1-0-0.tsfile"), "wb") as f:
            f.write(b"TsFile\x03")  # a working file: no .resource yet
        self.write_task(databases=["root.ln", "root.empty"])
        self.sb.start_daemon()
        res = self.run_task(expect="failed")
        self.assertEqual(res["error_code"], "E_SOURCE_MISSING", res)
        self.assertIn('database "root.empty" has no sealed TsFiles', res["error"])
        self.assertIn("HINT", res["error"])
        self.assertFalse(os.listdir(self.sb.backup_dir), "a failed run must not start a copy")

    def test_unreadable_file_keeps_copies(self):
        self.write_task()
        self.sb.start_daemon()
        first = self.run_task()
        before = expected_tree(self.data)
        # A directory where a sealed TsFile should be (root reads everything,
        # so permissions cannot make a file unreadable here).
        some = sorted(p for p in before if p.endswith(".tsfile"))[0]
        bad = os.path.join(self.data, os.path.dirname(some), "9999999999999-99-0-0.tsfile")
        os.mkdir(bad)
        with open(bad + ".resource", "wb") as f:
            f.write(b"\x01")
        res = self.run_task(expect="failed")
        self.assertEqual(res["error_code"], "E_SOURCE_READ")
        self.assertIn("9999999999999-99-0-0.tsfile", res["error"])
        self.assertEqual([c["name"] for c in self.copies()], [first["copy"]])
        self.assertRestores(first["copy"], before)

    def test_target_out_of_space(self):
        target = os.path.join(self.sb.root, "small")
        os.makedirs(target)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", target],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs: %s" % r.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", target])
        self.write_task(target=target)
        self.sb.start_daemon()
        first = self.run_task()
        before = expected_tree(self.data)
        self.sb.grow_data("--seed", "5", "--new-files", "4", "--size-kb", "512")
        res = self.run_task(expect="failed")
        self.assertEqual(res["error_code"], "E_TARGET_SPACE")
        self.assertIn("HINT", res["error"])
        self.assertEqual([c["name"] for c in self.copies()], [first["copy"]])
        self.assertEqual([n for n in live_files(self.task_dir(target=target))
                          if n.endswith(TEMP_SUFFIX)], [])
        self.assertRestores(first["copy"], before)


REST_SERVER = os.path.join(ibtest.SOURCE_DIR, "tests", "tools", "iotdb_rest_server.py")


class TestWithRest(BackupCycleTest):
    """source.rest: SHOW DATABASES resolves the patterns, FLUSH seals the
    working files right before the snapshot, restore --load issues LOAD."""

    def start_rest(self, *extra):
        self.rest_log = os.path.join(self.sb.root, "rest-%d.log" % len(self._servers))
        proc = subprocess.Popen([ibtest.sys.executable, REST_SERVER, "--port", "0", "--data-dir",
                                 self.data, "--log", self.rest_log, "--password", "s3cret"]
                                + list(extra), stdout=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)
        self._servers.append(proc)
        line = proc.stdout.readline()
        self.assertTrue(line.startswith("listening on "), line)
        return "http://127.0.0.1:%d" % int(line.split()[-1])

    def setUp(self):
        super().setUp()
        self._servers = []
        self.addCleanup(self.stop_servers)
        self.password_file = os.path.join(self.sb.root, "iotdb.password")
        with open(self.password_file, "w") as f:
            f.write("s3cret\n")
        os.chmod(self.password_file, 0o600)

    def stop_servers(self):
        for p in self._servers:
            p.terminate()
            p.wait(10)
            p.stdout.close()

    def rest_task(self, url):
        task = self.sb.local_task(self.data, databases=["root.ln"])
        task["source"]["database_patterns"] = ["^root\\.factory_"]
        task["source"]["rest"] = {"url": url, "user": "root",
                                  "password_file": self.password_file}
        self.sb.write_task("cycle", task)

    def statements(self):
        with open(self.rest_log) as f:
            return [json.loads(l).get("sql") or "" for l in f if l.strip()]

    def test_flush_then_snapshot_and_load(self):
        url = self.start_rest()
        self.rest_task(url)
        before = len(summary(self.data)["files"])
        self.sb.start_daemon()
        res = self.run_task()
        flushes = [q for q in self.statements() if q.upper().startswith("FLUSH")]
        self.assertEqual(len(flushes), 1, self.statements())
        for db in ("root.ln", "root.factory_1", "root.factory_2"):
            self.assertIn(db, flushes[0])
        # The flush sealed the working files, and the copy holds them.
        after = expected_tree(self.data)
        self.assertGreater(len(after), before)
        self.assertEqual(res["files_total"], len(after))
        self.assertRestores(res["copy"], after)

        to = os.path.join(self.sb.root, "loaded")
        r = self.sb.ctl("restore", "cycle", "--to", to, "--load")
        self.assertRc(r, 0)
        loads = [q for q in self.statements() if q.upper().startswith("LOAD")]
        self.assertEqual(len(loads), 1, self.statements())
        self.assertIn(to, loads[0])

    def test_flush_failure_fails_the_run(self):
        url = self.start_rest("--fail-flush", "301")
        self.rest_task(url)
        self.sb.start_daemon()
        res = self.run_task(expect="failed")
        self.assertEqual(res["error_code"], "E_REST")
        self.assertIn("flush", res["error"])
        self.assertFalse(os.listdir(self.sb.backup_dir), "a failed flush must not start a copy")

    def test_named_database_without_data_fails(self):
        """SHOW DATABASES lists root.empty, but it has no sealed file (no
        directory at all): a run naming it fails E_SOURCE_MISSING before it
        starts a copy, with a hint."""
        url = self.start_rest("--databases", "root.empty")
        task = self.sb.local_task(self.data, databases=["root.ln", "root.empty"])
        task["source"]["rest"] = {"url": url, "user": "root",
                                  "password_file": self.password_file}
        self.sb.write_task("cycle", task)
        self.sb.start_daemon()
        res = self.run_task(expect="failed")
        self.assertEqual(res["error_code"], "E_SOURCE_MISSING", res)
        self.assertIn('database "root.empty" has no sealed TsFiles in %s' % self.data,
                      res["error"])
        self.assertIn("HINT", res["error"])
        self.assertNotIn("root.ln", res["error"])
        self.assertFalse(os.listdir(self.sb.backup_dir), "a failed run must not start a copy")

    def test_verify_with_rest(self):
        url = self.start_rest()
        self.rest_task(url)
        r = self.sb.ctl("verify", "cycle")
        self.assertRc(r, 0)
        self.stop_servers()
        self._servers = []
        r = self.sb.ctl("verify", "cycle")
        self.assertRc(r, 1)
        self.assertIn("REST API", r.stdout)
        self.assertIn("HINT", r.stdout)


if __name__ == "__main__":
    unittest.main()
