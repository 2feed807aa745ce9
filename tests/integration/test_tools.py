"""Tests of the test tools themselves: tests/tools/gen_iotdb_data.py (the
IoTDB data dir generator) and tests/tools/iotdb_rest_server.py (the IoTDB
REST v2 stand-in). Other tests trust them, so they are checked here."""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

SOURCE_DIR = os.path.abspath(
    os.environ.get("IB_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", ".."))
TOOLS = os.path.join(SOURCE_DIR, "tests", "tools")
GEN = os.path.join(TOOLS, "gen_iotdb_data.py")
SERVER = os.path.join(TOOLS, "iotdb_rest_server.py")
TSFILE_RE = re.compile(r"^[0-9]+-[0-9]+-[0-9]+-[0-9]+\.tsfile$")
DELETION_RE = re.compile(r"^DELETION,root\.[A-Za-z0-9_.]+,-?[0-9]+,-?[0-9]+,-?[0-9]+$")


def gen(*args):
    r = subprocess.run([sys.executable, GEN] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("gen %s failed: %s" % (args, r.stderr))
    return json.loads(r.stdout)


def walk(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def summary_paths(*dirs, databases=None):
    args = ["json-summary"] + list(dirs)
    if databases:
        args += ["--databases", databases]
    return [f["path"] for f in gen(*args)["files"]]


class TmpDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ib_test_tools.")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)


class TestGenerator(TmpDirTest):
    def init(self, name="data", *args):
        d = self.path(name)
        out = gen("init", d, *args)
        return d, out

    def test_init_layout(self):
        d, out = self.init("data", "--size-kb", 8)
        files = walk(d)
        sealed, working, temporaries, mods = [], [], [], []
        for rel, data in files.items():
            kind, db, region, part, name = rel.split("/")
            self.assertIn(kind, ("sequence", "unsequence"))
            self.assertTrue(region.isdigit() and part.isdigit(), rel)
            if TSFILE_RE.match(name):
                self.assertEqual(data[:7], b"TsFile\x03", rel)
                if rel + ".resource" in files:
                    sealed.append(rel)
                    self.assertEqual(data[-6:], b"TsFile", rel)
                    self.assertEqual(len(data), 8 * 1024, rel)
                else:
                    working.append(rel)
                    self.assertNotEqual(data[-6:], b"TsFile", rel)
            elif name.endswith(".mods"):
                mods.append(rel)
                lines = data.decode().split("\n")
                self.assertEqual(lines[-1], "", "mods end with a newline")
                for line in lines[:-1]:
                    self.assertRegex(line, DELETION_RE)
            elif not name.endswith(".resource"):
                temporaries.append(rel)
        dbs = sorted(set(r.split("/")[1] for r in files))
        self.assertEqual(dbs, ["root.factory_1", "root.factory_2", "root.ln"])
        self.assertEqual(sorted(w.split("/")[1] for w in working), dbs)  # one per database
        self.assertEqual(len(temporaries), 1)
        self.assertTrue(temporaries[0].endswith(".inner"))
        self.assertTrue(mods)
        self.assertTrue(any(r.startswith("unsequence/") for r in sealed))
        # 3 dbs x 2 regions x 2 partitions x 3 files, plus one unsequence file per region
        self.assertEqual(len(sealed), 3 * 2 * 2 * 3 + 3 * 2)
        self.assertEqual(out["added"], summary_paths(d))

    def test_deterministic(self):
        a, _ = self.init("a", "--seed", 5)
        b, _ = self.init("b", "--seed", 5)
        c, _ = self.init("c", "--seed", 6)
        self.assertEqual(walk(a), walk(b))
        self.assertNotEqual(walk(a), walk(c))
        gen("grow", a, "--seed", 2, "--new-files", 2, "--compact", "--delete")
        gen("grow", b, "--seed", 2, "--new-files", 2, "--compact", "--delete")
        self.assertEqual(walk(a), walk(b))

    def test_options(self):
        d, _ = self.init("data", "--databases", "root.a,root.b.c", "--regions-per-db", 1,
                         "--partitions", 1, "--files-per-partition", 2, "--size-kb", 1)
        s = gen("json-summary", d)
        self.assertEqual(s["databases"], ["root.a", "root.b.c"])
        self.assertEqual(s["layout_version"], 3)
        tsfiles = [f for f in s["files"] if f["path"].endswith(".tsfile")]
        self.assertEqual(len(tsfiles), 2 * (2 + 1))
        self.assertTrue(all(f["size"] == 1024 for f in tsfiles))

    def test_init_refuses_non_empty_dir(self):
        d, _ = self.init()
        r = subprocess.run([sys.executable, GEN, "init", d], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not empty", r.stderr)

    def test_summary_leaves_out_working_and_temporary_files(self):
        d, _ = self.init()
        paths = summary_paths(d)
        files = walk(d)
        for rel in files:
            name = rel.rsplit("/", 1)[1]
            base = re.sub(r"\.(resource|mods|mods2)$", "", rel)
            expected = (TSFILE_RE.match(base.rsplit("/", 1)[1]) is not None
                        and base + ".resource" in files)
            self.assertEqual(rel in paths, expected, rel)
            if name.endswith(".inner"):
                self.assertNotIn(rel, paths)
        self.assertEqual(paths, sorted(paths))
        self.assertEqual(summary_paths(d, databases="root.ln"),
                         [p for p in paths if p.split("/")[1] == "root.ln"])

    def test_summary_of_several_dirs(self):
        a, _ = self.init("a", "--databases", "root.a", "--seed", 1)
        b, _ = self.init("b", "--databases", "root.b", "--seed", 2)
        paths = summary_paths(a, b)
        self.assertEqual(paths, sorted(["0/" + p for p in summary_paths(a)]
                                       + ["1/" + p for p in summary_paths(b)]))

    def test_grow_new_files(self):
        d, _ = self.init()
        before = summary_paths(d)
        out = gen("grow", d, "--new-files", 3)
        self.assertEqual(len(out["added"]), 6)
        self.assertEqual(out["removed"], [])
        self.assertEqual(sorted(before + out["added"]), summary_paths(d))
        for rel in out["added"]:
            if rel.endswith(".tsfile"):
                with open(os.path.join(d, rel), "rb") as f:
                    data = f.read()
                self.assertEqual((data[:7], data[-6:]), (b"TsFile\x03", b"TsFile"))

    def test_grow_compact(self):
        d, _ = self.init()
        before = walk(d)
        out = gen("grow", d, "--compact")
        removed_ts = sorted(r for r in out["removed"] if r.endswith(".tsfile"))
        added_ts = [r for r in out["added"] if r.endswith(".tsfile")]
        self.assertEqual(len(removed_ts), 2)
        self.assertEqual(len(added_ts), 1)
        self.assertIn(added_ts[0] + ".resource", out["added"])
        for r in removed_ts:
            self.assertIn(r + ".resource", out["removed"])
            self.assertFalse(os.path.exists(os.path.join(d, r)))
        # Same partition, the first source's time and version, inner count + 1.
        src = [os.path.basename(r).split(".")[0].split("-") for r in removed_ts]
        dst = os.path.basename(added_ts[0]).split(".")[0].split("-")
        self.assertEqual(os.path.dirname(added_ts[0]), os.path.dirname(removed_ts[0]))
        self.assertEqual(dst[2], str(max(int(s[2]) for s in src) + 1))
        with open(os.path.join(d, added_ts[0]), "rb") as f:
            merged = f.read()
        payloads = b"".join(before[r][7:-6] for r in
                            sorted(removed_ts, key=lambda r: int(os.path.basename(r).split("-")[1])))
        self.assertEqual(merged, b"TsFile\x03" + payloads + b"TsFile")
        after = summary_paths(d)
        self.assertEqual(sorted(set(before) - set(walk(d))), sorted(out["removed"]))
        self.assertTrue(set(out["added"]) <= set(after))

    def test_grow_delete_and_partial_line(self):
        d, _ = self.init()
        out = gen("grow", d, "--delete")
        (mods,) = out["changed"]
        p = os.path.join(d, mods)
        with open(p) as f:
            lines = f.read().split("\n")
        self.assertRegex(lines[-2], DELETION_RE)
        size = os.path.getsize(p)
        gen("grow", d, "--partial-mods")
        grown = os.path.getsize(p)
        self.assertGreater(grown, size)
        sizes = {f["path"]: f["size"] for f in gen("json-summary", d)["files"]}
        self.assertEqual(sizes[mods], size)  # the partial line is not backed up
        gen("grow", d, "--delete")  # the half-written line completes, a new one follows
        with open(p) as f:
            text = f.read()
        self.assertTrue(text.endswith("\n"))
        for line in text.split("\n")[:-1]:
            self.assertRegex(line, DELETION_RE)

    def test_grow_creates_mods_when_none(self):
        d, _ = self.init("data", "--databases", "root.a", "--seed", 1, "--regions-per-db", 1,
                         "--partitions", 1, "--files-per-partition", 1)
        for rel in list(walk(d)):
            if rel.endswith(".mods"):
                os.unlink(os.path.join(d, rel))
        out = gen("grow", d, "--delete")
        self.assertEqual(len(out["added"]), 1)
        self.assertTrue(out["added"][0].endswith(".tsfile.mods"))

    def test_seal(self):
        d, _ = self.init()
        before = summary_paths(d)
        out = gen("seal", d, "--databases", "root.ln")
        self.assertEqual(len(out["sealed"]), 1)
        rel = out["sealed"][0]
        self.assertIn("/root.ln/", rel)
        with open(os.path.join(d, rel), "rb") as f:
            self.assertEqual(f.read()[-6:], b"TsFile")
        self.assertEqual(sorted(before + [rel, rel + ".resource"]), summary_paths(d))
        self.assertEqual(len(gen("seal", d)["sealed"]), 2)  # the other two databases

    def test_help(self):
        r = subprocess.run([sys.executable, GEN, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        for word in ("init", "grow", "json-summary", "--compact", "working file"):
            self.assertIn(word, r.stdout)


class Server:
    """iotdb_rest_server.py as a child process."""

    def __init__(self, tmp, *args):
        self.log = os.path.join(tmp, "requests-%d.log" % id(self))
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--port", "0", "--log", self.log] + [str(a) for a in args],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"(listening|down) on (\d+)", line)
        if not m:
            self.stop()
            raise AssertionError("server did not start: %r" % line)
        self.port = int(m.group(2))
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()

    def call(self, path, body=None, auth=("root", "root"), raw_auth=None):
        """(http status, parsed JSON answer)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data,
                                     method="POST" if data is not None else "GET")
        req.add_header("Content-Type", "application/json")
        if raw_auth is not None:
            req.add_header("Authorization", raw_auth)
        elif auth:
            token = base64.b64encode(("%s:%s" % auth).encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def query(self, sql, **kw):
        return self.call("/rest/v2/query", {"sql": sql, "row_limit": 1000}, **kw)

    def nonquery(self, sql, **kw):
        return self.call("/rest/v2/nonQuery", {"sql": sql}, **kw)

    def requests(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f]


class TestRestServer(TmpDirTest):
    def server(self, *args):
        s = Server(self.tmp, *args)
        self.addCleanup(s.stop)
        return s

    def test_ping_and_auth(self):
        s = self.server()
        self.assertEqual(s.call("/ping", auth=None), (200, {"code": 200, "message": "SUCCESS_STATUS"}))
        self.assertEqual(s.query("SHOW DATABASES", auth=None),
                         (401, {"code": 800, "message": "INIT_AUTH_ERROR"}))
        self.assertEqual(s.query("SHOW DATABASES", auth=("root", "nope")),
                         (401, {"code": 801, "message": "WRONG_LOGIN_PASSWORD"}))
        self.assertEqual(s.query("SHOW DATABASES", auth=("bob", "root")),
                         (401, {"code": 801, "message": "WRONG_LOGIN_PASSWORD"}))
        token = base64.b64encode(b"no-colon").decode()
        status, body = s.query("SHOW DATABASES", raw_auth="Basic " + token)
        self.assertEqual((status, body["code"]), (400, 303))
        status, _ = s.query("SHOW DATABASES")
        self.assertEqual(status, 200)

    def test_other_credentials(self):
        s = self.server("--user", "backup", "--password", "pw:x")
        self.assertEqual(s.query("SHOW DATABASES", auth=("backup", "pw"))[0], 401)
        self.assertEqual(s.query("SHOW DATABASES", auth=("root", "root"))[0], 401)

    def test_show_databases(self):
        d = self.path("data")
        gen("init", d, "--databases", "root.ln,root.sg", "--regions-per-db", 1, "--partitions", 1)
        s = self.server("--databases", "root.extra", "--data-dir", d)
        status, body = s.query("SHOW DATABASES")
        self.assertEqual(status, 200)
        self.assertIsNone(body["expressions"])
        self.assertIsNone(body["timestamps"])
        self.assertEqual(body["column_names"][0], "Database")
        self.assertEqual(len(body["values"]), len(body["column_names"]))  # column-major
        self.assertEqual(body["values"][0], ["root.extra", "root.ln", "root.sg"])
        self.assertTrue(all(len(col) == 3 for col in body["values"]))
        self.assertEqual(s.query("SHOW DATABASES root.s*")[1]["values"][0], ["root.sg"])
        self.assertEqual(s.query("SHOW DATABASES root.ln.**")[1]["values"][0], ["root.ln"])
        self.assertEqual(s.query("SHOW DATABASES root.**")[1]["values"][0],
                         ["root.extra", "root.ln", "root.sg"])
        self.assertEqual(s.query("SHOW DATABASES root.x*")[1]["values"], [])
        gen("init", self.path("data2"), "--databases", "root.new")
        shutil.move(self.path("data2", "sequence", "root.new"), os.path.join(d, "sequence"))
        self.assertIn("root.new", s.query("SHOW DATABASES")[1]["values"][0])  # listed live

    def test_show_databases_empty_lower_and_legacy(self):
        s = self.server("--column-case", "lower")
        self.assertEqual(s.query("show databases")[1]["values"], [])
        self.assertEqual(s.query("SHOW DATABASES")[1]["column_names"][0], "database")
        legacy = self.server("--legacy", "--databases", "root.sg1")
        self.assertEqual(legacy.query("SHOW DATABASES")[1]["code"], 700)
        body = legacy.query("SHOW STORAGE GROUP")[1]
        self.assertEqual(body["column_names"][0], "storage group")
        self.assertEqual(body["values"][0], ["root.sg1"])

    def test_statement_errors(self):
        s = self.server()
        self.assertEqual(s.nonquery("SHOW DATABASES")[1],
                         {"code": 301, "message": "EXECUTE_STATEMENT_ERROR"})
        self.assertEqual(s.query("FLUSH root.ln")[1],
                         {"code": 301, "message": "EXECUTE_STATEMENT_ERROR"})
        body = s.nonquery("FLUSHH root.ln")[1]
        self.assertEqual(body["code"], 700)
        self.assertIn("FLUSHH", body["message"])
        self.assertEqual(s.nonquery("FLUSH ln")[1]["code"], 700)  # a path starts at root
        self.assertEqual(s.call("/rest/v2/nonQuery", {"nosql": 1})[1]["code"], 305)
        self.assertEqual(s.call("/rest/v2/other", {"sql": "x"})[0], 404)
        self.assertEqual(s.nonquery("INSERT INTO root.a(time,s) VALUES(1,1)")[1]["code"], 301)

    def test_create_and_delete_database(self):
        s = self.server()
        self.assertEqual(s.nonquery("CREATE DATABASE root.`my-db`")[1]["code"], 200)
        self.assertEqual(s.nonquery("CREATE DATABASE root.`my-db`")[1]["code"], 501)
        self.assertEqual(s.query("SHOW DATABASES")[1]["values"][0], ["root.my-db"])
        self.assertEqual(s.nonquery("DELETE DATABASE root.`my-db`")[1]["code"], 200)
        self.assertEqual(s.nonquery("DELETE DATABASE root.`my-db`")[1]["code"], 500)
        self.assertEqual(s.query("SHOW DATABASES")[1]["values"], [])

    def working_files(self, d):
        files = walk(d)
        return sorted(r for r in files if TSFILE_RE.match(os.path.basename(r))
                      and r + ".resource" not in files)

    def test_flush_seals_named_databases(self):
        d = self.path("data")
        gen("init", d)
        self.assertEqual(len(self.working_files(d)), 3)
        s = self.server("--data-dir", d)
        self.assertEqual(s.nonquery("FLUSH root.ln,root.`factory_1` ON LOCAL")[1],
                         {"code": 200, "message": "SUCCESS_STATUS"})
        left = self.working_files(d)
        self.assertEqual(len(left), 1)
        self.assertIn("/root.factory_2/", left[0])
        log = s.requests()
        self.assertEqual(log[-1]["sql"], "FLUSH root.ln,root.`factory_1` ON LOCAL")
        self.assertEqual((log[-1]["user"], log[-1]["code"], log[-1]["path"]),
                         ("root", 200, "/rest/v2/nonQuery"))
        s.nonquery("FLUSH")  # every database
        self.assertEqual(self.working_files(d), [])

    def test_fail_flush(self):
        d = self.path("data")
        gen("init", d)
        s = self.server("--data-dir", d, "--fail-flush", 600)
        status, body = s.nonquery("FLUSH root.ln ON LOCAL")
        self.assertEqual((status, body["code"]), (200, 600))
        self.assertIn("read-only", body["message"])
        self.assertEqual(len(self.working_files(d)), 3)  # nothing sealed

    def test_load(self):
        s = self.server()
        os.mkdir(self.path("it's here"))
        sql = "LOAD '%s' sglevel=2 verify=true onSuccess=none" % self.path("it''s here")
        self.assertEqual(s.nonquery(sql)[1]["code"], 200)
        self.assertEqual(s.nonquery("LOAD '/no/such/dir' verify=true")[1]["code"], 701)
        self.assertEqual(s.nonquery("LOAD '/tmp' bogus=1")[1]["code"], 700)
        self.assertEqual(s.query(sql)[1]["code"], 301)
        failing = self.server("--fail-load", 1100)
        self.assertEqual(failing.nonquery(sql)[1]["code"], 1100)

    def test_request_log(self):
        s = self.server()
        s.call("/ping", auth=None)
        s.query("SHOW DATABASES", auth=("root", "bad"))
        s.nonquery("SET SYSTEM TO READONLY ON LOCAL")
        log = s.requests()
        self.assertEqual([(e["method"], e["path"], e["http_status"]) for e in log],
                         [("GET", "/ping", 200), ("POST", "/rest/v2/query", 401),
                          ("POST", "/rest/v2/nonQuery", 200)])
        self.assertEqual(log[1]["sql"], "SHOW DATABASES")
        self.assertEqual(log[1]["user"], "root")
        self.assertEqual(log[2]["code"], 200)

    def test_down(self):
        s = self.server("--down")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", s.port), timeout=5).close()

    def test_help(self):
        r = subprocess.run([sys.executable, SERVER, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        for word in ("--fail-flush", "--down", "--log", "--data-dir", "listening on PORT"):
            self.assertIn(word, r.stdout)


if __name__ == "__main__":
    unittest.main()
