"""COPY ... FROM STDIN into dual-written tables: psql's \\copy (text and CSV) and psycopg's
cursor.copy() (text and binary) land identical rows on both sides with the right "COPY n"
tag; a COPY that leaves the serial id and the now() default to the database goes through a
staging table and row images, and the client still sees only "COPY n"; COPY inside explicit
transactions; a COPY that fails on the secondary only (fail: nothing kept anywhere; continue:
the primary keeps it and a divergence is logged); a COPY larger than copy_buffer_limit (set
to 1 MiB by run.sh); COPY from a server file refused. Ids -920000 and below, per group.
Registered into checks.py's list (imported from there)."""

import datetime
import os
import subprocess

import psycopg

from checks import TS, check, err_text, log_size, log_since, need, poll, run_sql

ALL = ("dual", "continue", "primary_service", "two_phase")
FAIL_GROUPS = ("dual", "primary_service", "two_phase")
BASE = {"dual": -920000, "continue": -921000, "reads_service": -922000,
        "primary_service": -923000, "two_phase": -924000}
COLS = "id, wishlist_id, product_id, note, priority, added_at"
PSQL = "/usr/lib/postgresql/15/bin/psql"
# a wishlist no other check writes: (wishlist_id, product_id) is unique, and the seed gives
# it no product above 4000
WL = 1999


def ids(ctx, offset, n):
    """n ids of this check in this group, highest first."""
    first = BASE[ctx.group] - offset
    return [first - i for i in range(n)]


def product(wid):
    return 4000 + abs(wid) % 1000


def where(idlist):
    return "id BETWEEN %d AND %d" % (min(idlist), max(idlist))


def cleanup(ctx, idlist, notes=None):
    for db in ("legacy", "cart"):
        ctx.direct(db).execute("DELETE FROM wishlist_items WHERE " + where(idlist))
        if notes:
            ctx.direct(db).execute("DELETE FROM wishlist_items WHERE note LIKE %s", (notes,))


def secondary_db(ctx):
    return "legacy" if ctx.group == "primary_service" else "cart"


def primary_db(ctx):
    return "cart" if ctx.group == "primary_service" else "legacy"


def psql_copy(ctx, command, data):
    p = subprocess.run([PSQL, "-X", "-h", "127.0.0.1", "-p", str(ctx.proxy_port), "-U", "poc_user",
                        "-d", "poc", "-v", "ON_ERROR_STOP=1", "-c", command],
                       input=data, capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, PGPASSWORD="admin123"))
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def copy_rows(c, sql, rows):
    """psycopg's cursor.copy(); returns (statusmessage, error)."""
    cur = c.cursor()
    try:
        with cur.copy(sql) as cp:
            for r in rows:
                cp.write_row(r)
        return cur.statusmessage, None
    except psycopg.Error as e:
        return None, e


def rows_for(idlist, note):
    return [(i, WL, product(i), "%s %d" % (note, i), 2, "2025-01-02 03:04:05+00") for i in idlist]


@check(*ALL)
def copy_psql_text_and_csv_all_columns(ctx):
    idlist = ids(ctx, 0, 6)
    try:
        text = "".join("%d\t%d\t%d\tpsql text\\t%d\t3\t2025-01-01 00:00:00+00\n" % (i, WL, product(i), i)
                       for i in idlist[:3])
        rc, out, err = psql_copy(ctx, "\\copy wishlist_items (%s) from stdin" % COLS, text)
        need(rc == 0 and out == "COPY 3", "psql \\copy text: rc %d, out %r, err %r" % (rc, out, err))
        csv = "".join('%d,%d,%d,"csv, quoted ""%d""",4,2025-01-01 00:00:00+00\n' % (i, WL, product(i), i)
                      for i in idlist[3:])
        rc, out, err = psql_copy(ctx, "\\copy wishlist_items (%s) from stdin with (format csv)" % COLS, csv)
        need(rc == 0 and out == "COPY 3", "psql \\copy csv: rc %d, out %r, err %r" % (rc, out, err))
        rows = ctx.same("wishlist_items", where(idlist), 6)
        need(rows[0][3] == 'csv, quoted "%d"' % idlist[-1], "CSV row read back as %r" % (rows[0],))
    finally:
        cleanup(ctx, idlist)
    return "COPY 3 twice (text, csv); 6 identical rows on both sides"


