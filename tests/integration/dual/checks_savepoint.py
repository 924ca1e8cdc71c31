"""Savepoints after an error (issue 10, item 10, and the follow-up on refused dual writes).
An error inside a savepoint aborts the client's transaction on every backend taking part, as
PostgreSQL's own: every statement but ROLLBACK, COMMIT (which answers ROLLBACK) and ROLLBACK
TO SAVEPOINT gets 25P02, wherever it would be routed. ROLLBACK TO SAVEPOINT goes to every
backend taking part and the transaction goes on; what the transaction keeps is exactly what
was written outside the rolled-back savepoints, on both sides.

Errors covered: a dual write the primary refuses (unique violation), a mirrored write that
fails on the secondary only (a row put there directly: under `fail` the client gets the
error and rolls back to the savepoint; under `continue` it gets none and the write stands on
the primary until the client's own ROLLBACK TO undoes it on both), a read error on legacy or
on a service backend (reads_service, primary_service), nested savepoints, RELEASE (rolling
back to a released savepoint fails as in PostgreSQL), a backend that joined after the
savepoint was taken; most checks run in groups dual, continue, reads_service, primary_service
and two_phase. Clients: psycopg 3 simple queries, psql text, asyncpg nested
`transaction()` (extended protocol), SQLAlchemy `begin_nested()` (psycopg2), psycopg 3
nested `transaction()` with parameters (extended). Ids -960000 and below, one thousand per
group; wishlists 1940-1944 with products 4500-4999. Registered into checks.py's list
(imported from there)."""

import asyncio
import os
import subprocess

import psycopg

from checks import TS, Fail, check, err_text, need, run_sql

INDEX = {"dual": 0, "continue": 1, "reads_service": 2, "primary_service": 3, "two_phase": 4}
PSQL = "/usr/lib/postgresql/15/bin/psql"
MAIN = ("dual", "continue", "primary_service", "reads_service", "two_phase")


def base(ctx, offset):
    return -960000 - 1000 * INDEX[ctx.group] - offset


def wishlist(ctx):
    return 1940 + INDEX[ctx.group]


def wi(ctx, rid, note="sp"):
    """A wishlist_items row with every column given (mirrored as text)."""
    return ("INSERT INTO wishlist_items (id, wishlist_id, product_id, note, priority, added_at)"
            " VALUES (%d, %d, %d, '%s', 1, %s)" % (rid, wishlist(ctx), 4500 + abs(rid) % 500, note, TS))


def pu(rid, note="sp"):
    return ("INSERT INTO promo_usage (id, promo_code_id, user_id, cart_id, order_reference,"
            " discount_amount, used_at) VALUES (%d, 1, 5, 1, '%s', 1.00, %s)" % (rid, note, TS))


def sides(ctx):
    """(primary, secondary) of the cart and promotion services in this group."""
    return ("cart", "legacy") if ctx.group == "primary_service" else ("legacy", "cart")


def read_side(ctx):
    """Where a read of wishlist_items is served in this group."""
    return "legacy" if ctx.group in ("dual", "continue", "two_phase") else "cart"


def cleanup(ctx, lo, hi):
    for db in ("legacy", "cart"):
        ctx.direct(db).execute("DELETE FROM wishlist_items WHERE id BETWEEN %s AND %s", (lo, hi))
    for db in ("legacy", "promotion"):
        ctx.direct(db).execute("DELETE FROM promo_usage WHERE id BETWEEN %s AND %s", (lo, hi))


def kept(ctx, table, lo, hi, want):
    """The ids of table in [lo, hi] must be `want` on both sides (and the rows identical)."""
    rows = ctx.same(table, "id BETWEEN %d AND %d" % (lo, hi))
    got = sorted(r[0] for r in rows)
    need(got == sorted(want), "%s kept ids %r, wanted %r (both sides agree)" % (table, got, sorted(want)))


