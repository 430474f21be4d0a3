//! The desk's configuration: a TOML file, parsed in stages (file types with
//! `deny_unknown_fields` → [`RawConfig::validate`] collecting every problem → [`DeskConfig`]).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::triage::ReviewTargets;

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is malformed, or has unknown or missing fields.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The file parsed but breaks rules; every broken rule is listed.
    #[error("{path}: {}", .problems.join("; "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<String>,
    },
}

/// A secret string whose `Debug` does not show it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Address to listen on, e.g. `127.0.0.1:8700` (port 0 picks a free port).
    pub listen: String,
    /// The public base URL of the desk, used for notice pages and follow links.
    pub public_url: String,
    /// The provider's name, shown as who implements restrictions.
    pub provider_name: String,
    /// `sqlite:///path/to/desk.db` (created if missing) or `postgres://...`.
    pub database: String,
    /// Directory holding the desk's keys (audit signing key, follow-link key); created if missing.
    pub key_dir: PathBuf,
    /// Edges allowed to fetch policy versions.
    #[serde(default)]
    pub edge_tokens: Vec<RawEdgeToken>,
    /// How long a policy long-poll waits before answering 204, in seconds (default 25).
    #[serde(default = "default_long_poll")]
    pub long_poll_seconds: u64,
    /// Intake limits.
    #[serde(default)]
    pub intake: RawIntake,
    /// Triage targets and campaign detection.
    #[serde(default)]
    pub triage: RawTriage,
    /// Evidence fetching.
    #[serde(default)]
    pub evidence: RawEvidence,
    /// Paging the on-call for P0 reports.
    #[serde(default)]
    pub paging: RawPaging,
    /// Audit log checkpoints.
    #[serde(default)]
    pub audit: RawAudit,
    /// Referrals to authorities: the directory of competent authorities (absent: no referrals).
    #[serde(default)]
    pub referrals: Option<crate::config::ReferralConfig>,
    /// Due process: emergency measures, four-eyes, appeals, statements of reasons.
    #[serde(default)]
    pub due_process: RawDueProcess,
    /// Policy distribution over NATS JetStream (absent: edges long-poll the desk only).
    pub nats: Option<NatsConfig>,
}

/// Due-process settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDueProcess {
    /// How long an unconfirmed emergency measure stays in force, seconds (default 86400, 24 h).
    pub emergency_expiry_seconds: i64,
    /// Measures that need a second senior analyst's approval (default: `restrict_host`,
    /// `suspend_zone`).
    pub four_eyes: Vec<String>,
    /// How long after a decision an appeal may be filed, days (default 183, six months).
    pub appeal_window_days: i64,
    /// The redress available, as written in every statement of reasons.
    pub redress: String,
}

/// The redress every statement of reasons lists unless configured otherwise (DSA Art. 17(3)(f)).
pub const DEFAULT_REDRESS: &str = "You may file an internal complaint (appeal) in the customer portal within six months of this decision; it is decided by a person who did not take the decision. You may also refer the dispute to a certified out-of-court dispute settlement body (DSA Art. 21) or seek judicial redress before the competent court.";

impl Default for RawDueProcess {
    fn default() -> Self {
        RawDueProcess {
            emergency_expiry_seconds: 24 * 3600,
            four_eyes: vec!["restrict_host".into(), "suspend_zone".into()],
            appeal_window_days: 183,
            redress: DEFAULT_REDRESS.into(),
        }
    }
}

/// `[nats]`: where the desk publishes signed policy versions and hears edges' status.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// `nats://host:4222`.
    pub url: String,
    /// The JetStream stream (created if missing).
    #[serde(default = "default_nats_stream")]
    pub stream: String,
    /// The subject policy versions go to.
    #[serde(default = "default_nats_subject")]
    pub subject: String,
    /// Edges report on `<status_subject>.<edge_id>.status`.
    #[serde(default = "default_status_subject")]
    pub status_subject: String,
    /// An edge this many versions behind is flagged.
    #[serde(default = "default_behind_versions")]
    pub behind_versions: u64,
    /// An edge that has lacked a version for this many seconds, or not reported for as long,
    /// is flagged.
    #[serde(default = "default_behind_seconds")]
    pub behind_seconds: u64,
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
fn default_behind_versions() -> u64 {
    3
}
fn default_behind_seconds() -> u64 {
    30
}

