//! Transparency figures (DSA Art. 15) for a period, computed from the reports, decisions and
//! referrals tables and from audit-log actions: only counts and medians, never a notifier's or
//! a customer's data.
//!
//! Definitions (the page repeats them):
//! - a **notice** is a report received in the period; its source is the `source` its
//!   `report.submitted` audit entry names (`public`, `trusted_flagger`, `authority`), else
//!   `public` (the public form and API); automated detection: the content-signals detector
//!   flagged it;
//! - an **action** is a decision made in the period, by type and ground; it **follows a
//!   notice** when the case had a report by then, else it is **own-initiative**; its time from
//!   notice is from the earliest report on the case since the case's previous decision (a
//!   decision with no new report since the previous one is a follow-up and not timed);
//!   automated decision: its `decision.made` entry says `automated_decision` (true, or a DSA
//!   value other than `AUTOMATED_DECISION_NOT_AUTOMATED`);
//! - appeals and emergency measures: audit actions `appeal.filed|upheld|reversed`,
//!   `decision.emergency_applied`, `emergency.confirmed|lapsed|lifted` in the period;
//! - referrals: made in the period; orders: `authority_order.recorded` entries, with the time
//!   to give effect from their details' `received_at` to `effective_at` (ms) where both exist;
//! - medians are in whole seconds; with an even count, the mean of the two middle values
//!   (rounded down).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::store::{Store, StoreError};

/// A period of whole days, `from` to `to` inclusive (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
}

impl Period {
    /// The last full calendar half-year before `now`.
    pub fn last_half_year(now: DateTime<Utc>) -> Period {
        let y = now.year();
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("valid date");
        if now.month() >= 7 {
            Period {
                from: d(y, 1, 1),
                to: d(y, 6, 30),
            }
        } else {
            Period {
                from: d(y - 1, 7, 1),
                to: d(y - 1, 12, 31),
            }
        }
    }

    /// The current half-year up to `now`'s day.
    pub fn half_year_to_date(now: DateTime<Utc>) -> Period {
        let month = if now.month() >= 7 { 7 } else { 1 };
        Period {
            from: NaiveDate::from_ymd_opt(now.year(), month, 1).expect("valid date"),
            to: now.date_naive(),
        }
    }

    /// From `?from=&to=` (YYYY-MM-DD); a missing bound takes the default period's.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Period, Vec<String>> {
        let default = Period::last_half_year(now);
        let mut problems = Vec::new();
        let mut day = |name: &str, v: Option<&str>, d: NaiveDate| match v.map(str::trim) {
            None | Some("") => d,
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|_| {
                problems.push(format!("{name} must be a date YYYY-MM-DD, not '{s}'"));
                d
            }),
        };
        let p = Period {
            from: day("from", from, default.from),
            to: day("to", to, default.to),
        };
        if problems.is_empty() && p.from > p.to {
            problems.push("from must not be after to".into());
        }
        if problems.is_empty() {
            Ok(p)
        } else {
            Err(problems)
        }
    }

    /// Start, in ms (inclusive).
    pub fn start_ms(&self) -> i64 {
        day_ms(self.from)
    }

    /// End, in ms (exclusive: midnight after `to`).
    pub fn end_ms(&self) -> i64 {
        day_ms(self.to + Duration::days(1))
    }
}

fn day_ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis()
}

/// The figures of a period.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Figures {
    /// The period, YYYY-MM-DD inclusive.
    pub period: PeriodJson,
    /// Notices received.
    pub notices: Notices,
    /// Actions taken.
    pub actions: Actions,
    /// Internal complaints (appeals).
    pub appeals: Appeals,
    /// Emergency measures.
    pub emergency_measures: Emergency,
    /// Referrals to authorities.
    pub referrals: Referrals,
    /// Orders from authorities.
    pub authority_orders: Orders,
}

/// The period as written in the outputs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PeriodJson {
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
}

/// Notices.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Notices {
    /// All notices.
    pub total: i64,
    /// By category.
    pub by_category: BTreeMap<String, i64>,
    /// By source: `public`, `trusted_flagger`, `authority`.
    pub by_source: BTreeMap<String, i64>,
    /// Flagged by automated detection.
    pub automated_detection: i64,
}

/// Actions.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Actions {
    /// All decisions.
    pub total: i64,
    /// By type (decision action).
    pub by_type: BTreeMap<String, i64>,
    /// By ground: `legal`, `terms_of_service`.
    pub by_ground: BTreeMap<String, i64>,
    /// Following a notice.
    pub following_notice: i64,
    /// On the provider's own initiative.
    pub own_initiative: i64,
    /// Decided by automated means.
    pub automated_decision: i64,
    /// Median time from notice to action, seconds.
    pub median_seconds_notice_to_action: Option<i64>,
}

