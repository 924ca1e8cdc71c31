#!/usr/bin/python3
"""The pid a client is told in BackendKeyData is its server backend's: it equals
pg_backend_pid() (psycopg), and the pid of every NotificationResponse (asyncpg's own-pid
filter works); pg_terminate_backend() of that pid from another connection ends that
session; a cancel with it still works (item 14 of issue 10).

usage: backend_pid.py postgresql://user:password@host:port/dbname
Prints PASS/FAIL per check; exits 1 if any failed.
"""

import asyncio
import sys
import threading
import time

import asyncpg
import psycopg
from psycopg import errors

URL = sys.argv[1]
FAILED = 0


def check(name, fn):
    global FAILED
    t0 = time.monotonic()
    try:
        detail = fn()
    except Exception as e:  # any exception is that check's failure
        FAILED += 1
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
        return
    print("PASS %s (%.2fs): %s" % (name, time.monotonic() - t0, detail), flush=True)


def connect():
    return psycopg.connect(URL, autocommit=True, connect_timeout=10)


def pid_matches():
    with connect() as a, connect() as b:
        pa = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        pb = b.execute("SELECT pg_backend_pid()").fetchone()[0]
        if a.info.backend_pid != pa or b.info.backend_pid != pb:
            raise AssertionError("told pids %d, %d; pg_backend_pid() says %d, %d"
                                 % (a.info.backend_pid, b.info.backend_pid, pa, pb))
        if pa == pb:
            raise AssertionError("two sessions share pid %d" % pa)
        return "told pid = pg_backend_pid() (%d, %d)" % (pa, pb)


def notify_pids():
    async def run():
        me = await asyncpg.connect(URL, timeout=10)
        other = await asyncpg.connect(URL, timeout=10)
        try:
            got = asyncio.Queue()
            await me.add_listener("itest_pid", lambda c, pid, ch, payload: got.put_nowait((pid, payload)))
            await me.execute("NOTIFY itest_pid, 'mine'")
            await other.execute("NOTIFY itest_pid, 'theirs'")
            seen = [await asyncio.wait_for(got.get(), 5) for _ in range(2)]
            mine, theirs = me.get_server_pid(), other.get_server_pid()
            want = sorted([(mine, "mine"), (theirs, "theirs")])
            if sorted(seen) != want:
                raise AssertionError("notifications %r, wanted %r (told pids)" % (seen, want))
            foreign = [p for pid, p in seen if pid != mine]
            if foreign != ["theirs"]:
                raise AssertionError("own-pid filter kept %r" % foreign)
            return "NotificationResponse pids are the told pids; the own-pid filter keeps 'theirs'"
        finally:
            await me.close()
            await other.close()
    return asyncio.run(asyncio.wait_for(run(), 30))


def terminate_by_told_pid():
    victim, killer = connect(), connect()
    try:
        ok = killer.execute("SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,)).fetchone()[0]
        if not ok:
            raise AssertionError("pg_terminate_backend(%d) returned false" % victim.info.backend_pid)
        end = time.monotonic() + 5
        while True:
            try:
                victim.execute("SELECT 1")
            except psycopg.OperationalError as e:
                return "pg_terminate_backend(told pid) ended that session: %s" % (
                    str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
            if time.monotonic() > end:
                raise AssertionError("the session still answers 5 s after pg_terminate_backend")
            time.sleep(0.1)
    finally:
        victim.close()
        killer.close()


def cancel_by_told_pid():
    with connect() as c:
        box = {}

        def run():
            try:
                c.execute("SELECT pg_sleep(30)")
            except Exception as e:  # reported below
                box["e"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        c.cancel()
        t.join(10)
        if not isinstance(box.get("e"), errors.QueryCanceled):
            raise AssertionError("cancelled pg_sleep ended with %r" % box.get("e"))
        return "57014 in %.2f s" % (time.monotonic() - t0)


check("backend_pid_is_pg_backend_pid", pid_matches)
check("backend_pid_in_notifications", notify_pids)
check("backend_pid_terminate", terminate_by_told_pid)
check("backend_pid_cancel", cancel_by_told_pid)
sys.exit(1 if FAILED else 0)
