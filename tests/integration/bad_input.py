#!/usr/bin/python3
"""Malformed and hostile input on raw sockets. Each case must end only its
own connection, with an ErrorResponse where the protocol allows one or a
clean close, never a hang or a crash: a client logged in before the case
must still work after it, and so must a fresh login.

usage: bad_input.py URL [--direct] [--login-timeout SECONDS]
--direct: URL is PostgreSQL itself; cases that test proxy-only behaviour
(the login timeout, the answer to GSSENCRequest) are skipped as SKIP(direct).
"""

import argparse
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgraw  # noqa: E402
from pgraw import cstr, msg, startup_packet  # noqa: E402

SYNC = msg(b"S")


def kinds(messages):
    return "".join(k.decode() for k, _ in messages)


def first_error(messages):
    errs = pgraw.errors(messages)
    return "%s %s" % (errs[0].get("C"), errs[0].get("M")) if errs else None


class Case:
    """Runs one bad-input case between two liveness probes."""

    def __init__(self, dsn, report):
        self.dsn = dsn
        self.report = report

    def run(self, name, fn, skip=None):
        def wrapped():
            before = pgraw.connect(self.dsn)
            try:
                detail = fn()
                if before.scalar("select 101") != "101":
                    raise AssertionError("a session opened before the case broke")
            finally:
                before.close()
            after = pgraw.connect(self.dsn)
            v = after.scalar("select 102")
            after.close()
            if v != "102":
                raise AssertionError("a fresh login failed after the case")
            return detail

        self.report.check(name, wrapped, skip)

    # ---- helpers for the cases

    def raw(self):
        return pgraw.Conn(self.dsn.host, self.dsn.port, timeout=5)

    def send_quietly(self, c, data):
        """Sends what the peer accepts; it may close early, which is fine."""
        try:
            c.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def expect_closed(self, c, what, timeout=5.0):
        """The peer must close soon; an ErrorResponse before that is welcome,
        anything else (authentication, rows) is a failure."""
        try:
            got = c.read_until_eof(timeout)
        except pgraw.Timeout:
            raise AssertionError("%s: connection still open after %.0f s" % (what, timeout))
        finally:
            c.close()
        bad = [k for k, _ in got if k not in (b"E", b"N")]
        if bad:
            raise AssertionError("%s: got %s before the close" % (what, kinds(got)))
        err = first_error(got)
        return "closed with ErrorResponse %s" % err if err else "closed without a message"

    def expect_error(self, c, what, timeout=5.0):
        """After a malformed message on a logged-in session: an ErrorResponse
        and then either a close, or ReadyForQuery and a usable session (that
        is what PostgreSQL does for errors it can recover from). A bare close
        is accepted too. Results of the bad message are a failure."""
        got = []
        try:
            while True:
                m = c.read_msg(timeout)
                got.append(m)
                if m[0] == b"Z":
                    break
        except pgraw.Closed:
            c.close()
            if [k for k, _ in got if k not in (b"E", b"N")]:
                raise AssertionError("%s: got %s before the close" % (what, kinds(got)))
            err = first_error(got)
            return "closed with ErrorResponse %s" % err if err else "closed without a message"
        except pgraw.Timeout:
            c.close()
            raise AssertionError("%s: no answer within %.0f s (got %s)" % (what, timeout,
                                                                         kinds(got)))
        if kinds(got).lstrip("1") != "EZ":  # a ParseComplete may come first
            c.close()
            raise AssertionError("%s: got %s, want ErrorResponse then ReadyForQuery" %
                                 (what, kinds(got)))
        v = c.scalar("select 103")
        c.close()
        if v != "103":
            raise AssertionError("%s: session unusable after the error" % what)
        return "ErrorResponse %s, session goes on" % first_error(got)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--direct", action="store_true")
    ap.add_argument("--login-timeout", type=float, default=3.0)
    args = ap.parse_args()
    dsn = pgraw.Dsn(args.url)
    report = pgraw.Report()
    case = Case(dsn, report)
    good_startup = startup_packet({"user": dsn.user, "database": dsn.dbname})

    # ---- before or instead of a startup packet

    def startup_len(length, body=b""):
        def fn():
            c = case.raw()
            case.send_quietly(c, struct.pack("!i", length) + body)
            return case.expect_closed(c, "startup length %d" % length)
        return fn

    case.run("startup_length_3", startup_len(3, struct.pack("!i", pgraw.PROTOCOL_3_0)))
    case.run("startup_length_0", startup_len(0))
    case.run("startup_length_0x7fffffff",
             startup_len(0x7FFFFFFF, struct.pack("!i", pgraw.PROTOCOL_3_0) + b"user\0"))

    def startup_too_big():
        c = case.raw()
        body = struct.pack("!i", pgraw.PROTOCOL_3_0) + cstr("user") + cstr(dsn.user) + \
            cstr("database") + cstr(dsn.dbname) + cstr("application_name") + \
            cstr("x" * 11000) + b"\0"
        case.send_quietly(c, struct.pack("!i", len(body) + 4) + body)
        return case.expect_closed(c, "startup packet of %d bytes" % (len(body) + 4))

    case.run("startup_packet_over_10000_bytes", startup_too_big)

    def protocol_version(major, minor, allow_negotiation):
        def fn():
            c = case.raw()
            c.send(startup_packet({"user": dsn.user, "database": dsn.dbname},
                                  major << 16 | minor))
            try:
                if major < 3:  # a 2.0 client gets a 2.0 error: 'E', text, NUL
                    kind = c.read_byte()
                    if kind == b"E":
                        c.close()
                        return "refused with a protocol-2 error"
                    c.buf = kind + c.buf
                kind, body = c.read_msg()
            except pgraw.Closed:
                c.close()
                return "refused: closed"
            if kind == b"E":
                c.close()
                return "refused: %s" % pgraw.parse_fields(body).get("M")
            if kind == b"v" and allow_negotiation:
                (newest, _) = struct.unpack("!ii", body[:8])
                # PostgreSQL sends the whole version (3.0 = 196608), the docs say the minor
                if newest & 0xFFFF != 0 or newest >> 16 not in (0, 3):
                    raise AssertionError("NegotiateProtocolVersion offers %d.%d" %
                                         (newest >> 16, newest & 0xFFFF))
                c.buf = msg(b"v", body) + c.buf  # let authenticate() see it again
                c.authenticate(dsn.user, dsn.password)
                v = c.scalar("select 104")
                c.close()
                if v != "104":
                    raise AssertionError("negotiated session unusable")
                return "negotiated down to 3.0, session works"
            c.close()
            raise AssertionError("protocol %d.%d answered with %r (accepted as is)" %
                                 (major, minor, kind))
        return fn

    case.run("protocol_3_1_not_accepted", protocol_version(3, 1, True))
    case.run("protocol_2_0_refused", protocol_version(2, 0, False))

    def message_before_startup():
        c = case.raw()
        case.send_quietly(c, msg(b"Q", cstr("select 1")))
        return case.expect_closed(c, "Query before startup")

    case.run("message_before_startup", message_before_startup)

    def ssl_then_plaintext():
        c = case.raw()
        # SSLRequest and a whole startup packet in one write: the bytes after
        # the SSLRequest were not protected by TLS and must not be used
        c.send(struct.pack("!ii", 8, pgraw.SSL_REQUEST) + good_startup)
        try:
            answer = c.read_byte()
        except pgraw.Closed:
            c.close()
            return "closed at once"
        if answer == b"E":
            c.buf = answer + c.buf
            return case.expect_closed(c, "SSLRequest + plaintext")
        if answer != b"N":
            c.close()
            raise AssertionError("SSLRequest answered %r" % answer)
        return "'N', then " + case.expect_closed(c, "plaintext after SSLRequest")

    case.run("ssl_request_with_trailing_plaintext", ssl_then_plaintext)

    def negotiation_then_startup(code, name):
        def fn():
            c = case.raw()
            c.send(struct.pack("!ii", 8, code))
            answer = c.read_byte()
            if answer != b"N":
                c.close()
                raise AssertionError("%s answered %r, want 'N'" % (name, answer))
            c.send(good_startup)
            c.authenticate(dsn.user, dsn.password)
            v = c.scalar("select 105")
            c.close()
            if v != "105":
                raise AssertionError("session after %s unusable" % name)
            return "'N', then a normal startup on the same socket logged in"
        return fn

    gss_skip = None
    if args.direct:
        probe = case.raw()
        probe.send(struct.pack("!ii", 8, pgraw.GSSENC_REQUEST))
        if probe.read_byte() != b"N":
            gss_skip = "this PostgreSQL is built with GSSAPI and answers 'G'"
        probe.close()
    case.run("gssenc_request_answered_N",
             negotiation_then_startup(pgraw.GSSENC_REQUEST, "GSSENCRequest"), gss_skip)
    case.run("ssl_request_answered_N", negotiation_then_startup(pgraw.SSL_REQUEST, "SSLRequest"))

    def split_login():
        c = pgraw.connect(dsn, split=True)
        v = c.scalar("select 106")
        c.close()
        if v != "106":
            raise AssertionError("split login unusable")
        return "startup and SCRAM messages in 1-byte writes"

    case.run("login_in_1_byte_writes", split_login)

    def idle_sockets():
        socks = []
        for _ in range(200):
            s = socket.create_connection((dsn.host, dsn.port), timeout=5)
            s.sendall(b"\0\0\0")
            socks.append(s)
        t0 = time.monotonic()
        # the proxy keeps serving while they hang
        live = pgraw.connect(dsn)
        v = live.scalar("select 107")
        live.close()
        if v != "107":
            raise AssertionError("normal client failed while 200 sockets hung")
        deadline = t0 + args.login_timeout + 5
        open_ = set(range(len(socks)))
        while open_ and time.monotonic() < deadline:
            for i in list(open_):
                s = socks[i]
                s.setblocking(False)
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    data = b""
                if not data:
                    open_.discard(i)  # EOF; an ErrorResponse before it is fine
            time.sleep(0.2)
        took = time.monotonic() - t0
        for s in socks:
            s.close()
        if open_:
            raise AssertionError("%d of 200 half-started sockets still open %.1f s after "
                                 "connecting (login_timeout %.0f s)" %
                                 (len(open_), took, args.login_timeout))
        if took < args.login_timeout - 0.5:
            raise AssertionError("closed after %.1f s, before login_timeout" % took)
        return "all 200 closed by the server after %.1f s" % took

    case.run("login_timeout_200_sockets", idle_sockets,
             "PostgreSQL's authentication_timeout is 60 s" if args.direct else None)

    # ---- after a successful login

    def logged_in():
        return pgraw.connect(dsn)

    def bad_frame(data, closing):
        def fn():
            c = logged_in()
            case.send_quietly(c, data)
            if closing:
                return case.expect_closed(c, "bad frame")
            return case.expect_error(c, "bad message")
        return fn

    case.run("message_length_3", bad_frame(b"Q" + struct.pack("!i", 3) + b"select 1\0", True))
    case.run("message_length_0x7fffffff",
             bad_frame(b"Q" + struct.pack("!i", 0x7FFFFFFF) + b"select 1\0", True))
    case.run("unknown_message_type", bad_frame(msg(b"\x7a", b"") + msg(b"Q", cstr("select 1")),
                                               True))
    case.run("query_without_nul", bad_frame(msg(b"Q", b"select 1"), False))

    def bind_body(nparams, param_lengths):
        body = cstr("") + cstr("") + struct.pack("!h", 0) + struct.pack("!h", nparams)
        for n in param_lengths:
            body += struct.pack("!i", n)
        return body + struct.pack("!h", 0)

    parse_int = msg(b"P", cstr("") + cstr("select $1::text") + struct.pack("!h", 0))
    execute = msg(b"E", cstr("") + struct.pack("!i", 0))
    case.run("bind_negative_parameter_count",
             bad_frame(parse_int + msg(b"B", bind_body(-1, [])) + execute + SYNC, False))
    case.run("bind_parameter_length_minus_2",
             bad_frame(parse_int + msg(b"B", bind_body(1, [-2])) + execute + SYNC, False))
    case.run("sync_with_body", bad_frame(msg(b"S", b"\0\0\0\0"), False))

    def cancel_wrong_key():
        c = logged_in()
        pid, secret = c.backend_key
        c.send(msg(b"Q", cstr("select pg_sleep(2)")))
        time.sleep(0.3)
        t0 = time.monotonic()
        reply = pgraw.cancel_request(dsn, pid, bytes(b ^ 0xFF for b in secret))
        got = c.read_until_ready(10)
        took = time.monotonic() - t0
        c.close()
        if pgraw.errors(got):
            raise AssertionError("the query failed: %s" % first_error(got))
        if reply:
            raise AssertionError("the CancelRequest got a reply %r" % reply)
        return "pg_sleep(2) completed normally (%.2f s after the bad cancel)" % took

    case.run("cancel_request_wrong_key", cancel_wrong_key)

    def cancel_short():
        s = socket.create_connection((dsn.host, dsn.port), timeout=5)
        s.sendall(struct.pack("!ii", 12, pgraw.CANCEL_REQUEST) + b"\0\0\0\1")
        try:
            got = s.recv(4096)
        except (ConnectionResetError, socket.timeout) as e:
            got = b"" if isinstance(e, ConnectionResetError) else None
        s.close()
        if got is None:
            raise AssertionError("a truncated CancelRequest left the socket open")
        return "closed (%d bytes sent back)" % len(got)

    case.run("cancel_request_truncated", cancel_short)

    sys.exit(report.exit_code())


if __name__ == "__main__":
    main()
