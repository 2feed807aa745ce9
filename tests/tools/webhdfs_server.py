#!/usr/bin/env python3
"""A WebHDFS test server, faithful to Hadoop 3 where this project's tests need it.

Two NameNodes and one DataNode on separate ports share one namespace. File
data lives in a storage directory on disk (one blob file per written file
version, reference-counted so that snapshots keep deleted and overwritten
files); only metadata is kept in memory. A third port takes admin requests
that switch the active NameNode, set quotas and arm faults. When
WEBHDFS_DN_LIB names tests/tools/webhdfs_dn.c built as a shared object (the
build's tests/libwebhdfs_dn.so), the DataNode receives plain (not TLS, not
chunked) bodies in C, outside the interpreter lock; otherwise in Python.

Modelled after Hadoop 3.2/3.3 (NamenodeWebHdfsMethods, WebHdfsHandler,
JsonUtil, ExceptionHandler):
  - NameNode answers CREATE/OPEN/GETFILECHECKSUM with 307 to the DataNode
    (200 {"Location": ...} with noredirect=true); CREATE step 1 does no
    namespace checks, the DataNode step does (FileAlreadyExistsException).
  - RemoteException JSON, statuses as ExceptionHandler maps them:
    FileNotFoundException 404, IllegalArgumentException (and subclasses)
    400, every other IOException 403.
  - Standby NameNode: 403 StandbyException for every operation.
  - Safe mode: SafeModeException wrapped in RetriableException (HA setup).
  - Query parameters are decoded as Jersey does ('+' is a space); the path
    is percent-decoded only.
  - Quotas are enforced as HDFS does: the disk space quota is checked per
    block allocation against a full block times replication.
  - Old-style RENAME answers false (source missing, destination parent
    missing, destination a file) and moves into an existing directory;
    renameoptions=OVERWRITE is rename2 (exceptions, atomic replace).
  - Snapshots: ALLOWSNAPSHOT superuser only, no nesting, <dir>/.snapshot
    read-only views, a directory with snapshots cannot be deleted/renamed.
Not modelled: Kerberos/SPNEGO and delegation tokens, ACLs, xattrs, APPEND,
truncate, storage policies, erasure coding and COMPOSITE-CRC checksums,
symlinks, trash, leases (a file interrupted mid-upload is closed with the
bytes received), block placement (one DataNode, which sends 100 Continue
before its checks), space held only by snapshots (not counted in quotas),
the recursive-delete subtree permission check, ParamException details of
every parameter, the /isActive servlet, HttpFS.

Usage: webhdfs_server.py [--storage DIR] [--nn-ports P0,P1] [--nn-hosts A,B] [--dn-port P]
       [--admin-port P] [--host 127.0.0.1] [--superuser hdfs]
       [--ls-limit 1000] [--blocksize 134217728] [--datanode-host NAME]
       [--tls-cert PEM --tls-key PEM]
Prints one JSON line with the bound ports on stdout, then serves until
stdin closes or SIGTERM/SIGINT.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# ---------------------------------------------------------------- checksum

def _crc32c_tables():
    """Slicing-by-8 tables: t[k][b] is the CRC of byte b then k zero bytes."""
    t0 = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t0.append(c)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([t0[prev[i] & 0xFF] ^ (prev[i] >> 8) for i in range(256)])
    return tables


_CRC_TABLES = _crc32c_tables()


def crc32c_py(data, crc=0):
    """CRC32C (Castagnoli), reflected, as HDFS's DataChecksum CRC32C; eight
    bytes per step, since a byte loop in Python is slow."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _CRC_TABLES
    crc ^= 0xFFFFFFFF
    whole = len(data) // 8 * 8
    for w in memoryview(data)[:whole].cast("Q"):
        one = (w & 0xFFFFFFFF) ^ crc
        two = w >> 32
        crc = (t7[one & 0xFF] ^ t6[(one >> 8) & 0xFF] ^ t5[(one >> 16) & 0xFF] ^ t4[one >> 24] ^
               t3[two & 0xFF] ^ t2[(two >> 8) & 0xFF] ^ t1[(two >> 16) & 0xFF] ^ t0[two >> 24])
    for b in data[whole:]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


if sys.byteorder != "little":  # the word trick above assumes little-endian
    def crc32c_py(data, crc=0):  # noqa: F811
        t0 = _CRC_TABLES[0]
        crc ^= 0xFFFFFFFF
        for b in data:
            crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF


def chunk_crcs_py(data, off, count, size):
    """CRC32C of count consecutive size-byte chunks of data from off."""
    return [crc32c_py(data[off + i * size:off + (i + 1) * size]) for i in range(count)]


def _native_crc32c():
    """e2fsprogs' CRC32C (libext2fs, on every Debian system) through ctypes,
    some 30 times faster than Python. Loaded with PyDLL, which keeps the
    interpreter lock during the call: a DataNode thread makes one call per
    512-byte chunk, and releasing the lock that often made every other
    thread (the NameNodes' answers included) queue for it. Returns
    (crc32c, chunk_crcs), or None when the library is not there or
    disagrees with the Python code."""
    try:
        import ctypes
        fn = ctypes.PyDLL("libext2fs.so.2").ext2fs_crc32c_le
    except (OSError, AttributeError, ImportError):
        return None
    fn.restype = ctypes.c_uint32
    fn.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t]

    def address(data):
        # The buffer of a bytes object, without a copy.
        return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value

    def crc32c_native(data, crc=0):
        data = bytes(data)
        return fn(crc ^ 0xFFFFFFFF, address(data), len(data)) ^ 0xFFFFFFFF

    def chunk_crcs_native(data, off, count, size):
        data = bytes(data)
        if off + count * size > len(data):
            raise ValueError("chunks past the end of the data")
        base = address(data) + off
        return [fn(0xFFFFFFFF, base + i * size, size) ^ 0xFFFFFFFF for i in range(count)]
    if crc32c_native(b"123456789") != 0xE3069283 or crc32c_native(b"x" * 77, 5) != \
            crc32c_py(b"x" * 77, 5) or chunk_crcs_native(b"ab" * 600, 3, 2, 512) != \
            chunk_crcs_py(b"ab" * 600, 3, 2, 512):
        return None
    return crc32c_native, chunk_crcs_native


_NATIVE = None if os.environ.get("WEBHDFS_SERVER_PURE_PYTHON") else _native_crc32c()
crc32c_native, chunk_crcs_native = _NATIVE or (None, None)
crc32c = crc32c_native or crc32c_py
chunk_crcs = chunk_crcs_native or chunk_crcs_py


class BlockCrcs:
    """The default HDFS file checksum (MD5-of-xMD5-of-512CRC32C), fed as the
    data is written, the way a DataNode keeps the CRC32C of every 512-byte
    chunk in each block's .meta file: GETFILECHECKSUM then only hashes
    stored CRCs, as HDFS does, instead of reading the data again.

    Per block: MD5 over the 4-byte big-endian CRC32C of every chunk (a
    chunk never spans blocks). File: MD5 over the block MD5s, padded with
    zero bytes to the capacity of Hadoop's DataOutputBuffer (32 bytes,
    doubling), because Hadoop hashes the whole backing array.
    """

    def __init__(self, blocksize, bytes_per_crc=512):
        self.blocksize = blocksize
        self.bpc = bytes_per_crc
        self.length = 0
        self.tail = b""
        self.in_block = 0
        self.crcs = []
        self.block_md5s = bytearray()

    def update(self, piece):
        self.length += len(piece)
        data = self.tail + piece if self.tail else bytes(piece)
        off, n = 0, len(data)
        while True:
            room = self.blocksize - self.in_block
            if room >= self.bpc:
                # Every whole chunk up to the end of the block or the data.
                count = min(n - off, room) // self.bpc
                if count == 0:
                    break
                self.crcs += chunk_crcs(data, off, count, self.bpc)
                step = count * self.bpc
            else:
                # The block ends in a short chunk (blocksize not a multiple).
                if n - off < room:
                    break
                self.crcs.append(crc32c(data[off:off + room]))
                step = room
            off += step
            self.in_block += step
            if self.in_block == self.blocksize:
                self._end_block()
        self.tail = data[off:]

    def _end_block(self):
        packed = struct.pack(">%dI" % len(self.crcs), *self.crcs)
        self.block_md5s += hashlib.md5(packed).digest()
        self.crcs = []
        self.in_block = 0

    def result(self):
        """(algorithm, hex bytes) of what was fed."""
        if self.tail:
            self.crcs.append(crc32c(self.tail))
            self.in_block += len(self.tail)
            self.tail = b""
        if self.in_block:
            self._end_block()
        return file_checksum(self.length, self.blocksize, self.bpc, bytes(self.block_md5s))


