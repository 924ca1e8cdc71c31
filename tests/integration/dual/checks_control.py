#!/usr/bin/python3
"""Migration control through a running pgtandem: the admin console (who gets in, what SHOW
answers), reloads that must be refused, one service (cart) walked through every migration
state and back under continuous load (pgbench custom scripts on cart's tables and an
asyncpg client), once by editing the config and sending SIGHUP and once with console
commands, and a PAUSE / flip / RESUME under transactions that record which database served
each of their statements. Prints PASS/FAIL lines like checks.py.

Phase "main" runs all of that and ends with a console change that must survive a restart;
phase "restart" (after run.sh restarted the proxy) checks that it did.

Why the walk is comparable at the end: writes=legacy -> dual starts from a backfill of the
service database made while cart is paused, and writes=service -> dual starts from a
backfill of legacy made the same way (legacy misses every write made at writes=service;
pgtandem does not copy them back itself, the runbook in README says so). Each backfill
copies cart's tables row by row by primary key and moves the sequences forward. The load
stops at writes=dual, primary=legacy, reads=legacy; then both sides must be identical."""

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import asyncpg
import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
PSQL = "/usr/lib/postgresql/15/bin/psql"
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
CART_TABLES = ["carts", "cart_items", "wishlists", "wishlist_items"]

RESULTS = []


