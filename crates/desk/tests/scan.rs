//! The moderators' scan API (`POST /api/v1/scan`) and re-triage of a case on its fetched
//! evidence, on SQLite and PostgreSQL.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Duration;
use common::*;
use rempart_desk::store::Role;

const DOX_AND_THREAT: &str =
    "She lives at 42 Maple Avenue, Columbus, OH 43215. Somebody go there and break her legs.";

/// Creates an account of `role` with an API token; returns the token.
async fn token_for(t: &TestDesk, username: &str, role: Role) -> String {
    t.desk.create_user(username, role).await.unwrap();
    let user = t
        .desk
        .store()
        .user_by_name(username)
        .await
        .unwrap()
        .expect("user");
    let token = format!("rk_test_{username}_{}", user.id);
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
    let actor = rempart_desk::store::Actor {
        name: "test".into(),
        at: 0,
    };
    t.desk
        .store()
        .create_api_token(&hash, &user, "moderation bot", &actor)
        .await
        .unwrap();
    token
}

fn scan_req(token: Option<&str>, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::post("/api/v1/scan").header(header::CONTENT_TYPE, content_type);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(body.into()).unwrap()
}

fn json_text(text: &str) -> String {
    serde_json::json!({ "text": text }).to_string()
}

#[tokio::test]
async fn scan_refuses_requests_without_a_valid_api_token() {
    for (name, t) in desks("").await {
        let r = t.desk.router();
        let body = json_text(DOX_AND_THREAT);
        let resp = send(&r, scan_req(None, "application/json", body.clone())).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{name}");
        assert!(!resp.body.contains("Maple"), "{name}: {}", resp.body);
        let resp = send(
            &r,
            scan_req(Some("rk_wrong"), "application/json", body.clone()),
        )
        .await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{name}");
        // A browser session is not enough: the scan API takes API tokens only.
        let analyst = login(&t, "alice", Role::Analyst).await;
        let req = Request::post("/api/v1/scan")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, &analyst.cookie)
            .body(Body::from(body))
            .unwrap();
        assert_eq!(
            send(&r, req).await.status,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
    }
}

