#!/usr/bin/env bash
# testssl.sh against the real edge's HTTPS listener: no vulnerability, no weak protocol, no
# weak cipher. Certificate-trust findings are out of scope (the demo certificate is
# self-signed); everything about protocols, ciphers and known attacks is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${REMPART_BIN:-${CARGO_TARGET_DIR:-target}/debug/rempart}
[ -x "$bin" ] || cargo build -p rempart
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
"$bin" up --dir "$work/demo" --port "$port" >"$work/up.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$((port + 2))/readyz" >/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$work/up.log"; exit 1; }
  sleep 0.1
done
testssl --quiet --color 0 --warnings off --ip 127.0.0.1 -p -s -f -U \
  --jsonfile "$work/testssl.json" "forum.localhost:$((port + 1))" >"$work/testssl.txt" 2>&1 || true
python3 - "$work/testssl.json" <<'PY'
import json, sys
findings = json.load(open(sys.argv[1]))
bad = [f for f in findings
       if f.get("severity") in ("MEDIUM", "HIGH", "CRITICAL")
       and not f["id"].startswith(("cert", "scanProblem"))]
offered = {f["id"]: f["finding"] for f in findings if f["id"] in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3")}
print("testssl protocols:", offered)
for f in bad:
    print("testssl finding:", f["id"], f["severity"], f["finding"])
if not findings or "TLS1_3" not in offered:
    print("testssl produced no usable result"); sys.exit(1)
print(f"testssl: {len(findings)} checks, {len(bad)} medium or worse")
print(f"{len(findings) - len(bad)} passed, {len(bad)} failed")
sys.exit(1 if bad else 0)
PY
