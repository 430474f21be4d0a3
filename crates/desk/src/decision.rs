//! Decisions on cases, and how the decisions in force become a policy version.

use chrono::{DateTime, Utc};
use rempart_policy::{
    Category, Policy, Restriction, RestrictionId, RestrictionKind, Scope, POLICY_SCHEMA,
};

use crate::clock::from_millis;
use crate::store::DecisionRow;

/// What an analyst decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// No action.
    NoAction,
    /// Ask the customer to remove the content by a deadline.
    AskCustomer,
    /// Restrict one URL.
    RestrictUrl,
    /// Restrict a path prefix on a host.
    RestrictPathPrefix,
    /// Restrict a hostname.
    RestrictHost,
    /// Suspend the zone: the host and all its subdomains.
    SuspendZone,
}

impl Action {
    /// Every action, in display order.
    pub const ALL: [Action; 6] = [
        Action::NoAction,
        Action::AskCustomer,
        Action::RestrictUrl,
        Action::RestrictPathPrefix,
        Action::RestrictHost,
        Action::SuspendZone,
    ];

    /// Stored and form name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::NoAction => "no_action",
            Action::AskCustomer => "ask_customer",
            Action::RestrictUrl => "restrict_url",
            Action::RestrictPathPrefix => "restrict_path_prefix",
            Action::RestrictHost => "restrict_host",
            Action::SuspendZone => "suspend_zone",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether the action restricts access at the edge.
    pub fn is_restrictive(self) -> bool {
        matches!(
            self,
            Action::RestrictUrl
                | Action::RestrictPathPrefix
                | Action::RestrictHost
                | Action::SuspendZone
        )
    }

    /// Whether the action is broad enough to need a senior analyst (more than one URL).
    pub fn needs_senior(self) -> bool {
        matches!(
            self,
            Action::RestrictPathPrefix | Action::RestrictHost | Action::SuspendZone
        )
    }

    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            Action::NoAction => "No action",
            Action::AskCustomer => "Ask the customer to remove it by a deadline",
            Action::RestrictUrl => "Restrict the exact URL",
            Action::RestrictPathPrefix => "Restrict a path prefix",
            Action::RestrictHost => "Restrict the hostname",
            Action::SuspendZone => "Suspend the zone (host and subdomains)",
        }
    }
}

/// The human label of a stored action name (the name itself if unknown).
pub fn action_label(name: &str) -> &str {
    match Action::parse(name) {
        Some(a) => a.label(),
        None => name,
    }
}

/// Parses a category's snake_case name.
pub fn parse_category(s: &str) -> Option<Category> {
    Category::ALL.into_iter().find(|c| c.as_str() == s)
}

/// Parses a restriction kind (the decision's ground).
pub fn parse_kind(s: &str) -> Option<RestrictionKind> {
    match s {
        "legal" => Some(RestrictionKind::Legal),
        "terms_of_service" => Some(RestrictionKind::TermsOfService),
        _ => None,
    }
}

/// The stored name of a restriction kind.
pub fn kind_str(k: RestrictionKind) -> &'static str {
    match k {
        RestrictionKind::Legal => "legal",
        RestrictionKind::TermsOfService => "terms_of_service",
    }
}

/// What policy documents need from the desk's configuration.
#[derive(Debug, Clone)]
pub struct PolicyContext {
    /// Public base URL (notice pages are `{public_url}/notices/{id}`).
    pub public_url: String,
    /// Who implements restrictions.
    pub implemented_by: String,
}

/// The restriction a decision in force contributes, if any.
pub fn restriction_of(d: &DecisionRow, ctx: &PolicyContext) -> Option<Restriction> {
    let scope: Scope = serde_json::from_str(d.scope.as_deref()?).ok()?;
    Some(Restriction {
        id: RestrictionId(d.id.clone()),
        scope,
        kind: parse_kind(&d.ground_kind)?,
        category: parse_category(&d.category)?,
        notice_url: format!("{}/notices/{}", ctx.public_url, d.id),
        // Shown on the edge's public block page: no personal data found in the analyst's words.
        ground: crate::dueprocess::public_text(&d.ground, &[]),
        implemented_by: ctx.implemented_by.clone(),
        starts_at: from_millis(d.starts_at),
        ends_at: d.ends_at.map(from_millis),
    })
}

/// Builds policy `version` from the decisions in force.
pub fn build_policy(
    version: u64,
    issued_at: DateTime<Utc>,
    in_force: &[DecisionRow],
    ctx: &PolicyContext,
) -> Policy {
    let mut restrictions: Vec<Restriction> = in_force
        .iter()
        .filter_map(|d| restriction_of(d, ctx))
        .collect();
    restrictions.sort_by(|a, b| a.id.cmp(&b.id));
    Policy {
        schema: POLICY_SCHEMA,
        version,
        issued_at,
        restrictions,
    }
}