def file_checksum(length, blocksize, bpc, block_md5s):
    """(algorithm, hex bytes) of a file of length bytes from the MD5s of its
    blocks' CRCs (see BlockCrcs)."""
    if length == 0:
        # An empty file has no blocks: MD5 of an empty (zero-filled) buffer.
        digest = hashlib.md5(b"\0" * 32).digest()
        return ("MD5-of-0MD5-of-0CRC32",
                (struct.pack(">iq", 0, 0) + digest).hex())
    cap = 32
    while cap < len(block_md5s):
        cap *= 2
    padded = block_md5s + b"\0" * (cap - len(block_md5s))
    crc_per_block = 0
    if length > blocksize:
        first_block_len = min(length, blocksize)
        crc_per_block = (first_block_len + bpc - 1) // bpc
    algorithm = "MD5-of-%dMD5-of-%dCRC32C" % (crc_per_block, bpc)
    raw = struct.pack(">iq", bpc, crc_per_block) + hashlib.md5(padded).digest()
    return algorithm, raw.hex()


class NativeBody:
    """A request body received by webhdfs_dn.c (see there): socket to blob
    file with BlockCrcs's work done on the way, outside the interpreter lock
    (ctypes.CDLL lets go of it for each call)."""

    def __init__(self, lib, blocksize, bytes_per_crc=512):
        self.lib = lib
        self.blocksize = blocksize
        self.bpc = bytes_per_crc
        self.length = 0
        self.handle = lib.wdn_new(blocksize, bytes_per_crc)
        if not self.handle:
            raise MemoryError("wdn_new")

    def close(self):
        if self.handle:
            self.lib.wdn_free(self.handle)
            self.handle = None

    def live(self):
        if not self.handle:  # C would be handed NULL
            raise ValueError("NativeBody used after close")
        return self.handle

    def _check(self, rc):
        if rc < 0:
            raise OSError(-rc, os.strerror(-rc))
        return rc

    def feed(self, fd, data):
        """data (bytes the request's reader held) written to fd and kept."""
        self._check(self.lib.wdn_feed(self.live(), fd, data, len(data)))
        self.length += len(data)

    def receive(self, sock_fd, fd, want):
        """Up to want bytes from the socket to fd; fewer when the peer closed."""
        n = self._check(self.lib.wdn_receive(self.live(), sock_fd, fd, want))
        self.length += n
        return n

    def result(self):
        import ctypes
        nblocks = self._check(self.lib.wdn_finish(self.live()))
        md5s = ctypes.create_string_buffer(nblocks * 16)
        self.lib.wdn_block_md5s(self.handle, md5s)
        return file_checksum(self.length, self.blocksize, self.bpc, md5s.raw)


def load_dn_lib(path):
    """webhdfs_dn.c built as a shared object (the build's
    tests/libwebhdfs_dn.so), or None without a path."""
    if not path:
        return None
    import ctypes
    lib = ctypes.CDLL(path)
    lib.wdn_new.restype = ctypes.c_void_p
    lib.wdn_new.argtypes = [ctypes.c_int64, ctypes.c_int64]
    lib.wdn_free.restype = None
    lib.wdn_free.argtypes = [ctypes.c_void_p]
    lib.wdn_feed.restype = ctypes.c_int
    lib.wdn_feed.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
    lib.wdn_receive.restype = ctypes.c_int64
    lib.wdn_receive.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int64]
    lib.wdn_finish.restype = ctypes.c_int64
    lib.wdn_finish.argtypes = [ctypes.c_void_p]
    lib.wdn_block_md5s.restype = None
    lib.wdn_block_md5s.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return lib


# WEBHDFS_DN_LIB names the shared object; without it bodies go through Python.
DN_LIB = load_dn_lib(os.environ.get("WEBHDFS_DN_LIB"))


def md5_of_md5_of_crc32c(fileobj, length, blocksize, bytes_per_crc=512):
    """The default HDFS file checksum of length bytes read from fileobj
    (see BlockCrcs). Returns (algorithm, hex bytes)."""
    acc = BlockCrcs(blocksize, bytes_per_crc)
    remaining = length
    while remaining > 0:
        chunk = fileobj.read(min(65536, remaining))
        if not chunk:
            raise IOError("short blob")
        acc.update(chunk)
        remaining -= len(chunk)
    return acc.result()


# ---------------------------------------------------------------- errors

class RemoteError(Exception):
    """An exception as the NameNode/DataNode would throw it."""

    STATUS_BY_CLASS = {
        "FileNotFoundException": 404,
        "IllegalArgumentException": 400,
        "HadoopIllegalArgumentException": 400,
        "InvalidPathException": 400,
        "UnsupportedOperationException": 400,
    }
    PACKAGE = {
        "FileNotFoundException": "java.io",
        "IllegalArgumentException": "java.lang",
        "UnsupportedOperationException": "java.lang",
        "IOException": "java.io",
        "HadoopIllegalArgumentException": "org.apache.hadoop",
        "InvalidPathException": "org.apache.hadoop.fs",
        "FileAlreadyExistsException": "org.apache.hadoop.fs",
        "ParentNotDirectoryException": "org.apache.hadoop.fs",
        "PathIsNotEmptyDirectoryException": "org.apache.hadoop.fs",
        "AccessControlException": "org.apache.hadoop.security",
        "StandbyException": "org.apache.hadoop.ipc",
        "RetriableException": "org.apache.hadoop.ipc",
        "SafeModeException": "org.apache.hadoop.hdfs.server.namenode",
        "SnapshotException": "org.apache.hadoop.hdfs.protocol",
        "SnapshotAccessControlException": "org.apache.hadoop.hdfs.protocol",
        "DSQuotaExceededException": "org.apache.hadoop.hdfs.protocol",
        "NSQuotaExceededException": "org.apache.hadoop.hdfs.protocol",
    }

    def __init__(self, exception, message):
        super().__init__(message)
        self.exception = exception
        self.message = message

    @property
    def status(self):
        return self.STATUS_BY_CLASS.get(self.exception, 403)

    def body(self):
        pkg = self.PACKAGE.get(self.exception, "java.io")
        return {"RemoteException": {"exception": self.exception,
                                    "javaClassName": pkg + "." + self.exception,
                                    "message": self.message}}


def fnf(message):
    return RemoteError("FileNotFoundException", message)


# ---------------------------------------------------------------- namespace

def now_ms():
    return int(time.time() * 1000)


class Inode:
    __slots__ = ("name", "is_dir", "owner", "group", "perm", "mtime", "atime",
                 "children", "blob", "length", "blocksize", "replication",
                 "file_id", "snapshottable", "snapshots", "ns_quota", "ds_quota")

    def __init__(self, name, is_dir, owner, group, perm, file_id):
        self.name = name
        self.is_dir = is_dir
        self.owner = owner
        self.group = group
        self.perm = perm
        self.mtime = self.atime = now_ms()
        self.children = {} if is_dir else None
        self.blob = None
        self.length = 0
        self.blocksize = 0
        self.replication = 0
        self.file_id = file_id
        self.snapshottable = False
        self.snapshots = {}  # name -> (frozen Inode, ctime ms)
        self.ns_quota = -1
        self.ds_quota = -1

    def freeze(self, blobs):
        """A read-only deep copy for a snapshot; blobs gain a reference."""
        c = Inode(self.name, self.is_dir, self.owner, self.group, self.perm, self.file_id)
        c.mtime, c.atime = self.mtime, self.atime
        c.length, c.blocksize, c.replication = self.length, self.blocksize, self.replication
        c.blob = self.blob
        if c.blob is not None:
            blobs.ref(c.blob)
        if self.is_dir:
            c.children = {n: ch.freeze(blobs) for n, ch in self.children.items()}
        return c

    def release(self, blobs):
        """Drop the blob references of this subtree (and its snapshots)."""
        if self.blob is not None:
            blobs.unref(self.blob)
        if self.is_dir:
            for ch in self.children.values():
                ch.release(blobs)
            for snap, _ in self.snapshots.values():
                snap.release(blobs)

    def counts(self):
        """(directories, files, length, space consumed) of the subtree."""
        if not self.is_dir:
            return 0, 1, self.length, self.length * self.replication
        d, f, ln, sp = 1, 0, 0, 0
        for ch in self.children.values():
            cd, cf, cl, cs = ch.counts()
            d, f, ln, sp = d + cd, f + cf, ln + cl, sp + cs
        return d, f, ln, sp


class Blobs:
    """File data on disk, one file per version, reference-counted."""

    def __init__(self, root):
        self.root = root
        for i in range(16):
            os.makedirs(os.path.join(root, "%x" % i), exist_ok=True)
        self.refs = {}
        self.next = 1
        self.lock = threading.Lock()
        self.checksums = {}

    def new(self):
        with self.lock:
            bid = self.next
            self.next += 1
            self.refs[bid] = 1
        return bid

    def path(self, bid):
        # In 16 directories: DataNode threads creating their files in one
        # directory queue for its lock in the kernel.
        return os.path.join(self.root, "%x" % (bid % 16), "blob-%d" % bid)

    def ref(self, bid):
        with self.lock:
            self.refs[bid] += 1

    def unref(self, bid):
        with self.lock:
            self.refs[bid] -= 1
            gone = self.refs[bid] == 0
            if gone:
                del self.refs[bid]
                self.checksums.pop(bid, None)
        if gone:
            try:
                os.unlink(self.path(bid))
            except FileNotFoundError:
                pass

    def count(self):
        with self.lock:
            return len(self.refs)


SNAPSHOT = ".snapshot"
USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*[$]?$")


