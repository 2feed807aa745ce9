"""Crash torture (issue #6): the real daemon, a growing IoTDB data dir, and
SIGKILL of the worker or of the whole daemon aimed at every phase of a run
(flush, snapshot, upload, manifest, freeze, prune). After every kill the
invariants are checked:

  - the store passes PRAGMA integrity_check and, once the daemon runs
    again, no run is left "running";
  - every snapshot on the target has a valid MANIFEST.json naming exactly
    the snapshot's files, with their sizes;
  - every copy listed by `copies --json` restores byte-identical to the data
    dir as it was when the copy's run started, and `verify` passes;
  - the next run completes and sends only what is missing: at most what
    changed since the newest copy, and (LocalDir, incremental) exactly the
    files the live task directory does not hold complete.

CI runs a short version. A long run by hand (docs/crash-torture.md):

  IB_BUILD_DIR=build IB_TORTURE_ITERATIONS=500 IB_TORTURE_HDFS_ITERATIONS=100 \\
      python3 tests/integration/test_crash_torture.py

With IB_TORTURE_ITERATIONS set, every phase must have been hit; without it
(CI) upload and one of manifest/freeze/prune must have been. IB_TORTURE_SEED
repeats a run's choices (the timing of kills still varies).
"""

import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
import http.client

import ibtest
from test_backup_cycle import alive, children, summary
from test_daemon_lifecycle import Client

REST_SERVER = os.path.join(ibtest.SOURCE_DIR, "tests", "tools", "iotdb_rest_server.py")
HDFS_SERVER = os.path.join(ibtest.SOURCE_DIR, "tests", "tools", "webhdfs_server.py")
TEMP_SUFFIX = "._COPYING_"
PHASES = ("flush", "snapshot", "upload", "manifest", "freeze", "prune")
LATE_PHASES = ("manifest", "freeze", "prune")
TASK = "torture"
# Upload rate cap: a few hundred KiB of new data keep the upload phase open
# for a good part of a second.
BANDWIDTH_MBPS = 4
# Added to every request to the IoTDB REST stand-in: the flush phase spans
# the FLUSH request, so it is open at least this long.
REST_DELAY_S = 0.15

LONG = bool(os.environ.get("IB_TORTURE_ITERATIONS"))
# Restore every listed copy after every kill (long runs by default); else
# each copy once, the first time it is listed (its bytes on a LocalDir
# target are re-hashed every time).
RESTORE_ALL = os.environ.get("IB_TORTURE_RESTORE_ALL", "1" if LONG else "0") == "1"


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v else default


def digest_tree(data_dir):
    """{path: (size, sha256)} of what a backup of data_dir must hold now (the
    summary's files, each cut to its summary size)."""
    out = {}
    for f in summary(data_dir)["files"]:
        with open(os.path.join(data_dir, f["path"]), "rb") as fh:
            data = fh.read(f["size"])
        out[f["path"]] = (len(data), hashlib.sha256(data).hexdigest())
    return out


