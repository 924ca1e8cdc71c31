#!/usr/bin/python3
"""Wire-level checks with hand-made messages (well-formed ones; bad_input.py
sends the malformed ones).

usage: raw_protocol.py URL [--extra-login URL ...]
URL is postgresql://user:password@host:port/dbname. Each --extra-login is a
further account that must be able to log in (e.g. one whose auth_file entry
is a SCRAM verifier rather than a password).
"""

import argparse
import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgraw  # noqa: E402
from pgraw import cstr, msg  # noqa: E402


def parse(name, sql, types=()):
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack("!h", len(types)) +
               b"".join(struct.pack("!i", t) for t in types))


def bind(portal, stmt, params=(), result_formats=()):
    body = cstr(portal) + cstr(stmt) + struct.pack("!h", 0) + struct.pack("!h", len(params))
    for p in params:
        body += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p)) + p
    body += struct.pack("!h", len(result_formats))
    body += b"".join(struct.pack("!h", f) for f in result_formats)
    return msg(b"B", body)


def execute(portal, max_rows=0):
    return msg(b"E", cstr(portal) + struct.pack("!i", max_rows))


SYNC = msg(b"S")


def kinds(messages):
    return "".join(k.decode() for k, _ in messages)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--extra-login", action="append", default=[])
    args = ap.parse_args()
    dsn = pgraw.Dsn(args.url)
    report = pgraw.Report()

    def login_ok():
        c = pgraw.connect(dsn)
        key = c.backend_key
        v = c.scalar("select 1")
        c.send(msg(b"X"))
        c.close()
        if v != "1" or key is None:
            raise AssertionError("select 1 -> %r, BackendKeyData %r" % (v, key))
        need = {"server_version", "client_encoding", "standard_conforming_strings",
                "integer_datetimes", "DateStyle", "TimeZone"}
        missing = need - set(c.params)
        if missing:
            raise AssertionError("ParameterStatus missing for %s" % sorted(missing))
        return "SCRAM verified both ways; BackendKeyData and %d ParameterStatus" % len(c.params)

    report.check("scram_login", login_ok)

    for url in args.extra_login:
        other = pgraw.Dsn(url)

        def extra():
            c = pgraw.connect(other)
            v = c.scalar("select 2")
            c.close()
            if v != "2":
                raise AssertionError("select 2 -> %r" % v)
            bad = other.but(password=other.password + "x")
            try:
                pgraw.connect(bad).close()
            except pgraw.AuthError as e:
                if e.fields.get("C") != "28P01":
                    raise AssertionError("wrong password gave %s" % e.fields)
                return "login works; wrong password 28P01"
            raise AssertionError("accepted a wrong password")

        report.check("login_%s" % other.user, extra)

    def wrong_password():
        try:
            pgraw.connect(dsn.but(password="definitely-wrong")).close()
        except pgraw.AuthError as e:
            f = e.fields
            if f.get("C") != "28P01" or f.get("S") != "FATAL" or \
                    "password authentication failed" not in f.get("M", ""):
                raise AssertionError("ErrorResponse %s" % f)
            return "FATAL 28P01 '%s'" % f.get("M")
        raise AssertionError("a wrong password was accepted")

    report.check("wrong_password_28P01", wrong_password)

    def wrong_password_closes():
        c = pgraw.Conn(dsn.host, dsn.port)
        c.send(pgraw.startup_packet({"user": dsn.user, "database": dsn.dbname}))
        try:
            c.authenticate(dsn.user, "definitely-wrong")
        except pgraw.AuthError:
            pass
        rest = c.read_until_eof(5)  # must close right after the FATAL
        c.close()
        if rest:
            raise AssertionError("after the auth failure the server sent %s" % kinds(rest))
        return "closed after the ErrorResponse"

    report.check("wrong_password_closes", wrong_password_closes)

    def unknown_user():
        try:
            pgraw.connect(dsn.but(user="itest_nobody", password="whatever")).close()
        except pgraw.AuthError as e:
            if not e.fields.get("C", "").startswith("28"):
                raise AssertionError("ErrorResponse %s" % e.fields)
            return "FATAL %s '%s'" % (e.fields.get("C"), e.fields.get("M"))
        raise AssertionError("an unknown user was let in")

    report.check("unknown_user_refused", unknown_user)

    def empty_query():
        c = pgraw.connect(dsn)
        got = c.query("")
        c.close()
        if kinds(got) != "IZ":
            raise AssertionError("got %s, want EmptyQueryResponse + ReadyForQuery" % kinds(got))
        return "I Z"

    report.check("empty_query", empty_query)

    def portal_suspended():
        c = pgraw.connect(dsn)
        c.send(parse("", "select g from generate_series(1, 5) g") + bind("itest_p", "") +
               msg(b"D", b"P" + cstr("itest_p")) + execute("itest_p", 1) + execute("itest_p", 1) +
               execute("itest_p", 0) + SYNC)
        got = c.read_until_ready()
        seq = kinds(got)
        rows = pgraw.row_values(got)
        c.close()
        if seq != "12TDsDsDDDCZ" or [r[0] for r in rows] != ["1", "2", "3", "4", "5"]:
            raise AssertionError("got %s rows %s" % (seq, rows))
        tag = [b for k, b in got if k == b"C"][0]
        if tag != b"SELECT 3\0":
            raise AssertionError("CommandComplete %r, want SELECT 3" % tag)
        return "Execute(max_rows=1) twice -> PortalSuspended each, then the rest: %s" % seq

    report.check("portal_suspended", portal_suspended)

    def unnamed_statement_lifetime():
        c = pgraw.connect(dsn)
        # the unnamed statement survives Sync but dies at the next simple Query
        c.send(parse("", "select 7") + SYNC)
        first = kinds(c.read_until_ready())
        c.send(bind("", "") + execute("") + SYNC)
        second = c.read_until_ready()
        c.query("select 1")
        c.send(bind("", "") + execute("") + SYNC)
        third = c.read_until_ready()
        c.close()
        if first != "1Z" or kinds(second) != "2DCZ" or pgraw.row_values(second) != [["7"]]:
            raise AssertionError("parse %s, then bind/execute %s" % (first, kinds(second)))
        errs = pgraw.errors(third)
        if not errs or errs[0].get("C") != "26000":
            raise AssertionError("bind after a Query: %s, want error 26000" % kinds(third))
        return "unnamed statement reusable after Sync, gone after a Query (26000)"

    report.check("unnamed_statement_lifetime", unnamed_statement_lifetime)

    def close_missing_is_ok():
        c = pgraw.connect(dsn)
        c.send(msg(b"C", b"S" + cstr("itest_never_prepared")) +
               msg(b"C", b"P" + cstr("itest_no_portal")) + SYNC)
        got = kinds(c.read_until_ready())
        c.close()
        if got != "33Z":
            raise AssertionError("got %s, want CloseComplete x2 + ReadyForQuery" % got)
        return "3 3 Z"

    report.check("close_missing_name", close_missing_is_ok)

    def packed_and_split():
        c = pgraw.connect(dsn)
        # many messages in one write
        batch = b"".join(parse("", "select $1::int * 10", [23]) + bind("", "", [str(i).encode()]) +
                         execute("") for i in range(1, 21)) + SYNC
        c.send(batch)
        got = c.read_until_ready()
        vals = [r[0] for r in pgraw.row_values(got)]
        if vals != [str(i * 10) for i in range(1, 21)]:
            raise AssertionError("packed batch gave %s" % kinds(got))
        # one message written a byte at a time
        c.send(msg(b"Q", cstr("select 'split across writes'")), split=True)
        got = c.read_until_ready()
        c.close()
        if pgraw.row_values(got) != [["split across writes"]]:
            raise AssertionError("split Query gave %s" % kinds(got))
        return "20 Parse/Bind/Execute in one write; a Query in 1-byte writes"

    report.check("packed_and_split_messages", packed_and_split)

    def function_call():
        c = pgraw.connect(dsn)
        oid = int(c.scalar("select 'int4abs'::regproc::oid"))
        arg = b"-5"
        c.send(msg(b"F", struct.pack("!ihhhi", oid, 1, 0, 1, len(arg)) + arg + struct.pack("!h", 0)))
        try:
            got = c.read_until_ready()
        except pgraw.Closed:
            c.close()
            return "refused by closing the connection"
        after = c.scalar("select 3")
        c.close()
        if after != "3":
            raise AssertionError("session unusable after FunctionCall")
        if kinds(got) == "VZ":
            val = got[0][1][4:]
            if val != b"5":
                raise AssertionError("int4abs(-5) = %r" % val)
            return "passed through: int4abs(-5) = 5"
        if pgraw.errors(got):
            return "refused with %s" % pgraw.errors(got)[0].get("M")
        raise AssertionError("got %s" % kinds(got))

    report.check("function_call", function_call)

    def wrong_cancel_key():
        c = pgraw.connect(dsn)
        pid, secret = c.backend_key
        wrong = bytes(b ^ 0x5A for b in secret)
        box = {}

        def sleeper():
            t0 = time.monotonic()
            try:
                box["got"] = c.query("select pg_sleep(2)", timeout=10)
            except Exception as e:  # recorded and reported below
                box["err"] = e
            box["took"] = time.monotonic() - t0

        t = threading.Thread(target=sleeper)
        t.start()
        time.sleep(0.4)
        replies = [pgraw.cancel_request(dsn, pid, wrong),
                   pgraw.cancel_request(dsn, pid + 1, secret),
                   pgraw.cancel_request(dsn, 0x7FFFFFFF, b"\0\0\0\0")]
        t.join(15)
        c.close()
        if "err" in box:
            raise AssertionError("the sleeping query broke: %r" % box["err"])
        if pgraw.errors(box.get("got", [])):
            raise AssertionError("a wrong key cancelled the query: %s" %
                                 pgraw.errors(box["got"])[0])
        if any(replies):
            raise AssertionError("the server answered a CancelRequest: %r" % replies)
        if box.get("took", 0) < 1.9:
            raise AssertionError("pg_sleep(2) took only %.2f s" % box.get("took", 0))
        return "3 wrong keys sent, no reply, pg_sleep(2) completed in %.2f s" % box["took"]

    report.check("cancel_wrong_key", wrong_cancel_key)

    def right_cancel_key():
        c = pgraw.connect(dsn)
        pid, secret = c.backend_key
        c.send(msg(b"Q", cstr("select pg_sleep(20)")))
        time.sleep(0.4)
        t0 = time.monotonic()
        reply = pgraw.cancel_request(dsn, pid, secret)
        got = c.read_until_ready(5)
        took = time.monotonic() - t0
        c.close()
        errs = pgraw.errors(got)
        if not errs or errs[0].get("C") != "57014":
            raise AssertionError("got %s, want error 57014" % kinds(got))
        if reply:
            raise AssertionError("the server answered the CancelRequest with %r" % reply)
        return "57014 after %.2f s, no reply on the cancel socket" % took

    report.check("cancel_right_key_raw", right_cancel_key)

    sys.exit(report.exit_code())


if __name__ == "__main__":
    main()
