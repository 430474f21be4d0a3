//! Escalation: a client that keeps being refused (429s from a per-address rate limit, challenge
//! pages it never solves) after it has been told goes into the **penalty box**, and its new
//! connections are closed at accept — before TLS, before HTTP, for the cost of an `accept` and
//! a `close` instead of a parsed request and an answer.
//!
//! * **Counting.** Each refusal answered to a client is a strike. More than
//!   `limits.penalty_after` strikes within `limits.penalty_window_s` put it in the box; solving
//!   a challenge forgives it (a browser, whatever it did before). The answer that puts it there
//!   carries `Connection: close` (its keep-alive connection ends too) and a `Retry-After` equal
//!   to its time in the box: the refusal's own wait, at least `penalty_s`, at most
//!   `penalty_max_s`. Every later refusal on a connection it still holds closes that one too.
//!   Once out, a client that is refused again within the window goes straight back in.
//! * **Keys.** An IPv4 address or an IPv6 /64 ([`ClientKey`]), the same as the connection
//!   caps: everything behind one NAT address is boxed together. That is the known cost; the
//!   box is short and every decision is logged (once per client, `decided_by =
//!   "penalty_box"`) and counted (`edge_answers_total{reason="penalty_boxed"}`, and each
//!   connection closed at accept as `reason="penalty_box_at_accept"`).
//! * **Memory.** At most `limits.penalty_max_tracked` clients (≈ 60 bytes each), in shards.
//!   When a shard is full, clients with nothing current (window passed, not boxed) are
//!   forgotten first; if every one is current, the one closest to leaving the box (then with
//!   the fewest strikes) among a bounded sample is dropped: it leaves the box early. Clients
//!   can only be under-counted, never boxed for what another did.
//! * **Cost when unused.** The accept check reads one atomic (the latest time any client
//!   leaves the box) and takes no lock while nobody is boxed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use prometheus::{IntCounter, IntGauge};

use crate::config::Limits;
use crate::conn::ClientKey;
use crate::metrics::Metrics;

const SHARDS: usize = 16;
/// Clients looked at when a full shard has to drop a current one.
const SAMPLE: usize = 64;
/// A full shard sweeps out stale clients at most this often (milliseconds): a sweep walks the
/// whole shard, so under a flood of current clients it would otherwise run on every insert.
const SWEEP_EVERY_MS: u64 = 1_000;

/// Milliseconds on the monotonic clock since the first call.
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The settings a strike is judged by (from `[limits]`, read per strike so a reload applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Strikes allowed within the window; 0 turns escalation off.
    pub after: u64,
    /// The window, in milliseconds.
    pub window_ms: u64,
    /// Shortest and longest time in the box, in seconds.
    pub min_s: u64,
    /// Longest time in the box, in seconds.
    pub max_s: u64,
    /// Most clients tracked.
    pub max_tracked: usize,
}

impl Settings {
    /// From the configuration's `[limits]`.
    pub fn of(l: &Limits) -> Settings {
        Settings {
            after: *l.penalty_after.get_ref(),
            window_ms: l.penalty_window_s.get_ref().saturating_mul(1000),
            min_s: *l.penalty_s.get_ref(),
            max_s: *l.penalty_max_s.get_ref(),
            max_tracked: usize::try_from(*l.penalty_max_tracked.get_ref()).unwrap_or(usize::MAX),
        }
    }
}

/// What a refusal did to its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    /// Escalation is off, or the client is still within its allowance.
    Counted,
    /// The client is in the box for this many more seconds (just put there, or already
    /// there): answer with `Connection: close` and this `Retry-After`.
    Boxed(u64),
}

#[derive(Debug, Clone, Copy)]
struct Record {
    /// Start of the counting window (ms); in the future while boxed (the box's end), so that
    /// a refusal soon after leaving the box sends the client straight back.
    window_start: u64,
    strikes: u64,
    /// In the box until then (ms); 0 when never boxed.
    until: u64,
    /// The box decision was logged for this client (once per time it is tracked).
    logged: bool,
}

