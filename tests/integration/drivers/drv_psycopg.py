#!/usr/bin/python3
"""psycopg 3's everyday idioms through the proxy: binary COPY as a fresh connection's first
statement, text COPY in and out, pipeline mode (in a transaction and in autocommit with an
error between Syncs), savepoints after errors, server-side cursors (plain and WITH HOLD),
timestamptz under login and SET TimeZones, and cancelling a statement waiting on a row lock.
Each check verifies its rows straight on legacy and the service database as well."""

import datetime as dt
import json
import threading
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
from psycopg import errors
from psycopg.types.json import Jsonb

from drvlib import Env, need, parse_args, run_checks, same_on_both

args = parse_args()
env = Env(args)
T = env.tag
ITEM_COLS = "sku, name, title, status, price, qty, total, weight, tags, dims, list_price::text, attrs, blob"


def connect(**kw):
    kw.setdefault("autocommit", True)
    return psycopg.connect(env.proxy_dsn(), **kw)


def items_same(prefix, expect=None):
    rows = same_on_both(env, "product", "SELECT %s FROM drv_items WHERE tag = %%s AND sku LIKE %%s"
                        " ORDER BY sku" % ITEM_COLS, (T, prefix + "%"), "drv_items rows")
    if expect is not None:
        need(len(rows) == expect, "%d rows with sku %s*, expected %d" % (len(rows), prefix, expect))
    return rows


def binary_copy_first():
    rows = [(T, "PSB-%d" % i, "bin %d" % i, Decimal("%d.25" % i), i, ["a", "b%d" % i], [i, i + 1],
             Jsonb({"n": i}), bytes([i, 0, 255]),
             dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc) + dt.timedelta(hours=i))
            for i in range(1, 21)]
    with connect() as c:
        with c.cursor().copy("COPY drv_items (tag, sku, name, price, qty, tags, dims, attrs, blob,"
                             " available_at) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(["text", "text", "text", "numeric", "int4", "text[]", "int4[]", "jsonb",
                          "bytea", "timestamptz"])
            for r in rows:
                cp.write_row(r)
        got = c.execute("SELECT count(*), sum(total) FROM drv_items WHERE tag = %s AND sku LIKE"
                        " 'PSB-%%'", (T,)).fetchone()
    want = sum(Decimal("%d.25" % i) * i for i in range(1, 21))
    need(got == (20, want), "through the proxy: %r, expected (20, %s)" % (got, want))
    items_same("PSB-", 20)
    return "20 rows, generated total right, identical on both sides"


def binary_copy_first_orders():
    rows = [(T, 150 + i, "paid", dt.datetime(2024, 3, 31, 1, i, tzinfo=dt.timezone.utc), Jsonb([i]))
            for i in range(10)]
    with connect() as c:
        with c.cursor().copy("COPY drv_orders (tag, item_id, status, placed_at, lines) FROM STDIN"
                             " (FORMAT BINARY)") as cp:
            cp.set_types(["text", "int8", "text", "timestamptz", "jsonb"])
            for r in rows:
                cp.write_row(r)
    orders_same(10, "item_id BETWEEN 150 AND 159")
    return "10 orders (no generated column), identical on both sides"


def copy_text_in_out():
    data = "".join("%s\tPST-%d\ttext %d\tTitel %d\tpaid\t%d.50\t%d\t%d.123456\t{x,\"y z\"}\t{%d}\t(%d.99,EUR)"
                   "\t{\"k\": [%d, null]}\t\\\\x00ff%02x\t2024-07-01 10:00:00+02\n"
                   % ((T,) + (i,) * 10) for i in range(1, 31))
    with connect() as c:
        with c.cursor().copy("COPY drv_items (tag, sku, name, title, status, price, qty, weight, tags,"
                             " dims, list_price, attrs, blob, available_at) FROM STDIN") as cp:
            cp.write(data)
        c.execute("SET TimeZone = 'UTC'")
        out = bytearray()
        q = ("COPY (SELECT %s FROM drv_items WHERE tag = '%s' AND sku LIKE 'PST-%%' ORDER BY sku)"
             " TO STDOUT" % (ITEM_COLS, T))
        with c.cursor().copy(q) as cp:
            for chunk in cp:
                out += chunk
    with psycopg.connect(env.direct_dsn("legacy"), autocommit=True) as d:
        d.execute("SET TimeZone = 'UTC'")
        direct = bytearray()
        with d.cursor().copy(q) as cp:
            for chunk in cp:
                direct += chunk
    need(out == direct, "COPY TO through the proxy differs from legacy's own (%d / %d bytes)"
         % (len(out), len(direct)))
    items_same("PST-", 30)
    return "30 rows in, COPY TO byte-identical to legacy's, identical on both sides"


