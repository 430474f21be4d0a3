"""Presidio side of bench/signals: throughput of its pattern recognizers and span
precision/recall of both systems on the types both support.

Usage: python signals_compare.py DATA.jsonl OURS.jsonl RESULT.json
OURS.jsonl is the output of `examples/scan` on DATA.jsonl (same line order).
Only Presidio's pattern recognizers are used, called directly: no AnalyzerEngine, so no
spaCy model is loaded (none is installed).
"""
import json
import statistics
import sys
import time

import tldextract

# Presidio's EmailRecognizer validates the domain with tldextract, which by default fetches
# the public suffix list over the network. This machine has no network: use the snapshot
# bundled with tldextract instead (no fetch attempt at all).
_offline = tldextract.TLDExtract(suffix_list_urls=())
tldextract.extract = _offline

from presidio_analyzer.predefined_recognizers import (
    EmailRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UkVehicleRegistrationRecognizer,
)

data_path, ours_path, out_path = sys.argv[1:4]
rows = [json.loads(l) for l in open(data_path, encoding="utf-8") if l.strip()]
ours = [json.loads(l) for l in open(ours_path, encoding="utf-8") if l.strip()]
assert len(rows) == len(ours), "scan output must have one line per data row"

# Presidio entity -> our type. Plates: Presidio only has a UK registration recognizer.
recognizers = [
    (PhoneRecognizer(supported_regions=("FR", "GB", "US", "CA")), "PHONE_NUMBER", "phone"),
    (EmailRecognizer(), "EMAIL_ADDRESS", "email"),
    (IpRecognizer(), "IP_ADDRESS", "ip"),
    (UkVehicleRegistrationRecognizer(), "UK_VEHICLE_REGISTRATION", "plate"),
]


def presidio_spans(text):
    out = []
    for rec, entity, kind in recognizers:
        for r in rec.analyze(text, entities=[entity], nlp_artifacts=None) or []:
            out.append((kind, r.start, r.end))
    return out


texts = [r["text"] for r in rows]
size_mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6

# Throughput: the whole corpus, 5 runs, median (one core when run under taskset).
rates = []
pres_pred = None
for _ in range(5):
    t0 = time.perf_counter()
    pred = [presidio_spans(t) for t in texts]
    dt = time.perf_counter() - t0
    rates.append(size_mb / dt)
    pres_pred = pred
presidio_mbps = statistics.median(rates)


def match(pred, gold):
    """Same rule as rempart_signals::eval: same type, overlap >= 50% of the longer span."""
    used = [False] * len(gold)
    m = 0
    for pk, ps, pe in pred:
        for gi, (gk, gs, ge) in enumerate(gold):
            if used[gi] or gk != pk:
                continue
            inter = max(0, min(pe, ge) - max(ps, gs))
            if inter * 2 >= max(pe - ps, ge - gs):
                used[gi] = True
                m += 1
                break
    return m


TYPES = ["phone", "email", "ip", "plate"]


def metrics(preds, dox_rows_only):
    res = {}
    for k in TYPES:
        tp = fp = fn = 0
        for row, pred in zip(rows, preds):
            if dox_rows_only and "doxxing" not in row["labels"]:
                continue
            gold = [(s["type"], s["start"], s["end"]) for s in row["spans"] if s["type"] == k]
            p = [x for x in pred if x[0] == k]
            mm = match(p, gold)
            tp += mm
            fp += len(p) - mm
            fn += len(gold) - mm
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        res[k] = {"tp": tp, "fp": fp, "fn": fn, "precision": round(prec, 3), "recall": round(rec, 3)}
    return res


ours_all = [[(s["kind"], s["char_start"], s["char_end"]) for s in o["spans"]] for o in ours]
ours_dox = [
    [(s["kind"], s["char_start"], s["char_end"]) for s in o["spans"] if s["doxxing"] and o["doxxing"]["decision"]]
    for o in ours
]

result = {
    "corpus_mb": round(size_mb, 4),
    "presidio_mbps_median": round(presidio_mbps, 3),
    "presidio_runs_mbps": [round(r, 3) for r in rates],
    "spans_detector_view": {
        "rempart": metrics(ours_all, True),
        "presidio": metrics(pres_pred, True),
    },
    "spans_all_rows": {
        "rempart_all_spans": metrics(ours_all, False),
        "rempart_doxxing_spans": metrics(ours_dox, False),
        "presidio": metrics(pres_pred, False),
    },
}
json.dump(result, open(out_path, "w"), indent=2)
print(json.dumps(result, indent=2))
