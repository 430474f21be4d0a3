//! Triage: priority from category and content signals, review targets, campaign keys.
//!
//! Volume never raises priority: a case's priority is the most urgent of its reports'
//! priorities, and each report's priority comes from its category and the signals hook only.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use rempart_policy::Category;
use sha2::{Digest, Sha256};

/// Urgency, P0 most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Imminent threat to life or safety: page the on-call.
    P0,
    /// Serious harm to a person or the public.
    P1,
    /// Ordinary.
    P2,
    /// Low.
    P3,
}

impl Priority {
    /// As stored (0..=3).
    pub fn as_i64(self) -> i64 {
        self as i64
    }

    /// From the stored number; unknown numbers are treated as the least urgent.
    pub fn from_i64(n: i64) -> Priority {
        match n {
            0 => Priority::P0,
            1 => Priority::P1,
            2 => Priority::P2,
            _ => Priority::P3,
        }
    }

    /// The priority a category implies on its own.
    pub fn of_category(c: Category) -> Priority {
        match c {
            Category::ThreatToLife => Priority::P0,
            Category::ChildSexualAbuseMaterial
            | Category::IncitementToViolence
            | Category::TerroristContent
            | Category::NonConsensualIntimateImagery
            | Category::Doxxing
            | Category::PhishingMalware => Priority::P1,
            Category::Harassment | Category::IntellectualProperty => Priority::P2,
            Category::Other => Priority::P3,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}", *self as u8)
    }
}

/// Time-to-first-review targets, in minutes, indexed by priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewTargets {
    /// Minutes for P0..P3.
    pub minutes: [i64; 4],
}

impl Default for ReviewTargets {
    fn default() -> Self {
        ReviewTargets {
            minutes: [15, 240, 1440, 4320],
        }
    }
}

impl ReviewTargets {
    /// When a report of priority `p` received at `at` must have been reviewed.
    pub fn due(&self, p: Priority, at: DateTime<Utc>) -> DateTime<Utc> {
        at + Duration::minutes(self.minutes[p as usize])
    }
}

/// What a content-signals detector sees of a report.
#[derive(Debug, Clone)]
pub struct ReportForSignals<'a> {
    /// The reported category.
    pub category: Category,
    /// The reported URLs.
    pub urls: &'a [String],
    /// The notifier's explanation.
    pub explanation: &'a str,
}

/// The hook a content-signals crate plugs into: it may raise a report's priority (never lower
/// it below what the category implies).
#[async_trait::async_trait]
pub trait SignalsHook: Send + Sync + 'static {
    /// A severity for this report, if the detector has an opinion.
    async fn severity(&self, report: &ReportForSignals<'_>) -> Option<Priority>;
}

/// The hook that has no opinion.
#[derive(Debug, Default)]
pub struct NoSignals;

#[async_trait::async_trait]
impl SignalsHook for NoSignals {
    async fn severity(&self, _: &ReportForSignals<'_>) -> Option<Priority> {
        None
    }
}

/// A report's priority: the more urgent of the category's and the signals'.
pub fn priority(category: Category, signal: Option<Priority>) -> Priority {
    let base = Priority::of_category(category);
    signal.map_or(base, |s| s.min(base))
}

/// The key under which near-identical reports collide: category, host and the explanation
/// reduced to its lowercase letters (digits, punctuation, spacing and case removed), so that
/// templated campaign text with small variations matches.
pub fn similarity_key(category: Category, host: &str, explanation: &str) -> String {
    let reduced: String = explanation
        .chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect();
    let mut h = Sha256::new();
    h.update(category.as_str());
    h.update([0]);
    h.update(host.as_bytes());
    h.update([0]);
    h.update(reduced.as_bytes());
    hex::encode(h.finalize())
}

/// The key identifying a notifier across reports (for counting distinct notifiers): the
/// hashed, lowercased e-mail, or for anonymous reports a key of their own.
pub fn notifier_key(email: Option<&str>, report_id: &str) -> String {
    match email {
        Some(e) if !e.trim().is_empty() => {
            hex::encode(Sha256::digest(e.trim().to_lowercase().as_bytes()))
        }
        _ => format!("anonymous:{report_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threat_to_life_is_p0_and_signals_only_raise() {
        assert_eq!(priority(Category::ThreatToLife, None), Priority::P0);
        assert_eq!(priority(Category::Other, Some(Priority::P1)), Priority::P1);
        assert_eq!(
            priority(Category::ThreatToLife, Some(Priority::P3)),
            Priority::P0
        );
    }

    #[test]
    fn near_identical_texts_share_a_key() {
        let a = similarity_key(Category::Harassment, "h.example", "This is spam!! #1");
        let b = similarity_key(Category::Harassment, "h.example", "this is  SPAM #2");
        let c = similarity_key(Category::Harassment, "other.example", "this is spam");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
