"""Requests that used to stall a routed session (issue 10, items 5-9), each bounded by a
timeout so a stall is a failure:

- large messages: a 1 MiB and a 64 MiB Query (a SELECT of a long literal; an INSERT of a
  64 MiB text into a dual-written table, held by both sides), a 16 MiB Bind parameter, one
  16 MiB CopyData into a table no service owns and one 900 KiB CopyData into a dual-written
  table (run.sh sets copy_buffer_limit to 1 MiB); the proxy's VmRSS must stay within a few
  times the message size;
- Sync-less pipelines: psycopg's pipeline mode with thousands of statements before its
  Sync, into an unowned and into a dual-written table, with bounded proxy memory; COPY data
  into a server that stops reading, with bounded proxy memory;
- a slow reader of a large result a service database serves (group reads_service);
- an error in Flush-ended batches (raw protocol, libpq's PQsendFlushRequest, psycopg's
  pipeline()), compared with what legacy alone answers;
- FunctionCalls pgtandem refuses, and FunctionCalls behind Parse/Bind/Execute of a window;
- COPY FROM STDIN begun by an Execute with its CopyData in the same batch.

Unowned rows go into tables stalls_*, made on legacy only (no service owns them);
dual-written rows into wishlist_items, ids -940000 and below per group. Registered into
checks.py's list (imported from there)."""

import hashlib
import os
import struct
import sys
import threading
import time

import psycopg

from checks import TS, check, need, proxy_pid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import pgraw  # noqa: E402
from pgraw import cstr, msg  # noqa: E402

MIB = 1024 * 1024
BASE = {"dual": -940000, "continue": -941000, "reads_service": -942000,
        "primary_service": -943000, "two_phase": -944000, "shadow": -945000}
WI_COLS = "id, wishlist_id, product_id, note, priority, added_at"
WL = 1997  # a wishlist no other check writes (checks_copy.py has 1999, checks_two_phase.py 1998)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def ids(ctx, offset, n=1):
    first = BASE[ctx.group] - offset
    return [first - i for i in range(n)]


def unowned(ctx, table):
    """Table `table` on legacy, emptied: no service owns it. Each check has its own, so a
    check that stalled (holding its table's locks) does not hold up the next."""
    c = ctx.direct("legacy")
    c.execute("SET lock_timeout = '10s'")
    c.execute("CREATE TABLE IF NOT EXISTS %s (id int PRIMARY KEY, body text)" % table)
    c.execute("TRUNCATE %s" % table)
    return c


def free_products(ctx, n):
    """n products wishlist WL does not hold yet ((wishlist_id, product_id) is unique)."""
    return [r[0] for r in ctx.q("legacy", "SELECT id FROM products WHERE id NOT IN (SELECT "
                                "product_id FROM wishlist_items WHERE wishlist_id = %s) "
                                "ORDER BY id DESC LIMIT %s", (WL, n))]


def drop_wishlist_items(ctx, idlist):
    for db in ("legacy", "cart"):
        ctx.direct(db).execute("DELETE FROM wishlist_items WHERE id BETWEEN %s AND %s",
                               (min(idlist), max(idlist)))


def note_digest(ctx, db, wid):
    return ctx.one(db, "SELECT length(note), md5(note) FROM wishlist_items WHERE id = %s", (wid,))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssPeak:
    """Samples the proxy's VmRSS every 20 ms while the block runs."""

    def __init__(self, ctx):
        self.pid = proxy_pid(ctx)
        need(self.pid, "can't find the proxy's pid (config %s)" % ctx.args.proxy_config)
        self.start = self.peak = rss_kib(self.pid)
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)

    def __enter__(self):
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.t.join(1)
        self.peak = max(self.peak, rss_kib(self.pid))

    def growth_mib(self):
        return (self.peak - self.start) / 1024.0

    def bounded(self, what, limit_mib):
        need(self.growth_mib() <= limit_mib,
             "%s: the proxy's VmRSS grew by %.0f MiB (from %.0f MiB), more than %d MiB"
             % (what, self.growth_mib(), self.start / 1024.0, limit_mib))
        return "VmRSS +%.0f MiB" % self.growth_mib()


def in_time(fn, timeout, what):
    """Runs fn in a thread; a Fail when it has not returned after timeout seconds."""
    box = {}

    def run():
        try:
            box["v"] = fn()
        except BaseException as e:  # re-raised below
            box["e"] = e
    t = threading.Thread(target=run, daemon=True)
    t0 = time.monotonic()
    t.start()
    t.join(timeout)
    need(not t.is_alive(), "%s: no answer after %d s (stalled)" % (what, timeout))
    if "e" in box:
        raise box["e"]
    return box.get("v"), time.monotonic() - t0