def plant_on_secondary(ctx, rid, table="wishlist_items"):
    """A row only the secondary holds: mirroring the same id there fails."""
    sec = sides(ctx)[1]
    if table == "promo_usage" and sec == "cart":
        sec = "promotion"
    ctx.direct(sec, mirror=True).execute(wi(ctx, rid, "planted") if table == "wishlist_items"
                                         else pu(rid, "planted"))
    return sec


def unplant(ctx, sec, rid, table="wishlist_items"):
    ctx.direct(sec).execute("DELETE FROM %s WHERE id = %d" % (table, rid))


def is_state(want):
    return bool(want) and len(want) == 5 and " " not in want and any(ch.isdigit() for ch in want)


def run_steps(ctx, steps, conn=None):
    """Runs (sql, expected) on one simple-protocol connection: expected None for success,
    a SQLSTATE for an error, or the command tag wanted. Returns what happened."""
    seen = []
    with conn or ctx.proxy() as c:
        for sql, want in steps:
            try:
                cur = c.execute(sql)
                got = cur.statusmessage if want and not is_state(want) else None
            except psycopg.Error as e:
                got = e.sqlstate
            seen.append(got)
            need(got == want, "%r: wanted %s, got %s (so far %r)" % (sql, want or "success", got, seen))
        need(c.execute("SELECT 1").fetchone() == (1,), "session unusable afterwards")
    return seen


def fail_policy(ctx):
    return ctx.group != "continue"


# ---------------------------------------------------------------------------
# simple protocol (psycopg 3 without parameters)
# ---------------------------------------------------------------------------
@check(*MAIN)
def savepoint_primary_refuses_write(ctx):
    b = base(ctx, 0)
    cleanup(ctx, b - 9, b)
    try:
        run_steps(ctx, [("BEGIN", None), (wi(ctx, b), None), ("SAVEPOINT s1", None),
                        (wi(ctx, b - 1), None), (wi(ctx, b), "23505"), ("SELECT 1", "25P02"),
                        (pu(b), "25P02"), ("ROLLBACK TO SAVEPOINT s1", None), (wi(ctx, b - 2), None),
                        (pu(b - 2), None), ("COMMIT", "COMMIT")])
        kept(ctx, "wishlist_items", b - 9, b, [b, b - 2])
        kept(ctx, "promo_usage", b - 9, b, [b - 2])
    finally:
        cleanup(ctx, b - 9, b)
    return "23505 on the primary, 25P02, ROLLBACK TO, the transaction went on; kept A and C"


@check(*MAIN)
def savepoint_secondary_fails_write(ctx):
    b = base(ctx, 10)
    cleanup(ctx, b - 9, b)
    sec = plant_on_secondary(ctx, b - 1)
    try:
        if fail_policy(ctx):
            steps = [("BEGIN", None), (wi(ctx, b), None), ("SAVEPOINT s1", None),
                     (wi(ctx, b - 1), "23505"), ("SELECT 1", "25P02"),
                     ("ROLLBACK TO SAVEPOINT s1", None), (wi(ctx, b - 2), None), ("COMMIT", "COMMIT")]
        else:  # continue: the write stands on the primary, the client rolls it back itself
            steps = [("BEGIN", None), (wi(ctx, b), None), ("SAVEPOINT s1", None),
                     (wi(ctx, b - 1), None), ("ROLLBACK TO SAVEPOINT s1", None),
                     (wi(ctx, b - 2), None), ("COMMIT", "COMMIT")]
        run_steps(ctx, steps)
        unplant(ctx, sec, b - 1)
        kept(ctx, "wishlist_items", b - 9, b, [b, b - 2])
    finally:
        unplant(ctx, sec, b - 1)
        cleanup(ctx, b - 9, b)
    return ("the secondary's 23505 reached the client; ROLLBACK TO, then on" if fail_policy(ctx)
            else "no error under continue; ROLLBACK TO undid the write on both sides")


