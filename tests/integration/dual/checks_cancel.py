"""CancelRequest in routed sessions: a read served by a service database is cancelled there
(group reads_service), and a mirrored write waiting on its secondary is cancelled there
(groups dual, primary_service, two_phase): the client gets 57014 promptly, the write is rolled back on both sides and
the session goes on (item 13 of issue 10). The pid a client is told is its legacy
backend's, in every group (item 14). Ids -940000 and below. Registered into checks.py's
list (imported from there)."""

import threading
import time

from psycopg import errors

from checks import TS, check, err_text, need, poll, row_locked


def item_sql(wid, wishlist, note):
    """A wishlist_items row (no row trigger) in a wishlist of the caller's own, where its
    (wishlist, product) pair meets no other check's rows."""
    return ("INSERT INTO wishlist_items (id, wishlist_id, product_id, note, priority, added_at)"
            " VALUES (%d, %d, %d, '%s', 1, %s)" % (wid, wishlist, 4900 + abs(wid) % 100, note, TS))


def fresh_items(ctx, wishlist, wids, note):
    """Rows wids, identical on legacy and cart_db, written through the proxy."""
    for db in ("legacy", "cart"):
        ctx.direct(db, mirror=True).execute(
            "DELETE FROM wishlist_items WHERE id IN (%s) OR (wishlist_id = %d AND product_id IN (%s))"
            % (", ".join(str(w) for w in wids), wishlist,
               ", ".join(str(4900 + abs(w) % 100) for w in wids)))
    with ctx.proxy() as c:
        for w in wids:
            c.execute(item_sql(w, wishlist, note))
    for w in wids:
        ctx.same("wishlist_items", "id = %d" % w, 1)


class Running:
    """One statement running on its own thread over connection conn."""

    def __init__(self, conn, sql):
        self.conn, self.error, self.result = conn, None, None
        self.t = threading.Thread(target=self._run, args=(sql,), daemon=True)
        self.t.start()

    def _run(self, sql):
        try:
            self.result = self.conn.execute(sql).fetchall()
        except Exception as e:  # reported by the check
            self.error = e

    def wait(self, timeout):
        self.t.join(timeout)
        return not self.t.is_alive()


def cancel_and_wait(conn, run, limit):
    """Cancels conn's statement; returns the seconds until it ended with 57014."""
    t0 = time.monotonic()
    conn.cancel()
    need(run.wait(limit + 5), "the statement still runs %d s after the cancel" % (limit + 5))
    took = time.monotonic() - t0
    need(isinstance(run.error, errors.QueryCanceled),
         "cancelled statement ended with %s, wanted 57014" % err_text(run.error))
    need(took <= limit, "the cancel took %.2f s to take effect (limit %.1f s)" % (took, limit))
    return took


