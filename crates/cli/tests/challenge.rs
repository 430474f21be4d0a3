//! Challenge ("under attack") mode against the real binary: the page and its answer, forged,
//! replayed and expired clearances, JSON clients, the no-JavaScript fallback, the rate-limit
//! action and the automatic mode. The proof of work is solved here, in Rust, with SHA-256
//! written independently of the edge's; tokens and cookies for expiry cases are signed with the
//! same key file the edge reads, so nothing waits on the clock.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use rempart_edge::challenge::{client_prefix, Signer};
use sha2::{Digest, Sha256};

const KEY: &str = "test-challenge-key-0123456789-abcdefghijklmnop";
const SUBMIT: &str = "/.rempart/challenge";

fn settings(dir: &TempDir) -> String {
    dir.write("challenge.key", &format!("{KEY}\n"));
    "[challenge]\nsecret_file = \"challenge.key\"\ndifficulty = 8\nnojs_wait_s = 30\n\n".into()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn no_redirects(from: Option<[u8; 4]>) -> reqwest::Client {
    let mut b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(ip) = from {
        b = b.local_address(IpAddr::from(ip));
    }
    b.build().expect("client")
}

/// The value of an `<input name="…" value="…">` in the page.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in:\n{html}"))
        + marker.len();
    html[start..]
        .split('"')
        .next()
        .expect("value")
        .replace("&amp;", "&")
}

fn clearance_of(r: &reqwest::Response) -> String {
    let set = r
        .headers()
        .get("set-cookie")
        .unwrap_or_else(|| panic!("no Set-Cookie on {}", r.status()))
        .to_str()
        .unwrap()
        .to_string();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    assert!(set.contains("Path=/"), "{set}");
    let first = set.split(';').next().unwrap();
    let (name, value) = first.split_once('=').unwrap();
    assert_eq!(name, "rempart_clearance");
    value.to_string()
}

struct Site<'a> {
    edge: &'a Edge,
    client: reqwest::Client,
}

impl Site<'_> {
    async fn get(&self, host: &str, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut r = self
            .client
            .get(self.edge.url(path))
            .header("host", host)
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8");
        if let Some(c) = cookie {
            r = r.header("cookie", format!("theme=dark; rempart_clearance={c}"));
        }
        r.send().await.expect("request")
    }

    /// Gets the challenge page and returns its token and return path.
    async fn challenged(&self, host: &str, path: &str) -> (String, String) {
        let r = self.get(host, path, None).await;
        assert_eq!(r.status(), 503, "{host}{path}: {}", self.edge.log_text());
        let html = r.text().await.unwrap();
        (field(&html, "token"), field(&html, "return"))
    }

    async fn submit(&self, host: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.edge.url(SUBMIT))
            .header("host", host)
            .form(form)
            .send()
            .await
            .expect("submit")
    }

    /// Solves the page's challenge and returns the clearance cookie.
    async fn clearance(&self, host: &str, path: &str) -> String {
        let (token, back) = self.challenged(host, path).await;
        let solution = solve(&token, 8);
        let r = self
            .submit(
                host,
                &[
                    ("token", &token),
                    ("solution", &solution),
                    ("return", &back),
                ],
            )
            .await;
        assert_eq!(r.status(), 303, "{}", self.edge.log_text());
        assert_eq!(r.headers()["location"], path);
        clearance_of(&r)
    }
}

