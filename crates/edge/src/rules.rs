//! Request rules at run time (`[[rule]]` and `[[zone.rule]]`, language in `rempart-rules`):
//! compiled with the configuration, so they reload with it, and evaluated in `request_filter`
//! after routing and the address lists, before the rate limits.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use pingora::http::RequestHeader;
use rempart_limits::ClientKey;
use rempart_rules::{Action, Expr, IpSet, Lists, Outcome, ParseError, Request, Rule, RuleSet};

use crate::config::{parse_net, EdgeConfig, RuleConfig};
use crate::metrics::Metrics;
use crate::ratelimit::{LimiterRegistry, RateRule};

/// The named address lists of the configuration (`[lists]`), for `ip.src in $name`.
pub fn lists(config: &EdgeConfig) -> Lists {
    let mut lists = Lists::new();
    for (name, entries) in &config.lists {
        let nets = entries.iter().filter_map(|e| parse_net(e.get_ref()));
        lists.insert(name.clone(), IpSet::new(nets));
    }
    lists
}

/// A rule's identifier: its `id`, else its position in its scope (1-based).
pub fn rule_id(rule: &RuleConfig, index: usize) -> String {
    rule.id
        .as_ref()
        .map_or_else(|| (index + 1).to_string(), |id| id.get_ref().clone())
}

/// A rule's action, or why it is not one.
pub fn action(rule: &RuleConfig) -> Result<Action, String> {
    let name = rule.action.get_ref().as_str();
    let action = match name {
        "block" => Action::Block {
            status: rule.status.unwrap_or(403),
        },
        "challenge" => Action::Challenge,
        "allow" => Action::Allow,
        "log" => Action::Log,
        "rate_limit" => match &rule.rate_limit {
            Some(l) => Action::RateLimit(l.get_ref().clone()),
            None => {
                return Err(
                    "action \"rate_limit\" needs rate_limit = \"name\" of a [[rate_limit]]".into(),
                )
            }
        },
        other => {
            return Err(format!(
                "action '{other}' must be \"block\", \"challenge\", \"rate_limit\", \"allow\" or \"log\""
            ))
        }
    };
    if rule.status.is_some() && !matches!(action, Action::Block { .. }) {
        return Err("status applies only to action = \"block\"".into());
    }
    if let Some(s) = rule.status {
        if !(400..=599).contains(&s) {
            return Err(format!("status {s} must be between 400 and 599"));
        }
    }
    if rule.rate_limit.is_some() && !matches!(action, Action::RateLimit(_)) {
        return Err("rate_limit applies only to action = \"rate_limit\"".into());
    }
    Ok(action)
}

/// Compiles one rule's expression.
pub fn compile(rule: &RuleConfig, lists: &Lists) -> Result<Expr, ParseError> {
    Expr::parse(rule.expr.get_ref(), lists)
}

/// Names of the rate limits that rules of a scope send requests to. Such a limit counts only
/// those requests: it is left out of the scope's general rate-limit pass.
pub fn referenced_limits(rules: &[RuleConfig]) -> HashSet<String> {
    rules
        .iter()
        .filter(|r| r.action.get_ref() == "rate_limit")
        .filter_map(|r| r.rate_limit.as_ref().map(|l| l.get_ref().clone()))
        .collect()
}

/// One scope's compiled rules (provider-wide, or a zone's).
#[derive(Default)]
pub struct ScopeRules {
    /// The rules, in order.
    pub set: RuleSet,
    /// The rate limits that rules send requests to, by name.
    limits: HashMap<String, RateRule>,
}