def split_path(path):
    if not path.startswith("/"):
        raise RemoteError("InvalidPathException", "Invalid path name " + path)
    parts = [p for p in path.split("/") if p]
    for p in parts:
        if p in (".", "..") or ":" in p:
            raise RemoteError("InvalidPathException", "Invalid path name Invalid file name: " + path)
    return parts


def join(parts):
    return "/" + "/".join(parts)


class Namespace:
    """The NameNode's namespace: inodes, permissions, quotas, snapshots."""

    def __init__(self, blobs, superuser, supergroup="supergroup"):
        self.blobs = blobs
        self.superuser = superuser
        self.supergroup = supergroup
        self.lock = threading.RLock()
        self.next_id = 16385
        self.root = self._inode("", True, superuser, supergroup, 0o755)
        self.default_blocksize = 128 * 1024 * 1024
        self.default_replication = 3

    def _inode(self, name, is_dir, owner, group, perm):
        ino = Inode(name, is_dir, owner, group, perm, self.next_id)
        self.next_id += 1
        return ino

    # -- resolution

    def resolve(self, path, user=None, allow_snapshot=True):
        """Returns (inode or None, ancestors list, read_only).

        ancestors are the directory inodes from the root down to the parent.
        Paths under <dir>/.snapshot/<name> resolve into the frozen copy.
        """
        parts = split_path(path)
        node = self.root
        chain = []
        read_only = False
        i = 0
        while i < len(parts):
            p = parts[i]
            if node is None or not node.is_dir:
                if node is not None:
                    raise RemoteError("ParentNotDirectoryException",
                                      "%s (is not a directory)" % join(parts[:i]))
                return None, chain, read_only
            if user is not None and not self.is_super(user):
                self.check(user, node, 1, join(parts[:i]))
            if p == SNAPSHOT and allow_snapshot and not read_only:
                if not node.snapshottable:
                    raise fnf("Directory is not a snapshottable directory: " + join(parts[:i]))
                chain.append(node)
                if i + 1 == len(parts):
                    return ("SNAPDIR", node), chain, True
                snap = node.snapshots.get(parts[i + 1])
                if snap is None:
                    return None, chain, True
                node = snap[0]
                read_only = True
                i += 2
                continue
            chain.append(node)
            node = node.children.get(p)
            i += 1
        return node, chain, read_only

    def lookup(self, path, user):
        node, chain, ro = self.resolve(path, user)
        if node is None:
            raise fnf("File does not exist: " + path)
        return node, chain, ro

    # -- permissions (user, group = user, or supergroup for the superuser)

    def is_super(self, user):
        return user == self.superuser

    def check(self, user, node, access, path):
        """access: bitmask 4=read 2=write 1=execute."""
        if self.is_super(user) or isinstance(node, tuple):
            return
        perm = node.perm
        if user == node.owner:
            bits = (perm >> 6) & 7
        elif user == node.group:
            bits = (perm >> 3) & 7
        else:
            bits = perm & 7
        if bits & access != access:
            names = {4: "READ", 2: "WRITE", 1: "EXECUTE", 6: "READ_WRITE", 5: "READ_EXECUTE",
                     3: "WRITE_EXECUTE", 7: "ALL"}
            raise RemoteError(
                "AccessControlException",
                'Permission denied: user=%s, access=%s, inode="%s":%s:%s:%s' %
                (user, names[access], path or "/", node.owner, node.group, mode_string(node)))

    # -- quotas

    def check_ns_quota(self, chain, add):
        for d in chain:
            if d.ns_quota >= 0:
                dirs, files, _, _ = d.counts()
                if dirs + files + add > d.ns_quota:
                    raise RemoteError(
                        "NSQuotaExceededException",
                        "The NameSpace quota (directories and files) of directory %s is "
                        "exceeded: quota=%d file count=%d" %
                        (self.path_of(d), d.ns_quota, dirs + files + add))

    def check_ds_quota(self, chain, add_bytes):
        for d in chain:
            if d.ds_quota >= 0:
                _, _, _, consumed = d.counts()
                if consumed + add_bytes > d.ds_quota:
                    raise RemoteError(
                        "DSQuotaExceededException",
                        "The DiskSpace quota of %s is exceeded: quota = %d B = %s but "
                        "diskspace consumed = %d B = %s" %
                        (self.path_of(d), d.ds_quota, human(d.ds_quota),
                         consumed + add_bytes, human(consumed + add_bytes)))

    def path_of(self, target):
        def walk(node, parts):
            if node is target:
                return parts
            if node.is_dir:
                for n, ch in node.children.items():
                    if ch.is_dir:
                        r = walk(ch, parts + [n])
                        if r is not None:
                            return r
            return None
        return join(walk(self.root, []) or [])

    # -- operations

    def mkdirs(self, path, user, perm):
        parts = split_path(path)
        with self.lock:
            if SNAPSHOT in parts:
                self._reject_snapshot_write(path, parts)
            node = self.root
            chain = []
            for i, p in enumerate(parts):
                if not node.is_dir:
                    raise RemoteError("ParentNotDirectoryException",
                                      "%s (is not a directory)" % join(parts[:i]))
                child = node.children.get(p)
                if child is None:
                    self.check(user, node, 3, join(parts[:i]))
                    self.check_ns_quota(chain + [node], len(parts) - i)
                    for q in parts[i:]:
                        d = self._inode(q, True, user, self._group(user), perm)
                        node.children[q] = d
                        node.mtime = now_ms()
                        node = d
                    return True
                self.check(user, node, 1, join(parts[:i]))
                chain.append(node)
                node = child
            if not node.is_dir:
                raise RemoteError("FileAlreadyExistsException", "Path is not a directory: " + path)
            return True

    def _group(self, user):
        return self.supergroup if self.is_super(user) else user

    def _reject_snapshot_write(self, path, parts):
        if parts and parts[-1] == SNAPSHOT and parts.count(SNAPSHOT) == 1:
            raise RemoteError("HadoopIllegalArgumentException",
                              '"%s" is a reserved name.' % SNAPSHOT)
        raise RemoteError("SnapshotAccessControlException",
                          "Modification on a read-only snapshot is disallowed")

    def status(self, path, user):
        with self.lock:
            node, _, _ = self.lookup(path, user)
            return self.file_status(node, "")

    def file_status(self, node, suffix):
        if isinstance(node, tuple):  # <dir>/.snapshot
            d = node[1]
            return {"accessTime": 0, "blockSize": 0, "childrenNum": len(d.snapshots),
                    "fileId": d.file_id, "group": d.group, "length": 0,
                    "modificationTime": d.mtime, "owner": d.owner, "pathSuffix": suffix,
                    "permission": "%o" % d.perm, "replication": 0, "storagePolicy": 0,
                    "type": "DIRECTORY"}
        st = {"accessTime": 0 if node.is_dir else node.atime,
              "blockSize": node.blocksize, "childrenNum": len(node.children) if node.is_dir else 0,
              "fileId": node.file_id, "group": node.group, "length": node.length,
              "modificationTime": node.mtime, "owner": node.owner, "pathSuffix": suffix,
              "permission": "%o" % node.perm, "replication": node.replication,
              "storagePolicy": 0, "type": "DIRECTORY" if node.is_dir else "FILE"}
        if node.snapshottable:
            st["snapshotEnabled"] = True
        return st

    def listing(self, path, user):
        """All entries of path as FileStatus dicts, sorted by UTF-8 bytes."""
        with self.lock:
            node, _, _ = self.resolve(path, user)
            if node is None:
                raise fnf("File %s does not exist." % path)
            if isinstance(node, tuple):
                d = node[1]
                out = []
                for name in sorted(d.snapshots, key=lambda n: n.encode()):
                    snap, ctime = d.snapshots[name]
                    st = self.file_status(snap, name)
                    st["modificationTime"] = ctime
                    out.append(st)
                return out
            if not node.is_dir:
                return [self.file_status(node, "")]
            self.check(user, node, 5, path)
            return [self.file_status(node.children[n], n)
                    for n in sorted(node.children, key=lambda n: n.encode())]

    def content_summary(self, path, user):
        with self.lock:
            node, _, _ = self.lookup(path, user)
            if isinstance(node, tuple):
                node = node[1]
            d, f, ln, sp = node.counts()
            return {"directoryCount": d, "ecPolicy": "", "fileCount": f, "length": ln,
                    "quota": node.ns_quota if node.is_dir else -1,
                    "spaceConsumed": sp, "spaceQuota": node.ds_quota if node.is_dir else -1,
                    "typeQuota": {}}

    def delete(self, path, user, recursive):
        parts = split_path(path)
        with self.lock:
            if SNAPSHOT in parts:
                self._reject_snapshot_write(path, parts)
            if not parts:
                return False
            node, chain, _ = self.resolve(path, user)
            if node is None:
                return False
            parent = chain[-1]
            self.check(user, parent, 3, join(parts[:-1]))
            if node.is_dir:
                if node.children and not recursive:
                    raise RemoteError("PathIsNotEmptyDirectoryException",
                                      "`%s is non empty': Directory is not empty" % path)
                self._check_no_snapshots(node, path, "deleted")
            del parent.children[parts[-1]]
            parent.mtime = now_ms()
            node.release(self.blobs)
            return True

    def _check_no_snapshots(self, node, path, verb):
        def walk(n, p):
            if n.is_dir:
                if n.snapshottable and n.snapshots:
                    raise RemoteError(
                        "SnapshotException",
                        "The directory %s cannot be %s since %s is snapshottable and "
                        "already has snapshots" % (path, verb, p))
                for name, ch in n.children.items():
                    walk(ch, p.rstrip("/") + "/" + name)
        walk(node, path)

    def rename(self, src, dst, user):
        sparts = split_path(src)
        dparts = split_path(dst)
        with self.lock:
            if SNAPSHOT in sparts or SNAPSHOT in dparts:
                self._reject_snapshot_write(src, sparts if SNAPSHOT in sparts else dparts)
            try:
                node, schain, _ = self.resolve(src, user)
                if node is None or not sparts:
                    return False
                if sparts == dparts:
                    return True
                dnode, dchain, _ = self.resolve(dst, user)
            except RemoteError as e:
                if e.exception == "ParentNotDirectoryException":
                    return False  # old-style rename answers false
                raise
            if dnode is not None and dnode.is_dir:
                # Old-style rename moves the source into an existing directory.
                dparts = dparts + [sparts[-1]]
                dchain = dchain + [dnode]
                dnode = dnode.children.get(sparts[-1])
            if dparts[:len(sparts)] == sparts and len(dparts) > len(sparts):
                raise RemoteError("IOException",
                                  "Rename destination %s is a directory or file under source %s"
                                  % (join(dparts), src))
            if dnode is not None:
                return False
            if len(dchain) != len(dparts):
                return False  # the destination's parent does not exist
            dparent = dchain[-1]
            if not dparent.is_dir:
                return False
            sparent = schain[-1]
            self.check(user, sparent, 3, join(sparts[:-1]))
            self.check(user, dparent, 3, join(dparts[:-1]))
            if node.is_dir:
                self._check_no_snapshots(node, src, "renamed")
            d, f, _, sp = node.counts()
            common = [x for x, y in zip(schain, dchain) if x is y]
            newly = [x for x in dchain if all(x is not c for c in common)]
            self.check_ns_quota(newly, d + f)
            self.check_ds_quota(newly, sp)
            del sparent.children[sparts[-1]]
            node.name = dparts[-1]
            dparent.children[dparts[-1]] = node
            sparent.mtime = dparent.mtime = now_ms()
            return True

    def set_owner(self, path, user, owner, group):
        with self.lock:
            node, _, ro = self.lookup(path, user)
            if ro:
                self._reject_snapshot_write(path, [])
            if not self.is_super(user):
                raise RemoteError("AccessControlException",
                                  "Non-super user cannot change owner")
            if owner:
                node.owner = owner
            if group:
                node.group = group

    def set_permission(self, path, user, perm):
        with self.lock:
            node, _, ro = self.lookup(path, user)
            if ro:
                self._reject_snapshot_write(path, [])
            if not self.is_super(user) and user != node.owner:
                raise RemoteError("AccessControlException",
                                  "Permission denied. user=%s is not the owner of inode=%s"
                                  % (user, path))
            node.perm = perm

    # -- files

    def begin_create(self, path, user, overwrite, perm, blocksize, replication):
        """The DataNode's create(): checks, then the file exists with length 0."""
        parts = split_path(path)
        with self.lock:
            if SNAPSHOT in parts:
                self._reject_snapshot_write(path, parts)
            if not parts:
                raise RemoteError("FileAlreadyExistsException", "/ already exists as a directory")
            node, chain, _ = self.resolve(path, user)
            if node is not None:
                if node.is_dir:
                    raise RemoteError("FileAlreadyExistsException",
                                      "%s already exists as a directory" % path)
                if not overwrite:
                    raise RemoteError("FileAlreadyExistsException",
                                      "%s for client 127.0.0.1 already exists" % path)
            if len(chain) != len(parts):  # createparent=true: make the parents
                self.mkdirs(join(parts[:-1]), user, 0o755)
                node, chain, _ = self.resolve(path, user)
            parent = chain[-1]
            self.check(user, parent, 3, join(parts[:-1]))
            if node is None:
                self.check_ns_quota(chain, 1)
            f = self._inode(parts[-1], False, user, parent.group, perm)
            f.blocksize = blocksize
            f.replication = replication
            if node is not None:
                node.release(self.blobs)
            parent.children[parts[-1]] = f
            parent.mtime = now_ms()
            return f, chain

    def open_file(self, path, user):
        with self.lock:
            node, _, _ = self.lookup(path, user)
            if isinstance(node, tuple) or node.is_dir:
                raise fnf("Path is not a file: " + path)
            self.check(user, node, 4, path)
            if node.blob is None:  # being written: nothing readable yet
                return None, 0, node.blocksize
            self.blobs.ref(node.blob)
            return node.blob, node.length, node.blocksize

    # -- snapshots

    def allow_snapshot(self, path, user):
        with self.lock:
            node, chain, _ = self.lookup(path, user)
            if not self.is_super(user):
                raise RemoteError("AccessControlException",
                                  "Access denied for user %s. Superuser privilege is required"
                                  % user)
            if isinstance(node, tuple) or not node.is_dir:
                raise fnf("Directory does not exist: " + path)
            for a in chain:
                if a.snapshottable:
                    raise RemoteError("SnapshotException",
                                      "Nested snapshottable directories not allowed: path=%s, "
                                      "the ancestor %s is already a snapshottable directory."
                                      % (path, self.path_of(a)))

            def has_snapshottable(n):
                return any(c.is_dir and (c.snapshottable or has_snapshottable(c))
                           for c in n.children.values())
            if has_snapshottable(node):
                raise RemoteError("SnapshotException",
                                  "Nested snapshottable directories not allowed: path=%s, the "
                                  "subdirectory is already a snapshottable directory." % path)
            node.snapshottable = True

    def _snap_dir(self, path, user):
        node, _, _ = self.lookup(path, user)
        if isinstance(node, tuple) or not node.is_dir or not node.snapshottable:
            raise RemoteError("SnapshotException",
                              "Directory is not a snapshottable directory: " + path)
        if not self.is_super(user) and user != node.owner:
            raise RemoteError("AccessControlException",
                              "Permission denied. user=%s is not the owner of inode=%s"
                              % (user, path))
        return node

    def create_snapshot(self, path, user, name):
        with self.lock:
            node = self._snap_dir(path, user)
            if not name:
                t = time.time()
                name = time.strftime("s%Y%m%d-%H%M%S", time.localtime(t)) + \
                    ".%03d" % (int(t * 1000) % 1000)
            if "/" in name or name in (".", "..", SNAPSHOT):
                raise RemoteError("HadoopIllegalArgumentException",
                                  'Invalid path name Invalid snapshot name: ' + name)
            if name in node.snapshots:
                raise RemoteError("SnapshotException",
                                  'Failed to add snapshot: there is already a snapshot with the '
                                  'same name "%s".' % name)
            if len(node.snapshots) >= 65536:
                raise RemoteError("SnapshotException",
                                  "Failed to add snapshot: there are already 65536 snapshot(s) "
                                  "and the snapshot quota is 65536")
            node.snapshots[name] = (node.freeze(self.blobs), now_ms())
            return path.rstrip("/") + "/" + SNAPSHOT + "/" + name

    def delete_snapshot(self, path, user, name):
        with self.lock:
            node = self._snap_dir(path, user)
            snap = node.snapshots.pop(name, None)
            if snap is None:
                raise RemoteError("SnapshotException",
                                  "Cannot delete snapshot %s from path %s: the snapshot does not "
                                  "exist." % (name, path))
            snap[0].release(self.blobs)

    def rename_snapshot(self, path, user, old, new):
        with self.lock:
            node = self._snap_dir(path, user)
            if old not in node.snapshots:
                raise RemoteError("SnapshotException",
                                  "The snapshot %s does not exist for directory %s" % (old, path))
            if new in node.snapshots:
                raise RemoteError("SnapshotException",
                                  "The snapshot %s already exists for directory %s" % (new, path))
            node.snapshots[new] = node.snapshots.pop(old)


