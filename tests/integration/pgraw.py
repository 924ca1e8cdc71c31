"""A tiny PostgreSQL v3 wire client over raw sockets, for tests that must send
exactly the bytes they choose: malformed messages, split writes, cancel keys.

It implements only what the integration tests need: the startup packet,
cleartext/MD5/SCRAM-SHA-256 authentication, simple and extended queries as
raw message lists, and reading framed messages with a deadline.
"""

import base64
import hashlib
import hmac
import os
import socket
import struct
import time
import urllib.parse

PROTOCOL_3_0 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


class Closed(Exception):
    """The peer closed the connection (EOF or reset)."""


class Timeout(Exception):
    """Nothing arrived before the deadline."""


class Dsn:
    """host/port/user/password/dbname from a postgresql:// URL."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 5432
        self.user = urllib.parse.unquote(u.username or "")
        self.password = urllib.parse.unquote(u.password or "")
        self.dbname = (u.path or "/").lstrip("/") or self.user

    def but(self, **kw):
        d = Dsn.__new__(Dsn)
        d.__dict__.update(self.__dict__)
        d.__dict__.update(kw)
        return d


def msg(kind, body=b""):
    """A typed frontend message: kind byte, int32 length, body."""
    return kind + struct.pack("!i", len(body) + 4) + body


def cstr(s):
    return (s.encode() if isinstance(s, str) else s) + b"\0"


def startup_packet(params, version=PROTOCOL_3_0):
    body = struct.pack("!i", version)
    for k, v in params.items():
        body += cstr(k) + cstr(v)
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def parse_fields(body):
    """ErrorResponse/NoticeResponse body -> {'C': '28P01', 'M': ..., ...}."""
    out = {}
    for part in body.split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode(errors="replace")
    return out


def scram_verifier(password, salt=None, iterations=4096):
    """The SCRAM-SHA-256 secret PostgreSQL stores for `password`."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b64(salt), b64(stored_key), b64(server_key))


