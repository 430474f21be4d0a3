//! Escalation to the penalty box, against the real binary: a client refused again and again
//! after being told (429s of its rate limit, challenges it never solves) is closed at accept —
//! no TLS, no HTTP — until its time in the box is over, then served again; other clients are
//! not affected; a solved challenge forgives; the number of clients tracked stays bounded.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const BOXED: &str = "rempart_edge_edge_answers_total{reason=\"penalty_boxed\"} ";
const AT_ACCEPT: &str = "rempart_edge_edge_answers_total{reason=\"penalty_box_at_accept\"} ";
const TRACKED: &str = "rempart_edge_penalty_box_tracked ";
const FILTERED: &str = "rempart_edge_penalty_filter_clients ";
const DROPPED: &str = "rempart_edge_penalty_filter_dropped_total ";

/// A TCP connection to the edge leaving from `ip`.
async fn connect_from(ip: [u8; 4], port: u16) -> TcpStream {
    let s = TcpSocket::new_v4().expect("socket");
    s.bind(SocketAddr::from((ip, 0))).expect("bind");
    s.connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("connect")
}

/// One response: (head in lower case, body); `None` when the edge closed the connection
/// before sending anything (bounded wait).
async fn response(s: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(30);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                assert!(buf.is_empty(), "closed inside a head: {buf:?}");
                return None;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("no answer in time"),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => body.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("body never came"),
        }
    }
    Some((head, String::from_utf8_lossy(&body).into_owned()))
}

/// Sends one request on `s` and reads its answer.
async fn ask(s: &mut TcpStream, path: &str, extra: &str) -> Option<(String, String)> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: p.test\r\n{extra}\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return None;
    }
    response(s).await
}

