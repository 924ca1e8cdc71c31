#!/usr/bin/python3
"""Large results and slow or vanishing readers.

- A 200 MB result that the client does not read for 3 s: the proxy must not
  buffer it (its RSS may grow by far less than the result), other clients
  stay fast meanwhile, and afterwards the whole result arrives intact.
- A client that closes its socket in the middle of a large result: the
  backend running that query on legacy must go away within 10 s.

usage: backpressure.py URL --legacy LEGACY_URL [--pid PROXY_PID]
Without --pid (DIRECT mode) the memory bound is not checked.
"""

import argparse
import os
import struct
import sys
import time

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgraw  # noqa: E402
from pgraw import cstr, msg  # noqa: E402

ROWS = 200_000
WIDTH = 1000
BIG_QUERY = "select g, repeat('x', %d) from generate_series(1, %d) g" % (WIDTH, ROWS)
RSS_LIMIT_MB = 64


def rss_mb(pid):
    if not os.path.exists("/proc/%d/status" % pid):
        raise AssertionError("the proxy (pid %d) is not running" % pid)
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS for pid %d" % pid)


def drain(conn, deadline=60.0):
    """Reads a whole query response fast: (data rows, CommandComplete tag)."""
    buf = bytearray(conn.buf)
    conn.buf = b""
    rows, tag, off = 0, None, 0
    sock = conn.sock
    sock.settimeout(deadline)
    while True:
        while len(buf) - off >= 5:
            kind = buf[off]
            (length,) = struct.unpack_from("!i", buf, off + 1)
            if len(buf) - off < 1 + length:
                break
            if kind == ord("D"):
                rows += 1
            elif kind == ord("C"):
                tag = bytes(buf[off + 5:off + length]).rstrip(b"\0").decode()
            elif kind == ord("E"):
                raise AssertionError("error: %s" % pgraw.parse_fields(bytes(buf[off + 5:off + 1 +
                                                                                length])))
            elif kind == ord("Z"):
                return rows, tag
            off += 1 + length
        del buf[:off]
        off = 0
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise AssertionError("connection closed after %d rows" % rows)
        buf += chunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--legacy", required=True)
    ap.add_argument("--pid", type=int)
    args = ap.parse_args()
    dsn = pgraw.Dsn(args.url)
    report = pgraw.Report()

    def slow_reader():
        base = rss_mb(args.pid) if args.pid else None
        c = pgraw.connect(dsn)
        c.send(msg(b"Q", cstr(BIG_QUERY)))
        time.sleep(1.0)
        other = pgraw.connect(dsn)
        t0 = time.monotonic()
        v = other.scalar("select 'still fast'")
        lat = time.monotonic() - t0
        other.close()
        time.sleep(2.0)
        grown = rss_mb(args.pid) - base if args.pid else None
        rows, tag = drain(c)
        c.close()
        if v != "still fast" or lat > 1.0:
            raise AssertionError("another client's query took %.2f s while the result waited" % lat)
        if rows != ROWS or tag != "SELECT %d" % ROWS:
            raise AssertionError("got %d rows, tag %r" % (rows, tag))
        if grown is not None and grown > RSS_LIMIT_MB:
            raise AssertionError("proxy RSS grew %.0f MB while a %d MB result waited (limit %d MB)"
                                 % (grown, ROWS * WIDTH >> 20, RSS_LIMIT_MB))
        mem = "; proxy RSS +%.1f MB" % grown if grown is not None else ""
        return "%d MB result unread for 3 s, then all %d rows%s; other client %.0f ms" % (
            ROWS * WIDTH >> 20, rows, mem, lat * 1000)

    report.check("big_result_slow_reader", slow_reader)

    def vanishing_reader():
        marker = "itest_abandoned_%d" % os.getpid()
        c = pgraw.connect(dsn)
        c.send(msg(b"Q", cstr("/* %s */ %s" % (marker, BIG_QUERY))))
        got = 0
        while got < 1 << 20:
            chunk = c.sock.recv(65536)
            if not chunk:
                raise AssertionError("closed early")
            got += len(chunk)
        c.sock.close()  # no Terminate: gone mid-result
        t0 = time.monotonic()
        with psycopg.connect(args.legacy, autocommit=True) as leg:
            while True:
                n = leg.execute("select count(*) from pg_stat_activity where query like %s and "
                                "pid <> pg_backend_pid()", ("%" + marker + "%",)).fetchone()[0]
                if n == 0:
                    break
                if time.monotonic() - t0 > 10:
                    raise AssertionError("the abandoned query's backend is still there after 10 s")
                time.sleep(0.1)
        return "backend gone %.2f s after the client closed mid-result" % (time.monotonic() - t0)

    report.check("client_gone_mid_result", vanishing_reader)
    sys.exit(report.exit_code())


if __name__ == "__main__":
    main()
