//! Two real `rempart desk` processes on one PostgreSQL database: `kill -9` of one during a
//! report flood loses no acknowledged report, and the audit chain written by both still
//! verifies. Skipped (with a message) when PostgreSQL is unreachable, except with `CI=true`.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

struct DeskProcess {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl DeskProcess {
    async fn start(dir: &TempDir, name: &str, database: &str) -> DeskProcess {
        let port = free_port();
        let config = dir.write(
            &format!("{name}.toml"),
            &format!(
                r#"
listen = "127.0.0.1:{port}"
public_url = "https://desk.test"
provider_name = "Test Provider"
database = "{database}"
key_dir = "{keys}"
[intake]
per_ip_per_minute = 1000000
[evidence]
enabled = false
[[edge_tokens]]
name = "edge"
sha256 = "{sha}"
"#,
                keys = dir.path("keys").display(),
                sha = "00".repeat(32),
            ),
        );
        let log = dir.path(&format!("{name}.log"));
        let child = Command::new(bin())
            .args(["desk", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn rempart desk");
        let mut desk = DeskProcess { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        loop {
            if let Ok(Some(status)) = desk.child.try_wait() {
                panic!(
                    "desk exited with {status}: {}",
                    std::fs::read_to_string(&desk.log).unwrap_or_default()
                );
            }
            let url = format!("http://127.0.0.1:{port}/healthz");
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return desk;
            }
            assert!(Instant::now() < deadline, "desk {name} never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for DeskProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_a_desk_during_a_report_flood_loses_no_acknowledged_report() {
    let Some(database) = rempart_desk::testkit::postgres_url().await else {
        return;
    };
    let dir = TempDir::new("multi-desk");
    // A first, alone: it creates the keys and migrates the schema.
    let mut a = DeskProcess::start(&dir, "desk-a", &database).await;
    let b = DeskProcess::start(&dir, "desk-b", &database).await;
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    // Eight clients, four on each desk, each filing reports until its desk stops answering.
    for c in 0..8 {
        let port = if c % 2 == 0 { a.port } else { b.port };
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let body = serde_json::json!({
                    "urls": [format!("http://site.test/c{c}/r{i}")], "category": "harassment",
                    "explanation": "Insults.", "notifier_name": "N",
                    "notifier_email": "n@example.org", "good_faith": true,
                });
                let Ok(resp) = client
                    .post(format!("http://127.0.0.1:{port}/api/v1/reports"))
                    .json(&body)
                    .send()
                    .await
                else {
                    return;
                };
                if resp.status() != 201 {
                    continue;
                }
                let Ok(v) = resp.json::<serde_json::Value>().await else {
                    return;
                };
                if let Some(r) = v["receipt"].as_str() {
                    acknowledged.lock().unwrap().push(r.to_string());
                }
            }
        }));
    }
    // Kill desk A in the middle of the flood.
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "the flood never got going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.child.kill().expect("kill -9 desk A");
    a.child.wait().expect("reap desk A");
    // Desk B keeps answering after A's death; then the flood stops.
    let at_kill = acknowledged.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged.lock().unwrap().len() < at_kill + 100 {
        assert!(Instant::now() < deadline, "desk B stopped answering");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client");
    }
    drop(b);

    let acknowledged = acknowledged.lock().unwrap().clone();
    let store = rempart_desk::store::Store::connect(&database)
        .await
        .expect("store");
    let stored: std::collections::HashSet<String> =
        sqlx::query_scalar::<_, String>("SELECT receipt FROM reports")
            .fetch_all(store.pool())
            .await
            .expect("receipts")
            .into_iter()
            .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|r| !stored.contains(*r))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged reports lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    // The chain both desks appended to, one of them killed mid-write, still verifies.
    let out = Command::new(bin())
        .args(["audit", "verify", "--config"])
        .arg(dir.path("desk-b.toml"))
        .output()
        .expect("audit verify");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
