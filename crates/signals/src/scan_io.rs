//! Line-oriented scanning for the CLI (`rempart scan`): text or JSON lines in, JSON lines out.
//!
//! The input text is never written anywhere but back to the caller's own output, and only as
//! offsets: each output line carries the id (when the input had one), the line number, the
//! severity and the report. Nothing is logged.

use std::io::{BufRead, Write};

use serde::Serialize;

use crate::{Error, Report, Severity, Signals};

/// Counts returned by [`scan_lines`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ScanLinesStats {
    /// Input lines scanned (blank lines are skipped).
    pub lines: usize,
    /// Lines whose doxxing decision is positive.
    pub doxxing: usize,
    /// Lines whose threat decision is positive.
    pub threat: usize,
    /// Input bytes scanned.
    pub bytes: usize,
}

#[derive(Serialize)]
struct OutLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a serde_json::Value>,
    line: usize,
    severity: Severity,
    #[serde(flatten)]
    report: &'a Report,
}

/// Scan every non-blank line of `reader` and write one JSON object per line to `writer`.
///
/// A line that is a JSON object with a string `text` field is scanned on that field, and its
/// `id` (any JSON value) is copied to the output; any other line is scanned as plain text.
/// Offsets in the output refer to the scanned text (the `text` field for JSON lines).
///
/// # Errors
/// I/O errors, with the 1-based line number. Invalid UTF-8 is replaced, not an error.
pub fn scan_lines<R: BufRead, W: Write>(
    signals: &Signals,
    mut reader: R,
    mut writer: W,
) -> Result<ScanLinesStats, Error> {
    let mut stats = ScanLinesStats::default();
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| Error::Io {
                line: line_no + 1,
                source,
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let raw = String::from_utf8_lossy(&buf);
        let line = raw.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Option<serde_json::Value> = if line.trim_start().starts_with('{') {
            serde_json::from_str(line).ok()
        } else {
            None
        };
        let (id, text) = match &parsed {
            Some(v) => match v.get("text").and_then(|t| t.as_str()) {
                Some(t) => (v.get("id"), t),
                None => (None, line),
            },
            None => (None, line),
        };
        let report = signals.scan(text);
        stats.lines += 1;
        stats.bytes += text.len();
        stats.doxxing += usize::from(report.doxxing.decision);
        stats.threat += usize::from(report.threat.decision);
        let out = OutLine {
            id,
            line: line_no,
            severity: report.severity(),
            report: &report,
        };
        serde_json::to_writer(&mut writer, &out).map_err(|e| Error::Io {
            line: line_no,
            source: std::io::Error::other(e),
        })?;
        writer.write_all(b"\n").map_err(|source| Error::Io {
            line: line_no,
            source,
        })?;
    }
    writer.flush().map_err(|source| Error::Io {
        line: line_no,
        source,
    })?;
    Ok(stats)
}
