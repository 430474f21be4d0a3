//! Content signals: fast, offline detection of doxxing and threats in English and French.
//!
//! [`Signals::new`] compiles everything once (a few milliseconds); the value is immutable and
//! `Send + Sync`, so share it behind an `Arc`. [`Signals::scan`] is a pure function of the text.
//!
//! # How a post is scanned
//!
//! 1. **Fold** ([`normalize`]): lower case, accents stripped, leetspeak digits inside words
//!    mapped to letters (`k1ll` → `kill`), spaced-out letters joined (`t u e r` → `tuer`).
//! 2. **Cues**: one Aho–Corasick pass over the folded text finds every lexicon entry: violent
//!    verbs, intent markers ("i'll", "je vais"), calls on others ("someone should", "allez"),
//!    direct and veiled threat phrases, and the contexts that cancel or support a decision
//!    (negation, quoting, news, gaming, idioms, fiction; business, public office, self-disclosure,
//!    sale ads, landmarks, order numbers, tech support). Violent verbs and threat phrases come
//!    with generated spelling variants, so typos and HateCheck's spelling perturbations match.
//! 3. **Spans**: one multi-pattern regex pass over the *original* text finds phone numbers,
//!    e-mails, street addresses, coordinates, plates and IPs; each candidate is validated
//!    (libphonenumber metadata for phones, numeric ranges for IPs and coordinates). Name +
//!    workplace/school spans are searched only when a workplace cue fired.
//! 4. **Decide** (`decide`): hand-set weights turn cues and spans into two scores in `[0, 1]`.
//!    *Threat*: a violent act tied to intent, a call on others or a target pronoun, a direct or
//!    veiled threat phrase, or swatting; a norm ("should all be shot") is a call when a person
//!    or group is its subject. Each cancelling context near a threat word (within 90 bytes)
//!    multiplies the score down (an idiom only cancels the violent word it covers, negation
//!    only the clause it is in, an act on a thing ("this spreadsheet", "the backlog", "la
//!    relecture") is no threat, nor is "I know where you live" said to bring someone their keys).
//!    *Doxxing*: each span starts from a base that depends on its type, goes up with locating
//!    cues ("lives at", "son num"), calls to contact, third-party framing and a threat in the same
//!    post, and goes down with the contexts that make it someone's business, office, own contact
//!    or a fictional place — only the contexts relevant to that span's type count (tech support
//!    lowers an IP, not an address). A decision is `score >= 0.5`.
//! 5. **Lexical threat model** (`model`): a logistic regression over the hashed words and
//!    word pairs of the folded text, trained offline on the development set and the probe sets
//!    of `tests/data/` (`model/train.py`). It counts only when confident (probability ≥ 0.6),
//!    catches threats worded in ways no rule lists, and the same cancelling contexts apply to
//!    it; when it decided, the evidence says `threat.lexical_model`.
//!
//! The report lists the rules that fired (`evidence`), so an analyst sees why.
//!
//! # Use
//!
//! ```
//! use rempart_signals::{Severity, Signals};
//!
//! let signals = Signals::new().expect("built-in patterns compile");
//! let text = "She lives at 42 Maple Avenue, Columbus, OH 43215. Go break her legs.";
//! let report = signals.scan(text);
//! assert_eq!(report.severity(), Severity::DoxxingAndThreat);
//! assert_eq!(report.redact(text), "She lives at [address]. Go break her legs.");
//! ```
//!
//! The CLI wires `rempart scan` to [`scan_lines`] and `rempart signals-eval FILE` to
//! [`eval::run_eval_file`].
//!
//! # Expected errors
//!
//! The rules are written from the label policy; the lexical model behind them learned from
//! about 16,200 labelled and ordinary posts. Threats phrased without any violent word, intent or
//! known veiled phrase ("you should be careful who you talk to") are still often missed: on
//! posts written apart from the code, threat F1 was 0.8 to 0.9 on general mixes and lower on
//! long posts and implicit threats (`BENCHMARKS.md`). Names written without a workplace or
//! school phrase are never a span.
//! Doxxing contexts are bag-of-words within the post, so a post that mixes a shop listing with a
//! real dox can be under-scored, and sarcasm or irony is not understood. Addresses are pattern
//! based (no libpostal): unusual street types or a street name of more than four words before
//! the street type are missed. Phone numbers are validated for FR, UK, US and Canada national
//! formats and any international `+` format.
//!
//! # Offsets
//!
//! [`Span`] carries byte offsets (`start`, `end`, always on char boundaries) for slicing the
//! Rust string and code-point offsets (`char_start`, `char_end`) for other languages and for the
//! evaluation data set.
#![deny(missing_docs)]

