#!/usr/bin/python3
"""What a service using psycopg 3 does through its DATABASE_URL: server-side
prepared statements, transactions, COPY (text and binary), binary cursors,
typed values, errors and recovery, server-side cursors, pipeline mode, and
concurrent connections from threads.

usage: compat_psycopg.py postgresql://user:password@host:port/dbname
Prints PASS/FAIL per check; exits 1 if any failed.
"""

import datetime
import decimal
import os
import sys
import threading
import time
import uuid

import psycopg
from psycopg import errors
from psycopg.types.json import Jsonb

TABLE = "itest_pg3_%d" % os.getpid()


class Report:
    def __init__(self):
        self.failed = 0

    def check(self, name, fn, conn=None):
        t0 = time.monotonic()
        try:
            detail = fn()
        except Exception as e:  # any exception is that check's failure
            self.failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
            if conn is not None and not conn.closed:
                conn.rollback()  # leave the next check a clean session
            return
        print("PASS %s (%.2fs)%s" % (name, time.monotonic() - t0, ": " + detail if detail else ""),
              flush=True)


def sample_row(i):
    return (
        i,
        decimal.Decimal("98765432109876543210.000000001") * i,
        "unicode ✓ %d 'q' \\ \"dq\"" % i,
        datetime.datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.timezone.utc) +
        datetime.timedelta(minutes=i),
        {"i": i, "list": [1, "two", None, True], "nested": {"é": 1.5}},
        uuid.UUID(int=(i + 1) * 104729),
        bytes(range(256)) + bytes([i % 256]) * 3,
        [i, None, -i],
        ["x", None, "y,z", ""],
    )