/// One edge's token, as its SHA-256 (hex).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEdgeToken {
    /// A name for logs.
    pub name: String,
    /// Lowercase hex SHA-256 of the token the edge sends as `Authorization: Bearer`.
    pub sha256: String,
}

/// Intake limits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIntake {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Reports accepted per source address per minute.
    pub per_ip_per_minute: u32,
    /// Most URLs in one report.
    pub max_urls: usize,
    /// Longest explanation, in characters.
    pub max_explanation_chars: usize,
}

impl Default for RawIntake {
    fn default() -> Self {
        RawIntake {
            max_body_bytes: 64 * 1024,
            per_ip_per_minute: 30,
            max_urls: 20,
            max_explanation_chars: 10_000,
        }
    }
}

/// Triage settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTriage {
    /// Time-to-first-review target for P0, minutes.
    pub p0_minutes: i64,
    /// Same for P1.
    pub p1_minutes: i64,
    /// Same for P2.
    pub p2_minutes: i64,
    /// Same for P3.
    pub p3_minutes: i64,
    /// Near-identical reports within the window from which a campaign is flagged.
    pub campaign_threshold: i64,
    /// The campaign window, minutes.
    pub campaign_window_minutes: i64,
}

impl Default for RawTriage {
    fn default() -> Self {
        RawTriage {
            p0_minutes: 15,
            p1_minutes: 4 * 60,
            p2_minutes: 24 * 60,
            p3_minutes: 72 * 60,
            campaign_threshold: 5,
            campaign_window_minutes: 10,
        }
    }
}

/// Evidence fetching.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawEvidence {
    /// Whether to fetch reported URLs at all.
    pub enabled: bool,
    /// Time limit of one fetch, milliseconds.
    pub timeout_ms: u64,
    /// Largest body kept; longer bodies are cut and marked truncated.
    pub max_bytes: usize,
    /// Send fetches for `http://` URLs to this address (the edge, or the origin) instead of
    /// resolving the host.
    pub via: Option<String>,
}

impl Default for RawEvidence {
    fn default() -> Self {
        RawEvidence {
            enabled: true,
            timeout_ms: 5_000,
            max_bytes: 2 * 1024 * 1024,
            via: None,
        }
    }
}

/// Paging.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPaging {
    /// Webhook called for each P0 report (HMAC-SHA256 signed).
    pub webhook_url: Option<String>,
    /// The HMAC key for the webhook signature.
    pub webhook_secret: Option<Secret>,
    /// SMTP relay host, e.g. `127.0.0.1`.
    pub smtp_host: Option<String>,
    /// SMTP relay port (default 25).
    pub smtp_port: Option<u16>,
    /// Sender address.
    pub email_from: Option<String>,
    /// On-call addresses.
    #[serde(default)]
    pub email_to: Vec<String>,
}

/// Audit settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    /// A signed checkpoint is written after this many entries.
    pub checkpoint_every: i64,
}

impl Default for RawAudit {
    fn default() -> Self {
        RawAudit {
            checkpoint_every: 100,
        }
    }
}

fn default_long_poll() -> u64 {
    25
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct DeskConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Public base URL, without a trailing slash.
    pub public_url: String,
    /// Whether the public URL is https (session cookies then carry `Secure`).
    pub secure_cookies: bool,
    /// The provider's name.
    pub provider_name: String,
    /// Database URL.
    pub database: String,
    /// Key directory.
    pub key_dir: PathBuf,
    /// Edge tokens: (name, SHA-256).
    pub edge_tokens: Vec<(String, [u8; 32])>,
    /// Long-poll duration.
    pub long_poll: std::time::Duration,
    /// Intake limits.
    pub intake: IntakeLimits,
    /// Review targets.
    pub targets: ReviewTargets,
    /// Campaign detection: threshold and window.
    pub campaign_threshold: i64,
    /// The campaign window.
    pub campaign_window: chrono::Duration,
    /// Evidence fetching.
    pub evidence: EvidenceConfig,
    /// Paging.
    pub paging: PagingConfig,
    /// Entries between signed checkpoints.
    pub checkpoint_every: i64,
    /// Referrals to authorities, if configured.
    pub referrals: Option<ReferralConfig>,
    /// Due process.
    pub due_process: DueProcessConfig,
    /// Policy distribution over NATS JetStream.
    pub nats: Option<NatsConfig>,
}

