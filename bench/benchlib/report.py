"""The result table: medians of alternating runs, ratios against peers."""

from .measure import median

MIB = 1 << 20


class Row:
    """One system in one workload: its measured runs."""

    def __init__(self, name, nbytes=None, ours=False):
        self.name = name
        self.nbytes = nbytes
        self.ours = ours
        self.results = []

    def add(self, result):
        self.results.append(result)
        return result

    def wall(self):
        return median([r.wall for r in self.results])

    def cpu(self):
        return median([r.cpu for r in self.results])

    def peak_mib(self):
        return max((r.peak_kib for r in self.results), default=0) / 1024

    def as_dict(self):
        return {"name": self.name, "bytes": self.nbytes, "ours": self.ours,
                "median_wall_s": self.wall(), "median_cpu_s": self.cpu(),
                "peak_rss_mib": self.peak_mib(),
                "runs": [{k: v for k, v in r.as_dict().items() if k not in ("stdout", "run")}
                         for r in self.results]}


class SumRow:
    """A peer made of steps (rsync, then cp -al): sum of the steps' medians."""

    def __init__(self, name, rows, nbytes=None):
        self.name = name
        self.rows = rows
        self.nbytes = nbytes
        self.ours = False
        self.results = rows[0].results

    def wall(self):
        return sum(r.wall() for r in self.rows)

    def cpu(self):
        return sum(r.cpu() for r in self.rows)

    def peak_mib(self):
        return max(r.peak_mib() for r in self.rows)

    def as_dict(self):
        return {"name": self.name, "steps": [r.name for r in self.rows],
                "median_wall_s": self.wall(), "median_cpu_s": self.cpu(),
                "peak_rss_mib": self.peak_mib()}


def fmt_table(title, rows, notes=()):
    """Text table; 'ours/peer' is our median time over the row's median time."""
    ours = next((r for r in rows if r.ours), None)
    head = "%-40s %9s %9s %10s %10s %8s" % ("system", "time s", "MB/s", "ours/peer", "peak MiB",
                                            "CPU s")
    lines = [title, head, "-" * len(head)]
    for r in rows:
        w = r.wall()
        mbs = "%9.1f" % (r.nbytes / 1e6 / w) if r.nbytes and w > 0 else "%9s" % "-"
        ratio = "%9.2fx" % (ours.wall() / w) if ours and not r.ours and w > 0 else "%10s" % "-"
        lines.append("%-40s %9.3f %s %s %10.1f %8.2f" % (r.name[:40], w, mbs, ratio, r.peak_mib(),
                                                         r.cpu()))
    lines.extend("  " + n for n in notes)
    return "\n".join(lines)


def fmt_pairs(title, pairs, notes=()):
    """A two-column table of named values."""
    lines = [title]
    width = max((len(k) for k, _ in pairs), default=10)
    for k, v in pairs:
        lines.append("  %-*s  %s" % (width, k, v))
    lines.extend("  " + n for n in notes)
    return "\n".join(lines)
