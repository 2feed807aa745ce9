#!/usr/bin/env python3
"""A throwaway MIT Kerberos realm for tests: its own krb5.conf and kdc.conf
in a temporary directory (KRB5_CONFIG, KRB5_KDC_PROFILE), a database made
with kdb5_util, principals and keytabs made with kadmin.local, and krb5kdc
in the foreground on a free TCP/UDP port of 127.0.0.1. Nothing under /etc or
/var is read or written; no root needed.

Debian packages: krb5-kdc (krb5kdc, kdb5_util), krb5-admin-server
(kadmin.local), krb5-user (kinit, klist).

Use from Python::

    realm = Realm(workdir)          # or Realm() for a fresh temporary dir
    realm.start()
    realm.add_principal("HTTP/localhost", keytab="http.keytab")
    env = realm.env                 # KRB5_CONFIG etc. for clients/servers
    realm.stop()

Or from a shell (prints one JSON line, serves until stdin closes)::

    kdc.py --dir DIR --principal backup --keytab DIR/backup.keytab
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")
TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "klist")
PACKAGES = "krb5-kdc krb5-admin-server krb5-user"


def find_tool(name):
    """Absolute path of a krb5 program (the sbin directories are often not in
    an unprivileged PATH), or None."""
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def missing_tools():
    """Names of the krb5 programs this helper needs that are not installed."""
    return [t for t in TOOLS if not find_tool(t)]


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("kdc: no free port on 127.0.0.1")


class Realm:
    """One realm, one KDC process. clockskew is small (1 s) so that an
    expired ticket is really refused, as tests of ticket refresh need."""

    def __init__(self, workdir=None, name="IOTDB.TEST", max_life="1d", clockskew=1):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="krb5-")
        os.makedirs(self.dir, exist_ok=True)
        self.name = name
        self.max_life = max_life
        self.clockskew = clockskew
        self.port = None
        self.proc = None
        self.password = "master-" + os.urandom(8).hex()
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        self.kdc_conf = os.path.join(self.dir, "kdc.conf")
        self.log_path = os.path.join(self.dir, "kdc.log")
        rcache = os.path.join(self.dir, "rcache")
        os.makedirs(rcache, exist_ok=True)
        self.env = {"KRB5_CONFIG": self.krb5_conf, "KRB5_KDC_PROFILE": self.kdc_conf,
                    "KRB5RCACHEDIR": rcache}

    def _write_configs(self):
        d = self.dir
        with open(self.krb5_conf, "w") as f:
            f.write("""[libdefaults]
    default_realm = {realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    clockskew = {skew}
    udp_preference_limit = 1
    default_ccache_name = FILE:{d}/krb5cc_default
    default_keytab_name = FILE:{d}/default.keytab
    default_client_keytab_name = FILE:{d}/default-client.keytab

[realms]
    {realm} = {{
        kdc = 127.0.0.1:{port}
    }}

[domain_realm]
    localhost = {realm}
    127.0.0.1 = {realm}
""".format(realm=self.name, port=self.port, d=d, skew=self.clockskew))
        with open(self.kdc_conf, "w") as f:
            f.write("""[kdcdefaults]
    kdc_ports = {port}
    kdc_tcp_ports = {port}

[realms]
    {realm} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        max_life = {max_life}
        max_renewable_life = 0
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}

[logging]
    kdc = FILE:{d}/kdc.log
    admin_server = FILE:{d}/kadmin.log
    default = FILE:{d}/krb5lib.log
