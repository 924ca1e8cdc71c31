"""Binary COPY as the first thing a fresh session does (issue 10, item 12). asyncpg's
copy_records_to_table prepares an introspection query (Parse/Describe/Flush, no Sync), then
sends COPY ... FROM STDIN (FORMAT binary) and its CopyData and CopyDone at once, without
waiting for the CopyInResponse; the service backend joins only then. pgtandem must pass the
data it already holds to the primary once the primary asks for it, not leave the primary
waiting in COPY FROM STDIN. Each case runs on fresh connections, a few times over, under a
timeout: into wishlist_items with its serial id, priority default and now() left to the
database (staged, row images), with every column given positionally (no columns=) and by a
full columns= list (plain COPY), into campaign_promo_codes (every column given), and psycopg
3's cursor.copy() binary. Both sides must hold the same rows. Ids -950000 and below, one
thousand per group (-970000 and below, five thousand per group, for the large one); wishlists 1950-1959, products 4500-4999 (no other check uses them).
Registered into checks.py's list (imported from there)."""

import asyncio
import time
import datetime

import psycopg

from checks import Fail, check, err_text, need

GROUPS = ("dual", "continue", "primary_service", "two_phase")
INDEX = {"dual": 0, "continue": 1, "reads_service": 2, "primary_service": 3, "two_phase": 4}
WHEN = datetime.datetime(2025, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)
ROUNDS = 3        # fresh sessions per case: the race is in the first statement's timing
COPY_TIMEOUT = 10  # seconds one COPY may take before the check calls it a hang


def wishlist(ctx):
    return 1950 + INDEX[ctx.group]


def first_id(ctx, offset):
    return -950000 - 1000 * INDEX[ctx.group] - offset


def note_of(ctx, case):
    return "copyfirst %s %s" % (ctx.group, case)


def cleanup(ctx):
    for db in ("legacy", "cart"):
        ctx.direct(db).execute("DELETE FROM wishlist_items WHERE wishlist_id = %s AND product_id >= 4500",
                               (wishlist(ctx),))


def same_rows(ctx, case, want):
    sql = "SELECT * FROM wishlist_items WHERE note LIKE %s ORDER BY id"
    pattern = note_of(ctx, case) + " %"
    lrows = ctx.q("legacy", sql, (pattern,))
    srows = ctx.q("cart", sql, (pattern,))
    need(len(lrows) == want, "%s: legacy holds %d rows, wanted %d" % (case, len(lrows), want))
    need(lrows == srows, "%s: the sides differ: legacy %r / cart_db %r" % (case, lrows[:3], srows[:3]))
    return lrows


def asyncpg_fresh(ctx, fn):
    """fn(conn) on a new asyncpg connection; a COPY that does not finish is a Fail."""
    import asyncpg

    async def go():
        c = await asyncpg.connect(host="127.0.0.1", port=ctx.proxy_port, user="poc_user",
                                  password="admin123", database="poc", timeout=10)
        try:
            return await asyncio.wait_for(fn(c), COPY_TIMEOUT)
        finally:
            c.terminate()  # close() would wait on a session stuck in COPY

    try:
        return asyncio.run(go())
    except asyncio.TimeoutError:
        raise Fail("copy_records_to_table did not finish within %d s (the primary is left "
                   "waiting in COPY FROM STDIN)" % COPY_TIMEOUT)
    except asyncpg.PostgresError as e:
        raise Fail("asyncpg: %s %s" % (getattr(e, "sqlstate", None), str(e).splitlines()[0]))


def _asyncpg_case(ctx, case, make_copy, per_round):
    cleanup(ctx)
    try:
        for r in range(ROUNDS):
            tag = asyncpg_fresh(ctx, lambda c: make_copy(c, r))
            need(tag == "COPY %d" % per_round, "%s round %d: tag %r" % (case, r, tag))
        same_rows(ctx, case, ROUNDS * per_round)
    finally:
        cleanup(ctx)
    return "%d fresh sessions, COPY %d each, identical rows on both sides" % (ROUNDS, per_round)


