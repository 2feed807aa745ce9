"""The system under test: the real iotdb-backupd with its own config, state
and runtime dirs, driven by iotdb-backupctl."""

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import time

from . import measure

SYSTEMD_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "LISTEN_FDS",
                "LISTEN_PID", "RUNTIME_DIRECTORY", "STATE_DIRECTORY", "CONFIGURATION_DIRECTORY")


class Notify:
    """An sd_notify socket: READY=1 arrives as a datagram."""

    def __init__(self, path):
        self.path = path
        if os.path.exists(path):
            os.remove(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)

    def wait_ready(self, proc, timeout):
        """Seconds until READY=1, failing if proc exits or timeout passes."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("iotdb-backupd not ready within %.0f s" % timeout)
            if proc.poll() is not None:
                raise RuntimeError("iotdb-backupd exited with %s before READY=1" % proc.returncode)
            self.sock.settimeout(min(left, 0.2))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if b"READY=1" in data.split(b"\n"):
                return

    def close(self):
        self.sock.close()


class System:
    """Directories and processes of one daemon instance under root."""

    def __init__(self, build_dir, root):
        self.daemon_bin = os.path.join(build_dir, "iotdb-backupd")
        self.ctl_bin = os.path.join(build_dir, "iotdb-backupctl")
        self.root = root
        self.config_dir = os.path.join(root, "config")
        self.tasks_dir = os.path.join(self.config_dir, "tasks.d")
        self.state_dir = os.path.join(root, "state")
        self.runtime_dir = os.path.join(root, "run")
        for d in (self.tasks_dir, self.state_dir, self.runtime_dir):
            os.makedirs(d, exist_ok=True)
        self.proc = None
        self.log = None

    def dir_args(self):
        return ["--config-dir", self.config_dir, "--state-dir", self.state_dir,
                "--runtime-dir", self.runtime_dir]

    def write_settings(self, settings):
        with open(os.path.join(self.config_dir, "iotdb-backupd.conf"), "w") as f:
            json.dump(settings, f)

    def write_task(self, name, task):
        path = os.path.join(self.tasks_dir, name + ".json")
        with open(path + ".tmp~", "w") as f:
            json.dump(task, f)
        os.replace(path + ".tmp~", path)

    def reset_state(self):
        shutil.rmtree(self.state_dir, ignore_errors=True)
        os.makedirs(self.state_dir)

    def start(self, timeout=120.0):
        """Start the daemon; returns the seconds until it sent READY=1."""
        notify = Notify(os.path.join(self.root, "notify.sock"))
        env = {k: v for k, v in os.environ.items() if k not in SYSTEMD_VARS}
        env["NOTIFY_SOCKET"] = notify.path
        self.log = open(os.path.join(self.root, "daemon.log"), "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([self.daemon_bin] + self.dir_args(), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log, env=env)
        try:
            notify.wait_ready(self.proc, timeout)
            return time.monotonic() - t0
        except RuntimeError:
            self.stop()
            raise
        finally:
            notify.close()

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None

    def ctl(self, *args, check=True, timeout=3600):
        r = subprocess.run([self.ctl_bin] + self.dir_args() + list(args), capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise RuntimeError("iotdb-backupctl %s exited %d: %s %s"
                               % (" ".join(args), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
        return r

    def wait_no_worker(self, timeout=30.0):
        """Until the daemon has reaped its workers (their CPU is then counted)."""
        deadline = time.monotonic() + timeout
        while measure.children(self.pid) and time.monotonic() < deadline:
            time.sleep(0.005)

    def measured_run(self, task, *flags):
        """`run TASK flags --wait --json`: wall time of the command, CPU of the
        daemon, its worker and the CLI, peak RSS of daemon + worker."""
        self.wait_no_worker()
        cpu0 = measure.cpu_seconds_with_children(self.pid)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        sampler = measure.PeakSampler([self.pid]).start()
        t0 = time.monotonic()
        r = self.ctl("run", task, *flags, "--wait", "--json", check=False)
        wall = time.monotonic() - t0
        self.wait_no_worker()
        peak = sampler.stop()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (measure.cpu_seconds_with_children(self.pid) - cpu0
               + (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime))
        try:
            out = json.loads(r.stdout)
        except ValueError:
            out = {}
        if r.returncode != 0 or out.get("result") != "succeeded":
            raise RuntimeError("run %s failed (exit %d): %s %s" % (task, r.returncode,
                                                                  r.stdout[-2000:], r.stderr[-2000:]))
        return measure.Result(wall, cpu, peak, {"run": out})

    def measured_ctl(self, *args):
        """A local CLI command (restore): its wall time, CPU and peak RSS."""
        cmd = [self.ctl_bin] + self.dir_args() + list(args)
        return measure.run_peer(cmd, capture=True)
