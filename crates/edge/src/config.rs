//! The edge's configuration file (TOML): parsed in stages — file types with serde, then
//! [`EdgeConfig::validate`] collecting every problem with its file, line and column — so that
//! a typo in a security setting fails loudly instead of silently allowing traffic.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

/// A configuration problem, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The whole edge configuration, as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// Where the edge listens.
    pub listen: Listen,
    /// Where the policy comes from.
    #[serde(default)]
    pub policy: PolicySource,
    /// Request-head limits.
    #[serde(default)]
    pub limits: Limits,
    /// Process settings: graceful shutdown and upgrades.
    #[serde(default)]
    pub process: Process,
    /// Provider-wide address lists: a denied address is dropped at accept, before TLS.
    #[serde(default)]
    pub ip_lists: IpLists,
    /// Provider-wide rate limits, checked before each zone's own.
    #[serde(default, rename = "rate_limit")]
    pub rate_limits: Vec<RateLimit>,
    /// Proof-of-work challenges: the signing key and the defaults for every zone.
    #[serde(default)]
    pub challenge: Challenge,
    /// Provider-wide request rules, evaluated before each zone's own.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleConfig>,
    /// Named address lists for the rules (`ip.src in $name`): name = ["10.0.0.0/8", ...].
    #[serde(default)]
    pub lists: HashMap<String, Vec<Spanned<String>>>,
    /// Write one JSON access-log line per request.
    #[serde(default = "default_true")]
    pub access_log: bool,
    /// Peers whose forwarding headers are trusted (CIDRs). Empty: nobody's.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    /// Who implements restrictions, shown on block pages when a restriction does not say.
    #[serde(default = "default_operator")]
    pub operator: String,
    /// The customers' sites.
    #[serde(default, rename = "zone")]
    pub zones: Vec<Zone>,
    /// The file this was read from (set by [`EdgeConfig::load`]).
    #[serde(skip)]
    pub source: PathBuf,
    /// Parsed `trusted_proxies` (set by validation).
    #[serde(skip)]
    pub trusted_nets: Vec<IpNet>,
}

fn default_operator() -> String {
    "Rempart".into()
}

/// Listening addresses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Plain HTTP addresses.
    #[serde(default)]
    pub http: Vec<Spanned<String>>,
    /// HTTPS addresses (TLS 1.2/1.3, HTTP/2 and HTTP/1.1 by ALPN).
    #[serde(default)]
    pub https: Vec<Spanned<String>>,
    /// The admin listener (metrics, health); keep it on loopback or a private network.
    pub admin: Option<Spanned<String>>,
    /// Worker threads per listener service.
    #[serde(default = "default_threads")]
    pub threads: usize,
}

fn default_threads() -> usize {
    1
}

/// Where the edge gets its policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySource {
    /// A policy document on disk, reloaded when it changes.
    pub file: Option<Spanned<String>>,
    /// The desk's policy endpoint (`https://desk/api/v1/policy`), long-polled.
    pub desk_url: Option<Spanned<String>>,
    /// A file holding the bearer token for the desk (never put the token itself here).
    pub desk_token_file: Option<Spanned<String>>,
    /// Where the last verified policy is kept, to start from it when the desk is unreachable.
    pub cache_file: Option<String>,
    /// NATS with JetStream (`nats://host:4222`): policy versions signed by the desk, read
    /// from a stream (see docs/architecture.md). Needs `trusted_keys` or `trusted_keys_file`.
    pub nats_url: Option<Spanned<String>>,
    /// The JetStream stream holding policy versions.
    #[serde(default = "default_nats_stream")]
    pub nats_stream: String,
    /// The subject policy versions are published on.
    #[serde(default = "default_nats_subject")]
    pub nats_subject: String,
    /// Status reports go to `<status_subject>.<edge_id>.status`.
    #[serde(default = "default_status_subject")]
    pub status_subject: String,
    /// This edge's name in status reports (letters, digits, '-', '_').
    pub edge_id: Option<Spanned<String>>,
    /// Milliseconds between status reports.
    #[serde(default = "default_status_interval")]
    pub status_interval_ms: u64,
    /// The desk's policy-signing public keys (64 hex digits each); policy not signed by one
    /// of them is refused.
    #[serde(default)]
    pub trusted_keys: Vec<Spanned<String>>,
    /// A file of such keys, one per line (`#` starts a comment).
    pub trusted_keys_file: Option<Spanned<String>>,
    /// The parsed trusted keys (set by validation).
    #[serde(skip)]
    pub trusted: Vec<rempart_policy::VerifyingKey>,
}

impl Default for PolicySource {
    fn default() -> Self {
        PolicySource {
            file: None,
            desk_url: None,
            desk_token_file: None,
            cache_file: None,
            nats_url: None,
            nats_stream: default_nats_stream(),
            nats_subject: default_nats_subject(),
            status_subject: default_status_subject(),
            edge_id: None,
            status_interval_ms: default_status_interval(),
            trusted_keys: Vec::new(),
            trusted_keys_file: None,
            trusted: Vec::new(),
        }
    }
}

fn default_nats_stream() -> String {
    "REMPART_POLICY".into()
}
fn default_nats_subject() -> String {
    "rempart.policy.v1".into()
}
fn default_status_subject() -> String {
    "rempart.edge".into()
}
fn default_status_interval() -> u64 {
    1_000
}

/// A rate limit per client address: `requests` per `period_s` seconds with `burst` more at
/// once (GCRA, exact for the addresses tracked), optionally only for a path prefix or method.
/// Over it: 429 with `Retry-After`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// A name, unique in its scope, for metrics and logs.
    pub name: Spanned<String>,
    /// Requests allowed per period.
    pub requests: u32,
    /// The period in seconds.
    #[serde(default = "default_period")]
    pub period_s: u64,
    /// Requests allowed at once above the steady rate.
    #[serde(default)]
    pub burst: u32,
    /// Only requests whose path starts with this.
    pub path_prefix: Option<String>,
    /// Only requests with this method (upper case).
    pub method: Option<String>,
    /// IPv6 clients are grouped by this prefix length.
    #[serde(default = "default_v6_prefix")]
    pub ipv6_prefix: u8,
    /// Most client addresses tracked at once (memory bound; see `rempart-limits`).
    #[serde(default = "default_tracked")]
    pub max_tracked: usize,
    /// What a client over the limit gets: `reject` (429) or `challenge` (a proof-of-work page;
    /// a client holding a valid clearance passes).
    #[serde(default)]
    pub action: RateAction,
    /// What is counted: each `client` address (the default) or the `zone` as a whole (every
    /// request of the scope against one budget, for floods from many addresses that each stay
    /// under a per-address limit; best with `action = "challenge"`, so that cleared clients
    /// keep passing while the budget is spent).
    #[serde(default)]
    pub key: RateKey,
}

