#!/usr/bin/python3
"""Opens N client connections that log in, run one SELECT 1 each, and then
sit idle until this process gets SIGTERM (or SIGINT).

    idle_clients.py PORT N [CONCURRENCY] [TIMEOUT_S]

User, password and database come from PGUSER, PGPASSWORD and PGDATABASE.
Prints "READY OK FAILED" on stdout once every attempt has finished (the
first errors go to stderr), then waits; on the signal it closes all
connections and exits. The SELECT 1 makes every proxy finish setting up the
path to its server(s): a session pooler may hand a logged-in client a server
connection only at its first query.
"""
import asyncio
import os
import signal
import sys

import asyncpg


async def main(port, n, concurrency, timeout):
    sem = asyncio.Semaphore(concurrency)
    conns, errors = [], []
    ok = [0]

    async def one():
        async with sem:
            try:
                c = await asyncpg.connect(
                    host="127.0.0.1", port=port, user=os.environ.get("PGUSER", "bench"),
                    password=os.environ.get("PGPASSWORD", "bench"),
                    database=os.environ.get("PGDATABASE", "bench"),
                    ssl=False, timeout=60, statement_cache_size=0)
            except Exception as e:  # noqa: BLE001 - any failure is counted
                errors.append(f"connect: {e!r}")
                return
            conns.append(c)
            try:
                await c.execute("SELECT 1")
                ok[0] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(f"SELECT 1: {e!r}")

    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for t in pending:
        t.cancel()
    if pending:
        errors.append(f"{len(pending)} connections still pending after {timeout:g} s")
    for e in errors[:5]:
        print(e, file=sys.stderr)
    print(f"READY {ok[0]} {n - ok[0]}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await asyncio.gather(*(c.close(timeout=5) for c in conns), return_exceptions=True)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]),
                     int(sys.argv[3]) if len(sys.argv) > 3 else 25,
                     float(sys.argv[4]) if len(sys.argv) > 4 else 120.0))
