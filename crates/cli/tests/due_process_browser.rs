//! Due process in a real browser (headless Chromium over WebDriver) against `rempart up`:
//! a customer signs into the portal, reads the statement of reasons of the seeded restriction
//! and appeals; a different senior analyst reverses it; the edge serves the URL again. Then an
//! analyst applies an emergency measure; the edge's 451 page links to its public notice, which
//! renders in English and French.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/setup --tests`); without them the
//! test says so and passes, except under `CI=true`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::browser::*;
use common::*;
use fantoccini::{Client, Locator};

async fn sign_in(c: &Client, desk: &str, user: &str, password: &str) -> String {
    c.goto(&format!("{desk}/login")).await.unwrap();
    fill(c, "#username", user).await;
    fill(c, "#password", password).await;
    click(c, "form[action='/login'] button[type=submit]").await;
    // The click may return before the navigation it starts: wait for the page to change.
    until(
        Duration::from_secs(10),
        "leaving the sign-in page",
        || async {
            let path = c.current_url().await.ok()?.path().to_string();
            (path != "/login").then_some(path)
        },
    )
    .await
}

/// Waits until the current page (after a form's navigation) contains `text`.
async fn page_with(c: &Client, what: &str, text: &str) -> String {
    until(Duration::from_secs(10), what, || async {
        let s = c.source().await.ok()?;
        s.contains(text).then_some(s)
    })
    .await
}

