//! Personal-information spans: one multi-pattern regex pass over the original text, then
//! cheap per-candidate validation (phone numbers through libphonenumber metadata, IP and
//! coordinate ranges, plate shapes).
//!
//! All patterns live in one `regex_automata::meta::Regex` built with `new_many`, searched with
//! leftmost-first semantics: at a given start the pattern listed first wins, so the more
//! specific shapes (e-mail, coordinates, IP) come before the loose phone-number shape that would
//! otherwise swallow `198.51.100.7` or `47.6161 1.5170`. When a candidate fails validation the
//! search resumes one character after its start, so a bad candidate never hides a good one that
//! starts later. Word boundaries are ASCII (`(?-u:\b)`) so the lazy DFA never has to bail out on
//! accented text.

use std::net::Ipv6Addr;

use regex_syntax::hir::{
    Capture, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
    Repetition,
};

use regex_automata::{
    dfa::{dense, Automaton, StartKind},
    meta::Regex,
    util::{primitives::StateID, start, syntax},
    Anchored, Input, MatchKind, PatternID,
};

use crate::SpanKind;

/// A validated candidate, in byte offsets of the original text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub start: usize,
    pub end: usize,
    pub kind: SpanKind,
    pub confidence: f32,
    /// A short rule name for the evidence list, e.g. `pii.phone.fr`.
    pub rule: &'static str,
}

/// Pattern identifiers, in priority order (index = pattern id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pat {
    Email,
    CoordDms,
    CoordHemi,
    CoordDecimalComma,
    CoordDecimalSpace,
    Ipv4,
    Ipv6,
    AddressFr,
    AddressEn,
    PlateFrSiv,
    PlateUk,
    PlateUs,
    Phone,
}

const PATS: [Pat; 13] = [
    Pat::Email,
    Pat::CoordDms,
    Pat::CoordHemi,
    Pat::CoordDecimalComma,
    Pat::CoordDecimalSpace,
    Pat::Ipv4,
    Pat::Ipv6,
    Pat::AddressFr,
    Pat::AddressEn,
    Pat::PlateFrSiv,
    Pat::PlateUk,
    Pat::PlateUs,
    Pat::Phone,
];

// --- Building blocks -------------------------------------------------------------------------

const B: &str = r"(?-u:\b)";

const FR_STREET_TYPES: &str = r"rue|avenue|av\.|bd|boulevard|blvd|place|pl\.|impasse|all[ée]e|chemin|quai|cours|route|rte|square|passage|rond-point|sentier|voie|villa|cit[ée]|r[ée]sidence|faubourg|promenade|esplanade|parvis|mont[ée]e|lotissement|hameau|lieu-dit|ruelle|traverse|clos|carrefour|chauss[ée]e|rampe|venelle|sente|domaine|mail";

/// US/UK/CA street suffixes, long and abbreviated (USPS and Royal Mail usage, plus the
/// generic ones that invented street names use).
const EN_STREET_TYPES: &str = r"street|st|avenue|ave|av|road|rd|lane|ln|drive|dr|boulevard|blvd|way|court|ct|courts|place|pl|terrace|ter|close|crescent|cres|grove|gardens|gdns|mews|square|sq|parkway|pkwy|circle|cir|circles|highway|hwy|trail|trl|row|walk|walks|common|commons|alley|plaza|loop|pike|path|hill|hills|rise|view|views|green|greens|park|parks|glen|glens|ridge|ridges|heights|crossing|cove|coves|creek|crest|corner|corners|estate|estates|expressway|extension|falls|ferry|field|fields|forest|fork|forks|fort|freeway|garden|gateway|harbor|harbors|haven|hollow|island|isle|junction|key|keys|knoll|knolls|lake|lakes|landing|light|lights|lock|locks|lodge|manor|manors|meadow|meadows|mill|mills|mission|motorway|mount|mountain|orchard|oval|overpass|pass|passage|pines|plains|point|points|port|ports|prairie|ramp|ranch|rapids|rest|river|route|run|shoal|shoals|shore|shores|skyway|spring|springs|spur|spurs|station|stravenue|stream|summit|trace|track|tunnel|turnpike|underpass|union|unions|valley|valleys|via|viaduct|village|villages|ville|vista|wall|ways|well|wells|bypass|causeway|center|centre|canyon|cape|club|dale|dam|divide|drives|flat|flats|ford|fords|forge|forges|branch|bridge|brook|brooks|burg|burgs|camp|cliff|cliffs|curve|inlet|loaf|mall|neck|pine|radial|rapid|spur|squares|streets|throughway|trafficway|trailer|roads|parkways|crossroad|bend|bends";

const US_CA_STATES: &str = r"al|ak|az|ar|ca|co|ct|de|dc|fl|ga|hi|id|il|in|ia|ks|ky|la|me|md|ma|mi|mn|ms|mo|mt|ne|nv|nh|nj|nm|ny|nc|nd|oh|ok|or|pa|ri|sc|sd|tn|tx|ut|vt|va|wa|wv|wi|wy|ab|bc|mb|nb|nl|ns|nt|nu|on|pe|qc|sk|yt";

/// The unit ("Apt 4B", "#12") and the city + state/ZIP/postcode tail of an English address.
fn en_unit_and_tail(word: &str) -> (&'static str, String) {
    let uk_pc = format!(r"[a-z]{{1,2}}\d[a-z\d]?\s?\d[a-z]{{2}}{B}");
    let ca_pc = format!(r"[a-z]\d[a-z]\s?\d[a-z]\d{B}");
    let zip = format!(r"\d{{5}}(?:-\d{{4}})?{B}");
    let states = format!(r"(?:{US_CA_STATES}){B}");
    // City then state/ZIP/postcode. The city alone is never taken: without a state or postcode
    // after it, "69 Chestnut Avenue, the flat above the chippy" would grow into the sentence.
    // Québec writes the province in brackets: "Sherbrooke (Québec) J1H 4B2".
    let en_tail = format!(
        r"(?:,\s*{word}(?:\s+{word}){{0,2}}(?:\s+\(\s*{word}\s*\))?(?:,?\s+{states}(?:,?\s+(?:{zip}|{ca_pc}))?|,?\s+(?:{uk_pc}|{zip}|{ca_pc}))|,?\s+(?:{uk_pc}|{zip}))"
    );
    let en_unit = r"(?:,?\s+(?:apt|apartment|unit|suite|ste|flat|room|rm|floor|fl)\.?\s*#?\d{1,5}[a-z]?|,?\s*#\d{1,5}[a-z]?)";
    (en_unit, en_tail)
}

