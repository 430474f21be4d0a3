//! Due process (issue 5): statements of reasons (refused without them, e-mailed, exported in
//! the DSA Transparency Database format and validated against its schema), emergency measures
//! (lapse at expiry with the controllable clock, confirmation by a second reviewer or an
//! authority's order), four-eyes, public notices, the customer portal and appeals, notifier
//! feedback; on SQLite and PostgreSQL.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Duration;
use common::*;
use rempart_desk::clock::Clock;
use rempart_desk::store::Role;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const NO_EVIDENCE: &str = "[evidence]\nenabled = false\n";

fn edge_get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {EDGE_TOKEN}"))
        .body(Body::empty())
        .unwrap()
}

fn bearer_less_get(uri: &str, cookie: &str) -> Request<Body> {
    with_cookie(uri, cookie)
}

/// Files a report (notifier Nadia Notifier, `email`) and returns its case and follow link.
async fn file(
    t: &TestDesk,
    url: &str,
    category: &str,
    explanation: &str,
    email: &str,
) -> (String, String) {
    let resp = send(
        &t.desk.router(),
        post_json(
            "/api/v1/reports",
            &report(url, category, explanation, email),
        ),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
    let follow = resp.json()["follow_url"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_default();
    let host = url::Url::parse(url)
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    let queue = t.desk.store().queue(i64::MAX / 2, 100).await.unwrap();
    let case = queue.into_iter().find(|c| c.host == host).expect("case").id;
    (case, follow)
}

/// The statement-of-reasons fields of a complete decision form.
const REASONS: [(&str, &str); 4] = [
    (
        "explanation",
        "The post gives a private person's home address with a call to go there.",
    ),
    ("territorial_scope", "EEA"),
    ("automated_detection", "no"),
    ("automated_decision", "not_automated"),
];

fn decide_form<'a>(
    s: &'a Session,
    fields: &[(&'a str, &'a str)],
    with_reasons: bool,
) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![("csrf", s.csrf.as_str())];
    v.extend_from_slice(fields);
    if with_reasons {
        v.extend_from_slice(&REASONS);
    }
    v
}

async fn decide(
    t: &TestDesk,
    s: &Session,
    case: &str,
    fields: &[(&str, &str)],
    with_reasons: bool,
) -> Resp {
    send(
        &t.desk.router(),
        post_form(
            &format!("/cases/{case}/decisions"),
            Some(&s.cookie),
            &decide_form(s, fields, with_reasons),
        ),
    )
    .await
}

fn restrict_url<'a>(url: &'a str, category: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("action", "restrict_url"),
        ("scope", url),
        ("ground_kind", "legal"),
        (
            "ground",
            "Publishing a private person's address with a call to harm breaches the criminal code.",
        ),
        (
            "facts",
            "Reported by Nadia Notifier; the evidence shows the address.",
        ),
        ("category", category),
    ]
}

async fn policy(t: &TestDesk) -> rempart_policy::Policy {
    let p = send(&t.desk.router(), edge_get("/api/v1/policy?after=0")).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    rempart_policy::Policy::from_json(&p.body).expect("valid policy")
}

