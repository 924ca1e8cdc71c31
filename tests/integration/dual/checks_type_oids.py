"""User-defined type OIDs through a service database (groups reads_service, primary_service).
A client looks types up in the catalog, and catalog reads go to legacy; so every OID it sees
must be legacy's, whichever database served the statement. The checks make an enum and a
composite type (fields: an enum, another composite) on legacy and on cart_db, with a throwaway type made on
cart_db first so the two number them apart, RELOAD the proxy (SIGHUP: the proxy maps OIDs at
start and reload), then: psycopg's RowDescription OIDs must be legacy's; asyncpg must prepare,
fetch and send enum, enum[], composite and composite[] values (asyncpg reads and sends them in
binary, and checks the field OIDs inside a composite it reads); and in primary_service a write
with such parameters must run on the service (PostgreSQL reads a user type's OID inside a binary
array or composite parameter as the type it expects, so legacy's OIDs there are fine). Everything is dropped at the end. Row
id -960961. Registered into checks.py's list (imported from there)."""

import asyncio
import os
import signal
import time

from checks import check, need, proxy_pid, wi_sql

SVC = "cart"
WID = -960961  # wi_sql: product 4961, a (wishlist, product) pair of its own
TYPES = ("oidck_mood", "_oidck_mood", "oidck_pair", "_oidck_pt")
# what a read of cart's tables returns: served by cart_db, it says so
READ = ("SELECT 'happy'::oidck_mood AS m, ARRAY['happy', 'sad']::oidck_mood[] AS ms,"
        " ROW(1, 'meh', ROW(3, 4))::oidck_pair AS p, ARRAY[ROW(5, 6)]::oidck_pt[] AS pts,"
        " current_database()::text AS db FROM wishlists LIMIT 1")
READ_PARAMS = ("SELECT $1::oidck_mood AS m, $2::oidck_mood[] AS ms, $3::oidck_pair AS p,"
               " $4::oidck_pt[] AS pts, current_database()::text AS db FROM wishlists LIMIT 1")


def _drop(ctx, db):
    c = ctx.direct(db, mirror=True)
    c.execute("DELETE FROM wishlist_items WHERE id = %d" % WID)
    c.execute("DROP TYPE IF EXISTS oidck_box, oidck_pair, oidck_pt, oidck_mood, oidck_pad,"
              " oidck_pad2")


def _oids(ctx, db):
    return dict(ctx.q(db, "SELECT typname, oid::int FROM pg_type WHERE typname = ANY(%s)",
                      (list(TYPES),)))


def _reload(ctx):
    need(ctx.args.proxy_config and ctx.args.proxy_log, "needs --proxy-config and --proxy-log")
    pid = proxy_pid(ctx)
    need(pid, "no pgtandem process runs %s" % ctx.args.proxy_config)

    def loaded():
        with open(ctx.args.proxy_log, errors="replace") as f:
            return f.read().count("SIGHUP: configuration")

    before = loaded()
    os.kill(pid, signal.SIGHUP)
    end = time.monotonic() + 10
    while loaded() == before:
        need(time.monotonic() < end, "the proxy did not log a reload within 10 s")
        time.sleep(0.05)


def _setup(ctx):
    for db in ("legacy", SVC):
        _drop(ctx, db)
    # made on one side only, so the types below get other OIDs there
    ctx.direct(SVC).execute("CREATE TYPE oidck_pad AS ENUM ('x')")
    ctx.direct(SVC).execute("CREATE TYPE oidck_pad2 AS (a int)")
    for db in ("legacy", SVC):
        ctx.direct(db).execute("CREATE TYPE oidck_mood AS ENUM ('happy', 'sad', 'meh')")
        ctx.direct(db).execute("CREATE TYPE oidck_pt AS (x int, y int)")
        ctx.direct(db).execute("CREATE TYPE oidck_pair AS (n int, mood oidck_mood, pt oidck_pt)")
        ctx.direct(db).execute("CREATE TYPE oidck_box AS (a oidck_pt, b oidck_pt)")
    legacy, svc = _oids(ctx, "legacy"), _oids(ctx, SVC)
    need(len(legacy) == len(TYPES) and all(legacy[t] != svc[t] for t in TYPES),
         "setup: wanted different OIDs on each side, legacy %r / %s %r" % (legacy, SVC, svc))
    _reload(ctx)
    return legacy, svc