/// Waits for an access-log line of `request_id` that says `decided_by` `layer`.
async fn wait_decided_by(edge: &Edge, request_id: &str, layer: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = edge.log_text();
        let found = log.lines().any(|l| {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
                return false;
            };
            v["fields"]["request_id"] == request_id && v["fields"]["decided_by"] == layer
        });
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no access-log line for {request_id} decided by {layer}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_page_is_solved_and_the_clearance_lets_requests_through() {
    let dir = TempDir::new("challenge-solve");
    let origin = Origin::plain("forum-origin").await;
    let config = settings(&dir)
        + &zone(
            "forum",
            &["forum.test"],
            &[&origin],
            "[zone.challenge]\nmode = \"always\"\n",
        );
    let edge = Edge::start(&dir, &config).await;
    let site = Site {
        edge: &edge,
        client: no_redirects(None),
    };

    // The page: accessible, self-contained, with a CSP allowing only its own script by hash.
    let r = site.get("forum.test", "/t/1?page=2", None).await;
    assert_eq!(r.status(), 503);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">"), "{html}");
    assert!(
        html.contains("role=\"status\" aria-live=\"polite\""),
        "{html}"
    );
    assert!(html.contains("<noscript>"), "{html}");
    assert!(html.contains("data-difficulty=\"8\""), "{html}");
    assert!(!html.contains("<script src"), "no external script");
    assert!(!html.contains("https://"), "no third-party resource");
    // The inline script is the one the CSP names.
    let script = html
        .split("<script>")
        .nth(1)
        .and_then(|s| s.split("</script>").next())
        .expect("an inline script");
    let hash = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()))
    };
    assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
    assert_eq!(origin.count(), 0, "nothing reached the origin");
    wait_decided_by(&edge, &request_id, "challenge").await;

    // In French when asked.
    let fr = site
        .client
        .get(edge.url("/"))
        .header("host", "forum.test")
        .header("accept-language", "fr-FR,fr;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(fr.headers()["content-language"], "fr");
    let fr = fr.text().await.unwrap();
    assert!(fr.contains("Vérification de votre navigateur"), "{fr}");

    // Solved: a clearance cookie and back to the page, which the origin then serves.
    let cookie = site.clearance("forum.test", "/t/1?page=2").await;
    let r = site.get("forum.test", "/t/1", Some(&cookie)).await;
    assert_eq!(r.status(), 200, "{}", edge.log_text());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["origin"], "forum-origin");
    assert_eq!(origin.count(), 1);

    let m = |s: &'static str| edge.metric(s);
    assert!(
        m("rempart_edge_challenges_issued_total{trigger=\"always\",zone=\"forum\"}").await >= 3.0
    );
    assert_eq!(
        m("rempart_edge_challenges_solved_total{method=\"pow\",zone=\"forum\"}").await,
        1.0
    );
    assert_eq!(
        m("rempart_edge_challenges_passed_total{zone=\"forum\"}").await,
        1.0
    );
    assert_eq!(
        m("rempart_edge_challenge_mode_active{zone=\"forum\"}").await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_answers_and_cookies_fail() {
    let dir = TempDir::new("challenge-forge");
    let origin = Origin::plain("o").await;
    let config = settings(&dir)
        + &zone(
            "forum",
            &["forum.test"],
            &[&origin],
            "[zone.challenge]\nmode = \"always\"\n",
        );
    let edge = Edge::start(&dir, &config).await;
    let site = Site {
        edge: &edge,
        client: no_redirects(None),
    };
    let (token, _) = site.challenged("forum.test", "/").await;

    // A wrong solution: the first number that does NOT have the zero bits.
    let wrong = (0u64..)
        .find(|n| zero_bits(&Sha256::digest(format!("{token}:{n}").as_bytes())) < 8)
        .unwrap()
        .to_string();
    let r = site
        .submit("forum.test", &[("token", &token), ("solution", &wrong)])
        .await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());

    // A token signed with another key, solved correctly.
    let prefix = client_prefix("127.0.0.1".parse().unwrap());
    let other = Signer::new(b"not the edge's key, but long enough for HMAC").challenge_token(
        "forum",
        &prefix,
        unix_now(),
        "n1",
        8,
    );
    let r = site
        .submit(
            "forum.test",
            &[("token", &other), ("solution", &solve(&other, 8))],
        )
        .await;
    assert_eq!(r.status(), 403);

    // A cookie whose payload was changed (a later expiry), with the original MAC.
    let cookie = site.clearance("forum.test", "/").await;
    let (_, mac) = cookie.split_once('.').unwrap();
    let tampered = {
        use base64::Engine;
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{mac}",
            enc.encode(format!("clearance|forum|{prefix}|{}", unix_now() + 999_999))
        )
    };
    let r = site.get("forum.test", "/", Some(&tampered)).await;
    assert_eq!(r.status(), 503, "a forged cookie is challenged again");
    let r = site.get("forum.test", "/", Some("garbage")).await;
    assert_eq!(r.status(), 503);
    // A cookie minted with another key.
    let minted = Signer::new(b"not the edge's key, but long enough for HMAC").clearance(
        "forum",
        &prefix,
        unix_now() + 3600,
    );
    let r = site.get("forum.test", "/", Some(&minted)).await;
    assert_eq!(r.status(), 503);
    assert_eq!(origin.count(), 0);

    let failed = |reason: &'static str| {
        let series =
            format!("rempart_edge_challenges_failed_total{{reason=\"{reason}\",zone=\"forum\"}}");
        let edge = &edge;
        async move { edge.metric(&series).await }
    };
    assert_eq!(failed("wrong_solution").await, 1.0);
    assert_eq!(failed("forged").await, 1.0);
    assert_eq!(failed("cookie_forged").await, 2.0);
    assert_eq!(failed("cookie_malformed").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearance_is_bound_to_its_zone_and_client_network() {
    let dir = TempDir::new("challenge-bind");
    let origin = Origin::plain("o").await;
    let always = "[zone.challenge]\nmode = \"always\"\n";
    let config = settings(&dir)
        + &zone("forum", &["forum.test"], &[&origin], always)
        + &zone("shop", &["shop.test"], &[&origin], always);
    let edge = Edge::start(&dir, &config).await;
    let site = Site {
        edge: &edge,
        client: no_redirects(Some([127, 0, 0, 1])),
    };
    let cookie = site.clearance("forum.test", "/").await;
    assert_eq!(
        site.get("forum.test", "/", Some(&cookie)).await.status(),
        200
    );

    // Replayed to another zone.
    assert_eq!(
        site.get("shop.test", "/", Some(&cookie)).await.status(),
        503
    );
    // Replayed from another /24.
    let elsewhere = Site {
        edge: &edge,
        client: no_redirects(Some([127, 0, 1, 1])),
    };
    assert_eq!(
        elsewhere
            .get("forum.test", "/", Some(&cookie))
            .await
            .status(),
        503
    );
    // The same /24 is the same client network.
    let neighbour = Site {
        edge: &edge,
        client: no_redirects(Some([127, 0, 0, 2])),
    };
    assert_eq!(
        neighbour
            .get("forum.test", "/", Some(&cookie))
            .await
            .status(),
        200
    );

    // A solved token of one zone answered to another, and from another network.
    let (token, _) = site.challenged("forum.test", "/").await;
    let solution = solve(&token, 8);
    let r = site
        .submit("shop.test", &[("token", &token), ("solution", &solution)])
        .await;
    assert_eq!(r.status(), 403);
    let r = elsewhere
        .submit("forum.test", &[("token", &token), ("solution", &solution)])
        .await;
    assert_eq!(r.status(), 403);

    let m = |s: &'static str| edge.metric(s);
    assert_eq!(
        m("rempart_edge_challenges_failed_total{reason=\"cookie_wrong_zone\",zone=\"shop\"}").await,
        1.0
    );
    assert_eq!(
        m("rempart_edge_challenges_failed_total{reason=\"cookie_wrong_prefix\",zone=\"forum\"}")
            .await,
        1.0
    );
    assert_eq!(
        m("rempart_edge_challenges_failed_total{reason=\"wrong_zone\",zone=\"shop\"}").await,
        1.0
    );
    assert_eq!(
        m("rempart_edge_challenges_failed_total{reason=\"wrong_prefix\",zone=\"forum\"}").await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_clearances_and_stale_tokens_fail() {
    let dir = TempDir::new("challenge-expiry");
    let origin = Origin::plain("o").await;
    let config = settings(&dir)
        + &zone(
            "forum",
            &["forum.test"],
            &[&origin],
            "[zone.challenge]\nmode = \"always\"\n",
        );
    let edge = Edge::start(&dir, &config).await;
    let site = Site {
        edge: &edge,
        client: no_redirects(None),
    };
    // Signed with the edge's own key: the only thing wrong is the time.
    let signer = Signer::new(KEY.as_bytes());
    let prefix = client_prefix("127.0.0.1".parse().unwrap());
    let now = unix_now();
    let valid = signer.clearance("forum", &prefix, now + 3600);
    assert_eq!(
        site.get("forum.test", "/", Some(&valid)).await.status(),
        200
    );
    let expired = signer.clearance("forum", &prefix, now - 1);
    assert_eq!(
        site.get("forum.test", "/", Some(&expired)).await.status(),
        503
    );

    // A solved token past its validity (120 s by default) cannot be replayed.
    let stale = signer.challenge_token("forum", &prefix, now - 121, "n2", 8);
    let r = site
        .submit(
            "forum.test",
            &[("token", &stale), ("solution", &solve(&stale, 8))],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    // While it is valid, the same answer is accepted.
    let fresh = signer.challenge_token("forum", &prefix, now - 60, "n3", 8);
    let r = site
        .submit(
            "forum.test",
            &[("token", &fresh), ("solution", &solve(&fresh, 8))],
        )
        .await;
    assert_eq!(r.status(), 303);

    let m = |s: &'static str| edge.metric(s);
    assert_eq!(
        m("rempart_edge_challenges_failed_total{reason=\"cookie_expired\",zone=\"forum\"}").await,
        1.0
    );
    assert_eq!(
        m("rempart_edge_challenges_failed_total{reason=\"expired\",zone=\"forum\"}").await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_clients_get_the_parameters_and_can_answer() {
    let dir = TempDir::new("challenge-json");
    let origin = Origin::plain("o").await;
    let config = settings(&dir)
        + &zone(
            "forum",
            &["forum.test"],
            &[&origin],
            "[zone.challenge]\nmode = \"always\"\n",
        );
    let edge = Edge::start(&dir, &config).await;
    let client = no_redirects(None);
    let r = client
        .get(edge.url("/api/items"))
        .header("host", "forum.test")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: serde_json::Value = r.json().await.unwrap();
    let c = &v["challenge"];
    assert_eq!(c["algorithm"], "sha256-leading-zero-bits");
    assert_eq!(c["difficulty"], 8);
    assert_eq!(c["submit_url"], SUBMIT);
    let token = c["token"].as_str().expect("token").to_string();

    let solution = solve(&token, 8);
    let r = client
        .post(edge.url(SUBMIT))
        .header("host", "forum.test")
        .header("accept", "application/json")
        .json(&serde_json::json!({ "token": token, "solution": solution.parse::<u64>().unwrap() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", edge.log_text());
    let cookie = clearance_of(&r);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["cleared"], true);
    let r = client
        .get(edge.url("/api/items"))
        .header("host", "forum.test")
        .header("accept", "application/json")
        .header("cookie", format!("rempart_clearance={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(origin.count(), 1);

    // A refused JSON answer says why.
    let r = client
        .post(edge.url(SUBMIT))
        .header("host", "forum.test")
        .header("accept", "application/json")
        .json(&serde_json::json!({ "token": "nope.nope", "solution": "1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["reason"], "forged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_the_page_continues_after_the_wait() {
    let dir = TempDir::new("challenge-nojs");
    let origin = Origin::plain("o").await;
    let config = settings(&dir)
        + &zone(
            "forum",
            &["forum.test"],
            &[&origin],
            "[zone.challenge]\nmode = \"always\"\n",
        );
    let edge = Edge::start(&dir, &config).await;
    let site = Site {
        edge: &edge,
        client: no_redirects(None),
    };
    let r = site.get("forum.test", "/t/9", None).await;
    let html = r.text().await.unwrap();
    // The refresh a browser without JavaScript follows, after nojs_wait_s (30 s here).
    let marker = "<noscript><meta http-equiv=\"refresh\" content=\"30; url=";
    let start = html.find(marker).unwrap_or_else(|| panic!("{html}")) + marker.len();
    let url = html[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(url.starts_with(SUBMIT), "{url}");
    assert!(url.contains("return=%2Ft%2F9"), "{url}");
    assert!(
        html.contains("id=\"rempart-continue\""),
        "a Continue button"
    );

    // Followed at once: too early, the same page again with the time left.
    let r = site.get("forum.test", &url, None).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("set-cookie").is_none());
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(r.text().await.unwrap().contains("more seconds"));

    // A token issued 31 s ago (signed with the edge's key): the wait is over.
    let prefix = client_prefix("127.0.0.1".parse().unwrap());
    let token =
        Signer::new(KEY.as_bytes()).challenge_token("forum", &prefix, unix_now() - 31, "n4", 8);
    let r = site
        .get(
            "forum.test",
            &format!("{SUBMIT}?token={token}&return=%2Ft%2F9"),
            None,
        )
        .await;
    assert_eq!(r.status(), 303, "{}", edge.log_text());
    assert_eq!(r.headers()["location"], "/t/9");
    let cookie = clearance_of(&r);
    assert_eq!(
        site.get("forum.test", "/t/9", Some(&cookie)).await.status(),
        200
    );
    // The Continue button's form (POST, no solution) is held to the same wait.
    let (fresh, _) = site.challenged("forum.test", "/").await;
    let r = site.submit("forum.test", &[("token", &fresh)]).await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        edge.metric("rempart_edge_challenges_solved_total{method=\"wait\",zone=\"forum\"}")
            .await,
        1.0
    );
    assert_eq!(
        edge.metric("rempart_edge_challenges_failed_total{reason=\"too_early\",zone=\"forum\"}")
            .await,
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_can_challenge_instead_of_refusing() {
    let dir = TempDir::new("challenge-ratelimit");
    let origin = Origin::plain("o").await;
    let config = settings(&dir)
        + &zone(
            "forum",
            &["forum.test"],
            &[&origin],
            "[[zone.rate_limit]]\nname = \"pages\"\nrequests = 1\nperiod_s = 3600\naction = \"challenge\"\n",
        );
    let edge = Edge::start(&dir, &config).await;
    let site = Site {
        edge: &edge,
        client: no_redirects(None),
    };
    assert_eq!(site.get("forum.test", "/", None).await.status(), 200);
    let r = site.get("forum.test", "/", None).await;
    assert_eq!(r.status(), 429, "over the limit: a challenge");
    assert!(r.headers().contains_key("retry-after"));
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let html = r.text().await.unwrap();
    let token = field(&html, "token");
    let r = site
        .submit(
            "forum.test",
            &[
                ("token", &token),
                ("solution", &solve(&token, 8)),
                ("return", "/"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let cookie = clearance_of(&r);
    // Still over the limit, but cleared.
    for _ in 0..3 {
        assert_eq!(
            site.get("forum.test", "/", Some(&cookie)).await.status(),
            200
        );
    }
    assert_eq!(origin.count(), 4);
    wait_decided_by(&edge, &request_id, "challenge").await;
    assert_eq!(
        edge.metric("rempart_edge_challenges_issued_total{trigger=\"rate_limit\",zone=\"forum\"}")
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_turns_on_above_the_threshold_and_off_when_calm() {
    let dir = TempDir::new("challenge-auto");
    let origin = Origin::plain("o").await;
    let config = settings(&dir)
        + &zone(
            "forum",
            &["forum.test"],
            &[&origin],
            "[zone.challenge]\nmode = \"auto\"\nthreshold_rps = 20\nrelease_rps = 5\ncool_down_s = 1\n",
        );
    let edge = Edge::start(&dir, &config).await;
    let active = "rempart_edge_challenge_mode_active{zone=\"forum\"}";
    assert_eq!(edge.metric(active).await, 0.0);
    let client = reqwest::Client::new();
    let status = |client: reqwest::Client| {
        let url = edge.url("/");
        async move {
            client
                .get(url)
                .header("host", "forum.test")
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(status(client.clone()).await, 200, "calm: no challenge");

    // A flood: batches of concurrent requests until the edge challenges.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let batch: Vec<_> = (0..10)
            .map(|_| tokio::spawn(status(client.clone())))
            .collect();
        let mut challenged = false;
        for b in batch {
            challenged |= b.await.unwrap() == 503;
        }
        if challenged {
            break;
        }
        assert!(Instant::now() < deadline, "never challenged");
    }
    assert_eq!(edge.metric(active).await, 1.0);

    // Calm: a slow trickle (well under release_rps) until challenges turn off.
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(client.clone()).await != 200 {
        assert!(Instant::now() < deadline, "challenges never turned off");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(edge.metric(active).await, 0.0);
    assert!(
        edge.metric("rempart_edge_challenges_issued_total{trigger=\"auto\",zone=\"forum\"}")
            .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_and_http2_the_clearance_cookie_is_secure() {
    let dir = TempDir::new("challenge-https");
    let pki = Pki::new();
    let (cert, key) = pki.leaf(&dir, "forum", &["forum.test"]);
    let origin = Origin::plain("o").await;
    let config = settings(&dir)
        + &zone(
            "forum",
            &["forum.test"],
            &[&origin],
            &format!(
                "tls = {{ cert = \"{}\", key = \"{}\" }}\nhttps_redirect = true\n[zone.challenge]\nmode = \"always\"\n",
                cert.display(),
                key.display()
            ),
        );
    let edge = Edge::start(&dir, &config).await;

    // Plain HTTP is redirected first, not challenged.
    let plain = no_redirects(None);
    let r = plain
        .get(edge.url("/a"))
        .header("host", "forum.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .resolve("forum.test", ([127, 0, 0, 1], edge.https).into())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://forum.test:{}", edge.https);
    let r = client.get(format!("{base}/a")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 503);
    let token = field(&r.text().await.unwrap(), "token");
    let r = client
        .post(format!("{base}{SUBMIT}"))
        .form(&[
            ("token", token.as_str()),
            ("solution", &solve(&token, 8)),
            ("return", "/a"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", edge.log_text());
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("; Secure"), "{set}");
    let cookie = clearance_of(&r);
    let r = client
        .get(format!("{base}/a"))
        .header("cookie", format!("a=1; rempart_clearance={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(origin.count(), 1);
}