/// What a rate limit counts requests by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateKey {
    /// Each client address (IPv6 by `ipv6_prefix`).
    #[default]
    Client,
    /// The whole scope (the zone, or every zone for a provider-wide limit): one budget.
    Zone,
}

/// What a rate limit does with a client over it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateAction {
    /// 429 with `Retry-After`.
    #[default]
    Reject,
    /// A challenge; solving it lets the client through until its clearance expires.
    Challenge,
}

/// The HMAC key that signs challenge tokens and clearance cookies. Never printed.
#[derive(Clone, Default)]
pub struct SecretKey(pub Option<std::sync::Arc<Vec<u8>>>);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "SecretKey(set)"
        } else {
            "SecretKey(none)"
        })
    }
}

/// Provider-wide challenge settings (`[challenge]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    /// A file holding the HMAC key (at least 32 bytes). Without it a random key is made at
    /// start: clearances then do not survive a restart and are not accepted by other edges, so
    /// a fleet behind one name needs the same file on every edge.
    pub secret_file: Option<Spanned<String>>,
    /// Leading zero bits the SHA-256 of `token:solution` must have (1 to 32).
    #[serde(default = "default_difficulty")]
    pub difficulty: Spanned<u8>,
    /// Seconds a challenge token can be answered.
    #[serde(default = "default_token_ttl")]
    pub token_ttl_s: Spanned<u64>,
    /// Seconds a clearance cookie is valid.
    #[serde(default = "default_clearance_ttl")]
    pub clearance_ttl_s: Spanned<u64>,
    /// Seconds a client without JavaScript waits before its token is accepted; 0 turns the
    /// fallback off.
    #[serde(default = "default_nojs_wait")]
    pub nojs_wait_s: Spanned<u64>,
    /// The key read from `secret_file` (set by validation).
    #[serde(skip)]
    pub key: SecretKey,
}

fn default_difficulty() -> Spanned<u8> {
    Spanned::new(0..0, 16)
}
fn default_token_ttl() -> Spanned<u64> {
    Spanned::new(0..0, 120)
}
fn default_clearance_ttl() -> Spanned<u64> {
    Spanned::new(0..0, 3600)
}
fn default_nojs_wait() -> Spanned<u64> {
    Spanned::new(0..0, 5)
}

impl Default for Challenge {
    fn default() -> Self {
        Challenge {
            secret_file: None,
            difficulty: default_difficulty(),
            token_ttl_s: default_token_ttl(),
            clearance_ttl_s: default_clearance_ttl(),
            nojs_wait_s: default_nojs_wait(),
            key: SecretKey::default(),
        }
    }
}

/// When a zone challenges every request without a valid clearance (`[zone.challenge]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChallengeMode {
    /// Never (rate limits and rules may still challenge).
    #[default]
    Off,
    /// Always ("under attack").
    Always,
    /// While the zone's request rate is above `threshold_rps`.
    Auto,
}

/// A zone's challenge mode.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneChallenge {
    /// `off`, `always` or `auto`.
    #[serde(default)]
    pub mode: ChallengeMode,
    /// This zone's difficulty, instead of `[challenge] difficulty`.
    pub difficulty: Option<Spanned<u8>>,
    /// `auto`: requests per second (over one whole second) that turn challenges on.
    pub threshold_rps: Option<Spanned<u64>>,
    /// `auto`: the rate under which the zone counts as calm (half the threshold by default).
    pub release_rps: Option<Spanned<u64>>,
    /// `auto`: calm seconds in a row before challenges turn off again.
    #[serde(default = "default_cool_down")]
    pub cool_down_s: u64,
}

fn default_cool_down() -> u64 {
    30
}

/// A request rule: an expression in the rules language (`docs/rules.md`) and an action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// An identifier for logs and metrics (default: the rule's position in its scope).
    pub id: Option<Spanned<String>>,
    /// What the rule is for.
    pub description: Option<String>,
    /// The expression, e.g. `http.path starts_with "/admin" and not ip.src in $office`.
    pub expr: Spanned<String>,
    /// `block`, `challenge`, `rate_limit`, `allow` or `log`.
    pub action: Spanned<String>,
    /// The status for `block` (403 by default).
    pub status: Option<u16>,
    /// The `[[rate_limit]]` (same scope) that `rate_limit` sends matching requests to.
    pub rate_limit: Option<Spanned<String>>,
}

fn default_queue_timeout() -> u64 {
    100
}

fn default_period() -> u64 {
    1
}
fn default_v6_prefix() -> u8 {
    64
}
fn default_tracked() -> usize {
    1_000_000
}

/// Allow and deny lists of addresses and CIDR prefixes, inline or in files (one per line).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpLists {
    /// Addresses never denied by this scope's or a wider scope's deny list.
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// Addresses refused.
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
    /// A file of allowed prefixes.
    pub allow_file: Option<Spanned<String>>,
    /// A file of denied prefixes (a million lines is fine).
    pub deny_file: Option<Spanned<String>>,
}

/// Process settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    /// The socket through which a new binary takes the listeners over (`--upgrade`).
    pub upgrade_sock: Option<String>,
    /// Where the process id is written.
    pub pid_file: Option<String>,
    /// Seconds between SIGTERM/SIGQUIT and closing the listeners.
    #[serde(default = "default_grace")]
    pub grace_period_s: u64,
    /// Seconds in-flight requests get to finish after the listeners close.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_s: u64,
}

fn default_grace() -> u64 {
    1
}
fn default_shutdown_timeout() -> u64 {
    10
}

impl Default for Process {
    fn default() -> Self {
        Process {
            upgrade_sock: None,
            pid_file: None,
            grace_period_s: default_grace(),
            shutdown_timeout_s: default_shutdown_timeout(),
        }
    }
}

