//! Name + workplace/school spans ("Tyler Stevens, shift supervisor at the Costco in Tulsa",
//! "Grégoire Allain, inscrit au lycée Voltaire de Créteil").
//!
//! Only run when the lexicon saw a workplace or school cue, because the name part of the pattern
//! (one to three words before the link) can start almost anywhere. The regex over-approximates
//! on both ends; the match is then trimmed: leading words that cannot be a name ("her name is",
//! "c'est") and everything in the workplace phrase after a clause break ("and", "qui", ".").

use aho_corasick::{AhoCorasick, MatchKind};
use regex_automata::{meta::Regex, util::syntax, Input};

use crate::pii::Candidate;
use crate::SpanKind;

const B: &str = r"(?-u:\b)";

fn patterns() -> Vec<String> {
    let w = r"[a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}][a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}'’\-]*";
    let name =
        format!(r"(?:(?:mr|mrs|ms|miss|dr|mme|mlle|m|monsieur|madame)\.?\s+)?{w}(?:\s+{w}){{0,2}}");
    let org_word = r"[a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}\d&][a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}\d&'’\-]*";
    let org = format!(r"{org_word}(?:\s+{org_word})*");
    let role_en = r"(?:teacher|cashier|supervisor|manager|nurse|clerk|receptionist|waiter|waitress|barista|driver|guard|officer|assistant|secretary|intern|worker|employee|coach|professor|lecturer|doctor|dentist|librarian|janitor|bartender|cook|chef|server|agent|rep|representative|technician|mechanic|student|junior|senior|sophomore|freshman|pupil|counselor|counsellor|principal|head|director|admin|administrator|pharmacist|paramedic|vet|stylist|hairdresser|trainer|instructor|tutor|caretaker|stocker|carer|porter|cleaner|lifeguard|dispatcher|paralegal|accountant|engineer|developer|designer|analyst|consultant|nanny|babysitter|bouncer|firefighter|midwife|therapist|physio|teller|courier|moderator|coordinator|hygienist|rn|gp|leader|ta|chauffeur|doorman)";
    let role_fr = r"(?:caissi[eè]re?|agent(?:e)?\s+(?:de\s+|d')[a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}]+|chef\s+d'[ée]quipe|chef\s+de\s+(?:rayon|caisse|service|projet|chantier|cuisine)|charg[ée]e?\s+d'affaires|charg[ée]e?\s+de\s+(?:mission|client[èe]le|communication)|vendeu(?:r|se)|prof(?:esseure?)?(?:\s+de\s+[a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}]+)?|institut(?:eur|rice)|infirmi[eè]re?|serveu(?:r|se)|employ[ée]e?|directeu(?:r|rice)|secr[ée]taire|livreu(?:r|se)|manager|responsable|stagiaire|[ée]l[èe]ve|[ée]tudiante?|scolaris[ée]e?|inscrite?|animat(?:eur|rice)|surveillante?|boulang[eè]re?|pharmacien(?:ne)?|coiffeu(?:r|se)|m[ée]decin|dentiste|comptable|standardiste|h[ôo]tesse|conseill[eè]re?|pigiste|journaliste|cpe|dirlo|aide-soignante?|auxiliaire(?:\s+de\s+vie)?|pr[ée]parat(?:eur|rice)|[ée]ducat(?:eur|rice)|ouvri[eè]re?|magasini[eè]re?|atsem|aesh|h[ôo]tesse\s+de\s+caisse|charg[ée]e?\s+de\s+td|ing[ée]nieure?|d[ée]veloppeu(?:r|se)|assistante?|vigile|mod[ée]rat(?:eur|rice)|g[ée]rante?|entra[iî]neu(?:r|se)(?:-chef)?|chauffeu(?:r|se)|videu(?:r|se)|barman|barmaid|pr[ée]pos[ée]e?|cuisini[eè]re?|plongeu(?:r|se)|(?:l|m)[1-3]|en\s+(?:cp|ce1|ce2|cm1|cm2|maternelle|petite\s+section|moyenne\s+section|grande\s+section)|en\s+(?:\d{1,2}\s?(?:e|[èe]me)|seconde|premi[eè]re|terminale)|en\s+(?:bts|dut|but|licence|master|l[1-3]|m[12]|pr[ée]pa|cap|bac\s+pro|alternance|stage)(?:\s+[a-zA-Z\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{24F}]+)?)";
    let en = format!(
        r"{B}{name}(?:,?\s+(?:(?:and|who|,)\s+)?(?:(?:she|he|they)\s+)?(?:works?|worked|working|is\s+employed|teaches|coaches|drives|cleans|manages|volunteers|is\s+(?:a|an|the)\s+{w}(?:\s+{w})?)(?:\s+(?:the\s+|a\s+)?{w}(?:\s+{w}){{0,2}})??\s+(?:at|for|in)|(?:,|\s+[-–—])\s*(?:(?:she|he)(?:'s|’s|\s+is)\s+)?(?:(?:a|an|the)\s+)?(?:{w}\s+){{0,2}}?{role_en}(?:\s+(?:on|in|of)\s+(?:the\s+)?{w}(?:\s+\w+)?)?\s+(?:at|for|from|in)|(?:,\s*|\s+(?:is|'s|’s)\s+in\s+)(?:(?:\d{{1,2}}(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth)\s+(?:grade|year)|year\s+\d{{1,2}}|grade\s+\d{{1,2}})(?:\s+{w})?\s+(?:at|in)|,?\s+(?:(?:she|he)\s+)?(?:goes\s+to|attends|studies\s+at|from)|[.,]?\s+(?:she|he)(?:'s|’s|s|\s+is)\s+at)\s+(?:the\s+)?{org}"
    );
    let fr = format!(
        r"{B}{name}(?:,?\s+(?:et\s+)?(?:il|elle|y)\s+|,\s*|\s+[-–]\s+|,?\s+qui\s+|\s+)(?:(?:travaille|bosse|taffe|bossait|travaillait|enseigne|va|bosse)|(?:est\s+)?(?:(?:la|le|l')\s*)?{role_fr}|est)(?:\s+{w}){{0,3}}?\s+(?:chez|[àa]|au|aux|dans|pour|du|de\s+la)\s+{org}"
    );
    // A name set beside a shop, chain or school with no job title between them ("Maureen
    // Brown, the Starbucks on 5th", "Margot Imbert est à la Poste de Nantes", "Kristin Garcia,
    // 10th grade @ Central High", "Richard Chauvin, CM2 à l'école Jules-Ferry").
    let brand = BRANDS
        .iter()
        .map(|b| brand_regex(b))
        .collect::<Vec<_>>()
        .join("|");
    let school = format!(
        r"(?:(?:st\.?|saint)\s+)?(?:{w}\s+){{1,3}}(?:elementary|high|middle|primary|infant|infants|junior|nursery|academy|secondary|prep|grammar|junior\s+high|community\s+college|college|university)(?:\s+school)?{B}|(?:university|college)\s+of\s+{w}(?:\s+{w})?|(?:lyc[ée]e|coll[èe]ge|[ée]cole|maternelle|c[ée]gep|universit[ée]|iut|cycle\s+d'orientation|groupe\s+scolaire)(?:\s+(?:pro|priv[ée]|primaire|maternelle|publique))?(?:\s+(?:de\s+la\s+|des\s+|du\s+|de\s+|d'|l')?{w}){{1,3}}"
    );
    let grade = r"(?:\d{1,2}(?:st|nd|rd|th)\s+grade|grade\s+\d{1,2}|year\s+\d{1,2}|cp|ce1|ce2|cm1|cm2|\d{1,2}\s?(?:e|[èe]me)(?:\s+[a-z])?|seconde(?:\s+\d)?|premi[èe]re|terminale|maternelle|(?:petite|moyenne|grande)\s+section)";
    let article = r"(?:(?:the|le|la|les|l'|au|aux|[àa]\s+la|[àa]\s+l'|[àa])\s*)?";
    // Two or three words: a first name and a surname ("PARENTS : l'école" is no one).
    let full_name = format!(r"{w}(?:\s+{w}){{1,2}}");
    let place = format!(
        r"{B}{full_name}(?:\s*(?:,|@|:|=|→|->|\||[-–—])\s*(?:{grade}\s*(?:,|@|at|in|[àa]|au)?\s*)?(?:(?:{w}\s+){{1,3}}(?:at|@|[àa]|au|chez)\s+)?|\s+(?:is|are|'s|’s)\s+(?:at|in)\s+|(?:'s|’s)\s+(?:at|in)\s+|(?:'s|’s)?\s*[,\-–—]?\s+(?:(?:her|his|their|whose|sa|son|ses|dont\s+(?:le|la|les))\s+)?(?:son|daughter|kid|kids|child|boy|girl|lad|twins|stepdaughter|stepson|fille|fils|gamin|gamine|enfant|enfants|jumeaux|jumelles)\s+(?:is\s+in\s+{grade}\s+at|(?:goes|go)\s+to|attends?|is\s+at|sont\s+[àa]|est\s+en\s+{grade}\s+(?:[àa]|au)|sont\s+(?:au|[àa])|est\s+(?:au|[àa])|va\s+(?:au|[àa]))\s+|\s*,?\s+(?:(?:il|elle)\s+|et\s+)?(?:d[ée]pose|r[ée]cup[èe]re|emm[èe]ne|cherche)\s+(?:ses|son|sa)\s+(?:enfants|gosses|gamins|fils|fille|petits?)\s+(?:tous\s+les\s+(?:matins|soirs)\s+)?|\s*,\s*(?:mom|mum|mother|dad|father)\s+of\s+(?:the\s+)?(?:{w}\s+){{0,2}}(?:son|daughter|kid|kids|twins|boys|girls)\s+(?:at|in)\s+|\s+(?:goes|go)\s+to\s+|\s+attends?\s+|\s+(?:c'est|est|sont|va|vont)\s+(?:en\s+{grade}\s+)?(?:au|aux|[àa]|chez)\s*)(?:{article})(?:{brand}|{school})(?:\s+{org_word}){{0,6}}|{B}{full_name}\s+(?:(?:du|de\s+la|des)\s+|de\s+l['’]\s*)(?:{brand})(?:\s+{org_word}){{0,6}}"
    );
    vec![en, fr, place]
}

