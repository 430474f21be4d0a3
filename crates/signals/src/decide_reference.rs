//! The decision pass as it stood before the single-walk rewrite of session 6 (2026-12-07), kept
//! only for the tests: `decide::decide` must give the same report on any input.

use crate::lexicon::{Cue, Hit};
use crate::pii::Candidate;
use crate::{LabelScore, Report, Span, SpanKind};

/// Max distance in folded bytes between an intent marker and the violent act it governs.
const INTENT_WINDOW: usize = 40;
/// Max distance between a call on others and the act.
const CALL_WINDOW: usize = 70;
/// Max distance between a negation and the act it negates.
const NEGATION_WINDOW: usize = 30;

struct Evidence(Vec<&'static str>);

impl Evidence {
    fn push(&mut self, r: &'static str) {
        if !self.0.contains(&r) {
            self.0.push(r);
        }
    }
}

/// The hits grouped by cue, each group in text order: the rules ask "an intent before this
/// act?", "an idiom over it?" for every violent word, and each question walks the hits of one
/// cue instead of all of them. A post has a handful of hits: up to 64, a bit set per cue (one
/// pass, no copy); more (a long evidence page), a stable counting sort into `buf`.
pub(crate) struct ByCue<'a> {
    hits: &'a [Hit],
    /// Bit `i` of `masks[c]`: `hits[i]` has cue `c` (when there are at most 64 hits).
    masks: [u64; Cue::COUNT],
    /// More than 64 hits: the hits grouped by cue, group `c` is `grouped[starts[c]..starts[c + 1]]`.
    grouped: Option<(&'a [Hit], [usize; Cue::COUNT + 1])>,
}

/// The hits of one cue, in text order.
pub(crate) enum CueHits<'a> {
    Bits(&'a [Hit], u64),
    Slice(std::slice::Iter<'a, Hit>),
}

impl<'a> Iterator for CueHits<'a> {
    type Item = &'a Hit;

    fn next(&mut self) -> Option<&'a Hit> {
        match self {
            CueHits::Bits(hits, bits) => {
                if *bits == 0 {
                    return None;
                }
                let i = bits.trailing_zeros() as usize;
                *bits &= *bits - 1;
                hits.get(i)
            }
            CueHits::Slice(it) => it.next(),
        }
    }
}

impl<'a> ByCue<'a> {
    /// Groups `hits` (into `buf`, cleared first, when there are more than 64).
    pub fn new(hits: &'a [Hit], buf: &'a mut Vec<Hit>) -> Self {
        let mut masks = [0u64; Cue::COUNT];
        if hits.len() <= 64 {
            for (i, h) in hits.iter().enumerate() {
                masks[h.cue as usize] |= 1 << i;
            }
            return ByCue {
                hits,
                masks,
                grouped: None,
            };
        }
        let mut starts = [0usize; Cue::COUNT + 1];
        for h in hits {
            starts[h.cue as usize + 1] += 1;
        }
        for c in 0..Cue::COUNT {
            starts[c + 1] += starts[c];
        }
        let mut next = starts;
        buf.clear();
        buf.extend_from_slice(hits);
        for h in hits {
            let slot = &mut next[h.cue as usize];
            buf[*slot] = *h;
            *slot += 1;
        }
        let grouped: &'a [Hit] = buf;
        ByCue {
            hits,
            masks,
            grouped: Some((grouped, starts)),
        }
    }

    /// The hits of cue `c`, in text order.
    pub fn of(&self, c: Cue) -> CueHits<'a> {
        let i = c as usize;
        match &self.grouped {
            None => CueHits::Bits(self.hits, self.masks[i]),
            Some((grouped, starts)) => CueHits::Slice(grouped[starts[i]..starts[i + 1]].iter()),
        }
    }
}

