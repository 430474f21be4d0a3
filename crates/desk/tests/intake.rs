//! Report intake through the JSON API and the form, on SQLite and PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::Duration;
use common::*;

#[tokio::test]
async fn api_accepts_a_valid_report_and_replays_are_idempotent() {
    for (name, t) in desks("").await {
        let r = t.desk.router();
        let body = report(
            "https://forum.example/t/1",
            "doxxing",
            "My home address is posted.",
            "n@example.org",
        );
        let first = send(&r, post_json("/api/v1/reports", &body)).await;
        assert_eq!(first.status, StatusCode::CREATED, "{name}: {}", first.body);
        let j = first.json();
        let receipt = j["receipt"].as_str().unwrap().to_string();
        let follow = j["follow_url"].as_str().unwrap().to_string();
        assert!(receipt.starts_with("R-"));
        assert!(follow.starts_with("https://desk.example/r/"));
        // The same content again: same receipt and the same follow link, nothing new stored.
        let again = send(&r, post_json("/api/v1/reports", &body)).await;
        assert_eq!(again.status, StatusCode::OK, "{name}");
        assert_eq!(again.json()["receipt"], receipt.as_str());
        assert_eq!(again.json()["follow_url"], follow.as_str());
        assert_eq!(again.json()["duplicate"], true);
        // An Idempotency-Key reused for other content is a conflict.
        let keyed = |b: &serde_json::Value| {
            Request::post("/api/v1/reports")
                .header(header::CONTENT_TYPE, "application/json")
                .header("idempotency-key", "k-1")
                .body(Body::from(b.to_string()))
                .unwrap()
        };
        let b2 = report(
            "https://forum.example/t/2",
            "doxxing",
            "Other text.",
            "n@example.org",
        );
        assert_eq!(send(&r, keyed(&b2)).await.status, StatusCode::CREATED);
        assert_eq!(send(&r, keyed(&b2)).await.status, StatusCode::OK);
        let b3 = report(
            "https://forum.example/t/3",
            "doxxing",
            "Third.",
            "n@example.org",
        );
        assert_eq!(
            send(&r, keyed(&b3)).await.status,
            StatusCode::CONFLICT,
            "{name}"
        );
        // The follow link works and shows no one else's data.
        let path = follow.trim_start_matches("https://desk.example");
        let page = send(&r, get(path)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains(&receipt));
        assert!(page.body.contains("awaiting review"), "{}", page.body);
        assert_eq!(
            send(&r, get("/r/not-a-token")).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn follow_links_need_the_receipts_mac_and_links_of_the_first_form_still_work() {
    use sha2::{Digest, Sha256};
    for (name, t) in desks("").await {
        let r = t.desk.router();
        let mut links = Vec::new();
        for n in 1..=2 {
            let body = report(
                &format!("https://follow.example/p/{n}"),
                "harassment",
                &format!("Insults number {}.", ["one", "two"][n - 1]),
                "n@example.org",
            );
            let resp = send(&r, post_json("/api/v1/reports", &body)).await;
            assert_eq!(resp.status, StatusCode::CREATED, "{name}: {}", resp.body);
            let j = resp.json();
            let path = j["follow_url"]
                .as_str()
                .unwrap()
                .trim_start_matches("https://desk.example")
                .to_string();
            links.push((j["receipt"].as_str().unwrap().to_string(), path));
        }
        let (receipt, path) = &links[0];
        let (receipt2, path2) = &links[1];
        let (_, mac) = path.split_once('.').expect("<receipt>.<mac>");
        let (_, mac2) = path2.split_once('.').expect("<receipt>.<mac>");
        assert!(
            path.starts_with(&format!("/r/{receipt}.")),
            "{name}: {path}"
        );
        assert_eq!(send(&r, get(path)).await.status, StatusCode::OK, "{name}");
        // Another receipt with this MAC, this receipt with another MAC, a truncated MAC.
        for forged in [
            format!("/r/{receipt2}.{mac}"),
            format!("/r/{receipt}.{mac2}"),
            format!("/r/{receipt}.{}", &mac[..mac.len() - 1]),
            format!("/r/{receipt}."),
            format!("/r/{receipt}.{mac}/decision").replace(mac, mac2),
        ] {
            let status = send(&r, get(&forged)).await.status;
            assert_eq!(status, StatusCode::NOT_FOUND, "{name}: {forged}");
        }
        // A link of the first form (the bare MAC, found by its stored hash) still opens.
        let legacy_hash = hex::encode(Sha256::digest(mac.as_bytes()));
        sqlx::query("UPDATE reports SET follow_hash = $1 WHERE receipt = $2")
            .bind(&legacy_hash)
            .bind(receipt)
            .execute(t.desk.store().pool())
            .await
            .unwrap();
        let page = send(&r, get(&format!("/r/{mac}"))).await;
        assert_eq!(page.status, StatusCode::OK, "{name}");
        assert!(page.body.contains(receipt.as_str()), "{name}");
        assert_eq!(
            send(&r, get(&format!("/r/{mac2}"))).await.status,
            StatusCode::NOT_FOUND,
            "{name}"
        );
    }
}

#[tokio::test]
async fn invalid_reports_list_every_problem() {
    for (name, t) in desks("").await {
        let r = t.desk.router();
        let bad = serde_json::json!({
            "urls": ["javascript:alert(1)"], "category": "nonsense", "explanation": " ",
            "good_faith": false,
        });
        let resp = send(&r, post_json("/api/v1/reports", &bad)).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let problems = resp.json()["problems"].as_array().unwrap().len();
        assert!(problems >= 4, "{name}: {}", resp.body);
        // Unknown fields are refused.
        let mut extra = report("https://a.example/", "other", "x", "a@b.org");
        extra["admin"] = serde_json::json!(true);
        assert_eq!(
            send(&r, post_json("/api/v1/reports", &extra)).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        // Name and e-mail are required except for child sexual abuse material.
        let mut anon = report("https://a.example/x", "harassment", "x", "");
        anon["notifier_name"] = serde_json::Value::Null;
        assert_eq!(
            send(&r, post_json("/api/v1/reports", &anon)).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        anon["category"] = "child_sexual_abuse_material".into();
        assert_eq!(
            send(&r, post_json("/api/v1/reports", &anon)).await.status,
            StatusCode::CREATED,
            "{name}"
        );
        // Too many URLs.
        let urls: Vec<String> = (0..21).map(|i| format!("https://a.example/{i}")).collect();
        let mut many = report("https://a.example/", "other", "x", "a@b.org");
        many["urls"] = serde_json::json!(urls);
        assert_eq!(
            send(&r, post_json("/api/v1/reports", &many)).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    for (name, t) in desks("").await {
        let r = t.desk.router();
        let big = report(
            "https://a.example/",
            "other",
            &"x".repeat(70 * 1024),
            "a@b.org",
        );
        let resp = send(&r, post_json("/api/v1/reports", &big)).await;
        assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE, "{name}");
    }
}

#[tokio::test]
async fn intake_is_rate_limited_per_address() {
    for (name, t) in desks("[intake]\nper_ip_per_minute = 2\n").await {
        let r = t.desk.router();
        for i in 0..2 {
            let b = report(&format!("https://a.example/{i}"), "other", "x", "a@b.org");
            assert_eq!(
                send(&r, post_json("/api/v1/reports", &b)).await.status,
                StatusCode::CREATED
            );
        }
        let b = report("https://a.example/9", "other", "x", "a@b.org");
        let limited = send(&r, post_json("/api/v1/reports", &b)).await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{name}");
        assert!(limited.headers.contains_key(header::RETRY_AFTER));
        t.clock.advance(Duration::minutes(1));
        assert_eq!(
            send(&r, post_json("/api/v1/reports", &b)).await.status,
            StatusCode::CREATED,
            "{name}"
        );
    }
}

#[tokio::test]
async fn form_works_without_javascript_in_english_and_french() {
    for (name, t) in desks("").await {
        let r = t.desk.router();
        let en = send(&r, get("/report")).await;
        assert_eq!(en.status, StatusCode::OK);
        assert!(en.body.contains("Report content") && en.body.contains(r#"<label for="urls">"#));
        assert!(!en.body.contains("<script"), "no script needed");
        let fr_req = Request::get("/report")
            .header(header::ACCEPT_LANGUAGE, "fr-FR,fr;q=0.9")
            .body(Body::empty())
            .unwrap();
        let fr = send(&r, fr_req).await;
        assert!(
            fr.body.contains("Signaler un contenu") && fr.body.contains(r#"lang="fr""#),
            "{name}"
        );
        // Errors are shown in the form's language, with the input kept (escaped).
        let resp = send(
            &r,
            post_form(
                "/report",
                None,
                &[
                    ("lang", "fr"),
                    ("urls", "<b>nope</b>"),
                    ("category", "doxxing"),
                    ("explanation", ""),
                ],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            resp.body.contains("Confirmez la déclaration de bonne foi"),
            "{}",
            resp.body
        );
        assert!(
            resp.body.contains("&lt;b&gt;nope&lt;/b&gt;") && !resp.body.contains("<b>nope"),
            "{name}: escaped"
        );
        // A valid submission gives a receipt and a follow link.
        let ok = send(
            &r,
            post_form(
                "/report",
                None,
                &[
                    ("lang", "en"),
                    (
                        "urls",
                        "https://forum.example/t/1\r\nhttps://forum.example/t/2",
                    ),
                    ("category", "doxxing"),
                    ("explanation", "<script>alert('x')</script> my address"),
                    ("notifier_name", "Nadia"),
                    ("notifier_email", "n@example.org"),
                    ("good_faith", "yes"),
                ],
            ),
        )
        .await;
        assert_eq!(ok.status, StatusCode::CREATED, "{name}: {}", ok.body);
        assert!(ok.body.contains("Your receipt number is R-") && ok.body.contains("/r/"));
        assert!(ok
            .headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
    }
}