@check(*GROUPS)
def asyncpg_copy_records_first_generated(ctx):
    """columns= leaves the serial id, the priority default and now() to the database:
    the COPY goes through the staging table."""
    wl, n = wishlist(ctx), 40

    def copy(c, r):
        recs = [(wl, 4500 + 100 * r + i, "%s %d" % (note_of(ctx, "gen"), i)) for i in range(n)]
        return c.copy_records_to_table("wishlist_items", records=recs,
                                       columns=["wishlist_id", "product_id", "note"])
    return _asyncpg_case(ctx, "gen", copy, n)


@check(*GROUPS)
def asyncpg_copy_records_first_all_columns(ctx):
    """No columns=: every column given, positionally (a plain COPY, no staging)."""
    wl, n = wishlist(ctx), 30

    def copy(c, r):
        base = first_id(ctx, 100 * r)
        recs = [(base - i, wl, 4600 + 100 * r + i, "%s %d" % (note_of(ctx, "all"), i), 2, WHEN)
                for i in range(n)]
        return c.copy_records_to_table("wishlist_items", records=recs)
    return _asyncpg_case(ctx, "all", copy, n)


@check(*GROUPS)
def asyncpg_copy_records_first_full_column_list(ctx):
    """columns= naming every column, in another order (a plain COPY), 150 rows a round, into
    a wishlist of its own (1955-1959)."""
    wl, n = 1955 + INDEX[ctx.group], 150

    def copy(c, r):
        base = first_id(ctx, 400 + 200 * r)
        recs = [(WHEN, "%s %d" % (note_of(ctx, "list"), i), base - i, 1, wl, 4500 + n * r + i)
                for i in range(n)]
        return c.copy_records_to_table(
            "wishlist_items", records=recs,
            columns=["added_at", "note", "id", "priority", "wishlist_id", "product_id"])
    try:
        return _asyncpg_case(ctx, "list", copy, n)
    finally:
        for db in ("legacy", "cart"):
            ctx.direct(db).execute("DELETE FROM wishlist_items WHERE wishlist_id = %s AND product_id >= 4500",
                                   (wl,))


@check(*GROUPS)
def asyncpg_copy_records_first_plain_table(ctx):
    """campaign_promo_codes: a composite key, every column given (nothing generated)."""
    svc = "promotion"
    camp = ctx.one("legacy", "SELECT min(id) FROM promotion_campaigns")[0] + INDEX[ctx.group]
    free = [r[0] for r in ctx.q(
        "legacy", "SELECT id FROM promo_codes p WHERE NOT EXISTS (SELECT 1 FROM campaign_promo_codes"
        " c WHERE c.campaign_id = %s AND c.promo_code_id = p.id) ORDER BY id DESC LIMIT %s",
        (camp, 2 * ROUNDS))]
    need(len(free) == 2 * ROUNDS, "not enough promo codes outside campaign %d" % camp)
    mark = "2001-02-03 04:05:06+00"

    def clean():
        for db in ("legacy", svc):
            ctx.direct(db).execute("DELETE FROM campaign_promo_codes WHERE added_at = %s", (mark,))
    clean()
    try:
        for r in range(ROUNDS):
            recs = [(camp, free[2 * r + i], datetime.datetime(2001, 2, 3, 4, 5, 6,
                                                               tzinfo=datetime.timezone.utc))
                    for i in range(2)]
            tag = asyncpg_fresh(ctx, lambda c: c.copy_records_to_table("campaign_promo_codes",
                                                                       records=recs))
            need(tag == "COPY 2", "round %d: tag %r" % (r, tag))
        sql = "SELECT * FROM campaign_promo_codes WHERE added_at = %s ORDER BY promo_code_id"
        lrows, srows = ctx.q("legacy", sql, (mark,)), ctx.q(svc, sql, (mark,))
        need(len(lrows) == 2 * ROUNDS, "legacy holds %d rows, wanted %d" % (len(lrows), 2 * ROUNDS))
        need(lrows == srows, "the sides differ: legacy %r / promotion_db %r" % (lrows, srows))
    finally:
        clean()
    return "%d fresh sessions, COPY 2 each, identical on both sides" % ROUNDS


