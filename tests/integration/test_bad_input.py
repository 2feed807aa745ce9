"""Bad input everywhere, against the real daemon and CLI: control-socket
lines of 1 MiB, binary garbage, hostile values in requests, many
connections at once; restores from copies whose manifest was tampered with
(paths escaping the restore dir, duplicates, wrong checksums, truncation)
or whose data was damaged; task files with hostile strings (newlines, NUL
bytes, 1 MB values). Each must end in a clear error (one line, with its
code), no crash, nothing written where it must not be, and a daemon that
still answers status. test_daemon_lifecycle.py covers the basic protocol
errors (non-JSON, wrong "v", unknown command, a 70 kB line)."""

import json
import os
import random
import re
import socket
import threading
import time

import ibtest
from ibtest import scaled, wait_for
from test_ctl import DIAG_KEYS, diag_line

LINE_MAX = 65536
CLIENT_MAX = 64  # docs/control-protocol.md


class Client:
    """A raw control-socket connection speaking JSON lines."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(scaled(timeout))
        # A full listen backlog answers EAGAIN at once: retry, as a patient
        # client does, until the timeout.
        deadline = time.monotonic() + scaled(timeout)
        while True:
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.buf = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_raw_ignoring_hangup(self, data):
        """Send data; the daemon may hang up before it has read it all."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def request(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\n")
        return self.recv()

    def recv_line(self):
        """The next answer line as bytes (without its newline), or None at EOF."""
        while b"\n" not in self.buf:
            try:
                data = self.sock.recv(1 << 20)
            except ConnectionResetError:
                data = b""
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def recv(self):
        """The next answer as a dict, or None at EOF. Strict: every answer
        is UTF-8 JSON, even one quoting bytes of a bad request."""
        line = self.recv_line()
        return None if line is None else json.loads(line.decode("utf-8"))

    def at_eof(self):
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class BadInputCase(ibtest.DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.data = self.sb.gen_data()

    def tearDown(self):
        # A clean exit after the hostile input: no crash, and in the
        # sanitizer build no leak (LeakSanitizer makes the exit code non-zero).
        for d in self.sb.daemons:
            if d.running():
                self.assertEqual(d.stop(), 0, "daemon log:\n" + d.log())
        super().tearDown()

    def client(self):
        c = Client(self.sb.socket_path)
        self.addCleanup(c.close)
        return c

    def assertDaemonAnswers(self, daemon):
        self.assertTrue(daemon.running(), "the daemon exited; log:\n" + daemon.log())
        c = Client(self.sb.socket_path)
        try:
            st = c.request({"v": 1, "cmd": "status"})
        finally:
            c.close()
        self.assertIsNotNone(st)
        self.assertIs(st["ok"], True)
        return st

    def assertError(self, answer, code):
        self.assertIsNotNone(answer, "no answer (connection closed without one)")
        self.assertEqual((answer["v"], answer["ok"]), (1, False), answer)
        self.assertEqual(answer["error_code"], code, answer)
        self.assertTrue(answer["error"])

    def assertOneLineError(self, r, code):
        """An iotdb-backupctl failure: exit 1, one line on stderr naming the code."""
        self.assertEqual(r.returncode, 1, "stdout: %s\nstderr: %s" % (r.stdout, r.stderr))
        lines = r.stderr.splitlines()
        self.assertTrue(lines, "no error message")
        last = lines[-1]
        self.assertIn("(%s)" % code, last, r.stderr)
        self.assertTrue(all(0x20 <= ord(ch) < 0x7f for ch in last), repr(last))
        return last


class TestControlSocket(BadInputCase):
    def setUp(self):
        super().setUp()
        self.sb.write_task("m1", self.sb.local_task(self.data))
        # Debug level: protocol errors are logged too, and must be escaped.
        self.sb.write_settings({"log_level": "debug"})
        self.daemon = self.sb.start_daemon()

    def send_and_expect_hangup(self, data, code="E_CONTROL"):
        """Send data from a thread (the daemon stops reading at its error)
        and expect one error answer, then EOF."""
        c = self.client()
        sender = threading.Thread(target=c.send_raw_ignoring_hangup, args=(data,))
        sender.start()
        answer = c.recv()
        sender.join(scaled(30))
        self.assertFalse(sender.is_alive(), "the daemon neither read nor closed")
        self.assertError(answer, code)
        self.assertTrue(c.at_eof())
        return answer

    def test_one_mebibyte_lines(self):
        mib = 1 << 20
        cases = {
            "json": b'{"v":1,"cmd":"status","pad":"' + b"x" * mib + b'"}\n',
            "newlineless": b"{" + b" " * mib,
            "task name": b'{"v":1,"cmd":"run","task":"' + b"t" * mib + b'"}\n',
            "nesting": b"[" * mib + b"\n",
        }
        for name, data in cases.items():
            with self.subTest(name):
                answer = self.send_and_expect_hangup(data)
                self.assertIn(str(LINE_MAX), answer["error"])
        self.assertDaemonAnswers(self.daemon)

    def test_binary_garbage(self):
        rng = random.Random(6)
        for i in range(20):
            garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000)))
            garbage = garbage.replace(b"\n", b"") + b"\n"
            with self.subTest(i=i):
                answer = self.send_and_expect_hangup(garbage)
                self.assertIn("not a JSON object", answer["error"])
        for data in (b"\x00\n", b"\xff\xfe{\"v\":1}\n", b"\x1b[2J\x1b[31m\n",
                     b'{"v":1,"cmd":"st\xc0\xafatus"}\n'):
            with self.subTest(data=data):
                self.send_and_expect_hangup(data)
        # Garbage without an end of line, then a hang-up.
        c = self.client()
        c.send_raw(os.urandom(3000).replace(b"\n", b""))
        c.close()
        self.assertDaemonAnswers(self.daemon)

    def test_hostile_values_in_requests(self):
        deep = "[" * 5000 + "]" * 5000
        cases = [
            (b'{"v":1e400,"cmd":"status"}', "E_CONTROL", True),
            (b'{"v":"1","cmd":"status"}', "E_CONTROL", True),
            (b'{"v":1,"cmd":{"status":1}}', "E_CONTROL", True),
            (b'{"v":1,"cmd":"' + b"c" * 60000 + b'"}', "E_CONTROL", True),
            (b'{"v":1,"cmd":"status\\u0000x"}', "E_CONTROL", True),
            (b'{"v":1,"cmd":"status\\u0000"}', "E_CONTROL", True),
            (b'{"v\\u0000":1,"cmd":"status"}', "E_CONTROL", True),
            (b'{"v":1,"cmd":"status","pad":"\x00"}', "E_CONTROL", True),
            (b'{"v":1,"cmd":"status","pad":"\\\\u0000"}', None, False),  # an escaped backslash
            (b'{"v":1,"cmd":"status"} junk', "E_CONTROL", True),
            (b'{"v":1,"cmd":"status"}{"v":1,"cmd":"status"}', "E_CONTROL", True),
            (b'{"v":1,"cmd":"status"}]', "E_CONTROL", True),
            (b'{"v":1,"cmd":"status"}\x01', "E_CONTROL", True),
            (b'{"v":1,"cmd":"status"} \t \r', None, False),
            (b'{"v":1,"cmd":"status","cmd":"reload"}', "E_CONTROL", True),
            (b'{"v":1,"cmd":"run","task":"m1","wait":"yes"}', "E_CONTROL", False),
            (b'{"v":1,"cmd":"run","task":"a\\nb\\r\\u001b[31m"}', "E_TASK_UNKNOWN", False),
            (b'{"v":1,"cmd":"run","task":"../../etc/passwd"}', "E_TASK_UNKNOWN", False),
            (b'{"v":1,"cmd":"run","task":"' + b"t" * 60000 + b'"}', "E_TASK_UNKNOWN", False),
            (b'{"v":1,"cmd":"run","task":"m1","type":1e400}', "E_CONTROL", False),
            (b'{"v":1,"cmd":"run","task":["m1"]}', "E_CONTROL", False),
            (b'{"v":1,"cmd":"run","task":"m1","type":"full\\u0000x"}', "E_CONTROL", True),
            (b'{"v":1,"cmd":"run","task":"m1\\u0000x"}', "E_CONTROL", True),
            (deep.encode(), "E_CONTROL", True),
        ]
        for raw, code, hangs_up in cases:
            with self.subTest(raw=raw[:60]):
                c = self.client()
                c.send_raw(raw + b"\n")
                answer = c.recv()
                self.assertIsNotNone(answer)
                self.assertEqual(answer["v"], 1)
                if code:
                    self.assertError(answer, code)
                    self.assertLess(len(answer["error"]), 1024)
                if hangs_up:
                    self.assertTrue(c.at_eof())
                else:  # the connection is still usable
                    self.assertIs(c.request({"v": 1, "cmd": "status"})["ok"], True)
        # Whatever ran, the daemon is fine and m1 is known.
        wait_for(lambda: self.sb.query("SELECT COUNT(*) FROM runs WHERE result = 'running'")[0][0]
                 == 0, 60, what="no run left running")
        st = self.assertDaemonAnswers(self.daemon)
        self.assertEqual([t["name"] for t in st["tasks"]], ["m1"])

    def test_byte_by_byte_and_pipelined(self):
        c = self.client()
        for b in b'{"v":1,"cmd":"status"}\n':
            c.send_raw(bytes([b]))
        self.assertIs(c.recv()["ok"], True)
        c.send_raw(b'{"v":1,"cmd":"status"}\n\n' * 100)
        for _ in range(100):
            self.assertIs(c.recv()["ok"], True)
        # A bad request in the middle: the answers before it, its error, then EOF.
        c = self.client()
        c.send_raw(b'{"v":1,"cmd":"status"}\n' * 3 + b"junk\n" + b'{"v":1,"cmd":"status"}\n')
        for _ in range(3):
            self.assertIs(c.recv()["ok"], True)
        self.assertError(c.recv(), "E_CONTROL")
        self.assertTrue(c.at_eof())

    def test_values_echoed_in_errors_are_escaped(self):
        """A request's values come back quoted and escaped: the answer is
        one line of printable ASCII JSON, and so is the daemon's log line."""
        cases = [
            (b'{"v":1,"cmd":"run","task":"a\\nb\\r\\u001b[31m"}', "E_TASK_UNKNOWN",
             '"a\\nb\\r\\x1b[31m"'),
            (b'{"v":1,"cmd":"run","task":"\xff\xfe\\u2028"}', "E_TASK_UNKNOWN",
             '"\\xff\\xfe\\xe2\\x80\\xa8"'),
            (b'{"v":1,"cmd":"st\xc0\xafatus"}', "E_CONTROL", '"st\\xc0\\xafatus"'),
            (b'{"v":1,"cmd":"x\\ny\\u001b]0;pwned\\u0007"}', "E_CONTROL",
             '"x\\ny\\x1b]0;pwned\\x07"'),
            (b'{"v":1,"cmd":"q\\"uote\\\\"}', "E_CONTROL", '"q\\"uote\\\\"'),
        ]
        for raw, code, quoted in cases:
            with self.subTest(raw=raw):
                c = self.client()
                c.send_raw(raw + b"\n")
                line = c.recv_line()
                self.assertIsNotNone(line)
                self.assertTrue(all(0x20 <= b < 0x7f for b in line), line)
                answer = json.loads(line.decode("ascii"))
                self.assertError(answer, code)
                self.assertIn(quoted, answer["error"])
        # Long values are cut.
        c = self.client()
        c.send_raw(b'{"v":1,"cmd":"run","task":"' + b"\\n" * 30000 + b'"}\n')
        self.assertLess(len(c.recv()["error"]), 400)
        self.assertDaemonAnswers(self.daemon)
        with open(self.daemon.log_path, "rb") as f:
            log = f.read()
        self.assertIn(b'unknown command "x\\ny\\x1b]0;pwned\\x07"', log)
        for bad in (b"\x1b", b"\x07", b"\xc0", b"\xff", b"\ny\\"):
            self.assertNotIn(bad, log)

    def open_wave(self, rng, n):
        """n connections of mixed kinds; returns [(kind, client)]."""
        kinds = ["status", "garbage", "half", "silent", "huge", "close"]
        clients = []
        for i in range(n):
            kind = kinds[i % len(kinds)]
            c = Client(self.sb.socket_path, timeout=60)
            clients.append((kind, c))
            if kind == "status":
                c.send_raw(b'{"v":1,"cmd":"status"}\n')
            elif kind == "garbage":
                c.send_raw(bytes(rng.randrange(1, 256) for _ in range(200)).replace(b"\n", b"")
                           + b"\n")
            elif kind == "half":
                c.send_raw(b'{"v":1,"cmd":"sta')
            elif kind == "huge":
                threading.Thread(target=c.send_raw_ignoring_hangup,
                                 args=(b"x" * (LINE_MAX + 10),), daemon=True).start()
            elif kind == "close":
                c.close()
        return clients

    def test_many_connections(self):
        """240 connections in waves of 48 (under the limit of 64)."""
        pid = self.daemon.pid
        self.assertDaemonAnswers(self.daemon)
        time.sleep(scaled(0.5))  # the daemon closes its end of that client
        baseline = open_fds(pid)
        rng = random.Random(10)
        for _wave in range(5):
            clients = self.open_wave(rng, 48)
            for kind, c in clients:
                if kind == "status":
                    self.assertIs(c.recv()["ok"], True)
                elif kind in ("garbage", "huge"):
                    self.assertError(c.recv(), "E_CONTROL")
            # The silent and half-sent clients still hold their connection;
            # a new one is served all the same.
            self.assertDaemonAnswers(self.daemon)
            for _kind, c in clients:
                c.close()
        # Every connection is released (no descriptor leaked).
        wait_for(lambda: open_fds(pid) <= baseline, 20,
                 what="the daemon's descriptors back to %d" % baseline)
        self.assertDaemonAnswers(self.daemon)

    def test_client_limit(self):
        """64 clients at once; the 65th gets one error line and is closed,
        and a place freed is taken again."""
        pid = self.daemon.pid
        self.assertDaemonAnswers(self.daemon)
        time.sleep(scaled(0.5))
        baseline = open_fds(pid)
        held = []
        for _ in range(CLIENT_MAX):
            c = Client(self.sb.socket_path)
            held.append(c)
            self.assertIs(c.request({"v": 1, "cmd": "status"})["ok"], True)
        for _ in range(3):
            extra = Client(self.sb.socket_path)
            answer = extra.recv()
            self.assertError(answer, "E_CONTROL")
            self.assertIn("too many clients", answer["error"])
            self.assertTrue(extra.at_eof())
            extra.close()
        # The held clients are still served.
        self.assertIs(held[0].request({"v": 1, "cmd": "status"})["ok"], True)
        held.pop().close()

        def served():
            c = Client(self.sb.socket_path)
            try:
                return c.request({"v": 1, "cmd": "status"})["ok"] is True
            finally:
                c.close()
        wait_for(served, 10, what="a freed place served again")
        for c in held:
            c.close()
        wait_for(lambda: open_fds(pid) <= baseline, 20,
                 what="the daemon's descriptors back to %d" % baseline)
        self.assertIn("connection refused: 64 clients are connected already", self.daemon.log())
        self.assertDaemonAnswers(self.daemon)