@check(*ALL)
def copy_psycopg_text_and_binary(ctx):
    idlist = ids(ctx, 10, 200)
    try:
        with ctx.proxy() as c:
            tag, e = copy_rows(c, "COPY wishlist_items (%s) FROM STDIN" % COLS, rows_for(idlist[:100], "text"))
            need(e is None and tag == "COPY 100", "text copy: tag %r, %s" % (tag, err_text(e)))
            cur = c.cursor()
            with cur.copy("COPY wishlist_items (%s) FROM STDIN (FORMAT BINARY)" % COLS) as cp:
                cp.set_types(["int4", "int4", "int4", "text", "int2", "timestamptz"])
                for r in rows_for(idlist[100:], "binary"):
                    cp.write_row(r[:5] + (datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),))
            need(cur.statusmessage == "COPY 100", "binary copy tag %r" % cur.statusmessage)
            need(c.execute("SELECT 1").fetchone() == (1,), "session unusable after COPY")
        ctx.same("wishlist_items", where(idlist), 200)
    finally:
        cleanup(ctx, idlist)
    return "COPY 100 text + COPY 100 binary, identical on both sides"


@check(*ALL)
def copy_generated_values_staged(ctx):
    """id (serial) and added_at (now()) left to the database: staged on the primary, mirrored
    by row images."""
    note = "copygen %s %%" % ctx.group
    try:
        with ctx.proxy() as c:
            tag, e = copy_rows(c, "COPY wishlist_items (wishlist_id, product_id, note) FROM STDIN",
                               [(WL, 4900 + i, "copygen %s %d" % (ctx.group, i)) for i in range(3)])
            need(e is None and tag == "COPY 3", "tag %r, %s" % (tag, err_text(e)))
            need(c.execute("SELECT 1").fetchone() == (1,), "the session is out of step after the COPY")
        rc, out, err = psql_copy(ctx, "\\copy wishlist_items (wishlist_id, product_id, note) from stdin "
                                      "with (format csv)",
                                 "".join("%d,%d,copygen %s csv%d\n" % (WL, 4950 + i, ctx.group, i) for i in range(2)))
        need(rc == 0 and out == "COPY 2", "psql: rc %d, out %r, err %r (wanted exactly 'COPY 2')" % (rc, out, err))
        lrows = ctx.q("legacy", "SELECT * FROM wishlist_items WHERE note LIKE %s ORDER BY id", (note,))
        srows = ctx.q("cart", "SELECT * FROM wishlist_items WHERE note LIKE %s ORDER BY id", (note,))
        need(len(lrows) == 5, "legacy holds %d rows, wanted 5" % len(lrows))
        need(lrows == srows, "rows differ: legacy %r / cart_db %r" % (lrows, srows))
        need(all(r[5] is not None for r in lrows), "added_at not filled in")
        left = ctx.q(primary_db(ctx), "SELECT count(*) FROM pg_class WHERE relname = 'pgtandem_copy_stage'")
        need(left == [(0,)] or left == [], "the staging table is still there: %r" % left)
    finally:
        for db in ("legacy", "cart"):
            ctx.direct(db).execute("DELETE FROM wishlist_items WHERE note LIKE %s", (note,))
    return "COPY 3 (psycopg) and COPY 2 (psql csv) with generated id/added_at; identical rows: %r" % (lrows[0][:2],)