mod decide;
pub mod eval;
mod lexicon;
mod model;
#[doc(hidden)]
pub use lexicon::all_variants;
pub mod normalize;
mod phone;
mod pii;
mod scan_io;
mod workplace;

use serde::Serialize;

pub use scan_io::{scan_lines, ScanLinesStats};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A built-in pattern failed to compile: a bug in this crate, not in the input.
    #[error("built-in pattern failed to compile: {0}")]
    Pattern(String),
    /// Reading or writing a stream failed.
    #[error("i/o error at line {line}: {source}")]
    Io {
        /// 1-based input line number (0 when not tied to a line).
        line: usize,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line of the evaluation data set is not valid.
    #[error("invalid data set line {line}: {message}")]
    Dataset {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// The kind of personal information a span holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// A phone number, validated against numbering-plan metadata.
    Phone,
    /// An e-mail address.
    Email,
    /// A street address (house number + street, optionally unit and city/postcode).
    Address,
    /// GPS coordinates (decimal, hemisphere or degree-minute-second).
    Coordinates,
    /// A vehicle licence plate (FR SIV, UK, US).
    Plate,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A person's name with the workplace or school where they can be found.
    NameWorkplace,
}

impl SpanKind {
    /// All kinds, in a stable order.
    pub const ALL: [SpanKind; 7] = [
        SpanKind::Phone,
        SpanKind::Email,
        SpanKind::Address,
        SpanKind::Coordinates,
        SpanKind::Plate,
        SpanKind::Ip,
        SpanKind::NameWorkplace,
    ];

    /// The snake_case name used in JSON and in the data set.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Phone => "phone",
            SpanKind::Email => "email",
            SpanKind::Address => "address",
            SpanKind::Coordinates => "coordinates",
            SpanKind::Plate => "plate",
            SpanKind::Ip => "ip",
            SpanKind::NameWorkplace => "name_workplace",
        }
    }

    /// Parse the data set's type name.
    pub fn parse(s: &str) -> Option<SpanKind> {
        SpanKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A piece of personal information found in the text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    /// Byte offset of the first byte (on a char boundary).
    pub start: usize,
    /// Byte offset one past the last byte (on a char boundary).
    pub end: usize,
    /// Unicode code-point offset of the first char.
    pub char_start: usize,
    /// Unicode code-point offset one past the last char.
    pub char_end: usize,
    /// What it is.
    pub kind: SpanKind,
    /// How sure the pattern is that this is the kind it says, in `[0, 1]`.
    pub confidence: f32,
    /// Whether this span contributes to the doxxing decision (false for a business number,
    /// a landmark's coordinates, a plate in a sale ad...). Redaction may still use every span.
    pub doxxing: bool,
}

/// A label with its score and decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LabelScore {
    /// Score in `[0, 1]`.
    pub score: f32,
    /// `score >= 0.5`.
    pub decision: bool,
}

/// How severe a report is, for triage. Ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Neither label.
    None,
    /// Personal information published, no threat.
    Doxxing,
    /// A threat, no personal information published.
    Threat,
    /// Personal information published together with a threat or call to act: the most severe
    /// signal (the desk maps it to P0).
    DoxxingAndThreat,
}

/// The result of [`Signals::scan`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The doxxing label.
    pub doxxing: LabelScore,
    /// The threat / incitement label.
    pub threat: LabelScore,
    /// Personal-information spans, in text order, non-overlapping.
    pub spans: Vec<Span>,
    /// Names of the rules and features that fired, e.g. `threat.direct.en`, `context.negation`.
    pub evidence: Vec<&'static str>,
}

impl Report {
    /// The triage severity of this report.
    pub fn severity(&self) -> Severity {
        match (self.doxxing.decision, self.threat.decision) {
            (true, true) => Severity::DoxxingAndThreat,
            (false, true) => Severity::Threat,
            (true, false) => Severity::Doxxing,
            (false, false) => Severity::None,
        }
    }