def mode_string(node):
    s = "d" if node.is_dir else "-"
    for shift in (6, 3, 0):
        b = (node.perm >> shift) & 7
        s += ("r" if b & 4 else "-") + ("w" if b & 2 else "-") + ("x" if b & 1 else "-")
    return s


def human(n):
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return "%g %s" % (round(n / size, 2), unit)
    return "%d B" % n


# ---------------------------------------------------------------- the cluster

WRITE_OPS = {"CREATE", "MKDIRS", "RENAME", "DELETE", "SETOWNER", "SETPERMISSION",
             "ALLOWSNAPSHOT", "CREATESNAPSHOT", "DELETESNAPSHOT", "RENAMESNAPSHOT"}
GET_OPS = {"OPEN", "GETFILESTATUS", "LISTSTATUS", "LISTSTATUS_BATCH", "GETCONTENTSUMMARY",
           "GETFILECHECKSUM", "GETHOMEDIRECTORY"}
PUT_OPS = {"CREATE", "MKDIRS", "RENAME", "SETOWNER", "SETPERMISSION", "ALLOWSNAPSHOT",
           "CREATESNAPSHOT", "RENAMESNAPSHOT"}
DELETE_OPS = {"DELETE", "DELETESNAPSHOT"}
ALL_GET = GET_OPS | {"GETDELEGATIONTOKEN", "GETXATTRS", "LISTXATTRS", "GETACLSTATUS",
                     "GETTRASHROOT", "GETSNAPSHOTDIFF", "GETSNAPSHOTTABLEDIRECTORYLIST",
                     "GETSTORAGEPOLICY", "CHECKACCESS", "GETALLSTORAGEPOLICY", "GETECPOLICY"}