fn patterns() -> Vec<String> {
    let word = r"[a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}][a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}'’\-]*";
    let city =
        format!(r"(?:(?:le|la|les|saint|sainte|st|ste|san|los|las|new|fort|port)\s+)?{word}");
    let fr_unit = r"(?:(?:appartement|appart|appt|apt|app|b[âa]timent|b[âa]t|escalier|esc|porte|logement|log)\.?\s*[a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}\d]{1,4}|\d{1,2}\s?(?:e|er|[èe]me)\s+(?:[ée]tage|droite|gauche)|r[ée]sidence(?:\s+[a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}'’\-]+)+?)";
    let fr_pc = format!(r"(?:,?\s*(?:\d{{5}}|\d{{2}}\s\d{{3}})\s+{city}(?:\s+cedex)?)");
    let (en_unit, en_tail) = en_unit_and_tail(word);

    PATS.iter()
        .map(|p| match p {
            Pat::Email => format!(
                r"[a-z0-9](?:[a-z0-9._%+\-]*[a-z0-9_\-])?@[a-z0-9](?:[a-z0-9\-]*\.)+[a-z]{{2,24}}{B}"
            ),
            Pat::CoordDms => {
                let sec = r#"(?:\d{1,2}(?:[.,]\d+)?\s?(?:"|″|''|”|’’))?"#;
                format!(
                    r"\d{{1,2}}\s?°\s?\d{{1,2}}\s?['′’]\s?{sec}\s?[ns],?\s*\d{{1,3}}\s?°\s?\d{{1,2}}\s?['′’]\s?{sec}\s?[ewo]{B}"
                )
            }
            Pat::CoordHemi => format!(
                r"\d{{1,2}}(?:\.\d{{1,8}}\s?°?|\s?°)\s?[ns],?\s*\d{{1,3}}(?:\.\d{{1,8}}\s?°?|\s?°)\s?[ewo]{B}"
            ),
            Pat::CoordDecimalComma => {
                r"[-+]?\d{1,2}\.\d{3,8}\s?,\s?[-+]?\d{1,3}\.\d{3,8}".to_string()
            }
            Pat::CoordDecimalSpace => {
                r"[-+]?\d{1,2}\.\d{4,8}\s+[-+]?\d{1,3}\.\d{4,8}".to_string()
            }
            Pat::Ipv4 => format!(
                r"{B}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){{3}}{B}"
            ),
            Pat::Ipv6 => format!(r"{B}[0-9a-f]{{0,4}}(?::[0-9a-f]{{0,4}}){{2,7}}"),
            Pat::AddressFr => format!(
                r"{B}\d{{1,4}}(?:\s?(?:bis|ter|quater|[abc]){B})?,?\s+(?:{FR_STREET_TYPES}){B}(?:\s+(?:{word}))+(?:,?\s+{fr_unit})*(?:{fr_pc}|{en_tail})?"
            ),
            Pat::AddressEn => format!(
                r"(?:{B}(?:flat|apartment|apt|unit)\s+\d{{1,4}}[a-z]?,?\s+)?{B}\d{{1,6}}[a-z]?(?:\s+[a-zA-Z\u{{C0}}-\u{{D6}}\u{{D8}}-\u{{F6}}\u{{F8}}-\u{{24F}}\d][a-zA-Z\u{{C0}}-\u{{D6}}\u{{D8}}-\u{{F6}}\u{{F8}}-\u{{24F}}\d'’\.\-]*)+?\s+(?:{EN_STREET_TYPES})\.?{B}(?:\s+(?:n|s|e|w|ne|nw|se|sw|north|south|east|west){B})?{en_unit}?{en_tail}?"
            ),
            Pat::PlateFrSiv => format!(r"{B}[a-z]{{2}}[\- ]?\d{{3}}[\- ]?[a-z]{{2}}{B}"),
            Pat::PlateUk => format!(r"{B}[a-z]{{2}}\d{{2}}\s?[a-z]{{3}}{B}"),
            Pat::PlateUs => format!(
                r"{B}(?:\d[a-z]{{3}}\d{{3}}|[a-z]{{3}}[\- ]?\d{{3,4}}|\d{{3}}[\- ]?[a-z]{{3}}|[a-z]{{2}}\d[\- ]?[a-z]\d{{3}}){B}"
            ),
            Pat::Phone => {
                r"(?:(?:\+|00)\d{1,3}[\s.\-]?)?(?:\(0\)\s?)?(?:\(\d{1,5}\)[\s.\-]?)?\d+(?:[\s.\-]\d+)+|(?:\+|00)\d{8,14}|\d{8,14}"
                    .to_string()
            }
        })
        .collect()
}

/// The compiled span detector.
#[derive(Debug)]
pub(crate) struct PiiDetector {
    /// All the patterns, for the searches that [`AnchoredSpans`] gives up on.
    re: Regex,
    /// All the patterns again, as a dense DFA searched from each possible start.
    anchored: AnchoredSpans,
    /// The patterns other than addresses, in the same order ([`REST`]): what else may start
    /// where a rejected address started ("07939 383035. Tenants' union" is a phone number).
    rest: Regex,
    /// One more street type, with what may follow it, right after an English address
    /// ("7024 S Cedar Ridge" + " St, Apt 37D, Macon, GA 31251").
    en_more: Regex,
    phones: crate::phone::PhoneValidator,
}

/// The patterns of [`PiiDetector::rest`], in priority order.
const REST: [Pat; 11] = [
    Pat::Email,
    Pat::CoordDms,
    Pat::CoordHemi,
    Pat::CoordDecimalComma,
    Pat::CoordDecimalSpace,
    Pat::Ipv4,
    Pat::Ipv6,
    Pat::PlateFrSiv,
    Pat::PlateUk,
    Pat::PlateUs,
    Pat::Phone,
];

impl PiiDetector {
    pub fn new() -> Result<Self, crate::Error> {
        let pats = patterns();
        let build = |pats: &[&str]| {
            Regex::builder()
                .configure(Regex::config().hybrid_cache_capacity(64 * (1 << 20)))
                .syntax(syntax::Config::new().case_insensitive(true).unicode(true))
                .build_many(pats)
                .map_err(|e| crate::Error::Pattern(e.to_string()))
        };
        let all: Vec<&str> = pats.iter().map(String::as_str).collect();
        let rest: Vec<&str> = PATS
            .iter()
            .zip(&pats)
            .filter(|(p, _)| REST.contains(p))
            .map(|(_, re)| re.as_str())
            .collect();
        Ok(PiiDetector {
            re: build(&all)?,
            anchored: AnchoredSpans::new(&all)?,
            rest: build(&rest)?,
            en_more: build(&[en_street_continuation().as_str()])?,
            phones: crate::phone::PhoneValidator::new()?,
        })
    }

    /// All validated candidates, in text order, non-overlapping. `plate_context` says whether
    /// the post talks about a vehicle or a plate, which the looser plate shapes require.
    pub fn find(&self, text: &str, plate_context: bool, out: &mut Vec<Candidate>) {
        // Every pattern needs a digit or an '@': most chat lines have neither. (Kept as it was:
        // a post with only a ':' or a non-ASCII digit has no spans.)
        let Some(first) = next_seed(text, 0) else {
            return;
        };
        let digit_or_at = |b: u8| b.is_ascii_digit() || b == b'@';
        let first_counts = text.as_bytes().get(first).is_some_and(|&b| digit_or_at(b));
        // Every digit and '@' is a seed, so none lies before the first one.
        if !(first_counts || text.as_bytes()[first..].iter().any(|&b| digit_or_at(b))) {
            return;
        }
        let mut at = 0;
        let len = text.len();
        // The first seed is already known: `next_seed(text, 0)` again would rescan to it.
        let mut known = Some(first);
        // Anchored steps left before the searches fall back to the meta regex (see
        // `AnchoredSpans::leftmost`): long runs of word bytes would make them quadratic.
        let mut budget = ANCHORED_BUDGET_BASE + ANCHORED_BUDGET_PER_BYTE * len;
        while at < len {
            // Every match holds a seed, and starts at most one whitespace-separated token before
            // its first seed: the search starts there, not at `at`, and stops when no seed is
            // left (the last search used to scan the tail of every post for nothing).
            let Some(seed) = known.take().or_else(|| next_seed(text, at)) else {
                break;
            };
            let from = seed_window_start_from(text, seed, at);
            let found = match self.anchored.leftmost(text, from, seed, &mut budget) {
                Some(found) => found,
                None => self.re.search(&Input::new(text).span(from..len)),
            };
            let Some(m) = found else {
                break;
            };
            let s = m.start();
            match self.candidate_at(text, &m, plate_context) {
                Some(c) => {
                    at = c.end.max(s + 1);
                    out.push(c);
                }
                None => at = skip_after_digit(text, next_boundary(text, s)),
            }
        }
    }
}

/// Steps of the anchored DFA allowed per call of [`PiiDetector::find`]: a fixed allowance plus
/// this many per byte of text. Ordinary posts take a few steps per byte.
const ANCHORED_BUDGET_BASE: usize = 512;
const ANCHORED_BUDGET_PER_BYTE: usize = 16;

/// The patterns as one dense DFA with anchored starts only. A match starts at most one token
/// before its first seed (see [`seed_window_start_from`]), so instead of the meta regex's forward
/// search for the end (which runs to the end of the text when nothing matches) and reverse
/// search for the start, [`AnchoredSpans::leftmost`] tries each start in the seed windows in
/// order with an anchored search: the first start that matches is the leftmost match, and the
/// anchored leftmost-first search there picks the pattern and end the meta regex picks. Most
/// starts die on their first byte or two.
///
/// Two DFAs: `ascii` holds the patterns cut down to ASCII and stops (quit state) on any other
/// byte; `full` is the exact one. On ASCII bytes they step alike, so a start is tried with
/// `ascii` first and again with `full` only when `ascii` reads a non-ASCII byte. The full DFA
/// has 172 byte classes (Unicode digits, spaces and letters), rows of 1 KiB and 13 MiB in all,
/// and its table loads missed the caches; the ASCII one is a fraction of that.
#[derive(Debug)]
struct AnchoredSpans {
    full: Anchored1,
    ascii: Anchored1,
}

