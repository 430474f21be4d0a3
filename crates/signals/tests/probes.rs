//! Labels on the probe sets of `tests/data/` (posts written apart from the rules, see its
//! README): F1 per label and language stays at or above a floor, so that a change tuned on the
//! development set does not quietly lose what the probes taught.

use std::path::Path;

use rempart_signals::{eval, Signals};

/// Under the F1 of the rules that were tuned on these probes (0.88 to 0.97), with room for
/// the bootstrap-sized noise of 150 rows a group.
const FLOOR: f64 = 0.85;

#[test]
fn probe_sets_keep_their_f1() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/probes.jsonl");
    let rows = eval::load_dataset(&path).expect("probe sets load");
    assert!(rows.len() > 1000, "{}", rows.len());
    let signals = Signals::new().expect("built-in patterns compile");
    let cfg = eval::EvalConfig {
        resamples: 10,
        ..eval::EvalConfig::default()
    };
    let report = eval::evaluate(&signals, &rows, cfg);
    let mut low = Vec::new();
    for m in &report.labels {
        if m.prf.f1.value < FLOOR {
            low.push(format!("{} {}: F1 {:.3}", m.label, m.lang, m.prf.f1.value));
        }
    }
    assert_eq!(report.labels.len(), 6, "{:?}", report.labels);
    assert!(low.is_empty(), "{}", low.join("\n"));
}
