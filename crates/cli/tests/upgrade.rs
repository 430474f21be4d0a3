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

    // The steady clients: a new connection per request, so that each request meets whichever
    // process holds the listener at that moment (a kept-alive connection would stay with the
    // old process until it closes it, which is not what the hand-over is about).
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let url = old.url("/");
    // Several of them at once: the hand-over's races (a connection taken from the kernel just
    // as the old process stops accepting) are met more often than by one client.
    let client_tasks: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
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
        })
        .collect();
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
    let mut errors = Vec::new();
    for task in client_tasks {
        errors.extend(task.await.expect("client loop"));
    }
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

/// Reads one HTTP/1.1 response (head and a `Content-Length` body) without waiting for the
/// connection to close.
async fn read_one_response(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .expect("a response within 30 s")
            .expect("read");
        assert!(n > 0, "closed before a whole response: {text:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A connection taken from the kernel just before the edge stops accepting is served, not
/// dropped: the shutdown's clean-up (which closes connections waiting for a request) waits for
/// new connections' first request heads. Idle kept-alive connections are still closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_accepted_before_shutdown_gets_its_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = TempDir::new("shutdown-first-head");
    let origin = Origin::plain("o1").await;
    // The grace period keeps the process (and its runtimes) up while the steps below run.
    let body = format!(
        "grace_period_s = 10\n\n{}",
        zone("site", &["site.test"], &[&origin], "")
    );
    let edge = Edge::start(&dir, &body).await;

    // An idle kept-alive connection, after one request.
    let mut idle = tokio::net::TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("connect");
    idle.write_all(b"GET /a HTTP/1.1\r\nHost: site.test\r\n\r\n")
        .await
        .expect("write");
    let first = read_one_response(&mut idle).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");

    // A new connection whose request is on its way: half a head so far.
    let mut fresh = tokio::net::TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .expect("connect");
    fresh
        .write_all(b"GET /b HTTP/1.1\r\nHost: site.test\r\n")
        .await
        .expect("write");
    edge.wait_for_metric(OPEN, "2 (both connections accepted)", |v| v >= 2.0)
        .await;

    edge.signal("TERM");
    edge.wait_for_log(
        &format!("Shutting down 127.0.0.1:{}", edge.http),
        "the edge never stopped accepting",
    )
    .await;
    fresh
        .write_all(b"\r\n")
        .await
        .expect("write the head's end");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), fresh.read_to_string(&mut answer))
        .await
        .expect("the answer within 30 s")
        .expect("read");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the connection accepted before the shutdown was dropped: {answer:?}\n{}",
        edge.log_text()
    );

    // The idle one is closed by the clean-up.
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(30), idle.read_to_end(&mut rest))
        .await
        .expect("the idle connection closed within 30 s")
        .expect("read");
    assert_eq!(n, 0, "{}", String::from_utf8_lossy(&rest));
}
