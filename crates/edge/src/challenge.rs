//! Challenge ("under attack") mode: a proof-of-work page that browsers solve once, after which a
//! signed clearance cookie lets them through. Nothing is stored at the edge.
//!
//! # Protocol
//! * A challenged request gets a **challenge token**: `base64url(payload) "." base64url(mac)`,
//!   the payload being `challenge|zone|client prefix|issued (Unix s)|nonce|difficulty`, the MAC
//!   HMAC-SHA256 under the edge's key. The client prefix is the /24 of an IPv4 address or the
//!   /64 of an IPv6 one, so a client whose address changes inside its network stays cleared.
//! * The client finds a decimal `solution` such that `SHA-256(token ":" solution)` starts with
//!   `difficulty` zero bits, and sends `token`, `solution` (and `return`, the path to go back
//!   to) to [`SUBMIT_PATH`] (POST form, POST JSON, or GET query). Browsers do it with the small
//!   inline script of the page (no third-party script; the page's CSP allows only that script
//!   and style, by hash).
//! * Without JavaScript, the page refreshes itself to [`SUBMIT_PATH`] with the token and no
//!   solution after `[challenge] nojs_wait_s`; the edge accepts such an answer only once that
//!   many seconds have passed since the token's issue time (signed, so nothing is stored).
//! * A token is answerable for `token_ttl_s` only; a replay after that fails. A right answer
//!   sets the **clearance cookie** [`COOKIE`]: `clearance|zone|client prefix|expiry` sealed the
//!   same way (a different first field, so a token is never a cookie). It is checked with a
//!   constant-time MAC comparison, then zone, prefix and expiry: a forged cookie, one from
//!   another zone or network, or an expired one fails and the client is challenged again.
//! * Clients that ask for JSON get 503 (zone mode) or 429 (rate limit, rule) with the challenge
//!   parameters instead of the page.
//!
//! The key comes from `[challenge] secret_file`, or is made at start: edges serving the same
//! zones behind one name (a fleet, or a graceful upgrade) need the same key file, or a client
//! cleared by one is challenged again by the next.
//!
//! # Calling it from another layer
//! [`enforce`] is the one call a layer needs: it returns `Ok(false)` when the request carries a
//! valid clearance (go on), or writes the challenge and returns `Ok(true)` (the request is
//! answered; set `decided_by = "challenge"`). [`cleared`] and [`respond`] are its two halves.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use pingora::http::ResponseHeader;
use pingora::protocols::l4::socket::SocketAddr as PSocketAddr;
use pingora::proxy::Session;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::{self, ChallengeMode, EdgeConfig};
use crate::metrics::Metrics;
use crate::pages::{escape, wants_json, Lang};
use crate::state::EdgeState;
use crate::zones::Zone;

/// Where answers are sent, on every zone's hosts.
pub const SUBMIT_PATH: &str = "/.rempart/challenge";
/// The clearance cookie's name.
pub const COOKIE: &str = "rempart_clearance";
/// The proof-of-work's name in JSON challenges.
pub const ALGORITHM: &str = "sha256-leading-zero-bits";

const TOKEN_KIND: &str = "challenge";
const CLEARANCE_KIND: &str = "clearance";
/// Longest sealed value accepted (tokens are about 150 bytes).
const MAX_SEALED: usize = 1024;
/// Largest answer body read.
const MAX_BODY: usize = 8 * 1024;
/// Issue times this far in the future are accepted (clock skew between edges of a fleet).
const SKEW_S: u64 = 30;

type HmacSha256 = Hmac<Sha256>;

/// What made the edge challenge a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The zone's `mode = "always"`.
    Always,
    /// The zone's `mode = "auto"`, above its threshold.
    Auto,
    /// A rate limit with `action = "challenge"`; seconds until the limit would pass.
    RateLimit(u64),
    /// A request rule with the challenge action.
    Rule,
}

impl Trigger {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Trigger::Always => "always",
            Trigger::Auto => "auto",
            Trigger::RateLimit(_) => "rate_limit",
            Trigger::Rule => "rule",
        }
    }

    /// `challenge:<label>`, the access log's restriction, made once.
    pub fn restriction(self) -> Arc<str> {
        static MADE: OnceLock<[Arc<str>; 4]> = OnceLock::new();
        let made = MADE.get_or_init(|| {
            ["always", "auto", "rate_limit", "rule"].map(|l| Arc::from(format!("challenge:{l}")))
        });
        made[self.index()].clone()
    }

    fn index(self) -> usize {
        match self {
            Trigger::Always => 0,
            Trigger::Auto => 1,
            Trigger::RateLimit(_) => 2,
            Trigger::Rule => 3,
        }
    }

    /// 503 while the zone is under attack, 429 for one client over a limit.
    pub fn status(self) -> u16 {
        match self {
            Trigger::Always | Trigger::Auto => 503,
            Trigger::RateLimit(_) | Trigger::Rule => 429,
        }
    }
}

/// Why an answer or a clearance was refused (the `reason` label of the failure metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a token or cookie of this edge's format.
    Malformed,
    /// The MAC does not match: forged or signed with another key.
    Forged,
    /// Signed for another zone.
    WrongZone,
    /// Signed for another client network.
    WrongPrefix,
    /// Past its validity.
    Expired,
    /// The solution does not have enough leading zero bits.
    WrongSolution,
    /// A no-JavaScript answer before the wait was over.
    TooEarly,
    /// A no-JavaScript answer while the fallback is off.
    NoFallback,
}

impl Refusal {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Forged => "forged",
            Refusal::WrongZone => "wrong_zone",
            Refusal::WrongPrefix => "wrong_prefix",
            Refusal::Expired => "expired",
            Refusal::WrongSolution => "wrong_solution",
            Refusal::TooEarly => "too_early",
            Refusal::NoFallback => "no_fallback",
        }
    }
}

/// A verified challenge token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// When it was issued (Unix seconds).
    pub issued: u64,
    /// The leading zero bits asked for.
    pub difficulty: u8,
}

/// Seals and opens tokens and cookies with one HMAC key.
pub struct Signer<'a> {
    key: &'a [u8],
}

impl<'a> Signer<'a> {
    /// A signer with `key`.
    pub fn new(key: &'a [u8]) -> Self {
        Signer { key }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; this cannot fail.
        HmacSha256::new_from_slice(self.key).expect("HMAC accepts any key length")
    }

