#!/usr/bin/python3
"""An HTTP reverse proxy that puts Kerberos (SPNEGO) in front of a WebHDFS
NameNode port of tests/tools/webhdfs_server.py, the way Hadoop's
AuthenticationFilter with the KerberosAuthenticationHandler guards a secure
NameNode's HTTP server:

  - a request with neither a valid hadoop.auth cookie nor an
    `Authorization: Negotiate <token>` header gets 401 with
    `WWW-Authenticate: Negotiate` and an HTML error page;
  - the token is accepted with GSSAPI (python3-gssapi, MIT krb5) using the
    HTTP/ service keys of --keytab; a token that does not verify (unknown
    key, expired ticket, replay) gets 403 with the GSS error as the page's
    title, as Hadoop answers an AuthenticationException;
  - once accepted, the answer carries the mutual-authentication token
    (`WWW-Authenticate: Negotiate <token>`) and a signed hadoop.auth cookie
    (u=<short name>&p=<principal>&t=kerberos&e=<expiry ms>&s=<signature>),
    which authenticates the same client's later requests without SPNEGO;
  - the request is forwarded to --upstream with user.name replaced by the
    principal's short name (Hadoop's DEFAULT auth_to_local rule: the first
    component of a principal of the local realm), and the upstream answer
    is returned unchanged, including a 307 Location to the DataNode (the
    DataNode port is not behind this proxy, as a real DataNode takes the
    delegation token in the URL, not SPNEGO).

Not modelled: delegation tokens, auth_to_local rules other than DEFAULT,
the anonymous/pseudo fallbacks, cookie domains, HTTPS.

GET /proxy/stats (no authentication) answers counters as JSON:
challenged (401 without a token), negotiated (tokens accepted),
cookie (requests authenticated by the cookie), rejected (403),
forwarded, principals (accepted principals, in order).

Usage: spnego_proxy.py --upstream HOST:PORT --keytab FILE [--host 127.0.0.1]
       [--port 0] [--token-validity SECONDS]
Needs KRB5_CONFIG (and the realm) in the environment. Prints one JSON line
{"port": N} on stdout, then serves until stdin closes or SIGTERM/SIGINT.
"""

import argparse
import base64
import hashlib
import hmac
import html
import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gssapi

COOKIE = "hadoop.auth"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "server", "date",
              "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"}


def short_name(principal):
    """Hadoop's DEFAULT auth_to_local rule: 'backup/host@REALM' -> 'backup'."""
    return principal.split("@", 1)[0].split("/", 1)[0]


class Signer:
    """Signs and checks hadoop.auth cookie values (Hadoop's Signer appends
    '&s=' and a digest of the value and a secret)."""

    def __init__(self, secret):
        self.secret = secret

    def sign(self, value):
        digest = hmac.new(self.secret, value.encode(), hashlib.sha256).digest()
        return value + "&s=" + base64.b64encode(digest).decode()

    def verify(self, signed):
        value, sep, _ = signed.rpartition("&s=")
        if not sep or not hmac.compare_digest(self.sign(value), signed):
            return None
        return value


