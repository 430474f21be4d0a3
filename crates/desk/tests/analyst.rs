//! Analysts: access control (every denial), queue, case page, decisions reaching the edge's
//! policy channel, lifting, on SQLite and PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Duration;
use common::*;
use rempart_desk::store::Role;

fn edge_get(uri: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::get(uri);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Body::empty()).unwrap()
}

async fn file(t: &TestDesk, url: &str, category: &str, email: &str) {
    let resp = send(
        &t.desk.router(),
        post_json(
            "/api/v1/reports",
            &report(
                url,
                category,
                "<img src=x onerror=alert(1)> see this",
                email,
            ),
        ),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
}

async fn only_case(t: &TestDesk, host: &str) -> String {
    let queue = t.desk.store().queue(i64::MAX / 2, 100).await.unwrap();
    queue.into_iter().find(|c| c.host == host).expect("case").id
}

#[tokio::test]
async fn every_denial() {
    for (name, t) in desks("").await {
        let r = t.desk.router();
        file(
            &t,
            "https://forum.example/t/1",
            "doxxing",
            "secret-notifier@example.org",
        )
        .await;
        let case = only_case(&t, "forum.example").await;
        // Not signed in.
        let resp = send(&r, get("/queue")).await;
        assert_eq!(
            (resp.status, resp.location()),
            (StatusCode::SEE_OTHER, "/login"),
            "{name}"
        );
        assert_eq!(
            send(&r, get(&format!("/cases/{case}"))).await.status,
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            send(&r, get("/api/v1/queue")).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            send(&r, edge_get("/api/v1/queue", Some("rk_wrong")))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            send(&r, with_cookie("/queue", "rempart_session=forged"))
                .await
                .status,
            StatusCode::SEE_OTHER
        );
        // Login needs the CSRF double-submit and the right password.
        let pw = t.desk.create_user("carol", Role::Analyst).await.unwrap();
        let no_csrf = send(
            &r,
            post_form(
                "/login",
                None,
                &[("username", "carol"), ("password", &pw), ("csrf", "x")],
            ),
        )
        .await;
        assert_eq!(no_csrf.status, StatusCode::FORBIDDEN, "{name}");
        let wrong = send(
            &r,
            post_form(
                "/login",
                Some("rempart_login_csrf=abc"),
                &[("username", "carol"), ("password", "nope"), ("csrf", "abc")],
            ),
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{name}");
        let nobody = send(
            &r,
            post_form(
                "/login",
                Some("rempart_login_csrf=abc"),
                &[
                    ("username", "nobody"),
                    ("password", "nope"),
                    ("csrf", "abc"),
                ],
            ),
        )
        .await;
        assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);

        let analyst = login(&t, "alice", Role::Analyst).await;
        // Analysts do not see notifiers' identities.
        let page = send(&r, with_cookie(&format!("/cases/{case}"), &analyst.cookie)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("secret-notifier@example.org"), "{name}");
        assert!(!page.body.contains("Nadia Notifier"), "{name}");
        assert!(
            page.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{name}: escaped"
        );
        let api = send(
            &r,
            with_cookie(&format!("/api/v1/cases/{case}"), &analyst.cookie),
        )
        .await;
        assert!(
            api.json()["reports"][0].get("notifier_email").is_none(),
            "{name}"
        );
        // Admin pages.
        assert_eq!(
            send(&r, with_cookie("/admin", &analyst.cookie))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let mk = post_form(
            "/admin/users",
            Some(&analyst.cookie),
            &[
                ("csrf", &analyst.csrf),
                ("username", "eve"),
                ("role", "admin"),
            ],
        );
        assert_eq!(send(&r, mk).await.status, StatusCode::FORBIDDEN, "{name}");
        let tok = post_form(
            "/admin/tokens",
            Some(&analyst.cookie),
            &[
                ("csrf", &analyst.csrf),
                ("username", "alice"),
                ("label", "x"),
            ],
        );
        assert_eq!(send(&r, tok).await.status, StatusCode::FORBIDDEN);
        // Wider scopes need a senior analyst.
        let decide = |action: &str, scope: &str, csrf: &str| {
            post_form(
                &format!("/cases/{case}/decisions"),
                Some(&analyst.cookie),
                &[
                    ("csrf", csrf),
                    ("action", action),
                    ("scope", scope),
                    ("ground_kind", "legal"),
                    ("ground", "Doxxing."),
                    ("facts", "Facts."),
                    ("category", "doxxing"),
                    ("explanation", "It identifies a private person."),
                    ("territorial_scope", "EEA"),
                    ("automated_detection", "no"),
                    ("automated_decision", "not_automated"),
                ],
            )
        };
        for action in ["restrict_host", "suspend_zone", "restrict_path_prefix"] {
            let resp = send(&r, decide(action, "https://forum.example/t", &analyst.csrf)).await;
            assert_eq!(resp.status, StatusCode::FORBIDDEN, "{name}: {action}");
        }
        // CSRF on every form.
        assert_eq!(
            send(
                &r,
                decide("restrict_url", "https://forum.example/t/1", "wrong")
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            send(&r, decide("restrict_url", "https://forum.example/t/1", ""))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let logout = post_form("/logout", Some(&analyst.cookie), &[("csrf", "wrong")]);
        assert_eq!(send(&r, logout).await.status, StatusCode::FORBIDDEN);
        // An analyst may restrict one URL; lifting needs a senior analyst.
        assert_eq!(
            send(
                &r,
                decide("restrict_url", "https://forum.example/t/1", &analyst.csrf)
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
        let lift = post_form(
            &format!("/decisions/{}/lift", d.id),
            Some(&analyst.cookie),
            &[("csrf", &analyst.csrf), ("reason", "x")],
        );
        assert_eq!(send(&r, lift).await.status, StatusCode::FORBIDDEN, "{name}");
        // Edges: no token, wrong token.
        assert_eq!(
            send(&r, edge_get("/api/v1/policy?after=0", None))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            send(&r, edge_get("/api/v1/policy?after=0", Some("wrong")))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        // An analyst's session is not an edge token, and an edge token is not an analyst.
        assert_eq!(
            send(&r, edge_get("/api/v1/queue", Some(EDGE_TOKEN)))
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
        // Logout ends the session.
        let out = post_form("/logout", Some(&analyst.cookie), &[("csrf", &analyst.csrf)]);
        assert_eq!(send(&r, out).await.status, StatusCode::SEE_OTHER);
        assert_eq!(
            send(&r, with_cookie("/queue", &analyst.cookie))
                .await
                .status,
            StatusCode::SEE_OTHER,
            "{name}"
        );
    }
}

#[tokio::test]
async fn senior_sees_identities_and_admin_manages_accounts_and_tokens() {
    for (name, t) in desks("").await {
        let r = t.desk.router();
        file(
            &t,
            "https://forum.example/t/1",
            "doxxing",
            "secret-notifier@example.org",
        )
        .await;
        let case = only_case(&t, "forum.example").await;
        let senior = login(&t, "sam", Role::SeniorAnalyst).await;
        let page = send(&r, with_cookie(&format!("/cases/{case}"), &senior.cookie)).await;
        assert!(page.body.contains("secret-notifier@example.org"), "{name}");
        let admin = login(&t, "root", Role::Admin).await;
        let mk = send(
            &r,
            post_form(
                "/admin/users",
                Some(&admin.cookie),
                &[
                    ("csrf", &admin.csrf),
                    ("username", "dave"),
                    ("role", "analyst"),
                ],
            ),
        )
        .await;
        assert_eq!(mk.status, StatusCode::OK, "{name}: {}", mk.body);
        assert!(mk.body.contains(r#"id="password""#));
        let tok = send(
            &r,
            post_form(
                "/admin/tokens",
                Some(&admin.cookie),
                &[("csrf", &admin.csrf), ("username", "dave"), ("label", "ci")],
            ),
        )
        .await;
        let i = tok.body.find("rk_").expect("token shown");
        let token: String = tok.body[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        let q = send(&r, edge_get("/api/v1/queue", Some(&token))).await;
        assert_eq!(q.status, StatusCode::OK, "{name}");
        assert_eq!(q.json()[0]["host"], "forum.example");
    }
}

#[tokio::test]
async fn queue_puts_threat_to_life_first_and_shows_time_left_and_campaigns() {
    for (name, t) in desks("[triage]\ncampaign_threshold = 3\n").await {
        let r = t.desk.router();
        for i in 0..4 {
            file(
                &t,
                &format!("https://spam.example/{i}"),
                "harassment",
                &format!("u{i}@example.org"),
            )
            .await;
        }
        t.clock.advance(Duration::minutes(1));
        file(&t, "https://forum.example/t/1", "doxxing", "a@example.org").await;
        t.clock.advance(Duration::minutes(1));
        file(
            &t,
            "https://threat.example/post",
            "threat_to_life",
            "b@example.org",
        )
        .await;
        let analyst = login(&t, "alice", Role::Analyst).await;
        let q = send(&r, with_cookie("/queue", &analyst.cookie)).await;
        let threat = q.body.find("threat.example").unwrap();
        let forum = q.body.find("forum.example").unwrap();
        let spam = q.body.find("spam.example").unwrap();
        assert!(threat < forum && forum < spam, "{name}: {}", q.body);
        assert!(q.body.contains("15 min left"), "{name}: P0 target shown");
        assert!(q.body.contains("campaign"), "{name}");
        let api = send(&r, with_cookie("/api/v1/queue", &analyst.cookie))
            .await
            .json();
        assert_eq!(api[0]["priority"], "P0");
        assert_eq!(
            api[2]["priority"], "P2",
            "{name}: the campaign did not raise priority"
        );
        assert_eq!(api[2]["campaign"], true);
        assert_eq!(api[2]["notifiers"], 4);
        t.clock.advance(Duration::minutes(20));
        let q = send(&r, with_cookie("/queue", &analyst.cookie)).await;
        assert!(q.body.contains("overdue by 5 min"), "{name}: {}", q.body);
    }
}

#[tokio::test]
async fn decision_reaches_the_edge_channel_and_lifting_removes_it() {
    for (name, t) in desks("").await {
        let r = t.desk.router();
        // No policy yet: the long poll (0 s in tests) answers 204.
        assert_eq!(
            send(&r, edge_get("/api/v1/policy?after=0", Some(EDGE_TOKEN)))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        file(&t, "https://forum.example/t/1", "doxxing", "n@example.org").await;
        let case = only_case(&t, "forum.example").await;
        let analyst = login(&t, "alice", Role::Analyst).await;
        let resp = send(
            &r,
            post_form(
                &format!("/cases/{case}/decisions"),
                Some(&analyst.cookie),
                &[
                    ("csrf", &analyst.csrf),
                    ("action", "restrict_url"),
                    ("scope", "https://forum.example/t/1"),
                    ("ground_kind", "legal"),
                    ("ground", "Publishes a private person's home address."),
                    ("facts", "Reported by the person concerned; verified."),
                    ("category", "doxxing"),
                    ("explanation", "It identifies a private person."),
                    ("territorial_scope", "EEA"),
                    ("automated_detection", "no"),
                    ("automated_decision", "not_automated"),
                ],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        let p = send(&r, edge_get("/api/v1/policy?after=0", Some(EDGE_TOKEN))).await;
        assert_eq!(p.status, StatusCode::OK, "{name}");
        let policy = rempart_policy::Policy::from_json(&p.body).expect("valid policy");
        assert_eq!(policy.version, 1);
        let rest = &policy.restrictions[0];
        assert_eq!(rest.status(), 451);
        assert_eq!(
            rest.scope,
            rempart_policy::Scope::Url {
                url: "https://forum.example/t/1".into()
            }
        );
        assert_eq!(
            rest.notice_url,
            format!("https://desk.example/notices/{}", rest.id)
        );
        assert_eq!(
            send(&r, edge_get("/api/v1/policy?after=1", Some(EDGE_TOKEN)))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        // The public notice, without the notifier.
        let notice = send(&r, get(&format!("/notices/{}", rest.id))).await;
        assert_eq!(notice.status, StatusCode::OK);
        assert!(notice.body.contains("In force") && notice.body.contains("Example Provider"));
        assert!(
            !notice.body.contains("n@example.org") && !notice.body.contains("Nadia"),
            "{name}"
        );
        // A senior analyst lifts it: version 2 without the restriction.
        let senior = login(&t, "sam", Role::SeniorAnalyst).await;
        let lift = send(
            &r,
            post_form(
                &format!("/decisions/{}/lift", rest.id),
                Some(&senior.cookie),
                &[
                    ("csrf", &senior.csrf),
                    ("reason", "Content removed by the customer."),
                ],
            ),
        )
        .await;
        assert_eq!(lift.status, StatusCode::SEE_OTHER, "{name}: {}", lift.body);
        let p2 = send(&r, edge_get("/api/v1/policy?after=1", Some(EDGE_TOKEN))).await;
        let policy2 = rempart_policy::Policy::from_json(&p2.body).unwrap();
        assert_eq!(policy2.version, 2);
        assert!(policy2.restrictions.is_empty(), "{name}");
        assert!(send(&r, get(&format!("/notices/{}", rest.id)))
            .await
            .body
            .contains("Lifted"));
        // Everything is in the audit log, which verifies.
        let report = rempart_desk::audit_verify(&t.config).await.unwrap();
        assert!(report.is_ok(), "{name}: {report}");
        let actions: Vec<String> = t
            .desk
            .store()
            .audit_entries()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        for a in [
            "case.opened",
            "report.submitted",
            "decision.made",
            "policy.issued",
            "decision.lifted",
            "user.login",
        ] {
            assert!(
                actions.iter().any(|x| x == a),
                "{name}: {a} missing from {actions:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_waiting_edge_is_woken_by_a_decision() {
    for (name, url) in rempart_desk::testkit::database_urls().await {
        let mut t = open(&url, "").await;
        t.config.long_poll = std::time::Duration::from_secs(600);
        let t = TestDesk {
            desk: rempart_desk::Desk::open_with(
                t.config.clone(),
                t.clock.clone(),
                std::sync::Arc::new(rempart_desk::triage::NoSignals),
            )
            .await
            .unwrap(),
            ..t
        };
        let r = t.desk.router();
        file(&t, "https://forum.example/t/1", "doxxing", "n@example.org").await;
        let case = only_case(&t, "forum.example").await;
        let analyst = login(&t, "alice", Role::Analyst).await;
        let waiting = tokio::spawn({
            let r = r.clone();
            async move { send(&r, edge_get("/api/v1/policy?after=0", Some(EDGE_TOKEN))).await }
        });
        let resp = send(
            &r,
            post_form(
                &format!("/cases/{case}/decisions"),
                Some(&analyst.cookie),
                &[
                    ("csrf", &analyst.csrf),
                    ("action", "restrict_url"),
                    ("scope", "https://forum.example/t/1"),
                    ("ground_kind", "terms_of_service"),
                    ("ground", "Harassment."),
                    ("facts", "Facts."),
                    ("category", "doxxing"),
                    ("explanation", "It identifies a private person."),
                    ("territorial_scope", "EEA"),
                    ("automated_detection", "no"),
                    ("automated_decision", "not_automated"),
                ],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER);
        let woken = waiting.await.unwrap();
        assert_eq!(woken.status, StatusCode::OK, "{name}");
        assert_eq!(
            rempart_policy::Policy::from_json(&woken.body)
                .unwrap()
                .restrictions[0]
                .status(),
            403
        );
    }
}

#[tokio::test]
async fn asking_the_customer_brings_the_case_back_when_the_deadline_passes() {
    for (name, t) in desks("[evidence]\nenabled = false\n").await {
        let r = t.desk.router();
        file(
            &t,
            "https://forum.example/t/1",
            "harassment",
            "n@example.org",
        )
        .await;
        let case = only_case(&t, "forum.example").await;
        let analyst = login(&t, "alice", Role::Analyst).await;
        let resp = send(
            &r,
            post_form(
                &format!("/cases/{case}/decisions"),
                Some(&analyst.cookie),
                &[
                    ("csrf", &analyst.csrf),
                    ("action", "ask_customer"),
                    ("scope", ""),
                    ("ground_kind", "terms_of_service"),
                    ("ground", "Harassment of a private person."),
                    ("facts", "Facts."),
                    ("category", "harassment"),
                    ("deadline_hours", "24"),
                ],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        assert!(
            t.desk.store().queue(0, 10).await.unwrap().is_empty(),
            "{name}: decided, off the queue"
        );
        assert_eq!(
            t.desk.run_due_jobs().await,
            0,
            "{name}: not before the deadline"
        );
        t.clock.advance(Duration::hours(24));
        assert_eq!(t.desk.run_due_jobs().await, 1, "{name}");
        let queue = t.desk.store().queue(0, 10).await.unwrap();
        assert_eq!(queue.len(), 1, "{name}: back for review");
        assert!(queue[0].first_reviewed_at.is_none());
    }
}

struct Urgent;

#[async_trait::async_trait]
impl rempart_desk::triage::SignalsHook for Urgent {
    async fn severity(
        &self,
        r: &rempart_desk::triage::ReportForSignals<'_>,
    ) -> Option<rempart_desk::triage::Priority> {
        r.explanation
            .contains("tonight")
            .then_some(rempart_desk::triage::Priority::P0)
    }
}

#[tokio::test]
async fn the_signals_hook_can_raise_priority() {
    for (name, url) in rempart_desk::testkit::database_urls().await {
        let t = open(&url, "").await;
        let desk = rempart_desk::Desk::open_with(
            t.config.clone(),
            t.clock.clone(),
            std::sync::Arc::new(Urgent),
        )
        .await
        .unwrap();
        let r = desk.router();
        let b = report(
            "https://a.example/1",
            "harassment",
            "He will come tonight.",
            "a@b.org",
        );
        assert_eq!(
            send(&r, post_json("/api/v1/reports", &b)).await.status,
            StatusCode::CREATED
        );
        let b = report(
            "https://b.example/1",
            "harassment",
            "Rude words.",
            "a@b.org",
        );
        assert_eq!(
            send(&r, post_json("/api/v1/reports", &b)).await.status,
            StatusCode::CREATED
        );
        let q = desk.store().queue(0, 10).await.unwrap();
        assert_eq!(
            (q[0].host.as_str(), q[0].priority),
            ("a.example", 0),
            "{name}"
        );
        assert_eq!(q[1].priority, 2, "{name}");
        assert_eq!(
            desk.store().pending_jobs("page").await.unwrap(),
            2,
            "{name}: a P0 pages"
        );
    }
}
