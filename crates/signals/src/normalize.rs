//! Text folding for lexicon matching.
//!
//! The lexicons (threat verbs, context cues) are written in one folded form: ASCII lower case,
//! no accents, straight apostrophes, single spaces. [`fold`] maps any post to that form so that
//! `TU ES MORT`, `t'es mòrt`, `k1ll` and `t u e r` all reach the same entries. The folded text
//! is only used to decide *whether* a cue fired; spans are always found on the original text,
//! so the folded text needs no offset map back to the input.

/// Fold `text` into `out` (cleared first): lower case, accents stripped, leetspeak digits
/// inside words mapped to letters, runs of spaced single letters joined (`t r a n s` →
/// `trans`), runs of three or more identical letters shortened to two.
///
/// Hot path of every scan: an ASCII byte costs one table lookup and one compare against the
/// last byte written, with the writer's state in locals; the token a leet digit belongs to is
/// only looked up when one is met.
pub fn fold(text: &str, out: &mut String) {
    fold_ascii(text, out);
}

/// [`fold`], also telling whether `text` is all ASCII (the fold meets every non-ASCII byte
/// anyway; the scan needs the answer for its code-point offsets).
pub(crate) fn fold_ascii(text: &str, out: &mut String) -> bool {
    let mut buf = std::mem::take(out).into_bytes();
    let ascii = fold_into(text, &mut buf);
    // Only whole chars were written, so this never fails; keep `out` valid if it ever did.
    *out = String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    join_spaced_letters(out);
    ascii
}

/// Leet flag in [`ASCII`]: the byte is a digit or `$` that leetspeak maps to a letter.
const LEET: u8 = 0x80;

/// The folded byte of every ASCII byte, with [`LEET`] set on leet digits: one table load
/// replaces the lowercase, whitespace and leet tests of the per-byte loop.
const ASCII: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = match c {
            b'A'..=b'Z' => c + 32,
            b'0' | b'1' | b'3' | b'4' | b'5' | b'7' | b'$' => c | LEET,
            b'\n' | b'\r' | b'\t' => b' ',
            _ => c,
        };
        b += 1;
    }
    t
};

/// Marks, in [`FAST`], the bytes the tight loop hands to the slow path.
const SLOW: u8 = 0xff;

/// [`ASCII`] over all 256 byte values for the tight loop: the folded byte, or [`SLOW`] for leet
/// digits and non-ASCII bytes. Indexed by a `u8`, so no bounds check; no ASCII byte folds to
/// 0xff.
const FAST: [u8; 256] = {
    let mut t = [SLOW; 256];
    let mut b = 0;
    while b < 128 {
        if ASCII[b] & LEET == 0 {
            t[b] = ASCII[b];
        }
        b += 1;
    }
    t
};

