#!/usr/bin/python3
"""Compares the tables each service shares with legacy, row by row, all columns.

Connects straight to the databases (never through pgtandem). For every shared table it
first compares one digest of the whole table on each side; only when the digests differ
does it fetch both copies, walk them in primary-key order and report the first rows that
are missing on one side or whose columns differ.

usage:
  compare.py --legacy CONNINFO --service NAME=CONNINFO [--service ...]
             [--tables NAME=t1,t2,...] [--ignore-column COL] [--max-rows N] [--quiet]

Without --tables a service's tables are the ones conf/pgtandem-db backfills for it
(auth, product, cart, promotion). --ignore-column leaves a column out of the comparison
(repeatable), e.g. to tell an updated_at-only difference from a real one.

Prints one line per table that differs (then the rows), and a last line that starts with
"no difference" or "DIFFERENT". Exit status: 0 identical, 1 different, 2 usage or
connection error.
"""

import argparse
import sys

import psycopg
from psycopg import sql

# The tables each service shares with legacy, as conf/pgtandem-db lists them.
DEFAULT_TABLES = {
    "auth": ["users", "user_sessions", "user_profiles"],
    "product": ["categories", "products", "product_inventory", "product_images",
                "product_variants"],
    "cart": ["carts", "cart_items", "wishlists", "wishlist_items"],
    "promotion": ["promo_codes", "promotion_campaigns", "promo_usage", "campaign_promo_codes",
                  "user_promo_eligibility", "promo_analytics", "promo_suggestions"],
}

# Text output of every type must not depend on the session.
SESSION_SETUP = ("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';"
                 " SET extra_float_digits = 3; SET bytea_output = 'hex'")


def connect(conninfo):
    conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    conn.execute(SESSION_SETUP)
    return conn


def table_columns(conn, table):
    """[(name, type)] in column order, and the primary key columns in key order."""
    cols = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
        " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum", ("public." + table,)).fetchall()
    pk = [r[0] for r in conn.execute(
        "SELECT a.attname FROM pg_index i"
        " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.ord",
        ("public." + table,)).fetchall()]
    return cols, pk


def digest(conn, table, cols, pk):
    """md5 over every row's compared columns, in key order, and the row count."""
    row = sql.SQL("ROW({})::text").format(sql.SQL(", ").join(sql.Identifier(c) for c in cols))
    q = sql.SQL("SELECT md5(coalesce(string_agg({row}, E'\\n' ORDER BY {pk}), '')), count(*)"
                " FROM public.{t}").format(
        row=row, pk=sql.SQL(", ").join(sql.Identifier(c) for c in pk), t=sql.Identifier(table))
    return conn.execute(q).fetchone()


def fetch(conn, table, cols, pk):
    """Every row as a tuple of text values (NULL stays None), key columns first."""
    keyed = pk + [c for c in cols if c not in pk]
    q = sql.SQL("SELECT {cols} FROM public.{t} ORDER BY {pk}").format(
        cols=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in keyed),
        t=sql.Identifier(table), pk=sql.SQL(", ").join(sql.Identifier(c) for c in pk))
    return keyed, conn.execute(q).fetchall()


def sort_key(key, pk_types):
    # Key columns arrive as text; integers must sort as numbers to match ORDER BY.
    out = []
    for v, t in zip(key, pk_types):
        if v is not None and t in ("integer", "bigint", "smallint"):
            out.append((0, int(v), ""))
        else:
            out.append((1, 0, "" if v is None else v))
    return tuple(out)


def short(v, width=60):
    if v is None:
        return "NULL"
    return v if len(v) <= width else v[:width - 3] + "..."


def diff_rows(table, keyed, pk, pk_types, lrows, srows, max_rows, out):
    """Merge-walks both sides in key order; writes up to max_rows findings."""
    n = len(pk)
    li = si = 0
    shown = 0
    counts = {"only_legacy": 0, "only_service": 0, "differ": 0}
    diff_cols = set()
    while li < len(lrows) or si < len(srows):
        lk = sort_key(lrows[li][:n], pk_types) if li < len(lrows) else None
        sk = sort_key(srows[si][:n], pk_types) if si < len(srows) else None
        if sk is None or (lk is not None and lk < sk):
            counts["only_legacy"] += 1
            if shown < max_rows:
                out.append("    only in legacy:  %s" % fmt_row(keyed, lrows[li]))
                shown += 1
            li += 1
        elif lk is None or sk < lk:
            counts["only_service"] += 1
            if shown < max_rows:
                out.append("    only in service: %s" % fmt_row(keyed, srows[si]))
                shown += 1
            si += 1
        else:
            lr, sr = lrows[li], srows[si]
            if lr != sr:
                counts["differ"] += 1
                cols = [i for i in range(len(keyed)) if lr[i] != sr[i]]
                diff_cols.update(keyed[i] for i in cols)
                if shown < max_rows:
                    key = ", ".join("%s=%s" % (keyed[i], lr[i]) for i in range(n))
                    parts = ["%s: legacy %s / service %s" % (keyed[i], short(lr[i]), short(sr[i]))
                             for i in cols]
                    out.append("    differ at %s: %s" % (key, "; ".join(parts)))
                    shown += 1
            li += 1
            si += 1
    return counts, diff_cols


