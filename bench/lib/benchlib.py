#!/usr/bin/env python3
"""Helpers for bench/edge (Python 3 standard library only).

Subcommands:
  gen-policy N OUT            write a policy document with N restrictions (+1 on the bench host)
  parse-wrk OUT [k=v...]      wrk --latency output -> JSON on stdout
  parse-h2load OUT LOG [k=v]  h2load output + its --log-file -> JSON on stdout
  fact k=v...                 one JSON line {"kind":"fact",...}
  cpu PID...                  utime+stime of the processes, in seconds (all threads)
  rss PID...                  sum of VmRSS of the processes, in KiB
  idle-conns PORT HOST N PID...   open N keep-alive connections, one request each, then idle;
                              print the RSS of PIDs before and with them open (JSON)
  perf-groups REPORT          self time of a perf report (dso,symbol) summed by component
  report JSONL MD DATE CMD    medians and ratios: print the table, write markdown to MD
"""

import asyncio
import json
import os
import re
import resource
import statistics
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------- policy

def gen_policy(n, out):
    """n restrictions mixing url / path_prefix / host scopes, none on the benchmarked host
    ("localhost"), plus one URL restriction on https://localhost/blocked/1 that the script
    uses to check the policy is really enforced."""
    cats = ["doxxing", "harassment", "phishing_malware", "intellectual_property",
            "terrorist_content", "threat_to_life", "other"]
    with open(out, "w") as f:
        f.write('{"schema":1,"version":1,"issued_at":"2026-01-01T00:00:00Z","restrictions":[\n')
        f.write(json.dumps({
            "id": "bench-blocked", "scope": {"type": "url", "url": "https://localhost/blocked/1"},
            "kind": "legal", "category": "doxxing",
            "notice_url": "https://desk.example/notices/bench-blocked",
            "ground": "Publishes a private person's home address.",
            "implemented_by": "Bench Provider", "starts_at": "2026-01-01T00:00:00Z"}))
        for i in range(n):
            k = i % 20
            if k < 12:      # 60 % exact URLs, spread over 50,000 hosts
                scope = {"type": "url", "url": f"https://h{i % 50000}.example/post/{i}"}
            elif k < 17:    # 25 % path prefixes
                scope = {"type": "path_prefix", "host": f"p{i % 20000}.example",
                         "prefix": f"/u/{i}"}
            else:           # 15 % whole hosts, half with their subdomains
                scope = {"type": "host", "host": f"s{i}.example",
                         "include_subdomains": bool(i & 1)}
            r = {"id": f"r{i}", "scope": scope,
                 "kind": "legal" if i % 3 else "terms_of_service",
                 "category": cats[i % len(cats)],
                 "notice_url": f"https://desk.example/notices/r{i}",
                 "ground": "Court order.", "implemented_by": "Bench Provider",
                 "starts_at": "2026-01-01T00:00:00Z"}
            f.write(",\n")
            f.write(json.dumps(r, separators=(",", ":")))
        f.write("\n]}\n")


# ---------------------------------------------------------------------------------- parsing

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return None
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(path):
    text = open(path).read()
    out = {"tool": "wrk"}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    out["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        out[f"p{pct}_ms"] = _ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return out


def parse_h2load(path, log):
    text = open(path).read()
    out = {"tool": "h2load"}
    m = re.search(r"finished in ([\d.]+)(\w+), ([\d.]+) req/s", text)
    out["rps"] = float(m.group(3)) if m else 0.0
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    if m:
        out["requests"] = int(m.group(3))
        out["failed"] = int(m.group(5)) + int(m.group(6)) + int(m.group(7))
    else:
        out["requests"], out["failed"] = 0, 0
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    out["non2xx"] = sum(int(x) for x in m.groups()[1:]) if m else 0
    m = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text)
    out["mean_ms"] = _ms(m.group(3)) if m else None
    for key, pat in (("tls", r"TLS Protocol: (\S+)"), ("cipher", r"Cipher: (\S+)"),
                     ("alpn", r"Application protocol: (\S+)")):
        m = re.search(pat, text)
        out[key] = m.group(1) if m else None
    # The log file has one line per request: start time (us since epoch), status, latency (us).
    lat = []
    try:
        with open(log) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    lat.append(int(parts[2]))
    except OSError:
        pass
    lat.sort()
    for pct in (50, 99):
        out[f"p{pct}_ms"] = (lat[min(len(lat) - 1, int(len(lat) * pct / 100))] / 1000.0
                             if lat else None)
    out["logged"] = len(lat)
    return out