def digest_dir(root, skip_top=()):
    """{relative path: (size, sha256)} of the regular files under root."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        if dirpath == root:
            dirs[:] = [d for d in dirs if d not in skip_top]
        for name in files:
            if dirpath == root and name in skip_top:
                continue
            p = os.path.join(dirpath, name)
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            out[os.path.relpath(p, root)] = (os.path.getsize(p), h.hexdigest())
    return out


class DelayProxy:
    """A TCP forwarder that holds every chunk from the client for `delay`
    seconds: a slow IoTDB REST service, so the flush phase has a width."""

    def __init__(self, port, delay):
        self.port, self.delay = port, delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.listen_port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            except OSError:
                c.close()
                continue
            threading.Thread(target=self._pipe, args=(c, s, self.delay), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, 0), daemon=True).start()

    @staticmethod
    def _pipe(a, b, delay):
        """Copy a to b, holding back the chunks that carry a FLUSH."""
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if delay and b"FLUSH" in data.upper():
                    time.sleep(delay)
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        a.close()  # the other direction's thread closes b

    def close(self):
        self.sock.close()


# ---- targets: where the copies are, looked at directly ----

class LocalTarget:
    kind = "LocalDir"

    def __init__(self, sb):
        self.path = os.path.join(sb.root, "backup-torture")
        # Made by the operator (verify refuses a missing target path, and a
        # first run killed before it reaches the target makes nothing).
        os.makedirs(self.path)

    def config(self):
        return {"path_type": "LocalDir", "target_path": self.path}

    def task_dir(self):
        if not os.path.isdir(self.path):
            return None
        dirs = [d for d in os.listdir(self.path) if d.startswith(TASK + "_IoTDB_")]
        assert len(dirs) <= 1, dirs
        return os.path.join(self.path, dirs[0]) if dirs else None

    def snapshots(self, digests=True):
        """{name: (manifest dict or None, {path: (size, sha256 or None)} of its
        data files)}; digests False: the manifests only."""
        td = self.task_dir()
        root = os.path.join(td, ".snapshot") if td else None
        out = {}
        if not root or not os.path.isdir(root):
            return out
        for name in os.listdir(root):
            if name.startswith("."):
                continue  # ".<name>.tmp": a freeze that did not finish, not a snapshot
            snap = os.path.join(root, name)
            manifest = None
            try:
                with open(os.path.join(snap, "MANIFEST.json"), "rb") as f:
                    manifest = json.loads(f.read())
            except (OSError, ValueError):
                pass
            files = digest_dir(snap, skip_top=("MANIFEST.json",)) if digests else {}
            out[name] = (manifest, files)
        return out

    def live(self):
        """{path: (size, sha256)} of the complete data files in the live dir."""
        td = self.task_dir()
        if not td:
            return {}
        d = digest_dir(td, skip_top=(".snapshot", "MANIFEST.json",
                                     "MANIFEST.json" + TEMP_SUFFIX))
        return {p: v for p, v in d.items() if not p.endswith(TEMP_SUFFIX)}


class HdfsTarget:
    """The WebHDFS test server (two NameNodes, one DataNode) as the target."""

    kind = "RemoteHDFS"
    path = "/backup"

    def __init__(self, sb):
        self.storage = os.path.join(sb.root, "hdfs-storage")
        os.makedirs(self.storage)
        self.proc = subprocess.Popen(
            [sys.executable, HDFS_SERVER, "--storage", self.storage,
             "--nn-hosts", "127.0.0.1,127.0.0.2"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.port = json.loads(self.proc.stdout.readline())["namenodes"][0]
        st, body = self.call("PUT", self.path, "MKDIRS")
        assert st == 200, body

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()

    def config(self):
        return {"path_type": "RemoteHDFS", "target_path": self.path,
                "nameservice": "hacluster", "ip_mode": "IPv4",
                "active_namenode": "127.0.0.1", "standby_namenode": "127.0.0.2",
                "namenode_http_port": self.port, "namenode_rpc_port": 8020,
                "auth": {"mode": "simple", "user": "hdfs"}}

    def call(self, method, path, op, **params):
        q = urllib.parse.urlencode([("op", op), ("user.name", "hdfs")] + list(params.items()))
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request(method, "/webhdfs/v1" + urllib.parse.quote(path, safe="/") + "?" + q)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data

    def ls(self, path):
        """{name: FileStatus} of a directory, None if it does not exist."""
        st, body = self.call("GET", path, "LISTSTATUS")
        if st == 404:
            return None
        assert st == 200, (path, st, body)
        return {s["pathSuffix"]: s for s in body["FileStatuses"]["FileStatus"]}

    def files(self, path, prefix=""):
        """{relative path: size} of every file under path."""
        out = {}
        for name, s in (self.ls(path) or {}).items():
            if s["type"] == "DIRECTORY":
                out.update(self.files(path + "/" + name, prefix + name + "/"))
            else:
                out[prefix + name] = s["length"]
        return out

    def read(self, path):
        st, body = self.call("GET", path, "OPEN", noredirect="true")
        if st != 200:
            return None
        u = urllib.parse.urlsplit(body["Location"])
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        c.request("GET", u.path + "?" + u.query)
        r = c.getresponse()
        data = r.read()
        c.close()
        return data if r.status == 200 else None

    def task_dir(self):
        names = [n for n in (self.ls(self.path) or {}) if n.startswith(TASK + "_IoTDB_")]
        assert len(names) <= 1, names
        return self.path + "/" + names[0] if names else None

    def snapshots(self, digests=True):
        td = self.task_dir()
        out = {}
        if not td:
            return out
        for name in self.ls(td + "/.snapshot") or {}:
            raw = self.read("%s/.snapshot/%s/MANIFEST.json" % (td, name))
            try:
                manifest = json.loads(raw) if raw is not None else None
            except ValueError:
                manifest = None
            files = self.files("%s/.snapshot/%s" % (td, name)) if digests else {}
            files.pop("MANIFEST.json", None)
            out[name] = (manifest, {p: (n, None) for p, n in files.items()})
        return out

    def live(self):
        return None  # not hashed over HTTP: the run's counts get the upper bound only


# ---- one torture session ----

class Torture:
    def __init__(self, case, target, iterations, seed):
        self.case, self.sb, self.target = case, case.sb, target
        self.iterations = iterations
        self.rng = random.Random(seed)
        self.seed = seed
        self.hits = {p: 0 for p in PHASES}
        self.hits["starting"] = 0
        self.aims = {p: 0 for p in PHASES}
        self.missed = 0  # runs that finished before the kill landed
        self.kills = {"worker": 0, "daemon": 0}
        self.checks = 0
        self.copies_restored = 0
        self.last_run = None  # id of the last completed run
        self.upload_s = 0.0  # what the killed run's new bytes take to send
        self.restored = set()  # names of the copies restored and compared once
        self.fingerprints = {}  # run id -> digest_tree at the run's start
        self.plan = []
        self.data = self.sb.data_dir

    # -- setup --
    def setup(self):
        self.sb.gen_data(seed=self.seed % 1000 + 1)
        # Seal the working files now: the REST stand-in's FLUSH would seal
        # them mid-run, after the fingerprint of the run's start was taken.
        subprocess.run([sys.executable, ibtest.GEN_DATA, "seal", self.data], check=True,
                       stdout=subprocess.DEVNULL)
        self.rest = subprocess.Popen([sys.executable, REST_SERVER, "--port", "0", "--data-dir",
                                      self.data, "--password", "s3cret"],
                                     stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.case.addCleanup(self._stop_rest)
        line = self.rest.stdout.readline()
        assert line.startswith("listening on "), line
        self.proxy = DelayProxy(int(line.split()[-1]), REST_DELAY_S)
        self.case.addCleanup(self.proxy.close)
        pw = os.path.join(self.sb.root, "iotdb.password")
        with open(pw, "w") as f:
            f.write("s3cret\n")
        os.chmod(pw, 0o600)
        task = self.sb.local_task(self.data, max_copies=3)
        task["source"]["rest"] = {"url": "http://127.0.0.1:%d" % self.proxy.listen_port,
                                  "user": "root", "password_file": pw}
        target = self.target.config()
        target["max_copies"] = 3
        target["max_bandwidth_mbps"] = BANDWIDTH_MBPS
        task["target"] = target
        self.sb.write_task(TASK, task)
        self.daemon = self.sb.start_daemon()

    def _stop_rest(self):
        self.rest.terminate()
        self.rest.wait(10)
        self.rest.stdout.close()

    # -- data --
    def grow(self):
        r = self.rng
        args = ["--seed", str(r.randrange(1 << 30)), "--new-files", str(r.randint(1, 3)),
                "--size-kb", str(r.choice((32, 64, 128, 256)))]
        if r.random() < 0.5:
            args.append("--compact")
        if r.random() < 0.5:
            args.append("--delete")
        if r.random() < 0.15:
            args.append("--partial-mods")
        res = ibtest.run_cmd([sys.executable, ibtest.GEN_DATA, "grow", self.data] + args)
        if res.returncode != 0 and "--compact" in args:
            args.remove("--compact")  # no partition with two sealed files left
            res = ibtest.run_cmd([sys.executable, ibtest.GEN_DATA, "grow", self.data] + args)
        self.case.assertEqual(res.returncode, 0, res.stderr)

    # -- the killed run --
    def next_plan(self):
        """(phase to aim at, victim): every phase once per round, in random order."""
        if not self.plan:
            self.plan = list(PHASES)
            self.rng.shuffle(self.plan)
            if not self.aims["upload"]:
                # The first round starts with upload and a late phase: a
                # short run (sanitizer builds) still covers what CI requires.
                late = [p for p in self.plan if p in LATE_PHASES][0]
                rest = [p for p in self.plan if p not in ("upload", late)]
                self.plan = rest + [late, "upload"]
        phase = self.plan.pop()
        self.aims[phase] += 1
        return phase, "daemon" if self.rng.random() < 0.3 else "worker"

    def kill_delay(self, phase):
        if phase == "upload":
            # Within the time the new bytes take at the rate cap (a full
            # run: everything), so that the kill lands before the end.
            return self.rng.uniform(0.0, 0.8) * self.upload_s
        if phase == "flush":
            return self.rng.uniform(0.0, REST_DELAY_S * 1.5)
        return self.rng.choice((0.0, 0.0, self.rng.uniform(0.0, 0.003)))

    def killed_run(self, aim, victim):
        """Start a run, kill `victim` once `aim` is reached (plus a small
        random delay); returns (phase hit or None if the run finished first,
        run id)."""
        c = Client(self.sb.socket_path, timeout=60)
        try:
            acc = c.request({"v": 1, "cmd": "run", "task": TASK, "wait": True})
            self.case.assertEqual(acc.get("event"), "accepted", acc)
            run_id = acc["run_id"]
            phase, worker, killed, finished = "starting", None, False, None
            while True:
                ev = c.recv()
                if ev is None:
                    break
                if ev.get("event") == "finished":
                    finished = ev["run"]
                    break
                if ev.get("event") != "progress":
                    continue
                phase = ev["phase"]
                if worker is None:
                    kids = children(self.daemon.pid)
                    worker = kids[0] if kids else None
                if killed or phase != aim:
                    continue
                delay = self.kill_delay(aim)
                if delay:
                    time.sleep(delay)
                killed = self.kill(victim, worker)
            if not killed or (finished and finished["result"] == "succeeded"):
                self.missed += 1
                self.case.assertTrue(finished, "no kill and no finished event")
                self.case.assertEqual(finished["result"], "succeeded", finished)
                return None, run_id
            if victim == "worker":
                self.case.assertIsNotNone(finished, "the daemon did not report the killed run")
                self.case.assertEqual(finished["result"], "failed", finished)
            self.hits[phase] += 1
            return phase, run_id
        finally:
            c.close()
            if worker is not None:
                # Killing the daemon leaves the worker to stop at its next
                # safe point (PDEATHSIG): the target settles before the checks.
                ibtest.wait_for(lambda: not alive(worker), timeout=60,
                                what="worker %d to exit" % worker)

    def kill(self, victim, worker):
        try:
            if victim == "daemon":
                self.daemon.kill()
            elif worker is not None:
                os.kill(worker, signal.SIGKILL)
            else:
                return False
        except ProcessLookupError:
            return False
        self.kills[victim] += 1
        return True

    # -- invariants --
    def check_store(self):
        rows = self.sb.query("PRAGMA integrity_check")
        self.case.assertEqual([r[0] for r in rows], ["ok"])

    def check_no_running(self):
        ibtest.wait_for(lambda: not self.sb.query(
            "SELECT id FROM runs WHERE result = 'running'"), timeout=10,
            what="no run left running in the store")
        st = [t for t in self.sb.status()["tasks"] if t["name"] == TASK][0]
        self.case.assertEqual(st["state"], "idle", st)

    def check_snapshots(self):
        """Every snapshot holds a valid manifest naming exactly its files."""
        snaps = self.target.snapshots()
        for name, (manifest, files) in snaps.items():
            self.case.assertIsInstance(manifest, dict, "snapshot %s: no valid MANIFEST.json" % name)
            listed = {f["path"]: f["size"] for f in manifest.get("files", [])}
            self.case.assertEqual(listed, {p: v[0] for p, v in files.items()},
                                  "snapshot %s: files differ from its manifest" % name)
            run_id = manifest.get("run_id")
            self.case.assertIn(run_id, self.fingerprints, "snapshot %s made by an unknown run"
                               % name)
            # LocalDir: the snapshot's own bytes are those of the data dir at
            # the run's start (checked every time; restores are dearer).
            hashed = {p: v for p, v in files.items() if v[1] is not None}
            if hashed:
                want = self.fingerprints[run_id]
                bad = sorted(p for p in want if hashed.get(p) != want[p])
                self.case.assertEqual(bad, [], "snapshot %s (run %d) holds other bytes"
                                      % (name, run_id))
        return snaps

    def check_copies(self, snaps):
        copies = self.sb.ctl_json("copies", TASK, "--json")["copies"]
        self.case.assertEqual(sorted(c["name"] for c in copies), sorted(snaps))
        for c in copies:
            self.case.assertTrue(c["valid"], c)
            if c["name"] in self.restored and not RESTORE_ALL:
                continue  # restored once already; its bytes were checked above
            run_id = snaps[c["name"]][0]["run_id"]
            to = os.path.join(self.sb.root, "restore-check")
            shutil.rmtree(to, ignore_errors=True)
            r = self.sb.ctl("restore", TASK, "--copy", c["name"], "--to", to, timeout=120)
            self.case.assertEqual(r.returncode, 0, r.stderr)
            got = digest_dir(to)
            want = self.fingerprints[run_id]
            self.case.assertEqual(sorted(got), sorted(want), "files of copy %s" % c["name"])
            bad = [p for p in want if got[p] != want[p]]
            self.case.assertEqual(bad, [], "copy %s (run %d) restores other bytes"
                                  % (c["name"], run_id))
            shutil.rmtree(to)
            self.restored.add(c["name"])
            self.copies_restored += 1
        r = self.sb.ctl("verify", TASK, timeout=60)
        self.case.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return copies

    def check_all(self):
        self.check_store()
        if not self.daemon.running():
            self.daemon = self.sb.start_daemon()
        self.check_no_running()
        snaps = self.check_snapshots()
        self.check_copies(snaps)
        self.checks += 1
        return snaps

    # -- the run after --
    def completing_run(self, snaps, now):
        """The next run completes, sending only what is missing."""
        newest = None
        for name in sorted(snaps):
            newest = snaps[name][0]
        changed = len([p for p, v in now.items()
                       if newest is None or self.fingerprints[newest["run_id"]].get(p) != v])
        live = self.target.live()
        missing = None if live is None else len([p for p, v in now.items() if live.get(p) != v])
        r = self.sb.ctl("run", TASK, "--wait", "--json", timeout=300)
        res = json.loads(r.stdout) if r.stdout.strip() else {}
        self.case.assertEqual(res.get("result"), "succeeded",
                              "%s\n%s\nlog:\n%s" % (r.stdout, r.stderr, self.daemon.log()[-4000:]))
        self.fingerprints[res["run_id"]] = now
        self.last_run = res["run_id"]
        self.case.assertEqual(res["files_total"], len(now), res)
        if res["type"] == "incremental":
            # Only what changed since the newest copy, less what the killed
            # run left complete in the live directory.
            self.case.assertLessEqual(res["files_sent"], changed, res)
            if missing is not None:
                self.case.assertEqual(res["files_sent"], missing, res)
        else:
            # A full run (the policy's first, as long as the store records
            # no successful one) rewrites the files of the previous copy.
            self.case.assertLessEqual(res["files_sent"], len(now), res)
            if missing is not None:
                self.case.assertGreaterEqual(res["files_sent"], missing, res)
        return res

    def check_clean_after_success(self):
        td = self.target.task_dir()
        if isinstance(self.target, LocalTarget) and td:
            left = []
            for dirpath, dirs, files in os.walk(td):
                if dirpath == td:
                    dirs[:] = [d for d in dirs if d != ".snapshot"]
                left += [os.path.join(dirpath, n) for n in files if n.endswith(TEMP_SUFFIX)]
            self.case.assertEqual(left, [], "temporaries left after a successful run")

    # -- the loop --
    def iteration(self, i):
        t0 = time.monotonic()
        self.grow()
        now = digest_tree(self.data)
        aim, victim = self.next_plan()
        # The fingerprint of the killed run's start: it may still make a copy
        # (killed after its freeze, or its daemon killed late in the run).
        last = self.fingerprints.get(self.last_run, {})
        new_bytes = sum(v[0] for p, v in now.items() if last.get(p) != v)
        self.upload_s = new_bytes / (BANDWIDTH_MBPS * 125000.0)
        hit, run_id = self.killed_run(aim, victim)
        self.fingerprints[run_id] = now
        t_kill = time.monotonic()
        self.log("%d: aim %s, kill %s, hit %s (%.2f s)"
                 % (i, aim, victim, hit or "nothing: the run finished first", t_kill - t0))
        snaps = self.check_all()
        t_check = time.monotonic()
        res = self.completing_run(snaps, now)
        self.log("%d: checks %.2f s; next run (%s) sent %d of %d files in %.2f s"
                 % (i, t_check - t_kill, res["type"], res["files_sent"], res["files_total"],
                    time.monotonic() - t_check))
        self.check_clean_after_success()
        # Forget the fingerprints no copy can refer to any more.
        keep = {m["run_id"] for m, _ in self.target.snapshots(digests=False).values() if m}
        keep.add(self.last_run)
        self.fingerprints = {k: v for k, v in self.fingerprints.items() if k in keep}

    def log(self, msg):
        if LONG or os.environ.get("IB_TORTURE_VERBOSE"):
            print(msg, file=sys.stderr, flush=True)

    def run(self):
        t0 = time.monotonic()
        self.setup()
        done = 0
        try:
            for i in range(self.iterations):
                self.iteration(i)
                done += 1
        except KeyboardInterrupt:
            # A long run stopped by hand: say how far it got, and fail
            # normally so that the cleanups stop the daemon and servers.
            self.elapsed = time.monotonic() - t0
            self.report(done)
            self.case.fail("interrupted after %d iterations" % done)
        self.elapsed = time.monotonic() - t0
        self.report(done)
        self.case.assertEqual(self.daemon.stop(), 0, self.daemon.log()[-4000:])
        self.check_sanitizer_reports()

    def check_sanitizer_reports(self):
        """Nothing the daemons and workers wrote (one log per daemon start)
        holds an ASan/UBSan report."""
        for d in self.sb.daemons:
            log = d.log()
            for marker in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
                self.case.assertNotIn(marker, log, log[-4000:])

    def report(self, done):
        kills = sum(self.kills.values())
        line = ("crash torture (%s, seed %d): %d iterations in %.1f s, %d kills (worker %d, "
                "daemon %d), %d finished before the kill; aimed at: %s; phases hit: %s; "
                "%d invariant checks, "
                "%d copy restores compared"
                % (self.target.kind, self.seed, done, self.elapsed, kills,
                   self.kills["worker"], self.kills["daemon"], self.missed,
                   ", ".join("%s %d" % (p, n) for p, n in self.aims.items()),
                   ", ".join("%s %d" % (p, n) for p, n in self.hits.items()),
                   self.checks, self.copies_restored))
        print(line, file=sys.stderr, flush=True)


def scaled_iterations(name, default):
    n = env_int(name, default)
    if ibtest.SANITIZE and not os.environ.get(name):
        n = max(2, n // 3)
    return n


class TestCrashTorture(ibtest.DaemonTestCase):
    def seed(self):
        return env_int("IB_TORTURE_SEED", random.randrange(1 << 20))

    def assertPhasesCovered(self, t):
        missing = [p for p in PHASES if t.hits[p] == 0]
        if LONG:
            self.assertEqual(missing, [], "phases never hit: %s" % t.hits)
        else:
            self.assertGreater(t.hits["upload"], 0, t.hits)
            self.assertTrue(any(t.hits[p] for p in LATE_PHASES), t.hits)

    def test_local_dir(self):
        seed = self.seed()
        t = Torture(self, LocalTarget(self.sb), scaled_iterations("IB_TORTURE_ITERATIONS", 12),
                    seed)
        with self.subTest(seed=seed):
            t.run()
            self.assertPhasesCovered(t)

    def test_remote_hdfs(self):
        seed = self.seed()
        target = HdfsTarget(self.sb)
        self.addCleanup(target.stop)
        t = Torture(self, target, scaled_iterations("IB_TORTURE_HDFS_ITERATIONS", 4), seed)
        with self.subTest(seed=seed):
            t.run()
            if LONG:
                self.assertPhasesCovered(t)
            else:
                self.assertGreater(sum(t.hits.values()), 0, t.hits)


if __name__ == "__main__":
    unittest.main(verbosity=2)
