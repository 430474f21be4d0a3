//! Feed arbitrary bytes (lossy UTF-8) to `Signals::scan` and check every span's offsets.
//! Run with `cargo +nightly fuzz run scan` from `crates/signals`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rempart_signals::Signals;

fn signals() -> &'static Signals {
    static S: OnceLock<Signals> = OnceLock::new();
    S.get_or_init(|| Signals::new().expect("built-in patterns compile"))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let report = signals().scan(&text);
    let mut last_end = 0;
    for s in &report.spans {
        assert!(s.start < s.end && s.end <= text.len());
        assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
        assert!(s.start >= last_end, "spans overlap");
        last_end = s.end;
        assert_eq!(text[..s.start].chars().count(), s.char_start);
        assert_eq!(text[..s.end].chars().count(), s.char_end);
    }
    // Redaction slices the text at every span: it must never panic and must remove them all.
    let redacted = report.redact(&text);
    assert!(redacted.len() <= text.len() + 16 * report.spans.len());
    assert!((0.0..=1.0).contains(&report.doxxing.score));
    assert!((0.0..=1.0).contains(&report.threat.score));
});