/// `ascii`: whether `text` is all ASCII (code-point offsets are then the byte offsets).
pub(crate) fn decide(
    text: &str,
    ascii: bool,
    folded: &str,
    hits: &[Hit],
    spans: &[Candidate],
    by_cue: &mut Vec<Hit>,
) -> Report {
    // Room for a typical report's rules without growing.
    let mut ev = Evidence(Vec::with_capacity(8));
    // Which cues fired, as a bit set: the rules below ask "is there a ..." dozens of times.
    let mask = hits.iter().fold(0u32, |m, h| m | h.cue.bit());
    let has = |c: Cue| mask & c.bit() != 0;
    let groups = ByCue::new(hits, by_cue);

    let threat = threat_score(folded, hits, &groups, mask, spans, &mut ev);
    let threat_decision = threat >= 0.5;

    // ---- doxxing, per span
    let mut out_spans: Vec<Span> = Vec::with_capacity(spans.len());
    let pos = has(Cue::DoxPos);
    // Distinct locating cues (by their folded text), counted without a set: there are few.
    let pos_hits = || groups.of(Cue::DoxPos);
    let pos_count = pos_hits()
        .enumerate()
        .filter(|&(i, h)| {
            let w = &folded[h.start..h.end];
            !pos_hits().take(i).any(|p| &folded[p.start..p.end] == w)
        })
        .count();
    let act = has(Cue::DoxAct);
    if pos {
        ev.push("dox.locating");
    }
    if act {
        ev.push("dox.call_to_contact");
    }
    // Distinct span kinds, as a bit set.
    let kinds = spans
        .iter()
        .fold(0u8, |m, c| m | 1 << c.kind as u8)
        .count_ones();
    // Code-point offsets, counted incrementally: spans are sorted and non-overlapping.
    let (mut byte_at, mut char_at) = (0usize, 0usize);
    let mut doxxing = 0.0f32;
    for c in spans {
        let base: f32 = match c.kind {
            SpanKind::Address => {
                if c.confidence > 0.8 {
                    0.6
                } else {
                    0.5
                }
            }
            SpanKind::Phone => 0.45,
            SpanKind::Email => {
                if free_mail(&text[c.start..c.end]) {
                    0.5
                } else {
                    0.3
                }
            }
            SpanKind::Coordinates => 0.5,
            SpanKind::Plate => 0.45,
            SpanKind::Ip => 0.45,
            SpanKind::NameWorkplace => 0.6,
        };
        let mut s = base;
        if pos {
            // More distinct locating cues, more certainty (capped).
            s += 0.2 + 0.1 * (pos_count.saturating_sub(1)).min(2) as f32;
        }
        if act {
            s += 0.2;
        }
        if threat_decision {
            s += 0.3;
        }
        if kinds >= 2 {
            // A dox list: several kinds of personal information about one person.
            s += 0.15;
        }
        let neg = |cue: Cue, w: f32, ev: &mut Evidence| -> f32 {
            if has(cue) {
                ev.push(cue_rule(cue));
                w
            } else {
                0.0
            }
        };
        let penalty = match c.kind {
            SpanKind::Address => {
                neg(Cue::Business, 0.5, &mut ev)
                    + neg(Cue::PublicOffice, 0.5, &mut ev)
                    + neg(Cue::Fictional, 0.6, &mut ev)
                    + neg(Cue::Fiction, 0.5, &mut ev)
                    + neg(Cue::SelfDisclose, 0.3, &mut ev)
            }
            SpanKind::Phone => {
                neg(Cue::Business, 0.45, &mut ev)
                    + neg(Cue::PublicOffice, 0.5, &mut ev)
                    + neg(Cue::SelfDisclose, 0.55, &mut ev)
                    + neg(Cue::Service, 0.5, &mut ev)
                    + neg(Cue::Sale, 0.3, &mut ev)
            }
            SpanKind::Email => {
                neg(Cue::Business, 0.5, &mut ev)
                    + neg(Cue::SelfDisclose, 0.55, &mut ev)
                    + neg(Cue::Service, 0.3, &mut ev)
            }
            SpanKind::Coordinates => {
                neg(Cue::Landmark, 0.6, &mut ev) + neg(Cue::Business, 0.2, &mut ev)
            }
            SpanKind::Plate => neg(Cue::Sale, 0.6, &mut ev) + neg(Cue::SelfDisclose, 0.2, &mut ev),
            SpanKind::Ip => neg(Cue::Tech, 0.55, &mut ev),
            SpanKind::NameWorkplace => {
                neg(Cue::Business, 0.3, &mut ev) + neg(Cue::Fiction, 0.4, &mut ev)
            }
        };
        // Without any locating cue, call to contact or threat, the penalties are final; with
        // them, half of a penalty is offset (a dox of a shop owner's home is still a dox).
        let s = if (pos || act || threat_decision) && penalty > 0.0 {
            s - penalty * 0.5
        } else {
            s - penalty
        };
        ev.push(c.rule);
        let s = s.clamp(0.0, 1.0);
        doxxing = doxxing.max(s);
        let (char_start, char_end) = if ascii {
            (c.start, c.end)
        } else {
            // Spans never overlap and come in text order; guard anyway against going back.
            if c.start < byte_at {
                (byte_at, char_at) = (0, 0);
            }
            let cs = char_at + text[byte_at..c.start].chars().count();
            let ce = cs + text[c.start..c.end].chars().count();
            (byte_at, char_at) = (c.end, ce);
            (cs, ce)
        };
        out_spans.push(Span {
            start: c.start,
            end: c.end,
            char_start,
            char_end,
            kind: c.kind,
            confidence: c.confidence,
            doxxing: s >= 0.5,
        });
    }
    let dox_decision = doxxing >= 0.5;
    if dox_decision && threat_decision {
        ev.push("combined.doxxing_and_threat");
    }

    Report {
        doxxing: LabelScore {
            score: round3(doxxing),
            decision: dox_decision,
        },
        threat: LabelScore {
            score: round3(threat),
            decision: threat_decision,
        },
        spans: out_spans,
        evidence: ev.0,
    }
}