/// One anchored DFA, built dense by regex-automata and then re-laid out for this search:
/// 16-bit state numbers and rows exactly as long as the alphabet (the dense DFA pads rows to a
/// power of two of 32-bit ids), so the table is a quarter of the size or less and more of it
/// stays in cache. State 0 is dead, 1 quit, 2..=`last_match` the match states.
#[derive(Debug)]
struct Anchored1 {
    /// Byte class of each byte.
    classes: [u8; 256],
    /// Number of byte classes (without end of input): the row length.
    alphabet: usize,
    /// Next state: `trans[state * alphabet + class]`.
    trans: Vec<u16>,
    /// The last match state.
    last_match: u16,
    /// The pattern of each match state (indexes 0 and 1 unused).
    match_pat: Vec<PatternID>,
    /// The pattern matched at the end of the text from each state, if any.
    eoi_pat: Vec<Option<PatternID>>,
    /// The start state by the byte before the start; index 256 for the start of the text (the
    /// look-behind of `\b`). `QUIT` for a quit byte.
    starts: Vec<u16>,
}

const DEAD: u16 = 0;
const QUIT: u16 = 1;

/// What an anchored search at one start found.
enum Step {
    /// The leftmost-first match there (pattern, end), if any.
    Done(Option<(PatternID, usize)>),
    /// A quit byte: the DFA cannot tell.
    Quit,
}

impl AnchoredSpans {
    fn new(pats: &[&str]) -> Result<Self, crate::Error> {
        let err = |e: &dyn std::fmt::Display| crate::Error::Pattern(e.to_string());
        let config = syntax::Config::new().case_insensitive(true).unicode(true);
        let hirs = syntax::parse_many_with(pats, &config).map_err(|e| err(&e))?;
        let ascii: Vec<Hir> = hirs.iter().map(ascii_only).collect();
        Ok(AnchoredSpans {
            full: Anchored1::new(&hirs, false)?,
            ascii: Anchored1::new(&ascii, true)?,
        })
    }

    /// The leftmost-first match starting at or after `from`, where `seed` is the first seed at
    /// or after `from` and `from >= seed_window_start_from(text, seed, 0)`: the starts of each seed's
    /// window up to the seed, seed after seed. `None` when the search gives up (the step
    /// `budget` is spent, or a quit byte, which these patterns do not have): the caller asks the
    /// meta regex instead.
    fn leftmost(
        &self,
        text: &str,
        from: usize,
        seed: usize,
        budget: &mut usize,
    ) -> Option<Option<regex_automata::Match>> {
        let hay = text.as_bytes();
        let (mut lo, mut seed) = (from, seed);
        loop {
            for p in lo..=seed {
                // No match starts inside a char.
                let Some(&cur) = hay.get(p).filter(|&&b| b & 0xc0 != 0x80) else {
                    continue;
                };
                if p.checked_sub(1)
                    .and_then(|j| hay.get(j))
                    .is_some_and(|&prev| never_accepted_at(prev, cur))
                {
                    continue;
                }
                if let Some((pid, end)) = self.at(hay, p, budget)? {
                    return Some(Some(regex_automata::Match::new(pid, p..end)));
                }
            }
            let after = next_boundary(text, seed);
            let Some(next) = next_seed(text, after) else {
                return Some(None);
            };
            lo = seed_window_start_from(text, next, after);
            seed = next;
        }
    }

    /// The anchored leftmost-first match at `p`: its pattern and end, from the ASCII DFA when it
    /// can tell, else from the full one. The outer `None`: give up.
    fn at(&self, hay: &[u8], p: usize, budget: &mut usize) -> Option<Option<(PatternID, usize)>> {
        if let Step::Done(found) = self.ascii.at(hay, p, budget)? {
            return Some(found);
        }
        match self.full.at(hay, p, budget)? {
            Step::Done(found) => Some(found),
            Step::Quit => None,
        }
    }
}

impl Anchored1 {
    /// `ascii`: stop on every non-ASCII byte.
    fn new(hirs: &[Hir], ascii: bool) -> Result<Self, crate::Error> {
        let err = |e: &dyn std::fmt::Display| crate::Error::Pattern(e.to_string());
        let nfa = regex_automata::nfa::thompson::Compiler::new()
            .build_many_from_hir(hirs)
            .map_err(|e| err(&e))?;
        let mut config = dense::Config::new()
            .match_kind(MatchKind::LeftmostFirst)
            .start_kind(StartKind::Anchored)
            // Acceleration is not used here; minimizing would cost seconds at start-up.
            .accelerate(false)
            .minimize(false);
        if ascii {
            for b in 0x80..=0xff {
                config = config.quit(b, true);
            }
        }
        let dfa = dense::Builder::new()
            .configure(config)
            .build_from_nfa(&nfa)
            .map_err(|e| err(&e))?;
        Self::relayout(&dfa).ok_or_else(|| err(&"span DFA too large for 16-bit states"))
    }

    /// The reachable states of `dfa`, numbered dead, quit, match states, the others.
    fn relayout(dfa: &dense::DFA<Vec<u32>>) -> Option<Self> {
        let bc = dfa.byte_classes();
        let mut classes = [0u8; 256];
        let mut reps: Vec<u8> = Vec::new();
        for b in 0..=255u8 {
            let c = bc.get(b);
            classes[usize::from(b)] = c;
            if usize::from(c) == reps.len() {
                reps.push(b);
            }
        }
        let alphabet = reps.len();
        let start_ids: Vec<Option<StateID>> = (0..=256u16)
            .map(|b| {
                let config = start::Config::new()
                    .anchored(Anchored::Yes)
                    .look_behind(u8::try_from(b).ok());
                dfa.start_state(&config).ok()
            })
            .collect();
        // Every reachable state, depth first from the start states. Dense state ids are
        // multiples of the row length: `index` numbers them 0, 1, 2...
        let index = |s: StateID| s.as_usize() >> dfa.stride2();
        let mut seen: Vec<bool> = Vec::new();
        let mut stack: Vec<StateID> = start_ids.iter().flatten().copied().collect();
        let mut found = Vec::new();
        while let Some(sid) = stack.pop() {
            let i = index(sid);
            if i >= seen.len() {
                seen.resize(i + 1, false);
            }
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            found.push(sid);
            for &b in &reps {
                let next = dfa.next_state(sid, b);
                if !seen.get(index(next)).is_some_and(|&v| v) {
                    stack.push(next);
                }
            }
        }
        let (mut matches, mut others): (Vec<StateID>, Vec<StateID>) = found
            .into_iter()
            .filter(|&s| !dfa.is_dead_state(s) && !dfa.is_quit_state(s))
            .partition(|&s| dfa.is_match_state(s));
        matches.sort_unstable();
        others.sort_unstable();
        // The new number of each dense state, by `index` (dead and quit keep 0 and 1).
        let mut number = vec![DEAD; seen.len()];
        for (i, &s) in matches.iter().chain(&others).enumerate() {
            number[index(s)] = u16::try_from(i + 2).ok()?;
        }
        let id = |s: StateID| -> u16 {
            if dfa.is_quit_state(s) {
                QUIT
            } else {
                number.get(index(s)).copied().unwrap_or(DEAD)
            }
        };
        let count = 2 + matches.len() + others.len();
        let mut trans = vec![DEAD; count * alphabet];
        // Dead stays dead; quit stays quit (never read: the search stops there).
        trans[alphabet..2 * alphabet].fill(QUIT);
        let mut match_pat = vec![PatternID::ZERO; count];
        let mut eoi_pat = vec![None; count];
        for &s in matches.iter().chain(&others) {
            let i = usize::from(id(s));
            for (c, &b) in reps.iter().enumerate() {
                trans[i * alphabet + c] = id(dfa.next_state(s, b));
            }
            if dfa.is_match_state(s) {
                match_pat[i] = dfa.match_pattern(s, 0);
            }
            let eoi = dfa.next_eoi_state(s);
            if dfa.is_match_state(eoi) {
                eoi_pat[i] = Some(dfa.match_pattern(eoi, 0));
            }
        }
        let starts = start_ids.iter().map(|s| s.map_or(QUIT, id)).collect();
        Some(Anchored1 {
            classes,
            alphabet,
            trans,
            last_match: u16::try_from(1 + matches.len()).ok()?,
            match_pat,
            eoi_pat,
            starts,
        })
    }

    /// Bytes of the transition table and side tables.
    #[cfg(test)]
    fn memory_usage(&self) -> usize {
        self.trans.len() * 2
            + self.match_pat.len() * 4
            + self.eoi_pat.len() * 8
            + self.starts.len() * 2
            + 256
    }

