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
import tempfile
import urllib.request

from . import measure, report
from .daemon import System

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(os.path.dirname(HERE), "tests", "tools", "webhdfs_server.py")
CURL_PUT = os.path.join(HERE, "curl_put")
CURL_BATCH = os.path.join(HERE, "curl_batch")
GIB = 1 << 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tmpfs_with_room(nbytes, mounts="/proc/mounts", where="/dev/shm"):
    """where, when it is a tmpfs we may write with room for nbytes."""
    try:
        with open(mounts) as f:
            if not any(line.split()[1:3] == [where, "tmpfs"] for line in f):
                return None
        st = os.statvfs(where)
    except OSError:
        return None
    if st.f_bavail * st.f_frsize < nbytes or not os.access(where, os.W_OK):
        return None
    return where


class Server:
    """The WebHDFS test server on fixed ports, restartable with empty storage.

    Its storage is on a tmpfs when one has room for two copies of the data
    (ours stays, each peer's is deleted after it is measured): a real
    cluster's disks are other machines', and on this machine's disk the
    server's file creations and writes would compete with the source being
    read and, after each restart's removal of the last run's files, cost
    ext4's recently-deleted inode scans that no cluster pays."""

    def __init__(self, root, build_dir, nbytes):
        self.root = root
        # The server's DataNode path in C, when the build has it (not in a
        # sanitizer build): the benchmark measures the client, not Python.
        self.dn_lib = os.path.join(build_dir, "tests", "libwebhdfs_dn.so")
        self.ports = [free_port() for _ in range(4)]
        self.proc = None
        shm = tmpfs_with_room(2 * nbytes + (256 << 20))
        self.storage_base = tempfile.mkdtemp(prefix="iotdb-bench-webhdfs-", dir=shm) if shm \
            else root
        self.storage_kind = "tmpfs" if shm else "the work directory's file system"

    @property
    def nn(self):
        return self.ports[0]

    def cpu_seconds(self):
        """The server process's CPU time so far (user + system)."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def delete(self, path):
        """A peer's files go once measured (recursive DELETE)."""
        req = urllib.request.Request(self.base_url() + path +
                                     "?op=DELETE&recursive=true&user.name=hdfs", method="DELETE")
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()

    def start(self):
        storage = os.path.join(self.storage_base, "storage")
        shutil.rmtree(storage, ignore_errors=True)
        os.makedirs(storage)
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--storage", storage,
             "--nn-ports", "%d,%d" % (self.ports[0], self.ports[1]),
             "--dn-port", str(self.ports[2]), "--admin-port", str(self.ports[3])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=dict(os.environ, **({"WEBHDFS_DN_LIB": self.dn_lib}
                                    if os.path.exists(self.dn_lib) else {})))
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

    def remove_storage(self):
        shutil.rmtree(os.path.join(self.storage_base, "storage"), ignore_errors=True)
        if self.storage_base != self.root:
            shutil.rmtree(self.storage_base, ignore_errors=True)

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


def curl_batch(server, src, prefix, parallel):
    """Every file of src through curl_batch: the two-step CREATE by two curl
    processes with kept connections, `parallel` transfers at once."""
    listing = "".join(rel + "\n" for rel in sorted(data_files(src))).encode()
    return measure.run_peer(["sh", "-c", 'exec "$@" < "$0"', write_tmp(server.root, listing),
                             CURL_BATCH, server.base_url() + prefix, src, str(parallel)])


def sparse_copy(src, dst):
    """The files of src as sparse files of the same names and sizes in dst:
    zeros that cost no disk reads, for the per-file ceiling."""
    shutil.rmtree(dst, ignore_errors=True)
    for rel in data_files(src):
        path = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.truncate(os.path.getsize(os.path.join(src, rel)))
    return dst


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
    server = Server(root, b.build_dir, b.sets["hdfs"]["bytes"])
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
        server.remove_storage()


def measure_runs(b, server, s):
    src = b.data_hdfs
    nbytes = b.sets["hdfs"]["bytes"]
    ours = report.Row("iotdb-backupd run --full (RemoteHDFS)", nbytes, ours=True)
    seq = report.Row("curl CREATE, sequential", nbytes)
    par = report.Row("curl CREATE, xargs -P 4", nbytes)
    ceil1 = report.Row("server ceiling: 1 curl from /dev/zero", nbytes)
    ceil4 = report.Row("server ceiling: 4 curls from /dev/zero", nbytes)
    batch = report.Row("curl CREATE, 2 processes, --parallel 4", nbytes)
    ceilf = report.Row("server ceiling: same files, sparse", nbytes)
    sparse = sparse_copy(src, os.path.join(server.root, "sparse"))
    server_cpu = []  # (server CPU s, wall s) of each of our runs
    for i in range(b.a.runs):
        b_log("workload 3: run %d/%d" % (i + 1, b.a.runs))
        s.stop()
        server.stop()
        server.start()
        s.start()
        cpu0 = server.cpu_seconds()
        ours.add(s.measured_run("hdfs", "--full"))
        server_cpu.append((server.cpu_seconds() - cpu0, ours.results[-1].wall))
        seq.add(curl_peer(server, src, "/peer-seq", 1))
        server.delete("/peer-seq")
        par.add(curl_peer(server, src, "/peer-par", 4))
        server.delete("/peer-par")
        ceil1.add(ceiling(server, nbytes, 1))
        server.delete("/ceiling")
        ceil4.add(ceiling(server, nbytes, 4))
        server.delete("/ceiling")
        batch.add(curl_batch(server, src, "/peer-batch", 4))
        server.delete("/peer-batch")
        ceilf.add(curl_batch(server, sparse, "/ceiling-files", 4))
        server.delete("/ceiling-files")
    best = max((ceil1, ceil4), key=lambda r: nbytes / r.wall())
    cpu, wall = sorted(server_cpu, key=lambda cw: cw[1])[len(server_cpu) // 2]
    notes = ["ours / ceiling throughput: %.2f (target >= 0.80); ours / xargs -P 4: %.2f "
             "(target >= 1.0)" % (best.wall() / ours.wall(), par.wall() / ours.wall()),
             "ours / the ceiling for these files (two-step CREATE of each, the minimum any "
             "client sends): %.2f; ours / curl --parallel 4: %.2f"
             % (ceilf.wall() / ours.wall(), batch.wall() / ours.wall()),
             "the server used %.2f CPU s during our median run of %.3f s; its storage: %s"
             % (cpu, wall, server.storage_kind)]
    s_ = b.sets["hdfs"]
    b.add_table("3", "workload 3: full backup to WebHDFS (test server): %d files, %.3f GiB"
                % (s_["files"], s_["bytes"] / GIB),
                [ours, seq, par, batch, ceil1, ceil4, ceilf], notes)
    return None


def b_log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)