@check("dual", "continue", "reads_service", "primary_service")
def savepoint_read_error(ctx):
    """A read error on the backend serving reads (legacy, or cart under reads=service), then
    a write elsewhere must get 25P02; ROLLBACK TO brings every backend back."""
    b = base(ctx, 20)
    cleanup(ctx, b - 9, b)
    try:
        run_steps(ctx, [("BEGIN", None), (wi(ctx, b), None), (pu(b), None), ("SAVEPOINT s1", None),
                        (wi(ctx, b - 1), None),
                        ("SELECT 1 / (count(*) - count(*)) FROM wishlist_items", "22012"),
                        (pu(b - 1), "25P02"), ("SELECT 1", "25P02"),
                        ("SELECT count(*) FROM wishlist_items", "25P02"),
                        ("ROLLBACK TO SAVEPOINT s1", None),
                        ("SELECT count(*) FROM wishlist_items WHERE id = %d" % b, "SELECT 1"),
                        (wi(ctx, b - 2), None), ("COMMIT", "COMMIT")])
        kept(ctx, "wishlist_items", b - 9, b, [b, b - 2])
        kept(ctx, "promo_usage", b - 9, b, [b])
    finally:
        cleanup(ctx, b - 9, b)
    return "22012 served by %s, then 25P02 everywhere, ROLLBACK TO and on" % read_side(ctx)


@check(*MAIN)
def savepoint_nested_and_release(ctx):
    b = base(ctx, 30)
    cleanup(ctx, b - 9, b)
    try:
        run_steps(ctx, [("BEGIN", None), (wi(ctx, b), None), ("SAVEPOINT s1", None),
                        (wi(ctx, b - 1), None), ("SAVEPOINT s2", None), (pu(b - 2), None),
                        (wi(ctx, b - 1), "23505"), ("RELEASE SAVEPOINT s2", "25P02"),
                        ("ROLLBACK TO SAVEPOINT s2", None), (pu(b - 3), None),
                        ("RELEASE SAVEPOINT s2", None), ("SAVEPOINT s3", None), (wi(ctx, b - 4), None),
                        ("RELEASE SAVEPOINT s3", None), (wi(ctx, b), "23505"),
                        ("ROLLBACK TO SAVEPOINT s3", "3B001"), ("ROLLBACK TO SAVEPOINT s1", None),
                        (wi(ctx, b - 5), None), ("COMMIT", "COMMIT")])
        kept(ctx, "wishlist_items", b - 9, b, [b, b - 5])
        kept(ctx, "promo_usage", b - 9, b, [])
    finally:
        cleanup(ctx, b - 9, b)
    return "errors under s2 and s3, RELEASE refused while aborted, s3 gone after RELEASE (3B001), back to s1"


@check(*MAIN)
def savepoint_backend_joins_after_savepoint(ctx):
    """promotion's backend joins after SAVEPOINT s1 (it replays BEGIN and the savepoint); its
    write fails, and ROLLBACK TO s1 must bring it back too."""
    b = base(ctx, 40)
    cleanup(ctx, b - 9, b)
    sec = plant_on_secondary(ctx, b - 1, "promo_usage") if fail_policy(ctx) else None
    try:
        steps = [("BEGIN", None), (wi(ctx, b), None), ("SAVEPOINT s1", None), (wi(ctx, b - 1), None)]
        if fail_policy(ctx):  # promotion joins with a write that fails on its secondary
            steps += [(pu(b - 1), "23505"), ("SELECT 1", "25P02")]
        else:  # promotion joins with a write the primary refuses
            steps += [(pu(b - 1), None), (pu(b - 1), "23505"), ("SELECT 1", "25P02")]
        steps += [("ROLLBACK TO SAVEPOINT s1", None), (pu(b - 2), None), (wi(ctx, b - 2), None),
                  ("COMMIT", "COMMIT")]
        run_steps(ctx, steps)
        if sec:
            unplant(ctx, sec, b - 1, "promo_usage")
        kept(ctx, "wishlist_items", b - 9, b, [b, b - 2])
        kept(ctx, "promo_usage", b - 9, b, [b - 2])
    finally:
        if sec:
            unplant(ctx, sec, b - 1, "promo_usage")
        cleanup(ctx, b - 9, b)
    return "a backend joined after the savepoint, failed, and came back to it with the others"


