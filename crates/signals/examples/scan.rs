//! Scan text or JSON lines from stdin, write JSON lines to stdout (what `rempart scan` does).

use std::io::{stdin, stdout, BufWriter};
use std::process::ExitCode;

use rempart_signals::{scan_lines, Signals};

fn main() -> ExitCode {
    let signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match scan_lines(&signals, stdin().lock(), BufWriter::new(stdout().lock())) {
        Ok(stats) => {
            eprintln!(
                "{} lines, {} doxxing, {} threat",
                stats.lines, stats.doxxing, stats.threat
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