def insert_returning(c, query, params):
    """executemany(returning=True) in c's pipeline: one RETURNING row per parameter set."""
    cur = c.cursor()
    cur.executemany(query, params, returning=True)
    rows = []
    while True:
        rows.append(cur.fetchone())
        if not cur.nextset():
            return rows


def pipeline_transaction():
    with connect(autocommit=False) as c:
        with c.pipeline():
            ids = insert_returning(c, "INSERT INTO drv_items (tag, sku, name, price, qty, attrs, list_price)"
                                   " VALUES (%s, %s, %s, %s, %s, %s, %s::drv_money) RETURNING id, total",
                                   [(T, "PSP-%d" % i, "pipe %d" % i, Decimal(i), 2, json.dumps({"p": i}),
                                     "(%d,USD)" % i) for i in range(1, 31)])
            for i in range(1, 11):
                c.execute("UPDATE drv_items SET qty = qty + 1, attrs = attrs || %s, tags = tags || %s"
                          " WHERE tag = %s AND sku = %s", (json.dumps({"u": i}), ["upd"], T, "PSP-%d" % i))
            n = c.execute("SELECT count(*) FROM drv_items WHERE tag = %s AND sku LIKE 'PSP-%%'",
                          (T,)).fetchone()[0]
        c.commit()
    need(len(ids) == 30 and len({r[0] for r in ids}) == 30, "RETURNING gave %r" % ids[:5])
    need(all(r[1] == Decimal(i) * 2 for i, r in enumerate(ids, 1)), "totals %r" % ids[:5])
    need(n == 30, "count in the pipeline %d" % n)
    items_same("PSP-", 30)
    return "30 executemany RETURNING + 10 updates + a read in one pipeline, committed"


def orders_same(expect=None, where="true"):
    rows = same_on_both(env, "cart", "SELECT item_id, status, amount::text, placed_at, placed_day, lines"
                        " FROM drv_orders WHERE tag = %%s AND %s ORDER BY item_id" % where, (T,),
                        "drv_orders rows")
    if expect is not None:
        need(len(rows) == expect, "%d orders, expected %d" % (len(rows), expect))
    return rows


def pipeline_orders():
    with connect(autocommit=False) as c:
        with c.pipeline():
            ids = [r[0] for r in insert_returning(
                c, "INSERT INTO drv_orders (tag, item_id, amount, placed_at, lines) VALUES"
                " (%s, %s, %s::drv_money, now(), %s) RETURNING id, placed_day",
                [(T, 270 + i, "(%d.00,EUR)" % i, json.dumps([i])) for i in range(20)])]
            for i in range(0, 20, 2):
                c.execute("UPDATE drv_orders SET status = 'paid', lines = lines || %s WHERE tag = %s AND item_id = %s",
                          (json.dumps(["p"]), T, 270 + i))
            n = c.execute("SELECT count(*) FROM drv_orders WHERE tag = %s AND item_id BETWEEN 270 AND 289",
                          (T,)).fetchone()[0]
        c.commit()
    need(len(set(ids)) == 20 and n == 20, "%d ids, count %d" % (len(set(ids)), n))
    rows = orders_same(20, "item_id BETWEEN 270 AND 289")
    need(sum(r[1] == "paid" for r in rows) == 10, "statuses %r" % [r[1] for r in rows])
    return "20 executemany RETURNING + 10 updates + a read in one pipeline (no generated column)"


def pipeline_autocommit_error():
    ins = "INSERT INTO drv_orders (tag, item_id, status, placed_at) VALUES (%s, %s, %s, now())"
    with connect() as c:
        with c.pipeline() as p:
            c.execute(ins, (T, 101, "new"))
            p.sync()
            try:
                c.execute(ins, (T, 102, "bogus"))
                c.execute(ins, (T, 103, "new"))
                p.sync()
                raise AssertionError("the bad enum value was not reported")
            except errors.InvalidTextRepresentation:
                pass
            c.execute(ins, (T, 104, "paid"))
            p.sync()
        c.execute("SELECT 1").fetchone()
    rows = orders_same(where="item_id BETWEEN 101 AND 104")
    need([r[0] for r in rows] == [101, 104], "orders %r (103 shared the failed Sync)" % [r[0] for r in rows])
    return "error between Syncs: its window rolled back, the ones before and after kept"