class Proxy:
    def __init__(self, upstream, keytab, validity):
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.validity = validity
        self.signer = Signer(os.urandom(32))
        self.creds = gssapi.Credentials(usage="accept", store={"keytab": keytab})
        self.lock = threading.Lock()
        self.stats = {"challenged": 0, "negotiated": 0, "cookie": 0, "rejected": 0,
                      "forwarded": 0, "principals": []}

    def count(self, key, principal=None):
        with self.lock:
            self.stats[key] += 1
            if principal:
                self.stats["principals"].append(principal)

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(self.stats))

    def make_cookie(self, principal):
        expires = time.time() + self.validity
        value = "u=%s&p=%s&t=kerberos&e=%d" % (short_name(principal), principal,
                                               int(expires * 1000))
        return '%s="%s"; Path=/; Expires=%s; HttpOnly' % (
            COOKIE, self.signer.sign(value), formatdate(expires, usegmt=True))

    def cookie_user(self, header):
        """The short name a valid, unexpired hadoop.auth cookie names, or None."""
        for part in (header or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name != COOKIE:
                continue
            value = self.signer.verify(value.strip('"'))
            if value is None:
                return None
            fields = dict(kv.partition("=")[::2] for kv in value.split("&"))
            try:
                if int(fields.get("e", "0")) < time.time() * 1000:
                    return None
            except ValueError:
                return None
            return fields.get("u") or None
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    proxy = None  # set on the subclass
    upstream_conn = None

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.handle_request("GET")

    def do_PUT(self):
        self.handle_request("PUT")

    def do_POST(self):
        self.handle_request("POST")

    def do_DELETE(self):
        self.handle_request("DELETE")

    def body_length(self):
        try:
            return int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return 0

    def error_page(self, status, reason, headers=()):
        """Jetty's HTML error page, as Hadoop's AuthenticationFilter sends it
        (sendError); a rejected request's body is not read: close after."""
        body = ("<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;"
                "charset=utf-8\"/>\n<title>Error %d %s</title>\n</head>\n<body><h2>HTTP ERROR "
                "%d</h2>\n<p>Problem accessing %s. Reason:\n<pre>    %s</pre></p>\n</body>\n"
                "</html>\n" % (status, html.escape(reason), status,
                               html.escape(urllib.parse.urlsplit(self.path).path),
                               html.escape(reason))).encode()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        # An empty cookie tells the client to drop a stale one.
        self.send_header("Set-Cookie", '%s=; Path=/; Max-Age=0; HttpOnly' % COOKIE)
        self.send_header("Content-Type", "text/html;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if self.body_length():
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def handle_request(self, method):
        p = self.proxy
        if urllib.parse.urlsplit(self.path).path == "/proxy/stats":
            self.send_json(p.snapshot())
            return
        user = p.cookie_user(self.headers.get("Cookie"))
        if user:
            p.count("cookie")
            self.forward(method, user, [])
            return
        scheme, _, token = self.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "negotiate" or not token.strip():
            p.count("challenged")
            self.error_page(401, "Authentication required", [("WWW-Authenticate", "Negotiate")])
            return
        try:
            ctx = gssapi.SecurityContext(creds=p.creds, usage="accept")
            out = ctx.step(base64.b64decode(token.strip()))
        except (gssapi.exceptions.GSSError, ValueError) as e:
            p.count("rejected")
            self.error_page(403, "GSSException: %s" % " ".join(str(e).split()))
            return
        if not ctx.complete:
            p.count("challenged")
            self.error_page(401, "Authentication required",
                            [("WWW-Authenticate", "Negotiate " + base64.b64encode(out).decode())])
            return
        principal = str(ctx.initiator_name)
        p.count("negotiated", principal)
        extra = [("Set-Cookie", p.make_cookie(principal))]
        if out:
            extra.append(("WWW-Authenticate", "Negotiate " + base64.b64encode(out).decode()))
        self.forward(method, short_name(principal), extra)

    def send_json(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def upstream_target(self, user):
        """The request's path and query with user.name set to user (the other
        parameters byte for byte as the client sent them)."""
        url = urllib.parse.urlsplit(self.path)
        params = [q for q in url.query.split("&")
                  if q and urllib.parse.unquote_plus(q.partition("=")[0]) != "user.name"]
        params.append("user.name=" + urllib.parse.quote(user))
        return url.path + "?" + "&".join(params)

    def send_upstream(self, method, target):
        conn = self.upstream_conn
        if conn is None:
            conn = http.client.HTTPConnection(*self.proxy.upstream, timeout=60)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.upstream_conn = conn
        length = self.body_length()
        conn.putrequest(method, target, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() not in HOP_BY_HOP and k.lower() not in ("host", "authorization",
                                                                 "cookie", "expect"):
                conn.putheader(k, v)
        conn.endheaders()
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                raise ConnectionError("client closed mid-body")
            conn.send(chunk)
            left -= len(chunk)
        return conn.getresponse()

    def forward(self, method, user, extra):
        target = self.upstream_target(user)
        try:
            resp = self.send_upstream(method, target)
        except (OSError, http.client.HTTPException):
            if self.upstream_conn:
                self.upstream_conn.close()
            self.upstream_conn = None
            if self.body_length():  # the body is gone: cannot resend
                self.error_page(502, "Bad Gateway")
                return
            try:
                resp = self.send_upstream(method, target)  # a kept-alive connection had closed
            except (OSError, http.client.HTTPException) as e:
                self.upstream_conn = None
                self.error_page(502, "Bad Gateway: %s" % e)
                return
        body = resp.read()
        if resp.will_close:
            self.upstream_conn.close()
            self.upstream_conn = None
        self.proxy.count("forwarded")
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if resp.will_close:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the NameNode")
    ap.add_argument("--keytab", required=True, help="keytab with the HTTP/<host> service keys")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token-validity", type=int, default=36000,
                    help="seconds a hadoop.auth cookie is valid (Hadoop's default: 10 h)")
    args = ap.parse_args()
    proxy = Proxy(args.upstream, args.keytab, args.token_validity)
    handler = type("Handler", (Handler,), {"proxy": proxy})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())

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
    server.server_close()


if __name__ == "__main__":
    main()
