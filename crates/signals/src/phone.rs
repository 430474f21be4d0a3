//! Phone-number validation against libphonenumber's metadata, compiled once.
//!
//! `phonenumber::is_valid` looks every metadata pattern up in a shared regex cache, which hashes
//! the pattern text on each lookup and takes a mutex; a NANP number walks ~25 regions that way.
//! That was a third of a scan. Here the patterns of the calling codes posts use (+33, +44, +1)
//! are compiled once into anchored `regex_automata` regexes, and the crate's own rules
//! (`validator::source_for` then `number_type != Unknown`) are replayed over them. Only the
//! shapes whose parse is trivial take this path (national number = the digits after the trunk
//! zero or country code); every other candidate goes through `phonenumber` as before, so the
//! verdicts are the same (`tests::same_verdicts_as_phonenumber` checks it on random numbers).

use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use regex_automata::{meta::Regex, Anchored, Input, MatchKind, PatternID, PatternSet};

/// Room in the per-thread pattern set: more than any region's descriptor count.
const SET_CAPACITY: usize = 32;

thread_local! {
    /// The patterns one region search reports, reused from one candidate to the next.
    static SET: std::cell::RefCell<PatternSet> =
        std::cell::RefCell::new(PatternSet::new(SET_CAPACITY));
}

/// One number-type descriptor: possible lengths and the national-number pattern.
#[derive(Debug)]
struct Desc {
    lengths: Vec<u16>,
    re: Regex,
}

impl Desc {
    fn new(d: &Descriptor) -> Result<Self, crate::Error> {
        Ok(Desc {
            lengths: d.possible_length().to_vec(),
            re: anchored(d.national_number().as_str())?,
        })
    }

    /// `Descriptor::is_match`: length allowed, and the pattern matches at the start.
    fn is_match(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && self
                .re
                .is_match(Input::new(national).anchored(Anchored::Yes))
    }
}

/// The metadata's patterns are written with insignificant whitespace, as the crate compiles them.
fn anchored(pattern: &str) -> Result<Regex, crate::Error> {
    Regex::builder()
        .syntax(regex_automata::util::syntax::Config::new().ignore_whitespace(true))
        .build(pattern)
        .map_err(|e| crate::Error::Pattern(format!("phone metadata: {e}")))
}

/// The type descriptors `number_type` tries, in its order.
fn types_of(d: &phonenumber::metadata::Descriptors) -> impl Iterator<Item = &Descriptor> {
    [
        d.premium_rate(),
        d.toll_free(),
        d.shared_cost(),
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
        d.fixed_line(),
        d.mobile(),
    ]
    .into_iter()
    .flatten()
}

/// The metadata of one region.
#[derive(Debug)]
struct Region {
    leading_digits: Option<Regex>,
    general: Desc,
    /// Every descriptor `number_type` tries (premium rate, toll free, ..., fixed line, mobile).
    types: Vec<Desc>,
    /// The general pattern (id 0) and every type's (ids 1..) in one anchored regex reporting
    /// all that match: one search per candidate instead of one per descriptor. Built on first
    /// use (most of the 27 regions are never asked), `None` if it did not build.
    all: std::sync::OnceLock<Option<Regex>>,
    all_patterns: Vec<String>,
}

impl Region {
    fn new(meta: &Metadata) -> Result<Self, crate::Error> {
        let d = meta.descriptors();
        let types = types_of(d).map(Desc::new).collect::<Result<Vec<_>, _>>()?;
        Ok(Region {
            leading_digits: meta
                .leading_digits()
                .map(|r| anchored(r.as_str()))
                .transpose()?,
            general: Desc::new(d.general())?,
            all: std::sync::OnceLock::new(),
            all_patterns: {
                let all: Vec<String> = std::iter::once(d.general())
                    .chain(types_of(d))
                    .map(|t| t.national_number().as_str().to_string())
                    .collect();
                if all.len() > SET_CAPACITY {
                    return Err(crate::Error::Pattern(
                        "phone metadata: too many types".into(),
                    ));
                }
                all
            },
            types,
        })
    }

    fn all(&self) -> Option<&Regex> {
        self.all
            .get_or_init(|| {
                Regex::builder()
                    .configure(Regex::config().match_kind(MatchKind::All))
                    .syntax(regex_automata::util::syntax::Config::new().ignore_whitespace(true))
                    .build_many(&self.all_patterns)
                    .ok()
            })
            .as_ref()
    }