""".format(realm=self.name, port=self.port, d=d, max_life=self.max_life))
        open(os.path.join(d, "kadm5.acl"), "w").close()

    def _run(self, *cmd, stdin=None):
        env = dict(os.environ)
        env.update(self.env)
        r = subprocess.run(list(cmd), input=stdin, capture_output=True, text=True, env=env,
                           timeout=60)
        if r.returncode != 0:
            raise RuntimeError("kdc: %s failed (%d): %s%s"
                               % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
        return r.stdout

    def start(self, timeout=10.0):
        """Create the database and start krb5kdc; returns once it answers."""
        missing = missing_tools()
        if missing:
            raise RuntimeError("kdc: missing %s (Debian: apt-get install %s)"
                               % (", ".join(missing), PACKAGES))
        self.port = free_port()
        self._write_configs()
        self._run(find_tool("kdb5_util"), "-r", self.name, "create", "-s", "-W",
                  "-P", self.password)
        env = dict(os.environ)
        env.update(self.env)
        log = open(os.path.join(self.dir, "krb5kdc.out"), "wb")
        try:
            # -n: stay in the foreground, so the test owns the process.
            self.proc = subprocess.Popen([find_tool("krb5kdc"), "-n", "-r", self.name],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("kdc: krb5kdc exited with %d: %s"
                                   % (self.proc.returncode, self.log()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("kdc: krb5kdc did not listen on %d within %.0fs"
                                       % (self.port, timeout))
                time.sleep(0.05)

    def log(self):
        """The KDC's own log so far (one line per AS/TGS request)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def kadmin(self, query):
        """One kadmin.local query (e.g. 'getprinc x'); returns its output."""
        return self._run(find_tool("kadmin.local"), "-r", self.name, "-q", query)

    def principal(self, name):
        """name with this realm appended when it has none."""
        return name if "@" in name else "%s@%s" % (name, self.name)

    def add_principal(self, name, keytab=None, max_life=None):
        """A principal with a random key; exported to keytab (mode 0600) if given."""
        opts = "-randkey"
        if max_life:
            opts += ' -maxlife "%s"' % max_life
        self.kadmin("addprinc %s %s" % (opts, self.principal(name)))
        if keytab:
            self.export(name, keytab)
        return self.principal(name)

    def export(self, name, keytab):
        """Add the principal's keys to keytab (appended after its entries, so
        exports of several principals into one keytab keep their order). ktadd
        makes new keys (a new kvno), which makes every keytab exported before
        stale."""
        self.kadmin("ktadd -k %s %s" % (keytab, self.principal(name)))
        os.chmod(keytab, 0o600)
        return keytab

    def delete_principal(self, name):
        self.kadmin("delprinc -force %s" % self.principal(name))

    def klist(self, ccache):
        """klist of a credential cache: [(start, end, server principal)], the
        times as printed ('MM/DD/YY HH:MM:SS'); [] if it has none."""
        env = dict(os.environ)
        env.update(self.env)
        env["LC_ALL"] = "C"  # the time format parsed here
        r = subprocess.run([find_tool("klist"), "-c", ccache], capture_output=True, text=True,
                           env=env, timeout=30)
        out = []
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) == 5 and "@" in parts[4] and parts[0][:1].isdigit():
                out.append((parts[0] + " " + parts[1], parts[2] + " " + parts[3], parts[4]))
        return out

    def _klist_out(self, *args):
        env = dict(os.environ)
        env.update(self.env)
        env["LC_ALL"] = "C"
        return subprocess.run([find_tool("klist")] + list(args), capture_output=True, text=True,
                              env=env, timeout=30).stdout

    def cache_principal(self, ccache):
        """The principal a credential cache belongs to (klist's "Default
        principal"), or None when there is no cache."""
        for line in self._klist_out("-c", ccache).splitlines():
            if line.startswith("Default principal:"):
                return line.split(":", 1)[1].strip()
        return None

    def keytab_principals(self, keytab):
        """Principals of a keytab's entries, in file order (klist -k)."""
        out = []
        for line in self._klist_out("-k", keytab).splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit() and "@" in parts[1]:
                out.append(parts[1])
        return out

    def as_requests(self, principal):
        """How many AS requests (initial tickets, kinit's) the KDC has logged
        for principal so far; each attempt logs one line, a preauth round
        trip two."""
        return sum(1 for line in self.log().splitlines()
                   if "AS_REQ" in line and " %s for " % principal in line)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", help="work directory (default: a temporary one, removed at exit)")
    ap.add_argument("--realm", default="IOTDB.TEST")
    ap.add_argument("--max-life", default="1d")
    ap.add_argument("--principal", action="append", default=[],
                    help="a principal to create; repeat; with --keytab in the same order")
    ap.add_argument("--keytab", action="append", default=[])
    args = ap.parse_args()
    realm = Realm(args.dir, args.realm, args.max_life).start()
    try:
        for i, name in enumerate(args.principal):
            realm.add_principal(name, args.keytab[i] if i < len(args.keytab) else None)
        print(json.dumps({"realm": realm.name, "port": realm.port, "dir": realm.dir,
                          "env": realm.env}), flush=True)
        try:
            while sys.stdin.read(4096):
                pass
        except (OSError, ValueError, KeyboardInterrupt):
            pass
    finally:
        realm.stop()


if __name__ == "__main__":
    main()