fn round3(x: f32) -> f32 {
    (x * 1000.0).round() / 1000.0
}

fn cue_rule(c: Cue) -> &'static str {
    match c {
        Cue::Business => "context.business",
        Cue::PublicOffice => "context.public_office",
        Cue::Fictional => "context.fictional_place",
        Cue::SelfDisclose => "context.self_disclosure",
        Cue::Service => "context.customer_service",
        Cue::Sale => "context.sale",
        Cue::Landmark => "context.landmark",
        Cue::Tech => "context.tech_support",
        Cue::Fiction => "context.fiction",
        Cue::News => "context.news",
        Cue::Report => "context.report",
        Cue::Game => "context.gaming_sports",
        Cue::Counter => "context.counter_speech",
        Cue::Negation => "context.negation",
        Cue::Idiom => "context.idiom",
        _ => "context.other",
    }
}

/// Free-mail providers: an address there is a person's, not a company's.
const FREE_MAIL: &[&str] = &[
    "gmail.",
    "googlemail.",
    "yahoo.",
    "ymail.",
    "outlook.",
    "hotmail.",
    "live.",
    "msn.",
    "aol.",
    "icloud.",
    "me.com",
    "mac.com",
    "proton",
    "pm.me",
    "gmx.",
    "mail.com",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "sfr.fr",
    "laposte.net",
    "neuf.fr",
    "bbox.fr",
    "numericable.fr",
    "btinternet.",
    "sky.com",
    "virginmedia.",
    "talktalk.",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "yandex.",
    "zoho.",
    "tutanota.",
];

