"""Benchmark data sets: IoTDB data dirs of exact sizes.

tests/tools/gen_iotdb_data.py makes realistic but small trees; the bench
needs exact totals and size spreads, so it writes its own, in the same
layout:

  sequence/<database>/<region>/<partition>/<time>-<version>-<inner>-<cross>.tsfile
  ... .tsfile.resource   (present: the tsfile is sealed)

Contents are slices of one seeded random pool (incompressible, cheap to
write), framed by the TsFile magic and version byte the source checks.
"""

import os
import random

MAGIC = b"TsFile"
VERSION_BYTE = b"\x03"
FIRST_PARTITION = 2790
POOL_SIZE = 32 << 20
WRITE_CHUNK = 1 << 20


class Pool:
    """A seeded random byte pool; slices of it fill file bodies."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.data = self.rng.randbytes(POOL_SIZE)

    def write_body(self, f, n):
        """Write n pool bytes to f, starting at a random offset."""
        off = self.rng.randrange(POOL_SIZE)
        while n > 0:
            take = min(n, WRITE_CHUNK, POOL_SIZE - off)
            f.write(memoryview(self.data)[off:off + take])
            n -= take
            off = (off + take) % POOL_SIZE


def skewed_sizes(rng, n, lo, hi, total):
    """n sizes in [lo, hi] on a log scale, skewed so they add up to about total.

    size = lo * (hi/lo) ** (u ** k): k > 1 favours small files; k is found by
    bisection on the same draws, then the sizes are scaled to the total."""
    n = max(1, n)
    total = min(max(total, n * lo), n * hi)
    us = [rng.random() for _ in range(n)]

    def sizes_for(k):
        return [lo * (hi / lo) ** (u ** k) for u in us]

    a, b = 0.05, 64.0
    for _ in range(60):
        k = (a * b) ** 0.5
        if sum(sizes_for(k)) > total:
            a = k
        else:
            b = k
    sizes = sizes_for((a * b) ** 0.5)
    for _ in range(8):  # scale towards the exact total within the bounds
        factor = total / sum(sizes)
        sizes = [min(hi, max(lo, s * factor)) for s in sizes]
    out = [int(s) for s in sizes]
    out[-1] = min(hi, max(lo, out[-1] + total - sum(out)))
    return out


def resource_bytes(rng, database, start, end):
    """A small blob shaped like a TsFileResource (version, device, times)."""
    device = ("%s.wf%02d.wt%02d" % (database, rng.randint(1, 9), rng.randint(1, 9))).encode()
    return (b"\x01" + (1).to_bytes(4, "big") + len(device).to_bytes(4, "big") + device
            + start.to_bytes(8, "big") + end.to_bytes(8, "big") + rng.randbytes(8))


def write_tsfile(pool, path, size):
    with open(path, "wb") as f:
        f.write(MAGIC + VERSION_BYTE)
        pool.write_body(f, max(0, size - 2 * len(MAGIC) - 1))
        f.write(MAGIC)


def write_sealed(pool, pdir, database, time_ms, version, size, inner=0):
    """A sealed tsfile with its resource; returns the bytes written."""
    name = "%d-%d-%d-0.tsfile" % (time_ms, version, inner)
    path = os.path.join(pdir, name)
    write_tsfile(pool, path, size)
    res = resource_bytes(pool.rng, database, time_ms, time_ms + 60000)
    with open(path + ".resource", "wb") as f:
        f.write(res)
    return size + len(res)


def databases_for(n):
    return ["root.bench_%d" % i for i in range(n)]


def generate(root, n_tsfiles, lo, hi, total, seed, databases=4, regions=2, per_partition=40):
    """Create a data dir of n_tsfiles sealed tsfiles (sizes in [lo, hi]
    adding up to about total) with their resources. Returns a summary."""
    pool = Pool(seed)
    sizes = skewed_sizes(pool.rng, n_tsfiles, lo, hi, total)
    dbs = databases_for(databases)
    n_groups = databases * regions
    per_group = -(-len(sizes) // n_groups)
    partitions = max(1, -(-per_group // per_partition))
    written = 0
    version = 0
    for i, size in enumerate(sizes):
        group = i % n_groups
        db, region = dbs[group // regions], group % regions
        slot = i // n_groups
        part = FIRST_PARTITION + min(partitions - 1, slot // per_partition)
        pdir = os.path.join(root, "sequence", db, str(region), str(part))
        os.makedirs(pdir, exist_ok=True)
        version += 1
        time_ms = part * 604800000 + slot * 60000
        written += write_sealed(pool, pdir, db, time_ms, version, size)
    return {"databases": dbs, "tsfiles": len(sizes), "files": 2 * len(sizes),
            "tsfile_bytes": sum(sizes), "bytes": written}


def listing(root):
    """{relative path: size} of every file under root."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = os.path.getsize(p)
    return out