async fn actions(t: &TestDesk) -> Vec<String> {
    t.desk
        .store()
        .audit_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

fn count(actions: &[String], name: &str) -> usize {
    actions.iter().filter(|a| *a == name).count()
}

#[tokio::test]
async fn a_restrictive_decision_without_its_statement_of_reasons_is_refused() {
    for (name, t) in desks(NO_EVIDENCE).await {
        let (case, _) = file(
            &t,
            "https://forum.example/t/1",
            "doxxing",
            "My address.",
            "n@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::Analyst).await;
        let fields = restrict_url("https://forum.example/t/1", "doxxing");
        let resp = decide(&t, &alice, &case, &fields, false).await;
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {}",
            resp.body
        );
        assert!(
            resp.body.contains("statement of reasons"),
            "{name}: {}",
            resp.body
        );
        // Each part is required: drop one at a time.
        for skip in [
            "explanation",
            "territorial_scope",
            "automated_detection",
            "automated_decision",
        ] {
            let mut f = decide_form(&alice, &fields, true);
            f.retain(|(k, _)| *k != skip);
            let resp = send(
                &t.desk.router(),
                post_form(&format!("/cases/{case}/decisions"), Some(&alice.cookie), &f),
            )
            .await;
            assert_eq!(
                resp.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{name}: without {skip}"
            );
        }
        // A territorial scope outside the EEA's codes is refused too.
        let mut f = decide_form(&alice, &fields, true);
        f.retain(|(k, _)| *k != "territorial_scope");
        f.push(("territorial_scope", "US"));
        let resp = send(
            &t.desk.router(),
            post_form(&format!("/cases/{case}/decisions"), Some(&alice.cookie), &f),
        )
        .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(
            t.desk
                .store()
                .case_decisions(&case)
                .await
                .unwrap()
                .is_empty(),
            "{name}: nothing recorded"
        );
        assert_eq!(
            t.desk.store().latest_policy().await.unwrap(),
            None,
            "{name}: no policy"
        );
        // The store refuses one too, whatever the caller.
        let d = rempart_desk::store::NewDecision {
            case_id: case.clone(),
            action: "restrict_url".into(),
            ground_kind: "legal".into(),
            ground: "g".into(),
            facts: "f".into(),
            category: "doxxing".into(),
            scope: Some(r#"{"type":"url","url":"https://forum.example/t/1"}"#.into()),
            starts_at: 0,
            ends_at: None,
            deadline: None,
            statement: None,
            emergency: false,
        };
        let ctx = rempart_desk::decision::PolicyContext {
            public_url: "https://desk.example".into(),
            implemented_by: "P".into(),
        };
        let actor = rempart_desk::store::Actor {
            name: "user:x".into(),
            at: 1,
        };
        assert!(matches!(
            t.desk.store().record_decision(&d, &actor, &ctx).await,
            Err(rempart_desk::store::StoreError::Conflict(_))
        ));
        // Complete: recorded, with its statement.
        let resp = decide(&t, &alice, &case, &fields, true).await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        let d = t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .remove(0);
        let s = t
            .desk
            .store()
            .statement(&d.id)
            .await
            .unwrap()
            .expect("statement stored");
        assert_eq!(s.source_type, "SOURCE_ARTICLE_16");
        assert!(!s.automated_detection);
        assert!(s.redress.contains("out-of-court"), "{}", s.redress);
        // A decision not to act needs none.
        let resp = decide(
            &t,
            &alice,
            &case,
            &[
                ("action", "no_action"),
                ("ground_kind", "terms_of_service"),
                ("ground", "Not illegal."),
                ("facts", "Checked."),
                ("category", "doxxing"),
            ],
            false,
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
    }
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/dsa-statement.schema.json"),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&v).expect("the schema compiles")
}

fn assert_valid(schema: &jsonschema::Validator, doc: &serde_json::Value) {
    let errors: Vec<String> = schema
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{doc:#}");
}

#[tokio::test]
async fn every_statement_exports_in_the_dsa_database_format_and_validates() {
    let schema = schema();
    // The schema bites: a statement without a category, or with an unknown ground, fails.
    let bad = serde_json::json!({"decision_visibility": ["DECISION_VISIBILITY_CONTENT_DISABLED"],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT", "content_type": ["CONTENT_TYPE_TEXT"],
        "territorial_scope": ["FR"], "application_date": "2026-11-25", "decision_facts": "x",
        "source_type": "SOURCE_ARTICLE_16", "automated_detection": "No",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED", "puid": "a b"});
    assert!(!schema.is_valid(&bad));
    for (name, t) in desks(NO_EVIDENCE).await {
        let (c1, _) = file(
            &t,
            "https://forum.example/t/1",
            "doxxing",
            "My address.",
            "nadia@example.org",
        )
        .await;
        let (c2, _) = file(
            &t,
            "https://shop.example/item",
            "phishing_malware",
            "Phishing.",
            "p@example.org",
        )
        .await;
        let (c3, _) = file(
            &t,
            "https://bad.example/",
            "harassment",
            "Harassment site.",
            "h@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::SeniorAnalyst).await;
        let bob = login(&t, "bob", Role::SeniorAnalyst).await;
        assert_eq!(
            decide(
                &t,
                &alice,
                &c1,
                &restrict_url("https://forum.example/t/1", "doxxing"),
                true
            )
            .await
            .status,
            StatusCode::SEE_OTHER
        );
        // Terms of service, a path prefix, temporary, own initiative, automated detection.
        let resp = send(
            &t.desk.router(),
            post_form(
                &format!("/cases/{c2}/decisions"),
                Some(&alice.cookie),
                &[
                    ("csrf", &alice.csrf),
                    ("action", "restrict_path_prefix"),
                    ("scope", "https://shop.example/item"),
                    ("ground_kind", "terms_of_service"),
                    ("ground", "Terms, section 4: no phishing."),
                    ("facts", "Flagged by our scanner; a fake bank login page."),
                    ("category", "phishing_malware"),
                    ("duration_hours", "72"),
                    (
                        "explanation",
                        "The page imitates a bank to collect passwords.",
                    ),
                    ("territorial_scope", "FR, BE"),
                    ("automated_detection", "yes"),
                    ("automated_decision", "partially"),
                    ("own_initiative", "1"),
                ],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        // A whole zone, approved by a second senior analyst.
        let resp = decide(
            &t,
            &alice,
            &c3,
            &[
                ("action", "suspend_zone"),
                ("scope", "bad.example"),
                ("ground_kind", "legal"),
                ("ground", "Criminal harassment of a named person."),
                ("facts", "Nadia Notifier wrote at nadia@example.org."),
                ("category", "harassment"),
            ],
            true,
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        let a = t.desk.store().pending_approvals().await.unwrap().remove(0);
        let resp = send(
            &t.desk.router(),
            post_form(
                &format!("/approvals/{}/approve", a.id),
                Some(&bob.cookie),
                &[("csrf", &bob.csrf)],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);

        let all = send(
            &t.desk.router(),
            bearer_less_get("/api/v1/statements", &alice.cookie),
        )
        .await;
        assert_eq!(all.status, StatusCode::OK, "{name}: {}", all.body);
        let all = all.json();
        let statements = all["statements"].as_array().unwrap();
        assert_eq!(statements.len(), 3, "{name}");
        for s in statements {
            assert_valid(&schema, s);
        }
        let by_category = |c: &str| {
            statements
                .iter()
                .find(|s| s["category"] == c)
                .unwrap()
                .clone()
        };
        let doxxing = by_category("STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS");
        assert_eq!(
            doxxing["decision_ground"],
            "DECISION_GROUND_ILLEGAL_CONTENT"
        );
        assert_eq!(
            doxxing["decision_visibility"][0],
            "DECISION_VISIBILITY_CONTENT_DISABLED"
        );
        assert_eq!(doxxing["source_type"], "SOURCE_ARTICLE_16");
        assert_eq!(doxxing["territorial_scope"].as_array().unwrap().len(), 30);
        assert_eq!(doxxing["application_date"], "2026-11-25");
        let phishing = by_category("STATEMENT_CATEGORY_SCAMS_AND_FRAUD");
        assert_eq!(
            phishing["decision_ground"],
            "DECISION_GROUND_INCOMPATIBLE_CONTENT"
        );
        assert_eq!(phishing["source_type"], "SOURCE_VOLUNTARY");
        assert_eq!(phishing["automated_detection"], "Yes");
        assert_eq!(
            phishing["automated_decision"],
            "AUTOMATED_DECISION_PARTIALLY"
        );
        assert_eq!(
            phishing["territorial_scope"],
            serde_json::json!(["FR", "BE"])
        );
        assert_eq!(phishing["end_date_visibility_restriction"], "2026-11-28");
        assert_eq!(
            phishing["category_specification"],
            serde_json::json!(["KEYWORD_PHISHING"])
        );
        let zone = by_category("STATEMENT_CATEGORY_CYBER_VIOLENCE");
        assert_eq!(
            zone["decision_provision"],
            "DECISION_PROVISION_TOTAL_SUSPENSION"
        );
        // The export is public: no notifier's identity.
        let text = all.to_string();
        assert!(
            !text.contains("Nadia") && !text.contains("nadia@"),
            "{name}: {text}"
        );
        // One statement by its decision id (the puid).
        let one = send(
            &t.desk.router(),
            bearer_less_get(
                &format!("/api/v1/statements/{}", zone["puid"].as_str().unwrap()),
                &alice.cookie,
            ),
        )
        .await;
        assert_eq!(one.json(), zone);
    }
}

/// A minimal SMTP server that accepts any mail and keeps its DATA.
async fn smtp() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let mails: Arc<Mutex<Vec<String>>> = Arc::default();
    let m = mails.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let m = m.clone();
            tokio::spawn(async move {
                let (rd, mut wr) = sock.into_split();
                let mut rd = BufReader::new(rd);
                wr.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut line = String::new();
                loop {
                    line.clear();
                    if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.to_ascii_uppercase();
                    if cmd.starts_with("DATA") {
                        wr.write_all(b"354 go on\r\n").await.unwrap();
                        let mut data = String::new();
                        loop {
                            line.clear();
                            rd.read_line(&mut line).await.unwrap();
                            if line == ".\r\n" {
                                break;
                            }
                            data.push_str(&line);
                        }
                        m.lock().unwrap().push(data);
                        wr.write_all(b"250 queued\r\n").await.unwrap();
                    } else if cmd.starts_with("QUIT") {
                        wr.write_all(b"221 bye\r\n").await.unwrap();
                        return;
                    } else {
                        wr.write_all(b"250 ok\r\n").await.unwrap();
                    }
                }
            });
        }
    });
    (addr, mails)
}

#[tokio::test]
async fn the_statement_is_emailed_to_the_zone_owner() {
    for (name, url) in rempart_desk::testkit::database_urls().await {
        let (mail, mails) = smtp().await;
        let t = open(
            &url,
            &format!(
                "{NO_EVIDENCE}[paging]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nemail_from = \"desk@example.org\"\nemail_to = [\"oncall@example.org\"]\n",
                mail.port()
            ),
        )
        .await;
        t.desk
            .create_customer(
                "forum-owner",
                "owner@forum.example",
                &["forum.example".into()],
            )
            .await
            .unwrap();
        t.desk
            .create_customer("other", "other@else.example", &["else.example".into()])
            .await
            .unwrap();
        let (case, _) = file(
            &t,
            "https://www.forum.example/t/1",
            "doxxing",
            "My address.",
            "nadia@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::Analyst).await;
        let resp = decide(
            &t,
            &alice,
            &case,
            &restrict_url("https://www.forum.example/t/1", "doxxing"),
            true,
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        t.desk.run_due_jobs().await;
        let mails = mails.lock().unwrap().clone();
        assert_eq!(mails.len(), 1, "{name}");
        // Quoted-printable: join the soft line breaks.
        let m = &mails[0].replace("=\r\n", "");
        assert!(
            m.contains("owner@forum.example") && !m.contains("other@else.example"),
            "{name}: {m}"
        );
        assert!(m.contains("Statement of reasons"), "{m}");
        assert!(m.contains("Territorial scope: the whole EEA"), "{m}");
        assert!(m.contains("out-of-court"), "{m}");
        assert!(
            !m.contains("Nadia") && !m.contains("nadia@"),
            "{name}: no notifier identity: {m}"
        );
        assert_eq!(count(&actions(&t).await, "statement.sent"), 1, "{name}");
        let d = t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .remove(0);
        assert!(t
            .desk
            .store()
            .statement(&d.id)
            .await
            .unwrap()
            .unwrap()
            .sent_at
            .is_some());
    }
}

fn emergency_fields(url: &str) -> Vec<(&str, &str)> {
    let mut f = restrict_url(url, "threat_to_life");
    f.push(("emergency", "1"));
    f
}

#[tokio::test]
async fn an_unconfirmed_emergency_measure_lapses_at_its_expiry_and_the_policy_drops_it() {
    for (name, t) in desks(NO_EVIDENCE).await {
        let (case, _) = file(
            &t,
            "https://forum.example/live",
            "threat_to_life",
            "He will kill her tonight.",
            "w@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::Analyst).await;
        let applied_at = t.clock.now();
        let resp = decide(
            &t,
            &alice,
            &case,
            &emergency_fields("https://forum.example/live"),
            true,
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        let d = t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .remove(0);
        // In force at once, ending at the configured expiry (24 h by default): an edge cut off
        // from the desk stops enforcing it then by itself.
        let p = policy(&t).await;
        assert_eq!(p.restrictions.len(), 1, "{name}");
        assert_eq!(
            p.restrictions[0].ends_at,
            Some(applied_at + Duration::hours(24))
        );
        assert!(p.restrictions[0].is_active(applied_at + Duration::hours(23)));
        assert!(!p.restrictions[0].is_active(applied_at + Duration::hours(24)));
        let e = t.desk.store().emergency(&d.id).await.unwrap().unwrap();
        assert_eq!(e.outcome, "pending");
        // The case page shows the countdown.
        let page = send(
            &t.desk.router(),
            with_cookie(&format!("/cases/{case}"), &alice.cookie),
        )
        .await;
        assert!(page.body.contains(&format!("countdown-{}", d.id)), "{name}");
        assert!(page.body.contains("24 h 0 min left"), "{name}");
        // The one who applied it cannot confirm it.
        let confirm = |s: &Session| {
            post_form(
                &format!("/decisions/{}/confirm", d.id),
                Some(&s.cookie),
                &[("csrf", &s.csrf)],
            )
        };
        let resp = send(&t.desk.router(), confirm(&alice)).await;
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {}",
            resp.body
        );
        assert!(resp.body.contains("second reviewer"), "{}", resp.body);
        // Not due yet: the lapse job waits.
        t.clock.advance(Duration::hours(23));
        t.desk.run_due_jobs().await;
        assert_eq!(
            t.desk
                .store()
                .emergency(&d.id)
                .await
                .unwrap()
                .unwrap()
                .outcome,
            "pending"
        );
        // At the expiry it lapses: a new policy version without it.
        t.clock.advance(Duration::hours(1));
        t.desk.run_due_jobs().await;
        let e = t.desk.store().emergency(&d.id).await.unwrap().unwrap();
        assert_eq!(e.outcome, "lapsed", "{name}");
        let p = policy(&t).await;
        assert_eq!(p.version, 2, "{name}");
        assert!(p.restrictions.is_empty(), "{name}: no longer restricted");
        // Too late to confirm now.
        let bob = login(&t, "bob", Role::Analyst).await;
        let resp = send(&t.desk.router(), confirm(&bob)).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let a = actions(&t).await;
        assert_eq!(count(&a, "decision.emergency_applied"), 1, "{name}");
        assert_eq!(count(&a, "emergency.lapsed"), 1, "{name}");
        assert_eq!(count(&a, "emergency.confirmed"), 0, "{name}");
    }
}

#[tokio::test]
async fn a_confirmed_emergency_measure_stays() {
    for (name, t) in desks(NO_EVIDENCE).await {
        let (case, _) = file(
            &t,
            "https://forum.example/live",
            "threat_to_life",
            "He will kill her tonight.",
            "w@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::Analyst).await;
        let bob = login(&t, "bob", Role::Analyst).await;
        assert_eq!(
            decide(
                &t,
                &alice,
                &case,
                &emergency_fields("https://forum.example/live"),
                true
            )
            .await
            .status,
            StatusCode::SEE_OTHER
        );
        let d = t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .remove(0);
        t.clock.advance(Duration::hours(2));
        let resp = send(
            &t.desk.router(),
            post_form(
                &format!("/decisions/{}/confirm", d.id),
                Some(&bob.cookie),
                &[("csrf", &bob.csrf)],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        let p = policy(&t).await;
        assert_eq!(p.restrictions.len(), 1);
        assert_eq!(
            p.restrictions[0].ends_at, None,
            "{name}: no end once confirmed"
        );
        // Past the original expiry: still in force.
        t.clock.advance(Duration::hours(30));
        t.desk.run_due_jobs().await;
        let e = t.desk.store().emergency(&d.id).await.unwrap().unwrap();
        assert_eq!(e.outcome, "confirmed", "{name}");
        assert_eq!(e.outcome_by.as_deref(), Some("user:bob"));
        assert_eq!(policy(&t).await.restrictions.len(), 1, "{name}");
        let a = actions(&t).await;
        assert_eq!(count(&a, "emergency.confirmed"), 1);
        assert_eq!(count(&a, "emergency.lapsed"), 0);
    }
}

#[tokio::test]
async fn an_authority_order_confirms_an_emergency_measure_until_its_end() {
    for (name, t) in desks(NO_EVIDENCE).await {
        let (case, _) = file(
            &t,
            "https://forum.example/live",
            "threat_to_life",
            "He will kill her tonight.",
            "w@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::Analyst).await;
        assert_eq!(
            decide(
                &t,
                &alice,
                &case,
                &emergency_fields("https://forum.example/live"),
                true
            )
            .await
            .status,
            StatusCode::SEE_OTHER
        );
        let d = t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .remove(0);
        // The applying analyst may record an order: the authority is the second pair of eyes.
        let order = post_form(
            &format!("/decisions/{}/orders", d.id),
            Some(&alice.cookie),
            &[
                ("csrf", &alice.csrf),
                ("authority", "Parquet de Paris"),
                ("reference", "PNC-2026-1142"),
                ("scope", "https://forum.example/live"),
                ("order_date", "2026-11-25"),
                ("until", "2026-12-31"),
                // Received 40 minutes before it is recorded (the clock reads 08:00).
                ("received", "2026-11-25T07:20"),
            ],
        );
        let resp = send(&t.desk.router(), order).await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        // The transparency report's time to give effect runs from receipt, not recording.
        let tr = send(
            &t.desk.router(),
            get("/transparency.json?from=2026-11-01&to=2026-11-30"),
        )
        .await;
        assert_eq!(tr.status, StatusCode::OK, "{}", tr.body);
        assert_eq!(
            tr.json()["authority_orders"]["median_seconds_to_give_effect"],
            serde_json::json!(2400),
            "{name}: {}",
            tr.body
        );
        let p = policy(&t).await;
        assert_eq!(
            p.restrictions[0].ends_at.unwrap().to_rfc3339(),
            "2027-01-01T00:00:00+00:00",
            "{name}"
        );
        assert_eq!(
            t.desk
                .store()
                .emergency(&d.id)
                .await
                .unwrap()
                .unwrap()
                .outcome,
            "confirmed"
        );
        // Bad input: clear error, no change.
        let bad = post_form(
            &format!("/decisions/{}/orders", d.id),
            Some(&alice.cookie),
            &[
                ("csrf", &alice.csrf),
                ("authority", ""),
                ("reference", "x"),
                ("scope", "x"),
                ("order_date", "25/11/2026"),
                ("received", "2026-11-26T09:00"),
            ],
        );
        let resp = send(&t.desk.router(), bad).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            resp.body.contains("received must not be in the future"),
            "{}",
            resp.body
        );
        assert_eq!(
            t.desk.store().authority_orders(&d.id).await.unwrap().len(),
            1,
            "{name}"
        );
        t.clock.advance(Duration::days(2));
        t.desk.run_due_jobs().await;
        assert_eq!(
            policy(&t).await.restrictions.len(),
            1,
            "{name}: still in force"
        );
        let orders = t.desk.store().authority_orders(&d.id).await.unwrap();
        assert_eq!(orders[0].reference, "PNC-2026-1142");
        let a = actions(&t).await;
        assert_eq!(count(&a, "authority_order.recorded"), 1);
        assert_eq!(count(&a, "emergency.confirmed"), 1);
    }
}

#[tokio::test]
async fn an_emergency_measure_lifted_before_expiry_is_recorded_as_lifted() {
    for (name, t) in desks(NO_EVIDENCE).await {
        let (case, _) = file(
            &t,
            "https://forum.example/live",
            "threat_to_life",
            "He will kill her tonight.",
            "w@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::Analyst).await;
        let senior = login(&t, "sam", Role::SeniorAnalyst).await;
        assert_eq!(
            decide(
                &t,
                &alice,
                &case,
                &emergency_fields("https://forum.example/live"),
                true
            )
            .await
            .status,
            StatusCode::SEE_OTHER
        );
        let d = t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .remove(0);
        let resp = send(
            &t.desk.router(),
            post_form(
                &format!("/decisions/{}/lift", d.id),
                Some(&senior.cookie),
                &[
                    ("csrf", &senior.csrf),
                    ("reason", "The threat was a hoax; police confirmed."),
                ],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}");
        assert_eq!(
            t.desk
                .store()
                .emergency(&d.id)
                .await
                .unwrap()
                .unwrap()
                .outcome,
            "lifted"
        );
        assert!(policy(&t).await.restrictions.is_empty());
        // The lapse job finds it settled.
        t.clock.advance(Duration::hours(25));
        t.desk.run_due_jobs().await;
        let a = actions(&t).await;
        assert_eq!(count(&a, "emergency.lifted"), 1, "{name}");
        assert_eq!(count(&a, "emergency.lapsed"), 0, "{name}");
    }
}

#[tokio::test]
async fn an_emergency_measure_is_narrow_and_for_a_threat_to_life() {
    for (name, t) in desks(NO_EVIDENCE).await {
        let (case, _) = file(
            &t,
            "https://forum.example/live",
            "threat_to_life",
            "He will kill her tonight.",
            "w@example.org",
        )
        .await;
        let sam = login(&t, "sam", Role::SeniorAnalyst).await;
        let mut wide = restrict_url("forum.example", "threat_to_life");
        wide[0] = ("action", "restrict_host");
        wide.push(("emergency", "1"));
        let resp = decide(&t, &sam, &case, &wide, true).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(resp.body.contains("narrowest"), "{}", resp.body);
        let mut f = restrict_url("https://forum.example/live", "doxxing");
        f.push(("emergency", "1"));
        let resp = decide(&t, &sam, &case, &f, true).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn emergency_expiry_is_configurable() {
    for (name, t) in desks(&format!(
        "{NO_EVIDENCE}[due_process]\nemergency_expiry_seconds = 3600\n"
    ))
    .await
    {
        let (case, _) = file(
            &t,
            "https://forum.example/live",
            "threat_to_life",
            "He will kill her tonight.",
            "w@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::Analyst).await;
        let at = t.clock.now();
        assert_eq!(
            decide(
                &t,
                &alice,
                &case,
                &emergency_fields("https://forum.example/live"),
                true
            )
            .await
            .status,
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            policy(&t).await.restrictions[0].ends_at,
            Some(at + Duration::hours(1)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn four_eyes_blocks_a_lone_hostname_restriction() {
    for (name, t) in desks(NO_EVIDENCE).await {
        let (case, _) = file(
            &t,
            "https://forum.example/t/1",
            "doxxing",
            "My address.",
            "n@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::SeniorAnalyst).await;
        let bob = login(&t, "bob", Role::SeniorAnalyst).await;
        let carl = login(&t, "carl", Role::Analyst).await;
        let mut f = restrict_url("forum.example", "doxxing");
        f[0] = ("action", "restrict_host");
        let resp = decide(&t, &alice, &case, &f, true).await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        assert!(
            resp.location().starts_with("/due#approval-"),
            "{}",
            resp.location()
        );
        // Not in force: no decision, no policy.
        assert!(
            t.desk
                .store()
                .case_decisions(&case)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        assert_eq!(
            t.desk.store().latest_policy().await.unwrap(),
            None,
            "{name}"
        );
        let a = t.desk.store().pending_approvals().await.unwrap();
        assert_eq!(a.len(), 1);
        let queue = send(&t.desk.router(), with_cookie("/due", &bob.cookie)).await;
        assert!(
            queue.body.contains(&format!("approval-{}", a[0].id)),
            "{name}: the queue lists it"
        );
        let approve = |s: &Session| {
            post_form(
                &format!("/approvals/{}/approve", a[0].id),
                Some(&s.cookie),
                &[("csrf", &s.csrf)],
            )
        };
        // Not by its author, not by an analyst.
        let resp = send(&t.desk.router(), approve(&alice)).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert_eq!(
            send(&t.desk.router(), approve(&carl)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            t.desk.store().latest_policy().await.unwrap(),
            None,
            "{name}"
        );
        // A second senior analyst approves: in force, decided in the author's name.
        assert_eq!(
            send(&t.desk.router(), approve(&bob)).await.status,
            StatusCode::SEE_OTHER
        );
        let d = t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(d.decided_by, "user:alice");
        let p = policy(&t).await;
        assert_eq!(
            p.restrictions[0].scope,
            rempart_policy::Scope::Host {
                host: "forum.example".into(),
                include_subdomains: false
            }
        );
        assert!(t.desk.store().pending_approvals().await.unwrap().is_empty());
        // A single URL needs no approval; four-eyes is configurable per measure.
        let a = actions(&t).await;
        assert_eq!(count(&a, "approval.granted"), 1);
    }
    for (name, t) in desks(&format!(
        "{NO_EVIDENCE}[due_process]\nfour_eyes = [\"restrict_url\"]\n"
    ))
    .await
    {
        let (case, _) = file(
            &t,
            "https://forum.example/t/1",
            "doxxing",
            "My address.",
            "n@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::Analyst).await;
        let resp = decide(
            &t,
            &alice,
            &case,
            &restrict_url("https://forum.example/t/1", "doxxing"),
            true,
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER);
        assert!(
            t.desk
                .store()
                .case_decisions(&case)
                .await
                .unwrap()
                .is_empty(),
            "{name}: waits"
        );
        assert_eq!(t.desk.store().pending_approvals().await.unwrap().len(), 1);
    }
}

/// Signs a customer in (the portal, not the queue, is their home).
async fn customer_login(t: &TestDesk, username: &str, zones: &[&str]) -> Session {
    let zones: Vec<String> = zones.iter().map(|z| z.to_string()).collect();
    let password = t
        .desk
        .create_customer(username, &format!("{username}@customer.example"), &zones)
        .await
        .unwrap();
    let r = t.desk.router();
    let page = send(&r, get("/login")).await;
    let login_csrf = extract_csrf(&page.body);
    let resp = send(
        &r,
        post_form(
            "/login",
            Some(&format!("rempart_login_csrf={login_csrf}")),
            &[
                ("username", username),
                ("password", &password),
                ("csrf", &login_csrf),
            ],
        ),
    )
    .await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    assert_eq!(resp.location(), "/portal");
    let set = resp
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    let cookie = set.split(';').next().unwrap().to_string();
    let portal = send(&r, with_cookie("/portal", &cookie)).await;
    assert_eq!(portal.status, StatusCode::OK, "{}", portal.body);
    Session {
        csrf: extract_csrf(&portal.body),
        cookie,
    }
}

const VICTIM_TEXT: &str = "Nadia Notifier lives at 14 Elm Street, Springfield, IL 62704; call her on +1 415 555 0134 or nadia@example.org.";

#[tokio::test]
async fn notice_pages_give_the_measure_in_english_and_french_without_personal_data() {
    for (name, t) in desks(NO_EVIDENCE).await {
        let (case, _) = file(
            &t,
            "https://forum.example/live",
            "threat_to_life",
            VICTIM_TEXT,
            "nadia@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::Analyst).await;
        // The analyst's free text quotes the notifier and the victim's details.
        let mut f = emergency_fields("https://forum.example/live");
        f[3] = (
            "ground",
            "Threat to kill Nadia Notifier (nadia@example.org), a criminal offence.",
        );
        let resp = send(
            &t.desk.router(),
            post_form(&format!("/cases/{case}/decisions"), Some(&alice.cookie), &{
                let mut v = decide_form(&alice, &f, false);
                v.extend_from_slice(&[
                    ("explanation", VICTIM_TEXT),
                    ("territorial_scope", "FR"),
                    ("automated_detection", "no"),
                    ("automated_decision", "not_automated"),
                ]);
                v
            }),
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        let d = t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .remove(0);
        let sam = login(&t, "sam", Role::Analyst).await;
        let order = post_form(
            &format!("/decisions/{}/orders", d.id),
            Some(&sam.cookie),
            &[
                ("csrf", &sam.csrf),
                ("authority", "Parquet de Paris"),
                ("reference", "PNC-2026-1142"),
                ("scope", "the thread"),
                ("order_date", "2026-11-25"),
            ],
        );
        assert_eq!(
            send(&t.desk.router(), order).await.status,
            StatusCode::SEE_OTHER
        );
        // The policy's notice URL is this page.
        assert_eq!(
            policy(&t).await.restrictions[0].notice_url,
            format!("https://desk.example/notices/{}", d.id)
        );
        let en = send(&t.desk.router(), get(&format!("/notices/{}?lang=en", d.id))).await;
        assert_eq!(en.status, StatusCode::OK, "{name}");
        for want in [
            "Access to one URL restricted",
            "https://forum.example/live",
            "Legal ground",
            "Imminent threat to a person",
            "Parquet de Paris",
            "PNC-2026-1142",
            "In force",
            "Territorial scope",
            "FR",
            "lang=\"en\"",
        ] {
            assert!(en.body.contains(want), "{name}: {want} in {}", en.body);
        }
        let fr = send(
            &t.desk.router(),
            Request::get(format!("/notices/{}", d.id))
                .header(header::ACCEPT_LANGUAGE, "fr-FR,fr;q=0.9")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        for want in [
            "Avis de restriction",
            "Accès à une URL restreint",
            "Motif légal",
            "Menace imminente",
            "En vigueur",
            "lang=\"fr\"",
            "PNC-2026-1142",
        ] {
            assert!(fr.body.contains(want), "{name}: {want} in {}", fr.body);
        }
        for page in [&en.body, &fr.body] {
            for secret in ["Nadia", "nadia@", "Elm Street", "555 0134", "415"] {
                assert!(!page.contains(secret), "{name}: '{secret}' leaked: {page}");
            }
        }
        // Lifted: the page says so.
        let boss = login(&t, "boss", Role::SeniorAnalyst).await;
        send(
            &t.desk.router(),
            post_form(
                &format!("/decisions/{}/lift", d.id),
                Some(&boss.cookie),
                &[("csrf", &boss.csrf), ("reason", "Threat over.")],
            ),
        )
        .await;
        let en = send(&t.desk.router(), get(&format!("/notices/{}?lang=en", d.id))).await;
        assert!(en.body.contains("Lifted"), "{name}");
        assert_eq!(
            send(&t.desk.router(), get("/notices/d_nope")).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn a_customer_sees_only_its_zones_appeals_and_a_different_person_reverses() {
    for (name, t) in desks(NO_EVIDENCE).await {
        let (case, _) = file(
            &t,
            "https://forum.example/t/1",
            "doxxing",
            "My address.",
            "nadia@example.org",
        )
        .await;
        let (other_case, _) = file(
            &t,
            "https://else.example/t/1",
            "doxxing",
            "My address.",
            "nadia@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::SeniorAnalyst).await;
        let bob = login(&t, "bob", Role::SeniorAnalyst).await;
        assert_eq!(
            decide(
                &t,
                &alice,
                &case,
                &restrict_url("https://forum.example/t/1", "doxxing"),
                true
            )
            .await
            .status,
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            decide(
                &t,
                &alice,
                &other_case,
                &restrict_url("https://else.example/t/1", "doxxing"),
                true
            )
            .await
            .status,
            StatusCode::SEE_OTHER
        );
        let d = t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .remove(0);
        let other = t
            .desk
            .store()
            .case_decisions(&other_case)
            .await
            .unwrap()
            .remove(0);
        let cust = customer_login(&t, "forum-owner", &["forum.example"]).await;
        let r = t.desk.router();
        // Least privilege: no analyst page, no other customer's decision.
        assert_eq!(
            send(&r, with_cookie("/queue", &cust.cookie)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            send(&r, with_cookie(&format!("/cases/{case}"), &cust.cookie))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            send(&r, with_cookie("/api/v1/statements", &cust.cookie))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            send(
                &r,
                with_cookie(&format!("/portal/decisions/{}", other.id), &cust.cookie)
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
        let appeal_other = post_form(
            &format!("/portal/decisions/{}/appeal", other.id),
            Some(&cust.cookie),
            &[("csrf", &cust.csrf), ("grounds", "x")],
        );
        assert_eq!(send(&r, appeal_other).await.status, StatusCode::NOT_FOUND);
        // Analysts are not customers either.
        assert_eq!(
            send(&r, with_cookie("/portal", &alice.cookie)).await.status,
            StatusCode::FORBIDDEN
        );
        let list = send(&r, with_cookie("/portal", &cust.cookie)).await;
        assert!(
            list.body.contains(&d.id) && !list.body.contains(&other.id),
            "{name}"
        );
        // The statement of reasons, without the notifier's identity.
        let page = send(
            &r,
            with_cookie(&format!("/portal/decisions/{}", d.id), &cust.cookie),
        )
        .await;
        assert!(
            page.body.contains("Statement of reasons") && page.body.contains("private person"),
            "{name}: {}",
            page.body
        );
        assert!(
            !page.body.contains("Nadia") && !page.body.contains("nadia@"),
            "{name}"
        );
        // An answer, then an appeal (CSRF required).
        let respond = post_form(
            &format!("/portal/decisions/{}/respond", d.id),
            Some(&cust.cookie),
            &[
                ("csrf", &cust.csrf),
                ("kind", "disagree"),
                ("explanation", "It is our own office address."),
            ],
        );
        assert_eq!(send(&r, respond).await.status, StatusCode::SEE_OTHER);
        let no_csrf = post_form(
            &format!("/portal/decisions/{}/appeal", d.id),
            Some(&cust.cookie),
            &[("grounds", "x")],
        );
        assert_eq!(send(&r, no_csrf).await.status, StatusCode::FORBIDDEN);
        let appeal = post_form(
            &format!("/portal/decisions/{}/appeal", d.id),
            Some(&cust.cookie),
            &[
                ("csrf", &cust.csrf),
                (
                    "grounds",
                    "The address is a business address, published by its owner.",
                ),
            ],
        );
        assert_eq!(send(&r, appeal).await.status, StatusCode::SEE_OTHER);
        let again = post_form(
            &format!("/portal/decisions/{}/appeal", d.id),
            Some(&cust.cookie),
            &[("csrf", &cust.csrf), ("grounds", "Again.")],
        );
        assert_eq!(
            send(&r, again).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: one pending appeal"
        );
        let a = t.desk.store().pending_appeals().await.unwrap().remove(0);
        // The original decider cannot decide it.
        let decide_appeal = |s: &Session, outcome: &'static str| {
            post_form(
                &format!("/appeals/{}/decide", a.id),
                Some(&s.cookie),
                &[
                    ("csrf", &s.csrf),
                    ("outcome", outcome),
                    ("reasons", "The address is the company's registered office."),
                ],
            )
        };
        let resp = send(&r, decide_appeal(&alice, "upheld")).await;
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {}",
            resp.body
        );
        assert!(resp.body.contains("did not take the decision"));
        // Reasons are required.
        let no_reasons = post_form(
            &format!("/appeals/{}/decide", a.id),
            Some(&bob.cookie),
            &[
                ("csrf", &bob.csrf),
                ("outcome", "reversed"),
                ("reasons", " "),
            ],
        );
        assert_eq!(
            send(&r, no_reasons).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(policy(&t).await.restrictions.len(), 2);
        // A different senior analyst reverses: the restriction is lifted in a new policy.
        assert_eq!(
            send(&r, decide_appeal(&bob, "reversed")).await.status,
            StatusCode::SEE_OTHER
        );
        let p = policy(&t).await;
        assert_eq!(p.restrictions.len(), 1, "{name}");
        assert_eq!(p.restrictions[0].id.0, other.id);
        let page = send(
            &r,
            with_cookie(&format!("/portal/decisions/{}", d.id), &cust.cookie),
        )
        .await;
        assert!(page.body.contains("reversed"), "{name}");
        let notice = send(&r, get(&format!("/notices/{}", d.id))).await;
        assert!(notice.body.contains("Lifted after an appeal"), "{name}");
        let acts = actions(&t).await;
        assert_eq!(count(&acts, "appeal.filed"), 1);
        assert_eq!(count(&acts, "appeal.reversed"), 1);
        assert_eq!(count(&acts, "appeal.upheld"), 0);
    }
}

#[tokio::test]
async fn appeals_close_after_six_months_and_an_upheld_one_changes_nothing() {
    for (name, t) in desks(NO_EVIDENCE).await {
        let (case, _) = file(
            &t,
            "https://forum.example/t/1",
            "doxxing",
            "My address.",
            "nadia@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::Analyst).await;
        assert_eq!(
            decide(
                &t,
                &alice,
                &case,
                &restrict_url("https://forum.example/t/1", "doxxing"),
                true
            )
            .await
            .status,
            StatusCode::SEE_OTHER
        );
        let d = t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .remove(0);
        t.clock.advance(Duration::days(100));
        let cust = customer_login(&t, "forum-owner", &["forum.example"]).await;
        let bob = login(&t, "bob", Role::SeniorAnalyst).await;
        let r = t.desk.router();
        let appeal = post_form(
            &format!("/portal/decisions/{}/appeal", d.id),
            Some(&cust.cookie),
            &[("csrf", &cust.csrf), ("grounds", "Not illegal.")],
        );
        assert_eq!(
            send(&r, appeal).await.status,
            StatusCode::SEE_OTHER,
            "{name}"
        );
        let a = t.desk.store().pending_appeals().await.unwrap().remove(0);
        let upheld = post_form(
            &format!("/appeals/{}/decide", a.id),
            Some(&bob.cookie),
            &[
                ("csrf", &bob.csrf),
                ("outcome", "upheld"),
                ("reasons", "The page identifies a private person's home."),
            ],
        );
        assert_eq!(send(&r, upheld).await.status, StatusCode::SEE_OTHER);
        assert_eq!(
            policy(&t).await.restrictions.len(),
            1,
            "{name}: still restricted"
        );
        assert_eq!(count(&actions(&t).await, "appeal.upheld"), 1);
        // After six months: closed.
        t.clock.advance(Duration::days(90));
        let cust = customer_login(&t, "forum-owner-2", &["forum.example"]).await;
        let late = post_form(
            &format!("/portal/decisions/{}/appeal", d.id),
            Some(&cust.cookie),
            &[("csrf", &cust.csrf), ("grounds", "Late.")],
        );
        let resp = send(&r, late).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(resp.body.contains("passed"), "{}", resp.body);
    }
}

#[tokio::test]
async fn the_notifier_reads_the_decision_and_appeals_a_decision_not_to_act() {
    for (name, t) in desks(NO_EVIDENCE).await {
        let (case, follow) = file(
            &t,
            "https://forum.example/t/1",
            "harassment",
            "They harass me.",
            "nadia@example.org",
        )
        .await;
        let token = follow.rsplit('/').next().unwrap().to_string();
        let alice = login(&t, "alice", Role::Analyst).await;
        let bob = login(&t, "bob", Role::SeniorAnalyst).await;
        let resp = decide(
            &t,
            &alice,
            &case,
            &[
                ("action", "no_action"),
                ("ground_kind", "terms_of_service"),
                (
                    "ground",
                    "Criticism of a public figure's statements is allowed.",
                ),
                ("facts", "Read the thread."),
                ("category", "harassment"),
            ],
            false,
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        let r = t.desk.router();
        let followed = send(&r, get(&format!("/r/{token}"))).await;
        assert!(
            followed.body.contains(&format!("/r/{token}/decision")),
            "{name}: the follow page links to the reasons"
        );
        let page = send(&r, get(&format!("/r/{token}/decision?lang=fr"))).await;
        assert_eq!(page.status, StatusCode::OK, "{name}");
        assert!(
            page.body.contains("Aucune mesure")
                && page.body.contains("Criticism of a public figure"),
            "{name}: {}",
            page.body
        );
        assert!(
            page.body.contains("Contester") || page.body.contains("recours"),
            "{}",
            page.body
        );
        let csrf_cookie = page
            .headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let csrf = extract_csrf(&page.body);
        let d = t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .remove(0);
        // Without the CSRF cookie: refused.
        let bad = post_form(
            &format!("/r/{token}/appeals"),
            None,
            &[("csrf", &csrf), ("decision", &d.id), ("grounds", "x")],
        );
        assert_eq!(send(&r, bad).await.status, StatusCode::FORBIDDEN);
        // A wrong token: not found.
        let bad = post_form(
            "/r/not-a-token/appeals",
            Some(&csrf_cookie),
            &[("csrf", &csrf), ("decision", &d.id), ("grounds", "x")],
        );
        assert_eq!(send(&r, bad).await.status, StatusCode::NOT_FOUND);
        let ok = post_form(
            &format!("/r/{token}/appeals"),
            Some(&csrf_cookie),
            &[
                ("csrf", &csrf),
                ("decision", &d.id),
                (
                    "grounds",
                    "It names me and my employer and calls for action.",
                ),
            ],
        );
        assert_eq!(send(&r, ok).await.status, StatusCode::SEE_OTHER, "{name}");
        let a = t.desk.store().pending_appeals().await.unwrap().remove(0);
        assert_eq!(a.party, "notifier");
        // Reversed by someone else: the case is back in the queue for a new decision.
        let rev = post_form(
            &format!("/appeals/{}/decide", a.id),
            Some(&bob.cookie),
            &[
                ("csrf", &bob.csrf),
                ("outcome", "reversed"),
                ("reasons", "The thread targets a private person."),
            ],
        );
        assert_eq!(send(&r, rev).await.status, StatusCode::SEE_OTHER);
        assert!(
            t.desk
                .store()
                .queue(i64::MAX / 2, 10)
                .await
                .unwrap()
                .iter()
                .any(|c| c.id == case),
            "{name}: reopened"
        );
        let page = send(&r, get(&format!("/r/{token}/decision"))).await;
        assert!(
            page.body.contains("the decision was reversed"),
            "{name}: {}",
            page.body
        );
    }
}

/// A `multipart/form-data` answer: text fields, then files (name, declared type, bytes).
fn multipart_answer(
    uri: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &str, &[u8])],
) -> Request<Body> {
    const BOUNDARY: &str = "rempart-test-7d1f0c";
    let mut body = Vec::new();
    for (n, v) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (filename, ct, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"{filename}\"\r\nContent-Type: {ct}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    Request::post(uri)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn a_customer_attaches_files_to_an_answer_and_only_analysts_and_the_owner_fetch_them() {
    for (name, t) in desks(NO_EVIDENCE).await {
        let (case, _) = file(
            &t,
            "https://forum.example/t/1",
            "doxxing",
            "My address.",
            "nadia@example.org",
        )
        .await;
        let alice = login(&t, "alice", Role::SeniorAnalyst).await;
        let resp = decide(
            &t,
            &alice,
            &case,
            &restrict_url("https://forum.example/t/1", "doxxing"),
            true,
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
        let d = t
            .desk
            .store()
            .case_decisions(&case)
            .await
            .unwrap()
            .remove(0);
        let owner = customer_login(&t, "forum-owner", &["forum.example"]).await;
        let stranger = customer_login(&t, "else-owner", &["else.example"]).await;
        let r = t.desk.router();
        let page = send(
            &r,
            with_cookie(&format!("/portal/decisions/{}", d.id), &owner.cookie),
        )
        .await;
        assert!(page.body.contains(r#"enctype="multipart/form-data""#));
        assert!(page.body.contains(r#"type="file""#));
        // The portal in French: by Accept-Language, and by ?lang=.
        let fr = Request::get("/portal")
            .header(header::COOKIE, &owner.cookie)
            .header(header::ACCEPT_LANGUAGE, "fr-FR,fr;q=0.9,en;q=0.5")
            .body(Body::empty())
            .unwrap();
        let fr = send(&r, fr).await;
        assert_eq!(fr.status, StatusCode::OK);
        assert!(fr.body.contains(r#"<html lang="fr""#), "{}", fr.body);
        assert!(fr.body.contains("Avis concernant vos sites"), "{}", fr.body);
        assert!(fr.body.contains("Accès à une URL restreint"), "{}", fr.body);
        let fr = send(
            &r,
            with_cookie(
                &format!("/portal/decisions/{}?lang=fr", d.id),
                &owner.cookie,
            ),
        )
        .await;
        assert!(fr.body.contains("Exposé des motifs"), "{}", fr.body);
        assert!(fr.body.contains("Déposer le recours"), "{}", fr.body);
        assert!(fr.body.contains("Pièces jointes"), "{}", fr.body);
        assert!(!page.body.contains("Exposé des motifs"));
        let uri = format!("/portal/decisions/{}/respond", d.id);
        let pdf: &[u8] = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n";
        let text: &[u8] = b"The post was taken down at 09:12; see the log.\n";
        let fields = [
            ("csrf", owner.csrf.as_str()),
            ("kind", "content_removed"),
            ("explanation", "Removed; proof attached."),
        ];
        let stored = || async {
            (
                t.desk
                    .store()
                    .customer_responses(&d.id)
                    .await
                    .unwrap()
                    .len(),
                t.desk
                    .store()
                    .decision_attachments(&d.id)
                    .await
                    .unwrap()
                    .len(),
            )
        };

        // Refused, nothing stored: no CSRF token in the multipart form.
        let no_csrf = multipart_answer(
            &uri,
            &owner.cookie,
            &fields[1..],
            &[("proof.pdf", "application/pdf", pdf)],
        );
        assert_eq!(send(&r, no_csrf).await.status, StatusCode::FORBIDDEN);
        // HTML disguised as a PNG.
        let html: &[u8] = b"<html><script>alert(document.cookie)</script></html>";
        let resp = send(
            &r,
            multipart_answer(
                &uri,
                &owner.cookie,
                &fields,
                &[("cat.png", "image/png", html)],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(resp.body.contains("cat.png"), "{}", resp.body);
        // The same HTML declared as nothing in particular is refused by its content.
        let resp = send(
            &r,
            multipart_answer(
                &uri,
                &owner.cookie,
                &fields,
                &[("page.txt", "application/octet-stream", html)],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        // Oversize: one byte over the per-file limit.
        let big = vec![b'a'; 5 * 1024 * 1024 + 1];
        let resp = send(
            &r,
            multipart_answer(
                &uri,
                &owner.cookie,
                &fields,
                &[("big.txt", "text/plain", &big)],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE, "{name}");
        assert!(
            resp.body.contains("big.txt is larger than 5 MiB"),
            "{}",
            resp.body
        );
        // Oversize in total: three files under the per-file limit, over 10 MiB together.
        let chunk = vec![b'b'; 4 * 1024 * 1024];
        let resp = send(
            &r,
            multipart_answer(
                &uri,
                &owner.cookie,
                &fields,
                &[
                    ("a.txt", "text/plain", &chunk),
                    ("b.txt", "text/plain", &chunk),
                    ("c.txt", "text/plain", &chunk),
                ],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE, "{name}");
        // Too many files.
        let six: Vec<(&str, &str, &[u8])> = (0..6).map(|_| ("n.txt", "text/plain", text)).collect();
        let resp = send(&r, multipart_answer(&uri, &owner.cookie, &fields, &six)).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert_eq!(stored().await, (0, 0), "{name}: nothing stored");

        // Accepted: a PDF and a text file; the path is stripped from the name.
        let resp = send(
            &r,
            multipart_answer(
                &uri,
                &owner.cookie,
                &fields,
                &[
                    ("C:\\scans\\proof.pdf", "application/pdf", pdf),
                    ("log.txt", "text/plain; charset=utf-8", text),
                ],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        assert_eq!(stored().await, (1, 2), "{name}");
        let atts = t.desk.store().decision_attachments(&d.id).await.unwrap();
        assert_eq!(atts[0].filename, "proof.pdf");
        assert_eq!(atts[0].content_type, "application/pdf");
        assert_eq!(
            atts[0].sha256,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(pdf))
        );
        assert_eq!(atts[1].content_type, "text/plain");

        // The analyst sees them on the case page, as downloads.
        let case_page = send(&r, with_cookie(&format!("/cases/{case}"), &alice.cookie)).await;
        let href = format!("/attachments/{}", atts[0].id);
        assert!(case_page.body.contains(&href), "{name}");
        let before = count(&actions(&t).await, "attachment.downloaded");
        let dl = send(&r, with_cookie(&href, &alice.cookie)).await;
        assert_eq!(dl.status, StatusCode::OK, "{name}");
        assert_eq!(dl.body.as_bytes(), pdf);
        let h = |n: header::HeaderName| {
            dl.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(
            h(header::CONTENT_DISPOSITION),
            "attachment; filename=\"proof.pdf\""
        );
        assert_eq!(h(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        let csp = h(header::CONTENT_SECURITY_POLICY);
        assert!(
            csp.contains("default-src 'none'") && csp.contains("sandbox"),
            "{csp}"
        );
        assert_eq!(h(header::CONTENT_TYPE), "application/pdf");
        // Each access is in the audit log.
        assert_eq!(
            count(&actions(&t).await, "attachment.downloaded"),
            before + 1
        );

        // Another customer: neither the analysts' route nor the owner's.
        assert_eq!(
            send(&r, with_cookie(&href, &stranger.cookie)).await.status,
            StatusCode::FORBIDDEN
        );
        let own_href = format!("/portal/attachments/{}", atts[0].id);
        assert_eq!(
            send(&r, with_cookie(&own_href, &stranger.cookie))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            send(&r, get(&href)).await.status,
            StatusCode::SEE_OTHER,
            "anonymous: to the login"
        );
        // The owner gets it back from the portal.
        let mine = send(&r, with_cookie(&own_href, &owner.cookie)).await;
        assert_eq!(mine.status, StatusCode::OK);
        assert_eq!(mine.body.as_bytes(), pdf);
        assert_eq!(
            count(&actions(&t).await, "attachment.downloaded"),
            before + 2
        );
    }
}