def fmt_row(keyed, row):
    return ", ".join("%s=%s" % (c, short(v, 40)) for c, v in zip(keyed, row))


def compare_table(lconn, sconn, table, ignore, max_rows):
    """Returns (identical, rows in legacy, lines to print, differing columns)."""
    lcols, lpk = table_columns(lconn, table)
    scols, spk = table_columns(sconn, table)
    if lcols != scols or lpk != spk:
        return False, 0, ["%s: the two sides' columns or keys differ: legacy %s key %s / service %s key %s"
                          % (table, lcols, lpk, scols, spk)], {"(schema)"}
    if not lpk:
        return False, 0, ["%s: no primary key, cannot compare row by row" % table], {"(schema)"}
    cols = [c for c, _ in lcols if c not in ignore or c in lpk]
    ld, ln = digest(lconn, table, cols, lpk)
    sd, sn = digest(sconn, table, cols, lpk)
    if ld == sd and ln == sn:
        return True, ln, [], set()
    types = dict(lcols)
    pk_types = [types[c] for c in lpk]
    keyed, lrows = fetch(lconn, table, cols, lpk)
    _, srows = fetch(sconn, table, cols, lpk)
    lines = []
    counts, diff_cols = diff_rows(table, keyed, lpk, pk_types, lrows, srows, max_rows, lines)
    head = ("%s: legacy %d rows, service %d rows; %d only in legacy, %d only in service, %d differ"
            % (table, ln, sn, counts["only_legacy"], counts["only_service"], counts["differ"]))
    if diff_cols:
        head += " (columns: %s)" % ", ".join(sorted(diff_cols))
    if sum(counts.values()) == 0:
        head += " (digests differ but no row does: check the text output settings)"
    return False, ln, [head] + lines, diff_cols


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--legacy", required=True, help="libpq conninfo of legacy")
    ap.add_argument("--service", action="append", default=[], metavar="NAME=CONNINFO")
    ap.add_argument("--tables", action="append", default=[], metavar="NAME=t1,t2")
    ap.add_argument("--ignore-column", action="append", default=[], metavar="COL")
    ap.add_argument("--max-rows", type=int, default=5, help="rows shown per differing table")
    ap.add_argument("--quiet", action="store_true", help="only the last line")
    args = ap.parse_args(argv)

    services = []
    for s in args.service:
        name, eq, conninfo = s.partition("=")
        if not eq or not name:
            ap.error("--service wants NAME=CONNINFO, got %r" % s)
        services.append((name, conninfo))
    if not services:
        ap.error("give at least one --service")
    tables = dict(DEFAULT_TABLES)
    for t in args.tables:
        name, eq, lst = t.partition("=")
        if not eq:
            ap.error("--tables wants NAME=t1,t2, got %r" % t)
        tables[name] = [x.strip() for x in lst.split(",") if x.strip()]
    ignore = set(args.ignore_column)

    try:
        lconn = connect(args.legacy)
    except psycopg.Error as e:
        print("compare.py: cannot connect to legacy: %s" % e, file=sys.stderr)
        return 2
    n_tables = n_rows = 0
    differing = []
    all_cols = set()
    for name, conninfo in services:
        if name not in tables:
            print("compare.py: no table list for service %r (give --tables)" % name, file=sys.stderr)
            return 2
        try:
            sconn = connect(conninfo)
        except psycopg.Error as e:
            print("compare.py: cannot connect to service %s: %s" % (name, e), file=sys.stderr)
            return 2
        with sconn:
            for table in tables[name]:
                same, rows, lines, cols = compare_table(lconn, sconn, table, ignore, args.max_rows)
                n_tables += 1
                n_rows += rows
                if not same:
                    differing.append("%s.%s" % (name, table))
                    all_cols |= cols
                    if not args.quiet:
                        print("%s/%s" % (name, lines[0]))
                        for line in lines[1:]:
                            print(line)
    lconn.close()
    ignored = " (ignoring %s)" % ", ".join(sorted(ignore)) if ignore else ""
    if differing:
        print("DIFFERENT: %d of %d tables differ%s: %s; columns: %s"
              % (len(differing), n_tables, ignored, ", ".join(differing), ", ".join(sorted(all_cols))))
        return 1
    print("no difference: %d tables, %d rows%s" % (n_tables, n_rows, ignored))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