@check(*GROUPS)
def psycopg_copy_binary_first(ctx):
    """psycopg 3 cursor.copy() binary as a fresh session's first statement, staged (id and
    added_at left out) and plain (every column)."""
    wl = wishlist(ctx)
    cleanup(ctx)
    try:
        for r in range(ROUNDS):
            for case, sql, types, rows in (
                    ("pgen", "COPY wishlist_items (wishlist_id, product_id, note) FROM STDIN (FORMAT BINARY)",
                     ["int4", "int4", "text"],
                     [(wl, 4800 + 10 * r + i, "%s %d" % (note_of(ctx, "pgen"), i)) for i in range(5)]),
                    ("pall", "COPY wishlist_items (id, wishlist_id, product_id, note, priority, added_at)"
                     " FROM STDIN (FORMAT BINARY)", ["int4", "int4", "int4", "text", "int2", "timestamptz"],
                     [(first_id(ctx, 960 + 10 * r + i), wl, 4900 + 10 * r + i,
                       "%s %d" % (note_of(ctx, "pall"), i), 3, WHEN) for i in range(5)])):
                c = psycopg.connect(host="127.0.0.1", port=ctx.proxy_port, dbname="poc", user="poc_user",
                                    password="admin123", connect_timeout=10, autocommit=True,
                                    options="-c statement_timeout=%d" % (COPY_TIMEOUT * 1000))
                try:
                    cur = c.cursor()
                    with cur.copy(sql) as cp:
                        cp.set_types(types)
                        for row in rows:
                            cp.write_row(row)
                    need(cur.statusmessage == "COPY 5", "%s round %d: tag %r" % (case, r, cur.statusmessage))
                except psycopg.Error as e:
                    raise Fail("%s round %d: %s" % (case, r, err_text(e)))
                finally:
                    c.close()
        same_rows(ctx, "pgen", 5 * ROUNDS)
        same_rows(ctx, "pall", 5 * ROUNDS)
    finally:
        cleanup(ctx)
    return "%d fresh sessions each, staged and plain binary COPY 5, identical on both sides" % ROUNDS


def _raw(ctx):
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import pgraw
    return pgraw, pgraw.connect(pgraw.Dsn("postgresql://poc_user:admin123@127.0.0.1:%d/poc"
                                          % ctx.proxy_port), timeout=COPY_TIMEOUT)


@check(*GROUPS)
def raw_copy_data_sent_with_the_query(ctx):
    """What asyncpg does, made certain: COPY, its CopyData and CopyDone in one write, as a
    fresh session's first message; staged (id and added_at left out) and plain."""
    wl = wishlist(ctx)
    cleanup(ctx)
    try:
        for r in range(ROUNDS):
            for case, sql, data in (
                    ("rgen", "COPY wishlist_items (wishlist_id, product_id, note) FROM STDIN",
                     "".join("%d\t%d\t%s %d\n" % (wl, 4700 + 10 * r + i, note_of(ctx, "rgen"), i)
                             for i in range(3))),
                    ("rall", "COPY wishlist_items FROM STDIN",
                     "".join("%d\t%d\t%d\t%s %d\t1\t2025-01-01 00:00:00+00\n"
                             % (first_id(ctx, 900 + 10 * r + i), wl, 4750 + 10 * r + i,
                                note_of(ctx, "rall"), i) for i in range(3)))):
                pgraw, c = _raw(ctx)
                try:
                    c.send(pgraw.msg(b"Q", pgraw.cstr(sql)) + pgraw.msg(b"d", data.encode()) +
                           pgraw.msg(b"c"))
                    try:
                        got = c.read_until_ready(COPY_TIMEOUT)
                    except pgraw.Timeout:
                        raise Fail("%s round %d: no answer within %d s (the primary is left "
                                   "waiting in COPY FROM STDIN)" % (case, r, COPY_TIMEOUT))
                    kinds = [m[0] for m in got]
                    need(kinds == [b"G", b"C", b"Z"], "%s round %d: replies %r" % (case, r, got))
                    need(got[1][1] == b"COPY 3\0", "%s round %d: tag %r" % (case, r, got[1][1]))
                finally:
                    c.close()
        same_rows(ctx, "rgen", 3 * ROUNDS)
        same_rows(ctx, "rall", 3 * ROUNDS)
    finally:
        cleanup(ctx)
    return "CopyInResponse, COPY 3, ReadyForQuery each time; identical rows on both sides"