impl Record {
    fn current(&self, now: u64, window_ms: u64) -> bool {
        self.until > now || now < self.window_start.saturating_add(window_ms)
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<ClientKey, Record>,
    last_sweep: u64,
}

/// The penalty box: strike counts and boxed clients, bounded.
pub struct PenaltyBox {
    shards: Vec<Mutex<Shard>>,
    /// The latest time (ms) any client leaves the box: while `now` is past it, nobody is boxed
    /// and the accept check takes no lock.
    latest_until: AtomicU64,
    /// Bumped whenever a client enters or leaves the box other than by expiry (boxed,
    /// forgiven, dropped to keep the bound): the kernel filter ([`crate::synfilter`]) rebuilds
    /// only when this moved or one of its clients' time is over.
    generation: AtomicU64,
    tracked: IntGauge,
    boxed: IntCounter,
    refused: IntCounter,
}

impl std::fmt::Debug for PenaltyBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PenaltyBox")
            .field("tracked", &self.tracked.get())
            .finish()
    }
}

impl PenaltyBox {
    /// An empty box, its metrics registered.
    pub fn new(metrics: &Metrics) -> Result<PenaltyBox, prometheus::Error> {
        let tracked = IntGauge::new(
            "penalty_box_tracked",
            "Clients the penalty box tracks now (refusals counted, or boxed)",
        )?;
        metrics.register(Box::new(tracked.clone()))?;
        Ok(PenaltyBox {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            latest_until: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            tracked,
            boxed: metrics.edge_answers.with_label_values(&["penalty_boxed"]),
            refused: metrics
                .edge_answers
                .with_label_values(&["penalty_box_at_accept"]),
        })
    }

