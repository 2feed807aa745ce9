"""The WebHDFS test server (tests/tools/webhdfs_server.py) speaks WebHDFS as
Hadoop 3 does: checked here with http.client so that driver tests can trust it."""

import hashlib
import http.client
import io
import json
import os
import socket
import struct
import subprocess
import sys
import time
import unittest
import urllib.parse

SOURCE_DIR = os.path.abspath(
    os.environ.get("IB_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", ".."))
TOOLS = os.path.join(SOURCE_DIR, "tests", "tools")
SERVER = os.path.join(TOOLS, "webhdfs_server.py")
sys.path.insert(0, TOOLS)
import ibtest  # noqa: E402  (sets WEBHDFS_DN_LIB outside sanitizer builds)
import webhdfs_server  # noqa: E402  (for its checksum function)


def bitwise_crc32c(data):
    """The definition, one bit at a time: the reference for the fast one."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


class Server:
    """webhdfs_server.py as a subprocess; ports from its first stdout line."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, SERVER] + list(args),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ports = json.loads(self.proc.stdout.readline())
        self.nn = ports["namenodes"]
        self.dn = ports["datanode"]
        self.admin_port = ports["admin"]

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()

    def admin(self, path, obj=None):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        if obj is None:
            c.request("GET", path)
        else:
            c.request("POST", path, body=json.dumps(obj))
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        if r.status != 200:
            raise AssertionError("admin %s: %s" % (path, body))
        return body


def url(path, op, **params):
    q = [("op", op)] + [(k, str(v)) for k, v in params.items()]
    return "/webhdfs/v1" + urllib.parse.quote(path, safe="/") + "?" + urllib.parse.urlencode(
        q, quote_via=urllib.parse.quote)