    fn seal(&self, payload: &str) -> String {
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The payload's fields, after a constant-time check of the MAC.
    fn open(&self, sealed: &str, kind: &str) -> Result<Vec<String>, Refusal> {
        if sealed.len() > MAX_SEALED {
            return Err(Refusal::Malformed);
        }
        let (payload, tag) = sealed.split_once('.').ok_or(Refusal::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Refusal::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| Refusal::Malformed)?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag).map_err(|_| Refusal::Forged)?;
        let text = String::from_utf8(payload).map_err(|_| Refusal::Malformed)?;
        let fields: Vec<String> = text.split('|').map(str::to_string).collect();
        if fields.first().map(String::as_str) != Some(kind) {
            return Err(Refusal::Malformed);
        }
        Ok(fields)
    }

    /// A challenge token for a client (its network, see [`client_prefix`]; `-` without an IP
    /// address) with a fresh random nonce, written into `buf` without allocating. `None` when
    /// it does not fit (a zone name of hundreds of bytes): use [`Self::challenge_token`].
    pub fn challenge_token_into<'b>(
        &self,
        buf: &'b mut TokenBuf,
        zone: &str,
        ip: Option<IpAddr>,
        issued: u64,
        difficulty: u8,
    ) -> Option<&'b str> {
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        self.token_with_nonce(buf, zone, ip, issued, &nonce, difficulty)
    }

    fn token_with_nonce<'b>(
        &self,
        buf: &'b mut TokenBuf,
        zone: &str,
        ip: Option<IpAddr>,
        issued: u64,
        nonce: &[u8; 16],
        difficulty: u8,
    ) -> Option<&'b str> {
        use std::io::Write;
        let mut payload = [0u8; MAX_SEALED];
        let len = {
            let mut w = std::io::Cursor::new(&mut payload[..]);
            match ip {
                Some(ip) => write!(w, "{TOKEN_KIND}|{zone}|{}|{issued}|", Prefix(ip)),
                None => write!(w, "{TOKEN_KIND}|{zone}|-|{issued}|"),
            }
            .ok()?;
            let mut n = [0u8; 22];
            URL_SAFE_NO_PAD.encode_slice(nonce, &mut n).ok()?;
            w.write_all(&n).ok()?;
            write!(w, "|{difficulty}").ok()?;
            usize::try_from(w.position()).ok()?
        };
        let payload = payload.get(..len)?;
        let mut mac = self.mac();
        mac.update(payload);
        let tag = mac.finalize().into_bytes();
        let out = &mut buf.0;
        let n = URL_SAFE_NO_PAD.encode_slice(payload, &mut out[..]).ok()?;
        *out.get_mut(n)? = b'.';
        let m = URL_SAFE_NO_PAD
            .encode_slice(tag, out.get_mut(n + 1..)?)
            .ok()?;
        std::str::from_utf8(out.get(..n + 1 + m)?).ok()
    }

    /// A challenge token.
    pub fn challenge_token(
        &self,
        zone: &str,
        prefix: &str,
        issued: u64,
        nonce: &str,
        difficulty: u8,
    ) -> String {
        self.seal(&format!(
            "{TOKEN_KIND}|{zone}|{prefix}|{issued}|{nonce}|{difficulty}"
        ))
    }

    /// A clearance cookie value.
    pub fn clearance(&self, zone: &str, prefix: &str, expires: u64) -> String {
        self.seal(&format!("{CLEARANCE_KIND}|{zone}|{prefix}|{expires}"))
    }

    /// Verifies a token for this zone and client network, answerable for `ttl` seconds.
    pub fn check_token(
        &self,
        token: &str,
        zone: &str,
        prefix: &str,
        now: u64,
        ttl: u64,
    ) -> Result<Token, Refusal> {
        let f = self.open(token, TOKEN_KIND)?;
        let [_, z, p, issued, _nonce, difficulty] = f.as_slice() else {
            return Err(Refusal::Malformed);
        };
        let issued: u64 = issued.parse().map_err(|_| Refusal::Malformed)?;
        let difficulty: u8 = difficulty.parse().map_err(|_| Refusal::Malformed)?;
        if z != zone {
            return Err(Refusal::WrongZone);
        }
        if p != prefix {
            return Err(Refusal::WrongPrefix);
        }
        if issued > now.saturating_add(SKEW_S) || now > issued.saturating_add(ttl) {
            return Err(Refusal::Expired);
        }
        Ok(Token { issued, difficulty })
    }

    /// Verifies a clearance for this zone and client network; gives its expiry.
    pub fn check_clearance(
        &self,
        cookie: &str,
        zone: &str,
        prefix: &str,
        now: u64,
    ) -> Result<u64, Refusal> {
        let f = self.open(cookie, CLEARANCE_KIND)?;
        let [_, z, p, expires] = f.as_slice() else {
            return Err(Refusal::Malformed);
        };
        let expires: u64 = expires.parse().map_err(|_| Refusal::Malformed)?;
        if z != zone {
            return Err(Refusal::WrongZone);
        }
        if p != prefix {
            return Err(Refusal::WrongPrefix);
        }
        if now >= expires {
            return Err(Refusal::Expired);
        }
        Ok(expires)
    }
}

/// Room for a challenge token on the stack (a longer one could not be opened anyway).
pub struct TokenBuf([u8; MAX_SEALED]);

impl TokenBuf {
    /// An empty buffer.
    pub fn new() -> TokenBuf {
        TokenBuf([0; MAX_SEALED])
    }
}

impl Default for TokenBuf {
    fn default() -> Self {
        TokenBuf::new()
    }
}

/// The client network a token or clearance is bound to: the /24 of IPv4, the /64 of IPv6.
pub fn client_prefix(ip: IpAddr) -> String {
    Prefix(ip).to_string()
}

/// [`client_prefix`], written where it goes without a `String`.
struct Prefix(IpAddr);

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.to_canonical() {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                write!(f, "{a}.{b}.{c}.0/24")
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                write!(f, "{net}/64")
            }
        }
    }
}

/// Leading zero bits of a digest.
pub fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for b in digest {
        if *b == 0 {
            bits += 8;
        } else {
            return bits + b.leading_zeros();
        }
    }
    bits
}

/// Whether `solution` (decimal) solves `token` at `difficulty`.
pub fn solution_ok(token: &str, solution: &str, difficulty: u8) -> bool {
    if solution.is_empty() || solution.len() > 20 || !solution.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digest = Sha256::new()
        .chain_update(token.as_bytes())
        .chain_update(b":")
        .chain_update(solution.as_bytes())
        .finalize();
    leading_zero_bits(&digest) >= u32::from(difficulty)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn mono_secs() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs()
}

