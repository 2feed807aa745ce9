"""Kerberos (SPNEGO) against a real MIT KDC: a throwaway realm
(tests/tools/kdc.py: kdb5_util, kadmin.local, krb5kdc on a free port), the
WebHDFS test server behind tests/tools/spnego_proxy.py (401 + Negotiate,
GSSAPI accept with the HTTP/localhost keytab, user.name = the principal's
short name, hadoop.auth cookie), and the real daemon and CLI with a
RemoteHDFS task in auth mode kerberos.

Checked: a backup, an incremental and a restore authenticate as the task's
principal, with tickets the program gets for that principal from the task's
keytab (kinit's steps with MIT krb5) into the private cache
<state-dir>/krb5cc_<task>, and the files on HDFS belong to the principal's
short name; a cache still good for long is used without asking the KDC; a
keytab whose FIRST entry is another principal still authenticates as the
task's; a principal the keytab lacks, a stale keytab and a principal the KDC
does not know fail the run with an error naming the principal and the
keytab, and no secret in the log; a keytab others can read is refused; after
the tickets expire (an 8 s ticket lifetime, a 1 s clock skew) the next run
gets fresh ones, and GSSAPI itself (libcurl's SPNEGO, as curl runs it)
refreshes the cache's principal from the client keytab.

Needs Debian's krb5-kdc, krb5-admin-server, krb5-user and python3-gssapi
(.ci/install-deps installs them); skipped with that message otherwise."""

import json
import os
import subprocess
import sys
import time
import unittest

import ibtest
from test_backup_cycle import BackupCycleTest, expected_tree
from test_webhdfs_cycle import WebHdfs

sys.path.insert(0, os.path.join(ibtest.SOURCE_DIR, "tests", "tools"))
import kdc  # noqa: E402

PROXY = os.path.join(ibtest.SOURCE_DIR, "tests", "tools", "spnego_proxy.py")
PACKAGES = "krb5-kdc krb5-admin-server krb5-user python3-gssapi"
TASK = "kerb"
# Principals are <SHORT><n>/localhost: service-style, which Hadoop's DEFAULT
# auth_to_local rule maps to the first part.
SHORT = "iotdb-backup"
# Another principal of the realm, put first in a keytab to show that the
# task's principal is the one used, whatever the keytab's order.
DECOY = "decoy"