    /// The anchored leftmost-first search at `p`. `None`: the step budget is spent.
    fn at(&self, hay: &[u8], p: usize, budget: &mut usize) -> Option<Step> {
        let prev = p
            .checked_sub(1)
            .and_then(|j| hay.get(j))
            .map_or(256, |&b| usize::from(b));
        let mut s = *self.starts.get(prev)?;
        if s == QUIT {
            return Some(Step::Quit);
        }
        let mut last = None;
        let rest = hay.get(p..)?;
        for (i, &b) in rest.iter().enumerate() {
            let class = usize::from(self.classes[usize::from(b)]);
            s = *self.trans.get(usize::from(s) * self.alphabet + class)?;
            if s <= self.last_match {
                let step = match s {
                    DEAD => Step::Done(last),
                    QUIT => Step::Quit,
                    _ => {
                        // Matches are reported one byte late: this one ended before `b`.
                        last = Some((*self.match_pat.get(usize::from(s))?, p + i));
                        continue;
                    }
                };
                *budget = budget.checked_sub(i + 1)?;
                return Some(step);
            }
        }
        *budget = budget.checked_sub(rest.len() + 1)?;
        if let Some(&Some(pat)) = self.eoi_pat.get(usize::from(s)) {
            last = Some((pat, hay.len()));
        }
        Some(Step::Done(last))
    }
}

/// `hir` cut down to ASCII: classes lose their non-ASCII members, literals with a non-ASCII
/// byte never match. On ASCII text it matches what `hir` matches, in the same order of
/// preference (alternatives keep their order).
fn ascii_only(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(lit) if lit.0.is_ascii() => Hir::literal(lit.0.clone()),
        HirKind::Literal(_) => Hir::fail(),
        HirKind::Class(Class::Unicode(c)) => {
            let mut c = c.clone();
            c.intersect(&ClassUnicode::new([ClassUnicodeRange::new('\0', '\x7f')]));
            Hir::class(Class::Unicode(c))
        }
        HirKind::Class(Class::Bytes(c)) => {
            let mut c = c.clone();
            c.intersect(&ClassBytes::new([ClassBytesRange::new(0, 0x7f)]));
            Hir::class(Class::Bytes(c))
        }
        HirKind::Look(look) => Hir::look(*look),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(ascii_only(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(ascii_only(&c.sub)),
            ..c.clone()
        }),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(ascii_only).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(ascii_only).collect()),
    }
}

impl PiiDetector {
    /// The validated candidate of match `m`; when `m` is an address that validation refuses,
    /// whatever else matches at its start (leftmost-first gave the address priority there).
    fn candidate_at(
        &self,
        text: &str,
        m: &regex_automata::Match,
        plate: bool,
    ) -> Option<Candidate> {
        let pat = PATS[m.pattern().as_usize()];
        let got = validate(self, pat, text, m.start(), m.end(), plate);
        if got.is_some() || !matches!(pat, Pat::AddressEn | Pat::AddressFr) {
            return got;
        }
        let input = Input::new(text)
            .span(m.start()..text.len())
            .anchored(regex_automata::Anchored::Yes);
        let other = self.rest.search(&input)?;
        let pat = REST[other.pattern().as_usize()];
        validate(self, pat, text, other.start(), other.end(), plate)
    }
}

/// Whether no accepted match starts at a byte `cur` after the byte `prev`, so that the search
/// may pass over it: after an ASCII digit, an ASCII byte other than ':' (see
/// [`skip_after_digit`]); after an ASCII letter or digit, an ASCII letter: the patterns that
/// open with `\b` cannot start between two word bytes, and the others that may open with a
/// letter (e-mail) are rejected after an alphanumeric char by `validate`. Passing over a start
/// whose match would be rejected finds what the search that resumes one char later finds.
fn never_accepted_at(prev: u8, cur: u8) -> bool {
    prev.is_ascii_alphanumeric()
        && (cur.is_ascii_alphabetic() || prev.is_ascii_digit() && cur.is_ascii() && cur != b':')
}

/// The first position at or after `at` where an accepted match could start. No match is ever
/// accepted at a position whose previous byte is an ASCII digit and whose own byte is ASCII
/// and not ':': every pattern but e-mail, coordinates and phone opens with `\b` and then a word
/// byte (or, for IPv6, a ':'), so it cannot start between a digit and an ASCII byte other than
/// ':' (word byte: no boundary; other byte: not the pattern's first byte); e-mail,
/// coordinates and phone candidates right after a digit are rejected by `validate`. The
/// search loop would restart at each such position only to reject what it finds there (a
/// rejected "06 12 34 56 78 9" used to cost a search from "6 12 34 …"), so it skips them.
fn skip_after_digit(text: &str, mut at: usize) -> usize {
    let b = text.as_bytes();
    while let (Some(&prev), Some(&c)) = (at.checked_sub(1).and_then(|j| b.get(j)), b.get(at)) {
        if !(prev.is_ascii_digit() && c.is_ascii() && c != b':') {
            break;
        }
        at += 1;
    }
    at
}