/// Writes the folded bytes of `text` into `buf` (all but the spaced-letters join); returns
/// whether `text` is all ASCII.
fn fold_into(text: &str, buf: &mut Vec<u8>) -> bool {
    let mut ascii = true;
    let bytes = text.as_bytes();
    // Written by index into a buffer sized ahead, cut to length at the end: no capacity check
    // and length update per byte. Invariant: `out.len() >= w + (bytes.len() - i) + 2 * STEP`
    // (an ASCII byte writes at most one byte, and the step stores `STEP` bytes at once);
    // the non-ASCII path, which may write more than it reads, grows `out` first.
    let mut out = std::mem::take(buf);
    // Stale bytes past the end are overwritten before they are read; only the missing room
    // is added, by a `memcpy` of zeros (`resize` writes it a byte at a time).
    let need = bytes.len() + 2 * STEP;
    if let Some(k) = need.checked_sub(out.len()) {
        match ZEROS.get(..k) {
            Some(z) => out.extend_from_slice(z),
            None => out.resize(need, 0),
        }
    }
    let mut w = 0;
    // The two bytes last written; a space before the start drops leading spaces.
    let (mut p1, mut p2) = (b' ', 0u8);
    macro_rules! push {
        ($m:expr) => {{
            let m: u8 = $m;
            // Spaces collapse, and a letter repeated more than twice is dropped ("huuuge" ->
            // "huuge", keeping legitimate doubles like "kill").
            if m != p1 || !(m == b' ' || (m == p2 && m.is_ascii_lowercase())) {
                out[w] = m;
                w += 1;
                p2 = p1;
                p1 = m;
            }
        }};
    }
    // Leetspeak is decided per alphanumeric token: "k1ll" (mostly letters) is mapped, "1v1",
    // "dust2" or "192" are not. The last token looked up: its byte range and verdict.
    let mut leet_cache: Option<(usize, usize, bool)> = None;
    let mut i = 0;
    while i < bytes.len() {
        // Plain ASCII text, sixteen bytes a step, up to the first byte that needs a look; that
        // byte (or char) then goes through the per-byte path below and the step is tried again
        // right after it. The last bytes of the text are stepped from a zero-padded copy: a
        // zero byte is a control byte, which stops the step, so nothing past the end is kept.
        loop {
            let (n, lower) = plain_step(&load_padded(bytes, i), p1, p2);
            // All sixteen written, only `n` kept: a fixed-size store, no `memcpy` call.
            if let Some(dst) = out.get_mut(w..w + STEP) {
                dst.copy_from_slice(&lower);
            }
            w += n;
            if n >= 2 {
                (p2, p1) = (lower[n - 2], lower[n - 1]);
            } else if n == 1 {
                (p2, p1) = (p1, lower[0]);
            }
            i += n;
            if n < STEP {
                break;
            }
        }
        let Some(&b) = bytes.get(i) else {
            break;
        };
        // One byte that the step above stopped at (or the tail): plain ASCII first.
        let m = FAST[usize::from(b)];
        if m != SLOW {
            push!(m);
            i += 1;
            continue;
        }
        if b < 0x80 {
            let mut m = ASCII[usize::from(b)];
            i += 1;
            // Leetspeak only between letters or at a word edge touching a letter: "k1ll",
            // "d3ath", "m0rt" but not "192.0.2.1" or "3 days". Checked first: the digits of
            // phone numbers and addresses never need their token looked up.
            if m & LEET != 0
                && (p1.is_ascii_alphabetic()
                    || text[i..].chars().next().is_some_and(char::is_alphabetic))
            {
                m &= !LEET;
                let at = i - 1;
                let leet_token = match leet_cache {
                    Some((s, e, v)) if s <= at && at < e => v,
                    _ => match token_around(text, at) {
                        Some((s, e)) => {
                            let v = leet_worthy(&text[s..]);
                            leet_cache = Some((s, e, v));
                            v
                        }
                        None => false,
                    },
                };
                if leet_token {
                    m = match m {
                        b'0' => b'o',
                        b'1' => b'i',
                        b'3' => b'e',
                        b'4' => b'a',
                        b'5' | b'$' => b's',
                        _ => b't',
                    };
                }
            }
            push!(m & !LEET);
            continue;
        }
        // Every non-ASCII byte of the text gets here (the eight-byte step stops on them).
        ascii = false;
        // Accented Latin-1 letters and the curly apostrophe, the non-ASCII chars of EN/FR
        // posts, by table (what `map_char` gives them).
        if b == 0xc2 || b == 0xc3 {
            let m = bytes.get(i + 1).map_or(0, |&b1| {
                LATIN1[usize::from(b & 1) << 6 | usize::from(b1 & 0x3f)]
            });
            if m != 0 {
                i += 2;
                push!(m);
                continue;
            }
        } else if b == 0xe2 && bytes.get(i + 1..i + 3) == Some(&[0x80, 0x99]) {
            i += 3;
            push!(b'\'');
            continue;
        }
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        i += c.len_utf8();
        // Room for the longest output of one char (an emoji token, two 4-byte chars).
        let room = w + (bytes.len() - i) + 2 * STEP;
        if out.len() < room {
            out.resize(room, 0);
        }
        if let Some(tok) = emoji_token(c) {
            push!(b' ');
            for &t in tok.as_bytes() {
                push!(t);
            }
            push!(b' ');
            continue;
        }
        // Non-ASCII chars do not depend on their neighbours.
        for m in map_char(c, None, None, false).into_iter().flatten() {
            if m.is_ascii() {
                push!(m as u8);
            } else {
                // Written as is: a non-ASCII char neither collapses nor joins anything.
                let mut enc = [0u8; 4];
                let e = m.encode_utf8(&mut enc).as_bytes();
                if let Some(dst) = out.get_mut(w..w + e.len()) {
                    dst.copy_from_slice(e);
                }
                w += e.len();
                (p2, p1) = match *e {
                    [.., x, y] => (x, y),
                    _ => (p1, p2),
                };
            }
        }
    }
    out.truncate(w);
    *buf = out;
    ascii
}

