//! Connection caps and slow-client defences, against the real `rempart` binary: connections
//! over the caps are closed at accept (before TLS) and the count never leaks; a head that
//! trickles, a body that trickles or stalls, and a response read too slowly are all cut off,
//! while a normal client is served.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to the edge leaving from `ip`.
async fn connect_from(ip: [u8; 4], port: u16) -> TcpStream {
    let s = TcpSocket::new_v4().expect("socket");
    s.bind(SocketAddr::from((ip, 0))).expect("bind");
    s.connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("connect")
}

/// Waits (bounded) until the edge closes `s`; returns what it sent before.
async fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the edge never closed the connection"),
        }
    }
}

/// One GET over a fresh connection from `ip`; the status line.
async fn get_from(ip: [u8; 4], port: u16, host: &str) -> String {
    let mut s = connect_from(ip, port).await;
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let out = read_until_closed(&mut s).await;
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

const PER_IP: &str = "rempart_edge_connections_refused_total{reason=\"per_ip_cap\"} ";
const TOTAL: &str = "rempart_edge_connections_refused_total{reason=\"total_cap\"} ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_client_connection_cap_closes_extra_connections_and_releases_on_close() {
    let dir = TempDir::new("conncap");
    let o = Origin::plain("o").await;
    let cfg = format!(
        "[limits]\nmax_connections_per_ip = 2\n\n{}",
        zone("o", &["o.test"], &[&o], "")
    );
    let edge = Edge::start(&dir, &cfg).await;

    // Two idle connections from 127.0.0.5 are counted…
    let a = connect_from([127, 0, 0, 5], edge.http).await;
    let b = connect_from([127, 0, 0, 5], edge.http).await;
    edge.wait_for_metric(OPEN, ">= 2", |v| v >= 2.0).await;

    // …so a third from the same address is closed without an answer.
    let mut c = connect_from([127, 0, 0, 5], edge.http).await;
    let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: o.test\r\n\r\n").await;
    assert!(read_until_closed(&mut c).await.is_empty());
    edge.wait_for_metric(PER_IP, ">= 1", |v| v >= 1.0).await;

    // Another client is not affected.
    assert_eq!(
        get_from([127, 0, 0, 6], edge.http, "o.test").await,
        "HTTP/1.1 200 OK"
    );

    // Closing one connection frees its place: the count follows closes.
    drop(a);
    edge.wait_for_metric(OPEN, "<= 1", |v| v <= 1.0).await;
    assert_eq!(
        get_from([127, 0, 0, 5], edge.http, "o.test").await,
        "HTTP/1.1 200 OK"
    );
    drop(b);
    edge.wait_for_metric(OPEN, "0", |v| v == 0.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_are_capped_before_the_handshake_and_failed_handshakes_do_not_leak() {
    let dir = TempDir::new("conncap-tls");
    let pki = Pki::new();
    let (c, k) = pki.leaf(&dir, "o", &["o.test"]);
    let o = Origin::plain("o").await;
    let cfg = format!(
        "[limits]\nmax_connections_per_ip = 2\n\n{}",
        zone(
            "o",
            &["o.test"],
            &[&o],
            &format!(
                "tls = {{ cert = \"{}\", key = \"{}\" }}\n",
                c.display(),
                k.display()
            )
        )
    );
    let edge = Edge::start(&dir, &cfg).await;

    // Connections that never finish a handshake hold their places…
    let mut a = connect_from([127, 0, 0, 7], edge.https).await;
    let b = connect_from([127, 0, 0, 7], edge.https).await;
    edge.wait_for_metric(OPEN, ">= 2", |v| v >= 2.0).await;

    // …and a TLS client from the same address is closed before any TLS is spoken.
    let mut c = connect_from([127, 0, 0, 7], edge.https).await;
    let _ = c.write_all(b"\x16\x03\x01\x00\x05hello").await;
    assert!(read_until_closed(&mut c).await.is_empty(), "no TLS bytes");
    edge.wait_for_metric(PER_IP, ">= 1", |v| v >= 1.0).await;

    // A failed handshake (garbage instead of a ClientHello) releases its place.
    a.write_all(b"this is not TLS\r\n\r\n")
        .await
        .expect("write");
    read_until_closed(&mut a).await;
    drop(a);
    edge.wait_for_metric(OPEN, "<= 1", |v| v <= 1.0).await;
    let client = edge.https_client(&pki.ca_pem, &["o.test"]);
    let r = client
        .get(format!("https://o.test:{}/", edge.https))
        .send()
        .await
        .expect("served once a place is free");
    assert_eq!(r.status(), 200);
    drop(b);
    edge.wait_for_metric(OPEN, "<= 1", |v| v <= 1.0).await;
    drop(r);
    drop(client);
    edge.wait_for_metric(OPEN, "0", |v| v == 0.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_connection_cap_applies_across_clients() {
    let dir = TempDir::new("conncap-total");
    let o = Origin::plain("o").await;
    let cfg = format!(
        "[limits]\nmax_connections = 2\n\n{}",
        zone("o", &["o.test"], &[&o], "")
    );
    let edge = Edge::start(&dir, &cfg).await;
    let a = connect_from([127, 0, 0, 8], edge.http).await;
    let b = connect_from([127, 0, 0, 9], edge.http).await;
    edge.wait_for_metric(OPEN, ">= 2", |v| v >= 2.0).await;
    let mut c = connect_from([127, 0, 0, 10], edge.http).await;
    assert!(read_until_closed(&mut c).await.is_empty());
    edge.wait_for_metric(TOTAL, ">= 1", |v| v >= 1.0).await;
    drop(a);
    drop(b);
    edge.wait_for_metric(OPEN, "0", |v| v == 0.0).await;
    assert_eq!(
        get_from([127, 0, 0, 10], edge.http, "o.test").await,
        "HTTP/1.1 200 OK"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_that_trickles_past_the_deadline_is_cut_off() {
    let dir = TempDir::new("slowloris");
    let o = Origin::plain("o").await;
    let cfg = format!(
        "[limits]\nheader_timeout_s = 1\n\n{}",
        zone("o", &["o.test"], &[&o], "")
    );
    let edge = Edge::start(&dir, &cfg).await;

    // Slowloris: a header line every 100 ms, never the blank line that ends the head. Each
    // read is quick, so only a whole-head deadline stops it.
    let mut s = connect_from([127, 0, 0, 11], edge.http).await;
    s.write_all(b"GET / HTTP/1.1\r\nHost: o.test\r\n")
        .await
        .expect("write");
    let (mut rd, mut wr) = s.into_split();
    let trickle = tokio::spawn(async move {
        for i in 0..600u32 {
            if wr
                .write_all(format!("X-{i}: a\r\n").as_bytes())
                .await
                .is_err()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    // Meanwhile a normal client is served.
    let r = edge.get("o.test", "/").await;
    assert_eq!(r.status(), 200);

    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(30), rd.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "the edge never closed the slowloris connection"
    );
    assert!(buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"));
    assert!(
        trickle.await.expect("join"),
        "writes fail once the edge has closed"
    );
    edge.wait_for_metric(
        "rempart_edge_edge_answers_total{reason=\"header_timeout\"} ",
        ">= 1",
        |v| v >= 1.0,
    )
    .await;
    assert_eq!(o.count(), 1, "only the normal request reached the origin");
}

/// Sends a POST head announcing `len` bytes, then `first` bytes of body; returns the stream.
async fn post_head(port: u16, len: usize, first: usize) -> TcpStream {
    let mut s = connect_from([127, 0, 0, 12], port).await;
    s.write_all(
        format!("POST /upload HTTP/1.1\r\nHost: o.test\r\nContent-Length: {len}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .expect("write");
    s.write_all(&vec![b'x'; first]).await.expect("write");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_slower_than_the_minimum_rate_gets_408() {
    let dir = TempDir::new("slowbody");
    let o = Origin::plain("o").await;
    let cfg = format!(
        "[limits]\nmin_body_rate = 1000\nbody_rate_window_s = 1\n\n{}",
        zone("o", &["o.test"], &[&o], "")
    );
    let edge = Edge::start(&dir, &cfg).await;

    // A body at a fast rate is served.
    let r = reqwest::Client::new()
        .post(edge.url("/upload"))
        .header("host", "o.test")
        .body(vec![b'y'; 100_000])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);

    // Trickling: 10 bytes every 100 ms (100 B/s, under the 1000 B/s minimum).
    let s = post_head(edge.http, 100_000, 10).await;
    let (mut rd, mut wr) = s.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..3000u32 {
            if wr.write_all(&[b'x'; 10]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), rd.read_to_end(&mut buf)).await;
    trickle.abort();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "got: {text}");
    edge.wait_for_metric(
        "rempart_edge_edge_answers_total{reason=\"body_too_slow\"} ",
        ">= 1",
        |v| v >= 1.0,
    )
    .await;

    // Stalling: part of the body, then nothing.
    let mut s = post_head(edge.http, 100_000, 10).await;
    let out = read_until_closed(&mut s).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "got: {text}");
}

/// An origin with one large response, for slow readers.
async fn big_origin(size: usize) -> SocketAddr {
    use axum::routing::get;
    let body = Arc::new(vec![b'z'; size]);
    let app = axum::Router::new().fallback(get(move || {
        let body = body.clone();
        async move { body.as_ref().clone() }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reading_the_response_too_slowly_is_cut_off() {
    let dir = TempDir::new("slowread");
    const SIZE: usize = 64 << 20;
    let origin = big_origin(SIZE).await;
    let cfg = format!(
        "[limits]\nmin_response_rate = 100000\n\n[[zone]]\nname = \"big\"\nhosts = [\"big.test\"]\n[[zone.origin]]\naddress = \"{origin}\"\n"
    );
    let edge = Edge::start(&dir, &cfg).await;

    // A small receive window, and no reads at all while the edge writes.
    let sock = TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut s = sock
        .connect(SocketAddr::from(([127, 0, 0, 1], edge.http)))
        .await
        .expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: big.test\r\n\r\n")
        .await
        .expect("write");
    // Wait until the edge has given up on the write (observable in its log), then read what
    // was delivered: far less than the whole response, and then the close.
    edge.wait_for_log(
        "WriteTimedout",
        "the edge kept writing to a client that reads nothing",
    )
    .await;
    let got = read_until_closed(&mut s).await;
    assert!(got.starts_with(b"HTTP/1.1 200"));
    assert!(got.len() < SIZE, "the whole response was delivered");

    // A client that reads is served the whole response.
    let r = edge.get("big.test", "/").await;
    assert_eq!(r.bytes().await.expect("body").len(), SIZE);
}
