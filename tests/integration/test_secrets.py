"""Secrets never leak: a task's IoTDB REST password (from its password file)
and a Kerberos keytab's contents never appear in the daemon's log (stderr,
at debug level, workers included), in run errors (the store), the metrics
file, the staging dir, or the output of any iotdb-backupctl command
(status, status --json, run --wait --json, check-config, verify, copies),
whether the runs succeed or fail at REST authentication or at the target.
A password file or keytab that every user may read is refused with an
error naming the file.

Each secret is a unique marker string; the test searches every file under
the sandbox (except the secret files themselves) and every output for the
marker, and for the Basic authorization value that carries the password."""

import base64
import json
import os
import socket
import subprocess
import uuid

import ibtest
from ibtest import scaled

REST_SERVER = os.path.join(ibtest.SOURCE_DIR, "tests", "tools", "iotdb_rest_server.py")


def free_port():
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SecretsCase(ibtest.DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.data = self.sb.gen_data()
        self.password = "pw-" + uuid.uuid4().hex
        self.keytab_secret = "kt-" + uuid.uuid4().hex
        self.secrets_dir = os.path.join(self.sb.root, "secrets")
        os.makedirs(self.secrets_dir)
        self.password_file = self.write_secret("iotdb.password", self.password + "\n")
        self.keytab = self.write_secret("backup.keytab", self.keytab_secret)
        self.metrics = os.path.join(self.sb.root, "metrics", "iotdb-backupd.prom")
        os.makedirs(os.path.dirname(self.metrics))
        self.sb.write_settings({"log_level": "debug", "metrics_file": self.metrics,
                                "staging_dir": os.path.join(self.sb.root, "staging")})
        self.servers = []
        self.addCleanup(self.stop_servers)
        self.outputs = []  # (what, text) of every command run

    def write_secret(self, name, text, mode=0o600):
        path = os.path.join(self.secrets_dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    # -- helpers -------------------------------------------------------
    def start_rest(self, password):
        proc = subprocess.Popen([ibtest.sys.executable, REST_SERVER, "--port", "0", "--data-dir",
                                 self.data, "--password", password],
                                stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        self.servers.append(proc)
        line = proc.stdout.readline()
        self.assertRegex(line, r"^listening on \d+")
        return "http://127.0.0.1:%d" % int(line.split()[-1])

    def stop_servers(self):
        for p in self.servers:
            p.terminate()
            p.wait(10)
            p.stdout.close()
        self.servers = []

    def rest_task(self, url, password_file=None):
        task = self.sb.local_task(self.data)
        task["source"]["rest"] = {"url": url, "user": "root",
                                  "password_file": password_file or self.password_file}
        self.sb.write_task("rest", task)

    def kerberos_task(self, keytab=None):
        """A RemoteHDFS task with Kerberos auth whose NameNode does not answer."""
        task = self.sb.local_task(self.data, cluster_mode="security")
        task["target"] = {"path_type": "RemoteHDFS", "target_path": "/backup",
                          "nameservice": "hacluster", "ip_mode": "IPv4",
                          "active_namenode": "127.0.0.1", "namenode_http_port": free_port(),
                          "namenode_rpc_port": 8020, "retry_attempts": 1,
                          "auth": {"mode": "kerberos", "principal": "backup@EXAMPLE.ORG",
                                   "keytab": keytab or self.keytab},
                          "max_copies": 3}
        self.sb.write_task("krb", task)

    def ctl(self, *args, timeout=120):
        r = self.sb.ctl(*args, timeout=timeout)
        self.outputs.append((" ".join(args), r.stdout + r.stderr))
        return r

    def run_task(self, name):
        r = self.ctl("run", name, "--wait", "--json")
        self.assertTrue(r.stdout.strip(), "no result from run %s: %s" % (name, r.stderr))
        return json.loads(r.stdout)

    def needles(self):
        basic = base64.b64encode(("root:" + self.password).encode()).decode()
        return [self.password, self.keytab_secret, basic,
                base64.b64encode(self.keytab_secret.encode()).decode()]

    def assertNoSecretAnywhere(self):
        needles = self.needles()
        for what, text in self.outputs:
            for n in needles:
                self.assertNotIn(n, text, "a secret in the output of %s" % what)
        secret_files = {os.path.realpath(p) for p in
                        (os.path.join(self.secrets_dir, f) for f in os.listdir(self.secrets_dir))}
        searched = 0
        for top, _dirs, files in os.walk(self.sb.root):
            for name in files:
                path = os.path.join(top, name)
                if os.path.realpath(path) in secret_files or os.path.islink(path):
                    continue
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue  # sockets, vanished temporaries
                searched += 1
                for n in needles:
                    self.assertNotIn(n.encode(), data, "a secret in %s" % path)
        self.assertGreater(searched, 10)
        # The store's text, as SQLite sees it (also what a WAL may still hold).
        rows = self.sb.query("SELECT * FROM runs")
        self.assertTrue(rows)
        dump = json.dumps([list(r) for r in rows])
        for n in needles:
            self.assertNotIn(n, dump, "a secret in the runs table")


class TestSecretsNeverShown(SecretsCase):
    def test_rest_password_and_keytab_never_appear(self):
        self.rest_task(self.start_rest(self.password))
        self.kerberos_task()
        d = self.sb.start_daemon()
        self.assertEqual(self.run_task("rest").get("result"), "succeeded", self.outputs)
        # Wrong password on the server's side: the run fails at REST auth.
        self.stop_servers()
        self.rest_task(self.start_rest("not-" + self.password))
        self.assertEqual(self.ctl("reload").returncode, 0, self.outputs[-1])
        failed = self.run_task("rest")
        self.assertEqual((failed.get("result"), failed.get("error_code")), ("failed", "E_REST"),
                         failed)
        self.assertIn("authentication failed", failed["error"])
        self.assertIn(self.password_file, failed["error"])  # names the file, not its contents
        # The Kerberos task fails at its unreachable target.
        krb = self.run_task("krb")
        self.assertEqual(krb.get("result"), "failed", krb)
        self.assertIn(krb.get("error_code"), ("E_TARGET_UNREACHABLE", "E_TARGET_AUTH"), krb)
        for args in (["status"], ["status", "--json"], ["check-config"], ["verify", "rest"],
                     ["verify", "krb"], ["copies", "rest"], ["copies", "rest", "--json"],
                     ["copies", "krb"]):
            self.ctl(*args)
        self.assertEqual(d.stop(), 0)
        self.outputs.append(("daemon log", d.log()))
        self.assertTrue(os.path.exists(self.metrics))
        self.assertNoSecretAnywhere()


class TestWorldReadableSecrets(SecretsCase):
    def test_world_readable_password_file_is_refused(self):
        open_file = self.write_secret("open.password", self.password + "\n", mode=0o644)
        self.rest_task(self.start_rest(self.password), password_file=open_file)
        d = self.sb.start_daemon()
        res = self.run_task("rest")
        self.assertEqual((res.get("result"), res.get("error_code")), ("failed", "E_REST"), res)
        self.assertIn("password file %s is readable by every user" % open_file, res["error"])
        self.assertIn("chmod 600", res["error"])
        r = self.ctl("verify", "rest")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(open_file, r.stdout + r.stderr)
        self.assertEqual(d.stop(), 0)
        self.outputs.append(("daemon log", d.log()))
        self.assertNoSecretAnywhere()

    def test_world_readable_keytab_is_refused(self):
        open_keytab = self.write_secret("open.keytab", self.keytab_secret, mode=0o644)
        self.kerberos_task(keytab=open_keytab)
        d = self.sb.start_daemon()
        res = self.run_task("krb")
        self.assertEqual((res.get("result"), res.get("error_code")), ("failed", "E_TARGET_AUTH"),
                         res)
        self.assertIn("keytab %s is readable by other users" % open_keytab, res["error"])
        self.assertEqual(d.stop(), 0)
        self.outputs.append(("daemon log", d.log()))
        self.assertNoSecretAnywhere()


if __name__ == "__main__":
    import unittest
    unittest.main()