@check("reads_service", "dual", "primary_service")
def refused_dual_write_aborts_other_backends(ctx):
    """The follow-up: the primary refuses a dual write in a transaction; a statement routed
    to another backend (a read of cart served by cart_db under reads=service, a write to
    promotion) must get 25P02, and ROLLBACK leaves nothing anywhere."""
    b = base(ctx, 50)
    cleanup(ctx, b - 9, b)
    try:
        run_steps(ctx, [("BEGIN", None), (wi(ctx, b), None), (pu(b), None), (wi(ctx, b), "23505"),
                        ("SELECT count(*) FROM wishlist_items", "25P02"),
                        ("SELECT count(*) FROM promo_usage", "25P02"), (pu(b - 1), "25P02"),
                        ("ROLLBACK", "ROLLBACK")])
        kept(ctx, "wishlist_items", b - 9, b, [])
        kept(ctx, "promo_usage", b - 9, b, [])
    finally:
        cleanup(ctx, b - 9, b)
    return "23505, then 25P02 on every backend, ROLLBACK: nothing kept"


# ---------------------------------------------------------------------------
# psql
# ---------------------------------------------------------------------------
@check(*MAIN)
def savepoint_psql_text(ctx):
    b = base(ctx, 60)
    cleanup(ctx, b - 9, b)
    sec = plant_on_secondary(ctx, b - 3)
    script = "\n".join([
        "\\set VERBOSITY sqlstate", "BEGIN;", wi(ctx, b) + ";", "SAVEPOINT a;", wi(ctx, b - 1) + ";",
        wi(ctx, b) + ";", "SELECT 1;", "ROLLBACK TO SAVEPOINT a;", pu(b - 2) + ";",
        "SAVEPOINT b;", wi(ctx, b - 3) + ";", "ROLLBACK TO SAVEPOINT b;", wi(ctx, b - 4) + ";",
        "COMMIT;", ""])
    try:
        p = subprocess.run([PSQL, "-X", "-h", "127.0.0.1", "-p", str(ctx.proxy_port), "-U", "poc_user",
                            "-d", "poc", "-v", "ON_ERROR_STOP=0"], input=script, capture_output=True,
                           text=True, timeout=30, env=dict(os.environ, PGPASSWORD="admin123"))
        errs = [l.strip() for l in p.stderr.splitlines() if l.strip()]
        want = ["ERROR:  23505", "ERROR:  25P02"] + (["ERROR:  23505"] if fail_policy(ctx) else [])
        need(errs == want, "psql errors %r, wanted %r" % (errs, want))
        tags = [l.strip() for l in p.stdout.splitlines() if l.strip()]
        need(tags and tags[-1] == "COMMIT", "psql output ends with %r" % tags[-3:])
        unplant(ctx, sec, b - 3)
        kept(ctx, "wishlist_items", b - 9, b, [b, b - 4])
        kept(ctx, "promo_usage", b - 9, b, [b - 2])
    finally:
        unplant(ctx, sec, b - 3)
        cleanup(ctx, b - 9, b)
    return "psql: errors %s; COMMIT kept A, C and D" % " ".join(e.split()[-1] for e in errs)


# ---------------------------------------------------------------------------
# asyncpg (extended protocol)
# ---------------------------------------------------------------------------
WI_P = ("INSERT INTO wishlist_items (id, wishlist_id, product_id, note, priority, added_at)"
        " VALUES ($1, $2, $3, $4, 1, '2025-01-01 00:00:00+00')")
WI_GEN = "INSERT INTO wishlist_items (wishlist_id, product_id, note) VALUES ($1, $2, $3) RETURNING id"
PU_P = ("INSERT INTO promo_usage (id, promo_code_id, user_id, cart_id, order_reference,"
        " discount_amount, used_at) VALUES ($1, 1, 5, 1, 'sp', 1.00, '2025-01-01 00:00:00+00')")


