//! A lexical threat model: logistic regression over the hashed words and word pairs of the
//! folded text, trained offline (`model/train.py`) on the development set and the probe sets
//! of `tests/data/`. The rules of [`crate::decide`] name what they saw; this model catches the
//! threats worded in ways no rule lists ("do you sleep with the doors locked?"), and only
//! counts when it is confident (see [`CONFIDENT`]). Its weights ship inside the binary.
//!
//! Features, exactly as `model/train.py` computes them: tokens are the maximal runs of ASCII
//! lowercase letters, digits and apostrophes of the folded text; each token is hashed with
//! 64-bit FNV-1a (its bucket: the hash's low bits), each pair of adjacent tokens by mixing
//! their two hashes ([`pair`]; its bucket: the mix's high bits), and the first five bytes
//! of each longer token (its stem, FNV-1a from another offset), into one of [`BUCKETS`]
//! buckets. A post's vector holds each bucket's count divided by the square root of the
//! number of features: one pass, no sorting or counting per bucket.

use crate::Error;

/// Number of hash buckets (a power of two).
pub(crate) const BUCKETS: usize = 1 << 16;

/// The probability from which the model's verdict counts as a threat on its own. Chosen with
/// models that had not seen the part they scored (probe sets, and folds of the development set
/// cut by family; `model/README.md`): lower, it flags hard negatives; higher, it misses the
/// threats no rule lists.
pub(crate) const CONFIDENT: f32 = 0.6;

/// The trained weights: "RSM1", bucket count (u32), bias (f32), scale (f32), then one i8
/// weight per bucket (the f32 weight divided by the scale, rounded), all little-endian. One
/// byte a weight keeps the table at 64 KiB, a quarter of the L2 cache the scan shares.
static WEIGHTS: &[u8] = include_bytes!("../model/threat.bin");

#[derive(Debug)]
pub(crate) struct ThreatModel {
    /// A fixed-size array: indexing it with a masked bucket needs no bounds check.
    weights: Box<[i8; BUCKETS]>,
    bias: f32,
    scale: f32,
}

impl ThreatModel {
    pub fn new() -> Result<Self, Error> {
        Self::parse(WEIGHTS)
    }

    fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let bad = |what: &str| Error::Pattern(format!("threat model: {what}"));
        let word = |at: usize| -> Result<[u8; 4], Error> {
            bytes
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .ok_or_else(|| bad("truncated header"))
        };
        if bytes.get(..4) != Some(b"RSM1".as_slice()) {
            return Err(bad("not an RSM1 file"));
        }
        let n = u32::from_le_bytes(word(4)?) as usize;
        if n != BUCKETS {
            return Err(bad("bucket count"));
        }
        let bias = f32::from_le_bytes(word(8)?);
        let scale = f32::from_le_bytes(word(12)?);
        let body = bytes.get(16..).ok_or_else(|| bad("truncated"))?;
        if body.len() != n || !bias.is_finite() || !scale.is_finite() {
            return Err(bad("size or values"));
        }
        let weights: Vec<i8> = body.iter().map(|&b| i8::from_le_bytes([b])).collect();
        let weights: Box<[i8; BUCKETS]> = weights
            .into_boxed_slice()
            .try_into()
            .map_err(|_| bad("size"))?;
        Ok(ThreatModel {
            weights,
            bias,
            scale,
        })
    }

    /// The probability that `folded` is a threat.
    pub fn probability(&self, folded: &str) -> f32 {
        let (mut dot, mut n) = (0i64, 0u32);
        features(folded, |b| {
            dot += i64::from(self.weights[b as usize & (BUCKETS - 1)]);
            n += 1;
        });
        if n == 0 {
            return sigmoid(self.bias);
        }
        sigmoid(self.bias + self.scale * dot as f32 / (n as f32).sqrt())
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Token bytes: ASCII lowercase letters, digits and the apostrophe (one load a byte).
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'\'';
        c += 1;
    }
    t
};