ALL_PUT = PUT_OPS | {"SETREPLICATION", "SETTIMES", "RENEWDELEGATIONTOKEN",
                     "CANCELDELEGATIONTOKEN", "CREATESYMLINK", "SETXATTR", "REMOVEXATTR",
                     "MODIFYACLENTRIES", "REMOVEACLENTRIES", "REMOVEDEFAULTACL", "REMOVEACL",
                     "SETACL", "DISALLOWSNAPSHOT", "SETSTORAGEPOLICY", "ENABLEECPOLICY",
                     "DISABLEECPOLICY", "SETECPOLICY"}
ALL_POST = {"APPEND", "CONCAT", "TRUNCATE", "UNSETSTORAGEPOLICY", "UNSETECPOLICY"}
JERSEY_CLASS = {"GET": "GetOpParam", "PUT": "PutOpParam", "POST": "PostOpParam",
                "DELETE": "DeleteOpParam"}
KNOWN_BY_METHOD = {"GET": ALL_GET, "PUT": ALL_PUT, "POST": ALL_POST,
                   "DELETE": DELETE_OPS}


class Cluster:
    def __init__(self, storage, superuser, ls_limit, blocksize, dn_host):
        self.blobs = Blobs(storage)
        self.ns = Namespace(self.blobs, superuser)
        self.ns.default_blocksize = blocksize
        self.ls_limit = ls_limit
        self.dn_host = dn_host
        self.active = 0
        self.liststatus_batch = True
        self.rename_options = True
        self.clock_skew_s = 0.0  # added to the Date header of every answer
        self.lock = threading.Lock()
        self.faults = []
        self.open_conns = {}  # node -> sockets of live connections
        self.stats = {"requests": {}, "ops": {}, "connections": {}, "nn_body_bytes": 0,
                      "dn_put_bytes": 0}
        self.controller = None  # set by Controller: DataNode up/down
        self.nn_ports = []
        self.dn_port = 0
        self.dn_server = None
        self.scheme = "http"

    def reset(self, defaults):
        """Back to a fresh cluster: empty namespace, no faults, first
        NameNode active, settings and counters as at start."""
        with self.ns.lock:
            self.ns.root.release(self.blobs)
            ns = Namespace(self.blobs, self.ns.superuser)
            ns.default_blocksize = defaults["blocksize"]
            self.ns = ns
        with self.lock:
            self.faults.clear()
            self.stats = {"requests": {}, "ops": {}, "connections": {}, "nn_body_bytes": 0,
                          "dn_put_bytes": 0}
            self.active = 0
            self.liststatus_batch = True
            self.rename_options = True
            self.clock_skew_s = 0.0
            self.ls_limit = defaults["ls_limit"]

    def datanode_dies(self, down_s):
        """The DataNode process dies (connections refused) and is restarted
        down_s seconds later."""
        self.controller.set_datanode(False)
        threading.Timer(down_s, self.controller.set_datanode, (True,)).start()

    def count(self, key, sub):
        with self.lock:
            d = self.stats[key]
            d[sub] = d.get(sub, 0) + 1

    def add_stat(self, key, n):
        with self.lock:
            self.stats[key] += n

    def take_fault(self, node, op, method, length=0):
        """The first armed fault matching this request, consumed by one use.
        A fault with "min_length" matches only bodies of at least that many
        bytes (Content-Length); one with "skip" lets that many matching
        requests pass first (the k-th body: skip k-1)."""
        with self.lock:
            for f in self.faults:
                if f.get("node", "any") not in ("any", node):
                    continue
                if f.get("op") and f["op"] != op:
                    continue
                if f.get("method") and f["method"] != method:
                    continue
                if f["kind"] == "safemode" and not safemode_applies(node, op):
                    continue
                if length < int(f.get("min_length", 0)):
                    continue
                if f.get("skip", 0) > 0:
                    f["skip"] -= 1
                    continue
                f["count"] -= 1
                if f["count"] <= 0:
                    self.faults.remove(f)
                return dict(f)
        return None


def safemode_applies(node, op):
    """Safe mode refuses namespace changes where they happen: at the
    NameNode, except CREATE, which the DataNode step performs."""
    if op not in WRITE_OPS:
        return False
    return (op == "CREATE") == (node == "dn")


# ---------------------------------------------------------------- HTTP

class ResetConnection(Exception):
    pass


def jersey_query(query):
    """Query parameters decoded as Jersey 1 does ('+' is a space); the
    first value of a repeated parameter wins, names are case-sensitive."""
    out = {}
    for field in query.split("&"):  # parse_qsl(keep_blank_values=True), leaner
        if not field:
            continue
        k, _, v = field.partition("=")
        if "%" in k or "+" in k:
            k = urllib.parse.unquote_plus(k)
        if "%" in v or "+" in v:
            v = urllib.parse.unquote_plus(v)
        out.setdefault(k, v)
    return out


def bool_param(params, name, default):
    v = params.get(name)
    if v is None or v == "":
        return default
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise RemoteError("IllegalArgumentException",
                      'Invalid value for webhdfs parameter "%s": Failed to parse "%s" to Boolean.'
                      % (name, v))


def int_param(params, name, default, base=10):
    v = params.get(name)
    if v is None or v == "" or v == "null":
        return default
    try:
        return int(v, base)
    except ValueError:
        raise RemoteError("IllegalArgumentException",
                          'Invalid value for webhdfs parameter "%s": Failed to parse "%s" as a '
                          'radix-%d integer.' % (name, v, base)) from None


class _Discard:
    closed = False

    def write(self, data):
        return len(data)

    def flush(self):
        pass

    def close(self):
        pass


