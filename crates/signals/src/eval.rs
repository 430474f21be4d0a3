//! Evaluation against a labelled JSONL data set (schema in `shared/data/signals/README.md`).
//!
//! * **Labels**: precision, recall and F1 of each label (`doxxing`, `threat`) per language and
//!   overall, with 95% bootstrap confidence intervals (rows resampled with replacement within
//!   the group, seeded, percentile method).
//! * **Spans**, per PII type. *Matching rule*: a predicted span matches a gold span when the
//!   types are equal and their overlap, in code points, is at least 50% of the **longer** of the
//!   two (so each covers at least half of the other); matching is one-to-one, greedy in text
//!   order. Two views are reported:
//!   - `doxxing spans`: the spans the report marks as making the post doxxing
//!     ([`crate::Report::doxxing_spans`]) on every row, against the gold spans (gold spans exist
//!     only on doxxing rows, so this also charges spans predicted on non-doxxing rows);
//!   - `detector spans`: every detected span, on the rows whose gold label is doxxing only
//!     (where the gold span list is complete), which measures the pattern detectors alone.
//! * **Families**: per family, the number of rows and of rows with any label wrong.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Signals, SpanKind};

/// One gold span (code-point offsets).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GoldSpan {
    /// Code-point start.
    pub start: usize,
    /// Code-point end (exclusive).
    pub end: usize,
    /// Type name (`phone`, `email`, ...).
    #[serde(rename = "type")]
    pub kind: String,
}

/// One row of the data set.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Row {
    /// Row id.
    pub id: String,
    /// `en` or `fr`.
    pub lang: String,
    /// The post.
    pub text: String,
    /// Gold labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Gold spans.
    #[serde(default)]
    pub spans: Vec<GoldSpan>,
    /// Template or source family.
    #[serde(default)]
    pub family: String,
}

/// Read a JSONL data set.
///
/// # Errors
/// I/O errors and lines that do not follow the schema, with their line number.
pub fn load_dataset(path: &Path) -> Result<Vec<Row>, Error> {
    let f = std::fs::File::open(path).map_err(|source| Error::Io { line: 0, source })?;
    read_dataset(std::io::BufReader::new(f))
}

/// Read a JSONL data set from any reader.
///
/// # Errors
/// See [`load_dataset`].
pub fn read_dataset<R: BufRead>(reader: R) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| Error::Io {
            line: i + 1,
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(&line).map_err(|e| Error::Dataset {
            line: i + 1,
            message: e.to_string(),
        })?;
        rows.push(row);
    }
    Ok(rows)
}

/// Evaluation settings.
#[derive(Debug, Clone, Copy)]
pub struct EvalConfig {
    /// Bootstrap resamples (1000 by default).
    pub resamples: usize,
    /// RNG seed for the bootstrap.
    pub seed: u64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            resamples: 1000,
            seed: 20261125,
        }
    }
}

/// A metric with its 95% confidence interval.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Ci {
    /// Point estimate.
    pub value: f64,
    /// 2.5th percentile of the bootstrap distribution.
    pub lo: f64,
    /// 97.5th percentile.
    pub hi: f64,
}

/// Precision / recall / F1 with counts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prf {
    /// True positives.
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// False negatives.
    pub fn_: usize,
    /// Precision.
    pub precision: Ci,
    /// Recall.
    pub recall: Ci,
    /// F1.
    pub f1: Ci,
}

/// Label metrics for one (label, language) group.
#[derive(Debug, Clone, Serialize)]
pub struct LabelMetrics {
    /// `doxxing` or `threat`.
    pub label: String,
    /// `en`, `fr` or `all`.
    pub lang: String,
    /// Rows in the group.
    pub rows: usize,
    /// The metrics.
    pub prf: Prf,
}

/// Span metrics for one PII type.
#[derive(Debug, Clone, Serialize)]
pub struct SpanMetrics {
    /// PII type.
    pub kind: String,
    /// `doxxing` or `detector` (see the module docs).
    pub view: String,
    /// The metrics.
    pub prf: Prf,
}

/// Errors per family.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyErrors {
    /// Family id.
    pub family: String,
    /// Rows.
    pub rows: usize,
    /// Rows with any label wrong.
    pub errors: usize,
    /// Doxxing false positives / false negatives.
    pub dox_fp: usize,
    /// Doxxing false negatives.
    pub dox_fn: usize,
    /// Threat false positives.
    pub threat_fp: usize,
    /// Threat false negatives.
    pub threat_fn: usize,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Rows evaluated.
    pub rows: usize,
    /// Label metrics per label and language (and `all`).
    pub labels: Vec<LabelMetrics>,
    /// Span metrics per type and view.
    pub spans: Vec<SpanMetrics>,
    /// Families, most errors first.
    pub families: Vec<FamilyErrors>,
    /// Resamples and seed used.
    pub bootstrap: (usize, u64),
}

