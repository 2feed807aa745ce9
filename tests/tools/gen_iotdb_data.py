#!/usr/bin/env python3
"""Generate and grow a realistic IoTDB data dir for tests and the demo.

An IoTDB data dir (dn_data_dirs) holds
  {sequence,unsequence}/<database>/<dataRegionId>/<timePartitionId>/
      <time>-<version>-<innerCnt>-<crossCnt>.tsfile     (TsFile: "TsFile" + version byte ... "TsFile")
      <...>.tsfile.resource                               (exists once the file is sealed)
      <...>.tsfile.mods                                   (text deletions, appended in place)
A tsfile without a .resource is still being written (a working file), and
compaction leaves temporaries (.inner, .cross, ...) and logs
(*-compaction.log) while it runs. A backup takes sealed tsfiles with their
resource and mods, and nothing else.

Commands (every command prints a JSON object on stdout):
  init DIR [--seed N] [--databases root.ln,root.factory_1,root.factory_2]
           [--regions-per-db N] [--partitions N] [--files-per-partition N] [--size-kb N]
      Create a data dir: sealed files with resources, some .mods, one working
      file per database, one compaction temporary. Prints {"added": [...]}.
  grow DIR [--seed N] [--new-files N] [--compact] [--delete] [--partial-mods]
      --new-files N: N new sealed files (round robin over databases);
      --compact: merge the two oldest sealed files of the first partition that
        has two into one file with innerCnt+1, deleting the sources with their
        resource and mods, as IoTDB's inner compaction does;
      --delete: append a deletion line to an existing .mods (or create one);
      --partial-mods: append a deletion line without its final newline, as a
        writer caught in the middle of an append leaves it.
      Prints {"added": [...], "removed": [...], "changed": [...]} (paths of
      backed-up files relative to DIR).
  seal DIR [--databases a,b]
      Seal every working file (append the TsFile tail, write the .resource),
      as FLUSH does. Prints {"sealed": [...]}.
  json-summary DIR [DIR ...] [--databases a,b]
      What a backup of DIR must contain: {"databases": [...], "layout_version": 3,
      "files": [{"path": ..., "size": ...}]}, sorted by path; with several
      DIRs paths are prefixed "0/", "1/", ... The size of a text .mods is
      counted up to its last newline (a partial last line is not backed up).

Everything is deterministic for a given --seed and starting state.
"""

import argparse
import json
import os
import random
import re
import struct
import sys

MAGIC = b"TsFile"
VERSION_BYTE = b"\x03"  # TsFile format of IoTDB 0.13 / 1.x
KINDS = ("sequence", "unsequence")
PARTITION_MS = 604800000  # default time_partition_interval (one week)
FIRST_PARTITION = 2790  # mid 2023
TSFILE_RE = re.compile(r"^([0-9]+)-([0-9]+)-([0-9]+)-([0-9]+)\.tsfile$")
DEFAULT_DATABASES = "root.ln,root.factory_1,root.factory_2"
SENSORS = ("status", "temperature", "humidity", "speed")
LONG_MAX = 9223372036854775807


# ---- file contents ----

def tsfile_bytes(rng, size):
    """Head magic + version byte, random chunk data, tail magic."""
    body = max(size - 2 * len(MAGIC) - 1, 0)
    return MAGIC + VERSION_BYTE + rng.randbytes(body) + MAGIC


def resource_bytes(rng, database, start, end):
    """A small binary blob shaped like a TsFileResource: serialize version,
    then device -> (start, end) time index."""
    device = ("%s.wf%02d.wt%02d" % (database, rng.randint(1, 9), rng.randint(1, 9))).encode()
    return (b"\x01" + struct.pack(">i", 1) + struct.pack(">i", len(device)) + device
            + struct.pack(">qq", start, end) + rng.randbytes(8))


def deletion_line(rng, database, start, end):
    """IoTDB 1.x text mods record: DELETION,<path>,<fileOffset>,<start>,<end>."""
    path = "%s.wf%02d.wt%02d.%s" % (database, rng.randint(1, 9), rng.randint(1, 9),
                                    rng.choice(SENSORS))
    return "DELETION,%s,%d,%d,%d\n" % (path, LONG_MAX, start, end)