impl ScopeRules {
    /// Compiles a validated scope; `limits` are the scope's `[[rate_limit]]`s.
    pub fn build(
        scope: &str,
        rules: &[RuleConfig],
        limits: &[crate::config::RateLimit],
        lists: &Lists,
        registry: &LimiterRegistry,
    ) -> Result<ScopeRules, String> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (i, r) in rules.iter().enumerate() {
            let id = rule_id(r, i);
            let action = action(r).map_err(|e| format!("rule '{id}': {e}"))?;
            let expr = compile(r, lists).map_err(|e| format!("rule '{id}': {e}"))?;
            compiled.push(Rule { id, action, expr });
        }
        let wanted = referenced_limits(rules);
        let used: Vec<_> = limits
            .iter()
            .filter(|l| wanted.contains(l.name.get_ref()))
            .cloned()
            .collect();
        let limits = registry
            .rules(scope, &used)
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        Ok(ScopeRules {
            set: RuleSet::new(compiled),
            limits,
        })
    }

    /// Whether the scope has no rules.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// The request as the rules see it, borrowed from Pingora's request head.
pub struct View<'a> {
    /// The normalised host.
    pub host: &'a str,
    /// The request head.
    pub req: &'a RequestHeader,
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// The client's measured rate (0 when no rule reads it).
    pub rate: f64,
    /// Whether the connection is TLS.
    pub tls: bool,
}

impl Request for View<'_> {
    fn host(&self) -> &str {
        self.host
    }
    fn path(&self) -> &str {
        self.req.uri.path()
    }
    fn method(&self) -> &str {
        self.req.method.as_str()
    }
    fn query(&self) -> &str {
        self.req.uri.query().unwrap_or("")
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.req.headers.get(name).map(|v| v.as_bytes())
    }
    fn client_ip(&self) -> Option<IpAddr> {
        self.ip
    }
    fn rate(&self) -> f64 {
        self.rate
    }
    fn tls(&self) -> bool {
        self.tls
    }
}

/// What the rules decided for a request.
#[derive(Debug, Default)]
pub struct Decision {
    /// The rule that decided (`rule:<id>` in the access log), if one did.
    pub rule: Option<String>,
    /// What to do.
    pub effect: Effect,
    /// The `log` rules that matched, comma-separated.
    pub logged: Option<String>,
}

/// The effect of the rules on a request.
#[derive(Debug, Default, PartialEq, Eq)]
pub enum Effect {
    /// Go on with the rate limits and the rest.
    #[default]
    Continue,
    /// Go on, but skip the rate limits.
    Allow,
    /// Refuse with this status.
    Block(u16),
    /// Challenge the client.
    Challenge,
    /// A rule's rate limit refused it; seconds until a request would pass.
    RateLimited(u64),
}

/// Evaluates the provider-wide rules, then the zone's; the first terminal rule decides.
pub fn evaluate(
    global: &ScopeRules,
    zone: &ScopeRules,
    zone_name: &str,
    view: &View<'_>,
    metrics: &Metrics,
) -> Decision {
    let mut decision = Decision::default();
    let mut logged: Vec<&str> = Vec::new();
    for scope in [global, zone] {
        if scope.is_empty() {
            continue;
        }
        let mut wait = 0u64;
        let verdict = scope.set.evaluate(view, |name| {
            let (Some(limit), Some(ip)) = (scope.limits.get(name), view.ip) else {
                return false;
            };
            let path = view.req.uri.path();
            match crate::ratelimit::check(std::slice::from_ref(limit), ip, &view.req.method, path) {
                Some((_, w)) => {
                    wait = (w.as_secs() + u64::from(w.subsec_nanos() > 0)).max(1);
                    true
                }
                None => false,
            }
        });
        let rules = scope.set.rules();
        let count = |i: usize| {
            let r = &rules[i];
            metrics
                .rule_matches
                .with_label_values(&[zone_name, r.id.as_str(), r.action.name()])
                .inc();
        };
        for &i in verdict.logged.iter().chain(verdict.counted.iter()) {
            count(i);
        }
        logged.extend(verdict.logged.iter().map(|&i| rules[i].id.as_str()));
        if let Some(i) = verdict.outcome.rule() {
            count(i);
            decision.rule = Some(rules[i].id.clone());
            decision.effect = match verdict.outcome {
                Outcome::Allow(_) => Effect::Allow,
                Outcome::Block(_, status) => Effect::Block(status),
                Outcome::Challenge(_) => Effect::Challenge,
                Outcome::RateLimited(_) => Effect::RateLimited(wait),
                Outcome::Continue => Effect::Continue,
            };
            break;
        }
    }
    if !logged.is_empty() {
        decision.logged = Some(logged.join(","));
    }
    decision
}

