"""Reloads and flips with idle pooled connections, and flips under conflicting writes (group
control; registered into checks_control.py's list, imported from there).

- Connections that never sent a statement, and ones the idle sweep trimmed (pgtandem frees an
  idle session's route state two sweeps, 2 s apart, after its last message), sit through a
  SIGHUP, a RELOAD and SET SERVICE: the proxy lives and every one of them works afterwards.
- An admin console session stays open across a reload that removes a service and one that
  adds it back, and goes on answering.
- A primary flip (by SIGHUP with an edited config, and by SET SERVICE) while a transaction of
  the old order holds a row of cart on legacy and a client of the new order writes that row:
  without a fence the two wait on each other across the two databases forever."""

import os
import signal
import threading
import time

import psycopg
import psycopg2

from checks_control import Fail, backfill, check, need, set_pause_timeout, state_of, wait_for

IDLE_TRIMMED_AFTER = 5.0  # two idle sweeps (proxy.c IDLE_SWEEP_SECONDS = 2) and a margin


def alive(ctx):
    try:
        os.kill(ctx.args.proxy_pid, 0)
        return True
    except OSError:
        return False


def open_idle(ctx, sets, fresh=3, trimmed=3):
    """Per set, connections that never sent anything and ones that ran a statement and then
    sat idle for two sweeps; returns the sets once the second kind is trimmed."""
    out = []
    for _ in range(sets):
        never = [psycopg.connect(ctx.proxy(), autocommit=True) for _ in range(fresh)]
        used = [psycopg.connect(ctx.proxy(), autocommit=True) for _ in range(trimmed)]
        for i, c in enumerate(used):
            c.execute("SELECT subtotal FROM carts WHERE id = %s", (40 + i,))
        out.append(never + used)
    time.sleep(IDLE_TRIMMED_AFTER)
    return out


def use_all(conns, what, write):
    """Each connection reads cart (and writes it when both sides are written: a write to
    legacy alone would leave the sides apart)."""
    for i, c in enumerate(conns):
        try:
            c.execute("SELECT subtotal FROM carts WHERE id = %s", (40 + i % 4,)).fetchone()
            if write:
                c.execute("UPDATE carts SET subtotal = subtotal WHERE id = %s", (40 + i % 4,))
        except psycopg.Error as e:
            raise Fail("%s: idle connection %d failed afterwards: %s" % (what, i, e))


def close_all(conns):
    for c in conns:
        try:
            c.close()
        except Exception:
            pass


@check
def reload_with_idle_sessions(ctx):
    """SIGHUP, RELOAD and SET SERVICE with idle pooled connections open: none drops."""
    need(state_of(ctx.service()) == ("legacy", "legacy", "legacy"), "cart %s" % (ctx.service(),))
    moves = [("SIGHUP", ctx.sighup), ("RELOAD", lambda: ctx.command("RELOAD")),
             ("SET SERVICE", lambda: ctx.command("SET SERVICE cart WRITES dual")),
             ("SET SERVICE back", lambda: ctx.command("SET SERVICE cart WRITES legacy"))]
    done = []
    sets = open_idle(ctx, len(moves))
    try:
        for (what, move), conns in zip(moves, sets):
            # each move finds a set untouched since it was trimmed
            move()
            time.sleep(0.5)
            need(alive(ctx), "the proxy died at %s with idle sessions open" % what)
            use_all(conns, what, ctx.service()["writes"] == "dual")
            done.append(what)
    finally:
        for conns in sets:
            close_all(conns)
    return "%s with never-used and swept-idle connections open; all worked afterwards" % ", ".join(done)


def rewrite_config(ctx, text):
    with open(ctx.args.config + ".tmp", "w") as f:
        f.write(text)
    os.rename(ctx.args.config + ".tmp", ctx.args.config)


def without_section(text, name):
    out, skip = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            skip = line.strip() == "[service %s]" % name
        if not skip:
            out.append(line)
    return "".join(out)


@check
def console_across_service_set_changes(ctx):
    """A console session opened while promotion is removed, then promotion added back: the
    session's snapshot grows; it goes on answering and ends cleanly."""
    with open(ctx.args.config) as f:
        good = f.read()
    off = ctx.log_size()
    try:
        rewrite_config(ctx, without_section(good, "promotion"))
        ctx.command("RELOAD")
        con = psycopg2.connect(ctx.proxy("pgtandem"))
        con.autocommit = True
        cur = con.cursor()
        cur.execute("SHOW SERVICES")
        need(len(cur.fetchall()) == 3, "promotion was not removed")
        rewrite_config(ctx, good)
        ctx.sighup()
        wait_for(lambda: len(ctx.table("SHOW SERVICES")[1]) == 4, 10, "promotion back")
        cur.execute("SHOW SERVICES")
        need(len(cur.fetchall()) == 4, "the old console session does not see promotion")
        cur.execute("SHOW CLIENTS")
        cur.fetchall()
        con.close()
        time.sleep(0.3)
        need(alive(ctx), "the proxy died when the console session ended")
        need("AddressSanitizer" not in ctx.log_since(off), "sanitizer report")
    finally:
        rewrite_config(ctx, good)
        if alive(ctx):
            ctx.command("RELOAD")
    return "a console session across a reload that removed promotion and one that added it back"