async fn sign_out(c: &Client) {
    click(c, "form[action='/logout'] button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_appeals_senior_reverses_and_an_emergency_measure_links_its_notice() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let dir = TempDir::new("due-process-browser");
    let http_client = reqwest::Client::new();
    let hc = &http_client;
    let up = Up::start(&dir, hc).await;
    let (http, desk) = (up.http, up.desk.clone());
    let (user, password, up_log) = (up.user.clone(), up.password.clone(), up.log.clone());
    let driver = Driver::start(&dir, &chromedriver);
    let c = driver
        .session(&chromium, &dir.path("chromium-profile"), true)
        .await;
    let result = scenario(&c, hc, &desk, http, &user, &password).await;
    let _ = c.close().await;
    if let Err(e) = result {
        panic!("{e}\n--- rempart up ---\n{}", log_of(&up_log));
    }
}

async fn scenario(
    c: &Client,
    hc: &reqwest::Client,
    desk: &str,
    http: u16,
    admin: &str,
    admin_password: &str,
) -> Result<(), String> {
    let edge = |path: &'static str| {
        let hc = hc.clone();
        async move {
            hc.get(format!("http://127.0.0.1:{http}{path}"))
                .header("host", "forum.localhost")
                .send()
                .await
                .ok()
                .map(|r| r.status().as_u16())
        }
    };
    // The admin creates a senior analyst and the forum's owner (a customer).
    let home = sign_in(c, desk, admin, admin_password).await;
    if home != "/queue" {
        return Err(format!("admin sign-in landed on {home}"));
    }
    c.goto(&format!("{desk}/admin")).await.unwrap();
    fill(c, "#username", "sam").await;
    select(c, "#role", "senior_analyst").await;
    click(c, "form[action='/admin/users'] button[type=submit]").await;
    let sam_password = text_of(c, "#password").await;
    c.goto(&format!("{desk}/admin/customers")).await.unwrap();
    fill(c, "#username", "owner").await;
    fill(c, "#email", "owner@forum.example").await;
    fill(c, "#zones", "forum.localhost").await;
    click(c, "form[action='/admin/customers'] button[type=submit]").await;
    let owner_password = text_of(c, "#password").await;
    sign_out(c).await;

    // The customer reads the statement of reasons of the seeded restriction (/t/2) and appeals.
    let home = sign_in(c, desk, "owner", &owner_password).await;
    if home != "/portal" {
        return Err(format!("the customer landed on {home}"));
    }
    click(c, "#notices a[href^='/portal/decisions/']").await;
    let statement = text_of(c, "#statement").await;
    for want in [
        "Statement of reasons",
        "Territorial scope",
        "Redress",
        "https://forum.localhost/t/2",
    ] {
        if !statement.contains(want) {
            return Err(format!("the statement lacks {want:?}: {statement}"));
        }
    }
    fill(
        c,
        "#grounds",
        "This thread is our own staff directory, published with consent.",
    )
    .await;
    click(c, "#appeal button[type=submit]").await;
    page_with(c, "the appeal, pending", "pending: decided by a person").await;
    sign_out(c).await;

    // A senior analyst who did not take the decision reverses it; the edge serves /t/2 again.
    assert_eq!(edge("/t/2").await, Some(451));
    sign_in(c, desk, "sam", &sam_password).await;
    c.goto(&format!("{desk}/due")).await.unwrap();
    fill(
        c,
        "#appeals textarea[name=reasons]",
        "Consent of the people listed was shown.",
    )
    .await;
    click(c, "#appeals button[value=reversed]").await;
    until(
        Duration::from_secs(30),
        "/t/2 served again after the reversal",
        || async { (edge("/t/2").await == Some(200)).then_some(()) },
    )
    .await;

    // An emergency measure for a threat to life, applied by one analyst.
    let report = hc
        .post(format!("{desk}/api/v1/reports"))
        .json(&serde_json::json!({
            "urls": ["https://forum.localhost/t/5"], "category": "threat_to_life",
            "explanation": "The post says he will shoot his ex-wife at her work tonight.",
            "notifier_name": "Camille Notifier", "notifier_email": "camille@example.org", "good_faith": true,
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if report.status() != 201 {
        return Err(format!("report: {}", report.status()));
    }
    c.goto(&format!("{desk}/queue")).await.unwrap();
    click(c, "#queue a").await;
    select(c, "#action", "restrict_url").await;
    fill(c, "#scope", "https://forum.localhost/t/5").await;
    select(c, "#ground_kind", "legal").await;
    fill(
        c,
        "#ground",
        "A threat to kill a person, a criminal offence.",
    )
    .await;
    fill(
        c,
        "#facts",
        "Reported through the form; the post names the place and the time.",
    )
    .await;
    select(c, "#category", "threat_to_life").await;
    fill(
        c,
        "#explanation",
        "The post threatens a person's life at a named place tonight.",
    )
    .await;
    click(c, "#emergency").await;
    click(c, "#decide button[type=submit]").await;
    page_with(
        c,
        "the emergency countdown on the case page",
        "unless confirmed",
    )
    .await;
    until(Duration::from_secs(30), "451 for /t/5", || async {
        (edge("/t/5").await == Some(451)).then_some(())
    })
    .await;
    // The 451 page links to the notice, which renders in both languages.
    c.goto(&format!("http://forum.localhost:{http}/t/5"))
        .await
        .unwrap();
    let link = c
        .find(Locator::Css("a[href*='/notices/']"))
        .await
        .map_err(|e| format!("no notice link on the 451 page: {e}"))?;
    link.click().await.unwrap();
    let en = c.source().await.unwrap();
    for want in [
        "Notice of restriction",
        "Emergency measure",
        "Access to one URL restricted",
        "In force",
    ] {
        if !en.contains(want) {
            return Err(format!("the English notice lacks {want:?}:\n{en}"));
        }
    }
    click(c, "a[hreflang=fr]").await;
    let fr = c.source().await.unwrap();
    for want in [
        "Avis de restriction",
        "Mesure d'urgence",
        "Accès à une URL restreint",
        "En vigueur",
    ] {
        if !fr.contains(want) {
            return Err(format!("the French notice lacks {want:?}:\n{fr}"));
        }
    }
    for page in [&en, &fr] {
        if page.contains("Camille") || page.contains("camille@") {
            return Err("the notice shows the notifier".into());
        }
    }
    Ok(())
}

/// The session cookie of a `Set-Cookie` header set.
fn set_cookie_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()?
                .strip_prefix(&format!("{name}="))
                .map(str::to_string)
        })
}

fn csrf_in(body: &str) -> String {
    let i =
        body.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
    body[i..].split('"').next().unwrap_or_default().to_string()
}

