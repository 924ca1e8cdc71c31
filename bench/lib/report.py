#!/usr/bin/python3
"""Latency statistics from pgbench per-transaction logs, and the final table.

    report.py latency PREFIX    "TX MEAN_MS P99_MS" over the files PREFIX.*
    report.py table DIR         the Markdown report from DIR/runs.tsv,
                                DIR/idle.tsv and DIR/meta.txt

pgbench -l writes one line per transaction, the third field being its
latency in microseconds (one file per pgbench thread). p99 is the
nearest-rank 99th percentile of all transactions of a configuration, pooled
over the rounds; the mean is over the same transactions. TPS is the mean of
the rounds' pgbench "tps" (without initial connection time).
"""
import csv
import glob
import math
import os
import sys

ORDER = {
    "select": ["direct", "pgbouncer", "pgtandem"],
    "tpcb": ["direct", "pgbouncer", "pgtandem", "pgtandem-dual", "pgpool"],
}
WORKLOAD = {"select": "select-only (-S)", "tpcb": "TPC-B"}
PEER = {"pgtandem": "pgbouncer", "pgtandem-dual": "pgpool"}


def latencies(prefix):
    out = []
    for path in sorted(glob.glob(glob.escape(prefix) + ".*")):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    out.append(int(parts[2]))
    return out


def stats(lat_us):
    if not lat_us:
        return 0, None, None
    lat_us = sorted(lat_us)
    p99 = lat_us[max(0, math.ceil(0.99 * len(lat_us)) - 1)]
    return len(lat_us), sum(lat_us) / len(lat_us) / 1000.0, p99 / 1000.0


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def fmt(v, digits=1, unit=""):
    return "—" if v is None else f"{v:,.{digits}f}{unit}"


def mib(kb):
    return None if kb is None else kb / 1024.0