@check(*GROUPS)
def raw_copy_client_vanishes(ctx):
    """A client that closes its connection in the middle of a COPY: nothing is kept on either
    side, and the session's COPY state goes with it (the sanitizer's leak report at the
    proxy's exit says whether it did)."""
    wl = wishlist(ctx)
    cleanup(ctx)
    try:
        for sql in ("COPY wishlist_items (wishlist_id, product_id, note) FROM STDIN",
                    "COPY wishlist_items (wishlist_id, product_id, note, priority, added_at) FROM STDIN"):
            pgraw, c = _raw(ctx)
            try:
                row = "%d\t4990\t%s 1" % (wl, note_of(ctx, "gone"))
                if "priority" in sql:
                    row += "\t1\t2025-01-01 00:00:00+00"
                c.send(pgraw.msg(b"Q", pgraw.cstr(sql)) + pgraw.msg(b"d", (row + "\n").encode()))
                kind, _ = c.read_msg(COPY_TIMEOUT)
                need(kind == b"G", "wanted CopyInResponse, got %r" % kind)
            finally:
                c.close()

        def gone():
            n = ctx.one("legacy", "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %%'"
                                  " AND state <> 'idle' AND pid <> pg_backend_pid()")[0]
            return n == 0
        deadline = time.monotonic() + 10
        while not gone() and time.monotonic() < deadline:
            time.sleep(0.1)
        need(gone(), "a COPY is still running on legacy 10 s after its client left")
        same_rows(ctx, "gone", 0)
    finally:
        cleanup(ctx)
    return "nothing kept on either side; legacy's COPY ended"


@check(*GROUPS)
def copy_data_sent_with_the_query_one_backend(ctx):
    """The same early data for a COPY that runs on one backend only (a temporary table, on
    legacy): raw, then asyncpg's copy_records_to_table."""
    pgraw, c = _raw(ctx)
    try:
        c.query("CREATE TEMP TABLE copy_first_tmp (a int, b text)")
        c.send(pgraw.msg(b"Q", pgraw.cstr("COPY copy_first_tmp FROM STDIN")) +
               pgraw.msg(b"d", b"1\tx\n2\ty\n") + pgraw.msg(b"c"))
        try:
            got = c.read_until_ready(COPY_TIMEOUT)
        except pgraw.Timeout:
            raise Fail("raw: no answer within %d s (legacy is left waiting in COPY FROM STDIN)"
                       % COPY_TIMEOUT)
        need([m[0] for m in got] == [b"G", b"C", b"Z"] and got[1][1] == b"COPY 2\0",
             "raw: replies %r" % got)
    finally:
        c.close()

    async def go(conn):
        await conn.execute("CREATE TEMP TABLE copy_first_tmp (a int, b text)")
        tag = await conn.copy_records_to_table("copy_first_tmp", records=[(i, "r%d" % i) for i in range(50)])
        return tag, await conn.fetchval("SELECT count(*) FROM copy_first_tmp")
    got = asyncpg_fresh(ctx, go)
    need(got == ("COPY 50", 50), "asyncpg: %r" % (got,))
    return "COPY 2 (raw) and COPY 50 (asyncpg) into a temporary table on legacy"


