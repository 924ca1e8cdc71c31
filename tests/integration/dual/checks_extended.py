"""Dual-write checks for the extended query protocol and multi-statement queries on migrated
tables: libpq pipelines, asyncpg, psycopg 3 (auto-prepare, binary, pipeline, executemany),
psql -c with several statements, session state carried to a backend that joins late, and a
secondary killed mid-transaction. Registered into checks.py's list (imported from there);
pgbench runs are in checks_pgbench.py.

Every check here wants the statement to run as plain PostgreSQL runs it, and both sides to
hold identical rows: a refusal ("not supported yet") is a failure.
"""

import asyncio
import os
import subprocess
import uuid

import psycopg

from checks import (TS, Fail, check, err_text, log_size, must_run, need, poll, pu_sql, run_sql,
                    _divergence_lines)

BASES = {"dual": 0, "continue": 1, "reads_service": 2, "primary_service": 3}


def group_id(ctx, first):
    """Ids and keys of one check differ per group: the four groups share the databases."""
    return first - 1000 * BASES[ctx.group]


def sides_of(ctx):
    """(primary, secondary) database names for a service's side in this group."""
    return (("cart", "legacy") if ctx.group == "primary_service" else ("legacy", "cart"))


# ---------------------------------------------------------------------------
# libpq pipelines (pq_dual_pipeline.c)
# ---------------------------------------------------------------------------
def run_prog(ctx, *args, timeout=60):
    prog = os.path.join(ctx.args.build_dir or "", "pq_dual_pipeline")
    need(os.access(prog, os.X_OK), "%s not built" % prog)
    p = subprocess.run([prog] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    out = " | ".join(l.strip() for l in p.stdout.splitlines() if l.strip())
    return p.returncode, out or p.stderr.strip()[-300:]


def proxy_conninfo(ctx):
    return ("host=127.0.0.1 port=%d dbname=poc user=poc_user password=admin123"
            " connect_timeout=10" % ctx.proxy_port)


def _pipeline_one_sync(ctx, expect):
    prim, sec = sides_of(ctx)
    base = group_id(ctx, -911000)
    wishlist = 1990 + BASES[ctx.group]
    if expect == "abort":
        # the same pipeline on legacy alone is PostgreSQL's own answer; the proxy must match it
        rc, out = run_prog(ctx, "one-sync", "abort", ctx.conninfo("legacy"), ctx.conninfo("legacy"),
                           ctx.conninfo("legacy"), wishlist, base)
        need(rc == 0, "reference run on legacy alone: %s" % out)
    off = log_size(ctx)
    try:
        rc, out = run_prog(ctx, "one-sync", expect, proxy_conninfo(ctx), ctx.conninfo(prim),
                           ctx.conninfo(sec), wishlist, base)
    finally:  # the program cleans up when it succeeds; its own conflicting row must go anyway
        for db in (prim, sec):
            ctx.direct(db).execute("DELETE FROM wishlist_items WHERE id BETWEEN %s AND %s", (base - 100, base - 1))
    need(rc == 0, out)
    if expect == "continue":
        lines = _divergence_lines(ctx, off)
        need(lines, "no 'divergence' log line after #50 failed on %s: %s" % (sec, out))
        out += " | log: " + lines[0].strip()[:160]
    return out


@check("dual", "primary_service")
def pipeline_one_sync_secondary_fails(ctx):
    return _pipeline_one_sync(ctx, "abort")


@check("continue")
def pipeline_one_sync_secondary_fails_continue(ctx):
    return _pipeline_one_sync(ctx, "continue")


@check("dual", "primary_service")
def pipeline_sync_each(ctx):
    prim, sec = sides_of(ctx)
    rc, out = run_prog(ctx, "sync-each", proxy_conninfo(ctx), ctx.conninfo(prim), ctx.conninfo(sec),
                       1985 + BASES[ctx.group], group_id(ctx, -912000))
    need(rc == 0, out)
    return out


@check("dual", "reads_service", "primary_service")
def pipeline_read_write_read(ctx):
    img = {"dual": 301, "reads_service": 303, "primary_service": 304}[ctx.group]
    rc, out = run_prog(ctx, "mixed", proxy_conninfo(ctx), ctx.conninfo("legacy"),
                       ctx.conninfo("product"), img, 77)
    need(rc == 0, out)
    return out


# ---------------------------------------------------------------------------
# asyncpg
# ---------------------------------------------------------------------------
def asyncpg_run(ctx, fn, timeout=30, port=None, dbname="poc", user="poc_user", password="admin123"):
    import asyncpg

    async def go():
        c = await asyncpg.connect(host="127.0.0.1", port=port or ctx.proxy_port, user=user,
                                  password=password, database=dbname, timeout=10)
        try:
            return await fn(c)
        finally:
            await c.close()

    try:
        return asyncio.run(asyncio.wait_for(go(), timeout))
    except asyncpg.PostgresError as e:
        raise Fail("asyncpg: %s %s" % (getattr(e, "sqlstate", None), str(e).splitlines()[0]))


def asyncpg_legacy(ctx, fn):
    db, user, pw = "poc", "poc_user", "admin123"
    return asyncpg_run(ctx, fn, port=ctx.ports["legacy"], dbname=db, user=user, password=pw)


WI_INSERT = ("INSERT INTO wishlist_items (id, wishlist_id, product_id, note, priority, added_at)"
             " VALUES ($1, $2, $3, $4, 1, '2025-01-01 00:00:00+00')")


@check("dual", "primary_service")
def asyncpg_prepared_executemany_binary(ctx):
    base = group_id(ctx, -913000)
    wl = 1980 + BASES[ctx.group]
    rows = [(base - i, wl, 4800 + i, "asyncpg many %d" % i) for i in range(1, 31)]

    async def go(c):
        await c.executemany(WI_INSERT, rows)  # Bind/Execute pipelined, one Sync
        st = await c.prepare("SELECT id, wishlist_id, product_id, note, added_at FROM wishlist_items"
                             " WHERE id BETWEEN $1 AND $2 ORDER BY id")
        got = await st.fetch(base - 30, base - 1)  # binary results
        tag = await c.execute("UPDATE wishlist_items SET priority = priority + $1 WHERE id BETWEEN"
                              " $2 AND $3", 2, base - 30, base - 1)
        return [tuple(r) for r in got], tag

    got, tag = asyncpg_run(ctx, go)
    want = ctx.q("legacy", "SELECT id, wishlist_id, product_id, note, added_at FROM wishlist_items"
                 " WHERE id BETWEEN %s AND %s ORDER BY id", (base - 30, base - 1))
    need(len(got) == 30 and got == want, "binary fetch through the proxy gave %d rows, %r..., legacy"
         " has %r..." % (len(got), got[:1], want[:1]))
    need(tag == "UPDATE 30", "UPDATE tag %r" % tag)
    rows = ctx.same("wishlist_items", "id BETWEEN %d AND %d" % (base - 30, base - 1), 30)
    need(all(r[4] == 3 for r in rows), "priority not 3 everywhere: %r" % [r[4] for r in rows][:5])
    return "executemany of 30 INSERTs, prepared binary fetch, UPDATE 30: identical on both sides"


@check("dual", "primary_service")
def asyncpg_transaction_two_services(ctx):
    rid = group_id(ctx, -913100)
    prod = 4900 + 2 * BASES[ctx.group]  # (wishlist, product) is unique: one pair per group

    async def go(c):
        async with c.transaction():
            await c.execute(WI_INSERT, rid, 1979, prod, "asyncpg tx")
            await c.execute("INSERT INTO promo_usage (id, promo_code_id, user_id, cart_id,"
                            " order_reference, discount_amount, used_at) VALUES ($1, 1, 5, 1,"
                            " 'asyncpg-tx', $2, '2025-01-01 00:00:00+00')", rid, 1.25)
        try:
            async with c.transaction():
                await c.execute(WI_INSERT, rid - 1, 1979, prod + 1, "asyncpg rolled back")
                await c.execute("UPDATE promo_usage SET discount_amount = $1 WHERE id = $2", 99, rid)
                raise KeyError("roll back")
        except KeyError:
            pass
        return await c.fetchval("SELECT 1")

    need(asyncpg_run(ctx, go) == 1, "session unusable after the rolled back transaction")
    ctx.same("wishlist_items", "id = %d" % rid, 1)
    ctx.same("wishlist_items", "id = %d" % (rid - 1), 0)
    rows = ctx.same("promo_usage", "id = %d" % rid, 1)
    need(float(rows[0][5]) == 1.25, "promo_usage discount %r, the rolled back UPDATE stuck?" % rows[0][5])
    return "cart + promotion writes committed together, a second transaction rolled back on all sides"


RETURNING_CASES = [
    # serial id, now() defaults, BEFORE UPDATE trigger on the table
    ("carts", "INSERT INTO carts (user_id, status) VALUES ($1, 'active') RETURNING id", (5,)),
    # bigserial id, RETURNING two columns in the client's order
    ("cart_items", "INSERT INTO cart_items (cart_id, product_id, quantity, unit_price) VALUES"
                   " (1, 77, $1, 3.50) RETURNING added_at, id", (2,)),
    # uuid key from gen_random_uuid()
    ("user_sessions", "INSERT INTO user_sessions (user_id, token_hash, expires_at) VALUES ($1, $2,"
                      " '2026-01-01 00:00:00+00') RETURNING id", (5, None)),
]


def _returning_shape(recs):
    return [(list(r.keys()), [type(v).__name__ for v in r.values()]) for r in recs]


@check("dual", "primary_service")
def asyncpg_insert_returning_generated(ctx):
    token = "asyncpg-ret-%s-%s" % (ctx.group, uuid.uuid4().hex[:8])

    def params(p):
        return tuple(token if v is None else v for v in p)

    async def shapes(c, commit):
        out = []
        tr = c.transaction()
        await tr.start()
        for _, sql, p in RETURNING_CASES:
            out.append(await c.fetch(sql, *params(p)))
        await (tr.commit() if commit else tr.rollback())
        return out

    # what plain PostgreSQL gives (rolled back, so legacy is untouched but for its sequences)
    want = [_returning_shape(r) for r in asyncpg_legacy(ctx, lambda c: shapes(c, False))]
    token = token + "-p"
    got = asyncpg_run(ctx, lambda c: shapes(c, True))
    need([_returning_shape(r) for r in got] == want, "RETURNING through the proxy: %r, PostgreSQL"
         " gives %r" % ([_returning_shape(r) for r in got], want))
    keys = []
    for (table, _, _), recs in zip(RETURNING_CASES, got):
        key = recs[0]["id"]
        where = "id = '%s'" % key if isinstance(key, uuid.UUID) else "id = %d" % key
        ctx.same(table, where, 1)
        keys.append("%s %s" % (table, key))
    return "columns and types as PostgreSQL gives them; rows identical: " + ", ".join(keys)


@check("dual", "primary_service")
def asyncpg_update_stamped_now(ctx):
    cid = 40 + BASES[ctx.group]

    async def go(c):
        a = await c.execute("UPDATE carts SET subtotal = $1, updated_at = now() WHERE id = $2", 12.5, cid)
        b = await c.execute("UPDATE product_inventory SET quantity_on_hand = quantity_on_hand + $1"
                            " WHERE id = $2", 1, cid)
        return a, b

    tags = asyncpg_run(ctx, go)
    need(tags == ("UPDATE 1", "UPDATE 1"), "tags %r" % (tags,))
    rows = ctx.same("carts", "id = %d" % cid, 1)
    ctx.same("product_inventory", "id = %d" % cid, 1)
    return "UPDATE ... updated_at = now() and a trigger-stamped UPDATE: rows identical (updated_at %s)" % rows[0][8]


@check("dual")
def asyncpg_prepared_before_backend_joins(ctx):
    """A statement Parsed while only legacy is in the session, executed later: the service
    backend that joins then must be able to run it too."""
    async def go(c):
        st = await c.prepare("UPDATE product_images SET position = position + $1 WHERE id = $2")
        r1 = await st.fetch(1, 305)
        r2 = await st.fetch(1, 305)
        return st.get_statusmsg(), len(r1) + len(r2)

    before = ctx.one("legacy", "SELECT position FROM product_images WHERE id = 305")[0]
    tag, _ = asyncpg_run(ctx, go)
    need(tag == "UPDATE 1", "tag %r" % tag)
    rows = ctx.same("product_images", "id = 305", 1)
    need(rows[0][4] == before + 2, "position %r, wanted %r" % (rows[0][4], before + 2))
    return "statement prepared before product_db joined ran twice; rows identical"


@check("reads_service")
def asyncpg_prepared_read_before_backend_joins(ctx):
    async def go(c):
        st = await c.prepare("SELECT name, current_database() FROM products WHERE id = $1")
        return tuple(await st.fetchrow(9))

    got = asyncpg_run(ctx, go)
    want = (ctx.one("product", "SELECT name FROM products WHERE id = 9")[0], "product_db")
    need(got == want, "prepared read gave %r, wanted %r" % (got, want))
    return "prepared (Parse) before product_db joined, executed there: %r" % (got,)


# ---------------------------------------------------------------------------
# psycopg 3
# ---------------------------------------------------------------------------
@check("dual", "primary_service")
def psycopg_prepare_threshold(ctx):
    img = 306 + BASES[ctx.group]
    before = ctx.one("legacy", "SELECT position FROM product_images WHERE id = %s", (img,))[0]
    with ctx.proxy(auto_prepare=True) as c:
        c.prepare_threshold = 2
        for n in range(1, 6):
            cur, e = run_sql(c, "UPDATE product_images SET position = position + 1 WHERE id = %s", (img,))
            must_run(e, "run %d of an UPDATE prepared from run 3 on" % n)
        cur, e = run_sql(c, "UPDATE product_images SET alt_text = %s WHERE id = %s", ("prepared", img),
                         prepare=True)
        must_run(e, "UPDATE with prepare=True")
    rows = ctx.same("product_images", "id = %d" % img, 1)
    need(rows[0][4] == before + 5 and rows[0][3] == "prepared", "row %r, wanted position %d" % (rows[0], before + 5))
    return "5 runs (prepared after 2) + prepare=True: rows identical"


@check("dual", "primary_service")
def psycopg_binary_pipeline_executemany(ctx):
    base = group_id(ctx, -914000)
    wl = 1970 + BASES[ctx.group]
    with ctx.proxy() as c:
        cur = c.cursor(binary=True)
        try:
            cur.executemany(WI_INSERT.replace("$1", "%s").replace("$2", "%s").replace("$3", "%s")
                            .replace("$4", "%s"), [(base - i, wl, 4800 + i, "psycopg many") for i in range(1, 11)])
            with c.pipeline():
                c.execute("UPDATE wishlist_items SET note = %s WHERE id = %s", ("piped", base - 1))
                c.execute("DELETE FROM wishlist_items WHERE id = %s", (base - 2,))
                c.execute("INSERT INTO promo_usage (id, promo_code_id, user_id, discount_amount, used_at)"
                          " VALUES (%s, 1, 5, %s, " + TS + ")", (base, 0.5))
            got = cur.execute("SELECT id, note, added_at FROM wishlist_items WHERE id BETWEEN %s AND %s"
                              " ORDER BY id", (base - 10, base - 1)).fetchall()
        except psycopg.Error as e:
            raise Fail("%s (wanted it to run as on PostgreSQL)" % err_text(e))
    want = ctx.q("legacy", "SELECT id, note, added_at FROM wishlist_items WHERE id BETWEEN %s AND %s"
                 " ORDER BY id", (base - 10, base - 1))
    need(got == want and len(got) == 9, "binary read gave %r..., legacy %r..." % (got[:2], want[:2]))
    ctx.same("wishlist_items", "id BETWEEN %d AND %d" % (base - 10, base - 1), 9)
    ctx.same("promo_usage", "id = %d" % base, 1)
    return "binary executemany of 10, a pipeline of UPDATE/DELETE/INSERT, binary read: identical"


# ---------------------------------------------------------------------------
# several statements in one simple query (psql -c)
# ---------------------------------------------------------------------------
def psql(ctx, sql, port=None, db="poc", user="poc_user", pw="admin123"):
    p = subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-X", "-h", "127.0.0.1", "-p",
                        str(port or ctx.proxy_port), "-U", user, "-d", db, "-c", sql],
                       capture_output=True, text=True, timeout=30, env=dict(os.environ, PGPASSWORD=pw))
    return p.returncode, (p.stdout + p.stderr).strip().replace("\n", " | ")