/// Whether the domain of `email` contains a free-mail provider, ASCII case-insensitively: one
/// Aho–Corasick pass over the domain, built once (no lower-cased copy, no searcher per entry).
fn free_mail(email: &str) -> bool {
    static FREE: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
        std::sync::LazyLock::new(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(FREE_MAIL)
                .ok()
        });
    let domain = email.rsplit('@').next().unwrap_or("");
    match FREE.as_ref() {
        Some(ac) => ac.is_match(domain),
        // Never happens (the list is fixed); answer as the plain scan would.
        None => {
            let d = domain.to_ascii_lowercase();
            FREE_MAIL.iter().any(|f| d.contains(f))
        }
    }
}

/// Whether `folded` contains one of `words` as a whole token.
fn has_word(folded: &str, words: &[&str]) -> bool {
    folded
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '\''))
        .any(|w| words.contains(&w) || (w.starts_with("t'") && words.contains(&"t'")))
}

/// French "ne"/"n'" within `window` bytes before `at`, in the same sentence.
fn short_negation_before(folded: &str, at: usize, window: usize) -> bool {
    let from = at.saturating_sub(window);
    let mut from = from;
    while !folded.is_char_boundary(from) {
        from += 1;
    }
    let seg = &folded.as_bytes()[from..at];
    if memchr::memchr3(b'.', b'!', b'?', seg).is_some() {
        return false;
    }
    // A word (a run of ASCII alphanumerics and apostrophes) that is "ne" or starts with "n'":
    // only the n's can start one.
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'\'';
    memchr::memchr_iter(b'n', seg).any(|i| {
        (i == 0 || !word(seg[i - 1]))
            && match seg.get(i + 1) {
                Some(b'\'') => true,
                Some(b'e') => seg.get(i + 2).is_none_or(|&c| !word(c)),
                _ => false,
            }
    })
}

fn sentence_break(folded: &str, a: usize, b: usize) -> bool {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    let range = folded
        .as_bytes()
        .get(a.min(folded.len())..b.min(folded.len()))
        .unwrap_or(&[]);
    memchr::memchr3(b'.', b'!', b'?', range).is_some()
}

/// The next (or previous) word around a byte range of the folded text.
/// Byte-wise: the separators and word chars are ASCII, and a non-ASCII byte is never a word
/// char, so every cut falls next to an ASCII byte (a char boundary).
fn word_after(folded: &str, end: usize) -> &str {
    let b = folded.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'\'';
    let mut s = end;
    while s < b.len() && matches!(b[s], b' ' | b'-' | b',') {
        s += 1;
    }
    let mut e = s;
    while e < b.len() && word(b[e]) {
        e += 1;
    }
    &folded[s..e]
}

fn word_before(folded: &str, start: usize) -> &str {
    let b = folded.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'\'';
    let mut e = start;
    while e > 0 && matches!(b[e - 1], b' ' | b'-') {
        e -= 1;
    }
    let mut s = e;
    while s > 0 && word(b[s - 1]) {
        s -= 1;
    }
    &folded[s..e]
}

/// Quoted stretches of the folded text: between double quotes (guillemets and curly quotes
/// are folded to `"`), or between single quotes that open after a space or colon and close
/// before a non-letter (so apostrophes in "i'll" are not quotes).
fn quoted_regions(folded: &str) -> Vec<(usize, usize)> {
    let b = folded.as_bytes();
    let mut out = Vec::new();
    // One pass for both kinds of quotes.
    let (mut open_double, mut open_single): (Option<usize>, Option<usize>) = (None, None);
    // Only the quote chars do anything: jump from one to the next.
    for i in memchr::memchr2_iter(b'"', b'\'', b) {
        let c = b[i];
        if c == b'"' {
            match open_double {
                Some(s) => {
                    out.push((s, i));
                    open_double = None;
                }
                None => open_double = Some(i),
            }
        } else if c == b'\'' {
            let before = if i == 0 { b' ' } else { b[i - 1] };
            let after = b.get(i + 1).copied().unwrap_or(b' ');
            match open_single {
                None if matches!(before, b' ' | b':' | b'(') && after.is_ascii_alphanumeric() => {
                    open_single = Some(i)
                }
                Some(s) if !after.is_ascii_alphanumeric() && before != b' ' => {
                    out.push((s, i));
                    open_single = None;
                }
                _ => {}
            }
        }
    }
    out
}

