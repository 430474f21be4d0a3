//! Evaluate the detectors on a JSONL data set:
//! `cargo run --release -p rempart-signals --example eval -- PATH [--json]`.

use std::path::PathBuf;
use std::process::ExitCode;

use rempart_signals::{eval, Signals};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: eval DATASET.jsonl [--json]");
        return ExitCode::from(2);
    };
    let json = args.any(|a| a == "--json");
    let signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rows = match eval::load_dataset(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let rep = eval::evaluate(&signals, &rows, eval::EvalConfig::default());
    if json {
        match serde_json::to_string_pretty(&rep) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", rep.render());
    }
    ExitCode::SUCCESS
}