class TestControlIdleTimeout(BadInputCase):
    """A client without a complete request for the idle timeout (shortened
    for the test through IB_CONTROL_IDLE_TIMEOUT_MS) is answered an error and
    closed; one following a run with run --wait is not idle."""

    IDLE_S = 1.0

    def setUp(self):
        super().setUp()
        task = self.sb.local_task(self.data, target=os.path.join(self.sb.root, "slowbackup"))
        task["target"]["max_bandwidth_mbps"] = 2  # about 1 MB: several seconds
        self.sb.write_task("slow", task)
        self.daemon = self.sb.start_daemon(
            env={"IB_CONTROL_IDLE_TIMEOUT_MS": str(int(self.IDLE_S * 1000))})

    def assertClosedForIdling(self, c, started, min_wait=0.9):
        """c is answered the idle error and closed, at least min_wait idle
        periods after started (when the daemon's idle time started at
        about the same time) and not much later than one."""
        answer = c.recv()
        waited = time.monotonic() - started
        self.assertError(answer, "E_CONTROL")
        self.assertIn("no complete request for 1 s", answer["error"])
        self.assertTrue(c.at_eof())
        self.assertGreaterEqual(waited, self.IDLE_S * min_wait)
        self.assertLess(waited, scaled(self.IDLE_S + 4))

    def test_silent_and_half_line_clients_are_closed(self):
        for first in (b"", b'{"v":1,"cmd":"sta'):
            with self.subTest(first=first):
                c = self.client()
                started = time.monotonic()
                c.send_raw(first)
                self.assertClosedForIdling(c, started)
        # Requests in time keep a connection: the idle time starts again.
        c = self.client()
        for _ in range(int(self.IDLE_S * 4)):
            time.sleep(self.IDLE_S / 2)
            self.assertIs(c.request({"v": 1, "cmd": "status"})["ok"], True)
        started = time.monotonic()
        self.assertClosedForIdling(c, started)
        self.assertDaemonAnswers(self.daemon)

    def test_run_wait_is_not_idle(self):
        c = self.client()
        c.send_raw(b'{"v":1,"cmd":"run","task":"slow","wait":true}\n')
        started = time.monotonic()
        self.assertEqual(c.recv()["event"], "accepted")
        while True:
            answer = c.recv()
            self.assertIsNotNone(answer, "closed while following the run")
            self.assertIs(answer["ok"], True, answer)
            if answer["event"] == "finished":
                break
        self.assertGreater(time.monotonic() - started, self.IDLE_S * 2,
                           "the run was too short to show anything")
        self.assertEqual(answer["run"]["result"], "succeeded", answer)
        # After the run, the idle time counts again (from the finished
        # answer, sent a moment before it arrives here).
        self.assertClosedForIdling(c, time.monotonic(), min_wait=0.5)