def write_file(path, data):
    """Write through a temporary name, as IoTDB writes resources."""
    tmp = path + ".gen-tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ---- the tree ----

def partition_dirs(root, databases=None):
    """(kind, db, region, partition, absolute dir) of every partition, sorted."""
    out = []
    for kind in KINDS:
        kdir = os.path.join(root, kind)
        if not os.path.isdir(kdir):
            continue
        for db in sorted(os.listdir(kdir)):
            if databases is not None and db not in databases:
                continue
            for region in sorted(os.listdir(os.path.join(kdir, db)), key=_num_key):
                rdir = os.path.join(kdir, db, region)
                if not os.path.isdir(rdir):
                    continue
                for part in sorted(os.listdir(rdir), key=_num_key):
                    pdir = os.path.join(rdir, part)
                    if os.path.isdir(pdir):
                        out.append((kind, db, region, part, pdir))
    return out


def _num_key(name):
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def tsfiles(pdir, sealed=True):
    """Tsfile names of a partition (sealed or working), sorted by version."""
    names = set(os.listdir(pdir))
    out = []
    for n in names:
        m = TSFILE_RE.match(n)
        if m and ((n + ".resource") in names) == sealed:
            out.append((int(m.group(2)), int(m.group(1)), n))
    return [n for _, _, n in sorted(out)]


def name_parts(name):
    m = TSFILE_RE.match(name)
    return tuple(int(g) for g in m.groups())


def rel(root, path):
    return os.path.relpath(path, root)


def backed_up_files(root, databases=None):
    """Relative paths of what a backup of root must contain."""
    out = []
    for _, _, _, _, pdir in partition_dirs(root, databases):
        names = set(os.listdir(pdir))
        for ts in tsfiles(pdir, sealed=True):
            for n in (ts, ts + ".resource", ts + ".mods", ts + ".mods2"):
                if n in names:
                    out.append(rel(root, os.path.join(pdir, n)))
    return sorted(out)


def backup_size(path):
    """Size the backup holds: a text .mods only up to its last newline."""
    if not path.endswith(".mods"):
        return os.path.getsize(path)
    with open(path, "rb") as f:
        data = f.read()
    return data.rfind(b"\n") + 1


# ---- init ----

