"""A wall clock stepped back: a stored last slot later than now.

The clock ran ahead while the daemon handled slots, then NTP stepped it back.
At start-up the daemon must not wait for the clock to catch up with the stored
slot (the auditor's case: 10 days ahead for a task that runs every minute):
the next run is the first slot after now, and no catch-up run is made.
(The clock-change wake-up of a running daemon does the same; it needs a real
clock step, so tests/unit/test_daemon_parts.c covers it with injected times.)
"""

import sqlite3
import time
import unittest

import ibtest

TEN_DAYS = 10 * 24 * 3600


class TestClockSteppedBack(ibtest.DaemonTestCase):
    def set_last_slot(self, name, t):
        con = sqlite3.connect(self.sb.db_path, timeout=10)
        try:
            with con:
                con.execute("UPDATE tasks SET last_slot = ? WHERE name = ?", (t, name))
        finally:
            con.close()

    def runs(self):
        return [dict(r) for r in self.sb.query('SELECT id, "trigger", result FROM runs')]

    def test_future_last_slot_at_start_up(self):
        data = self.sb.gen_data()
        # Every minute: keep clear of a minute boundary so that the checks
        # below are not raced by a regular slot.
        ibtest.away_from_minute_boundary(25)
        self.sb.write_task("p", self.sb.local_task(data, mode="periodic", every=1,
                                                   unit="minutes",
                                                   started="2024-01-01T00:00:00Z"))
        d = self.sb.start_daemon()
        self.assertEqual(d.stop(), 0)
        now = int(time.time())
        self.set_last_slot("p", now - now % 60 + TEN_DAYS)

        d = self.sb.start_daemon()
        d.wait_log("is later than now (the system clock was stepped back)")
        self.assertIn("task p: its last handled slot", d.log())
        st = self.sb.status()
        (p,) = st["tasks"]
        now = time.time()
        self.assertGreater(p["next_run_unix"], now - 1, p)
        self.assertLessEqual(p["next_run_unix"], now + 61, p)
        # The rewound slot is persisted: the latest minute at or before now.
        last = self.sb.query("SELECT last_slot FROM tasks WHERE name = 'p'")[0]["last_slot"]
        self.assertLessEqual(last, now)
        self.assertGreater(last, now - 61)
        self.assertEqual(last % 60, 0)
        # No catch-up run for a slot that never was.
        time.sleep(0.5)
        self.assertEqual([r for r in self.runs() if r["trigger"] != "schedule"], [])
        self.assertEqual(d.stop(), 0)
        self.assertNotIn("missed", d.log())  # no catch-up message


if __name__ == "__main__":
    unittest.main()