class Headers(dict):
    """A request's headers by lower-case name (the last of repeated ones)."""

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Buffered answers: status, headers and body leave in one send when the
    # request is done (handle_one_request flushes), not in two or three.
    wbufsize = 1 << 16
    server_version = "Jetty(9.4.20.v20190813)"
    sys_version = ""
    node = "?"  # "nn0", "nn1", "dn" set per server subclass
    cluster = None

    def version_string(self):
        return self.server_version

    def date_time_string(self, timestamp=None):
        # The Date header, off by the admin knob clock_skew_s (verify's check).
        return super().date_time_string(time.time() + self.cluster.clock_skew_s)

    def log_message(self, fmt, *args):
        if os.environ.get("WEBHDFS_SERVER_LOG"):
            sys.stderr.write("%s %s\n" % (self.node, fmt % args))

    def handle_expect_100(self):
        ok = super().handle_expect_100()
        self.wfile.flush()  # the client waits for it before the body
        return ok

    def parse_request(self):
        """BaseHTTPRequestHandler.parse_request for HTTP/1.x without the
        email package, whose header parsing and lookups were a third of the
        server's time per request."""
        self.command = None
        self.request_version = self.default_request_version
        self.close_connection = True
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = line
        words = line.split()
        if len(words) != 3 or not re.fullmatch(r"HTTP/1\.[0-9]", words[2]):
            self.send_error(400, "Bad request syntax (%r)" % line)
            return False
        self.command, self.path, self.request_version = words
        if self.path.startswith("//"):  # as the standard library does
            self.path = "/" + self.path.lstrip("/")
        headers = Headers()
        for _ in range(100):
            raw = self.rfile.readline(65537)
            if len(raw) > 65536:
                self.send_error(431, "Line too long")
                return False
            if raw in (b"\r\n", b"\n", b""):
                break
            name, colon, value = str(raw, "iso-8859-1").partition(":")
            if not colon or not name.strip():
                self.send_error(400, "Bad header line (%r)" % raw[:80])
                return False
            headers[name.strip().lower()] = value.strip()
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers
        connection = headers.get("connection", "").lower()
        if self.request_version == "HTTP/1.1" and connection != "close":
            self.close_connection = False
        elif connection == "keep-alive":
            self.close_connection = False
        if headers.get("expect", "").lower() == "100-continue" and \
                self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def setup(self):
        super().setup()
        # A long answer (OPEN) leaves in several writes: without this, Nagle
        # holds the last one until the client's delayed ACK (40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.cluster.count("connections", self.node)
        with self.cluster.lock:
            self.cluster.open_conns.setdefault(self.node, set()).add(self.connection)

    def finish(self):
        with self.cluster.lock:
            self.cluster.open_conns.get(self.node, set()).discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def handle_one_request(self):
        self.expect_no_continue = False
        self.discard = False
        try:
            super().handle_one_request()
        except ResetConnection:
            self.reset()
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True

    def reset(self):
        """Abort the connection with a TCP RST, as a crashing server does."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    # -- plumbing

    def send_json(self, status, obj, extra=None):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_empty(self, status, extra=None):
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def send_error_page(self, status, text):
        body = ("<html><head><title>%d %s</title></head><body><h1>%d %s</h1>"
                "<p>The server is temporarily unable to service your request.</p>"
                "</body></html>\n" % (status, text, status, text)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body_reader(self):
        """Yields the request body in pieces (Content-Length or chunked)."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    piece = self.rfile.read(min(left, 65536))
                    if not piece:
                        raise ConnectionError("eof in chunk")
                    left -= len(piece)
                    yield piece
                self.rfile.readline(16)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                piece = self.rfile.read(min(left, 65536))
                if not piece:
                    raise ConnectionError("eof in body")
                left -= len(piece)
                yield piece

    def has_body(self):
        return ("chunked" in self.headers.get("Transfer-Encoding", "").lower()
                or int(self.headers.get("Content-Length") or 0) > 0)

    def drain_body(self):
        n = 0
        for piece in self.body_reader():
            n += len(piece)
        return n

    def do_GET(self):
        self.dispatch("GET")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def parse(self):
        url = urllib.parse.urlsplit(self.path)
        return url.path, jersey_query(url.query)

    def dispatch(self, method):
        raw_path, params = self.parse()
        op = params.get("op", "")
        self.cluster.count("requests", self.node)
        self.cluster.count("ops", "%s %s" % (self.node, op.upper()))
        fault = self.cluster.take_fault(self.node, op.upper(), method,
                                        int(self.headers.get("Content-Length") or 0))
        if fault and fault["kind"] == "slow":
            time.sleep(float(fault.get("delay", 1.0)))
            fault = None
        try:
            if fault and fault["kind"] == "status":
                self.answer_fault_status(fault)
                return
            if fault and fault["kind"] == "drop":
                raise ResetConnection()
            if fault and fault["kind"] == "drop_after":
                # The operation happens, the answer is lost: an ambiguous failure.
                self.wfile = _Discard()
            if not raw_path.startswith("/webhdfs/v1"):
                self.send_json(404, {"RemoteException": {
                    "exception": "FileNotFoundException",
                    "javaClassName": "java.io.FileNotFoundException",
                    "message": "no such resource " + raw_path}})
                return
            path = urllib.parse.unquote(raw_path[len("/webhdfs/v1"):], errors="strict") or "/"
            user = params.get("user.name") or "dr.who"
            if not USER_RE.match(user):
                raise RemoteError("IllegalArgumentException",
                                  'Invalid value for webhdfs parameter "user.name": Invalid '
                                  'value: "%s" does not belong to the domain %s'
                                  % (user, USER_RE.pattern))
            self.handle_op(method, op, path, user, params, fault)
            if isinstance(self.wfile, _Discard):
                raise ResetConnection()
        except RemoteError as e:
            if isinstance(self.wfile, _Discard):
                raise ResetConnection() from None
            if method in ("PUT", "POST") and self.has_body():
                # Jetty answers without reading the body, then closes.
                self.close_connection = True
                self.send_json(e.status, e.body(), {"Connection": "close"})
            else:
                self.send_json(e.status, e.body())
        except UnicodeDecodeError:
            self.send_json(400, RemoteError("IllegalArgumentException",
                                            "URISyntaxException: malformed path").body())

    def answer_fault_status(self, fault):
        if self.command in ("PUT", "POST") and self.has_body():
            self.close_connection = True
        code = int(fault.get("code", 503))
        if fault.get("body") == "json":
            err = RemoteError(fault.get("exception", "IOException"),
                              fault.get("message", "injected failure"))
            self.send_json(code, err.body())
        else:
            self.send_error_page(code, {500: "Server Error", 502: "Bad Gateway",
                                        503: "Service Unavailable"}.get(code, "Error"))

    def check_known_op(self, method, op):
        if op == "":
            raise RemoteError("IllegalArgumentException",
                              'Invalid value for webhdfs parameter "op": op is null')
        if op.upper() not in KNOWN_BY_METHOD[method]:
            raise RemoteError("IllegalArgumentException",
                              'Invalid value for webhdfs parameter "op": No enum constant '
                              'org.apache.hadoop.hdfs.web.resources.%s.Op.%s'
                              % (JERSEY_CLASS[method], op.upper()))


def safemode_error(path, op, wrap):
    msg = ("Cannot %s %s. Name node is in safe mode.\nThe reported blocks 0 needs additional "
           "12 blocks to reach the threshold 0.9990 of total blocks 12.\nThe minimum number of "
           "live datanodes is not required. Safe mode will be turned off automatically once the "
           "thresholds have been reached." % (op.lower(), path))
    if wrap:
        return RemoteError("RetriableException",
                           "org.apache.hadoop.hdfs.server.namenode.SafeModeException: " + msg)
    return RemoteError("SafeModeException", msg)


class NameNodeHandler(Handler):
    index = 0

    def handle_expect_100(self):
        # The NameNode answers before reading a body: no 100 Continue.
        self.expect_no_continue = True
        return True

    def handle_op(self, method, op, path, user, params, fault):
        c = self.cluster
        if method in ("PUT", "POST") and self.has_body():
            if getattr(self, "expect_no_continue", False):
                self.close_connection = True  # body never asked for
            else:
                c.add_stat("nn_body_bytes", self.drain_body())
        self.expect_no_continue = False
        self.check_known_op(method, op)
        op = op.upper()
        if c.active != self.index:
            raise RemoteError("StandbyException",
                              "Operation category %s is not supported in state standby. "
                              "Visit https://s.apache.org/sbnn-error"
                              % ("WRITE" if op in WRITE_OPS else "READ"))
        if fault and fault["kind"] == "safemode" and op in WRITE_OPS and op != "CREATE":
            raise safemode_error(path, op, fault.get("wrap", True))
        ns = c.ns
        if op in ("CREATE", "OPEN", "GETFILECHECKSUM", "APPEND"):
            self.redirect(op, path, user, params)
        elif op == "MKDIRS":
            perm = int_param(params, "permission", 0o755, 8)
            self.send_json(200, {"boolean": ns.mkdirs(path, user, perm)})
        elif op == "GETFILESTATUS":
            self.send_json(200, {"FileStatus": ns.status(path, user)})
        elif op == "LISTSTATUS":
            self.send_json(200, {"FileStatuses": {"FileStatus": ns.listing(path, user)}})
        elif op == "LISTSTATUS_BATCH":
            self.list_batch(path, user, params)
        elif op == "GETCONTENTSUMMARY":
            self.send_json(200, {"ContentSummary": ns.content_summary(path, user)})
        elif op == "DELETE":
            self.send_json(200, {"boolean": ns.delete(path, user,
                                                      bool_param(params, "recursive", False))})
        elif op == "RENAME":
            self.rename(path, user, params)
        elif op == "SETOWNER":
            ns.set_owner(path, user, params.get("owner"), params.get("group"))
            self.send_empty(200)
        elif op == "SETPERMISSION":
            ns.set_permission(path, user, int_param(params, "permission", 0o755, 8))
            self.send_empty(200)
        elif op == "ALLOWSNAPSHOT":
            ns.allow_snapshot(path, user)
            self.send_empty(200)
        elif op == "CREATESNAPSHOT":
            self.send_json(200, {"Path": ns.create_snapshot(path, user,
                                                            params.get("snapshotname"))})
        elif op == "DELETESNAPSHOT":
            ns.delete_snapshot(path, user, params.get("snapshotname", ""))
            self.send_empty(200)
        elif op == "RENAMESNAPSHOT":
            ns.rename_snapshot(path, user, params.get("oldsnapshotname", ""),
                               params.get("snapshotname", ""))
            self.send_empty(200)
        elif op == "GETHOMEDIRECTORY":
            self.send_json(200, {"Path": "/user/" + user})
        else:
            raise RemoteError("UnsupportedOperationException",
                              "%s is not supported by this test server" % op)

    def rename(self, path, user, params):
        dst = params.get("destination")
        if not dst or not dst.startswith("/"):
            raise RemoteError("IllegalArgumentException",
                              'Invalid value for webhdfs parameter "destination": Invalid '
                              'parameter value: destination = "%s" is not an absolute path.'
                              % (dst or "null"))
        opts = params.get("renameoptions", "")
        if opts and not self.cluster.rename_options:
            # A NameNode before rename options (HDFS-9439-era and older).
            raise RemoteError("IllegalArgumentException",
                              'Invalid value for webhdfs parameter "renameoptions": unknown')
        if opts:
            if opts.upper() not in ("OVERWRITE", "NONE"):
                raise RemoteError("IllegalArgumentException",
                                  'Invalid value for webhdfs parameter "renameoptions"')
            self.rename_with_options(path, dst, user, opts.upper() == "OVERWRITE")
            self.send_empty(200)
            return
        self.send_json(200, {"boolean": self.cluster.ns.rename(path, dst, user)})

    def rename_with_options(self, src, dst, user, overwrite):
        """rename2: exceptions instead of false; OVERWRITE replaces a file or
        an empty directory."""
        ns = self.cluster.ns
        with ns.lock:
            node, _, _ = ns.resolve(src, user)
            if node is None:
                raise fnf("rename source %s is not found." % src)
            dnode, dchain, _ = ns.resolve(dst, user)
            dparts = split_path(dst)
            if len(dchain) != len(dparts):
                raise fnf("rename destination parent %s not found." % join(dparts[:-1]))
            if dnode is not None:
                if not overwrite:
                    raise RemoteError("FileAlreadyExistsException",
                                      "rename destination %s already exists." % dst)
                if dnode.is_dir != node.is_dir:
                    raise RemoteError("IOException",
                                      "Source %s and destination %s must both be directories"
                                      % (src, dst) if node.is_dir else
                                      "Source %s and destination %s must both be files"
                                      % (src, dst))
                if dnode.is_dir and dnode.children:
                    raise RemoteError("IOException",
                                      "rename destination directory is not empty: " + dst)
                ns.delete(dst, user, False)
            if not ns.rename(src, dst, user):
                raise RemoteError("IOException", "rename from %s to %s failed." % (src, dst))
        return True

    def list_batch(self, path, user, params):
        if not self.cluster.liststatus_batch:
            # A Hadoop 2.7 NameNode does not know the op.
            raise RemoteError("IllegalArgumentException",
                              'Invalid value for webhdfs parameter "op": No enum constant '
                              'org.apache.hadoop.hdfs.web.resources.GetOpParam.Op.LISTSTATUS_BATCH')
        entries = self.cluster.ns.listing(path, user)
        after = params.get("startAfter", "")
        if after:
            key = after.encode()
            entries = [e for e in entries if e["pathSuffix"].encode() > key]
        limit = self.cluster.ls_limit
        page, rest = entries[:limit], entries[limit:]
        self.send_json(200, {"DirectoryListing": {
            "partialListing": {"FileStatuses": {"FileStatus": page}},
            "remainingEntries": len(rest)}})

    def redirect(self, op, path, user, params):
        c = self.cluster
        if op in ("OPEN", "GETFILECHECKSUM"):
            with c.ns.lock:
                node, _, _ = c.ns.lookup(path, user)
                if isinstance(node, tuple) or node.is_dir:
                    raise fnf("Path is not a file: " + path)
        q = [("op", op), ("user.name", user),
             ("namenoderpcaddress", "%s:8020" % c.dn_host)]
        if op == "CREATE":
            q += [("createflag", ""), ("createparent", "true"),
                  ("overwrite", params.get("overwrite", "false") or "false")]
            for k in ("blocksize", "replication", "permission", "buffersize"):
                if params.get(k):
                    q.append((k, params[k]))
        elif op == "OPEN":
            q.append(("offset", params.get("offset") or "0"))
            if params.get("length"):
                q.append(("length", params["length"]))
        host = c.dn_host
        if ":" in host:
            host = "[" + host + "]"
        loc = "%s://%s:%d/webhdfs/v1%s?%s" % (
            c.scheme, host, c.dn_port, urllib.parse.quote(path, safe="/"),
            urllib.parse.urlencode(q, quote_via=urllib.parse.quote))
        if bool_param(params, "noredirect", False):
            self.send_json(200, {"Location": loc})
        else:
            self.send_json(307, {"Location": loc}, {"Location": loc})