def raw_conn(ctx, timeout=30.0):
    return pgraw.connect(pgraw.Dsn("postgresql://poc_user:admin123@127.0.0.1:%d/poc"
                                   % ctx.proxy_port), timeout=timeout)


def raw_errors(msgs):
    return ["%s %s" % (f.get("C"), f.get("M")) for f in pgraw.errors(msgs)]


# ---------------------------------------------------------------------------
# item 5: large messages
# ---------------------------------------------------------------------------
def select_literal(ctx, n):
    body = "x" * n
    with ctx.proxy() as c:
        with RssPeak(ctx) as rss:
            got, dt = in_time(lambda: c.execute("SELECT md5('%s')" % body).fetchone(), 60,
                              "a %d-byte Query" % n)
        need(got == (hashlib.md5(body.encode()).hexdigest(),),
             "a %d-byte Query answered %r" % (n, got))
        need(c.execute("SELECT 1").fetchone() == (1,), "the session does not go on")
    return rss, dt


@check("dual", timeout=100)
def large_query_select(ctx):
    """A 1 MiB and a 64 MiB simple Query through the routed proxy complete."""
    _, dt1 = select_literal(ctx, MIB)
    rss, dt64 = select_literal(ctx, 64 * MIB)
    return "1 MiB in %.1fs, 64 MiB in %.1fs, %s" % (dt1, dt64, rss.bounded("64 MiB Query", 10 * 64 + 64))


@check("dual", timeout=80)
def large_query_insert_dual(ctx):
    """A 64 MiB INSERT into a dual-written table: both sides hold the value."""
    (wid,) = ids(ctx, 0)
    drop_wishlist_items(ctx, [wid])
    note = ("0123456789abcdef" * (4 * MIB))
    sql = ("INSERT INTO wishlist_items (%s) VALUES (%d, %d, %d, '%s', 1, %s)"
           % (WI_COLS, wid, WL, free_products(ctx, 1)[0], note, TS))
    try:
        with ctx.proxy() as c:
            with RssPeak(ctx) as rss:
                got, dt = in_time(lambda: c.execute(sql).statusmessage, 60,
                                  "a 64 MiB INSERT into wishlist_items")
            need(got == "INSERT 0 1", "the 64 MiB INSERT answered %r" % got)
        want = (len(note), hashlib.md5(note.encode()).hexdigest())
        for db in ("legacy", "cart"):
            need(note_digest(ctx, db, wid) == want, "%s does not hold the 64 MiB note" % db)
        return "in %.1fs, both sides hold it, %s" % (dt, rss.bounded("64 MiB INSERT", 10 * 64 + 64))
    finally:
        drop_wishlist_items(ctx, [wid])


@check("dual", timeout=70)
def large_bind_parameter(ctx):
    """A 16 MiB Bind parameter (psycopg, extended protocol): a SELECT of it and an INSERT of
    it into a dual-written table, held by both sides."""
    (wid,) = ids(ctx, 10)
    drop_wishlist_items(ctx, [wid])
    value = "p" * (16 * MIB)
    want = (len(value), hashlib.md5(value.encode()).hexdigest())
    try:
        with ctx.proxy() as c:
            with RssPeak(ctx) as rss:
                got, dt = in_time(lambda: c.execute("SELECT length(%s::text), md5(%s::text)",
                                                    (value, value)).fetchone(),
                                  30, "a SELECT with a 16 MiB parameter")
                need(got == want, "the SELECT of a 16 MiB parameter answered %r" % (got,))
                got, _ = in_time(lambda: c.execute(
                    "INSERT INTO wishlist_items (" + WI_COLS + ") VALUES (%s, %s, %s, %s, 1, "
                    + TS + ")", (wid, WL, free_products(ctx, 1)[0], value)).statusmessage, 30,
                    "an INSERT with a 16 MiB parameter")
            need(got == "INSERT 0 1", "the INSERT answered %r" % got)
        for db in ("legacy", "cart"):
            need(note_digest(ctx, db, wid) == want, "%s does not hold the 16 MiB note" % db)
        return "SELECT in %.1fs, both sides hold the INSERT, %s" % (
            dt, rss.bounded("16 MiB Bind", 10 * 16 + 64))
    finally:
        drop_wishlist_items(ctx, [wid])


