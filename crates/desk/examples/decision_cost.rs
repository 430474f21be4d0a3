//! What recording a restrictive decision costs with many restrictions in force (issue 4 §7 at
//! scale): the store call the desk's decision API makes (`Store::record_decision`: the
//! decision, its statement, its audit entry and the new policy version, one transaction).
//!
//! `cargo run --release -p rempart-desk --example decision_cost -- [sqlite|postgres] [in_force=100000] [decisions=100]`
//!
//! Puts `in_force` restrictions in force (the bench-only bulk path), then records `decisions`
//! decisions one after the other, each restricting a new URL, and prints the wall time per
//! call (p50, p99, max) and the CPU per call: this process's (all of it on SQLite), and on
//! PostgreSQL also the server's, read from /proc for the backends of this run's connections
//! (found by their `application_name`). PostgreSQL uses `REMPART_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`) with a fresh schema.

use std::time::{Duration, Instant};

use rempart_desk::decision::PolicyContext;
use rempart_desk::store::{Actor, Store, SubmitOutcome};

const APP: &str = "rempart_decision_cost";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let engine = args.get(1).map_or("sqlite", String::as_str);
    let in_force: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let decisions: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
    let database = match engine {
        "postgres" => format!(
            "{}&application_name={APP}",
            rempart_desk::testkit::postgres_url()
                .await
                .ok_or_else(|| anyhow::anyhow!("PostgreSQL unreachable"))?
        ),
        _ => rempart_desk::testkit::sqlite_url(),
    };
    let store = Store::connect(&database).await?;
    let ctx = PolicyContext {
        public_url: "https://desk.example".into(),
        implemented_by: "Provider".into(),
    };
    let now = chrono::Utc::now().timestamp_millis();
    let actor = |at: i64| Actor {
        name: "user:bench".into(),
        at,
    };
    let report = rempart_desk::testkit::doxxing_report("site.example", now + 3_600_000);
    let case_id = match store.submit_report(&report, &actor(now)).await? {
        SubmitOutcome::Created { case_id, .. } => case_id,
        other => anyhow::bail!("unexpected {other:?}"),
    };
    let t = Instant::now();
    let urls: Vec<String> = (0..in_force)
        .map(|i| format!("https://site.example/seed/{i}"))
        .collect();
    if in_force > 0 {
        store
            .bulk_restrict(&case_id, &urls, &actor(now), &ctx)
            .await?;
    }
    println!(
        "{engine}: {in_force} restrictions put in force in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    // One decision first, so that what is done once after a bulk load is not measured.
    let decide = |i: usize, at: i64| {
        let url = format!("https://site.example/d/{i}");
        rempart_desk::testkit::restrict_url(&case_id, &url, at, None)
    };
    store
        .record_decision(&decide(0, now + 1), &actor(now + 1), &ctx)
        .await?;
    let server_before = server_cpu(&store, engine).await;
    let cpu_before = cpu_seconds("self");
    let mut lat: Vec<Duration> = Vec::with_capacity(decisions);
    for i in 1..=decisions {
        let at = now + 1 + i as i64;
        let t = Instant::now();
        let (_, v) = store
            .record_decision(&decide(i, at), &actor(at), &ctx)
            .await?;
        lat.push(t.elapsed());
        anyhow::ensure!(v.is_some(), "no policy version issued");
    }
    let cpu = cpu_seconds("self").zip(cpu_before).map(|(a, b)| a - b);
    let server = match (server_before, server_cpu(&store, engine).await) {
        (Some(before), Some(after)) => Some(
            after
                .iter()
                .map(|(pid, c)| c - before.iter().find(|(p, _)| p == pid).map_or(0.0, |b| b.1))
                .sum::<f64>(),
        ),
        _ => None,
    };
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let per = |c: f64| c * 1e3 / decisions as f64;
    println!(
        "{engine}: {decisions} decisions with {in_force} in force: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         CPU per decision: this process {} ms{}; load average {}",
        ms(p(0.5)),
        ms(p(0.99)),
        ms(lat[lat.len() - 1]),
        cpu.map_or("?".into(), |c| format!("{:.2}", per(c))),
        server.map_or(String::new(), |c| format!(", PostgreSQL backends {:.2} ms", per(c))),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    Ok(())
}

/// User + system CPU seconds of a process (`self` or a pid) so far, from /proc.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds of the PostgreSQL backends serving this run's connections, by pid.
async fn server_cpu(store: &Store, engine: &str) -> Option<Vec<(i64, f64)>> {
    if engine != "postgres" {
        return None;
    }
    let pids: Vec<i64> = sqlx::query_scalar(
        "SELECT CAST(pid AS BIGINT) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(APP)
    .fetch_all(store.pool())
    .await
    .ok()?;
    pids.into_iter()
        .map(|p| Some((p, cpu_seconds(&p.to_string())?)))
        .collect()
}
