//! Due process: statements of reasons (DSA Art. 17), their export in the EU DSA Transparency
//! Database's format, emergency measures, and what the public may read of a decision.
//!
//! The audit actions recorded for due process (the transparency report counts them) are the
//! constants below.

use std::sync::OnceLock;

use crate::clock::from_millis;
use crate::store::{DecisionRow, StatementRow};

/// Audit action: an emergency measure applied by one analyst.
pub const AUDIT_EMERGENCY_APPLIED: &str = "decision.emergency_applied";
/// Audit action: an emergency measure confirmed (second reviewer or authority order).
pub const AUDIT_EMERGENCY_CONFIRMED: &str = "emergency.confirmed";
/// Audit action: an emergency measure lapsed unconfirmed.
pub const AUDIT_EMERGENCY_LAPSED: &str = "emergency.lapsed";
/// Audit action: an emergency measure lifted before its expiry.
pub const AUDIT_EMERGENCY_LIFTED: &str = "emergency.lifted";
/// Audit action: an appeal (internal complaint) filed.
pub const AUDIT_APPEAL_FILED: &str = "appeal.filed";
/// Audit action: an appeal decided, the decision upheld.
pub const AUDIT_APPEAL_UPHELD: &str = "appeal.upheld";
/// Audit action: an appeal decided, the decision reversed.
pub const AUDIT_APPEAL_REVERSED: &str = "appeal.reversed";
/// Audit action: an order from an authority recorded.
pub const AUDIT_AUTHORITY_ORDER: &str = "authority_order.recorded";
/// Audit action: a statement of reasons sent to the customer.
pub const AUDIT_STATEMENT_SENT: &str = "statement.sent";

/// The EEA's country codes (ISO 3166-1 alpha-2), as the Transparency Database accepts them.
pub const EEA: [&str; 30] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS",
    "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// Where a decision's restriction applies: the whole EEA (an edge restricts for every
/// visitor), or some EEA countries.
pub fn parse_territorial_scope(s: &str) -> Result<Vec<String>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(
            "the territorial scope must be given (EEA, or country codes such as FR, BE)".into(),
        );
    }
    if s.eq_ignore_ascii_case("eea") || s.eq_ignore_ascii_case("worldwide") {
        return Ok(EEA.iter().map(|c| c.to_string()).collect());
    }
    let mut out = Vec::new();
    for code in s.split([',', ' ']).filter(|c| !c.is_empty()) {
        let code = code.to_ascii_uppercase();
        if !EEA.contains(&code.as_str()) {
            return Err(format!("'{code}' is not an EEA country code"));
        }
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

/// What led to the decision (the Transparency Database's `source_type`).
pub const SOURCE_TYPES: [&str; 4] = [
    "SOURCE_ARTICLE_16",
    "SOURCE_TRUSTED_FLAGGER",
    "SOURCE_TYPE_OTHER_NOTIFICATION",
    "SOURCE_VOLUNTARY",
];

/// Whether and how far the decision was automated (`automated_decision`).
pub const AUTOMATED_DECISIONS: [&str; 3] = [
    "AUTOMATED_DECISION_FULLY",
    "AUTOMATED_DECISION_PARTIALLY",
    "AUTOMATED_DECISION_NOT_AUTOMATED",
];

/// The Transparency Database category (and keyword) of one of the desk's categories.
pub fn dsa_category(category: &str, ground_kind: &str) -> (&'static str, Option<&'static str>) {
    match category {
        "threat_to_life" => ("STATEMENT_CATEGORY_VIOLENCE", None),
        "doxxing" => (
            "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
            None,
        ),
        "incitement_to_violence" => ("STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH", None),
        "harassment" => (
            "STATEMENT_CATEGORY_CYBER_VIOLENCE",
            Some("KEYWORD_CYBER_STALKING"),
        ),
        "child_sexual_abuse_material" => (
            "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
            Some("KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"),
        ),
        "non_consensual_intimate_imagery" => ("STATEMENT_CATEGORY_CYBER_VIOLENCE", None),
        "terrorist_content" => ("STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY", None),
        "phishing_malware" => (
            "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
            Some("KEYWORD_PHISHING"),
        ),
        "intellectual_property" => (
            "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
            None,
        ),
        _ if ground_kind == "terms_of_service" => ("STATEMENT_CATEGORY_OTHER_VIOLATION_TC", None),
        _ => ("STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE", None),
    }
}

fn date(ms: i64) -> String {
    from_millis(ms).format("%Y-%m-%d").to_string()
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The statement of reasons in the EU DSA Transparency Database's format (the body of
/// `POST /api/v1/statement`). `content_date` is when the content was first reported (the
/// earliest date the provider knows it existed). Free text is redacted for publication.
pub fn dsa_statement(
    d: &DecisionRow,
    s: &StatementRow,
    content_date: i64,
    notifiers: &[String],
) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let mut v = Map::new();
    let end = d.ends_at.or(d.lifted_at).map(date);
    match d.action.as_str() {
        // One URL or one path: access to that content is disabled at the edge.
        "restrict_url" | "restrict_path_prefix" => {
            v.insert(
                "decision_visibility".into(),
                json!(["DECISION_VISIBILITY_CONTENT_DISABLED"]),
            );
            if let Some(e) = &end {
                v.insert("end_date_visibility_restriction".into(), json!(e));
            }
        }
        // A hostname is part of the customer's service; a zone is all of it.
        "restrict_host" | "suspend_zone" => {
            let p = if d.action == "restrict_host" {
                "DECISION_PROVISION_PARTIAL_SUSPENSION"
            } else {
                "DECISION_PROVISION_TOTAL_SUSPENSION"
            };
            v.insert("decision_provision".into(), json!(p));
            if let Some(e) = &end {
                v.insert("end_date_service_restriction".into(), json!(e));
            }
        }
        _ => {
            v.insert(
                "decision_visibility".into(),
                json!(["DECISION_VISIBILITY_OTHER"]),
            );
            v.insert(
                "decision_visibility_other".into(),
                json!(cut(crate::decision::action_label(&d.action), 500)),
            );
        }
    }
    if d.ground_kind == "legal" {
        v.insert(
            "decision_ground".into(),
            json!("DECISION_GROUND_ILLEGAL_CONTENT"),
        );
        v.insert(
            "illegal_content_legal_ground".into(),
            json!(cut(&public_text(&d.ground, notifiers), 500)),
        );
        v.insert(
            "illegal_content_explanation".into(),
            json!(cut(&public_text(&s.explanation, notifiers), 2000)),
        );
    } else {
        v.insert(
            "decision_ground".into(),
            json!("DECISION_GROUND_INCOMPATIBLE_CONTENT"),
        );
        v.insert(
            "incompatible_content_ground".into(),
            json!(cut(&public_text(&d.ground, notifiers), 500)),
        );
        v.insert(
            "incompatible_content_explanation".into(),
            json!(cut(&public_text(&s.explanation, notifiers), 2000)),
        );
        v.insert("incompatible_content_illegal".into(), json!("No"));
    }
    let (category, keyword) = dsa_category(&d.category, &d.ground_kind);
    v.insert("category".into(), json!(category));
    if let Some(k) = keyword {
        v.insert("category_specification".into(), json!([k]));
    }
    v.insert("content_type".into(), json!(["CONTENT_TYPE_OTHER"]));
    v.insert("content_type_other".into(), json!("Web page or web site"));
    let scope: Vec<String> = serde_json::from_str(&s.territorial_scope).unwrap_or_default();
    v.insert("territorial_scope".into(), json!(scope));
    v.insert("content_date".into(), json!(date(content_date)));
    v.insert("application_date".into(), json!(date(d.starts_at)));
    v.insert(
        "decision_facts".into(),
        json!(cut(&public_text(&d.facts, notifiers), 5000)),
    );
    v.insert("source_type".into(), json!(s.source_type));
    v.insert(
        "automated_detection".into(),
        json!(if s.automated_detection { "Yes" } else { "No" }),
    );
    v.insert("automated_decision".into(), json!(s.automated_decision));
    v.insert("puid".into(), json!(d.id));
    Value::Object(v)
}

fn signals() -> Option<&'static rempart_signals::Signals> {
    static S: OnceLock<Option<rempart_signals::Signals>> = OnceLock::new();
    S.get_or_init(|| match rempart_signals::Signals::new() {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "content signals unavailable; public text is withheld");
            None
        }
    })
    .as_ref()
}