    fn shard(&self, key: &ClientKey) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[key.shard()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a new connection from `ip` is refused at accept (counted when it is).
    pub fn refuses(&self, ip: IpAddr) -> bool {
        let now = now_ms();
        if now >= self.latest_until.load(Ordering::Relaxed) {
            return false;
        }
        if self.is_boxed(ip, now) {
            self.refused.inc();
            return true;
        }
        false
    }

    /// Whether `ip` is in the box at `now` (ms).
    pub fn is_boxed(&self, ip: IpAddr, now: u64) -> bool {
        let key = ClientKey::of(ip);
        self.shard(&key)
            .map
            .get(&key)
            .is_some_and(|r| r.until > now)
    }

    /// Counts one refusal answered to `ip` at `now` (ms), whose own wait is `retry_after_s`.
    pub fn strike(&self, ip: IpAddr, retry_after_s: u64, s: &Settings, now: u64) -> Strike {
        if s.after == 0 {
            return Strike::Counted;
        }
        let key = ClientKey::of(ip);
        let mut shard = self.shard(&key);
        if !shard.map.contains_key(&key) {
            let per_shard = (s.max_tracked / SHARDS).max(1);
            if shard.map.len() >= per_shard {
                self.make_room(&mut shard, now, s.window_ms);
            }
            shard.map.insert(
                key,
                Record {
                    window_start: now,
                    strikes: 0,
                    until: 0,
                    logged: false,
                },
            );
            self.tracked.inc();
        }
        let Some(r) = shard.map.get_mut(&key) else {
            return Strike::Counted;
        };
        if r.until > now {
            return Strike::Boxed((r.until - now).div_ceil(1000).max(1));
        }
        if now >= r.window_start.saturating_add(s.window_ms) {
            r.window_start = now;
            r.strikes = 0;
        }
        r.strikes += 1;
        if r.strikes <= s.after {
            return Strike::Counted;
        }
        let secs = retry_after_s.clamp(s.min_s.max(1), s.max_s.max(1));
        let until = now + secs * 1000;
        r.until = until;
        r.window_start = until;
        r.strikes = s.after;
        let first = !r.logged;
        r.logged = true;
        let strikes = s.after + 1;
        drop(shard);
        self.latest_until.fetch_max(until, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Release);
        self.boxed.inc();
        if first {
            tracing::warn!(
                client = %ip,
                decided_by = "penalty_box",
                refusals = strikes,
                seconds = secs,
                "client refused again and again: its new connections are closed at accept"
            );
        }
        Strike::Boxed(secs)
    }

    /// Forgets `ip`'s strikes and lets it out of the box: it solved a challenge.
    pub fn forgive(&self, ip: IpAddr) {
        let key = ClientKey::of(ip);
        if let Some(r) = self.shard(&key).map.remove(&key) {
            self.tracked.dec();
            if r.until > now_ms() {
                self.generation.fetch_add(1, Ordering::Release);
            }
        }
    }

    /// Changes the boxed set's membership other than by expiry (see the field).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The clients in the box at `now` (ms) with the time each leaves it, the most recently
    /// boxed (the latest to leave) first, at most `cap` of them.
    pub fn boxed(&self, now: u64, cap: usize) -> Vec<(ClientKey, u64)> {
        if now >= self.latest_until.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let mut all: Vec<(ClientKey, u64)> = Vec::new();
        for s in &self.shards {
            let s = s.lock().unwrap_or_else(|p| p.into_inner());
            all.extend(
                s.map
                    .iter()
                    .filter(|(_, r)| r.until > now)
                    .map(|(k, r)| (*k, r.until)),
            );
        }
        if all.len() > cap {
            all.select_nth_unstable_by(cap, |a, b| b.1.cmp(&a.1));
            all.truncate(cap);
        }
        all.sort_unstable_by_key(|a| std::cmp::Reverse(a.1));
        all
    }

    /// Clients tracked now.
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.map.len()))
            .sum()
    }

    /// Frees one place in a full shard.
    fn make_room(&self, shard: &mut Shard, now: u64, window_ms: u64) {
        let before = shard.map.len();
        if now >= shard.last_sweep.saturating_add(SWEEP_EVERY_MS) {
            shard.last_sweep = now;
            shard.map.retain(|_, r| r.current(now, window_ms));
        }
        // (The sweep drops only clients out of the box: no change to the boxed set.)
        let mut freed = before - shard.map.len();
        if freed == 0 {
            // Everyone is current: drop the one closest to leaving the box, then the one with
            // the fewest strikes (among a bounded sample).
            if let Some(k) = shard
                .map
                .iter()
                .take(SAMPLE)
                .min_by_key(|(_, r)| (r.until, r.strikes))
                .map(|(k, _)| *k)
            {
                shard.map.remove(&k);
                freed = 1;
                self.generation.fetch_add(1, Ordering::Release);
            }
        }
        self.tracked.sub(freed as i64);
    }
}