/// The edge-wide part: the key made at start when the configuration names no key file.
pub struct Challenges {
    generated: Arc<Vec<u8>>,
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Challenges")
    }
}

impl Default for Challenges {
    fn default() -> Self {
        let mut key = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Challenges {
            generated: Arc::new(key),
        }
    }
}

impl Challenges {
    /// The key in force: the configured file's (re-read on reload), else the generated one.
    pub fn key(&self, config: &EdgeConfig) -> Arc<Vec<u8>> {
        config
            .challenge
            .key
            .0
            .clone()
            .unwrap_or_else(|| self.generated.clone())
    }
}

/// The automatic mode's request counter and its hysteresis.
struct Auto {
    threshold: u64,
    release: u64,
    cool_down: u64,
    /// The second (since start) being counted, and its count so far.
    second: AtomicU64,
    count: AtomicU64,
    /// Calm seconds in a row while active; only the first request of a second touches it.
    calm: Mutex<u64>,
}

/// A zone's challenge mode at run time.
pub struct ZoneChallenge {
    zone: String,
    mode: ChallengeMode,
    /// The zone's own difficulty, if set.
    pub difficulty: Option<u8>,
    active: AtomicBool,
    auto: Option<Auto>,
    metrics: Metrics,
    /// `challenges_issued_total` by trigger ([`Trigger::index`]), resolved once.
    issued: [prometheus::IntCounter; 4],
    /// The page per language (English, French), rendered at first use and again when the
    /// settings it shows change.
    pages: [arc_swap::ArcSwapOption<Template>; 2],
}

impl ZoneChallenge {
    /// From the zone's `[zone.challenge]`.
    pub fn new(zone: &str, c: &config::ZoneChallenge, metrics: &Metrics) -> Self {
        let auto = (c.mode == ChallengeMode::Auto).then(|| {
            let threshold = c.threshold_rps.as_ref().map_or(1, |t| *t.get_ref()).max(1);
            Auto {
                threshold,
                release: c
                    .release_rps
                    .as_ref()
                    .map_or(threshold / 2, |r| *r.get_ref()),
                cool_down: c.cool_down_s.max(1),
                second: AtomicU64::new(mono_secs()),
                count: AtomicU64::new(0),
                calm: Mutex::new(0),
            }
        });
        let always = c.mode == ChallengeMode::Always;
        metrics
            .challenge_mode_active
            .with_label_values(&[zone])
            .set(i64::from(always));
        ZoneChallenge {
            zone: zone.to_string(),
            mode: c.mode,
            difficulty: c.difficulty.as_ref().map(|d| *d.get_ref()),
            active: AtomicBool::new(always),
            auto,
            metrics: metrics.clone(),
            issued: ["always", "auto", "rate_limit", "rule"]
                .map(|t| metrics.challenges_issued.with_label_values(&[zone, t])),
            pages: Default::default(),
        }
    }

    /// The counter of challenges issued for `trigger`.
    fn issued(&self, trigger: Trigger) -> &prometheus::IntCounter {
        &self.issued[trigger.index()]
    }

    /// The pre-rendered page for `lang` showing `params`.
    fn page(
        &self,
        catalog: &crate::pages::Catalog,
        lang: Lang,
        params: PageParams,
    ) -> Arc<Template> {
        let slot = &self.pages[match lang {
            Lang::En => 0,
            Lang::Fr => 1,
        }];
        if let Some(t) = slot.load_full().filter(|t| t.params == params) {
            return t;
        }
        let t = Arc::new(Template::render(catalog, lang, params));
        slot.store(Some(t.clone()));
        t
    }

    /// Counts the request (automatic mode) and says whether the zone challenges it.
    pub fn on_request(&self) -> Option<Trigger> {
        match self.mode {
            ChallengeMode::Off => None,
            ChallengeMode::Always => Some(Trigger::Always),
            ChallengeMode::Auto => {
                if let Some(auto) = &self.auto {
                    self.count(auto);
                }
                self.active.load(Ordering::Relaxed).then_some(Trigger::Auto)
            }
        }
    }

    /// Counts one request per second of the monotonic clock. The first request of a new second
    /// judges the last one: a whole second at or above the threshold turns challenges on; they
    /// turn off after `cool_down` seconds in a row under the release rate (seconds with no
    /// request at all count as calm). Counts near a second's edge may land in the neighbour.
    fn count(&self, auto: &Auto) {
        let now = mono_secs();
        let seen = auto.second.load(Ordering::Relaxed);
        if seen == now
            || auto
                .second
                .compare_exchange(seen, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            auto.count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let last = auto.count.swap(1, Ordering::AcqRel);
        let gap = now.saturating_sub(seen);
        let mut calm = match auto.calm.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        let active = self.active.load(Ordering::Relaxed);
        if !active {
            // Only the last whole second can be over: the ones in the gap had no request.
            if gap == 1 && last >= auto.threshold {
                *calm = 0;
                self.set_active(true, last);
            }
            return;
        }
        *calm = if last < auto.release {
            *calm + gap
        } else {
            gap - 1
        };
        if *calm >= auto.cool_down {
            *calm = 0;
            self.set_active(false, last);
        }
    }

    fn set_active(&self, on: bool, rate: u64) {
        self.active.store(on, Ordering::Relaxed);
        self.metrics
            .challenge_mode_active
            .with_label_values(&[&self.zone])
            .set(i64::from(on));
        if on {
            tracing::warn!(zone = %self.zone, rate, "request rate over the threshold: challenging every request");
        } else {
            tracing::info!(zone = %self.zone, rate, "request rate calm again: challenges off");
        }
    }

    /// Whether the zone challenges every request right now.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }
}

fn client_ip(session: &Session) -> Option<IpAddr> {
    match session.client_addr() {
        Some(PSocketAddr::Inet(a)) => Some(a.ip()),
        _ => None,
    }
}

fn fail(state: &EdgeState, zone: &str, reason: &str) {
    state
        .metrics
        .challenges_failed
        .with_label_values(&[zone, reason])
        .inc();
}

/// Whether the request carries a valid clearance for this zone and client network. An invalid
/// cookie is counted as a failure (`cookie_<reason>`); a valid one as passed.
pub fn cleared(state: &EdgeState, session: &Session, zone: &Zone) -> bool {
    let Some(ip) = client_ip(session) else {
        return false;
    };
    let mut values = session
        .req_header()
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .peekable();
    if values.peek().is_none() {
        return false;
    }
    let config = state.config.load();
    let key = state.challenges.key(&config);
    let signer = Signer::new(&key);
    let prefix = client_prefix(ip);
    let now = unix_now();
    let mut refusal = Refusal::Malformed;
    for value in values {
        match signer.check_clearance(value, &zone.name, &prefix, now) {
            Ok(_) => {
                state
                    .metrics
                    .challenges_passed
                    .with_label_values(&[&zone.name])
                    .inc();
                return true;
            }
            Err(r) => refusal = r,
        }
    }
    fail(state, &zone.name, &format!("cookie_{}", refusal.as_str()));
    false
}

/// What [`enforce`] did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforced {
    /// It carries a valid clearance: it goes on.
    Cleared,
    /// It was answered with a challenge.
    Challenged,
    /// It was answered with a challenge, and its client is in the penalty box (see
    /// [`crate::penalty`]): the connection closes after the answer.
    Boxed,
}

