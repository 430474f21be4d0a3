//! The types of the policy document and its validation.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The schema number of the document this crate reads and writes. A document with another
/// schema number is refused rather than half-understood.
pub const POLICY_SCHEMA: u32 = 1;

/// One version of the restrictions in force, as decided by the desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Schema number of the document; must equal [`POLICY_SCHEMA`].
    pub schema: u32,
    /// Monotonic version, assigned by the desk; an edge never goes back to a lower one.
    pub version: u64,
    /// When the desk issued this version.
    pub issued_at: DateTime<Utc>,
    /// The restrictions in force (or scheduled) in this version.
    #[serde(default)]
    pub restrictions: Vec<Restriction>,
}

impl Policy {
    /// An empty policy (version 0), what an edge enforces before it has received any.
    pub fn empty() -> Self {
        Policy {
            schema: POLICY_SCHEMA,
            version: 0,
            issued_at: DateTime::<Utc>::UNIX_EPOCH,
            restrictions: Vec::new(),
        }
    }

    /// Parses a policy document from JSON and validates it.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let policy: Policy = serde_json::from_str(text).map_err(|e| PolicyError::Syntax {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks what serde cannot: schema number, unique ids, well-formed scopes and dates.
    /// Returns every problem found, not only the first.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let mut problems = Vec::new();
        if self.schema != POLICY_SCHEMA {
            problems.push(format!(
                "schema {} is not supported; this edge reads schema {POLICY_SCHEMA}",
                self.schema
            ));
        }
        let mut seen = HashSet::with_capacity(self.restrictions.len());
        for (i, r) in self.restrictions.iter().enumerate() {
            if !seen.insert(r.id.0.as_str()) {
                problems.push(format!("restrictions[{i}]: duplicate id '{}'", r.id));
            }
            if let Err(e) = r.validate() {
                problems.push(format!("restrictions[{i}] ('{}'): {e}", r.id));
            }
            if problems.len() >= 20 {
                problems.push("(further problems not listed)".into());
                break;
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PolicyError::Invalid(problems))
        }
    }
}

/// Why a policy document was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The JSON itself is malformed or has unknown or missing fields.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde's description.
        message: String,
    },
    /// The document parsed but breaks a rule; every broken rule is listed.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// A restriction's identifier, stable across policy versions (the desk's decision id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RestrictionId(pub String);

impl fmt::Display for RestrictionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One restriction: what is restricted, on what ground, by whom, and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restriction {
    /// Stable identifier.
    pub id: RestrictionId,
    /// What the restriction covers.
    pub scope: Scope,
    /// Legal (451) or terms of service (403).
    pub kind: RestrictionKind,
    /// The category of the content, as shown to the public.
    pub category: Category,
    /// The public explanation the block page links to (`Link: <..>; rel="blocked-by"`).
    pub notice_url: String,
    /// The ground in one sentence, shown on the block page.
    pub ground: String,
    /// Who implements the restriction (the provider), per RFC 7725's `blocked-by`.
    pub implemented_by: String,
    /// When it starts applying.
    pub starts_at: DateTime<Utc>,
    /// When it stops applying, if temporary (an emergency measure, a time-limited order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
}

impl Restriction {
    /// Whether the restriction applies at `now`: started, and not yet ended.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && self.ends_at.is_none_or(|end| now < end)
    }

    /// The HTTP status this restriction is answered with.
    pub fn status(&self) -> u16 {
        match self.kind {
            RestrictionKind::Legal => 451,
            RestrictionKind::TermsOfService => 403,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.id.0.is_empty() || self.id.0.len() > 128 {
            return Err("id must have 1 to 128 characters".into());
        }
        self.scope.validate()?;
        if !(self.notice_url.starts_with("https://") || self.notice_url.starts_with("http://"))
            || self
                .notice_url
                .chars()
                .any(|c| c.is_whitespace() || c == '>' || c == '<')
        {
            return Err(format!(
                "notice_url '{}' must be an absolute http(s) URL without spaces or angle brackets",
                self.notice_url
            ));
        }
        if self.ground.trim().is_empty() {
            return Err("ground must say, in one sentence, why the content is restricted".into());
        }
        if self.implemented_by.trim().is_empty() {
            return Err("implemented_by must name who implements the restriction".into());
        }
        if let Some(end) = self.ends_at {
            if end <= self.starts_at {
                return Err("ends_at must be after starts_at".into());
            }
        }
        Ok(())
    }
}

/// What a restriction covers, from the narrowest to the widest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scope {
    /// One URL. Without a query string it covers the path with any query string (so that
    /// `?x=1` does not evade it); with one, only that exact query string.
    Url {
        /// Absolute URL, `https://host/path[?query]`.
        url: String,
    },
    /// Every path under a prefix on one host, on segment boundaries: `/forum/t` covers
    /// `/forum/t` and `/forum/t/1` but not `/forum/top`.
    PathPrefix {
        /// The hostname.
        host: String,
        /// The path prefix, starting with `/`.
        prefix: String,
    },
    /// A whole hostname, optionally with all its subdomains.
    Host {
        /// The hostname.
        host: String,
        /// Whether `*.host` is covered too.
        #[serde(default)]
        include_subdomains: bool,
    },
}