def raw_copy(ctx, sql, payload):
    """COPY sql FROM STDIN with the payload in one CopyData message, over the raw protocol:
    the messages up to ReadyForQuery."""
    c = raw_conn(ctx, timeout=60.0)
    try:
        c.send(msg(b"Q", cstr(sql)))
        first = c.read_msg(30)
        need(first[0] == b"G", "COPY answered %r, not CopyInResponse: %s"
             % (first[0], raw_errors([first])))
        c.send(msg(b"d", payload) + msg(b"c"))
        got = c.read_until_ready(60)
        c.send(msg(b"X"))
        return got
    finally:
        c.close()


@check("dual", timeout=70)
def large_copydata(ctx):
    """One 16 MiB CopyData into a table no service owns, and one 900 KiB CopyData into a
    dual-written table (under run.sh's copy_buffer_limit of 1 MiB): both complete."""
    legacy = unowned(ctx, "stalls_copy")
    body = "c" * (16 * MIB)
    with RssPeak(ctx) as rss:
        got, dt = in_time(lambda: raw_copy(ctx, "COPY stalls_copy (id, body) FROM STDIN",
                                           ("1\t%s\n" % body).encode()),
                          30, "a 16 MiB CopyData into stalls_copy")
    need(not pgraw.errors(got), "the unowned COPY failed: %s" % raw_errors(got))
    need(legacy.execute("SELECT length(body) FROM stalls_copy WHERE id = 1").fetchone()
         == (len(body),), "stalls_copy does not hold the 16 MiB row")
    (wid,) = ids(ctx, 20)
    drop_wishlist_items(ctx, [wid])
    note = "d" * (900 * 1024)
    try:
        got, dt2 = in_time(lambda: raw_copy(
            ctx, "COPY wishlist_items (%s) FROM STDIN" % WI_COLS,
            ("%d\t%d\t%d\t%s\t1\t2025-01-01 00:00:00+00\n"
             % (wid, WL, free_products(ctx, 1)[0], note)).encode()),
            30, "a 900 KiB CopyData into wishlist_items")
        need(not pgraw.errors(got), "the dual COPY failed: %s" % raw_errors(got))
        want = (len(note), hashlib.md5(note.encode()).hexdigest())
        for db in ("legacy", "cart"):
            need(note_digest(ctx, db, wid) == want, "%s does not hold the copied row" % db)
    finally:
        drop_wishlist_items(ctx, [wid])
    return "16 MiB in %.1fs (%s), 900 KiB dual in %.1fs" % (
        dt, rss.bounded("16 MiB CopyData", 10 * 16 + 64), dt2)


def pipeline_inserts(ctx, sql, rows):
    """psycopg's pipeline mode: every INSERT before the one Sync at the block's end."""
    with ctx.proxy() as c:
        def run():
            with c.pipeline():
                for r in rows:
                    c.execute(sql, r)
        _, dt = in_time(run, 30, "a pipeline of %d INSERTs without Sync" % len(rows))
        need(c.execute("SELECT 1").fetchone() == (1,), "the session does not go on")
    return dt


@check("dual", timeout=70)
def syncless_pipeline(ctx):
    """5,000 INSERTs into an unowned table and 1,000 into a dual-written table, each in one
    psycopg pipeline (one Sync, at the end): all run, the proxy's memory stays bounded."""
    legacy = unowned(ctx, "stalls_pipeline")
    with RssPeak(ctx) as rss:
        dt = pipeline_inserts(ctx, "INSERT INTO stalls_pipeline (id, body) VALUES (%s, %s)",
                              [(i, "row %d" % i) for i in range(5000)])
    need(legacy.execute("SELECT count(*) FROM stalls_pipeline").fetchone() == (5000,),
         "stalls_pipeline does not hold the 5,000 rows")
    idlist = ids(ctx, 100, 1000)
    drop_wishlist_items(ctx, idlist)
    try:
        dt2 = pipeline_inserts(
            ctx, "INSERT INTO wishlist_items (" + WI_COLS + ") VALUES (%s, %s, %s, 'pipe', 1, "
            + TS + ")", list(zip(idlist, [WL] * len(idlist), free_products(ctx, len(idlist)))))
        for db in ("legacy", "cart"):
            n = ctx.one(db, "SELECT count(*) FROM wishlist_items WHERE id BETWEEN %s AND %s",
                        (min(idlist), max(idlist)))[0]
            need(n == 1000, "%s holds %d of the 1,000 pipelined rows" % (db, n))
    finally:
        drop_wishlist_items(ctx, idlist)
    return "unowned in %.1fs (%s), dual in %.1fs" % (dt, rss.bounded("pipeline", 64), dt2)