impl Enforced {
    /// Whether the request has been answered.
    pub fn answered(self) -> bool {
        self != Enforced::Cleared
    }

    /// The access log's `decided_by`: `layer`, or `penalty_box` when the answer put the client
    /// there.
    pub fn decided_by(self, layer: &'static str) -> &'static str {
        if self == Enforced::Boxed {
            "penalty_box"
        } else {
            layer
        }
    }
}

/// Answers with a challenge when the request has no valid clearance.
pub async fn enforce(
    state: &EdgeState,
    session: &mut Session,
    zone: &Zone,
    trigger: Trigger,
    request_id: &str,
) -> pingora::Result<Enforced> {
    if cleared(state, session, zone) {
        return Ok(Enforced::Cleared);
    }
    let boxed = respond(state, session, zone, trigger, request_id).await?;
    Ok(if boxed {
        Enforced::Boxed
    } else {
        Enforced::Challenged
    })
}

/// Writes a challenge for this request: the page, or JSON when the client asks for it. A
/// challenge is a refusal for the penalty box (a client that never solves one is not a
/// browser); `Ok(true)` when its client is in the box, and the connection closes after it.
///
/// The page is the zone's pre-rendered one for the language with the token, the return path
/// and the request id spliced in: no Fluent, no HTML building, one allocation (the body).
pub async fn respond(
    state: &EdgeState,
    session: &mut Session,
    zone: &Zone,
    trigger: Trigger,
    request_id: &str,
) -> pingora::Result<bool> {
    let config = state.config.load();
    let settings = &config.challenge;
    let key = state.challenges.key(&config);
    let ip = client_ip(session);
    let difficulty = zone
        .challenge
        .difficulty
        .unwrap_or(*settings.difficulty.get_ref());
    zone.challenge.issued(trigger).inc();
    let own_wait = match trigger {
        Trigger::RateLimit(secs) => secs.max(1),
        _ => 0,
    };
    let boxed = crate::penalty::on_refusal(state, session, own_wait);
    let retry_after = boxed.or((own_wait > 0).then_some(own_wait));
    let mut buf = TokenBuf::new();
    let signer = Signer::new(&key);
    let fallback;
    let token = match signer.challenge_token_into(&mut buf, &zone.name, ip, unix_now(), difficulty)
    {
        Some(t) => t,
        None => {
            // A zone name too long for the stack buffer: the allocating way.
            let mut nonce = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut nonce);
            let prefix = ip.map_or_else(|| "-".to_string(), client_prefix);
            fallback = signer.challenge_token(
                &zone.name,
                &prefix,
                unix_now(),
                &URL_SAFE_NO_PAD.encode(nonce),
                difficulty,
            );
            fallback.as_str()
        }
    };
    let back = safe_return(
        session
            .req_header()
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str()),
    );
    let page = PageParams {
        difficulty,
        wait_s: *settings.nojs_wait_s.get_ref(),
        clearance_ttl_s: *settings.clearance_ttl_s.get_ref(),
    };
    let (lang, json) = negotiate(session);
    if json {
        let back = back.to_string();
        let c = Challenge {
            token,
            back: &back,
            page,
            token_ttl_s: *settings.token_ttl_s.get_ref(),
            request_id,
            note: None,
        };
        send_challenge(state, session, trigger.status(), &c, retry_after).await?;
        return Ok(boxed.is_some());
    }
    let body = zone
        .challenge
        .page(&state.catalog, lang, page)
        .splice(token, back, request_id);
    let html = Body::Html { csp: true };
    write(
        session,
        trigger.status(),
        html,
        lang,
        body,
        retry_after,
        request_id,
    )
    .await?;
    Ok(boxed.is_some())
}

/// Whether the path is the answer endpoint.
pub fn is_submit(path: &str) -> bool {
    path == SUBMIT_PATH
}

/// The answer to a challenge, from the query string (no-JavaScript refresh), a form or JSON.
#[derive(Default)]
struct Answer {
    token: Option<String>,
    solution: Option<String>,
    back: Option<String>,
}

impl Answer {
    fn take(&mut self, name: &str, value: String) {
        match name {
            "token" => self.token = Some(value),
            "solution" if !value.is_empty() => self.solution = Some(value),
            "return" => self.back = Some(value),
            _ => {}
        }
    }

    fn read_form(&mut self, bytes: &[u8]) {
        for (k, v) in url::form_urlencoded::parse(bytes) {
            self.take(&k, v.into_owned());
        }
    }

    fn read_json(&mut self, bytes: &[u8]) -> bool {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(bytes) else {
            return false;
        };
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                _ => continue,
            };
            self.take(&k, v);
        }
        true
    }
}

