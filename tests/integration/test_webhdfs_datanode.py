"""A DataNode that fails in the middle of a long upload, with the real daemon
against tests/tools/webhdfs_server.py: the driver restarts that file's
two-step CREATE from its first byte (the engine's staged file rewinds), the
run completes and every copy restores byte for byte; each retry is told in
the daemon's log. The target's retry keys bound how long a run waits."""

import time
import unittest

import ibtest
from test_backup_cycle import expected_tree, summary
from test_webhdfs_cycle import WebHdfsCycleTest

MIB = 1 << 20


class TestDataNodeDiesMidBody(WebHdfsCycleTest):
    def setUp(self):
        super().setUp()
        # One database, one region, one partition: a sequence and an
        # unsequence TsFile of 5 MiB each (plus small companions).
        ibtest.shutil.rmtree(self.data)
        self.data = self.sb.gen_data(extra=["--databases", "root.ln", "--regions-per-db", "1",
                                            "--partitions", "1", "--files-per-partition", "1",
                                            "--size-kb", "5120"])
        self.big = [f for f in summary(self.data)["files"] if f["size"] >= 4 * MIB]
        self.assertGreaterEqual(len(self.big), 1, summary(self.data))

    def test_reset_after_3_mib_restarts_the_file(self):
        # The first body of at least 4 MiB is reset after 3 MiB, far past
        # the 1 MiB the driver could keep to send again by itself; the
        # DataNode then stays dead for a second (connections refused).
        self.write_task(target_extra={"retry_attempts": 8, "retry_max_wait_s": 1})
        self.sb.start_daemon()
        self.hdfs.admin("/admin/fault", {"kind": "reset", "after_bytes": 3 * MIB,
                                         "min_length": 4 * MIB, "down_s": 1.0})
        res = self.run_task()
        stats = self.hdfs.admin("/admin/stats")
        self.assertEqual(stats["faults"], 0, "the fault never fired")
        files = len(summary(self.data)["files"])
        # Every file once, the interrupted one again (plus the manifest).
        self.assertGreater(stats["ops"].get("dn CREATE", 0), files + 1, stats)
        self.assertGreaterEqual(stats["dn_put_bytes"], sum(f["size"] for f in self.big) + 3 * MIB)
        self.assertEqual((res["type"], res["files_sent"]), ("full", files), res)
        self.assertAllRestore({res["copy"]: expected_tree(self.data)})
        log = self.log()
        self.assertRegex(log, r"CREATE /backup/\S+\._COPYING_: [a-z ]+ datanode "
                              r"127\.0\.0\.1:\d+ after \d+ bytes \(attempt 1/8\), restarting the "
                              r"upload at the namenode in [01]\.\d s")
        self.assertRegex(log, r"connection refused by datanode 127\.0\.0\.1:\d+ \(attempt \d/8\)")

    def test_retry_budget_bounds_a_dead_datanode(self):
        self.write_task(target_extra={"retry_attempts": 2, "retry_max_wait_s": 1})
        self.sb.start_daemon()
        self.hdfs.admin("/admin/datanode", {"up": False})
        started = time.monotonic()
        res = self.failed_run("E_TARGET_UNREACHABLE")
        took = time.monotonic() - started
        self.hdfs.admin("/admin/datanode", {"up": True})
        self.assertIn("datanode", res.get("error", ""))
        self.assertLess(took, ibtest.scaled(15))
        log = self.log()
        self.assertIn("(attempt 1/2), restarting the upload at the namenode", log)
        self.assertNotIn("(attempt 2/2)", log)  # the last attempt fails the run
        # Nothing half-written is left behind but the task directory.
        self.assertEqual([f for f in self.hdfs.walk(self.target_path)
                          if f.endswith("._COPYING_")], [])

    def test_check_config_knows_the_retry_keys(self):
        self.write_task(target_extra={"retry_attempts": 0, "retry_max_wait_s": 3601})
        r = self.sb.ctl("check-config")
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn("/target/retry_attempts", out)
        self.assertIn("/target/retry_max_wait_s", out)
        self.write_task(target_extra={"retry_attempts": 100, "retry_max_wait_s": 3600})
        r = self.sb.ctl("check-config")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
