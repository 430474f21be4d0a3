//! Intake throughput and latency over loopback against a real desk (durable commits).
//!
//! `cargo run --release -p rempart-desk --example intake_load -- [sqlite|postgres] [reports] [concurrency]`
//! PostgreSQL uses `REMPART_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`)
//! with a fresh schema. Bounded in count; sends only to 127.0.0.1.

use std::time::{Duration, Instant};

use rempart_desk::{Desk, DeskConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let engine = args.get(1).map_or("sqlite", String::as_str);
    let total: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let concurrency: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(32);
    let database = match engine {
        "postgres" => rempart_desk::testkit::postgres_url()
            .await
            .ok_or_else(|| anyhow::anyhow!("PostgreSQL unreachable"))?,
        _ => rempart_desk::testkit::sqlite_url(),
    };
    let dir = rempart_desk::testkit::temp_dir("load");
    let text = format!(
        "listen = \"127.0.0.1:0\"\npublic_url = \"http://127.0.0.1\"\nprovider_name = \"Load\"\n\
         database = \"{database}\"\nkey_dir = \"{}\"\n[intake]\nper_ip_per_minute = 1000000000\n\
         [evidence]\nenabled = false\n",
        dir.join("keys").display()
    );
    let config = DeskConfig::from_toml(&text, std::path::Path::new("load.toml"))?;
    let running = Desk::open(config).await?.start().await?;
    let url = format!("http://{}/api/v1/reports", running.addr);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let started = Instant::now();
    let cpu_before = process_cpu_seconds();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = w;
            while i < total {
                let body = serde_json::json!({
                    "urls": [format!("https://site{}.example/post/{i}", i % 97)],
                    "category": "harassment", "explanation": format!("report number {i}"),
                    "notifier_name": "Load", "notifier_email": format!("n{i}@example.org"), "good_faith": true,
                });
                let t = Instant::now();
                let resp = client.post(&url).json(&body).send().await.expect("send");
                assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap_or_default());
                lat.push(t.elapsed());
                i += concurrency;
            }
            lat
        }));
    }
    let mut all: Vec<Duration> = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    all.sort();
    let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    // CPU of this process (desk and load generator together; PostgreSQL's server is not
    // counted): on a shared machine, throughput is bounded by the CPU the run gets, and this
    // says what the intake costs whatever the load.
    let cpu_note = cpu.map_or(String::new(), |c| {
        format!(
            "; process CPU {c:.2}s = {:.0} µs/report",
            c * 1e6 / all.len() as f64
        )
    });
    println!(
        "{engine}: {} reports in {:.2}s = {:.0} reports/s; p50 {:?}, p99 {:?}, max {:?} (concurrency {concurrency}){cpu_note}",
        all.len(),
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        p(0.5),
        p(0.99),
        all[all.len() - 1]
    );
    running.shutdown().await;
    Ok(())
}

/// User + system CPU seconds of this process so far (Linux; `None` elsewhere).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
