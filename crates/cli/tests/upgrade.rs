//! Zero-downtime upgrade: a second `rempart edge --upgrade` takes the listening sockets over
//! from the running one (Pingora's hand-over through `process.upgrade_sock`), the old one is
//! told with SIGQUIT, and a client requesting all along sees no failure.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_hands_the_listeners_over_without_a_failed_request() {
    let dir = TempDir::new("upgrade");
    let origin = Origin::plain("o1").await;
    let mut old = Edge::start(&dir, &zone("site", &["site.test"], &[&origin], "")).await;
    let old_pid = old.child.id();
    // Ready on the admin listener does not mean the HTTP one is open yet (Pingora starts each
    // service on its own thread): wait for it before counting anything.
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", old.http))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the HTTP listener never opened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The steady client: a new connection per request, so that each request meets whichever
    // process holds the listener at that moment (a kept-alive connection would stay with the
    // old process until it closes it, which is not what the hand-over is about).
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let url = old.url("/");
    let client_task = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("client");
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match client.get(&url).header("host", "site.test").send().await {
                    Ok(r) if r.status() == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        errors.push(format!("status {}", r.status()));
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        errors.push(format!("{e:?}"));
                    }
                }
            }
            errors
        })
    };
    let wait_requests = |n: usize| {
        let ok = ok.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            let start = ok.load(Ordering::Relaxed);
            while ok.load(Ordering::Relaxed) < start + n {
                assert!(Instant::now() < deadline, "the client loop stalled");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_requests(50).await;

    // The new process binds the upgrade socket and waits there for the listeners.
    let sock = dir.path("upgrade.sock");
    let _ = std::fs::remove_file(&sock);
    let new_log = dir.path("edge-new.log");
    let mut new = Command::new(bin())
        .args(["edge", "--upgrade", "--config"])
        .arg(&old.config)
        .env("REMPART_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&new_log).expect("log"))
        .spawn()
        .expect("spawn the new edge");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sock.exists() {
        assert!(
            new.try_wait().expect("wait").is_none(),
            "the new edge exited:\n{}",
            std::fs::read_to_string(&new_log).unwrap_or_default()
        );
        assert!(
            Instant::now() < deadline,
            "the new edge never opened the upgrade socket"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SIGQUIT: the old process sends its listening sockets, then drains and exits.
    old.signal("QUIT");

    // The old process exits by itself once drained; requests keep succeeding meanwhile.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = old.child.try_wait().expect("wait") {
            assert!(status.success(), "the old edge exited with {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old edge never exited:\n{}",
            old.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        new.try_wait().expect("wait").is_none(),
        "the new edge exited:\n{}",
        std::fs::read_to_string(&new_log).unwrap_or_default()
    );
    // With the old process gone, only the new one (new_pid) holds the listener: these requests
    // are its.
    wait_requests(50).await;
    assert!(
        std::fs::read_to_string(&new_log)
            .unwrap_or_default()
            .contains("edge starting"),
        "the new edge did not start"
    );
    stop.store(true, Ordering::Relaxed);
    let errors = client_task.await.expect("client loop");
    let new_pid = new.id();
    let _ = new.kill();
    let _ = new.wait();

    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "failed requests during the upgrade: {errors:?}\nold:\n{}\nnew:\n{}",
        old.log_text(),
        std::fs::read_to_string(&new_log).unwrap_or_default()
    );
    assert!(ok.load(Ordering::Relaxed) >= 100);
    // The sockets were handed over, not bound anew.
    assert!(
        old.log_text().contains("listener sockets sent"),
        "{}",
        old.log_text()
    );
    assert_ne!(new_pid, old_pid);
    assert!(origin.count() >= 100);
}
