"""What the Python driver clients of the matrix share: their arguments, the connection
strings (through the proxy, or straight to one database to verify), and a runner that gives
every check a time limit and prints one PASS or FAIL line for it.

A check is a function returning a short detail string (PASS) or raising (FAIL). One that
does not finish in time is reported as FAIL and left behind in its daemon thread: its
connections may be stuck in the proxy, so later checks open their own.
"""

import argparse
import os
import sys
import threading
import time
import traceback

import psycopg


def parse_args(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy-port", type=int, required=True)
    ap.add_argument("--legacy-port", type=int, required=True)
    ap.add_argument("--product-port", type=int, required=True)
    ap.add_argument("--cart-port", type=int, required=True)
    ap.add_argument("--tag", required=True, help="marks this run's rows, e.g. psycopg-pl")
    ap.add_argument("--primary", default="legacy")
    ap.add_argument("--reads", default="legacy")
    ap.add_argument("--only", default="", help="regex: run only the checks whose name matches")
    return ap.parse_args(argv)


class Env:
    def __init__(self, args):
        self.args = args
        self.tag = args.tag

    def proxy_kw(self, **extra):
        kw = dict(host="127.0.0.1", port=self.args.proxy_port, dbname="poc", user="poc_user",
                  password="admin123")
        kw.update(extra)
        return kw

    def proxy_dsn(self, **extra):
        kw = self.proxy_kw(**extra)
        return " ".join("%s=%s" % (k, v) for k, v in kw.items()) + " connect_timeout=10"

    def direct_dsn(self, side):
        port, db, user, pw = {
            "legacy": (self.args.legacy_port, "poc", "poc_user", "admin123"),
            "product": (self.args.product_port, "product_db", "product_user", "product_pass123"),
            "cart": (self.args.cart_port, "cart_db", "cart_user", "cart_pass123"),
        }[side]
        return "host=127.0.0.1 port=%d dbname=%s user=%s password=%s connect_timeout=10" % (
            port, db, user, pw)

    def direct(self, side, query, params=None, tz="UTC"):
        """Rows of one query run straight on legacy, product or cart (not through the proxy)."""
        with psycopg.connect(self.direct_dsn(side), autocommit=True,
                             options="-c TimeZone=%s -c statement_timeout=10000" % tz) as c:
            return c.execute(query, params).fetchall()

    def both(self, service, query, params=None):
        """The same query on legacy and on the service database: (legacy rows, service rows)."""
        return self.direct("legacy", query, params), self.direct(service, query, params)


def need(cond, msg):
    if not cond:
        raise AssertionError(msg)


def same_on_both(env, service, query, params=None, what="rows"):
    lrows, srows = env.both(service, query, params)
    need(lrows == srows, "%s differ: legacy %r / %s %r" % (what, lrows[:3], service, srows[:3]))
    return lrows


def run_checks(checks, args, default_timeout=40):
    """checks: [(name, fn, timeout or None)]; fn() -> detail. Exits the process (os._exit:
    a timed-out check's thread may still be blocked in a socket)."""
    import re
    only = re.compile(args.only) if args.only else None
    failed = 0
    for name, fn, limit in checks:
        if only and not only.search(name):
            continue
        limit = limit or default_timeout
        box = {}

        def body():
            try:
                box["detail"] = fn()
            except BaseException as e:  # noqa: B902 - every failure becomes a FAIL line
                msg = "%s: %s" % (type(e).__name__, str(e).strip())
                first = e
                while first.__context__ is not None and first.__context__ is not first:
                    first = first.__context__
                # say what went wrong first, not only the fallout (our own asserts say it all)
                if first is not e and not isinstance(e, AssertionError):
                    msg += " (first: %s: %s)" % (type(first).__name__, str(first).strip())
                box["error"] = msg.replace("\n", " | ")
                box["trace"] = traceback.format_exc()

        t0 = time.monotonic()
        th = threading.Thread(target=body, daemon=True)
        th.start()
        th.join(limit)
        took = time.monotonic() - t0
        if th.is_alive():
            failed += 1
            print("FAIL %s: no answer within %d s (hung)" % (name, limit), flush=True)
        elif "error" in box:
            failed += 1
            print("FAIL %s: %s" % (name, box["error"][:600]), flush=True)
            sys.stderr.write(box["trace"])
        else:
            print("PASS %s: %s (%.1f s)" % (name, box.get("detail") or "ok", took), flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if failed else 0)