@check(*GROUPS, timeout=60)
def raw_copy_early_data_past_high_water(ctx):
    """Early data beyond pgtandem's input high-water mark (256 KiB) before the CopyInResponse,
    in 8 KiB CopyData messages, sent with the query in one go: about 900 KiB into
    wishlist_items (under copy_buffer_limit, 1 MiB in run.sh) and 3 MiB into a temporary
    table on legacy alone. (asyncpg sends 512 KiB CopyData messages: a single client message
    beyond the high-water mark is another matter, not covered here.)"""
    wl = 1955 + INDEX[ctx.group]
    mark = note_of(ctx, "early")
    taken = {r[0] for r in ctx.q("legacy", "SELECT product_id FROM wishlist_items WHERE wishlist_id = %s",
                                 (wl,))}
    products = [p for p in range(1, 4500) if p not in taken][:3500]
    lines = ["%d\t%d\t%d\t%s %d %s\t1\t2025-01-01 00:00:00+00\n"
             % (-970000 - 5000 * INDEX[ctx.group] - i, wl, p, mark, i, "x" * 200) for i, p in enumerate(products)]
    data = "".join(lines).encode()
    need(len(data) < 1024 * 1024, "test data %d bytes: over copy_buffer_limit" % len(data))

    def send_copy(sql, payload, setup=None):
        """The COPY and all its data in one write, on a new session; (reply kinds, tag)."""
        pgraw, c = _raw(ctx)
        try:
            if setup:
                c.query(setup)
            out = pgraw.msg(b"Q", pgraw.cstr(sql))
            for i in range(0, len(payload), 8192):
                out += pgraw.msg(b"d", payload[i:i + 8192])
            c.send(out + pgraw.msg(b"c"))
            try:
                got = c.read_until_ready(COPY_TIMEOUT)
            except pgraw.Timeout:
                raise Fail("%s: no answer within %d s" % (sql, COPY_TIMEOUT))
            return [m[0] for m in got], got[-2][1]
        finally:
            c.close()

    def clean():
        for db in ("legacy", "cart"):
            ctx.direct(db).execute("DELETE FROM wishlist_items WHERE wishlist_id = %s AND note LIKE %s",
                                   (wl, mark + " %"))
    clean()
    try:
        kinds, tag = send_copy("COPY wishlist_items FROM STDIN", data)
        need(kinds == [b"G", b"C", b"Z"] and tag == b"COPY %d\0" % len(lines),
             "wishlist_items: replies %r, tag %r" % (kinds, tag))
        sql = "SELECT * FROM wishlist_items WHERE wishlist_id = %s AND note LIKE %s ORDER BY id"
        lrows, srows = ctx.q("legacy", sql, (wl, mark + " %")), ctx.q("cart", sql, (wl, mark + " %"))
        need(len(lrows) == len(lines) and lrows == srows,
             "legacy holds %d rows, cart_db %d, wanted %d identical" % (len(lrows), len(srows), len(lines)))
    finally:
        clean()
    payload = "".join("%d\t%s\n" % (i, "y" * 1000) for i in range(3000)).encode()
    kinds, tag = send_copy("COPY copy_first_big FROM STDIN", payload,
                           setup="CREATE TEMP TABLE copy_first_big (a int, b text)")
    need(kinds == [b"G", b"C", b"Z"] and tag == b"COPY 3000\0",
         "temporary table: replies %r, tag %r" % (kinds, tag))
    return "COPY %d (%d KiB) into wishlist_items, identical; COPY 3000 (3 MiB) on legacy" % (
        len(lines), len(data) // 1024)
