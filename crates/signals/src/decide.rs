//! From cues and spans to the two label scores.
//!
//! The weights are hand-set from the label policy (see the crate docs); they were checked on the
//! development set but not fitted to it, so they read as rules: "a violent verb right after a
//! first-person intent marker is a threat unless negated", "a business context takes a phone
//! number out of doxxing".

use crate::lexicon::{Cue, Hit};
use crate::pii::Candidate;
use crate::{LabelScore, Report, Span, SpanKind};

/// Max distance in folded bytes between an intent marker and the violent act it governs.
const INTENT_WINDOW: usize = 40;
/// Max distance between a call on others and the act.
const CALL_WINDOW: usize = 70;
/// Max distance between a negation and the act it negates.
const NEGATION_WINDOW: usize = 30;
/// How far (bytes of folded text) a cancelling context reaches from a threat word in a long
/// post; a post this long or shorter is one context.
const CONTEXT_REACH: usize = 90;
/// How far a norm ("should be") reaches: from its subject to it, and from it to the act
/// ("they should all be rounded up and shot").
const NORM_WINDOW: usize = 40;

/// The rules that fired, in first-fired order, each once. The report's `Vec` is allocated at
/// the first rule, with room for a typical post's (the development set's fire at most 8), so a
/// post where nothing fired allocates nothing.
struct Evidence(Vec<&'static str>);

impl Evidence {
    #[inline]
    fn push(&mut self, r: &'static str) {
        // Lengths differ for most pairs; the same literal is usually the same pointer.
        let same = |e: &&'static str| {
            e.len() == r.len() && (e.as_ptr() == r.as_ptr() || e.as_bytes() == r.as_bytes())
        };
        if self.0.iter().any(same) {
            return;
        }
        if self.0.capacity() == 0 {
            self.0.reserve_exact(8);
        }
        self.0.push(r);
    }
}

/// The cues whose hits the rules walk one by one (the others are only asked "is there one?"),
/// each with a slot in `ByCue::masks`; the last slot collects every other cue and is never read.
const WALKED: [Cue; 15] = [
    Cue::Errand,
    Cue::Violence,
    Cue::Intent,
    Cue::Call,
    Cue::Norm,
    Cue::News,
    Cue::Report,
    Cue::Fiction,
    Cue::Counter,
    Cue::Game,
    Cue::Negation,
    Cue::Idiom,
    Cue::Direct,
    Cue::Veiled,
    Cue::DoxPos,
];
const OTHER_SLOT: usize = WALKED.len();

/// `SLOT[cue]`: the cue's slot in `ByCue::masks` (`OTHER_SLOT` when it is not walked).
const SLOT: [u8; Cue::COUNT] = {
    let mut s = [OTHER_SLOT as u8; Cue::COUNT];
    let mut i = 0;
    while i < WALKED.len() {
        s[WALKED[i] as usize] = i as u8;
        i += 1;
    }
    s
};

/// The hits grouped by cue, each group in text order: the rules ask "an intent before this
/// act?", "an idiom over it?" for every violent word, and each question walks the hits of one
/// cue instead of all of them. A post has a handful of hits: up to 64, a bit set per walked cue
/// (filled in the same walk that gathers the set of cues present); more (a long evidence page),
/// a stable counting sort into `buf`.
pub(crate) struct ByCue<'a> {
    hits: &'a [Hit],
    /// Bit `i` of `masks[SLOT[c]]`: `hits[i]` has cue `c` (when there are at most 64 hits).
    masks: [u64; OTHER_SLOT + 1],
    /// More than 64 hits: the hits grouped by cue, group `c` is `grouped[starts[c]..starts[c + 1]]`.
    grouped: Option<(&'a [Hit], [usize; Cue::COUNT + 1])>,
    /// Every cue with a hit, as a bit set (`Cue::bit`).
    cues: u32,
}