/// One request over a fresh connection from `ip`: its head, or `None` if the connection was
/// closed unanswered.
async fn fresh(ip: [u8; 4], port: u16, path: &str) -> Option<String> {
    let mut s = connect_from(ip, port).await;
    ask(&mut s, path, "").await.map(|(h, _)| h)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

fn config(o: &Origin, limits: &str, zone_extra: &str) -> String {
    format!(
        "[limits]\n{limits}\n{}",
        zone(
            "p",
            &["p.test"],
            &[o],
            &format!(
                "[[zone.rate_limit]]\nname = \"tight\"\nrequests = 1\nperiod_s = 3600\n\
                 path_prefix = \"/limited\"\n{zone_extra}"
            ),
        )
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_refused_again_and_again_is_closed_at_accept_until_its_time_is_over() {
    let dir = TempDir::new("penalty");
    let o = Origin::plain("o").await;
    let limits = "penalty_after = 2\npenalty_window_s = 600\npenalty_s = 6\npenalty_max_s = 6\n";
    let edge = Edge::start(&dir, &config(&o, limits, "")).await;
    let a = [127, 0, 3, 1];

    // Told twice (429, keep-alive kept), then the third refusal puts it in the box: the answer
    // says so in Retry-After (the box's time, not the limit's hour) and closes the connection.
    let mut s = connect_from(a, edge.http).await;
    let (head, _) = ask(&mut s, "/limited", "").await.expect("answer");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    for _ in 0..2 {
        let (head, _) = ask(&mut s, "/limited", "").await.expect("answer");
        assert!(head.starts_with("http/1.1 429"), "{head}");
        assert_ne!(header(&head, "connection"), Some("close"), "{head}");
        let wait: u64 = header(&head, "retry-after").unwrap().parse().unwrap();
        assert!(wait > 6, "the limit's own wait: {head}");
    }
    let (head, body) = ask(&mut s, "/limited", "").await.expect("answer");
    assert!(head.starts_with("http/1.1 429"), "{head}");
    assert_eq!(header(&head, "connection"), Some("close"), "{head}");
    assert_eq!(header(&head, "retry-after"), Some("6"), "{head}");
    assert!(body.contains("<!DOCTYPE html>"));
    assert!(
        ask(&mut s, "/free", "").await.is_none(),
        "the connection ends"
    );
    assert_eq!(edge.metric(BOXED).await, 1.0);

    // Its new connections are closed unanswered, whatever they ask for…
    assert_eq!(fresh(a, edge.http, "/free").await, None);
    assert!(edge.metric(AT_ACCEPT).await >= 1.0);
    // …while another client, even in the same /24, is served.
    let b = [127, 0, 3, 2];
    let head = fresh(b, edge.http, "/free").await.expect("served");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let head = fresh(b, edge.http, "/limited").await.expect("served");
    assert!(head.starts_with("http/1.1 200"), "{head}");

    // Once its time is over, it is served again (polled, bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(head) = fresh(a, edge.http, "/free").await {
            assert!(head.starts_with("http/1.1 200"), "{head}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never let out:\n{}",
            edge.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Refused again within the window: straight back in, without a second log line.
    let (head, _) = ask(&mut connect_from(a, edge.http).await, "/limited", "")
        .await
        .expect("answer");
    assert_eq!(header(&head, "connection"), Some("close"), "{head}");
    assert_eq!(edge.metric(BOXED).await, 2.0);
    assert_eq!(fresh(a, edge.http, "/free").await, None);
    let log = edge.log_text();
    let decisions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("closed at accept") && l.contains("penalty_box"))
        .collect();
    assert_eq!(decisions.len(), 1, "logged once per client:\n{log}");
    assert!(decisions[0].contains("127.0.3.1"), "{}", decisions[0]);
    assert_eq!(o.count(), 4, "refused requests never reach the origin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_escalation_a_client_is_only_ever_answered_429() {
    let dir = TempDir::new("penalty-off");
    let o = Origin::plain("o").await;
    let edge = Edge::start(&dir, &config(&o, "", "")).await;
    let mut s = connect_from([127, 0, 3, 9], edge.http).await;
    ask(&mut s, "/limited", "").await.expect("answer");
    for _ in 0..20 {
        let (head, _) = ask(&mut s, "/limited", "").await.expect("answer");
        assert!(head.starts_with("http/1.1 429"), "{head}");
        assert_ne!(header(&head, "connection"), Some("close"), "{head}");
    }
    assert_eq!(edge.metric(BOXED).await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_penalty_box_tracks_a_bounded_number_of_clients() {
    let dir = TempDir::new("penalty-bound");
    let o = Origin::plain("o").await;
    let limits =
        "penalty_after = 1\npenalty_s = 600\npenalty_max_s = 600\npenalty_max_tracked = 16\n";
    let edge = Edge::start(&dir, &config(&o, limits, "")).await;
    // 64 clients, each boxed (200, told once, boxed): four times what may be tracked.
    for i in 1..=64u8 {
        let mut s = connect_from([127, 0, 4, i], edge.http).await;
        for _ in 0..3 {
            ask(&mut s, "/limited", "").await.expect("answer");
        }
    }
    assert_eq!(edge.metric(BOXED).await, 64.0);
    let tracked = edge.metric(TRACKED).await;
    assert!((1.0..=16.0).contains(&tracked), "{tracked}");
    // The latest stays in the box: dropped ones are those closest to leaving, never it.
    assert_eq!(fresh([127, 0, 4, 64], edge.http, "/free").await, None);
    // Some of the earlier ones had to be let out early to keep the bound.
    let mut served = 0;
    for i in 1..=63u8 {
        if fresh([127, 0, 4, i], edge.http, "/free").await.is_some() {
            served += 1;
        }
    }
    assert!(served >= 63 - 16, "{served} of 63 let out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsolved_challenges_escalate_and_a_solve_forgives() {
    let dir = TempDir::new("penalty-challenge");
    let o = Origin::plain("o").await;
    let cfg = "[challenge]\ndifficulty = 4\n\n".to_string()
        + &config(
            &o,
            "penalty_after = 2\npenalty_s = 600\npenalty_max_s = 600\n",
            "[zone.challenge]\nmode = \"always\"\n",
        );
    let edge = Edge::start(&dir, &cfg).await;
    let a = [127, 0, 5, 1];
    let json = "Accept: application/json\r\n";
    let mut s = connect_from(a, edge.http).await;
    // Challenged twice without an answer, then solved: forgiven…
    let mut token = String::new();
    for _ in 0..2 {
        let (head, body) = ask(&mut s, "/", json).await.expect("answer");
        assert!(head.starts_with("http/1.1 503"), "{head}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        token = v["challenge"]["token"].as_str().expect("token").to_string();
    }
    let form = format!("token={token}&solution={}&return=%2F", solve(&token, 4));
    let req = format!(
        "POST /.rempart/challenge HTTP/1.1\r\nHost: p.test\r\nAccept: application/json\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let (head, _) = response(&mut s).await.expect("answer");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // …so two more challenges are still within its allowance, and the third boxes it.
    for _ in 0..2 {
        let (head, _) = ask(&mut s, "/", json).await.expect("answer");
        assert!(head.starts_with("http/1.1 503"), "{head}");
        assert_ne!(header(&head, "connection"), Some("close"), "{head}");
    }
    let (head, _) = ask(&mut s, "/", json).await.expect("answer");
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert_eq!(header(&head, "connection"), Some("close"), "{head}");
    assert_eq!(header(&head, "retry-after"), Some("600"), "{head}");
    assert_eq!(fresh(a, edge.http, "/").await, None);
    assert_eq!(edge.metric(BOXED).await, 1.0);
}

/// `TCP_ESTABLISHED` and `TCP_SYN_SENT` (linux/tcp_states.h).
const ESTABLISHED: u8 = 1;
const SYN_SENT: u8 = 2;

/// A non-blocking connect from `ip` to the edge, left to complete (or not) on its own.
fn start_connect(ip: [u8; 4], port: u16) -> TcpSocket {
    use std::os::fd::AsRawFd;
    let s = TcpSocket::new_v4().expect("socket");
    s.bind(SocketAddr::from((ip, 0))).expect("bind");
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a valid sockaddr_in, on a socket tokio made non-blocking.
    let r = unsafe {
        libc::connect(
            s.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    let e = std::io::Error::last_os_error();
    assert!(r == 0 || e.raw_os_error() == Some(libc::EINPROGRESS), "{e}");
    s
}

/// The TCP state of a socket (`TCP_INFO`).
fn tcp_state(s: &TcpSocket) -> u8 {
    use std::os::fd::AsRawFd;
    // SAFETY: `info` is a plain struct the kernel fills up to `len`.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let r = libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        info.tcpi_state
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_kernel_filter_a_boxed_clients_syns_are_dropped_until_its_time_is_over() {
    let dir = TempDir::new("penalty-kernel");
    let o = Origin::plain("o").await;
    let limits = "penalty_after = 1\npenalty_window_s = 600\npenalty_s = 4\npenalty_max_s = 4\n\
                  penalty_filter = \"kernel\"\n";
    let edge = Edge::start(&dir, &config(&o, limits, "")).await;
    assert_eq!(edge.metric(FILTERED).await, 0.0);
    let a = [127, 0, 7, 1];
    let mut s = connect_from(a, edge.http).await;
    let (head, _) = ask(&mut s, "/limited", "").await.expect("answer");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let (head, _) = ask(&mut s, "/limited", "").await.expect("answer");
    assert_ne!(header(&head, "connection"), Some("close"), "{head}");
    let (head, _) = ask(&mut s, "/limited", "").await.expect("answer");
    assert_eq!(header(&head, "connection"), Some("close"), "boxed: {head}");

    // The filter on the listening socket takes it in (polled, bounded: it is rebuilt at most
    // every 100 ms).
    edge.wait_for_metric(FILTERED, "filtered", |v| v >= 1.0)
        .await;
    // As root the filter is the eBPF program with its maps (the classic program is tested in
    // the edge's unit tests).
    // SAFETY: no arguments, no side effect.
    if unsafe { libc::geteuid() } == 0 {
        let log = edge.log_text();
        assert!(log.contains("eBPF hash maps"), "{log}");
    }
    let at_accept = edge.metric(AT_ACCEPT).await;
    // Its connect never completes, while another client's, started after it, does.
    let boxed = start_connect(a, edge.http);
    let other = start_connect([127, 0, 7, 2], edge.http);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tcp_state(&other) != ESTABLISHED {
        assert!(
            Instant::now() < deadline,
            "the other client never connected"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        tcp_state(&boxed),
        SYN_SENT,
        "the boxed client's SYN was answered"
    );
    drop((boxed, other));
    // The edge never saw it: nothing accepted, nothing closed at accept …
    assert_eq!(edge.metric(AT_ACCEPT).await, at_accept);
    // … but the eBPF program counted the drop (read every 100 ms: polled, bounded).
    // SAFETY: no arguments, no side effect.
    if unsafe { libc::geteuid() } == 0 {
        edge.wait_for_metric(DROPPED, "counted", |v| v >= 1.0).await;
    }
    let head = fresh([127, 0, 7, 3], edge.http, "/free")
        .await
        .expect("served");
    assert!(head.starts_with("http/1.1 200"), "{head}");

    // Once its time is over, the filter lets its SYN through (polled, bounded: a connect
    // that is not answered is abandoned and tried again) and it is served.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut s = loop {
        if let Ok(s) =
            tokio::time::timeout(Duration::from_secs(2), connect_from(a, edge.http)).await
        {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "never let out:\n{}",
            edge.log_text()
        );
    };
    let (head, _) = ask(&mut s, "/free", "").await.expect("served");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    edge.wait_for_metric(FILTERED, "emptied", |v| v == 0.0)
        .await;
    assert_eq!(o.count(), 3, "the origin saw only what was served");
}
