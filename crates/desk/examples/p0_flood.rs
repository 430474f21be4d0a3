//! P0 paging and queue position while a campaign floods the intake, over loopback against a
//! real desk (durable commits, evidence fetches on, through a local origin).
//!
//! `cargo run --release -p rempart-desk --example p0_flood -- [sqlite|postgres] [seconds] [flood_per_s] [p0_count]`
//!
//! A campaign of near-identical harassment reports is sent at `flood_per_s` for `seconds`;
//! meanwhile `p0_count` threat-to-life reports, evenly spaced, are sent on other hosts. For each
//! P0: the time from its submission to (a) the desk's signed webhook arriving at a local
//! receiver and (b) its case being first in the queue (`GET /api/v1/queue` polled every 10 ms
//! with an analyst token). Bounded in count and time; sends only to 127.0.0.1.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rempart_desk::{Desk, DeskConfig};

type Seen = Arc<Mutex<HashMap<String, Instant>>>;

static FAILS: AtomicUsize = AtomicUsize::new(0);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let engine = args.get(1).map_or("sqlite", String::as_str).to_string();
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let rate: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let p0_count: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(20);
    let database = match engine.as_str() {
        "postgres" => rempart_desk::testkit::postgres_url()
            .await
            .ok_or_else(|| anyhow::anyhow!("PostgreSQL unreachable"))?,
        _ => rempart_desk::testkit::sqlite_url(),
    };

    // The webhook receiver records when each P0 case's page arrives.
    let hooks: Seen = Arc::default();
    let h = hooks.clone();
    let hook_app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let h = h.clone();
            async move {
                let at = Instant::now();
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    if let Some(r) = v["receipt"].as_str() {
                        h.lock().unwrap().entry(r.to_string()).or_insert(at);
                    }
                }
                "ok"
            }
        }),
    );
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_addr = hook_listener.local_addr()?;
    tokio::spawn(async move { axum::serve(hook_listener, hook_app).await });

    // A local origin for the evidence fetches.
    let origin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin_addr = origin_listener.local_addr()?;
    tokio::spawn(async move {
        axum::serve(
            origin_listener,
            axum::Router::new().fallback(|| async { "<h1>post</h1>" }),
        )
        .await
    });

    let dir = rempart_desk::testkit::temp_dir("flood");
    let text = format!(
        "listen = \"127.0.0.1:0\"\npublic_url = \"http://127.0.0.1\"\nprovider_name = \"Flood\"\n\
         database = \"{database}\"\nkey_dir = \"{}\"\n[intake]\nper_ip_per_minute = 1000000000\n\
         [evidence]\nenabled = true\nvia = \"{origin_addr}\"\ntimeout_ms = 2000\n\
         [paging]\nwebhook_url = \"http://{hook_addr}/hook\"\nwebhook_secret = \"flood-bench-secret-0123456789\"\n",
        dir.join("keys").display()
    );
    let config = DeskConfig::from_toml(&text, std::path::Path::new("flood.toml"))?;
    let desk = Desk::open(config).await?;
    desk.create_admin("bench").await?;
    let store = desk.store().clone();
    let token = api_token(&store).await?;
    let running = desk.start().await?;
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    // The flood: `rate` reports per second, one task per report slot, paced by an interval.
    let url = format!("{base}/api/v1/reports");
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let flood = {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut sent = 0u64;
            let mut ok = 0u64;
            let mut tasks = tokio::task::JoinSet::new();
            let limit = Arc::new(tokio::sync::Semaphore::new(256));
            while Instant::now() < end {
                tick.tick().await;
                sent += 1;
                let (client, url) = (client.clone(), url.clone());
                // At most 256 requests in flight (sockets); past that the flood waits.
                let permit = limit.clone().acquire_owned().await.expect("semaphore");
                tasks.spawn(async move {
                    let _permit = permit;
                    let body = serde_json::json!({
                        "urls": [format!("https://target.example/post/{}", sent % 10)],
                        "category": "harassment",
                        "explanation": format!("This user is a criminal, take the site down now! #{sent}"),
                        "notifier_name": "Campaign", "notifier_email": format!("c{sent}@example.org"),
                        "good_faith": true,
                    });
                    match client.post(&url).json(&body).send().await {
                        Ok(r) if r.status() == 201 => true,
                        Ok(r) => {
                            if FAILS.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("flood report refused: {}", r.status());
                            }
                            false
                        }
                        Err(e) => {
                            if FAILS.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("flood report failed: {e}");
                            }
                            false
                        }
                    }
                });
                while let Some(r) = tasks.try_join_next() {
                    ok += u64::from(r.unwrap_or(false));
                }
            }
            while let Some(r) = tasks.join_next().await {
                ok += u64::from(r.unwrap_or(false));
            }
            (sent, ok)
        })
    };

    // The P0 reports, evenly spaced after a second of flood; each on its own host.
    let mut page_lat = Vec::new();
    let mut top_lat = Vec::new();
    let gap = Duration::from_millis((seconds.saturating_sub(2) * 1000) / p0_count.max(1) as u64);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in 0..p0_count {
        let host = format!("victim{i}.example");
        let body = serde_json::json!({
            "urls": [format!("https://{host}/threat")],
            "category": "threat_to_life",
            "explanation": format!("A post announces an attack on a named person tonight ({i})."),
            "notifier_name": "Witness", "notifier_email": format!("w{i}@example.org"), "good_faith": true,
        });
        let sent = Instant::now();
        let r = client.post(&url).json(&body).send().await?;
        anyhow::ensure!(r.status() == 201, "P0 refused: {}", r.status());
        let receipt = r.json::<serde_json::Value>().await?["receipt"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let deadline = sent + Duration::from_secs(10);
        let mut top = None;
        let mut paged = None;
        while (top.is_none() || paged.is_none()) && Instant::now() < deadline {
            if top.is_none() {
                let q: serde_json::Value = client
                    .get(format!("{base}/api/v1/queue"))
                    .bearer_auth(&token)
                    .send()
                    .await?
                    .json()
                    .await?;
                let first = q[0]["host"].as_str();
                if first == Some(host.as_str()) {
                    top = Some(sent.elapsed());
                }
            }
            if paged.is_none() {
                paged = hooks.lock().unwrap().get(&receipt).map(|at| *at - sent);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        page_lat.push(paged.unwrap_or(Duration::from_secs(10)));
        top_lat.push(top.unwrap_or(Duration::from_secs(10)));
        // An analyst opens the case (first review), so that the next P0 can be on top.
        let at = chrono::Utc::now().timestamp_millis();
        let actor = rempart_desk::store::Actor {
            name: "user:bench".into(),
            at,
        };
        for c in store.queue(at, 50).await? {
            if c.host == host {
                store.mark_reviewed(&c.id, &actor).await?;
            }
        }
        let next = sent + gap;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }
    let (sent, ok) = flood.await?;
    let elapsed = started.elapsed().as_secs_f64();
    page_lat.sort();
    top_lat.sort();
    let p = |v: &[Duration], q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    println!(
        "{engine}: flood {sent} sent, {ok} accepted in {elapsed:.1}s ({:.0}/s); P0 x{}: paged p50 {:?} p99 {:?} max {:?}; top of queue p50 {:?} p99 {:?} max {:?}",
        ok as f64 / elapsed,
        page_lat.len(),
        p(&page_lat, 0.5),
        p(&page_lat, 0.99),
        page_lat[page_lat.len() - 1],
        p(&top_lat, 0.5),
        p(&top_lat, 0.99),
        top_lat[top_lat.len() - 1],
    );
    running.shutdown().await;
    Ok(())
}

/// An API token for the admin, for the queue API.
async fn api_token(store: &rempart_desk::store::Store) -> anyhow::Result<String> {
    use sha2::Digest;
    let token = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let user = store
        .user_by_name("bench")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no bench user"))?;
    let actor = rempart_desk::store::Actor {
        name: "system".into(),
        at: chrono::Utc::now().timestamp_millis(),
    };
    let hash = hex::encode(sha2::Sha256::digest(token.as_bytes()));
    store
        .create_api_token(&hash, &user, "bench", &actor)
        .await?;
    Ok(token)
}
