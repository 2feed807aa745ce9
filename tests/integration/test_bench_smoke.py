"""bench/run --smoke: the benchmark harness still works end to end (tiny
data, one run of each system). Asserts that it completes and prints every
workload's table; never asserts timings."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import ibtest

BENCH = os.path.join(ibtest.SOURCE_DIR, "bench", "run")


class BenchSmokeTest(unittest.TestCase):
    def setUp(self):
        for path in (ibtest.DAEMON, ibtest.CTL):
            if not os.access(path, os.X_OK):
                self.fail("%s is missing: build first (IB_BUILD_DIR=%s)" % (path, ibtest.BUILD_DIR))
        if not shutil.which("rsync") and os.getuid() != 0:
            self.skipTest("rsync is not installed (bench/run installs it only as root)")
        self.workdir = tempfile.mkdtemp(prefix="ibbench-", dir=os.environ.get("TMPDIR", "/tmp"))
        self.addCleanup(shutil.rmtree, self.workdir, True)

    @staticmethod
    def shm_storage():
        try:
            return {n for n in os.listdir("/dev/shm") if n.startswith("iotdb-bench-webhdfs-")}
        except OSError:
            return set()

    def run_bench(self, *args):
        cmd = [sys.executable, BENCH, "--smoke", "--build-dir", ibtest.BUILD_DIR,
               "--workdir", os.path.join(self.workdir, "w")] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=ibtest.scaled(300))

    def table_rows(self, out, title):
        """Data rows of the table whose title starts with `title`."""
        lines = out.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(title))
        rows = []
        for line in lines[start + 3:]:
            if not line.strip() or line.startswith("  "):
                break
            rows.append(line)
        return rows

    def test_smoke_prints_every_table(self):
        json_path = os.path.join(self.workdir, "results.json")
        self.shm_before = self.shm_storage()
        r = self.run_bench("--json", json_path)
        self.assertEqual(r.returncode, 0, "stdout:\n%s\nstderr:\n%s" % (r.stdout, r.stderr))
        out = r.stdout
        self.assertIn("machine:", out)
        number = r"\s+[0-9]+\.[0-9]+"
        for title, names in (
                ("workload 1: full backup to LocalDir, big set",
                 ["iotdb-backupd run --full", "rsync -a", "rsync -a --fsync", "cp -al",
                  "rsync -a + cp -al"]),
                ("workload 1: full backup to LocalDir, small set",
                 ["iotdb-backupd run --full", "rsync -a"]),
                ("workload 5: restore", ["iotdb-backupctl restore", "rsync -a (back)"]),
                ("workload 2: incremental", ["iotdb-backupd run --incremental",
                                             "rsync -a --delete --link-dest"])):
            rows = self.table_rows(out, title)
            for name in names:
                row = next((x for x in rows if x.startswith(name)), None)
                self.assertIsNotNone(row, "%r has no row %r:\n%s" % (title, name, out))
                # time, throughput, ratio, peak RSS and CPU columns are numbers
                self.assertRegex(row[40:], "^" + number, row)
        self.assertRegex(out, r"bytes sent / bytes changed: ours [0-9.]+, rsync [0-9.]+")
        w4 = out[out.index("workload 4: scheduler scale"):]
        for key in ("ready, empty store (s)", "ready, restart (s)",
                    "reload, one task changed (s)", "RSS after ready (MiB)",
                    "idle wake-ups per minute"):
            self.assertRegex(w4, re.escape(key) + r"\s+[0-9]+\.[0-9]+", key)
        # WebHDFS: a table when the driver and curl are there, else the reason.
        w3 = out[out.index("workload 3: full backup to WebHDFS"):]
        if "skipped:" not in w3.split("\n\n")[0]:
            for name in ("iotdb-backupd run --full (RemoteHDFS)", "curl CREATE, sequential",
                         "curl CREATE, xargs -P 4", "curl CREATE, 2 processes, --parallel 4",
                         "server ceiling: 1 curl", "server ceiling: same files, sparse"):
                row = next((x for x in self.table_rows(out, "workload 3") if x.startswith(name)),
                           None)
                self.assertIsNotNone(row, "workload 3 has no row %r:\n%s" % (name, w3))
                self.assertRegex(row[40:], "^" + number, row)
            self.assertRegex(w3, r"ours / ceiling throughput: [0-9.]+")
            self.assertRegex(w3, r"ours / the ceiling for these files .*: [0-9.]+; "
                                 r"ours / curl --parallel 4: [0-9.]+")
            self.assertRegex(w3, r"the server used [0-9.]+ CPU s during our median run")
        # The machine-readable record has every workload.
        with open(json_path) as f:
            rec = ibtest.json.load(f)
        self.assertTrue({"1-big", "1-small", "2", "4", "5", "3"} <= set(rec["workloads"]),
                        rec["workloads"].keys())
        self.assertEqual(rec["data"]["big"]["files"], 16)
        self.assertEqual(rec["data"]["small"]["files"], 200)
        # The workdir is removed unless --keep, and so is the WebHDFS
        # server's storage on a tmpfs.
        self.assertFalse(os.path.exists(os.path.join(self.workdir, "w")))
        self.assertEqual(self.shm_storage(), self.shm_before)

    def test_bad_option_is_a_usage_error(self):
        r = subprocess.run([sys.executable, BENCH, "--no-such-option"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: bench/run", r.stderr)


if __name__ == "__main__":
    unittest.main()