# ---------------------------------------------------------------------------------- /proc

def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is field 3 (state); utime is field 14, stime field 15.
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


# ---------------------------------------------------------------------------------- idle conns

async def _idle_conns(port, host, n, pids):
    req = (f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench-idle\r\n\r\n").encode()
    sem = asyncio.Semaphore(200)
    conns, failures = [], []

    async def one():
        async with sem:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
                w.write(req)
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                if not head.startswith(b"HTTP/1.1 200") or not m:
                    failures.append(head[:40])
                    w.close()
                    return
                await asyncio.wait_for(r.readexactly(int(m.group(1))), 10)
                conns.append((r, w))
            except Exception as e:  # noqa: BLE001 - counted and reported
                failures.append(repr(e)[:80])

    before = rss_kib(pids)
    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(n)))
    opened = time.monotonic() - t0
    await asyncio.sleep(2)
    with_conns = rss_kib(pids)
    still_open = sum(1 for r, _ in conns if not r.at_eof())
    for _, w in conns:
        w.close()
    await asyncio.sleep(0.5)
    return {"rss_before_kib": before, "rss_with_kib": with_conns,
            "delta_kib": with_conns - before, "requested": n, "open": still_open,
            "failed": len(failures), "first_failures": failures[:3],
            "open_seconds": round(opened, 2)}


def idle_conns(port, host, n, pids):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return asyncio.run(_idle_conns(port, host, n, pids))


# ---------------------------------------------------------------------------------- report