/// Handles a request to [`SUBMIT_PATH`]: checks the answer and sets the clearance cookie.
pub async fn handle_submit(
    state: &EdgeState,
    session: &mut Session,
    zone: &Zone,
    tls: bool,
    request_id: &str,
) -> pingora::Result<()> {
    let method = session.req_header().method.clone();
    if method != http::Method::GET && method != http::Method::POST {
        let mut resp = ResponseHeader::build(405, Some(3))?;
        resp.insert_header("allow", "GET, POST")?;
        resp.insert_header("content-length", "0")?;
        return session.write_response_header(Box::new(resp), true).await;
    }
    let mut answer = Answer::default();
    if let Some(q) = session.req_header().uri.query() {
        answer.read_form(q.as_bytes());
    }
    if method == http::Method::POST {
        let mut body = Vec::new();
        while let Some(chunk) = session.read_request_body().await? {
            if body.len() + chunk.len() > MAX_BODY {
                session.set_keepalive(None);
                return refuse(state, session, zone, Refusal::Malformed, "/", request_id).await;
            }
            body.extend_from_slice(&chunk);
        }
        let is_json = session
            .req_header()
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
        if !(is_json && answer.read_json(&body)) {
            answer.read_form(&body);
        }
    }
    let back = safe_return(answer.back.as_deref().unwrap_or("/")).to_string();
    let Some(ip) = client_ip(session) else {
        return refuse(
            state,
            session,
            zone,
            Refusal::WrongPrefix,
            &back,
            request_id,
        )
        .await;
    };
    let Some(token) = answer.token else {
        return refuse(state, session, zone, Refusal::Malformed, &back, request_id).await;
    };
    let config = state.config.load();
    let settings = &config.challenge;
    let key = state.challenges.key(&config);
    let signer = Signer::new(&key);
    let prefix = client_prefix(ip);
    let now = unix_now();
    let checked = signer.check_token(
        &token,
        &zone.name,
        &prefix,
        now,
        *settings.token_ttl_s.get_ref(),
    );
    let t = match checked {
        Ok(t) => t,
        Err(r) => return refuse(state, session, zone, r, &back, request_id).await,
    };
    let method_label = match &answer.solution {
        Some(solution) => {
            if !solution_ok(&token, solution, t.difficulty) {
                return refuse(
                    state,
                    session,
                    zone,
                    Refusal::WrongSolution,
                    &back,
                    request_id,
                )
                .await;
            }
            "pow"
        }
        None => {
            let wait = *settings.nojs_wait_s.get_ref();
            if wait == 0 {
                return refuse(state, session, zone, Refusal::NoFallback, &back, request_id).await;
            }
            let ready_at = t.issued.saturating_add(wait);
            if now < ready_at {
                // Early: the same token again, with the time still to wait.
                fail(state, &zone.name, Refusal::TooEarly.as_str());
                let page = Challenge {
                    token: &token,
                    back: &back,
                    page: PageParams {
                        difficulty: t.difficulty,
                        wait_s: ready_at - now,
                        clearance_ttl_s: *settings.clearance_ttl_s.get_ref(),
                    },
                    token_ttl_s: *settings.token_ttl_s.get_ref(),
                    request_id,
                    note: Some(ready_at - now),
                };
                return send_challenge(state, session, 429, &page, Some(ready_at - now)).await;
            }
            "wait"
        }
    };
    state
        .metrics
        .challenges_solved
        .with_label_values(&[&zone.name, method_label])
        .inc();
    // A solver is a browser (or pays like one): whatever it was refused before is forgiven.
    state.penalty.forgive(ip);
    let ttl = *settings.clearance_ttl_s.get_ref();
    let expires = now.saturating_add(ttl);
    let cookie = format!(
        "{COOKIE}={}; Path=/; Max-Age={ttl}; HttpOnly; SameSite=Lax{}",
        signer.clearance(&zone.name, &prefix, expires),
        if tls { "; Secure" } else { "" }
    );
    let (lang, json) = negotiate(session);
    if json {
        let body = serde_json::json!({
            "cleared": true,
            "cookie": COOKIE,
            "expires_at": expires,
            "return": back,
        });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = ResponseHeader::build(200, Some(6))?;
        resp.insert_header("content-type", "application/json")?;
        resp.insert_header("content-length", body.len().to_string())?;
        resp.insert_header("set-cookie", cookie)?;
        resp.insert_header("cache-control", "no-store")?;
        resp.insert_header("x-request-id", request_id)?;
        session.write_response_header(Box::new(resp), false).await?;
        return session
            .write_response_body(Some(Bytes::from(body)), true)
            .await;
    }
    let mut resp = ResponseHeader::build(303, Some(6))?;
    resp.insert_header("location", back)?;
    resp.insert_header("set-cookie", cookie)?;
    resp.insert_header("content-length", "0")?;
    resp.insert_header("cache-control", "no-store")?;
    resp.insert_header("content-language", lang.tag())?;
    resp.insert_header("x-request-id", request_id)?;
    session.write_response_header(Box::new(resp), true).await
}

/// A local path to go back to after the challenge: anything else becomes `/`, so the endpoint
/// cannot be used to redirect elsewhere.
fn safe_return(p: &str) -> &str {
    let ok = p.starts_with('/')
        && !p.starts_with("//")
        && !p.starts_with("/\\")
        && p.len() <= 2048
        && !p.starts_with(SUBMIT_PATH)
        && p.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        p
    } else {
        "/"
    }
}

fn negotiate(session: &Session) -> (Lang, bool) {
    let h = &session.req_header().headers;
    let lang = Lang::negotiate(h.get("accept-language").and_then(|v| v.to_str().ok()));
    let json = wants_json(h.get("accept").and_then(|v| v.to_str().ok()));
    (lang, json)
}

async fn refuse(
    state: &EdgeState,
    session: &mut Session,
    zone: &Zone,
    refusal: Refusal,
    back: &str,
    request_id: &str,
) -> pingora::Result<()> {
    fail(state, &zone.name, refusal.as_str());
    let (lang, json) = negotiate(session);
    let catalog = &state.catalog;
    let title = catalog.text(lang, "challenge-failed-title", &[]);
    let detail = catalog.text(
        lang,
        "challenge-failed-body",
        &[("reason", refusal.as_str())],
    );
    let (kind, body) = if json {
        let body = serde_json::json!({
            "status": 403, "title": title, "detail": detail, "reason": refusal.as_str(),
            "request_id": request_id,
        });
        (Body::Json, serde_json::to_vec(&body).unwrap_or_default())
    } else {
        let main = format!(
            "<h1>{}</h1>\n<p>{}</p>\n<p><a href=\"{}\">{}</a></p>",
            escape(&title),
            escape(&detail),
            escape(back),
            escape(&catalog.text(lang, "challenge-retry", &[])),
        );
        // No script on this page, so no Content-Security-Policy for one (as before).
        let html = document(lang, &title, "", &main, &escape(request_id), catalog, false);
        (Body::Html { csp: false }, html.into_bytes())
    };
    write(session, 403, kind, lang, body, None, request_id).await
}

/// The parts of a challenge page that depend on the settings, not on the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageParams {
    difficulty: u8,
    wait_s: u64,
    clearance_ttl_s: u64,
}

/// What a challenge shows.
struct Challenge<'a> {
    token: &'a str,
    back: &'a str,
    page: PageParams,
    token_ttl_s: u64,
    request_id: &'a str,
    /// Seconds still to wait, after a too-early answer without JavaScript.
    note: Option<u64>,
}

