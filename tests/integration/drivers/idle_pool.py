#!/usr/bin/python3
"""Ten pooled connections that sit idle through the whole driver matrix, driven by commands
on stdin (one per line, "COMMAND LABEL"); each command's PASS/FAIL lines end with "DONE LABEL".

  open LABEL   connect ten psycopg connections through the proxy: 0-4 log in and do nothing,
               5-9 run one statement each (two mirrored INSERTs into
               drv_orders, two routed reads of drv_items, one SET)
  probe LABEL  without sending a byte, is each socket still open with nothing unasked-for
               waiting on it (an EOF or a FATAL means the proxy dropped it)?
  check LABEL  each connection runs a routed read and a mirrored INSERT, 10 s at most
  quit         close them and exit
"""

import os
import select
import socket
import sys
import threading

import psycopg

from drvlib import Env, parse_args

N_LOGIN_ONLY = 5
N_ONE_STATEMENT = 5

args = parse_args()
env = Env(args)
conns = []          # [(name, connection or None)]


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def bounded(fn, limit):
    """fn() in a thread: its result, or raises after `limit` seconds."""
    box = {}

    def body():
        try:
            box["v"] = fn()
        except BaseException as e:  # noqa: B902
            box["e"] = e
    th = threading.Thread(target=body, daemon=True)
    th.start()
    th.join(limit)
    if th.is_alive():
        raise TimeoutError("no answer within %d s" % limit)
    if "e" in box:
        raise box["e"]
    return box.get("v")


def one_statement(i, c):
    k = i - N_LOGIN_ONLY
    if k < 2:
        c.execute("INSERT INTO drv_orders (tag, item_id, placed_at) VALUES (%s, %s, now())",
                  (env.tag, i))
    elif k < 4:
        c.execute("SELECT count(*) FROM drv_items").fetchone()
    else:
        c.execute("SET application_name = 'drivers-idle'")


def cmd_open(label):
    bad = []
    for i in range(N_LOGIN_ONLY + N_ONE_STATEMENT):
        name = "idle%d" % i
        try:
            c = bounded(lambda: psycopg.connect(env.proxy_dsn(application_name=name), autocommit=True), 15)
            if i >= N_LOGIN_ONLY:
                bounded(lambda: one_statement(i, c), 15)
            conns.append((name, c))
        except Exception as e:  # noqa: B902
            conns.append((name, None))
            bad.append("%s: %s" % (name, str(e).strip()[:120]))
    if bad:
        say("FAIL %s: %d of %d idle connections could not be set up: %s"
            % (label, len(bad), len(conns), "; ".join(bad)))
    else:
        say("PASS %s: %d logged in and sat idle, %d ran one statement and sat idle"
            % (label, N_LOGIN_ONLY, N_ONE_STATEMENT))


def socket_state(c):
    """'open', or why not, looking only at the socket (nothing is sent)."""
    if c is None:
        return "never opened"
    if c.closed:
        return "closed by psycopg"
    fd = c.fileno()
    r, _, _ = select.select([fd], [], [], 0)
    if not r:
        return "open"
    s = socket.socket(fileno=os.dup(fd))
    try:
        s.setblocking(False)
        data = s.recv(4096, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return "open"
    except OSError as e:
        return "socket error %s" % e
    finally:
        s.close()
    if not data:
        return "closed by the proxy (EOF)"
    if data[:1] == b"E":
        return "an unasked-for ErrorResponse %r" % data[:80]
    if data[:1] in (b"S", b"N", b"A"):
        return "open"        # ParameterStatus, notice, notification: allowed while idle
    return "unexpected bytes %r" % data[:40]


def cmd_probe(label):
    states = [(name, socket_state(c)) for name, c in conns]
    bad = ["%s: %s" % (n, s) for n, s in states if s != "open"]
    if bad:
        say("FAIL %s: %d of %d idle connections lost: %s" % (label, len(bad), len(states), "; ".join(bad)))
    else:
        say("PASS %s: all %d idle connections still open" % (label, len(states)))


def cmd_check(label):
    bad = []
    for i, (name, c) in enumerate(conns):
        if c is None:
            bad.append("%s: never opened" % name)
            continue
        try:
            def use():
                c.execute("SELECT count(*) FROM drv_items WHERE tag = %s", (env.tag,)).fetchone()
                c.execute("INSERT INTO drv_orders (tag, item_id, placed_at) VALUES (%s, %s, now())",
                          (env.tag, 100 + i))
            bounded(use, 10)
        except Exception as e:  # noqa: B902
            bad.append("%s: %s: %s" % (name, type(e).__name__, str(e).strip().replace("\n", " ")[:150]))
    if bad:
        say("FAIL %s: %d of %d idle connections do not work: %s" % (label, len(bad), len(conns), "; ".join(bad)))
    else:
        say("PASS %s: all %d idle connections ran a read and a mirrored write" % (label, len(conns)))


def main():
    for line in sys.stdin:
        parts = line.split(None, 1)
        if not parts:
            continue
        cmd, label = parts[0], (parts[1].strip() if len(parts) > 1 else "")
        if cmd == "quit":
            break
        try:
            {"open": cmd_open, "probe": cmd_probe, "check": cmd_check}[cmd](label)
        except Exception as e:  # noqa: B902
            say("FAIL %s: %s: %s" % (label, type(e).__name__, e))
        say("DONE %s" % label)
    for _, c in conns:
        if c is not None:
            try:
                c.close()
            except Exception:  # noqa: B902
                pass
    os._exit(0)


main()