class Fail(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise Fail(msg)


def check(fn):
    def run(ctx):
        t0 = time.time()
        try:
            detail = fn(ctx)
            print("PASS %s: %s (%.1f s)" % (fn.__name__, detail or "ok", time.time() - t0), flush=True)
            RESULTS.append(True)
        except Fail as e:
            print("FAIL %s: %s" % (fn.__name__, e), flush=True)
            RESULTS.append(False)
        except Exception as e:  # an unexpected error is a failure too, with its type
            print("FAIL %s: %s: %s" % (fn.__name__, type(e).__name__, str(e)[:500]), flush=True)
            RESULTS.append(False)
    run.__name__ = fn.__name__
    return run


class Ctx:
    def __init__(self, args):
        self.args = args
        ports = args.service_ports.split(",")
        self.legacy = "host=127.0.0.1 port=%s dbname=poc user=poc_user password=admin123" % args.legacy_port
        self.cart = "host=127.0.0.1 port=%s dbname=cart_db user=cart_user password=cart_pass123" % ports[2]

    def proxy(self, db="poc", user="poc_user", password="admin123"):
        return "host=127.0.0.1 port=%d dbname=%s user=%s password=%s" % (
            self.args.proxy_port, db, user, password)

    def console(self, *commands, user="poc_user", password="admin123", stop=True):
        """Runs console commands in one psql session: (exit status, stdout, stderr)."""
        cmd = [PSQL, "-X", "-A", "-F", "|", "-P", "footer=off", "-v",
               "ON_ERROR_STOP=%d" % (1 if stop else 0)]
        for c in commands:
            cmd += ["-c", c]
        cmd.append(self.proxy("pgtandem", user, password))
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr

    def table(self, command):
        """A SHOW command's rows as dicts."""
        rc, out, err = self.console(command)
        need(rc == 0, "%s: psql exit %d: %s" % (command, rc, err.strip()[:300]))
        lines = [l for l in out.splitlines() if l]
        need(lines, "%s: no output" % command)
        head = lines[0].split("|")
        return head, [dict(zip(head, l.split("|"))) for l in lines[1:]]

    def service(self, name="cart"):
        return next(r for r in self.table("SHOW SERVICES")[1] if r["service"] == name)

    def command(self, command):
        rc, out, err = self.console(command)
        need(rc == 0, "%s: %s" % (command, err.strip()[:400]))
        return err.strip()  # notices

    def log_since(self, offset):
        with open(self.args.proxy_log, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def log_size(self):
        return os.path.getsize(self.args.proxy_log)

    # -- the config file ---------------------------------------------------------------
    def set_config_state(self, writes, primary, reads, service="cart"):
        with open(self.args.config) as f:
            text = f.read()
        head, _, rest = text.partition("[service %s]\n" % service)
        body, sep, tail = rest.partition("\n[")
        body = re.sub(r"^writes = .*$", "writes = " + writes, body, flags=re.M)
        body = re.sub(r"^primary = .*$", "primary = " + primary, body, flags=re.M)
        body = re.sub(r"^reads = .*$", "reads = " + reads, body, flags=re.M)
        with open(self.args.config + ".tmp", "w") as f:
            f.write(head + "[service %s]\n" % service + body + sep + tail)
        os.rename(self.args.config + ".tmp", self.args.config)

    def sighup(self):
        os.kill(self.args.proxy_pid, signal.SIGHUP)


def wait_for(fn, timeout, what):
    end = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > end:
            raise Fail("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(0.1)


def state_of(row):
    return (row["writes"], row["primary"], row["reads"])


# ---------------------------------------------------------------------------- backfill

def backfill(src_conninfo, dst_conninfo, tables=CART_TABLES):
    """Makes dst's copy of the tables equal to src's, by primary key, and moves dst's
    sequences forward past src's ids. Triggers that stamp values skip (pgtandem.mirror)."""
    with psycopg.connect(src_conninfo) as src, psycopg.connect(dst_conninfo) as dst:
        dst.execute("SET LOCAL pgtandem.mirror = 'on'")
        for t in tables:
            cols = [r[0] for r in dst.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
                " AND NOT attisdropped ORDER BY attnum", ("public." + t,))]
            pk = [r[0] for r in dst.execute(
                "SELECT a.attname FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey)"
                " WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = i.indrelid"
                " AND a.attnum = k.attnum WHERE i.indrelid = %s::regclass AND i.indisprimary"
                " ORDER BY k.ord", ("public." + t,))]
            collist = ", ".join(cols)
            dst.execute("CREATE TEMP TABLE bf_%s (LIKE %s) ON COMMIT DROP" % (t, t))
            with src.cursor().copy("COPY (SELECT %s FROM %s) TO STDOUT" % (collist, t)) as cin, \
                    dst.cursor().copy("COPY bf_%s (%s) FROM STDIN" % (t, collist)) as cout:
                for chunk in cin:
                    cout.write(chunk)
            sets = ", ".join("%s = EXCLUDED.%s" % (c, c) for c in cols if c not in pk)
            dst.execute("INSERT INTO %s (%s) SELECT %s FROM bf_%s ON CONFLICT (%s) DO UPDATE SET %s"
                        " WHERE (%s.*) IS DISTINCT FROM (EXCLUDED.*)"
                        % (t, collist, collist, t, ", ".join(pk), sets, t))
        for t in reversed(tables):
            pk = "id"
            dst.execute("DELETE FROM %s WHERE %s NOT IN (SELECT %s FROM bf_%s)" % (t, pk, pk, t))
            seq = dst.execute("SELECT pg_get_serial_sequence(%s, 'id')", (t,)).fetchone()[0]
            if seq:
                dst.execute("SELECT setval(%%s, GREATEST((SELECT COALESCE(max(id), 1) FROM %s),"
                            " (SELECT last_value FROM %s)))" % (t, seq), (seq,))


# ---------------------------------------------------------------------------- load

TX_SCRIPT = """\\set k random(1, 5)
BEGIN;
UPDATE carts SET subtotal = subtotal + 1 WHERE id = :k;
INSERT INTO cart_items (cart_id, product_id, quantity, unit_price) VALUES (:k, :k, 1, 2.50);
END;
"""
READ_SCRIPT = """\\set k random(1, 5)
SELECT subtotal FROM carts WHERE id = :k;
UPDATE wishlists SET name = name WHERE id = :k;
"""


class Load:
    """pgbench (-M prepared, named statements across every reload) and an asyncpg client
    on cart's tables, for `seconds`."""

    def __init__(self, ctx, seconds):
        self.ctx = ctx
        self.seconds = seconds
        self.dir = tempfile.TemporaryDirectory()
        paths = []
        for name, text in (("tx.sql", TX_SCRIPT), ("read.sql", READ_SCRIPT)):
            paths.append(os.path.join(self.dir.name, name))
            with open(paths[-1], "w") as f:
                f.write(text)
        self.bench = subprocess.Popen(
            [PGBENCH, "-n", "-M", "prepared", "-c", "6", "-j", "2", "-T", str(seconds),
             "-f", paths[0] + "@2", "-f", paths[1] + "@1", "-h", "127.0.0.1",
             "-p", str(ctx.args.proxy_port), "-U", "poc_user", "poc"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, PGPASSWORD="admin123"))
        self.async_errors = []
        self.async_done = 0
        self.stop = False
        self.thread = threading.Thread(target=lambda: asyncio.run(self._asyncpg()))
        self.thread.start()

    async def _asyncpg(self):
        conns = [await asyncpg.connect(host="127.0.0.1", port=self.ctx.args.proxy_port, user="poc_user",
                                       password="admin123", database="poc") for _ in range(2)]
        ids = [await c.fetchval("SELECT pg_backend_pid()") for c in conns]
        end = time.time() + self.seconds
        i = 0
        while time.time() < end and not self.stop:
            c = conns[i % 2]
            k = 6 + i % 5
            try:
                async with c.transaction():
                    await c.fetchval("SELECT subtotal FROM carts WHERE id = $1", k)
                    await c.execute("UPDATE carts SET discount_total = discount_total + 1 WHERE id = $1", k)
                    await c.execute("UPDATE wishlist_items SET priority = priority + 1 WHERE wishlist_id = $1", k)
                    await c.fetchval("INSERT INTO cart_items (cart_id, product_id, quantity, unit_price)"
                                     " VALUES ($1, $1, 1, 1.00) RETURNING id", k)
                self.async_done += 1
            except Exception as e:  # every error counts against the run
                self.async_errors.append("%s: %s" % (type(e).__name__, e))
            i += 1
            await asyncio.sleep(0.01)
        for c, pid in zip(conns, ids):
            try:
                same = await c.fetchval("SELECT pg_backend_pid()") == pid
                if not same:
                    self.async_errors.append("the connection's backend changed: it was dropped")
            except Exception as e:
                self.async_errors.append("connection lost: %s" % e)
            await c.close()

    def finish(self):
        out, err = self.bench.communicate(timeout=self.seconds + 90)
        self.stop = True
        self.thread.join(timeout=60)
        text = out + err
        errors = [l for l in err.splitlines() if "error" in l.lower() or "abort" in l.lower()]
        need(self.bench.returncode == 0 and not errors,
             "pgbench exit %d; %d error line(s), e.g. %s" % (self.bench.returncode, len(errors),
                                                            " | ".join(errors[:3])[:500]))
        failed = re.search(r"number of failed transactions: (\d+)", text)
        need(failed and failed.group(1) == "0", "pgbench: %s" % (failed and failed.group(0)))
        done = re.search(r"number of transactions actually processed: (\d+)", text)
        need(not self.async_errors, "asyncpg: %d error(s), e.g. %s" % (len(self.async_errors),
                                                                     self.async_errors[:2]))
        need(self.async_done > 0, "asyncpg did nothing")
        return int(done.group(1)) if done else 0, self.async_done


def compare(ctx):
    p = subprocess.run([sys.executable, os.path.join(HERE, "compare.py"), "--legacy", ctx.legacy,
                        "--service", "cart=" + ctx.cart], capture_output=True, text=True, timeout=120)
    lines = p.stdout.strip().splitlines()
    need(p.returncode == 0, "compare.py: %s" % " / ".join(lines[-6:])[:600])
    return lines[-1] if lines else ""


# ---------------------------------------------------------------------------- checks

SERVICES_COLUMNS = ["service", "writes", "primary", "reads", "divergences", "unresolved_divergences",
                    "shadow_mismatches", "paused", "paused_seconds", "open_transactions", "waiting"]


@check
def console_refuses_non_admin(ctx):
    try:
        psycopg.connect(ctx.proxy("pgtandem", "intruder", "intruder_pw"), connect_timeout=10).close()
    except psycopg.OperationalError as e:
        state = getattr(getattr(e, "diag", None), "sqlstate", None)
        need(state == "28000" or "28000" in str(e) or "admin_users" in str(e),
             "refused, but not with 28000: %s %s" % (state, e))
    else:
        raise Fail("a user not in admin_users got into the console")
    rc, out, err = ctx.console("SHOW SERVICES", user="poc_user", password="wrong")
    need(rc != 0 and "password authentication failed" in err, "wrong admin password: %r" % err[:200])
    # the same user reaches the databases as usual
    with psycopg.connect(ctx.proxy("poc", "intruder", "intruder_pw")) as c:
        need(c.execute("SELECT 1").fetchone()[0] == 1, "intruder can't use poc")
    return "intruder refused with 28000, a wrong admin password with 28P01"


@check
def console_show_commands(ctx):
    head, rows = ctx.table("SHOW SERVICES")
    need(head == SERVICES_COLUMNS, "SHOW SERVICES columns %s" % head)
    need([r["service"] for r in rows] == ["auth", "product", "cart", "promotion"], "services %s" % rows)
    need(state_of(ctx.service("cart")) == ("legacy", "legacy", "legacy"), "cart %s" % ctx.service("cart"))
    need(state_of(ctx.service("auth")) == ("dual", "legacy", "legacy"), "auth %s" % ctx.service("auth"))
    expect = {
        "SHOW STATS": ["service", "statements", "writes_mirrored", "reads_legacy", "reads_service",
                       "latency_mean_us", "latency_p99_us", "divergences", "shadow_reads",
                       "shadow_mismatches", "shadow_dropped"],
        "SHOW CLIENTS": ["session", "user", "database", "peer", "state", "transaction",
                         "services_joined", "config", "waiting"],
        "SHOW BACKENDS": ["session", "database", "address", "pid", "state", "transaction", "in_flight"],
        "SHOW DIVERGENCES": ["time", "session", "service", "what", "tables", "fingerprint", "primary",
                             "secondary"],
        "show config": ["key", "value", "changes_on_reload"],
    }
    for cmd, cols in expect.items():
        h, r = ctx.table(cmd)
        need(h == cols, "%s columns %s" % (cmd, h))
    _, conf = ctx.table("SHOW CONFIG")
    text = str(conf)
    need("admin123" not in text and "cart_pass123" not in text, "SHOW CONFIG shows a password")
    need(any(r["key"] == "listen" and r["changes_on_reload"].startswith("no") for r in conf),
         "SHOW CONFIG: listen not marked as needing a restart")
    # a client session shows up in SHOW CLIENTS and SHOW BACKENDS
    with psycopg.connect(ctx.proxy()) as c:
        c.execute("SELECT 1")
        _, clients = ctx.table("SHOW CLIENTS")
        need(any(r["database"] == "poc" and r["state"] == "ready" for r in clients), "clients %s" % clients)
        _, backends = ctx.table("SHOW BACKENDS")
        need(any(r["database"] == "legacy" for r in backends), "backends %s" % backends)
    _, stats = ctx.table("SHOW STATS")
    need([r["service"] for r in stats][:4] == ["auth", "product", "cart", "promotion"], "stats %s" % stats)
    # errors are ErrorResponses, and the session goes on
    rc, out, err = ctx.console("BOGUS COMMAND", "SET SERVICE nosuch READS service",
                               "SET SERVICE cart READS sideways", "PAUSE nosuch", "SHOW SERVICES",
                               stop=False)
    need("unknown command" in err and 'unknown service "nosuch"' in err and "invalid value" in err,
         "errors: %r" % err[:600])
    need(out.count("service|writes|primary") == 1 and "cart|legacy" in out,
         "the console did not go on after errors: %r" % out[:300])
    return "SHOW SERVICES/STATS/CLIENTS/BACKENDS/DIVERGENCES/CONFIG columns; errors keep the session"


@check
def reload_invalid_config_refused(ctx):
    with open(ctx.args.config) as f:
        good = f.read()
    try:
        # a state route_map refuses: writes=service needs primary=service
        ctx.set_config_state("service", "legacy", "service")
        off = ctx.log_size()
        ctx.sighup()
        log = wait_for(lambda: "configuration not reloaded" in ctx.log_since(off) and ctx.log_since(off),
                       10, "the SIGHUP refusal in the log")
        need("writes=service needs primary=service" in log, "SIGHUP refusal without the reason: %r"
             % log[-400:])
        need(state_of(ctx.service()) == ("legacy", "legacy", "legacy"), "routing changed: %s" % ctx.service())
        rc, out, err = ctx.console("RELOAD")
        need(rc != 0 and "not reloaded" in err and "writes=service needs primary=service" in err,
             "RELOAD of a bad config: %r" % err[:400])
        # a syntax error too
        with open(ctx.args.config, "a") as f:
            f.write("\nthis is not ini\n")
        rc, out, err = ctx.console("RELOAD")
        need(rc != 0 and "not reloaded" in err, "RELOAD of a broken file: %r" % err[:300])
        need(state_of(ctx.service()) == ("legacy", "legacy", "legacy"), "routing changed")
        # the old routing is in force: a write to carts goes to legacy only
        with psycopg.connect(ctx.proxy(), autocommit=True) as c:
            c.execute("UPDATE carts SET promo_code = 'RELOADTEST' WHERE id = 20")
        with psycopg.connect(ctx.cart) as c:
            v = c.execute("SELECT promo_code FROM carts WHERE id = 20").fetchone()[0]
        need(v != "RELOADTEST", "the write reached the service database")
    finally:
        with open(ctx.args.config, "w") as f:
            f.write(good)
        with psycopg.connect(ctx.legacy, autocommit=True) as c:  # undo the probe
            c.execute("UPDATE carts SET promo_code = NULL WHERE id = 20")
    need(ctx.console("RELOAD")[0] == 0, "RELOAD of the good config failed")
    return "SIGHUP and RELOAD refused with the reason; routing unchanged"


@check
def reload_keeps_listen_and_legacy(ctx):
    """listen and [legacy] conninfo need a restart: a reload that changes them applies the
    rest, says so in the log, and keeps serving on the running address and database."""
    with open(ctx.args.config) as f:
        good = f.read()
    try:
        text = re.sub(r"(?m)^listen = 127.0.0.1:\d+$", "listen = 127.0.0.1:1", good)
        text = text.replace("dbname=poc user=poc_user", "dbname=poc user=poc_user connect_timeout=7", 1)
        text = re.sub(r"(?m)^log_level = .*$", "log_level = debug", text)
        need(text.count("connect_timeout=7") == 1 and "127.0.0.1:1\n" in text, "config edit failed")
        with open(ctx.args.config, "w") as f:
            f.write(text)
        off = ctx.log_size()
        ctx.command("RELOAD")
        log = ctx.log_since(off)
        need("listen changed to 127.0.0.1:1; that needs a restart" in log, "no listen warning: %r" % log[-500:])
        need("[legacy] conninfo changed; that needs a restart" in log, "no legacy warning")
        _, conf = ctx.table("SHOW CONFIG")
        conf = {r["key"]: r["value"] for r in conf}
        need(conf["listen"].endswith(":%d" % ctx.args.proxy_port), "listen now %s" % conf["listen"])
        need(conf["log_level"] == "debug", "the rest was not applied: log_level %s" % conf["log_level"])
        with psycopg.connect(ctx.proxy()) as c:
            need(c.execute("SELECT current_database()").fetchone()[0] == "poc", "legacy changed")
    finally:
        with open(ctx.args.config, "w") as f:
            f.write(good)
        ctx.command("RELOAD")
    return "listen and legacy kept with a warning; log_level applied"


UP = [("dual", "legacy", "legacy"), ("dual", "legacy", "shadow"), ("dual", "legacy", "service"),
      ("dual", "service", "service"), ("service", "service", "service")]
DOWN = [("dual", "service", "service"), ("dual", "legacy", "service"), ("dual", "legacy", "shadow"),
        ("dual", "legacy", "legacy")]
STEP_SECONDS = 2.0


def walk(ctx, apply):
    """Walks cart up and back down under load; apply(state) makes one move."""
    load = Load(ctx, seconds=int(STEP_SECONDS * (len(UP) + len(DOWN)) + 9))
    log_off = ctx.log_size()
    seen = []

    def move(state, pause=False, fill=None):
        if pause:
            ctx.command("PAUSE cart")
            wait_for(lambda: ctx.service()["open_transactions"] == "0", 15,
                     "cart's open transactions to finish")
            if fill:
                fill()
        apply(state)
        wait_for(lambda: state_of(ctx.service()) == state, 10, "cart to become %s" % (state,))
        if pause:
            ctx.command("RESUME cart")
        seen.append(state)
        time.sleep(STEP_SECONDS)

    time.sleep(1.0)
    # the service database starts as a copy of legacy's tables, made while cart waits
    move(UP[0], pause=True, fill=lambda: backfill(ctx.legacy, ctx.cart))
    for st in UP[1:]:
        # a primary flip waits until no transaction of the old order is open
        move(st, pause=st[1] != seen[-1][1])
    # legacy missed the writes made at writes=service: copy them back first
    move(DOWN[0], pause=True, fill=lambda: backfill(ctx.cart, ctx.legacy))
    for st in DOWN[1:]:
        move(st, pause=st[1] != seen[-1][1])
    still_running = load.bench.poll() is None
    tx, atx = load.finish()
    need(still_running, "the load ended before the walk did")
    log = ctx.log_since(log_off)
    dropped = [l for l in log.splitlines() if re.search(r"session \d+ closed \(", l)
               and "terminated the session" not in l and "client disconnected" not in l]
    need(not dropped, "sessions closed by pgtandem during the walk: %s" % dropped[:2])
    need(not re.search(r"AddressSanitizer|runtime error", log), "sanitizer report")
    same = compare(ctx)
    div = ctx.service()["unresolved_divergences"]
    return ("%d moves, %d pgbench + %d asyncpg transactions, 0 errors, no connection dropped;"
            " %s; unresolved divergences %s" % (len(seen), tx, atx, same, div))


@check
def walk_by_config_and_sighup(ctx):
    def apply(state):
        ctx.set_config_state(*state)
        ctx.sighup()
    r = walk(ctx, apply)
    ctx.set_config_state("legacy", "legacy", "legacy")
    ctx.sighup()
    wait_for(lambda: state_of(ctx.service()) == ("legacy", "legacy", "legacy"), 10, "writes=legacy")
    return r


@check
def walk_by_console(ctx):
    def apply(state):
        cur = state_of(ctx.service())
        # one key at a time, in an order route_map accepts (writes before primary going
        # up, primary before writes going down)
        keys = ["writes", "primary", "reads"]
        if state[0] == "dual" and cur[0] == "service":
            keys = ["reads", "primary", "writes"]
        order = {"writes": 0, "primary": 1, "reads": 2}
        for k in keys:
            if cur[order[k]] != state[order[k]]:
                ctx.command("SET SERVICE cart %s %s" % (k.upper(), state[order[k]]))
    r = walk(ctx, apply)
    ctx.command("SET SERVICE cart WRITES legacy")
    need(state_of(ctx.service()) == ("legacy", "legacy", "legacy"), "back to writes=legacy")
    return r


@check
def unsafe_moves_refused(ctx):
    need(state_of(ctx.service()) == ("legacy", "legacy", "legacy"), "cart %s" % ctx.service())
    rc, _, err = ctx.console("SET SERVICE cart PRIMARY service")
    need(rc != 0 and "not dual" in err and "FORCE" in err, "primary=service at writes=legacy: %r" % err)
    ctx.command("SET SERVICE cart WRITES dual")
    rc, _, err = ctx.console("SET SERVICE cart WRITES service")
    need(rc != 0 and "legacy is still the primary" in err, "writes=service at primary=legacy: %r" % err)
    # a divergence: a row that differs on the service side makes the mirrored update disagree
    with psycopg.connect(ctx.cart, autocommit=True) as c:
        c.execute("DELETE FROM wishlist_items WHERE id = 3")
    with psycopg.connect(ctx.proxy(), autocommit=True) as c:
        try:
            c.execute("UPDATE wishlist_items SET product_id = product_id WHERE id = 3")
        except psycopg.Error:
            pass  # on_mirror_failure = fail: refused, and recorded
    need(int(ctx.service()["unresolved_divergences"]) >= 1, "no divergence recorded: %s" % ctx.service())
    _, div = ctx.table("SHOW DIVERGENCES 5")
    need(div and div[0]["service"] == "cart" and "wishlist_items" in div[0]["tables"]
         and div[0]["fingerprint"] not in ("", "-"), "SHOW DIVERGENCES: %s" % div[:1])
    rc, _, err = ctx.console("SET SERVICE cart READS service")
    need(rc != 0 and "unresolved divergence" in err and "ACKNOWLEDGE" in err, "reads=service: %r" % err)
    backfill(ctx.legacy, ctx.cart)  # the engineer repairs the row ...
    ctx.command("ACKNOWLEDGE cart")  # ... and says so
    need(ctx.service()["unresolved_divergences"] == "0", "acknowledged: %s" % ctx.service())
    ctx.command("SET SERVICE cart READS service")
    ctx.command("SET SERVICE cart READS legacy")
    ctx.command("SET SERVICE cart WRITES legacy")
    return "refused with reasons; allowed after ACKNOWLEDGE"


def sections(text):
    """The config's text split into its [sections], in order."""
    parts = re.split(r"(?m)^(?=\[)", text)
    return parts[0], parts[1:]


def backends_of(ctx, database):
    return {r["pid"] for r in ctx.table("SHOW BACKENDS")[1] if r["database"] == database}


@check
def reload_reorders_drops_and_reconnects(ctx):
    """Services reordered, one removed and one's conninfo changed, under a session holding
    prepared statements and a cart backend: it keeps working, its cart backend is replaced."""
    with open(ctx.args.config) as f:
        good = f.read()
    ctx.command("SET SERVICE cart WRITES dual")
    try:
        with psycopg.connect(ctx.proxy(), autocommit=True) as c:
            def write(v):
                c.execute("UPDATE carts SET promo_code = %s WHERE id = 21", (v,), prepare=True)
                c.execute("UPDATE user_profiles SET bio = %s WHERE user_id = 21", (v,), prepare=True)
            write("R1")
            before = backends_of(ctx, "cart")
            need(len(before) == 1, "cart backends %s" % before)
            head, secs = sections(good)
            cart = next(x for x in secs if x.startswith("[service cart]"))
            others = [x for x in secs if x is not cart and not x.startswith("[service promotion]")]
            cart2 = re.sub(r"(?m)^(conninfo = .*)$", r"\1 connect_timeout=10", cart)
            legacy_at = next(i for i, x in enumerate(others) if x.startswith("[legacy]"))
            new = head + "".join(others[:legacy_at + 1] + [cart2 if cart2.endswith("\n") else cart2 + "\n"]
                                 + others[legacy_at + 1:])
            with open(ctx.args.config, "w") as f:
                f.write(new)
            ctx.command("RELOAD")
            names = [r["service"] for r in ctx.table("SHOW SERVICES")[1]]
            need(names == ["cart", "auth", "product"], "services after the reload: %s" % names)
            write("R2")  # the session adopts the snapshot at this boundary
            after = backends_of(ctx, "cart")
            need(len(after) == 1 and after != before, "cart backend not replaced: %s -> %s"
                 % (before, after))
            with open(ctx.args.config, "w") as f:
                f.write(good)
            ctx.command("RELOAD")
            write("R3")
            names = [r["service"] for r in ctx.table("SHOW SERVICES")[1]]
            need(names == ["auth", "product", "cart", "promotion"], "services restored: %s" % names)
            for conn in (ctx.legacy, ctx.cart):
                with psycopg.connect(conn) as d:
                    v = d.execute("SELECT promo_code FROM carts WHERE id = 21").fetchone()[0]
                    need(v == "R3", "carts.promo_code %r on %s" % (v, conn.split()[1]))
    finally:
        with open(ctx.args.config, "w") as f:
            f.write(good)
        ctx.command("RELOAD")
        ctx.command("SET SERVICE cart WRITES legacy")
    return "reordered, promotion dropped and back, cart reconnected; prepared writes kept working"


@check
def pause_flip_resume_no_mixed_transaction(ctx):
    """Transactions that record where each statement ran: a locking read and an UPDATE ...
    RETURNING current_database() both run on the primary, a plain read on the reads side.
    Within one transaction the primary must not change, nor the reads side: flips with a
    PAUSE (the primary's) and without (the reads side's, while transactions run)."""
    ctx.command("SET SERVICE cart WRITES dual")
    backfill(ctx.legacy, ctx.cart)
    stop = time.time() + 24
    results, errors = [], []

    def worker(n):
        try:
            with psycopg.connect(ctx.proxy()) as c:
                k = 30 + n
                while time.time() < stop:
                    try:
                        with c.transaction():
                            a = c.execute("SELECT current_database() FROM carts WHERE id = %s FOR UPDATE",
                                          (k,)).fetchone()[0]
                            r1 = c.execute("SELECT current_database() FROM carts WHERE id = %s",
                                           (k,)).fetchone()[0]
                            time.sleep(0.02)
                            b = c.execute("UPDATE carts SET subtotal = subtotal + 1 WHERE id = %s"
                                          " RETURNING current_database()", (k,)).fetchone()[0]
                            r2 = c.execute("SELECT current_database() FROM carts WHERE id = %s",
                                           (k,)).fetchone()[0]
                        results.append((a, b, r1, r2))
                    except psycopg.Error as e:
                        errors.append(str(e)[:200])
                        time.sleep(0.1)
        except Exception as e:
            errors.append("%s: %s" % (type(e).__name__, e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    flips = [("READS", "service"), ("PRIMARY", "service"), ("PRIMARY", "legacy"), ("READS", "legacy")]
    held = 0
    time.sleep(2)
    for key, value in flips:
        ctx.command("PAUSE cart")
        wait_for(lambda: ctx.service()["open_transactions"] == "0", 15, "open transactions to end")
        time.sleep(0.3)
        held = max(held, int(ctx.service()["waiting"]))
        ctx.command("SET SERVICE cart %s %s" % (key, value))
        ctx.command("RESUME cart")
        time.sleep(2.5)
    # reads flips need no pause (no lock order depends on them): transactions running at
    # the flip keep the routing they began with
    for value in ("service", "legacy", "service", "legacy"):
        ctx.command("SET SERVICE cart READS %s" % value)
        time.sleep(1.0)
    for t in threads:
        t.join()
    need(not errors, "%d client error(s), e.g. %s" % (len(errors), errors[:2]))
    mixed = [r for r in results if r[0] != r[1] or r[2] != r[3]]
    need(not mixed, "%d of %d transactions saw a mix, e.g. %s" % (len(mixed), len(results), mixed[:3]))
    primaries = {r[0] for r in results}
    need(primaries == {"poc", "cart_db"}, "primaries seen: %s (the flips did not happen under load)"
         % primaries)
    need(held > 0, "no transaction was ever seen waiting for the paused service")
    ctx.command("SET SERVICE cart WRITES legacy")
    return ("%d transactions over 4 paused flips and 4 unpaused reads flips, none mixed; both"
            " primaries served; up to %d waited during a pause" % (len(results), held))


@check
def held_transaction_that_did_work_gets_40001(ctx):
    """A transaction begun during a pause does work elsewhere, then waits for cart; cart's
    reads flip meanwhile. It can't continue on either routing: 40001, and the session goes on."""
    ctx.command("SET SERVICE cart WRITES dual")
    outcome = {}
    try:
        ctx.command("PAUSE cart")
        c = psycopg.connect(ctx.proxy())
        c.execute("UPDATE product_inventory SET quantity_reserved = quantity_reserved WHERE id = 9")

        def held():
            try:
                outcome["db"] = c.execute("SELECT current_database() FROM carts WHERE id = 1").fetchone()[0]
            except psycopg.Error as e:
                outcome["error"] = e
        t = threading.Thread(target=held)
        t.start()
        wait_for(lambda: ctx.service()["waiting"] == "1", 10, "the transaction to wait for cart")
        ctx.command("SET SERVICE cart READS service")
        ctx.command("RESUME cart")
        t.join(timeout=10)
        e = outcome.get("error")
        need(e is not None and getattr(e, "sqlstate", None) == "40001",
             "expected 40001, got %r" % (outcome,))
        c.rollback()
        need(c.execute("SELECT current_database() FROM carts WHERE id = 1").fetchone()[0] == "cart_db",
             "the next transaction does not read from the service")
        c.rollback()
        c.close()
    finally:
        if ctx.service()["paused"] == "yes":
            ctx.command("RESUME cart")
        ctx.command("SET SERVICE cart READS legacy")
        ctx.command("SET SERVICE cart WRITES legacy")
    return "40001: %s" % str(e).strip()[:120]


def set_pause_timeout(ctx, seconds):
    with open(ctx.args.config) as f:
        text = f.read()
    with open(ctx.args.config, "w") as f:
        f.write(re.sub(r"^pause_timeout = .*$", "pause_timeout = %s" % seconds, text, flags=re.M))
    ctx.command("RELOAD")


@check
def pause_timeout_errors_then_pause_stays(ctx):
    set_pause_timeout(ctx, 2)
    ctx.command("PAUSE cart")
    try:
        t0 = time.time()
        with psycopg.connect(ctx.proxy(), autocommit=True) as c:
            try:  # the extended protocol (a parameter)
                c.execute("SELECT 1 FROM carts WHERE id = %s", (1,))
                raise Fail("the statement ran while cart was paused")
            except psycopg.errors.QueryCanceled as e:
                waited = time.time() - t0
                need("paused" in str(e), "message: %s" % e)
            need(c.execute("SELECT 1 FROM users WHERE id = 1").fetchone()[0] == 1,
                 "other services must not wait")
        # the simple protocol; the session goes on after the error
        p = subprocess.run([PSQL, "-X", "-A", "-t", "-c", "SELECT 1 FROM carts WHERE id = 1",
                            "-c", "SELECT 42", ctx.proxy()], capture_output=True, text=True, timeout=30)
        need("paused" in p.stderr and p.stdout.strip() == "42", "psql: %r %r" % (p.stdout, p.stderr))
        need(ctx.service()["paused"] == "yes", "the pause ended with the timeout")
    finally:
        ctx.command("RESUME cart")
        set_pause_timeout(ctx, 20)
    with psycopg.connect(ctx.proxy(), autocommit=True) as c:
        c.execute("SELECT 1 FROM carts WHERE id = 1")
    return "waited %.1f s (pause_timeout), 57014 with a message; the pause stayed" % waited


@check
def state_file_written(ctx):
    ctx.command("SET SERVICE cart WRITES dual")
    ctx.command("SET SERVICE cart READS shadow")
    path = ctx.args.config + ".state"
    need(os.path.exists(path), "no state file at %s" % path)
    with open(path) as f:
        text = f.read()
    need("[service cart]" in text and "reads = shadow" in text, "state file: %r" % text)
    return "cart: writes=dual reads=shadow in %s" % os.path.basename(path)


@check
def state_survives_restart(ctx):
    need(state_of(ctx.service()) == ("dual", "legacy", "shadow"), "after restart cart is %s"
         % (state_of(ctx.service()),))
    _, conf = ctx.table("SHOW CONFIG")
    need(any(r["key"] == "service.cart.state" and "state file" in r["value"] for r in conf),
         "SHOW CONFIG does not say where cart's state comes from")
    # an edit of the file for that service wins over the older console change
    ctx.set_config_state("dual", "legacy", "legacy")
    ctx.command("RELOAD")
    need(state_of(ctx.service()) == ("dual", "legacy", "legacy"), "the config edit did not win: %s"
         % (state_of(ctx.service()),))
    ctx.set_config_state("legacy", "legacy", "legacy")
    ctx.command("RELOAD")
    return "writes=dual reads=shadow kept across the restart; a later config edit wins"


# checks_flip.py's checks share this module's helpers and results
sys.modules.setdefault("checks_control", sys.modules[__name__])
import checks_flip  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["main", "restart"])
    ap.add_argument("--proxy-port", type=int, required=True)
    ap.add_argument("--legacy-port", required=True)
    ap.add_argument("--service-ports", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--proxy-pid", type=int, required=True)
    ap.add_argument("--proxy-log", required=True)
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    ctx = Ctx(args)
    if args.phase == "main":
        checks = [console_refuses_non_admin, console_show_commands, reload_invalid_config_refused,
                  reload_keeps_listen_and_legacy,
                  walk_by_config_and_sighup, walk_by_console, unsafe_moves_refused,
                  reload_reorders_drops_and_reconnects,
                  pause_flip_resume_no_mixed_transaction, held_transaction_that_did_work_gets_40001,
                  pause_timeout_errors_then_pause_stays] + checks_flip.CHECKS + [
                  state_file_written]
    else:
        checks = [state_survives_restart]
    for c in checks:
        if args.only and not re.search(args.only, c.__name__):
            continue
        c(ctx)
    sys.exit(0 if all(RESULTS) else 1)


if __name__ == "__main__":
    main()
