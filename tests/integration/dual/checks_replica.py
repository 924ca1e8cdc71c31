"""Legacy's own triggers when legacy is the secondary (primary = service), and
verify_writes_sample. A real monolith's updated_at triggers don't skip when pgtandem.mirror is
on, so for these checks legacy's set_updated_at() is made plain (unguarded) and put back
after:
  - legacy_triggers_unguarded: UPDATEs of carts and cart_items through the proxy (simple and
    extended protocol, autocommit and in a transaction) leave legacy's updated_at equal to the
    service's (pgtandem sets the rows again under session_replication_role = replica, granted
    by conf/pgtandem-db), and a DELETE of a cart still cascades to its items on legacy, as a
    text mirror and as row images;
  - unguarded_trigger_refused: with legacy's grant revoked, a second pgtandem on the same
    config refuses to start, naming the trigger and the GRANT that fixes it;
  - verify_writes_divergence (dual and primary_service): a trigger that fires even on
    replicas, installed on the secondary only, changes a value the secondary writes: the
    client's write stands and pgtandem records a divergence ("rows written differ").
run.sh sets verify_writes_sample = 1.0. Registered into checks.py's list (imported from
there)."""

import os
import subprocess
import time

import psycopg

from checks import check, err_text, log_size, log_since, need, poll, proxy_pid

PG_BIN = "/usr/lib/postgresql/15/bin"
GUARDED = """CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('pgtandem.mirror', true) = 'on' THEN RETURN NEW; END IF;
    NEW.updated_at := now();
    RETURN NEW;
END;
$$"""
UNGUARDED = """CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$"""


class unguarded:
    """Legacy's set_updated_at() without the pgtandem.mirror guard, for the with-block."""

    def __init__(self, ctx):
        self.ctx = ctx

    def __enter__(self):
        self.ctx.direct("legacy").execute(UNGUARDED)

    def __exit__(self, *exc):
        with psycopg.connect(self.ctx.conninfo("legacy"), autocommit=True) as c:
            c.execute(GUARDED)


def superuser_sql(ctx, sql):
    """Runs sql on legacy as the bootstrap superuser, over the servers' unix socket (run.sh's
    temporary folder holds the config and db/run)."""
    sock = os.path.join(os.path.dirname(ctx.args.proxy_config), "db", "run")
    cmd = [PG_BIN + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", sock,
           "-p", str(ctx.ports["legacy"]), "-U", "postgres", "-d", "poc", "-c", sql]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    need(r.returncode == 0, "psql as postgres: %s" % (r.stderr.strip() or r.returncode))


def row_text(ctx, db, table, where):
    with psycopg.connect(ctx.conninfo(db), autocommit=True) as c:
        c.execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET extra_float_digits = 3")
        return [r[0] for r in c.execute("SELECT t::text FROM %s t WHERE %s ORDER BY id"
                                        % (table, where)).fetchall()]


def same_rows(ctx, table, where, want):
    lrows, srows = row_text(ctx, "legacy", table, where), row_text(ctx, "cart", table, where)
    need(lrows == srows, "%s where %s: legacy %s / cart_db %s" % (table, where, lrows, srows))
    need(len(lrows) == want, "%s where %s: %d rows, wanted %d" % (table, where, len(lrows), want))
    return lrows


def new_cart(c):
    cid = c.execute("INSERT INTO carts (user_id, status) VALUES (1, 'active') RETURNING id"
                    ).fetchone()[0]
    for price in ("9.99", "1.50"):
        c.execute("INSERT INTO cart_items (cart_id, product_id, quantity, unit_price)"
                  " VALUES (%d, 1, 1, %s)" % (cid, price))
    return cid


@check("primary_service", timeout=60)
def legacy_triggers_unguarded(ctx):
    with unguarded(ctx), ctx.proxy() as c:
        cid = new_cart(c)
        stamps = []
        for sql, params in [
                ("UPDATE carts SET status = 'abandoned' WHERE id = %d" % cid, None),
                ("UPDATE cart_items SET quantity = quantity + 1 WHERE cart_id = %s", (cid,)),
                ("UPDATE carts SET subtotal = subtotal + %s WHERE id = %s", (5, cid))]:
            time.sleep(0.02)  # each transaction's now() differs from the last
            c.execute(sql, params)
            stamps.append(row_text(ctx, "cart", "carts", "id = %d" % cid))
        with c.transaction():
            c.execute("UPDATE cart_items SET unit_price = unit_price * 2 WHERE cart_id = %d" % cid)
            c.execute("UPDATE carts SET promo_code = 'X1' WHERE id = %s", (cid,))
        carts = same_rows(ctx, "carts", "id = %d" % cid, 1)
        same_rows(ctx, "cart_items", "cart_id = %d" % cid, 2)
        need(stamps[0] != stamps[2], "the service's updated_at did not move: %s" % stamps)
        # cascades still happen on legacy: as a text mirror, and as row images (random())
        cid2 = new_cart(c)
        c.execute("DELETE FROM carts WHERE id = %d" % cid)
        c.execute("DELETE FROM carts WHERE id = %d AND random() >= 0" % cid2)
    for db in ("legacy", "cart"):
        left = ctx.one(db, "SELECT count(*) FROM cart_items WHERE cart_id IN (%d, %d)"
                       % (cid, cid2))[0]
        need(left == 0, "%s still has %d cart_items of the deleted carts %d, %d: the"
             " ON DELETE CASCADE did not run there" % (db, left, cid, cid2))
    return "updated_at equal on both sides (%s); the cascades ran on legacy" % carts[0][-40:]


