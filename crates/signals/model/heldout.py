#!/usr/bin/env python3
"""Held-out estimates of the crate's threat verdict with a left-out lexical model.

    crates/signals/model/heldout.py [--probes p5,p6,p7,p8] [--dev-folds 5] [--thresholds 0.7,0.8,0.9]

For each left-out part — a probe set of tests/data/probes.jsonl, or one of the development set's
folds cut by family (seeded, so no template is in both) — trains the model of train.py on the
rest, writes it to model/threat.bin with its bias shifted so that the crate's threshold
(train.CONFIDENT) acts as each threshold asked for, rebuilds examples/eval and scores the part
with the crate itself (cancelling contexts included). Prints threat TP/FP/FN/F1 per part and
language. The shipped threat.bin is put back at the end, whatever happens. Slow: one release
build per part and threshold.
"""
import json, math, shutil, struct, subprocess, sys, tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import train as T


def arg(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def logit(p):
    return math.log(p / (1 - p))


def score(lines, clf_w, bias, scale, threshold):
    q = np.round(clf_w / scale).astype("i1")
    shifted = bias - (logit(threshold) - logit(T.CONFIDENT))
    with open(T.CRATE / "model/threat.bin", "wb") as f:
        f.write(b"RSM1" + struct.pack("<Iff", T.BUCKETS, shifted, scale) + q.tobytes())
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "rempart-signals", "--example", "eval"],
                   cwd=T.ROOT, check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    out = subprocess.run([str(T.TARGET / "release/examples/eval"), f.name],
                         capture_output=True, text=True, check=True).stdout
    counts = {}
    for l in out.splitlines():
        f = l.split()
        if len(f) > 6 and f[0] == "threat" and f[1] in ("en", "fr"):
            counts[f[1]] = tuple(int(x) for x in f[3:6])
    return counts


def main():
    thresholds = [float(x) for x in arg("--thresholds", "0.7,0.8,0.9").split(",")]
    held_probes = [x for x in arg("--probes", "p5,p6,p7,p8").split(",") if x]
    folds = int(arg("--dev-folds", "5"))
    T.rebuild()
    dev_path = Path(T.os.environ.get("SIGNALS_DEV", T.ROOT.parent / "shared/data/signals/dev.jsonl"))
    probe_path = T.CRATE / "tests/data/probes.jsonl"
    dev_lines, probe_lines = open(dev_path).read().splitlines(), open(probe_path).read().splitlines()
    dev, probe = T.fold(dev_path), T.fold(probe_path)
    neutral = T.fold(T.CRATE / "tests/data/neutral.jsonl")
    Xd, Xp, Xn = T.matrix(dev), T.matrix(probe), T.matrix(neutral)
    yd = np.array([r["threat"] for r in dev]); yp = np.array([r["threat"] for r in probe])
    src = np.array([json.loads(l)["id"].split("-")[0] for l in probe_lines])
    fams = sorted({json.loads(l)["family"] for l in dev_lines})
    np.random.RandomState(7).shuffle(fams)
    fold_of = {f: i % max(folds, 1) for i, f in enumerate(fams)}
    fold = np.array([fold_of[json.loads(l)["family"]] for l in dev_lines])
    parts = [(p, np.ones(len(dev), bool), src != p, [l for l, s in zip(probe_lines, src) if s == p])
             for p in held_probes]
    parts += [(f"dev-fold{k}", fold != k, np.ones(len(probe), bool),
               [l for l, f in zip(dev_lines, fold) if f == k]) for k in range(folds)]
    saved = Path(tempfile.mkdtemp()) / "threat.bin"
    shutil.copy(T.CRATE / "model/threat.bin", saved)
    totals = {}
    try:
        for name, dev_in, probe_in, lines in parts:
            X = sp.vstack([Xd[dev_in], Xp[probe_in], Xn])
            y = np.concatenate([yd[dev_in], yp[probe_in], np.zeros(Xn.shape[0], bool)])
            clf = T.LogisticRegression(C=T.C, max_iter=5000).fit(X, y)
            w = clf.coef_[0]; scale = float(np.abs(w).max()) / 127.0 or 1.0
            for th in thresholds:
                for lang, (tp, fp, fn) in score(lines, w, float(clf.intercept_[0]), scale, th).items():
                    print(f"{name} threshold {th} {lang}: tp {tp} fp {fp} fn {fn} F1 {2 * tp / max(2 * tp + fp + fn, 1):.3f}", flush=True)
                    key = ("dev" if name.startswith("dev") else name, th, lang)
                    a = totals.setdefault(key, [0, 0, 0]); a[0] += tp; a[1] += fp; a[2] += fn
        print("totals (per part and language):")
        for (name, th, lang), (tp, fp, fn) in sorted(totals.items()):
            print(f"  {name} threshold {th} {lang}: tp {tp} fp {fp} fn {fn} F1 {2 * tp / max(2 * tp + fp + fn, 1):.3f}")
    finally:
        shutil.copy(saved, T.CRATE / "model/threat.bin")
        T.rebuild()


if __name__ == "__main__":
    main()
