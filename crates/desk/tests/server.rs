//! The desk on a real socket, as `rempart desk` and `rempart up` run it: the background worker
//! pages the on-call for a P0 report without anyone calling it, and a waiting edge receives a
//! decision.

use axum::http::{HeaderMap, StatusCode};
use rempart_desk::{Desk, DeskConfig};
use tokio::sync::mpsc;

#[tokio::test]
async fn running_desk_pages_and_serves_policy() {
    let (tx, mut rx) = mpsc::unbounded_channel::<(HeaderMap, String)>();
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = hook.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((h, body));
                StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(hook, app).await.unwrap() });

    let key_dir = rempart_desk::testkit::temp_dir("server-keys");
    let edge_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"edge-token"));
    let path = key_dir.join("desk.toml");
    std::fs::write(
        &path,
        format!(
            r#"listen = "127.0.0.1:0"
public_url = "http://127.0.0.1"
provider_name = "Example Provider"
database = "{}"
key_dir = "{}"
[[edge_tokens]]
name = "e"
sha256 = "{edge_hash}"
[evidence]
enabled = false
[paging]
webhook_url = "http://{hook_addr}/hook"
webhook_secret = "0123456789abcdef0123"
"#,
            rempart_desk::testkit::sqlite_url(),
            key_dir.display()
        ),
    )
    .unwrap();
    let config = DeskConfig::load(&path).unwrap();
    let desk = Desk::open(config.clone()).await.unwrap();
    let password = desk.create_admin("admin").await.unwrap();
    assert!(password.len() >= 20);
    let running = desk.start().await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();

    // A waiting edge.
    let waiting = tokio::spawn({
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.get(format!("{base}/api/v1/policy?after=0"))
                .bearer_auth("edge-token")
                .send()
                .await
                .unwrap()
        }
    });

    let resp = http
        .post(format!("{base}/api/v1/reports"))
        .json(&serde_json::json!({
            "urls": ["https://threat.example/live"], "category": "threat_to_life",
            "explanation": "A live threat.", "notifier_name": "W", "notifier_email": "w@example.org",
            "good_faith": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    // The worker pages without being called.
    let (_, body) = tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv())
        .await
        .expect("paged")
        .unwrap();
    assert!(body.contains("p0_report"));

    // The admin signs in and restricts the URL through the form.
    let login_page = http.get(format!("{base}/login")).send().await.unwrap();
    let csrf_cookie = login_page
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| {
            v.to_str()
                .ok()?
                .split(';')
                .next()?
                .strip_prefix("rempart_login_csrf=")
                .map(String::from)
        })
        .unwrap();
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = no_redirect
        .post(format!("{base}/login"))
        .header("cookie", format!("rempart_login_csrf={csrf_cookie}"))
        .form(&[
            ("username", "admin"),
            ("password", password.as_str()),
            ("csrf", csrf_cookie.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let session = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| v.to_str().ok()?.split(';').next().map(String::from))
        .unwrap();
    let queue = no_redirect
        .get(format!("{base}/api/v1/queue"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let queue: serde_json::Value = queue.json().await.unwrap();
    let case = queue[0]["id"].as_str().unwrap().to_string();
    let page = no_redirect
        .get(format!("{base}/cases/{case}"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let text = page.text().await.unwrap();
    let i = text.find(r#"name="csrf" value=""#).unwrap() + r#"name="csrf" value=""#.len();
    let csrf: String = text[i..].split('"').next().unwrap().to_string();
    let decided = no_redirect
        .post(format!("{base}/cases/{case}/decisions"))
        .header("cookie", &session)
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "restrict_url"),
            ("scope", "https://threat.example/live"),
            ("ground_kind", "legal"),
            ("ground", "Threat to a person's life."),
            ("facts", "Live threat."),
            ("category", "threat_to_life"),
            ("explanation", "A threat to kill a named person."),
            ("territorial_scope", "EEA"),
            ("automated_detection", "no"),
            ("automated_decision", "not_automated"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), 303);
    let policy = waiting.await.unwrap();
    assert_eq!(policy.status(), 200);
    let policy = rempart_policy::Policy::from_json(&policy.text().await.unwrap()).unwrap();
    assert_eq!(policy.version, 1);
    running.shutdown().await;
    let report = rempart_desk::audit_verify(&config).await.unwrap();
    assert!(report.is_ok(), "{report}");
}

#[tokio::test]
async fn demo_config_runs_as_rempart_up_would() {
    let dir = rempart_desk::testkit::temp_dir("demo");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = DeskConfig::demo(
        &dir,
        addr,
        &format!("http://{addr}"),
        rempart_desk::edge_token_sha256("demo-token"),
        None,
    );
    let desk = Desk::open(config.clone()).await.unwrap();
    let password = desk.create_admin("admin").await.unwrap();
    assert!(!password.is_empty());
    let running = desk.start_on(listener).await.unwrap();
    let resp = reqwest::Client::new()
        .get(format!("http://{}/api/v1/policy?after=0", running.addr))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let page = reqwest::get(format!("http://{}/report", running.addr))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    running.shutdown().await;
    assert!(rempart_desk::audit_verify(&config).await.unwrap().is_ok());
    // A second admin with the same name is refused.
    let again = rempart_desk::create_admin(&config, "admin").await;
    assert!(again.is_err());
}