class _Empty:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def seek(self, pos):
        pass

    def read(self, n):
        return b""


class Upload:
    """One CREATE body at the DataNode: to the blob file, with its chunk CRCs
    kept, the disk space quota charged per block as HDFS allocates them, and
    an armed reset fault fired after its byte count. In C (NativeBody) when
    DN_LIB is loaded and the body is a plain Content-Length one on a plain
    socket; in Python (BlockCrcs) otherwise."""

    def __init__(self, handler, chain, blocksize, replication, fault, reset_after):
        self.h = handler
        self.c = handler.cluster
        self.chain = chain
        self.blocksize = blocksize
        self.replication = replication
        self.fault = fault
        self.reset_after = reset_after
        self.written = 0
        self.native = None
        chunked = "chunked" in handler.headers.get("Transfer-Encoding", "").lower()
        if DN_LIB and not chunked and not isinstance(handler.connection, ssl.SSLSocket):
            self.native = NativeBody(DN_LIB, blocksize)

    def close(self):
        if self.native:
            self.native.close()

    def receive(self, out):
        """The whole body into out; returns what has its checksum."""
        if self.native:
            self.receive_native(out)
            return self.native
        crcs = BlockCrcs(self.blocksize)
        for piece in self.h.body_reader():
            self.allocate(len(piece))
            out.write(piece)
            crcs.update(piece)
            self.advance(len(piece))
        return crcs

    def receive_native(self, out):
        total = int(self.h.headers.get("Content-Length") or 0)
        fd, sock = out.fileno(), self.h.connection.fileno()
        held = self.h.held_body(total)
        while self.written < total:
            step = min(total - self.written, self.blocksize - self.written % self.blocksize)
            if self.reset_after is not None:
                step = min(step, max(1, self.reset_after - self.written))
            self.allocate(step)
            if held:
                n = min(step, len(held))
                self.native.feed(fd, held[:n])
                held = held[n:]
            else:
                n = self.native.receive(sock, fd, step)
                if n == 0:
                    raise ConnectionError("eof in body")
            self.advance(n)

    def allocate(self, n):
        """Before writing n more bytes: a new block is charged in full."""
        bs, w = self.blocksize, self.written
        if w % bs == 0 or (w + n) // bs > w // bs:
            blocks = (w + n - 1) // bs + 1
            with self.c.ns.lock:
                self.c.ns.check_ds_quota(self.chain, blocks * bs * self.replication)

    def advance(self, n):
        self.written += n
        self.c.add_stat("dn_put_bytes", n)
        if self.reset_after is not None and self.written >= self.reset_after:
            if self.fault.get("down_s") is not None:
                self.c.datanode_dies(float(self.fault["down_s"]))
            raise ResetConnection()