/// Appeals.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Appeals {
    /// Filed.
    pub filed: i64,
    /// Upheld (decision kept).
    pub upheld: i64,
    /// Reversed.
    pub reversed: i64,
}

/// Emergency measures.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Emergency {
    /// Applied.
    pub applied: i64,
    /// Confirmed before expiry.
    pub confirmed: i64,
    /// Lapsed unconfirmed.
    pub lapsed: i64,
    /// Lifted.
    pub lifted: i64,
}

/// Referrals.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Referrals {
    /// Made.
    pub total: i64,
    /// By basis of the jurisdiction: `victim`, `suspect`, `place`, `unclear`.
    pub by_basis: BTreeMap<String, i64>,
    /// Acknowledgements received from authorities.
    pub acknowledged: i64,
}

/// Orders from authorities.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Orders {
    /// Recorded.
    pub received: i64,
    /// Median time from receipt to effect, seconds.
    pub median_seconds_to_give_effect: Option<i64>,
}

/// The median of `v` in seconds (from ms), `None` if empty.
pub fn median_seconds(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    let ms = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]).div_euclid(2)
    };
    Some(ms.div_euclid(1000))
}

fn truthy_automated(v: Option<&serde_json::Value>) -> bool {
    match v {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => !matches!(
            s.as_str(),
            "" | "No" | "no" | "false" | "AUTOMATED_DECISION_NOT_AUTOMATED" | "not_automated"
        ),
        _ => false,
    }
}

/// Computes the figures of `period`.
pub async fn compute(store: &Store, period: &Period) -> Result<Figures, StoreError> {
    let (start, end) = (period.start_ms(), period.end_ms());
    let pool = store.pool();

    // Audit entries the figures use, in the period.
    let entries: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, details FROM audit_log WHERE at >= $1 AND at < $2 AND action IN \
         ('report.submitted', 'decision.made', 'appeal.filed', 'appeal.upheld', 'appeal.reversed', \
          'decision.emergency_applied', 'emergency.confirmed', 'emergency.lapsed', 'emergency.lifted', \
          'authority_order.recorded', 'authority.acknowledged')",
    )
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await?;
    let mut count: HashMap<&str, i64> = HashMap::new();
    let mut source_of: HashMap<String, String> = HashMap::new();
    let mut automated: HashMap<String, bool> = HashMap::new();
    let mut order_delays = Vec::new();
    for (action, details) in &entries {
        *count.entry(action.as_str()).or_default() += 1;
        let d: serde_json::Value = serde_json::from_str(details).unwrap_or_default();
        match action.as_str() {
            "report.submitted" => {
                if let (Some(r), Some(s)) = (d["report"].as_str(), d["source"].as_str()) {
                    source_of.insert(r.to_string(), s.to_string());
                }
            }
            "decision.made" => {
                if let Some(id) = d["decision"].as_str() {
                    automated.insert(
                        id.to_string(),
                        truthy_automated(d.get("automated_decision")),
                    );
                }
            }
            "authority_order.recorded" => {
                if let (Some(r), Some(e)) = (d["received_at"].as_i64(), d["effective_at"].as_i64())
                {
                    order_delays.push((e - r).max(0));
                }
            }
            _ => {}
        }
    }
    let n = |a: &str| count.get(a).copied().unwrap_or(0);

    let mut notices = Notices::default();
    for s in ["public", "trusted_flagger", "authority"] {
        notices.by_source.insert(s.into(), 0);
    }
    let reports: Vec<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT id, category, signal_priority FROM reports WHERE submitted_at >= $1 AND submitted_at < $2",
    )
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await?;
    for (id, category, signal) in &reports {
        notices.total += 1;
        *notices.by_category.entry(category.clone()).or_default() += 1;
        let source = source_of
            .get(id)
            .map(String::as_str)
            .filter(|s| matches!(*s, "trusted_flagger" | "authority"))
            .unwrap_or("public");
        *notices.by_source.entry(source.into()).or_default() += 1;
        if signal.is_some() {
            notices.automated_detection += 1;
        }
    }

    let mut actions = Actions::default();
    let decisions: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "SELECT id, case_id, action, ground_kind, decided_at FROM decisions \
         WHERE decided_at >= $1 AND decided_at < $2",
    )
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await?;
    let mut delays = Vec::new();
    for (id, case_id, action, ground_kind, decided_at) in &decisions {
        actions.total += 1;
        *actions.by_type.entry(action.clone()).or_default() += 1;
        *actions.by_ground.entry(ground_kind.clone()).or_default() += 1;
        if automated.get(id).copied().unwrap_or(false) {
            actions.automated_decision += 1;
        }
        let previous: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(decided_at) FROM decisions WHERE case_id = $1 AND decided_at < $2",
        )
        .bind(case_id)
        .bind(decided_at)
        .fetch_one(pool)
        .await?;
        let (any_before, first_new): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(CASE WHEN submitted_at > $3 THEN submitted_at END) FROM reports \
             WHERE case_id = $1 AND submitted_at <= $2",
        )
        .bind(case_id)
        .bind(decided_at)
        .bind(previous.unwrap_or(i64::MIN))
        .fetch_one(pool)
        .await?;
        if any_before > 0 {
            actions.following_notice += 1;
            if let Some(t) = first_new {
                delays.push(decided_at - t);
            }
        } else {
            actions.own_initiative += 1;
        }
    }
    actions.median_seconds_notice_to_action = median_seconds(delays);

    let mut referrals = Referrals::default();
    for b in ["victim", "suspect", "place", "unclear"] {
        referrals.by_basis.insert(b.into(), 0);
    }
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT basis FROM referrals WHERE referred_at >= $1 AND referred_at < $2")
            .bind(start)
            .bind(end)
            .fetch_all(pool)
            .await?;
    for (basis,) in rows {
        referrals.total += 1;
        *referrals.by_basis.entry(basis).or_default() += 1;
    }
    referrals.acknowledged = n("authority.acknowledged");

    Ok(Figures {
        period: PeriodJson {
            from: period.from.to_string(),
            to: period.to.to_string(),
        },
        notices,
        actions,
        appeals: Appeals {
            filed: n("appeal.filed"),
            upheld: n("appeal.upheld"),
            reversed: n("appeal.reversed"),
        },
        emergency_measures: Emergency {
            applied: n("decision.emergency_applied"),
            confirmed: n("emergency.confirmed"),
            lapsed: n("emergency.lapsed"),
            lifted: n("emergency.lifted"),
        },
        referrals,
        authority_orders: Orders {
            received: n("authority_order.recorded"),
            median_seconds_to_give_effect: median_seconds(order_delays),
        },
    })
}