/// The hits of one cue, in text order.
pub(crate) enum CueHits<'a> {
    Bits(&'a [Hit], u64),
    Slice(std::slice::Iter<'a, Hit>),
}

impl<'a> Iterator for CueHits<'a> {
    type Item = &'a Hit;

    #[inline]
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
    /// Groups `hits` (into `buf`, cleared first, when there are more than 64). Inlined: the
    /// value is large (the counting sort's starts), returning it would copy it.
    #[inline(always)]
    pub fn new(hits: &'a [Hit], buf: &'a mut Vec<Hit>) -> Self {
        let mut masks = [0u64; OTHER_SLOT + 1];
        let mut cues = 0u32;
        if hits.len() <= 64 {
            for (i, h) in hits.iter().enumerate() {
                cues |= h.cue.bit();
                masks[usize::from(SLOT[h.cue as usize])] |= 1 << i;
            }
            return ByCue {
                hits,
                masks,
                grouped: None,
                cues,
            };
        }
        let mut starts = [0usize; Cue::COUNT + 1];
        for h in hits {
            cues |= h.cue.bit();
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
            cues,
        }
    }

    /// The hits of cue `c` (one of `WALKED`), in text order.
    #[inline]
    pub fn of(&self, c: Cue) -> CueHits<'a> {
        let i = c as usize;
        match &self.grouped {
            None => {
                debug_assert!(usize::from(SLOT[i]) < OTHER_SLOT, "{c:?} is not walked");
                CueHits::Bits(self.hits, self.masks[usize::from(SLOT[i])])
            }
            Some((grouped, starts)) => CueHits::Slice(grouped[starts[i]..starts[i + 1]].iter()),
        }
    }

    /// Up to 64 hits: the hits and the bit sets of the walked cues (indexed by `SLOT`).
    pub fn bits(&self) -> Option<(&'a [Hit], &[u64; OTHER_SLOT + 1])> {
        match self.grouped {
            None => Some((self.hits, &self.masks)),
            Some(_) => None,
        }
    }

    /// Whether some hit has cue `c`.
    #[inline]
    pub fn has(&self, c: Cue) -> bool {
        self.cues & c.bit() != 0
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
    model_p: f32,
) -> Report {
    let mut ev = Evidence(Vec::new());
    // One walk over the hits: the set of cues present (the rules ask "is there a ..." dozens of
    // times) and the hits of each walked cue.
    let groups = ByCue::new(hits, by_cue);
    let has = |c: Cue| groups.has(c);

    let threat = threat_score(folded, &groups, spans, model_p, &mut ev);
    let threat_decision = threat >= 0.5;

    // ---- doxxing, per span
    let mut out_spans: Vec<Span> = Vec::with_capacity(spans.len());
    let pos = has(Cue::DoxPos);
    let act = has(Cue::DoxAct);
    if pos {
        ev.push("dox.locating");
    }
    if act {
        ev.push("dox.call_to_contact");
    }
    if spans.is_empty() {
        // No span, no doxxing score: the per-span weights below are never read.
        return Report {
            doxxing: LabelScore {
                score: round3(0.0),
                decision: false,
            },
            threat: LabelScore {
                score: round3(threat),
                decision: threat_decision,
            },
            spans: out_spans,
            evidence: ev.0,
        };
    }
    // Distinct locating cues (by their folded text), counted without a set: there are few,
    // and only up to 3 matter (the weight below caps the count there), so the count stops at 3.
    let pos_count = if pos {
        let mut seen = [""; 3];
        let mut n = 0;
        for h in groups.of(Cue::DoxPos) {
            let w = &folded[h.start..h.end];
            if !seen[..n].contains(&w) {
                seen[n] = w;
                n += 1;
                if n == seen.len() {
                    break;
                }
            }
        }
        n
    } else {
        0
    };
    // Distinct span kinds, as a bit set.
    let kinds = spans.iter().fold(0u8, |m, c| m | 1 << c.kind as u8);
    // At least two kinds: at least two bits (no popcount).
    let several_kinds = kinds & kinds.wrapping_sub(1) != 0;
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
            SpanKind::NameWorkplace => {
                if c.confidence >= crate::workplace::TITLED {
                    0.6
                } else if c.confidence >= crate::workplace::PLACE_WHEN_CONFIDENCE {
                    0.55
                } else {
                    0.45
                }
            }
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
        if several_kinds {
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
                    + neg(Cue::Listing, 0.5, &mut ev)
            }
            SpanKind::Phone => {
                neg(Cue::Business, 0.45, &mut ev)
                    + neg(Cue::PublicOffice, 0.5, &mut ev)
                    + neg(Cue::SelfDisclose, 0.55, &mut ev)
                    + neg(Cue::Service, 0.5, &mut ev)
                    + neg(Cue::Sale, 0.3, &mut ev)
                    + neg(Cue::Listing, 0.45, &mut ev)
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
            let cs = char_at + count_chars(&text.as_bytes()[byte_at..c.start]);
            let ce = cs + count_chars(&text.as_bytes()[c.start..c.end]);
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

/// Code points in UTF-8 cut on char boundaries (`str::chars().count()`): the bytes minus the
/// continuation bytes (`10xxxxxx`), eight bytes a step. A post's prefix is short, where the
/// standard count goes a byte at a time.
fn count_chars(b: &[u8]) -> usize {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut cont = 0usize;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(w);
        let x = u64::from_le_bytes(eight);
        // Bit 7 of each byte: set in a continuation byte (bit 7 set, bit 6 clear).
        let c = x & !(x << 1) & HIGH;
        // The eight flags summed into the top byte.
        cont += ((c >> 7).wrapping_mul(0x0101_0101_0101_0101) >> 56) as usize;
    }
    cont += words
        .remainder()
        .iter()
        .filter(|&&c| c & 0xc0 == 0x80)
        .count();
    b.len() - cont
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
        Cue::Listing => "context.property_listing",
        Cue::Landmark => "context.landmark",
        Cue::Tech => "context.tech_support",
        Cue::Fiction => "context.fiction",
        Cue::News => "context.news",
        Cue::Report => "context.report",
        Cue::Game => "context.gaming_sports",
        Cue::Counter => "context.counter_speech",
        Cue::Negation => "context.negation",
        Cue::Idiom => "context.idiom",
        Cue::Errand => "context.errand",
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

/// Word chars of the folded text's word helpers: ASCII alphanumerics and the apostrophe.
const WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'\'';
        c += 1;
    }
    t
};

/// ASCII alphanumerics, as a table (one load a byte in the word scans).
const ALNUM: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = (c as u8).is_ascii_alphanumeric();
        c += 1;
    }
    t
};

/// Whether `folded` holds a second-person word ("u", "ur", "ya", "tu", "te", "ta", "t'..."):
/// tokens are runs of word chars, cut byte-wise (a non-ASCII byte is a separator, as its char is).
fn second_person_word(folded: &str) -> bool {
    folded
        .as_bytes()
        .split(|&c| !WORD[usize::from(c)])
        .any(|w| matches!(w, b"u" | b"ur" | b"ya" | b"tu" | b"te" | b"ta") || w.starts_with(b"t'"))
}

/// French "ne"/"n'" within `window` bytes before `at`, in the same sentence.
fn short_negation_before(folded: &str, at: usize, window: usize) -> bool {
    let from = at.saturating_sub(window);
    let mut from = from;
    while !folded.is_char_boundary(from) {
        from += 1;
    }
    let all = folded.as_bytes();
    let seg = &all[from..at];
    // A word (a run of ASCII alphanumerics and apostrophes) that is "ne" or starts with "n'":
    // only the n's can start one. Rare, so looked for before the sentence breaks. The window
    // may open inside a word ("u|ne photo"): the byte before an 'n' is read from the whole text.
    let word = |c: u8| WORD[usize::from(c)];
    memchr::memchr_iter(b'n', seg).any(|i| {
        (from + i).checked_sub(1).is_none_or(|j| !word(all[j]))
            && match seg.get(i + 1) {
                Some(b'\'') => true,
                Some(b'e') => seg.get(i + 2).is_none_or(|&c| !word(c)),
                _ => false,
            }
    }) && memchr::memchr3(b'.', b'!', b'?', seg).is_none()
}

fn sentence_break(folded: &str, a: usize, b: usize) -> bool {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    let range = folded
        .as_bytes()
        .get(a.min(folded.len())..b.min(folded.len()))
        .unwrap_or(&[]);
    memchr::memchr3(b'.', b'!', b'?', range).is_some()
}

/// Whether a word naming a person or a group of people ("he", "they", "women", "les
/// immigrés") comes up to `NORM_WINDOW` bytes before `at`, in the same sentence: the subject
/// of a norm ("[they] should all be shot"). Asked only of the rare norm hit, so a walk over the
/// words, not a lexicon entry per word.
pub(crate) fn person_before(folded: &str, at: usize) -> bool {
    norm_subject(folded, at) == Some(true)
}

/// The subject of a norm at `at`: `Some(true)` a person or group, `Some(false)` "no one" ("no
/// immigrant deserves to die", "aucun homme ne mérite"), `None` neither.
fn norm_subject(folded: &str, at: usize) -> Option<bool> {
    let b = folded.as_bytes();
    let from = at.saturating_sub(NORM_WINDOW);
    let mut e = at.min(b.len());
    while e > from {
        let c = b[e - 1];
        if matches!(c, b'.' | b'!' | b'?') {
            return None;
        }
        if !WORD[usize::from(c)] {
            e -= 1;
            continue;
        }
        let mut s = e;
        while s > 0 && WORD[usize::from(b[s - 1])] {
            s -= 1;
        }
        let w = &folded[s..e];
        if is_person(folded, w) {
            return Some(!no_one_before(folded, s));
        }
        e = s;
    }
    None
}