impl Scope {
    fn validate(&self) -> Result<(), String> {
        match self {
            Scope::Url { url } => crate::normalize::split_url(url).map(|_| ()),
            Scope::PathPrefix { host, prefix } => {
                crate::normalize::check_host(host)?;
                if !prefix.starts_with('/') {
                    return Err(format!("path prefix '{prefix}' must start with '/'"));
                }
                Ok(())
            }
            Scope::Host { host, .. } => crate::normalize::check_host(host),
        }
    }

    /// A short word for the scope's breadth, for metrics and pages.
    pub fn breadth(&self) -> &'static str {
        match self {
            Scope::Url { .. } => "url",
            Scope::PathPrefix { .. } => "path_prefix",
            Scope::Host { .. } => "host",
        }
    }
}

/// Legal restriction (HTTP 451, RFC 7725) or terms-of-service restriction (HTTP 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestrictionKind {
    /// Unavailable for legal reasons: HTTP 451.
    Legal,
    /// Incompatible with the provider's terms of service: HTTP 403.
    TermsOfService,
}

/// The category of restricted content, in the desk's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// An imminent threat to a person's life or safety.
    ThreatToLife,
    /// Publication of a person's private information.
    Doxxing,
    /// Incitement to violence, including swatting.
    IncitementToViolence,
    /// Harassment.
    Harassment,
    /// Child sexual abuse material.
    ChildSexualAbuseMaterial,
    /// Non-consensual intimate imagery.
    NonConsensualIntimateImagery,
    /// Terrorist content.
    TerroristContent,
    /// Phishing or malware.
    PhishingMalware,
    /// Intellectual property infringement.
    IntellectualProperty,
    /// Anything else.
    Other,
}

impl Category {
    /// Every category, in display order.
    pub const ALL: [Category; 10] = [
        Category::ThreatToLife,
        Category::Doxxing,
        Category::IncitementToViolence,
        Category::Harassment,
        Category::ChildSexualAbuseMaterial,
        Category::NonConsensualIntimateImagery,
        Category::TerroristContent,
        Category::PhishingMalware,
        Category::IntellectualProperty,
        Category::Other,
    ];

    /// The snake_case name used in documents and translation keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::ThreatToLife => "threat_to_life",
            Category::Doxxing => "doxxing",
            Category::IncitementToViolence => "incitement_to_violence",
            Category::Harassment => "harassment",
            Category::ChildSexualAbuseMaterial => "child_sexual_abuse_material",
            Category::NonConsensualIntimateImagery => "non_consensual_intimate_imagery",
            Category::TerroristContent => "terrorist_content",
            Category::PhishingMalware => "phishing_malware",
            Category::IntellectualProperty => "intellectual_property",
            Category::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "schema": 1, "version": 3, "issued_at": "2026-11-01T00:00:00Z",
      "restrictions": [{
        "id": "d-1", "scope": {"type": "url", "url": "https://forum.example/t/1"},
        "kind": "legal", "category": "doxxing", "notice_url": "https://desk.example/n/d-1",
        "ground": "Publishes a private person's home address.", "implemented_by": "Provider",
        "starts_at": "2026-11-01T00:00:00Z"
      }]
    }"#;

    #[test]
    fn sample_parses_and_round_trips() {
        let p = Policy::from_json(SAMPLE).expect("valid");
        assert_eq!(p.version, 3);
        assert_eq!(p.restrictions[0].status(), 451);
        let again = Policy::from_json(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(p, again);
    }

    #[test]
    fn unknown_field_is_refused_with_position() {
        let bad = SAMPLE.replace("\"ground\"", "\"grund\"");
        match Policy::from_json(&bad) {
            Err(PolicyError::Syntax { line, .. }) => assert!(line >= 4),
            other => panic!("expected syntax error, got {other:?}"),
        }
    }

    #[test]
    fn every_problem_is_listed() {
        let mut p = Policy::from_json(SAMPLE).unwrap();
        let mut dup = p.restrictions[0].clone();
        dup.ground = " ".into();
        p.restrictions.push(dup);
        p.schema = 9;
        let Err(PolicyError::Invalid(problems)) = p.validate() else {
            panic!("expected invalid")
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn activity_window() {
        let mut r = Policy::from_json(SAMPLE).unwrap().restrictions.remove(0);
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        r.ends_at = Some(t("2026-11-02T00:00:00Z"));
        assert!(!r.is_active(t("2026-10-31T23:59:59Z")));
        assert!(r.is_active(t("2026-11-01T00:00:00Z")));
        assert!(r.is_active(t("2026-11-01T23:59:59Z")));
        assert!(!r.is_active(t("2026-11-02T00:00:00Z")));
    }
}
