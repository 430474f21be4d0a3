//! Shared helpers for route tests: a desk on a fresh database with a manual clock, requests
//! through the router with `oneshot`, and signed-in analysts.
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use rempart_desk::clock::ManualClock;
use rempart_desk::store::Role;
use rempart_desk::triage::NoSignals;
use rempart_desk::{Desk, DeskConfig};
use tower::ServiceExt;

pub const EDGE_TOKEN: &str = "edge-secret-token";

pub struct TestDesk {
    pub desk: Desk,
    pub clock: Arc<ManualClock>,
    pub config: DeskConfig,
}

pub fn config(database: &str, extra: &str) -> DeskConfig {
    let key_dir = rempart_desk::testkit::temp_dir("keys");
    let edge_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        EDGE_TOKEN.as_bytes(),
    ));
    let text = format!(
        r#"
listen = "127.0.0.1:0"
public_url = "https://desk.example"
provider_name = "Example Provider"
database = "{database}"
key_dir = "{}"
long_poll_seconds = 0
{extra}
[[edge_tokens]]
name = "edge-1"
sha256 = "{edge_hash}"
"#,
        key_dir.display()
    );
    DeskConfig::from_toml(&text, std::path::Path::new("test.toml")).expect("test config")
}

pub async fn desks(extra: &str) -> Vec<(&'static str, TestDesk)> {
    let mut out = Vec::new();
    for (name, url) in rempart_desk::testkit::database_urls().await {
        out.push((name, open(&url, extra).await));
    }
    out
}

pub async fn open(url: &str, extra: &str) -> TestDesk {
    let config = config(url, extra);
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap(),
    ));
    let desk = Desk::open_with(config.clone(), clock.clone(), Arc::new(NoSignals))
        .await
        .expect("open desk");
    TestDesk {
        desk,
        clock,
        config,
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

pub async fn send(router: &Router, req: Request<Body>) -> Resp {
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

pub fn post_json(uri: &str, v: &serde_json::Value) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

pub fn form_body(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

pub fn post_form(uri: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Request<Body> {
    let mut b =
        Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(form_body(fields))).unwrap()
}

pub fn with_cookie(uri: &str, cookie: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

pub fn report(url: &str, category: &str, explanation: &str, email: &str) -> serde_json::Value {
    serde_json::json!({
        "urls": [url], "category": category, "explanation": explanation,
        "notifier_name": "Nadia Notifier", "notifier_email": email, "good_faith": true,
    })
}

/// A signed-in user: the session cookie and the CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()?
                .strip_prefix(&format!("{name}="))
                .map(str::to_string)
        })
}

pub fn extract_csrf(body: &str) -> String {
    let i =
        body.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
    body[i..].split('"').next().unwrap().to_string()
}

pub async fn login(t: &TestDesk, username: &str, role: Role) -> Session {
    let password = t
        .desk
        .create_user(username, role)
        .await
        .expect("create user");
    let router = t.desk.router();
    let page = send(&router, get("/login")).await;
    let login_csrf = cookie_value(&page.headers, "rempart_login_csrf").expect("login csrf cookie");
    let resp = send(
        &router,
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
    let set = resp
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Secure"),
        "{set}"
    );
    let cookie = format!(
        "rempart_session={}",
        cookie_value(&resp.headers, "rempart_session").unwrap()
    );
    let queue = send(&router, with_cookie("/queue", &cookie)).await;
    assert_eq!(queue.status, StatusCode::OK);
    Session {
        csrf: extract_csrf(&queue.body),
        cookie,
    }
}