/// A challenge answered in full (JSON, or the page with a note after a too-early answer):
/// rare, so built per request.
async fn send_challenge(
    state: &EdgeState,
    session: &mut Session,
    status: u16,
    c: &Challenge<'_>,
    retry_after: Option<u64>,
) -> pingora::Result<()> {
    let (lang, json) = negotiate(session);
    let catalog = &state.catalog;
    if json {
        let body = serde_json::json!({
            "status": status,
            "title": catalog.text(lang, "challenge-title", &[]),
            "detail": catalog.text(lang, "challenge-lead", &[]),
            "request_id": c.request_id,
            "challenge": {
                "algorithm": ALGORITHM,
                "difficulty": c.page.difficulty,
                "token": c.token,
                "input": "<token>:<solution>, solution in decimal",
                "submit_url": SUBMIT_PATH,
                "method": "POST",
                "fields": ["token", "solution", "return"],
                "expires_in": c.token_ttl_s,
                "nojs_wait_s": c.page.wait_s,
            },
        });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        return write(
            session,
            status,
            Body::Json,
            lang,
            body,
            retry_after,
            c.request_id,
        )
        .await;
    }
    let back_url: String = url::form_urlencoded::byte_serialize(c.back.as_bytes()).collect();
    let parts = Parts {
        token: &escape(c.token),
        back: &escape(c.back),
        back_url: &back_url,
        request_id: &escape(c.request_id),
    };
    let body = challenge_html(catalog, lang, &c.page, c.note, &parts).into_bytes();
    let html = Body::Html { csp: true };
    write(session, status, html, lang, body, retry_after, c.request_id).await
}

/// The request's parts of a page, ready to paste: HTML-escaped (`back_url` form-encoded, which
/// needs no escaping).
struct Parts<'a> {
    token: &'a str,
    back: &'a str,
    back_url: &'a str,
    request_id: &'a str,
}

/// The challenge page.
fn challenge_html(
    catalog: &crate::pages::Catalog,
    lang: Lang,
    c: &PageParams,
    note: Option<u64>,
    p: &Parts<'_>,
) -> String {
    let title = catalog.text(lang, "challenge-title", &[]);
    let t = |id: &str| escape(&catalog.text(lang, id, &[]));
    let seconds = c.wait_s.to_string();
    let minutes = c.clearance_ttl_s.div_ceil(60).to_string();
    let (head, nojs) = if c.wait_s > 0 {
        let url = format!("{SUBMIT_PATH}?token={}&return={}", p.token, p.back_url);
        (
            format!(
                "<noscript><meta http-equiv=\"refresh\" content=\"{}; url={}\"></noscript>\n",
                c.wait_s,
                escape(&url)
            ),
            format!(
                "<noscript>\n<p>{}</p>\n<form method=\"post\" action=\"{SUBMIT_PATH}\">\n\
                 <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
                 <input type=\"hidden\" name=\"return\" value=\"{back}\">\n\
                 <button type=\"submit\" id=\"rempart-continue\">{}</button>\n</form>\n</noscript>",
                escape(&catalog.text(lang, "challenge-nojs", &[("seconds", &seconds)])),
                t("challenge-continue"),
                token = p.token,
                back = p.back,
            ),
        )
    } else {
        (
            String::new(),
            format!("<noscript><p>{}</p></noscript>", t("challenge-nojs-off")),
        )
    };
    let note = match note {
        Some(left) => format!(
            "<p><strong>{}</strong></p>\n",
            escape(&catalog.text(
                lang,
                "challenge-too-early",
                &[("seconds", &left.to_string())]
            ))
        ),
        None => String::new(),
    };
    let main = format!(
        "<h1>{title}</h1>\n{note}<p>{lead}</p>\n\
         <p id=\"rempart-status\" role=\"status\" aria-live=\"polite\"></p>\n\
         <form id=\"rempart-challenge\" method=\"post\" action=\"{SUBMIT_PATH}\" \
         data-difficulty=\"{difficulty}\" data-working=\"{working}\" data-done=\"{done}\">\n\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
         <input type=\"hidden\" name=\"solution\" value=\"\">\n\
         <input type=\"hidden\" name=\"return\" value=\"{back}\">\n</form>\n\
         {nojs}\n<p>{privacy}</p>",
        title = escape(&title),
        lead = t("challenge-lead"),
        difficulty = c.difficulty,
        working = t("challenge-working"),
        done = t("challenge-done"),
        token = p.token,
        back = p.back,
        privacy = escape(&catalog.text(lang, "challenge-privacy", &[("minutes", &minutes)])),
    );
    document(lang, &title, &head, &main, p.request_id, catalog, true)
}

/// Where a request's part goes in a pre-rendered page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Token,
    Back,
    BackUrl,
    RequestId,
}

/// Marks the slots while the page is rendered once (a NUL never occurs in the texts).
const MARKS: [(&str, Slot); 4] = [
    ("\u{0}0", Slot::Token),
    ("\u{0}1", Slot::Back),
    ("\u{0}2", Slot::BackUrl),
    ("\u{0}3", Slot::RequestId),
];

/// A challenge page rendered once for a language and its [`PageParams`], cut at its slots.
#[derive(Debug)]
struct Template {
    params: PageParams,
    /// Text, then the slot that follows it (none after the last piece).
    pieces: Vec<(Box<[u8]>, Option<Slot>)>,
    fixed_len: usize,
}

impl Template {
    fn render(catalog: &crate::pages::Catalog, lang: Lang, params: PageParams) -> Template {
        let parts = Parts {
            token: MARKS[0].0,
            back: MARKS[1].0,
            back_url: MARKS[2].0,
            request_id: MARKS[3].0,
        };
        let html = challenge_html(catalog, lang, &params, None, &parts);
        let mut pieces: Vec<(Box<[u8]>, Option<Slot>)> = Vec::new();
        let mut rest = html.as_str();
        while let Some(i) = rest.find('\u{0}') {
            let mark = rest.get(i..i + 2).unwrap_or("");
            let slot = MARKS.iter().find(|(m, _)| *m == mark).map(|(_, s)| *s);
            pieces.push((Box::from(&rest.as_bytes()[..i]), slot));
            rest = rest.get(i + mark.len().max(1)..).unwrap_or("");
        }
        pieces.push((Box::from(rest.as_bytes()), None));
        let fixed_len = pieces.iter().map(|(t, _)| t.len()).sum();
        Template {
            params,
            pieces,
            fixed_len,
        }
    }