/// Zeros to grow the fold buffer with.
static ZEROS: [u8; 512] = [0; 512];

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
const ONES: u64 = 0x0101_0101_0101_0101;
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
const HIGH: u64 = 0x8080_8080_8080_8080;
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
/// 0x80 in every byte of `v` that is zero, exactly (no borrow between bytes).
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    !(((v & LOW7) + LOW7) | v | LOW7)
}

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
/// 0x80 in every byte of `y` that is `>= n`; every byte of `y` must be `<= 0x7f`, `n >= 1`.
#[inline(always)]
fn at_least(y: u64, n: u8) -> u64 {
    (y + (0x80 - u64::from(n)) * ONES) & HIGH
}

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
/// The SWAR step of [`fold_into`]: for eight input bytes (little-endian in `x`) and the last
/// two bytes written, how many leading bytes are plain (ASCII from `' '` up, not `$` nor a
/// digit next to a letter, and kept by the collapse rules) and their folded (lower-case) value:
/// exactly the bytes the per-byte path would write as their lower-case self.
#[inline(always)]
fn plain_prefix(x: u64, p1: u8, p2: u8) -> (usize, u64) {
    let y = x & LOW7;
    let upper = at_least(y, b'A') & !at_least(y, b'[');
    let l = y | (upper >> 2);
    let control = !at_least(y, b' ') & HIGH;
    let digit = at_least(y, b'0') & !at_least(y, b':');
    let dollar = zero_bytes(y ^ (u64::from(b'$') * ONES));
    // A digit is written as is unless a letter touches it (the leet rule: the last byte
    // written, or the next char, alphabetic); the next byte past the step or a non-ASCII
    // next char is not known here, so those digits stop too. Phone numbers, dates and
    // house numbers stay in the step.
    let letter = at_least(l, b'a') & !at_least(l, b'{');
    let letter_before = (letter << 8) | if p1.is_ascii_alphabetic() { 0x80 } else { 0 };
    let unknown_or_letter_after = (letter >> 8) | ((x & HIGH) >> 8) | (0x80 << 56);
    let leet_digit = digit & (letter_before | unknown_or_letter_after);
    let mut stop = (x & HIGH) | control | leet_digit | dollar;
    // Each byte against the one before it (the last byte written for the first): only a
    // repeat can be dropped, and most steps have none, so the rest is computed on demand.
    let same1 = zero_bytes(l ^ ((l << 8) | u64::from(p1)));
    if same1 != 0 {
        let space = zero_bytes(l ^ (u64::from(b' ') * ONES));
        let same2 = zero_bytes(l ^ ((l << 16) | u64::from(p1) << 8 | u64::from(p2)));
        // A space after a space, a third identical letter: `push!` drops them.
        stop |= same1 & (space | (same2 & letter));
    }
    ((stop.trailing_zeros() / 8) as usize, l)
}

/// Bytes per step of [`plain_step`].
const STEP: usize = 16;

/// The step of [`fold_into`]: for `STEP` input bytes and the last two bytes written, how many
/// leading bytes are plain (ASCII from `' '` up, not `$` nor a digit next to a letter, and kept
/// by the collapse rules) and their folded (lower-case) values: exactly the bytes the per-byte
/// path would write as their lower-case self. A digit before a control or non-ASCII byte, or
/// in the last lane, also stops (the per-byte path decides it).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn plain_step(chunk: &[u8; STEP], p1: u8, p2: u8) -> (usize, [u8; STEP]) {
    // SAFETY: the only requirement of a `#[target_feature]` function is that the CPU has the
    // feature, and this is compiled only where SSE2 is enabled for the whole build (it is part
    // of x86_64).
    unsafe { plain_step_sse2(chunk, p1, p2) }
}

/// Sixteen bytes into an SSE2 register, through `u128` (LLVM makes it one unaligned move), no
/// pointers.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
#[inline]
pub(crate) fn load_sse2(block: &[u8; 16]) -> std::arch::x86_64::__m128i {
    use std::arch::x86_64::*;
    let v = u128::from_le_bytes(*block);
    _mm_set_epi64x((v >> 64) as i64, v as i64)
}

/// All-ones in each lane of `x` whose byte is in `lo..=hi` (ASCII bounds, `lo` > 0, `hi` <
/// 0x7f). Signed compares: non-ASCII bytes are negative, so below every bound.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
#[inline]
pub(crate) fn between_sse2(
    x: std::arch::x86_64::__m128i,
    lo: u8,
    hi: u8,
) -> std::arch::x86_64::__m128i {
    use std::arch::x86_64::*;
    _mm_and_si128(
        _mm_cmpgt_epi8(x, _mm_set1_epi8((lo - 1) as i8)),
        _mm_cmplt_epi8(x, _mm_set1_epi8((hi + 1) as i8)),
    )
}