/// Free text fit for the public (notice pages, the Transparency Database): personal
/// information the detector finds (e-mails, phones, addresses, …) is replaced by its kind, and
/// so is every name and e-mail address of the case's notifiers, found or not. If the detector
/// cannot load, nothing is published rather than something unredacted.
pub fn public_text(text: &str, notifiers: &[String]) -> String {
    let Some(sig) = signals() else {
        return "[withheld]".into();
    };
    let mut out = sig.scan(text).redact(text);
    for n in notifiers {
        let n = n.trim();
        if n.chars().count() >= 3 {
            out = replace_ci(&out, n, "[notifier]");
        }
    }
    out
}

/// Replaces every case-insensitive (ASCII) occurrence of `needle`.
fn replace_ci(hay: &str, needle: &str, with: &str) -> String {
    let lower_hay = hay.to_ascii_lowercase();
    let lower_needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(hay.len());
    let mut at = 0;
    while let Some(i) = lower_hay[at..].find(&lower_needle) {
        out.push_str(&hay[at..at + i]);
        out.push_str(with);
        at += i + lower_needle.len();
    }
    out.push_str(&hay[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn territorial_scope_is_eea_or_codes() {
        assert_eq!(parse_territorial_scope("EEA").unwrap().len(), 30);
        assert_eq!(parse_territorial_scope("fr, be").unwrap(), ["FR", "BE"]);
        assert!(parse_territorial_scope("US").is_err());
        assert!(parse_territorial_scope(" ").is_err());
    }

    #[test]
    fn notifiers_and_found_personal_data_are_redacted() {
        let t = public_text(
            "Nadia Notifier (nadia@example.org, +33 6 12 34 56 78) says the post is illegal.",
            &["Nadia Notifier".into(), "nadia@example.org".into()],
        );
        assert!(!t.contains("Nadia"), "{t}");
        assert!(!t.contains("nadia@"), "{t}");
        assert!(!t.contains("12 34 56"), "{t}");
        assert!(t.contains("says the post is illegal"), "{t}");
    }
}