/// Limits on the request head.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Longest request target accepted (bytes); longer → 414.
    #[serde(default = "default_max_uri")]
    pub max_uri_bytes: usize,
    /// Largest total size of the request headers (bytes); larger → 431.
    #[serde(default = "default_max_headers")]
    pub max_header_bytes: usize,
    /// Most request headers accepted; more → 431.
    #[serde(default = "default_max_header_count")]
    pub max_header_count: usize,
    /// Seconds an idle keep-alive connection is kept between requests (Pingora's default, and
    /// a client's own `Keep-Alive: timeout=`, would keep it forever).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_s: u64,
    /// Concurrent connections from one client (an IPv4 address, an IPv6 /64); more are closed
    /// at accept, before TLS. 0: no cap.
    #[serde(default = "zero")]
    pub max_connections_per_ip: Spanned<u64>,
    /// Concurrent client connections in total; more are closed at accept. 0: no cap.
    #[serde(default = "zero")]
    pub max_connections: Spanned<u64>,
    /// Seconds a client has to send a whole HTTP/1 request head, however it trickles it (each
    /// read alone would be allowed 60 s); then the connection is closed.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_s: Spanned<u64>,
    /// Slowest request body accepted (bytes/s, averaged from the head over at least
    /// `body_rate_window_s`; a body stalled for a whole window also fails) → 408. 0: off.
    #[serde(default = "default_min_rate")]
    pub min_body_rate: Spanned<u64>,
    /// The window for `min_body_rate`, and the longest an HTTP/2 response write may wait.
    #[serde(default = "default_rate_window")]
    pub body_rate_window_s: Spanned<u64>,
    /// Slowest response read accepted (bytes/s): an HTTP/1 write of n bytes must finish within
    /// n / rate seconds (at least 1 s). 0: off.
    #[serde(default = "default_min_rate")]
    pub min_response_rate: Spanned<u64>,
    /// HTTP/2 streams a client may have open at once on a connection.
    #[serde(default = "default_h2_streams")]
    pub h2_max_concurrent_streams: Spanned<u64>,
    /// Largest decoded HTTP/2 header list (bytes); a larger one is refused.
    #[serde(default = "default_h2_header_list")]
    pub h2_max_header_list_bytes: Spanned<u64>,
    /// Streams a client may reset before they are served (rapid reset); more → GOAWAY.
    #[serde(default = "default_h2_pending_resets")]
    pub h2_max_pending_accept_reset_streams: Spanned<u64>,
    /// Escalation: refusals (429s from a per-address `[[rate_limit]]`, challenge pages) a
    /// client (an IPv4 address, an IPv6 /64) may get within `penalty_window_s` without solving
    /// a challenge; the next one puts it in the penalty box, whose new connections are closed
    /// at accept, before TLS and HTTP. 0: off.
    #[serde(default = "zero")]
    pub penalty_after: Spanned<u64>,
    /// The window over which refusals are counted (seconds).
    #[serde(default = "default_penalty_window")]
    pub penalty_window_s: Spanned<u64>,
    /// Shortest time in the box (seconds): a client stays there for the refusal's own
    /// `Retry-After` if that is longer, up to `penalty_max_s`. The answer that puts it there
    /// says how long in its `Retry-After`.
    #[serde(default = "default_penalty")]
    pub penalty_s: Spanned<u64>,
    /// Longest time in the box (seconds).
    #[serde(default = "default_penalty_max")]
    pub penalty_max_s: Spanned<u64>,
    /// Most clients tracked at once (refusals counted or boxed): the memory bound. When full,
    /// clients whose window has passed are forgotten first, then the one closest to leaving
    /// the box (it leaves early).
    #[serde(default = "default_penalty_tracked")]
    pub penalty_max_tracked: Spanned<u64>,
    /// Where a boxed client is refused: `"accept"` (its connections are accepted and closed
    /// at once) or `"kernel"` (a socket filter on the listening sockets drops its SYNs: no
    /// accept, no close, no wake-up; see [`crate::synfilter`]). With eBPF (root or
    /// `CAP_BPF` + `CAP_NET_ADMIN`) every boxed client is in the kernel; without, only the
    /// 1,000 most recently boxed, the others still closed at accept.
    #[serde(default = "default_penalty_filter")]
    pub penalty_filter: Spanned<PenaltyFilter>,
}

/// Where the penalty box refuses (`limits.penalty_filter`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PenaltyFilter {
    /// Accepted, then closed at once.
    #[default]
    Accept,
    /// Its SYNs dropped by a classic BPF filter on the listening sockets.
    Kernel,
}

fn spanned<T>(v: T) -> Spanned<T> {
    Spanned::new(0..0, v)
}
fn zero() -> Spanned<u64> {
    spanned(0)
}
fn default_header_timeout() -> Spanned<u64> {
    spanned(10)
}
fn default_min_rate() -> Spanned<u64> {
    spanned(512)
}
fn default_rate_window() -> Spanned<u64> {
    spanned(10)
}
fn default_h2_streams() -> Spanned<u64> {
    spanned(100)
}
fn default_h2_header_list() -> Spanned<u64> {
    spanned(64 * 1024)
}
fn default_h2_pending_resets() -> Spanned<u64> {
    spanned(20)
}

fn default_penalty_window() -> Spanned<u64> {
    spanned(10)
}
fn default_penalty() -> Spanned<u64> {
    spanned(10)
}
fn default_penalty_max() -> Spanned<u64> {
    spanned(60)
}
fn default_penalty_filter() -> Spanned<PenaltyFilter> {
    spanned(PenaltyFilter::Accept)
}
fn default_penalty_tracked() -> Spanned<u64> {
    spanned(100_000)
}

fn default_idle_timeout() -> u64 {
    60
}

fn default_max_uri() -> usize {
    8 * 1024
}
fn default_max_headers() -> usize {
    32 * 1024
}
fn default_max_header_count() -> usize {
    100
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_uri_bytes: default_max_uri(),
            max_header_bytes: default_max_headers(),
            max_header_count: default_max_header_count(),
            idle_timeout_s: default_idle_timeout(),
            max_connections_per_ip: zero(),
            max_connections: zero(),
            header_timeout_s: default_header_timeout(),
            min_body_rate: default_min_rate(),
            body_rate_window_s: default_rate_window(),
            min_response_rate: default_min_rate(),
            h2_max_concurrent_streams: default_h2_streams(),
            h2_max_header_list_bytes: default_h2_header_list(),
            h2_max_pending_accept_reset_streams: default_h2_pending_resets(),
            penalty_after: zero(),
            penalty_window_s: default_penalty_window(),
            penalty_s: default_penalty(),
            penalty_max_s: default_penalty_max(),
            penalty_max_tracked: default_penalty_tracked(),
            penalty_filter: default_penalty_filter(),
        }
    }
}

/// One customer's site.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// A short unique name, used in metrics and logs.
    pub name: Spanned<String>,
    /// Hostnames: exact (`forum.example`) or wildcard (`*.forum.example`).
    pub hosts: Vec<Spanned<String>>,
    /// Certificate and key for HTTPS.
    pub tls: Option<ZoneTls>,
    /// Redirect plain HTTP to HTTPS (308).
    #[serde(default)]
    pub https_redirect: bool,
    /// HSTS max-age in seconds, sent on HTTPS responses; 0 = no header.
    #[serde(default)]
    pub hsts_max_age: u64,
    /// Whether HSTS covers subdomains.
    #[serde(default)]
    pub hsts_include_subdomains: bool,
    /// Timeouts toward the origins.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Active health checks of the origins.
    #[serde(default)]
    pub health_check: HealthCheck,
    /// The zone's own address lists (403 for a denied address).
    #[serde(default)]
    pub ip_lists: IpLists,
    /// The zone's rate limits.
    #[serde(default, rename = "rate_limit")]
    pub rate_limits: Vec<RateLimit>,
    /// The zone's request rules, after the provider-wide ones.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleConfig>,
    /// Most requests in flight toward the zone's origins at once (0: no limit). Requests over
    /// it wait up to `queue_timeout_ms`, then get 503, so an origin is never overrun.
    #[serde(default)]
    pub max_concurrent_requests: usize,
    /// How long a request may wait for a slot before 503.
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout_ms: u64,
    /// Most of those slots one client (an IPv4 address, an IPv6 /64) may hold at once; over
    /// it, 429 at once. Without it, one client with slow requests (a slow read of a large
    /// file, a trickled body) holds every slot and everyone else queues. Default: a quarter
    /// of `max_concurrent_requests`, but at least 6 (a browser's parallel HTTP/1.1
    /// connections to one host), so that a page's assets never meet it; 0: no share.
    #[serde(default)]
    pub max_concurrent_requests_per_client: Option<usize>,
    /// Challenge mode ("under attack"): off, always, or automatic above a request rate.
    #[serde(default)]
    pub challenge: ZoneChallenge,
    /// The origins.
    #[serde(rename = "origin")]
    pub origins: Vec<Origin>,
}

