//! A fixed workload for `valgrind --tool=callgrind`, whose instruction counts are repeatable on a
//! loaded machine where wall-clock throughput is not: one warm-up pass over the texts of a JSONL
//! data set (lazy DFA states, phone metadata), then `--passes` passes (default 2) inside
//! `measured`, the only function to collect:
//!
//! `valgrind --tool=callgrind --toggle-collect='*measured*' target/release/examples/instructions DATA.jsonl`
//!
//! Instructions per input byte = collected Ir / (passes x corpus bytes, printed on stderr).

use std::io::BufRead;
use std::process::ExitCode;

use rempart_signals::Signals;

#[inline(never)]
fn measured(signals: &Signals, texts: &[String], passes: usize) -> usize {
    let mut flagged = 0;
    for _ in 0..passes {
        for t in texts {
            let r = signals.scan(t);
            flagged += usize::from(r.doxxing.decision || r.threat.decision);
        }
    }
    flagged
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: instructions DATA.jsonl [--passes 2]");
        return ExitCode::from(2);
    };
    let passes = args
        .iter()
        .position(|a| a == "--passes")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2usize);
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let texts: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
                .unwrap_or(line)
        })
        .collect();
    let signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let warm = measured(&signals, &texts, 0)
        + texts
            .iter()
            .filter(|t| signals.scan(t).threat.decision)
            .count();
    let flagged = measured(&signals, &texts, passes);
    let bytes: usize = texts.iter().map(String::len).sum();
    eprintln!("corpus {bytes} bytes x {passes} passes; flagged {flagged} (warm-up {warm})");
    ExitCode::SUCCESS
}