# ---------------------------------------------------------------------------
# item 6: a slow reader of a large result a service database serves
# ---------------------------------------------------------------------------
def count_rows_slowly(sock, pause, deadline):
    """Reads a little, stops reading for `pause` seconds (the proxy's backlog to us passes
    its high-water mark and it pauses the backend), then reads to ReadyForQuery: (DataRow
    count, ErrorResponse fields or None)."""
    buf = bytearray(sock.recv(65536))
    time.sleep(pause)
    rows, pos, error = 0, 0, None
    end = time.monotonic() + deadline
    while True:
        while len(buf) - pos >= 5:
            (length,) = struct.unpack_from("!i", buf, pos + 1)
            if len(buf) - pos < 1 + length:
                break
            kind = buf[pos]
            if kind == ord("D"):
                rows += 1
            elif kind == ord("E"):
                error = pgraw.parse_fields(bytes(buf[pos + 5:pos + 1 + length]))
            elif kind == ord("Z"):
                return rows, error
            pos += 1 + length
        if pos > (1 << 20):
            del buf[:pos]
            pos = 0
        left = end - time.monotonic()
        need(left > 0, "the result stopped after %d rows (the proxy never resumed reading "
             "the service backend)" % rows)
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 20)
        except OSError:  # the deadline passed
            chunk = None
            need(False, "the result stopped after %d rows (the proxy never resumed reading "
                 "the service backend)" % rows)
        need(chunk, "the proxy closed the connection after %d rows" % rows)
        buf += chunk


@check("reads_service", timeout=70)
def slow_reader_service_result(ctx):
    """With reads=service, ~150 MB of rows from product_db read by a client that stops
    reading for 3 s once they flow: every row arrives, and the proxy's memory stays
    bounded while the client waits."""
    n = ctx.one("product", "SELECT count(*) FROM products")[0] * 100
    c = raw_conn(ctx, timeout=60.0)
    try:
        c.send(msg(b"Q", cstr("SELECT p.id, g, repeat(md5(p.id::text || g::text), 8) "
                              "FROM products p, generate_series(1, 100) g")))
        with RssPeak(ctx) as rss:
            rows, error = count_rows_slowly(c.sock, 3.0, 40)
        need(error is None, "the read failed: %s %s" % (error and error.get("C"),
                                                      error and error.get("M")))
        need(rows == n, "%d rows arrived, wanted %d" % (rows, n))
        c.send(msg(b"X"))
    finally:
        c.close()
    return "%d rows, %s" % (rows, rss.bounded("slow reader", 64))


# ---------------------------------------------------------------------------
# item 9: an error in a pipeline of Flush-ended batches
# ---------------------------------------------------------------------------
def raw_legacy(ctx):
    return pgraw.connect(pgraw.Dsn("postgresql://poc_user:admin123@127.0.0.1:%d/poc"
                                   % ctx.ports["legacy"]), timeout=10.0)


def p_parse(name, sql):
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack("!h", 0))


def p_bind(stmt, params=()):
    body = cstr("") + cstr(stmt) + struct.pack("!hh", 0, len(params))
    for v in params:
        body += struct.pack("!i", len(v)) + v.encode()
    return msg(b"B", body + struct.pack("!h", 0))


def p_execute():
    return msg(b"E", cstr("") + struct.pack("!i", 0))


FLUSH, SYNC = msg(b"H"), msg(b"S")


def arriving(c, secs, until=None):
    """The kinds of every message that arrives within secs, as one string; with `until`, up
    to that kind and 0.3 s more."""
    out = []
    end = time.monotonic() + secs
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return "".join(out)
        try:
            out.append(c.read_msg(left)[0].decode())
        except pgraw.Timeout:
            return "".join(out)
        if out[-1] == until:
            end = min(end, time.monotonic() + 0.3)


def flush_error_transcript(ctx, c, then):
    """BEGIN and two INSERTs of one key into stalls_flush_raw ended by Flush (the second
    fails), then `then` + Flush, then Sync: what arrives after each step."""
    ins = p_parse("stalls_ins", "INSERT INTO stalls_flush_raw (id, body) VALUES ($1, 'x')")
    c.send(p_parse("", "BEGIN") + p_bind("") + p_execute() + ins +
           p_bind("stalls_ins", ["1"]) + p_execute() + p_bind("stalls_ins", ["1"]) +
           p_execute() + FLUSH)
    steps = [arriving(c, 3.0, "E")]
    c.send(then + FLUSH)
    steps.append(arriving(c, 0.5))
    c.send(SYNC)
    steps.append(arriving(c, 3.0, "Z"))
    rows = pgraw.row_values(c.query("SELECT count(*) FROM stalls_flush_raw", timeout=5))
    steps.append(rows[0][0] if rows else "no rows")
    return steps


