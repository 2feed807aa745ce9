"""Workload 3: full backup to WebHDFS against tests/tools/webhdfs_server.py.

Peers: curl doing the two-step CREATE (NameNode, then the DataNode it
redirects to) for every file, sequentially and with xargs -P 4; and the
server alone (curl uploading from /dev/zero) for the ceiling."""

import json
import os
import shutil
import socket
import subprocess
import sys

from . import measure, report
from .daemon import System

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(os.path.dirname(HERE), "tests", "tools", "webhdfs_server.py")
CURL_PUT = os.path.join(HERE, "curl_put")
GIB = 1 << 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The WebHDFS test server on fixed ports, restartable with empty storage."""

    def __init__(self, root):
        self.root = root
        self.ports = [free_port() for _ in range(4)]
        self.proc = None

    @property
    def nn(self):
        return self.ports[0]

    def start(self):
        storage = os.path.join(self.root, "storage")
        shutil.rmtree(storage, ignore_errors=True)
        os.makedirs(storage)
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--storage", storage,
             "--nn-ports", "%d,%d" % (self.ports[0], self.ports[1]),
             "--dn-port", str(self.ports[2]), "--admin-port", str(self.ports[3])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the WebHDFS test server did not start")
        return json.loads(line)

    def stop(self):
        if self.proc:
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def base_url(self):
        return "http://127.0.0.1:%d/webhdfs/v1" % self.nn


def hdfs_task(b, nn_port):
    return {"mode": "manual", "policy": "full-then-incremental",
            "source": {"data_dirs": [b.data_hdfs], "databases": b.sets["hdfs"]["databases"]},
            "target": {"path_type": "RemoteHDFS", "nameservice": "hacluster",
                       "ip_mode": "IPv4", "active_namenode": "127.0.0.1",
                       "namenode_http_port": nn_port, "target_path": "/backup/bench",
                       "max_copies": 1000, "parallel_uploads": 4,
                       "auth": {"mode": "simple", "user": "hdfs"}}}


def curl_peer(server, src, prefix, parallel):
    """Every file of src through curl's two-step CREATE, `parallel` at once."""
    files = sorted(data_files(src))
    listing = "\0".join(files).encode() + b"\0"
    cmd = ["xargs", "-0", "-P", str(parallel), "-n", "8", CURL_PUT, server.base_url() + prefix,
           src]
    return measure.run_peer(["sh", "-c", 'exec "$@" < "$0"', write_tmp(server.root, listing)]
                            + cmd)


def write_tmp(root, content):
    path = os.path.join(root, "files.list")
    with open(path, "wb") as f:
        f.write(content)
    return path


def data_files(src):
    for dirpath, _dirs, names in os.walk(src):
        for n in names:
            yield os.path.relpath(os.path.join(dirpath, n), src)


def ceiling(server, nbytes, streams):
    """curl uploading nbytes of zeros (a sparse file: no disk reads) as
    `streams` parallel files: what the server takes at best."""
    each = nbytes // streams
    zero = os.path.join(server.root, "zero")
    with open(zero, "wb") as f:
        f.truncate(each)
    script = ('for i in $(seq 1 %d); do "%s" -f "%s" "%s/ceiling/f$i" & done; wait'
              % (streams, CURL_PUT, zero, server.base_url()))
    return measure.run_peer(["bash", "-c", script])


def run_workload(b):
    """Runs workload 3 into b's tables; returns a reason string when skipped."""
    if not shutil.which("curl"):
        return "curl not installed"
    root = os.path.join(b.w, "hdfs")
    server = Server(root)
    s = System(b.build_dir, os.path.join(root, "sys"))
    try:
        server.start()
        s.write_settings({"max_parallel_runs": 1, "log_level": "info"})
        s.write_task("hdfs", hdfs_task(b, server.nn))
        s.start()
        probe = s.ctl("run", "hdfs", "--full", "--wait", "--json", check=False)
        if probe.returncode != 0:
            try:
                msg = json.loads(probe.stdout).get("error") or probe.stderr
            except ValueError:
                msg = probe.stdout + probe.stderr
            if "not available" in msg:
                return "RemoteHDFS not available (%s)" % msg.strip()
            raise RuntimeError("WebHDFS run failed: %s" % msg)
        return measure_runs(b, server, s)
    finally:
        s.stop()
        server.stop()


def measure_runs(b, server, s):
    src = b.data_hdfs
    nbytes = b.sets["hdfs"]["bytes"]
    ours = report.Row("iotdb-backupd run --full (RemoteHDFS)", nbytes, ours=True)
    seq = report.Row("curl CREATE, sequential", nbytes)
    par = report.Row("curl CREATE, xargs -P 4", nbytes)
    ceil1 = report.Row("server ceiling: 1 curl from /dev/zero", nbytes)
    ceil4 = report.Row("server ceiling: 4 curls from /dev/zero", nbytes)
    for i in range(b.a.runs):
        b_log("workload 3: run %d/%d" % (i + 1, b.a.runs))
        s.stop()
        server.stop()
        server.start()
        s.start()
        ours.add(s.measured_run("hdfs", "--full"))
        seq.add(curl_peer(server, src, "/peer-seq", 1))
        par.add(curl_peer(server, src, "/peer-par", 4))
        ceil1.add(ceiling(server, nbytes, 1))
        ceil4.add(ceiling(server, nbytes, 4))
    best = max((ceil1, ceil4), key=lambda r: nbytes / r.wall())
    notes = ["ours / ceiling throughput: %.2f (target >= 0.80); ours / xargs -P 4: %.2f "
             "(target >= 1.0)" % (best.wall() / ours.wall(), par.wall() / ours.wall())]
    s_ = b.sets["hdfs"]
    b.add_table("3", "workload 3: full backup to WebHDFS (test server): %d files, %.3f GiB"
                % (s_["files"], s_["bytes"] / GIB),
                [ours, seq, par, ceil1, ceil4], notes)
    return None


def b_log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)