/// An intent marker in the first person singular ("i'm going to", "i'll", "je vais", "j'vais").
fn first_person_singular(intent: &str) -> bool {
    [
        "i ", "i'", "im ", "ima ", "je ", "j'", "jvais", "jvai ", "jte ",
    ]
    .iter()
    .any(|p| intent.starts_with(p))
}

/// Whether "no", "aucun" or "nul" comes one or two words before `at` ("no trans person").
fn no_one_before(folded: &str, at: usize) -> bool {
    let w1 = word_before(folded, at);
    let at1 = w1.as_ptr() as usize - folded.as_ptr() as usize;
    let w2 = word_before(folded, at1);
    [w1, w2]
        .iter()
        .any(|w| matches!(*w, "no" | "aucun" | "aucune" | "nul" | "nulle"))
}

/// `w` (a word of `folded`) names a person or a group of people.
fn is_person(folded: &str, w: &str) -> bool {
    in_set_key(&PERSON, key_in(folded, w))
        || PERSON_STEMS
            .iter()
            .any(|p| w.len() > p.len() && w.starts_with(p))
}

/// The act falls on a thing the author owns or points at ("kill this spreadsheet", "smash my
/// personal best", "massacrer ce burger") or on a thing named with an article ("attack the
/// backlog", "smash the garlic", "attaquer la relecture"): a demonstrative, a first-person
/// possessive or an article right after it, and neither of the next two words names a person
/// ("this guy", "the ref", "ma femme"), an animal someone keeps ("the dog") or a place where
/// people are ("this school", "the house").
fn thing_object(folded: &str, end: usize) -> bool {
    let end_of = |w: &str| (w.as_ptr() as usize - folded.as_ptr() as usize) + w.len();
    // A stem ("massacr") or a variant ends inside its word: the object follows the word.
    let b = folded.as_bytes();
    let mut end = end.min(b.len());
    while end < b.len() && WORD[usize::from(b[end])] {
        end += 1;
    }
    // "défoncez-le", "tabassez-la": a pronoun joined by a hyphen is the person, not an article.
    if b.get(end) == Some(&b'-') {
        return false;
    }
    let det = word_after(folded, end);
    let k = key_in(folded, det);
    if !in_set_key(&THING_DET, k) && !in_set_key(&ARTICLE, k) {
        return false;
    }
    let w1 = word_after(folded, end_of(det));
    if w1.is_empty() {
        return false;
    }
    let w2 = word_after(folded, end_of(w1));
    // The stems count for the word itself too here ("mon voisin", "ce connard").
    let reaches_people = |w: &str| {
        in_set_key(&PERSON, key_in(folded, w))
            || in_set_key(&PEOPLE_PLACE, key_in(folded, w))
            || PERSON_STEMS
                .iter()
                .chain(PEOPLE_PLACE_STEMS.iter())
                .any(|p| w.starts_with(p))
    };
    !(reaches_people(w1) || reaches_people(w2))
}

/// Determiners that point at a thing at hand or one's own (not "your", "his": "I'll burn
/// your car" is aimed at its owner).
const THING_DET: [u64; 14] = word_set([
    "this", "that", "these", "my", "our", "ce", "cet", "cette", "ces", "mon", "ma", "mes", "notre",
    "nos",
]);

/// Articles: "the", "a", "la", "les", "un". With them the object can be anyone ("kill the
/// bastard"), so only a word that is not a person, an animal or a place of people is a thing.
const ARTICLE: [u64; 11] = word_set([
    "the", "a", "an", "le", "la", "les", "l", "un", "une", "des", "du",
]);

/// Places full of people, animals people keep, and family words that `PERSON` lacks: an act on
/// them still reaches people.
const PEOPLE_PLACE: [u64; 88] = word_set([
    "dog", "dogs", "cat", "cats", "horse", "chien", "chiens", "chat", "chats", "cheval",
    // Parts of the body and life itself: "break the jaw of", "casser les bras de", "beat the
    // life out of you" reach a person.
    "jaw", "jaws", "arm", "arms", "leg", "legs", "face", "head", "skull", "teeth", "knees", "neck",
    "throat", "bones", "bone", "fingers", "hands", "ribs", "nose", "eyes", "life", "brains",
    "bras", "jambe", "jambes", "gueule", "tete", "crane", "dents", "genoux", "cou", "gorge",
    "doigts", "mains", "cotes", "nez", "yeux", "visage", "vie", "os", "grass", "grasses",
    "balance", "school", "class", "church", "mosque", "office", "house", "place", "town", "city",
    "bus", "train", "store", "mall", "party", "ecole", "college", "lycee", "classe", "eglise",
    "mosquee", "bureau", "maison", "ville", "fac", "boite", "family", "famille", "son", "mere",
    "pere", "frere", "soeur", "con", "conne", "pd",
]);

/// Beginnings of longer words of the same kind.
const PEOPLE_PLACE_STEMS: [&str; 16] = [
    "machoir",
    "synagog",
    "building",
    "concert",
    "festival",
    "stadium",
    "classroom",
    "campus",
    "hospital",
    "immeuble",
    "hopital",
    "magasin",
    "gamin",
    "salaud",
    "abruti",
    "bouffon",
];

/// Words for people, whole (up to 7 bytes).
const PERSON: [u64; 144] = word_set([
    "he", "she", "they", "them", "him", "her", "his", "their", "those", "these", "you", "u",
    "people", "person", "persons", "folks", "guy", "guys", "man", "men", "woman", "women", "girl",
    "girls", "boy", "boys", "kid", "kids", "child", "anyone", "scum", "vermin", "jew", "jews",
    "gay", "gays", "trans", "black", "blacks", "white", "whites", "arab", "arabs", "cop", "cops",
    "judge", "judges", "thief", "thieves", "pig", "pigs", "rat", "rats", "mod", "mods", "husband",
    "wife", "ex", "boss", "tranny", "gypsy", "gypsies", "il", "elle", "ils", "elles", "eux", "lui",
    "gens", "mec", "mecs", "meuf", "meufs", "femme", "femmes", "homme", "hommes", "fille",
    "filles", "homo", "homos", "noir", "noirs", "noire", "noires", "flic", "flics", "juge",
    "juges", "prof", "profs", "vermine", "tous", "toutes", "all", "roma", "roms", "gitans",
    "chinese", "chinois", "hindus", "sikhs", "tories", "lgbt", "vegans", "boomers", "ecolos",
    "dude", "prick", "cunt", "idiot", "moron", "loser", "clown", "snitch", "troll", "punk", "thug",
    "fucker", "ref", "user", "poster", "author", "type", "gars", "pute", "putes", "fdp", "balance",
    "chef", "mari", "fils", "gamin", "gamine", "abruti", "debile", "salaud", "nurse", "mayor",
    "officer", "driver", "mom", "mum", "dad",
]);

