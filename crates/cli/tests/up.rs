//! `rempart up`: the single-process demo — origin, desk and edge — works end to end, and the
//! desk's policy reaches the edge over its authenticated long-poll channel.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

struct Up(std::process::Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for(url: &str, want: u16, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(url).await {
            if r.status().as_u16() == want {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} never answered {want}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A base port whose eleven ports `up` may use are free now. `up` takes consecutive ports, so
/// the base is searched below Linux's ephemeral range (32768+ by default), where outgoing
/// connections of other processes cannot take them between this check and `up`'s bind.
fn free_port_run() -> u16 {
    let start = 20_000 + (std::process::id() % 10_000) as u16;
    (0..200u16)
        .map(|i| 20_000 + (start - 20_000 + i * 53) % 12_000)
        .find(|&base| {
            (base..=base + 10).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        })
        .expect("eleven consecutive free ports below 32768")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_runs_origin_desk_and_edge_with_the_desks_policy() {
    let dir = TempDir::new("up");
    let base = free_port_run();
    let log = dir.path("up.log");
    let start = |out: &str| {
        Up(Command::new(bin())
            .args(["up", "--dir"])
            .arg(dir.path("demo"))
            .args(["--port", &base.to_string()])
            .stdout(std::fs::File::create(dir.path(out)).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap())
    };
    let first = start("up.out");
    let (http, admin, desk) = (base, base + 2, base + 3);
    wait_for(&format!("http://127.0.0.1:{admin}/readyz"), 200, &log).await;
    let printed = std::fs::read_to_string(dir.path("up.out")).unwrap();
    assert!(
        printed.contains("one-time password"),
        "the first start prints the admin's password:\n{printed}"
    );
    let admin_user = printed
        .split("user ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap()
        .to_string();

    // A restart on the same folder keeps the admin it finds and creates none.
    drop(first);
    let _up = start("up2.out");
    wait_for(&format!("http://127.0.0.1:{admin}/readyz"), 200, &log).await;
    let printed = std::fs::read_to_string(dir.path("up2.out")).unwrap();
    assert!(
        !printed.contains("one-time password")
            && printed.contains(&format!("existing admin account(s) {admin_user};")),
        "a restart reports the existing admin ({admin_user}):\n{printed}"
    );

    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("http://127.0.0.1:{http}{path}"))
            .header("host", "forum.localhost")
            .send()
    };
    // The seeded decision arrives from the desk (long poll), maybe a moment after readiness.
    // The admin listener (`/readyz`) and the proxy's listener are two Pingora services that
    // start independently: on a loaded machine the proxy's port may refuse a connection just
    // after `/readyz` answers, so a refused connection is retried like a 200.
    let deadline = Instant::now() + Duration::from_secs(30);
    let blocked = loop {
        match get("/t/2").await {
            Ok(r) if r.status() == 451 => break r,
            Ok(_) => {}
            Err(e) if e.is_connect() => {}
            Err(e) => panic!("GET /t/2: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "the desk's restriction never reached the edge"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let link = blocked.headers()["link"].to_str().unwrap().to_string();
    let notice = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_string();
    assert!(
        notice.starts_with(&format!("http://127.0.0.1:{desk}/notices/")),
        "{link}"
    );
    assert_eq!(
        get("/t/1").await.unwrap().status(),
        200,
        "a sibling URL is served"
    );

    // The public notice the block page links to exists, and names no notifier.
    let page = reqwest::get(&notice).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(!html.contains("Demo notifier") && !html.contains("notifier@example.org"));

    // The edge kept the verified policy on disk, for a restart without the desk.
    assert!(dir.path("demo").join("policy-cache.json").is_file());

    // The report form is served.
    let form = reqwest::get(format!("http://127.0.0.1:{desk}/report"))
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
}