@check("dual", "continue", timeout=60)
def flush_pipeline_error_raw(ctx):
    """Raw protocol, Flush-ended batches: the unique violation reaches the client at its
    Flush, the messages after it (another INSERT of the unowned table; an UPDATE of a
    dual-written table) get nothing, the Sync exactly one ReadyForQuery: as legacy alone."""
    unowned(ctx, "stalls_flush_raw")
    (wid,) = ids(ctx, 2000)
    out = []
    for what, then in [("unowned", p_bind("stalls_ins", ["2"]) + p_execute()),
                       ("dual", p_parse("", "UPDATE wishlist_items SET note = 'stalls' "
                                            "WHERE id = %d" % wid) + p_bind("") + p_execute())]:
        want = flush_error_transcript(ctx, raw_legacy(ctx), then)
        need(want[2] == "Z", "legacy itself answered the Sync with %r" % want[2])
        got, _ = in_time(lambda: flush_error_transcript(ctx, raw_conn(ctx), then), 20,
                         "the Flush pipeline")
        need(got == want, "%s: through pgtandem %r, legacy alone %r (after the failing "
             "batch, the next one, the Sync, then the row count)" % (what, got, want))
        out.append("%s %s" % (what, "/".join(got[:3])))
    return ", ".join(out)


def libpq_flush_sequence(ctx, conninfo, then_dual):
    """libpq pipeline mode, PQsendFlushRequest after each statement: BEGIN, a prepared
    INSERT run with keys 1, 2, 1 (a unique violation), then 3 (or an UPDATE of a
    dual-written table), then the Sync: the result status of each."""
    from psycopg import pq
    c = psycopg.connect(conninfo, autocommit=True)
    try:
        pg = c.pgconn
        pg.nonblocking = 1
        pg.enter_pipeline_mode()

        def flush():
            end = time.monotonic() + 10
            while pg.flush() != 0:
                need(time.monotonic() < end, "libpq could not send its messages")
                time.sleep(0.01)

        def result(timeout=3.0):
            end = time.monotonic() + timeout
            while True:
                pg.consume_input()
                if not pg.is_busy():
                    r = pg.get_result()
                    return r and pq.ExecStatus(r.status).name
                if time.monotonic() > end:
                    return "NOTHING"
                time.sleep(0.01)

        out = []
        pg.send_query_params(b"BEGIN", None)
        pg.send_flush_request()
        pg.send_prepare(b"stalls_lp",
                        b"INSERT INTO stalls_flush_libpq (id, body) VALUES ($1, 'x')")
        pg.send_flush_request()
        flush()
        for _ in range(2):
            out.append(result())
            result()  # the NULL ending each result
        for key in (b"1", b"2", b"1", b"3"):
            if key == b"3" and then_dual:
                pg.send_query_params(b"UPDATE wishlist_items SET note = 'stalls' WHERE id = -1",
                                     None)
            else:
                pg.send_query_prepared(b"stalls_lp", [key])
            pg.send_flush_request()
            flush()
            out.append(result(2.0))
            if out[-1] != "NOTHING":
                result(1.0)
        pg.pipeline_sync()
        flush()
        out.append(result(3.0))
        pg.exit_pipeline_mode()
        return out
    finally:
        c.close()


@check("dual", "continue", timeout=60)
def flush_pipeline_error_libpq(ctx):
    """The same through libpq's PQsendFlushRequest: results as legacy alone gives them."""
    unowned(ctx, "stalls_flush_libpq")
    proxied = ("host=127.0.0.1 port=%d dbname=poc user=poc_user password=admin123 "
               "connect_timeout=10" % ctx.proxy_port)
    out = []
    for then_dual in (False, True):
        ctx.direct("legacy").execute("TRUNCATE stalls_flush_libpq")
        want = libpq_flush_sequence(ctx, ctx.conninfo("legacy"), then_dual)
        ctx.direct("legacy").execute("TRUNCATE stalls_flush_libpq")
        got, _ = in_time(lambda: libpq_flush_sequence(ctx, proxied, then_dual), 30,
                         "the libpq Flush pipeline")
        need(got == want, "through pgtandem %r, legacy alone %r" % (got, want))
        out.append("/".join(got))
    return " | ".join(out)