/// Per-row outcome, kept small so that bootstrapping is cheap.
struct RowOutcome {
    lang: String,
    family: String,
    /// (pred, gold) for doxxing, threat.
    labels: [(bool, bool); 2],
    /// Per kind: (matched, predicted, gold) for the doxxing view and the detector view.
    dox_spans: [(u32, u32, u32); 7],
    det_spans: [(u32, u32, u32); 7],
}

fn kind_index(k: SpanKind) -> usize {
    SpanKind::ALL.iter().position(|x| *x == k).unwrap_or(0)
}

/// Greedy one-to-one matching; returns matched count per kind.
fn match_spans(pred: &[(SpanKind, usize, usize)], gold: &[(SpanKind, usize, usize)]) -> [u32; 7] {
    let mut used = vec![false; gold.len()];
    let mut m = [0u32; 7];
    for &(pk, ps, pe) in pred {
        for (gi, &(gk, gs, ge)) in gold.iter().enumerate() {
            if used[gi] || gk != pk {
                continue;
            }
            let inter = pe.min(ge).saturating_sub(ps.max(gs));
            let longer = (pe - ps).max(ge - gs);
            if longer > 0 && inter * 2 >= longer {
                used[gi] = true;
                m[kind_index(pk)] += 1;
                break;
            }
        }
    }
    m
}

/// Scan every row and compute all metrics.
pub fn evaluate(signals: &Signals, rows: &[Row], cfg: EvalConfig) -> EvalReport {
    let outcomes: Vec<RowOutcome> = rows
        .iter()
        .map(|r| {
            let rep = signals.scan(&r.text);
            let gold_dox = r.labels.iter().any(|l| l == "doxxing");
            let gold_thr = r.labels.iter().any(|l| l == "threat");
            let gold: Vec<(SpanKind, usize, usize)> = r
                .spans
                .iter()
                .filter_map(|s| SpanKind::parse(&s.kind).map(|k| (k, s.start, s.end)))
                .collect();
            let dox_pred: Vec<_> = rep
                .doxxing_spans()
                .map(|s| (s.kind, s.char_start, s.char_end))
                .collect();
            let det_pred: Vec<_> = rep
                .spans
                .iter()
                .map(|s| (s.kind, s.char_start, s.char_end))
                .collect();
            let count = |v: &[(SpanKind, usize, usize)]| {
                let mut c = [0u32; 7];
                for (k, _, _) in v {
                    c[kind_index(*k)] += 1;
                }
                c
            };
            let dm = match_spans(&dox_pred, &gold);
            let (dp, g) = (count(&dox_pred), count(&gold));
            let mut dox_spans = [(0, 0, 0); 7];
            let mut det_spans = [(0, 0, 0); 7];
            for i in 0..7 {
                dox_spans[i] = (dm[i], dp[i], g[i]);
            }
            if gold_dox {
                let mm = match_spans(&det_pred, &gold);
                let pp = count(&det_pred);
                for i in 0..7 {
                    det_spans[i] = (mm[i], pp[i], g[i]);
                }
            }
            RowOutcome {
                lang: r.lang.clone(),
                family: r.family.clone(),
                labels: [
                    (rep.doxxing.decision, gold_dox),
                    (rep.threat.decision, gold_thr),
                ],
                dox_spans,
                det_spans,
            }
        })
        .collect();

    let mut rng = SplitMix64(cfg.seed);
    let mut labels = Vec::new();
    for (li, label) in ["doxxing", "threat"].iter().enumerate() {
        for lang in ["en", "fr", "all"] {
            let idx: Vec<usize> = (0..outcomes.len())
                .filter(|&i| lang == "all" || outcomes[i].lang == lang)
                .collect();
            if idx.is_empty() {
                continue;
            }
            let counts = |sample: &mut dyn Iterator<Item = usize>| {
                let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
                for i in sample {
                    match outcomes[i].labels[li] {
                        (true, true) => tp += 1,
                        (true, false) => fp += 1,
                        (false, true) => fn_ += 1,
                        _ => {}
                    }
                }
                (tp, fp, fn_)
            };
            let prf = prf_with_ci(&idx, &counts, cfg.resamples, &mut rng);
            labels.push(LabelMetrics {
                label: label.to_string(),
                lang: lang.to_string(),
                rows: idx.len(),
                prf,
            });
        }
    }

    let mut spans = Vec::new();
    let all: Vec<usize> = (0..outcomes.len()).collect();
    for (view, pick) in [("doxxing", 0usize), ("detector", 1)] {
        for k in SpanKind::ALL {
            let ki = kind_index(k);
            let counts = |sample: &mut dyn Iterator<Item = usize>| {
                let (mut m, mut p, mut g) = (0u64, 0u64, 0u64);
                for i in sample {
                    let t = if pick == 0 {
                        outcomes[i].dox_spans[ki]
                    } else {
                        outcomes[i].det_spans[ki]
                    };
                    m += u64::from(t.0);
                    p += u64::from(t.1);
                    g += u64::from(t.2);
                }
                // As (tp, fp, fn).
                (m, p - m.min(p), g - m.min(g))
            };
            let prf = prf_with_ci(&all, &counts, cfg.resamples, &mut rng);
            spans.push(SpanMetrics {
                kind: k.as_str().to_string(),
                view: view.to_string(),
                prf,
            });
        }
    }

    let mut fam: BTreeMap<&str, FamilyErrors> = BTreeMap::new();
    for o in &outcomes {
        let e = fam
            .entry(o.family.as_str())
            .or_insert_with(|| FamilyErrors {
                family: o.family.clone(),
                rows: 0,
                errors: 0,
                dox_fp: 0,
                dox_fn: 0,
                threat_fp: 0,
                threat_fn: 0,
            });
        e.rows += 1;
        let [(dp, dg), (tp, tg)] = o.labels;
        if dp != dg || tp != tg {
            e.errors += 1;
        }
        e.dox_fp += usize::from(dp && !dg);
        e.dox_fn += usize::from(!dp && dg);
        e.threat_fp += usize::from(tp && !tg);
        e.threat_fn += usize::from(!tp && tg);
    }
    let mut families: Vec<FamilyErrors> = fam.into_values().collect();
    families.sort_by(|a, b| {
        b.errors
            .cmp(&a.errors)
            .then_with(|| a.family.cmp(&b.family))
    });

    EvalReport {
        rows: outcomes.len(),
        labels,
        spans,
        families,
        bootstrap: (cfg.resamples, cfg.seed),
    }
}