fn is_token_byte(c: u8) -> bool {
    TOKEN[usize::from(c)]
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over `bytes` from `h` (the tests' reference for the hash [`features`] computes as
/// it reads).
#[cfg(test)]
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The hash of a pair of adjacent tokens, from theirs.
fn pair(prev: u64, tok: u64) -> u64 {
    (prev ^ tok.rotate_left(31)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Calls `emit` with the bucket of every token, every pair of adjacent tokens and the stem of
/// every token longer than [`STEM`] bytes, in text order (a token, the pair it ends, its stem).
pub(crate) fn features(folded: &str, mut emit: impl FnMut(u32)) {
    let mask = (BUCKETS - 1) as u64;
    let shift = 64 - BUCKETS.trailing_zeros();
    let mut prev: Option<u64> = None;
    let b = folded.as_bytes();
    let n = b.len();
    let mut i = 0;
    // Token by token: skip to the next token byte, hash the run of token bytes in one tight
    // loop (the FNV multiply chain is the cost), then emit.
    loop {
        while i < n && !is_token_byte(b[i]) {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        let mut h = FNV_OFFSET;
        while i < n && is_token_byte(b[i]) {
            h = (h ^ u64::from(b[i])).wrapping_mul(FNV_PRIME);
            i += 1;
        }
        emit((h & mask) as u32);
        if let Some(p) = prev {
            emit((pair(p, h) >> shift) as u32);
        }
        // The stem of a longer word: "stabbing", "stabbed" and "stabbe" share "stabb",
        // "tuerai" and "tueras" share "tuera".
        if i - start > STEM {
            emit((stem_hash(&b[start..start + STEM]) & mask) as u32);
        }
        prev = Some(h);
    }
}

/// FNV-1a of a stem, from [`STEM_OFFSET`].
fn stem_hash(stem: &[u8]) -> u64 {
    stem.iter().fold(STEM_OFFSET, |h, &c| {
        (h ^ u64::from(c)).wrapping_mul(FNV_PRIME)
    })
}

/// [`features`] as it was first written, a byte at a time: the reference the token-at-a-time
/// version must agree with.
#[cfg(test)]
fn features_bytewise(folded: &str, mut emit: impl FnMut(u32)) {
    let b = folded.as_bytes();
    let mask = (BUCKETS - 1) as u64;
    let shift = 64 - BUCKETS.trailing_zeros();
    let mut prev: Option<u64> = None;
    let mut cur: Option<u64> = None;
    let mut start = 0;
    for (i, &c) in b.iter().chain(std::iter::once(&b' ')).enumerate() {
        if is_token_byte(c) {
            if cur.is_none() {
                start = i;
            }
            let h = cur.unwrap_or(FNV_OFFSET) ^ u64::from(c);
            cur = Some(h.wrapping_mul(FNV_PRIME));
        } else if let Some(h) = cur.take() {
            emit((h & mask) as u32);
            if let Some(p) = prev {
                emit((pair(p, h) >> shift) as u32);
            }
            if i - start > STEM {
                emit((stem_hash(&b[start..start + STEM]) & mask) as u32);
            }
            prev = Some(h);
        }
    }
}

/// Length of a word's stem feature; words of this length or less have none.
const STEM: usize = 5;

/// FNV-1a's offset basis, changed so that a stem and the word it spells hash apart.
const STEM_OFFSET: u64 = FNV_OFFSET ^ 0x55;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_weights_load() {
        let m = ThreatModel::new().expect("weights load");
        assert_eq!(m.weights.len(), BUCKETS);
        assert!(m.weights.iter().any(|&w| w != 0));
    }

    #[test]
    fn malformed_weights_are_refused() {
        assert!(ThreatModel::parse(b"").is_err());
        assert!(ThreatModel::parse(b"RSM1\x00\x00\x01\x00").is_err());
        let mut short = WEIGHTS.to_vec();
        short.pop();
        assert!(ThreatModel::parse(&short).is_err());
    }

    /// FNV-1a 64 of known strings (the reference values of the FNV authors' test suite).
    #[test]
    fn fnv_matches_the_reference() {
        assert_eq!(fnv(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn tokens_and_pairs_in_text_order() {
        let mut got = Vec::new();
        features("i'll  find-you 2 stabbing", |b| got.push(b));
        let f = |s: &str| fnv(FNV_OFFSET, s.as_bytes());
        let h = |s: &str| (f(s) & (BUCKETS as u64 - 1)) as u32;
        let p = |a: &str, b: &str| (pair(f(a), f(b)) >> 48) as u32;
        assert_eq!(
            got,
            vec![
                h("i'll"),
                h("find"),
                p("i'll", "find"),
                h("you"),
                p("find", "you"),
                h("2"),
                p("you", "2"),
                h("stabbing"),
                p("2", "stabbing"),
                (fnv(STEM_OFFSET, b"stabb") & (BUCKETS as u64 - 1)) as u32,
            ]
        );
    }

    /// The token-at-a-time features are the byte-at-a-time ones, on random texts.
    #[test]
    fn features_agree_with_the_bytewise_reference() {
        let mut texts = crate::TestTexts::new("ab'z09 -.é€\u{1}", 40, 0x1234_5678_9abc_def1);
        for _ in 0..20_000 {
            let t = texts.text();
            let (mut got, mut want) = (Vec::new(), Vec::new());
            features(&t, |b| got.push(b));
            features_bytewise(&t, |b| want.push(b));
            assert_eq!(got, want, "{t:?}");
        }
    }

    #[test]
    fn probability_is_a_probability_for_any_text() {
        let m = ThreatModel::new().expect("weights load");
        for t in ["", "a", "é€ 😀", &"word ".repeat(5000)] {
            let p = m.probability(t);
            assert!((0.0..=1.0).contains(&p), "{t:?}: {p}");
        }
    }
}