@check("primary_service", timeout=60)
def unguarded_trigger_refused(ctx):
    pgtandem = os.path.join(ctx.args.build_dir or "", "pgtandem")
    need(os.access(pgtandem, os.X_OK), "no pgtandem in --build-dir %r" % ctx.args.build_dir)
    with unguarded(ctx):
        superuser_sql(ctx, "REVOKE SET ON PARAMETER session_replication_role FROM poc_user")
        try:
            p = subprocess.Popen([pgtandem, "-c", ctx.args.proxy_config],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                _, err = p.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                need(False, "pgtandem started on a config that mirrors into legacy's unguarded"
                     " triggers without the grant")
        finally:
            superuser_sql(ctx, "GRANT SET ON PARAMETER session_replication_role TO poc_user")
    need(p.returncode != 0, "pgtandem exited with status 0")
    need("GRANT SET ON PARAMETER session_replication_role TO poc_user" in err and
         "_set_updated_at" in err,
         "pgtandem's refusal does not name the trigger and the grant: %s" % err.strip()[-600:])
    line = [x for x in err.splitlines() if "GRANT SET" in x][0]
    return "refused: %s" % line[:300]


@check("dual", "primary_service", timeout=60)
def verify_writes_divergence(ctx):
    secondary = "legacy" if ctx.group == "primary_service" else "cart"
    with ctx.proxy() as c:
        rid = c.execute("INSERT INTO coltype_dropped (kept) VALUES ('v') RETURNING id").fetchone()[0]
        tamper = psycopg.connect(ctx.conninfo(secondary), autocommit=True)
        tamper.execute("CREATE FUNCTION coltype_tamper() RETURNS trigger LANGUAGE plpgsql AS"
                       " $$ BEGIN NEW.kept := NEW.kept || ' (tampered)'; RETURN NEW; END $$")
        tamper.execute("CREATE TRIGGER coltype_tamper BEFORE UPDATE ON coltype_dropped"
                       " FOR EACH ROW EXECUTE FUNCTION coltype_tamper()")
        # fires under session_replication_role = replica too, as on a logical replica
        tamper.execute("ALTER TABLE coltype_dropped ENABLE ALWAYS TRIGGER coltype_tamper")
        off = log_size(ctx)
        try:
            c.execute("UPDATE coltype_dropped SET kept = 'w', at = clock_timestamp()"
                      " WHERE id = %s", (rid,))
        except psycopg.Error as e:
            need(False, "the client's UPDATE failed: %s" % err_text(e))
        finally:
            tamper.execute("DROP TRIGGER coltype_tamper ON coltype_dropped")
            tamper.execute("DROP FUNCTION coltype_tamper()")
            tamper.close()
        line = poll(lambda: [x for x in log_since(ctx, off).splitlines()
                             if "divergence" in x and "rows written differ" in x
                             and "coltype_dropped" in x], timeout=5)
        kept = ctx.one(secondary, "SELECT kept FROM coltype_dropped WHERE id = %s", (rid,))[0]
        c.execute("DELETE FROM coltype_dropped WHERE id = %s", (rid,))
    need(kept == "w (tampered)", "the secondary holds %r: the test trigger did not fire" % kept)
    need(line, "no divergence line for the UPDATE whose row differs on the %s side" % secondary)
    return line[0][line[0].find("divergence"):][:300]


@check("primary_service", timeout=30)
def reload_with_idle_session(ctx):
    """A reload kicks every routed session; one idle long enough for the sweep to free its
    route state (2 s, twice) must be passed over, not pumped (it crashed the proxy)."""
    pid = proxy_pid(ctx)
    need(pid, "no pgtandem process runs %s" % ctx.args.proxy_config)
    with ctx.proxy() as c:
        c.execute("SELECT 1").fetchone()
        time.sleep(4.5)
        os.kill(pid, 1)  # SIGHUP: the same config again
        time.sleep(1.0)
        need(os.path.exists("/proc/%d" % pid), "pgtandem died on the reload")
        got = c.execute("SELECT count(*) FROM carts").fetchone()[0]
    return "reloaded with an idle session; it still runs queries (%d carts)" % got