/// Due process.
#[derive(Debug, Clone)]
pub struct DueProcessConfig {
    /// Lifetime of an unconfirmed emergency measure.
    pub emergency_expiry: chrono::Duration,
    /// Measures that need a second senior analyst's approval.
    pub four_eyes: Vec<crate::decision::Action>,
    /// Appeal window.
    pub appeal_window: chrono::Duration,
    /// The redress text of statements of reasons.
    pub redress: String,
}

impl Default for DueProcessConfig {
    fn default() -> Self {
        DueProcessConfig {
            emergency_expiry: chrono::Duration::hours(24),
            four_eyes: vec![
                crate::decision::Action::RestrictHost,
                crate::decision::Action::SuspendZone,
            ],
            appeal_window: chrono::Duration::days(183),
            redress: DEFAULT_REDRESS.into(),
        }
    }
}

/// Intake limits.
#[derive(Debug, Clone)]
pub struct IntakeLimits {
    /// Largest body.
    pub max_body_bytes: usize,
    /// Per address per minute.
    pub per_ip_per_minute: u32,
    /// Most URLs.
    pub max_urls: usize,
    /// Longest explanation.
    pub max_explanation_chars: usize,
}

/// Evidence fetching.
#[derive(Debug, Clone)]
pub struct EvidenceConfig {
    /// Whether to fetch.
    pub enabled: bool,
    /// Time limit.
    pub timeout: std::time::Duration,
    /// Size limit.
    pub max_bytes: usize,
    /// Fetch through this plain-HTTP address (the edge or the origin), `https://` URLs
    /// included, with the reported host.
    pub via: Option<SocketAddr>,
}

/// Paging.
#[derive(Debug, Clone, Default)]
pub struct PagingConfig {
    /// Webhook URL and HMAC key.
    pub webhook: Option<(String, Secret)>,
    /// SMTP relay.
    pub smtp: Option<SmtpConfig>,
}

/// SMTP paging.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Relay host.
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

impl DeskConfig {
    /// Reads, parses and checks a configuration file.
    pub fn load(path: impl AsRef<Path>) -> Result<DeskConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses and checks configuration text; `path` is used in messages only.
    pub fn from_toml(text: &str, path: &Path) -> Result<DeskConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_column(text, s.start))
                .unwrap_or((1, 1));
            ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        raw.validate().map_err(|problems| ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }
}

impl DeskConfig {
    /// A configuration for a single-machine demo (`rempart up`): SQLite and keys under
    /// `data_dir`, one edge token (give its SHA-256, see [`edge_token_sha256`]), defaults
    /// elsewhere, evidence fetched through `evidence_via` (the edge) if given.
    pub fn demo(
        data_dir: &Path,
        listen: SocketAddr,
        public_url: &str,
        edge_token_sha256: [u8; 32],
        evidence_via: Option<SocketAddr>,
    ) -> DeskConfig {
        let public_url = public_url.trim_end_matches('/').to_string();
        DeskConfig {
            listen,
            secure_cookies: public_url.starts_with("https://"),
            public_url,
            provider_name: "Rempart demo provider".into(),
            database: format!("sqlite://{}", data_dir.join("desk.db").display()),
            key_dir: data_dir.join("keys"),
            edge_tokens: vec![("demo-edge".into(), edge_token_sha256)],
            long_poll: std::time::Duration::from_secs(25),
            intake: IntakeLimits {
                max_body_bytes: 64 * 1024,
                per_ip_per_minute: 30,
                max_urls: 20,
                max_explanation_chars: 10_000,
            },
            targets: ReviewTargets::default(),
            campaign_threshold: 5,
            campaign_window: chrono::Duration::minutes(10),
            evidence: EvidenceConfig {
                enabled: true,
                timeout: std::time::Duration::from_secs(5),
                max_bytes: 2 * 1024 * 1024,
                via: evidence_via,
            },
            paging: PagingConfig::default(),
            checkpoint_every: 100,
            due_process: DueProcessConfig::default(),
            referrals: None,
            nats: None,
        }
    }
}