@check("dual", "primary_service")
def multistatement_psql_split(ctx):
    rid = group_id(ctx, -915000)
    img = 310 + BASES[ctx.group]
    rc, out = psql(ctx, "INSERT INTO wishlist_items (id, wishlist_id, product_id, note, added_at) VALUES"
                        " (%d, 1969, %d, 'multi', %s); UPDATE product_images SET alt_text = 'multi'"
                        " WHERE id = %d" % (rid, 4801 + BASES[ctx.group], TS, img))
    need(rc == 0, "psql -c with INSERT; UPDATE: exit %d: %s" % (rc, out))
    ctx.same("wishlist_items", "id = %d" % rid, 1)
    rows = ctx.same("product_images", "id = %d" % img, 1)
    need(rows[0][3] == "multi", "alt_text %r" % rows[0][3])
    rc, out = psql(ctx, "BEGIN; UPDATE product_images SET alt_text = 'in block' WHERE id = %d;"
                        " DELETE FROM wishlist_items WHERE id = %d; COMMIT" % (img, rid))
    need(rc == 0, "psql -c with BEGIN; UPDATE; DELETE; COMMIT: exit %d: %s" % (rc, out))
    ctx.same("wishlist_items", "id = %d" % rid, 0)
    rows = ctx.same("product_images", "id = %d" % img, 1)
    need(rows[0][3] == "in block", "alt_text %r" % rows[0][3])
    return "INSERT; UPDATE and BEGIN; UPDATE; DELETE; COMMIT each ran split, rows identical"