/// An imperative use of a violent verb: it opens a sentence or clause ("burn it while she
/// sleeps", "break his legs") or is a French second-person plural form ("cramez tout").
/// `aimed`: what `targeted(folded, h)` says (worked out once per hit by the caller).
fn imperative(folded: &str, h: &Hit, has_target_info: bool, aimed: bool) -> bool {
    // The whole first word, also when the lexicon entry was a stem ("eradiqu*" in "eradiquons").
    let rest = &folded[h.start..];
    // Byte-wise: a non-ASCII char's first byte is not ASCII alphanumeric either, so the cut is
    // where the char-wise search would put it.
    let first = &rest[..rest
        .bytes()
        .position(|b| !b.is_ascii_alphanumeric())
        .unwrap_or(rest.len())];
    if first.len() > 5 && (first.ends_with("ez") || first.ends_with("ons")) {
        return true;
    }
    let head = folded[..h.start].trim_end();
    let opens = head.is_empty()
        || head.ends_with(['.', '!', '?', ':', '-', ',', ';'])
        || in_set(&IMPERATIVE_BEFORE, word_before(folded, h.start));
    opens && (has_target_info || aimed)
}

/// A violent verb reported in the past ("that dunk killed them", "je t'ai tue 4 fois") is not
/// a threat on its own.
fn past_tense(folded: &str, h: &Hit) -> bool {
    let rest = &folded[h.start..];
    let word = &rest[..rest
        .bytes()
        .position(|b| !b.is_ascii_alphanumeric())
        .unwrap_or(rest.len())];
    if word.ends_with("ed") {
        return true;
    }
    in_set(&PAST_AUX, word_before(folded, h.start))
}

/// Object pronoun next to a violent verb: "stab him", "je te bute", "l'abattre".
fn targeted(folded: &str, h: &Hit) -> bool {
    // Entries that carry their object ("break her", "cut his") are aimed at someone whatever
    // follows ("break her legs").
    let own_last = folded[h.start..h.end].rsplit(' ').next().unwrap_or("");
    if h.end > h.start && folded[h.start..h.end].contains(' ') && in_set(&OWN_OBJECT, own_last) {
        return true;
    }
    let after = word_after(folded, h.end);
    if is_object_after(after) {
        return true;
    }
    let before = word_before(folded, h.start);
    if is_clitic_before(before) {
        return true;
    }
    // Elided clitic glued to the verb: "l'abattre", "t'egorger".
    let b = folded.as_bytes();
    h.start >= 2 && b[h.start - 1] == b'\'' && matches!(b[h.start - 2], b'l' | b't')
}

/// A word of up to 7 bytes as one integer (its bytes little-endian, its length in the top
/// byte): the word lists below are sorted arrays of these, so a membership test is a binary
/// search over integers instead of a chain of string compares.
const fn pack(w: &[u8]) -> u64 {
    let mut v = (w.len() as u64) << 56;
    let mut i = 0;
    while i < w.len() && i < 7 {
        v |= (w[i] as u64) << (8 * i);
        i += 1;
    }
    v
}

/// The packed, sorted set of `words` (each at most 7 bytes; checked when compiled).
const fn word_set<const N: usize>(words: [&str; N]) -> [u64; N] {
    let mut out = [0u64; N];
    let mut i = 0;
    while i < N {
        assert!(words[i].len() <= 7, "word sets hold words of up to 7 bytes");
        out[i] = pack(words[i].as_bytes());
        i += 1;
    }
    // Insertion sort: a few dozen words, at compile time.
    let mut i = 1;
    while i < N {
        let mut j = i;
        while j > 0 && out[j - 1] > out[j] {
            let t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
            j -= 1;
        }
        i += 1;
    }
    out
}

fn in_set(set: &[u64], w: &str) -> bool {
    w.len() <= 7 && set.binary_search(&pack(w.as_bytes())).is_ok()
}