/// [`plain_step`] in SSE2 registers: sixteen bytes in about as many instructions as the SWAR
/// step takes for eight.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
#[inline]
fn plain_step_sse2(chunk: &[u8; STEP], p1: u8, p2: u8) -> (usize, [u8; STEP]) {
    use std::arch::x86_64::*;
    // Value-only intrinsics, safe inside this function; loads and stores go through `u128`
    // (LLVM makes them one unaligned move each), no pointers.
    let x = load_sse2(chunk);
    let splat = |b: u8| _mm_set1_epi8(b as i8);
    let between = between_sse2;
    let upper = between(x, b'A', b'Z');
    let l = _mm_or_si128(x, _mm_and_si128(upper, splat(0x20)));
    let letter = between(l, b'a', b'z');
    let digit = between(x, b'0', b'9');
    // Control and non-ASCII bytes.
    let control = _mm_cmplt_epi8(x, splat(b' '));
    let dollar = _mm_cmpeq_epi8(x, splat(b'$'));
    // Each byte's predecessor: the byte before it, the last byte written for the first.
    let prev1 = _mm_or_si128(_mm_slli_si128::<1>(l), _mm_cvtsi32_si128(i32::from(p1)));
    // A digit is written as is unless a letter touches it (the leet rule: the last byte
    // written, or the next char, alphabetic); past the last lane, and at a non-ASCII next
    // char, the next char is not known here, so those digits stop too. (Written bytes are
    // folded: a letter among them is lower case.)
    let before = between(prev1, b'a', b'z');
    let last_lane = _mm_set_epi64x(i64::MIN >> 7, 0);
    let after = _mm_or_si128(
        _mm_srli_si128::<1>(_mm_or_si128(letter, control)),
        last_lane,
    );
    let leet_digit = _mm_and_si128(digit, _mm_or_si128(before, after));
    let mut stop = _mm_or_si128(_mm_or_si128(control, dollar), leet_digit);
    // Each byte against the one before it: only a repeat can be dropped, and most steps
    // have none, so the rest is computed on demand.
    let same1 = _mm_cmpeq_epi8(l, prev1);
    if _mm_movemask_epi8(same1) != 0 {
        let space = _mm_cmpeq_epi8(l, splat(b' '));
        let prev2 = _mm_or_si128(
            _mm_slli_si128::<2>(l),
            _mm_cvtsi32_si128(i32::from(p2) | i32::from(p1) << 8),
        );
        let same2 = _mm_cmpeq_epi8(l, prev2);
        // A space after a space, a third identical letter: `push!` drops them.
        let drop = _mm_and_si128(same1, _mm_or_si128(space, _mm_and_si128(same2, letter)));
        stop = _mm_or_si128(stop, drop);
    }
    let stops = (_mm_movemask_epi8(stop) as u32) | 1 << STEP;
    let lo = _mm_cvtsi128_si64(l) as u64;
    let hi = _mm_cvtsi128_si64(_mm_unpackhi_epi64(l, l)) as u64;
    (
        stops.trailing_zeros() as usize,
        (u128::from(lo) | u128::from(hi) << 64).to_le_bytes(),
    )
}

/// [`plain_step`] elsewhere: the eight-byte SWAR step on each half.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn plain_step(chunk: &[u8; STEP], p1: u8, p2: u8) -> (usize, [u8; STEP]) {
    plain_step_swar(chunk, p1, p2)
}

/// The eight-byte SWAR step ([`plain_prefix`]) on each half of a chunk: [`plain_step`] on
/// targets without SSE2.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn plain_step_swar(chunk: &[u8; STEP], p1: u8, p2: u8) -> (usize, [u8; STEP]) {
    let half = |k: usize| {
        let mut h = [0u8; 8];
        h.copy_from_slice(&chunk[k..k + 8]);
        u64::from_le_bytes(h)
    };
    let (n, lo) = plain_prefix(half(0), p1, p2);
    let lo = lo.to_le_bytes();
    let (m, hi) = if n == 8 {
        plain_prefix(half(8), lo[7], lo[6])
    } else {
        (0, 0)
    };
    let mut out = [0u8; STEP];
    out[..8].copy_from_slice(&lo);
    out[8..].copy_from_slice(&hi.to_le_bytes());
    (n + m, out)
}

/// The folded ASCII byte of each char U+0080..=U+00FF (UTF-8 `0xc2 xx` and `0xc3 xx`, at
/// index `(lead & 1) << 6 | (xx & 0x3f)`), or 0 when it folds to anything else (two letters,
/// a non-ASCII letter): built from `map_char`, so the table cannot disagree with it.
static LATIN1: std::sync::LazyLock<[u8; 128]> = std::sync::LazyLock::new(|| {
    let mut t = [0u8; 128];
    for (k, slot) in (0u32..).zip(t.iter_mut()) {
        let Some(c) = char::from_u32(0x80 + k) else {
            continue;
        };
        if emoji_token(c).is_some() {
            continue;
        }
        if let [Some(m), None] = map_char(c, None, None, false) {
            if m.is_ascii() && m != '\0' {
                *slot = m as u8;
            }
        }
    }
    t
});