def asyncpg_go(ctx, fn, timeout=30):
    import asyncpg

    async def go():
        c = await asyncpg.connect(host="127.0.0.1", port=ctx.proxy_port, user="poc_user",
                                  password="admin123", database="poc", timeout=10)
        try:
            return await fn(c, asyncpg)
        finally:
            c.terminate()
    return asyncio.run(asyncio.wait_for(go(), timeout))


@check(*MAIN, "reads_service")
def savepoint_asyncpg_nested(ctx):
    b, wl = base(ctx, 70), wishlist(ctx)
    note = "sp asyncpg %s" % ctx.group
    cleanup(ctx, b - 9, b)
    sec = plant_on_secondary(ctx, b - 3)
    outcome = []

    async def go(c, asyncpg):
        async with c.transaction():
            await c.execute(WI_P, b, wl, 4500 + abs(b) % 500, note)
            gen_kept = await c.fetchval(WI_GEN, wl, 4990, note + " gen")
            try:  # the primary refuses
                async with c.transaction():
                    await c.execute(WI_P, b - 1, wl, 4500 + abs(b - 1) % 500, note)
                    await c.fetchval(WI_GEN, wl, 4991, note + " gen")
                    await c.execute(WI_P, b, wl, 4989, note)
                outcome.append("no error")
            except asyncpg.UniqueViolationError:
                outcome.append("23505")
            try:  # a read error, on the backend serving reads
                async with c.transaction():
                    await c.execute(PU_P, b - 2)
                    await c.fetchval("SELECT 1 / (count(*) - count(*)) FROM wishlist_items WHERE id < $1", 0)
                outcome.append("no error")
            except asyncpg.DivisionByZeroError:
                outcome.append("22012")
            try:  # the secondary only (fail: an error; continue: none, the write stands)
                async with c.transaction():
                    await c.execute(WI_P, b - 3, wl, 4500 + abs(b - 3) % 500, note)
                    async with c.transaction():  # nested twice
                        await c.execute(PU_P, b - 4)
                    raise KeyError("roll back the savepoint")
            except asyncpg.UniqueViolationError:
                outcome.append("23505")
            except KeyError:
                outcome.append("rolled back")
            await c.execute(WI_P, b - 5, wl, 4500 + abs(b - 5) % 500, note)
            await c.execute(PU_P, b - 5)
        outcome.append(await c.fetchval("SELECT count(*) FROM wishlist_items WHERE note LIKE $1",
                                        note + "%"))
        return gen_kept

    try:
        gen_kept = asyncpg_go(ctx, go)
        want = ["23505", "22012", "23505" if fail_policy(ctx) else "rolled back", 3]
        need(outcome == want, "outcome %r, wanted %r" % (outcome, want))
        unplant(ctx, sec, b - 3)
        kept(ctx, "wishlist_items", b - 9, b, [b, b - 5])
        kept(ctx, "promo_usage", b - 9, b, [b - 5])
        rows = ctx.same("wishlist_items", "note LIKE '%s%%'" % note)
        need(sorted(r[0] for r in rows) == sorted([b, b - 5, gen_kept]),
             "rows of the transaction: %r" % [r[0] for r in rows])
    finally:
        unplant(ctx, sec, b - 3)
        cleanup(ctx, b - 9, b)
        for db in ("legacy", "cart"):
            ctx.direct(db).execute("DELETE FROM wishlist_items WHERE note LIKE %s", (note + "%",))
    return "nested transaction() blocks: %s; kept exactly the rows outside them" % outcome