@check(*ALL)
def copy_in_transaction_rollback_and_commit(ctx):
    idlist = ids(ctx, 300, 4)
    note = "copytx %s %%" % ctx.group
    try:
        with ctx.proxy() as c:
            c.execute("BEGIN")
            tag, e = copy_rows(c, "COPY wishlist_items (%s) FROM STDIN" % COLS, rows_for(idlist[:2], "tx"))
            need(e is None and tag == "COPY 2", "COPY in BEGIN: %r %s" % (tag, err_text(e)))
            c.execute("ROLLBACK")
            ctx.same("wishlist_items", where(idlist), 0)
            c.execute("BEGIN")
            tag, e = copy_rows(c, "COPY wishlist_items (%s) FROM STDIN" % COLS, rows_for(idlist[2:], "tx"))
            need(e is None and tag == "COPY 2", "second COPY: %r %s" % (tag, err_text(e)))
            # generated values twice in one transaction: the staging table is made afresh
            for k in range(2):
                tag, e = copy_rows(c, "COPY wishlist_items (wishlist_id, product_id, note) FROM STDIN",
                                   [(WL, 4960 + k, "copytx %s %d" % (ctx.group, k))])
                need(e is None and tag == "COPY 1", "staged COPY #%d in the transaction: %r %s"
                     % (k + 1, tag, err_text(e)))
            need(c.execute("COMMIT").statusmessage == "COMMIT", "COMMIT failed")
        ctx.same("wishlist_items", where(idlist), 2)
        lrows = ctx.q("legacy", "SELECT * FROM wishlist_items WHERE note LIKE %s ORDER BY id", (note,))
        srows = ctx.q("cart", "SELECT * FROM wishlist_items WHERE note LIKE %s ORDER BY id", (note,))
        need(len(lrows) == 2 and lrows == srows, "staged rows: legacy %r / cart_db %r" % (lrows, srows))
    finally:
        cleanup(ctx, idlist, note)
    return "ROLLBACK: nothing on either side; COMMIT: 4 rows identical on both sides"


def _secondary_conflict(ctx, offset, staged):
    idlist = ids(ctx, offset, 3)
    sec, prim = secondary_db(ctx), primary_db(ctx)
    clash = idlist[1]
    ctx.direct(sec, mirror=True).execute(
        "INSERT INTO wishlist_items (%s) VALUES (%d, %d, %d, 'direct', 1, %s)" % (COLS, clash, WL, product(clash), TS))
    off = log_size(ctx)
    try:
        with ctx.proxy() as c:
            if staged:  # the clash on (wishlist_id, product_id), ids generated
                tag, e = copy_rows(c, "COPY wishlist_items (wishlist_id, product_id, note) FROM STDIN",
                                   [(WL, product(i), "copyclash %d" % i) for i in idlist])
            else:
                tag, e = copy_rows(c, "COPY wishlist_items (%s) FROM STDIN" % COLS, rows_for(idlist, "clash"))
            usable = c.execute("SELECT 1").fetchone() == (1,)
        need(usable, "session unusable after the COPY")
        kept_p = ctx.q(prim, "SELECT count(*) FROM wishlist_items WHERE %s OR note LIKE 'copyclash %%'"
                       % where(idlist))[0][0]
        kept_s = ctx.q(sec, "SELECT note FROM wishlist_items WHERE %s OR note LIKE 'copyclash %%'"
                       % where(idlist))
        if ctx.group == "continue":
            need(e is None and tag == "COPY 3", "under continue the client got %r %s" % (tag, err_text(e)))
            need(kept_p == 3, "the primary holds %d rows, wanted 3" % kept_p)
            need(kept_s == [("direct",)], "the secondary holds %r" % kept_s)
            lines = poll(lambda: [l for l in log_since(ctx, off).splitlines() if "divergence" in l.lower()], 3.0)
            need(lines, "no divergence logged")
            return "COPY 3 for the client, primary kept it; log: %s" % lines[0].strip()[:150]
        need(e is not None, "COPY conflicting on %s succeeded (%r) under fail" % (sec, tag))
        need(kept_p == 0, "the primary (%s) kept %d rows" % (prim, kept_p))
        need(kept_s == [("direct",)], "%s holds %r, wanted the direct row only" % (sec, kept_s))
        return "client error %s; nothing kept" % err_text(e)[:150]
    finally:
        cleanup(ctx, idlist, "copyclash %")


@check("dual", "continue", "primary_service", "two_phase")
def copy_fails_on_secondary_only(ctx):
    return _secondary_conflict(ctx, 400, False)


