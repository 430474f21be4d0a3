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
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// Most requests in flight toward the zone's origins at once (0: no limit). Requests over
    /// it wait up to `queue_timeout_ms`, then get 503, so an origin is never overrun.
    #[serde(default)]
    pub max_concurrent_requests: usize,
    /// How long a request may wait for a slot before 503.
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout_ms: u64,
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
    fn host_patterns() {
        assert!(valid_host_pattern("a.example"));
        assert!(valid_host_pattern("*.a.example"));
        assert!(!valid_host_pattern("a.*.example"));
        assert!(!valid_host_pattern("A.example"));
        assert!(!valid_host_pattern("a..example"));
    }
}