# ---------------------------------------------------------------------------
# SQLAlchemy begin_nested() with psycopg2
# ---------------------------------------------------------------------------
@check(*MAIN)
def savepoint_sqlalchemy_begin_nested(ctx):
    b = base(ctx, 80)
    cleanup(ctx, b - 9, b)
    sec = plant_on_secondary(ctx, b - 2)
    code = r'''
import sys
import sqlalchemy as sa
from sqlalchemy import exc, text
from sqlalchemy.orm import Session
b, wl, fail = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "fail"
eng = sa.create_engine("postgresql+psycopg2://poc_user:admin123@127.0.0.1:%s/poc" % sys.argv[1])
ins = text("INSERT INTO wishlist_items (id, wishlist_id, product_id, note, priority, added_at)"
           " VALUES (:id, :wl, :p, 'sp sqlalchemy', 1, '2025-01-01 00:00:00+00')")
row = lambda i: {"id": i, "wl": wl, "p": 4500 + abs(i) % 500}
out = []
with Session(eng) as s:
    with s.begin():
        s.execute(ins, row(b))
        try:
            with s.begin_nested():
                s.execute(ins, row(b - 1))
                s.execute(ins, row(b))  # the primary refuses
        except exc.IntegrityError as e:
            out.append(e.orig.pgcode)
        try:
            with s.begin_nested():
                s.execute(ins, row(b - 2))  # the secondary holds it
            out.append("ok")
        except exc.IntegrityError as e:
            out.append(e.orig.pgcode)
        if not fail:  # continue: the write stood; the application undoes it itself
            s.execute(text("DELETE FROM wishlist_items WHERE id = :i"), {"i": b - 2})
        with s.begin_nested():
            s.execute(ins, row(b - 3))
        out.append(s.execute(text("SELECT count(*) FROM wishlist_items WHERE id BETWEEN :lo AND :hi"
                                  " AND note = 'sp sqlalchemy'"),
                             {"lo": b - 9, "hi": b}).scalar())
print(" ".join(str(x) for x in out))
'''
    try:
        p = subprocess.run(["/usr/bin/python3", "-c", code, str(ctx.proxy_port), str(b),
                            str(wishlist(ctx)), "fail" if fail_policy(ctx) else "continue"],
                           capture_output=True, text=True, timeout=30)
        need(p.returncode == 0, "SQLAlchemy: %s" % p.stderr.strip()[-400:])
        want = "23505 %s 2" % ("23505" if fail_policy(ctx) else "ok")
        need(p.stdout.strip() == want, "SQLAlchemy saw %r, wanted %r" % (p.stdout.strip(), want))
        unplant(ctx, sec, b - 2)
        kept(ctx, "wishlist_items", b - 9, b, [b, b - 3])
    finally:
        unplant(ctx, sec, b - 2)
        cleanup(ctx, b - 9, b)
    return "begin_nested(): %s; kept the rows outside the failed savepoints" % p.stdout.strip()


# ---------------------------------------------------------------------------
# psycopg 3 nested transaction() with parameters (extended protocol)
# ---------------------------------------------------------------------------
@check(*MAIN, "reads_service")
def savepoint_psycopg_nested_extended(ctx):
    b, wl = base(ctx, 90), wishlist(ctx)
    cleanup(ctx, b - 9, b)
    sec = plant_on_secondary(ctx, b - 2)
    ins = ("INSERT INTO wishlist_items (id, wishlist_id, product_id, note, priority, added_at)"
           " VALUES (%s, %s, %s, 'sp psycopg', 1, '2025-01-01 00:00:00+00')")
    outcome = []

    def prod(rid):
        return 4500 + abs(rid) % 500
    try:
        with psycopg.connect(host="127.0.0.1", port=ctx.proxy_port, dbname="poc", user="poc_user",
                             password="admin123", connect_timeout=10) as c:
            with c.transaction():
                c.execute(ins, (b, wl, prod(b)))
                try:
                    with c.transaction():
                        c.execute(ins, (b - 1, wl, prod(b - 1)))
                        c.execute(ins, (b, wl, 4988))  # the primary refuses
                    outcome.append("ok")
                except psycopg.errors.UniqueViolation:
                    outcome.append("23505")
                try:
                    with c.transaction():
                        c.execute(ins, (b - 2, wl, prod(b - 2)))  # the secondary holds it
                    outcome.append("ok")
                except psycopg.errors.UniqueViolation:
                    outcome.append("23505")
                if not fail_policy(ctx):  # continue: the write stood; undo it
                    c.execute("DELETE FROM wishlist_items WHERE id = %s", (b - 2,))
                try:
                    with c.transaction():
                        c.execute(ins, (b - 3, wl, prod(b - 3)))
                        c.execute("SELECT 1 / (count(*) - count(*)) FROM wishlist_items WHERE id < %s", (0,))
                    outcome.append("ok")
                except psycopg.errors.DivisionByZero:
                    outcome.append("22012")
                c.execute(ins, (b - 4, wl, prod(b - 4)))
        want = ["23505", "23505" if fail_policy(ctx) else "ok", "22012"]
        need(outcome == want, "outcome %r, wanted %r" % (outcome, want))
        unplant(ctx, sec, b - 2)
        kept(ctx, "wishlist_items", b - 9, b, [b, b - 4])
    except psycopg.Error as e:
        raise Fail("psycopg: %s (outcome so far %r)" % (err_text(e), outcome))
    finally:
        unplant(ctx, sec, b - 2)
        cleanup(ctx, b - 9, b)
    return "nested conn.transaction(): %s; kept the rows outside them" % outcome