class Conn:
    """One socket plus a receive buffer that yields whole messages."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.timeout = timeout
        self.backend_key = None  # (pid, secret bytes) from BackendKeyData
        self.params = {}  # ParameterStatus
        self.negotiated = None  # NegotiateProtocolVersion (minor, [options])

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data, split=False):
        """Sends data; with split=True one byte per TCP write."""
        if not split:
            self.sock.sendall(data)
            return
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            time.sleep(0.002)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout()
        except (ConnectionResetError, BrokenPipeError):
            raise Closed()
        if not chunk:
            raise Closed()
        self.buf += chunk

    def read_byte(self, timeout=None):
        """One untyped byte (the answer to SSLRequest/GSSENCRequest)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.buf:
            self._fill(deadline)
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def read_msg(self, timeout=None):
        """(kind, body) of the next backend message."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < 5:
            self._fill(deadline)
        kind = self.buf[:1]
        (length,) = struct.unpack("!i", self.buf[1:5])
        if length < 4 or length > 1 << 30:
            raise ValueError("backend sent a bad length %d for %r" % (length, kind))
        while len(self.buf) < 1 + length:
            self._fill(deadline)
        body, self.buf = self.buf[5:1 + length], self.buf[1 + length:]
        return kind, body

    def read_until_eof(self, timeout=5.0):
        """All messages up to EOF. Raises Timeout if the peer keeps it open."""
        out = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                out.append(self.read_msg(max(0.01, deadline - time.monotonic())))
        except Closed:
            return out

    def read_until_ready(self, timeout=None):
        """Messages up to and including ReadyForQuery."""
        out = []
        while True:
            m = self.read_msg(timeout)
            out.append(m)
            if m[0] == b"Z":
                return out

    def query(self, sql, timeout=None):
        """Simple query; returns its messages including ReadyForQuery."""
        self.send(msg(b"Q", cstr(sql)))
        return self.read_until_ready(timeout)

    def scalar(self, sql):
        """First column of the first row, as text; raises on an error."""
        got = self.query(sql)
        if errors(got):
            raise RuntimeError("%r failed: %s" % (sql, errors(got)[0].get("M")))
        rows = row_values(got)
        if not rows:
            raise RuntimeError("no rows from %r" % sql)
        return rows[0][0]

    # ---- authentication

    def authenticate(self, user, password, split=False):
        """Answers authentication requests until AuthenticationOk, then reads
        to ReadyForQuery. Raises AuthError with the ErrorResponse fields."""
        scram = None
        while True:
            kind, body = self.read_msg()
            if kind == b"E":
                raise AuthError(parse_fields(body))
            if kind == b"v":
                (minor, n) = struct.unpack("!ii", body[:8])
                self.negotiated = (minor, [o for o in body[8:].split(b"\0") if o][:n])
                continue
            if kind != b"R":
                raise ProtocolError("expected an authentication request, got %r" % kind)
            (code,) = struct.unpack("!i", body[:4])
            if code == 0:
                break
            if code == 3:
                self.send(msg(b"p", cstr(password)), split)
            elif code == 5:
                inner = hashlib.md5(password.encode() + user.encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
                self.send(msg(b"p", cstr("md5" + outer)), split)
            elif code == 10:
                mechs = [m for m in body[4:].split(b"\0") if m]
                if b"SCRAM-SHA-256" not in mechs:
                    raise ProtocolError("no SCRAM-SHA-256 among %r" % mechs)
                scram = ScramClient(password)
                first = scram.client_first()
                self.send(msg(b"p", cstr("SCRAM-SHA-256") + struct.pack("!i", len(first)) + first),
                          split)
            elif code == 11:
                self.send(msg(b"p", scram.client_final(body[4:])), split)
            elif code == 12:
                scram.verify_server_final(body[4:])
            else:
                raise ProtocolError("unsupported authentication request %d" % code)
        for kind, body in self.read_until_ready():
            if kind == b"K":
                self.backend_key = (struct.unpack("!i", body[:4])[0], body[4:])
            elif kind == b"S":
                k, v = body.split(b"\0")[:2]
                self.params[k.decode()] = v.decode()
            elif kind == b"E":
                raise AuthError(parse_fields(body))
        return self


class AuthError(Exception):
    def __init__(self, fields):
        super().__init__("%s %s" % (fields.get("C"), fields.get("M")))
        self.fields = fields


class ProtocolError(Exception):
    pass


class ScramClient:
    """The client side of SCRAM-SHA-256 (RFC 5802/7677), no channel binding."""

    def __init__(self, password):
        self.password = password.encode()
        self.nonce = base64.b64encode(os.urandom(18))
        self.first_bare = b"n=,r=" + self.nonce

    def client_first(self):
        return b"n,," + self.first_bare

    def client_final(self, server_first):
        attrs = dict(p.split(b"=", 1) for p in server_first.split(b","))
        if not attrs[b"r"].startswith(self.nonce):
            raise ProtocolError("server nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac("sha256", self.password, base64.b64decode(attrs[b"s"]),
                                     int(attrs[b"i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = b"c=biws,r=" + attrs[b"r"]
        self.auth_message = self.first_bare + b"," + server_first + b"," + without_proof
        signature = hmac.new(stored_key, self.auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        return without_proof + b",p=" + base64.b64encode(proof)

    def verify_server_final(self, server_final):
        want = hmac.new(self.server_key, self.auth_message, hashlib.sha256).digest()
        if server_final != b"v=" + base64.b64encode(want):
            raise ProtocolError("bad server signature in %r" % server_final)


def connect(dsn, split=False, params=None, version=PROTOCOL_3_0, timeout=10.0):
    """A logged-in Conn (ReadyForQuery received)."""
    c = Conn(dsn.host, dsn.port, timeout)
    p = {"user": dsn.user, "database": dsn.dbname}
    p.update(params or {})
    try:
        c.send(startup_packet(p, version), split)
        return c.authenticate(dsn.user, dsn.password, split)
    except BaseException:
        c.close()
        raise


def cancel_request(dsn, pid, secret):
    """Sends a CancelRequest; returns whatever the server sent back (b'')."""
    s = socket.create_connection((dsn.host, dsn.port), timeout=5)
    try:
        s.sendall(struct.pack("!ii", 16, CANCEL_REQUEST) + struct.pack("!i", pid) + secret)
        got = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return got
                got += chunk
        except ConnectionResetError:
            return got
    finally:
        s.close()


def row_values(messages):
    """Text values of all DataRows in a message list."""
    rows = []
    for kind, body in messages:
        if kind != b"D":
            continue
        (n,) = struct.unpack("!h", body[:2])
        pos, row = 2, []
        for _ in range(n):
            (flen,) = struct.unpack("!i", body[pos:pos + 4])
            pos += 4
            if flen < 0:
                row.append(None)
            else:
                row.append(body[pos:pos + flen].decode())
                pos += flen
        rows.append(row)
    return rows


def errors(messages):
    return [parse_fields(b) for k, b in messages if k == b"E"]


class Report:
    """PASS/FAIL/SKIP lines in the format run.sh counts."""

    def __init__(self):
        self.failed = 0

    def check(self, name, fn, skip=None):
        if skip:
            print("SKIP(direct) %s: %s" % (name, skip), flush=True)
            return
        t0 = time.monotonic()
        try:
            detail = fn()
        except Exception as e:  # a failed check, whatever raised it
            self.failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
            return
        print("PASS %s (%.2fs)%s" % (name, time.monotonic() - t0, ": " + detail if detail else ""),
              flush=True)

    def exit_code(self):
        return 1 if self.failed else 0
