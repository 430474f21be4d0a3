"""Checks a probe file against the development set's schema (see PROBE_BRIEF.md):

    python3 -m venv /tmp/probe-venv && /tmp/probe-venv/bin/pip install phonenumbers faker
    /tmp/probe-venv/bin/python crates/signals/tests/data/check_probes.py FILE
"""
import json, re, sys
import phonenumbers
ok = True
ids = set()
TYPES = {"phone", "email", "address", "coordinates", "plate", "ip", "name_workplace"}
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    def bad(msg):
        global ok
        ok = False
        print(f"line {n}: {msg}")
    try:
        r = json.loads(line)
    except Exception as e:
        bad(f"not JSON: {e}"); continue
    for k in ("id", "lang", "text", "labels", "spans", "family", "source"):
        if k not in r: bad(f"missing {k}")
    if r.get("id") in ids: bad("duplicate id")
    ids.add(r.get("id"))
    if r.get("lang") not in ("en", "fr"): bad("lang")
    labels = r.get("labels", [])
    if labels != sorted(set(labels)) or not set(labels) <= {"doxxing", "threat"}: bad("labels not a sorted subset")
    spans = r.get("spans", [])
    if ("doxxing" in labels) != bool(spans): bad("doxxing rows need spans, other rows none")
    t = r.get("text", "")
    prev = 0
    for s in spans:
        if s.get("type") not in TYPES: bad(f"span type {s.get('type')}")
        if not (prev <= s["start"] < s["end"] <= len(t)): bad("span offsets not sorted / in range")
        prev = s["end"]
        v = t[s["start"]:s["end"]]
        if v != v.strip() or not v: bad(f"span has edge whitespace: {v!r}")
        if s["type"] == "ip" and not re.fullmatch(r"(192\.0\.2|198\.51\.100|203\.0\.113)\.\d{1,3}", v): bad(f"ip not RFC 5737: {v}")
        if s["type"] == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}", v): bad(f"email: {v}")
        if s["type"] == "phone":
            region = "FR" if r.get("lang") == "fr" else "US"
            try:
                p = phonenumbers.parse(v, region)
                if not phonenumbers.is_valid_number(p):
                    p2 = phonenumbers.parse(v, "GB")
                    if not phonenumbers.is_valid_number(p2): bad(f"phone not valid: {v}")
            except Exception:
                bad(f"phone does not parse: {v}")
print("OK" if ok else "ERRORS", len(ids), "rows")