def _med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def _fmt(v, digits=0):
    if v is None:
        return "n/a"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def _ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def report(jsonl, md_out, date, cmd):
    rows = [json.loads(line) for line in open(jsonl) if line.strip()]
    runs = [r for r in rows if r.get("kind") == "run"]
    facts = {}
    for r in rows:
        if r.get("kind") == "fact":
            facts[(r["phase"], r["proxy"], r["name"])] = r["value"]

    def sel(phase, proxy, tool):
        return [r for r in runs if r["phase"] == phase and r["proxy"] == proxy
                and r["tool"] == tool]

    def cpu100k(rs):
        vals = [r["cpu_s"] / r["requests"] * 100000 for r in rs if r.get("requests")]
        return statistics.median(vals) if vals else None

    def util(rs):
        vals = [r["cpu_s"] / r["seconds"] for r in rs if r.get("seconds")]
        return statistics.median(vals) * 100 if vals else None

    lines = []   # (metric, nginx, rempart, ratio, better)

    def row(metric, n, r, digits=0, lower_better=False, note=""):
        ratio = _ratio(r, n)
        lines.append((metric, _fmt(n, digits), _fmt(r, digits),
                      "n/a" if ratio is None else f"{ratio:.2f}",
                      "lower is better" if lower_better else "higher is better", note))

    def block(phase, label):
        nw, rw = sel(phase, "nginx", "wrk"), sel(phase, "rempart", "wrk")
        nh, rh = sel(phase, "nginx", "h2load"), sel(phase, "rempart", "h2load")
        if not (nw or nh):
            return
        row(f"{label}requests/s, wrk HTTP/1.1", _med(nw, "rps"), _med(rw, "rps"))
        row(f"{label}p50 latency ms, wrk", _med(nw, "p50_ms"), _med(rw, "p50_ms"), 3, True)
        row(f"{label}p99 latency ms, wrk", _med(nw, "p99_ms"), _med(rw, "p99_ms"), 3, True)
        row(f"{label}requests/s, h2load h2+TLS1.3", _med(nh, "rps"), _med(rh, "rps"))
        row(f"{label}p50 latency ms, h2load", _med(nh, "p50_ms"), _med(rh, "p50_ms"), 3, True)
        row(f"{label}p99 latency ms, h2load", _med(nh, "p99_ms"), _med(rh, "p99_ms"), 3, True)
        row(f"{label}CPU-s per 100k req, wrk", cpu100k(nw), cpu100k(rw), 3, True)
        row(f"{label}CPU-s per 100k req, h2load", cpu100k(nh), cpu100k(rh), 3, True)
        row(f"{label}proxy core busy %, wrk", util(nw), util(rw), 0, False,
            "100 = the proxy's core is saturated")
        row(f"{label}proxy core busy %, h2load", util(nh), util(rh), 0, False, "")

    block("base", "")
    for name, label in (("rss_idle_kib", "RSS idle, MiB"),
                        ("rss_10k_kib", "RSS with 10k idle keep-alive conns, MiB"),
                        ("rss_10k_delta_kib", "RSS delta for 10k conns, MiB")):
        n, r = facts.get(("base", "nginx", name)), facts.get(("base", "rempart", name))
        row(label, None if n is None else n / 1024, None if r is None else r / 1024, 1, True)
    n, r = facts.get(("base", "nginx", "conns_open")), facts.get(("base", "rempart", "conns_open"))
    if n is not None or r is not None:
        lines.append(("idle conns still open at measurement", _fmt(n), _fmt(r), "", "", ""))

    block("1m", "1M restrictions: ")
    rss1m = facts.get(("1m", "rempart", "rss_idle_kib"))
    load_s = facts.get(("1m", "rempart", "ready_seconds"))
    rss0 = facts.get(("base", "rempart", "rss_idle_kib"))
    nrss = facts.get(("base", "nginx", "rss_idle_kib"))
    if rss1m is not None:
        row("1M restrictions: RSS idle, MiB", None if nrss is None else nrss / 1024,
            rss1m / 1024, 1, True)
    extra = []
    if load_s is not None:
        extra.append(f"Rempart start with 1M restrictions: {load_s:.2f} s from start to "
                     f"/readyz 200 (without policy: "
                     f"{facts.get(('base', 'rempart', 'ready_seconds'), 0):.2f} s); "
                     f"RSS {rss1m / 1024:.1f} MiB vs {rss0 / 1024:.1f} MiB without policy.")
    for tool, key, label in (("wrk", "rps", "requests/s wrk"), ("h2load", "rps", "requests/s h2load"),
                             ("wrk", "p99_ms", "p99 wrk"), ("h2load", "p99_ms", "p99 h2load")):
        a = _med(sel("1m", "rempart", tool), key)
        b = _med(sel("base", "rempart", tool), key)
        ratio = _ratio(a, b)
        if ratio is not None:
            extra.append(f"Rempart 1M / Rempart without restrictions, {label}: {ratio:.2f}")
    blocked = facts.get(("1m", "rempart", "blocked_status"))
    if blocked is not None:
        extra.append(f"check: https://localhost/blocked/1 answered {blocked} with the 1M policy "
                     f"(the benchmarked `/` answered 200).")
    b451 = _med(sel("1m", "rempart", "wrk451"), "rps")
    if b451:
        extra.append(f"Rempart answering the blocked URL itself (451 page, no origin), wrk: "
                     f"{b451:,.0f} requests/s.")

    # Target checks.
    def med(phase, proxy, tool, key):
        return _med(sel(phase, proxy, tool), key)
    targets = []
    for tool in ("wrk", "h2load"):
        t = _ratio(med("base", "rempart", tool, "rps"), med("base", "nginx", tool, "rps"))
        c = _ratio(cpu100k(sel("base", "rempart", tool)), cpu100k(sel("base", "nginx", tool)))
        p = _ratio(med("base", "rempart", tool, "p99_ms"), med("base", "nginx", tool, "p99_ms"))
        for name, v, ok in (("throughput ≥ 1.2× nginx", t, t is not None and t >= 1.2),
                            ("CPU per request ≤ 0.8× nginx", c, c is not None and c <= 0.8),
                            ("p99 ≤ nginx", p, p is not None and p <= 1.0)):
            targets.append(f"{tool}: {name}: ratio {'n/a' if v is None else f'{v:.2f}'} — "
                           f"{'reached' if ok else 'NOT reached'}")

    nruns = max((r.get("run", 0) for r in runs), default=0)
    head = ("| metric | nginx | Rempart | Rempart/nginx | |\n"
            "|---|---:|---:|---:|---|\n")
    body = "".join(f"| {m} | {a} | {b} | {c} | {d}{'; ' + e if e else ''} |\n"
                   for m, a, b, c, d, e in lines)
    md = [f"# Edge benchmark, {date}\n", f"Command: `{cmd}`\n",
          f"Medians of {nruns} runs per cell, nginx and Rempart alternated.\n", head + body]
    if extra:
        md.append("\n".join(f"- {x}" for x in extra) + "\n")
    md.append("Targets (issue 2):\n\n" + "\n".join(f"- {t}" for t in targets) + "\n")
    tls = [r for r in runs if r["tool"] == "h2load" and r.get("cipher")]
    if tls:
        md.append("h2load negotiated: " + ", ".join(sorted({
            f"{r['proxy']} {r.get('tls')} {r.get('cipher')} {r.get('alpn')}" for r in tls})) + "\n")
    errs = [r for r in runs if r["tool"] != "wrk451" and r.get("non2xx") or r.get("socket_errors") or r.get("failed")]
    if errs:
        md.append("Runs with errors or non-2xx answers: " + "; ".join(
            f"{r['phase']}/{r['proxy']}/{r['tool']}#{r['run']}: non2xx={r.get('non2xx')} "
            f"socket_errors={r.get('socket_errors')} failed={r.get('failed')}"
            for r in errs) + "\n")
    md.append("Raw runs (one JSON line each) are in the `.jsonl` file next to this one.\n")
    text = "\n".join(md)
    with open(md_out, "w") as f:
        f.write(text)
    print(text)