/// Shops, chains and public services where someone can be found at work, folded (ASCII lower
/// case, no accents). The lexicon reads them as workplace cues and the name + place pattern
/// as places; a name beside one of them is a span only with a time or a spot to find them at
/// ("weekends", "caisse 4") or a locating cue, see [`PLACE_CONFIDENCE`].
pub(crate) const BRANDS: &[&str] = &[
    "starbucks",
    "tesco",
    "walmart",
    "target",
    "kroger",
    "costco",
    "amazon",
    "pret",
    "greggs",
    "sainsbury's",
    "sainsburys",
    "asda",
    "aldi",
    "lidl",
    "morrisons",
    "waitrose",
    "primark",
    "mcdonald's",
    "mcdonalds",
    "burger king",
    "kfc",
    "subway",
    "chipotle",
    "taco bell",
    "wendy's",
    "dunkin",
    "tim hortons",
    "home depot",
    "lowe's",
    "best buy",
    "trader joe's",
    "whole foods",
    "walgreens",
    "cvs",
    "rite aid",
    "planet fitness",
    "costa",
    "nando's",
    "ikea",
    "apple store",
    "dollar general",
    "dollar tree",
    "safeway",
    "publix",
    "wegmans",
    "gamestop",
    "petsmart",
    "argos",
    "currys",
    "carrefour",
    "leclerc",
    "intermarche",
    "auchan",
    "monoprix",
    "franprix",
    "super u",
    "hyper u",
    "mcdo",
    "decathlon",
    "leroy merlin",
    "castorama",
    "fnac",
    "darty",
    "la poste",
    "delhaize",
    "colruyt",
    "migros",
    "iga",
    "provigo",
    "jean coutu",
    "pharmaprix",
    "canadian tire",
    "couche-tard",
    "sephora",
    "kiabi",
    "picard",
    "biocoop",
    "grand frais",
    "norauto",
    "buffalo grill",
    "five guys",
    "o'tacos",
    "pizza hut",
    "domino's",
    "boots",
    "wells fargo",
    "chase bank",
    "barclays",
    "credit agricole",
    "bnp",
    "societe generale",
    // Québec chains.
    "saq",
    "maxi",
    "super c",
    "dollarama",
];

