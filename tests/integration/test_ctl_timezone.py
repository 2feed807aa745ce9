"""The task directory's name holds its creation time in the daemon's local
time; iotdb-backupctl run with another TZ must still find the copies."""

import json
import os
import unittest

import ibtest


class TestOtherTimezone(ibtest.DaemonTestCase):
    def test_copies_restore_verify_with_another_tz(self):
        data = self.sb.gen_data()
        expected = json.loads(ibtest.run_cmd(
            ["python3", ibtest.GEN_DATA, "json-summary", data]).stdout)
        self.sb.write_task("m1", self.sb.local_task(data))
        self.sb.start_daemon(env={"TZ": "Europe/Berlin"})
        r = self.sb.ctl("run", "m1", "--wait", env={"TZ": "Europe/Berlin"})
        self.assertEqual(r.returncode, 0, r.stderr)
        names = os.listdir(self.sb.backup_dir)
        self.assertEqual(len(names), 1, names)
        for tz in ("Europe/Berlin", "America/New_York", "Asia/Kolkata"):
            with self.subTest(tz=tz):
                env = {"TZ": tz}
                r = self.sb.ctl("copies", "m1", "--json", env=env)
                self.assertEqual(r.returncode, 0, r.stderr)
                copies = json.loads(r.stdout)["copies"]
                self.assertEqual(len(copies), 1, r.stdout)
                self.assertTrue(copies[0]["valid"], r.stdout)
                r = self.sb.ctl("verify", "m1", env=env)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                to = os.path.join(self.sb.root, "restore-" + tz.replace("/", "_"))
                r = self.sb.ctl("restore", "m1", "--to", to, env=env)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertEqual(sorted(ibtest.tree_files(to)),
                                 sorted(f["path"] for f in expected["files"]))

    def test_two_task_directories_are_not_guessed(self):
        data = self.sb.gen_data()
        self.sb.write_task("m1", self.sb.local_task(data))
        self.sb.start_daemon(env={"TZ": "Europe/Berlin"})
        self.assertEqual(self.sb.ctl("run", "m1", "--wait").returncode, 0)
        # A second directory of the same task (an older incarnation).
        os.mkdir(os.path.join(self.sb.backup_dir, "m1_IoTDB_20200101000000"))
        env = {"TZ": "America/New_York"}
        r = self.sb.ctl("copies", "m1", "--json", env=env)
        self.assertEqual(json.loads(r.stdout)["copies"], [], r.stdout)
        r = self.sb.ctl("restore", "m1", "--to", os.path.join(self.sb.root, "r"), env=env)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("does not exist", r.stderr)


if __name__ == "__main__":
    unittest.main()
