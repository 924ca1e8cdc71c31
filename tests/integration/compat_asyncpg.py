#!/usr/bin/python3
"""What a service using asyncpg does through its DATABASE_URL: prepared
statements, transactions, COPY, binary results of many types, errors and
recovery, cursors (Execute with a row limit), executemany, LISTEN, and a pool
of 10 connections shared by 100 tasks.

usage: compat_asyncpg.py postgresql://user:password@host:port/dbname
Prints PASS/FAIL per check; exits 1 if any failed.
"""

import asyncio
import datetime
import decimal
import io
import json
import os
import sys
import time
import uuid

import asyncpg

TABLE = "itest_apg_%d" % os.getpid()
COLUMNS = ("id", "n", "t", "ts", "j", "u", "b", "a", "ta")


class Report:
    def __init__(self):
        self.failed = 0

    async def check(self, name, fn):
        t0 = time.monotonic()
        try:
            detail = await asyncio.wait_for(fn(), 60)
        except Exception as e:  # any exception is that check's failure
            self.failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
            return
        print("PASS %s (%.2fs)%s" % (name, time.monotonic() - t0, ": " + detail if detail else ""),
              flush=True)


def sample_row(i):
    return (
        i,
        decimal.Decimal("12345678901234567890.123456789") * i,
        "héllo ☃ %d 'quoted' \\ back" % i,
        datetime.datetime(2024, 2, 29, 12, 34, 56, 789012, tzinfo=datetime.timezone.utc) +
        datetime.timedelta(hours=i),
        '{"k": %d, "nested": {"list": [1, 2, null]}, "s": "\\u00e9"}' % i,
        uuid.UUID(int=i * 7919),
        bytes(range(256)) * 2 + bytes([i % 256]),
        [i, None, -i, 2**31 - 1],
        ["a", None, "b,c", 'd"e', ""],
    )


