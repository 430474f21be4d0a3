//! End-to-end tests of the edge: the real `rempart` binary, real origins, real clients.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_host_and_writes_forwarding_headers() {
    let dir = TempDir::new("routing");
    let a = Origin::plain("a").await;
    let b = Origin::plain("b").await;
    let cfg = format!(
        "{}\n{}",
        zone("a", &["a.test"], &[&a], ""),
        zone("b", &["b.test", "*.b.test"], &[&b], "")
    );
    let edge = Edge::start(&dir, &cfg).await;

    let r = reqwest::Client::new()
        .get(edge.url("/x"))
        .header("host", "a.test")
        .header("x-forwarded-for", "6.6.6.6")
        .header("forwarded", "for=6.6.6.6")
        .header("connection", "x-drop-me")
        .header("x-drop-me", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-request-id").is_some());
    assert_eq!(r.headers()["via"], "1.1 rempart");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["origin"], "a");
    let h = &v["headers"];
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "client value replaced");
    assert_eq!(h["forwarded"], "for=127.0.0.1;proto=http;host=a.test");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "a.test");
    assert_eq!(h["via"], "1.1 rempart");
    assert!(
        h.get("x-drop-me").is_none(),
        "header named in Connection is hop-by-hop"
    );
    assert!(h["x-request-id"].as_str().is_some_and(|s| s.len() == 32));

    let v: Value = edge.get("sub.b.test", "/").await.json().await.unwrap();
    assert_eq!(v["origin"], "b", "wildcard host");
    let v: Value = edge.get("B.TEST:80", "/").await.json().await.unwrap();
    assert_eq!(v["origin"], "b", "case and port ignored");

    let before = a.count() + b.count();
    let r = edge.get("unknown.test", "/").await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("unknown.test"));
    assert_eq!(
        a.count() + b.count(),
        before,
        "no origin contacted for an unknown host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_picks_certificate_by_sni_and_speaks_h2() {
    let dir = TempDir::new("sni");
    let pki = Pki::new();
    let (ac, ak) = pki.leaf(&dir, "a", &["a.test"]);
    let (bc, bk) = pki.leaf(&dir, "b", &["b.test"]);
    let a = Origin::plain("a").await;
    let b = Origin::plain("b").await;
    let tls = |c: &std::path::Path, k: &std::path::Path| {
        format!(
            "tls = {{ cert = \"{}\", key = \"{}\" }}\nhsts_max_age = 600\n",
            c.display(),
            k.display()
        )
    };
    let cfg = format!(
        "{}\n{}",
        zone("a", &["a.test"], &[&a], &tls(&ac, &ak)),
        zone("b", &["b.test"], &[&b], &tls(&bc, &bk))
    );
    let edge = Edge::start(&dir, &cfg).await;
    let client = edge.https_client(&pki.ca_pem, &["a.test", "b.test"]);
    for host in ["a", "b"] {
        let r = client
            .get(format!("https://{host}.test:{}/p", edge.https))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{host}: {e:?}\n{}", edge.log_text()));
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.headers()["strict-transport-security"], "max-age=600");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["origin"], host);
        assert_eq!(v["headers"]["x-forwarded-proto"], "https");
        assert_eq!(v["headers"]["via"], "2 rempart");
    }
    // A client forced to HTTP/1.1 gets HTTP/1.1.
    let h1 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .resolve("a.test", ([127, 0, 0, 1], edge.https).into())
        .http1_only()
        .build()
        .unwrap();
    let r = h1
        .get(format!("https://a.test:{}/p", edge.https))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    // An SNI no zone has: the handshake fails rather than showing another site's certificate.
    let c = edge.https_client(&pki.ca_pem, &["c.test"]);
    assert!(c
        .get(format!("https://c.test:{}/", edge.https))
        .send()
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_across_origins_and_skips_one_that_is_down() {
    let dir = TempDir::new("lb");
    let a = Origin::plain("a").await;
    let b = Origin::plain("b").await;
    let dead = free_port();
    let gone = format!(
        "[[zone]]\nname = \"gone\"\nhosts = [\"gone.test\"]\n[[zone.origin]]\naddress = \"127.0.0.1:{dead}\"\n"
    );
    let cfg = format!(
        "{}[[zone.origin]]\naddress = \"127.0.0.1:{dead}\"\n\n{gone}",
        zone("lb", &["lb.test"], &[&a, &b], ""),
    );
    let edge = Edge::start(&dir, &cfg).await;
    let mut seen = std::collections::HashMap::new();
    for _ in 0..40 {
        let r = edge.get("lb.test", "/").await;
        assert_eq!(
            r.status(),
            200,
            "no request may fail while one origin is down"
        );
        let v: Value = r.json().await.unwrap();
        *seen
            .entry(v["origin"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert!(
        seen.get("a").copied().unwrap_or(0) >= 10 && seen.get("b").copied().unwrap_or(0) >= 10,
        "{seen:?}"
    );

    let r = edge.get("gone.test", "/").await;
    assert_eq!(r.status(), 502);
    let body = r.text().await.unwrap();
    assert!(body.contains("gone"), "the 502 page names the zone: {body}");
    let m = edge.metrics().await;
    assert!(
        m.contains(&format!(
            "rempart_edge_origin_up{{origin=\"127.0.0.1:{dead}\",zone=\"lb\"}} 0"
        )),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_to_tls_origins_over_h2_with_a_private_ca() {
    let dir = TempDir::new("tls-origin");
    let pki = Pki::new();
    let ca = dir.write("origin-ca.pem", &pki.ca_pem);
    let o = Origin::tls("secure", &pki, "origin.internal").await;
    let cfg = format!(
        "[[zone]]\nname = \"s\"\nhosts = [\"s.test\"]\n[[zone.origin]]\naddress = \"{}\"\ntls = true\nsni = \"origin.internal\"\nca = \"{}\"\nh2 = true\n",
        o.addr,
        ca.display()
    );
    let edge = Edge::start(&dir, &cfg).await;
    let r = edge.get("s.test", "/over-tls").await;
    assert_eq!(r.status(), 200, "{}", edge.log_text());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["origin"], "secure");
    assert_eq!(v["version"], "HTTP/2.0");

    // Same origin, wrong expected name: verification fails, so 502, not a silent downgrade.
    let dir2 = TempDir::new("tls-origin-bad");
    let cfg = cfg.replace("sni = \"origin.internal\"", "sni = \"other.internal\"");
    let edge2 = Edge::start(&dir2, &cfg).await;
    assert_eq!(edge2.get("s.test", "/").await.status(), 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restrictions_answer_451_and_403_before_any_origin() {
    let dir = TempDir::new("block");
    let o = Origin::plain("forum").await;
    let soon = chrono::Utc::now() + chrono::Duration::seconds(3);
    let mut expiring = restriction(
        "r-exp",
        json!({"type": "url", "url": "https://f.test/expiring"}),
        "legal",
    );
    expiring["ends_at"] = json!(soon.to_rfc3339());
    let mut ended = restriction(
        "r-ended",
        json!({"type": "url", "url": "https://f.test/ended"}),
        "legal",
    );
    ended["ends_at"] = json!("2026-01-02T00:00:00Z");
    let policy = policy_json(
        &[
            restriction(
                "r-url",
                json!({"type": "url", "url": "https://f.test/t/1"}),
                "legal",
            ),
            restriction(
                "r-tos",
                json!({"type": "path_prefix", "host": "f.test", "prefix": "/spam"}),
                "terms_of_service",
            ),
            expiring,
            ended,
        ],
        7,
    );
    let pfile = dir.write("policy.json", &policy);
    let cfg = format!(
        "[policy]\nfile = \"{}\"\n\n{}",
        pfile.display(),
        zone("forum", &["f.test"], &[&o], "")
    );
    let edge = Edge::start(&dir, &cfg).await;

    let r = edge.get("f.test", "/t/1").await;
    assert_eq!(r.status(), 451);
    assert_eq!(
        r.headers()["link"],
        "<https://desk.test/notices/r-url>; rel=\"blocked-by\""
    );
    assert_eq!(r.headers()["content-language"], "en");
    assert_eq!(r.headers()["cache-control"], "public, max-age=60");
    let html = r.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("Unavailable for legal reasons"));
    assert!(html.contains("Test Provider"));
    assert!(html.contains("Publishes a private person&#39;s home address."));
    assert!(html.contains("href=\"https://desk.test/notices/r-url\""));

    let r = reqwest::Client::new()
        .get(edge.url("/t/1?utm=evade"))
        .header("host", "f.test")
        .header("accept-language", "fr-FR,fr;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 451);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<html lang=\"fr\">")
            && html.contains("Indisponible pour raisons juridiques")
    );

    let r = reqwest::Client::new()
        .get(edge.url("/%74/1"))
        .header("host", "f.test")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 451);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["restriction_id"], "r-url");
    assert_eq!(v["notice_url"], "https://desk.test/notices/r-url");

    let r = edge.get("f.test", "/spam/offer").await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("terms of service"));

    let r = edge.get("f.test", "/expiring").await;
    assert_eq!(r.status(), 451);
    let cc = r.headers()["cache-control"].to_str().unwrap().to_string();
    let max_age: i64 = cc.trim_start_matches("public, max-age=").parse().unwrap();
    assert!(max_age <= 3, "not cacheable past its end: {cc}");

    assert_eq!(edge.get("f.test", "/ended").await.status(), 200);
    assert_eq!(
        edge.get("f.test", "/t/2").await.status(),
        200,
        "sibling URL is served"
    );
    assert_eq!(o.count(), 2, "restricted requests never reach the origin");

    // The expiring restriction stops at its end, with no reload.
    let reloads_before = edge
        .metric("rempart_edge_reloads_total{outcome=\"ok\",what=\"policy\"}")
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = edge.get("f.test", "/expiring").await.status();
        if status == 200 {
            assert!(chrono::Utc::now() >= soon, "served before the end");
            break;
        }
        assert_eq!(status, 451);
        assert!(Instant::now() < deadline, "the restriction never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        edge.metric("rempart_edge_reloads_total{outcome=\"ok\",what=\"policy\"}")
            .await,
        reloads_before
    );
    let m = edge.metrics().await;
    assert!(
        m.contains(
            "rempart_edge_restrictions_served_total{restriction=\"r-url\",status=\"451\"} 3"
        ),
        "{m}"
    );
    assert!(m.contains("rempart_edge_policy_version 7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_in_flight_requests_and_rejects_bad_files() {
    let dir = TempDir::new("reload");
    let o = Origin::plain("o").await;
    let pfile = dir.write("policy.json", &policy_json(&[], 1));
    let zones = zone("z", &["z.test"], &[&o], "");
    let cfg = format!("[policy]\nfile = \"{}\"\n\n{zones}", pfile.display());
    let edge = Edge::start(&dir, &cfg).await;

    // A request held open by the origin across the reload.
    let held = o.hold_request(&edge, "z.test").await;

    // New policy and SIGHUP.
    std::fs::write(
        &pfile,
        policy_json(
            &[restriction(
                "new",
                json!({"type": "host", "host": "z.test"}),
                "legal",
            )],
            2,
        ),
    )
    .unwrap();
    edge.signal("HUP");
    edge.wait_metric("rempart_edge_policy_version", 2.0).await;
    assert_eq!(edge.get("z.test", "/anything").await.status(), 451);

    o.seen.release.notify_waiters();
    let status = held
        .await
        .unwrap()
        .expect("in-flight request survived the reload");
    assert_eq!(status, 200);

    // A broken config is rejected with its location; the running one stays.
    let failed = "rempart_edge_reloads_total{outcome=\"failed\",what=\"config\"}";
    let good = std::fs::read_to_string(&edge.config).unwrap();
    std::fs::write(
        &edge.config,
        good.replace("[[zone.origin]]", "[[zone.origin]]\nweight = \"heavy\""),
    )
    .unwrap();
    edge.signal("HUP");
    edge.wait_metric(failed, 1.0).await;
    assert!(
        edge.log_text().contains("edge.toml:"),
        "error names the file"
    );
    assert_eq!(
        edge.get("z.test", "/").await.status(),
        451,
        "old config and policy still in force"
    );

    // A broken policy file too.
    std::fs::write(&pfile, "{\"schema\": 1, \"version\": 3,").unwrap();
    std::fs::write(&edge.config, &good).unwrap();
    edge.wait_metric(
        "rempart_edge_reloads_total{outcome=\"failed\",what=\"policy\"}",
        1.0,
    )
    .await;
    assert_eq!(edge.metric("rempart_edge_policy_version").await, 2.0);

    // Fixing the file is picked up by the watcher, without a signal.
    std::fs::write(&pfile, policy_json(&[], 4)).unwrap();
    edge.wait_metric("rempart_edge_policy_version", 4.0).await;
    assert_eq!(edge.get("z.test", "/").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_and_oversized_requests_never_reach_the_origin() {
    let dir = TempDir::new("smuggle");
    let o = Origin::plain("o").await;
    let edge = Edge::start(&dir, &zone("z", &["z.test"], &[&o], "")).await;
    let h = "Host: z.test\r\n";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("CL+TE", format!("POST / HTTP/1.1\r\n{h}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").into_bytes(), "400"),
        ("TE+CL", format!("POST / HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n").into_bytes(), "400"),
        ("duplicate CL", format!("POST / HTTP/1.1\r\n{h}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde").into_bytes(), "400"),
        ("same CL twice", format!("POST / HTTP/1.1\r\n{h}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd").into_bytes(), "400"),
        ("signed CL", format!("POST / HTTP/1.1\r\n{h}Content-Length: +4\r\n\r\nabcd").into_bytes(), "400"),
        ("list CL", format!("POST / HTTP/1.1\r\n{h}Content-Length: 4, 4\r\n\r\nabcd").into_bytes(), "400"),
        ("TE not chunked", format!("POST / HTTP/1.1\r\n{h}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n").into_bytes(), "400"),
        ("TE obfuscated", format!("POST / HTTP/1.1\r\n{h}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n").into_bytes(), "400"),
        ("TE in HTTP/1.0", format!("POST / HTTP/1.0\r\n{h}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n").into_bytes(), "400"),
        ("bad chunk size", format!("POST / HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n").into_bytes(), "400"),
        ("obs-fold", format!("GET / HTTP/1.1\r\n{h}X-A: 1\r\n  folded\r\n\r\n").into_bytes(), "400"),
        ("space before colon", format!("GET / HTTP/1.1\r\n{h}Content-Length : 0\r\n\r\n").into_bytes(), "400"),
        ("no Host", b"GET / HTTP/1.1\r\n\r\n".to_vec(), "400"),
        ("long URI", format!("GET /{} HTTP/1.1\r\n{h}\r\n", "a".repeat(9000)).into_bytes(), "414"),
        ("large headers", format!("GET / HTTP/1.1\r\n{h}X-Big: {}\r\n\r\n", "a".repeat(40_000)).into_bytes(), "431"),
    ];
    for (name, bytes, want) in &cases {
        let line = raw_status(edge.http, bytes).await;
        assert!(
            line.starts_with(&format!("HTTP/1.1 {want}")),
            "{name}: got {line:?}"
        );
        assert_eq!(o.count(), 0, "{name}: the origin saw a refused request");
    }
    assert_eq!(
        o.seen.requests.load(Ordering::SeqCst),
        0,
        "the origin saw a refused request"
    );
    // A well-formed chunked request still goes through.
    let ok = raw_status(
        edge.http,
        format!("POST / HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");

    // A chunked body larger than what is read ahead arrives whole.
    let mut req =
        format!("POST / HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            .into_bytes();
    for i in 0..5u8 {
        let chunk = vec![b'a' + i; 100_000];
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let resp = raw_exchange(edge.http, &req).await;
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {resp}"));
    assert_eq!(v["body_len"], 500_000);
    let want: u64 = (0..5u64).map(|i| (u64::from(b'a') + i) * 100_000).sum();
    assert_eq!(v["body_sum"], want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_pass_through() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let dir = TempDir::new("ws");
    let o = Origin::plain("o").await;
    let edge = Edge::start(&dir, &zone("z", &["z.test"], &[&o], "")).await;
    let mut req = format!("ws://127.0.0.1:{}/ws", edge.http)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("host", "z.test".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", edge.log_text()));
    assert_eq!(resp.status(), 101);
    ws.send(Message::Text("hello".into())).await.unwrap();
    let reply = ws.next().await.unwrap().unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "echo: hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_redirect_and_misdirected_requests() {
    let dir = TempDir::new("redirect");
    let pki = Pki::new();
    let (ac, ak) = pki.leaf(&dir, "a", &["a.test"]);
    let (bc, bk) = pki.leaf(&dir, "b", &["b.test"]);
    let o = Origin::plain("o").await;
    let cfg = format!(
        "{}\n{}",
        zone(
            "a",
            &["a.test"],
            &[&o],
            &format!(
                "https_redirect = true\ntls = {{ cert = \"{}\", key = \"{}\" }}",
                ac.display(),
                ak.display()
            )
        ),
        zone(
            "b",
            &["b.test"],
            &[&o],
            &format!(
                "tls = {{ cert = \"{}\", key = \"{}\" }}",
                bc.display(),
                bk.display()
            )
        ),
    );
    let edge = Edge::start(&dir, &cfg).await;
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(edge.url("/p?q=1"))
        .header("host", "a.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "https://a.test/p?q=1");

    // A connection opened for a.test (SNI) asking for b.test (Host) is misdirected.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .resolve("a.test", ([127, 0, 0, 1], edge.https).into())
        .http1_only()
        .build()
        .unwrap();
    let r = client
        .get(format!("https://a.test:{}/", edge.https))
        .header("host", "b.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421);
    assert_eq!(o.count(), 0);
}

#[test]
fn check_config_names_file_line_and_reason() {
    let dir = TempDir::new("check");
    let bad = dir.write(
        "bad.toml",
        "[listen]\nhttp = [\"127.0.0.1:8080\"]\n\n[[zone]]\nname = \"z\"\nhosts = [\"z.test\"]\n[[zone.origin]]\naddress = \"no-port\"\n",
    );
    let out = std::process::Command::new(bin())
        .args(["check-config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:8:11"), "{err}");
    assert!(err.contains("must be host:port"), "{err}");

    let good = dir.write(
        "good.toml",
        "[listen]\nhttp = [\"127.0.0.1:8080\"]\n\n[[zone]]\nname = \"z\"\nhosts = [\"z.test\"]\n[[zone.origin]]\naddress = \"127.0.0.1:9\"\n",
    );
    let out = std::process::Command::new(bin())
        .args(["check-config"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad_policy = dir.write(
        "p.json",
        "{\"schema\": 1, \"version\": 1, \"issued_at\": \"x\"}",
    );
    let out = std::process::Command::new(bin())
        .args(["check-policy"])
        .arg(&bad_policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_replaced_without_restart() {
    let dir = TempDir::new("cert-reload");
    let old_ca = Pki::new();
    let new_ca = Pki::new();
    let (c, k) = old_ca.leaf(&dir, "a", &["a.test"]);
    let o = Origin::plain("o").await;
    let tls = format!(
        "tls = {{ cert = \"{}\", key = \"{}\" }}",
        c.display(),
        k.display()
    );
    let edge = Edge::start(&dir, &zone("a", &["a.test"], &[&o], &tls)).await;
    let url = format!("https://a.test:{}/", edge.https);
    let trusts_new = edge.https_client(&new_ca.ca_pem, &["a.test"]);
    assert!(
        trusts_new.get(&url).send().await.is_err(),
        "old certificate served"
    );
    let pid_before = edge.child.id();

    // Renew in place, as an ACME client would: the watcher picks it up.
    let staging = TempDir::new("cert-staging");
    let (nc, nk) = new_ca.leaf(&staging, "a", &["a.test"]);
    std::fs::copy(&nk, &k).unwrap();
    std::fs::copy(&nc, &c).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // A new client each time: a new handshake.
        let client = edge.https_client(&new_ca.ca_pem, &["a.test"]);
        if let Ok(r) = client.get(&url).send().await {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "new certificate never served:\n{}",
            edge.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(edge.child.id(), pid_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_lists_deny_at_accept_or_per_zone_and_reload() {
    let dir = TempDir::new("iplists");
    let o = Origin::plain("o").await;
    let deny_file = dir.write("deny.txt", "# provider-wide\n127.0.0.2\n");
    let cfg = format!(
        "[ip_lists]\ndeny_file = \"{}\"\n\n{}",
        deny_file.display(),
        zone(
            "z",
            &["z.test"],
            &[&o],
            "ip_lists = { deny = [\"127.0.0.0/8\"], allow = [\"127.0.0.3\"] }"
        )
    );
    let edge = Edge::start(&dir, &cfg).await;
    let from = client_from;
    let get = |c: reqwest::Client| {
        let url = edge.url("/");
        async move { c.get(url).header("host", "z.test").send().await }
    };
    let r = get(from([127, 0, 0, 1])).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Access denied"));
    assert_eq!(
        get(from([127, 0, 0, 3])).await.unwrap().status(),
        200,
        "allow list wins"
    );
    assert!(
        get(from([127, 0, 0, 2])).await.is_err(),
        "dropped at accept"
    );
    assert_eq!(o.count(), 1);
    assert!(
        edge.metric("rempart_edge_edge_answers_total{reason=\"ip_denied_at_accept\"}")
            .await
            >= 1.0
    );

    // The list file changes: the watcher reloads it.
    std::fs::write(&deny_file, "# emptied\n").unwrap();
    edge.wait_metric(
        "rempart_edge_reloads_total{outcome=\"ok\",what=\"config\"}",
        1.0,
    )
    .await;
    assert_eq!(
        get(from([127, 0, 0, 2])).await.unwrap().status(),
        403,
        "now only the zone's list applies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_per_client_and_release() {
    let dir = TempDir::new("ratelimit");
    let o = Origin::plain("o").await;
    let cfg = format!(
        "{}\n[[zone.rate_limit]]\nname = \"api-writes\"\nrequests = 2\nperiod_s = 60\nburst = 1\npath_prefix = \"/api/\"\nmethod = \"POST\"\n\n[[zone.rate_limit]]\nname = \"pages\"\nrequests = 1\nperiod_s = 1\n",
        zone("z", &["z.test"], &[&o], "")
    );
    let edge = Edge::start(&dir, &cfg).await;
    let from = client_from;
    let c1 = from([127, 0, 0, 1]);
    let post = |c: &reqwest::Client| {
        c.post(edge.url("/api/items"))
            .header("host", "z.test")
            .header("accept", "application/json")
            .send()
    };
    // Both rules cover these POSTs; the second request is refused by the tighter one.
    assert_eq!(post(&c1).await.unwrap().status(), 200);
    let r = post(&c1).await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], 429);
    // Another client is not affected.
    assert_eq!(post(&from([127, 0, 0, 4])).await.unwrap().status(), 200);
    assert_eq!(o.count(), 2, "refused requests never reach the origin");

    // The 1/s page limit is released once its interval passes.
    let g = || c1.get(edge.url("/page")).header("host", "z.test").send();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut saw_429 = false;
    loop {
        let s = g().await.unwrap().status();
        if s == 429 {
            saw_429 = true;
        } else if saw_429 {
            assert_eq!(s, 200);
            break;
        }
        assert!(Instant::now() < deadline, "never released");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = edge.metrics().await;
    assert!(
        m.contains("rempart_edge_edge_answers_total{reason=\"rate_limited\"}"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_cap_queues_briefly_then_answers_503() {
    let dir = TempDir::new("inflight");
    let o = Origin::plain("o").await;
    let cfg = zone(
        "z",
        &["z.test"],
        &[&o],
        "max_concurrent_requests = 1\nqueue_timeout_ms = 200",
    );
    let edge = Edge::start(&dir, &cfg).await;
    let held = o.hold_request(&edge, "z.test").await;
    // The one slot is taken: another client's request waits its queue time, then 503.
    let r = edge.get_from([127, 0, 0, 2], "z.test", "/other").await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(o.count(), 1, "the origin was not sent the extra request");
    o.seen.release.notify_waiters();
    assert_eq!(held.await.unwrap().unwrap(), 200);
    // The slot is free again.
    assert_eq!(edge.get("z.test", "/other").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_holds_at_most_its_share_of_the_origin_slots() {
    let dir = TempDir::new("share");
    let o = Origin::plain("o").await;
    // Four slots, of which one client may hold one.
    let cfg = zone(
        "z",
        &["z.test"],
        &[&o],
        "max_concurrent_requests = 4\nmax_concurrent_requests_per_client = 1\nqueue_timeout_ms = 5000",
    );
    let edge = Edge::start(&dir, &cfg).await;
    let held = o.hold_request(&edge, "z.test").await;
    // The same client again: over its share, answered at once (it does not wait the queue
    // time, though three slots are free) and the origin never hears of it.
    let r = edge.get("z.test", "/other").await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(o.count(), 1, "the origin was not sent the extra request");
    // Another client gets one of the free slots.
    let other = edge.get_from([127, 0, 0, 2], "z.test", "/other").await;
    assert_eq!(other.status(), 200);
    o.seen.release.notify_waiters();
    assert_eq!(held.await.unwrap().unwrap(), 200);
    // The first client's share is back.
    assert_eq!(edge.get("z.test", "/other").await.status(), 200);
    // The metrics and the access log name the layer that answered.
    assert_eq!(
        edge.metric("rempart_edge_edge_answers_total{reason=\"client_concurrency\"}")
            .await,
        1.0
    );
    edge.wait_for_log(
        "\"decided_by\":\"client_concurrency\"",
        "the 429 was not logged as client_concurrency",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = TempDir::new("idle");
    let o = Origin::plain("o").await;
    let cfg = format!(
        "[limits]\nidle_timeout_s = 1\n\n{}",
        zone("z", &["z.test"], &[&o], "")
    );
    let edge = Edge::start(&dir, &cfg).await;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .unwrap();
    // The client asks to be kept for an hour; the edge's limit wins.
    s.write_all(b"GET / HTTP/1.1\r\nHost: z.test\r\nConnection: keep-alive\r\nKeep-Alive: timeout=3600\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Then nothing: the edge must close the idle connection (EOF), well before the client's hour.
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true), "idle connection was not closed");
}