    /// `validator::number_type(meta, national) != Type::Unknown`: the general descriptor
    /// and one type match (each with its possible lengths), from one search of `all`.
    fn valid(&self, national: &str) -> bool {
        let Some(all) = self.all() else {
            return self.valid_one_by_one(national);
        };
        let from_set = SET.try_with(|set| {
            let Ok(mut set) = set.try_borrow_mut() else {
                return None;
            };
            set.clear();
            let input = Input::new(national).anchored(Anchored::Yes);
            all.which_overlapping_matches(&input, &mut set);
            let len = national.len() as u16;
            let hit = |k: usize, d: &Desc| {
                PatternID::new(k).is_ok_and(|p| set.contains(p))
                    && (d.lengths.is_empty() || d.lengths.contains(&len))
            };
            Some(hit(0, &self.general) && (1..).zip(&self.types).any(|(k, d)| hit(k, d)))
        });
        match from_set {
            Ok(Some(v)) => v,
            // Re-entered or torn down: the descriptors one by one, same answer.
            _ => self.valid_one_by_one(national),
        }
    }

    fn valid_one_by_one(&self, national: &str) -> bool {
        self.general.is_match(national) && self.types.iter().any(|d| d.is_match(national))
    }
}

/// The regions of one calling code, in the database's order.
#[derive(Debug)]
struct CallingCode(Vec<Region>);

