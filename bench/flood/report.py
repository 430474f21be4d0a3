#!/usr/bin/env python3
"""bench/flood report: JSONL rows -> markdown tables (stdout and MD file).

usage: report.py JSONL MD ORIGIN_CAPACITY

With several runs (RUNS=3), every number is the median over the runs; the legitimate p99's
ratio is taken per run (against that run's unloaded p99), then the median of the ratios.
"""

import json
import statistics
import sys


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def main():
    jsonl, md, capacity = sys.argv[1], sys.argv[2], float(sys.argv[3])
    rows = [json.loads(l) for l in open(jsonl) if l.strip()]
    scen = [r for r in rows if r["kind"] == "scenario"]
    cost = [r for r in rows if r["kind"] == "cost"]
    loads = [r for r in rows if r["kind"] == "fact" and r.get("what") == "loadavg"]
    runs = sorted({r.get("run", 1) for r in scen + cost})
    unloaded = {(r["proxy"], r.get("run", 1)): r["p99_ms"] for r in scen
                if r["scenario"] == "unloaded"}

    def f(v, d=0):
        return "n/a" if v is None else f"{v:,.{d}f}"

    def attack(r):
        if "attack_rps" in r:
            return (f"{r['attack_requests']:,} req ({r['attack_rps']:,.0f}/s) from "
                    f"{r['addresses_used']:,} addresses; {r['attack_statuses']}; "
                    f"{r.get('attack_errors', 0):,} closed or failed")
        if "attack_streams" in r:
            return (f"{r['attack_streams']:,} streams reset on {r['attack_connections']:,} "
                    f"connections; GOAWAY codes {r['goaway_codes']}")
        if "attack_cps" in r:
            return (f"{r['attack_connections']:,} connections ({r['attack_cps']:,.0f}/s), "
                    f"{r['attack_closed_unanswered']:,} closed unanswered; {r['attack_statuses']}")
        if r["scenario"].startswith("b-"):
            return "slowhttptest, 2,000 connections from 127.0.0.1"
        return "-"

    out = []
    if len(runs) > 1:
        out.append(f"Medians of {len(runs)} runs; attack column: the last run.")
        out.append("")
    out.append("| proxy | scenario | legit success | legit p99 ms (x unloaded) | origin req/s "
               f"(capacity {capacity:.0f}) | edge CPU s | RSS MiB | attack |")
    out.append("|---|---|---|---|---|---|---|---|")
    keys = []
    for r in scen:
        k = (r["proxy"], r["scenario"])
        if k not in keys:
            keys.append(k)
    for k in keys:
        rs = [r for r in scen if (r["proxy"], r["scenario"]) == k]
        ratios = []
        for r in rs:
            base = unloaded.get((r["proxy"], r.get("run", 1)))
            ratios.append(r["p99_ms"] / base if base and r["p99_ms"] else None)
        ok, total = sum(r["ok"] for r in rs), sum(r["requests"] for r in rs)
        success = med([r["success"] for r in rs])
        last = rs[-1]
        out.append(
            f"| {k[0]} | {k[1]} | {f(100 * success if success is not None else None, 2)} % "
            f"({ok:,}/{total:,}) | {f(med([r['p99_ms'] for r in rs]), 1)} "
            f"({f(med(ratios), 2)}x) | {f(med([r['origin_rps'] for r in rs]))} | "
            f"{f(med([r['edge_cpu_s'] for r in rs]), 1)} | "
            f"{f(med([r['rss_kib'] / 1024 for r in rs]), 1)} | {attack(last)} |")
    out.append("")
    out.append("CPU µs per request (wrk, one address):")
    out.append("")
    out.append("| proxy | rejected (429) | proxied | ratio | challenged (page) | "
               "constant 429 (floor) | rejected attempt, with escalation | ratio |")
    out.append("|---|---|---|---|---|---|---|---|")
    for p in sorted({r["proxy"] for r in cost}, reverse=True):
        def us(kind, field="cpu_us_per_request"):
            return med([r.get(field) for r in cost if r["proxy"] == p and r["what"] == kind])
        rej, pro = us("rejected"), us("proxied")
        esc = us("rejected-escalated", "cpu_us_per_attempt")
        out.append(f"| {p} | {f(rej, 1)} | {f(pro, 1)} | {f(rej / pro if rej and pro else None, 2)} | "
                   f"{f(us('challenged'), 1)} | {f(us('floor'), 1)} | {f(esc, 1)} | "
                   f"{f(esc / pro if esc and pro else None, 3)} |")
    esc = [r for r in cost if r["what"] == "rejected-escalated" and r.get("attempts")]
    if esc:
        out.append("")
        out.append("With escalation, per run: " + "; ".join(
            f"{r['attempts']:,} attempts = {r['answered_429']:,} × 429 + "
            f"{r['closed_at_accept']:,} closed at accept, {r['cpu_s']:.2f} CPU-s, "
            f"{r['cpu_us_per_attempt']:.1f} µs per attempt"
            for r in esc))
    syn = [r for r in cost if r["what"].startswith("rejected-syn") and r.get("requests")]
    if syn:
        pro = med([r.get("cpu_us_per_request") for r in cost if r["what"] == "proxied"])
        out.append("")
        out.append("A boxed client's connection attempts (one process: non-blocking connect, close), "
                   "µs per attempt, medians (machine = /proc/stat busy time minus the same span idle; "
                   "meaningless when the machine is already saturated):")
        out.append("")
        out.append("| refused | attempts/run | edge CPU | edge / proxied | attacker's own CPU | "
                   "machine | closed at accept | in the kernel filter |")
        out.append("|---|---|---|---|---|---|---|---|")
        for what in sorted({r["what"] for r in syn}):
            rs = [r for r in syn if r["what"] == what]
            edge = med([r["cpu_us_per_request"] for r in rs])
            out.append(
                f"| {what.removeprefix('rejected-syn-')} | {f(med([r['requests'] for r in rs]))} | "
                f"{f(edge, 2)} | {f(edge / pro if edge is not None and pro else None, 4)} | "
                f"{f(med([r['attacker_cpu_us_per_attempt'] for r in rs]), 1)} | "
                f"{f(med([r['machine_us_per_attempt'] for r in rs]), 2)} | "
                f"{f(med([r['closed_at_accept'] for r in rs]))} | "
                f"{f(med([r['filter_clients'] for r in rs]))} |")
    solved = {}
    for r in scen:
        if r.get("challenges_solved"):
            solved.setdefault(f"{r['proxy']} {r['scenario']}", []).append(r["challenges_solved"])
    if solved:
        out.append("")
        out.append("Challenges solved by the legitimate clients: " + ", ".join(
            f"{k} {med(v):.0f}" for k, v in solved.items()))
    peak = {}
    for r in scen:
        peak[r["proxy"]] = max(peak.get(r["proxy"], 0), r["peak_rss_kib"])
    out.append("")
    out.append("Peak RSS over the whole run: " + ", ".join(
        f"{p} {v / 1024:.1f} MiB" for p, v in peak.items()))
    if loads:
        out.append("")
        out.append("Load average (1, 5, 15 min): " + "; ".join(
            f"run {r['run']} {r['at']} {r['value']}" for r in loads))
    text = "\n".join(out)
    print(text)
    with open(md, "w") as fh:
        fh.write(text + "\n")


if __name__ == "__main__":
    main()