class Init:
    def __init__(self, root, args):
        self.root = root
        self.args = args
        self.rng = random.Random(args.seed)
        self.size = args.size_kb * 1024
        self.added = []

    def sealed(self, pdir, db, time, version, with_mods):
        name = "%d-%d-0-0.tsfile" % (time, version)
        path = os.path.join(pdir, name)
        write_file(path, tsfile_bytes(self.rng, self.size))
        write_file(path + ".resource", resource_bytes(self.rng, db, time, time + 60000))
        self.added += [path, path + ".resource"]
        if with_mods:
            lines = "".join(deletion_line(self.rng, db, time, time + self.rng.randint(1, 9) * 1000)
                            for _ in range(self.rng.randint(1, 3)))
            write_file(path + ".mods", lines.encode())
            self.added.append(path + ".mods")
        return version + 1

    def partition(self, kind, db, region, part, n_files):
        pdir = os.path.join(self.root, kind, db, str(region), str(part))
        os.makedirs(pdir, exist_ok=True)
        time = part * PARTITION_MS + self.rng.randint(0, 3600) * 1000
        version = 1 if kind == "sequence" else 100
        for i in range(n_files):
            version = self.sealed(pdir, db, time + i * 600000, version,
                                  with_mods=self.rng.random() < 0.3)
        return pdir

    def working_file(self, pdir):
        versions = [name_parts(n)[1] for n in tsfiles(pdir)] or [0]
        times = [name_parts(n)[0] for n in tsfiles(pdir)] or [0]
        name = "%d-%d-0-0.tsfile" % (max(times) + 600000, max(versions) + 1)
        with open(os.path.join(pdir, name), "wb") as f:  # no tail magic yet
            f.write(MAGIC + VERSION_BYTE + self.rng.randbytes(self.size // 2))

    def temporary(self, pdir):
        first = tsfiles(pdir)[0]
        t, v, inner, cross = name_parts(first)
        with open(os.path.join(pdir, "%d-%d-%d-%d.inner" % (t, v, inner + 1, cross)), "wb") as f:
            f.write(MAGIC + VERSION_BYTE + self.rng.randbytes(64))

    def run(self):
        region = 1
        a = self.args
        for d, db in enumerate(a.databases):
            last_seq = None
            for r in range(a.regions_per_db):
                for p in range(a.partitions):
                    part = FIRST_PARTITION + p
                    last_seq = self.partition("sequence", db, region, part, a.files_per_partition)
                    if d == 0 and r == 0 and p == 0:
                        self.temporary(last_seq)
                    if p == a.partitions - 1:
                        self.partition("unsequence", db, region, part, 1)
                region += 1
            self.working_file(last_seq)
        return {"added": sorted(rel(self.root, p) for p in self.added)}


# ---- grow ----

class Grow:
    def __init__(self, root, args):
        self.root = root
        self.args = args
        state = len(backed_up_files(root))
        self.rng = random.Random("%d:%d" % (args.seed, state))
        self.added, self.removed, self.changed = [], [], []

    def sequence_partitions(self):
        return [p for p in partition_dirs(self.root) if p[0] == "sequence"]

    def new_files(self, n):
        latest = {}
        for kind, db, region, part, pdir in self.sequence_partitions():
            latest[(db, region)] = pdir  # sorted: the last one is the newest partition
        keys = sorted(latest)
        if not keys:
            raise SystemExit("grow: %s has no sequence partition" % self.root)
        for i in range(n):
            db, _ = keys[i % len(keys)]
            pdir = latest[keys[i % len(keys)]]
            names = [name_parts(x) for x in os.listdir(pdir) if TSFILE_RE.match(x)]
            time = max([t for t, _, _, _ in names] or [0]) + 1000
            version = max([v for _, v, _, _ in names] or [0]) + 1
            path = os.path.join(pdir, "%d-%d-0-0.tsfile" % (time, version))
            write_file(path, tsfile_bytes(self.rng, self.args.size_kb * 1024))
            write_file(path + ".resource", resource_bytes(self.rng, db, time, time + 60000))
            self.added += [path, path + ".resource"]

    def compact(self):
        for kind, db, region, part, pdir in self.sequence_partitions():
            sealed = tsfiles(pdir)
            if len(sealed) >= 2:
                self.merge(db, pdir, sealed[0], sealed[1])
                return
        raise SystemExit("grow --compact: no partition has two sealed files")

    def merge(self, db, pdir, a, b):
        ta, va, ia, ca = name_parts(a)
        _, _, ib, cb = name_parts(b)
        inner = max(ia, ib) + 1
        target = os.path.join(pdir, "%d-%d-%d-%d.tsfile" % (ta, va, inner, max(ca, cb)))
        while os.path.exists(target):
            inner += 1
            target = os.path.join(pdir, "%d-%d-%d-%d.tsfile" % (ta, va, inner, max(ca, cb)))
        chunks = []
        for src in (a, b):
            with open(os.path.join(pdir, src), "rb") as f:
                data = f.read()
            chunks.append(data[len(MAGIC) + 1:-len(MAGIC)])
        # Deletions are applied while merging: the target has no mods.
        write_file(target, MAGIC + VERSION_BYTE + b"".join(chunks) + MAGIC)
        write_file(target + ".resource", resource_bytes(self.rng, db, ta, ta + 120000))
        self.added += [target, target + ".resource"]
        for src in (a, b):
            for suffix in ("", ".resource", ".mods", ".mods2"):
                path = os.path.join(pdir, src + suffix)
                if os.path.exists(path):
                    os.unlink(path)
                    self.removed.append(path)

    def first_sealed(self, want_mods):
        for kind, db, region, part, pdir in partition_dirs(self.root):
            for ts in tsfiles(pdir):
                path = os.path.join(pdir, ts)
                if not want_mods or os.path.exists(path + ".mods"):
                    return db, path
        return None, None

    def append_deletion(self, newline=True):
        db, ts = self.first_sealed(want_mods=True)
        if ts is None:
            db, ts = self.first_sealed(want_mods=False)
        if ts is None:
            raise SystemExit("grow: no sealed tsfile to delete from")
        t = name_parts(os.path.basename(ts))[0]
        line = deletion_line(self.rng, db, t, t + 5000)
        mods = ts + ".mods"
        existed = os.path.exists(mods)
        with open(mods, "ab+") as f:  # appended in place, as IoTDB does
            f.seek(0, os.SEEK_END)
            if newline and f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")  # the append caught half-way has finished
            f.write(line.encode() if newline else line.rstrip("\n").encode())
        (self.changed if existed else self.added).append(mods)

    def run(self):
        a = self.args
        if a.compact:
            self.compact()
        if a.new_files:
            self.new_files(a.new_files)
        if a.delete:
            self.append_deletion()
        if a.partial_mods:
            self.append_deletion(newline=False)
        out = lambda v: sorted(set(rel(self.root, p) for p in v))
        return {"added": out(self.added), "removed": out(self.removed),
                "changed": out(p for p in self.changed if p not in self.added)}


# ---- seal (what FLUSH does to working files) ----

def seal(root, databases=None):
    """Seal every working tsfile of the given databases (all when None)."""
    sealed = []
    for kind, db, region, part, pdir in partition_dirs(root, databases):
        for ts in tsfiles(pdir, sealed=False):
            path = os.path.join(pdir, ts)
            with open(path, "rb+") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(size - len(MAGIC), 0))
                if f.read() != MAGIC:
                    f.write(b"\x02metadata-index" + MAGIC)  # the footer written on close
            t = name_parts(ts)[0]
            rng = random.Random(ts)
            write_file(path + ".resource", resource_bytes(rng, db, t, t + 60000))
            sealed.append(rel(root, path))
    return {"sealed": sorted(sealed)}


# ---- summary ----

def summary(roots, databases=None):
    files, dbs, layout = [], set(), None
    for k, root in enumerate(roots):
        prefix = "%d/" % k if len(roots) > 1 else ""
        for kind, db, _, _, _ in partition_dirs(root, databases):
            dbs.add(db)
        for r in backed_up_files(root, databases):
            path = os.path.join(root, r)
            files.append({"path": prefix + r, "size": backup_size(path)})
            if layout is None and r.endswith(".tsfile"):
                with open(path, "rb") as f:
                    head = f.read(7)
                if head[:6] == MAGIC:
                    layout = head[6]
    files.sort(key=lambda f: f["path"])
    return {"databases": sorted(dbs), "layout_version": layout or 0, "files": files}


# ---- command line ----

def csv(text):
    return [x for x in (s.strip() for s in text.split(",")) if x]


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("init", help="create a data dir")
    i.add_argument("dir")
    i.add_argument("--seed", type=int, default=1)
    i.add_argument("--databases", type=csv, default=csv(DEFAULT_DATABASES))
    i.add_argument("--regions-per-db", type=int, default=2)
    i.add_argument("--partitions", type=int, default=2)
    i.add_argument("--files-per-partition", type=int, default=3)
    i.add_argument("--size-kb", type=int, default=16)
    g = sub.add_parser("grow", help="new files, a compaction, deletions")
    g.add_argument("dir")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--new-files", type=int, default=0)
    g.add_argument("--compact", action="store_true")
    g.add_argument("--delete", action="store_true")
    g.add_argument("--partial-mods", action="store_true")
    g.add_argument("--size-kb", type=int, default=16)
    s = sub.add_parser("seal", help="seal working files, as FLUSH does")
    s.add_argument("dir")
    s.add_argument("--databases", type=csv, default=None)
    j = sub.add_parser("json-summary", help="files a backup must contain")
    j.add_argument("dirs", nargs="+", metavar="dir")
    j.add_argument("--databases", type=csv, default=None)
    return p


def main(argv):
    args = parser().parse_args(argv)
    if args.cmd == "init":
        if os.path.exists(args.dir) and os.listdir(args.dir):
            raise SystemExit("init: %s exists and is not empty" % args.dir)
        if not args.databases:
            raise SystemExit("init: --databases is empty")
        result = Init(args.dir, args).run()
    elif args.cmd == "grow":
        if not (args.new_files or args.compact or args.delete or args.partial_mods):
            raise SystemExit("grow: nothing to do (use --new-files, --compact, --delete, --partial-mods)")
        result = Grow(args.dir, args).run()
    elif args.cmd == "seal":
        result = seal(args.dir, args.databases)
    else:
        result = summary(args.dirs, args.databases)
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