/// An emergency measure nobody confirms: the real edge answers 451, then, at the measure's
/// expiry, serves the URL again by itself (the policy's `ends_at`), with the desk stopped
/// before the expiry so that nothing but the edge's own clock can lift it. No browser needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_stops_enforcing_an_unconfirmed_emergency_measure_at_its_expiry_even_cut_off() {
    let dir = TempDir::new("emergency-lapse");
    let origin = Origin::plain("forum").await;
    // The desk, in this process, with a short expiry; the edge, the real binary, polls it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let desk_addr = listener.local_addr().unwrap();
    let desk_url = format!("http://{desk_addr}");
    let token = "edge-token-for-the-lapse-test";
    let config = format!(
        "listen = \"{desk_addr}\"\npublic_url = \"{desk_url}\"\nprovider_name = \"Example Provider\"\n\
         database = \"sqlite://{}\"\nkey_dir = \"{}\"\nlong_poll_seconds = 5\n\
         [evidence]\nenabled = false\n[due_process]\nemergency_expiry_seconds = 20\n\
         [[edge_tokens]]\nname = \"edge-1\"\nsha256 = \"{}\"\n",
        dir.path("desk.db").display(),
        dir.path("keys").display(),
        hex::encode(rempart_desk::edge_token_sha256(token)),
    );
    let config = rempart_desk::DeskConfig::from_toml(&config, Path::new("desk.toml")).unwrap();
    let desk = rempart_desk::Desk::open(config).await.unwrap();
    let password = desk
        .create_user("alice", rempart_desk::store::Role::Analyst)
        .await
        .unwrap();
    let running = desk.start_on(listener).await.unwrap();
    dir.write("edge-token", token);
    let edge = Edge::start(
        &dir,
        &format!(
            "[policy]\ndesk_url = \"{desk_url}/api/v1/policy\"\ndesk_token_file = \"{}\"\ncache_file = \"{}\"\n\n{}",
            dir.path("edge-token").display(),
            dir.path("policy-cache.json").display(),
            zone("forum", &["forum.example"], &[&origin], "")
        ),
    )
    .await;
    let hc = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let status = |path: &'static str| {
        let hc = hc.clone();
        let url = edge.url(path);
        async move {
            hc.get(url)
                .header("host", "forum.example")
                .send()
                .await
                .ok()
                .map(|r| r.status().as_u16())
        }
    };
    assert_eq!(status("/live").await, Some(200));

    // A threat-to-life report, and an analyst's emergency measure, through the desk's HTTP.
    let r = hc
        .post(format!("{desk_url}/api/v1/reports"))
        .json(&serde_json::json!({
            "urls": ["https://forum.example/live"], "category": "threat_to_life",
            "explanation": "He says he will kill her tonight.", "notifier_name": "Camille Notifier",
            "notifier_email": "camille@example.org", "good_faith": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let page = hc.get(format!("{desk_url}/login")).send().await.unwrap();
    let login_csrf = set_cookie_value(&page, "rempart_login_csrf").unwrap();
    let r = hc
        .post(format!("{desk_url}/login"))
        .header("cookie", format!("rempart_login_csrf={login_csrf}"))
        .form(&[
            ("username", "alice"),
            ("password", password.as_str()),
            ("csrf", login_csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = format!(
        "rempart_session={}",
        set_cookie_value(&r, "rempart_session").unwrap()
    );
    let queue: serde_json::Value = hc
        .get(format!("{desk_url}/api/v1/queue"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let case = queue[0]["id"].as_str().unwrap().to_string();
    let body = hc
        .get(format!("{desk_url}/cases/{case}"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&body);
    let r = hc
        .post(format!("{desk_url}/cases/{case}/decisions"))
        .header("cookie", &session)
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "restrict_url"),
            ("scope", "https://forum.example/live"),
            ("ground_kind", "legal"),
            ("ground", "A threat to kill a person."),
            ("facts", "Reported through the API."),
            ("category", "threat_to_life"),
            ("explanation", "The post threatens a person's life tonight."),
            ("territorial_scope", "EEA"),
            ("automated_detection", "no"),
            ("automated_decision", "not_automated"),
            ("emergency", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let (_, doc) = running_policy(&desk_url, token).await;
    let policy = rempart_policy::Policy::from_json(&doc).unwrap();
    let ends_at = policy.restrictions[0]
        .ends_at
        .expect("an emergency measure carries its expiry");

    // The edge enforces it…
    until(Duration::from_secs(15), "451 for /live", || async {
        (status("/live").await == Some(451)).then_some(())
    })
    .await;
    assert!(
        chrono::Utc::now() < ends_at,
        "the measure was seen before its expiry"
    );
    // …the desk goes away (the edge keeps its last policy)…
    running.shutdown().await;
    // …and at the expiry the edge serves the URL again by itself.
    let served_at = until(
        Duration::from_secs(60),
        "200 for /live after the expiry",
        || async { (status("/live").await == Some(200)).then(chrono::Utc::now) },
    )
    .await;
    assert!(
        served_at >= ends_at,
        "served again at {served_at}, before the expiry {ends_at}"
    );
    assert_eq!(status("/other").await, Some(200));
}

/// The desk's current policy, as an edge fetches it.
async fn running_policy(desk_url: &str, token: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("{desk_url}/api/v1/policy?after=0"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}