/// Beginnings of words for people and groups, matched when the word is longer ("immigrants",
/// "musulmanes", "handicapés").
const PERSON_STEMS: [&str; 114] = [
    "children",
    "everyone",
    "everybod",
    "bastard",
    "traitor",
    "immigr",
    "migrant",
    "refugee",
    "foreigner",
    "muslim",
    "christian",
    "lesbian",
    "transgender",
    "asian",
    "mexican",
    "liberal",
    "leftist",
    "conservative",
    "democrat",
    "republican",
    "police",
    "politician",
    "journalist",
    "teacher",
    "doctor",
    "feminist",
    "pedo",
    "paedo",
    "rapist",
    "murderer",
    "criminal",
    "disabled",
    "retard",
    "homosexual",
    "queer",
    "fag",
    "dyke",
    "bitch",
    "whore",
    "slut",
    "animal",
    "landlord",
    "neighbo",
    "nigg",
    "personne",
    "gosse",
    "enfant",
    "refugie",
    "etranger",
    "musulman",
    "juif",
    "juive",
    "chretien",
    "pede",
    "gouine",
    "arabe",
    "rebeu",
    "renoi",
    "gauchiste",
    "facho",
    "handicap",
    "voisin",
    "lesbienne",
    "gypsie",
    "tzigane",
    "asiati",
    "african",
    "africain",
    "maghreb",
    "hispanic",
    "latino",
    "catholi",
    "protestant",
    "atheist",
    "athee",
    "buddhist",
    "bouddhist",
    "lefties",
    "libtard",
    "macronist",
    "zadist",
    "bisexu",
    "nonbinar",
    "non-binair",
    "travelo",
    "tapette",
    "teenager",
    "referee",
    "arbitre",
    "asshole",
    "motherfuck",
    "scumbag",
    "enfoire",
    "encule",
    "connard",
    "connasse",
    "collegue",
    "coworker",
    "colleague",
    "councillor",
    "councilor",
    "streamer",
    "brother",
    "sister",
    "mother",
    "father",
    "daughter",
    "girlfriend",
    "boyfriend",
    "husband",
    "manager",
    "copain",
    "copine",
    "ordure",
];

/// The next (or previous) word around a byte range of the folded text.
/// Byte-wise: the separators and word chars are ASCII, and a non-ASCII byte is never a word
/// char, so every cut falls next to an ASCII byte (a char boundary).
fn word_after(folded: &str, end: usize) -> &str {
    let b = folded.as_bytes();
    let mut s = end;
    while s < b.len() && matches!(b[s], b' ' | b'-' | b',') {
        s += 1;
    }
    let mut e = s;
    while e < b.len() && WORD[usize::from(b[e])] {
        e += 1;
    }
    &folded[s..e]
}

fn word_before(folded: &str, start: usize) -> &str {
    let b = folded.as_bytes();
    let mut e = start;
    while e > 0 && matches!(b[e - 1], b' ' | b'-') {
        e -= 1;
    }
    let mut s = e;
    while s > 0 && WORD[usize::from(b[s - 1])] {
        s -= 1;
    }
    &folded[s..e]
}