# ------------------------------------------------------------ a database that stops answering

def cluster_pids(conninfo):
    """The postmaster of the cluster behind conninfo and all its children."""
    def ppid(pid):
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    with psycopg.connect(conninfo) as c:
        backend = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        postmaster = ppid(backend)  # while the backend still lives: it exits with the connection
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if ppid(int(d)) == postmaster:
                    kids.append(int(d))
            except OSError:
                pass
    return [postmaster] + kids


def signal_all(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except OSError:
            pass


def run_bounded(fn, seconds):
    """Runs fn in a thread; (finished, result dict) after at most `seconds`."""
    out = {}

    def body():
        t0 = time.time()
        try:
            out["value"] = fn()
        except psycopg.Error as e:
            out["error"] = e
        out["seconds"] = time.time() - t0
    th = threading.Thread(target=body, daemon=True)
    th.start()
    th.join(seconds)
    return th, out


CONNECT_TIMEOUT = 5  # pgtandem's default


@check
def connect_timeout_blackholed_service(ctx):
    """cart's whole cluster stopped (SIGSTOP: connects are accepted by the kernel, nothing
    answers): a session that needs a new cart connection gets an error within
    connect_timeout, and sessions that don't need cart go on."""
    ctx.command("SET SERVICE cart WRITES dual")
    pids = cluster_pids(ctx.cart)
    c = psycopg.connect(ctx.proxy(), autocommit=True)
    th = None
    try:
        c.execute("SELECT 1")  # legacy only: no cart connection yet
        signal_all(pids, signal.SIGSTOP)
        th, out = run_bounded(lambda: c.execute(
            "UPDATE carts SET subtotal = subtotal WHERE id = 44"), CONNECT_TIMEOUT + 6)
        need(not th.is_alive(), "the write needing the stopped cart database still waits after"
             " %d s (connect_timeout is %d s)" % (CONNECT_TIMEOUT + 6, CONNECT_TIMEOUT))
        e = out.get("error")
        need(e is not None and "connect_timeout" in str(e), "expected an error naming"
             " connect_timeout, got %r" % (out,))
        with psycopg.connect(ctx.proxy(), autocommit=True) as other:
            need(other.execute("SELECT count(*) FROM users WHERE id = 1").fetchone()[0] == 1,
                 "a session not needing cart did not work")
    finally:
        signal_all(pids, signal.SIGCONT)
        if th is not None:
            th.join(30)
        c.close()
        ctx.command("SET SERVICE cart WRITES legacy")
    return "error after %.1f s: %s" % (out["seconds"], str(e).strip()[:150])


# ------------------------------------------------------------------- flips under writes

FLIP_ROW = 45  # carts row the two writers share
FLIP_BOUND = 5.0  # seconds each step may take: well below mirror_timeout (10 s), which
# would otherwise end a cross-database deadlock by failing one side


def named(ctx, name, autocommit=False):
    return psycopg.connect(ctx.proxy() + " application_name=" + name, autocommit=autocommit)


def unstick(ctx):
    """Ends this check's backends stuck on a lock, on both databases (a failed run)."""
    for conninfo in (ctx.legacy, ctx.cart):
        with psycopg.connect(conninfo, autocommit=True) as d:
            d.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE application_name LIKE 'pgt-flip-%' AND pid <> pg_backend_pid()")


def flip_under_writes(ctx, to_dual, flip, unflip):
    """A (old order) locks cart's row on legacy (SELECT ... FOR UPDATE, primary only); the
    primary flips; B (new order) updates the row; C, in a transaction on auth only, stays
    open throughout and must not hold anything up; then A updates the row and commits.
    Without a fence B holds the row on cart_db and waits on legacy, A holds it on legacy and
    waits on cart_db: neither database sees the cycle."""
    idle = [psycopg.connect(ctx.proxy(), autocommit=True) for _ in range(2)]  # pooled, unused
    to_dual()
    backfill(ctx.legacy, ctx.cart)
    a = named(ctx, "pgt-flip-a")
    b = named(ctx, "pgt-flip-b", autocommit=True)
    cc = named(ctx, "pgt-flip-c")
    tb = None
    flipped = False
    try:
        b.execute("SELECT 1")
        cc.execute("UPDATE user_profiles SET bio = bio WHERE user_id = 45")
        a.execute("SELECT id FROM carts WHERE id = %s FOR UPDATE", (FLIP_ROW,))
        flip()
        flipped = True
        tb, out_b = run_bounded(lambda: b.execute(
            "UPDATE carts SET subtotal = subtotal + 1 WHERE id = %s RETURNING current_database()",
            (FLIP_ROW,)).fetchone()[0], 0.8)
        need(tb.is_alive() or "error" not in out_b, "B failed: %s" % out_b.get("error"))
        ta, out_a = run_bounded(lambda: (a.execute(
            "UPDATE carts SET subtotal = subtotal + 1 WHERE id = %s RETURNING current_database()",
            (FLIP_ROW,)).fetchone()[0], a.commit()), FLIP_BOUND)
        need(not ta.is_alive(), "A (old order) still waits %.0f s after the flip: a deadlock across"
             " the two databases" % FLIP_BOUND)
        need("error" not in out_a, "A failed: %s" % out_a.get("error"))
        tb.join(FLIP_BOUND)
        need(not tb.is_alive(), "B (new order) still waits %.0f s after A committed" % FLIP_BOUND)
        need("error" not in out_b, "B failed: %s" % out_b.get("error"))
        need(out_a["value"][0] == "poc" and out_b["value"] == "cart_db",
             "primaries: A %s, B %s" % (out_a["value"][0], out_b["value"]))
        cc.commit()  # C never waited for anything
        for c in idle:
            c.execute("SELECT subtotal FROM carts WHERE id = %s", (FLIP_ROW,))
        with psycopg.connect(ctx.legacy) as l, psycopg.connect(ctx.cart) as s:
            q = "SELECT subtotal, updated_at FROM carts WHERE id = %s"
            lv, sv = l.execute(q, (FLIP_ROW,)).fetchone(), s.execute(q, (FLIP_ROW,)).fetchone()
        need(lv == sv, "carts %d differs: legacy %s, cart_db %s" % (FLIP_ROW, lv, sv))
        return ("B waited %.1f s for the fence, A (old order) took %.1f s; no error, row"
                " identical" % (out_b["seconds"], out_a["seconds"]))
    finally:
        if tb is not None and tb.is_alive():
            unstick(ctx)
            tb.join(10)
        for c in [a, b, cc] + idle:
            try:
                c.close()
            except Exception:
                pass
        if flipped:
            unflip()


@check
def flip_by_sighup_under_writes_no_deadlock(ctx):
    def to_dual():
        ctx.set_config_state("dual", "legacy", "legacy")
        ctx.sighup()
        wait_for(lambda: state_of(ctx.service())[0] == "dual", 10, "writes=dual")

    def flip():
        ctx.set_config_state("dual", "service", "legacy")
        ctx.sighup()
        wait_for(lambda: state_of(ctx.service())[1] == "service", 10, "primary=service")

    def unflip():
        ctx.set_config_state("legacy", "legacy", "legacy")
        ctx.sighup()
        wait_for(lambda: state_of(ctx.service()) == ("legacy", "legacy", "legacy"), 10,
                 "writes=legacy")
    return flip_under_writes(ctx, to_dual, flip, unflip)


@check
def flip_by_console_under_writes_no_deadlock(ctx):
    def unflip():
        ctx.command("SET SERVICE cart PRIMARY legacy")
        ctx.command("SET SERVICE cart WRITES legacy")
    return flip_under_writes(ctx, lambda: ctx.command("SET SERVICE cart WRITES dual"),
                             lambda: ctx.command("SET SERVICE cart PRIMARY service"), unflip)


@check
def flip_fence_times_out_with_clear_error(ctx):
    """A transaction of the old order that never ends holds the fence: a new-order writer
    gets 55P03 naming the service and the fence after pause_timeout (2 s here); the old
    transaction is not killed and commits; after it, the writer's retry runs."""
    ctx.command("SET SERVICE cart WRITES dual")
    backfill(ctx.legacy, ctx.cart)
    set_pause_timeout(ctx, 2)
    a = named(ctx, "pgt-flip-a")
    b = named(ctx, "pgt-flip-b", autocommit=True)
    tb = None
    try:
        a.execute("SELECT id FROM carts WHERE id = %s FOR UPDATE", (FLIP_ROW,))
        ctx.command("SET SERVICE cart PRIMARY service")
        tb, out = run_bounded(lambda: b.execute(
            "UPDATE carts SET subtotal = subtotal WHERE id = %s", (FLIP_ROW,)), 8)
        need(not tb.is_alive(), "the writer still waits 8 s after the flip (pause_timeout 2 s)")
        e = out.get("error")
        need(e is not None and e.sqlstate == "55P03" and "cart" in str(e) and "fence" in str(e),
             "expected 55P03 naming cart and the fence, got %r" % (out,))
        need(1.5 < out["seconds"] < 6, "the error came after %.1f s" % out["seconds"])
        a.execute("UPDATE carts SET subtotal = subtotal WHERE id = %s", (FLIP_ROW,))
        a.commit()  # the old transaction was never touched
        b.execute("UPDATE carts SET subtotal = subtotal WHERE id = %s", (FLIP_ROW,))
    finally:
        if tb is not None and tb.is_alive():
            unstick(ctx)
            tb.join(10)
        a.close()
        b.close()
        set_pause_timeout(ctx, 20)
        ctx.command("SET SERVICE cart PRIMARY legacy")
        ctx.command("SET SERVICE cart WRITES legacy")
    return "55P03 after %.1f s: %s" % (out["seconds"], str(e).strip()[:160])


CHECKS = [reload_with_idle_sessions, console_across_service_set_changes,
          connect_timeout_blackholed_service, flip_by_sighup_under_writes_no_deadlock,
          flip_by_console_under_writes_no_deadlock, flip_fence_times_out_with_clear_error]