@check("dual", "continue", timeout=90)
def flush_pipeline_error_psycopg(ctx):
    """psycopg's pipeline(): prepared INSERTs in a transaction, one unique violation, on an
    unowned and on a dual-written table: the same error as on legacy alone, nothing kept,
    the session idle and usable."""
    proxied = ("host=127.0.0.1 port=%d dbname=poc user=poc_user password=admin123 "
               "connect_timeout=10" % ctx.proxy_port)
    out = []
    base = ids(ctx, 3000, 10)
    prods = free_products(ctx, 10)
    for table in ("stalls_flush_psy", "wishlist_items"):
        if table == "stalls_flush_psy":
            sql = "INSERT INTO stalls_flush_psy (id, body) VALUES (%s, 'x')"
            args = lambda k: (k,)
        else:
            sql = ("INSERT INTO wishlist_items (" + WI_COLS + ") VALUES (%s, %s, %s, 'x', 1, "
                   + TS + ")")
            args = lambda k: (base[k], WL, prods[k])
        for threshold in (0, 5):
            results = []
            for conninfo in (ctx.conninfo("legacy"), proxied):
                unowned(ctx, "stalls_flush_psy")
                drop_wishlist_items(ctx, base)
                c = psycopg.connect(conninfo, autocommit=True)
                try:
                    c.prepare_threshold = threshold

                    def run():
                        try:
                            with c.pipeline():
                                with c.transaction():
                                    for k in (1, 2, 3, 2, 4, 5):
                                        c.execute(sql, args(k))
                        except psycopg.Error as e:
                            return type(e).__name__
                        return None
                    err, _ = in_time(run, 20, "psycopg's pipeline on %s" % table)
                    status = c.info.transaction_status.name
                    ok = c.execute("SELECT 1").fetchone() == (1,)
                finally:
                    c.close()
                kept = ctx.one("legacy", "SELECT count(*) FROM stalls_flush_psy")[0] + sum(
                    ctx.one(db, "SELECT count(*) FROM wishlist_items WHERE id BETWEEN %s AND %s",
                            (min(base), max(base)))[0] for db in ("legacy", "cart"))
                results.append((err, status, ok, kept))
            need(results[1] == results[0], "%s, prepare_threshold %d: through pgtandem %r, "
                 "legacy alone %r (error, status, usable, rows kept)"
                 % (table, threshold, results[1], results[0]))
            out.append("%s/%d %s" % (table, threshold, results[1][0]))
    drop_wishlist_items(ctx, base)
    return ", ".join(out)


# ---------------------------------------------------------------------------
# item 8: a FunctionCall pgtandem refuses
# ---------------------------------------------------------------------------
def function_call(oid, arg):
    """FunctionCall of `oid` with one text argument, text result."""
    arg = arg.encode()
    return msg(b"F", struct.pack("!ihhhi", oid, 1, 0, 1, len(arg)) + arg + struct.pack("!h", 0))


def kinds_of(msgs):
    return "".join(k.decode() for k, _ in msgs)


@check("dual", "continue", timeout=60)
def refused_function_call(ctx):
    """A FunctionCall pgtandem refuses gets an ErrorResponse and its ReadyForQuery: in a
    transaction pgtandem aborted (25P02), and behind a dual-written INSERT of the same
    window (0A000; the INSERT is kept nowhere). The session goes on each time."""
    (wid,) = ids(ctx, 4000)
    drop_wishlist_items(ctx, [wid])
    out = []
    c = raw_conn(ctx, timeout=10.0)
    try:
        oid = int(c.scalar("SELECT 'int4abs'::regproc::oid"))
        # a transaction pgtandem aborted: a refused schema change inside BEGIN
        need(not pgraw.errors(c.query("BEGIN")), "BEGIN failed")
        need(pgraw.errors(c.query("ALTER TABLE wishlist_items ADD COLUMN stalls int")),
             "a schema change of a migrated table was not refused")
        c.send(function_call(oid, "-5"))
        got, _ = in_time(lambda: c.read_until_ready(5), 10, "the FunctionCall in an aborted "
                         "transaction")
        errs = pgraw.errors(got)
        need(errs and got[-1] == (b"Z", b"E"), "the FunctionCall in an aborted transaction got "
             "%s %s" % (kinds_of(got), got[-1][1]))
        out.append("aborted tx: %s %s" % (errs[0].get("C"), kinds_of(got)))
        need(c.query("ROLLBACK")[-1] == (b"Z", b"I"), "ROLLBACK did not end the transaction")
        # a window a service database is in: a dual-written INSERT, then the call
        ins = ("INSERT INTO wishlist_items (%s) VALUES (%d, %d, %d, 'fcall', 1, %s)"
               % (WI_COLS, wid, WL, free_products(ctx, 1)[0], TS))
        c.send(p_parse("", ins) + p_bind("") + p_execute() + function_call(oid, "-5"))
        got, _ = in_time(lambda: c.read_until_ready(5), 10, "the FunctionCall behind a "
                         "dual-written INSERT")
        errs = pgraw.errors(got)
        need(errs and errs[0].get("C") == "0A000" and got[-1] == (b"Z", b"I"),
             "the FunctionCall behind a dual-written INSERT got %s %s"
             % (kinds_of(got), errs))
        out.append("in a window: %s %s" % (errs[0].get("C"), kinds_of(got)))
        for db in ("legacy", "cart"):
            need(ctx.one(db, "SELECT count(*) FROM wishlist_items WHERE id = %s", (wid,))[0] == 0,
                 "%s kept the INSERT of the refused window" % db)
        need(c.scalar("SELECT 3") == "3", "the session does not go on")
    finally:
        c.close()
        drop_wishlist_items(ctx, [wid])
    return ", ".join(out)