@check("dual", "continue", "primary_service")
def copy_staged_fails_on_secondary_only(ctx):
    return _secondary_conflict(ctx, 500, True)


@check("dual", "continue", "primary_service", "two_phase")
def copy_larger_than_buffer_limit(ctx):
    idlist = ids(ctx, 600, 1)
    big = "x" * 2000
    n = 700  # ~1.4 MB, over run.sh's copy_buffer_limit of 1 MiB
    try:
        with ctx.proxy() as c:
            tag, e = copy_rows(c, "COPY wishlist_items (%s) FROM STDIN" % COLS,
                               [(idlist[0] - i, WL, 4000 + i, big, 1, "2025-01-01 00:00:00+00") for i in range(n)])
            need(e is not None, "a %d-row COPY over the limit succeeded: %r" % (n, tag))
            need(getattr(e, "sqlstate", None) == "54000" and "copy_buffer_limit" in str(e),
                 "wanted 54000 naming copy_buffer_limit, got %s" % err_text(e))
            need(c.execute("SELECT 1").fetchone() == (1,), "session unusable after the refused COPY")
            c.execute("BEGIN")
            tag, e2 = copy_rows(c, "COPY wishlist_items (%s) FROM STDIN" % COLS,
                                [(idlist[0] - i, WL, 4000 + i, big, 1, "2025-01-01 00:00:00+00") for i in range(n)])
            need(e2 is not None, "in a transaction, the COPY over the limit succeeded")
            _, e3 = run_sql(c, "SELECT 1")
            need(e3 is not None and getattr(e3, "sqlstate", None) == "25P02",
                 "after it, the transaction went on: %s" % err_text(e3))
            need(c.execute("ROLLBACK").statusmessage == "ROLLBACK", "ROLLBACK")
            need(c.execute("SELECT 1").fetchone() == (1,), "session unusable after ROLLBACK")
        for db in ("legacy", "cart"):
            got = ctx.q(db, "SELECT count(*) FROM wishlist_items WHERE id BETWEEN %d AND %d"
                        % (idlist[0] - n, idlist[0]))[0][0]
            need(got == 0, "%s kept %d rows" % (db, got))
    finally:
        for db in ("legacy", "cart"):
            ctx.direct(db).execute("DELETE FROM wishlist_items WHERE id BETWEEN %d AND %d"
                                   % (idlist[0] - n, idlist[0]))
    return err_text(e)[:160]


@check("dual")
def copy_from_server_file_refused(ctx):
    with ctx.proxy() as c:
        _, e = run_sql(c, "COPY wishlist_items FROM '/etc/hostname'")
        need(e is not None and getattr(e, "sqlstate", None) == "0A000" and "STDIN" in str(e),
             "COPY FROM a server file: wanted 0A000 pointing at FROM STDIN, got %s" % err_text(e))
        need(c.execute("SELECT 1").fetchone() == (1,), "session unusable after the refusal")
    return err_text(e)[:160]


@check(*ALL)
def copy_no_column_list_into_triggered_table(ctx):
    """product_inventory has a BEFORE UPDATE row trigger: even with every column given, the
    COPY is staged and mirrored by row images (the staging table then has every column)."""
    idlist = ids(ctx, 700, 2)
    wh = "COPY-%s" % ctx.group[:8]
    data = "".join("%d\t%d\t%s\t5\t1\t10\t2025-01-01 00:00:00+00\t2025-01-02 00:00:00+00\n"
                   % (i, 4990 + k, wh) for k, i in enumerate(idlist))
    try:
        with ctx.proxy() as c:
            cur = c.cursor()
            with cur.copy("COPY product_inventory FROM STDIN") as cp:
                cp.write(data)
            need(cur.statusmessage == "COPY 2", "tag %r" % cur.statusmessage)
        rows = ctx.same("product_inventory", where(idlist), 2)
    finally:
        for db in ("legacy", "product"):
            ctx.direct(db).execute("DELETE FROM product_inventory WHERE " + where(idlist))
    return "COPY 2, identical on both sides: %r" % (rows[0][:3],)