def _in_types(ctx, fn):
    try:
        return fn(*_setup(ctx))
    finally:
        for db in ("legacy", SVC):
            _drop(ctx, db)


def _asyncpg(ctx, body):
    import asyncpg

    async def go():
        c = await asyncpg.connect(host="127.0.0.1", port=ctx.proxy_port, user="poc_user",
                                  password="admin123", database="poc", timeout=10)
        try:
            return await body(c)
        finally:
            await c.close()

    return asyncio.run(asyncio.wait_for(go(), 20))


@check("reads_service", "primary_service", timeout=40)
def type_oids_row_description(ctx):
    def run(legacy, svc):
        with ctx.proxy() as c:
            cur = c.execute(READ)
            row = cur.fetchone()
            seen = [d.type_code for d in cur.description[:4]]
        need(row[4] == "cart_db", "the read was served by %r, wanted cart_db" % row[4])
        want = [legacy[t] for t in TYPES]
        need(seen == want, "RowDescription type OIDs %r; legacy's (the catalog) are %r, %s's %r"
             % (seen, want, SVC, [svc[t] for t in TYPES]))
        return "enum, enum[], composite, composite[]: legacy's OIDs %r (cart_db has %r)" % (
            want, [svc[t] for t in TYPES])
    return _in_types(ctx, run)


@check("reads_service", "primary_service", timeout=40)
def type_oids_asyncpg_values(ctx):
    async def body(c):
        st = await c.prepare(READ)
        got = [st.get_attributes()[i].type.oid for i in range(4)]
        row = await st.fetchrow()
        prow = await c.fetchrow(READ_PARAMS, "sad", ["meh", "happy"], (2, "sad", (7, 8)),
                                [(9, 10), (11, 12)])
        return got, row, prow

    def run(legacy, svc):
        got, row, prow = _asyncpg(ctx, body)
        want = [legacy[t] for t in TYPES]
        need(got == want, "asyncpg's attribute OIDs %r, legacy's %r" % (got, want))
        need(row["db"] == "cart_db" and prow["db"] == "cart_db",
             "served by %r / %r, wanted cart_db" % (row["db"], prow["db"]))
        def plain(r):
            p = r["p"]
            return (r["m"], list(r["ms"]), (p[0], p[1], tuple(p[2])),
                    [tuple(x) for x in r["pts"]])
        vals = plain(row)
        need(vals == ("happy", ["happy", "sad"], (1, "meh", (3, 4)), [(5, 6)]),
             "fetched %r" % (vals,))
        pvals = plain(prow)
        need(pvals == ("sad", ["meh", "happy"], (2, "sad", (7, 8)), [(9, 10), (11, 12)]),
             "with parameters, fetched %r" % (pvals,))
        return "prepare, fetch and parameters of enum, enum[], composite, composite[] from cart_db"
    return _in_types(ctx, run)


@check("primary_service", timeout=40)
def type_oids_binary_array_write(ctx):
    async def body(c):
        return await c.execute(
            "UPDATE wishlist_items SET priority = cardinality($2::oidck_mood[]) + ($4::oidck_pt[])[2].y"
            " + (($5::oidck_box).b).x, note = ($3::oidck_pair).mood::text WHERE id = $1",
            WID, ["happy", "sad", "meh"], (5, "meh", (1, 2)), [(1, 2), (3, 4)], ((0, 0), (10, 0)))

    def run(legacy, svc):
        with ctx.proxy() as c:
            c.execute(wi_sql(WID, "type oids"))
        tag = _asyncpg(ctx, body)
        need(tag == "UPDATE 1", "tag %r" % tag)
        rows = ctx.same("wishlist_items", "id = %d" % WID, 1)
        need(rows[0][4] == 17 and rows[0][3] == "meh", "row %r, wanted priority 17, note meh"
             % (rows[0],))
        return "enum[], composite, composite[] and composite-of-composites parameters ran on cart_db (primary) and legacy"
    return _in_types(ctx, run)
