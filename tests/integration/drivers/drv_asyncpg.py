#!/usr/bin/python3
"""asyncpg's everyday idioms through the proxy: copy_records_to_table (binary COPY) as a
fresh connection's first call, prepared statements (fetchrow, executemany, a cursor),
nested transactions (savepoints, an inner one failing, an inner one rolled back by an
exception), a TimeZone given as a startup setting, a statement timeout (asyncpg cancels
it), and a pool of concurrent increments. Each check verifies its rows on both sides."""

import asyncio
import datetime as dt
import json
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg

from drvlib import Env, need, parse_args, run_checks, same_on_both

args = parse_args()
env = Env(args)
T = env.tag


def connect(**kw):
    a = env.args
    return asyncpg.connect(host="127.0.0.1", port=a.proxy_port, database="poc", user="poc_user",
                           password="admin123", timeout=10, **kw)


def run(coro_fn):
    """A check body: a fresh event loop per check (a hung one is left to its thread)."""
    return lambda: asyncio.run(coro_fn())


def orders_same(where, expect=None):
    rows = same_on_both(env, "cart", "SELECT item_id, status, amount::text, placed_at, placed_day, lines"
                        " FROM drv_orders WHERE tag = %%s AND %s ORDER BY item_id" % where, (T,),
                        "drv_orders rows")
    if expect is not None:
        need(len(rows) == expect, "%d orders, expected %d" % (len(rows), expect))
    return rows


async def copy_records_first():
    c = await connect()
    try:
        recs = [(T, "ASC-%d" % i, "copy %d" % i, "new" if i % 2 else "paid", Decimal("%d.75" % i), i,
                 ["t%d" % i], [i], (Decimal("%d.10" % i), "EUR"), json.dumps({"i": i}), bytes([i]),
                 dt.datetime(2024, 2, 29, 23, 59, tzinfo=dt.timezone.utc))
                for i in range(1, 26)]
        r = await c.copy_records_to_table(
            "drv_items", records=recs,
            columns=["tag", "sku", "name", "status", "price", "qty", "tags", "dims", "list_price",
                     "attrs", "blob", "available_at"])
        got = await c.fetchrow("SELECT count(*), sum(total) FROM drv_items WHERE tag = $1 AND sku LIKE 'ASC-%'", T)
    finally:
        await c.close()
    want = sum(Decimal("%d.75" % i) * i for i in range(1, 26))
    need(r == "COPY 25" and tuple(got) == (25, want), "%s, %r (expected 25, %s)" % (r, tuple(got), want))
    same_on_both(env, "product", "SELECT sku, status, total, tags, list_price::text, attrs, blob FROM drv_items"
                 " WHERE tag = %s AND sku LIKE 'ASC-%%' ORDER BY sku", (T,))
    return "COPY 25 (binary) with an enum, a composite, arrays, jsonb, bytea"


async def copy_records_orders():
    c = await connect()
    try:
        r = await c.copy_records_to_table(
            "drv_orders", records=[(T, 350 + i, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), json.dumps([i]))
                                   for i in range(10)],
            columns=["tag", "item_id", "placed_at", "lines"], timeout=15)
    finally:
        c.terminate()
    need(r == "COPY 10", r)
    orders_same("item_id BETWEEN 350 AND 359", 10)
    return "COPY 10 (binary, no generated column), identical on both sides"


async def prepared():
    c = await connect()
    try:
        ins = await c.prepare("INSERT INTO drv_orders (tag, item_id, status, amount, placed_at, lines)"
                              " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, placed_day")
        ids = []
        for i in range(1, 11):
            row = await ins.fetchrow(T, 400 + i, "new", (Decimal(i), "USD"),
                                     dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc), json.dumps([i]))
            ids.append(row["id"])
        await c.executemany("UPDATE drv_orders SET status = $1, lines = lines || $2::jsonb WHERE tag = $3"
                            " AND item_id = $4", [("shipped", json.dumps([0]), T, 400 + i) for i in range(1, 6)])
        sel = await c.prepare("SELECT item_id, status FROM drv_orders WHERE tag = $1 AND item_id > $2 ORDER BY item_id")
        async with c.transaction():
            cur = await sel.cursor(T, 400)
            first = await cur.fetch(3)
            rest = await cur.fetch(100)
        rows = await sel.fetch(T, 400)
    finally:
        await c.close()
    need(len(set(ids)) == 10, "ids %r" % ids)
    need(len(first) == 3 and len(rest) == 7 and [tuple(r) for r in first + rest] == [tuple(r) for r in rows],
         "cursor %r / fetch %r" % (first, rows[:3]))
    got = orders_same("item_id BETWEEN 401 AND 410", 10)
    need([r[1] for r in got] == ["shipped"] * 5 + ["new"] * 5, "statuses %r" % [r[1] for r in got])
    return "prepared INSERT RETURNING x10, executemany UPDATE x5, a prepared cursor"


