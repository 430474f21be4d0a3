//! Ordinary posts (`tests/data/neutral.jsonl`: cooking, transport, games, sport, tech help…,
//! many with a harmless "kill", "dead", "bomb", "je vais", "tuer le temps"): a moderation stream
//! is mostly such posts, so a change that reads everyday words as threats must fail here.

use std::path::Path;

use rempart_signals::{eval, Signals};

/// The share of ordinary posts a language may have flagged as threats. The lexical model
/// learned from these posts, so this is a regression floor, not a held-out rate (on posts of
/// a sixth neutral set of 500 comments and DMs, never trained on, the whole detector flagged
/// 4 % EN and 6 % FR; `BENCHMARKS.md`).
const MAX_THREAT_SHARE: f64 = 0.06;

#[test]
fn ordinary_posts_are_rarely_flagged() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/neutral.jsonl");
    let rows = eval::load_dataset(&path).expect("neutral posts load");
    assert!(rows
        .iter()
        .all(|r| r.labels.is_empty() && r.spans.is_empty()));
    let signals = Signals::new().expect("built-in patterns compile");
    for lang in ["en", "fr"] {
        let posts: Vec<_> = rows.iter().filter(|r| r.lang == lang).collect();
        assert!(posts.len() >= 400, "{lang}: {}", posts.len());
        let reports: Vec<_> = posts.iter().map(|r| signals.scan(&r.text)).collect();
        let threats = reports.iter().filter(|r| r.threat.decision).count();
        let doxxing = reports.iter().filter(|r| r.doxxing.decision).count();
        let share = threats as f64 / posts.len() as f64;
        assert!(
            share <= MAX_THREAT_SHARE,
            "{lang}: {threats} of {} flagged as threats",
            posts.len()
        );
        assert!(
            doxxing <= posts.len() / 100,
            "{lang}: {doxxing} flagged as doxxing"
        );
    }
}
