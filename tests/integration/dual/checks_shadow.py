"""Shadow reads and the metrics endpoint (group shadow: reads=shadow, primary=legacy, every
service at shadow_sample 1.0 but promotion at 0.1, shadow_max_inflight = 4, shadow_timeout =
3 s, metrics_listen). The checks read the proxy's /metrics and its log, and change rows on a
service database directly to make the two sides differ. Registered into checks.py's list
(imported from there)."""

import re
import socket
import time
import urllib.request

from checks import Fail, check, log_since, log_size, need, poll, wi_sql

SAMPLE_RE = re.compile(r'^([a-z_]+)(?:\{([^}]*)\})? (\S+)$')


def scrape(ctx):
    """/metrics as {(name, frozenset(labels)): value}, and the raw response."""
    url = "http://127.0.0.1:%d/metrics" % ctx.args.metrics_port
    with urllib.request.urlopen(url, timeout=5) as r:
        need(r.status == 200, "status %d" % r.status)
        ctype = r.headers.get("Content-Type", "")
        need(ctype.startswith("text/plain; version=0.0.4"), "Content-Type %r" % ctype)
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        need(m, "unparsable metrics line %r" % line)
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(m, name, **labels):
    key = (name, frozenset(labels.items()))
    if key not in m:
        raise Fail("no sample %s%r in /metrics" % (name, labels))
    return m[key]


def settled(ctx, timeout=10.0):
    """/metrics once no shadow read is running any more."""
    m = poll(lambda: (lambda s: s if metric(s, "pgtandem_shadow_inflight") == 0 else None)(scrape(ctx)),
             timeout)
    need(m, "shadow reads still in flight after %.0f s" % timeout)
    return m


def shadow_figures(ctx, svc, m=None):
    m = m or scrape(ctx)
    return tuple(int(metric(m, "pgtandem_shadow_%s_total" % k, service=svc))
                 for k in ("reads", "mismatches", "dropped"))


def proxied_rows(ctx, sql, times=1):
    with ctx.proxy() as c:
        for _ in range(times):
            rows = c.execute(sql).fetchall()
    return rows


# ---------------------------------------------------------------------------
# shadow reads
# ---------------------------------------------------------------------------
@check("shadow")
def shadow_identical_data_no_mismatch(ctx):
    # the first reads may find every shadow connection still logging in (the cap is 4 and
    # nobody waits for them): warm the pool up first
    proxied_rows(ctx, "SELECT id FROM products WHERE id = 1", times=10)
    before = shadow_figures(ctx, "product", settled(ctx))
    rows = proxied_rows(ctx, "SELECT id, name, price FROM products WHERE id <= 20", times=40)
    after = shadow_figures(ctx, "product", settled(ctx))
    need(rows, "no rows")
    shadowed, dropped = after[0] - before[0], after[2] - before[2]
    # on a loaded machine a shadow read may still be running when the next read comes, and
    # the cap of 4 then drops one rather than delay the client: every read is accounted for
    need(shadowed + dropped == 40 and shadowed >= 20,
         "40 reads at sample 1.0: %d shadowed, %d dropped" % (shadowed, dropped))
    need(after[1] == before[1], "mismatches went %d -> %d with identical data" % (before[1], after[1]))
    return "40 reads: %d shadowed, %d dropped at the cap, no mismatch" % (shadowed, dropped)


