"""The systemd unit and sysusers file: systemd-analyze verify passes, the
security exposure is 2.0 or below, the required settings are there, and
systemd-sysusers creates the user with its supplementary group."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import ibtest

UNIT = os.path.join(ibtest.SOURCE_DIR, "systemd", "iotdb-backupd.service")
SYSUSERS = os.path.join(ibtest.SOURCE_DIR, "systemd", "iotdb-backupd.sysusers")


def unit_settings(text):
    """{key: [values]} of the unit's assignments (comments skipped)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        k, v = line.split("=", 1)
        out.setdefault(k.strip(), []).append(v.strip())
    return out


@unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
class TestSystemdUnit(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ibunit-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        with open(UNIT, encoding="utf-8") as f:
            self.text = f.read()
        # verify needs the binaries to exist: point at the build dir's.
        text = self.text.replace("/usr/sbin/iotdb-backupd", ibtest.DAEMON)
        text = text.replace("/usr/bin/iotdb-backupctl", ibtest.CTL)
        self.unit = os.path.join(self.tmp, "iotdb-backupd.service")
        with open(self.unit, "w", encoding="utf-8") as f:
            f.write(text)

    def analyze(self, *args):
        return subprocess.run(["systemd-analyze"] + list(args), capture_output=True, text=True,
                              timeout=120)

    def verify_complaints(self):
        # The man pages the unit names are checked by test_manpages (they
        # are built, not installed, here).
        r = self.analyze("verify", "--man=no", self.unit)
        out = r.stdout + r.stderr
        return r.returncode, [l for l in out.splitlines() if "iotdb-backupd.service" in l], out

    def test_verify_passes(self):
        self.assertTrue(os.access(ibtest.DAEMON, os.X_OK), "build the daemon first")
        rc, complaints, out = self.verify_complaints()
        self.assertEqual(rc, 0, out)
        self.assertEqual(complaints, [], out)

    def rewrite(self, old, new):
        with open(self.unit, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(old, text)
        with open(self.unit, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new))

    def test_verify_notices_a_missing_binary(self):
        # The checks above must be able to fail.
        self.rewrite(ibtest.CTL + " reload", "/nonexistent/iotdb-backupctl reload")
        rc, _complaints, out = self.verify_complaints()
        self.assertNotEqual(rc, 0, out)

    def test_verify_notices_a_typo(self):
        self.rewrite("KillMode=mixed", "KilMode=mixed")
        _rc, complaints, out = self.verify_complaints()
        self.assertTrue(any("KilMode" in l for l in complaints), out)

    def test_security_exposure_at_most_2(self):
        r = self.analyze("security", "--offline=true", self.unit)
        out = r.stdout + r.stderr
        m = re.search(r"Overall exposure level for iotdb-backupd\.service: ([0-9.]+)", out)
        self.assertIsNotNone(m, out)
        self.assertLessEqual(float(m.group(1)), 2.0, out)

    def test_required_settings(self):
        s = unit_settings(self.text)
        expect = {
            "Type": "notify", "NotifyAccess": "main",
            "ExecStart": "/usr/sbin/iotdb-backupd",
            "ExecReload": "/usr/bin/iotdb-backupctl reload",
            "User": "iotdb-backup", "Group": "iotdb-backup", "SupplementaryGroups": "iotdb",
            "StateDirectory": "iotdb-backupd", "RuntimeDirectory": "iotdb-backupd",
            "RuntimeDirectoryMode": "0750", "ConfigurationDirectory": "iotdb-backupd",
            "KillMode": "mixed", "WatchdogSec": "60", "Restart": "on-failure",
            "TimeoutStopSec": "60", "ProtectSystem": "strict", "UMask": "0027",
            "CapabilityBoundingSet": "", "SystemCallArchitectures": "native",
            "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        }
        for key, value in expect.items():
            self.assertIn(key, s, key)
            self.assertEqual(s[key][-1], value, key)
        self.assertIn("@system-service", s["SystemCallFilter"])
        # A user namespace would hide IoTDB's group: must not be enabled.
        self.assertNotIn("PrivateUsers", s)


@unittest.skipUnless(shutil.which("systemd-sysusers"), "systemd-sysusers is not installed")
class TestSysusers(unittest.TestCase):
    def test_creates_user_and_membership(self):
        root = tempfile.mkdtemp(prefix="ibsysusers-")
        self.addCleanup(shutil.rmtree, root, ignore_errors=True)
        os.makedirs(os.path.join(root, "etc"))
        r = subprocess.run(["systemd-sysusers", "--root", root, SYSUSERS], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(root, "etc", "passwd"), encoding="utf-8") as f:
            passwd = [l.split(":") for l in f.read().splitlines()]
        user = [p for p in passwd if p[0] == "iotdb-backup"]
        self.assertEqual(len(user), 1, passwd)
        self.assertEqual(user[0][5], "/var/lib/iotdb-backupd")
        self.assertTrue(user[0][6].endswith("nologin"), user[0])
        with open(os.path.join(root, "etc", "group"), encoding="utf-8") as f:
            groups = {g.split(":")[0]: g.split(":")[3].split(",") for g in f.read().splitlines()}
        self.assertIn("iotdb-backup", groups)
        self.assertIn("iotdb-backup", groups.get("iotdb", []), groups)


if __name__ == "__main__":
    unittest.main()