@check("dual", "primary_service")
def multistatement_failure_rolls_back_all(ctx):
    """PostgreSQL runs a multi-statement query in one implicit transaction: an error in the
    middle undoes the statements before it and skips the rest."""
    rid = group_id(ctx, -915100)
    img = 315 + BASES[ctx.group]
    bad = ("INSERT INTO wishlist_items (id, wishlist_id, product_id, note, added_at) VALUES"
           " (%d, 1968, 4802, 'multi fail', %s); UPDATE product_images SET position = 1 / 0 WHERE"
           " id = %d; UPDATE promo_usage SET order_reference = 'multi fail' WHERE id = 3" % (rid, TS, img))
    before = (ctx.sides("product_images", "id = %d" % img), ctx.sides("promo_usage", "id = 3"))
    ref_rc, ref_out = psql(ctx, bad, port=ctx.ports["legacy"])
    need(ref_rc != 0 and "division by zero" in ref_out and not ctx.q("legacy", "SELECT 1 FROM wishlist_items"
         " WHERE id = %d" % rid), "reference on legacy: exit %d %s" % (ref_rc, ref_out))
    rc, out = psql(ctx, bad)
    need(rc != 0 and "division by zero" in out, "through the proxy: exit %d: %s; wanted PostgreSQL's"
         " 'division by zero'" % (rc, out))
    ctx.same("wishlist_items", "id = %d" % rid, 0)
    after = (ctx.sides("product_images", "id = %d" % img), ctx.sides("promo_usage", "id = 3"))
    need(after == before, "rows changed by the failed query string")
    rc, out = psql(ctx, "BEGIN; " + bad + "; COMMIT")
    need(rc != 0, "BEGIN; ...; 1/0; ...; COMMIT gave exit 0: %s" % out)
    ctx.same("wishlist_items", "id = %d" % rid, 0)
    need((ctx.sides("product_images", "id = %d" % img), ctx.sides("promo_usage", "id = 3")) == before,
         "rows changed by the failed BEGIN ... COMMIT string")
    return "error '%s', nothing kept on either side (as legacy alone: %s)" % (out[-60:], ref_out[-40:])