/// Each client's request rate, as an exponentially decaying count: on every request
/// `score = score * e^(-dt/TAU) + 1`, and the rate is `score / TAU` requests per second, so a
/// steady rate `r` reads as `r` and a burst shows within a second. Memory is bounded: at most
/// `CAPACITY` clients (IPv6 by /64); when a shard is full, clients idle for long (score < 1)
/// go first, then the quietest of a sample, which only ever under-counts that client.
pub struct RateMeter {
    shards: Box<[Mutex<Scores>]>,
    per_shard: usize,
}

/// Per client: the decayed score and when it was last updated (ns).
type Scores = HashMap<ClientKey, (f64, u64)>;

const TAU_S: f64 = 1.0;
const CAPACITY: usize = 1 << 20;
const SHARDS: usize = 16;

impl RateMeter {
    /// A meter holding at most `capacity` clients.
    pub fn new(capacity: usize) -> RateMeter {
        RateMeter {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: (capacity / SHARDS).max(1),
        }
    }

    /// Counts one request of `ip` at `now_ns` (monotonic) and returns its rate (req/s).
    pub fn hit(&self, ip: IpAddr, now_ns: u64) -> f64 {
        let key = ClientKey::of(ip, 64);
        let shard = {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            BuildHasherDefault::<DefaultHasher>::default().hash_one(key) as usize % SHARDS
        };
        let mut table = match self.shards[shard].lock() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        };
        let decayed = |(score, last): (f64, u64), now: u64| {
            let dt = now.saturating_sub(last) as f64 / 1e9;
            score * (-dt / TAU_S).exp()
        };
        if table.len() >= self.per_shard && !table.contains_key(&key) {
            table.retain(|_, v| decayed(*v, now_ns) >= 1.0);
            if table.len() >= self.per_shard {
                if let Some(k) = table
                    .iter()
                    .take(64)
                    .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
                    .map(|(k, _)| *k)
                {
                    table.remove(&k);
                }
            }
        }
        let entry = table.entry(key).or_insert((0.0, now_ns));
        let score = decayed(*entry, now_ns) + 1.0;
        *entry = (score, now_ns.max(entry.1));
        score / TAU_S
    }

    /// How many clients are tracked.
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|t| t.len()).unwrap_or(0))
            .sum()
    }
}

/// The process's meter and clock (monotonic nanoseconds).
pub fn measure(ip: IpAddr) -> f64 {
    static METER: OnceLock<RateMeter> = OnceLock::new();
    static START: OnceLock<Instant> = OnceLock::new();
    let now = START.get_or_init(Instant::now).elapsed().as_nanos() as u64;
    METER.get_or_init(|| RateMeter::new(CAPACITY)).hit(ip, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn steady_rate_reads_as_itself_and_decays() {
        let m = RateMeter::new(1024);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut r = 0.0;
        // 20 requests per second for 10 seconds.
        for i in 0..200u64 {
            r = m.hit(ip, i * S / 20);
        }
        assert!((18.0..=22.0).contains(&r), "{r}");
        // After 10 quiet seconds, one request reads as about 1 req/s.
        let later = m.hit(ip, 20 * S);
        assert!(later < 1.1, "{later}");
        // Another client is counted apart; a v6 /64 is one client.
        assert!(m.hit("192.0.2.2".parse().unwrap(), 20 * S) <= 1.0);
        m.hit("2001:db8::1".parse().unwrap(), 20 * S);
        let v6 = m.hit("2001:db8::2".parse().unwrap(), 20 * S);
        assert!(v6 > 1.9, "{v6}");
    }

    #[test]
    fn memory_stays_bounded() {
        let m = RateMeter::new(SHARDS * 4);
        for i in 0..10_000u32 {
            m.hit(IpAddr::from(i.to_be_bytes()), u64::from(i));
        }
        assert!(m.tracked() <= SHARDS * 4, "{}", m.tracked());
    }
}