class TestRestoreHostileManifest(BadInputCase):
    """A copy is made by the real daemon, then its snapshot is tampered with
    (by replacing files: the live files it shares inodes with stay intact)
    and iotdb-backupctl restore is asked for it."""

    def setUp(self):
        super().setUp()
        self.sb.write_task("m1", self.sb.local_task(self.data))
        self.daemon = self.sb.start_daemon()
        res = self.sb.ctl_json("run", "m1", "--wait", "--json")
        self.assertEqual(res["result"], "succeeded", res)
        self.copy = res["copy"]
        snaps = [dp for dp, _dirs, _files in os.walk(self.sb.backup_dir)
                 if os.path.basename(dp) == self.copy and dp.endswith("/.snapshot/" + self.copy)]
        self.assertEqual(len(snaps), 1, snaps)
        self.snap = snaps[0]
        self.manifest_path = os.path.join(self.snap, "MANIFEST.json")
        with open(self.manifest_path, "rb") as f:
            self.original = f.read()
        self.manifest = json.loads(self.original)
        self.files = sorted(f["path"] for f in self.manifest["files"])
        self.n = 0

    def replace(self, path, data):
        tmp = path + ".tamper~"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def tamper(self, change):
        m = json.loads(self.original)
        change(m)
        self.replace(self.manifest_path, json.dumps(m, indent=1).encode())

    def restore(self):
        """Restore into a fresh directory inside a fresh parent; returns (r, parent, to)."""
        self.n += 1
        parent = os.path.join(self.sb.root, "r%d" % self.n)
        to = os.path.join(parent, "a", "b")
        r = self.sb.ctl("restore", "m1", "--copy", self.copy, "--to", to)
        return r, parent, to

    def assertInvalidManifest(self, r):
        """The restore refused the copy for its manifest, and `copies` lists
        the copy as invalid."""
        line = self.assertOneLineError(r, "E_MANIFEST")
        self.assertIn("copy %s" % self.copy, line)
        self.assertRegex(line, r"no valid MANIFEST\.json \(.+\)")  # with the parser's reason
        listed = self.sb.ctl_json("copies", "m1", "--json")["copies"]
        self.assertEqual([c["valid"] for c in listed if c["name"] == self.copy], [False])
        reason = [c["invalid_reason"] for c in listed if c["name"] == self.copy][0]
        self.assertTrue(reason, listed)
        self.assertIn(reason[:30], line)

    def files_under(self, top):
        return sorted(os.path.relpath(os.path.join(dp, f), top)
                      for dp, _dirs, files in os.walk(top) for f in files)

    def test_paths_escaping_the_restore_dir(self):
        victim = self.files[0]
        for bad in ["../../escape.tsfile", "../../../../../../tmp/ib-escape-%d" % os.getpid(),
                    "/tmp/ib-abs-%d" % os.getpid(), "sequence/../../escape.tsfile", "a//b", "./x",
                    "", "sequence/root.x/..", "a\n../../escape"]:
            with self.subTest(path=bad):
                def change(m, bad=bad):
                    for f in m["files"]:
                        if f["path"] == victim:
                            f["path"] = bad
                self.tamper(change)
                r, parent, to = self.restore()
                self.assertInvalidManifest(r)
                # Nothing written anywhere: not in the parent, not in /tmp.
                self.assertEqual(self.files_under(self.sb.root + "/r%d" % self.n), [])
                self.assertFalse(os.path.exists(os.path.join(parent, "escape.tsfile")))
                self.assertFalse(os.path.exists("/tmp/ib-escape-%d" % os.getpid()))
                self.assertFalse(os.path.exists("/tmp/ib-abs-%d" % os.getpid()))
        self.assertDaemonAnswers(self.daemon)

    def test_duplicate_entries(self):
        self.tamper(lambda m: m["files"].append(dict(m["files"][0])))
        r, parent, _to = self.restore()
        self.assertInvalidManifest(r)
        self.assertEqual(self.files_under(parent), [])

    def test_wrong_checksum_and_size_in_manifest(self):
        victim = self.files[len(self.files) // 2]

        def wrong_crc(m):
            for f in m["files"]:
                if f["path"] == victim:
                    f["crc32c"] = "%08x" % (int(f["crc32c"], 16) ^ 1)

        def wrong_size(m):
            for f in m["files"]:
                if f["path"] == victim:
                    f["size"] += 1

        for name, change, needle in [("crc", wrong_crc, "checksum"), ("size", wrong_size, "bytes")]:
            with self.subTest(name):
                self.tamper(change)
                r, _parent, to = self.restore()
                line = self.assertOneLineError(r, "E_CHECKSUM")
                self.assertIn(victim, line)
                self.assertIn(needle, line)
                # The damaged file never appears under its real name, nor
                # does a leftover temporary.
                self.assertFalse(os.path.exists(os.path.join(to, victim)))
                self.assertEqual([p for p in self.files_under(to) if "restore-tmp" in p], [])

    def test_damaged_data_file(self):
        victim = self.files[-1]
        path = os.path.join(self.snap, victim)
        with open(path, "rb") as f:
            content = f.read()
        for name, data in [("truncated", content[:len(content) // 2]),
                           ("flipped", bytes([content[0] ^ 0xFF]) + content[1:]),
                           ("empty", b"")]:
            with self.subTest(name):
                self.replace(path, data)
                r, _parent, to = self.restore()
                self.assertOneLineError(r, "E_CHECKSUM")
                self.assertFalse(os.path.exists(os.path.join(to, victim)))
        # The live file kept its content (the snapshot's was replaced, not written).
        live = os.path.join(os.path.dirname(os.path.dirname(self.snap)), victim)
        with open(live, "rb") as f:
            self.assertEqual(f.read(), content)

    def test_truncated_and_broken_manifest(self):
        text = self.original
        for name, data in [("empty", b""), ("one byte", text[:1]), ("half", text[:len(text) // 2]),
                           ("all but the last byte", text[:-2]), ("NUL byte", b"\x00" + text),
                           ("escaped NUL", re.sub(rb'"path":\s*"', b'"path": "a\\\\u0000', text,
                                                  count=1)),
                           ("trailing garbage", text + b"\n{}"), ("HTML", b"<html></html>"),
                           ("format from the future", text.replace(b'"format"', b'"formatx"', 1)
                            .replace(b"{", b'{"format": 99,', 1))]:
            with self.subTest(name):
                self.replace(self.manifest_path, data)
                r, parent, _to = self.restore()
                self.assertInvalidManifest(r)
                self.assertEqual(self.files_under(parent), [])
        self.assertDaemonAnswers(self.daemon)

    def test_untampered_copy_still_restores(self):
        r, _parent, to = self.restore()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.files_under(to), self.files)


class TestHostileTaskFiles(BadInputCase):
    def hostile_tasks(self):
        good = self.sb.local_task(self.data)
        big = "/" + "v" * (1000 * 1000)

        def with_(path, value):
            t = json.loads(json.dumps(good))
            o = t
            for k in path[:-1]:
                o = o[k]
            o[path[-1]] = value
            return json.dumps(t, indent=2)

        return {
            "newline-db": with_(("source", "databases"), ["root.a\nroot.b"]),
            "newline-path": with_(("target", "target_path"), self.sb.backup_dir + "\n/etc"),
            "escape-in-mode": with_(("mode",), "\x1b[2J\x1b[31mmanual"),
            "newline-key": with_(("bad\nkey\r",), 1),
            "one-mb-value": with_(("target", "target_path"), big),
            "over-limit": json.dumps(good) + " " * (1024 * 1024),
            "nul-raw": json.dumps(good).replace('"manual"', '"man\x00ual"'),
            "nul-escaped": json.dumps(good).replace('"manual"', '"man\\u0000ual"'),
            "deep": '{"mode": ' + "[" * 100000 + "]" * 100000 + "}",
            "bad-utf8": json.dumps(good).replace("manual", "manual\udcff"),
        }

    def write_raw(self, name, text):
        path = os.path.join(self.sb.tasks_dir, name + ".json")
        with open(path, "wb") as f:
            f.write(text.encode("utf-8", "surrogateescape"))

    def assertErrorLines(self, errors, names):
        """One printable line per error, each naming its file, none too long."""
        for e in errors:
            self.assertTrue(all(0x20 <= ord(ch) < 0x7f for ch in e), repr(e[:200]))
            self.assertLess(len(e), 2048)
            self.assertRegex(e, r"^tasks\.d/.*\((E_[A-Z_]+)\)$")
        for name in names:
            self.assertTrue(any(e.startswith("tasks.d/%s.json" % name) for e in errors),
                            "no error for %s in %r" % (name, errors))

    def assertErrorObjects(self, errors, names):
        """Objects of the protocol whose lines (as clients print them) are
        what assertErrorLines wants; returns the lines."""
        for e in errors:
            self.assertEqual(list(e), DIAG_KEYS, e)
            self.assertRegex(e["code"], r"^E_[A-Z_]+$")
        lines = [diag_line(e) for e in errors]
        self.assertErrorLines(lines, names)
        return lines

    def test_daemon_start_status_reload_and_check_config(self):
        self.sb.write_task("good", self.sb.local_task(self.data))
        hostile = self.hostile_tasks()
        for name, text in hostile.items():
            self.write_raw(name, text)
        # A file name that is no task name.
        self.write_raw("bad\nname", json.dumps(self.sb.local_task(self.data)))
        names = sorted(hostile)

        d = self.sb.start_daemon()
        st = self.assertDaemonAnswers(d)
        self.assertEqual([t["name"] for t in st["tasks"]], ["good"])
        lines = self.assertErrorObjects(st["config_errors"], names)
        self.assertTrue(any("bad\\nname" in e for e in lines), lines)
        self.assertTrue(any("1048576" in e or "larger" in e for e in lines if "over-limit" in e))

        # check-config: every error on its own line, then the summary.
        r = self.sb.ctl("check-config")
        self.assertEqual(r.returncode, 1, r.stderr)
        out = (r.stdout + r.stderr).splitlines()
        summary = [ln for ln in out if ln.startswith("configuration has")]
        self.assertEqual(len(summary), 1, out)
        errors = [ln for ln in out if ln.startswith("tasks.d/")]
        self.assertErrorLines(errors, names)
        n = int(re.match(r"configuration has (\d+) error", summary[0]).group(1))
        self.assertEqual(n, len(errors))
        # The daemon's objects say what check-config says, and so does --json.
        self.assertEqual(lines, errors)
        r = self.sb.ctl("check-config", "--json")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(self.assertErrorObjects(json.loads(r.stdout)["errors"], names), errors)

        # A reload with the hostile files present changes nothing, and says why.
        c = self.client()
        ans = c.request({"v": 1, "cmd": "reload"})
        self.assertError(ans, "E_CONFIG")
        self.assertEqual(self.assertErrorObjects(ans["errors"], names), lines)
        self.assertEqual([t["name"] for t in self.assertDaemonAnswers(d)["tasks"]], ["good"])

        # The good task still runs.
        res = self.sb.ctl_json("run", "good", "--wait", "--json")
        self.assertEqual(res["result"], "succeeded", res)

        # Local commands name the broken file in one line.
        r = self.sb.ctl("verify", "newline-db")
        self.assertEqual(r.returncode, 1)
        for ln in r.stderr.splitlines():
            self.assertTrue(all(0x20 <= ord(ch) < 0x7f for ch in ln), repr(ln))
        self.assertEqual(d.stop(), 0)

    def test_hostile_settings_refuse_start_with_one_line_errors(self):
        self.sb.write_task("good", self.sb.local_task(self.data))
        for name, text in [("nul", '{"log_level": "in\x00fo"}'),
                           ("newline", '{"staging_dir": "/x\\n/y", "bad\\nkey": 1}'),
                           ("escape-byte", '{"log_level"\x7f: 1}'),
                           ("huge", '{"max_parallel_runs": 1e400}')]:
            with self.subTest(name):
                self.sb.write_settings(text)
                d = self.sb.start_daemon(wait_ready=False)
                code = d.proc.wait(scaled(30))
                self.assertNotEqual(code, 0)
                log = d.log()
                self.assertIn("iotdb-backupd.conf", log)
                self.assertIn("E_CONFIG", log)
                for ln in log.splitlines():
                    self.assertTrue(all(0x20 <= ord(ch) < 0x7f or ch == "\t" for ch in ln),
                                    repr(ln))


if __name__ == "__main__":
    import unittest
    unittest.main()