impl CallingCode {
    fn new(code: u16) -> Result<Self, crate::Error> {
        let ids = DATABASE
            .region(&code)
            .ok_or_else(|| crate::Error::Pattern(format!("phone metadata: no +{code}")))?;
        let regions = ids
            .iter()
            .map(|id| {
                DATABASE
                    .by_id(*id)
                    .ok_or_else(|| crate::Error::Pattern(format!("phone metadata: no {id}")))
                    .and_then(Region::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CallingCode(regions))
    }

    /// `validator::is_valid_with`: pick the region as `source_for` does, then validate there.
    fn valid(&self, national: &str) -> bool {
        if let [only] = self.0.as_slice() {
            return only.valid(national);
        }
        for r in &self.0 {
            match &r.leading_digits {
                Some(ld) => {
                    if ld.is_match(Input::new(national).anchored(Anchored::Yes)) {
                        return r.valid(national);
                    }
                }
                None => {
                    if r.valid(national) {
                        return true;
                    }
                }
            }
        }
        false
    }
}

/// Compiled validators for +33, +44 and +1.
#[derive(Debug)]
pub(crate) struct PhoneValidator {
    fr: CallingCode,
    uk: CallingCode,
    nanp: CallingCode,
}

impl PhoneValidator {
    pub fn new() -> Result<Self, crate::Error> {
        Ok(PhoneValidator {
            fr: CallingCode::new(33)?,
            uk: CallingCode::new(44)?,
            nanp: CallingCode::new(1)?,
        })
    }

    /// The rule name when `digits` (ASCII digits, with a leading `+` for an international
    /// number, `00` already turned into `+`) is a valid number; same verdict as
    /// `phonenumber::parse` + `is_valid` with the regions tried below.
    pub fn validate(&self, digits: &str) -> Option<&'static str> {
        let d = digits.trim_start_matches('+');
        let plus = d.len() != digits.len();
        let b = d.as_bytes();
        if b.is_empty() {
            return None;
        }
        if plus {
            // Country code then national number. A national number that starts with a trunk
            // zero or (for +1) a one is re-parsed by libphonenumber: leave it to the crate.
            let fast = if let Some(n) = d.strip_prefix("33").filter(|n| !n.starts_with('0')) {
                Some(self.fr.valid(n))
            } else if let Some(n) = d.strip_prefix("44").filter(|n| !n.starts_with('0')) {
                Some(self.uk.valid(n))
            } else {
                d.strip_prefix('1')
                    .filter(|n| n.len() == 10 && !n.starts_with(['0', '1']))
                    .map(|n| self.nanp.valid(n))
            };
            return match fast {
                Some(true) => Some("pii.phone.intl"),
                Some(false) => None,
                None => slow(None, digits).then_some("pii.phone.intl"),
            };
        }
        if b[0] == b'0' {
            // A French national number is exactly ten digits with its trunk zero; longer or
            // shorter ones can only be British, so the French metadata is not tried for them.
            let n = &d[1..];
            if n.starts_with('0') {
                // "00..." is an international prefix: the crate's parse decides.
                if b.len() == 10 && slow(Some(phonenumber::country::Id::FR), digits) {
                    return Some("pii.phone.fr");
                }
                return slow(Some(phonenumber::country::Id::GB), digits).then_some("pii.phone.uk");
            }
            if b.len() == 10 && self.fr.valid(n) {
                return Some("pii.phone.fr");
            }
            return self.uk.valid(n).then_some("pii.phone.uk");
        }
        // Parsed as US or as Canadian, a NANP number is the same +1 number and libphonenumber
        // finds its region from the area code either way: one try covers both. Without a
        // leading 1 (national prefix, country code) or 0 (international prefix 011) the parse
        // keeps the digits as they are, whatever their count: the metadata's possible lengths
        // then reject the 8- or 12-digit ones as the crate does, at no parse cost.
        if b[0] != b'1' {
            return self.nanp.valid(d).then_some("pii.phone.nanp");
        }
        slow(Some(phonenumber::country::Id::US), digits).then_some("pii.phone.nanp")
    }
}

/// The crate's own parse and validation, for the shapes not replayed here.
fn slow(country: Option<phonenumber::country::Id>, digits: &str) -> bool {
    phonenumber::parse(country, digits).is_ok_and(|n| phonenumber::is_valid(&n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::country::Id;

    /// The verdict of the code this module replaces.
    fn reference(digits: &str) -> Option<&'static str> {
        let d = digits.trim_start_matches('+').as_bytes();
        let tries: &[(Option<Id>, &'static str)] = if digits.starts_with('+') {
            &[(None, "pii.phone.intl")]
        } else if d[0] == b'0' && d.len() == 10 {
            &[
                (Some(Id::FR), "pii.phone.fr"),
                (Some(Id::GB), "pii.phone.uk"),
            ]
        } else if d[0] == b'0' {
            &[(Some(Id::GB), "pii.phone.uk")]
        } else {
            &[(Some(Id::US), "pii.phone.nanp")]
        };
        tries
            .iter()
            .find(|(c, _)| slow(*c, digits))
            .map(|(_, rule)| *rule)
    }

    #[test]
    fn known_numbers() {
        let v = PhoneValidator::new().expect("metadata compiles");
        assert_eq!(v.validate("0612345678"), Some("pii.phone.fr"));
        assert_eq!(v.validate("0145678910"), Some("pii.phone.fr"));
        assert_eq!(v.validate("02079460018"), Some("pii.phone.uk"));
        assert_eq!(v.validate("07911123456"), Some("pii.phone.uk"));
        assert_eq!(v.validate("4155552671"), Some("pii.phone.nanp"));
        assert_eq!(v.validate("+447911123456"), Some("pii.phone.intl"));
        assert_eq!(v.validate("+33612345678"), Some("pii.phone.intl"));
        assert_eq!(v.validate("+330612345678"), Some("pii.phone.intl"));
        assert_eq!(v.validate("0012345678"), None);
        assert_eq!(v.validate("1234567890"), None);
    }

    /// Random digit strings of every shape the detector produces get the same verdict as
    /// `phonenumber` itself (a fixed-seed generator: the test is repeatable).
    #[test]
    fn same_verdicts_as_phonenumber() {
        let v = PhoneValidator::new().expect("metadata compiles");
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let prefixes = [
            "", "0", "06", "07", "01", "09", "08", "00", "02", "1", "+33", "+44", "+1", "+330",
            "+440", "+11", "+32", "+49", "+33 6", "+447", "4", "5", "6", "415", "212", "604",
            "268", "+1604", "+1268", "+4420", "+337", "+441624", "01624", "01481",
        ];
        let (mut checked, mut valid) = (0, 0);
        for _ in 0..6000 {
            let p = prefixes[(next() % prefixes.len() as u64) as usize].replace(' ', "");
            // Half the strings have a usual length, where valid numbers are frequent.
            let len = if next() % 2 == 0 {
                9 + (next() % 3) as usize
            } else {
                8 + (next() % 8) as usize
            };
            let mut s = p.clone();
            while s.trim_start_matches('+').len() < len {
                s.push(char::from(b'0' + (next() % 10) as u8));
            }
            let got = v.validate(&s);
            assert_eq!(got, reference(&s), "{s}");
            // The one-search region check agrees with the descriptor-by-descriptor one.
            let national = s.trim_start_matches('+');
            for r in v.fr.0.iter().chain(&v.uk.0).chain(&v.nanp.0) {
                assert_eq!(r.valid(national), r.valid_one_by_one(national), "{s}");
            }
            checked += 1;
            valid += usize::from(got.is_some());
        }
        assert_eq!(checked, 6000);
        // Both verdicts are exercised, not only rejections.
        assert!(valid > 600, "only {valid} valid numbers generated");
    }
}