/// A folded brand name as a case-insensitive pattern: accents and curly apostrophes allowed,
/// any run of spaces between words.
fn brand_regex(b: &str) -> String {
    let mut out = String::from("(?:");
    for c in b.chars() {
        match c {
            'a' => out.push_str("[aàâ]"),
            'e' => out.push_str("[eéèêë]"),
            'i' => out.push_str("[iîï]"),
            'o' => out.push_str("[oô]"),
            'u' => out.push_str("[uùû]"),
            'c' => out.push_str("[cç]"),
            '\'' => out.push_str("['’]?"),
            ' ' => out.push_str(r"\s+"),
            '-' => out.push_str(r"[-\s]"),
            c => out.push(c),
        }
    }
    out.push_str(&format!("){B}"));
    out
}

/// Confidence of a name + place span (pattern 3): below a titled one ([`TITLED`]), so that
/// the doxxing decision asks for more than the pair ("Thanks to Ms. King at Jefferson
/// Elementary" is no dox).
pub(crate) const PLACE_CONFIDENCE: f32 = 0.6;
/// The same with a time or a spot to find the person at ("mornings til 1", "caisse 4").
pub(crate) const PLACE_WHEN_CONFIDENCE: f32 = 0.7;
/// Confidence of a name with a job title or school phrase (patterns 1 and 2).
pub(crate) const TITLED: f32 = 0.75;