/// Counts a refusal about to be answered on `session` (see the module). When its client is in
/// the box (now, or already), keep-alive is turned off, so the answer says `Connection: close`
/// and the connection ends; the seconds left in the box are given for its `Retry-After`.
pub fn on_refusal(
    state: &crate::state::EdgeState,
    session: &mut pingora::proxy::Session,
    retry_after_s: u64,
) -> Option<u64> {
    let ip = match session.client_addr() {
        Some(pingora::protocols::l4::socket::SocketAddr::Inet(a)) => a.ip(),
        _ => return None,
    };
    let settings = Settings::of(&state.config.load().limits);
    match state.penalty.strike(ip, retry_after_s, &settings, now_ms()) {
        Strike::Counted => None,
        Strike::Boxed(left) => {
            session.set_keepalive(None);
            Some(left)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(after: u64) -> Settings {
        Settings {
            after,
            window_ms: 10_000,
            min_s: 5,
            max_s: 60,
            max_tracked: 1_000,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn boxed() -> PenaltyBox {
        PenaltyBox::new(&Metrics::new().unwrap()).unwrap()
    }

    #[test]
    fn off_counts_nothing() {
        let b = boxed();
        for _ in 0..100 {
            assert_eq!(
                b.strike(ip("192.0.2.1"), 1, &settings(0), 0),
                Strike::Counted
            );
        }
        assert_eq!(b.tracked(), 0);
        assert!(!b.refuses(ip("192.0.2.1")));
    }

    #[test]
    fn the_refusal_after_the_allowance_boxes_until_expiry() {
        let b = boxed();
        let s = settings(3);
        let a = ip("192.0.2.1");
        for t in 0..3 {
            assert_eq!(b.strike(a, 1, &s, t), Strike::Counted);
        }
        // The 4th: boxed for the shortest time (its own wait, 1 s, is shorter).
        assert_eq!(b.strike(a, 1, &s, 3), Strike::Boxed(5));
        assert!(b.is_boxed(a, 4) && b.is_boxed(a, 5_002));
        assert!(!b.is_boxed(a, 5_003), "out at expiry");
        // Another client, even in the same /24, is not affected.
        assert!(!b.is_boxed(ip("192.0.2.2"), 4));
        // Refused while boxed (from a connection it still holds): the time left.
        assert_eq!(b.strike(a, 1, &s, 2_100), Strike::Boxed(3));
        // Out, and refused again within the window: straight back in.
        assert_eq!(b.strike(a, 1, &s, 6_000), Strike::Boxed(5));
        // Out, and quiet for a whole window: a fresh allowance.
        let later = 11_000 + 10_000;
        for t in 0..3 {
            assert_eq!(b.strike(a, 1, &s, later + t), Strike::Counted);
        }
        assert_eq!(b.strike(a, 1, &s, later + 3), Strike::Boxed(5));
    }

    #[test]
    fn the_box_lasts_the_refusals_own_wait_within_bounds() {
        let b = boxed();
        let s = settings(1);
        b.strike(ip("192.0.2.1"), 30, &s, 0);
        assert_eq!(b.strike(ip("192.0.2.1"), 30, &s, 0), Strike::Boxed(30));
        b.strike(ip("192.0.2.2"), 3600, &s, 0);
        assert_eq!(b.strike(ip("192.0.2.2"), 3600, &s, 0), Strike::Boxed(60));
    }

    #[test]
    fn strikes_outside_the_window_start_over() {
        let b = boxed();
        let s = settings(2);
        let a = ip("192.0.2.1");
        assert_eq!(b.strike(a, 1, &s, 0), Strike::Counted);
        assert_eq!(b.strike(a, 1, &s, 9_000), Strike::Counted);
        // The window (from 0) is over: this one starts a new count.
        assert_eq!(b.strike(a, 1, &s, 10_000), Strike::Counted);
        assert_eq!(b.strike(a, 1, &s, 10_001), Strike::Counted);
        assert!(matches!(b.strike(a, 1, &s, 10_002), Strike::Boxed(_)));
    }

    #[test]
    fn a_solve_forgives() {
        let b = boxed();
        let s = settings(1);
        let a = ip("2001:db8:1:2::1");
        b.strike(a, 1, &s, 0);
        assert!(matches!(b.strike(a, 1, &s, 0), Strike::Boxed(_)));
        // The same /64 is the same client.
        assert!(b.is_boxed(ip("2001:db8:1:2::ffff"), 1));
        b.forgive(ip("2001:db8:1:2::9"));
        assert!(!b.is_boxed(a, 1));
        assert_eq!(b.strike(a, 1, &s, 2), Strike::Counted);
    }

    #[test]
    fn memory_stays_bounded_and_the_latest_boxed_stay_boxed() {
        let b = boxed();
        let s = Settings {
            max_tracked: 160,
            ..settings(1)
        };
        for i in 0..20_000u32 {
            let a = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            b.strike(a, 1, &s, u64::from(i));
            b.strike(a, 1, &s, u64::from(i));
        }
        assert!(b.tracked() <= 160, "{}", b.tracked());
        assert_eq!(b.tracked.get() as usize, b.tracked());
        let last = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + 19_999));
        assert!(b.is_boxed(last, 20_000));
    }

    #[test]
    fn the_accept_check_is_lock_free_while_nobody_is_boxed() {
        let b = boxed();
        // Nobody ever boxed: the latest expiry is 0, so the check returns before any lock.
        let _held: Vec<_> = b.shards.iter().map(|s| s.lock().unwrap()).collect();
        assert!(!b.refuses(ip("192.0.2.1")));
    }
}