/// The alphanumeric token the char at `at` belongs to, or for a non-alphanumeric char (`$`)
/// the latest token before it: its byte range.
fn token_around(text: &str, at: usize) -> Option<(usize, usize)> {
    let run_start = |to: usize| {
        text[..to]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| c.is_alphanumeric())
            .last()
            .map_or(to, |(j, _)| j)
    };
    if text[at..].chars().next().is_some_and(char::is_alphanumeric) {
        let len = text[at..]
            .char_indices()
            .find(|&(_, c)| !c.is_alphanumeric())
            .map_or(text.len() - at, |(j, _)| j);
        return Some((run_start(at), at + len));
    }
    let (j, c) = text[..at]
        .char_indices()
        .rev()
        .find(|&(_, c)| c.is_alphanumeric())?;
    let end = j + c.len_utf8();
    Some((run_start(end), end))
}

/// Emoji that carry meaning for the context rules: sports and games.
fn emoji_token(c: char) -> Option<&'static str> {
    match c {
        '⚽' | '🏀' | '🏈' | '🏉' | '🏒' | '🎾' | '🏆' | '🥅' | '🏏' => {
            Some("[sport]")
        }
        '🎮' | '🕹' => Some("[game]"),
        _ => None,
    }
}

/// Whether the alphanumeric token starting `rest` looks like a word with leet digits in it:
/// at least two letters and more letters than digits.
fn leet_worthy(rest: &str) -> bool {
    let (mut letters, mut digits) = (0, 0);
    for c in rest.chars() {
        if c.is_ascii_digit() {
            digits += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        } else {
            break;
        }
    }
    digits > 0 && letters >= 2 && letters > digits
}

fn map_char(
    c: char,
    prev: Option<char>,
    next: Option<char>,
    leet_token: bool,
) -> [Option<char>; 2] {
    if c.is_ascii() {
        let l = c.to_ascii_lowercase();
        let r = match l {
            'a'..='z' | '\'' | '"' | '.' | ',' | '!' | '?' | ':' | ';' | '@' | '-' | '/' => l,
            '0' | '1' | '3' | '4' | '5' | '7' | '$' => {
                // Leetspeak only between letters or at a word edge touching a letter:
                // "k1ll", "d3ath", "m0rt" but not "192.0.2.1" or "3 days".
                let letter_prev = prev.is_some_and(|p| p.is_ascii_alphabetic());
                let letter_next = next.is_some_and(|n| n.is_alphabetic());
                if leet_token && (letter_prev || letter_next) {
                    match l {
                        '0' => 'o',
                        '1' => 'i',
                        '3' => 'e',
                        '4' => 'a',
                        '5' | '$' => 's',
                        '7' => 't',
                        _ => l,
                    }
                } else {
                    l
                }
            }
            '0'..='9' => l,
            '\n' | '\r' | '\t' | ' ' => ' ',
            _ => l,
        };
        return [Some(r), None];
    }
    let r = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'a',
        'ç' | 'Ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
        'ñ' | 'Ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'ø' | 'Ø' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        'œ' | 'Œ' => return [Some('o'), Some('e')],
        'æ' | 'Æ' => return [Some('a'), Some('e')],
        'ß' => return [Some('s'), Some('s')],
        '’' | '‘' | '`' | '´' | 'ʼ' => '\'',
        '“' | '”' | '«' | '»' | '„' => '"',
        '–' | '—' | '‐' => '-',
        '\u{a0}' | '\u{202f}' | '\u{2009}' => ' ',
        _ if c.is_whitespace() => ' ',
        _ if c.is_alphabetic() => c.to_lowercase().next().unwrap_or(c),
        // Emoji and symbols: a space keeps words apart without adding noise.
        _ => ' ',
    };
    [Some(r), None]
}

/// Join runs of at least three single letters separated by single spaces
/// ("i am going to shoot the next m u s l i m" → "... muslim"), a HateCheck spelling variant.
fn join_spaced_letters(s: &mut String) {
    let b = s.as_bytes();
    // Fast exit: most posts have no "x y z" run.
    let has_run = has_spaced_run(b);
    if !has_run {
        return;
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        // Count a run of single letters starting at i.
        let mut j = i;
        let mut n = 0;
        while j < b.len() && is_single(b, j) {
            n += 1;
            if j + 2 < b.len() && b[j + 1] == b' ' && is_single(b, j + 2) {
                j += 2;
            } else {
                j += 1;
                break;
            }
        }
        if n >= 3 {
            let mut k = i;
            while k < j {
                if b[k] != b' ' {
                    out.push(b[k] as char);
                }
                k += 1;
            }
            i = j;
        } else {
            // Copy one (possibly multi-byte) char.
            let ch_len = utf8_len(b[i]);
            out.push_str(&s[i..i + ch_len]);
            i += ch_len;
        }
    }
    *s = out;
}

