#!/usr/bin/python3
"""Compares the pgbench tables of two servers after a dual-write run.

    compare.py CONNINFO_LEGACY CONNINFO_NEW

For each table: row count and an md5 over the md5 of every row in primary
key order (pgbench_history has no key: all columns). pgbench's TPC-B script
fills pgbench_history.mtime with CURRENT_TIMESTAMP, which each server
evaluates itself unless the proxy rewrites it, so the history rows are also
compared without mtime and the mtimes are paired up to say by how much the
new server's differ from legacy's.

Prints one line "VERDICT<TAB>description", VERDICT being identical,
mtime-only or different; exits 1 for different, else 0.
"""
import sys
import threading

import psycopg

TABLES = [
    ("pgbench_branches", "bid"),
    ("pgbench_tellers", "tid"),
    ("pgbench_accounts", "aid"),
    ("pgbench_history", "tid, bid, aid, delta, mtime"),
]
HISTORY_NO_MTIME = ("SELECT count(*), md5(coalesce(string_agg(md5((tid, bid, aid, delta)::text), ''"
                    " ORDER BY tid, bid, aid, delta), '')) FROM pgbench_history")
HISTORY_MTIMES = ("SELECT extract(epoch FROM mtime)::float8 FROM pgbench_history"
                  " ORDER BY tid, bid, aid, delta, mtime")


def digest(conninfo, out):
    try:
        with psycopg.connect(conninfo) as conn:
            res = {}
            for table, order in TABLES:
                res[table] = conn.execute(
                    f"SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY {order}),"
                    f" '')) FROM {table} t").fetchone()
            res["history without mtime"] = conn.execute(HISTORY_NO_MTIME).fetchone()
            res["mtimes"] = [r[0] for r in conn.execute(HISTORY_MTIMES)]
            out["res"] = res
    except Exception as e:  # noqa: BLE001 - reported as a difference
        out["err"] = f"{e}".strip().replace("\n", " ")


def main(legacy_ci, new_ci):
    a, b = {}, {}
    threads = [threading.Thread(target=digest, args=(ci, o)) for ci, o in ((legacy_ci, a), (new_ci, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, o in (("legacy", a), ("new", b)):
        if "err" in o:
            print(f"different\tcannot read {name}: {o['err']}")
            return 1
    a, b = a["res"], b["res"]
    diffs = []
    for table, _ in TABLES:
        if a[table] != b[table]:
            (ca, _), (cb, _) = a[table], b[table]
            diffs.append(f"{table} (rows {ca} vs {cb})" if ca != cb else f"{table} (same {ca} rows, content differs)")
    if not diffs:
        print(f"identical\tidentical (history {a['pgbench_history'][0]} rows)")
        return 0
    if diffs == [d for d in diffs if d.startswith("pgbench_history")] and \
            a["history without mtime"] == b["history without mtime"]:
        ma, mb = a["mtimes"], b["mtimes"]
        deltas = [(y - x) * 1000.0 for x, y in zip(ma, mb)]
        differ = [d for d in deltas if d != 0.0]
        mean = sum(differ) / len(differ) if differ else 0.0
        worst = max((abs(d) for d in differ), default=0.0)
        print(f"mtime-only\tidentical except pgbench_history.mtime: {len(differ)} of {len(ma)} rows differ,"
              f" new-legacy mean {mean:+.3f} ms, max |{worst:.3f}| ms")
        return 0
    print("different\tDIFFERENT: " + ", ".join(diffs))
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