def savepoints_after_error():
    ins = "INSERT INTO drv_orders (tag, item_id, amount, placed_at, lines) VALUES (%s, %s, %s, now(), %s)"
    with connect(autocommit=False) as c:
        with c.transaction():
            c.execute(ins, (T, 201, "(5.00,EUR)", json.dumps({"a": 1})))
            try:
                with c.transaction():
                    c.execute(ins, (T, None, "(1.00,EUR)", "{}"))
                raise AssertionError("NOT NULL violation not reported")
            except errors.NotNullViolation:
                pass
            with c.transaction():
                c.execute("UPDATE drv_orders SET status = 'paid', lines = lines || %s WHERE tag = %s"
                          " AND item_id = 201", (json.dumps({"b": 2}), T))
            try:
                with c.transaction():
                    c.execute("UPDATE drv_orders SET status = %s WHERE tag = %s AND item_id = 201", ("bogus", T))
            except errors.InvalidTextRepresentation:
                pass
            c.execute(ins, (T, 202, "(6.50,USD)", "[]"))
    rows = orders_same(2, "item_id IN (201, 202)")
    need(rows[0][1] == "paid" and rows[0][5] == {"a": 1, "b": 2}, "order 201 is %r" % (rows[0],))
    return "two errors under savepoints, the transaction went on and committed"


def server_side_cursors():
    with connect() as c:
        with c.cursor() as cur:
            cur.executemany("INSERT INTO drv_orders (tag, item_id, placed_at, lines) VALUES (%s, %s, now(), %s)",
                            [(T, 250 + i, json.dumps({"cur": i})) for i in range(20)])
    q = "SELECT id, item_id, status, amount::text, lines FROM drv_orders WHERE tag = %s ORDER BY id"
    with connect(autocommit=False) as c:
        with c.cursor("drv_cur") as cur:
            cur.itersize = 7
            cur.execute(q, (T,))
            got = list(cur)
        c.commit()
        with c.cursor("drv_hold", withhold=True) as cur:
            cur.execute(q, (T,))
            c.commit()
            held = cur.fetchmany(5) + cur.fetchall()
    want = env.direct("legacy", q, (T,))
    need(len(want) >= 20, "%d orders to read" % len(want))
    need(got == want, "named cursor gave %d rows, legacy has %d (first %r / %r)"
         % (len(got), len(want), got[:1], want[:1]))
    need(held == want, "WITH HOLD cursor gave %d rows, legacy has %d" % (len(held), len(want)))
    orders_same(20, "item_id BETWEEN 250 AND 269")
    return "%d rows in batches of 7, and again WITH HOLD after COMMIT" % len(want)