/// The first seed at or after byte `from` (a char boundary): a char that every pattern match
/// contains at least one of. Patterns need a digit (`\d` is Unicode, so non-ASCII digits
/// count: any numeric char is taken, a superset), an `@` (e-mail) or a `:` (IPv6 without
/// digits, "dead::beef"). Eight bytes at a time (SWAR): ASCII text costs about one instruction
/// a byte; only non-ASCII chars are decoded, one at a time.
fn next_seed(text: &str, from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let b = text.as_bytes();
    let mut i = from;
    loop {
        // Whole words first: flag bytes in '0'..=':' (0x30..=0x3a), '@' and non-ASCII bytes.
        while let Some(chunk) = b.get(i..i + 8) {
            let Ok(word) = <[u8; 8]>::try_from(chunk) else {
                break;
            };
            let x = u64::from_le_bytes(word);
            let y = x & LOW7;
            // Per byte, without carries (y <= 0x7f): bit 7 of y + (0x80 - n) is y >= n.
            let ge_0 = (y + (0x80 - 0x30) * ONES) & HIGH;
            let ge_past_colon = (y + (0x80 - 0x3b) * ONES) & HIGH;
            let at = !((y ^ (0x40 * ONES)) + LOW7) & HIGH;
            let flags = (ge_0 & !ge_past_colon) | at | (x & HIGH);
            if flags != 0 {
                i += (flags.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        let c = *b.get(i)?;
        if c < 0x80 {
            if c.is_ascii_digit() || c == b'@' || c == b':' {
                return Some(i);
            }
            i += 1;
            continue;
        }
        let ch = text.get(i..).and_then(|r| r.chars().next())?;
        if is_numeric_fast(ch) {
            return Some(i);
        }
        i += ch.len_utf8();
    }
}

/// `char::is_numeric` with the accented letters of EN/FR text answered without the Unicode
/// table walk: below U+0300 the only numeric chars are ¹ ² ³ ¼ ½ ¾.
fn is_numeric_fast(c: char) -> bool {
    if (c as u32) < 0x300 {
        matches!(c, '¹' | '²' | '³' | '¼' | '½' | '¾')
    } else {
        c.is_numeric()
    }
}

/// The window start of `seed` with no floor.
#[cfg(test)]
fn seed_window_start(text: &str, seed: usize) -> usize {
    seed_window_start_from(text, seed, 0)
}

/// A lower bound on the start of any match whose first seed is at `seed`: the start of the
/// token before the seed's token (tokens split on Unicode whitespace, which is the patterns'
/// `\s`). No pattern reaches further back: plates ("NJT 2980", "gz 182 pm") and the "flat 3,"
/// prefix of an address take one word before the digits, e-mails and IPv6 sit in one token.
/// Monotone in `seed`, so starting the leftmost-first search here finds the same match as
/// starting it anywhere before.
///
/// Never below `floor`, and found without walking back past it (the next seed is often the
/// next byte, in the same number).
fn seed_window_start_from(text: &str, seed: usize, floor: usize) -> usize {
    // ASCII text walks back byte by byte; anything else (Unicode whitespace) takes the char
    // walk below.
    let b = text.as_bytes();
    let mut i = seed;
    for want_space in [false, true, false] {
        while let Some(&c) = i
            .checked_sub(1)
            .filter(|&j| j >= floor)
            .and_then(|j| b.get(j))
        {
            if c >= 0x80 {
                return seed_window_start_chars(text, seed).max(floor);
            }
            // `char::is_whitespace` on ASCII: '\t'..='\r' (with the vertical tab) and ' '.
            if (c == b' ' || (0x09..=0x0d).contains(&c)) != want_space {
                break;
            }
            i -= 1;
        }
    }
    i.max(floor)
}

fn seed_window_start_chars(text: &str, seed: usize) -> usize {
    let head = &text[..seed];
    let mut it = head.char_indices().rev().peekable();
    // The rest of the seed's token, the whitespace before it, the token before that.
    for want_space in [false, true, false] {
        while let Some(&(_, c)) = it.peek() {
            if c.is_whitespace() != want_space {
                break;
            }
            it.next();
        }
    }
    it.peek().map_or(0, |&(i, c)| i + c.len_utf8())
}

fn next_boundary(text: &str, i: usize) -> usize {
    let mut j = i + 1;
    while j < text.len() && !text.is_char_boundary(j) {
        j += 1;
    }
    j
}

fn prev_char(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

fn next_char(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

fn cand(s: usize, e: usize, kind: SpanKind, confidence: f32, rule: &'static str) -> Candidate {
    Candidate {
        start: s,
        end: e,
        kind,
        confidence,
        rule,
    }
}

fn validate(
    d: &PiiDetector,
    pat: Pat,
    text: &str,
    s: usize,
    e: usize,
    plate_context: bool,
) -> Option<Candidate> {
    let m = &text[s..e];
    match pat {
        Pat::Email => {
            // The regex may start inside a longer local part: "xx.y@..." preceded by a dot.
            if prev_char(text, s).is_some_and(|c| c.is_alphanumeric() || c == '.') {
                return None;
            }
            Some(cand(s, e, SpanKind::Email, 0.95, "pii.email"))
        }
        Pat::CoordDms | Pat::CoordHemi => {
            if prev_char(text, s).is_some_and(|c| c.is_ascii_digit() || c == '.') {
                return None;
            }
            // Degrees of latitude come before the N/S letter, degrees of longitude after it.
            let idx = m.find(['N', 'S', 'n', 's'])?;
            let lat = *numbers(&m[..idx]).first()?;
            let lon = *numbers(&m[idx + 1..]).first()?;
            (lat <= 90.0 && lon <= 180.0).then(|| {
                cand(
                    s,
                    e,
                    SpanKind::Coordinates,
                    0.9,
                    "pii.coordinates.hemisphere",
                )
            })
        }
        Pat::CoordDecimalComma | Pat::CoordDecimalSpace => {
            if prev_char(text, s).is_some_and(|c| c.is_ascii_digit() || c == '.')
                || next_char(text, e).is_some_and(|c| c.is_ascii_digit())
            {
                return None;
            }
            let nums = signed_numbers(m);
            if nums.len() != 2 {
                return None;
            }
            let ok = nums[0].abs() <= 90.0 && nums[1].abs() <= 180.0;
            ok.then(|| cand(s, e, SpanKind::Coordinates, 0.85, "pii.coordinates.decimal"))
        }
        Pat::Ipv4 => {
            // "1.2.3.4.5" is a version string and "203.0.113.0/24" a network, not an address.
            if prev_char(text, s) == Some('.')
                || text[e..].starts_with('/')
                    && text[e + 1..].starts_with(|c: char| c.is_ascii_digit())
                || text[e..].starts_with('.')
                    && text[e + 1..].starts_with(|c: char| c.is_ascii_digit())
            {
                return None;
            }
            Some(cand(s, e, SpanKind::Ip, 0.9, "pii.ip.v4"))
        }
        Pat::Ipv6 => {
            let ok = m.parse::<Ipv6Addr>().is_ok() && m.matches(':').count() >= 2 && m.len() >= 6;
            ok.then(|| cand(s, e, SpanKind::Ip, 0.85, "pii.ip.v6"))
        }
        Pat::AddressFr => {
            let e = trim_fr_address(text, s, e);
            let conf = if text[s..e]
                .chars()
                .rev()
                .take_while(|c| c.is_alphabetic())
                .count()
                > 0
                && has_postcode(&text[s..e])
            {
                0.9
            } else {
                0.7
            };
            Some(cand(s, e, SpanKind::Address, conf, "pii.address.fr"))
        }
        Pat::AddressEn => {
            // The shortest street name came first: a name that holds a street type ("Cedar
            // Ridge St", "Maple Ridge Dr") goes on to the next one.
            // `tail`: the address ends with a postcode or a state, asked once per extension.
            let mut e = e;
            let tail = loop {
                if has_postcode(&text[s..e]) || has_state(&text[s..e]) {
                    break true;
                }
                let input = Input::new(text)
                    .span(e..text.len())
                    .anchored(regex_automata::Anchored::Yes);
                match d.en_more.search(&input) {
                    Some(more) if more.end() > e => e = more.end(),
                    _ => break false,
                }
            };
            let m = &text[s..e];
            if !plausible_street(m) {
                return None;
            }
            // A tail that is neither a postcode nor a state ("..., the house ON the corner"
            // read as Ontario) is dropped: keep the street part before the first comma.
            let (e, m) = if tail {
                (e, m)
            } else {
                let cut = m.find(',').unwrap_or(m.len());
                (s + cut, &m[..cut])
            };
            // Without a city/state/postcode tail, a "number + words + suffix" run inside a
            // sentence ("4 times in a row", "5 miles along the river") is not an address.
            if !tail
                && m.split_whitespace()
                    .any(|w| FUNCTION_WORDS.iter().any(|f| w.eq_ignore_ascii_case(f)))
            {
                return None;
            }
            let conf = if tail { 0.9 } else { 0.65 };
            Some(cand(s, e, SpanKind::Address, conf, "pii.address.en"))
        }
        Pat::PlateFrSiv => {
            // Dashed SIV plates ("AB-123-CD") are distinctive on their own; the bare and spaced
            // forms need the post to talk about a car or a plate.
            let dashed = m.contains('-');
            if !dashed && !plate_context {
                return None;
            }
            Some(cand(
                s,
                e,
                SpanKind::Plate,
                if dashed { 0.9 } else { 0.75 },
                "pii.plate.fr_siv",
            ))
        }
        Pat::PlateUk => {
            let upper = m.chars().all(|c| !c.is_ascii_lowercase());
            if !plate_context && !upper {
                return None;
            }
            Some(cand(s, e, SpanKind::Plate, 0.75, "pii.plate.uk"))
        }
        Pat::PlateUs => {
            // "May 2023", "the 100" — only with a vehicle context and only when there are digits
            // and letters mixed in a plate-like way.
            if !plate_context {
                return None;
            }
            Some(cand(s, e, SpanKind::Plate, 0.6, "pii.plate.us"))
        }
        Pat::Phone => validate_phone(&d.phones, text, s, e),
    }
}

/// Cut a French street name at the first word that cannot belong to it when no postcode
/// closes the address ("12 rue des Lilas je viens ce soir").
fn trim_fr_address(text: &str, s: usize, e: usize) -> usize {
    let m = &text[s..e];
    if has_postcode(m) {
        return e;
    }
    const STOP: &[&str] = &[
        "je", "j'", "tu", "il", "elle", "on", "nous", "vous", "ils", "elles", "c'est", "et",
        "avec", "pour", "qui", "que", "ce", "ça", "ca", "mais", "ou", "donc", "alors", "à", "a",
        "au", "chez", "dans", "sur", "pas", "est", "sont", "the", "and", "is", "it's",
    ];
    let mut pos: usize = 0;
    let mut words = 0;
    for w in m.split(' ') {
        words += 1;
        if words > 3 && STOP.iter().any(|st| w.eq_ignore_ascii_case(st)) {
            return s + pos.saturating_sub(1);
        }
        pos += w.len() + 1;
    }
    e
}

const FUNCTION_WORDS: &[&str] = &[
    "in", "a", "an", "the", "of", "and", "to", "for", "my", "your", "his", "her", "our", "their",
    "on", "at", "times", "miles", "days", "years", "minutes", "hours", "along", "with", "from",
    "by", "is", "was", "it",
];

/// The house number and street words of an English address candidate, before its first
/// comma (after a "Flat 3," prefix): at most five words between the number and the street
/// type, none of them a bare number or a word that only a sentence has ("911 and say there's
/// a guy … at 274 Brookside Ave", "07 80 41 29 88. DEMANDEZ-LUI OÙ EST PASS").
fn plausible_street(m: &str) -> bool {
    let mut words = m.split_whitespace().peekable();
    if words.peek().is_some_and(|w| {
        ["flat", "apartment", "apt", "unit"]
            .iter()
            .any(|u| w.eq_ignore_ascii_case(u))
    }) {
        // "Flat 3," or "Flat 3": the unit and its number.
        words.next();
        words.next();
    }
    words.next(); // the house number
    let mut name = 0;
    for w in words {
        let bare = w.trim_end_matches([',', '.']);
        // A unit ("Apt. 488", "#12") comes after the street.
        if bare.starts_with('#') || UNITS.iter().any(|u| bare.eq_ignore_ascii_case(u)) {
            break;
        }
        if bare.bytes().all(|b| b.is_ascii_digit())
            || STREET_STOP.iter().any(|f| bare.eq_ignore_ascii_case(f))
        {
            return false;
        }
        name += 1;
        if w.ends_with(',') {
            break;
        }
    }
    // Name words plus the street type (and a direction: "Queen St W").
    name <= 7
}

/// The unit words of the English address pattern.
const UNITS: &[&str] = &[
    "apt",
    "apartment",
    "unit",
    "suite",
    "ste",
    "flat",
    "room",
    "rm",
    "floor",
    "fl",
];

/// Words of a sentence that no street name holds.
const STREET_STOP: &[&str] = &[
    "and", "or", "is", "was", "are", "say", "says", "said", "there's", "he", "she", "they", "his",
    "her", "at", "me", "you", "this", "that", "by", "et", "est", "un", "une", "des", "le", "qui",
    "avec", "au",
];

/// A street type right after an English address, with what may follow it (`patterns`'s
/// tail of the English address).
fn en_street_continuation() -> String {
    let word = r"[a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}][a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}'’\-]*";
    let (en_unit, en_tail) = en_unit_and_tail(word);
    format!(
        r"\s+(?:{EN_STREET_TYPES})\.?{B}(?:\s+(?:n|s|e|w|ne|nw|se|sw|north|south|east|west){B})?{en_unit}?{en_tail}?"
    )
}

/// A US state or Canadian province code after a comma: "Boise, ID".
fn has_state(m: &str) -> bool {
    // The part after the last comma (all of `m` without one), as `rsplit(',')` gave it.
    let last = memchr::memrchr(b',', m.as_bytes()).map_or(m, |i| &m[i + 1..]);
    let t = last.trim();
    t.len() == 2 && t.bytes().all(|c| c.is_ascii_alphabetic())
}

fn has_postcode(m: &str) -> bool {
    let b = m.as_bytes();
    // Five digits in a row after the first token (FR/US), or a UK/CA postcode shape at the end.
    let first_space = memchr::memchr(b' ', b).unwrap_or(0);
    if five_digits_in_a_row(&b[first_space..]) {
        return true;
    }
    let tail = memchr::memrchr(b' ', b).map_or(b, |i| &b[i + 1..]);
    matches!(tail, [d, x, y] if d.is_ascii_digit()
        && (x.is_ascii_alphabetic() && y.is_ascii_alphabetic() || y.is_ascii_digit()))
}

fn five_digits_in_a_row(b: &[u8]) -> bool {
    let mut run = 0;
    for &c in b {
        if c.is_ascii_digit() {
            run += 1;
            if run == 5 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// What `has_state` and `has_postcode` were, for the tests.
#[cfg(test)]
fn has_state_reference(m: &str) -> bool {
    m.rsplit(',').next().is_some_and(|last| {
        let t = last.trim();
        t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic())
    })
}

#[cfg(test)]
fn has_postcode_reference(m: &str) -> bool {
    let first_space = m.find(' ').unwrap_or(0);
    if five_digits_in_a_row(&m.as_bytes()[first_space..]) {
        return true;
    }
    let tail = m.rsplit(' ').next().unwrap_or("");
    tail.len() == 3
        && tail.as_bytes()[0].is_ascii_digit()
        && tail.as_bytes()[1].is_ascii_alphabetic()
        && tail.as_bytes()[2].is_ascii_alphabetic()
        || tail.len() == 3
            && tail.as_bytes()[0].is_ascii_digit()
            && tail.as_bytes()[2].is_ascii_digit()
}

/// Unsigned numbers in a coordinate string (degrees, minutes, seconds in order).
fn numbers(m: &str) -> Vec<f64> {
    m.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|t| !t.is_empty() && t != &".")
        .filter_map(|t| t.parse::<f64>().ok())
        .collect()
}

fn signed_numbers(m: &str) -> Vec<f64> {
    m.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .filter(|t| !t.is_empty())
        .filter_map(|t| t.parse::<f64>().ok())
        .collect()
}

/// Validate a phone candidate: boundary checks, digit count, then libphonenumber metadata for
/// the countries the posts come from. Trailing digit groups are dropped one at a time when the
/// whole candidate does not parse ("07281 053 846 2 fois").
fn validate_phone(
    phones: &crate::phone::PhoneValidator,
    text: &str,
    s: usize,
    mut e: usize,
) -> Option<Candidate> {
    if prev_char(text, s).is_some_and(|c| {
        c.is_alphanumeric() || c == '.' || c == '/' || c == '-' || c == '+' || c == '_'
    }) {
        return None;
    }
    for _ in 0..3 {
        let m = &text[s..e];
        // Not glued to a following word, and not followed by ".5" / ",5" / "-5" (the candidate
        // would be a prefix of a longer number).
        let glued = next_char(text, e).is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '/');
        let continues = text[e..].starts_with(['.', ',', '-'])
            && text[e + 1..].starts_with(|c: char| c.is_ascii_digit());
        let after_ok = !glued && !continues;
        if after_ok {
            if let Some(rule) = phone_valid(phones, m) {
                return Some(cand(s, e, SpanKind::Phone, 0.9, rule));
            }
        }
        // Drop the last digit group and its separator.
        let cut = m.rfind([' ', '.', '-'])?;
        if cut == 0 {
            return None;
        }
        e = s + cut;
    }
    None
}

fn phone_valid(phones: &crate::phone::PhoneValidator, m: &str) -> Option<&'static str> {
    // The digits go to a stack buffer (no allocation per candidate): more than 15 of them is
    // never a number, so the buffer stops there.
    let mut buf = [0u8; 16];
    let plus = m.starts_with('+') || m.starts_with("00");
    let mut n = usize::from(plus);
    buf[0] = b'+';
    let start = n;
    let body = m.strip_prefix("00").unwrap_or(m).as_bytes();
    let mut k = 0;
    while k < body.len() {
        // "+44 (0)7400 827526": the trunk zero in brackets is not dialled after the country
        // code (skipped left to right, as `str::replace` would remove it).
        if body[k..].starts_with(b"(0)") {
            k += 3;
            continue;
        }
        if body[k].is_ascii_digit() {
            *buf.get_mut(n)? = body[k];
            n += 1;
        }
        k += 1;
    }
    let d = &buf[start..n];
    if !(8..=15).contains(&d.len()) {
        return None;
    }
    // Runs of one digit ("0000000000") and obvious sequences are placeholders, not numbers.
    if d.iter().all(|&c| c == d[0]) {
        return None;
    }
    phones.validate(std::str::from_utf8(&buf[..n]).ok()?)
}

/// The allocation-free digit extraction above must give what the plain one gave.
#[cfg(test)]
fn phone_digits_reference(m: &str) -> String {
    let mut digits = String::new();
    if m.starts_with('+') || m.starts_with("00") {
        digits.push('+');
    }
    let body = m.strip_prefix("00").unwrap_or(m).replace("(0)", "");
    digits.extend(body.chars().filter(char::is_ascii_digit));
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One detector for all the tests: the dense DFA takes a while to build in a debug build.
    fn detector() -> &'static PiiDetector {
        static D: std::sync::OnceLock<PiiDetector> = std::sync::OnceLock::new();
        D.get_or_init(|| PiiDetector::new().expect("patterns compile"))
    }

    /// From every char boundary `at` of `text`, the anchored search over the seed windows
    /// finds the match the meta regex finds from the window start (with no step limit, past
    /// the starts that no accepted match has), and
    /// a tight step limit makes it give up rather than answer differently.
    fn anchored_agrees_with_meta(d: &PiiDetector, text: &str) {
        for (at, _) in text.char_indices() {
            let Some(seed) = next_seed(text, at) else {
                break;
            };
            let from = seed_window_start(text, seed).max(at);
            // The meta search, passing over the starts that `never_accepted_at` passes over.
            let mut want = d.re.search(&Input::new(text).span(from..text.len()));
            while let Some(m) = want.filter(|m| {
                m.start() > 0
                    && never_accepted_at(text.as_bytes()[m.start() - 1], text.as_bytes()[m.start()])
            }) {
                let next = next_boundary(text, m.start());
                want = d.re.search(&Input::new(text).span(next..text.len()));
            }
            let mut unlimited = usize::MAX;
            let got = d.anchored.leftmost(text, from, seed, &mut unlimited);
            assert_eq!(got, Some(want), "{text:?} from {from}");
            for mut budget in [0, 3, 20] {
                let got = d.anchored.leftmost(text, from, seed, &mut budget);
                assert!(got.is_none() || got == Some(want), "{text:?} from {from}");
            }
        }
    }

    /// The re-laid-out tables of the anchored search (4.7 MB and 0.4 MB when written): the
    /// ASCII one is meant to stay in a core's L2 cache.
    #[test]
    fn anchored_tables_stay_small() {
        let d = detector();
        assert!(d.anchored.ascii.memory_usage() < 1 << 20);
        assert!(d.anchored.full.memory_usage() < 8 << 20);
    }

    #[test]
    fn anchored_search_agrees_with_the_meta_regex() {
        let d = detector();
        let fixed = [
            "appelle le 06 12 34 56 78 stp",
            "écris à élodie.martin@gmail.com!",
            "Flat 1, 8 Elm Street, Liverpool L6 9QL",
            "he's at 7024 S Cedar Ridge St, Apt 37D, Macon, GA 31251 now",
            "9 bis quai des Prés, bât. A, 5e étage, 42000 Saint-Étienne",
            "45°54'25.5\"N 6°09'23.6\"E and 48.85661, 2.35222",
            "v6 dead::beef 2001:db8::1 203.0.113.9",
            "plate NJT 2980 plaque gz 182 pm reg CE65 CSJ",
            "٣ rue de la Paix 7 ３ rue 12",
            "K\u{212a}12 ſt 5 Kſ",
        ];
        let alphabet = "ab zZ 0123456789@:.,-+()'°é\u{a0}٣’rue st gmail.com flat NJT Ave, CA 9";
        let mut texts = crate::TestTexts::new(alphabet, 40, 0x6a09_e667_f3bc_c908);
        for t in fixed
            .map(String::from)
            .into_iter()
            .chain((0..3000).map(|_| texts.text()))
        {
            anchored_agrees_with_meta(d, &t);
        }
    }

    /// The search as it was before seeds: leftmost-first from `at` over the whole rest.
    fn find_without_seeds(d: &PiiDetector, text: &str, plate: bool) -> Vec<Candidate> {
        let mut out = Vec::new();
        if !text.bytes().any(|b| b.is_ascii_digit() || b == b'@') {
            return out;
        }
        let mut at = 0;
        while at < text.len() {
            let Some(m) = d.re.search(&Input::new(text).span(at..text.len())) else {
                break;
            };
            match d.candidate_at(text, &m, plate) {
                Some(c) => {
                    at = c.end.max(m.start() + 1);
                    out.push(c);
                }
                None => at = next_boundary(text, m.start()),
            }
        }
        out
    }

    /// Starting each search at the token before the next seed finds exactly what the plain
    /// search finds: ASCII and accented text, spans at the very start and end, multibyte
    /// chars (accents, NBSP, non-ASCII digits, curly quotes) right next to a match.
    #[test]
    fn seeded_search_agrees_with_the_plain_search() {
        let d = detector();
        let fixed = [
            "06 12 34 56 78",
            "appelle le 06 12 34 56 78",
            "06 12 34 56 78 é",
            "é06 12 34 56 78é",
            "«06 12 34 56 78»",
            "jean.dupont42@free.fr",
            "mail:jean.dupont42@free.fr",
            "écris à élodie.martin@gmail.com!",
            "plate NJT 2980",
            "plaque gz 182 pm c'est elle",
            "Flat 1, 8 Elm Street, Liverpool L6 9QL",
            "flat\u{a0}3, 12 Oak Road, Leeds LS1 4AB",
            "12\u{a0}rue des Lilas 75011 Paris",
            "v6 dead::beef and 1 more",
            "2001:db8::1",
            "٣ rue de la Paix 7",
            "３ rue 12",
            "45°54'25.5\"N 6°09'23.6\"E",
            "48.85661, 2.35222",
            "1.2.3.4.5 then 203.0.113.9",
            "",
            "9",
            "@",
            ":",
        ];
        let alphabet = "ab zZ 0123456789@:.,-+()'°é\u{a0}٣’rue st gmail.com flat NJT";
        agrees_with_unseeded(d, &fixed, (alphabet, 40, 0x9e37_79b9_7f4a_7c15), 4000);
    }

    /// `find` returns what the plain, unseeded search over the whole text returns, on the
    /// `fixed` texts and on `rounds` random ones from (alphabet, length, seed), with and
    /// without plates.
    fn agrees_with_unseeded(
        d: &PiiDetector,
        fixed: &[&str],
        (alphabet, len, seed): (&str, u64, u64),
        rounds: usize,
    ) {
        let check = |t: &str, plate: bool| {
            let mut got = Vec::new();
            d.find(t, plate, &mut got);
            assert_eq!(got, find_without_seeds(d, t, plate), "{t:?}");
        };
        for t in fixed {
            check(t, false);
            check(t, true);
        }
        let mut texts = crate::TestTexts::new(alphabet, len, seed);
        for round in 0..rounds {
            check(&texts.text(), round % 2 == 0);
        }
    }

    /// Skipping the positions right after a digit once a candidate is rejected finds what
    /// the restart one char later finds: phone-like runs of digits and separators, with
    /// colons, letters, '@', degrees and non-ASCII digits mixed in.
    #[test]
    fn restart_after_a_rejected_candidate_skips_only_rejected_starts() {
        let d = detector();
        let fixed = [
            "06 12 34 56 78 9",
            "0612345678901234",
            "1234567 12:34::5 9",
            "55::ffff:1 and 12 34",
            "x12345678::1:2:3",
            "x12345678N48.85661, 2.35222",
            "ref0612345678:ab:cd::1 ok",
            "9٣.1.2.3 0",
            "12345 48.85661, 2.35222 4",
            "123 45°54'25.5\"N 6°09'23.6\"E",
            "99+33 6 12 34 56 78",
            "0(1) 23 45 67 89 01",
            "12a@b.fr 7 12 rue des Lilas",
            "1-555-0100 555 0100 12 Oak Road, Leeds LS1 4AB",
        ];
        let alphabet = "0123456789 0123456789 .-+()::@ax°N,'٣\u{a0}é0123456789 rue St fl::";
        agrees_with_unseeded(d, &fixed, (alphabet, 48, 0x2545_f491_4f6c_dd1d), 6000);
    }

    #[test]
    fn next_seed_agrees_with_a_char_scan() {
        let plain = |t: &str, from: usize| {
            t[from..]
                .char_indices()
                .find(|&(_, c)| c == '@' || c == ':' || c.is_numeric())
                .map(|(i, _)| from + i)
        };
        let mut texts = crate::TestTexts::new("abc xyz9@:;/?A é€٣²", 30, 0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let t = texts.text();
            let skip = (texts.number() % 5) as usize;
            let from = t
                .char_indices()
                .map(|(i, _)| i)
                .nth(skip)
                .unwrap_or(t.len());
            assert_eq!(next_seed(&t, from), plain(&t, from), "{t:?} from {from}");
        }
    }

    #[test]
    fn postcode_and_state_checks_agree_with_the_split_versions() {
        let mut texts =
            crate::TestTexts::new("12 ab,CD 9Ll\u{a0}é \t\u{b},", 24, 0x51f1_5e3d_2c4b_a987);
        for m in ["", " ", "75011", "L6 9QL", "Boise, ID", "x, ID ", ", é"]
            .map(String::from)
            .into_iter()
            .chain((0..30_000).map(|_| texts.text()))
        {
            assert_eq!(has_postcode(&m), has_postcode_reference(&m), "{m:?}");
            assert_eq!(has_state(&m), has_state_reference(&m), "{m:?}");
        }
    }

    #[test]
    fn numeric_fast_path_matches_the_unicode_table() {
        for c in ('\u{80}'..='\u{2ff}').chain(['٣', '３', '’', '€', '½']) {
            assert_eq!(is_numeric_fast(c), c.is_numeric(), "{c:?}");
        }
    }

    /// The byte walk gives the char walk's answer, ASCII or not.
    #[test]
    fn window_start_fast_path_agrees_with_the_char_walk() {
        let mut texts = crate::TestTexts::new(
            "ab 9\t\n\u{b}\u{c}\r\u{a0}é\u{2003}x",
            30,
            0x1234_5678_9abc_def1,
        );
        for _ in 0..20_000 {
            let t = texts.text();
            for (i, _) in t.char_indices() {
                assert_eq!(
                    seed_window_start(&t, i),
                    seed_window_start_chars(&t, i),
                    "{t:?} {i}"
                );
                for (floor, _) in t.char_indices().take_while(|&(f, _)| f <= i) {
                    assert_eq!(
                        seed_window_start_from(&t, i, floor),
                        seed_window_start_chars(&t, i).max(floor),
                        "{t:?} {i} from {floor}"
                    );
                }
            }
        }
    }

    #[test]
    fn window_starts_one_token_before_the_seed() {
        let at = |t: &str, seed: &str| seed_window_start(t, t.find(seed).expect("seed in text"));
        assert_eq!(at("call NJT 2980 now", "2980"), "call ".len());
        assert_eq!(at("12 rue", "12"), 0);
        assert_eq!(at("flat\u{a0}3, 8 Elm", "3"), 0);
        assert_eq!(at("écris à élodie@x.fr", "@"), "écris ".len());
        assert_eq!(at("a  b   c9", "9"), "a  ".len());
    }

    fn spans(text: &str, plate_ctx: bool) -> Vec<(SpanKind, String)> {
        let d = detector();
        let mut out = Vec::new();
        d.find(text, plate_ctx, &mut out);
        out.into_iter()
            .map(|c| (c.kind, text[c.start..c.end].to_string()))
            .collect()
    }

    fn one(text: &str, kind: SpanKind) -> String {
        let v = spans(text, true);
        v.into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("no {kind:?} in {text:?}"))
    }

    /// The stack-buffer digit extraction gives the verdicts of the `String` one it replaced.
    #[test]
    fn phone_digits_without_allocation_agree() {
        let d = detector();
        let reference = |m: &str| {
            let digits = phone_digits_reference(m);
            let ds = digits.trim_start_matches('+').as_bytes();
            if !(8..=15).contains(&ds.len()) || ds.iter().all(|&c| c == ds[0]) {
                return None;
            }
            d.phones.validate(&digits)
        };
        let mut texts = crate::TestTexts::new("0123456789067 +()-.(0)", 24, 0x2545_f491_4f6c_dd1d);
        for m in [
            "+44 (0)7400 827526",
            "0033 6 12 34 56 78",
            "06 12 34 56 78",
            "(0)(0)",
            "",
        ]
        .map(String::from)
        .into_iter()
        .chain((0..20_000).map(|_| texts.text()))
        {
            assert_eq!(phone_valid(&d.phones, &m), reference(&m), "{m:?}");
        }
    }

    #[test]
    fn phones_in_typed_formats() {
        assert_eq!(
            one("appelle au 06 12 34 56 78 stp", SpanKind::Phone),
            "06 12 34 56 78"
        );
        assert_eq!(
            one("tel: 01.45.67.89.10.", SpanKind::Phone),
            "01.45.67.89.10"
        );
        assert_eq!(
            one("call (415) 555-2671 now", SpanKind::Phone),
            "(415) 555-2671"
        );
        assert_eq!(
            one("mobile +44 7911 123456", SpanKind::Phone),
            "+44 7911 123456"
        );
        assert_eq!(
            one("ring 020 7946 0018 tonight", SpanKind::Phone),
            "020 7946 0018"
        );
        assert_eq!(one("+33612345678", SpanKind::Phone), "+33612345678");
    }

    #[test]
    fn phone_rejects_non_numbers() {
        assert!(spans("order 0000000000 shipped", false).is_empty());
        assert!(spans("score 15-17 in 2023", false).is_empty());
        assert!(spans("tracking DS466781550GB", false).is_empty());
    }

    #[test]
    fn emails() {
        assert_eq!(
            one("mail: jean.dupont42@free.fr.", SpanKind::Email),
            "jean.dupont42@free.fr"
        );
        assert_eq!(
            one("PING ME AT BOB_88@YAHOO.CO.UK", SpanKind::Email),
            "BOB_88@YAHOO.CO.UK"
        );
    }

    #[test]
    fn ips_v4_v6_and_version_strings() {
        assert_eq!(one("ip 203.0.113.9 lol", SpanKind::Ip), "203.0.113.9");
        assert_eq!(one("v6 2001:db8::1 here", SpanKind::Ip), "2001:db8::1");
        assert!(spans("upgrade to 1.2.3.4.5 now", false)
            .iter()
            .all(|(k, _)| *k != SpanKind::Ip));
        assert!(spans("meet at 10:30:00", false).is_empty());
    }

    #[test]
    fn coordinates_three_forms() {
        assert_eq!(
            one("here 48.85661, 2.35222 ok", SpanKind::Coordinates),
            "48.85661, 2.35222"
        );
        assert_eq!(
            one("?q=36.17222,-95.98493", SpanKind::Coordinates),
            "36.17222,-95.98493"
        );
        assert_eq!(
            one("52.9577° N, 1.1889° W.", SpanKind::Coordinates),
            "52.9577° N, 1.1889° W"
        );
        assert_eq!(
            one(
                r#"45°54'25.5"N 6°09'23.6"E. sa maison"#,
                SpanKind::Coordinates
            ),
            r#"45°54'25.5"N 6°09'23.6"E"#
        );
        assert!(spans("lat 95.12345, 10.12345", false).is_empty());
    }

    #[test]
    fn plates_fr_uk_us() {
        assert_eq!(one("plaque AB-123-CD", SpanKind::Plate), "AB-123-CD");
        assert_eq!(
            one("plaque gz 182 pm, c'est elle", SpanKind::Plate),
            "gz 182 pm"
        );
        assert_eq!(one("reg CE65 CSJ", SpanKind::Plate), "CE65 CSJ");
        assert_eq!(one("plate 4JLS945", SpanKind::Plate), "4JLS945");
        assert_eq!(one("plate NJT 2980", SpanKind::Plate), "NJT 2980");
        // Without a vehicle context the loose US shape is not a plate.
        assert!(spans("see you in may 2023", false).is_empty());
    }

    #[test]
    fn addresses_fr() {
        assert_eq!(
            one(
                "habite au 9 bis quai des Prés, bât. A, 5e étage, 42000 Saint-Étienne - c'est là",
                SpanKind::Address
            ),
            "9 bis quai des Prés, bât. A, 5e étage, 42000 Saint-Étienne"
        );
        assert_eq!(
            one("au 19 boulevard didier. un", SpanKind::Address),
            "19 boulevard didier"
        );
        assert_eq!(
            one("5 rue Pasteur 45000 Orléans. ok", SpanKind::Address),
            "5 rue Pasteur 45000 Orléans"
        );
        assert_eq!(
            one("au 12 rue des lilas je viens ce soir", SpanKind::Address),
            "12 rue des lilas"
        );
    }

    #[test]
    fn addresses_us_uk_ca() {
        assert_eq!(
            one(
                "lives at 767 Willow Way, Unit 9, Sacramento, CA 95843. bye",
                SpanKind::Address
            ),
            "767 Willow Way, Unit 9, Sacramento, CA 95843"
        );
        assert_eq!(
            one(
                "Flat 1, 8 Elm Street, Liverpool L6 9QL and",
                SpanKind::Address
            ),
            "Flat 1, 8 Elm Street, Liverpool L6 9QL"
        );
        assert_eq!(
            one("at 69 chestnut avenue, the flat above", SpanKind::Address),
            "69 chestnut avenue"
        );
        assert_eq!(
            one("100 Queen St W, Toronto, ON M5H 2N2", SpanKind::Address),
            "100 Queen St W, Toronto, ON M5H 2N2"
        );
    }

    /// A street name holding a street type goes on to the next one; the province in brackets
    /// of Québec addresses; a sentence is not a street name, and what else starts where a
    /// refused address started is still found.
    #[test]
    fn addresses_named_after_street_types_and_sentences_that_are_not() {
        for (text, address) in [
            (
                "he's at 7024 S Cedar Ridge St, Apt 37D, Macon, GA 31251 now",
                "7024 S Cedar Ridge St, Apt 37D, Macon, GA 31251",
            ),
            (
                "1211 CEDAR RIDGE ST, TACOMA, WA 98428",
                "1211 CEDAR RIDGE ST, TACOMA, WA 98428",
            ),
            (
                "8239 Juniper Bend, Columbus, OH 43214",
                "8239 Juniper Bend, Columbus, OH 43214",
            ),
            (
                "914 rue King Ouest, Sherbrooke (Québec) J1H 4B2",
                "914 rue King Ouest, Sherbrooke (Québec) J1H 4B2",
            ),
            (
                "8488 Michael Cliff Apt. 488, Cleveland, OH 44101",
                "8488 Michael Cliff Apt. 488, Cleveland, OH 44101",
            ),
            (
                "call 911 and say there's a guy holding his kids at gunpoint at 274 Brookside Ave, Madison, WI 53705",
                "274 Brookside Ave, Madison, WI 53705",
            ),
        ] {
            assert_eq!(one(text, SpanKind::Address), address);
        }
        let d = detector();
        let mut got = Vec::new();
        d.find(
            "ring 07939 383035. Tenants' union meets at 8",
            false,
            &mut got,
        );
        let kinds: Vec<_> = got.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [SpanKind::Phone], "{got:?}");
    }
}