type Counter<'a> = dyn Fn(&mut dyn Iterator<Item = usize>) -> (u64, u64, u64) + 'a;

fn ratios(tp: u64, fp: u64, fn_: u64) -> (f64, f64, f64) {
    let p = if tp + fp == 0 {
        0.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    let r = if tp + fn_ == 0 {
        0.0
    } else {
        tp as f64 / (tp + fn_) as f64
    };
    let f = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    (p, r, f)
}

fn prf_with_ci(idx: &[usize], counts: &Counter<'_>, resamples: usize, rng: &mut SplitMix64) -> Prf {
    let (tp, fp, fn_) = counts(&mut idx.iter().copied());
    let (p, r, f) = ratios(tp, fp, fn_);
    let mut ps = Vec::with_capacity(resamples);
    let mut rs = Vec::with_capacity(resamples);
    let mut fs = Vec::with_capacity(resamples);
    let n = idx.len() as u64;
    for _ in 0..resamples {
        let mut it = (0..idx.len()).map(|_| idx[(rng.next() % n.max(1)) as usize]);
        let (a, b, c) = counts(&mut it);
        let (p, r, f) = ratios(a, b, c);
        ps.push(p);
        rs.push(r);
        fs.push(f);
    }
    let ci = |v: f64, mut xs: Vec<f64>| {
        if xs.is_empty() {
            return Ci {
                value: v,
                lo: v,
                hi: v,
            };
        }
        xs.sort_by(f64::total_cmp);
        let at = |q: f64| xs[((q * (xs.len() - 1) as f64).round() as usize).min(xs.len() - 1)];
        Ci {
            value: v,
            lo: at(0.025),
            hi: at(0.975),
        }
    };
    Prf {
        tp: tp as usize,
        fp: fp as usize,
        fn_: fn_ as usize,
        precision: ci(p, ps),
        recall: ci(r, rs),
        f1: ci(f, fs),
    }
}

/// A small seeded generator (SplitMix64); good enough for bootstrap indices.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl EvalReport {
    /// A plain-text rendering for terminals and BENCHMARKS files.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let f = |c: &Ci| format!("{:.3} [{:.3}, {:.3}]", c.value, c.lo, c.hi);
        s.push_str(&format!(
            "rows: {}  (95% CI: bootstrap, {} resamples, seed {})\n\n",
            self.rows, self.bootstrap.0, self.bootstrap.1
        ));
        s.push_str("label    lang  rows   tp   fp   fn  precision              recall                 F1\n");
        for l in &self.labels {
            s.push_str(&format!(
                "{:<8} {:<4} {:>5} {:>4} {:>4} {:>4}  {}  {}  {}\n",
                l.label,
                l.lang,
                l.rows,
                l.prf.tp,
                l.prf.fp,
                l.prf.fn_,
                f(&l.prf.precision),
                f(&l.prf.recall),
                f(&l.prf.f1)
            ));
        }
        s.push_str("\nspans (match: same type, overlap >= 50% of the longer span, one-to-one)\n");
        s.push_str("view      type            tp   fp   fn  precision              recall\n");
        for m in &self.spans {
            s.push_str(&format!(
                "{:<9} {:<14} {:>4} {:>4} {:>4}  {}  {}\n",
                m.view,
                m.kind,
                m.prf.tp,
                m.prf.fp,
                m.prf.fn_,
                f(&m.prf.precision),
                f(&m.prf.recall)
            ));
        }
        s.push_str("\nfamilies with errors (rows, errors, doxxing fp/fn, threat fp/fn)\n");
        for fam in self.families.iter().filter(|f| f.errors > 0) {
            s.push_str(&format!(
                "  {:<42} {:>4} {:>4}   dox {:>3}/{:<3} thr {:>3}/{:<3}\n",
                fam.family,
                fam.rows,
                fam.errors,
                fam.dox_fp,
                fam.dox_fn,
                fam.threat_fp,
                fam.threat_fn
            ));
        }
        let clean = self.families.iter().filter(|f| f.errors == 0).count();
        s.push_str(&format!("  ({clean} families without errors)\n"));
        s
    }
}