/// Words that tell when or where exactly to find someone at their work or school.
const WHEN: &[&str] = &[
    "shift",
    "shifts",
    "weekend",
    "weekends",
    "weekday",
    "weekdays",
    "morning",
    "mornings",
    "evening",
    "evenings",
    "night",
    "nights",
    "overnight",
    "closes",
    "opens",
    "til",
    "till",
    "until",
    "register",
    "tills",
    "aisle",
    "section",
    "drive-thru",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "mon",
    "tues",
    "thurs",
    "fri",
    "sat",
    "sun",
    "am",
    "pm",
    "grade",
    "year",
    "class",
    "floor",
    "badges",
    "caisse",
    "rayon",
    "guichet",
    "matin",
    "soir",
    "soirs",
    "nuit",
    "nuits",
    "week-end",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "horaires",
    "fermetures",
    "ouvertures",
    "drive",
    "etage",
    "étage",
    "accueil",
    "terminale",
    "seconde",
    "cm2",
    "cm1",
    "ce1",
    "ce2",
    "cp",
];

/// Whether a word of `text[from..to]` (ASCII case-insensitively) is one of [`WHEN`], or a
/// clock time ("7-3", "6am").
fn tells_when(text: &str, from: usize, to: usize) -> bool {
    let mut to = to.min(text.len());
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    text[from..to]
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .any(|w| {
            WHEN.iter().any(|x| w.eq_ignore_ascii_case(x))
                || (w.starts_with(|c: char| c.is_ascii_digit())
                    && (w.contains('-')
                        || w.ends_with("am")
                        || w.ends_with("pm")
                        || w.ends_with('h')))
                || (w.len() <= 2 && w.chars().all(|c| c.is_ascii_digit()))
        })
}

/// Words that end the workplace phrase.
const ORG_STOP: &[&str] = &[
    "and",
    "but",
    "so",
    "that",
    "that's",
    "thats",
    "who",
    "she",
    "he",
    "they",
    "is",
    "was",
    "tell",
    "go",
    "if",
    "because",
    "lol",
    "lmao",
    "et",
    "mais",
    "qui",
    "il",
    "elle",
    "donc",
    "pour",
    "c'est",
    "c",
    "est",
    "allez",
    "maintenant",
    "now",
    "gets",
    "get",
    "she's",
    "he's",
    "screenshot",
    "parents",
    "wait",
    "ask",
    "let's",
    "lets",
    "year",
    "prevenez",
    "tout",
    "chaque",
    "vers",
    "every",
    "each",
    "tous",
    "everyone",
    "anyone",
    "tonight",
    "ce",
    "soir",
];

/// Words that cannot start a name.
const NAME_STOP: &[&str] = &[
    "her",
    "his",
    "name",
    "is",
    "the",
    "a",
    "my",
    "our",
    "that",
    "this",
    "guy",
    "girl",
    "woman",
    "man",
    "she",
    "he",
    "it's",
    "its",
    "c'est",
    "s'appelle",
    "elle",
    "il",
    "son",
    "sa",
    "nom",
    "est",
    "le",
    "la",
    "mec",
    "meuf",
    "type",
    "called",
    "named",
    "say",
    "hello",
    "to",
    "found",
    "trouvé",
    "trouve",
    "voici",
    "voila",
    "voilà",
    "and",
    "et",
    "meet",
    "by",
    "sorry",
    "new",
    "from",
    "at",
    "in",
    "who",
    "that's",
    "said",
    "says",
    "up",
    "celui",
    "celle",
    "qui",
    "a",
    "lancé",
    "rumeur",
    "remplaçant",
    "remplacant",
    "she's",
    "he's",
    "ex",
    "mon",
    "ma",
    "reporter",
    "journaliste",
    "stalker",
    "our",
    "you",
    "your",
    "ur",
    "u",
    "we",
    "i",
    "me",
    "to",
    "with",
    "avec",
    "anyone",
    "everyone",
    "if",
    "know",
    "not",
    "also",
    "work",
    "works",
    "school",
    "teacher",
    "student",
    "manager",
    "collègue",
    "collegue",
    "of",
];