def curl_has_spnego():
    try:
        out = subprocess.run(["curl", "-V"], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "SPNEGO" in out


def gssapi_python():
    """A Python that can import gssapi: this one, or Debian's (python3-gssapi
    is installed for /usr/bin/python3, which a pyenv Python does not see)."""
    for exe in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if os.access(exe, os.X_OK) and subprocess.run(
                [exe, "-c", "import gssapi"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode == 0:
            return exe
    return None


def skip_reason():
    missing = kdc.missing_tools()
    if not gssapi_python():
        missing.append("the Python module gssapi")
    if not missing:
        return None
    return ("needs an MIT Kerberos KDC and python3-gssapi (missing: %s); "
            "install: apt-get install %s" % (", ".join(missing), PACKAGES))


SKIP = skip_reason()


@unittest.skipIf(SKIP, SKIP)
class KerberosTest(BackupCycleTest):
    @classmethod
    def setUpClass(cls):
        cls.work = ibtest.tempfile.mkdtemp(prefix="kerb-")
        cls.realm = kdc.Realm(os.path.join(cls.work, "realm")).start()
        http_keytab = os.path.join(cls.work, "http.keytab")
        cls.realm.add_principal("HTTP/localhost", keytab=http_keytab)
        cls.hdfs = WebHdfs(os.path.join(cls.work, "hdfs"))
        env = dict(os.environ)
        env.update(cls.realm.env)
        cls.proxy = subprocess.Popen(
            [gssapi_python(), PROXY, "--upstream", "127.0.0.1:%d" % cls.hdfs.port,
             "--keytab", http_keytab], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        line = cls.proxy.stdout.readline()
        if not line:
            cls.tearDownClass()
            raise RuntimeError("spnego_proxy.py did not start")
        cls.proxy_port = json.loads(line)["port"]
        cls.n_principals = 0

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "proxy", None):
            cls.proxy.stdin.close()
            cls.proxy.wait(timeout=10)
            cls.proxy.stdout.close()
        if getattr(cls, "hdfs", None):
            cls.hdfs.stop()
        cls.realm.stop()
        ibtest.shutil.rmtree(cls.work, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.hdfs.admin("/admin/reset", {})
        st, body = self.hdfs.call("PUT", "/backup", "MKDIRS")
        self.assertEqual(st, 200, body)
        # One principal per test: tests do not share keys, tickets or kvnos.
        KerberosTest.n_principals += 1
        self.short = "%s%d" % (SHORT, self.n_principals)
        self.principal = self.realm.principal("%s%d/localhost" % (SHORT, self.n_principals))
        st, body = self.hdfs.call("PUT", "/backup", "SETOWNER", owner=self.short)
        self.assertEqual(st, 200, body)
        self.keytab = os.path.join(self.sb.root, "backup.keytab")
        self.cache = os.path.join(self.sb.state_dir, "krb5cc_" + TASK)

    # -- helpers ---------------------------------------------------------
    def write_task(self, name=TASK, keytab=None, principal=None, **kw):
        task = self.sb.local_task(self.data, **kw)
        task["cluster_mode"] = "security"
        task["target"] = {
            "path_type": "RemoteHDFS", "target_path": "/backup", "nameservice": "secure",
            "ip_mode": "IPv4", "active_namenode": "localhost",
            "namenode_http_port": self.proxy_port, "namenode_rpc_port": 8020,
            "auth": {"mode": "kerberos", "principal": principal or self.principal,
                     "keytab": keytab or self.keytab},
            "max_copies": 3}
        self.sb.write_task(name, task)
        return task

    def start(self):
        return self.sb.start_daemon(env=self.realm.env)

    def ctl(self, *args, **kw):
        return self.sb.ctl(*args, env=self.realm.env, **kw)

    def stats(self):
        c = ibtest.socket.create_connection(("127.0.0.1", self.proxy_port), timeout=10)
        c.sendall(b"GET /proxy/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        c.close()
        return json.loads(data.split(b"\r\n\r\n", 1)[1])

    def run_task(self, name=TASK, *extra, expect="succeeded"):
        return super().run_task(name, *extra, expect=expect)

    def first_run(self):
        """The first run makes the task directory as the principal, which may
        not allow snapshots (HDFS superuser only): it fails with the admin's
        command; the admin (hdfs) runs it; the next run succeeds."""
        res = self.run_task(expect="failed")
        self.assertEqual(res.get("error_code"), "E_TARGET_SNAPSHOT", res)
        self.assertIn("hdfs dfsadmin -allowSnapshot", res.get("error", ""))
        task_dir = self.task_dir()
        st, body = self.hdfs.call("PUT", task_dir, "ALLOWSNAPSHOT")
        self.assertEqual(st, 200, body)
        return self.run_task()

    def task_dir(self, name=TASK):
        dirs = [d for d in self.hdfs.ls("/backup") if d.startswith(name + "_IoTDB_")]
        self.assertEqual(len(dirs), 1, dirs)
        return "/backup/" + dirs[0]

    def owners(self, path):
        """{owner: count} of every file and directory under path (not .snapshot)."""
        st, body = self.hdfs.call("GET", path, "LISTSTATUS")
        self.assertEqual(st, 200, body)
        out = {}
        for s in body["FileStatuses"]["FileStatus"]:
            out[s["owner"]] = out.get(s["owner"], 0) + 1
            if s["type"] == "DIRECTORY":
                for k, v in self.owners(path + "/" + s["pathSuffix"]).items():
                    out[k] = out.get(k, 0) + v
        return out

    def add_decoy(self, keytab):
        """Another principal of the realm, its keys first in keytab."""
        decoy = self.realm.add_principal("%s%d/localhost" % (DECOY, self.n_principals),
                                         keytab=keytab)
        return decoy

    def tgt(self):
        """(start, end) of the TGT in the task's cache."""
        tgt = [t for t in self.realm.klist("FILE:" + self.cache) if t[2].startswith("krbtgt/")]
        self.assertEqual(len(tgt), 1, tgt)
        return tgt[0][:2]

    def wait_for_expiry(self, life):
        """Sleep past the end of every ticket in the cache and the 1 s clock
        skew: the KDC and the NameNode would refuse them now. (klist prints
        local time, which time.mktime reads back.)"""
        ends = [time.mktime(time.strptime(t[1], "%m/%d/%y %H:%M:%S"))
                for t in self.realm.klist("FILE:" + self.cache)]
        self.assertTrue(ends)
        self.assertLessEqual(max(ends) - time.time(), life + 1)
        time.sleep(max(0.0, max(ends) + 2.5 - time.time()))

    def tickets(self):
        """Server principals of the tickets in the task's cache."""
        return [t[2] for t in self.realm.klist("FILE:" + self.cache)]

    # -- tests -----------------------------------------------------------
    def test_backup_and_restore_as_the_principal(self):
        self.realm.add_principal(self.principal, keytab=self.keytab)
        self.write_task()
        self.start()
        before = self.stats()
        full = self.first_run()
        self.assertEqual(full["type"], "full")
        states = {full["copy"]: expected_tree(self.data)}

        # Every file and directory the driver made is the principal's.
        task_dir = self.task_dir()
        owners = self.owners(task_dir)
        self.assertEqual(list(owners), [self.short], owners)
        self.assertGreater(owners[self.short], len(states[full["copy"]]))
        after = self.stats()
        principals = after["principals"][len(before["principals"]):]
        self.assertTrue(principals)
        self.assertEqual(set(principals), {self.principal})
        # The hadoop.auth cookie spares later requests the SPNEGO exchange.
        self.assertGreater(after["cookie"], before["cookie"])
        self.assertEqual(after["rejected"], before["rejected"])

        # The tickets came from the keytab into the task's private cache.
        st = os.stat(self.cache)
        self.assertEqual(st.st_mode & 0o077, 0, oct(st.st_mode))
        tickets = self.tickets()
        self.assertIn("krbtgt/%s@%s" % (self.realm.name, self.realm.name), tickets)
        self.assertIn(self.realm.principal("HTTP/localhost"), tickets)
        self.assertEqual(self.realm.cache_principal("FILE:" + self.cache), self.principal)

        # Without a cache (deleted, or a new host), the keytab is enough.
        os.remove(self.cache)
        self.sb.grow_data("--seed", "2", "--new-files", "2", "--compact")
        inc = self.run_task()
        self.assertEqual(inc["type"], "incremental")
        self.assertGreater(inc["files_sent"], 0)
        states[inc["copy"]] = expected_tree(self.data)
        self.assertTrue(os.path.exists(self.cache))
        self.assertEqual(list(self.owners(task_dir)), [self.short])

        # The CLI authenticates the same way (its own environment). The
        # cache's TGT is good for a day: no process asks the KDC for another.
        as_reqs = self.realm.as_requests(self.principal)
        self.assertGreater(as_reqs, 0)
        for c in self.copies_kerb():
            self.assertTrue(c["valid"], c)
            self.assertRestoresKerb(c["name"], states[c["name"]])
        self.assertEqual(self.ctl("verify", TASK).returncode, 0)
        self.assertEqual(self.realm.as_requests(self.principal), as_reqs)

    def copies_kerb(self):
        r = self.ctl("copies", TASK, "--json")
        self.assertRc(r, 0)
        return json.loads(r.stdout)["copies"]

    def assertRestoresKerb(self, copy, expected):
        to = os.path.join(self.sb.root, "restore-" + copy)
        r = self.ctl("restore", TASK, "--to", to, "--copy", copy, timeout=120)
        self.assertRc(r, 0)
        got = ibtest.tree_files(to)
        self.assertEqual(sorted(got), sorted(expected))
        for path, data in expected.items():
            self.assertTrue(got[path] == data, "%s differs in copy %s" % (path, copy))

    def assertAuthFailure(self, res, keytab):
        self.assertEqual(res.get("error_code"), "E_TARGET_AUTH", res)
        msg = res.get("error", "")
        self.assertIn(self.principal, msg)
        self.assertIn(keytab, msg)
        self.assertIn("kinit", msg)  # the hint: how to see krb5's own reason
        log = self.sb.daemons[-1].log()
        for secret in ("Negotiate ", "hadoop.auth=", "Authorization"):
            self.assertNotIn(secret, log + msg)

    def test_task_principal_second_in_the_keytab(self):
        decoy = self.add_decoy(self.keytab)
        self.realm.add_principal(self.principal, keytab=self.keytab)
        self.assertEqual(self.realm.keytab_principals(self.keytab)[:1], [decoy])
        self.assertIn(self.principal, self.realm.keytab_principals(self.keytab))
        self.write_task()
        self.start()
        before = self.stats()
        self.first_run()
        # krb5 alone would have taken the keytab's first principal.
        self.assertEqual(self.realm.cache_principal("FILE:" + self.cache), self.principal)
        self.assertEqual(list(self.owners(self.task_dir())), [self.short])
        principals = self.stats()["principals"][len(before["principals"]):]
        self.assertTrue(principals)
        self.assertEqual(set(principals), {self.principal})
        self.assertEqual(self.realm.as_requests(decoy), 0)

    def test_principal_not_in_the_keytab_is_refused(self):
        decoy = self.add_decoy(self.keytab)
        self.realm.add_principal(self.principal)  # known to the KDC, not exported
        self.write_task()
        self.start()
        before = self.stats()
        res = self.run_task(expect="failed")
        self.assertEqual(res.get("error_code"), "E_TARGET_AUTH", res)
        msg = res.get("error", "")
        self.assertIn("keytab %s has no key for principal %s" % (self.keytab, self.principal),
                      msg)
        self.assertIn("HINT: klist -k %s lists the principals it holds" % self.keytab, msg)
        # Refused before any request: no KDC exchange, nothing on HDFS.
        self.assertEqual(self.realm.as_requests(self.principal), 0)
        self.assertEqual(self.realm.as_requests(decoy), 0)
        self.assertEqual(self.stats()["principals"], before["principals"])
        self.assertEqual(self.hdfs.ls("/backup"), [])
        self.assertFalse(os.path.exists(self.cache))
        r = self.ctl("copies", TASK)
        self.assertRc(r, 1)
        self.assertIn("has no key for principal %s" % self.principal, r.stderr)

    def test_stale_keytab_fails_naming_principal_and_keytab(self):
        self.realm.add_principal(self.principal, keytab=self.keytab)
        # A second export makes new keys: the first keytab no longer matches.
        self.realm.export(self.principal, os.path.join(self.sb.root, "new.keytab"))
        self.write_task()
        self.start()
        before = self.stats()
        res = self.run_task(expect="failed")
        self.assertAuthFailure(res, self.keytab)
        self.assertEqual(self.stats()["principals"], before["principals"])
        self.assertEqual(self.hdfs.ls("/backup"), [])

    def test_unknown_principal_fails_naming_principal_and_keytab(self):
        self.realm.add_principal(self.principal, keytab=self.keytab)
        self.realm.delete_principal(self.principal)
        self.write_task()
        self.start()
        res = self.run_task(expect="failed")
        self.assertAuthFailure(res, self.keytab)
        self.assertIn("CLIENT_NOT_FOUND", self.realm.log())

    def test_keytab_readable_by_others_is_refused(self):
        self.realm.add_principal(self.principal, keytab=self.keytab)
        os.chmod(self.keytab, 0o644)
        self.write_task()
        self.start()
        res = self.run_task(expect="failed")
        msg = res.get("error", "")
        self.assertIn(self.keytab, msg)
        self.assertIn("chmod", msg)
        self.assertEqual(self.hdfs.ls("/backup"), [])
        r = self.ctl("copies", TASK)
        self.assertRc(r, 1)
        self.assertIn(self.keytab, r.stderr)
        # Group-readable (the service user's group) is fine.
        os.chmod(self.keytab, 0o640)
        self.first_run()

    def test_expired_tickets_are_renewed_from_the_keytab(self):
        life = 8
        # The task's principal second in its keytab: every renewal below
        # must still be for it.
        self.add_decoy(self.keytab)
        self.realm.add_principal(self.principal, keytab=self.keytab, max_life="%d seconds" % life)
        self.write_task()
        self.start()
        self.first_run()
        tgt = self.tgt()
        self.wait_for_expiry(life)

        # The next run gets a fresh TGT before its first request.
        before = self.stats()
        self.sb.grow_data("--seed", "3", "--new-files", "1")
        inc = self.run_task()
        self.assertEqual(inc["type"], "incremental")
        self.assertGreater(inc["files_sent"], 0)
        after = self.stats()
        self.assertGreater(len(after["principals"]), len(before["principals"]))
        self.assertEqual(after["rejected"], before["rejected"])
        tgt2 = self.tgt()
        self.assertNotEqual(tgt2, tgt, "the TGT was not renewed")
        self.assertEqual(list(self.owners(self.task_dir())), [self.short])
        self.assertEqual(self.realm.cache_principal("FILE:" + self.cache), self.principal)

        # Within a run it is GSSAPI that refreshes, from the client keytab,
        # for the cache's principal (not the keytab's first). curl runs the
        # same libcurl SPNEGO and GSSAPI in the worker's environment.
        if not curl_has_spnego():
            self.skipTest("curl without SPNEGO: the in-run GSSAPI refresh is not checked")
        self.wait_for_expiry(life)
        env = dict(os.environ)
        env.update(self.realm.env)
        env.update(KRB5CCNAME="FILE:" + self.cache, KRB5_CLIENT_KTNAME=self.keytab)
        before = self.stats()
        r = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--negotiate", "-u", ":",
             "http://localhost:%d/webhdfs/v1/backup?op=GETFILESTATUS" % self.proxy_port],
            capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.stdout, "200", r.stderr)
        principals = self.stats()["principals"][len(before["principals"]):]
        self.assertEqual(principals, [self.principal])
        self.assertNotEqual(self.tgt(), tgt2, "GSSAPI did not renew the TGT")
        self.assertEqual(self.realm.cache_principal("FILE:" + self.cache), self.principal)

if __name__ == "__main__":
    unittest.main()