    /// The page for one request (`back` is a [`safe_return`] path).
    fn splice(&self, token: &str, back: &str, request_id: &str) -> Vec<u8> {
        let slots = self.pieces.iter().filter(|(_, s)| s.is_some()).count();
        // Generous: an escaped or encoded path is at most 6 times as long.
        let most = token.len().max(back.len() * 6).max(request_id.len());
        let mut out = Vec::with_capacity(self.fixed_len + slots * most);
        for (text, slot) in &self.pieces {
            out.extend_from_slice(text);
            match slot {
                Some(Slot::Token) => escape_into(&mut out, token),
                Some(Slot::Back) => escape_into(&mut out, back),
                Some(Slot::BackUrl) => {
                    for piece in url::form_urlencoded::byte_serialize(back.as_bytes()) {
                        out.extend_from_slice(piece.as_bytes());
                    }
                }
                Some(Slot::RequestId) => escape_into(&mut out, request_id),
                None => {}
            }
        }
        out
    }
}

/// [`escape`], appending to `out` (copied as is when nothing needs escaping, the usual case).
fn escape_into(out: &mut Vec<u8>, s: &str) {
    let special = |b: &u8| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'');
    if !s.as_bytes().iter().any(special) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.extend_from_slice(escape(s).as_bytes());
}

fn document(
    lang: Lang,
    title: &str,
    head: &str,
    main: &str,
    request_id_html: &str,
    catalog: &crate::pages::Catalog,
    script: bool,
) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{title}</title>\n\
         <style>{style}</style>\n{head}</head>\n<body>\n<main>\n{main}\n</main>\n\
         <footer>\n<p>{rid}: <code>{id}</code></p>\n</footer>\n{script}</body>\n</html>\n",
        lang = lang.tag(),
        title = escape(title),
        style = crate::pages::STYLE,
        rid = escape(&catalog.text(lang, "request-id", &[])),
        id = request_id_html,
        script = if script {
            format!("<script>{SCRIPT}</script>\n")
        } else {
            String::new()
        },
    )
}

/// What an answer's body is: JSON, or HTML (with the page's script and style allowed by hash).
#[derive(Debug, Clone, Copy)]
enum Body {
    Json,
    Html { csp: bool },
}

/// Writes a challenge answer. Every header value is static or made without formatting: the
/// challenge page is the answer a flood gets.
async fn write(
    session: &mut Session,
    status: u16,
    kind: Body,
    lang: Lang,
    body: Vec<u8>,
    retry_after: Option<u64>,
    request_id: &str,
) -> pingora::Result<()> {
    use http::HeaderValue;
    let mut resp = ResponseHeader::build(status, Some(11))?;
    let content_type = match kind {
        Body::Json => "application/json",
        Body::Html { .. } => "text/html; charset=utf-8",
    };
    resp.insert_header("content-type", HeaderValue::from_static(content_type))?;
    resp.insert_header("content-length", HeaderValue::from(body.len()))?;
    resp.insert_header("content-language", HeaderValue::from_static(lang.tag()))?;
    resp.insert_header("cache-control", HeaderValue::from_static("no-store"))?;
    resp.insert_header(
        "vary",
        HeaderValue::from_static("Accept, Accept-Language, Cookie"),
    )?;
    resp.insert_header(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    )?;
    resp.insert_header("referrer-policy", HeaderValue::from_static("no-referrer"))?;
    resp.insert_header("x-request-id", request_id)?;
    if let Some(secs) = retry_after {
        resp.insert_header("retry-after", HeaderValue::from(secs))?;
    }
    if let Body::Html { csp: true } = kind {
        resp.insert_header("content-security-policy", csp_value())?;
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(resp), head_only)
        .await?;
    if !head_only {
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await?;
    }
    Ok(())
}

/// The page's Content-Security-Policy: nothing but the inline script and style below, by hash;
/// no connection anywhere; the forms post only to this site.
fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = |s: &str| STANDARD.encode(Sha256::digest(s.as_bytes()));
        format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            hash(SCRIPT),
            hash(crate::pages::STYLE)
        )
    })
}

/// [`csp`] as a header value, made once (cloning it copies nothing).
fn csp_value() -> http::HeaderValue {
    static VALUE: OnceLock<http::HeaderValue> = OnceLock::new();
    VALUE
        .get_or_init(|| {
            http::HeaderValue::from_str(csp())
                .unwrap_or_else(|_| http::HeaderValue::from_static("default-src 'none'"))
        })
        .clone()
}