async def main(dsn):
    report = Report()
    conn = await asyncpg.connect(dsn)
    other = await asyncpg.connect(dsn)
    await conn.execute("drop table if exists %s" % TABLE)
    await conn.execute("create table %s (id int primary key, n numeric, t text, ts timestamptz, "
                       "j jsonb, u uuid, b bytea, a int[], ta text[])" % TABLE)

    async def connect():
        v = await conn.fetchval("select current_database()")
        ver = conn.get_server_version()
        return "database %s, server %d.%d" % (v, ver.major, ver.micro)

    await report.check("connect_url", connect)

    async def prepared():
        stmt = await conn.prepare("select $1::int + $2::int as s, $3::text as t")
        got = [await stmt.fetchrow(i, i, "x%d" % i) for i in range(1, 6)]
        if [(r["s"], r["t"]) for r in got] != [(2 * i, "x%d" % i) for i in range(1, 6)]:
            raise AssertionError("got %s" % got)
        desc = [a.name for a in stmt.get_attributes()]
        names = await conn.fetch("select id, name from products where id <= $1 order by id", 3)
        if desc != ["s", "t"] or len(names) != 3:
            raise AssertionError("attributes %s, %d product rows" % (desc, len(names)))
        return "named statement run 5 times; products query with a parameter: %d rows" % len(names)

    await report.check("prepared_statements", prepared)

    async def typed_round_trip():
        rows = [sample_row(i) for i in range(1, 11)]
        await conn.executemany("insert into %s values ($1,$2,$3,$4,$5,$6,$7,$8,$9)" % TABLE, rows)
        back = await conn.fetch("select * from %s order by id" % TABLE)
        for want, got in zip(rows, back):
            got = tuple(json.loads(v) if k == "j" else v for k, v in got.items())
            want = tuple(json.loads(v) if k == "j" else v for k, v in zip(COLUMNS, want))
            if got != want:
                raise AssertionError("row %d differs:\n sent %r\n got  %r" % (want[0], want,
                                                                           tuple(got)))
        if len(back) != len(rows):
            raise AssertionError("%d rows back, sent %d" % (len(back), len(rows)))
        # the same values as parameters, compared by the server
        same = await conn.fetchval(
            "select count(*) from %s where (id,n,t,ts,j,u,b,a,ta) = "
            "($1,$2,$3,$4,$5::jsonb,$6,$7,$8,$9)" % TABLE, *rows[3])
        if same != 1:
            raise AssertionError("server-side comparison found %d rows" % same)
        return "int numeric text timestamptz jsonb uuid bytea int[] text[] (binary format)"

    await report.check("typed_values_binary", typed_round_trip)

    async def transactions():
        async with conn.transaction():
            await conn.execute("insert into %s (id, t) values (100, 'committed')" % TABLE)
        try:
            async with conn.transaction():
                await conn.execute("insert into %s (id, t) values (101, 'rolled back')" % TABLE)
                raise RuntimeError("roll back please")
        except RuntimeError:
            pass
        seen = await other.fetch("select id from %s where id >= 100 order by id" % TABLE)
        if [r["id"] for r in seen] != [100]:
            raise AssertionError("other connection sees %s, want [100]" % seen)
        # savepoints
        async with conn.transaction():
            await conn.execute("insert into %s (id) values (102)" % TABLE)
            try:
                async with conn.transaction():
                    await conn.execute("insert into %s (id) values (103)" % TABLE)
                    raise RuntimeError("inner")
            except RuntimeError:
                pass
        seen = await other.fetch("select id from %s where id >= 100 order by id" % TABLE)
        if [r["id"] for r in seen] != [100, 102]:
            raise AssertionError("after savepoint rollback other sees %s" % seen)
        return "commit visible, rollback not, savepoint rolled back alone"

    await report.check("transactions", transactions)

    async def copy():
        records = [(1000 + i, decimal.Decimal(i) / 4, "copy row %d\ttab" % i) for i in range(5000)]
        res = await conn.copy_records_to_table(TABLE, records=records, columns=["id", "n", "t"])
        if res != "COPY 5000":
            raise AssertionError("copy_records_to_table: %r" % res)
        buf = io.BytesIO()
        res = await conn.copy_from_query(
            "select id, n, t from %s where id >= 1000 order by id" % TABLE, output=buf,
            format="csv")
        lines = buf.getvalue().decode().splitlines()
        if res != "COPY 5000" or len(lines) != 5000 or lines[0] != '1000,0,copy row 0\ttab':
            raise AssertionError("copy_from_query: %r, %d lines, first %r" % (res, len(lines),
                                                                             lines[:1]))
        src = io.BytesIO(b"".join(b"%d\tfrom text %d\n" % (20000 + i, i) for i in range(3000)))
        res = await conn.copy_to_table(TABLE, source=src, columns=["id", "t"])
        n = await conn.fetchval("select count(*) from %s where id >= 20000" % TABLE)
        if res != "COPY 3000" or n != 3000:
            raise AssertionError("copy_to_table: %r, %d rows" % (res, n))
        return "5000 records in (binary), 5000 out as CSV, 3000 text rows in"

    await report.check("copy", copy)

    async def errors_and_recovery():
        try:
            await conn.fetchval("select 1/0")
            raise AssertionError("division by zero succeeded")
        except asyncpg.DivisionByZeroError:
            pass
        if await conn.fetchval("select 1") != 1:
            raise AssertionError("no recovery after 22012")
        try:
            await conn.execute("insert into %s (id) values (100)" % TABLE)
            raise AssertionError("duplicate key accepted")
        except asyncpg.UniqueViolationError as e:
            constraint = e.constraint_name
        try:
            async with conn.transaction():
                await conn.execute("insert into %s (id) values (200)" % TABLE)
                await conn.execute("insert into %s (id) values (200)" % TABLE)
        except asyncpg.UniqueViolationError:
            pass
        if await conn.fetchval("select count(*) from %s where id = 200" % TABLE) != 0:
            raise AssertionError("failed transaction left a row")
        try:
            await conn.fetch("select nosuchcolumn from %s" % TABLE)
        except asyncpg.UndefinedColumnError:
            pass
        if await conn.fetchval("select $1::text", "fine") != "fine":
            raise AssertionError("no recovery at the end")
        return "22012, 23505 (%s), 23505 in a transaction, 42703; connection fine" % constraint

    await report.check("errors_and_recovery", errors_and_recovery)

    async def cursor():
        got = []
        async with conn.transaction():
            async for r in conn.cursor("select g from generate_series(1, 1000) g", prefetch=64):
                got.append(r["g"])
            cur = await conn.cursor("select g from generate_series(1, 10) g")
            first = await cur.fetch(3)
            more = await cur.fetchrow()
        if got != list(range(1, 1001)) or [r["g"] for r in first] != [1, 2, 3] or more["g"] != 4:
            raise AssertionError("cursor rows wrong: %d rows, first %s" % (len(got), first))
        return "1000 rows in portal batches of 64; fetch(3) then fetchrow()"

    await report.check("cursor_row_limit", cursor)

    async def listen():
        got = asyncio.get_running_loop().create_future()

        def on_notify(c, pid, channel, payload):
            if not got.done():
                got.set_result((channel, payload))

        chan = "itest_apg_chan_%d" % os.getpid()
        await conn.add_listener(chan, on_notify)
        await other.execute("select pg_notify($1, $2)", chan, "payload é")
        channel, payload = await asyncio.wait_for(got, 5)
        await conn.remove_listener(chan, on_notify)
        if (channel, payload) != (chan, "payload é"):
            raise AssertionError("got %s %s" % (channel, payload))
        return "notification with payload received"

    await report.check("listen_notify", listen)

    async def pool():
        async with asyncpg.create_pool(dsn, min_size=10, max_size=10) as p:
            async def task(i):
                async with p.acquire() as c:
                    v = await c.fetchval("select $1::int * 2", i)
                    async with c.transaction():
                        await c.execute("insert into %s (id, t) values ($1, 'pool')" % TABLE,
                                        50000 + i)
                    return v
            vals = await asyncio.gather(*(task(i) for i in range(100)))
        n = await conn.fetchval("select count(*) from %s where t = 'pool'" % TABLE)
        if vals != [2 * i for i in range(100)] or n != 100:
            raise AssertionError("values wrong or %d rows" % n)
        return "pool of 10, 100 tasks with a query and a transaction each"

    await report.check("pool_10_x_100_tasks", pool)

    async def statement_cache():
        # asyncpg prepares each distinct query once per connection and reuses it
        for i in range(50):
            if await conn.fetchval("select $1::int + 1", i) != i + 1:
                raise AssertionError("wrong value at %d" % i)
        return "same query 50 times through the statement cache"

    await report.check("statement_cache_reuse", statement_cache)

    await conn.execute("drop table %s" % TABLE)
    await other.close()
    await conn.close()
    return 1 if report.failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(asyncio.run(main(sys.argv[1])))
