//! Transparency figures equal an independent count over the fixture data (straight SQL counts
//! and counts over the fixture lists), the JSON and the CSV agree, and the public page (en/fr,
//! SVG charts, no script) shows no personal data. On SQLite and PostgreSQL.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use chrono::{DateTime, TimeZone, Utc};
use common::*;
use rempart_desk::decision::PolicyContext;
use rempart_desk::store::{Actor, NewAuthorityResponse, NewDecision, NewReferral};
use rempart_desk::transparency::{compute, Period};

const NAME: &str = "Nadia Notifier";

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn actor(t: DateTime<Utc>) -> Actor {
    Actor {
        name: "user:ana".into(),
        at: ms(t),
    }
}

fn in_period(t: DateTime<Utc>) -> bool {
    t >= at(2026, 1, 1, 0, 0, 0) && t < at(2026, 7, 1, 0, 0, 0)
}

struct Fixture {
    /// (host, path, category, when, notifier e-mail)
    reports: Vec<(
        &'static str,
        &'static str,
        &'static str,
        DateTime<Utc>,
        String,
    )>,
    /// (host, action, ground, when)
    decisions: Vec<(&'static str, &'static str, &'static str, DateTime<Utc>)>,
    /// (audit action, when)
    events: Vec<(&'static str, DateTime<Utc>)>,
}

fn fixture() -> Fixture {
    let r = |h, p, c, t, i: usize| (h, p, c, t, format!("notifier{i}@private.example"));
    Fixture {
        reports: vec![
            r(
                "a.example",
                "/1",
                "threat_to_life",
                at(2026, 2, 1, 10, 0, 0),
                1,
            ),
            r(
                "a.example",
                "/2",
                "threat_to_life",
                at(2026, 2, 1, 10, 5, 0),
                2,
            ),
            r("b.example", "/1", "doxxing", at(2026, 3, 10, 12, 0, 0), 3),
            r("b.example", "/2", "doxxing", at(2026, 3, 20, 12, 0, 0), 4),
            r(
                "c.example",
                "/1",
                "phishing_malware",
                at(2026, 4, 1, 0, 0, 0),
                5,
            ),
            // The period's last second is in, the seconds either side of it are not.
            r(
                "d.example",
                "/1",
                "intellectual_property",
                at(2026, 6, 30, 23, 59, 59),
                6,
            ),
            r(
                "e.example",
                "/1",
                "doxxing",
                at(2025, 12, 31, 23, 59, 59),
                7,
            ),
            r("f.example", "/1", "harassment", at(2026, 7, 1, 0, 0, 0), 8),
        ],
        decisions: vec![
            // 10 min after the first report on a.
            (
                "a.example",
                "restrict_url",
                "legal",
                at(2026, 2, 1, 10, 10, 0),
            ),
            // No new report on a since: a follow-up, not timed.
            (
                "a.example",
                "restrict_path_prefix",
                "legal",
                at(2026, 2, 2, 0, 0, 0),
            ),
            // 30 min.
            (
                "b.example",
                "ask_customer",
                "terms_of_service",
                at(2026, 3, 10, 12, 30, 0),
            ),
            // 2 h after b's report of 20 March (the one after the previous decision).
            (
                "b.example",
                "restrict_host",
                "legal",
                at(2026, 3, 20, 14, 0, 0),
            ),
            // 5 h.
            (
                "c.example",
                "no_action",
                "terms_of_service",
                at(2026, 4, 1, 5, 0, 0),
            ),
            // On a report received before the period: 4 days and 1 second.
            (
                "e.example",
                "restrict_url",
                "legal",
                at(2026, 1, 5, 0, 0, 0),
            ),
            // Before f's only report: own initiative.
            (
                "f.example",
                "restrict_url",
                "terms_of_service",
                at(2026, 6, 15, 0, 0, 0),
            ),
            // After the period.
            (
                "d.example",
                "restrict_url",
                "legal",
                at(2026, 7, 2, 0, 0, 0),
            ),
        ],
        events: vec![
            ("appeal.filed", at(2026, 2, 3, 0, 0, 0)),
            ("appeal.filed", at(2026, 3, 25, 0, 0, 0)),
            ("appeal.filed", at(2026, 8, 1, 0, 0, 0)),
            ("appeal.upheld", at(2026, 2, 10, 0, 0, 0)),
            ("appeal.reversed", at(2026, 4, 1, 0, 0, 0)),
            ("decision.emergency_applied", at(2026, 2, 1, 10, 1, 0)),
            ("decision.emergency_applied", at(2026, 5, 1, 0, 0, 0)),
            ("emergency.confirmed", at(2026, 2, 1, 20, 0, 0)),
            ("emergency.lapsed", at(2026, 5, 2, 0, 0, 0)),
            ("emergency.lifted", at(2025, 12, 1, 0, 0, 0)),
        ],
    }
}

/// Files the fixture through the public API and the store; returns the case id by host and
/// the decision ids in fixture order.
async fn load(t: &TestDesk, f: &Fixture) -> (BTreeMap<&'static str, String>, Vec<String>) {
    let r = t.desk.router();
    let mut cases = BTreeMap::new();
    for (host, path, category, when, email) in &f.reports {
        t.clock.set(*when);
        let mut body = report(
            &format!("https://{host}{path}"),
            category,
            "see the post",
            email,
        );
        body["notifier_name"] = NAME.into();
        let resp = send(&r, post_json("/api/v1/reports", &body)).await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
        let id: String = sqlx::query_scalar("SELECT id FROM cases WHERE host = $1")
            .bind(*host)
            .fetch_one(t.desk.store().pool())
            .await
            .unwrap();
        cases.insert(*host, id);
    }
    let ctx = PolicyContext {
        public_url: "https://desk.example".into(),
        implemented_by: "Example Provider".into(),
    };
    let mut decisions = Vec::new();
    for (host, action, ground, when) in &f.decisions {
        let (id, _) = t
            .desk
            .store()
            .record_decision(
                &NewDecision {
                    case_id: cases[host].clone(),
                    action: action.to_string(),
                    ground_kind: ground.to_string(),
                    ground: "ground".into(),
                    facts: "facts".into(),
                    category: "other".into(),
                    scope: None,
                    starts_at: ms(*when),
                    ends_at: None,
                    deadline: None,
                    statement: None,
                    emergency: false,
                },
                &actor(*when),
                &ctx,
            )
            .await
            .unwrap();
        decisions.push(id);
    }
    for (action, when) in &f.events {
        t.desk
            .store()
            .audit_event(
                &actor(*when),
                action,
                "case:x",
                serde_json::json!({ "by": "fixture" }),
            )
            .await
            .unwrap();
    }
    (cases, decisions)
}

#[tokio::test]
async fn figures_equal_an_independent_count() {
    let f = fixture();
    for (name, t) in desks("").await {
        let (cases, decisions) = load(&t, &f).await;
        let store = t.desk.store();
        // Referrals: two in the period, one after; an acknowledgement; orders.
        let mut referral_ids = Vec::new();
        for (basis, when) in [
            ("victim", at(2026, 2, 1, 10, 20, 0)),
            ("unclear", at(2026, 3, 21, 0, 0, 0)),
            ("place", at(2026, 9, 1, 0, 0, 0)),
        ] {
            let id = store
                .record_referral(
                    &NewReferral {
                        case_id: cases["a.example"].clone(),
                        jurisdiction: if basis == "unclear" {
                            "".into()
                        } else {
                            "FR".into()
                        },
                        basis: basis.into(),
                        authority_key: "FR".into(),
                        authority_name: "PHAROS".into(),
                        authority_email: None,
                        authority_url: Some("https://pharos.example".into()),
                        reason: "threat".into(),
                    },
                    &actor(when),
                )
                .await
                .unwrap();
            referral_ids.push(id);
        }
        let response = |kind: &str,
                        case: &str,
                        referral: Option<&String>,
                        received,
                        decision: Option<&String>| NewAuthorityResponse {
            case_id: cases[case].clone(),
            referral_id: referral.cloned(),
            kind: kind.into(),
            authority: "Tribunal".into(),
            reference: "R-1".into(),
            scope: None,
            received_at: ms(received),
            decision_id: decision.cloned(),
            note: String::new(),
        };
        store
            .record_authority_response(
                &response(
                    "acknowledgement",
                    "a.example",
                    Some(&referral_ids[0]),
                    at(2026, 2, 1, 11, 0, 0),
                    None,
                ),
                &actor(at(2026, 2, 1, 11, 5, 0)),
            )
            .await
            .unwrap();
        // Received 13:00, the restriction of b (decision 4) started at 14:00: 1 h to effect.
        store
            .record_authority_response(
                &response(
                    "order",
                    "b.example",
                    None,
                    at(2026, 3, 20, 13, 0, 0),
                    Some(&decisions[3]),
                ),
                &actor(at(2026, 3, 20, 13, 10, 0)),
            )
            .await
            .unwrap();
        // Received after a's restriction was in force: effect on receipt, 0 s.
        store
            .record_authority_response(
                &response(
                    "order",
                    "a.example",
                    None,
                    at(2026, 2, 1, 11, 0, 0),
                    Some(&decisions[0]),
                ),
                &actor(at(2026, 2, 1, 11, 1, 0)),
            )
            .await
            .unwrap();
        // An order recorded elsewhere (an emergency confirmed by an order), 10 min to effect.
        store
            .audit_event(
                &actor(at(2026, 5, 1, 1, 0, 0)),
                "authority_order.recorded",
                "case:x",
                serde_json::json!({ "received_at": ms(at(2026, 5, 1, 0, 0, 0)), "effective_at": ms(at(2026, 5, 1, 0, 10, 0)) }),
            )
            .await
            .unwrap();

        let period = Period::parse(
            Some("2026-01-01"),
            Some("2026-06-30"),
            at(2026, 11, 25, 8, 0, 0),
        )
        .unwrap();
        let got = compute(store, &period).await.unwrap();

        // Notices: straight SQL counts.
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT category, COUNT(*) FROM reports WHERE submitted_at >= {} AND submitted_at < {} GROUP BY category",
            ms(at(2026, 1, 1, 0, 0, 0)),
            ms(at(2026, 7, 1, 0, 0, 0))
        ))
        .fetch_all(store.pool())
        .await
        .unwrap();
        let sql_by_category: BTreeMap<String, i64> = rows.into_iter().collect();
        assert_eq!(got.notices.by_category, sql_by_category, "{name}");
        // And over the fixture list.
        let mut by_category: BTreeMap<String, i64> = BTreeMap::new();
        for (_, _, c, when, _) in &f.reports {
            if in_period(*when) {
                *by_category.entry(c.to_string()).or_default() += 1;
            }
        }
        assert_eq!(got.notices.by_category, by_category, "{name}");
        assert_eq!(got.notices.total, 6, "{name}");
        assert_eq!(got.notices.by_source["public"], 6);
        assert_eq!(got.notices.by_source["trusted_flagger"], 0);
        let flagged: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM reports WHERE signal_priority IS NOT NULL AND submitted_at >= {}",
            ms(at(2026, 1, 1, 0, 0, 0))
        ))
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(got.notices.automated_detection, flagged);

        // Actions: over the fixture list.
        let mut by_type: BTreeMap<String, i64> = BTreeMap::new();
        let mut by_ground: BTreeMap<String, i64> = BTreeMap::new();
        for (_, a, g, when) in f.decisions.iter().filter(|d| in_period(d.3)) {
            let _ = when;
            *by_type.entry(a.to_string()).or_default() += 1;
            *by_ground.entry(g.to_string()).or_default() += 1;
        }
        assert_eq!(got.actions.by_type, by_type, "{name}");
        assert_eq!(got.actions.by_ground, by_ground, "{name}");
        assert_eq!(got.actions.total, 7);
        // Own initiative: no report on the case at or before the decision.
        let own = f
            .decisions
            .iter()
            .filter(|d| in_period(d.3))
            .filter(|d| !f.reports.iter().any(|r| r.0 == d.0 && r.3 <= d.3))
            .count() as i64;
        assert_eq!((got.actions.own_initiative, own), (1, 1), "{name}");
        assert_eq!(got.actions.following_notice, 6);
        // Delays 600, 1800, 7200, 18000 and 4 days + 1 s: the median is 2 h.
        assert_eq!(
            got.actions.median_seconds_notice_to_action,
            Some(7200),
            "{name}"
        );
        assert_eq!(got.actions.automated_decision, 0);

        // Audit actions: over the fixture list.
        let count = |a: &str| {
            f.events
                .iter()
                .filter(|e| e.0 == a && in_period(e.1))
                .count() as i64
        };
        assert_eq!(
            (got.appeals.filed, got.appeals.upheld, got.appeals.reversed),
            (
                count("appeal.filed"),
                count("appeal.upheld"),
                count("appeal.reversed")
            ),
            "{name}"
        );
        assert_eq!((got.appeals.filed, got.appeals.reversed), (2, 1));
        let e = &got.emergency_measures;
        assert_eq!(
            (e.applied, e.confirmed, e.lapsed, e.lifted),
            (
                count("decision.emergency_applied"),
                count("emergency.confirmed"),
                count("emergency.lapsed"),
                count("emergency.lifted")
            ),
            "{name}"
        );
        assert_eq!(e.lifted, 0, "the lift before the period is not counted");
        assert_eq!(got.referrals.total, 2, "{name}");
        assert_eq!(got.referrals.by_basis["victim"], 1);
        assert_eq!(got.referrals.by_basis["unclear"], 1);
        assert_eq!(got.referrals.by_basis["place"], 0);
        assert_eq!(got.referrals.acknowledged, 1);
        assert_eq!(got.authority_orders.received, 3, "{name}");
        // 0, 600 and 3600 s.
        assert_eq!(
            got.authority_orders.median_seconds_to_give_effect,
            Some(600),
            "{name}"
        );

        // The default period is the last full half-year (the clock is in November 2026).
        t.clock.set(at(2026, 11, 25, 8, 0, 0));
        let r = t.desk.router();
        let default = send(&r, get("/transparency.json")).await;
        assert_eq!(default.status, StatusCode::OK);
        let json = send(&r, get("/transparency.json?from=2026-01-01&to=2026-06-30")).await;
        assert_eq!(default.json(), json.json());
        assert_eq!(json.json(), serde_json::to_value(&got).unwrap());
    }
}