/// The SHA-256 of an edge token, as the desk's configuration holds it.
pub fn edge_token_sha256(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl RawConfig {
    /// Checks every rule serde cannot, collecting every problem.
    pub fn validate(self) -> Result<DeskConfig, Vec<String>> {
        let mut problems = Vec::new();
        let listen = match self.listen.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                problems.push(format!(
                    "listen '{}' is not an address:port such as 127.0.0.1:8700",
                    self.listen
                ));
                None
            }
        };
        let public_url = self.public_url.trim_end_matches('/').to_string();
        let secure_cookies = public_url.starts_with("https://");
        if url::Url::parse(&public_url).is_err()
            || !(secure_cookies || public_url.starts_with("http://"))
        {
            problems.push(format!(
                "public_url '{}' must be an absolute http(s) URL such as https://desk.example",
                self.public_url
            ));
        }
        if self.provider_name.trim().is_empty() {
            problems.push("provider_name must name the provider".into());
        }
        if !(self.database.starts_with("sqlite:")
            || self.database.starts_with("postgres://")
            || self.database.starts_with("postgresql://"))
        {
            problems.push(format!(
                "database '{}' must start with sqlite: or postgres://",
                redact_url(&self.database)
            ));
        }
        let mut edge_tokens = Vec::new();
        for (i, t) in self.edge_tokens.iter().enumerate() {
            match hex::decode(&t.sha256)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
            {
                Some(h) => edge_tokens.push((t.name.clone(), h)),
                None => problems.push(format!(
                    "edge_tokens[{i}] ('{}'): sha256 must be 64 hex digits (the SHA-256 of the token)",
                    t.name
                )),
            }
        }
        let tr = &self.triage;
        for (name, v) in [
            ("p0_minutes", tr.p0_minutes),
            ("p1_minutes", tr.p1_minutes),
            ("p2_minutes", tr.p2_minutes),
            ("p3_minutes", tr.p3_minutes),
            ("campaign_window_minutes", tr.campaign_window_minutes),
        ] {
            if v <= 0 {
                problems.push(format!("triage.{name} must be positive"));
            }
        }
        if tr.campaign_threshold < 2 {
            problems.push("triage.campaign_threshold must be at least 2".into());
        }
        if self.intake.max_urls == 0 || self.intake.per_ip_per_minute == 0 {
            problems.push("intake.max_urls and intake.per_ip_per_minute must be positive".into());
        }
        if self.intake.max_body_bytes < 1024 {
            problems.push("intake.max_body_bytes must be at least 1024".into());
        }
        let via = match &self.evidence.via {
            None => None,
            Some(v) => match v.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    problems.push(format!("evidence.via '{v}' is not an address:port"));
                    None
                }
            },
        };
        let p = self.paging;
        let webhook = match (p.webhook_url, p.webhook_secret) {
            (Some(u), Some(s)) => {
                if url::Url::parse(&u).is_err() {
                    problems.push(format!("paging.webhook_url '{u}' is not a URL"));
                }
                if s.0.len() < 16 {
                    problems.push("paging.webhook_secret must have at least 16 characters".into());
                }
                Some((u, s))
            }
            (None, None) => None,
            _ => {
                problems.push("paging.webhook_url and paging.webhook_secret go together".into());
                None
            }
        };
        let smtp = match (p.smtp_host, p.email_from) {
            (Some(host), Some(from)) => {
                if p.email_to.is_empty() {
                    problems.push("paging.email_to must list at least one address".into());
                }
                Some(SmtpConfig {
                    host,
                    port: p.smtp_port.unwrap_or(25),
                    from,
                    to: p.email_to,
                })
            }
            (None, None) => None,
            _ => {
                problems.push("paging.smtp_host and paging.email_from go together".into());
                None
            }
        };
        if self.audit.checkpoint_every < 1 {
            problems.push("audit.checkpoint_every must be positive".into());
        }
        if let Some(n) = &self.nats {
            if !(n.url.starts_with("nats://") || n.url.starts_with("tls://")) {
                problems.push(format!(
                    "nats.url '{}' must be a nats:// or tls:// URL",
                    redact_url(&n.url)
                ));
            }
            let subject = |s: &str| {
                s.split('.').all(|t| {
                    !t.is_empty() && t != "*" && t != ">" && !t.contains(char::is_whitespace)
                })
            };
            if !subject(&n.subject) || !subject(&n.status_subject) {
                problems.push(
                    "nats.subject and nats.status_subject must be NATS subjects like rempart.policy.v1"
                        .into(),
                );
            }
            if n.stream.is_empty()
                || !n
                    .stream
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                problems.push(format!(
                    "nats.stream '{}' must be letters, digits, '-' or '_'",
                    n.stream
                ));
            }
        }
        let dp = self.due_process;
        if !(1..=30 * 24 * 3600).contains(&dp.emergency_expiry_seconds) {
            problems.push(
                "due_process.emergency_expiry_seconds must be between 1 and 2592000 (30 days)"
                    .into(),
            );
        }
        if dp.appeal_window_days < 183 {
            problems.push(
                "due_process.appeal_window_days must be at least 183 (six months, DSA Art. 20)"
                    .into(),
            );
        }
        if dp.redress.trim().is_empty() {
            problems.push("due_process.redress must describe the redress available".into());
        }
        let mut four_eyes = Vec::new();
        for name in &dp.four_eyes {
            match crate::decision::Action::parse(name) {
                Some(a) if a.is_restrictive() => four_eyes.push(a),
                _ => problems.push(format!(
                    "due_process.four_eyes: '{name}' is not a restrictive measure \
                     (restrict_url, restrict_path_prefix, restrict_host, suspend_zone)"
                )),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(DeskConfig {
            listen: listen.expect("checked above"),
            public_url,
            secure_cookies,
            provider_name: self.provider_name,
            database: self.database,
            key_dir: self.key_dir,
            edge_tokens,
            long_poll: std::time::Duration::from_secs(self.long_poll_seconds),
            intake: IntakeLimits {
                max_body_bytes: self.intake.max_body_bytes,
                per_ip_per_minute: self.intake.per_ip_per_minute,
                max_urls: self.intake.max_urls,
                max_explanation_chars: self.intake.max_explanation_chars,
            },
            targets: ReviewTargets {
                minutes: [tr.p0_minutes, tr.p1_minutes, tr.p2_minutes, tr.p3_minutes],
            },
            campaign_threshold: tr.campaign_threshold,
            campaign_window: chrono::Duration::minutes(tr.campaign_window_minutes),
            evidence: EvidenceConfig {
                enabled: self.evidence.enabled,
                timeout: std::time::Duration::from_millis(self.evidence.timeout_ms),
                max_bytes: self.evidence.max_bytes,
                via,
            },
            paging: PagingConfig { webhook, smtp },
            checkpoint_every: self.audit.checkpoint_every,
            nats: self.nats,
            due_process: DueProcessConfig {
                emergency_expiry: chrono::Duration::seconds(dp.emergency_expiry_seconds),
                four_eyes,
                appeal_window: chrono::Duration::days(dp.appeal_window_days),
                redress: dp.redress.trim().to_string(),
            },
            referrals: self.referrals,
        })
    }
}