/// The figures as rows `(section, metric, key, value)`: the CSV's content, and what the JSON
/// flattens to (an empty key for a single figure, an empty value for a median of nothing).
pub fn rows(f: &Figures) -> Vec<[String; 4]> {
    let mut out = Vec::new();
    let mut one = |s: &str, m: &str, k: &str, v: String| {
        out.push([s.to_string(), m.to_string(), k.to_string(), v]);
    };
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    one("period", "from", "", f.period.from.clone());
    one("period", "to", "", f.period.to.clone());
    one("notices", "total", "", f.notices.total.to_string());
    for (k, v) in &f.notices.by_category {
        one("notices", "by_category", k, v.to_string());
    }
    for (k, v) in &f.notices.by_source {
        one("notices", "by_source", k, v.to_string());
    }
    one(
        "notices",
        "automated_detection",
        "",
        f.notices.automated_detection.to_string(),
    );
    let a = &f.actions;
    one("actions", "total", "", a.total.to_string());
    for (k, v) in &a.by_type {
        one("actions", "by_type", k, v.to_string());
    }
    for (k, v) in &a.by_ground {
        one("actions", "by_ground", k, v.to_string());
    }
    one(
        "actions",
        "following_notice",
        "",
        a.following_notice.to_string(),
    );
    one(
        "actions",
        "own_initiative",
        "",
        a.own_initiative.to_string(),
    );
    one(
        "actions",
        "automated_decision",
        "",
        a.automated_decision.to_string(),
    );
    one(
        "actions",
        "median_seconds_notice_to_action",
        "",
        opt(a.median_seconds_notice_to_action),
    );
    one("appeals", "filed", "", f.appeals.filed.to_string());
    one("appeals", "upheld", "", f.appeals.upheld.to_string());
    one("appeals", "reversed", "", f.appeals.reversed.to_string());
    let e = &f.emergency_measures;
    one("emergency_measures", "applied", "", e.applied.to_string());
    one(
        "emergency_measures",
        "confirmed",
        "",
        e.confirmed.to_string(),
    );
    one("emergency_measures", "lapsed", "", e.lapsed.to_string());
    one("emergency_measures", "lifted", "", e.lifted.to_string());
    one("referrals", "total", "", f.referrals.total.to_string());
    for (k, v) in &f.referrals.by_basis {
        one("referrals", "by_basis", k, v.to_string());
    }
    one(
        "referrals",
        "acknowledged",
        "",
        f.referrals.acknowledged.to_string(),
    );
    one(
        "authority_orders",
        "received",
        "",
        f.authority_orders.received.to_string(),
    );
    one(
        "authority_orders",
        "median_seconds_to_give_effect",
        "",
        opt(f.authority_orders.median_seconds_to_give_effect),
    );
    out
}

/// The figures as CSV (RFC 4180): a header `section,metric,key,value`, then [`rows`].
pub fn to_csv(f: &Figures) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::from("section,metric,key,value\r\n");
    for r in rows(f) {
        let line: Vec<String> = r.iter().map(|s| field(s)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}
