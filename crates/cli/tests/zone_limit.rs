//! A zone-wide rate limit (`key = "zone"`) against the real binary: one budget for every
//! address, refusing (or challenging) whoever comes once it is spent, while a client holding a
//! clearance keeps passing; and the pre-rendered 429 page keeps the connection open.

mod common;

use std::io::{Read, Write};
use std::net::IpAddr;

use common::*;
use serde_json::Value;

const KEY: &str = "test-zone-limit-key-0123456789-abcdefghijklmnop";

fn no_redirects(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::from(from))
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_wide_limit_counts_every_address_against_one_budget() {
    let dir = TempDir::new("zone-limit");
    let o = Origin::plain("o").await;
    // Two requests per hour for the whole zone (1 + burst 1), whoever sends them.
    let cfg = zone(
        "z",
        &["z.test"],
        &[&o],
        "[[zone.rate_limit]]\nname = \"whole-zone\"\nkey = \"zone\"\nrequests = 1\nperiod_s = 3600\nburst = 1\n",
    );
    let edge = Edge::start(&dir, &cfg).await;
    let get = |ip: [u8; 4]| {
        client_from(ip)
            .get(edge.url("/"))
            .header("host", "z.test")
            .send()
    };
    assert_eq!(get([127, 0, 0, 11]).await.unwrap().status(), 200);
    assert_eq!(get([127, 0, 0, 12]).await.unwrap().status(), 200);
    // A third address, never seen: the zone's budget is spent, so it is refused.
    let r = get([127, 0, 0, 13]).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(o.count(), 2, "refused requests never reach the origin");
    let m = edge.metrics().await;
    assert!(
        m.contains("rempart_edge_edge_answers_total{reason=\"rate_limited\"} 1"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_zone_wide_limit_cleared_clients_pass_and_others_are_challenged() {
    let dir = TempDir::new("zone-limit-challenge");
    dir.write("challenge.key", &format!("{KEY}\n"));
    let o = Origin::plain("o").await;
    let cfg = "[challenge]\nsecret_file = \"challenge.key\"\ndifficulty = 8\n\n".to_string()
        + &zone(
            "z",
            &["z.test"],
            &[&o],
            "[[zone.rate_limit]]\nname = \"whole-zone\"\nkey = \"zone\"\nrequests = 1\nperiod_s = 3600\naction = \"challenge\"\n",
        );
    let edge = Edge::start(&dir, &cfg).await;
    let json_get = |c: &reqwest::Client, cookie: Option<&str>| {
        let mut b = c
            .get(edge.url("/page"))
            .header("host", "z.test")
            .header("accept", "application/json");
        if let Some(cookie) = cookie {
            b = b.header("cookie", cookie);
        }
        b.send()
    };
    let a = no_redirects([127, 0, 1, 1]);
    let b = no_redirects([127, 0, 2, 1]);
    assert_eq!(json_get(&a, None).await.unwrap().status(), 200);
    // The budget is spent: another address is challenged, with the parameters in JSON.
    let r = json_get(&b, None).await.unwrap();
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    let token = v["challenge"]["token"].as_str().expect("token").to_string();
    let difficulty = v["challenge"]["difficulty"].as_u64().expect("difficulty") as u32;
    let r = b
        .post(edge.url("/.rempart/challenge"))
        .header("host", "z.test")
        .header("accept", "application/json")
        .form(&[
            ("token", token.as_str()),
            ("solution", &solve(&token, difficulty)),
            ("return", "/page"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let cookie = set.split(';').next().unwrap().to_string();
    // Cleared: passes although the zone is still over its budget; the first client, without
    // a clearance, is now challenged like everyone else.
    for _ in 0..3 {
        assert_eq!(json_get(&b, Some(&cookie)).await.unwrap().status(), 200);
    }
    assert_eq!(json_get(&a, None).await.unwrap().status(), 429);
    assert_eq!(o.count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_429_page_is_the_same_for_every_refusal_and_keeps_the_connection() {
    let dir = TempDir::new("zone-limit-page");
    let o = Origin::plain("o").await;
    let cfg = zone(
        "z",
        &["z.test"],
        &[&o],
        "[[zone.rate_limit]]\nname = \"pages\"\nrequests = 1\nperiod_s = 3600\n",
    );
    let edge = Edge::start(&dir, &cfg).await;
    // Three requests on one connection: 200, then two 429s, in French for the last.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", edge.http)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut answers = Vec::new();
    for lang in ["en", "en", "fr"] {
        write!(
            s,
            "GET / HTTP/1.1\r\nHost: z.test\r\nAccept-Language: {lang}\r\n\r\n"
        )
        .unwrap();
        answers.push(read_response(&mut s));
    }
    assert!(answers[0].0.starts_with("HTTP/1.1 200"), "{}", answers[0].0);
    for (head, body) in &answers[1..] {
        assert!(head.starts_with("HTTP/1.1 429"), "{head}");
        let h = head.to_ascii_lowercase();
        assert!(h.contains("retry-after: "), "{head}");
        assert!(h.contains("x-request-id: "), "{head}");
        assert!(h.contains("cache-control: no-store"), "{head}");
        assert!(!h.contains("connection: close"), "{head}");
        assert!(body.contains("<!DOCTYPE html>"), "{body}");
    }
    assert!(answers[1].1.contains("Too many requests"));
    assert!(answers[2].1.contains("Trop de requêtes"));
    assert!(answers[2]
        .0
        .to_ascii_lowercase()
        .contains("content-language: fr"));
}

/// One HTTP/1.1 response with a Content-Length body: (head, body).
fn read_response(s: &mut std::net::TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).unwrap();
        assert_eq!(
            n,
            1,
            "connection closed in a head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}