def main(dsn):
    report = Report()
    conn = psycopg.connect(dsn)
    other = psycopg.connect(dsn, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("drop table if exists %s" % TABLE)
        cur.execute("create table %s (id int primary key, n numeric, t text, ts timestamptz, "
                    "j jsonb, u uuid, b bytea, a int[], ta text[])" % TABLE)
    conn.commit()

    def connect():
        with conn.cursor() as cur:
            cur.execute("select current_database(), current_setting('server_version_num')")
            db, ver = cur.fetchone()
        conn.commit()
        return "database %s, server_version_num %s, libpq %d" % (db, ver, psycopg.pq.version())

    report.check("connect_url", connect, conn)

    def prepared():
        with conn.cursor() as cur:
            for i in range(5):
                cur.execute("select %s::int * 3, %s::text", (i, "p%d" % i), prepare=True)
                if cur.fetchone() != (i * 3, "p%d" % i):
                    raise AssertionError("wrong row at %d" % i)
            cur.execute("select name from pg_prepared_statements where statement like "
                        "'select $1::int * 3%%'")
            names = [r[0] for r in cur.fetchall()]
            cur.execute("select id, name from products where id <= %s order by id", (3,),
                        prepare=True)
            n = len(cur.fetchall())
        conn.commit()
        if not names:
            raise AssertionError("no server-side prepared statement was created")
        return "prepare=True created %s on the server; products query %d rows" % (names[0], n)

    report.check("prepared_statements", prepared, conn)

    def typed_binary():
        rows = [sample_row(i) for i in range(1, 11)]
        with conn.cursor() as cur:
            cur.executemany("insert into %s values (%%s,%%s,%%s,%%s,%%s,%%s,%%s,%%s,%%s)" % TABLE,
                            [r[:4] + (Jsonb(r[4]),) + r[5:] for r in rows])
        conn.commit()
        for binary in (True, False):
            with conn.cursor(binary=binary) as cur:
                cur.execute("select * from %s order by id" % TABLE)
                back = cur.fetchall()
                fmt = cur.pgresult.fformat(0)
            conn.commit()
            if fmt != (1 if binary else 0):
                raise AssertionError("result format %d, want %d" % (fmt, 1 if binary else 0))
            for want, got in zip(rows, back):
                if tuple(got) != want:
                    raise AssertionError("%s row %d differs:\n sent %r\n got  %r" %
                                         ("binary" if binary else "text", want[0], want, got))
            if len(back) != len(rows):
                raise AssertionError("%d rows back" % len(back))
        return "int numeric text timestamptz jsonb uuid bytea int[] text[], binary and text"

    report.check("typed_values_binary_cursor", typed_binary, conn)

    def transactions():
        with conn.transaction():
            conn.execute("insert into %s (id, t) values (100, 'kept')" % TABLE)
        with conn.transaction():
            conn.execute("insert into %s (id, t) values (101, 'dropped')" % TABLE)
            raise psycopg.Rollback()
        with conn.transaction():
            conn.execute("insert into %s (id) values (102)" % TABLE)
            with conn.transaction():  # a savepoint
                conn.execute("insert into %s (id) values (103)" % TABLE)
                raise psycopg.Rollback()
        conn.commit()
        seen = [r[0] for r in other.execute("select id from %s where id >= 100 order by id" %
                                            TABLE)]
        if seen != [100, 102]:
            raise AssertionError("other connection sees %s, want [100, 102]" % seen)
        conn.execute("insert into %s (id) values (104)" % TABLE)
        conn.rollback()
        if other.execute("select count(*) from %s where id = 104" % TABLE).fetchone()[0]:
            raise AssertionError("rolled-back row visible")
        return "commit, Rollback, savepoint and conn.rollback() as expected"

    report.check("transactions", transactions, conn)

    def copy():
        with conn.cursor() as cur:
            with cur.copy("copy %s (id, n, t) from stdin" % TABLE) as cp:
                for i in range(5000):
                    cp.write_row((1000 + i, decimal.Decimal(i) / 8, "text row %d\t\\" % i))
            with cur.copy("copy %s (id, t, b) from stdin (format binary)" % TABLE) as cp:
                cp.set_types(["int4", "text", "bytea"])
                for i in range(5000):
                    cp.write_row((10000 + i, "binary row %d" % i, bytes([i % 256]) * 10))
            got = []
            with cur.copy("copy (select id, t from %s where id >= 1000 order by id) to stdout" %
                          TABLE) as cp:
                cp.set_types(["int4", "text"])
                got = list(cp.rows())
            with cur.copy("copy (select id, b from %s where id >= 10000 order by id) to stdout "
                          "(format binary)" % TABLE) as cp:
                cp.set_types(["int4", "bytea"])
                gotb = list(cp.rows())
        conn.commit()
        if len(got) != 10000 or got[0] != (1000, "text row 0\t\\") or got[-1][0] != 14999:
            raise AssertionError("text copy out: %d rows, first %r" % (len(got), got[:1]))
        if len(gotb) != 5000 or gotb[7] != (10007, bytes([7]) * 10):
            raise AssertionError("binary copy out: %d rows, #7 %r" % (len(gotb), gotb[7:8]))
        return "5000 text + 5000 binary rows in; 10000 text + 5000 binary rows out"

    report.check("copy", copy, conn)

    def errors_and_recovery():
        a = psycopg.connect(dsn, autocommit=True)
        try:
            a.execute("select 1/0")
            raise AssertionError("division by zero succeeded")
        except errors.DivisionByZero:
            pass
        if a.execute("select 1").fetchone()[0] != 1:
            raise AssertionError("no recovery after 22012")
        try:
            a.execute("insert into %s (id) values (100)" % TABLE)
            raise AssertionError("duplicate accepted")
        except errors.UniqueViolation as e:
            diag = e.diag.constraint_name
        a.close()
        try:
            conn.execute("insert into %s (id) values (300)" % TABLE)
            conn.execute("insert into %s (id) values (300)" % TABLE)
        except errors.UniqueViolation:
            pass
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
            raise AssertionError("status %s, want INERROR" % conn.info.transaction_status)
        try:
            conn.execute("select 1")
            raise AssertionError("statement accepted in a failed transaction")
        except errors.InFailedSqlTransaction:
            pass
        conn.rollback()
        if conn.execute("select count(*) from %s where id = 300" % TABLE).fetchone()[0] != 0:
            raise AssertionError("rolled-back row visible")
        conn.commit()
        return "22012, 23505 (%s) in autocommit; 23505 -> INERROR -> 25P02 -> rollback" % diag

    report.check("errors_and_recovery", errors_and_recovery, conn)

    def server_side_cursor():
        with conn.cursor(name="itest_named") as cur:
            cur.itersize = 100
            cur.execute("select g from generate_series(1, 1000) g")
            first = cur.fetchone()
            few = cur.fetchmany(3)
            rest = cur.fetchall()
        conn.commit()
        if first != (1,) or few != [(2,), (3,), (4,)] or len(rest) != 996:
            raise AssertionError("named cursor rows wrong")
        return "DECLARE/FETCH: 1 + 3 + 996 rows"

    report.check("server_side_cursor", server_side_cursor, conn)

    def pipeline():
        p = psycopg.connect(dsn, autocommit=True)
        with p.pipeline():
            curs = [p.execute("select %s::int + 100", (i,)) for i in range(50)]
        vals = [c.fetchone()[0] for c in curs]
        try:
            with p.pipeline():
                p.execute("select 1")
                p.execute("select 1/0")
                p.execute("select 2")
            raise AssertionError("the error in the pipeline was lost")
        except errors.DivisionByZero:
            pass
        ok = p.execute("select 'after'").fetchone()[0]
        p.close()
        if vals != [i + 100 for i in range(50)] or ok != "after":
            raise AssertionError("pipeline results wrong")
        return "50 queries in one pipeline; an error in a second pipeline, then recovery"

    report.check("pipeline_mode", pipeline)

    def threads():
        failures = []

        def worker(i):
            try:
                with psycopg.connect(dsn) as c:
                    for k in range(5):
                        v = c.execute("select %s::int + %s::int", (i, k)).fetchone()[0]
                        if v != i + k:
                            raise AssertionError("got %s" % v)
                    with c.transaction():
                        c.execute("insert into %s (id, t) values (%%s, 'thread')" % TABLE,
                                  (60000 + i,))
            except Exception as e:  # collected and reported below
                failures.append("%d: %s" % (i, e))

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(30)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        n = other.execute("select count(*) from %s where t = 'thread'" % TABLE).fetchone()[0]
        if failures or n != 30:
            raise AssertionError("%d rows; failures: %s" % (n, failures[:3]))
        return "30 threads, own connection each, 5 queries + a transaction"

    report.check("concurrent_threads", threads)

    other.execute("drop table %s" % TABLE)
    other.close()
    conn.close()
    return 1 if report.failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