/// The JSON flattened to the CSV's rows (section, metric, key, value).
fn flatten(v: &serde_json::Value) -> BTreeSet<[String; 4]> {
    let mut out = BTreeSet::new();
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for (section, metrics) in v.as_object().unwrap() {
        for (metric, value) in metrics.as_object().unwrap() {
            match value {
                serde_json::Value::Object(m) => {
                    for (k, x) in m {
                        out.insert([section.clone(), metric.clone(), k.clone(), scalar(x)]);
                    }
                }
                x => {
                    out.insert([section.clone(), metric.clone(), String::new(), scalar(x)]);
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn csv_and_json_agree_and_the_page_has_no_personal_data() {
    let f = fixture();
    for (name, t) in desks("").await {
        load(&t, &f).await;
        t.clock.set(at(2026, 11, 25, 8, 0, 0));
        let r = t.desk.router();
        let q = "from=2026-01-01&to=2026-06-30";
        let json = send(&r, get(&format!("/transparency.json?{q}"))).await;
        let csv = send(&r, get(&format!("/transparency.csv?{q}"))).await;
        assert_eq!(csv.status, StatusCode::OK);
        assert!(csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let mut lines = csv.body.lines();
        assert_eq!(lines.next(), Some("section,metric,key,value"));
        let rows: BTreeSet<[String; 4]> = lines
            .map(|l| {
                let v: Vec<&str> = l.split(',').collect();
                assert_eq!(v.len(), 4, "{l}");
                [v[0].into(), v[1].into(), v[2].into(), v[3].into()]
            })
            .collect();
        assert_eq!(rows, flatten(&json.json()), "{name}");
        assert!(rows.contains(&[
            "notices".into(),
            "by_category".into(),
            "doxxing".into(),
            "2".into()
        ]));

        for (lang, title, ok) in [
            ("en", "Transparency report", "Notices by category"),
            (
                "fr",
                "Rapport de transparence",
                "Notifications par catégorie",
            ),
        ] {
            let page = send(&r, get(&format!("/transparency?{q}&lang={lang}"))).await;
            assert_eq!(page.status, StatusCode::OK, "{name}");
            let b = &page.body;
            assert!(b.contains(title) && b.contains(ok), "{name} {lang}");
            assert!(b.contains(&format!(r#"<html lang="{lang}">"#)));
            assert!(
                b.contains("<svg") && b.contains("<rect"),
                "server-drawn chart"
            );
            assert!(!b.to_lowercase().contains("<script"), "no JavaScript");
            for secret in [
                NAME,
                "private.example",
                "see the post",
                "a.example",
                "user:ana",
            ] {
                assert!(
                    !b.contains(secret),
                    "{name} {lang}: the page shows '{secret}'"
                );
                assert!(!json.body.contains(secret) && !csv.body.contains(secret));
            }
        }
        // Accept-Language picks French.
        let mut req = get("/transparency");
        req.headers_mut()
            .insert("accept-language", "fr-FR,fr;q=0.9".parse().unwrap());
        assert!(send(&r, req).await.body.contains("Rapport de transparence"));
        // Bad periods: a clear error, no figures.
        for bad in [
            "from=2026-13-01",
            "from=2026-06-30&to=2026-01-01",
            "to=yesterday",
        ] {
            let resp = send(&r, get(&format!("/transparency.json?{bad}"))).await;
            assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            let page = send(&r, get(&format!("/transparency?{bad}"))).await;
            assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
    }
}