@check("reads_service")
def cancel_read_served_by_service(ctx):
    with ctx.proxy() as c:
        where = c.execute("SELECT current_database() FROM products LIMIT 1").fetchone()[0]
        need(where == "product_db", "reads of products served by %s, wanted product_db" % where)
        run = Running(c, "SELECT pg_sleep(30) FROM products LIMIT 1")
        poll(lambda: ctx.one("product", "SELECT count(*) FROM pg_stat_activity WHERE query ="
                                        " 'SELECT pg_sleep(30) FROM products LIMIT 1'")[0] > 0, 5)
        time.sleep(0.3)
        took = cancel_and_wait(c, run, 3.0)
        left = ctx.one("product", "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                                  " AND query = 'SELECT pg_sleep(30) FROM products LIMIT 1'")[0]
        need(left == 0, "product_db still runs the cancelled pg_sleep")
        need(c.execute("SELECT 3").fetchone() == (3,), "session unusable after the cancel")
        got = c.execute("SELECT count(*), current_database() FROM products").fetchone()
        need(got[1] == "product_db", "a read after the cancel was served by %s" % got[1])
    return "pg_sleep on product_db: 57014 in %.2f s; the session goes on" % took


def _sides(ctx):
    """(primary, secondary) of the cart service in this group."""
    return ("cart", "legacy") if ctx.group == "primary_service" else ("legacy", "cart")


def _cancel_blocked_write(ctx, c, wid):
    """Runs an UPDATE of wishlist_items row wid through c while the secondary's copy of the
    row is locked directly (the primary runs it, the mirrored half waits), cancels it and
    releases the lock. Returns the seconds the cancel took."""
    primary, secondary = _sides(ctx)
    locker = ctx.fresh_direct(secondary)
    try:
        locker.autocommit = False
        locker.execute("SELECT 1 FROM wishlist_items WHERE id = %d FOR UPDATE" % wid)
        run = Running(c, "UPDATE wishlist_items SET note = 'cancelled write' WHERE id = %d" % wid)
        # the primary ran it and holds the row; the secondary waits on the locker
        need(poll(lambda: row_locked(ctx, primary, "wishlist_items", wid), 5),
             "%s (primary) never took the row lock of the mirrored UPDATE" % primary)
        need(poll(lambda: ctx.one(secondary, "SELECT count(*) FROM pg_stat_activity WHERE"
                                             " wait_event_type = 'Lock' AND query LIKE"
                                             " 'UPDATE wishlist_items SET note = ''cancelled write''%%'")[0]
                  > 0, 5), "the mirrored UPDATE never waited on %s" % secondary)
        need(not run.wait(0.2), "the UPDATE ended while its secondary was blocked: %s"
             % err_text(run.error))
        return cancel_and_wait(c, run, 3.0)
    finally:
        locker.rollback()
        locker.close()


@check("dual", "primary_service", "two_phase")
def cancel_mirrored_write_waiting_on_secondary(ctx):
    wid = -940000
    fresh_items(ctx, 1997, [wid, wid - 1], "before")
    with ctx.proxy() as c:
        # an autocommit write (wrapped by pgtandem)
        took = _cancel_blocked_write(ctx, c, wid)
        rows = ctx.same("wishlist_items", "id = %d" % wid, 1)
        need(rows[0][3] == "before", "the cancelled write was kept: %r" % (rows[0],))
        need(not row_locked(ctx, _sides(ctx)[0], "wishlist_items", wid),
             "the primary still holds the row lock of the cancelled write")
        c.execute("UPDATE wishlist_items SET note = 'after' WHERE id = %d" % wid)
        ctx.same("wishlist_items", "id = %d AND note = 'after'" % wid, 1)

        # inside the client's transaction: it is aborted, then works again after ROLLBACK
        c.execute("BEGIN")
        c.execute("UPDATE wishlist_items SET note = 'in tx' WHERE id = %d" % (wid - 1))
        took_tx = _cancel_blocked_write(ctx, c, wid)
        try:
            c.execute("SELECT 1")
            raise AssertionError("unreached")
        except errors.InFailedSqlTransaction:
            pass
        except AssertionError:
            need(False, "the transaction went on after its write was cancelled")
        c.execute("ROLLBACK")
        ctx.same("wishlist_items", "id = %d AND note = 'after'" % wid, 1)
        ctx.same("wishlist_items", "id = %d AND note = 'before'" % (wid - 1), 1)
        c.execute("UPDATE wishlist_items SET note = 'end' WHERE id IN (%d, %d)" % (wid, wid - 1))
        ctx.same("wishlist_items", "id IN (%d, %d) AND note = 'end'" % (wid, wid - 1), 2)
    return ("blocked secondary cancelled: 57014 in %.2f s (autocommit), %.2f s (in a"
            " transaction, then aborted); nothing kept on either side" % (took, took_tx))


@check("dual", "reads_service", "primary_service")
def backend_pid_is_legacy_pid(ctx):
    with ctx.proxy() as a, ctx.proxy() as b:
        got = [(c.info.backend_pid, c.execute("SELECT pg_backend_pid()").fetchone()[0]) for c in (a, b)]
        need(all(told == real for told, real in got), "told pid / pg_backend_pid(): %r" % got)
        pa = got[0][0]
        row = ctx.one("legacy", "SELECT datname FROM pg_stat_activity WHERE pid = %s", (pa,))
        need(row == ("poc",), "pid %d is not a legacy backend: %r" % (pa, row))
        # a service backend joins; the pid stays legacy's, and a cancel still reaches it
        a.execute("SELECT count(*) FROM wishlist_items WHERE id = -1")
        need(a.execute("SELECT pg_backend_pid()").fetchone()[0] == pa, "pid changed")
        run = Running(a, "SELECT pg_sleep(30)")
        time.sleep(0.5)
        took = cancel_and_wait(a, run, 3.0)
    return "told pids are legacy's (%r); a cancel by them works (%.2f s)" % (got, took)