/// The compiled name + workplace detector.
#[derive(Debug)]
pub(crate) struct WorkplaceDetector {
    re: Regex,
    links: AhoCorasick,
    name_stop: Stops,
    org_stop: Stops,
}

impl WorkplaceDetector {
    pub fn new() -> Result<Self, crate::Error> {
        let re = Regex::builder()
            .configure(Regex::config().hybrid_cache_capacity(64 * (1 << 20)))
            .syntax(syntax::Config::new().case_insensitive(true).unicode(true))
            .build_many(&patterns())
            .map_err(|e| crate::Error::Pattern(e.to_string()))?;
        let links = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(LINKS)
            .map_err(|e| crate::Error::Pattern(e.to_string()))?;
        Ok(WorkplaceDetector {
            re,
            links,
            name_stop: Stops::new(NAME_STOP),
            org_stop: Stops::new(ORG_STOP),
        })
    }

    pub fn find(&self, text: &str, out: &mut Vec<Candidate>) {
        // Whether the text mixes cases: a property of the whole text, worked out once, when
        // the first candidate needs it.
        let mut mixed = None;
        let mut at = 0;
        while at < text.len() {
            let Some(m) = self.re.search(&Input::new(text).span(at..text.len())) else {
                break;
            };
            match trim(self, text, m.start(), m.end(), &mut mixed) {
                Some((s, e)) => {
                    let confidence = if m.pattern().as_usize() < 2 {
                        TITLED
                    } else if tells_when(text, s, e.saturating_add(60)) {
                        PLACE_WHEN_CONFIDENCE
                    } else {
                        PLACE_CONFIDENCE
                    };
                    out.push(Candidate {
                        start: s,
                        end: e,
                        kind: SpanKind::NameWorkplace,
                        confidence,
                        rule: "pii.name_workplace",
                    });
                    at = m.end();
                }
                None => {
                    // Retry just after the first word: the real name may start later.
                    let skip = text[m.start()..]
                        .find(char::is_whitespace)
                        .map_or(m.end(), |i| m.start() + i + 1);
                    at = skip.max(m.start() + 1);
                    while at < text.len() && !text.is_char_boundary(at) {
                        at += 1;
                    }
                }
            }
        }
    }
}

/// A stop-word list, ASCII-lowercased and sorted, with the range of words for each first byte:
/// a lookup compares against the few words sharing the first byte, not ~7 binary-search steps.
#[derive(Debug)]
struct Stops {
    words: Vec<Vec<u8>>,
    by_first: Vec<(usize, usize)>,
}

impl Stops {
    fn new(list: &[&str]) -> Self {
        let mut words: Vec<Vec<u8>> = list
            .iter()
            .map(|s| s.to_ascii_lowercase().into_bytes())
            .collect();
        words.sort();
        words.dedup();
        let mut by_first = vec![(0usize, 0usize); 256];
        for (i, w) in words.iter().enumerate() {
            if let Some(&f) = w.first() {
                let r = &mut by_first[usize::from(f)];
                if r.0 == r.1 {
                    *r = (i, i);
                }
                r.1 = i + 1;
            }
        }
        Stops { words, by_first }
    }

    fn contains(&self, lower: &[u8]) -> bool {
        let Some(&f) = lower.first() else {
            return self.words.iter().any(|w| w.is_empty());
        };
        let (a, b) = self.by_first[usize::from(f)];
        self.words[a..b].iter().any(|w| w.as_slice() == lower)
    }
}

/// Whether `word` (trimmed of surrounding punctuation) is in `list`, ASCII case-insensitively,
/// or is a single char.
fn is_stop(word: &str, list: &Stops) -> bool {
    let w = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
    if w.len() <= 4 && w.chars().count() == 1 {
        return true;
    }
    // No stop word is this long: skip the copy.
    let mut buf = [0u8; 24];
    let Some(lower) = buf.get_mut(..w.len()) else {
        return false;
    };
    lower.copy_from_slice(w.as_bytes());
    lower.make_ascii_lowercase();
    list.contains(lower)
}