/// Words after a violent verb that aim it at someone or something ("stab him", "tuer les").
const OBJECT_AFTER: [u64; 44] = word_set([
    "you", "u", "ya", "him", "her", "them", "em", "'em", "his", "their", "your", "ur", "that",
    "those", "these", "every", "all", "any", "a", "an", "the", "toi", "les", "le", "la", "lui",
    "ce", "cette", "ces", "tous", "toutes", "sa", "son", "ses", "ta", "ton", "tes", "vous",
    "toute", "tout", "whole", "entire", "it", "out",
]);

fn is_object_after(w: &str) -> bool {
    in_set(&OBJECT_AFTER, w) || matches!(w, "yourself" | "everyone" | "everybody")
}

/// Object clitics before a French violent verb ("je te bute", "le tuer").
const CLITIC_BEFORE: [u64; 11] = word_set([
    "te", "t'", "le", "la", "l'", "lui", "les", "vous", "leur", "me", "nous",
]);

fn is_clitic_before(w: &str) -> bool {
    in_set(&CLITIC_BEFORE, w)
}

/// The object an entry carries as its last word ("break her", "cut his").
const OWN_OBJECT: [u64; 9] = word_set([
    "him", "her", "his", "their", "your", "ur", "you", "u", "them",
]);

/// Words before a violent verb that make it an imperative ("go burn", "allez cramer").
const IMPERATIVE_BEFORE: [u64; 6] = word_set(["go", "allez", "va", "come", "let's", "lets"]);

/// French auxiliaries of a past tense ("je t'ai tue").
const PAST_AUX: [u64; 11] = word_set([
    "a", "ai", "as", "avons", "avez", "ont", "t'ai", "l'ai", "m'a", "t'a", "l'a",
]);