class DataNodeHandler(Handler):
    node = "dn"

    def handle_op(self, method, op, path, user, params, fault):
        c = self.cluster
        self.check_known_op(method, op)
        op = op.upper()
        if "namenoderpcaddress" not in params:
            raise RemoteError("IllegalArgumentException", "Namenode RPC address is not specified.")
        if c.active not in (0, 1):
            raise RemoteError("IOException", "Failed on local exception: no active NameNode")
        if op == "CREATE" and method == "PUT":
            self.create(path, user, params, fault)
        elif op == "OPEN" and method == "GET":
            self.open(path, user, params)
        elif op == "GETFILECHECKSUM" and method == "GET":
            self.checksum(path, user)
        else:
            raise RemoteError("IllegalArgumentException", "Invalid operation " + op)

    def create(self, path, user, params, fault):
        c = self.cluster
        if fault and fault["kind"] == "safemode":
            raise safemode_error(path, "create file", fault.get("wrap", True))
        overwrite = bool_param(params, "overwrite", False)
        perm = int_param(params, "permission", 0o644, 8)
        blocksize = int_param(params, "blocksize", c.ns.default_blocksize)
        replication = int_param(params, "replication", c.ns.default_replication)
        if blocksize < 1:  # BlockSizeParam's domain
            raise RemoteError("IllegalArgumentException",
                              'Invalid value for webhdfs parameter "blocksize": '
                              'Invalid value: "%d" = %d < 1' % (blocksize, blocksize))
        inode, chain = c.ns.begin_create(path, user, overwrite, perm, blocksize, replication)
        bid = c.blobs.new()
        reset_after = None
        if fault and fault["kind"] == "reset":
            reset_after = int(fault.get("after_bytes", 0)) or max(
                1, int(self.headers.get("Content-Length") or 131072) // 2)
        up = Upload(self, chain, blocksize, replication, fault, reset_after)
        try:
            with open(c.blobs.path(bid), "wb") as out:
                checksum = up.receive(out).result()
        except RemoteError:
            self.finish_file(inode, bid, up.written)
            raise
        except (ResetConnection, ConnectionError, OSError):
            # The client went away: the file is closed with what arrived.
            self.finish_file(inode, bid, up.written)
            raise ResetConnection() from None
        finally:
            up.close()
        # The client's body arrived whole: its checksum is known (a closed
        # partial file gets it computed when asked).
        c.blobs.checksums[bid] = checksum
        self.finish_file(inode, bid, up.written)
        self.send_empty(201, {"Location": "hdfs://%s:8020%s" % (c.dn_host, urllib.parse.quote(
            path, safe="/"))})

    def held_body(self, limit):
        """Up to limit bytes of the body that the request's reader already
        holds (they came with the headers), taken out of it."""
        if limit <= 0:
            return b""  # no body: nothing to look for
        sock = self.connection
        timeout = sock.gettimeout()
        sock.setblocking(False)  # peek reads the socket only when it holds none
        try:
            held = self.rfile.peek(1)[:limit]
        except BlockingIOError:
            held = b""
        finally:
            sock.settimeout(timeout)
        if held:
            self.rfile.read(len(held))
        return held

    def finish_file(self, inode, bid, written):
        c = self.cluster
        with c.ns.lock:
            inode.blob = bid
            inode.length = written
            inode.mtime = inode.atime = now_ms()

    def open(self, path, user, params):
        c = self.cluster
        bid, length, _ = c.ns.open_file(path, user)
        try:
            offset = int_param(params, "offset", 0)
            want = int_param(params, "length", None)
            if offset < 0 or (offset >= length and not (offset == 0 and length == 0)):
                raise RemoteError("IOException",
                                  "Offset=%d out of the range [0, %d); OPEN, path=%s"
                                  % (offset, length, path))
            n = length - offset if want is None else min(want, length - offset)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            with open(c.blobs.path(bid), "rb") if bid else _Empty() as f:
                f.seek(offset)
                while n > 0:
                    piece = f.read(min(n, 65536))
                    if not piece:
                        break
                    self.wfile.write(piece)
                    n -= len(piece)
        finally:
            if bid:
                c.blobs.unref(bid)

    def checksum(self, path, user):
        c = self.cluster
        bid, length, blocksize = c.ns.open_file(path, user)
        try:
            cached = c.blobs.checksums.get(bid)
            if cached is None:
                with open(c.blobs.path(bid), "rb") if bid else _Empty() as f:
                    cached = md5_of_md5_of_crc32c(f, length, blocksize)
                if bid:
                    c.blobs.checksums[bid] = cached
        finally:
            if bid:
                c.blobs.unref(bid)
        algorithm, hexbytes = cached
        self.send_json(200, {"FileChecksum": {"algorithm": algorithm, "bytes": hexbytes,
                                              "length": 28}})


class AdminHandler(BaseHTTPRequestHandler):
    """POST /admin/state {"active": 0|1|-1}; /admin/fault {"kind": "reset"|"status"|"slow"|
    "safemode"|"drop"|"drop_after", "count", "node", "op", "method", "min_length", "skip", and
    per kind "after_bytes" and "down_s" (reset: the DataNode then dies for down_s seconds),
    "code"/"body"/"exception"/"message" (status), "delay" (slow), "wrap" (safemode)}; /admin/clear;
    /admin/reset (a fresh cluster, as at start); /admin/quota {"path", "ns_quota", "ds_quota"}; /admin/config {"ls_limit",
    "liststatus_batch", "rename_options", "default_blocksize", "clock_skew_s" (seconds added
    to every Date header)}; /admin/datanode {"up": bool};
    GET /admin/stats."""
    protocol_version = "HTTP/1.1"
    cluster = None
    controller = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        c = self.cluster
        if self.path == "/admin/stats":
            with c.lock:
                stats = json.loads(json.dumps(c.stats))
            stats["active"] = c.active
            stats["blobs"] = c.blobs.count()
            stats["faults"] = len(c.faults)
            self.reply(200, stats)
        else:
            self.reply(404, {"error": "unknown admin path"})

    def do_POST(self):
        c = self.cluster
        n = int(self.headers.get("Content-Length") or 0)
        try:
            req = json.loads(self.rfile.read(n) or b"{}")
            if self.path == "/admin/state":
                c.active = int(req["active"])
            elif self.path == "/admin/fault":
                f = dict(req)
                f.setdefault("count", 1)
                if f.get("kind") not in ("reset", "status", "slow", "safemode", "drop",
                                         "drop_after"):
                    raise ValueError("unknown fault kind")
                if f["kind"] == "reset":
                    f.setdefault("node", "dn")
                    f.setdefault("method", "PUT")
                with c.lock:
                    c.faults.append(f)
            elif self.path == "/admin/clear":
                with c.lock:
                    c.faults.clear()
            elif self.path == "/admin/quota":
                with c.ns.lock:
                    node, _, _ = c.ns.lookup(req["path"], c.ns.superuser)
                    node.ns_quota = int(req.get("ns_quota", node.ns_quota))
                    node.ds_quota = int(req.get("ds_quota", node.ds_quota))
            elif self.path == "/admin/config":
                if "ls_limit" in req:
                    c.ls_limit = int(req["ls_limit"])
                if "liststatus_batch" in req:
                    c.liststatus_batch = bool(req["liststatus_batch"])
                if "rename_options" in req:
                    c.rename_options = bool(req["rename_options"])
                if "default_blocksize" in req:
                    c.ns.default_blocksize = int(req["default_blocksize"])
                if "clock_skew_s" in req:
                    c.clock_skew_s = float(req["clock_skew_s"])
            elif self.path == "/admin/datanode":
                self.controller.set_datanode(bool(req["up"]))
            elif self.path == "/admin/reset":
                self.controller.set_datanode(True)
                c.reset(self.controller.defaults)
            else:
                self.reply(404, {"error": "unknown admin path"})
                return
        except (ValueError, KeyError, RemoteError) as e:
            self.reply(400, {"error": str(e)})
            return
        self.reply(200, {"ok": True})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def make_server(host, port, handler, tls=None):
    cls = Server
    if ":" in host:
        cls = type("Server6", (Server,), {"address_family": socket.AF_INET6})
    srv = cls((host, port), handler)
    if tls:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    return srv


class Controller:
    def __init__(self, args):
        self.tmp = None
        storage = args.storage
        if not storage:
            self.tmp = tempfile.mkdtemp(prefix="webhdfs-")
            storage = self.tmp
        os.makedirs(storage, exist_ok=True)
        dn_host = args.datanode_host or args.host
        self.cluster = Cluster(storage, args.superuser, args.ls_limit, args.blocksize, dn_host)
        self.cluster.controller = self
        self.defaults = {"blocksize": args.blocksize, "ls_limit": args.ls_limit}
        self.host = args.host
        self.tls = None
        if args.tls_cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(args.tls_cert, args.tls_key)
            self.cluster.scheme = "https"  # swebhdfs: redirects keep the scheme
        self.servers = []
        ports = [int(p) for p in args.nn_ports.split(",")]
        hosts = [args.host, args.host]
        if args.nn_hosts:
            # As a task has them: two addresses, one namenode_http_port.
            hosts = args.nn_hosts.split(",")[:2]
            ports = [ports[0], None]
        for i, port in enumerate(ports[:2]):
            h = type("NN%d" % i, (NameNodeHandler,),
                     {"node": "nn%d" % i, "index": i, "cluster": self.cluster})
            if port is None:
                port = self.servers[0].server_address[1]
            self.servers.append(make_server(hosts[i], port, h, self.tls))
        self.dn_handler = type("DN", (DataNodeHandler,), {"cluster": self.cluster})
        self.dn = make_server(args.host, args.dn_port, self.dn_handler, self.tls)
        self.cluster.dn_port = self.dn.server_address[1]
        ah = type("Admin", (AdminHandler,), {"cluster": self.cluster, "controller": self})
        self.admin = make_server(args.host, args.admin_port, ah)
        self.dn_lock = threading.Lock()

    def start(self, srv):
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()

    def run(self):
        for s in self.servers + [self.dn, self.admin]:
            self.start(s)
        print(json.dumps({"namenodes": [s.server_address[1] for s in self.servers],
                          "datanode": self.cluster.dn_port,
                          "admin": self.admin.server_address[1]}), flush=True)

    def set_datanode(self, up):
        """Down: the listening socket closes (connection refused)."""
        with self.dn_lock:
            if up and self.dn is None:
                self.dn = make_server(self.host, self.cluster.dn_port, self.dn_handler, self.tls)
                self.start(self.dn)
            elif not up and self.dn is not None:
                self.dn.shutdown()
                self.dn.server_close()
                self.dn = None
                # A dead DataNode takes its kept-alive connections along.
                with self.cluster.lock:
                    conns = list(self.cluster.open_conns.get("dn", ()))
                for conn in conns:
                    try:
                        conn.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def stop(self):
        # The process exits next: no need to wait for the serve loops.
        for s in self.servers + [self.admin] + ([self.dn] if self.dn else []):
            s.server_close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--storage")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--datanode-host", help="host name the NameNode puts into redirects")
    ap.add_argument("--nn-ports", default="0,0")
    ap.add_argument("--nn-hosts", help="A,B: NameNode 0 on address A, 1 on B, both on the "
                    "first --nn-ports port (e.g. 127.0.0.1,127.0.0.2)")
    ap.add_argument("--dn-port", type=int, default=0)
    ap.add_argument("--admin-port", type=int, default=0)
    ap.add_argument("--superuser", default="hdfs")
    ap.add_argument("--ls-limit", type=int, default=1000)
    ap.add_argument("--blocksize", type=int, default=128 * 1024 * 1024)
    ap.add_argument("--tls-cert", help="PEM certificate: NameNodes and DataNode speak HTTPS")
    ap.add_argument("--tls-key", help="PEM private key for --tls-cert")
    args = ap.parse_args()
    ctl = Controller(args)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    ctl.run()

    def watch_stdin():
        try:
            while sys.stdin.read(4096):
                pass
        except (OSError, ValueError):
            return
        done.set()
    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait()
    ctl.stop()


if __name__ == "__main__":
    main()