/// Referrals to authorities (DSA Art. 18): where bundles go, and the directory of competent
/// authorities by jurisdiction with a fallback (Art. 18(2): the State of establishment, or
/// Europol). Each entry is checked while parsing, so a mistake is reported with its line.
///
/// ```toml
/// [referrals]
/// bundle_dir = "/var/lib/rempart/referrals"
/// [referrals.fallback]
/// name = "Europol (EC3)"
/// url = "https://www.europol.europa.eu/report-a-crime"
/// [referrals.authorities.FR]
/// name = "PHAROS (OCLCTIC)"
/// url = "https://www.internet-signalement.gouv.fr"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralConfig {
    /// Where bundles are written, one directory per referral.
    pub bundle_dir: PathBuf,
    /// Used when the jurisdiction is unclear or has no entry.
    pub fallback: Authority,
    /// By ISO 3166-1 alpha-2 country code.
    #[serde(default)]
    pub authorities: std::collections::BTreeMap<CountryCode, Authority>,
}

impl ReferralConfig {
    /// The authority for `jurisdiction` (a country code), or the fallback: (directory key,
    /// authority).
    pub fn authority_for(&self, jurisdiction: &str) -> (String, &Authority) {
        match self
            .authorities
            .iter()
            .find(|(k, _)| k.0.eq_ignore_ascii_case(jurisdiction))
        {
            Some((k, a)) => (k.0.clone(), a),
            None => ("fallback".into(), &self.fallback),
        }
    }
}