/// Load `path`, evaluate and write the text rendering to `out`: the CLI's `signals-eval`.
///
/// # Errors
/// Data set and output errors.
pub fn run_eval_file<W: Write>(
    signals: &Signals,
    path: &Path,
    cfg: EvalConfig,
    mut out: W,
) -> Result<EvalReport, Error> {
    let rows = load_dataset(path)?;
    let rep = evaluate(signals, &rows, cfg);
    out.write_all(rep.render().as_bytes())
        .map_err(|source| Error::Io { line: 0, source })?;
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_matching_rule() {
        let g = [(SpanKind::Phone, 10, 20)];
        assert_eq!(match_spans(&[(SpanKind::Phone, 12, 22)], &g)[0], 1);
        assert_eq!(
            match_spans(&[(SpanKind::Phone, 16, 30)], &g)[0],
            0,
            "overlap 4 of 14"
        );
        assert_eq!(
            match_spans(&[(SpanKind::Email, 10, 20)], &g)[1],
            0,
            "type must match"
        );
    }

    #[test]
    fn evaluates_a_tiny_set() {
        let data = r#"{"id":"t-en-1","lang":"en","text":"She lives at 12 Oak Street, Springfield, IL 62704. Go visit her.","labels":["doxxing"],"spans":[{"start":13,"end":49,"type":"address"}],"family":"t.dox"}
{"id":"t-en-2","lang":"en","text":"What time does the market close?","labels":[],"spans":[],"family":"t.neg"}
{"id":"t-fr-1","lang":"fr","text":"Je vais te tuer, Marc.","labels":["threat"],"spans":[],"family":"t.thr"}
"#;
        let rows = read_dataset(data.as_bytes()).expect("parses");
        let s = Signals::new().expect("builds");
        let rep = evaluate(
            &s,
            &rows,
            EvalConfig {
                resamples: 50,
                seed: 1,
            },
        );
        assert_eq!(rep.rows, 3);
        let all_thr = rep
            .labels
            .iter()
            .find(|l| l.label == "threat" && l.lang == "all")
            .expect("row");
        assert_eq!(all_thr.prf.tp, 1);
        assert!(rep.render().contains("address"));
    }

    #[test]
    fn bad_line_names_its_number() {
        let err = read_dataset("{\"id\":1}\n".as_bytes()).expect_err("invalid");
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