/// The proof of work, in the page: SHA-256 in plain JavaScript (the Web Crypto API is missing
/// on plain-HTTP sites and costs a promise per hash), in slices so the page stays responsive;
/// the live region says when it starts and ends. Its parameters come from the form's
/// attributes, so the script never changes and its CSP hash is fixed.
const SCRIPT: &str = r#"(function(){"use strict";
var form=document.getElementById("rempart-challenge"),status=document.getElementById("rempart-status");
if(!form||!status)return;
var token=form.elements.token.value,bits=parseInt(form.getAttribute("data-difficulty"),10);
var K=[0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2];
var w=new Int32Array(64);
function head(s){var n=s.length,m=((n+8)>>6)+1,W=new Int32Array(m*16),i,j;
for(i=0;i<n;i++)W[i>>2]|=s.charCodeAt(i)<<(24-(i&3)*8);
W[n>>2]|=0x80<<(24-(n&3)*8);W[m*16-1]=n*8;
var H=[0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19];
for(i=0;i<W.length;i+=16){var a=H[0],b=H[1],c=H[2],d=H[3],e=H[4],f=H[5],g=H[6],h=H[7];
for(j=0;j<64;j++){if(j<16)w[j]=W[i+j];else{var x=w[j-15],y=w[j-2];
w[j]=(((x>>>7)|(x<<25))^((x>>>18)|(x<<14))^(x>>>3))+w[j-16]+(((y>>>17)|(y<<15))^((y>>>19)|(y<<13))^(y>>>10))+w[j-7]|0;}
var t1=h+(((e>>>6)|(e<<26))^((e>>>11)|(e<<21))^((e>>>25)|(e<<7)))+((e&f)^(~e&g))+K[j]+w[j]|0;
var t2=(((a>>>2)|(a<<30))^((a>>>13)|(a<<19))^((a>>>22)|(a<<10)))+((a&b)^(a&c)^(b&c))|0;
h=g;g=f;f=e;e=d+t1|0;d=c;c=b;b=a;a=t1+t2|0;}
H[0]=H[0]+a|0;H[1]=H[1]+b|0;H[2]=H[2]+c|0;H[3]=H[3]+d|0;H[4]=H[4]+e|0;H[5]=H[5]+f|0;H[6]=H[6]+g|0;H[7]=H[7]+h|0;}
return H[0];}
var nonce=0;
function work(){for(var end=nonce+20000;nonce<end;nonce++){
if(Math.clz32(head(token+":"+nonce))>=bits){form.elements.solution.value=String(nonce);
status.textContent=form.getAttribute("data-done");form.submit();return;}}
setTimeout(work,0);}
status.textContent=form.getAttribute("data-working");
setTimeout(work,50);
})();"#;

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn token_round_trip_and_bindings() {
        let s = Signer::new(KEY);
        let t = s.challenge_token("forum", "192.0.2.0/24", 1000, "n", 12);
        assert_eq!(
            s.check_token(&t, "forum", "192.0.2.0/24", 1010, 120),
            Ok(Token {
                issued: 1000,
                difficulty: 12
            })
        );
        assert_eq!(
            s.check_token(&t, "shop", "192.0.2.0/24", 1010, 120),
            Err(Refusal::WrongZone)
        );
        assert_eq!(
            s.check_token(&t, "forum", "198.51.100.0/24", 1010, 120),
            Err(Refusal::WrongPrefix)
        );
        assert_eq!(
            s.check_token(&t, "forum", "192.0.2.0/24", 1121, 120),
            Err(Refusal::Expired)
        );
        assert_eq!(
            Signer::new(b"another key, just as long as the first").check_token(
                &t,
                "forum",
                "192.0.2.0/24",
                1010,
                120
            ),
            Err(Refusal::Forged)
        );
        // A token is not a clearance, even with the right key.
        assert_eq!(
            s.check_clearance(&t, "forum", "192.0.2.0/24", 1010),
            Err(Refusal::Malformed)
        );
    }

    #[test]
    fn the_token_written_in_place_is_the_allocated_one() {
        let s = Signer::new(KEY);
        let nonce = [7u8; 16];
        let n = URL_SAFE_NO_PAD.encode(nonce);
        for ip in [
            "203.0.113.77",
            "2001:db8:1:2:3:4:5:6",
            "::ffff:198.51.100.9",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut buf = TokenBuf::new();
            let t = s
                .token_with_nonce(&mut buf, "forum", Some(ip), 1000, &nonce, 12)
                .unwrap();
            assert_eq!(
                t,
                s.challenge_token("forum", &client_prefix(ip), 1000, &n, 12)
            );
            assert!(s
                .check_token(t, "forum", &client_prefix(ip), 1010, 120)
                .is_ok());
        }
        let mut buf = TokenBuf::new();
        let t = s
            .token_with_nonce(&mut buf, "z", None, 5, &nonce, 1)
            .unwrap();
        assert_eq!(t, s.challenge_token("z", "-", 5, &n, 1));
        // Too long to be opened: none, rather than a truncated token.
        let long = "z".repeat(900);
        assert!(s
            .token_with_nonce(&mut buf, &long, None, 5, &nonce, 1)
            .is_none());
        // Fresh nonces: two tokens for the same client differ.
        let mut other = TokenBuf::new();
        let ip = Some("192.0.2.1".parse().unwrap());
        let a = s
            .challenge_token_into(&mut buf, "z", ip, 5, 1)
            .unwrap()
            .to_string();
        assert_ne!(
            a,
            s.challenge_token_into(&mut other, "z", ip, 5, 1).unwrap()
        );
    }

    #[test]
    fn the_spliced_page_is_the_page_rendered_for_the_request() {
        let catalog = crate::pages::Catalog::default();
        for wait_s in [5, 0] {
            let params = PageParams {
                difficulty: 12,
                wait_s,
                clearance_ttl_s: 3600,
            };
            for lang in [Lang::En, Lang::Fr] {
                let t = Template::render(&catalog, lang, params);
                for back in ["/t/1?page=2", "/a\"<b>&'c%20", "/"] {
                    let (token, rid) = ("abc.DEF-_9", "0123abcd");
                    let url: String =
                        url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
                    let parts = Parts {
                        token: &escape(token),
                        back: &escape(back),
                        back_url: &url,
                        request_id: &escape(rid),
                    };
                    let full = challenge_html(&catalog, lang, &params, None, &parts);
                    let spliced = String::from_utf8(t.splice(token, back, rid)).unwrap();
                    assert_eq!(spliced, full);
                    assert!(!spliced.contains('\u{0}'));
                    assert!(spliced.contains(&format!("value=\"{}\"", escape(back))));
                }
            }
        }
    }

    #[test]
    fn tampered_payload_is_forged() {
        let s = Signer::new(KEY);
        let c = s.clearance("forum", "192.0.2.0/24", 2000);
        assert_eq!(
            s.check_clearance(&c, "forum", "192.0.2.0/24", 1999),
            Ok(2000)
        );
        assert_eq!(
            s.check_clearance(&c, "forum", "192.0.2.0/24", 2000),
            Err(Refusal::Expired)
        );
        let (_, tag) = c.split_once('.').unwrap();
        let forged = format!(
            "{}.{tag}",
            URL_SAFE_NO_PAD.encode("clearance|forum|192.0.2.0/24|99999")
        );
        assert_eq!(
            s.check_clearance(&forged, "forum", "192.0.2.0/24", 1999),
            Err(Refusal::Forged)
        );
        for junk in ["", ".", "a.b", "%%%.%%%", &"x".repeat(5000)] {
            assert!(s.check_clearance(junk, "forum", "192.0.2.0/24", 1).is_err());
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            client_prefix("203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            client_prefix("::ffff:203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            client_prefix("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn proof_of_work() {
        assert_eq!(leading_zero_bits(&[0, 0, 0x10, 0xff]), 19);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        let token = "t.t";
        let n = (0u64..)
            .find(|n| solution_ok(token, &n.to_string(), 8))
            .unwrap();
        let digest = Sha256::digest(format!("{token}:{n}").as_bytes());
        assert!(digest[0] == 0);
        assert!(!solution_ok(token, "", 0));
        assert!(!solution_ok(token, "12a", 0));
        assert!(!solution_ok(token, &"9".repeat(21), 0));
    }

    #[test]
    fn return_paths_stay_local() {
        assert_eq!(safe_return("/t/1?a=b"), "/t/1?a=b");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "/a b",
            "",
            "/.rempart/challenge?x",
        ] {
            assert_eq!(safe_return(bad), "/", "{bad}");
        }
    }

    #[test]
    fn script_has_no_third_party_and_csp_matches() {
        assert!(!SCRIPT.contains("http"));
        assert!(!SCRIPT.contains("</script"));
        let expected = STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
        assert!(csp().contains(&format!("'sha256-{expected}'")));
    }
}