/// A zone's certificate chain and private key (PEM files).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneTls {
    /// PEM certificate chain, leaf first.
    pub cert: Spanned<String>,
    /// PEM private key.
    pub key: Spanned<String>,
}

/// Timeouts toward a zone's origins, in milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// TCP (and TLS) connect.
    #[serde(default = "default_connect_ms")]
    pub connect_ms: u64,
    /// Each read from the origin.
    #[serde(default = "default_read_ms")]
    pub read_ms: u64,
    /// Each write to the origin.
    #[serde(default = "default_read_ms")]
    pub write_ms: u64,
    /// How long an idle pooled connection to the origin is kept.
    #[serde(default = "default_idle_ms")]
    pub idle_ms: u64,
}

fn default_connect_ms() -> u64 {
    3_000
}
fn default_read_ms() -> u64 {
    60_000
}
fn default_idle_ms() -> u64 {
    60_000
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_ms: default_connect_ms(),
            read_ms: default_read_ms(),
            write_ms: default_read_ms(),
            idle_ms: default_idle_ms(),
        }
    }
}

impl Timeouts {
    /// As durations: connect, read, write, idle.
    pub fn durations(&self) -> [Duration; 4] {
        [self.connect_ms, self.read_ms, self.write_ms, self.idle_ms].map(Duration::from_millis)
    }
}

/// Active health checking of origins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Seconds between checks; 0 disables checking (every origin is taken as up).
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// `tcp` (a connect) or an HTTP path such as `/healthz` (expects a 2xx/3xx).
    #[serde(default = "default_check")]
    pub check: String,
}

fn default_interval() -> u64 {
    2_000
}
fn default_check() -> String {
    "tcp".into()
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            interval_ms: default_interval(),
            check: default_check(),
        }
    }
}

/// One origin server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// `ip:port` or `name:port`.
    pub address: Spanned<String>,
    /// Relative weight in load balancing.
    #[serde(default = "default_weight")]
    pub weight: Spanned<usize>,
    /// Speak TLS to the origin.
    #[serde(default)]
    pub tls: bool,
    /// The SNI and verified name when `tls`; defaults to the address's host.
    pub sni: Option<String>,
    /// Verify the origin's certificate (on by default; turn off only for testing).
    #[serde(default = "default_true")]
    pub verify: bool,
    /// A PEM CA bundle to verify the origin with, instead of the system roots.
    pub ca: Option<Spanned<String>>,
    /// Offer HTTP/2 to the origin (by ALPN over TLS).
    #[serde(default)]
    pub h2: bool,
}

fn default_weight() -> Spanned<usize> {
    Spanned::new(0..0, 1)
}
fn default_true() -> bool {
    true
}

