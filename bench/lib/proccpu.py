#!/usr/bin/env python3
"""CPU seconds (user + system, all threads) of processes, for bench/desk.

  proccpu.py pid PID             one process
  proccpu.py snap NAME FILE      every process whose name is NAME: write {pid: seconds} to FILE
  proccpu.py delta NAME FILE     CPU used by processes named NAME since the snapshot in FILE
                                 (processes started since then count in full; those that
                                 ended are lost, so take the delta before they end)
"""
import json, os, sys

TCK = os.sysconf("SC_CLK_TCK")


def seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(rest[11]) + int(rest[12])) / TCK


def named(name):
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != name:
                    continue
        except OSError:
            continue
        s = seconds(pid)
        if s is not None:
            out[pid] = s
    return out


cmd = sys.argv[1]
if cmd == "pid":
    print(f"{seconds(sys.argv[2]) or 0:.3f}")
elif cmd == "snap":
    json.dump(named(sys.argv[2]), open(sys.argv[3], "w"))
elif cmd == "delta":
    before = json.load(open(sys.argv[3]))
    print(f"{sum(s - before.get(p, 0) for p, s in named(sys.argv[2]).items()):.3f}")
