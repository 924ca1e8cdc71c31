"""pgbench through pgtandem on the seed's dual-written tables, with the extended and the
prepared protocol: 16 clients for the concurrency duration make conflicting increments of
product_inventory (updated_at trigger) and carts rows and insert cart_items with generated
ids, in a transaction that spans two services, beside single autocommit increments. Zero
client errors, every acknowledged transaction counted once, and both sides identical.
Registered into checks.py's list (imported from there)."""

import os
import re
import subprocess
import tempfile

from checks import check, need

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
KEYS = "BETWEEN 1 AND 5"  # five hot rows: every client conflicts with the others

TX_SCRIPT = """\\set k random(1, 5)
BEGIN;
UPDATE product_inventory SET quantity_on_hand = quantity_on_hand + 1 WHERE id = :k;
UPDATE carts SET subtotal = subtotal + 1 WHERE id = :k;
INSERT INTO cart_items (cart_id, product_id, quantity, unit_price) VALUES (:k, :k, 1, 2.50);
END;
"""
AUTOCOMMIT_SCRIPT = """\\set k random(1, 5)
UPDATE product_inventory SET quantity_reserved = quantity_reserved + 1 WHERE id = :k;
"""


def _totals(ctx, db):
    return ctx.one(db, "SELECT (SELECT sum(quantity_on_hand) FROM product_inventory WHERE id %s),"
                       " (SELECT sum(quantity_reserved) FROM product_inventory WHERE id %s),"
                       " (SELECT count(*) FROM cart_items WHERE cart_id %s)" % (KEYS, KEYS, KEYS))


CLIENTS = 16


def _script_counts(out):
    """Transactions per script, from pgbench's per-script summary."""
    return [int(n) for n in re.findall(r"SQL script \d+: .*?\n - weight: .*?\n - (\d+) transactions", out)]


def _run(ctx, mode):
    seconds = max(1, int(ctx.args.concurrency_seconds))
    before = _totals(ctx, "legacy")
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for name, text in (("tx.sql", TX_SCRIPT), ("autocommit.sql", AUTOCOMMIT_SCRIPT)):
            paths.append(os.path.join(d, name))
            with open(paths[-1], "w") as f:
                f.write(text)
        p = subprocess.run([PGBENCH, "-n", "-M", mode, "-c", str(CLIENTS), "-j", "2", "-T", str(seconds),
                            "-f", paths[0] + "@3", "-f", paths[1] + "@1", "-h", "127.0.0.1",
                            "-p", str(ctx.proxy_port), "-U", "poc_user", "poc"],
                           capture_output=True, text=True, timeout=seconds + 60,
                           env=dict(os.environ, PGPASSWORD="admin123"))
    out = p.stdout + p.stderr
    errors = [l for l in p.stderr.splitlines() if "error" in l.lower() or "abort" in l.lower()]
    need(p.returncode == 0 and not errors, "pgbench -M %s exit %d; %d error line(s), e.g. %s"
         % (mode, p.returncode, len(errors), " | ".join(errors[:2])[:300]))
    failed = re.search(r"number of failed transactions: (\d+)", out)
    need(failed and failed.group(1) == "0", "pgbench -M %s: %s" % (mode, failed and failed.group(0)))
    counts = _script_counts(out)
    need(len(counts) == 2 and sum(counts) > 0, "pgbench -M %s: no per-script counts in %r" % (mode, out[-300:]))
    after = _totals(ctx, "legacy")
    got = (after[0] - before[0], after[1] - before[1], after[2] - before[2])
    # pgbench counts what it saw acknowledged before its -T timer ran out; a transaction in
    # flight at that moment may still commit. So each client adds at most one uncounted
    # transaction, never fewer than acknowledged, and the two-service transaction moves both
    # of its tables together.
    extra = (got[0] - counts[0], got[1] - counts[1])
    need(0 <= extra[0] <= CLIENTS and 0 <= extra[1] <= CLIENTS and got[2] == got[0],
         "acknowledged %d transactions and %d increments, legacy changed by on_hand +%d,"
         " reserved +%d, cart_items +%d" % (counts[0], counts[1], *got))
    ctx.same("product_inventory", "id " + KEYS, 5)
    ctx.same("carts", "id " + KEYS, 5)
    ctx.same("cart_items", "cart_id " + KEYS)
    return ("-M %s, 16 clients, %d s: %d two-service transactions + %d increments, 0 failed; the"
            " touched rows identical on both sides" % (mode, seconds, counts[0], counts[1]))


@check("dual", "two_phase", timeout=120)
def pgbench_extended_conflicting_increments(ctx):
    return _run(ctx, "extended")


@check("dual", "two_phase", timeout=120)
def pgbench_prepared_conflicting_increments(ctx):
    return _run(ctx, "prepared")