/// Quoted stretches of the folded text: between double quotes (guillemets and curly quotes
/// are folded to `"`), or between single quotes that open after a space or colon and close
/// before a non-letter (so apostrophes in "i'll" are not quotes). `on_region(open, close)` is
/// called for each stretch as it closes and stops the walk by returning `false`; `give_up(i)`,
/// asked at each quote char while no stretch is open, stops it too.
fn walk_quoted_regions(
    folded: &str,
    mut on_region: impl FnMut(usize, usize) -> bool,
    mut give_up: impl FnMut(usize) -> bool,
) {
    let b = folded.as_bytes();
    // One pass for both kinds of quotes.
    let (mut open_double, mut open_single): (Option<usize>, Option<usize>) = (None, None);
    // Only the quote chars do anything: jump from one to the next.
    for i in memchr::memchr2_iter(b'"', b'\'', b) {
        if open_double.is_none() && open_single.is_none() && give_up(i) {
            return;
        }
        let c = b[i];
        if c == b'"' {
            match open_double {
                Some(s) => {
                    open_double = None;
                    if !on_region(s, i) {
                        return;
                    }
                }
                None => open_double = Some(i),
            }
        } else {
            let before = if i == 0 { b' ' } else { b[i - 1] };
            let after = b.get(i + 1).copied().unwrap_or(b' ');
            match open_single {
                None if matches!(before, b' ' | b':' | b'(') && after.is_ascii_alphanumeric() => {
                    open_single = Some(i)
                }
                Some(s) if !after.is_ascii_alphanumeric() && before != b' ' => {
                    open_single = None;
                    if !on_region(s, i) {
                        return;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Whether every hit of `targets` (a bit set over `hits`, not empty) lies inside one quoted
/// stretch: one walk over the quote chars, no list of stretches. The walk stops once every
/// target is inside one, or at a quote char after the first target's start while no stretch is
/// open and none has closed (a later stretch opens after that target: it is never inside one).
fn all_quoted(folded: &str, hits: &[Hit], targets: u64) -> bool {
    // Both callbacks read it: a `Cell` lets the region callback clear bits the other sees.
    let pending = std::cell::Cell::new(targets);
    let mut first_start = usize::MAX;
    let mut left = targets;
    while left != 0 {
        let k = left.trailing_zeros() as usize;
        left &= left - 1;
        if let Some(h) = hits.get(k) {
            first_start = first_start.min(h.start);
        }
    }
    walk_quoted_regions(
        folded,
        |a, b| {
            let mut left = pending.get();
            let mut still = left;
            while left != 0 {
                let k = left.trailing_zeros() as usize;
                left &= left - 1;
                if hits.get(k).is_some_and(|h| a <= h.start && h.end <= b) {
                    still &= !(1 << k);
                }
            }
            pending.set(still);
            still != 0
        },
        // While every target is pending, the first start is the earliest pending one.
        |i| pending.get() == targets && first_start < i,
    );
    pending.get() == 0
}

/// The whole first word of a hit, also when the lexicon entry was a stem ("eradiqu*" in
/// "eradiquons"). Byte-wise: a non-ASCII char's first byte is not ASCII alphanumeric either, so
/// the cut is where the char-wise search would put it.
fn first_word<'a>(folded: &'a str, h: &Hit) -> &'a str {
    let b = folded.as_bytes();
    let mut e = h.start;
    while e < b.len() && ALNUM[usize::from(b[e])] {
        e += 1;
    }
    &folded[h.start..e]
}

/// An imperative use of a violent verb: it opens a sentence or clause ("burn it while she
/// sleeps", "break his legs") or is a French second-person plural form ("cramez tout").
/// `first`: `first_word` of the hit; `before`: `key` of its `word_before`; `aimed`: what
/// `targeted` says (all worked out once per hit by the caller).
fn imperative(
    folded: &str,
    h: &Hit,
    first: &str,
    before: Option<u64>,
    has_target_info: bool,
    aimed: bool,
) -> bool {
    if first.len() > 5 && (first.ends_with("ez") || first.ends_with("ons")) {
        return true;
    }
    if !(has_target_info || aimed) {
        return false;
    }
    let head = folded[..h.start].trim_end();
    head.is_empty()
        || head.ends_with(['.', '!', '?', ':', '-', ',', ';'])
        || in_set_key(&IMPERATIVE_BEFORE, before)
}

/// A violent verb reported in the past ("that dunk killed them", "je t'ai tue 4 fois") is not
/// a threat on its own.
/// `before`: `key` of the hit's `word_before`.
fn past_tense(first: &str, before: Option<u64>) -> bool {
    first.ends_with("ed") || in_set_key(&PAST_AUX, before)
}

/// Object pronoun next to a violent verb: "stab him", "je te bute", "l'abattre".
/// `before`: `key` of the hit's `word_before`.
fn targeted(folded: &str, h: &Hit, before: Option<u64>) -> bool {
    // Entries that carry their object ("break her", "cut his") are aimed at someone whatever
    // follows ("break her legs"): the entry's last word, after its last space.
    let entry = &folded.as_bytes()[h.start..h.end];
    if let Some(sp) = memchr::memrchr(b' ', entry) {
        if in_set(&OWN_OBJECT, &folded[h.start + sp + 1..h.end]) {
            return true;
        }
    }
    let after = word_after(folded, h.end);
    if is_object_after(after, key_in(folded, after)) {
        return true;
    }
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
    in_set_key(set, key(w))
}

/// `pack` of a word that fits the packed sets (up to 7 bytes): a word asked of several sets is
/// packed once. `None` is in no set.
fn key(w: &str) -> Option<u64> {
    (w.len() <= 7).then(|| pack(w.as_bytes()))
}

/// `key(w)` for a word `w` that is a slice of `folded`: read as one 8-byte load of `folded`
/// and masked to its length when 8 bytes are there (a word near the end is packed bytewise).
fn key_in(folded: &str, w: &str) -> Option<u64> {
    let b = folded.as_bytes();
    if w.len() > 7 {
        return None;
    }
    let at = (w.as_ptr() as usize).wrapping_sub(b.as_ptr() as usize);
    debug_assert!(at <= b.len() && b.get(at..at + w.len()) == Some(w.as_bytes()));
    match b
        .get(at..at.saturating_add(8))
        .and_then(|e| <[u8; 8]>::try_from(e).ok())
    {
        Some(eight) if at + w.len() <= b.len() => {
            let v = u64::from_le_bytes(eight) & ((1u64 << (8 * w.len())) - 1);
            Some(v | (w.len() as u64) << 56)
        }
        _ => key(w),
    }
}

fn in_set_key(set: &[u64], k: Option<u64>) -> bool {
    k.is_some_and(|k| set.binary_search(&k).is_ok())
}

/// Words after a violent verb that aim it at someone or something ("stab him", "tuer les").
const OBJECT_AFTER: [u64; 44] = word_set([
    "you", "u", "ya", "him", "her", "them", "em", "'em", "his", "their", "your", "ur", "that",
    "those", "these", "every", "all", "any", "a", "an", "the", "toi", "les", "le", "la", "lui",
    "ce", "cette", "ces", "tous", "toutes", "sa", "son", "ses", "ta", "ton", "tes", "vous",
    "toute", "tout", "whole", "entire", "it", "out",
]);

/// `k`: `key(w)`.
fn is_object_after(w: &str, k: Option<u64>) -> bool {
    in_set_key(&OBJECT_AFTER, k) || matches!(w, "yourself" | "everyone" | "everybody")
}

/// Object clitics before a French violent verb ("je te bute", "le tuer").
const CLITIC_BEFORE: [u64; 11] = word_set([
    "te", "t'", "le", "la", "l'", "lui", "les", "vous", "leur", "me", "nous",
]);

fn is_clitic_before(k: Option<u64>) -> bool {
    in_set_key(&CLITIC_BEFORE, k)
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

/// `model_p`: the lexical model's probability ([`crate::model`]); it counts from
/// [`crate::model::CONFIDENT`] on, and the cancelling contexts below apply to it as to the rules.
fn threat_score(
    folded: &str,
    groups: &ByCue<'_>,
    spans: &[Candidate],
    model_p: f32,
    ev: &mut Evidence,
) -> f32 {
    let has = |c: Cue| groups.has(c);
    let model_confident = model_p >= crate::model::CONFIDENT;
    // No threat cue (most doxxing and neutral posts): every rule below leaves the score at 0
    // and fires nothing (idiom and negation evidence only come from a threat cue they cancel).
    if !(has(Cue::Violence)
        || has(Cue::Direct)
        || has(Cue::Veiled)
        || has(Cue::Weapon)
        || has(Cue::Swat)
        || model_confident)
    {
        return 0.0;
    }
    // The hits of one cue, in text order.
    let of = |c: Cue| groups.of(c);
    let idioms = has(Cue::Idiom);
    let covered_by_idiom =
        |h: &Hit| idioms && of(Cue::Idiom).any(|i| i.start < h.end && h.start < i.end);
    let negations = has(Cue::Negation);
    let negated = |h: &Hit, window: usize| {
        // A rhetorical call before the act ("why has no one stabbed him yet?") holds its own
        // negation: only what comes after it can negate the act.
        let window = of(Cue::Call)
            .filter(|c| c.rule == crate::lexicon::RHETORICAL && c.end <= h.start)
            .map(|c| h.start - c.end)
            .filter(|&d| d <= window)
            .min()
            .unwrap_or(window);
        (negations
            && of(Cue::Negation).any(|n| {
                n.end <= h.start
                    && h.start - n.end <= window
                    && !sentence_break(folded, n.end, h.start)
            }))
            || short_negation_before(folded, h.start, window)
    };
    // Only the veiled-threat and weapon rules read it: the per-token lookup runs on demand.
    let second = || has(Cue::Second) || second_person_word(folded);
    let mut best = 0.0f32;
    let mut strong_kinds = 0;
    let mut idiom_used = false;
    let mut negation_used = false;
    let mut thing_used = false;
    // A violent act the writer states they will do themselves ("je vais le planter dès qu'il
    // sort du tribunal"): a news word beside it is the setting, not a report.
    // (Where its intent marker is, to check it is not inside quotation marks.)
    let mut my_own_act: Option<usize> = None;

    // Violent acts. Every test below is a pure function of the text and hits, so they are
    // asked in the cheapest order that gives the same weight: negation first (it drops the
    // hit), the call only without intent (the weight then ignores it).
    let mut violence_best = 0.0f32;
    // A broken jaw or a wheelchair is never trash talk (see the gaming context below).
    let mut injury = false;
    for v in of(Cue::Violence) {
        if covered_by_idiom(v) {
            idiom_used = true;
            continue;
        }
        if negated(v, NEGATION_WINDOW) {
            negation_used = true;
            continue;
        }
        if thing_object(folded, v.end) {
            thing_used = true;
            continue;
        }
        // The words around the hit, read by several rules.
        let before = key_in(folded, word_before(folded, v.start));
        let first = || first_word(folded, v);
        // Whether an object pronoun aims the act (both the imperative and the target rules ask).
        let aimed = targeted(folded, v, before);
        let tgt = aimed && !past_tense(first(), before);
        let governing_intent = of(Cue::Intent).find(|i| {
            i.end <= v.start + 1
                && v.start.saturating_sub(i.end) <= INTENT_WINDOW
                && !sentence_break(folded, i.end, v.start)
        });
        let intent = governing_intent.is_some();
        if let Some(i) = governing_intent.filter(|i| first_person_singular(&folded[i.start..i.end]))
        {
            my_own_act.get_or_insert(i.start);
        }
        // A call on others (or a norm) governs the act that follows it in the same sentence, or the act
        // it spells itself ("deserve to die"), unless both lists hold the same words ("get rid
        // of").
        let governs = |c: &Hit, window: usize| {
            (c.end <= v.start + 1
                && v.start - c.end.min(v.start) <= window
                && !sentence_break(folded, c.end, v.start))
                || (c.start < v.start && v.end <= c.end)
        };
        let call = !intent
            && (of(Cue::Call).any(|c| governs(c, CALL_WINDOW))
                || of(Cue::Norm)
                    .any(|n| governs(n, NORM_WINDOW) && person_before(folded, n.start))
                || imperative(folded, v, first(), before, !spans.is_empty(), aimed));
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
            // Harm put before the reader without a verb of intent: questions ("how fast do you
            // think your house burns?") and outcomes ("you and your car end up in the river").
            // Just over the line, so that any cancelling context takes it back under.
            (false, false, false) if v.exact && !past_tense(first(), before) && second() => {
                ev.push("threat.aimed_at_reader");
                0.55
            }
            _ => 0.2,
        };
        if w > 0.2 {
            ev.push(v.rule);
            injury |= v.rule.starts_with("threat.injury");
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
        if thing_object(folded, d.end) {
            thing_used = true;
            continue;
        }
        ev.push(d.rule);
        best = best.max(0.9);
        strong_kinds += 1;
        break;
    }

    // Veiled threats.
    if let Some(v) = of(Cue::Veiled).find(|v| !covered_by_idiom(v)) {
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
    // The model's verdict, when confident, for wordings no rule lists. Not over a norm whose
    // subject is no one ("no immigrant deserves to die"): the rules read that and the model
    // cannot.
    let no_one = || of(Cue::Norm).any(|n| norm_subject(folded, n.start) == Some(false));
    if model_confident && model_p > best && !no_one() {
        ev.push("threat.lexical_model");
        best = model_p;
    }
    if idiom_used {
        ev.push("context.idiom");
    }
    if negation_used {
        ev.push("context.negation");
    }
    if thing_used {
        ev.push("context.thing_object");
    }
    if best < 0.3 {
        return best;
    }

    // Contexts that cancel a threat reading of the whole post.
    let mut factor = 1.0f32;
    // Every threat cue inside quotation marks: someone else's words being reported, quoted in
    // counter-speech or in a news item. The few hits first, the quote walk only when there is
    // a threat cue to be quoted.
    let threat_hits = || {
        [Cue::Violence, Cue::Direct, Cue::Veiled]
            .into_iter()
            .flat_map(of)
            .filter(|h| !covered_by_idiom(h))
    };
    let quoted = match groups.bits() {
        // Up to 64 hits: the threat hits as a bit set over `hits`, no list.
        Some((hits, masks)) => {
            let mut targets = 0u64;
            for c in [Cue::Violence, Cue::Direct, Cue::Veiled] {
                let mut left = masks[usize::from(SLOT[c as usize])];
                while left != 0 {
                    let k = left.trailing_zeros() as usize;
                    left &= left - 1;
                    if hits.get(k).is_some_and(|h| !covered_by_idiom(h)) {
                        targets |= 1 << k;
                    }
                }
            }
            targets != 0 && all_quoted(folded, hits, targets)
        }
        None => {
            threat_hits().next().is_some() && {
                let quotes = quoted_regions(folded);
                !quotes.is_empty()
                    && threat_hits()
                        .all(|h| quotes.iter().any(|&(a, b)| a <= h.start && h.end <= b))
            }
        }
    };
    if quoted {
        ev.push("context.quoted");
        factor *= 0.3;
    }
    // Urging a false report about a target: "report"/"signale"/"en disant" there is the
    // act asked for, not someone telling what they received, and the "story" is the fake call.
    // (Not when the poster speaks of their own address: a victim telling of a swatting.)
    let urged_swat = has(Cue::Swat)
        && (!spans.is_empty() || has(Cue::DoxAct) || has(Cue::Call))
        && !has(Cue::SelfDisclose);
    // In a long post a context speaks of its own sentences: it counts only within
    // `CONTEXT_REACH` bytes of a threat word (a story that opens with "my sister told me" and
    // ends with "I'll break his fingers" is a threat).
    let near = |cue: Cue| {
        folded.len() <= CONTEXT_REACH
            || of(cue).any(|c| threat_hits().any(|t| c.start.abs_diff(t.start) <= CONTEXT_REACH))
    };
    for (cue, f) in [
        (Cue::News, 0.3f32),
        (Cue::Report, 0.35),
        (Cue::Fiction, 0.3),
        (Cue::Counter, 0.3),
        (Cue::Errand, 0.3),
    ] {
        if has(cue)
            && near(cue)
            && !(matches!(cue, Cue::Report | Cue::Fiction) && urged_swat)
            && !(cue == Cue::News
                && my_own_act.is_some_and(|at| {
                    !quoted_regions(folded)
                        .iter()
                        .any(|&(a, b)| a <= at && at < b)
                }))
        {
            ev.push(cue_rule(cue));
            factor *= f;
        }
    }
    // Trash talk is only trash talk when nothing ties it to the real world and it harms no body.
    if has(Cue::Game)
        && near(Cue::Game)
        && spans.is_empty()
        && !has(Cue::Weapon)
        && !has(Cue::Swat)
        && !injury
    {
        ev.push(cue_rule(Cue::Game));
        factor *= 0.35;
    }
    best * factor
}

/// Every quoted stretch of the folded text, in closing order.
fn quoted_regions(folded: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    walk_quoted_regions(
        folded,
        |a, b| {
            out.push((a, b));
            true
        },
        |_| false,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random folded-like strings: words, separators, quotes, accents and emoji.
    fn samples() -> Vec<String> {
        let mut texts = crate::TestTexts::new("ab ne n' l'-,.!?'é€ x0", 30, 0x9e37_79b9_7f4a_7c15);
        (0..5000).map(|_| texts.text()).collect()
    }

    #[test]
    fn byte_wise_word_and_negation_helpers_agree_with_the_char_versions() {
        let is_word = |c: char| c.is_ascii_alphanumeric() || c == '\'';
        let after_ref = |f: &str, end: usize| -> String {
            let rest = f[end..].trim_start_matches([' ', '-', ',']);
            let e = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
            rest[..e].to_string()
        };
        let before_ref = |f: &str, start: usize| -> String {
            let head = f[..start].trim_end_matches([' ', '-']);
            let s = head
                .char_indices()
                .rev()
                .find(|&(_, c)| !is_word(c))
                .map_or(0, |(i, c)| i + c.len_utf8());
            head[s..].to_string()
        };
        let neg_ref = |f: &str, at: usize, window: usize| {
            let mut from = at.saturating_sub(window);
            while !f.is_char_boundary(from) {
                from += 1;
            }
            let seg = &f[from..at];
            // A word cut by the window's start is not a word of its own.
            let cut = f[..from].chars().next_back().is_some_and(is_word);
            !seg.contains(['.', '!', '?'])
                && seg
                    .split(|c: char| !is_word(c))
                    .skip(usize::from(cut))
                    .any(|w| w == "ne" || w.starts_with("n'"))
        };
        for f in samples() {
            for (i, _) in f.char_indices().chain([(f.len(), ' ')]) {
                assert_eq!(word_after(&f, i), after_ref(&f, i), "{f:?} at {i}");
                assert_eq!(word_before(&f, i), before_ref(&f, i), "{f:?} at {i}");
                for w in [3, 30] {
                    assert_eq!(
                        short_negation_before(&f, i, w),
                        neg_ref(&f, i, w),
                        "{f:?} at {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn hits_grouped_by_cue_keep_text_order() {
        let hit = |cue, start| Hit {
            cue,
            rule: "r",
            start,
            end: start + 1,
            exact: true,
            order: 0,
        };
        let hits = [
            hit(Cue::Violence, 1),
            hit(Cue::Intent, 2),
            hit(Cue::Violence, 3),
            hit(Cue::Workplace, 4),
            hit(Cue::Intent, 5),
            hit(Cue::Violence, 6),
        ];
        let mut buf = Vec::new();
        let g = ByCue::new(&hits, &mut buf);
        let starts = |c| g.of(c).map(|h| h.start).collect::<Vec<_>>();
        assert_eq!(starts(Cue::Violence), [1, 3, 6]);
        assert_eq!(starts(Cue::Intent), [2, 5]);
        assert!(g.has(Cue::Workplace) && !g.has(Cue::Negation));
        assert!(starts(Cue::Negation).is_empty());
    }

    /// The packed word sets answer as the string `matches!` they replaced, on the listed
    /// words, their prefixes and extensions, and random strings.
    #[test]
    fn packed_word_sets_agree_with_string_matches() {
        let object = |w: &str| {
            matches!(
                w,
                "you"
                    | "u"
                    | "ya"
                    | "him"
                    | "her"
                    | "them"
                    | "em"
                    | "'em"
                    | "his"
                    | "their"
                    | "your"
                    | "ur"
                    | "yourself"
                    | "that"
                    | "those"
                    | "these"
                    | "every"
                    | "all"
                    | "any"
                    | "a"
                    | "an"
                    | "the"
                    | "toi"
                    | "les"
                    | "le"
                    | "la"
                    | "lui"
                    | "ce"
                    | "cette"
                    | "ces"
                    | "tous"
                    | "toutes"
                    | "sa"
                    | "son"
                    | "ses"
                    | "ta"
                    | "ton"
                    | "tes"
                    | "vous"
                    | "toute"
                    | "tout"
                    | "whole"
                    | "entire"
                    | "it"
                    | "everyone"
                    | "everybody"
                    | "out"
            )
        };
        let clitic = |w: &str| {
            matches!(
                w,
                "te" | "t'" | "le" | "la" | "l'" | "lui" | "les" | "vous" | "leur" | "me" | "nous"
            )
        };
        let own = |w: &str| {
            matches!(
                w,
                "him" | "her" | "his" | "their" | "your" | "ur" | "you" | "u" | "them"
            )
        };
        let imperative = |w: &str| matches!(w, "go" | "allez" | "va" | "come" | "let's" | "lets");
        let aux = |w: &str| {
            matches!(
                w,
                "a" | "ai"
                    | "as"
                    | "avons"
                    | "avez"
                    | "ont"
                    | "t'ai"
                    | "l'ai"
                    | "m'a"
                    | "t'a"
                    | "l'a"
            )
        };
        let mut words: Vec<String> = "you u ya him her them em 'em his their your ur yourself that those these every all any a an the toi les le la lui ce cette ces tous toutes sa son ses ta ton tes vous toute tout whole entire it everyone everybody out te t' l' leur me nous go allez va come let's lets ai as avons avez ont t'ai l'ai m'a t'a l'a"
            .split(' ')
            .flat_map(|w| {
                let mut v = vec![w.to_string(), format!("{w}s"), format!("x{w}"), w.to_uppercase()];
                v.extend((0..w.len()).filter(|&i| w.is_char_boundary(i)).map(|i| w[..i].to_string()));
                v
            })
            .collect();
        let mut texts = crate::TestTexts::new("aeioustlhyr'v", 10, 0x2545_f491_4f6c_dd1d);
        words.extend((0..20_000).map(|_| texts.text()));
        words.push("you\0".into());
        for w in &words {
            assert_eq!(is_object_after(w, key(w)), object(w), "{w:?}");
            assert_eq!(is_clitic_before(key(w)), clitic(w), "{w:?}");
            assert_eq!(in_set(&OWN_OBJECT, w), own(w), "{w:?}");
            assert_eq!(in_set(&IMPERATIVE_BEFORE, w), imperative(w), "{w:?}");
            assert_eq!(in_set(&PAST_AUX, w), aux(w), "{w:?}");
        }
    }

    /// Both representations (bit sets up to 64 hits, counting sort beyond) give each cue's
    /// hits in text order.
    #[test]
    fn hits_by_cue_small_and_large_agree_with_a_filter() {
        let mut texts = crate::TestTexts::new("x", 2, 0x9e37_79b9_7f4a_7c15);
        for n in [0usize, 1, 7, 63, 64, 65, 200] {
            let hits: Vec<Hit> = (0..n)
                .map(|i| Hit {
                    cue: ALL_CUES[(texts.number() % ALL_CUES.len() as u64) as usize],
                    rule: "r",
                    start: i,
                    end: i + 1,
                    exact: true,
                    order: 0,
                })
                .collect();
            let mut buf = Vec::new();
            let g = ByCue::new(&hits, &mut buf);
            for c in ALL_CUES {
                let want: Vec<usize> = hits
                    .iter()
                    .filter(|h| h.cue == c)
                    .map(|h| h.start)
                    .collect();
                assert_eq!(g.has(c), !want.is_empty(), "{n} hits, {c:?}");
                if WALKED.contains(&c) {
                    let got: Vec<usize> = g.of(c).map(|h| h.start).collect();
                    assert_eq!(got, want, "{n} hits, {c:?}");
                }
            }
        }
    }

    const ALL_CUES: [Cue; Cue::COUNT] = [
        Cue::Intent,
        Cue::Call,
        Cue::Violence,
        Cue::Direct,
        Cue::Veiled,
        Cue::Weapon,
        Cue::Swat,
        Cue::Norm,
        Cue::Second,
        Cue::Negation,
        Cue::Report,
        Cue::News,
        Cue::Game,
        Cue::Idiom,
        Cue::Fiction,
        Cue::Counter,
        Cue::DoxPos,
        Cue::DoxAct,
        Cue::Business,
        Cue::PublicOffice,
        Cue::SelfDisclose,
        Cue::Sale,
        Cue::Listing,
        Cue::Landmark,
        Cue::Order,
        Cue::Tech,
        Cue::Fictional,
        Cue::Service,
        Cue::Vehicle,
        Cue::Errand,
        Cue::Workplace,
    ];

    #[test]
    fn free_mail_is_case_insensitive_on_the_domain() {
        assert!(free_mail("bob_88@yahoo.co.uk"));
        assert!(free_mail("BOB_88@YAHOO.CO.UK"));
        assert!(free_mail("jean.dupont42@Free.fr"));
        assert!(!free_mail("contact@boulangerie-martin.fr"));
        // Only the domain counts.
        assert!(!free_mail("gmail.fan@example.org"));
    }

    /// The byte-wise second-person test answers as the token split it replaced.
    #[test]
    fn second_person_word_agrees_with_the_token_split() {
        let reference = |folded: &str| {
            let words = ["u", "ur", "ya", "tu", "te", "ta", "t'"];
            folded
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '\''))
                .any(|w| words.contains(&w) || (w.starts_with("t'") && words.contains(&"t'")))
        };
        let mut texts = crate::TestTexts::new("uyratex' .é't", 12, 0x2545_f491_4f6c_dd1d);
        let mut seen = [0usize; 2];
        for f in samples()
            .into_iter()
            .chain((0..20_000).map(|_| texts.text()))
        {
            let want = reference(&f);
            assert_eq!(second_person_word(&f), want, "{f:?}");
            seen[usize::from(want)] += 1;
        }
        assert!(seen[0] > 100 && seen[1] > 100, "{seen:?}");
    }

    /// The one-walk quote test agrees with listing the stretches and checking each target,
    /// for every non-empty set of up to 64 targets.
    #[test]
    fn all_quoted_agrees_with_the_list_of_stretches() {
        let mut texts = crate::TestTexts::new("\"' ab:(.\u{e9}", 40, 0x9e37_79b9_7f4a_7c15);
        let mut seen = [0usize; 2];
        for _ in 0..30_000 {
            let f = texts.text();
            let bounds: Vec<usize> = f.char_indices().map(|(i, _)| i).chain([f.len()]).collect();
            let n = 1 + texts.number() % 6;
            let hits: Vec<Hit> = (0..n)
                .map(|_| {
                    let a = bounds[(texts.number() % bounds.len() as u64) as usize];
                    let b = bounds[(texts.number() % bounds.len() as u64) as usize];
                    Hit {
                        cue: Cue::Violence,
                        rule: "r",
                        start: a.min(b),
                        end: a.max(b),
                        exact: true,
                        order: 0,
                    }
                })
                .collect();
            let targets = (texts.number() % (1 << n)).max(1);
            let quotes = quoted_regions(&f);
            let want = !quotes.is_empty()
                && hits.iter().enumerate().all(|(k, h)| {
                    targets & (1 << k) == 0
                        || quotes.iter().any(|&(a, b)| a <= h.start && h.end <= b)
                });
            assert_eq!(
                all_quoted(&f, &hits, targets),
                want,
                "{f:?} {hits:?} {targets:b}"
            );
            seen[usize::from(want)] += 1;
        }
        assert!(seen[0] > 100 && seen[1] > 100, "{seen:?}");
    }

    /// The 8-byte-load key of a word of the folded text is its packed key, at every position
    /// (near the end too), and the eight-bytes-a-step char count is `chars().count()`.
    #[test]
    fn key_in_and_count_chars_agree_with_the_plain_versions() {
        let mut texts =
            crate::TestTexts::new("a\u{e9}\u{20ac}\u{1f600} ", 60, 0x2545_f491_4f6c_dd1d);
        for _ in 0..5000 {
            let f = texts.text();
            assert_eq!(count_chars(f.as_bytes()), f.chars().count(), "{f:?}");
        }
        for f in samples() {
            let bounds: Vec<usize> = f.char_indices().map(|(i, _)| i).chain([f.len()]).collect();
            for &a in &bounds {
                assert_eq!(count_chars(&f.as_bytes()[a..]), f[a..].chars().count());
                for &b in bounds.iter().filter(|&&b| b >= a && b - a <= 9) {
                    let w = &f[a..b];
                    assert_eq!(key_in(&f, w), key(w), "{f:?} {a}..{b}");
                    assert_eq!(count_chars(w.as_bytes()), w.chars().count(), "{w:?}");
                }
            }
        }
    }
}