# ---------------------------------------------------------------------------
# session state reaching a backend that joins later
# ---------------------------------------------------------------------------
@check("reads_service")
def extended_set_reaches_late_backend(ctx):
    with ctx.proxy() as c:
        _, e = run_sql(c, "SET TimeZone = 'Asia/Kolkata'", prepare=True)  # Parse/Bind/Execute
        must_run(e, "SET through the extended protocol")
        cur, e = run_sql(c, "SELECT current_setting('TimeZone'), current_database() FROM products"
                            " WHERE id = %s", (9,))
        must_run(e, "parameterised read of products after the SET")
        got = cur.fetchone()
    need(got == ("Asia/Kolkata", "product_db"), "product_db, joining after the SET, answered %r" % (got,))
    return "SET sent with Parse/Bind/Execute seen by product_db when it joined"


# ---------------------------------------------------------------------------
# the secondary's connection dies mid-transaction
# ---------------------------------------------------------------------------
def _kill_secondary(ctx, svc):
    """Terminates the proxy's backend on svc that is inside a transaction (the proxied one
    just wrote there); returns how many it ended."""
    me = ctx.fresh_direct(svc)
    try:
        pids = poll(lambda: [r[0] for r in me.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <>"
            " pg_backend_pid() AND state LIKE 'idle in transaction%'").fetchall()], 3.0)
        for p in pids or []:
            me.execute("SELECT pg_terminate_backend(%s, 5000)", (p,))
        return len(pids or [])
    finally:
        me.close()