@check("shadow")
def shadow_mismatch_reported(ctx):
    pids = (9, 10)
    orig = {pid: ctx.one("legacy", "SELECT name FROM products WHERE id = %s", (pid,))[0] for pid in pids}
    svc = ctx.direct("product", mirror=True)
    before = shadow_figures(ctx, "product", settled(ctx))
    off = log_size(ctx)
    try:
        for pid in pids:
            svc.execute("UPDATE products SET name = %s WHERE id = %s", ("changed on the service side", pid))
        got = [proxied_rows(ctx, "SELECT id, name FROM products WHERE id = %d" % pid) for pid in pids]
        after = shadow_figures(ctx, "product", settled(ctx))
    finally:
        for pid in pids:
            svc.execute("UPDATE products SET name = %s WHERE id = %s", (orig[pid], pid))
    need(got == [[(pid, orig[pid])] for pid in pids],
         "the client got %r, not legacy's (the primary's) rows" % got)
    need(after[1] - before[1] == 2, "mismatches went %d -> %d for two changed rows" % (before[1], after[1]))
    lines = poll(lambda: [l for l in log_since(ctx, off).splitlines()
                          if "divergence" in l and "shadow read differs" in l], 3.0)
    need(len(lines) == 2, "%d shadow divergence log lines, wanted 2: %r" % (len(lines or []), lines))
    fps = [re.search(r"fingerprint=(\S+)", l).group(1) for l in lines]
    need(all(re.fullmatch(r"[0-9a-f]{16}", f) for f in fps), "fingerprints %r" % fps)
    need(fps[0] == fps[1], "the same statement with other constants got fingerprints %r" % fps)
    need(all("service=product" in l and "tables=products" in l for l in lines), "lines %r" % lines)
    # a different statement gets a different fingerprint
    off = log_size(ctx)
    try:
        svc.execute("UPDATE products SET name = %s WHERE id = 9", ("changed again",))
        proxied_rows(ctx, "SELECT name FROM products WHERE id = 9 AND price >= 0")
        settled(ctx)
    finally:
        svc.execute("UPDATE products SET name = %s WHERE id = 9", (orig[9],))
    other = poll(lambda: [l for l in log_since(ctx, off).splitlines() if "shadow read differs" in l], 3.0)
    need(other, "no line for the second statement")
    fp2 = re.search(r"fingerprint=(\S+)", other[0]).group(1)
    need(fp2 != fps[0], "two different statements share fingerprint %s" % fp2)
    return "client saw legacy's rows; 2 mismatches counted; log: %s" % lines[0].strip()[:220]


@check("shadow")
def shadow_order_insensitive(ctx):
    sql = "SELECT id, name, slug FROM categories"
    legacy = ctx.q("legacy", sql)
    need(len(legacy) >= 3, "too few categories to reorder (%d)" % len(legacy))
    # An UPDATE writes a new row version at the end of the table: a scan of product_db
    # now meets that row last, while legacy's order stays
    first = legacy[0][0]
    ctx.direct("product", mirror=True).execute(
        "UPDATE categories SET name = name WHERE id = %s", (first,))
    service = ctx.q("product", sql)
    need(sorted(service) == sorted(legacy), "the sides hold different categories")
    need(service != legacy, "the physical order did not change; nothing to test")
    before = shadow_figures(ctx, "product", settled(ctx))
    proxied_rows(ctx, sql, times=5)
    proxied_rows(ctx, sql + " ORDER BY id", times=5)
    after = shadow_figures(ctx, "product", settled(ctx))
    need(after[0] - before[0] == 10, "shadow reads %d -> %d" % (before[0], after[0]))
    need(after[1] == before[1], "mismatches went %d -> %d for the same rows in another order"
         % (before[1], after[1]))
    return "same rows in another physical order: 10 shadow reads, no mismatch"


@check("shadow", timeout=90)
def shadow_sample_tenth(ctx):
    before = shadow_figures(ctx, "promotion", settled(ctx))
    n = 2000
    proxied_rows(ctx, "SELECT id, code FROM promo_codes WHERE id = 1", times=n)
    after = shadow_figures(ctx, "promotion", settled(ctx))
    shadowed = after[0] - before[0]
    need(0.05 * n <= shadowed <= 0.16 * n, "%d of %d reads shadowed at shadow_sample 0.1" % (shadowed, n))
    need(after[1] == before[1], "mismatches went %d -> %d" % (before[1], after[1]))
    return "%d of %d reads shadowed (%.1f%%)" % (shadowed, n, 100.0 * shadowed / n)