def timezones():
    kiri = ZoneInfo("Pacific/Kiritimati")
    days = {dt.datetime.now(kiri).date()}
    with connect(options="-c TimeZone=Asia/Kolkata") as c:
        c.execute("INSERT INTO drv_items (tag, sku, name, price, available_at) VALUES"
                  " (%s, 'PSZ-1', 'kolkata', 1, '2024-03-10 02:30:00')", (T,))
        c.execute("SET TimeZone = 'America/New_York'")
        c.execute("UPDATE drv_items SET available_at = '2024-11-03 01:30:00' WHERE tag = %s AND sku = 'PSZ-1'", (T,))
        c.execute("INSERT INTO drv_items (tag, sku, name, price, available_at) VALUES"
                  " (%s, 'PSZ-2', 'new york', 1, '2024-03-10 12:00:00')", (T,))
        c.execute("SET TimeZone = 'Pacific/Kiritimati'")
        item = c.execute("SELECT id FROM drv_items WHERE tag = %s AND sku = 'PSZ-2'", (T,)).fetchone()[0]
        c.execute("INSERT INTO drv_orders (tag, item_id, placed_at, lines) VALUES (%s, %s, %s, %s)",
                  (T, item, dt.datetime(2024, 5, 5, 23, 30, tzinfo=ZoneInfo("Europe/Paris")),
                   json.dumps(["timezones"])))
    days.add(dt.datetime.now(kiri).date())
    rows = same_on_both(env, "product", "SELECT sku, available_at FROM drv_items WHERE tag = %s AND sku LIKE"
                        " 'PSZ-%%' ORDER BY sku", (T,))
    # 01:30 on 2024-11-03 happens twice in New York; PostgreSQL takes the offset in force
    # after the jump back (EST), which is Python's fold=1
    want = [("PSZ-1", dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York"))),
            ("PSZ-2", dt.datetime(2024, 3, 10, 12, 0, tzinfo=ZoneInfo("America/New_York")))]
    need([(s, a.timestamp()) for s, a in rows] == [(s, a.timestamp()) for s, a in want],
         "instants %r, expected %r" % (rows, want))
    # this check's order alone: other checks of this driver share the tag
    orders = same_on_both(env, "cart", "SELECT placed_at, placed_day FROM drv_orders WHERE tag = %s"
                          " AND lines = '[\"timezones\"]' ORDER BY id", (T,))
    need(len(orders) == 1 and orders[0][1] in days,
         "order %r (Kiritimati's date is %s)" % (orders, sorted(days)))
    return "login and SET TimeZones applied on both sides; placed_day from the session's zone"


def cancel_lock_wait():
    with connect() as c:
        c.execute("INSERT INTO drv_orders (tag, item_id, status, placed_at) VALUES (%s, 301, 'new', now())", (T,))
    holder = connect(autocommit=False)
    waiter = connect()
    upd = "UPDATE drv_orders SET status = %s WHERE tag = %s AND item_id = 301"
    try:
        holder.execute(upd, ("paid", T))
        box = {}

        def wait():
            t0 = time.monotonic()
            try:
                waiter.execute(upd, ("cancelled", T))
                box["r"] = "not cancelled"
            except errors.QueryCanceled:
                box["r"] = "cancelled"
            except Exception as e:  # noqa: B902
                box["r"] = "%s: %s" % (type(e).__name__, e)
            box["t"] = time.monotonic() - t0
        th = threading.Thread(target=wait, daemon=True)
        th.start()
        time.sleep(1.0)
        waiter.cancel()
        th.join(8)
        need(not th.is_alive(), "the blocked UPDATE was not cancelled within 8 s")
        need(box["r"] == "cancelled", "the blocked UPDATE ended: %s" % box["r"])
        holder.commit()
        got = waiter.execute("SELECT status FROM drv_orders WHERE tag = %s AND item_id = 301", (T,)).fetchone()
        need(got == ("paid",), "status after the cancel %r" % (got,))
    finally:
        waiter.close()      # first: its UPDATE may still wait on the holder's lock
        holder.close()
    rows = orders_same(1, "item_id = 301")
    need(rows[0][1] == "paid", "status %r on both sides, expected paid" % rows[0][1])
    return "UPDATE blocked on the primary cancelled in %.1f s; the holder's update kept" % box["t"]


def type_oids():
    """The OIDs a client sees for user-defined types must be the ones it finds in the catalog,
    which it reads from legacy: drivers look them up there (asyncpg, pgJDBC, psycopg's TypeInfo)."""
    want = dict(env.direct("legacy", "SELECT typname, oid::int FROM pg_type WHERE typname IN"
                           " ('drv_status', 'drv_money', 'drv_sku')"))
    seen = {}
    with connect() as c:
        cat = dict(c.execute("SELECT typname, oid::int FROM pg_type WHERE typname IN"
                             " ('drv_status', 'drv_money', 'drv_sku')").fetchall())
        cur = c.execute("SELECT status, amount FROM drv_orders WHERE tag = %s LIMIT 1", (T,))
        seen["read"] = [d.type_code for d in cur.description]
        cur = c.execute("INSERT INTO drv_orders (tag, item_id, placed_at) VALUES (%s, 399, now())"
                        " RETURNING status, amount", (T,))
        seen["returning"] = [d.type_code for d in cur.description]
    need(cat == want, "the catalog through the proxy %r is not legacy's %r" % (cat, want))
    exp = [want["drv_status"], want["drv_money"]]
    bad = {k: v for k, v in seen.items() if v != exp}
    need(not bad, "RowDescription type OIDs %r, the catalog (legacy) says drv_status, drv_money = %r"
         " (primary=%s reads=%s)" % (bad, exp, env.args.primary, env.args.reads))
    return "enum and composite OIDs in RowDescription match the catalog's"


def prepared_binary():
    with connect(prepare_threshold=0) as c:
        for i in range(1, 11):
            c.execute("INSERT INTO drv_items (tag, sku, name, price, qty, weight) VALUES (%s, %s, %s, %s, %s, %s)",
                      (T, "PSR-%d" % i, "prep", Decimal("1.10"), i, Decimal("0.000001") * i))
        for i in range(1, 11):
            c.execute("UPDATE drv_items SET price = price + %s WHERE tag = %s AND sku = %s",
                      (Decimal("0.01"), T, "PSR-%d" % i))
        cur = c.cursor(binary=True)
        got = cur.execute("SELECT sku, total, weight FROM drv_items WHERE tag = %s AND sku LIKE 'PSR-%%'"
                          " ORDER BY qty", (T,)).fetchall()
    need(len(got) == 10 and got[9][1] == Decimal("11.10"), "binary rows %r" % got[-1:])
    items_same("PSR-", 10)
    return "prepare_threshold=0 writes and a binary read"


run_checks([
    ("binary_copy_first_statement", binary_copy_first, 30),
    ("binary_copy_first_statement_orders", binary_copy_first_orders, 30),
    ("copy_text_in_out", copy_text_in_out, 30),
    ("pipeline_transaction", pipeline_transaction, 30),
    ("pipeline_transaction_orders", pipeline_orders, 30),
    ("pipeline_autocommit_error", pipeline_autocommit_error, 30),
    ("savepoints_after_error", savepoints_after_error, 30),
    ("server_side_cursors", server_side_cursors, 30),
    ("timezones", timezones, 30),
    ("cancel_lock_wait", cancel_lock_wait, 30),
    ("prepared_binary", prepared_binary, 30),
    ("type_oids_match_catalog", type_oids, 30),
], args)