# ---------------------------------------------------------------------------
# item 7: COPY FROM STDIN begun by an Execute inside a batch
# ---------------------------------------------------------------------------
def ext_copy_batch(conn, before, copy_sql, rows):
    """One write holding `before` (Parse/Bind/Execute messages), Parse/Bind/Execute of
    copy_sql, its CopyData and CopyDone, and Sync: (the kinds of every reply up to
    ReadyForQuery, the ErrorResponse codes)."""
    data = "".join(rows).encode()
    conn.send(before + p_parse("", copy_sql) + p_bind("") + p_execute() + msg(b"d", data) +
              msg(b"c") + SYNC)
    got = conn.read_until_ready(10)
    extra = arriving(conn, 0.3)
    return kinds_of(got) + extra, [e.get("C") for e in pgraw.errors(got)]


@check("dual", "continue", timeout=90)
def copy_in_extended_batch(ctx):
    """COPY FROM STDIN begun with Parse/Bind/Execute behind other messages of the same
    batch, its CopyData and CopyDone in the same write: into an unowned table (alone, and
    behind a dual-written INSERT that takes the batch through the engine) every reply is
    what legacy alone gives and the rows land; into a dual-written table it is refused
    (0A000, one ReadyForQuery, nothing kept on either side). The session goes on."""
    table = "stalls_copy_ext"
    pre = (p_parse("", "INSERT INTO %s VALUES (1, 'before')" % table) + p_bind("") +
           p_execute())
    copy_rows = ["2\tcopied\n", "3\tcopied too\n"]
    out = []
    (wid,) = ids(ctx, 5000)
    product = free_products(ctx, 1)[0]
    dual_ins = (p_parse("", "INSERT INTO wishlist_items (%s) VALUES (%d, %d, %d, 'copy ext', 1,"
                            " %s)" % (WI_COLS, wid, WL, product, TS)) + p_bind("") + p_execute())
    for what, before in [("unowned", pre), ("unowned behind a dual write", dual_ins + pre)]:
        results = []
        for connect in (raw_legacy, raw_conn):
            legacy = unowned(ctx, table)
            drop_wishlist_items(ctx, [wid])
            conn = connect(ctx)
            try:
                got, _ = in_time(lambda: ext_copy_batch(
                    conn, before, "COPY %s FROM STDIN" % table, copy_rows), 20,
                    "a COPY begun in a batch (%s)" % what)
                after = conn.scalar("SELECT 3")
            finally:
                conn.close()
            kept = legacy.execute("SELECT count(*) FROM %s" % table).fetchone()[0]
            results.append((got, after, kept))
        need(results[1] == results[0], "%s: through pgtandem %r, legacy alone %r (replies, "
             "SELECT 3 after, rows kept)" % (what, results[1], results[0]))
        need(results[1][2] == 3, "%s: %d rows kept, wanted 3" % (what, results[1][2]))
        out.append("%s %s" % (what, results[1][0][0]))
    sides = [ctx.one(db, "SELECT count(*) FROM wishlist_items WHERE id = %s", (wid,))[0]
             for db in ("legacy", "cart")]
    need(sides == [1, 1], "the dual-written INSERT before the COPY is on %r of legacy/cart"
         % sides)
    drop_wishlist_items(ctx, [wid])
    # into a dual-written table: refused, the whole batch kept nowhere
    legacy = unowned(ctx, table)
    conn = raw_conn(ctx)
    try:
        (kinds, codes), _ = in_time(lambda: ext_copy_batch(
            conn, pre, "COPY wishlist_items (%s) FROM STDIN" % WI_COLS,
            ["%d\t%d\t%d\tcopy ext\t1\t2025-01-01 00:00:00+00\n" % (wid, WL, product)]), 20,
            "a COPY into wishlist_items begun in a batch")
        need(codes == ["0A000"] and kinds.count("Z") == 1,
             "the COPY into wishlist_items got %s %s, wanted one 0A000 and one ReadyForQuery"
             % (kinds, codes))
        need(conn.scalar("SELECT 3") == "3", "the session does not go on")
    finally:
        conn.close()
    sides = [ctx.one(db, "SELECT count(*) FROM wishlist_items WHERE id = %s", (wid,))[0]
             for db in ("legacy", "cart")]
    need(sides == [0, 0], "the refused COPY left rows on legacy/cart: %r" % sides)
    need(legacy.execute("SELECT count(*) FROM %s" % table).fetchone()[0] == 0,
         "the INSERT before the refused COPY was kept")
    out.append("dual %s" % kinds)
    return ", ".join(out)