/// Trim the raw match to name start .. end of workplace phrase; None when no name remains.
fn trim(
    d: &WorkplaceDetector,
    text: &str,
    s: usize,
    e: usize,
    mixed: &mut Option<bool>,
) -> Option<(usize, usize)> {
    let links = &d.links;
    let m = &text[s..e];
    // Leading non-name words.
    let mut start = s;
    let mut rest = m;
    loop {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..word_end];
        // ASCII case-insensitive compares: what lower-casing a copy and matching it did.
        let bare = word.trim_end_matches('.');
        let is_title = [
            "mr", "mrs", "ms", "miss", "dr", "mme", "mlle", "monsieur", "madame",
        ]
        .iter()
        .any(|t| bare.eq_ignore_ascii_case(t));
        if !is_title && is_stop(word, &d.name_stop) && word_end < rest.len() {
            let skip = word_end + rest[word_end..].len() - rest[word_end..].trim_start().len();
            start += skip;
            rest = &rest[skip..];
        } else {
            break;
        }
    }
    // In mixed-case text, names are capitalised: "whoever returned my scarf" is not a name.
    let mixed = *mixed.get_or_insert_with(|| {
        text.chars().any(|c| c.is_lowercase()) && text.chars().any(|c| c.is_uppercase())
    });
    // Where the link starts in what is left: asked at most once.
    let mut link = None;
    if mixed {
        let name_part = &rest[..link
            .get_or_insert_with(|| find_link(links, rest))
            .unwrap_or(0)];
        let ok = name_part.split_whitespace().all(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_uppercase() || !c.is_alphabetic())
        });
        if !ok || name_part.trim().is_empty() {
            return None;
        }
    }
    // The name must now start with a letter and not be the link itself.
    let first = rest.split_whitespace().next()?;
    let first_clean = first.trim_end_matches(',');
    if is_stop(first_clean, &d.name_stop) && !first_clean.ends_with('.') {
        return None;
    }
    const LINK_FIRST: [&str; 7] = [
        "works",
        "work",
        "travaille",
        "bosse",
        "goes",
        "from",
        "attends",
    ];
    // Unicode lower case only matters for non-ASCII words (the Kelvin sign lower-cases to 'k').
    let link_first = if first_clean.is_ascii() {
        LINK_FIRST
            .iter()
            .any(|l| first_clean.eq_ignore_ascii_case(l))
    } else {
        LINK_FIRST.contains(&first_clean.to_lowercase().as_str())
    };
    if link_first {
        return None;
    }
    // Find where the link starts, then cut the org at punctuation or a stop word.
    let mut link_pos = link.unwrap_or_else(|| find_link(links, rest))?;
    // "… qui bosse à …": the workplace phrase is read from the verb, as without "qui".
    if rest[link_pos..].starts_with(" qui ") {
        link_pos += " qui".len();
    }
    // "Name, son fils est au collège …": the place is read from the verb after the child.
    if KIN_LINKS.iter().any(|k| rest[link_pos..].starts_with(k)) {
        if let Some(v) = [
            " est ",
            " is ",
            " goes ",
            " go ",
            " va ",
            " attends ",
            " attend ",
            " sont ",
        ]
        .iter()
        .filter_map(|v| rest[link_pos..].find(v))
        .min()
        {
            link_pos += v;
        }
    }
    let org_start = start + link_pos;
    let mut end = org_start;
    let mut words_after_link = 0;
    for (i, word) in text[org_start..e]
        .split_inclusive(char::is_whitespace)
        .enumerate()
    {
        let bare = word.trim_end();
        if !bare.chars().any(char::is_alphanumeric) {
            // The link's own punctuation (", shift supervisor at ...").
            end += word.len();
            continue;
        }
        if (i > 2 && is_stop(bare, &d.org_stop)) || words_after_link >= 14 {
            break;
        }
        end += word.len();
        words_after_link += 1;
        if bare.ends_with([',', '.', '!', '?', ';', ':']) {
            end -= word.len() - bare.len() + 1;
            break;
        }
    }
    if words_after_link < 2 {
        return None;
    }
    let trimmed =
        text[start..end].trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == '.');
    Some((start, start + trimmed.len()))
}