/// An ISO 3166-1 alpha-2 country code (two capital letters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct CountryCode(pub String);

impl TryFrom<String> for CountryCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(CountryCode(s))
        } else {
            Err(format!(
                "'{s}' is not a country code: use two capital letters (ISO 3166-1 alpha-2), e.g. FR"
            ))
        }
    }
}

/// A competent authority: a name and at least one contact.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAuthority")]
pub struct Authority {
    /// Its name.
    pub name: String,
    /// Contact e-mail.
    pub email: Option<String>,
    /// Contact URL (a reporting portal).
    pub url: Option<String>,
}

/// An authority as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthority {
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: Option<String>,
    /// URL.
    pub url: Option<String>,
}

impl TryFrom<RawAuthority> for Authority {
    type Error = String;
    fn try_from(r: RawAuthority) -> Result<Self, String> {
        if r.name.trim().is_empty() {
            return Err("an authority needs a name".into());
        }
        if r.email.is_none() && r.url.is_none() {
            return Err(format!("authority '{}' needs an email or a url", r.name));
        }
        if let Some(e) = &r.email {
            if e.parse::<lettre::Address>().is_err() {
                return Err(format!(
                    "authority '{}': '{e}' is not an e-mail address",
                    r.name
                ));
            }
        }
        if let Some(u) = &r.url {
            if !url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http")) {
                return Err(format!(
                    "authority '{}': '{u}' is not an http(s) URL",
                    r.name
                ));
            }
        }
        Ok(Authority {
            name: r.name,
            email: r.email,
            url: r.url,
        })
    }
}

