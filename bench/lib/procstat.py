#!/usr/bin/python3
"""CPU time and memory of a process and all its descendants, from /proc.

    procstat.py cpu ROOT...         CPU seconds (user+system) used so far by
                                    the trees of the given roots
    procstat.py busy                CPU seconds the whole machine has been busy
    procstat.py mem ROOT            "RSS_KB PSS_KB NPROCS" right now
    procstat.py tree ROOT           the pids of ROOT and its descendants
    procstat.py sample ROOT OUT S   every S seconds until SIGTERM, rewrite OUT
                                    with the largest "RSS_KB PSS_KB NPROCS" seen

CPU is utime+stime of every live process in the tree, plus the root's
cutime+cstime (the time of children it has already reaped), so a forking
proxy such as pgpool-II is fully counted even when its children come and go.
RSS is VmRSS summed over the tree: for a forking proxy this counts shared
pages once per process, so PSS (proportional set size, shared pages divided
among the processes that map them) is reported beside it.
"""
import os
import signal
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def read_stat(pid):
    """(ppid, utime, stime, cutime, cstime) in ticks, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        # the command name may hold spaces and parentheses: split after the last ')'
        rest = data[data.rindex(b")") + 2:].split()
        # rest[0] is field 3 (state); field n is rest[n - 3]
        return int(rest[1]), int(rest[11]), int(rest[12]), int(rest[13]), int(rest[14])
    except (OSError, ValueError, IndexError):  # gone or going
        return None


def tree(root):
    """The root and all its descendants that are alive now."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = read_stat(name)
        if st:
            children.setdefault(st[0], []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def cpu_seconds(root):
    total = 0
    for pid in tree(root):
        st = read_stat(pid)
        if not st:
            continue
        total += st[1] + st[2]
        if pid == root:
            total += st[3] + st[4]
    return total / TICKS


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: everything but idle and iowait
    return (sum(v[:8]) - v[3] - v[4]) / TICKS


def field_kb(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(root):
    rss = pss = n = 0
    for pid in tree(root):
        r = field_kb(f"/proc/{pid}/status", "VmRSS:")
        if not r:
            continue  # gone, or a zombie
        rss += r
        pss += field_kb(f"/proc/{pid}/smaps_rollup", "Pss:")
        n += 1
    return rss, pss, n


def sample(root, out, interval):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    best = [0, 0, 0]
    while not stop:
        rss, pss, n = memory(root)
        if n == 0:
            break
        if rss > best[0] or pss > best[1]:
            best = [max(best[0], rss), max(best[1], pss), max(best[2], n)]
            tmp = out + ".tmp"
            with open(tmp, "w") as f:
                f.write(f"{best[0]} {best[1]} {best[2]}\n")
            os.replace(tmp, out)
        time.sleep(interval)


def main(argv):
    if len(argv) >= 3 and argv[1] == "cpu":
        print(f"{sum(cpu_seconds(int(p)) for p in argv[2:]):.2f}")
    elif len(argv) == 2 and argv[1] == "busy":
        print(f"{machine_busy():.2f}")
    elif len(argv) >= 3 and argv[1] == "mem":
        print("%d %d %d" % memory(int(argv[2])))
    elif len(argv) >= 3 and argv[1] == "tree":
        print(" ".join(map(str, tree(int(argv[2])))))
    elif len(argv) >= 5 and argv[1] == "sample":
        sample(int(argv[2]), argv[3], float(argv[4]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