@check("shadow", timeout=60)
def shadow_cap_never_delays_the_client(ctx):
    locker = ctx.fresh_direct("cart")
    before = shadow_figures(ctx, "cart", settled(ctx))
    try:
        locker.autocommit = False
        # the shadow side's table is locked: every shadow read there waits
        locker.execute("LOCK TABLE wishlists IN ACCESS EXCLUSIVE MODE")
        slowest = 0.0
        with ctx.proxy() as c:
            for _ in range(30):
                t0 = time.monotonic()
                c.execute("SELECT id FROM wishlists WHERE id = 1").fetchall()
                slowest = max(slowest, time.monotonic() - t0)
        during = shadow_figures(ctx, "cart")
        inflight = metric(scrape(ctx), "pgtandem_shadow_inflight")
    finally:
        locker.rollback()
        locker.close()
    need(slowest < 1.0, "a client read took %.2f s while the shadow side was locked" % slowest)
    need(inflight <= 4, "%d shadow reads in flight, cap 4" % inflight)
    need(during[2] - before[2] >= 26, "dropped went %d -> %d for 30 reads over a cap of 4"
         % (before[2], during[2]))
    after = shadow_figures(ctx, "cart", settled(ctx, 15.0))
    need(after[1] == before[1], "mismatches went %d -> %d" % (before[1], after[1]))
    return "slowest client read %.3f s; dropped +%d; in flight %d" % (slowest, during[2] - before[2], inflight)


@check("shadow")
def shadow_not_inside_transactions(ctx):
    before = shadow_figures(ctx, "product", settled(ctx))
    with ctx.proxy() as c:
        c.execute("BEGIN")
        c.execute("SELECT id FROM products WHERE id = 1").fetchall()
        c.execute("COMMIT")
    after = shadow_figures(ctx, "product", settled(ctx))
    need(after[0] == before[0], "a read inside a transaction block was shadowed")
    return "reads inside BEGIN ... COMMIT are not shadowed"


# ---------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------
def _histograms_consistent(m):
    services = {dict(k[1]).get("service") for k in m if k[0] == "pgtandem_request_duration_seconds_count"}
    need(services, "no request duration histogram")
    for svc in services:
        buckets = sorted(((float("inf") if dict(k[1])["le"] == "+Inf" else float(dict(k[1])["le"])), v)
                         for k, v in m.items()
                         if k[0] == "pgtandem_request_duration_seconds_bucket" and dict(k[1])["service"] == svc)
        values = [v for _, v in buckets]
        need(values == sorted(values), "buckets of %s not cumulative: %r" % (svc, buckets))
        need(buckets[-1][0] == float("inf"), "no +Inf bucket for %s" % svc)
        count = metric(m, "pgtandem_request_duration_seconds_count", service=svc)
        need(count == buckets[-1][1], "%s: _count %d != +Inf bucket %d" % (svc, count, buckets[-1][1]))
    return services


@check("shadow")
def metrics_move_with_traffic(ctx):
    # wi_sql's rows are keyed (wishlist 1, product 4000 + id % 1000): clear 4900-4904 first
    clear = "DELETE FROM wishlist_items WHERE wishlist_id = 1 AND product_id BETWEEN 4900 AND 4904"
    with ctx.proxy() as c:
        c.execute(clear)
    m0 = scrape(ctx)
    with ctx.proxy() as c:
        for _ in range(10):
            c.execute("SELECT id FROM products WHERE id = 3").fetchall()
        for i in range(5):
            c.execute(wi_sql(-910900 - i, "metrics"))
        c.execute(clear)
    m1 = settled(ctx)

    def delta(name, **labels):
        return metric(m1, name, **labels) - metric(m0, name, **labels)

    need(delta("pgtandem_statements_total", service="product") >= 10, "product statements")
    need(delta("pgtandem_reads_total", service="product", source="legacy") >= 10, "product reads from legacy")
    need(delta("pgtandem_reads_total", service="product", source="service") == 0, "reads from the service")
    need(delta("pgtandem_writes_mirrored_total", service="cart") >= 6, "cart mirrored writes %d"
         % delta("pgtandem_writes_mirrored_total", service="cart"))
    need(delta("pgtandem_request_duration_seconds_count", service="product") >= 10, "product latency count")
    need(delta("pgtandem_request_duration_seconds_count", service="cart") >= 6, "cart latency count")
    need(metric(m1, "pgtandem_clients") >= 0 and metric(m1, "pgtandem_backends") >= 0, "gauges")
    need(metric(m1, "pgtandem_divergences_total", service="cart") >= 0, "divergences")
    services = _histograms_consistent(m1)
    return "statements, reads by source, mirrored writes and latency moved; histograms of %s consistent" \
        % ", ".join(sorted(services))


def _raw(ctx, payload, read_timeout=5.0):
    s = socket.create_connection(("127.0.0.1", ctx.args.metrics_port), timeout=read_timeout)
    try:
        s.sendall(payload)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    finally:
        s.close()


