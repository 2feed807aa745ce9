#!/usr/bin/env python3
"""A stand-in for IoTDB's REST service (v2 API) for tests.

It answers the way IoTDB 1.x's rest-service does (shapes taken from
apache/iotdb: AuthorizationFilter, RestApiServiceImpl, ExceptionHandler,
QueryDataSetHandler, TSStatusCode):
  GET  /ping                  no auth: {"code":200,"message":"SUCCESS_STATUS"}
  POST /rest/v2/query         {"sql": ..., "row_limit": N}: SHOW DATABASES (also
                              SHOW STORAGE GROUP), SHOW VERSION, SELECT (empty)
  POST /rest/v2/nonQuery      {"sql": ...}: FLUSH, LOAD, SET SYSTEM TO ...,
                              CREATE DATABASE, DELETE DATABASE
Basic auth on /rest/*: no header -> HTTP 401 {"code":800,"message":"INIT_AUTH_ERROR"};
wrong user or password -> HTTP 401 {"code":801,"message":"WRONG_LOGIN_PASSWORD"}.
Statement errors come back as HTTP 200 with a non-200 "code": 700 (parse
error), 301 EXECUTE_STATEMENT_ERROR (a query sent to nonQuery or the other
way round), 501 (database exists), 500 (no such database), 305 (no "sql").
Statements IoTDB knows but this server does not model answer 301 with a
message saying so.

With --data-dir DIR (repeatable) the databases are those found under
DIR/{sequence,unsequence}/, and FLUSH seals the working files (tsfiles
without .resource) of the named databases, as IoTDB's FLUSH does.

Failure injection: --fail-flush CODE, --fail-load CODE (HTTP 200 with that
code), --down (nothing listens on the port), --http-error CODE (every
/rest/* request answers HTTP CODE with an error page, as a proxy in front of
a failing IoTDB does), --malformed (HTTP 200 with a cut-off JSON body), --legacy (0.13/0.14: SHOW
DATABASES is a parse error, SHOW STORAGE GROUP answers a "storage group"
column), --column-case lower (2.x spells "database").
--log FILE appends one JSON line per request: method, path, sql, user,
http_status, code.

Prints "listening on PORT" (or "down on PORT") on stdout once ready; use
--port 0 for a free port. Stops on SIGTERM or SIGINT.
"""

import argparse
import base64
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_iotdb_data  # noqa: E402  (sealing working files, the data dir walk)

SUCCESS = {"code": 200, "message": "SUCCESS_STATUS"}
SHOW_DATABASES_COLUMNS = ["Database", "SchemaReplicationFactor", "DataReplicationFactor",
                          "TimePartitionOrigin", "TimePartitionInterval"]
QUERY, NONQUERY = "query", "nonQuery"


class StatementError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def status(code, message):
    return {"code": code, "message": message}


# ---- SQL, only as far as these statements need ----

