//! Rate limiting with the generic cell rate algorithm (GCRA), over a bounded table of keys.
//!
//! **Algorithm.** A limit of `rate` requests per `period` with a `burst` allows a request at
//! time `t` when `TAT - t <= tau`, where `TAT` (theoretical arrival time) advances by
//! `T = period / rate` per allowed request and `tau = T * burst`. It is exact for every key the
//! table holds: no request over the limit passes, none under it is refused.
//!
//! **Memory.** Each shard holds at most `capacity / shards` keys (about 40 bytes each). When a
//! shard is full, keys whose `TAT` is in the past are dropped first: forgetting them changes
//! nothing, since a fresh key starts from the same state. Only when every key of the shard is
//! still "in debt" (a flood of distinct addresses all at their limit) is the one closest to being
//! paid off evicted; that key is then **under-counted** (it gets its burst back early). No key
//! is ever over-counted, so a legitimate client is never refused because of others.

#![deny(missing_docs)]

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// A client key: an IPv4 address, or an IPv6 address truncated to its /64 (one subscriber's
/// usual allocation), so that one host cannot dodge the limit by rotating addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(u128);

impl ClientKey {
    /// The key of an address, IPv6 grouped by `v6_prefix` bits (64 by default).
    pub fn of(ip: IpAddr, v6_prefix: u8) -> ClientKey {
        match ip {
            IpAddr::V4(a) => ClientKey(u128::from(u32::from(a))),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => ClientKey(u128::from(u32::from(v4))),
                None => {
                    let bits = u128::from(a);
                    let keep = u32::from(v6_prefix.min(128));
                    let mask = if keep == 0 {
                        0
                    } else {
                        u128::MAX << (128 - keep)
                    };
                    // Tag v6 keys so they never collide with v4 ones.
                    ClientKey((bits & mask) | 1)
                }
            },
        }
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Over the limit; try again after this long.
    Deny {
        /// When a request would next be allowed.
        retry_after: Duration,
    },
}

/// One limit: `rate` requests per `period`, with `burst` extra requests allowed at once.
#[derive(Debug)]
pub struct Gcra<K = ClientKey> {
    interval_ns: u64,
    tolerance_ns: u64,
    shards: Box<[Mutex<HashMap<K, u64, foldhash::fast::RandomState>>]>,
    per_shard: usize,
    hasher: foldhash::fast::RandomState,
}

impl<K: Hash + Eq + Copy> Gcra<K> {
    /// A limiter tracking at most `capacity` keys.
    pub fn new(rate: u32, period: Duration, burst: u32, capacity: usize) -> Gcra<K> {
        let rate = u64::from(rate.max(1));
        let interval_ns = (period.as_nanos() as u64 / rate).max(1);
        let shards = 16usize;
        Gcra {
            interval_ns,
            tolerance_ns: interval_ns.saturating_mul(u64::from(burst)),
            shards: (0..shards)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            per_shard: (capacity / shards).max(1),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Checks (and, if allowed, counts) one request of `key` at `now_ns` (a monotonic clock in
    /// nanoseconds; the caller owns the clock, so tests control it).
    pub fn check(&self, key: K, now_ns: u64) -> Decision {
        let shard = (self.hasher.hash_one(key) as usize) % self.shards.len();
        let mut table = match self.shards[shard].lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        let tat = table.get(&key).copied().unwrap_or(now_ns).max(now_ns);
        if tat - now_ns > self.tolerance_ns {
            return Decision::Deny {
                retry_after: Duration::from_nanos(tat - now_ns - self.tolerance_ns),
            };
        }
        if table.len() >= self.per_shard && !table.contains_key(&key) {
            evict(&mut table, now_ns);
        }
        table.insert(key, tat + self.interval_ns);
        Decision::Allow
    }

    /// How many keys are tracked.
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|t| t.len()).unwrap_or(0))
            .sum()
    }
}

fn evict<K: Hash + Eq + Copy, S: BuildHasher>(table: &mut HashMap<K, u64, S>, now_ns: u64) {
    let before = table.len();
    table.retain(|_, tat| *tat > now_ns);
    if table.len() < before {
        return;
    }
    // Everyone is in debt: forgive the one closest to paid off (among a bounded sample).
    if let Some(k) = table
        .iter()
        .take(64)
        .min_by_key(|(_, tat)| **tat)
        .map(|(k, _)| *k)
    {
        table.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn allows_rate_plus_burst_then_denies_exactly() {
        // 10 per second, burst 5: at t=0, 6 pass (1 + burst), the 7th is refused.
        let g: Gcra<u32> = Gcra::new(10, Duration::from_secs(1), 5, 1000);
        for i in 0..6 {
            assert_eq!(g.check(1, 0), Decision::Allow, "request {i}");
        }
        match g.check(1, 0) {
            Decision::Deny { retry_after } => assert_eq!(retry_after, Duration::from_millis(100)),
            d => panic!("{d:?}"),
        }
        // After one interval, exactly one more passes.
        assert_eq!(g.check(1, S / 10), Decision::Allow);
        assert!(matches!(g.check(1, S / 10), Decision::Deny { .. }));
        // Other keys are independent.
        assert_eq!(g.check(2, 0), Decision::Allow);
    }

    #[test]
    fn steady_rate_at_the_limit_is_never_refused() {
        let g: Gcra<u32> = Gcra::new(100, Duration::from_secs(1), 0, 10);
        for i in 0..1000u64 {
            assert_eq!(g.check(7, i * S / 100), Decision::Allow, "request {i}");
        }
    }

    #[test]
    fn memory_is_bounded_under_a_flood_of_keys() {
        let g: Gcra<u32> = Gcra::new(1, Duration::from_secs(60), 0, 1600);
        for k in 0..100_000u32 {
            g.check(k, 0);
        }
        assert!(g.tracked() <= 1600, "{}", g.tracked());
        // A key that keeps sending is still limited.
        assert_eq!(g.check(5_000_000, 0), Decision::Allow);
        assert!(matches!(g.check(5_000_000, 0), Decision::Deny { .. }));
    }

    #[test]
    fn expired_keys_are_dropped_before_anyone_in_debt() {
        let g: Gcra<u32> = Gcra::new(1, Duration::from_secs(1), 0, 16);
        // One key per shard at most: fill, then let time pass so all are paid off.
        for k in 0..64 {
            g.check(k, 0);
        }
        let t = 10 * S;
        g.check(1000, t);
        assert!(matches!(g.check(1000, t), Decision::Deny { .. }));
    }

    #[test]
    fn ipv6_is_grouped_by_64() {
        let a = ClientKey::of("2001:db8:1:2::1".parse().unwrap(), 64);
        let b = ClientKey::of("2001:db8:1:2:ffff::9".parse().unwrap(), 64);
        let c = ClientKey::of("2001:db8:1:3::1".parse().unwrap(), 64);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let v4 = ClientKey::of("192.0.2.1".parse().unwrap(), 64);
        let mapped = ClientKey::of("::ffff:192.0.2.1".parse().unwrap(), 64);
        assert_eq!(v4, mapped);
    }
}
