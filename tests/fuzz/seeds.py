#!/usr/bin/env python3
"""Writes the generated seed inputs of tests/fuzz/corpus/<target>/.

Run it after changing a seed below; it only (re)writes the files it names,
so regression inputs added by hand (regress-*) stay. Each seed is a valid
example or a hostile one (newlines in names, very long values, NUL bytes,
deep nesting, huge numbers, duplicate keys, escaping paths, truncation,
HTML proxy pages, ...). The replay tests (ctest -R fuzz.replay) run every
file of the corpus; libFuzzer starts from them (tests/fuzz/run-brief).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))


def dump(obj):
    return json.dumps(obj, indent=2).encode()


def nest(depth, open_="[", close="]", inner=b"1"):
    return open_.encode() * depth + inner + close.encode() * depth


# ---- task files -------------------------------------------------------------

LOCAL = {
    "mode": "manual",
    "source": {"data_dirs": ["/opt/iotdb/data/datanode/data"], "databases": ["root.ln"]},
    "target": {"path_type": "LocalDir", "target_path": "/var/backups/iotdb", "max_copies": 7},
}

PERIODIC = {
    "mode": "periodic",
    "started": "2026-11-24T02:00:00+01:00",
    "period": {"every": 6, "unit": "hours"},
    "policy": "full-every-n",
    "full_every": 7,
    "catch_up": "skip",
    "cluster_mode": "normal",
    "source": {
        "data_dirs": ["/data/a", "/data/b"],
        "databases": ["root.ln", "root.`my-db`"],
        "database_patterns": ["^root\\.factory_[0-9]+$"],
        "rest": {"url": "https://[::1]:18080", "user": "backup", "password_file": "/etc/p"},
    },
    "target": {"path_type": "LocalDir", "target_path": "/backup//iotdb///", "max_copies": 65536,
               "max_bandwidth_mbps": 12.5},
}

HDFS = {
    "mode": "periodic",
    "started": "2026-11-24T03:00:00",
    "period": {"every": 1, "unit": "days"},
    "cluster_mode": "security",
    "source": {"data_dirs": ["/data"], "database_patterns": [".*"]},
    "target": {
        "path_type": "RemoteHDFS", "nameservice": "hacluster", "ip_mode": "IPv6",
        "active_namenode": "[2001:db8::10]:9871", "standby_namenode": "nn2.example.org",
        "namenode_rpc_port": 8020, "namenode_http_port": 9871, "tls": True,
        "ca_file": "/etc/ssl/ca.pem", "parallel_uploads": 16, "target_path": "/backup/iotdb",
        "max_copies": 3, "auth": {"mode": "kerberos", "principal": "backup@EXAMPLE.ORG",
                                  "keytab": "/etc/backup.keytab"},
    },
}


def with_(base, path, value):
    """A copy of base with the member at path (a tuple of keys) set to value."""
    obj = json.loads(json.dumps(base))
    o = obj
    for k in path[:-1]:
        o = o[k]
    o[path[-1]] = value
    return obj


def task_seeds():
    s = {}
    for name in ("example-localdir.json", "example-remotehdfs.json"):
        with open(os.path.join(SOURCE, "conf", "tasks.d", name), "rb") as f:
            s["conf-" + name] = f.read()
    s["local-manual.json"] = dump(LOCAL)
    s["periodic-full-every-n.json"] = dump(PERIODIC)
    s["hdfs-kerberos-ipv6.json"] = dump(HDFS)
    s["compact.json"] = json.dumps(LOCAL, separators=(",", ":")).encode()
    # hostile strings
    s["newline-in-database.json"] = dump(with_(LOCAL, ("source", "databases"), ["root.a\nroot.b"]))
    s["newline-in-target-path.json"] = dump(with_(LOCAL, ("target", "target_path"), "/b\n/x"))
    s["newline-in-key.json"] = dump(with_(LOCAL, ("bad\nkey\r\x1b[31m",), 1))
    s["escape-seq-in-value.json"] = dump(with_(LOCAL, ("mode",), "\x1b[2J\x07manual"))
    s["long-value-200k.json"] = dump(with_(LOCAL, ("target", "target_path"), "/" + "a" * 200000))
    s["long-key-70k.json"] = dump(with_(LOCAL, ("k" * 70000,), True))
    s["long-database-list.json"] = dump(
        with_(LOCAL, ("source", "databases"), ["root.d%d" % i for i in range(3000)]))
    s["nul-raw.json"] = dump(LOCAL).replace(b"manual", b"man\x00ual")
    s["nul-escaped-value.json"] = dump(LOCAL).replace(b"manual", b"man\\u0000ual")
    s["nul-escaped-key.json"] = dump(LOCAL).replace(b'"mode"', b'"mo\\u0000de"')
    s["escaped-backslash-u0000.json"] = dump(LOCAL).replace(b"root.ln", b"root.\\\\u0000")
    s["deep-arrays.json"] = b'{"mode":' + nest(5000) + b"}"
    s["deep-objects.json"] = b'{"x":' + nest(900, '{"a":', "}") + b"}"
    s["deep-objects-over-limit.json"] = b'{"x":' + nest(1200, '{"a":', "}") + b"}"
    s["huge-numbers.json"] = dump(LOCAL).replace(b'"max_copies": 7', b'"max_copies": 1e400')
    s["huge-every.json"] = dump(PERIODIC).replace(b'"every": 6', b'"every": 9223372036854775808')
    s["negative-zero.json"] = dump(PERIODIC).replace(b'"every": 6', b'"every": -0')
    s["fraction.json"] = dump(PERIODIC).replace(b'"full_every": 7', b'"full_every": 7.5')
    s["huge-bandwidth.json"] = dump(PERIODIC).replace(b"12.5", b"1.7976931348623157e308")
    s["big-port.json"] = dump(with_(HDFS, ("target", "namenode_http_port"), 4294967297))
    s["duplicate-keys.json"] = b'{"mode":"manual","mode":"periodic",' + dump(LOCAL)[1:]
    s["duplicate-nested.json"] = dump(LOCAL).replace(
        b'"max_copies": 7', b'"max_copies": 7, "max_copies": 8, "target_path": "/x"')
    s["many-unknown-keys.json"] = json.dumps(
        dict(LOCAL, **{"unknown%d" % i: i for i in range(5000)})).encode()
    s["invalid-utf8.json"] = dump(LOCAL).replace(b"root.ln", b"root.\xff\xfe\xc0\xaf")
    s["lone-surrogate.json"] = dump(LOCAL).replace(b"root.ln", b"root.\\ud800x")
    s["bom.json"] = b"\xef\xbb\xbf" + dump(LOCAL)
    s["trailing-comma.json"] = b'{"mode": "manual",}'
    s["comment.json"] = b'{\n  // nightly\n  "mode": "manual"\n}'
    s["single-quotes.json"] = b"{'mode': 'manual'}"
    s["missing-colon.json"] = b'{"mode" "manual"}'
    s["unclosed-string.json"] = b'{"mode": "manual'
    s["truncated.json"] = dump(HDFS)[:300]
    s["trailing-garbage.json"] = dump(LOCAL) + b"\n}{"
    s["empty.json"] = b""
    s["whitespace.json"] = b" \n\t\r "
    s["null.json"] = b"null"
    s["array.json"] = b"[]"
    s["string.json"] = b'"mode"'
    s["bad-dates.json"] = dump(with_(PERIODIC, ("started",), "2026-02-30T24:60:61+99:99"))
    s["leap-day.json"] = dump(with_(PERIODIC, ("started",), "2028-02-29T23:59:59Z"))
    s["bad-regex.json"] = dump(with_(PERIODIC, ("source", "database_patterns"), ["(", "[z-a]", "a**"]))
    s["heavy-regex.json"] = dump(
        with_(PERIODIC, ("source", "database_patterns"), ["((a{1,20}){1,20}){1,20}"]))
    s["relative-paths.json"] = dump(with_(LOCAL, ("source", "data_dirs"), ["data", "./x", "../y"]))
    s["dotdot-target.json"] = dump(with_(LOCAL, ("target", "target_path"), "/backup/../etc"))
    s["hdfs-reserved-path.json"] = dump(with_(HDFS, ("target", "target_path"), "/hbase/x/.snapshot"))
    s["hdfs-bad-addresses.json"] = dump(with_(
        with_(HDFS, ("target", "active_namenode"), "[::1"), ("target", "standby_namenode"),
        "h" * 300 + ":99999"))
    s["hdfs-simple-auth.json"] = dump(with_(HDFS, ("target", "auth"), {"mode": "simple", "user": "a b"}))
    s["rest-bad-url.json"] = dump(with_(PERIODIC, ("source", "rest", "url"), "javascript:alert(1)"))
    s["wrong-types.json"] = dump({"mode": 1, "source": [], "target": "x", "period": {"every": "1"}})
    return s


# ---- daemon settings ---------------------------------------------------------

def config_seeds():
    s = {}
    with open(os.path.join(SOURCE, "conf", "iotdb-backupd.conf"), "rb") as f:
        s["conf-example.conf"] = f.read()
    s["empty-object.conf"] = b"{}"
    s["log-level-number.conf"] = b'{"log_level": 7, "max_parallel_runs": 64}'
    s["log-level-bad.conf"] = b'{"log_level": "verbose", "max_parallel_runs": 0}'
    s["log-level-type.conf"] = b'{"log_level": [6]}'
    s["staging-relative.conf"] = b'{"staging_dir": "staging"}'
    s["staging-newline.conf"] = b'{"staging_dir": "/var/lib/x\\n/y"}'
    s["huge-numbers.conf"] = (b'{"max_parallel_runs": 1e400, "max_bandwidth_mbps": -1e400, '
                              b'"shutdown_timeout_s": 9223372036854775807}')
    s["fractions.conf"] = b'{"max_parallel_runs": 1.5, "max_bandwidth_mbps": 0.001}'
    s["duplicate-keys.conf"] = b'{"log_level": "info", "log_level": "debug"}'
    s["unknown-key-typo.conf"] = b'{"max_paralel_runs": 2, "shutdown_timeout": 1}'
    s["nul.conf"] = b'{"log_level": "in\x00fo"}'
    s["nul-escaped.conf"] = b'{"staging_dir": "/a\\u0000/b"}'
    s["deep.conf"] = nest(3000, '{"a":', "}")
    s["not-json.conf"] = b"max_parallel_runs = 2\n"
    s["empty.conf"] = b""
    s["array.conf"] = b"[1,2,3]"
    s["oversized.conf"] = b"{" + b" " * (1024 * 1024) + b"}"
    return s


# ---- manifests ---------------------------------------------------------------

def manifest(files, **over):
    m = {
        "databases": ["root.ln", "root.sgcc"],
        "format": 1,
        "task": "nightly",
        "backup_type": "full",
        "start": 1764000000,
        "end": 1764000042,
        "start_time": "2025-11-24T16:00:00Z",
        "end_time": "2025-11-24T16:00:42Z",
        "source_host": "iotdb-1",
        "layout_version": 1,
        "program_version": "0.1.0",
        "run_id": 12,
        "files": files,
    }
    m.update(over)
    return m


def mfile(path, size=4096, mtime=1764000000123, crc="0a1b2c3d"):
    return {"path": path, "size": size, "mtime_ms": mtime, "crc32c": crc}


GOOD_FILES = [
    mfile("sequence/root.ln/1/2808/1764000000000-1-0-0.tsfile"),
    mfile("sequence/root.ln/1/2808/1764000000000-1-0-0.tsfile.resource", 214),
    mfile("unsequence/root.sgcc/0/2808/1764000001000-2-1-0.tsfile", 0, crc="00000000"),
    mfile("system/schema/root.ln/schema_region/1/mlog.bin", 100, crc="FFFFFFFF"),
]


def manifest_seeds():
    s = {}
    good = dump(manifest(GOOD_FILES))
    s["good.json"] = good
    s["good-incremental.json"] = dump(manifest(GOOD_FILES[:1], backup_type="incremental"))
    s["good-empty.json"] = dump(manifest([], databases=[]))
    s["good-minimal.json"] = json.dumps({"format": 1, "task": "t", "backup_type": "full",
                                         "start": 0, "end": 0, "databases": [],
                                         "files": []}).encode()
    s["many-files.json"] = dump(manifest([mfile("d/%05d.tsfile" % i) for i in range(5000)]))
    for name, path in [("dotdot", "../../etc/passwd"), ("dotdot-middle", "sequence/../../x"),
                       ("absolute", "/etc/passwd"), ("empty-path", ""), ("dot", "./a"),
                       ("trailing-dot", "a/."), ("double-slash", "a//b"), ("trailing-slash", "a/"),
                       ("only-dotdot", ".."), ("backslash", "..\\..\\x"),
                       ("newline", "a\n../b"), ("escape-seq", "\x1b[31mred"),
                       ("long-path", "a/" * 30000 + "x")]:
        s["path-%s.json" % name] = dump(manifest([mfile(path)]))
    s["path-nul-escaped.json"] = dump(manifest([mfile("a")])).replace(
        b'"path": "a"', b'"path": "a\\u0000/../../x"')
    s["path-nul-raw.json"] = dump(manifest([mfile("a")])).replace(b'"path": "a"',
                                                                  b'"path": "a\x00/../x"')
    s["path-escaped-backslash-u0000.json"] = dump(manifest([mfile("a\\u0000")]))
    s["path-unicode.json"] = dump(manifest([mfile("seq/\u00fc\u20ac\U0001f600")]))
    s["duplicate-entries.json"] = dump(manifest([mfile("a/b"), mfile("x"), mfile("a/b", 1)]))
    s["duplicate-keys.json"] = good.replace(b'"task": "nightly"',
                                            b'"task": "nightly", "task": "other"')
    for name, crc in [("short", "0a1b2c3"), ("long", "0a1b2c3d4"), ("nonhex", "0a1b2c3g"),
                      ("prefix", "0x1b2c3d"), ("number", 12345678), ("empty", "")]:
        s["crc-%s.json" % name] = dump(manifest([mfile("a", crc=crc)]))
    for name, size in [("negative", -1), ("huge", 1e300), ("above-2p53", 9007199254740993),
                       ("fraction", 1.5), ("string", "1")]:
        s["size-%s.json" % name] = dump(manifest([mfile("a", size=size)]))
    s["mtime-min.json"] = dump(manifest([mfile("a", mtime=-9007199254740992)]))
    s["start-huge.json"] = dump(manifest(GOOD_FILES, start=9007199254740992, end=-9007199254740992))
    s["format-2.json"] = dump(manifest(GOOD_FILES, format=2))
    s["format-0.json"] = dump(manifest(GOOD_FILES, format=0))
    s["backup-type-bad.json"] = dump(manifest(GOOD_FILES, backup_type="differential\n"))
    s["layout-huge.json"] = dump(manifest(GOOD_FILES, layout_version=2147483648))
    s["files-object.json"] = dump(manifest({"a": 1}))
    s["file-not-object.json"] = dump(manifest(["a"]))
    s["databases-mixed.json"] = dump(manifest(GOOD_FILES, databases=["root.a", 1, None]))
    for cut in (0, 1, 100, len(good) // 2, len(good) - 2, len(good) - 1):
        s["truncated-%d.json" % cut] = good[:cut]
    s["trailing-garbage.json"] = good + b"\n{}"
    s["two-documents.json"] = good + good
    s["deep.json"] = b'{"format":1,"x":' + nest(2000) + b"}"
    s["not-object.json"] = b"[]"
    s["html.json"] = b"<html><body>404 Not Found</body></html>"
    return s


# ---- IoTDB REST answers (each is also fed as a database path) ---------------

def rest_seeds():
    s = {}
    s["ok.json"] = b'{"code":200,"message":"SUCCESS_STATUS"}'
    s["read-only-600.json"] = b'{"code":600,"message":"Database is read-only"}'
    s["unsupported-700.json"] = b'{"code":700,"message":"line 1:0 mismatched input \'FLUSH\'"}'
    s["auth-800.json"] = b'{"code":800,"message":"Authentication failed."}'
    s["auth-801.json"] = b'{"code":801,"message":"user root not exist"}'
    s["privilege-803.json"] = b'{"code":803,"message":"No permissions for this operation"}'
    s["error-multiline.json"] = (b'{"code":500,"message":"java.lang.NullPointerException\\n\\t'
                                 b'at org.apache.iotdb.X.run(X.java:1)\\r\\n\\u001b[31mfake log"}')
    s["code-string.json"] = b'{"code":"200"}'
    s["code-huge.json"] = b'{"code":1e400,"message":"x"}'
    s["code-negative.json"] = b'{"code":-2147483649,"message":null}'
    s["code-fraction.json"] = b'{"code":200.5}'
    s["message-long.json"] = b'{"code":500,"message":"' + b"m" * 5000 + b'"}'
    s["query-answer.json"] = json.dumps({
        "expressions": None, "column_names": ["Database", "SchemaReplicationFactor", "TTL"],
        "timestamps": None, "values": [["root.ln", "root.sgcc"], [1, 1], [None, None]]}).encode()
    s["query-empty.json"] = b'{"expressions":null,"column_names":["Database"],"values":[]}'
    s["html.json"] = b"<html><head><title>502 Bad Gateway</title></head></html>"
    s["empty.json"] = b""
    s["null.json"] = b"null"
    s["deep.json"] = nest(3000, '{"code":', "}", b"200")
    s["path-plain.txt"] = b"root.ln.d1"
    s["path-quoted.txt"] = b"root.`my-db`.`a``b`"
    s["path-backquotes.txt"] = b"root.a`b.`c"
    s["path-dots.txt"] = b"root..x..."
    s["path-digits.txt"] = b"root.1abc.2"
    s["path-sql.txt"] = b"root.x ON LOCAL; DELETE DATABASE root.**; --"
    s["path-unicode.txt"] = "root.\u6e29\u5ea6".encode()
    s["path-single-backquote.txt"] = b"`"
    return s


# ---- WebHDFS answers --------------------------------------------------------

def file_status(suffix, typ="FILE", length=4096, mtime=1764000000123):
    return {"accessTime": 1764000000000, "blockSize": 134217728, "childrenNum": 0,
            "fileId": 16390, "group": "supergroup", "length": length,
            "modificationTime": mtime, "owner": "hdfs", "pathSuffix": suffix,
            "permission": "644", "replication": 3, "storagePolicy": 0, "type": typ}


def remote_exception(ex, cls, msg):
    return json.dumps({"RemoteException": {"exception": ex, "javaClassName": cls,
                                            "message": msg}}).encode()


def webhdfs_seeds():
    s = {}
    s["re-not-found.json"] = remote_exception(
        "FileNotFoundException", "java.io.FileNotFoundException", "File does not exist: /x")
    s["re-standby.json"] = remote_exception(
        "StandbyException", "org.apache.hadoop.ipc.StandbyException",
        "Operation category READ is not supported in state standby")
    s["re-quota.json"] = remote_exception(
        "DSQuotaExceededException", "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException",
        "The DiskSpace quota of /backup is exceeded: quota = 1 B = 1 B but diskspace consumed")
    s["re-access.json"] = remote_exception(
        "AccessControlException", "org.apache.hadoop.security.AccessControlException",
        "Permission denied: user=x, access=WRITE, inode=\"/backup\":hdfs:supergroup:drwxr-xr-x")
    s["re-safemode.json"] = remote_exception(
        "SafeModeException", "org.apache.hadoop.hdfs.server.namenode.SafeModeException",
        "Cannot create directory /x. Name node is in safe mode.")
    s["re-long-newline.json"] = remote_exception("E" * 300, "c", "line1\nline2\r\n" + "m" * 5000)
    s["re-empty-exception.json"] = remote_exception("", "", "")
    s["re-wrong-types.json"] = b'{"RemoteException":{"exception":1,"message":["x"]}}'
    s["file-status.json"] = json.dumps({"FileStatus": file_status("")}).encode()
    s["file-status-dir.json"] = json.dumps(
        {"FileStatus": file_status("", "DIRECTORY", 0)}).encode()
    s["file-status-huge.json"] = json.dumps(
        {"FileStatus": file_status("", length=9007199254740993, mtime=-1)}).encode()
    s["file-status-no-type.json"] = b'{"FileStatus":{"length":1}}'
    entries = [file_status("a.tsfile"), file_status("dir", "DIRECTORY", 0),
               file_status(".Trash", "DIRECTORY", 0), file_status("s", "SYMLINK")]
    s["list.json"] = json.dumps({"FileStatuses": {"FileStatus": entries}}).encode()
    s["list-empty.json"] = b'{"FileStatuses":{"FileStatus":[]}}'
    s["list-of-file.json"] = json.dumps({"FileStatuses": {"FileStatus": [file_status("")]}}).encode()
    s["list-many.json"] = json.dumps({"FileStatuses": {"FileStatus": [
        file_status("f%04d" % i) for i in range(300)]}}).encode()
    s["list-hostile-names.json"] = json.dumps({"FileStatuses": {"FileStatus": [
        file_status(n) for n in ("..", ".", "../../x", "a/b", "a\nb", "\u00fc")]}}).encode()
    s["list-missing-fields.json"] = b'{"FileStatuses":{"FileStatus":[{"type":"FILE"},{}]}}'
    s["batch.json"] = json.dumps({"DirectoryListing": {"partialListing": {"FileStatuses": {
        "FileStatus": entries[:2]}}, "remainingEntries": 998}}).encode()
    s["batch-negative.json"] = json.dumps({"DirectoryListing": {"partialListing": {
        "FileStatuses": {"FileStatus": []}}, "remainingEntries": -1}}).encode()
    s["batch-no-remaining.json"] = b'{"DirectoryListing":{"partialListing":{"FileStatuses":{"FileStatus":[]}}}}'
    s["checksum.json"] = json.dumps({"FileChecksum": {
        "algorithm": "MD5-of-0MD5-of-512CRC32C",
        "bytes": "0000020000000000000000007b2d5b8f23c46f7d0e4a9f7d1c0b9a6e00000000",
        "length": 28}}).encode()
    s["checksum-empty-file.json"] = (b'{"FileChecksum":{"algorithm":"MD5-of-0MD5-of-0CRC32",'
                                     b'"bytes":"00000000000000000000000070bc8f4b72a86921468bf8e8'
                                     b'441dce51","length":28}}')
    s["checksum-short-bytes.json"] = b'{"FileChecksum":{"algorithm":"A","bytes":"00","length":28}}'
    s["checksum-long-algorithm.json"] = json.dumps({"FileChecksum": {
        "algorithm": "A" * 500, "bytes": "00" * 28, "length": 28}}).encode()
    s["checksum-negative-length.json"] = b'{"FileChecksum":{"algorithm":"A","bytes":"","length":-5}}'
    s["boolean.json"] = b'{"boolean":true}'
    s["html-proxy.html"] = (b"<!DOCTYPE html>\n<html><head><title>502 Proxy Error</title></head>"
                            b"<body><h1>Proxy Error</h1><p>The proxy server received an invalid "
                            b"response from an upstream server.</p></body></html>\n")
    s["kerberos-401.html"] = (b"<html>\n<head><title>Error 401 Authentication required</title>"
                              b"</head>\n<body><h2>HTTP ERROR 401</h2></body></html>")
    s["empty.json"] = b""
    s["truncated.json"] = s["list.json"][:150]
    s["deep.json"] = nest(3000, '{"FileStatus":', "}", b"{}")
    s["nul.json"] = b'{"FileStatus":{"type":"FI\x00LE"}}'
    s["path-plain.txt"] = b"/backup/iotdb/nightly_IoTDB_20261124T020000/.snapshot/c1"
    s["path-special.txt"] = b"/a b/c;d/e%f/g+h/\xc3\xbc/~x/"
    s["path-slashes.txt"] = b"////"
    return s


# ---- control socket framing -------------------------------------------------

def linebuf_seeds():
    s = {}
    daemon_limit = b"\x00\x00"  # byte 0 = 0: the daemon's own 65536-byte limit
    s["status.bin"] = daemon_limit + b'{"v":1,"cmd":"status"}\n'
    s["several.bin"] = daemon_limit + (b'{"v":1,"cmd":"status"}\n\n{"v":1,"cmd":"run",'
                                       b'"task":"a","type":null,"wait":true}\n{"v":1,"cmd":"reload"}\n')
    s["crlf-and-partial.bin"] = b"\x00\x02" + b'{"v":1,"cmd":"status"}\r\n{"v":1,'
    s["small-limit.bin"] = b"\x08\x01" + b"short\nthis line is too long\nok\n\n"
    s["small-limit-no-stop.bin"] = b"\x08\x02" + b"this line is too long\nok\nlong again, unterminated"
    s["exact-limit.bin"] = b"\x05\x03" + b"12345\n123456\n1234\n"
    s["zero-limit.bin"] = b"\x40\x04" + b"\n\nx\n\n"
    s["nul-bytes.bin"] = daemon_limit + b'{"v":1,\x00"cmd":"status"}\n\x00\x00\n'
    s["binary.bin"] = daemon_limit + bytes(range(256)) * 4
    s["huge-line.bin"] = b"\x00\x05" + b'{"v":1,"cmd":"status","pad":"' + b"x" * 70000 + b'"}\nok\n'
    s["deep-json-line.bin"] = daemon_limit + nest(2000) + b"\n"
    return s


# ---- control socket requests -----------------------------------------------

def control_seeds():
    s = {}
    s["status.json"] = b'{"v":1,"cmd":"status"}'
    s["reload.json"] = b'{"v":1,"cmd":"reload"}'
    s["run.json"] = b'{"v":1,"cmd":"run","task":"nightly","type":null,"wait":false}'
    s["run-full-wait.json"] = b'{"v":1,"cmd":"run","task":"a_b-9","type":"full","wait":true}'
    s["run-incremental.json"] = b'{"v":1,"cmd":"run","task":"x","type":"incremental"}'
    s["run-bad-type.json"] = b'{"v":1,"cmd":"run","task":"x","type":"Full"}'
    s["run-type-number.json"] = b'{"v":1,"cmd":"run","task":"x","type":1e400}'
    s["run-wait-string.json"] = b'{"v":1,"cmd":"run","task":"x","wait":"yes"}'
    s["run-task-array.json"] = b'{"v":1,"cmd":"run","task":["x"]}'
    s["run-task-hostile.json"] = b'{"v":1,"cmd":"run","task":"a\\nb\\r\\u001b[31m\xff"}'
    s["run-task-long.json"] = b'{"v":1,"cmd":"run","task":"' + b"t" * 65 + b'"}'
    s["run-task-dots.json"] = b'{"v":1,"cmd":"run","task":"../../etc/passwd"}'
    s["trailing-junk.json"] = b'{"v":1,"cmd":"status"} junk'
    s["trailing-object.json"] = b'{"v":1,"cmd":"status"}{"v":1,"cmd":"reload"}'
    s["trailing-crlf.json"] = b'{"v":1,"cmd":"status"} \t\r\n'
    s["trailing-control.json"] = b'{"v":1,"cmd":"status"}\x01'
    s["escaped-nul-cmd.json"] = b'{"v":1,"cmd":"status\\u0000x"}'
    s["escaped-nul-type.json"] = b'{"v":1,"cmd":"run","task":"x","type":"full\\u0000"}'
    s["escaped-backslash-u0000.json"] = b'{"v":1,"cmd":"status","pad":"\\\\u0000"}'
    s["raw-nul.json"] = b'{"v":1,"cmd":"status","pad":"\x00"}'
    s["duplicate-cmd.json"] = b'{"v":1,"cmd":"status","cmd":"reload"}'
    s["v-missing.json"] = b'{"cmd":"status"}'
    s["v-string.json"] = b'{"v":"1","cmd":"status"}'
    s["v-huge.json"] = b'{"v":1e400,"cmd":"status"}'
    s["v-fraction.json"] = b'{"v":1.0000000000000002,"cmd":"status"}'
    s["cmd-object.json"] = b'{"v":1,"cmd":{"status":1}}'
    s["cmd-unknown.json"] = b'{"v":1,"cmd":"x\\ny\\u001b]0;t\\u0007"}'
    s["cmd-invalid-utf8.json"] = b'{"v":1,"cmd":"st\xc0\xafatus"}'
    s["not-object.json"] = b'[{"v":1,"cmd":"status"}]'
    s["bom.json"] = b'\xef\xbb\xbf{"v":1,"cmd":"status"}'
    s["deep.json"] = b'{"v":1,"cmd":"status","x":' + nest(2000) + b"}"
    s["empty.json"] = b""
    return s


TARGETS = {
    "task": task_seeds,
    "config": config_seeds,
    "manifest": manifest_seeds,
    "rest": rest_seeds,
    "webhdfs": webhdfs_seeds,
    "linebuf": linebuf_seeds,
    "control": control_seeds,
}


def main(argv):
    for target in argv[1:] or sorted(TARGETS):
        out = os.path.join(HERE, "corpus", target)
        os.makedirs(out, exist_ok=True)
        seeds = TARGETS[target]()
        for name, data in sorted(seeds.items()):
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
        print("%s: %d seeds" % (target, len(seeds)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