def split_outside_quotes(text, sep):
    """Split on sep outside `...`, '...' and "..." quotes."""
    parts, cur, quote = [], [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch in "`'\"":
            quote = ch
            cur.append(ch)
        elif ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_error(sql, token):
    col = max(sql.find(token), 0)
    return StatementError(700, "line 1:%d no viable alternative at input '%s'" % (col, token))


def check_path(sql, path):
    """A prefix path: root(.node)* where a node is an identifier or `quoted`."""
    nodes = split_outside_quotes(path, ".")
    if not path or nodes[0].lower() != "root":
        raise parse_error(sql, path or "<EOF>")
    for n in nodes[1:]:
        if not (re.fullmatch(r"[A-Za-z0-9_*\u0080-\uffff]+", n)
                or re.fullmatch(r"`([^`]|``)+`", n)):
            raise parse_error(sql, n or ".")
    return path


def unquote_path(path):
    nodes = split_outside_quotes(path, ".")
    out = []
    for n in nodes:
        if len(n) >= 2 and n[0] == "`" and n[-1] == "`":
            n = n[1:-1].replace("``", "`")
        out.append(n)
    return ".".join(out)


def string_literal(sql, text):
    m = re.fullmatch(r"'((?:[^']|'')*)'|\"((?:[^\"]|\"\")*)\"", text)
    if not m:
        raise parse_error(sql, text)
    if m.group(1) is not None:
        return m.group(1).replace("''", "'")
    return m.group(2).replace('""', '"')


def classify(sql):
    """(endpoint kind, statement name, details) or StatementError."""
    s = sql.strip().rstrip(";").strip()
    words = s.split()
    if not words:
        raise StatementError(700, "line 1:0 mismatched input '<EOF>'")
    up = [w.upper() for w in words]
    if up[:2] == ["SHOW", "DATABASES"] or up[:3] == ["SHOW", "STORAGE", "GROUP"]:
        rest = words[2:] if up[1] == "DATABASES" else words[3:]
        if rest and rest[-1].upper() == "DETAILS":
            rest = rest[:-1]
        return QUERY, "show_databases", {"legacy": up[1] != "DATABASES",
                                          "path": check_path(sql, rest[0]) if rest else None}
    if up[:2] == ["SHOW", "VERSION"]:
        return QUERY, "show_version", {}
    if up[0] in ("SELECT", "SHOW", "LIST", "COUNT"):
        return QUERY, up[0].lower(), {}
    if up[0] == "FLUSH":
        return NONQUERY, "flush", parse_flush(sql, s[len(words[0]):])
    if up[0] == "LOAD":
        return NONQUERY, "load", parse_load(sql, s[len(words[0]):].strip())
    if up[:3] == ["SET", "SYSTEM", "TO"] and len(up) >= 4 and up[3] in ("READONLY", "RUNNING"):
        return NONQUERY, "set_system", {"status": up[3]}
    if up[0] in ("CREATE", "DELETE", "DROP") and len(up) >= 3 and (
            up[1] == "DATABASE" or up[1:3] == ["STORAGE", "GROUP"]):
        path = words[2] if up[1] == "DATABASE" else (words[3] if len(words) > 3 else "")
        name = "create_database" if up[0] == "CREATE" else "delete_database"
        return NONQUERY, name, {"path": check_path(sql, path)}
    if up[0] in ("INSERT", "CREATE", "DELETE", "DROP", "ALTER", "GRANT", "REVOKE", "SET",
                 "UNSET", "START", "STOP", "KILL", "CLEAR", "MERGE", "SETTLE", "EXPLAIN"):
        return NONQUERY, "unsupported", {}
    raise parse_error(sql, words[0])


def parse_flush(sql, rest):
    text = rest.strip()
    m = re.search(r"\s*ON\s+(LOCAL|CLUSTER)\s*$", text, re.IGNORECASE)
    scope = "CLUSTER"
    if m:
        scope = m.group(1).upper()
        text = text[:m.start()].strip()
    m = re.search(r"(^|\s)(true|false)$", text, re.IGNORECASE)
    if m:
        text = text[:m.start()].strip()
    paths = [p.strip() for p in split_outside_quotes(text, ",")] if text else []
    for p in paths:
        check_path(sql, p)
    return {"paths": paths, "scope": scope}


def parse_load(sql, rest):
    m = re.match(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")\s*(.*)$", rest, re.DOTALL)
    if not m:
        raise parse_error(sql, rest.split()[0] if rest.split() else "<EOF>")
    attrs = {}
    for item in m.group(2).split():
        key, eq, value = item.partition("=")
        if not eq or key.lower() not in ("sglevel", "verify", "onsuccess"):
            raise parse_error(sql, item)
        attrs[key.lower()] = value
    return {"dir": string_literal(sql, m.group(1)), "attrs": attrs}


# ---- the server ----

class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.created = set(args.databases)
        self.deleted = set()
        self.system = "RUNNING"
        self.loaded = []

    def databases(self):
        found = set(self.created)
        for d in self.args.data_dir:
            for kind in gen_iotdb_data.KINDS:
                kdir = os.path.join(d, kind)
                if os.path.isdir(kdir):
                    found.update(n for n in os.listdir(kdir)
                                 if os.path.isdir(os.path.join(kdir, n)))
        return sorted(found - self.deleted)

    def log(self, entry):
        if not self.args.log:
            return
        with self.lock, open(self.args.log, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")


def path_matches(pattern, path):
    """IoTDB path patterns: "*" within a node, "**" for one or more nodes; a
    pattern ending in ".**" also names its prefix (root.sg.** shows root.sg)."""
    nodes = split_outside_quotes(pattern, ".")
    parts = []
    for n in nodes:
        if n == "**":
            parts.append(r"[^.]+(?:\.[^.]+)*")
        elif n.startswith("`"):
            parts.append(re.escape(unquote_path(n)))
        else:
            parts.append("[^.]*".join(re.escape(x) for x in n.split("*")))
    regex = r"\.".join(parts)
    if nodes[-1] == "**" and len(nodes) > 1:
        regex = r"\.".join(parts[:-1]) + r"(?:\." + parts[-1] + ")?"
    return re.fullmatch(regex, path) is not None


def show_databases(state, details):
    dbs = state.databases()
    path = details["path"]
    if path:
        dbs = [d for d in dbs if path_matches(path, d)]
    if state.args.legacy:
        columns = ["storage group", "ttl", "schema_replication_factor",
                   "data_replication_factor", "time_partition_interval"]
    else:
        columns = list(SHOW_DATABASES_COLUMNS)
    if state.args.column_case == "lower":
        columns = [c.lower() for c in columns]
    n = len(dbs)
    values = [dbs, [1] * n, [1] * n, [0] * n, [604800000] * n] if n else []
    return {"expressions": None, "column_names": columns, "timestamps": None, "values": values}


def run_query(state, name, details):
    if name == "show_databases":
        if details["legacy"] is False and state.args.legacy:
            raise StatementError(700, "line 1:5 no viable alternative at input 'SHOW DATABASES'")
        return show_databases(state, details)
    if name == "show_version":
        return {"expressions": None, "column_names": ["Version", "BuildInfo"],
                "timestamps": None, "values": [["1.3.2"], ["test-server"]]}
    if name == "select":
        return {"expressions": [], "column_names": None, "timestamps": [], "values": []}
    raise StatementError(301, "not supported by the test server")


def matching_dirs(state, paths):
    """Directory names of the databases a FLUSH names (all when none)."""
    if not paths:
        return None
    names = set()
    for p in paths:
        names.update((p, unquote_path(p)))
    return names


def run_flush(state, details):
    if state.args.fail_flush:
        code = state.args.fail_flush
        messages = {600: "Database is read-only, and does not accept non-query operation now",
                    803: "No permissions for this operation, please add privilege SYSTEM"}
        raise StatementError(code, messages.get(code, "flush failed"))
    wanted = matching_dirs(state, details["paths"])
    for d in state.args.data_dir:
        gen_iotdb_data.seal(d, wanted)
    return SUCCESS


def run_load(state, details):
    if state.args.fail_load:
        raise StatementError(state.args.fail_load, "load failed")
    path = details["dir"]
    if not os.path.exists(path):
        raise StatementError(701, "Load error: file %s does not exist" % path)
    with state.lock:
        state.loaded.append(path)
    return SUCCESS


def run_nonquery(state, name, details):
    if name == "flush":
        return run_flush(state, details)
    if name == "load":
        return run_load(state, details)
    if name == "set_system":
        state.system = details["status"]
        return SUCCESS
    path = unquote_path(details.get("path") or "")
    with state.lock:
        exists = path in state.databases()
        if name == "create_database":
            if exists:
                raise StatementError(501, "%s has already been created as database" % path)
            state.created.add(path)
            state.deleted.discard(path)
            return SUCCESS
        if name == "delete_database":
            if not exists:
                raise StatementError(500, "Path [%s] does not exist" % path)
            state.deleted.add(path)
            state.created.discard(path)
            return SUCCESS
    raise StatementError(301, "not supported by the test server")


def execute(state, endpoint, sql):
    kind, name, details = classify(sql)
    if kind != endpoint:
        raise StatementError(301, "EXECUTE_STATEMENT_ERROR")
    if kind == QUERY:
        return run_query(state, name, details)
    return run_nonquery(state, name, details)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "IoTDB-test-server/1"

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write("%s\n" % (fmt % args))

    def reply(self, http_status, obj, entry):
        # Logged before answering, so a client that got its answer finds the line.
        entry["http_status"] = http_status
        entry["code"] = obj.get("code") if isinstance(obj, dict) else None
        self.server.state.log(entry)
        data = json.dumps(obj).encode()
        self.send_response(http_status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authenticate(self, entry):
        """The user name, or None after answering 400/401."""
        header = self.headers.get("Authorization")
        if header is None:
            self.reply(401, status(800, "INIT_AUTH_ERROR"), entry)
            return None
        try:
            decoded = base64.b64decode(header.replace("Basic ", "")).decode()
        except ValueError:
            decoded = ""
        parts = decoded.split(":")
        if len(parts) != 2:
            self.reply(400, status(303, "Illegal format of authorization header."), entry)
            return None
        entry["user"] = parts[0]
        args = self.server.state.args
        if parts[0] != args.user or parts[1] != args.password:
            self.reply(401, status(801, "WRONG_LOGIN_PASSWORD"), entry)
            return None
        return parts[0]

    def do_GET(self):
        entry = {"method": "GET", "path": self.path, "sql": None, "user": None}
        if self.path == "/ping":
            self.reply(200, SUCCESS, entry)
        elif self.authenticate(entry) is not None:
            self.reply(404, status(404, "HTTP 404 Not Found"), entry)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def injected_fault(self, entry):
        """Answer an armed --http-error/--malformed fault; True when answered."""
        args = self.server.state.args
        if args.http_error:
            data = b"<html><body><h1>%d Server Error</h1></body></html>" % args.http_error
            ctype = "text/html"
            entry["http_status"] = args.http_error
        elif args.malformed:
            data = b'{"code":200,"message":"SUCC'
            ctype = "application/json"
            entry["http_status"] = 200
        else:
            return False
        entry["code"] = None
        self.server.state.log(entry)
        self.send_response(entry["http_status"])
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return True

    def do_POST(self):
        body = self.read_body()
        try:
            request = json.loads(body or b"null")
        except ValueError:
            request = ValueError
        sql = request.get("sql") if isinstance(request, dict) else None
        entry = {"method": "POST", "path": self.path, "sql": sql, "user": None}
        endpoints = {"/rest/v2/query": QUERY, "/rest/v2/nonQuery": NONQUERY}
        if self.injected_fault(entry):
            return
        if self.authenticate(entry) is None:
            return
        if self.path not in endpoints:
            self.reply(404, status(404, "HTTP 404 Not Found"), entry)
        elif request is ValueError:
            self.reply(400, status(400, "Unable to process JSON"), entry)
        elif not isinstance(sql, str):
            self.reply(200, status(305, "sql should not be null"), entry)
        else:
            try:
                result = execute(self.server.state, endpoints[self.path], sql)
                self.reply(200, result, entry)
            except StatementError as e:
                self.reply(200, status(e.code, e.message), entry)


def wait_for_signal():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def serve(args):
    if args.down:
        # Reserve a port nobody listens on: connections are refused.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((args.host, args.port))
        port = s.getsockname()[1]
        s.close()
        print("down on %d" % port, flush=True)
        wait_for_signal()
        return 0
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("listening on %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def csv(text):
    return [x for x in (s.strip() for s in text.split(",")) if x]


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=18080, help="0 picks a free port")
    p.add_argument("--user", default="root")
    p.add_argument("--password", default="root")
    p.add_argument("--databases", type=csv, default=[], help="root.a,root.b")
    p.add_argument("--data-dir", action="append", default=[], help="IoTDB data dir (repeatable)")
    p.add_argument("--fail-flush", type=int, default=0, metavar="CODE")
    p.add_argument("--fail-load", type=int, default=0, metavar="CODE")
    p.add_argument("--down", action="store_true", help="do not listen: connections are refused")
    p.add_argument("--http-error", type=int, default=0, metavar="CODE",
                   help="answer every /rest/* POST with HTTP CODE and an HTML page")
    p.add_argument("--malformed", action="store_true",
                   help="answer every /rest/* POST with HTTP 200 and cut-off JSON")
    p.add_argument("--legacy", action="store_true", help="0.13/0.14: no SHOW DATABASES")
    p.add_argument("--column-case", choices=["as-is", "lower"], default="as-is")
    p.add_argument("--log", help="append one JSON line per request to this file")
    p.add_argument("--verbose", action="store_true")
    return serve(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
