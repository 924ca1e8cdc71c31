"""Every wait on a secondary is bounded: the cart database process serving one session is
stopped (SIGSTOP) while that session writes carts. With mirror_timeout = 2 (set for the check
by editing the config and SIGHUP) the client has its answer within mirror_timeout, the cancel
grace (2 s) and a margin: under fail an error, under continue success and a divergence line.
Other sessions go on meanwhile, over the simple and the extended protocol. And a row locked
on the cart database by someone else: the mirrored write's lock wait there ends at
mirror_timeout (lock_timeout, or the cancel). Rows: carts 3990 (dual) and 3991 (continue),
made equal on both sides afterwards. Registered into checks.py's list (imported from there)."""

import os
import random
import re
import signal
import threading
import time

import psycopg

from checks import check, err_text, log_size, log_since, need, poll, proxy_pid

ROW = {"dual": 3990, "continue": 3991}
MIRROR_TIMEOUT = 2
GRACE = 2  # mirror_deadline.c MIRROR_CANCEL_GRACE


def set_mirror_timeout(ctx, seconds):
    """Writes mirror_timeout into the proxy's config (None: removes it) and reloads."""
    path = ctx.args.proxy_config
    with open(path) as f:
        text = re.sub(r"(?m)^mirror_timeout = .*\n", "", f.read())
    if seconds is not None:
        text = text.replace("[pgtandem]\n", "[pgtandem]\nmirror_timeout = %s\n" % seconds, 1)
    off = log_size(ctx)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)
    os.kill(proxy_pid(ctx), signal.SIGHUP)
    need(poll(lambda: "configuration %s loaded" % path in log_since(ctx, off), 10.0),
         "the proxy did not reload %s" % path)


def connect_named(ctx, name):
    return psycopg.connect(host="127.0.0.1", port=ctx.proxy_port, dbname="poc", user="poc_user",
                           password="admin123", connect_timeout=10, autocommit=True,
                           application_name=name)