/// Whether `b` holds three lone letters separated by single spaces. Candidates are two spaces
/// two bytes apart, found sixteen bytes at a time and only then checked byte by byte.
fn has_spaced_run(b: &[u8]) -> bool {
    let check = |i: usize| {
        i + 4 < b.len()
            && b[i + 1] == b' '
            && b[i + 3] == b' '
            && is_single(b, i)
            && is_single(b, i + 2)
            && is_single(b, i + 4)
    };
    // Windows of sixteen bytes, fourteen apart: every pair of bytes two apart lies in one. The
    // last window is a zero-padded copy (a zero is no space).
    let mut o = 0;
    while o + 2 < b.len() {
        let spaces = eq_mask(&load_padded(b, o), b' ');
        // Bit k: spaces at k and k + 2, for the fourteen k whose pair is in the window.
        let mut pairs = spaces & (spaces >> 2) & 0x3fff;
        while pairs != 0 {
            let k = o + pairs.trailing_zeros() as usize;
            if k >= 1 && check(k - 1) {
                return true;
            }
            pairs &= pairs - 1;
        }
        o += STEP - 2;
    }
    false
}

/// The `STEP` bytes of `b` from `at`, zeros past its end.
#[inline(always)]
fn load_padded(b: &[u8], at: usize) -> [u8; STEP] {
    if let Some(c) = b.get(at..at + STEP) {
        return c.try_into().unwrap_or([0; STEP]);
    }
    let rest = b.len().saturating_sub(at);
    // The text's last `STEP` bytes shifted down: no `memcpy` call for the tail of a text.
    if let (Some(last), 1..STEP) = (b.len().checked_sub(STEP).and_then(|s| b.get(s..)), rest) {
        let last: [u8; STEP] = last.try_into().unwrap_or([0; STEP]);
        return (u128::from_le_bytes(last) >> (8 * (STEP - rest))).to_le_bytes();
    }
    let mut t = [0u8; STEP];
    if let (Some(dst), Some(src)) = (t.get_mut(..rest), b.get(at..)) {
        dst.copy_from_slice(src);
    }
    t
}

/// Bit k set when `chunk[k] == byte`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn eq_mask(chunk: &[u8; STEP], byte: u8) -> u32 {
    // SAFETY: as for `plain_step`: SSE2 is enabled for the whole build.
    unsafe { eq_mask_sse2(chunk, byte) }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
#[inline]
fn eq_mask_sse2(chunk: &[u8; STEP], byte: u8) -> u32 {
    use std::arch::x86_64::*;
    let v = u128::from_le_bytes(*chunk);
    let x = _mm_set_epi64x((v >> 64) as i64, v as i64);
    _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(byte as i8))) as u32
}

/// [`eq_mask`] without SSE2.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn eq_mask(chunk: &[u8; STEP], byte: u8) -> u32 {
    chunk
        .iter()
        .rev()
        .fold(0, |m, &c| m << 1 | u32::from(c == byte))
}