@check("dual")
def secondary_killed_mid_transaction_fail(ctx):
    rid = -916000
    with ctx.proxy() as c:
        c.execute("BEGIN")
        c.execute(pu_sql(rid))
        need(_kill_secondary(ctx, "promotion") == 1, "no proxy backend in a transaction on promotion_db")
        errs = []
        for sql in (pu_sql(rid - 1), "COMMIT"):
            cur, e = run_sql(c, sql) if not c.broken else (None, "connection closed")
            errs.append(err_text(e) if e is not None and not isinstance(e, str) else (e or cur.statusmessage))
    tags = ("INSERT 0 1", "COMMIT", "ROLLBACK")
    need(any(x not in tags for x in errs), "the transaction ended without an error after its"
         " secondary died: %r" % errs)
    for db in ("legacy", "promotion"):
        got = ctx.q(db, "SELECT id FROM promo_usage WHERE id IN (%d, %d)" % (rid, rid - 1))
        need(not got, "%s kept %r" % (db, got))
    return "transaction ended with %s; nothing kept on either side" % " / ".join(str(x)[:80] for x in errs)


@check("continue")
def secondary_killed_mid_transaction_continue(ctx):
    rid = -916100
    off = log_size(ctx)
    try:
        with ctx.proxy() as c:
            c.execute("BEGIN")
            c.execute(pu_sql(rid))
            need(_kill_secondary(ctx, "promotion") == 1, "no proxy backend in a transaction on promotion_db")
            _, e = run_sql(c, "COMMIT")
            need(e is None, "COMMIT after the secondary died, under continue: %s" % err_text(e))
            need(ctx.q("legacy", "SELECT 1 FROM promo_usage WHERE id = %d" % rid), "legacy did not keep the write")
            lines = _divergence_lines(ctx, off)
            need(lines, "no 'divergence' log line after the secondary died")
            _, e = run_sql(c, pu_sql(rid - 1))
            need(e is None, "the session after the loss: %s" % err_text(e))
            ok = c.execute("SELECT count(*) FROM promo_usage WHERE id = %s" % (rid - 1)).fetchone()
            need(ok == (1,), "later statement saw %r" % (ok,))
        ctx.same("promo_usage", "id = %d" % (rid - 1), 1)
    finally:
        for db in ("legacy", "promotion"):
            ctx.direct(db).execute("DELETE FROM promo_usage WHERE id IN (%d, %d)" % (rid, rid - 1))
    return "primary kept the write, divergence logged (%s), session went on" % lines[0].strip()[:120]