@check("dual", timeout=60)
def copy_into_slow_server(ctx):
    """32 MiB of COPY data, in 64 KiB CopyData, into an unowned table whose server stops
    reading for 3 s (a trigger sleeps on the first row): pgtandem stops reading the client
    while the server lags instead of holding the data, and every row lands."""
    legacy = unowned(ctx, "stalls_slow_copy")
    legacy.execute("CREATE OR REPLACE FUNCTION stalls_slow_first() RETURNS trigger "
                   "LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 0 THEN PERFORM pg_sleep(3); "
                   "END IF; RETURN NEW; END $$")
    legacy.execute("DROP TRIGGER IF EXISTS stalls_slow ON stalls_slow_copy")
    legacy.execute("CREATE TRIGGER stalls_slow BEFORE INSERT ON stalls_slow_copy FOR EACH ROW "
                   "EXECUTE FUNCTION stalls_slow_first()")
    chunk_rows = 16
    body = "s" * 4090
    n_chunks = 32 * MIB // (chunk_rows * 4096)
    c = raw_conn(ctx, timeout=30.0)
    try:
        c.send(msg(b"Q", cstr("COPY stalls_slow_copy (id, body) FROM STDIN")))
        first = c.read_msg(10)
        need(first[0] == b"G", "COPY answered %r: %s" % (first[0], raw_errors([first])))

        def send_all():
            rid = 0
            for _ in range(n_chunks):
                data = "".join("%d\t%s\n" % (rid + i, body) for i in range(chunk_rows))
                rid += chunk_rows
                c.send(msg(b"d", data.encode()))
            c.send(msg(b"c"))
            return c.read_until_ready(30)
        with RssPeak(ctx) as rss:
            got, dt = in_time(send_all, 40, "32 MiB of COPY data into a slow server")
        need(not pgraw.errors(got), "the COPY failed: %s" % raw_errors(got))
        c.send(msg(b"X"))
    finally:
        c.close()
    n = legacy.execute("SELECT count(*) FROM stalls_slow_copy").fetchone()[0]
    need(n == n_chunks * chunk_rows, "%d rows landed, wanted %d" % (n, n_chunks * chunk_rows))
    return "%d rows in %.1fs, %s" % (n, dt, rss.bounded("COPY into a slow server", 16))


@check("dual", "continue", timeout=60)
def function_call_in_window(ctx):
    """A FunctionCall right behind Parse/Bind/Execute of a table no service owns (no Sync
    between): when they succeed it runs and ends the window with its ReadyForQuery; when
    one fails it is skipped until the client's Sync; both as legacy alone answers."""
    legacy = unowned(ctx, "stalls_fcall")
    c = raw_conn(ctx)
    try:
        oid = int(c.scalar("SELECT 'int4abs'::regproc::oid"))
    finally:
        c.close()

    def run(conn, sql):
        try:
            conn.send(p_parse("", sql) + p_bind("") + p_execute() + function_call(oid, "-5") +
                      FLUSH)
            first = arriving(conn, 3.0, "Z" if "(2)" in sql else "E")
            conn.send(SYNC)
            return first, arriving(conn, 3.0, "Z"), conn.scalar("SELECT count(*) FROM "
                                                               "stalls_fcall")
        finally:
            conn.close()
    out = []
    for what, sql in [("ok", "INSERT INTO stalls_fcall VALUES (2)"),
                      ("failing", "INSERT INTO stalls_fcall VALUES (1), (1)")]:
        legacy.execute("TRUNCATE stalls_fcall")
        want = run(raw_legacy(ctx), sql)
        legacy.execute("TRUNCATE stalls_fcall")
        got, _ = in_time(lambda: run(raw_conn(ctx), sql), 20, "a FunctionCall in a window")
        need(got == want, "%s window: through pgtandem %r, legacy alone %r (replies before the "
             "Sync, after it, rows kept)" % (what, got, want))
        out.append("%s %s/%s" % (what, got[0], got[1]))
    return ", ".join(out)