/// A lone ASCII letter: a letter with no letter or apostrophe on either side.
fn is_single(b: &[u8], i: usize) -> bool {
    b[i].is_ascii_alphabetic()
        && (i == 0 || b[i - 1] == b' ')
        && (i + 1 == b.len()
            || b[i + 1] == b' '
            || b[i + 1].is_ascii_punctuation() && b[i + 1] != b'\'')
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::fold;

    /// The straightforward per-char implementation the fast [`fold`] must agree with.
    fn fold_reference(text: &str, out: &mut String) {
        out.clear();
        out.reserve(text.len() + 8);
        let mut prev: Option<char> = None;
        let mut run = 0usize;
        let mut chars = text.char_indices().peekable();
        // Leetspeak is decided per alphanumeric token: "k1ll" (mostly letters) is mapped, "1v1",
        // "dust2" or "192" are not.
        let mut leet_token = false;
        let mut in_token = false;
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|&(_, n)| n);
            if c.is_alphanumeric() {
                if !in_token {
                    in_token = true;
                    leet_token = super::leet_worthy(&text[i..]);
                }
            } else {
                in_token = false;
            }
            if let Some(tok) = super::emoji_token(c) {
                for t in [" ", tok, " "] {
                    if t == " " && (out.ends_with(' ') || out.is_empty()) {
                        continue;
                    }
                    out.push_str(t);
                }
                prev = Some(' ');
                run = 0;
                continue;
            }
            let mapped = super::map_char(c, prev, next, leet_token);
            for m in mapped.iter().flatten() {
                let m = *m;
                if m == ' ' {
                    if out.ends_with(' ') || out.is_empty() {
                        continue;
                    }
                } else if Some(m) == prev && m.is_ascii_alphabetic() {
                    run += 1;
                    if run >= 2 {
                        // "huuuge" -> "huuge": keeps legitimate doubles ("kill") intact.
                        continue;
                    }
                } else {
                    run = 0;
                }
                out.push(m);
                prev = Some(m);
            }
        }
        super::join_spaced_letters(out);
    }

    #[test]
    fn fast_fold_agrees_with_the_reference() {
        let samples = [
            "T'ES MORT, Émilie",
            "k1ll d3ath m0rt 192.0.2.1 in 3 days 1v1 dust2",
            "a$$ k$ll 5t0p",
            "t u e r les g e n s",
            "Huuuuge   thanks\n\tok",
            "⚽ match 🎮 ce soir ⚽⚽",
            "Œuvre ßtraße æ",
            "l’adresse «ici» — ok",
            "",
            " ",
            "x",
            "7a",
            "a7",
            "é7a",
            "ABC\u{a0}DEF\u{202f}G",
            "日本語 テスト k1ll",
            "I'M GONNA K1LL U 2NITE!!!",
            "z z z z",
            "aaa bbb ccc",
            "1a2b3c4d",
            "$$$",
            "é é é é",
        ];
        let mut fast = String::new();
        let mut same_as_reference = |s: &str| {
            fold(s, &mut fast);
            let mut slow = String::new();
            fold_reference(s, &mut slow);
            assert_eq!(fast, slow, "input {s:?}");
        };
        for s in samples {
            same_as_reference(s);
        }
        // Pseudo-random strings over a small alphabet that exercises every branch.
        let mut texts = crate::TestTexts::new(
            "aAbzZ 0134579$.,'\n\té€⚽🎮ŒßK  tT",
            24,
            0x9e37_79b9_7f4a_7c15,
        );
        for _ in 0..20_000 {
            same_as_reference(&texts.text());
        }
        // Longer texts over mostly plain ASCII (the eight-byte step, with runs of spaces and
        // letters across its edges) and the chars the Latin-1 and apostrophe tables cover.
        let mut texts = crate::TestTexts::new(
            "aaaAbcdeEfghijklmnoOpqrstuvwxyzZ  ..!!\"'-?,;:(1234567890$\n\t\u{7f}\u{1}é’«»\u{a0}×ÀÇªµßæÿÞ‘",
            70,
            0x2545_f491_4f6c_dd1d,
        );
        for _ in 0..30_000 {
            same_as_reference(&texts.text());
        }
    }

    /// How many leading bytes of `chunk` the step may keep, byte by byte: `exact` is the
    /// bytes the per-byte path writes as their lower-case self (a digit next to a non-ASCII
    /// byte or in the last lane counts as touching a letter: the step cannot see that char),
    /// `sse` also stops a digit before a control byte.
    fn plain_model(chunk: &[u8; super::STEP], p1: u8, p2: u8, sse: bool) -> usize {
        let (mut q1, mut q2) = (p1, p2);
        for (k, &x) in chunk.iter().enumerate() {
            let l = x.to_ascii_lowercase();
            let next = chunk.get(k + 1).copied();
            let digit_stops = x.is_ascii_digit()
                && (q1.is_ascii_alphabetic()
                    || next
                        .is_none_or(|n| n.is_ascii_alphabetic() || n >= 0x80 || (sse && n < b' ')));
            let dropped = l == q1 && (l == b' ' || (l == q2 && l.is_ascii_lowercase()));
            if !(b' '..0x80).contains(&x) || x == b'$' || digit_stops || dropped {
                return k;
            }
            (q2, q1) = (q1, l);
        }
        chunk.len()
    }

    /// The sixteen-byte step (SSE2 on x86_64) and the SWAR step keep exactly the bytes the
    /// model says, lower-cased, on random chunks with random last bytes written.
    #[test]
    fn plain_steps_agree_with_the_byte_model() {
        let mut texts = crate::TestTexts::new("x", 2, 0x9e37_79b9_7f4a_7c15);
        let alphabet = b"aAzZ@[`{ 09/:$\x00\x1f\x7f\x80\xc3\xffeeEE  11lLtT";
        for round in 0..200_000 {
            let mut chunk = [0u8; super::STEP];
            for c in chunk.iter_mut() {
                *c = alphabet[(texts.number() % alphabet.len() as u64) as usize];
            }
            // Long plain stretches too, so that full steps are exercised.
            if round % 3 == 0 {
                let cut = (texts.number() % 17) as usize;
                for c in chunk.iter_mut().take(cut) {
                    *c = b"abcdefgh Hello, World"
                        .get(*c as usize % 21)
                        .copied()
                        .unwrap_or(b'a');
                }
            }
            let p1 =
                alphabet[(texts.number() % alphabet.len() as u64) as usize].to_ascii_lowercase();
            let p2 =
                alphabet[(texts.number() % alphabet.len() as u64) as usize].to_ascii_lowercase();
            let lower: Vec<u8> = chunk.iter().map(u8::to_ascii_lowercase).collect();
            let (n, got) = super::plain_step(&chunk, p1, p2);
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            assert_eq!(n, plain_model(&chunk, p1, p2, true), "{chunk:?} {p1} {p2}");
            assert!(
                n <= plain_model(&chunk, p1, p2, false),
                "{chunk:?} {p1} {p2}"
            );
            assert_eq!(got[..n], lower[..n], "{chunk:?}");
            let (n, got) = super::plain_step_swar(&chunk, p1, p2);
            assert!(
                n <= plain_model(&chunk, p1, p2, false),
                "{chunk:?} {p1} {p2}"
            );
            assert_eq!(got[..n], lower[..n], "{chunk:?}");
        }
    }

    /// The ASCII answer of the fold is `str::is_ascii`.
    #[test]
    fn fold_tells_whether_the_text_is_ascii() {
        let mut texts = crate::TestTexts::new("ab Z 019$.é’«⚽日", 30, 0x9e37_79b9_7f4a_7c15);
        let mut out = String::new();
        for _ in 0..20_000 {
            let s = texts.text();
            assert_eq!(super::fold_ascii(&s, &mut out), s.is_ascii(), "{s:?}");
        }
    }

    /// Every entry of the Latin-1 table is what `map_char` gives that char.
    #[test]
    fn latin1_table_agrees_with_map_char() {
        for cp in 0x80u32..=0xff {
            let c = char::from_u32(cp).expect("a char");
            let mut enc = [0u8; 4];
            let e = c.encode_utf8(&mut enc).as_bytes();
            let m = super::LATIN1[usize::from(e[0] & 1) << 6 | usize::from(e[1] & 0x3f)];
            if m != 0 {
                assert_eq!(
                    super::map_char(c, None, None, false),
                    [Some(m as char), None],
                    "{c:?}"
                );
            }
        }
    }

    /// The SWAR candidate search finds every run the byte-by-byte scan finds, at any offset.
    #[test]
    fn spaced_run_search_agrees_with_a_plain_scan() {
        let plain = |b: &[u8]| {
            (0..b.len()).any(|i| {
                i + 4 < b.len()
                    && b[i + 1] == b' '
                    && b[i + 3] == b' '
                    && super::is_single(b, i)
                    && super::is_single(b, i + 2)
                    && super::is_single(b, i + 4)
            })
        };
        let mut texts = crate::TestTexts::new("ab  .'x", 30, 0x2545_f491_4f6c_dd1d);
        let mut found = 0;
        for _ in 0..50_000 {
            let s = texts.text().into_bytes();
            let want = plain(&s);
            assert_eq!(
                super::has_spaced_run(&s),
                want,
                "{:?}",
                String::from_utf8_lossy(&s)
            );
            found += usize::from(want);
        }
        assert!(found > 100, "runs exercised: {found}");
    }

    fn f(s: &str) -> String {
        let mut out = String::new();
        fold(s, &mut out);
        out
    }

    #[test]
    fn lowercases_and_strips_accents() {
        assert_eq!(f("T'ES MORT, Émilie"), "t'es mort, emilie");
        assert_eq!(f("Je vais brûler ta maison"), "je vais bruler ta maison");
        assert_eq!(f("l’adresse"), "l'adresse");
    }

    #[test]
    fn maps_leetspeak_inside_words_only() {
        assert_eq!(f("I want to k1ll all"), "i want to kill all");
        assert_eq!(f("D3ath to"), "death to");
        assert_eq!(f("M0rt à"), "mort a");
        assert_eq!(f("192.0.2.1 in 3 days"), "192.0.2.1 in 3 days");
        assert_eq!(f("1v1 me on dust2"), "1v1 me on dust2");
    }

    #[test]
    fn joins_spaced_letters() {
        assert_eq!(
            f("shoot the next M u s l i m I see"),
            "shoot the next muslimi see"
        );
        assert_eq!(f("Je veux t u e r toutes"), "je veux tuer toutes");
        // Two single letters are not a run: "a b" stays.
        assert_eq!(f("a b test"), "a b test");
    }

    #[test]
    fn shortens_letter_runs_and_spaces() {
        assert_eq!(f("Huuuuge   thanks"), "huuge thanks");
        assert_eq!(f("dors biien 🔪🔪"), "dors biien ");
    }
}