def _sealed_in(pdir):
    names = set(os.listdir(pdir))
    out = []
    for n in names:
        if n.endswith(".tsfile") and n + ".resource" in names:
            t, v, inner, _cross = (int(x) for x in n[:-len(".tsfile")].split("-"))
            out.append((v, t, inner, n))
    return sorted(out)


def _partitions(root):
    out = []
    seq = os.path.join(root, "sequence")
    for db in sorted(os.listdir(seq)):
        for region in sorted(os.listdir(os.path.join(seq, db))):
            for part in sorted(os.listdir(os.path.join(seq, db, region))):
                out.append((db, os.path.join(seq, db, region, part)))
    return out


def compact(pool, root):
    """Merge the two oldest sealed files of the partition where that pair is
    smallest into one file with innerCnt+1, deleting the sources (as IoTDB's
    inner compaction does). Returns (merged path, its size)."""
    best = None
    for db, pdir in _partitions(root):
        files = _sealed_in(pdir)
        if len(files) < 2:
            continue
        a, b = files[0], files[1]
        size = sum(os.path.getsize(os.path.join(pdir, f[3])) for f in (a, b))
        if best is None or size < best[0]:
            best = (size, db, pdir, a, b)
    if best is None:
        return None, 0
    size, db, pdir, a, b = best
    merged_size = size - 2 * len(MAGIC) - 1 - len(MAGIC)
    written = write_sealed(pool, pdir, db, a[1], b[0], merged_size, inner=max(a[2], b[2]) + 1)
    for f in (a, b):
        os.remove(os.path.join(pdir, f[3]))
        os.remove(os.path.join(pdir, f[3] + ".resource"))
    return pdir, written


def grow(root, fraction, lo, hi, seed):
    """About fraction of the tsfile bytes as new sealed files in new
    partitions, then one compaction. Returns what changed."""
    before = listing(root)
    pool = Pool(seed)
    compact(pool, root)  # first, so it merges old files, not the new ones
    total = sum(s for p, s in before.items() if p.endswith(".tsfile"))
    want = max(lo, int(total * fraction))
    n = max(1, round(want / ((lo * hi) ** 0.5)))
    sizes = skewed_sizes(pool.rng, n, lo, min(hi, max(lo, want)), want)
    parts = _partitions(root)
    last_part = max(int(os.path.basename(p)) for _db, p in parts)
    version = 10 ** 6
    for i, size in enumerate(sizes):
        db, pdir = parts[i % len(parts)]
        new_pdir = os.path.join(os.path.dirname(pdir), str(last_part + 1))
        os.makedirs(new_pdir, exist_ok=True)
        version += 1
        write_sealed(pool, new_pdir, db, (last_part + 1) * 604800000 + i * 60000, version, size)
    after = listing(root)
    changed = {p: s for p, s in after.items() if before.get(p) != s}
    removed = [p for p in before if p not in after]
    return {"files_changed": len(changed), "bytes_changed": sum(changed.values()),
            "files_removed": len(removed), "bytes_total": sum(after.values()),
            "files_total": len(after)}
