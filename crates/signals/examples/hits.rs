//! Print the lexicon hits of each stdin line (rule debugging; prints text, dev only).
use std::io::BufRead;

fn main() {
    let Ok(s) = rempart_signals::Signals::new() else {
        return;
    };
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let r = s.scan(&line);
        let mut folded = String::new();
        rempart_signals::normalize::fold(&line, &mut folded);
        println!(
            "{line}\n  dox {:.2} thr {:.2} model {:.2} {:?}",
            r.doxxing.score,
            r.threat.score,
            s.threat_model_probability(&folded),
            r.evidence
        );
        for (rule, cue, m) in s.debug_hits(&line) {
            println!("    {cue:<12} {rule:<28} {m:?}");
        }
    }
}