/// The words that link a name to a workplace or school ("works", "cashier", "travaille", ...).
const LINKS: &[&str] = &[
    " works",
    " worked",
    " working",
    " is employed",
    " teaches",
    " is a ",
    " is an ",
    " is the ",
    " goes to",
    " attends",
    " studies at",
    " from ",
    ", ",
    " travaille",
    " bosse",
    " taffe",
    " enseigne",
    " est ",
    " va ",
    " il ",
    " elle ",
    " et ",
    " qui bosse",
    " qui travaille",
    " qui taffe",
    " qui enseigne",
    " qui est ",
    " and ",
    " who ",
    ". she",
    ". he",
    " she's at",
    " he's at",
    " - ",
    " – ",
    " — ",
    " coaches",
    " drives",
    " cleans",
    " manages",
    " volunteers",
    " is in ",
    "'s in ",
    " y travaille",
    " he works",
    " she works",
    " @ ",
    "@ ",
    // ", sa fille " and the like start where ", " does, which comes first: only the
    // possessive links through a child need entries of their own (see `KIN_LINKS`).
    "'s son ",
    "'s daughter ",
    " = ",
    ": ",
    " → ",
    " | ",
    "'s at ",
    "’s at ",
    " is at ",
    " are at ",
    " c'est ",
    " sont ",
    " vont ",
    " attend ",
    " go to ",
    " du ",
    " de la ",
    " de l'",
    " des ",
];

/// Links through a child ("Name's son is …", "Name, dont les jumelles sont …"): the place is
/// read from the verb that follows them.
const KIN_LINKS: [&str; 6] = [
    ", sa fille ",
    ", son fils ",
    "'s son ",
    "'s daughter ",
    ", whose ",
    ", dont ",
];