@check("shadow")
def metrics_bad_requests(ctx):
    r404 = _raw(ctx, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
    need(r404.startswith(b"HTTP/1.1 404 "), "other path: %r" % r404[:60])
    r400 = _raw(ctx, b"\x16\x03\x01 this is not http\r\n\r\n")
    need(r400.startswith(b"HTTP/1.1 400 "), "garbage: %r" % r400[:60])
    big = _raw(ctx, b"GET /metrics HTTP/1.1\r\nX-Long: " + b"a" * 20000)
    need(big.startswith(b"HTTP/1.1 400 "), "oversized request: %r" % big[:60])
    r405 = _raw(ctx, b"POST /metrics HTTP/1.1\r\n\r\n")
    need(r405.startswith(b"HTTP/1.1 405 "), "POST: %r" % r405[:60])
    ok = _raw(ctx, b"GET /metrics HTTP/1.0\r\n\r\n")
    need(ok.startswith(b"HTTP/1.1 200 ") and b"pgtandem_statements_total" in ok, "GET: %r" % ok[:60])
    return "404, 400 (garbage and oversized), 405, 200"


@check("shadow", timeout=40)
def metrics_silent_client_does_not_stall(ctx):
    silent = [socket.create_connection(("127.0.0.1", ctx.args.metrics_port)) for _ in range(3)]
    try:
        t0 = time.monotonic()
        scrape(ctx)
        proxied_rows(ctx, "SELECT id FROM products WHERE id = 1")
        dt = time.monotonic() - t0
        need(dt < 2.0, "a scrape and a query took %.2f s beside silent metrics clients" % dt)
        # the silent ones are let go after the endpoint's deadline
        silent[0].settimeout(15)
        t1 = time.monotonic()
        got = silent[0].recv(10)
        waited = time.monotonic() - t1
        need(got == b"", "a silent client got %r" % got)
    finally:
        for s in silent:
            s.close()
    return "scrape and query in %.3f s; a silent client closed after %.1f s" % (dt, waited)


# ---------------------------------------------------------------------------
# extended protocol: parameters as bound, text and binary rows
# ---------------------------------------------------------------------------
@check("shadow", timeout=60)
def shadow_extended_protocol(ctx):
    import asyncio
    import asyncpg

    pid = 11
    orig = ctx.one("legacy", "SELECT name FROM products WHERE id = %s", (pid,))[0]
    sql = "SELECT id, name, price FROM products WHERE id = %s AND price >= %s"

    def psycopg_reads(binary):
        with ctx.proxy() as c:
            return c.execute(sql, (pid, 0), binary=binary).fetchall()

    async def asyncpg_reads():
        conn = await asyncpg.connect(host="127.0.0.1", port=ctx.proxy_port, user="poc_user",
                                     password="admin123", database="poc")
        try:
            return [tuple(r) for r in await conn.fetch(
                "SELECT id, name, price FROM products WHERE id = $1 AND price >= $2", pid, 0)]
        finally:
            await conn.close()

    def round_(label):
        before = shadow_figures(ctx, "product", settled(ctx))
        got = [psycopg_reads(False), psycopg_reads(True), asyncio.run(asyncpg_reads())]
        after = shadow_figures(ctx, "product", settled(ctx))
        need(after[0] - before[0] == 3, "%s: shadow reads %d -> %d for 3 extended reads"
             % (label, before[0], after[0]))
        return got, after[1] - before[1]

    # warm up asyncpg's statement path and the pool
    asyncio.run(asyncpg_reads())
    got, mism = round_("identical")
    need(mism == 0, "identical data: %d mismatches (text, binary, asyncpg)" % mism)
    svc = ctx.direct("product", mirror=True)
    svc.execute("UPDATE products SET name = %s WHERE id = %s", ("changed for extended", pid))
    try:
        got, mism = round_("changed")
    finally:
        svc.execute("UPDATE products SET name = %s WHERE id = %s", (orig, pid))
    need(mism == 3, "a changed row: %d mismatches for 3 extended reads, wanted 3" % mism)
    need(all(r[0][1] == orig for r in got), "the client got %r, not legacy's rows" % got)
    return "psycopg text and binary and asyncpg reads shadowed with their parameters; 0 then 3 mismatches"