def stopped_write(ctx, c, name, row, params):
    """Stops the session's cart backend, writes, and returns (seconds, outcome)."""
    c.execute("UPDATE carts SET subtotal = subtotal WHERE id = %d" % row)  # cart joins
    found = ctx.q("cart", "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,))
    need(len(found) == 1, "the session's cart backend: %s" % found)
    pid = found[0][0]
    off = log_size(ctx)
    out = {}
    th = None
    os.kill(pid, signal.SIGSTOP)
    try:
        def write():
            t0 = time.time()
            try:
                if params:  # the extended protocol
                    c.execute("UPDATE carts SET subtotal = subtotal WHERE id = %s", (row,))
                else:
                    c.execute("UPDATE carts SET subtotal = subtotal WHERE id = %d" % row)
                out["ok"] = True
            except psycopg.Error as e:
                out["error"] = e
            out["seconds"] = time.time() - t0
        th = threading.Thread(target=write, daemon=True)
        th.start()
        bound = MIRROR_TIMEOUT + GRACE + 4
        th.join(bound)
        what = "extended" if params else "simple"
        need(not th.is_alive(), "%s: no answer %d s after a mirrored write to a stopped secondary"
             " (mirror_timeout %d s)" % (what, bound, MIRROR_TIMEOUT))
        with ctx.proxy() as other:  # the proxy serves the others meanwhile
            other.execute("UPDATE carts SET subtotal = subtotal WHERE id = %d" % (row + 5))
        if ctx.group == "continue":
            need(out.get("ok"), "%s, continue: the write failed: %s" % (what, err_text(out.get("error"))))
            lines = poll(lambda: [l for l in log_since(ctx, off).splitlines()
                                  if "divergence" in l.lower()], 3.0)
            need(lines, "%s, continue: no divergence line" % what)
            return "%s %.1f s: success and a divergence line" % (what, out["seconds"])
        e = out.get("error")
        need(e is not None, "%s, fail: the write succeeded" % what)
        need("mirror_timeout" in str(e), "%s, fail: the error does not name mirror_timeout: %s"
             % (what, err_text(e)))
        return "%s %.1f s: %s" % (what, out["seconds"], err_text(e)[:120])
    finally:
        os.kill(pid, signal.SIGCONT)
        if th is not None:
            th.join(30)


@check("dual", "continue", timeout=90)
def mirror_timeout_stopped_secondary(ctx):
    row = ROW[ctx.group]
    name = "pgt-mirror-timeout-%d" % random.randrange(10**6)
    set_mirror_timeout(ctx, MIRROR_TIMEOUT)
    c = connect_named(ctx, name)
    try:
        said = [stopped_write(ctx, c, name, row, params) for params in (False, True)]
    finally:
        set_mirror_timeout(ctx, None)
    # the session goes on, on a new cart connection
    c.execute("UPDATE carts SET subtotal = subtotal WHERE id = %d" % row)
    c.close()
    # continue left legacy's updated_at ahead of the service's: make them equal again
    lrow = ctx.one("legacy", "SELECT subtotal, updated_at FROM carts WHERE id = %s", (row,))
    ctx.direct("cart", mirror=True).execute(
        "UPDATE carts SET subtotal = %s, updated_at = %s WHERE id = %s", (lrow[0], lrow[1], row))
    ctx.same("carts", "id IN (%d, %d)" % (row, row + 5))
    return "; ".join(said)


@check("dual", "continue", timeout=60)
def mirror_timeout_locked_secondary(ctx):
    row = ROW[ctx.group]
    set_mirror_timeout(ctx, MIRROR_TIMEOUT)
    locker = ctx.fresh_direct("cart", mirror=True)
    try:
        with ctx.proxy() as c:
            c.execute("UPDATE carts SET subtotal = subtotal WHERE id = %d" % row)  # cart joins
            locker.execute("BEGIN")
            locker.execute("SELECT 1 FROM carts WHERE id = %s FOR UPDATE", (row,))
            off = log_size(ctx)
            t0 = time.time()
            try:
                c.execute("UPDATE carts SET subtotal = subtotal WHERE id = %d" % row)
                err = None
            except psycopg.Error as e:
                err = e
            took = time.time() - t0
            locker.execute("ROLLBACK")
            need(took < MIRROR_TIMEOUT + 3, "the answer took %.1f s (mirror_timeout %d s)"
                 % (took, MIRROR_TIMEOUT))
            if ctx.group == "continue":
                need(err is None, "continue: the write failed: %s" % err_text(err))
                need(poll(lambda: "divergence" in log_since(ctx, off).lower(), 3.0),
                     "continue: no divergence line")
                what = "success and a divergence line"
            else:
                need(err is not None, "fail: the write succeeded")
                what = err_text(err)[:160]
            c.execute("UPDATE carts SET subtotal = subtotal WHERE id = %d" % row)
    finally:
        locker.close()
        set_mirror_timeout(ctx, None)
    lrow = ctx.one("legacy", "SELECT subtotal, updated_at FROM carts WHERE id = %s", (row,))
    ctx.direct("cart", mirror=True).execute(
        "UPDATE carts SET subtotal = %s, updated_at = %s WHERE id = %s", (lrow[0], lrow[1], row))
    ctx.same("carts", "id = %d" % row)
    return "answered after %.1f s: %s" % (took, what)


SLOW_COMMIT = {"dual": 3992, "continue": 3993}


def _slow_commit_trigger(ctx, row, on):
    """On the cart database only: a deferred trigger that makes a COMMIT touching carts `row`
    sleep 20 s, so the secondary's commit (not its statement) is what hangs."""
    d = ctx.fresh_direct("cart", mirror=True)
    try:
        if on:
            d.execute("CREATE OR REPLACE FUNCTION pgt_test_slow_commit() RETURNS trigger "
                      "LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = %d THEN PERFORM pg_sleep(20); "
                      "END IF; RETURN NULL; END $$" % row)
            d.execute("CREATE CONSTRAINT TRIGGER pgt_test_slow_commit AFTER UPDATE ON carts "
                      "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                      "EXECUTE FUNCTION pgt_test_slow_commit()")
        else:
            d.execute("DROP TRIGGER IF EXISTS pgt_test_slow_commit ON carts")
            d.execute("DROP FUNCTION IF EXISTS pgt_test_slow_commit()")
    finally:
        d.close()


@check("dual", "continue", timeout=120)
def mirror_timeout_slow_secondary_commit(ctx):
    """The secondary's COMMIT hangs (a deferred trigger there sleeps): by the simple protocol,
    by an extended COMMIT (psycopg's pipeline mode) and by the Sync that ends a pipelined
    autocommit write, the client has its answer within mirror_timeout + grace + a margin."""
    row = SLOW_COMMIT[ctx.group]
    set_mirror_timeout(ctx, MIRROR_TIMEOUT)
    _slow_commit_trigger(ctx, row, True)
    said = []
    try:
        def simple(c):
            c.execute("BEGIN")
            c.execute("UPDATE carts SET subtotal = subtotal WHERE id = %d" % row)
            c.execute("COMMIT")

        def extended_commit(c):
            c.autocommit = False
            try:
                with c.pipeline():
                    c.execute("UPDATE carts SET subtotal = subtotal WHERE id = %s", (row,))
                    c.commit()
            finally:
                c.autocommit = True

        def pipelined_autocommit(c):
            with c.pipeline():
                c.execute("UPDATE carts SET subtotal = subtotal WHERE id = %s", (row,))

        for what, fn in (("simple COMMIT", simple), ("extended COMMIT", extended_commit),
                         ("Sync of a pipelined write", pipelined_autocommit)):
            c = connect_named(ctx, "pgt-slow-commit")
            off = log_size(ctx)
            out = {}

            def run():
                t0 = time.time()
                try:
                    fn(c)
                    out["ok"] = True
                except psycopg.Error as e:
                    out["error"] = e
                out["seconds"] = time.time() - t0
            th = threading.Thread(target=run, daemon=True)
            th.start()
            bound = MIRROR_TIMEOUT + GRACE + 4
            th.join(bound)
            need(not th.is_alive(), "%s: no answer %d s after the secondary's commit began to hang"
                 " (mirror_timeout %d s)" % (what, bound, MIRROR_TIMEOUT))
            if ctx.group == "continue":
                need(out.get("ok"), "%s, continue: failed: %s" % (what, err_text(out.get("error"))))
            else:
                need(out.get("error") is not None, "%s, fail: the commit succeeded" % what)
            need(poll(lambda: "divergence" in log_since(ctx, off).lower(), 3.0),
                 "%s: no divergence line" % what)
            said.append("%s %.1f s" % (what, out["seconds"]))
            c.close()
    finally:
        _slow_commit_trigger(ctx, row, False)
        set_mirror_timeout(ctx, None)
    lrow = ctx.one("legacy", "SELECT subtotal, updated_at FROM carts WHERE id = %s", (row,))
    ctx.direct("cart", mirror=True).execute(
        "UPDATE carts SET subtotal = %s, updated_at = %s WHERE id = %s", (lrow[0], lrow[1], row))
    ctx.same("carts", "id = %d" % row)
    return "; ".join(said)
