//! Rate-limit rules at run time. Limiter state lives in a registry keyed by the rule's scope,
//! name and parameters, so a reload that keeps a rule keeps its counts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rempart_limits::{ClientKey, Decision, Gcra};

use crate::config::RateLimit;

/// One rule ready to check.
pub struct RateRule {
    /// Its name.
    pub name: String,
    path_prefix: Option<String>,
    method: Option<http::Method>,
    ipv6_prefix: u8,
    limiter: Arc<Gcra<ClientKey>>,
    /// Over the limit, challenge instead of 429 (`action = "challenge"`).
    pub challenge: bool,
    /// One budget for the whole scope (`key = "zone"`), not one per client.
    zone_wide: bool,
    /// `rate_limit:<name>`, for the access log, made once.
    pub label: Arc<str>,
}

impl RateRule {
    /// Whether each client has its own budget (not `key = "zone"`): only then is a refusal
    /// the client's own doing, and counted toward the penalty box.
    pub fn per_client(&self) -> bool {
        !self.zone_wide
    }
}

/// Limiters that outlive a reload.
#[derive(Default)]
pub struct LimiterRegistry {
    limiters: Mutex<HashMap<String, Arc<Gcra<ClientKey>>>>,
}

impl LimiterRegistry {
    /// The rules of one scope (`""` for provider-wide, else the zone name).
    pub fn rules(&self, scope: &str, limits: &[RateLimit]) -> Vec<RateRule> {
        let mut map = match self.limiters.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        limits
            .iter()
            .map(|l| {
                let key = format!(
                    "{scope}/{}/{:?}/{}/{}/{}/{}/{}",
                    l.name.get_ref(),
                    l.key,
                    l.requests,
                    l.period_s,
                    l.burst,
                    l.ipv6_prefix,
                    l.max_tracked
                );
                let limiter = map
                    .entry(key)
                    .or_insert_with(|| {
                        Arc::new(Gcra::new(
                            l.requests,
                            Duration::from_secs(l.period_s),
                            l.burst,
                            l.max_tracked,
                        ))
                    })
                    .clone();
                RateRule {
                    name: l.name.get_ref().clone(),
                    path_prefix: l.path_prefix.clone(),
                    method: l.method.as_deref().and_then(|m| m.parse().ok()),
                    ipv6_prefix: l.ipv6_prefix,
                    limiter,
                    challenge: l.action == crate::config::RateAction::Challenge,
                    zone_wide: l.key == crate::config::RateKey::Zone,
                    label: Arc::from(format!("rate_limit:{}", l.name.get_ref())),
                }
            })
            .collect()
    }
}

fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Checks the rules in order; the first that refuses gives the rule name and the wait.
pub fn check<'a>(
    rules: &'a [RateRule],
    ip: IpAddr,
    method: &http::Method,
    path: &str,
) -> Option<(&'a str, Duration)> {
    check_rule(rules, ip, method, path).map(|(r, wait)| (r.name.as_str(), wait))
}

/// Like [`check`], giving the rule itself (its action).
pub fn check_rule<'a>(
    rules: &'a [RateRule],
    ip: IpAddr,
    method: &http::Method,
    path: &str,
) -> Option<(&'a RateRule, Duration)> {
    if rules.is_empty() {
        return None;
    }
    let now = now_ns();
    for rule in rules {
        if rule.method.as_ref().is_some_and(|m| m != method) {
            continue;
        }
        if rule
            .path_prefix
            .as_deref()
            .is_some_and(|p| !path.starts_with(p))
        {
            continue;
        }
        // A zone-wide rule's limiter holds one key; 0.0.0.0 is never a client's address.
        let key = if rule.zone_wide {
            ClientKey::of(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 32)
        } else {
            ClientKey::of(ip, rule.ipv6_prefix)
        };
        if let Decision::Deny { retry_after } = rule.limiter.check(key, now) {
            return Some((rule, retry_after));
        }
    }
    None
}