class Client:
    """One keep-alive connection per port, as a WebHDFS client would use."""

    def __init__(self, server, user="hdfs"):
        self.server = server
        self.user = user
        self.conns = {}

    def conn(self, port):
        if port not in self.conns:
            self.conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        return self.conns[port]

    def close(self):
        for c in self.conns.values():
            c.close()

    def raw(self, method, path, op, nn=0, body=None, headers=None, port=None, **params):
        if self.user is not None:
            params.setdefault("user.name", self.user)
        c = self.conn(port or self.server.nn[nn])
        c.request(method, url(path, op, **params), body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if r.getheader("Connection", "").lower() == "close":
            c.close()
            del self.conns[port or self.server.nn[nn]]
        return r, data

    def json(self, method, path, op, expect=200, **params):
        r, data = self.raw(method, path, op, **params)
        if r.status != expect:
            raise AssertionError("%s %s %s: %d %s" % (method, op, path, r.status, data))
        return json.loads(data) if data else None

    def error(self, method, path, op, status, exception, **params):
        r, data = self.raw(method, path, op, **params)
        body = json.loads(data)["RemoteException"]
        assert r.status == status and body["exception"] == exception, (r.status, body)
        return body

    def follow(self, location, method, body=None):
        u = urllib.parse.urlsplit(location)
        c = self.conn(u.port)
        c.request(method, u.path + "?" + u.query, body=body)
        r = c.getresponse()
        return r, r.read()

    def create(self, path, data, **params):
        r, body = self.raw("PUT", path, "CREATE", **params)
        assert r.status == 307, (r.status, body)
        return self.follow(r.getheader("Location"), "PUT", data)

    def put(self, path, data, **params):
        r, body = self.create(path, data, **params)
        assert r.status == 201, (r.status, body)

    def read(self, path, **params):
        r, body = self.raw("GET", path, "OPEN", **params)
        assert r.status == 307, (r.status, body)
        r, data = self.follow(r.getheader("Location"), "GET")
        assert r.status == 200, (r.status, data)
        return data


class WebHdfsServerTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server("--ls-limit", "3")
        self.c = Client(self.srv)
        self.c.json("PUT", "/backup", "MKDIRS")

    def tearDown(self):
        self.c.close()
        self.srv.stop()

    def test_create_redirects_and_datanode_stores(self):
        r, body = self.c.raw("PUT", "/backup/f", "CREATE", overwrite="false")
        self.assertEqual(r.status, 307)
        loc = r.getheader("Location")
        self.assertEqual(json.loads(body)["Location"], loc)
        u = urllib.parse.urlsplit(loc)
        self.assertEqual(u.port, self.srv.dn)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.assertEqual(q["namenoderpcaddress"], ["127.0.0.1:8020"])
        self.assertEqual(q["createparent"], ["true"])
        # Nothing exists until the DataNode step.
        self.c.error("GET", "/backup/f", "GETFILESTATUS", 404, "FileNotFoundException")
        r, body = self.c.follow(loc, "PUT", b"hello")
        self.assertEqual((r.status, body), (201, b""))
        self.assertTrue(r.getheader("Location").startswith("hdfs://"))
        st = self.c.json("GET", "/backup/f", "GETFILESTATUS")["FileStatus"]
        self.assertEqual((st["type"], st["length"], st["owner"], st["permission"]),
                         ("FILE", 5, "hdfs", "644"))
        self.assertEqual(self.c.read("/backup/f"), b"hello")

    def test_noredirect_answers_location(self):
        out = self.c.json("PUT", "/backup/g", "CREATE", noredirect="true")
        self.assertIn("op=CREATE", out["Location"])
        out = self.c.json("GET", "/backup", "GETFILESTATUS", noredirect="true")
        self.assertEqual(out["FileStatus"]["type"], "DIRECTORY")

    def test_overwrite_semantics(self):
        self.c.put("/backup/f", b"one")
        # Step 1 still redirects; the DataNode refuses.
        r, body = self.c.create("/backup/f", b"two")
        self.assertEqual(r.status, 403)
        self.assertEqual(json.loads(body)["RemoteException"]["exception"],
                         "FileAlreadyExistsException")
        self.c.put("/backup/f", b"three", overwrite="true")
        self.assertEqual(self.c.read("/backup/f"), b"three")
        r, body = self.c.create("/backup", b"x", overwrite="true")
        self.assertEqual(r.status, 403)
        self.assertIn("as a directory", json.loads(body)["RemoteException"]["message"])

    def test_create_makes_parents_and_parent_file_fails(self):
        self.c.put("/backup/a/b/c", b"x")
        self.assertEqual(self.c.json("GET", "/backup/a/b", "GETFILESTATUS")
                         ["FileStatus"]["type"], "DIRECTORY")
        r, body = self.c.create("/backup/a/b/c/d", b"x")
        self.assertEqual(r.status, 403)
        self.assertEqual(json.loads(body)["RemoteException"]["exception"],
                         "ParentNotDirectoryException")

    def test_open_offset_length_and_large_stream(self):
        data = os.urandom(300000)
        self.c.put("/backup/big", data)
        self.assertEqual(self.c.read("/backup/big"), data)
        self.assertEqual(self.c.read("/backup/big", offset=1000, length=10), data[1000:1010])
        self.assertEqual(self.c.read("/backup/big", offset=299990), data[299990:])
        self.c.error("GET", "/backup/missing", "OPEN", 404, "FileNotFoundException")
        self.c.error("GET", "/backup", "OPEN", 404, "FileNotFoundException")

    def test_special_characters_in_paths(self):
        name = "/backup/a b+c%d;e\u00e9"
        self.c.put(name, b"x")
        names = [e["pathSuffix"] for e in self.c.json("GET", "/backup", "LISTSTATUS")
                 ["FileStatuses"]["FileStatus"]]
        self.assertEqual(names, ["a b+c%d;e\u00e9"])
        # In a query parameter '+' is a space, as Jersey decodes it.
        self.assertTrue(self.c.json("PUT", name, "RENAME", destination="/backup/x+y")["boolean"])
        self.c.json("GET", "/backup/x+y", "GETFILESTATUS")
        c = self.c.conn(self.srv.nn[0])
        c.request("PUT", url("/backup/x+y", "RENAME", **{"user.name": "hdfs"}).replace(
            "?", "?destination=/backup/p+q&", 1))
        r = c.getresponse()
        self.assertEqual(json.loads(r.read()), {"boolean": True})
        self.c.json("GET", "/backup/p q", "GETFILESTATUS")

    def test_mkdirs(self):
        self.assertEqual(self.c.json("PUT", "/backup/x/y", "MKDIRS"), {"boolean": True})
        self.assertEqual(self.c.json("PUT", "/backup/x/y", "MKDIRS"), {"boolean": True})
        self.c.put("/backup/file", b"")
        self.c.error("PUT", "/backup/file", "MKDIRS", 403, "FileAlreadyExistsException")
        self.c.error("PUT", "/backup/file/sub", "MKDIRS", 403, "ParentNotDirectoryException")

    def test_rename_cases(self):
        c = self.c
        c.put("/backup/f", b"1")
        c.put("/backup/g", b"2")
        c.json("PUT", "/backup/d", "MKDIRS")
        def rn(src, dst):
            return c.json("PUT", src, "RENAME", destination=dst)["boolean"]
        self.assertFalse(rn("/backup/missing", "/backup/z"))     # source missing
        self.assertFalse(rn("/backup/f", "/nope/z"))             # dst parent missing
        self.assertFalse(rn("/backup/f", "/backup/g"))           # dst is a file
        self.assertTrue(rn("/backup/f", "/backup/d"))            # into a directory
        self.assertEqual(c.read("/backup/d/f"), b"1")
        c.put("/backup/f", b"3")
        self.assertFalse(rn("/backup/f", "/backup/d"))           # d/f exists already
        self.assertTrue(rn("/backup/f", "/backup/h"))
        c.error("PUT", "/backup/d", "RENAME", 403, "IOException", destination="/backup/d/e")
        c.error("PUT", "/backup/h", "RENAME", 400, "IllegalArgumentException",
                destination="relative")
        # rename2 with OVERWRITE replaces a file, answers exceptions.
        r, body = c.raw("PUT", "/backup/h", "RENAME", destination="/backup/g",
                        renameoptions="OVERWRITE")
        self.assertEqual((r.status, body), (200, b""))
        self.assertEqual(c.read("/backup/g"), b"3")
        c.error("PUT", "/backup/g", "RENAME", 403, "FileAlreadyExistsException",
                destination="/backup/d/f", renameoptions="NONE")

    def test_delete(self):
        c = self.c
        c.put("/backup/d/f", b"1")
        c.error("DELETE", "/backup/d", "DELETE", 403, "PathIsNotEmptyDirectoryException")
        self.assertEqual(c.json("DELETE", "/backup/d", "DELETE", recursive="true"),
                         {"boolean": True})
        self.assertEqual(c.json("DELETE", "/backup/d", "DELETE"), {"boolean": False})

    def test_liststatus_batch_paging(self):
        c = self.c
        for i in range(7):
            c.put("/backup/f%d" % i, b"")
        out = c.json("GET", "/backup", "LISTSTATUS_BATCH")["DirectoryListing"]
        page = [e["pathSuffix"] for e in out["partialListing"]["FileStatuses"]["FileStatus"]]
        self.assertEqual((page, out["remainingEntries"]), (["f0", "f1", "f2"], 4))
        out = c.json("GET", "/backup", "LISTSTATUS_BATCH", startAfter="f2")["DirectoryListing"]
        page = [e["pathSuffix"] for e in out["partialListing"]["FileStatuses"]["FileStatus"]]
        self.assertEqual((page, out["remainingEntries"]), (["f3", "f4", "f5"], 1))
        out = c.json("GET", "/backup", "LISTSTATUS_BATCH", startAfter="f5")["DirectoryListing"]
        self.assertEqual(out["remainingEntries"], 0)
        self.srv.admin("/admin/config", {"liststatus_batch": False})
        c.error("GET", "/backup", "LISTSTATUS_BATCH", 400, "IllegalArgumentException")
        self.assertEqual(len(c.json("GET", "/backup", "LISTSTATUS")
                             ["FileStatuses"]["FileStatus"]), 7)

    def test_content_summary_and_quotas(self):
        c = self.c
        c.put("/backup/f", b"12345", replication="2")
        cs = c.json("GET", "/backup", "GETCONTENTSUMMARY")["ContentSummary"]
        self.assertEqual((cs["directoryCount"], cs["fileCount"], cs["length"],
                          cs["spaceConsumed"], cs["quota"], cs["spaceQuota"]),
                         (1, 1, 5, 10, -1, -1))
        self.srv.admin("/admin/quota", {"path": "/backup", "ns_quota": 4,
                                        "ds_quota": 2 * 1024 * 1024})
        cs = c.json("GET", "/backup", "GETCONTENTSUMMARY")["ContentSummary"]
        self.assertEqual((cs["quota"], cs["spaceQuota"]), (4, 2 * 1024 * 1024))
        # A block is charged in full (blocksize x replication) when allocated.
        r, body = c.create("/backup/g", b"x", blocksize="1048576", replication="3")
        self.assertEqual(r.status, 403)
        self.assertEqual(json.loads(body)["RemoteException"]["exception"],
                         "DSQuotaExceededException")
        # As in HDFS the refused file stays, empty: /backup, f, g, h fill the quota of 4.
        self.assertEqual(c.json("GET", "/backup/g", "GETFILESTATUS")["FileStatus"]["length"], 0)
        c.put("/backup/h", b"x", blocksize="1048576", replication="1")
        c.error("PUT", "/backup/s", "MKDIRS", 403, "NSQuotaExceededException")

    def test_checksum_matches_the_hdfs_algorithm(self):
        c = self.c
        self.assertEqual(webhdfs_server.crc32c(b"123456789"), 0xE3069283)
        impls = [webhdfs_server.crc32c_py]
        if webhdfs_server.crc32c_native:
            impls.append(webhdfs_server.crc32c_native)
        for n in (0, 1, 7, 8, 9, 15, 16, 17, 511, 512, 513):  # every tail length
            blob = os.urandom(n)
            for crc in impls:
                self.assertEqual(crc(blob), bitwise_crc32c(blob), (crc.__name__, n))
                self.assertEqual(crc(blob[n // 2:], crc(blob[:n // 2])), bitwise_crc32c(blob))
        chunkers = [webhdfs_server.chunk_crcs_py]
        if webhdfs_server.chunk_crcs_native:
            chunkers.append(webhdfs_server.chunk_crcs_native)
        blob = os.urandom(3000)
        for chunk_crcs in chunkers:
            self.assertEqual(chunk_crcs(blob, 7, 5, 512),
                             [bitwise_crc32c(blob[7 + i * 512:7 + (i + 1) * 512])
                              for i in range(5)], chunk_crcs.__name__)
        # Fed in any pieces, the same as fed at once, whole blocks or not.
        for blocksize in (1024, 1000, 1 << 27):
            whole = webhdfs_server.BlockCrcs(blocksize)
            whole.update(blob)
            pieces = webhdfs_server.BlockCrcs(blocksize)
            for a, b in ((0, 1), (1, 600), (600, 1111), (1111, 1112), (1112, 3000)):
                pieces.update(blob[a:b])
            self.assertEqual(pieces.result(), whole.result(), blocksize)
        self.native_body_agrees(blob)
        data = os.urandom(200000)
        c.put("/backup/f", data)
        r, body = c.raw("GET", "/backup/f", "GETFILECHECKSUM")
        self.assertEqual(r.status, 307)
        r, body = c.follow(r.getheader("Location"), "GET")
        ck = json.loads(body)["FileChecksum"]
        # Recomputed independently here: block MD5 over 512-byte chunk CRCs,
        # file MD5 over the block MD5 padded to 32 bytes.
        crcs = b"".join(struct.pack(">I", webhdfs_server.crc32c(data[i:i + 512]))
                        for i in range(0, len(data), 512))
        block = hashlib.md5(crcs).digest()
        want = struct.pack(">iq", 512, 0) + hashlib.md5(block + b"\0" * 16).digest()
        self.assertEqual(ck, {"algorithm": "MD5-of-0MD5-of-512CRC32C", "bytes": want.hex(),
                              "length": 28})
        # Several blocks: crcPerBlock in the name, padding to 64 bytes for 3 MD5s.
        c.put("/backup/m", data, blocksize="65536")
        r, body = c.raw("GET", "/backup/m", "GETFILECHECKSUM")
        r, body = c.follow(r.getheader("Location"), "GET")
        ck = json.loads(body)["FileChecksum"]
        self.assertEqual(ck["algorithm"], "MD5-of-128MD5-of-512CRC32C")
        md5s = b""
        for off in range(0, len(data), 65536):
            blk = data[off:off + 65536]
            md5s += hashlib.md5(b"".join(struct.pack(">I", webhdfs_server.crc32c(blk[i:i + 512]))
                                         for i in range(0, len(blk), 512))).digest()
        want = struct.pack(">iq", 512, 128) + hashlib.md5(md5s).digest()
        self.assertEqual(len(md5s), 64)
        self.assertEqual(ck["bytes"], want.hex())
        c.put("/backup/empty", b"")
        r, body = c.raw("GET", "/backup/empty", "GETFILECHECKSUM")
        r, body = c.follow(r.getheader("Location"), "GET")
        self.assertEqual(json.loads(body)["FileChecksum"]["algorithm"], "MD5-of-0MD5-of-0CRC32")

    def native_body_agrees(self, blob):
        """The DataNode's C receive path (webhdfs_dn.c) writes what it reads
        and keeps the same checksum as BlockCrcs, whatever the pieces."""
        if ibtest.SANITIZE:
            return  # not built there: the server runs its Python path
        lib = webhdfs_server.DN_LIB
        self.assertIsNotNone(lib, "WEBHDFS_DN_LIB is not loaded")
        for blocksize in (1024, 1000, 700, 512, 1 << 27):
            want = webhdfs_server.BlockCrcs(blocksize)
            want.update(blob)
            a, b = socket.socketpair()
            body = webhdfs_server.NativeBody(lib, blocksize)
            try:
                out_r, out_w = os.pipe()
                body.feed(out_w, blob[:5])  # what the reader held
                a.sendall(blob[5:1800])
                self.assertEqual(body.receive(b.fileno(), out_w, 1795), 1795)
                a.sendall(blob[1800:])
                a.close()
                # Asked for more than comes: short at the peer's close.
                self.assertEqual(body.receive(b.fileno(), out_w, len(blob)), len(blob) - 1800)
                os.close(out_w)
                with os.fdopen(out_r, "rb") as written:
                    self.assertEqual(written.read(), blob)
                self.assertEqual(body.result(), want.result(), blocksize)
            finally:
                body.close()
                b.close()
        empty = webhdfs_server.NativeBody(lib, 1024)
        self.assertEqual(empty.result(), webhdfs_server.BlockCrcs(1024).result())
        empty.close()

    def test_snapshots_keep_deleted_and_overwritten_files(self):
        c = self.c
        c.put("/backup/t/a", b"old-a")
        c.put("/backup/t/b", b"old-b")
        c.error("PUT", "/backup/t", "CREATESNAPSHOT", 403, "SnapshotException")
        r, body = c.raw("PUT", "/backup/t", "ALLOWSNAPSHOT")
        self.assertEqual((r.status, body), (200, b""))
        self.assertEqual(c.json("PUT", "/backup/t", "CREATESNAPSHOT", snapshotname="s1"),
                         {"Path": "/backup/t/.snapshot/s1"})
        c.error("PUT", "/backup/t", "CREATESNAPSHOT", 403, "SnapshotException",
                snapshotname="s1")
        c.json("DELETE", "/backup/t/a", "DELETE")
        c.put("/backup/t/b", b"new-b", overwrite="true")
        self.assertEqual(c.read("/backup/t/.snapshot/s1/a"), b"old-a")
        self.assertEqual(c.read("/backup/t/.snapshot/s1/b"), b"old-b")
        self.assertEqual(c.read("/backup/t/b"), b"new-b")
        snaps = c.json("GET", "/backup/t/.snapshot", "LISTSTATUS")["FileStatuses"]["FileStatus"]
        self.assertEqual([s["pathSuffix"] for s in snaps], ["s1"])
        c.error("PUT", "/backup/t/.snapshot/s1/x", "MKDIRS", 403,
                "SnapshotAccessControlException")
        c.error("DELETE", "/backup/t", "DELETE", 403, "SnapshotException", recursive="true")
        c.error("PUT", "/backup", "ALLOWSNAPSHOT", 403, "SnapshotException")  # nested
        blobs = self.srv.admin("/admin/stats")["blobs"]
        r, body = c.raw("DELETE", "/backup/t", "DELETESNAPSHOT", snapshotname="s1")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.srv.admin("/admin/stats")["blobs"], blobs - 2)
        c.error("DELETE", "/backup/t", "DELETESNAPSHOT", 403, "SnapshotException",
                snapshotname="s1")
        self.assertTrue(c.json("DELETE", "/backup/t", "DELETE", recursive="true")["boolean"])

    def test_permissions(self):
        c = self.c
        bob = Client(self.srv, user="bob")
        anon = Client(self.srv, user=None)
        try:
            body = bob.error("PUT", "/backup/x", "MKDIRS", 403, "AccessControlException")
            self.assertIn("user=bob, access=WRITE", body["message"])
            body = anon.error("PUT", "/backup/x", "MKDIRS", 403, "AccessControlException")
            self.assertIn("user=dr.who", body["message"])
            bob.error("PUT", "/backup", "ALLOWSNAPSHOT", 403, "AccessControlException")
            c.raw("PUT", "/backup", "SETOWNER", owner="bob")
            self.assertTrue(bob.json("PUT", "/backup/x", "MKDIRS")["boolean"])
            bob.error("GET", "/backup", "GETFILESTATUS", 400, "IllegalArgumentException",
                      **{"user.name": "1bad"})
        finally:
            bob.close()
            anon.close()

    def test_unknown_op_and_bad_parameters(self):
        body = self.c.error("GET", "/backup", "NOSUCHOP", 400, "IllegalArgumentException")
        self.assertIn("GetOpParam.Op.NOSUCHOP", body["message"])
        self.assertEqual(body["javaClassName"], "java.lang.IllegalArgumentException")
        self.c.error("DELETE", "/backup", "DELETE", 400, "IllegalArgumentException",
                     recursive="maybe")

    def test_standby_switch(self):
        c = self.c
        body = c.error("GET", "/backup", "GETFILESTATUS", 403, "StandbyException", nn=1)
        self.assertIn("READ is not supported in state standby", body["message"])
        self.srv.admin("/admin/state", {"active": 1})
        c.error("PUT", "/backup/x", "MKDIRS", 403, "StandbyException", nn=0)
        self.assertTrue(c.json("PUT", "/backup/x", "MKDIRS", nn=1)["boolean"])

    def test_keep_alive(self):
        for i in range(5):
            self.c.json("GET", "/backup", "GETFILESTATUS")
        self.assertEqual(self.srv.admin("/admin/stats")["connections"]["nn0"], 1)

    def test_namenode_never_reads_a_body(self):
        r, _ = self.c.raw("PUT", "/backup/f", "CREATE", body=b"x" * 1000)
        self.assertEqual(r.status, 307)
        self.assertEqual(self.srv.admin("/admin/stats")["nn_body_bytes"], 1000)

    def test_fault_status_storm(self):
        self.srv.admin("/admin/fault", {"kind": "status", "code": 503, "count": 2, "node": "nn0"})
        for _ in range(2):
            r, body = self.c.raw("GET", "/backup", "GETFILESTATUS")
            self.assertEqual(r.status, 503)
            self.assertIn(b"<html>", body)
        self.c.json("GET", "/backup", "GETFILESTATUS")

    def test_fault_reset_mid_body_leaves_partial_file(self):
        self.srv.admin("/admin/fault", {"kind": "reset", "after_bytes": 65536})
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            self.c.create("/backup/f", os.urandom(400000))
        self.c.close()
        self.c.conns.clear()
        st = self.c.json("GET", "/backup/f", "GETFILESTATUS")["FileStatus"]
        self.assertLess(st["length"], 400000)
        self.c.put("/backup/f", b"ok", overwrite="true")
        self.assertEqual(self.c.read("/backup/f"), b"ok")

    def test_fault_reset_picks_its_body_and_the_datanode_dies(self):
        # Only bodies of at least min_length count; skip lets the first pass.
        self.srv.admin("/admin/fault", {"kind": "reset", "after_bytes": 1000,
                                        "min_length": 100000, "skip": 1, "down_s": 1.0})
        self.c.put("/backup/small", b"s" * 5000)
        self.c.put("/backup/first", os.urandom(200000))
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            self.c.create("/backup/second", os.urandom(200000))
        self.c.close()
        self.c.conns.clear()
        self.assertEqual(self.srv.admin("/admin/stats")["faults"], 0)
        # Dead for down_s, then back on the same port.
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", self.srv.dn), timeout=5).close()
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.srv.dn), timeout=5).close()
                break
            except ConnectionRefusedError:
                self.assertLess(time.monotonic(), deadline, "the datanode did not come back")
                time.sleep(0.05)
        self.c.put("/backup/second", b"back", overwrite="true")
        self.assertEqual(self.c.read("/backup/second"), b"back")

    def test_fault_safemode_is_retriable(self):
        self.srv.admin("/admin/fault", {"kind": "safemode", "count": 1})
        self.c.json("GET", "/backup", "GETFILESTATUS")  # reads are not refused
        body = self.c.error("PUT", "/backup/x", "MKDIRS", 403, "RetriableException")
        self.assertIn("SafeModeException", body["message"])
        self.assertTrue(self.c.json("PUT", "/backup/x", "MKDIRS")["boolean"])
        self.srv.admin("/admin/fault", {"kind": "safemode", "count": 1, "wrap": False})
        r, body = self.c.create("/backup/f", b"x")
        self.assertEqual(json.loads(body)["RemoteException"]["exception"], "SafeModeException")

    def test_fault_slow(self):
        self.srv.admin("/admin/fault", {"kind": "slow", "delay": 0.3, "count": 1})
        t = time.monotonic()
        self.c.json("GET", "/backup", "GETFILESTATUS")
        self.assertGreaterEqual(time.monotonic() - t, 0.3)

    def test_fault_drop_after_applies_the_operation(self):
        self.srv.admin("/admin/fault", {"kind": "drop_after", "node": "nn0", "op": "MKDIRS"})
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            self.c.json("PUT", "/backup/x", "MKDIRS")
        self.c.conns.clear()
        self.c.json("GET", "/backup/x", "GETFILESTATUS")

    def test_admin_reset_gives_a_fresh_cluster(self):
        self.c.put("/backup/f", b"x")
        self.c.json("PUT", "/backup", "ALLOWSNAPSHOT", expect=200)
        self.c.json("PUT", "/backup", "CREATESNAPSHOT", snapshotname="s")
        self.srv.admin("/admin/state", {"active": 1})
        self.srv.admin("/admin/fault", {"kind": "status", "code": 500, "count": 9})
        self.srv.admin("/admin/datanode", {"up": False})
        self.srv.admin("/admin/reset", {})
        stats = self.srv.admin("/admin/stats")
        self.assertEqual((stats["active"], stats["faults"], stats["blobs"]), (0, 0, 0))
        self.c.error("GET", "/backup", "GETFILESTATUS", 404, "FileNotFoundException")
        self.c.conns.clear()
        self.c.put("/f", b"y")  # the DataNode is up again

    def test_datanode_down(self):
        self.srv.admin("/admin/datanode", {"up": False})
        r, _ = self.c.raw("PUT", "/backup/f", "CREATE")
        self.assertEqual(r.status, 307)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", self.srv.dn), timeout=5).close()
        self.srv.admin("/admin/datanode", {"up": True})
        self.c.conns.pop(self.srv.dn, None)
        self.c.put("/backup/f", b"back")


if __name__ == "__main__":
    unittest.main()