    /// `text` with every span replaced by `[kind]` (e.g. `[phone]`), for public notice pages.
    /// All spans are redacted, including those that do not make the post doxxing (a business
    /// number is still removed: redaction errs on the side of privacy). `text` must be the
    /// string this report was computed from.
    pub fn redact(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for s in &self.spans {
            if s.start < at
                || s.end > text.len()
                || !text.is_char_boundary(s.start)
                || !text.is_char_boundary(s.end)
            {
                // Not the text of this report: never panic, keep what can be kept.
                continue;
            }
            out.push_str(&text[at..s.start]);
            out.push('[');
            out.push_str(s.kind.as_str());
            out.push(']');
            at = s.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// The spans that make the post doxxing (those with `doxxing == true`), empty when the
    /// doxxing decision is negative.
    pub fn doxxing_spans(&self) -> impl Iterator<Item = &Span> {
        let on = self.doxxing.decision;
        self.spans.iter().filter(move |s| on && s.doxxing)
    }
}

/// The compiled detectors. Build once, share via `Arc`.
#[derive(Debug)]
pub struct Signals {
    lexicon: lexicon::Lexicon,
    pii: pii::PiiDetector,
    workplace: workplace::WorkplaceDetector,
    model: model::ThreatModel,
}

impl Signals {
    /// Compile all patterns and lexicons.
    ///
    /// # Errors
    /// Only if a built-in pattern does not compile, which the test suite rules out.
    pub fn new() -> Result<Self, Error> {
        Ok(Signals {
            lexicon: lexicon::Lexicon::new()?,
            pii: pii::PiiDetector::new()?,
            workplace: workplace::WorkplaceDetector::new()?,
            model: model::ThreatModel::new()?,
        })
    }

    /// The lexicon hits of a post as `(rule, category, folded match)`, for debugging rules.
    /// It returns pieces of the text: never log its output in production.
    #[doc(hidden)]
    pub fn debug_hits(&self, text: &str) -> Vec<(String, String, String)> {
        let mut folded = String::new();
        normalize::fold(text, &mut folded);
        let mut hits = Vec::new();
        self.lexicon.scan(&folded, &mut hits);
        hits.iter()
            .map(|h| {
                (
                    h.rule.to_string(),
                    format!("{:?}", h.cue),
                    folded[h.start..h.end].to_string(),
                )
            })
            .collect()
    }

    /// Scan one post.
    pub fn scan(&self, text: &str) -> Report {
        // Per-thread buffers: a scan allocates only the report it returns.
        thread_local! {
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
        }
        SCRATCH
            .try_with(|s| match s.try_borrow_mut() {
                Ok(mut s) => self.scan_with(text, &mut s, true),
                Err(_) => self.scan_with(text, &mut Scratch::default(), true),
            })
            .unwrap_or_else(|_| self.scan_with(text, &mut Scratch::default(), true))
    }

    /// The lexical threat model's probability for already folded text (`model/train.py`
    /// checks that it agrees with its own computation).
    #[doc(hidden)]
    pub fn threat_model_probability(&self, folded: &str) -> f32 {
        self.model.probability(folded)
    }

    /// [`Signals::scan`] without the lexical threat model: the rules' own verdict, which the
    /// model's training script (`model/train.py`) compares against.
    #[doc(hidden)]
    pub fn scan_rules_only(&self, text: &str) -> Report {
        self.scan_with(text, &mut Scratch::default(), false)
    }

    fn scan_with(&self, text: &str, sc: &mut Scratch, with_model: bool) -> Report {
        let Scratch {
            folded,
            hits,
            cands,
            kept,
            span_text,
            span_folded,
            by_cue,
            words,
        } = sc;
        let ascii = normalize::fold_ascii(text, folded);
        hits.clear();
        self.lexicon.scan_words(folded, words, hits);

        // The cues present and whether one is a context, in one walk over the hits.
        let (cues, context) = hits.iter().fold((0u32, false), |(m, c), h| {
            (m | h.cue.bit(), c || h.cue.is_context())
        });
        let has = |c: lexicon::Cue| cues & c.bit() != 0;
        cands.clear();
        self.pii.find(text, has(lexicon::Cue::Vehicle), cands);
        if has(lexicon::Cue::Workplace) {
            self.workplace.find(text, cands);
        }
        cands.sort_by_key(|c| (c.start, std::cmp::Reverse(c.end)));
        // Keep spans non-overlapping: an earlier (or longer at the same start) span wins.
        kept.clear();
        for c in cands.drain(..) {
            match kept.last() {
                Some(last) if c.start < last.end => {
                    // A name+workplace span may cover an address or phone inside it only if it
                    // is the better evidence; otherwise keep the more specific one.
                    if c.kind != SpanKind::NameWorkplace && last.kind == SpanKind::NameWorkplace {
                        kept.pop();
                        kept.push(c);
                    }
                }
                _ => kept.push(c),
            }
        }
        // Context words that are part of a span ("rue de la Mairie", "Château Street") say
        // nothing about the post: drop those hits when every occurrence is inside a span.
        if !kept.is_empty() && context {
            // All spans folded in one pass, each after a \x01: a control char that breaks
            // tokens, letter runs and words like the end of a string, and is in no entry.
            span_text.clear();
            for c in kept.iter() {
                span_text.push('\x01');
                span_text.push_str(&text[c.start..c.end]);
            }
            normalize::fold(span_text, span_folded);
            let (folded, span_folded) = (folded.as_str(), span_folded.as_str());
            hits.retain(|h| {
                if !h.cue.is_context() {
                    return true;
                }
                let w = &folded[h.start..h.end];
                let inside = count_matches(span_folded, w);
                inside == 0 || more_matches_than(folded, w, inside)
            });
        }
        let model_p = if with_model {
            self.model.probability(folded)
        } else {
            0.0
        };
        let report = decide::decide(text, ascii, folded, hits, kept, by_cue, model_p);
        // A one-off huge text (a fetched evidence page) should not pin its buffers.
        if folded.capacity() > 1 << 16 || span_text.capacity() > 1 << 16 {
            *folded = String::new();
            *span_text = String::new();
            *span_folded = String::new();
        }
        if hits.capacity() > 1 << 12 || cands.capacity() > 1 << 10 || kept.capacity() > 1 << 10 {
            *hits = Vec::new();
            *by_cue = Vec::new();
            *cands = Vec::new();
            *kept = Vec::new();
        }
        if words.capacity() > 1 << 12 {
            *words = Vec::new();
        }
        report
    }
}

/// `hay.matches(needle).count()` (non-overlapping, left to right) without building a two-way
/// searcher: needles are lexicon words and haystacks a post, so jumping between the needle's
/// first bytes (`memchr`) is cheaper.
fn count_matches(hay: &str, needle: &str) -> usize {
    matches_up_to(hay, needle, usize::MAX)
}

/// `count_matches(hay, needle) > n`, stopping at the `n + 1`-th match: the whole post is
/// searched for a word seen in a span.
fn more_matches_than(hay: &str, needle: &str, n: usize) -> bool {
    matches_up_to(hay, needle, n.saturating_add(1)) > n
}

/// `count_matches(hay, needle).min(limit)`.
fn matches_up_to(hay: &str, needle: &str, limit: usize) -> usize {
    let (h, w) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = w.first() else {
        return hay.matches(needle).take(limit).count();
    };
    let mut count = 0;
    let mut i = 0;
    while count < limit {
        let Some(p) = h.get(i..).and_then(|rest| memchr::memchr(first, rest)) else {
            break;
        };
        let at = i + p;
        if h[at..].starts_with(w) {
            count += 1;
            i = at + w.len();
        } else {
            i = at + 1;
        }
    }
    count
}

/// Buffers reused from one scan to the next on the same thread.
#[derive(Default)]
struct Scratch {
    folded: String,
    hits: Vec<lexicon::Hit>,
    cands: Vec<pii::Candidate>,
    kept: Vec<pii::Candidate>,
    span_text: String,
    span_folded: String,
    by_cue: Vec<lexicon::Hit>,
    words: Vec<lexicon::Word>,
}

#[cfg(test)]
mod tests;

/// Pseudo-random texts for the tests that compare a fast path with a plain one: words drawn
/// from a small alphabet chosen to reach every branch (xorshift; no dependency, reproducible).
#[cfg(test)]
pub(crate) struct TestTexts {
    x: u64,
    alphabet: Vec<char>,
    max_len: u64,
}

#[cfg(test)]
impl TestTexts {
    pub(crate) fn new(alphabet: &str, max_len: u64, seed: u64) -> TestTexts {
        TestTexts {
            x: seed,
            alphabet: alphabet.chars().collect(),
            max_len,
        }
    }

    /// The next number of the sequence.
    pub(crate) fn number(&mut self) -> u64 {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        self.x
    }

    /// The next text: up to `max_len - 1` characters of the alphabet.
    pub(crate) fn text(&mut self) -> String {
        let len = self.number() % self.max_len;
        (0..len)
            .map(|_| {
                let i = self.number() % self.alphabet.len() as u64;
                self.alphabet[i as usize]
            })
            .collect()
    }
}
