#!/usr/bin/env python3
"""Measure the daemon with many task files: time to READY=1 (empty store and
restart), RSS, the status answer, a reload, and idle wake-ups.

    tests/tools/daemon_scale.py --build-dir build [--tasks 10000] [--runs-per-task 3]
                                [--idle 20] [--metrics] [--workdir /tmp/ib-scale]

--runs-per-task puts that many finished runs per task into the store before
the restart, so the status answer has a last run and a last success to show.
Idle wake-ups are the voluntary context switches of every daemon thread over
--idle seconds (no watchdog is requested). --metrics turns the metrics file on
(<workdir>/metrics.prom). Prints one "name: value" per line.
"""

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time


def task(i, data_dir):
    """A daily task, catch-up skipped, its slot spread over the 12 hours that
    start 6 hours from now: no slot falls due while the script measures (a
    run then would count as wake-ups)."""
    now = time.localtime()
    minute = (now.tm_hour * 60 + now.tm_min + 360 + i % 720) % 1440
    return {"mode": "periodic", "started": "2020-01-01T%02d:%02d:00" % (minute // 60, minute % 60),
            "period": {"every": 1, "unit": "days"}, "catch_up": "skip",
            "policy": "full-then-incremental",
            "source": {"data_dirs": [data_dir], "databases": ["root.db%d" % (i % 7)]},
            "target": {"path_type": "LocalDir", "target_path": "/srv/backup/t%d" % (i % 13),
                       "max_copies": 3}}


class Daemon:
    def __init__(self, build_dir, root):
        self.bin = os.path.join(build_dir, "iotdb-backupd")
        self.root = root
        self.config = os.path.join(root, "config")
        self.state = os.path.join(root, "state")
        self.run = os.path.join(root, "run")
        self.proc = None

    def start(self):
        """Start and wait for READY=1; returns the seconds it took and the
        CPU seconds the daemon used meanwhile (wall time suffers from a busy
        machine)."""
        path = os.path.join(self.root, "notify.sock")
        if os.path.exists(path):
            os.remove(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(0.1)
        env = {k: v for k, v in os.environ.items()
               if k not in ("WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")}
        env["NOTIFY_SOCKET"] = path
        log = open(os.path.join(self.root, "daemon.log"), "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([self.bin, "--config-dir", self.config, "--state-dir",
                                      self.state, "--runtime-dir", self.run],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        log.close()
        try:
            while True:
                if self.proc.poll() is not None:
                    sys.exit("iotdb-backupd exited with %d; see %s/daemon.log"
                             % (self.proc.returncode, self.root))
                if time.monotonic() - t0 > 120:
                    sys.exit("iotdb-backupd not ready after 120 s")
                try:
                    if b"READY=1" in sock.recv(65536).split(b"\n"):
                        return time.monotonic() - t0, self.cpu_seconds()
                except socket.timeout:
                    pass
        finally:
            sock.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)

    def request(self, obj):
        """One control request; returns (answer, seconds, answer bytes)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(os.path.join(self.run, "control.sock"))
        t0 = time.monotonic()
        s.sendall(json.dumps(obj).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            data = s.recv(1 << 20)
            if not data:
                break
            buf += data
        took = time.monotonic() - t0
        s.close()
        return json.loads(buf), took, len(buf)

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def proc_status(self, key):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def voluntary_switches(self):
        total = 0
        for tid in os.listdir("/proc/%d/task" % self.proc.pid):
            with open("/proc/%d/task/%s/status" % (self.proc.pid, tid)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        return total


def add_history(db_path, runs_per_task):
    """Finished runs for every task, the newest one failed, as a real store would hold."""
    con = sqlite3.connect(db_path)
    names = [r[0] for r in con.execute("SELECT name FROM tasks")]
    now = int(time.time())
    rows = []
    for name in names:
        for k in range(runs_per_task):
            failed = k == runs_per_task - 1 and runs_per_task > 1
            start = now - (runs_per_task - k) * 86400
            rows.append((name, "schedule", "full" if k == 0 else "incremental",
                         "failed" if failed else "succeeded", start, start + 42, 10, 3, 12345, 0,
                         None if failed else "20250101T000000Z-full",
                         "E_SOURCE_MISSING" if failed else None,
                         "data dir /x is missing" if failed else None))
    con.executemany("INSERT INTO runs (task, \"trigger\", type, result, start, \"end\","
                    " files_total, files_sent, bytes_sent, files_deleted, copy, error_code, error)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    con.commit()
    con.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--runs-per-task", type=int, default=3)
    ap.add_argument("--idle", type=float, default=20.0)
    ap.add_argument("--metrics", action="store_true", help="write the metrics file too")
    ap.add_argument("--workdir", default="/tmp/ib-scale")
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    d = Daemon(os.path.abspath(a.build_dir), a.workdir)
    os.makedirs(os.path.join(d.config, "tasks.d"))
    os.makedirs(d.state)
    os.makedirs(d.run)
    if a.metrics:
        with open(os.path.join(d.config, "iotdb-backupd.conf"), "w") as f:
            json.dump({"metrics_file": os.path.join(a.workdir, "metrics.prom")}, f)
    data_dir = os.path.join(a.workdir, "data")
    os.makedirs(data_dir)
    for i in range(a.tasks):
        with open(os.path.join(d.config, "tasks.d", "t%05d.json" % i), "w") as f:
            json.dump(task(i, data_dir), f)
    try:
        print("tasks: %d" % a.tasks)
        print("ready, empty store (s): %.3f (%.2f s CPU)" % d.start())
        d.stop()
        if a.runs_per_task > 0:
            add_history(os.path.join(d.state, "iotdb-backupd.db"), a.runs_per_task)
        print("ready, restart with %d runs/task (s): %.3f (%.2f s CPU)"
              % ((a.runs_per_task,) + d.start()))
        print("RSS after ready (MiB): %.1f" % (d.proc_status("VmRSS") / 1024))
        ans, took, size = d.request({"v": 1, "cmd": "status"})
        assert len(ans["tasks"]) == a.tasks, "status lists %d tasks" % len(ans["tasks"])
        print("status (s): %.3f (%d bytes)" % (took, size))
        _, took, _ = d.request({"v": 1, "cmd": "status"})
        print("status again (s): %.3f" % took)
        with open(os.path.join(d.config, "tasks.d", "t00000.json"), "w") as f:
            t = task(0, data_dir)
            t["target"]["max_copies"] = 4
            json.dump(t, f)
        ans, took, _ = d.request({"v": 1, "cmd": "reload"})
        assert ans["ok"] and ans["changed"] == ["t00000"], ans
        print("reload, one task changed (s): %.3f" % took)
        print("peak RSS (VmHWM, MiB): %.1f" % (d.proc_status("VmHWM") / 1024))
        time.sleep(1)
        # Sampled every second: a burst (memory reclaim on a busy host) shows
        # as one active second, a periodic wake-up as many.
        c0 = prev = d.voluntary_switches()
        active = 0
        for _ in range(int(a.idle)):
            time.sleep(1)
            cur = d.voluntary_switches()
            active += cur > prev
            prev = cur
        print("voluntary context switches in %d s idle: %d (in %d of the seconds)"
              % (int(a.idle), prev - c0, active))
        if a.metrics:
            print("metrics file (bytes): %d" % os.path.getsize(os.path.join(a.workdir,
                                                                            "metrics.prom")))
    finally:
        d.stop()


if __name__ == "__main__":
    main()
