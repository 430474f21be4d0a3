//! Throughput of `Signals::scan` on the texts of a JSONL data set (or plain text lines),
//! repeated until at least `--mb` megabytes (default 50), one post per call, on one thread.
//!
//! `cargo run --release -p rempart-signals --example throughput -- DATA.jsonl [--mb 50] [--runs 5]`
//! prints one line per run and the median in MB/s (1 MB = 10^6 bytes of UTF-8 input).

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Instant;

use rempart_signals::Signals;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: throughput DATA.jsonl [--mb 50] [--runs 5]");
        return ExitCode::from(2);
    };
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (mb, runs) = (flag("--mb", 50), flag("--runs", 5));
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut texts: Vec<String> = Vec::new();
    for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
        let text = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or(line);
        texts.push(text);
    }
    let corpus_bytes: usize = texts.iter().map(String::len).sum();
    if corpus_bytes == 0 {
        eprintln!("error: no text in {path}");
        return ExitCode::FAILURE;
    }
    let repeats = (mb * 1_000_000).div_ceil(corpus_bytes);
    let total = corpus_bytes * repeats;
    let signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut rates = Vec::new();
    let mut flagged = 0usize;
    for run in 0..runs {
        let t = Instant::now();
        for _ in 0..repeats {
            for text in &texts {
                let r = signals.scan(text);
                flagged += usize::from(r.doxxing.decision || r.threat.decision);
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let rate = total as f64 / 1e6 / secs;
        println!(
            "run {} : {:.1} MB in {:.3} s = {:.1} MB/s",
            run + 1,
            total as f64 / 1e6,
            secs,
            rate
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "posts {} x {} repeats, mean post {} bytes, flagged {} ; median {:.1} MB/s",
        texts.len(),
        repeats,
        corpus_bytes / texts.len(),
        flagged / runs.max(1),
        median
    );
    ExitCode::SUCCESS
}
