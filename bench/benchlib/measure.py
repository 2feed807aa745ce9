"""Measuring processes: wall time, CPU seconds and peak RSS of a process tree.

Peak RSS is the highest sum, over the processes of a tree alive at the
same time, of each one's VmHWM (its own peak), sampled from /proc every
10 ms while the tree runs: an upper bound of the tree's simultaneous peak,
measured the same way for this project and its peers. CPU seconds come from the kernel's accounting (wait4 for peers,
/proc/<pid>/stat cumulative fields for the daemon and its reaped workers).
"""

import os
import subprocess
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
SAMPLE_INTERVAL = 0.01


def children(pid):
    """Direct children of pid (of every thread of it), [] when it is gone."""
    out = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def tree(pid):
    """pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


def status_fields(pid, keys):
    """{key: int} of /proc/<pid>/status lines (kB values as KiB)."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in keys:
                    out[k] = int(v.split()[0])
    except (OSError, ValueError):
        pass
    return out


def hwm_kib(pid):
    return status_fields(pid, ("VmHWM",)).get("VmHWM", 0)


def rss_kib(pid):
    return status_fields(pid, ("VmRSS",)).get("VmRSS", 0)


def cpu_seconds_with_children(pid):
    """utime + stime + cutime + cstime of pid (reaped children included)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3): utime is field 14 -> index 11.
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def context_switches(pid):
    """Voluntary + involuntary context switches of every thread of pid."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class PeakSampler:
    """Samples the processes in the trees of `roots` (pids) until stopped:
    peak_kib() is the highest sum, over the processes alive at one sample, of
    their VmHWM (each one's own peak so far), excluding pids in `exclude`.
    Processes that ran one after the other are not added up."""

    def __init__(self, roots, exclude=()):
        self.roots = list(roots)
        self.exclude = set(exclude)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self):
        total = 0
        for root in self.roots:
            for pid in tree(root):
                if pid not in self.exclude:
                    total += hwm_kib(pid)
        self.peak = max(self.peak, total)

    def _loop(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(SAMPLE_INTERVAL)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._sample()
        self._stop.set()
        self._thread.join()
        return self.peak_kib()

    def peak_kib(self):
        return self.peak


class Result:
    """One measured run."""

    def __init__(self, wall, cpu, peak_kib, extra=None):
        self.wall = wall
        self.cpu = cpu
        self.peak_kib = peak_kib
        self.extra = extra or {}

    def as_dict(self):
        return {"wall_s": self.wall, "cpu_s": self.cpu, "peak_rss_kib": self.peak_kib,
                **self.extra}


GNU_TIME = "/usr/bin/time"


def run_peer(cmd, cwd=None, env=None, capture=False):
    """Run a peer command; measure wall time, CPU (wait4, its whole tree)
    and peak RSS: sampled, and at least what GNU time reports (the largest
    single process, when /usr/bin/time is installed). Fails on a non-zero exit."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as tm:
        if os.access(GNU_TIME, os.X_OK):
            cmd = [GNU_TIME, "-q", "-f", "%M", "-o", tm.name] + list(cmd)
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                             stdout=out if capture else subprocess.DEVNULL, stderr=err)
        sampler = PeakSampler([p.pid], exclude=[p.pid] if cmd[0] == GNU_TIME else []).start()
        _pid, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        peak = sampler.stop()
        p.returncode = os.waitstatus_to_exitcode(status)
        try:
            peak = max(peak, int(tm.read().split()[-1]))
        except (ValueError, IndexError):
            pass
        out.seek(0)
        err.seek(0)
        text, errtext = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if p.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), p.returncode, errtext[-2000:]))
    return Result(wall, ru.ru_utime + ru.ru_stime, peak, {"stdout": text} if capture else None)


def median(values):
    v = sorted(values)
    n = len(v)
    if n == 0:
        return float("nan")
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
