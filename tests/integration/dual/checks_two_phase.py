"""Two-phase commit (group two_phase: two_phase = on). A deferred constraint trigger, created
directly on one database, refuses a marked row only when its transaction commits (or is
prepared): that is the window two-phase commit closes. Without it the secondary has already
committed when the primary's COMMIT fails; with it neither side keeps the write, over the
simple and the extended protocol, in autocommit and in explicit transactions, and across three
databases. Also: pgtandem resolves prepared transactions left by a crash from the decider's
record when it starts. Registered into checks.py's list (imported from there)."""

import os
import re
import socket
import subprocess
import time

import psycopg

from checks import TS, Skip, check, err_text, log_since, log_size, need, run_sql

MARK = "fail at commit"

TRIGGER_FN = """
CREATE OR REPLACE FUNCTION pgtandem_test_refuse_at_commit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF to_jsonb(NEW)->>'note' = '%s' OR to_jsonb(NEW)->>'order_reference' = '%s' THEN
        RAISE EXCEPTION 'pgtandem test: refused at commit' USING ERRCODE = 'P0001';
    END IF;
    RETURN NULL;
END $$""" % (MARK, MARK)


class RefuseAtCommit:
    """A deferred constraint trigger on `table` in database `db` for the test's duration."""

    def __init__(self, ctx, db, table):
        self.c = ctx.fresh_direct(db)
        self.table = table

    def __enter__(self):
        self.c.execute(TRIGGER_FN)
        self.c.execute("DROP TRIGGER IF EXISTS pgtandem_test_refuse ON %s" % self.table)
        self.c.execute("CREATE CONSTRAINT TRIGGER pgtandem_test_refuse AFTER INSERT OR UPDATE ON %s"
                       " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                       " EXECUTE FUNCTION pgtandem_test_refuse_at_commit()" % self.table)
        return self

    def __exit__(self, *exc):
        self.c.execute("DROP TRIGGER IF EXISTS pgtandem_test_refuse ON %s" % self.table)
        self.c.close()


# Wishlist 1998 is this file's: no other check adds items to it, so (wishlist, product) stays
# unique; the seed gives it no product above 4000.
def wi(wid, note):
    return ("INSERT INTO wishlist_items (id, wishlist_id, product_id, note, priority, added_at)"
            " VALUES (%d, 1998, %d, '%s', 1, %s)" % (wid, 4000 + abs(wid) % 1000, note, TS))


WI_PARAM = ("INSERT INTO wishlist_items (id, wishlist_id, product_id, note, priority, added_at)"
            " VALUES (%s, 1998, %s, %s, 1, " + TS + ")")


def pu(pid, ref):
    return ("INSERT INTO promo_usage (id, promo_code_id, user_id, cart_id, order_reference,"
            " discount_amount, used_at) VALUES (%d, 1, 5, 1, '%s', 1.00, %s)" % (pid, ref, TS))


def count(ctx, db, table, rid):
    return ctx.one(db, "SELECT count(*) FROM %s WHERE id = %d" % (table, rid))[0]


def pgtandem_prepared(ctx):
    left = []
    for db in ("legacy", "auth", "product", "cart", "promotion"):
        left += [(db, r[0]) for r in ctx.q(db, "SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'pgtandem:%%'")]
    return left


# The four ways a write reaches COMMIT: (label, function(conn, id, note) -> error or None)
def _simple_autocommit(c, wid, note):
    return run_sql(c, wi(wid, note))[1]


def _simple_tx(c, wid, note):
    c.execute("BEGIN")
    _, e = run_sql(c, wi(wid, note))
    if e:
        return e
    _, e = run_sql(c, "COMMIT")
    return e


def _extended_autocommit(c, wid, note):
    return run_sql(c, WI_PARAM, (wid, 4000 + abs(wid) % 1000, note))[1]


def _extended_tx(c, wid, note):
    """BEGIN, the INSERT and COMMIT all as extended-protocol messages, one Sync each."""
    try:
        with c.pipeline():
            c.execute("BEGIN")
            c.execute(WI_PARAM, (wid, 4000 + abs(wid) % 1000, note))
            c.execute("COMMIT")
        return None
    except psycopg.Error as e:
        return e


PATHS = [("simple autocommit", _simple_autocommit), ("simple BEGIN..COMMIT", _simple_tx),
         ("extended autocommit", _extended_autocommit), ("extended BEGIN..COMMIT", _extended_tx)]


@check("two_phase", timeout=60)
def two_phase_primary_commit_failure_keeps_neither_side(ctx):
    """The primary (legacy) refuses at COMMIT, after the secondary's part is prepared."""
    offset = log_size(ctx)
    done = []
    with RefuseAtCommit(ctx, "legacy", "wishlist_items"):
        for i, (label, fn) in enumerate(PATHS):
            good, bad = -910010 - i, -910000 - i
            with ctx.proxy() as c:
                e = fn(c, bad, MARK)
                need(e is not None and getattr(e, "sqlstate", None) == "P0001",
                     "%s: the refused commit answered %s, wanted P0001 from legacy's trigger" % (label, err_text(e)))
                need(c.execute("SELECT 1").fetchone() == (1,), "%s: session unusable after the refusal" % label)
            with ctx.proxy() as c:
                e = fn(c, good, "two-phase ok")
                need(e is None, "%s: a plain write failed: %s" % (label, err_text(e)))
            for db in ("legacy", "cart"):
                need(count(ctx, db, "wishlist_items", bad) == 0,
                     "%s: %s kept the write whose commit legacy refused" % (label, db))
            ctx.same("wishlist_items", "id = %d" % good, 1)
            done.append(label)
    need(not pgtandem_prepared(ctx), "prepared transactions left behind: %r" % pgtandem_prepared(ctx))
    log = log_since(ctx, offset)
    need("divergence" not in log, "divergence logged: %s" % log[log.find("divergence"):][:200])
    return "legacy refused at COMMIT via %s: neither side kept the row; plain writes reached both" % ", ".join(done)


@check("dual", timeout=60)
def without_two_phase_the_window_is_open(ctx):
    """The same refusal with two_phase off: the secondary has committed first, so the row
    stays there and pgtandem records the divergence. This is the window two_phase closes;
    the check removes the row afterwards so the sides compare equal."""
    offset = log_size(ctx)
    rid = -910090
    try:
        with RefuseAtCommit(ctx, "legacy", "wishlist_items"):
            with ctx.proxy() as c:
                e = _simple_autocommit(c, rid, MARK)
        need(e is not None and getattr(e, "sqlstate", None) == "P0001", "answered %s" % err_text(e))
        need(count(ctx, "legacy", "wishlist_items", rid) == 0, "legacy kept the refused row")
        need(count(ctx, "cart", "wishlist_items", rid) == 1,
             "cart_db does not hold the row: the window did not show (secondary commits first?)")
        need("primary commit failed after the secondary" in log_since(ctx, offset), "no divergence logged")
    finally:
        ctx.direct("cart").execute("DELETE FROM wishlist_items WHERE id = %d" % rid)
    return "legacy refused at COMMIT after cart_db committed: the row stayed on cart_db, divergence logged"


@check("two_phase", timeout=60)
def two_phase_secondary_prepare_failure(ctx):
    """The secondary (cart_db) refuses at PREPARE: under fail, both sides roll back."""
    offset = log_size(ctx)
    with RefuseAtCommit(ctx, "cart", "wishlist_items"):
        for i, (label, fn) in enumerate(PATHS):
            rid = -910020 - i
            with ctx.proxy() as c:
                e = fn(c, rid, MARK)
                need(e is not None, "%s: the write committed although cart_db refused it" % label)
                need("could not prepare" in str(e), "%s: error %s does not say the service could not"
                     " prepare" % (label, err_text(e)))
                need(c.execute("SELECT 1").fetchone() == (1,), "%s: session unusable" % label)
            for db in ("legacy", "cart"):
                need(count(ctx, db, "wishlist_items", rid) == 0, "%s: %s kept the row" % (label, db))
    need(not pgtandem_prepared(ctx), "prepared transactions left behind: %r" % pgtandem_prepared(ctx))
    n = log_since(ctx, offset).count("secondary prepare failed")
    need(n == len(PATHS), "%d 'secondary prepare failed' divergence lines, wanted %d" % (n, len(PATHS)))
    return "cart_db refused at PREPARE on all four paths: the client got the reason, neither side kept it"


@check("two_phase", timeout=60)
def two_phase_three_databases_all_or_nothing(ctx):
    """A transaction writing cart and promotion tables: promotion_db refuses at PREPARE, so
    legacy, cart_db and promotion_db all keep nothing; without the refusal all three commit."""
    bad, good = -910030, -910031
    with RefuseAtCommit(ctx, "promotion", "promo_usage"):
        with ctx.proxy() as c:
            c.execute("BEGIN")
            c.execute(wi(bad, "three databases"))
            c.execute(pu(bad, MARK))
            _, e = run_sql(c, "COMMIT")
            need(e is not None, "COMMIT succeeded although promotion_db refused")
        with ctx.proxy() as c:
            c.execute("BEGIN")
            c.execute(wi(good, "three databases"))
            c.execute(pu(good, "two-phase ok"))
            c.execute("COMMIT")
    for db, table in (("legacy", "wishlist_items"), ("cart", "wishlist_items"),
                      ("legacy", "promo_usage"), ("promotion", "promo_usage")):
        need(count(ctx, db, table, bad) == 0, "%s.%s kept a row of the refused transaction" % (db, table))
    ctx.same("wishlist_items", "id = %d" % good, 1)
    ctx.same("promo_usage", "id = %d" % good, 1)
    need(not pgtandem_prepared(ctx), "prepared transactions left behind: %r" % pgtandem_prepared(ctx))
    return "refused on promotion_db: nothing on any of the three; the plain one on all three"


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


@check("two_phase", timeout=90)
def two_phase_orphans_resolved_at_start(ctx):
    """Prepared transactions named as pgtandem names them, as a crash between the decision and
    COMMIT PREPARED leaves them: a second pgtandem started on the same config commits the one
    whose decider (legacy) committed and rolls back the one whose decider rolled back."""
    if not ctx.args.proxy_config or not ctx.args.build_dir:
        raise Skip("run.sh did not pass --proxy-config and --build-dir")
    xids = {}
    for outcome in ("COMMIT", "ROLLBACK"):
        c = ctx.fresh_direct("legacy")
        c.execute("BEGIN")
        xids[outcome] = c.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
        c.execute(outcome)
        c.close()
    rows = {"COMMIT": -910040, "ROLLBACK": -910041}
    for outcome, rid in rows.items():
        c = ctx.fresh_direct("cart")
        c.execute("BEGIN")
        c.execute(wi(rid, "orphan"))
        c.execute("PREPARE TRANSACTION 'pgtandem:legacy:%s:cart'" % xids[outcome])
        c.close()
    port = _free_port()
    with open(ctx.args.proxy_config) as f:
        conf = re.sub(r"(?m)^listen = .*$", "listen = 127.0.0.1:%d" % port, f.read())
    conf_path = ctx.args.proxy_config + ".second"
    with open(conf_path, "w") as f:
        f.write(conf)
    log_path = conf_path + ".log"
    try:
        with open(log_path, "w") as log:
            p = subprocess.Popen([os.path.join(ctx.args.build_dir, "pgtandem"), "-c", conf_path],
                                 stdout=log, stderr=subprocess.STDOUT)
        try:
            end = time.monotonic() + 30
            while not _listening(port) and p.poll() is None and time.monotonic() < end:
                time.sleep(0.1)
            need(_listening(port), "the second pgtandem did not start: %s" % open(log_path).read()[-300:])
        finally:
            p.terminate()
            p.wait(15)
        need(count(ctx, "cart", "wishlist_items", rows["COMMIT"]) == 1,
             "the orphan whose decider committed was not committed")
        need(count(ctx, "cart", "wishlist_items", rows["ROLLBACK"]) == 0,
             "the orphan whose decider rolled back was committed")
        left = pgtandem_prepared(ctx)
        need(not left, "still prepared: %r" % left)
        text = open(log_path).read()
        need(text.count("two-phase resolver:") >= 2, "the resolutions were not logged: %s" % text[-300:])
    finally:
        for rid in rows.values():
            ctx.direct("cart").execute("DELETE FROM wishlist_items WHERE id = %d" % rid)
        for db, gid in pgtandem_prepared(ctx):
            ctx.direct(db).execute("ROLLBACK PREPARED '%s'" % gid)
    return "committed the orphan legacy committed, rolled back the other; both logged"