# ---------------------------------------------------------------------------
# the statement registry against PostgreSQL's own rules (raw protocol)
# ---------------------------------------------------------------------------
@check("dual", "primary_service")
def named_statement_not_replaced_by_failed_parse(ctx):
    """A second Parse of an existing name fails on the server; the first statement (a
    trigger-stamped UPDATE, mirrored by row images) must keep its route: Describe says
    NoData, Execute updates both sides, the client sees no RETURNING columns."""
    import struct
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import pgraw
    from pgraw import cstr, msg
    wid = 1995 + BASES[ctx.group]
    name = "carts_%d" % wid
    sync = msg(b"S")

    def parse(n, sql):
        return msg(b"P", cstr(n) + cstr(sql) + struct.pack("!h", 0))

    def types(out):
        return [m[0] for m in out]

    c = pgraw.connect(pgraw.Dsn("postgresql://poc_user:admin123@127.0.0.1:%d/poc" % ctx.proxy_port))
    try:
        c.send(parse(name, "UPDATE carts SET promo_code = $1 WHERE id = %d" % wid) + sync)
        need(types(c.read_until_ready()) == [b"1", b"Z"], "first Parse failed")
        c.send(parse(name, "SELECT 1") + sync)
        need(types(c.read_until_ready()) == [b"E", b"Z"], "second Parse of the same name succeeded")
        status = "NAMED%d" % wid
        body = cstr("") + cstr(name) + struct.pack("!hhi", 0, 1, len(status)) + status.encode()
        c.send(msg(b"B", body + struct.pack("!h", 0)) + msg(b"D", b"P\0") +
               msg(b"E", cstr("") + struct.pack("!i", 0)) + sync)
        got = c.read_until_ready()
        need(types(got) == [b"2", b"n", b"C", b"Z"], "replies %r" % types(got))
        need(got[2][1].startswith(b"UPDATE"), "tag %r" % got[2][1])
    finally:
        c.close()
    for db in ("legacy", "cart"):
        rows = ctx.q(db, "SELECT promo_code FROM carts WHERE id = %d" % wid)
        need(rows == [(status,)], "%s holds %r" % (db, rows))
    return "the first statement kept its route; both sides updated"


