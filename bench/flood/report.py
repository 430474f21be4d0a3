#!/usr/bin/env python3
"""bench/flood report: JSONL rows -> a markdown table (stdout and MD file).

usage: report.py JSONL MD ORIGIN_CAPACITY
"""

import json
import sys


def main():
    jsonl, md, capacity = sys.argv[1], sys.argv[2], float(sys.argv[3])
    rows = [json.loads(l) for l in open(jsonl) if l.strip()]
    scen = [r for r in rows if r["kind"] == "scenario"]
    cost = [r for r in rows if r["kind"] == "cost"]
    unloaded = {r["proxy"]: r["p99_ms"] for r in scen if r["scenario"] == "unloaded"}

    def f(v, d=0):
        return "n/a" if v is None else f"{v:,.{d}f}"

    def attack(r):
        if "attack_rps" in r:
            return (f"{r['attack_requests']:,} req ({r['attack_rps']:,.0f}/s) from "
                    f"{r['addresses_used']:,} addresses; {r['attack_statuses']}")
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
    out.append("| proxy | scenario | legit success | legit p99 ms (x unloaded) | origin req/s "
               f"(capacity {capacity:.0f}) | edge CPU s | RSS MiB | attack |")
    out.append("|---|---|---|---|---|---|---|---|")
    for r in scen:
        base = unloaded.get(r["proxy"])
        ratio = (r["p99_ms"] / base) if (base and r["p99_ms"]) else None
        out.append(
            f"| {r['proxy']} | {r['scenario']} | {f(100 * r['success'] if r['success'] is not None else None, 2)} % "
            f"({r['ok']:,}/{r['requests']:,}) | {f(r['p99_ms'], 1)} ({f(ratio, 2)}x) | "
            f"{f(r['origin_rps'])} | {f(r['edge_cpu_s'], 1)} | {f(r['rss_kib'] / 1024, 1)} | {attack(r)} |")
    out.append("")
    out.append("| proxy | CPU µs per request: rejected (429) | proxied | ratio | "
               "challenged (page) | constant 429 (floor) |")
    out.append("|---|---|---|---|---|---|")
    for p in sorted({r["proxy"] for r in cost}, reverse=True):
        by = {r["what"]: r for r in cost if r["proxy"] == p}

        def us(kind):
            r = by.get(kind)
            if not r:
                return "-", None
            return (f"{f(r['cpu_us_per_request'], 1)} ({r['non_2xx']:,}/{r['requests']:,} "
                    f"non-2xx)", r["cpu_us_per_request"])
        (rej, a), (pro, b) = us("rejected"), us("proxied")
        out.append(f"| {p} | {rej} | {pro} | {f(a / b if a and b else None, 2)} | "
                   f"{us('challenged')[0]} | {us('floor')[0]} |")
    solved = [f"{r['proxy']} {r['scenario']} {r['challenges_solved']}" for r in scen
              if r.get("challenges_solved")]
    if solved:
        out.append("")
        out.append("Challenges solved by the legitimate clients: " + ", ".join(solved))
    peak = {r["proxy"]: max(x["peak_rss_kib"] for x in scen if x["proxy"] == r["proxy"]) for r in scen}
    out.append("")
    out.append("Peak RSS over the whole run: " + ", ".join(f"{p} {v / 1024:.1f} MiB" for p, v in peak.items()))
    text = "\n".join(out)
    print(text)
    with open(md, "w") as fh:
        fh.write(text + "\n")


if __name__ == "__main__":
    main()