impl EdgeConfig {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<EdgeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(vec![ConfigProblem {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read the file: {e}"),
            }])
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates configuration text that came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<EdgeConfig, ConfigError> {
        let locate = Locator { file: path, text };
        let mut config: EdgeConfig = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            ConfigError(vec![locate.at(span.start, e.message().to_string())])
        })?;
        config.source = path.to_path_buf();
        config.validate(&locate)?;
        Ok(config)
    }

    fn validate(&mut self, locate: &Locator<'_>) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let base = locate.file.parent().unwrap_or(Path::new("."));
        let check_addr = |a: &Spanned<String>, what: &str, problems: &mut Vec<_>| {
            if a.get_ref().parse::<SocketAddr>().is_err() {
                problems.push(locate.at(
                    a.span().start,
                    format!(
                        "{what} '{}' is not an address; write ip:port such as 127.0.0.1:8080 or [::]:443",
                        a.get_ref()
                    ),
                ));
            }
        };
        for a in &self.listen.http {
            check_addr(a, "listen.http", &mut problems);
        }
        for a in &self.listen.https {
            check_addr(a, "listen.https", &mut problems);
        }
        if let Some(a) = &self.listen.admin {
            check_addr(a, "listen.admin", &mut problems);
        }
        if self.listen.http.is_empty() && self.listen.https.is_empty() {
            problems.push(locate.at(
                0,
                "no listener: add listen.http or listen.https addresses".into(),
            ));
        }
        if self.limits.idle_timeout_s == 0 {
            problems.push(
                locate.at(
                    0,
                    "limits.idle_timeout_s must be at least 1 (idle connections would never close)"
                        .into(),
                ),
            );
        }
        {
            let l = &self.limits;
            let mut range = |v: &Spanned<u64>, key: &str, min: u64, max: u64, why: &str| {
                if *v.get_ref() < min || *v.get_ref() > max {
                    problems.push(locate.at(
                        v.span().start,
                        format!("limits.{key} must be between {min} and {max} ({why})"),
                    ));
                }
            };
            let big = u64::from(u32::MAX);
            range(
                &l.max_connections_per_ip,
                "max_connections_per_ip",
                0,
                big,
                "0 = no cap",
            );
            range(&l.max_connections, "max_connections", 0, big, "0 = no cap");
            range(&l.header_timeout_s, "header_timeout_s", 1, 3600, "seconds");
            range(
                &l.min_body_rate,
                "min_body_rate",
                0,
                big,
                "bytes/s, 0 = off",
            );
            range(
                &l.body_rate_window_s,
                "body_rate_window_s",
                1,
                3600,
                "seconds",
            );
            range(
                &l.min_response_rate,
                "min_response_rate",
                0,
                big,
                "bytes/s, 0 = off",
            );
            range(
                &l.h2_max_concurrent_streams,
                "h2_max_concurrent_streams",
                1,
                big,
                "streams",
            );
            range(
                &l.h2_max_header_list_bytes,
                "h2_max_header_list_bytes",
                1024,
                big,
                "bytes",
            );
            range(
                &l.h2_max_pending_accept_reset_streams,
                "h2_max_pending_accept_reset_streams",
                1,
                100_000,
                "streams",
            );
            range(
                &l.penalty_after,
                "penalty_after",
                0,
                1_000_000,
                "refusals, 0 = off",
            );
            range(&l.penalty_window_s, "penalty_window_s", 1, 3600, "seconds");
            range(&l.penalty_s, "penalty_s", 1, 3600, "seconds");
            range(&l.penalty_max_s, "penalty_max_s", 1, 86_400, "seconds");
            range(
                &l.penalty_max_tracked,
                "penalty_max_tracked",
                16,
                10_000_000,
                "clients",
            );
            if *l.penalty_filter.get_ref() == PenaltyFilter::Kernel
                && *l.penalty_after.get_ref() == 0
            {
                problems.push(locate.at(
                    l.penalty_filter.span().start,
                    "limits.penalty_filter = \"kernel\" needs the penalty box on (limits.penalty_after > 0)"
                        .into(),
                ));
            }
            if l.penalty_max_s.get_ref() < l.penalty_s.get_ref() {
                problems.push(locate.at(
                    l.penalty_max_s.span().start,
                    "limits.penalty_max_s must be at least limits.penalty_s".into(),
                ));
            }
        }
        if self.listen.threads == 0 || self.listen.threads > 256 {
            problems.push(locate.at(0, "listen.threads must be between 1 and 256".into()));
        }

        for cidr in &self.trusted_proxies {
            match parse_net(cidr.get_ref()) {
                Some(net) => self.trusted_nets.push(net),
                None => problems.push(locate.at(
                    cidr.span().start,
                    format!(
                        "trusted_proxies entry '{}' is not an IP address or CIDR such as 10.0.0.0/8",
                        cidr.get_ref()
                    ),
                )),
            }
        }

        match (&self.policy.file, &self.policy.desk_url) {
            (Some(f), Some(_)) => problems.push(locate.at(
                f.span().start,
                "policy.file and policy.desk_url are exclusive: choose one source".into(),
            )),
            (None, Some(u)) => {
                let url = u.get_ref();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    problems.push(locate.at(
                        u.span().start,
                        format!("policy.desk_url '{url}' must be an http(s) URL"),
                    ));
                }
                match &self.policy.desk_token_file {
                    None => problems.push(locate.at(
                        u.span().start,
                        "policy.desk_url needs policy.desk_token_file (a file with the edge's token)"
                            .into(),
                    )),
                    Some(t) => {
                        let p = resolve(base, t.get_ref());
                        if !p.is_file() {
                            problems.push(locate.at(
                                t.span().start,
                                format!("policy.desk_token_file '{}' does not exist", p.display()),
                            ));
                        }
                    }
                }
            }
            _ => {}
        }

        self.validate_fleet(locate, base, &mut problems);

        let base_dir = base.to_path_buf();
        let check_lists = |lists: &IpLists, problems: &mut Vec<ConfigProblem>| {
            for entry in lists.allow.iter().chain(lists.deny.iter()) {
                if parse_net(entry.get_ref()).is_none() {
                    problems.push(locate.at(
                        entry.span().start,
                        format!(
                            "'{}' is not an IP address or CIDR such as 203.0.113.0/24",
                            entry.get_ref()
                        ),
                    ));
                }
            }
            for f in lists.allow_file.iter().chain(lists.deny_file.iter()) {
                if !resolve(&base_dir, f.get_ref()).is_file() {
                    problems.push(locate.at(
                        f.span().start,
                        format!("list file '{}' does not exist", f.get_ref()),
                    ));
                }
            }
        };
        check_lists(&self.ip_lists, &mut problems);
        for zone in &self.zones {
            check_lists(&zone.ip_lists, &mut problems);
        }
        let check_limits = |limits: &[RateLimit], problems: &mut Vec<ConfigProblem>| {
            let mut names = std::collections::HashSet::new();
            for l in limits {
                let at = l.name.span().start;
                if !names.insert(l.name.get_ref().clone()) {
                    problems.push(locate.at(
                        at,
                        format!("rate limit '{}' is defined twice", l.name.get_ref()),
                    ));
                }
                if l.requests == 0 || l.period_s == 0 {
                    problems.push(locate.at(
                        at,
                        "rate limit: requests and period_s must be at least 1".into(),
                    ));
                }
                if l.ipv6_prefix == 0 || l.ipv6_prefix > 128 {
                    problems.push(locate.at(
                        at,
                        "rate limit: ipv6_prefix must be between 1 and 128".into(),
                    ));
                }
                if l.max_tracked < 16 {
                    problems
                        .push(locate.at(at, "rate limit: max_tracked must be at least 16".into()));
                }
                if let Some(m) = &l.method {
                    if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                        problems.push(locate.at(
                            at,
                            format!("rate limit: method '{m}' must be upper case, like POST"),
                        ));
                    }
                }
                if l.path_prefix.as_ref().is_some_and(|p| !p.starts_with('/')) {
                    problems
                        .push(locate.at(at, "rate limit: path_prefix must start with '/'".into()));
                }
            }
        };
        check_limits(&self.rate_limits, &mut problems);
        for zone in &self.zones {
            check_limits(&zone.rate_limits, &mut problems);
        }
        self.validate_challenge(locate, base, &mut problems);

        for (name, entries) in &self.lists {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                let at = entries.first().map_or(0, |e| e.span().start);
                problems.push(locate.at(
                    at,
                    format!("list name '{name}' must be letters, digits, '_' or '-'"),
                ));
            }
            for entry in entries {
                if parse_net(entry.get_ref()).is_none() {
                    problems.push(locate.at(
                        entry.span().start,
                        format!(
                            "list '{name}': '{}' is not an IP address or CIDR such as 10.0.0.0/8",
                            entry.get_ref()
                        ),
                    ));
                }
            }
        }
        let lists = crate::rules::lists(self);
        let check_rules = |rules: &[RuleConfig],
                           limits: &[RateLimit],
                           problems: &mut Vec<ConfigProblem>| {
            let mut ids = std::collections::HashSet::new();
            for (i, rule) in rules.iter().enumerate() {
                let id = crate::rules::rule_id(rule, i);
                let id_at = rule
                    .id
                    .as_ref()
                    .map_or(rule.expr.span().start, |s| s.span().start);
                if !ids.insert(id.clone()) {
                    problems.push(locate.at(id_at, format!("rule id '{id}' is used twice")));
                }
                if let Err(e) = crate::rules::action(rule) {
                    problems.push(locate.at(rule.action.span().start, format!("rule '{id}': {e}")));
                }
                if let Some(l) = &rule.rate_limit {
                    if !limits.iter().any(|x| x.name.get_ref() == l.get_ref()) {
                        problems.push(locate.at(
                            l.span().start,
                            format!(
                                "rule '{id}': no [[rate_limit]] named '{}' in the same scope",
                                l.get_ref()
                            ),
                        ));
                    }
                }
                // The file position of the expression, then the position inside it.
                if let Err(e) = crate::rules::compile(rule, &lists) {
                    problems.push(locate.at(
                            rule.expr.span().start,
                            format!(
                                "rule '{id}': expression error at {}:{} (line:column in the expression): {}",
                                e.line, e.column, e.reason
                            ),
                        ));
                }
            }
        };
        check_rules(&self.rules, &self.rate_limits, &mut problems);
        for zone in &self.zones {
            check_rules(&zone.rules, &zone.rate_limits, &mut problems);
        }

        let mut hosts: HashMap<String, String> = HashMap::new();
        let mut names: HashMap<String, ()> = HashMap::new();
        for zone in &self.zones {
            let zname = zone.name.get_ref().clone();
            if zname.is_empty()
                || !zname
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            {
                problems.push(locate.at(
                    zone.name.span().start,
                    format!("zone name '{zname}' must be letters, digits, '-', '_' or '.'"),
                ));
            }
            if names.insert(zname.clone(), ()).is_some() {
                problems.push(locate.at(
                    zone.name.span().start,
                    format!("zone name '{zname}' is used twice; zone names must be unique"),
                ));
            }
            if zone.hosts.is_empty() {
                problems.push(locate.at(
                    zone.name.span().start,
                    format!("zone '{zname}' has no hosts; add hosts = [\"example.org\"]"),
                ));
            }
            for h in &zone.hosts {
                let host = h.get_ref();
                if !valid_host_pattern(host) {
                    problems.push(locate.at(
                        h.span().start,
                        format!(
                            "host '{host}' is not a lower-case hostname or wildcard like *.example.org"
                        ),
                    ));
                } else if let Some(other) = hosts.insert(host.clone(), zname.clone()) {
                    problems.push(locate.at(
                        h.span().start,
                        format!("host '{host}' is already served by zone '{other}'"),
                    ));
                }
            }
            if let Some(tls) = &zone.tls {
                for (what, f) in [("certificate", &tls.cert), ("key", &tls.key)] {
                    let p = resolve(base, f.get_ref());
                    if !p.is_file() {
                        problems.push(locate.at(
                            f.span().start,
                            format!("{what} file '{}' does not exist", p.display()),
                        ));
                    }
                }
                if problems.is_empty() {
                    if let Err(e) = crate::tls::load_certified_key(
                        &resolve(base, tls.cert.get_ref()),
                        &resolve(base, tls.key.get_ref()),
                    ) {
                        problems.push(locate.at(tls.cert.span().start, e));
                    }
                }
            } else if zone.https_redirect || zone.hsts_max_age > 0 {
                problems.push(locate.at(
                    zone.name.span().start,
                    format!(
                        "zone '{zname}' redirects to HTTPS or sends HSTS but has no [zone.tls]"
                    ),
                ));
            }
            if zone.origins.is_empty() {
                problems.push(locate.at(
                    zone.name.span().start,
                    format!(
                        "zone '{zname}' has no origin; add [[zone.origin]] address = \"ip:port\""
                    ),
                ));
            }
            for o in &zone.origins {
                let addr = o.address.get_ref();
                let ok = addr
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                if !ok {
                    problems.push(locate.at(
                        o.address.span().start,
                        format!("origin address '{addr}' must be host:port, e.g. 10.0.0.5:8080"),
                    ));
                }
                if *o.weight.get_ref() == 0 || *o.weight.get_ref() > 1000 {
                    problems.push(locate.at(
                        o.weight.span().start,
                        "origin weight must be between 1 and 1000".into(),
                    ));
                }
                if let Some(ca) = &o.ca {
                    if !resolve(base, ca.get_ref()).is_file() {
                        problems.push(locate.at(
                            ca.span().start,
                            format!("origin CA file '{}' does not exist", ca.get_ref()),
                        ));
                    }
                    if !o.tls {
                        problems.push(locate.at(
                            ca.span().start,
                            "origin 'ca' is set but 'tls' is false; set tls = true".into(),
                        ));
                    }
                }
            }
            let hc = &zone.health_check.check;
            if hc != "tcp" && !hc.starts_with('/') {
                problems.push(locate.at(
                    zone.name.span().start,
                    format!("health_check.check '{hc}' must be \"tcp\" or an HTTP path like \"/healthz\""),
                ));
            }
        }
        if !self.listen.https.is_empty() && !self.zones.iter().any(|z| z.tls.is_some()) {
            problems.push(locate.at(
                self.listen.https[0].span().start,
                "listen.https is set but no zone has [zone.tls]; add a certificate".into(),
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    fn validate_challenge(
        &mut self,
        locate: &Locator<'_>,
        base: &Path,
        problems: &mut Vec<ConfigProblem>,
    ) {
        let c = &mut self.challenge;
        let check_difficulty = |d: &Spanned<u8>, problems: &mut Vec<ConfigProblem>| {
            if !(1..=32).contains(d.get_ref()) {
                problems.push(locate.at(
                    d.span().start,
                    format!(
                        "challenge difficulty {} must be between 1 and 32 (leading zero bits)",
                        d.get_ref()
                    ),
                ));
            }
        };
        check_difficulty(&c.difficulty, problems);
        if *c.token_ttl_s.get_ref() < 10 || *c.token_ttl_s.get_ref() <= *c.nojs_wait_s.get_ref() {
            problems.push(locate.at(
                c.token_ttl_s.span().start,
                "challenge.token_ttl_s must be at least 10 and longer than nojs_wait_s".into(),
            ));
        }
        if *c.clearance_ttl_s.get_ref() == 0 {
            problems.push(locate.at(
                c.clearance_ttl_s.span().start,
                "challenge.clearance_ttl_s must be at least 1".into(),
            ));
        }
        if let Some(f) = &c.secret_file {
            let p = resolve(base, f.get_ref());
            match std::fs::read(&p) {
                Ok(bytes) => {
                    let key = bytes.trim_ascii().to_vec();
                    if key.len() < 32 {
                        problems.push(locate.at(
                            f.span().start,
                            format!(
                                "challenge.secret_file '{}' holds {} bytes; the key needs at least 32 (e.g. head -c 32 /dev/urandom | base64)",
                                p.display(),
                                key.len()
                            ),
                        ));
                    } else {
                        c.key = SecretKey(Some(std::sync::Arc::new(key)));
                    }
                }
                Err(e) => problems.push(locate.at(
                    f.span().start,
                    format!(
                        "challenge.secret_file '{}' cannot be read: {e}",
                        p.display()
                    ),
                )),
            }
        }
        for zone in &self.zones {
            let zc = &zone.challenge;
            if let Some(d) = &zc.difficulty {
                check_difficulty(d, problems);
            }
            let at = zone.name.span().start;
            match (zc.mode, &zc.threshold_rps) {
                (ChallengeMode::Auto, None) => problems.push(locate.at(
                    at,
                    format!(
                        "zone '{}': challenge mode \"auto\" needs threshold_rps",
                        zone.name.get_ref()
                    ),
                )),
                (ChallengeMode::Auto, Some(t)) => {
                    if *t.get_ref() == 0 {
                        problems.push(locate.at(
                            t.span().start,
                            "challenge.threshold_rps must be at least 1".into(),
                        ));
                    }
                    if let Some(r) = &zc.release_rps {
                        if r.get_ref() >= t.get_ref() {
                            problems.push(locate.at(
                                r.span().start,
                                "challenge.release_rps must be below threshold_rps (hysteresis)"
                                    .into(),
                            ));
                        }
                    }
                    if zc.cool_down_s == 0 {
                        problems.push(locate.at(
                            t.span().start,
                            "challenge.cool_down_s must be at least 1".into(),
                        ));
                    }
                }
                (_, Some(t)) => problems.push(locate.at(
                    t.span().start,
                    "challenge.threshold_rps is only used with mode = \"auto\"".into(),
                )),
                _ => {}
            }
        }
    }

    /// A path in the config, resolved relative to the config file's folder.
    pub fn path(&self, p: &str) -> PathBuf {
        resolve(self.source.parent().unwrap_or(Path::new(".")), p)
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Parses an address or CIDR.
pub fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

fn valid_host_pattern(host: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && !name.contains('*')
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
        })
}

struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn at(&self, offset: usize, message: String) -> ConfigProblem {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ConfigProblem {
            file: self.file.to_path_buf(),
            line,
            column,
            message,
        }
    }
}

impl EdgeConfig {
    /// The `[policy]` keys for NATS and signatures.
    fn validate_fleet(
        &mut self,
        locate: &Locator<'_>,
        base: &Path,
        problems: &mut Vec<ConfigProblem>,
    ) {
        let p = &mut self.policy;
        for k in &p.trusted_keys {
            match rempart_policy::parse_public_key(k.get_ref()) {
                Ok(key) => p.trusted.push(key),
                Err(e) => problems.push(locate.at(
                    k.span().start,
                    format!("policy.trusted_keys entry '{}': {e}", k.get_ref()),
                )),
            }
        }
        if let Some(f) = &p.trusted_keys_file {
            match std::fs::read_to_string(resolve(base, f.get_ref())) {
                Err(e) => problems.push(locate.at(
                    f.span().start,
                    format!("policy.trusted_keys_file '{}': {e}", f.get_ref()),
                )),
                Ok(text) => {
                    for (i, line) in text.lines().enumerate() {
                        let line = line.split('#').next().unwrap_or("").trim();
                        if line.is_empty() {
                            continue;
                        }
                        match rempart_policy::parse_public_key(line) {
                            Ok(key) => p.trusted.push(key),
                            Err(e) => problems.push(locate.at(
                                f.span().start,
                                format!(
                                    "policy.trusted_keys_file '{}', line {}: {e}",
                                    f.get_ref(),
                                    i + 1
                                ),
                            )),
                        }
                    }
                }
            }
        }
        let Some(url) = &p.nats_url else { return };
        let at = url.span().start;
        let u = url.get_ref();
        if !(u.starts_with("nats://") || u.starts_with("tls://")) {
            problems.push(locate.at(
                at,
                format!("policy.nats_url '{u}' must be a nats:// or tls:// URL"),
            ));
        }
        if p.file.is_some() || p.desk_url.is_some() {
            problems.push(
                locate.at(
                    at,
                    "policy.nats_url excludes policy.file and policy.desk_url: choose one source"
                        .into(),
                ),
            );
        }
        if p.trusted_keys.is_empty() && p.trusted_keys_file.is_none() {
            problems.push(locate.at(
                at,
                "policy.nats_url needs the desk's public key in policy.trusted_keys or policy.trusted_keys_file: the broker is not trusted with the policy"
                    .into(),
            ));
        }
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        match &p.edge_id {
            None => problems.push(locate.at(
                at,
                "policy.nats_url needs policy.edge_id, this edge's name in status reports".into(),
            )),
            Some(id) if !token(id.get_ref()) => problems.push(locate.at(
                id.span().start,
                format!(
                    "policy.edge_id '{}' must be letters, digits, '-' or '_'",
                    id.get_ref()
                ),
            )),
            Some(_) => {}
        }
        let subject = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|t| {
                    !t.is_empty() && t != "*" && t != ">" && !t.contains(char::is_whitespace)
                })
        };
        for (name, v) in [
            ("nats_subject", &p.nats_subject),
            ("status_subject", &p.status_subject),
        ] {
            if !subject(v) {
                problems.push(locate.at(
                    at,
                    format!("policy.{name} '{v}' must be a NATS subject like rempart.policy.v1"),
                ));
            }
        }
        if !token(&p.nats_stream) {
            problems.push(locate.at(
                at,
                format!(
                    "policy.nats_stream '{}' must be letters, digits, '-' or '_'",
                    p.nats_stream
                ),
            ));
        }
        if p.status_interval_ms == 0 {
            problems.push(locate.at(at, "policy.status_interval_ms must be at least 1".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EdgeConfig, ConfigError> {
        EdgeConfig::parse(Path::new("/tmp/rempart-test.toml"), text)
    }

    const GOOD: &str = r#"
[listen]
http = ["127.0.0.1:8080"]

[[zone]]
name = "forum"
hosts = ["forum.example", "*.forum.example"]
[[zone.origin]]
address = "127.0.0.1:9000"
"#;

    #[test]
    fn fleet_keys_are_checked_with_their_position() {
        let key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
        let ok = format!(
            "{GOOD}\n[policy]\nnats_url = \"nats://127.0.0.1:4222\"\nedge_id = \"par-1\"\ntrusted_keys = [\"{key}\"]\n"
        );
        let c = parse(&ok).expect("valid");
        assert_eq!(c.policy.trusted.len(), 1);
        assert_eq!(c.policy.nats_stream, "REMPART_POLICY");

        let bad = format!(
            "{GOOD}\n[policy]\nnats_url = \"http://127.0.0.1:4222\"\nedge_id = \"par 1\"\ntrusted_keys = [\"abcd\"]\n"
        );
        let err = parse(&bad).unwrap_err();
        let at: Vec<(usize, usize)> = err.0.iter().map(|p| (p.line, p.column)).collect();
        assert_eq!(at, vec![(14, 17), (12, 12), (13, 11)], "{err}");
        assert!(err.to_string().contains("64 hex digits"), "{err}");

        // Without a trusted key, the broker would be trusted: refused.
        let unkeyed =
            format!("{GOOD}\n[policy]\nnats_url = \"nats://127.0.0.1:4222\"\nedge_id = \"e\"\n");
        let err = parse(&unkeyed).unwrap_err();
        assert!(err.to_string().contains("trusted_keys"), "{err}");
    }

    #[test]
    fn good_config_parses() {
        let c = parse(GOOD).expect("valid");
        assert_eq!(c.zones[0].hosts.len(), 2);
        assert_eq!(c.limits.max_uri_bytes, 8192);
    }

    #[test]
    fn connection_and_slow_client_limits_are_checked_with_their_location() {
        let text = format!(
            "{GOOD}\n[limits]\nmax_connections_per_ip = 8\nheader_timeout_s = 0\nh2_max_header_list_bytes = 10\n"
        );
        let err = parse(&text).unwrap_err();
        let lines: Vec<usize> = err.0.iter().map(|p| p.line).collect();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(
            err.0[0].message.contains("limits.header_timeout_s"),
            "{err}"
        );
        assert!(
            err.0[1].message.contains("limits.h2_max_header_list_bytes"),
            "{err}"
        );
        assert_eq!(lines, vec![13, 14]);
        assert_eq!(err.0[0].column, 20);
        let ok = parse(&format!("{GOOD}\n[limits]\nmax_connections_per_ip = 8\n")).expect("valid");
        assert_eq!(*ok.limits.max_connections_per_ip.get_ref(), 8);
        assert_eq!(*ok.limits.header_timeout_s.get_ref(), 10);
    }

    #[test]
    fn penalty_box_settings_are_checked_with_their_location() {
        let ok = parse(GOOD).expect("valid");
        assert_eq!(*ok.limits.penalty_after.get_ref(), 0, "off by default");
        let text = format!(
            "{GOOD}\n[limits]\npenalty_after = 5\npenalty_s = 30\npenalty_max_s = 10\npenalty_max_tracked = 3\n"
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(
            err.0[0].message.contains("limits.penalty_max_tracked"),
            "{err}"
        );
        assert!(
            err.0[1].message.contains("penalty_max_s must be at least"),
            "{err}"
        );
        let ok = parse(&format!(
            "{GOOD}\n[limits]\npenalty_after = 5\npenalty_s = 30\n"
        ))
        .expect("valid");
        assert_eq!(*ok.limits.penalty_after.get_ref(), 5);
        assert_eq!(*ok.limits.penalty_max_s.get_ref(), 60);
    }

    #[test]
    fn the_penalty_filter_is_checked_with_its_location() {
        let ok = parse(GOOD).expect("valid");
        assert_eq!(*ok.limits.penalty_filter.get_ref(), PenaltyFilter::Accept);
        let ok = parse(&format!(
            "{GOOD}\n[limits]\npenalty_after = 5\npenalty_filter = \"kernel\"\n"
        ))
        .expect("valid");
        assert_eq!(*ok.limits.penalty_filter.get_ref(), PenaltyFilter::Kernel);
        let base = GOOD.lines().count();
        // An unknown value: refused where it is.
        let err = parse(&format!(
            "{GOOD}\n[limits]\npenalty_after = 5\npenalty_filter = \"xdp\"\n"
        ))
        .unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].line, base + 4, "{err}");
        assert!(err.0[0].message.contains("kernel"), "{err}");
        // The kernel filter without the box: nothing to filter.
        let err = parse(&format!("{GOOD}\n[limits]\npenalty_filter = \"kernel\"\n")).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].line, base + 3, "{err}");
        assert!(err.0[0].message.contains("penalty_after"), "{err}");
    }

    #[test]
    fn unknown_field_is_located() {
        let text = GOOD.replace("address =", "adress =");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!((err.0[0].line, err.0[0].column), (9, 1), "{err}");
        assert!(err.0[0].message.contains("adress"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = r#"
[listen]
http = ["127.0.0.1:99999"]
[[zone]]
name = "a"
hosts = ["A.example"]
[[zone.origin]]
address = "nope"
[[zone]]
name = "a"
hosts = ["b.example"]
[[zone.origin]]
address = "127.0.0.1:1"
weight = 0
"#;
        let err = parse(text).unwrap_err();
        let lines: Vec<usize> = err.0.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 6, 8, 10, 14], "{err}");
        let shown = err.to_string();
        assert!(shown.starts_with("/tmp/rempart-test.toml:3:"), "{shown}");
    }

    #[test]
    fn duplicate_host_across_zones_is_refused() {
        let text = format!(
            "{GOOD}\n[[zone]]\nname = \"b\"\nhosts = [\"forum.example\"]\n[[zone.origin]]\naddress = \"127.0.0.1:1\"\n"
        );
        let err = parse(&text).unwrap_err();
        assert!(
            err.to_string().contains("already served by zone 'forum'"),
            "{err}"
        );
    }

    #[test]
    fn challenge_settings_are_checked_with_their_line() {
        let text = format!(
            "[challenge]\ndifficulty = 40\n{GOOD}[zone.challenge]\nmode = \"auto\"\nthreshold_rps = 10\nrelease_rps = 10\n"
        );
        let err = parse(&text).unwrap_err();
        let lines: Vec<usize> = err.0.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![2, 15], "{err}");
        assert!(err.0[0].message.contains("between 1 and 32"), "{err}");
        assert!(err.0[1].message.contains("hysteresis"), "{err}");

        let err = parse(&format!("{GOOD}[zone.challenge]\nmode = \"sometimes\"\n")).unwrap_err();
        assert_eq!(err.0[0].line, 11, "{err}");
        let err = parse(&format!("{GOOD}[zone.challenge]\nmode = \"auto\"\n")).unwrap_err();
        assert!(err.to_string().contains("needs threshold_rps"), "{err}");
        let err = parse(&format!(
            "{GOOD}[[zone.rate_limit]]\nname = \"x\"\nrequests = 1\naction = \"captcha\"\n"
        ))
        .unwrap_err();
        assert_eq!(err.0[0].line, 13, "{err}");

        let dir = std::env::temp_dir().join(format!("rempart-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("short.key"), "too short\n").unwrap();
        let path = dir.join("edge.toml");
        let err = EdgeConfig::parse(
            &path,
            &format!("[challenge]\nsecret_file = \"short.key\"\n{GOOD}"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
        std::fs::write(dir.join("good.key"), format!("{}\n", "k".repeat(44))).unwrap();
        let c = EdgeConfig::parse(
            &path,
            &format!("[challenge]\nsecret_file = \"good.key\"\n{GOOD}"),
        )
        .expect("valid");
        assert_eq!(c.challenge.key.0.as_deref().map(Vec::len), Some(44));
        assert!(
            !format!("{c:?}").contains("kkkk"),
            "the key is never printed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn host_patterns() {
        assert!(valid_host_pattern("a.example"));
        assert!(valid_host_pattern("*.a.example"));
        assert!(!valid_host_pattern("a.*.example"));
        assert!(!valid_host_pattern("A.example"));
        assert!(!valid_host_pattern("a..example"));
    }
}