/// Byte offset of the first link word in `rest`.
/// `links` is [`LINKS`] compiled ASCII case-insensitive, leftmost-first: the leftmost match is
/// the first link.
fn find_link(links: &AhoCorasick, rest: &str) -> Option<usize> {
    links.find(rest).map(|m| m.start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_lookup_by_first_byte_agrees_with_a_list_scan() {
        for list in [NAME_STOP, ORG_STOP] {
            let stops = Stops::new(list);
            let mut probes: Vec<String> = list.iter().map(|w| w.to_ascii_lowercase()).collect();
            probes
                .extend(["", "x", "zz", "andy", "an", "é", "chez", "she'", "qu"].map(String::from));
            for p in &probes {
                let want = list.iter().any(|w| w.to_ascii_lowercase() == *p);
                assert_eq!(stops.contains(p.as_bytes()), want, "{p:?}");
            }
        }
    }

    fn find(text: &str) -> Vec<String> {
        let d = WorkplaceDetector::new().expect("compiles");
        let mut out = Vec::new();
        d.find(text, &mut out);
        out.into_iter()
            .map(|c| text[c.start..c.end].to_string())
            .collect()
    }

    /// "Name qui bosse à …", a role the lists gained from posts written apart from the
    /// patterns ("HR coordinator", "le gérant du …"), "elle est en terminale au …".
    #[test]
    fn more_roles_and_links() {
        assert_eq!(
            find("c'est Mehdi Abadie qui bosse à la pharmacie du centre de Rennes"),
            vec!["Mehdi Abadie qui bosse à la pharmacie du centre de Rennes"]
        );
        assert_eq!(
            find("Brenda Storey, HR coordinator at Brightwell Logistics in Leeds"),
            vec!["Brenda Storey, HR coordinator at Brightwell Logistics in Leeds"]
        );
        assert_eq!(
            find("Augustin Fouquet, le gérant du PMU de la place du Martray"),
            vec!["Augustin Fouquet, le gérant du PMU de la place du Martray"]
        );
        assert_eq!(
            find("alexandria giraud, elle est en terminale au lycée victor hugo de poitiers"),
            vec!["alexandria giraud, elle est en terminale au lycée victor hugo de poitiers"]
        );
    }

    #[test]
    fn english_work_and_school() {
        assert_eq!(
            find("Tyler Stevens, shift supervisor at the Costco in Tulsa. That's the guy"),
            vec!["Tyler Stevens, shift supervisor at the Costco in Tulsa"]
        );
        assert_eq!(
            find("her name is katy day and she works the front desk at fletcher's garage in cambridge. go"),
            vec!["katy day and she works the front desk at fletcher's garage in cambridge"]
        );
        assert_eq!(
            find("charlie conway from southampton academy is the one"),
            vec!["charlie conway from southampton academy"]
        );
    }

    #[test]
    fn french_work_and_school() {
        assert_eq!(
            find("michelle boyer, qui bosse chez boulanger a dijon. c'est elle"),
            vec!["michelle boyer, qui bosse chez boulanger"]
        );
        assert_eq!(
            find("Louis Diallo, chef de rayon au Leclerc de Niort. Suivez-le"),
            vec!["Louis Diallo, chef de rayon au Leclerc de Niort"]
        );
        assert_eq!(
            find("c'est Grégoire Allain, inscrit au lycée pro Voltaire de Créteil. Maintenant"),
            vec!["Grégoire Allain, inscrit au lycée pro Voltaire de Créteil"]
        );
        assert_eq!(
            find("Christophe Bernard bosse chez Decathlon Pau, allez-y"),
            vec!["Christophe Bernard bosse chez Decathlon Pau"]
        );
    }

    /// A name beside a shop, chain or school with no job title ("Name, the Tesco by ..."),
    /// or a parent named with their child's school.
    #[test]
    fn name_beside_a_place() {
        for (text, want) in [
            (
                "Randy Jenkins's son is in 7th grade at Lincoln Middle School. Parents should see",
                "Randy Jenkins's son is in 7th grade at Lincoln Middle School",
            ),
            (
                "Emmanuel Dupont, son fils est au collège Jean-Jaurès à Perpignan, en 5e.",
                "Emmanuel Dupont, son fils est au collège Jean-Jaurès",
            ),
            (
                "Kyle Hernandez, night shift at the Kroger on Dixie Highway. Share it.",
                "Kyle Hernandez, night shift at the Kroger on Dixie Highway",
            ),
            (
                "jacob cole, whose twins go to brookside infant school, is the guy",
                "jacob cole, whose twins go to brookside infant school",
            ),
            (
                "Bethany Saunders, the University of Leeds, second year",
                "Bethany Saunders, the University of Leeds",
            ),
            (
                "Sara Simmons, Tesco by the Glasgow retail park, on the tills most evenings",
                "Sara Simmons, Tesco by the Glasgow retail park",
            ),
            (
                "Maureen Brown, the Starbucks on 5th, mornings til 1",
                "Maureen Brown, the Starbucks on 5th",
            ),
            (
                "Natasha Scott's at the Pret on Kingsland Road weekdays",
                "Natasha Scott's at the Pret on Kingsland Road weekdays",
            ),
            (
                "Margot Imbert est à la Poste de Nantes centre, guichet 2",
                "Margot Imbert est à la Poste de Nantes centre",
            ),
            (
                "c'est Richard Paquette du Tim Hortons sur Sainte-Catherine qui a filmé",
                "Richard Paquette du Tim Hortons sur Sainte-Catherine",
            ),
            (
                "Kristin Garcia, 10th grade @ Central High Albany — she's the one",
                "Kristin Garcia, 10th grade @ Central High Albany",
            ),
            (
                "le gamin c'est Richard Chauvin, CM2 à l'école Jules-Ferry d'Angers",
                "Richard Chauvin, CM2 à l'école Jules-Ferry d'Angers",
            ),
            // A parent dropping off or picking up their children; "mom of the X twins".
            (
                "Grégoire Gilbert, il dépose ses enfants au lycée Jacques-Prévert de Mérignac chaque matin",
                "Grégoire Gilbert, il dépose ses enfants au lycée Jacques-Prévert de Mérignac",
            ),
            (
                "Abigail Taylor, mom of the Sullivan twins at Oakridge Middle School, she's the one",
                "Abigail Taylor, mom of the Sullivan twins at Oakridge Middle School",
            ),
            // "de l'" glued to the shop's name; Québec chains.
            (
                "Laetitia Robitaille du Maxi de Lévis, elle sort à 21h",
                "Laetitia Robitaille du Maxi de Lévis",
            ),
            (
                "Océane Techer de l'Auchan de Montreuil, elle finit à 20h",
                "Océane Techer de l'Auchan de Montreuil",
            ),
            (
                "Diane Morin, rayon frais au SAQ de Terrebonne. Elle a balancé ma sœur",
                "Diane Morin, rayon frais au SAQ de Terrebonne",
            ),
        ] {
            assert_eq!(find(text), vec![want], "{text}");
        }
    }

    #[test]
    fn no_name_no_span() {
        assert!(find("We're hiring at Corner Books, apply at the desk.").is_empty());
    }
}