/// Hides a password in a database URL.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
listen = "127.0.0.1:0"
public_url = "https://desk.example/"
provider_name = "Example Provider"
database = "sqlite:///tmp/x.db"
key_dir = "/tmp/keys"
"#;

    #[test]
    fn minimal_config_loads_with_defaults() {
        let c = DeskConfig::from_toml(MINIMAL, Path::new("desk.toml")).unwrap();
        assert_eq!(c.public_url, "https://desk.example");
        assert!(c.secure_cookies);
        assert_eq!(c.targets.minutes[0], 15);
        assert_eq!(c.long_poll.as_secs(), 25);
    }

    #[test]
    fn unknown_field_fails_with_file_line_column() {
        let text = format!("{MINIMAL}\n[intake]\nper_ip_per_minut = 3\n");
        let err = DeskConfig::from_toml(&text, Path::new("desk.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("desk.toml:9:1:"), "{msg}");
        assert!(msg.contains("per_ip_per_minut"), "{msg}");
    }

    #[test]
    fn every_problem_is_listed() {
        let text = MINIMAL
            .replace("127.0.0.1:0", "nowhere")
            .replace("sqlite:///tmp/x.db", "mysql://x")
            + "\n[[edge_tokens]]\nname = \"e\"\nsha256 = \"zz\"\n";
        let Err(ConfigError::Invalid { problems, .. }) =
            DeskConfig::from_toml(&text, Path::new("d.toml"))
        else {
            panic!("expected invalid")
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn due_process_settings_are_checked() {
        let c = DeskConfig::from_toml(MINIMAL, Path::new("d.toml")).unwrap();
        assert_eq!(c.due_process.emergency_expiry, chrono::Duration::hours(24));
        assert_eq!(
            c.due_process.four_eyes,
            [
                crate::decision::Action::RestrictHost,
                crate::decision::Action::SuspendZone
            ]
        );
        let text = format!(
            "{MINIMAL}\n[due_process]\nemergency_expiry_seconds = 0\nfour_eyes = [\"no_action\", \"nuke\"]\nappeal_window_days = 30\n"
        );
        let Err(ConfigError::Invalid { problems, .. }) =
            DeskConfig::from_toml(&text, Path::new("d.toml"))
        else {
            panic!("expected invalid")
        };
        assert_eq!(problems.len(), 4, "{problems:?}");
    }

    #[test]
    fn authority_directory_resolves_with_fallback() {
        let text = format!(
            "{MINIMAL}\n[referrals]\nbundle_dir = \"/tmp/b\"\n[referrals.fallback]\nname = \"Europol\"\nurl = \"https://europol.example\"\n[referrals.authorities.FR]\nname = \"PHAROS\"\nemail = \"pharos@interieur.example\"\n"
        );
        let c = DeskConfig::from_toml(&text, Path::new("d.toml")).unwrap();
        let r = c.referrals.unwrap();
        assert_eq!(r.authority_for("fr").1.name, "PHAROS");
        assert_eq!(r.authority_for("FR").0, "FR");
        assert_eq!(r.authority_for("DE"), ("fallback".to_string(), &r.fallback));
        assert_eq!(r.authority_for("").0, "fallback");
    }

    #[test]
    fn bad_authority_entries_fail_with_their_line() {
        let base = format!("{MINIMAL}\n[referrals]\nbundle_dir = \"/tmp/b\"\n[referrals.fallback]\nname = \"Europol\"\nurl = \"https://europol.example\"\n");
        // Line numbers: MINIMAL is 6 lines, then a blank line, then the [referrals] block.
        for (extra, line, needle) in [
            (
                "[referrals.authorities.FR]\nname = \"PHAROS\"\n",
                13,
                "needs an email or a url",
            ),
            (
                "[referrals.authorities.FR]\nname = \"PHAROS\"\nemail = \"not-an-address\"\n",
                13,
                "not an e-mail address",
            ),
            (
                "[referrals.authorities.fra]\nname = \"X\"\nurl = \"https://x.example\"\n",
                13,
                "not a country code",
            ),
        ] {
            let err =
                DeskConfig::from_toml(&format!("{base}{extra}"), Path::new("d.toml")).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("d.toml:{line}:"))
                    || msg.starts_with(&format!("d.toml:{}:", line + 1)),
                "{msg}"
            );
            assert!(msg.contains(needle), "{msg}");
        }
        let no_fallback = format!("{MINIMAL}\n[referrals]\nbundle_dir = \"/tmp/b\"\n");
        let msg = DeskConfig::from_toml(&no_fallback, Path::new("d.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("fallback"), "{msg}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let text = format!(
            "{MINIMAL}\n[paging]\nwebhook_url = \"http://127.0.0.1:9/hook\"\nwebhook_secret = \"supersecretsupersecret\"\n"
        );
        let c = DeskConfig::from_toml(&text, Path::new("d.toml")).unwrap();
        assert!(!format!("{c:?}").contains("supersecret"));
    }
}

#[cfg(test)]
mod example {
    /// The documented example must keep loading (a frozen fixture of the file format).
    #[test]
    fn example_config_loads() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("desk.example.toml");
        let c = super::DeskConfig::load(&path).unwrap();
        assert_eq!(c.edge_tokens.len(), 1);
        assert_eq!(c.targets.minutes, [15, 240, 1440, 4320]);
        assert_eq!(c.referrals.map(|r| r.authorities.len()), Some(1));
    }
}