def perf_groups(path):
    """Self time from `perf report --no-children --sort dso,symbol --stdio -g none`, summed
    by what the code belongs to."""
    groups = {}
    rules = [("glibc malloc/free", r"malloc|_int_free|cfree|unlink_chunk|realloc|calloc"
              r"|malloc_consolidate|tcache"),
             ("memcpy/memmove", r"memmove|memcpy|memset"),
             ("rempart (edge, policy)", r"rempart"),
             ("pingora", r"pingora"),
             ("tokio", r"tokio"),
             ("http/httparse headers", r"\bhttp::|httparse"),
             ("prometheus metrics", r"prometheus"),
             ("uuid / rand", r"uuid|rand"),
             ("tracing", r"tracing"),
             ("bytes", r"bytes::"),
             ("rustls / ring (TLS)", r"rustls|ring_core|ring::")]
    for line in open(path):
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
        if not m:
            continue
        pct, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4)
        if kind == "k" or "kernel" in dso:
            g = "kernel (syscalls, loopback TCP)"
        else:
            g = next((name for name, pat in rules if re.search(pat, sym)), None)
            if g is None:
                g = "other libc" if "libc" in dso else "other user code"
        groups[g] = groups.get(g, 0.0) + pct
    for g, v in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"{v:6.2f}%  {g}")


def _extras(args):
    """key=value arguments; numbers become numbers."""
    out = {}
    for a in args:
        k, v = a.split("=", 1)
        for conv in (int, float):
            try:
                v = conv(v)
                break
            except ValueError:
                pass
        out[k] = v
    return out


def main(argv):
    cmd = argv[1]
    if cmd == "gen-policy":
        gen_policy(int(argv[2]), argv[3])
    elif cmd == "parse-wrk":
        print(json.dumps({**parse_wrk(argv[2]), **_extras(argv[3:])}))
    elif cmd == "parse-h2load":
        print(json.dumps({**parse_h2load(argv[2], argv[3]), **_extras(argv[4:])}))
    elif cmd == "perf-groups":
        perf_groups(argv[2])
    elif cmd == "show":
        r = json.loads(sys.stdin.readline())
        errs = r.get("non2xx", 0) + r.get("socket_errors", 0) + r.get("failed", 0)
        print(f"[bench] {r['phase']} {r['proxy']:8} {r['tool']:6} #{r['run']}: "
              f"{r['rps']:>9,.0f} req/s  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  "
              f"cpu {r['cpu_s']:.2f} s / {r['seconds']:.1f} s  errors {errs}  "
              f"{r.get('cipher') or ''}  loadavg {r['load']}")
    elif cmd == "fact":
        print(json.dumps({"kind": "fact", **_extras(argv[2:])}))
    elif cmd == "cpu":
        print(f"{cpu_seconds(argv[2:]):.3f}")
    elif cmd == "rss":
        print(rss_kib(argv[2:]))
    elif cmd == "idle-conns":
        print(json.dumps(idle_conns(int(argv[2]), argv[3], int(argv[4]), argv[5:])))
    elif cmd == "report":
        report(argv[2], argv[3], argv[4], argv[5])
    else:
        sys.exit(f"unknown subcommand {cmd}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv)