def table(d):
    runs = read_tsv(os.path.join(d, "runs.tsv"))
    idle = read_tsv(os.path.join(d, "idle.tsv"))
    meta = {}
    if os.path.exists(os.path.join(d, "meta.txt")):
        with open(os.path.join(d, "meta.txt")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                meta[k] = v
    out = []
    if meta:
        out.append("- Settings: " + meta.get("settings", ""))
        out.append("- Machine: " + meta.get("machine", ""))
        out.append("- Versions: " + meta.get("versions", ""))
        if "load" in meta:
            out.append("- Machine load: " + meta["load"])
        out.append("")

    # aggregate the rounds of each configuration
    groups = {}
    for r in runs:
        groups.setdefault((r["workload"], r["proto"], r["config"]), []).append(r)
    agg = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        statuses = {r["status"] for r in rs}
        a = {"label": rs[0]["label"], "rounds": rs, "ok": ok,
             "status": statuses.pop() if len(statuses) == 1 else "error"}
        if ok:
            lat = []
            for r in ok:
                lat += latencies(r["logprefix"])
            n, mean, p99 = stats(lat)
            a["tps"] = sum(float(r["tps"]) for r in ok) / len(ok)
            a["mean"], a["p99"] = mean, p99
            tx = sum(float(r["tx"]) for r in ok)
            cpus = [num(r["cpu_s"]) for r in ok]
            a["cpu1k"] = (sum(cpus) / tx * 1000.0) if tx and None not in cpus else None
            rss = [num(r["rss_kb"]) for r in ok if num(r["rss_kb"])]
            pss = [num(r["pss_kb"]) for r in ok if num(r["pss_kb"])]
            a["rss"] = mib(max(rss)) if rss else None
            a["pss"] = mib(max(pss)) if pss else None
        agg[key] = a

    out.append("| Workload | Protocol | Configuration | TPS | TPS by round | Mean ms | p99 ms "
               "| ×direct | ×peer | Proxy CPU s / 1k tx | Proxy RSS / PSS @ {clients} clients MiB | Data check |"
               .replace("{clients}", meta.get("clients", "N")))
    out.append("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    notes = []
    for wl in ("select", "tpcb"):
        for proto in ("simple", "prepared"):
            for cfg in ORDER[wl]:
                a = agg.get((wl, proto, cfg))
                if not a:
                    continue
                cells = [WORKLOAD[wl], proto, a["label"]]
                if a["status"] == "na":
                    note = a["rounds"][0]["note"] or "not implemented"
                    cells += [f"n/a ({note})"] + [""] * 8
                elif a["status"] == "refused":
                    cells += ["refused by pgtandem (below)"] + [""] * 8
                elif not a["ok"]:
                    cells += ["ERROR"] + [""] * 8
                else:
                    by_round = "/".join(fmt(num(r["tps"]), 0) if r["status"] == "ok" else r["status"]
                                        for r in a["rounds"])
                    direct = agg.get((wl, proto, "direct"), {}).get("tps")
                    peer_cfg = PEER.get(cfg)
                    peer = agg.get((wl, proto, peer_cfg), {}).get("tps") if peer_cfg else None
                    cells += [
                        fmt(a["tps"], 0) + (" (some rounds failed)" if a["status"] != "ok" else ""),
                        by_round, fmt(a["mean"], 2), fmt(a["p99"], 2),
                        fmt(a["tps"] / direct, 2) if direct and cfg != "direct" else "—",
                        (fmt(a["tps"] / peer, 2) + f" ({peer_cfg})") if peer else "—",
                        fmt(a["cpu1k"], 3),
                        (fmt(a["rss"], 1) + " / " + fmt(a["pss"], 1)) if a.get("rss") else "—",
                    ]
                    checks = [r for r in a["rounds"] if r.get("check_verdict")]
                    if checks:
                        verdicts = {r["check_verdict"] for r in checks}
                        if "different" in verdicts:
                            cells.append("**DIFFERENT**")
                        elif verdicts == {"identical"}:
                            cells.append("identical")
                        else:
                            cells.append("identical except history.mtime")
                        for r in checks:
                            notes.append(f"- {WORKLOAD[wl]} {proto} {a['label']}, round {r['round']}: "
                                         f"{r['check_text']}")
                    else:
                        cells.append("")
                for r in a["rounds"]:
                    if r["status"] in ("error", "refused"):
                        notes.append(f"- {'ERROR' if r['status'] == 'error' else 'Refused'} {WORKLOAD[wl]}"
                                     f" {proto} {a['label']}, round {r['round']}: {r['note']}")
                out.append("| " + " | ".join(cells) + " |")
    if notes:
        out.append("")
        out.append("Dual-write data checks, refusals and errors:")
        out += notes

    if idle:
        out.append("")
        out.append("| Proxy | Idle clients | RSS at launch MiB | RSS before MiB | RSS with idle clients MiB "
                   "| RSS per idle client KiB | PSS before → with idle MiB | PSS per idle client KiB "
                   "| Processes before → with |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in idle:
            if r["status"] != "ok":
                out.append(f"| {r['label']} | {r['n']} | " + (
                    f"n/a ({r['note']}) |" if r["status"] == "na" else f"ERROR: {r['note']} |")
                    + " |" * 6)
                continue
            n = int(r["ok"])
            per_rss = (float(r["idle_rss"]) - float(r["before_rss"])) / n if n else None
            per_pss = (float(r["idle_pss"]) - float(r["before_pss"])) / n if n else None
            out.append("| " + " | ".join([
                r["label"], str(n), fmt(mib(num(r["launch_rss"])), 1), fmt(mib(num(r["before_rss"])), 1),
                fmt(mib(num(r["idle_rss"])), 1), fmt(per_rss, 1),
                fmt(mib(num(r["before_pss"])), 1) + " → " + fmt(mib(num(r["idle_pss"])), 1),
                fmt(per_pss, 1), f"{r['procs_before']} → {r['procs_idle']}"]) + " |")
        idle_notes = [f"- {r['label']}: {r['note']}" for r in idle if r["status"] == "ok" and r.get("note")]
        if idle_notes:
            out.append("")
            out += idle_notes
    return "\n".join(out)


def main(argv):
    if len(argv) == 3 and argv[1] == "latency":
        n, mean, p99 = stats(latencies(argv[2]))
        print(f"{n} {mean or 0:.3f} {p99 or 0:.3f}")
    elif len(argv) == 3 and argv[1] == "table":
        print(table(argv[2]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