#[tokio::test]
async fn moderators_get_the_report_and_nothing_else() {
    for (name, t) in desks("").await {
        let r = t.desk.router();
        let token = token_for(&t, "forum-bot", Role::Moderator).await;
        let resp = send(
            &r,
            scan_req(Some(&token), "application/json", json_text(DOX_AND_THREAT)),
        )
        .await;
        assert_eq!(resp.status, StatusCode::OK, "{name}: {}", resp.body);
        let v = resp.json();
        assert_eq!(v["severity"], "doxxing_and_threat", "{name}: {v}");
        assert_eq!(v["doxxing"]["decision"], true);
        assert_eq!(v["threat"]["decision"], true);
        let spans = v["spans"].as_array().unwrap();
        assert_eq!(spans.len(), 1, "{v}");
        assert_eq!(spans[0]["kind"], "address");
        let (s, e) = (
            spans[0]["start"].as_u64().unwrap() as usize,
            spans[0]["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(&DOX_AND_THREAT[s..e], "42 Maple Avenue, Columbus, OH 43215");
        assert!(v["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "combined.doxxing_and_threat"));

        // Plain text bodies work too, and a harmless post is harmless.
        let resp = send(
            &r,
            scan_req(
                Some(&token),
                "text/plain; charset=utf-8",
                "Bonne journée à tous !",
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::OK, "{name}");
        let v = resp.json();
        assert_eq!(v["severity"], "none", "{v}");
        assert_eq!(v["spans"].as_array().unwrap().len(), 0);

        // Code-point offsets for clients that do not count in UTF-8 bytes.
        let fr = "Égorgez-le, il habite au 12 rue des Lilas, 69003 Lyon.";
        let v = send(&r, scan_req(Some(&token), "text/plain", fr))
            .await
            .json();
        let span = &v["spans"][0];
        let cs = span["char_start"].as_u64().unwrap() as usize;
        let ce = span["char_end"].as_u64().unwrap() as usize;
        let chars: String = fr.chars().skip(cs).take(ce - cs).collect();
        assert_eq!(chars, "12 rue des Lilas, 69003 Lyon", "{v}");

        // Bad bodies: a clear error.
        let resp = send(
            &r,
            scan_req(Some(&token), "application/json", "{\"txt\": 1}"),
        )
        .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let resp = send(&r, scan_req(Some(&token), "text/plain", vec![0xffu8, 0xfe])).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let resp = send(
            &r,
            scan_req(Some(&token), "text/plain", "a".repeat(40 * 1024)),
        )
        .await;
        assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE, "{name}");

        // Least privilege: a moderator's token opens nothing of the desk's cases.
        let queue = Request::get("/api/v1/queue")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            send(&r, queue).await.status,
            StatusCode::FORBIDDEN,
            "{name}"
        );
    }
}

#[tokio::test]
async fn each_token_is_rate_limited_per_minute() {
    for (name, t) in desks("").await {
        let r = t.desk.router();
        let a = token_for(&t, "bot-a", Role::Moderator).await;
        let b = token_for(&t, "bot-b", Role::Moderator).await;
        // Start of a minute of the desk's clock, so the whole loop is in one window.
        t.clock
            .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 25, 9, 0, 0).unwrap());
        let mut accepted = 0;
        let limited = loop {
            let resp = send(&r, scan_req(Some(&a), "text/plain", "hello")).await;
            if resp.status != StatusCode::OK {
                break resp;
            }
            accepted += 1;
            assert!(accepted <= 1000, "{name}: never limited");
        };
        assert_eq!(accepted, 60, "{name}");
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{name}");
        assert_eq!(
            limited
                .headers
                .get("retry-after")
                .unwrap()
                .to_str()
                .unwrap(),
            "60"
        );
        // Another token is not affected; the next minute the first one may scan again.
        let resp = send(&r, scan_req(Some(&b), "text/plain", "hello")).await;
        assert_eq!(resp.status, StatusCode::OK, "{name}");
        t.clock.advance(Duration::seconds(60));
        let resp = send(&r, scan_req(Some(&a), "text/plain", "hello")).await;
        assert_eq!(resp.status, StatusCode::OK, "{name}");
    }
}

async fn origin() -> SocketAddr {
    let app = axum::Router::new()
        .route(
            "/t/9",
            axum::routing::get(|| async {
                axum::response::Html(
                    "<html><body><h1>Thread 9</h1><p>She lives at 42 Maple Avenue, Columbus, \
                     OH 43215.</p><p>Somebody go there and break her legs.</p></body></html>",
                )
            }),
        )
        .route(
            "/t/10",
            axum::routing::get(|| async { "<p>Lovely weather in Lyon today.</p>" }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn fetched_evidence_raises_the_case_priority_and_is_highlighted() {
    let addr = origin().await;
    let extra = format!("[evidence]\nvia = \"{addr}\"\n");
    for (name, url) in rempart_desk::testkit::database_urls().await {
        let config = config(&url, &extra);
        let clock = Arc::new(rempart_desk::clock::ManualClock::new(
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 25, 8, 0, 0).unwrap(),
        ));
        let signals = Arc::new(rempart_desk::ContentSignals::new().unwrap());
        let desk = rempart_desk::Desk::open_with(config.clone(), clock.clone(), signals)
            .await
            .unwrap();
        let t = TestDesk {
            desk: desk.clone(),
            clock,
            config,
        };
        let r = desk.router();
        // Filed as harassment with a bland explanation: P2 at intake.
        for (host, path) in [("forum-a.example", "/t/9"), ("forum-b.example", "/t/10")] {
            let body = serde_json::json!({
                "urls": [format!("http://{host}{path}")], "category": "harassment",
                "explanation": "Please look at this thread.", "notifier_name": "N",
                "notifier_email": "n@example.org", "good_faith": true,
            });
            assert_eq!(
                send(&r, post_json("/api/v1/reports", &body)).await.status,
                StatusCode::CREATED,
                "{name}"
            );
        }
        let before = desk.store().queue(i64::MAX / 2, 10).await.unwrap();
        assert!(before.iter().all(|c| c.priority == 2), "{name}");
        assert_eq!(desk.store().pending_jobs("page").await.unwrap(), 0);
        desk.run_due_jobs().await;
        let after = desk.store().queue(i64::MAX / 2, 10).await.unwrap();
        let a = after.iter().find(|c| c.host == "forum-a.example").unwrap();
        let b = after.iter().find(|c| c.host == "forum-b.example").unwrap();
        assert_eq!(a.priority, 0, "{name}: address + call to violence is P0");
        assert_eq!(b.priority, 2, "{name}: a harmless page changes nothing");
        assert_eq!(
            after[0].host, "forum-a.example",
            "{name}: on top of the queue"
        );
        let audit = desk
            .store()
            .audit_for_subject(&format!("case:{}", a.id))
            .await
            .unwrap();
        assert!(
            audit.iter().any(|e| e.action == "case.priority_raised"),
            "{name}"
        );
        // The evidence view marks the address, escaped like the rest of the body.
        let evidence = desk.store().case_evidence(&a.id).await.unwrap();
        let analyst = login(&t, "alice", Role::Analyst).await;
        let page = send(
            &r,
            with_cookie(&format!("/evidence/{}", evidence[0].id), &analyst.cookie),
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{name}");
        assert!(
            page.body.contains(
                r#"<mark class="pii pii-address" title="address">42 Maple Avenue, Columbus, OH 43215</mark>"#
            ),
            "{name}: {}",
            page.body
        );
        assert!(
            page.body.contains("&lt;h1&gt;Thread 9&lt;/h1&gt;"),
            "{name}"
        );
    }
}