async def nested_transactions():
    ins = "INSERT INTO drv_orders (tag, item_id, placed_at) VALUES ($1, $2, now())"
    c = await connect()
    try:
        async with c.transaction():
            await c.execute(ins, T, 501)
            async with c.transaction():
                await c.execute(ins, T, 502)
                try:
                    async with c.transaction():
                        await c.execute(ins, T, 503)
                        await c.execute("INSERT INTO drv_orders (tag, item_id, status, placed_at)"
                                        " VALUES ($1, 599, 'bogus', now())", T)
                except asyncpg.InvalidTextRepresentationError:
                    pass
                await c.execute("UPDATE drv_orders SET status = 'paid' WHERE tag = $1 AND item_id = 501", T)
            try:
                async with c.transaction():
                    await c.execute(ins, T, 504)
                    await c.execute("UPDATE drv_orders SET status = 'cancelled' WHERE tag = $1 AND item_id = 502", T)
                    raise KeyError("roll me back")
            except KeyError:
                pass
            await c.execute(ins, T, 505)
    finally:
        await c.close()
    got = orders_same("item_id BETWEEN 501 AND 599")
    need([(r[0], r[1]) for r in got] == [(501, "paid"), (502, "new"), (505, "new")], "orders %r"
         % [(r[0], r[1]) for r in got])
    return "three levels, a failing and a rolled-back savepoint, the outer transaction kept the rest"


async def startup_timezone():
    kiri = ZoneInfo("Pacific/Kiritimati")
    days = {dt.datetime.now(kiri).date()}
    c = await connect(server_settings={"timezone": "Pacific/Kiritimati", "application_name": "drv-asyncpg"})
    try:
        await c.execute("INSERT INTO drv_orders (tag, item_id, placed_at) VALUES ($1, 601, '2024-12-31 23:30:00')", T)
        tz = await c.fetchval("SHOW TimeZone")
    finally:
        await c.close()
    days.add(dt.datetime.now(kiri).date())
    got = orders_same("item_id = 601", 1)
    want = dt.datetime(2024, 12, 31, 23, 30, tzinfo=kiri)
    need(tz == "Pacific/Kiritimati", "SHOW TimeZone %r" % tz)
    need(got[0][3].timestamp() == want.timestamp(), "placed_at %r, expected %r" % (got[0][3], want))
    need(got[0][4] in days, "placed_day %r, Kiritimati's date %s" % (got[0][4], sorted(days)))
    return "TimeZone from the startup packet decided placed_at and placed_day on both sides"


async def timeout_cancel():
    c = await connect()
    try:
        try:
            await c.fetch("SELECT count(*) FROM drv_orders WHERE pg_sleep(10) IS NOT NULL", timeout=1)
            raise AssertionError("the 10 s read finished within the 1 s timeout")
        except asyncio.TimeoutError:
            pass
        t0 = time.monotonic()
        try:
            v = await asyncio.wait_for(c.fetchval("SELECT count(*) FROM drv_orders WHERE tag = $1", T), 5)
        except asyncio.TimeoutError:
            raise AssertionError("after the 1 s timeout (asyncpg sent a CancelRequest) the connection did not"
                                 " answer within 5 s: the 10 s read (reads=%s) was not cancelled" % env.args.reads)
    finally:
        c.terminate()
    return "timed-out read cancelled, connection answered %.1f s after it (%d orders)" % (time.monotonic() - t0, v)


async def pool_increments():
    a = env.args
    async with asyncpg.create_pool(host="127.0.0.1", port=a.proxy_port, database="poc", user="poc_user",
                                   password="admin123", min_size=4, max_size=4, timeout=10) as pool:
        await pool.execute("INSERT INTO drv_orders (tag, item_id, placed_at, lines) VALUES ($1, 701, now(), '[]')", T)

        async def bump(n):
            async with pool.acquire() as c:
                await c.execute("UPDATE drv_orders SET lines = lines || to_jsonb($2::int) WHERE tag = $1"
                                " AND item_id = 701", T, n)
        await asyncio.gather(*(bump(n) for n in range(40)))
    got = orders_same("item_id = 701", 1)
    need(sorted(got[0][5]) == list(range(40)), "lines %r" % got[0][5])
    return "40 concurrent appends through a pool of 4, same order on both sides"


run_checks([
    ("copy_records_first_call", run(copy_records_first), 30),
    ("copy_records_orders", run(copy_records_orders), 30),
    ("prepared_statements", run(prepared), 30),
    ("nested_transactions", run(nested_transactions), 30),
    ("startup_timezone", run(startup_timezone), 30),
    ("timeout_cancel", run(timeout_cancel), 30),
    ("pool_concurrent_updates", run(pool_increments), 40),
], args)