@check("dual", "primary_service")
def sql_prepare_execute_mirrored(ctx):
    """EXECUTE of an SQL-level PREPARE runs where its query would: a deterministic INSERT into
    a dual table on both sides (one statement at a time, and inside a multi-statement string);
    one that lets each side generate an id is refused, not run on one side."""
    rid = group_id(ctx, -916000)
    prod = 4901 + 10 * BASES[ctx.group]
    with psycopg.connect(proxy_conninfo(ctx), autocommit=True) as c:
        c.execute("PREPARE wi_exec(int, int) AS INSERT INTO wishlist_items (id, wishlist_id,"
                  " product_id, note, added_at) VALUES ($1, 1969, $2, 'exec', %s)" % TS)
        c.execute("EXECUTE wi_exec(%d, %d)" % (rid, prod))
        _, e = run_sql(c, "PREPARE gen_exec AS INSERT INTO carts (user_id) VALUES (1)")
        need(e is None, "PREPARE of a generating INSERT: %s" % err_text(e))
        _, e = run_sql(c, "EXECUTE gen_exec")
        need(e is not None and "0A000" in err_text(e), "EXECUTE gen_exec: %s" % err_text(e))
    ctx.same("wishlist_items", "id = %d" % rid, 1)
    rc, out = psql(ctx, "PREPARE wi2(int, int) AS INSERT INTO wishlist_items (id, wishlist_id,"
                        " product_id, note, added_at) VALUES ($1, 1969, $2, 'exec2', %s);"
                        " EXECUTE wi2(%d, %d)" % (TS, rid - 1, prod + 1))
    need(rc == 0, "psql -c with PREPARE; EXECUTE: exit %d: %s" % (rc, out))
    ctx.same("wishlist_items", "id = %d" % (rid - 1), 1)
    for db in ("legacy", "cart"):
        ctx.direct(db).execute("DELETE FROM wishlist_items WHERE id IN (%d, %d)" % (rid, rid - 1))
    return "EXECUTE mirrored on both sides; a generating EXECUTE refused with 0A000"


