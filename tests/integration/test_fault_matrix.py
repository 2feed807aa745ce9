"""The fault matrix of issue #6 (docs/fault-matrix.md) with the real daemon:
each fault not already tested elsewhere ends in a completed run or a failed
run whose error code and text name the cause; every earlier copy still
restores byte for byte and `verify` passes; the next run, once the fault is
gone, succeeds.

Faults already covered elsewhere (listed in docs/fault-matrix.md):
test_webhdfs_cycle.py (failover mid-run, DataNode down, 503 storm, reset
mid-body, space quota, safe mode) and test_backup_cycle.py (data dir gone,
unreadable file, target out of space, REST flush refused)."""

import glob
import itertools
import json
import os
import random
import shutil
import socket
import subprocess
import threading
import time
import unittest

import ibtest
from test_backup_cycle import REST_SERVER, BackupCycleTest, expected_tree, live_files
from test_webhdfs_cycle import WebHdfsCycleTest

TEMP_SUFFIX = "._COPYING_"
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def dead_port():
    """A local TCP port nothing listens on (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def note_outcome(test, res):
    """With IB_FAULT_MATRIX_LOG=FILE, append the test's failed-run outcome (the
    "observed" column of docs/fault-matrix.md is refreshed from it)."""
    path = os.environ.get("IB_FAULT_MATRIX_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"test": test.id(), "error_code": res.get("error_code"),
                                "error": res.get("error")}) + "\n")


def knows_key(key):
    """Whether the daemon binary knows a task key (a feature being added)."""
    try:
        with open(ibtest.DAEMON, "rb") as f:
            return key.encode() in f.read()
    except OSError:
        return False


def mount_tmpfs(test, path, size):
    """Mount a tmpfs of size at path (unmounted at cleanup), or skip the test."""
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        test.skipTest("cannot mount a tmpfs (needs root): %s" % r.stderr.strip())
    test.addCleanup(subprocess.run, ["umount", "-l", path], capture_output=True)


def remount(path, options):
    subprocess.run(["mount", "-o", "remount," + options, path], check=True, capture_output=True)


class FaultMixin:
    """Baseline copies before the fault, checks after it."""

    def setUp(self):
        super().setUp()
        # Runs before the sandbox cleanup (cleanups run last in, first out).
        self.addCleanup(self.assertCleanExit)

    def assertCleanExit(self):
        """Every daemon stops with 0 and no sanitizer report from it or a worker."""
        for d in self.sb.daemons:
            rc = d.stop()
            log = d.log()
            self.assertEqual(rc, 0, log)
            for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                self.assertNotIn(bad, log)

    def baseline(self):
        """A full copy, then growth: the next run is an incremental with work to do."""
        self.states = {}
        full = self.run_task()
        self.states[full["copy"]] = self.expected()
        self.grow_more()
        return full

    def grow_more(self, seed=7):
        self.sb.grow_data("--seed", str(seed), "--new-files", "2", data_dir=self.data)

    def failed_run(self, code, *needles):
        res = self.run_task(expect="failed")
        note_outcome(self, res)
        self.assertEqual(res.get("error_code"), code, res)
        for n in needles:
            self.assertIn(n, res.get("error", ""), res)
        return res

    def assertIntact(self, verify=True):
        """Every copy made so far is listed, valid, restores byte for byte, and
        verify passes."""
        copies = self.copies()
        self.assertEqual(sorted(c["name"] for c in copies), sorted(self.states))
        self.checks = getattr(self, "checks", 0) + 1
        for c in copies:
            self.assertTrue(c["valid"], c)
            got = self.restore(c["name"], label="%s-%d" % (c["name"], self.checks))
            want = self.states[c["name"]]
            self.assertEqual(sorted(got), sorted(want), "files of copy %s" % c["name"])
            for path, data in want.items():
                self.assertTrue(got[path] == data, "%s differs in copy %s" % (path, c["name"]))
            shutil.rmtree(os.path.join(self.sb.root, "restore-%s-%d" % (c["name"], self.checks)))
        if verify:
            self.assertRc(self.sb.ctl("verify", "cycle"), 0)

    def read_task(self):
        with open(os.path.join(self.sb.tasks_dir, "cycle.json")) as f:
            return json.load(f)

    def change_task(self, task):
        """Rewrite the task file and wait for the daemon to reload it."""
        self.sb.write_task("cycle", task)
        d = self.sb.daemons[-1]
        start = d.reload()
        d.notify.wait("READY", "1", start=start)

    def recovers(self):
        """The next run completes and holds the source as it is now."""
        res = self.run_task()
        self.states[res["copy"]] = self.expected()
        self.assertIntact()
        return res

    def expected(self):
        """What a restore of a copy made now must give."""
        return expected_tree(self.data)


class LocalFaults(FaultMixin, BackupCycleTest):
    def start(self, target=None, settings=None, env=None, max_copies=5, prefix=None):
        self.target = target or self.sb.backup_dir
        self.write_task(target=self.target, max_copies=max_copies)
        if settings:
            self.sb.write_settings(settings)
        return self.sb.start_daemon(env=env, prefix=prefix)


class TestLocalTargetDown(LocalFaults):
    def test_target_path_is_a_file(self):
        self.start()
        self.baseline()
        blocker = os.path.join(self.sb.root, "not-a-dir")
        with open(blocker, "w") as f:
            f.write("x")
        self.change_task(self.sb.local_task(self.data, target=blocker, max_copies=5))
        res = self.run_task(expect="failed")
        note_outcome(self, res)
        self.assertIn(res.get("error_code"), ("E_TARGET_NOT_FOUND", "E_TARGET_IO"), res)
        self.assertIn(blocker, res.get("error", ""))
        with open(blocker) as f:
            self.assertEqual(f.read(), "x", "the file in the way was touched")
        self.change_task(self.sb.local_task(self.data, target=self.target, max_copies=5))
        self.recovers()

    def test_target_read_only(self):
        target = os.path.join(self.sb.root, "rotarget")
        mount_tmpfs(self, target, "32m")
        self.start(target=target)
        self.baseline()
        remount(target, "ro")
        res = self.run_task(expect="failed")
        note_outcome(self, res)
        self.assertIn(res.get("error_code"), ("E_TARGET_IO", "E_TARGET_AUTH"), res)
        self.assertIn(target, res.get("error", ""))
        self.assertIn("read-only", res.get("error", "").lower())
        self.assertIntact(verify=False)  # restore only reads the target
        r = self.sb.ctl("verify", "cycle")
        self.assertRc(r, 1)
        self.assertIn("Read-only file system", r.stdout)
        remount(target, "rw")
        self.recovers()
        self.assertEqual([n for n in live_files(self.task_dir(target=target))
                          if n.endswith(TEMP_SUFFIX)], [])


class TestLocalSourceFaults(LocalFaults):
    def test_staging_disk_full(self):
        staging = os.path.join(self.sb.root, "staging")
        mount_tmpfs(self, staging, "8m")
        # Another file system than the data dir: staging copies, and fills up.
        self.start(settings={"staging_dir": staging})
        self.baseline()
        self.sb.grow_data("--seed", "5", "--new-files", "4", "--size-kb", "512",
                          data_dir=self.data)
        remount(staging, "size=1m")
        res = self.failed_run("E_STAGING", staging)
        self.assertIn("No space left", res["error"])
        self.assertIn("HINT: free space there, or put staging_dir", res["error"])
        self.assertEqual(os.listdir(staging), [], "a failed run left its staging files")
        self.assertIntact()
        remount(staging, "size=16m")
        self.recovers()

    def test_tsfile_replaced_by_fifo(self):
        self.start()
        self.baseline()
        some = sorted(p for p in expected_tree(self.data) if p.endswith(".tsfile"))[0]
        path = os.path.join(self.data, some)
        saved = path + ".saved"
        os.rename(path, saved)
        os.mkfifo(path)
        self.failed_run("E_SOURCE_READ", some, "not a regular file")
        self.assertIntact()
        os.remove(path)
        os.rename(saved, path)
        self.recovers()

    def test_partition_unreadable(self):
        prefix = None
        if os.geteuid() == 0:
            # Root reads a mode 000 directory: run the daemon (and so its
            # workers) without the capabilities that let it.
            setpriv = shutil.which("setpriv")
            if not setpriv:
                self.skipTest("running as root and setpriv (util-linux) is missing")
            drop = "-dac_override,-dac_read_search"
            prefix = [setpriv, "--bounding-set", drop, "--inh-caps", drop]
        self.start(prefix=prefix)
        self.baseline()
        some = sorted(p for p in expected_tree(self.data) if p.endswith(".tsfile"))[0]
        part = os.path.join(self.data, os.path.dirname(some))
        os.chmod(part, 0)
        self.addCleanup(os.chmod, part, 0o755)
        self.failed_run("E_SOURCE_READ", os.path.dirname(some))
        os.chmod(part, 0o755)
        self.assertIntact()
        self.recovers()

    def test_compaction_never_ends(self):
        self.start()
        self.baseline()
        some = sorted(p for p in expected_tree(self.data) if p.endswith(".tsfile"))[0]
        part = os.path.join(self.data, os.path.dirname(some))
        log = os.path.join(part, "1-1-0-0.inner-compaction.log")
        with open(log, "w") as f:
            f.write("source 1-1-0-0.tsfile\n")
        self.failed_run("E_SOURCE_BUSY", os.path.dirname(some), "compaction")
        self.assertIntact()
        os.remove(log)
        self.recovers()

    def test_compaction_racing_the_snapshot(self):
        """A thread compacts one partition over and over while the run stages:
        TsFiles vanish between listing and linking. The run either completes
        with one consistent generation of that partition or fails busy."""
        self.start(settings={"log_level": "debug"})  # the rescans are logged at debug
        self.baseline()
        some = sorted(p for p in expected_tree(self.data) if p.endswith(".tsfile"))[0]
        rel_part = os.path.dirname(some)
        part = os.path.join(self.data, rel_part)
        generations = []  # the partition's backed-up file set after each step
        stop = threading.Event()

        def part_set():
            return sorted(n for n in os.listdir(part) if not n.endswith("compaction.log"))

        def compact_forever():
            gen = 0
            generations.append(part_set())
            while not stop.is_set():
                gen += 1
                # What IoTDB's inner compaction does: log, write the merged
                # file, delete the sources, remove the log.
                names = [n for n in os.listdir(part) if n.endswith(".tsfile")]
                new = "%d-%d-1-0.tsfile" % (2000000000000 + gen, 900 + gen)
                log = os.path.join(part, new + ".inner-compaction.log")
                with open(log, "w") as f:
                    f.write("\n".join(names) + "\n")
                with open(os.path.join(part, new), "wb") as f:
                    f.write(b"TsFile\x03" + os.urandom(2048) + b"TsFile")
                with open(os.path.join(part, new + ".resource"), "wb") as f:
                    f.write(b"\x01" + os.urandom(32))
                for n in names:
                    for suffix in ("", ".resource", ".mods"):
                        try:
                            os.remove(os.path.join(part, n + suffix))
                        except FileNotFoundError:
                            pass
                os.remove(log)
                generations.append(part_set())

        racer = threading.Thread(target=compact_forever, daemon=True)
        racer.start()
        try:
            r = self.sb.ctl("run", "cycle", "--wait", "--json", timeout=120)
            res = json.loads(r.stdout)
        finally:
            stop.set()
            racer.join(10)
        self.assertGreater(len(generations), 2, "the racer did not run")
        log = self.sb.daemons[-1].log()
        self.assertRegex(log, r"partition \S*%s\S*: .*rescanning|partition \S*%s changed"
                         % (rel_part, rel_part), "the run never saw the partition change")
        if res["result"] == "failed":
            note_outcome(self, res)
            self.assertEqual(res.get("error_code"), "E_SOURCE_BUSY", res)
            self.assertIn(rel_part, res["error"])
        else:
            self.assertEqual(res["result"], "succeeded", res)
            got = self.restore(res["copy"], label="raced")
            in_copy = sorted(os.path.basename(p) for p in got
                             if os.path.dirname(p) == rel_part)
            self.assertIn(in_copy, generations,
                          "the copy holds a mix of compaction generations")
            for p, data in got.items():
                if os.path.dirname(p) == rel_part and p.endswith(".tsfile"):
                    self.assertTrue(data.startswith(b"TsFile") and data.endswith(b"TsFile"), p)
            # Outside the raced partition the copy is the source as it is.
            rest = {p: b for p, b in self.expected().items() if os.path.dirname(p) != rel_part}
            self.assertEqual({p: b for p, b in got.items() if os.path.dirname(p) != rel_part},
                             rest)
            self.states[res["copy"]] = got
        self.assertIntact()
        self.recovers()

    def test_insertion_compaction_racing_the_snapshot(self):
        """Insertion compaction moves unsequence files into sequence/ while
        runs stage (three runs): a successful copy holds every file that
        existed all through the run exactly once, in one of the two spaces,
        byte for byte; files sealed during the run at most once. Else the run
        fails busy naming the partition."""
        staging = os.path.join(self.sb.root, "staging")
        self.start(settings={"log_level": "debug", "staging_dir": staging})
        self.baseline()
        some = sorted(p for p in expected_tree(self.data)
                      if p.startswith("unsequence/") and p.endswith(".tsfile"))[0]
        rel_un = os.path.dirname(some)
        part = rel_un.split("/", 1)[1]
        rel_seq = "sequence/" + part
        un, seq = os.path.join(self.data, rel_un), os.path.join(self.data, rel_seq)
        os.makedirs(seq, exist_ok=True)
        outcomes = []
        for rnd in range(3):
            with InsertionRacer(rnd, staging, un, seq) as racer:
                r = self.sb.ctl("run", "cycle", "--wait", "--json", timeout=120)
                res = json.loads(r.stdout)
            self.assertTrue(racer.moved, "the racer did not run")
            outcomes.append(res["result"])
            if res["result"] == "failed":
                note_outcome(self, res)
                self.assertEqual(res.get("error_code"), "E_SOURCE_BUSY", res)
                self.assertIn(part, res["error"])
                continue
            self.assertEqual(res["result"], "succeeded", res)
            got = self.restore(res["copy"], label="inserted-%d" % rnd)
            for name, body in racer.data.items():
                places = [rel_un + "/" + name]
                if name in racer.moved:
                    places.append(rel_seq + "/" + racer.moved[name])
                found = [p for p in places if p in got]
                if name in racer.before:
                    self.assertEqual(len(found), 1, "%s: in the copy as %s" % (name, found))
                else:
                    self.assertLessEqual(len(found), 1, "%s: in the copy as %s" % (name, found))
                for p in found:
                    self.assertTrue(got[p] == body, p)
                    self.assertIn(p + ".resource", got)
            self.states[res["copy"]] = got
        print("insertion racer outcomes: %s" % outcomes)
        self.assertIntact()
        self.recovers()


class InsertionRacer:
    """IoTDB's insertion compaction on one partition: seal unsequence files,
    and move them into sequence/ the way IoTDB does (log, hard link under a
    new name, delete the source, remove the log). It starts when the run's
    snapshot does (its staging dir appears) and moves files in bursts with
    pauses, so that a rescan can find the partition still."""

    def __init__(self, rnd, staging, un, seq):
        self.rnd, self.staging, self.un, self.seq = rnd, staging, un, seq
        self.data = {}  # unsequence name -> bytes of every racing TsFile
        self.moved = {}  # unsequence name -> its name in sequence/
        self.counter = itertools.count()
        self.stop = threading.Event()
        self.before = [self.seal() for _ in range(20)]  # there all through the run
        self.thread = threading.Thread(target=self.race, daemon=True)

    def seal(self):
        i = next(self.counter)
        base = 100000 * (self.rnd + 1) + i
        name = "%d-%d-0-0.tsfile" % (3000000000000 + base, base)
        body = b"TsFile\x03" + os.urandom(512) + b"TsFile"
        with open(os.path.join(self.un, name), "wb") as f:
            f.write(body)
        tmp = os.path.join(self.un, name + ".resource.temp")
        with open(tmp, "wb") as f:
            f.write(b"\x01" + os.urandom(16))
        os.rename(tmp, os.path.join(self.un, name + ".resource"))  # sealed now
        self.data[name] = body
        return name

    def insert(self, name):
        new = name.replace("-0-0.tsfile", "-0-1.tsfile")
        log = os.path.join(self.seq, new + ".insertion-compaction.log")
        with open(log, "w") as f:
            f.write(name + "\n")
        for suffix in ("", ".resource"):
            os.link(os.path.join(self.un, name + suffix), os.path.join(self.seq, new + suffix))
        for suffix in ("", ".resource"):
            os.remove(os.path.join(self.un, name + suffix))
        os.remove(log)
        self.moved[name] = new

    def race(self):
        while not self.stop.is_set() and not glob.glob(os.path.join(self.staging, "run-*")):
            time.sleep(0.0005)
        pending = list(self.before)
        while not self.stop.is_set():
            for _ in range(3):
                insert_now = pending.pop(0) if pending else self.seal()
                self.insert(insert_now)
                pending.append(self.seal())
            time.sleep(random.uniform(0.01, 0.06))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


class TestRestFaults(LocalFaults):
    """source.rest configured: REST down or answering errors fails the run
    before anything is staged or sent (the operator asked for a flush; a copy
    without it would silently miss the working files)."""

    def setUp(self):
        super().setUp()
        self.servers = []
        self.addCleanup(self.stop_servers)
        self.password_file = os.path.join(self.sb.root, "iotdb.password")
        with open(self.password_file, "w") as f:
            f.write("s3cret\n")
        os.chmod(self.password_file, 0o600)

    def stop_servers(self):
        for p in self.servers:
            p.terminate()
            p.wait(10)
            p.stdout.close()
        self.servers = []

    def start_rest(self, *extra):
        proc = subprocess.Popen([ibtest.sys.executable, REST_SERVER, "--port", "0", "--data-dir",
                                 self.data, "--password", "s3cret"] + list(extra),
                                stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        self.servers.append(proc)
        line = proc.stdout.readline()
        self.assertRegex(line, r"^(listening|down) on \d+")
        return "http://127.0.0.1:%d" % int(line.split()[-1])

    def rest_task(self, url):
        task = self.sb.local_task(self.data, databases=["root.ln"], max_copies=5)
        task["source"]["rest"] = {"url": url, "user": "root",
                                  "password_file": self.password_file}
        if self.sb.daemons:
            self.change_task(task)
        else:
            self.sb.write_task("cycle", task)

    def expected(self):
        return {p: b for p, b in expected_tree(self.data).items() if "/root.ln/" in p}

    def assertRestFault(self, extra, *needles):
        self.rest_task(self.start_rest())
        self.sb.start_daemon()
        self.baseline()
        before = os.listdir(self.task_dir())
        self.stop_servers()
        url = self.start_rest(*extra)
        self.rest_task(url)
        res = self.failed_run("E_REST", *needles)
        self.assertEqual(os.listdir(self.task_dir()), before, "a failed REST call touched the copy")
        self.assertIntact(verify=False)
        r = self.sb.ctl("verify", "cycle")  # verify names the REST problem too
        self.assertRc(r, 1)
        self.assertIn("REST API at " + url, r.stdout)
        self.stop_servers()
        self.rest_task(self.start_rest())
        self.recovers()
        return res

    def test_rest_down(self):
        self.assertRestFault(["--down"], "cannot reach", "127.0.0.1")

    def test_rest_wrong_password(self):
        self.assertRestFault(["--password", "other"], "authentication failed",
                             "WRONG_LOGIN_PASSWORD", "127.0.0.1")

    def test_rest_http_500(self):
        self.assertRestFault(["--http-error", "500"], "HTTP 500", "127.0.0.1")

    def test_rest_malformed_json(self):
        self.assertRestFault(["--malformed"], "SHOW DATABASES", "not a JSON object",
                             "127.0.0.1")


@unittest.skipIf(not os.path.exists(FAKETIME_LIB),
                 "libfaketime is not installed (Debian package faketime)")
class TestClockSteps(LocalFaults):
    """The daemon and its worker under libfaketime, the offset read from a file
    on every call: the wall clock steps while the monotonic clock does not,
    as with an NTP step or an operator's `date -s`."""

    def setUp(self):
        super().setUp()
        self.clock = os.path.join(self.sb.root, "faketime")
        self.set_clock("+0")
        env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME_TIMESTAMP_FILE": self.clock,
               "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
               "NO_FAKE_STAT": "1",
               # ASan wants its runtime first; libfaketime only wraps time calls.
               "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:verify_asan_link_order=0"}
        self.start(env=env, max_copies=3)
        task = self.read_task()
        task["target"]["max_bandwidth_mbps"] = 2
        self.change_task(task)

    def set_clock(self, offset):
        tmp = self.clock + ".tmp"
        with open(tmp, "w") as f:
            f.write(offset + "\n")
        os.replace(tmp, self.clock)

    def run_stepping(self, offset, seed):
        """A run sending about 1 MB during which the wall clock steps to offset
        (relative to real time)."""
        self.sb.grow_data("--seed", str(seed), "--new-files", "4", "--size-kb", "256",
                          data_dir=self.data)
        task_dir = self.task_dir(target=self.target)
        had = len(live_files(task_dir))
        proc = subprocess.Popen([ibtest.CTL] + self.sb.dir_args()
                                + ["run", "cycle", "--wait", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)
        ibtest.wait_for(lambda: len(live_files(task_dir)) > had, timeout=30,
                        what="the run to start sending")
        self.set_clock(offset)
        out, err = proc.communicate(timeout=ibtest.scaled(120))
        res = json.loads(out)
        self.assertEqual(res.get("result"), "succeeded", (out, err))
        self.assertLess(len(live_files(task_dir)) - had, res["files_sent"] + 1)
        self.states[res["copy"]] = expected_tree(self.data)
        return res

    def test_clock_stepped_back_and_forward_during_runs(self):
        full = self.baseline()
        back = self.run_stepping("-2h", seed=8)
        # The clock is behind the full copy: the new copy keeps its stamp
        # with the next suffix, so it still sorts after it (copy order).
        self.assertEqual(back["copy"][:16], full["copy"][:16])
        self.assertTrue(back["copy"].endswith("-2"), back["copy"])
        self.assertIntact()
        fwd = self.run_stepping("+0", seed=10)
        self.assertIntact()
        self.assertIn(back["copy"], self.states)
        self.assertIn(fwd["copy"], self.states)
        self.assertGreater(fwd["copy"][:16], full["copy"][:16])
        # max_copies 3, three copies: nothing pruned, nothing overwritten.
        self.assertEqual(len(self.copies()), 3)

    def test_pruning_after_clock_stepped_back_keeps_the_newest(self):
        """The copy made while the clock was 2 h behind is the newest data;
        the next prune must drop the oldest copy, not it."""
        first = self.baseline()
        self.set_clock("-2h")
        back = self.run_task()
        self.states[back["copy"]] = expected_tree(self.data)
        self.grow_more(seed=8)
        self.set_clock("+0")
        third = self.run_task()
        self.states[third["copy"]] = expected_tree(self.data)
        self.grow_more(seed=10)
        fourth = self.run_task()  # max_copies 3: one copy goes
        self.states[fourth["copy"]] = expected_tree(self.data)
        names = [c["name"] for c in self.copies()]
        self.assertIn(fourth["copy"], names)
        self.assertIn(third["copy"], names)
        # The oldest copy (first) is pruned, the copy made with the clock
        # behind is kept (ib_copy_name_next keeps names in copy order).
        self.assertEqual(sorted(names), sorted([back["copy"], third["copy"], fourth["copy"]]),
                         "pruned the wrong copy: first %s, back %s" % (first["copy"],
                                                                        back["copy"]))


class WebHdfsFaults(FaultMixin, WebHdfsCycleTest):
    def setUp(self):
        super().setUp()
        self.task = self.write_task(max_copies=5)
        self.sb.start_daemon()
        self.baseline()

    def grow_more(self, seed=7):
        self.grow("--seed", str(seed), "--new-files", "2")

    def assertIntact(self):
        self.hdfs.admin("/admin/clear", {})
        FaultMixin.assertIntact(self)


class TestWebHdfsFaultMatrix(WebHdfsFaults):
    def test_namenodes_not_listening(self):
        port = dead_port()
        task = self.read_task()
        task["target"]["namenode_http_port"] = port
        self.change_task(task)
        started = time.monotonic()
        res = self.failed_run("E_TARGET_UNREACHABLE", ":%d" % port, "Failed to connect",
                              "namenode_http_port")
        # Both NameNodes are tried (the last one tried is named), within the
        # default retry budget.
        self.assertRegex(res["error"], r"127\.0\.0\.[12]:%d" % port)
        self.assertLess(time.monotonic() - started, ibtest.scaled(90))
        task["target"]["namenode_http_port"] = self.hdfs.port
        self.change_task(task)
        self.assertIntact()
        self.recovers()

    def test_500_burst_on_namenode_and_datanode(self):
        self.hdfs.admin("/admin/fault", {"kind": "status", "code": 500, "count": 3,
                                         "node": "nn0"})
        self.hdfs.admin("/admin/fault", {"kind": "status", "code": 503, "count": 3,
                                         "node": "dn", "op": "CREATE"})
        self.hdfs.admin("/admin/fault", {"kind": "status", "code": 502, "count": 2,
                                         "op": "CREATESNAPSHOT"})
        res = self.run_task()
        self.assertEqual(self.hdfs.admin("/admin/stats")["faults"], 0)
        self.states[res["copy"]] = expected_tree(self.data)
        self.assertIntact()
        self.grow_more(seed=8)
        self.recovers()

    @unittest.skipUnless(knows_key("retry_attempts"),
                         "the daemon has no target.retry_attempts yet: with the default budget "
                         "(10 attempts, waits up to 15 s) a storm past it takes minutes")
    def test_5xx_storm_past_the_retry_budget(self):
        task = self.read_task()
        task["target"]["retry_attempts"] = 3
        task["target"]["retry_max_wait_s"] = 1
        self.change_task(task)
        self.hdfs.admin("/admin/fault", {"kind": "status", "code": 503, "count": 100000})
        started = time.monotonic()
        res = self.run_task(expect="failed")
        note_outcome(self, res)
        self.assertLess(time.monotonic() - started, ibtest.scaled(60))
        self.assertEqual(res.get("error_code"), "E_TARGET_UNREACHABLE", res)
        self.assertRegex(res["error"], r"http 503 \(.*\) to all 3 attempts")
        self.assertIn("HINT", res["error"])
        self.assertIntact()  # clears the storm first
        self.recovers()

    def test_slow_server_completes(self):
        # Slower than a person would wait, faster than the stall timeout.
        self.hdfs.admin("/admin/fault", {"kind": "slow", "delay": 1.5, "count": 3})
        self.hdfs.admin("/admin/fault", {"kind": "slow", "delay": 1.5, "count": 1,
                                         "node": "dn", "op": "CREATE"})
        res = self.run_task()
        self.assertEqual(self.hdfs.admin("/admin/stats")["faults"], 0)
        self.states[res["copy"]] = expected_tree(self.data)
        self.assertIntact()

    def test_namespace_quota_exceeded(self):
        summary = self.hdfs.call("GET", "/backup", "GETCONTENTSUMMARY")[1]["ContentSummary"]
        used = summary["directoryCount"] + summary["fileCount"]
        self.hdfs.admin("/admin/quota", {"path": "/backup", "ns_quota": used + 1})
        res = self.failed_run("E_TARGET_SPACE", "Quota")
        self.assertIn("HINT", res["error"])
        self.hdfs.admin("/admin/quota", {"path": "/backup", "ns_quota": -1})
        self.assertIntact()
        self.recovers()


if __name__ == "__main__":
    unittest.main()