@check(*MAIN)
def savepoint_after_extended_begin(ctx):
    """BEGIN over the extended protocol while legacy is the only backend takes the fast path
    (pgtandem does not see it); a savepoint taken then, and a backend joining after it, must
    still replay the transaction's BEGIN first: the joining backend's write must stay inside
    the transaction, and ROLLBACK must leave nothing on either side."""
    b = base(ctx, 100)
    cleanup(ctx, b - 9, b)
    try:
        with ctx.proxy() as c:
            c.cursor(binary=True).execute("BEGIN")  # binary results: the extended protocol
            c.execute("SAVEPOINT s1")
            c.execute(wi(ctx, b))  # cart joins here
            c.execute("ROLLBACK TO SAVEPOINT s1")
            c.execute(wi(ctx, b - 1))
            c.execute(pu(b - 1))  # promotion joins here
            tag = c.execute("ROLLBACK").statusmessage
        need(tag == "ROLLBACK", "ROLLBACK answered %r" % tag)
        kept(ctx, "wishlist_items", b - 9, b, [])
        kept(ctx, "promo_usage", b - 9, b, [])
    finally:
        cleanup(ctx, b - 9, b)
    return "backends that joined after an unseen BEGIN and a savepoint rolled back with it"


@check("dual")
def savepoint_lost_secondary_no_way_back(ctx):
    """Under fail, a secondary whose connection dies inside the transaction takes its part of
    the transaction, savepoints included, with it: ROLLBACK TO SAVEPOINT can't bring it back,
    so it gets 25P02 saying why, and ROLLBACK ends the transaction everywhere."""
    from checks_extended import _kill_secondary
    b = base(ctx, 110)
    cleanup(ctx, b - 9, b)
    try:
        with ctx.proxy() as c:
            c.execute("BEGIN")
            c.execute(pu(b))
            c.execute("SAVEPOINT s1")
            c.execute(pu(b - 1))
            need(_kill_secondary(ctx, "promotion") == 1, "no proxy backend in a transaction on promotion_db")
            _, e = run_sql(c, pu(b - 2))
            need(e is not None, "a write to the lost service went through")
            _, e = run_sql(c, "ROLLBACK TO SAVEPOINT s1")
            need(e is not None and e.sqlstate == "25P02" and "lost the connection" in str(e),
                 "ROLLBACK TO after the loss: %s" % err_text(e))
            tag = c.execute("ROLLBACK").statusmessage
            need(tag == "ROLLBACK", "ROLLBACK answered %r" % tag)
            need(c.execute("SELECT 1").fetchone() == (1,), "session unusable afterwards")
        kept(ctx, "promo_usage", b - 9, b, [])
    finally:
        cleanup(ctx, b - 9, b)
    return "ROLLBACK TO refused with the reason after the loss; ROLLBACK; nothing kept"
