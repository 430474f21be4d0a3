//! End-to-end tests of the request rules (`[[rule]]`, `[[zone.rule]]`): the real `rempart`
//! binary, a real origin, clients bound to distinct loopback addresses.

mod common;

use common::*;

/// Waits until the edge's log contains `needle` (log lines are written after the response).
async fn wait_log(edge: &Edge, needle: &str) {
    edge.wait_for_log(needle, &format!("log never showed {needle}"))
        .await;
}

const RULES: &str = r#"
[[zone.rule]]
id = "admin"
description = "The admin area is not public"
expr = 'http.path starts_with "/admin"'
action = "block"

[[zone.rule]]
id = "bad-bot"
expr = 'http.header["User-Agent"] contains "BadBot" and http.method in {"GET" "HEAD"}'
action = "block"
status = 410

[[zone.rule]]
id = "lab"
expr = "ip.src in {127.0.0.9/32 2001:db8::/32}"
action = "block"

[[zone.rule]]
id = "watch-api"
expr = 'http.path starts_with "/api/" and not ssl'
action = "log"

[[zone.rule]]
id = "suspicious"
expr = 'http.query matches r"(?i)union(%20|\+|\s)+select"'
action = "challenge"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_block_by_path_header_and_address_log_and_reload() {
    let dir = TempDir::new("rules");
    let o = Origin::plain("o").await;
    let cfg = format!(
        "[[rule]]\nid = \"no-delete\"\nexpr = 'http.method == \"DELETE\"'\naction = \"block\"\n\n{}{RULES}",
        zone("z", &["z.test"], &[&o], "")
    );
    let edge = Edge::start(&dir, &cfg).await;
    let c = reqwest::Client::new();
    let get = |path: &str| c.get(edge.url(path)).header("host", "z.test");

    // Block by path: 403 page, never reaches the origin.
    let r = get("/admin/users").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Request refused"));
    wait_log(&edge, "\"decided_by\":\"rule:admin\"").await;
    assert_eq!(get("/adminx").send().await.unwrap().status(), 403);
    assert_eq!(get("/public/admin").send().await.unwrap().status(), 200);

    // Header match, case-insensitive name, with the configured status; French page asked.
    let r = get("/")
        .header("user-agent", "Mozilla/5.0 BadBot/2")
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    assert!(r.text().await.unwrap().contains("Requête refusée"));
    let r = c
        .post(edge.url("/"))
        .header("host", "z.test")
        .header("user-agent", "BadBot")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "POST is not in the rule's methods");

    // CIDR match: only the client bound to 127.0.0.9.
    let r = edge.get_from([127, 0, 0, 9], "z.test", "/").await;
    assert_eq!(r.status(), 403);
    let r = edge.get_from([127, 0, 0, 10], "z.test", "/").await;
    assert_eq!(r.status(), 200);

    // Provider-wide rules come first.
    let r = c
        .delete(edge.url("/admin"))
        .header("host", "z.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    wait_log(&edge, "\"decided_by\":\"rule:no-delete\"").await;

    // A log rule records the match and lets the request through.
    assert_eq!(get("/api/items").send().await.unwrap().status(), 200);
    wait_log(&edge, "\"rules_logged\":\"watch-api\"").await;

    // Challenge, with a regex on the query: the proof-of-work page, not the origin.
    let r = get("/search?q=1%20UNION%20%20SELECT%20x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("/.rempart/challenge"),
        "challenge page expected: {page}"
    );
    let r = get("/search?q=union").send().await.unwrap();
    assert_eq!(r.status(), 200);

    let before = o.count();
    assert_eq!(get("/admin").send().await.unwrap().status(), 403);
    assert_eq!(o.count(), before, "blocked requests never reach the origin");

    let m = edge.metrics().await;
    for series in [
        "rempart_edge_rule_matches_total{action=\"block\",rule=\"admin\",zone=\"z\"} 3",
        "rempart_edge_rule_matches_total{action=\"block\",rule=\"bad-bot\",zone=\"z\"} 1",
        "rempart_edge_rule_matches_total{action=\"block\",rule=\"lab\",zone=\"z\"} 1",
        "rempart_edge_rule_matches_total{action=\"block\",rule=\"no-delete\",zone=\"z\"} 1",
        "rempart_edge_rule_matches_total{action=\"log\",rule=\"watch-api\",zone=\"z\"} 1",
        "rempart_edge_rule_matches_total{action=\"challenge\",rule=\"suspicious\",zone=\"z\"} 1",
    ] {
        assert!(m.contains(series), "{series} missing:\n{m}");
    }

    // Rules reload with the configuration: without the admin rule, /admin is proxied.
    let text = std::fs::read_to_string(&edge.config).unwrap();
    std::fs::write(
        &edge.config,
        text.replace("http.path starts_with \"/admin\"", "http.path == \"/gone\""),
    )
    .unwrap();
    edge.signal("HUP");
    edge.wait_metric(
        "rempart_edge_reloads_total{outcome=\"ok\",what=\"config\"}",
        1.0,
    )
    .await;
    assert_eq!(get("/admin").send().await.unwrap().status(), 200);
    assert_eq!(get("/gone").send().await.unwrap().status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_rules_bypass_rate_limits_and_rate_limit_rules_count_only_their_requests() {
    let dir = TempDir::new("rules-allow");
    let o = Origin::plain("o").await;
    let cfg = format!(
        r#"[lists]
office = ["127.0.0.7", "2001:db8::/48"]

{}
[[zone.rate_limit]]
name = "pages"
requests = 2
period_s = 600
burst = 1
path_prefix = "/p/"

[[zone.rate_limit]]
name = "logins"
requests = 1
period_s = 600

[[zone.rule]]
id = "office"
expr = "ip.src in $office"
action = "allow"

[[zone.rule]]
id = "login-limit"
expr = 'http.path == "/login" and http.method == "POST"'
action = "rate_limit"
rate_limit = "logins"
"#,
        zone("z", &["z.test"], &[&o], "")
    );
    let edge = Edge::start(&dir, &cfg).await;
    let send = |c: &reqwest::Client, method: reqwest::Method, path: &str| {
        c.request(method, edge.url(path))
            .header("host", "z.test")
            .send()
    };
    use reqwest::Method;
    let visitor = client_from([127, 0, 0, 6]);
    // The rule's limit: one POST /login, then 429 decided by the rule.
    assert_eq!(
        send(&visitor, Method::POST, "/login")
            .await
            .unwrap()
            .status(),
        200
    );
    let r = send(&visitor, Method::POST, "/login").await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    wait_log(&edge, "\"decided_by\":\"rule:login-limit\"").await;
    // GET /login is not sent to that limit, and "logins" does not count other requests.
    assert_eq!(
        send(&visitor, Method::GET, "/login")
            .await
            .unwrap()
            .status(),
        200
    );
    // The general limit still applies to everyone else: two pages, then 429.
    for _ in 0..2 {
        assert_eq!(
            send(&visitor, Method::GET, "/p/1").await.unwrap().status(),
            200
        );
    }
    assert_eq!(
        send(&visitor, Method::GET, "/p/1").await.unwrap().status(),
        429
    );

    // The office address is allowed: no rate limit applies to it.
    let office = client_from([127, 0, 0, 7]);
    for _ in 0..5 {
        assert_eq!(
            send(&office, Method::GET, "/p/1").await.unwrap().status(),
            200
        );
        assert_eq!(
            send(&office, Method::POST, "/login")
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let m = edge.metrics().await;
    assert!(
        m.contains(
            "rempart_edge_rule_matches_total{action=\"allow\",rule=\"office\",zone=\"z\"} 10"
        ),
        "{m}"
    );
    assert!(
        m.contains(
            "rempart_edge_rule_matches_total{action=\"rate_limit\",rule=\"login-limit\",zone=\"z\"} 2"
        ),
        "{m}"
    );
}

#[test]
fn check_config_points_into_the_expression() {
    let dir = TempDir::new("rules-check");
    let base = "[listen]\nhttp = [\"127.0.0.1:8080\"]\n\n[[zone]]\nname = \"z\"\nhosts = [\"z.test\"]\n[[zone.origin]]\naddress = \"127.0.0.1:9\"\n";
    let check = |name: &str, text: &str| {
        let file = dir.write(name, text);
        let out = std::process::Command::new(bin())
            .args(["check-config"])
            .arg(&file)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Line 10 holds the expression; its value starts at column 8.
    let (code, err) = check(
        "bad.toml",
        &format!(
            "{base}[[zone.rule]]\nexpr = 'http.path == \"/x\" and'\naction = \"block\"\n\n[[zone.rule]]\nid = \"r2\"\nexpr = \"ip.src in $staff\"\naction = \"block\"\n"
        ),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("bad.toml:10:8: rule '1': expression error at 1:22 (line:column in the expression): expected a field"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml:15:8: rule 'r2': expression error at 1:11"),
        "{err}"
    );
    assert!(err.contains("unknown list $staff"), "{err}");

    let (code, err) = check(
        "action.toml",
        &format!(
            "{base}[[zone.rule]]\nexpr = \"ssl\"\naction = \"rate_limit\"\nrate_limit = \"nope\"\n"
        ),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("action.toml:12:14: rule '1': no [[rate_limit]] named 'nope'"),
        "{err}"
    );

    let (code, err) = check(
        "good.toml",
        &format!(
            "[lists]\nstaff = [\"10.0.0.0/8\"]\n\n{base}[[zone.rule]]\nexpr = 'ip.src in $staff or http.header[\"x-debug\"] == \"1\"'\naction = \"allow\"\n"
        ),
    );
    assert_eq!(code, Some(0), "{err}");
}
