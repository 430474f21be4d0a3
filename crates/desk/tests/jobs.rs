//! Evidence preservation and P0 paging, run as database jobs against local servers, on SQLite
//! and PostgreSQL.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Duration;
use common::*;
use rempart_desk::store::Role;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn serve(app: axum::Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

/// An origin whose post can be deleted.
async fn origin(deleted: Arc<Mutex<bool>>) -> SocketAddr {
    serve(
        axum::Router::new()
            .route(
                "/t/1",
                axum::routing::get(move || {
                    let deleted = deleted.clone();
                    async move {
                        if *deleted.lock().unwrap() {
                            (StatusCode::NOT_FOUND, "gone".to_string())
                        } else {
                            (
                                StatusCode::OK,
                                "<h1>Post</h1><script>alert('pwned')</script> 12 Rue Example"
                                    .to_string(),
                            )
                        }
                    }
                }),
            )
            .route("/big", axum::routing::get(|| async { "x".repeat(5000) })),
    )
    .await
}

#[tokio::test]
async fn evidence_is_preserved_immutable_rendered_as_text_and_views_are_audited() {
    let deleted = Arc::new(Mutex::new(false));
    let addr = origin(deleted.clone()).await;
    for (name, t) in desks(&format!("[evidence]\nvia = \"{addr}\"\nmax_bytes = 1000\n")).await {
        let r = t.desk.router();
        let body = serde_json::json!({
            "urls": ["http://forum.example/t/1", "https://forum.example/big"], "category": "doxxing",
            "explanation": "My address.", "notifier_name": "N", "notifier_email": "n@example.org", "good_faith": true,
        });
        assert_eq!(
            send(&r, post_json("/api/v1/reports", &body)).await.status,
            StatusCode::CREATED
        );
        assert_eq!(t.desk.run_due_jobs().await, 2, "{name}");
        // The post is deleted minutes later; the snapshot remains.
        *deleted.lock().unwrap() = true;
        let case = t.desk.store().queue(i64::MAX / 2, 10).await.unwrap()[0]
            .id
            .clone();
        let evidence = t.desk.store().case_evidence(&case).await.unwrap();
        assert_eq!(evidence.len(), 2, "{name}");
        let post = evidence.iter().find(|e| e.url.ends_with("/t/1")).unwrap();
        let big = evidence.iter().find(|e| e.url.ends_with("/big")).unwrap();
        assert_eq!(post.status, Some(200));
        assert!(big.truncated, "{name}: bounded size");
        let analyst = login(&t, "alice", Role::Analyst).await;
        let page = send(
            &r,
            with_cookie(&format!("/evidence/{}", post.id), &analyst.cookie),
        )
        .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body
                .contains("&lt;script&gt;alert('pwned')&lt;/script&gt;"),
            "{name}: shown as text"
        );
        assert!(!page.body.contains("<script>"), "{name}: never executed");
        let sha = post.body_sha256.clone().unwrap();
        assert_eq!(
            sha,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                b"<h1>Post</h1><script>alert('pwned')</script> 12 Rue Example"
            ))
        );
        let viewed = t
            .desk
            .store()
            .audit_for_subject(&format!("case:{case}"))
            .await
            .unwrap();
        assert!(
            viewed
                .iter()
                .any(|e| e.action == "evidence.viewed" && e.actor == "user:alice"),
            "{name}"
        );
        assert_eq!(
            send(&r, common::get(&format!("/evidence/{}", post.id)))
                .await
                .status,
            StatusCode::SEE_OTHER,
            "{name}: signed in only"
        );
        *deleted.lock().unwrap() = false;
    }
}

#[tokio::test]
async fn internal_addresses_are_not_fetched_without_via() {
    for (name, t) in desks("").await {
        let r = t.desk.router();
        let b = report(
            "http://127.0.0.1:9/admin",
            "phishing_malware",
            "x",
            "a@b.org",
        );
        assert_eq!(
            send(&r, post_json("/api/v1/reports", &b)).await.status,
            StatusCode::CREATED
        );
        t.desk.run_due_jobs().await;
        let errs = t.desk.store().job_errors("fetch_evidence").await.unwrap();
        assert!(
            errs[0].1.as_deref().unwrap_or("").contains("non-public"),
            "{name}: {errs:?}"
        );
    }
}

