#!/usr/bin/python3
"""Pass-through figures on /metrics: with no services, every request counts under
service="(unowned)". Runs simple queries, parameterised (extended) queries and a pipeline
through the proxy and requires the statement counter and the latency histogram to move by
at least that much, with the histogram's _count equal to its +Inf bucket.

usage: metrics_passthrough.py PROXY_URL METRICS_PORT"""

import re
import sys
import urllib.request

import psycopg

LABEL = 'service="(unowned)"'


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    def value(name, extra=""):
        m = re.search(r"^%s\{%s%s\} (\S+)$" % (re.escape(name), re.escape(LABEL), re.escape(extra)),
                      text, re.M)
        if not m:
            raise SystemExit("FAIL metrics_passthrough: no %s{%s%s}" % (name, LABEL, extra))
        return float(m.group(1))
    return {
        "statements": value("pgtandem_statements_total"),
        "count": value("pgtandem_request_duration_seconds_count"),
        "inf": value("pgtandem_request_duration_seconds_bucket", ',le="+Inf"'),
    }


def main(url, port):
    before = scrape(port)
    with psycopg.connect(url, autocommit=True) as c:
        c.prepare_threshold = None
        for i in range(50):
            c.execute("SELECT %d" % i).fetchall()            # simple protocol
        for i in range(50):
            c.execute("SELECT %s::int", (i,)).fetchall()      # extended, one Sync each
        with c.pipeline():
            for i in range(20):
                c.execute("SELECT %s::int", (i,))
    after = scrape(port)
    d_st = after["statements"] - before["statements"]
    d_n = after["count"] - before["count"]
    ok = d_st >= 120 and d_n >= 101 and after["count"] == after["inf"]
    print("%s metrics_passthrough: statements +%d, timed requests +%d (120 statements, >= 101 "
          "requests sent), _count %d, +Inf bucket %d"
          % ("PASS" if ok else "FAIL", d_st, d_n, after["count"], after["inf"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
