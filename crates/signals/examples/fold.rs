//! Folded texts for `model/train.py`: reads a JSONL data set on stdin and writes, per row,
//! `{"folded", "threat", "rule_threat", "model_p"}`: the folded text, the gold label, the rules'
//! own verdict (without the lexical model) and the shipped model's probability, so that training
//! sees the text as the scan does and can check that both sides compute the same features.
//! Prints the posts' text (folded): a development tool, never run on production data.

use std::io::{BufRead, Write};

fn main() {
    let Ok(signals) = rempart_signals::Signals::new() else {
        eprintln!("error: the built-in patterns do not compile");
        std::process::exit(1);
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut folded = String::new();
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let text = v.get("text").and_then(|t| t.as_str()).unwrap_or_default();
        let threat = v
            .get("labels")
            .and_then(|l| l.as_array())
            .is_some_and(|l| l.iter().any(|x| x == "threat"));
        rempart_signals::normalize::fold(text, &mut folded);
        let rule_threat = signals.scan_rules_only(text).threat.decision;
        let model_p = signals.threat_model_probability(&folded);
        let row = serde_json::json!({
            "folded": folded, "threat": threat, "rule_threat": rule_threat, "model_p": model_p,
        });
        if writeln!(out, "{row}").is_err() {
            return;
        }
    }
}
