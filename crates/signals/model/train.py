#!/usr/bin/env python3
"""Train the lexical threat model of rempart-signals (src/model.rs) and write model/threat.bin.

    crates/signals/model/train.py [--lopo]        (needs scikit-learn and numpy; see README.md)

Training rows: the development set (../shared/data/signals/dev.jsonl, or $SIGNALS_DEV), the
probe sets of tests/data/probes.jsonl and the ordinary posts of tests/data/neutral.jsonl, folded by the crate itself (examples/fold). Features are
those of src/model.rs: tokens = runs of [a-z0-9'] of the folded text, each token, each
adjacent pair (a mix of the two tokens' hashes) and the first 5 bytes of each longer token
bucketed among 2^16, each bucket's count divided
by the square root of the number of features.
Logistic regression (L2, C=64, lbfgs): deterministic for the same rows.

--lopo: instead of writing the model, leave each probe set out in turn (train on the rest),
and print F1 on it of the rules alone and of the rules with the model at the shipped
threshold: the held-out estimate quoted in BENCHMARKS.md.
"""
import json, os, struct, subprocess, sys
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

BUCKETS = 1 << 16
CONFIDENT = 0.6
C = 64.0
STEM = 5
CRATE = Path(__file__).resolve().parent.parent
ROOT = CRATE.parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
FNV_OFFSET, FNV_PRIME, M64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


def fnv(h, data):
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & M64
    return h


def pair(prev, tok):
    rot = ((tok << 31) | (tok >> 33)) & M64
    return ((prev ^ rot) * 0x9E3779B97F4A7C15) & M64


def features(folded):
    b = folded.encode()
    tok = lambda c: (97 <= c <= 122) or (48 <= c <= 57) or c == 39
    out, prev, i = [], None, 0
    while i < len(b):
        if not tok(b[i]):
            i += 1
            continue
        s = i
        while i < len(b) and tok(b[i]):
            i += 1
        h = fnv(FNV_OFFSET, b[s:i])
        out.append(h & (BUCKETS - 1))
        if prev is not None:
            out.append(pair(prev, h) >> 48)
        if i - s > STEM:
            out.append(fnv(FNV_OFFSET ^ 0x55, b[s:s + STEM]) & (BUCKETS - 1))
        prev = h
    return out


def matrix(rows):
    data, ind, ptr = [], [], [0]
    for r in rows:
        counts = {}
        feats = features(r["folded"])
        for f in feats:
            counts[f] = counts.get(f, 0) + 1
        norm = len(feats) ** 0.5 or 1.0
        for f in sorted(counts):
            ind.append(f)
            data.append(counts[f] / norm)
        ptr.append(len(ind))
    return csr_matrix((np.array(data, dtype=np.float64), ind, ptr), shape=(len(rows), BUCKETS))


def fold(path):
    exe = TARGET / "release/examples/fold"
    with open(path, "rb") as f:
        out = subprocess.run([str(exe)], stdin=f, capture_output=True, check=True).stdout
    return [json.loads(l) for l in out.decode().splitlines()]


def train(rows):
    y = np.array([r["threat"] for r in rows])
    return LogisticRegression(C=C, max_iter=5000).fit(matrix(rows), y)


def f1(pred, gold):
    tp = int((pred & gold).sum()); fp = int((pred & ~gold).sum()); fn = int((~pred & gold).sum())
    p = tp / max(tp + fp, 1); r = tp / max(tp + fn, 1)
    return 2 * p * r / max(p + r, 1e-9), fp


def rebuild():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "rempart-signals", "--example", "fold"],
                   cwd=ROOT, check=True)
    return True


def main():
    rebuild()
    dev = Path(os.environ.get("SIGNALS_DEV", ROOT.parent / "shared/data/signals/dev.jsonl"))
    if not dev.exists():
        sys.exit(f"error: development set not found: {dev} (set SIGNALS_DEV)")
    dev_rows = fold(dev)
    probe_path = CRATE / "tests/data/probes.jsonl"
    probe_rows = fold(probe_path)
    # Ordinary posts (no threat, no doxxing): without them the model reads everyday words that
    # only the threats of the labelled sets use ("tonight", "get", "va") as threats.
    neutral_rows = fold(CRATE / "tests/data/neutral.jsonl")
    sources = [json.loads(l)["id"].split("-")[0] for l in open(probe_path)]
    if "--lopo" in sys.argv:
        for held in sorted(set(sources)):
            rest = [r for r, s in zip(probe_rows, sources) if s != held]
            test = [r for r, s in zip(probe_rows, sources) if s == held]
            clf = train(dev_rows + rest + neutral_rows)
            p = clf.predict_proba(matrix(test))[:, 1]
            gold = np.array([r["threat"] for r in test]); rule = np.array([r["rule_threat"] for r in test])
            (fr, fpr), (fm, fpm) = f1(rule, gold), f1(rule | (p >= CONFIDENT), gold)
            print(f"{held}: rows {len(test)}  rules F1 {fr:.3f} (fp {fpr})  rules + model F1 {fm:.3f} (fp {fpm})")
        return
    clf = train(dev_rows + probe_rows + neutral_rows)
    w = clf.coef_[0].astype(np.float64)
    scale = float(np.abs(w).max()) / 127.0 or 1.0
    q = np.round(w / scale).astype("i1")
    with open(CRATE / "model/threat.bin", "wb") as f:
        f.write(b"RSM1" + struct.pack("<Iff", BUCKETS, float(clf.intercept_[0]), scale) + q.tobytes())
    print(f"wrote model/threat.bin from {len(dev_rows) + len(probe_rows) + len(neutral_rows)} rows")
    # The crate, rebuilt with these weights, must give the probabilities computed here.
    rows = fold(probe_path) if rebuild() else []
    mine = 1 / (1 + np.exp(-(matrix(rows) @ (q.astype(np.float64) * scale) + clf.intercept_[0])))
    worst = max((abs(a - r["model_p"]) for a, r in zip(mine, rows)), default=0.0)
    print(f"largest difference from the crate's probabilities: {worst:.2e}")
    if worst > 1e-3:
        sys.exit("error: the crate and this script compute different features")


if __name__ == "__main__":
    main()