@check("dual", "primary_service")
def idle_sweep_between_statements(ctx):
    """pgtandem frees an idle routed session's request state and its backends' reply
    tracking (the sweep runs every 2 s) and makes them again at the next message: a
    transaction left open across the sweep, a SET made before it and a write mirrored by
    row images after it must all behave as without the sweep."""
    rid = group_id(ctx, -930000)  # -930000 and -933000: no other check uses these
    prod = 4920 + 4 * BASES[ctx.group]  # existing products; (wishlist, product) is unique

    def wi(i, note):
        return ("INSERT INTO wishlist_items (id, wishlist_id, product_id, note, priority, added_at)"
                " VALUES (%d, 1979, %d, '%s', 1, '2025-01-01 00:00:00+00')" % (rid - i, prod + i, note))

    async def go(c):
        # no arguments: asyncpg sends simple Query messages, so no prepared statement
        # keeps the route state alive across the idle time
        await c.execute("SET application_name = 'idle-sweep-check'")
        await c.execute("BEGIN")
        await c.execute(wi(0, "before the sweep"))
        await asyncio.sleep(5)
        await c.execute(wi(1, "after the sweep"))
        await c.execute("COMMIT")
        await asyncio.sleep(5)
        await c.execute("BEGIN")
        await c.execute(wi(2, "rolled back after the sweep"))
        await asyncio.sleep(5)
        await c.execute("ROLLBACK")
        await asyncio.sleep(5)
        cart = await c.fetchval("INSERT INTO carts (user_id, status) VALUES (5, 'active') RETURNING id")
        return cart, await c.fetchval("SELECT current_setting('application_name')")

    cart, app = asyncpg_run(ctx, go, timeout=60)
    need(app == "idle-sweep-check", "SET before the sweep lost: application_name %r" % app)
    ctx.same("wishlist_items", "id IN (%d, %d)" % (rid, rid - 1), 2)
    ctx.same("wishlist_items", "id = %d" % (rid - 2), 0)
    ctx.same("carts", "id = %d" % cart, 1)
    return "open transaction, SET and a row-image INSERT across idle sweeps: identical on both sides"
