#!/usr/bin/python3
"""Prints N free TCP ports on 127.0.0.1, picked at random from a range.

    free_ports.py LO-HI N
"""
import random
import socket
import sys

lo, hi = map(int, sys.argv[1].split("-"))
want = int(sys.argv[2])
ports = list(range(lo, hi + 1))
random.shuffle(ports)
free = []
for p in ports:
    s = socket.socket()
    # as servers do: a port in TIME_WAIT is no obstacle
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
        free.append(p)
    except OSError:
        pass
    finally:
        s.close()
    if len(free) == want:
        break
if len(free) < want:
    sys.exit("fewer than %d free ports in %s" % (want, sys.argv[1]))
print(*free)