type Captured = Arc<Mutex<Vec<(HeaderMap, String)>>>;

async fn webhook(fail_first: usize) -> (SocketAddr, Captured) {
    let got: Captured = Arc::default();
    let fails = Arc::new(Mutex::new(fail_first));
    let g = got.clone();
    let addr = serve(axum::Router::new().route(
        "/hook",
        post(move |h: HeaderMap, body: String| {
            let g = g.clone();
            let fails = fails.clone();
            async move {
                let mut f = fails.lock().unwrap();
                if *f > 0 {
                    *f -= 1;
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                g.lock().unwrap().push((h, body));
                StatusCode::NO_CONTENT
            }
        }),
    ))
    .await;
    (addr, got)
}

/// A minimal SMTP server that accepts any mail and keeps its DATA.
async fn smtp() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let mails: Arc<Mutex<Vec<String>>> = Arc::default();
    let m = mails.clone();
    tokio::spawn(async move {
        loop {
            let (sock, _) = l.accept().await.unwrap();
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
                    } else if cmd.starts_with("EHLO") {
                        wr.write_all(b"250 test\r\n").await.unwrap();
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
async fn p0_report_pages_by_signed_webhook_and_email_with_retries() {
    let secret = "0123456789abcdef-secret";
    for (name, url) in rempart_desk::testkit::database_urls().await {
        let (hook, got) = webhook(1).await;
        let (mail, mails) = smtp().await;
        let t = open(&url, &format!(
            "[evidence]\nenabled = false\n[paging]\nwebhook_url = \"http://{hook}/hook\"\nwebhook_secret = \"{secret}\"\n\
             smtp_host = \"127.0.0.1\"\nsmtp_port = {}\nemail_from = \"desk@example.org\"\nemail_to = [\"oncall@example.org\"]\n",
            mail.port()
        )).await;
        let r = t.desk.router();
        // A P2 report pages no one.
        let b = report("https://a.example/x", "harassment", "x", "a@b.org");
        assert_eq!(
            send(&r, post_json("/api/v1/reports", &b)).await.status,
            StatusCode::CREATED
        );
        assert_eq!(t.desk.run_due_jobs().await, 0, "{name}");
        let b = report(
            "https://threat.example/p",
            "threat_to_life",
            "He says he will kill her tonight.",
            "w@b.org",
        );
        assert_eq!(
            send(&r, post_json("/api/v1/reports", &b)).await.status,
            StatusCode::CREATED
        );
        // First webhook attempt fails (500); the e-mail goes out.
        assert_eq!(t.desk.run_due_jobs().await, 2, "{name}");
        assert!(got.lock().unwrap().is_empty());
        assert_eq!(mails.lock().unwrap().len(), 1, "{name}");
        assert!(mails.lock().unwrap()[0].contains("[Rempart P0]"));
        // Retried after the backoff.
        assert_eq!(t.desk.run_due_jobs().await, 0, "{name}: not yet due");
        t.clock.advance(Duration::seconds(1));
        assert_eq!(t.desk.run_due_jobs().await, 1, "{name}");
        let (headers, body) = got.lock().unwrap()[0].clone();
        let sig = headers
            .get("x-rempart-signature")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let ts: i64 = sig
            .trim_start_matches("t=")
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            sig,
            rempart_desk::webhook_signature(secret.as_bytes(), ts, body.as_bytes()),
            "{name}"
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["event"], "p0_report");
        assert!(
            !body.contains("w@b.org"),
            "{name}: no personal data in pages"
        );
        let actions: Vec<String> = t
            .desk
            .store()
            .audit_entries()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions.iter().filter(|a| *a == "page.delivered").count(),
            2,
            "{name}"
        );
    }
}