fn threat_score(
    folded: &str,
    hits: &[Hit],
    groups: &ByCue<'_>,
    mask: u32,
    spans: &[Candidate],
    ev: &mut Evidence,
) -> f32 {
    let has = |c: Cue| mask & c.bit() != 0;
    // The hits of one cue, in text order.
    let of = |c: Cue| groups.of(c);
    let covered_by_idiom = |h: &Hit| of(Cue::Idiom).any(|i| i.start < h.end && h.start < i.end);
    let negated = |h: &Hit, window: usize| {
        of(Cue::Negation).any(|n| {
            n.end <= h.start && h.start - n.end <= window && !sentence_break(folded, n.end, h.start)
        }) || short_negation_before(folded, h.start, window)
    };
    // Only the veiled-threat and weapon rules read it: the per-token lookup runs on demand.
    let second =
        || has(Cue::Second) || has_word(folded, &["u", "ur", "ya", "tu", "te", "ta", "t'"]);
    let mut best = 0.0f32;
    let mut strong_kinds = 0;
    let mut idiom_used = false;
    let mut negation_used = false;

    // Violent acts.
    let mut violence_best = 0.0f32;
    for v in of(Cue::Violence) {
        if covered_by_idiom(v) {
            idiom_used = true;
            continue;
        }
        // Whether an object pronoun aims the act (both the imperative and the target rules ask).
        let aimed = targeted(folded, v);
        let intent = of(Cue::Intent).any(|i| {
            i.end <= v.start + 1
                && v.start.saturating_sub(i.end) <= INTENT_WINDOW
                && !sentence_break(folded, i.end, v.start)
        });
        // A call on others governs the act that follows it in the same sentence.
        let call = of(Cue::Call).any(|c| {
            c.end <= v.start + 1
                && v.start - c.end.min(v.start) <= CALL_WINDOW
                && !sentence_break(folded, c.end, v.start)
        }) || imperative(folded, v, !spans.is_empty(), aimed);
        let tgt = aimed && !past_tense(folded, v);
        if negated(v, NEGATION_WINDOW) {
            negation_used = true;
            continue;
        }
        let w = match (intent, call, tgt) {
            (true, _, true) => {
                ev.push("threat.intent_violence");
                0.9
            }
            (true, _, false) => {
                ev.push("threat.intent_violence");
                0.75
            }
            (false, true, true) => {
                ev.push("threat.incite");
                0.9
            }
            (false, true, false) => {
                ev.push("threat.incite");
                0.7
            }
            (false, false, true) => {
                ev.push("threat.targeted_violence");
                0.6
            }
            _ => 0.2,
        };
        if w > 0.2 {
            ev.push(v.rule);
        }
        violence_best = violence_best.max(w);
    }
    if violence_best >= 0.6 {
        strong_kinds += 1;
    }
    best = best.max(violence_best);

    // Direct threat phrases.
    for d in of(Cue::Direct) {
        if covered_by_idiom(d) {
            idiom_used = true;
            continue;
        }
        // Only an immediately preceding negation cancels a set phrase ("not 'you're dead'").
        if negated(d, 3) {
            negation_used = true;
            continue;
        }
        ev.push(d.rule);
        best = best.max(0.9);
        strong_kinds += 1;
        break;
    }

    // Veiled threats.
    if let Some(v) = of(Cue::Veiled).next() {
        ev.push(v.rule);
        let w = if second() { 0.75 } else { 0.6 };
        best = best.max(w);
        strong_kinds += 1;
    }

    // A weapon aimed at someone, or brought next to a place where someone lives.
    let located = spans.iter().any(|c| {
        matches!(
            c.kind,
            SpanKind::Address | SpanKind::Coordinates | SpanKind::Plate
        )
    });
    if has(Cue::Weapon)
        && (has(Cue::Veiled) || has(Cue::Call) || has(Cue::Intent) || located || second())
    {
        ev.push("threat.weapon");
        best = best.max(if located { 0.7 } else { 0.55 });
    }

    // Swatting: urging a false emergency call, usually next to an address.
    if has(Cue::Swat) {
        let with_target = !spans.is_empty() || has(Cue::Call) || has(Cue::DoxAct);
        ev.push("threat.swatting");
        best = best.max(if with_target { 0.85 } else { 0.45 });
        if with_target {
            strong_kinds += 1;
        }
    }

    if strong_kinds >= 2 {
        best = (best + 0.05).min(1.0);
    }
    if idiom_used {
        ev.push("context.idiom");
    }
    if negation_used {
        ev.push("context.negation");
    }
    if best < 0.3 {
        return best;
    }

    // Contexts that cancel a threat reading of the whole post.
    let mut factor = 1.0f32;
    // Every threat cue inside quotation marks: someone else's words being reported, quoted in
    // counter-speech or in a news item.
    let threat_hits = || {
        hits.iter().filter(|h| {
            matches!(h.cue, Cue::Violence | Cue::Direct | Cue::Veiled) && !covered_by_idiom(h)
        })
    };
    // The few hits first, the whole text only when there is a threat cue to be quoted.
    if threat_hits().next().is_some() && memchr::memchr2(b'"', b'\'', folded.as_bytes()).is_some() {
        let quotes = quoted_regions(folded);
        if !quotes.is_empty()
            && threat_hits().all(|h| quotes.iter().any(|&(a, b)| a <= h.start && h.end <= b))
        {
            ev.push("context.quoted");
            factor *= 0.3;
        }
    }
    for (cue, f) in [
        (Cue::News, 0.3f32),
        (Cue::Report, 0.35),
        (Cue::Fiction, 0.3),
        (Cue::Counter, 0.3),
    ] {
        if has(cue) {
            ev.push(cue_rule(cue));
            factor *= f;
        }
    }
    // Trash talk is only trash talk when nothing ties it to the real world.
    if has(Cue::Game) && spans.is_empty() && !has(Cue::Weapon) && !has(Cue::Swat) {
        ev.push(cue_rule(Cue::Game));
        factor *= 0.35;
    }
    best * factor
}
