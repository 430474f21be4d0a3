//! HTTP/2 limits against the real `rempart` binary: the advertised stream and header-list
//! limits, a header list over the limit, a rapid-reset burst (CVE-2023-44487) and a
//! CONTINUATION flood — each refused, and the edge keeps serving other clients.
//!
//! The attacks are written as raw frames (one burst per write), so what the edge receives does
//! not depend on how a client library schedules its writes.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::client::TlsStream;

const HOST: &str = "o.test";

async fn start(dir: &TempDir, pki: &Pki, limits: &str) -> (Edge, Origin) {
    let (c, k) = pki.leaf(dir, "o", &[HOST]);
    let o = Origin::plain("o").await;
    let cfg = format!(
        "[limits]\n{limits}\n\n{}",
        zone(
            "o",
            &[HOST],
            &[&o],
            &format!(
                "tls = {{ cert = \"{}\", key = \"{}\" }}\n",
                c.display(),
                k.display()
            )
        )
    );
    (Edge::start(dir, &cfg).await, o)
}

/// A TLS connection to the edge that negotiated `h2`.
async fn tls_h2(edge: &Edge, pki: &Pki) -> TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).expect("ca"))
        .expect("root");
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], edge.https)))
        .await
        .expect("connect");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from(HOST).expect("name"), tcp)
        .await
        .expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    tls
}

/// An `h2` client connection; the task driving it yields the connection's end.
async fn h2_client(
    edge: &Edge,
    pki: &Pki,
) -> (
    h2::client::SendRequest<Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let tls = tls_h2(edge, pki).await;
    let (send, conn) = h2::client::handshake(tls).await.expect("h2 handshake");
    (send, tokio::spawn(conn))
}

fn get(path: &str) -> http::Request<()> {
    http::Request::get(format!("https://{HOST}{path}"))
        .body(())
        .expect("request")
}

/// One GET on a fresh connection: the status.
async fn served(edge: &Edge, pki: &Pki) -> u16 {
    let (send, _conn) = h2_client(edge, pki).await;
    let mut send = send.ready().await.expect("ready");
    let (resp, _) = send.send_request(get("/"), true).expect("send");
    resp.await.expect("response").status().as_u16()
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// HPACK for `GET https://o.test/` from the static table, nothing indexed (stateless).
fn get_block() -> Vec<u8> {
    let mut b = vec![0x82, 0x87, 0x84, 0x01, HOST.len() as u8];
    b.extend_from_slice(HOST.as_bytes());
    b
}

fn preface() -> Vec<u8> {
    let mut v = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    v.extend(frame(SETTINGS, 0, 0, &[]));
    v
}

/// Sends `bytes` in one write, then reads frames until the edge sends GOAWAY (its error code)
/// or closes (`None`).
async fn attack(edge: &Edge, pki: &Pki, bytes: &[u8]) -> Option<u32> {
    let mut tls = tls_h2(edge, pki).await;
    // The edge may close while the burst is still being written.
    let _ = tls.write_all(bytes).await;
    let _ = tls.flush().await;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        while buf.len() >= 9 {
            let len =
                (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            if buf[3] == GOAWAY && len >= 8 {
                return Some(u32::from_be_bytes([buf[13], buf[14], buf[15], buf[16]]));
            }
            buf.drain(..9 + len);
        }
        match tokio::time::timeout(Duration::from_secs(30), tls.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => panic!(
                "the edge neither sent GOAWAY nor closed:\n{}",
                edge.log_text()
            ),
        }
    }
}

const PROTOCOL_ERROR: u32 = 0x1;
const COMPRESSION_ERROR: u32 = 0x9;
const ENHANCE_YOUR_CALM: u32 = 0xb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advertises_the_configured_stream_and_header_list_limits() {
    let dir = TempDir::new("h2-settings");
    let pki = Pki::new();
    let (edge, _o) = start(
        &dir,
        &pki,
        "h2_max_concurrent_streams = 7\nh2_max_header_list_bytes = 4096",
    )
    .await;
    let (send, _conn) = h2_client(&edge, &pki).await;
    let mut send = send.ready().await.expect("ready");
    let (resp, _) = send.send_request(get("/"), true).expect("send");
    assert_eq!(resp.await.expect("response").status(), 200);
    // The client has the edge's SETTINGS by now.
    assert_eq!(send.current_max_send_streams(), 7);

    // A header list over the limit is refused (431 or a stream reset), not served.
    let mut big = get("/big");
    big.headers_mut()
        .insert("x-big", "a".repeat(8000).parse().expect("value"));
    let mut send = send.ready().await.expect("ready");
    let (resp, _) = send.send_request(big, true).expect("send");
    match resp.await {
        Ok(r) => assert_eq!(r.status(), 431, "an oversized header list was served"),
        Err(e) => assert!(e.is_reset() || e.is_go_away(), "{e:?}"),
    }
    assert_eq!(served(&edge, &pki).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_burst_gets_goaway_and_the_edge_keeps_serving() {
    let dir = TempDir::new("h2-rapid-reset");
    let pki = Pki::new();
    let (edge, o) = start(
        &dir,
        &pki,
        "h2_max_pending_accept_reset_streams = 10\nh2_max_concurrent_streams = 1000",
    )
    .await;
    // Requests each cancelled right after it is sent, in one write: 15 (over the configured
    // 10, under h2's default 20, so the setting is what acts), then 1,000.
    let block = get_block();
    for n in [15u32, 1000] {
        let mut burst = preface();
        for i in 0..n {
            let id = 2 * i + 1;
            burst.extend(frame(HEADERS, END_STREAM | END_HEADERS, id, &block));
            burst.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes()));
        }
        let code = attack(&edge, &pki, &burst).await;
        assert_eq!(
            code,
            Some(ENHANCE_YOUR_CALM),
            "GOAWAY ENHANCE_YOUR_CALM after {n}"
        );
    }
    assert!(o.count() < 1000, "the burst did not reach the origin");
    assert_eq!(served(&edge, &pki).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_flood_gets_goaway_and_the_edge_keeps_serving() {
    let dir = TempDir::new("h2-continuation");
    let pki = Pki::new();
    let (edge, o) = start(&dir, &pki, "h2_max_header_list_bytes = 4096").await;
    // A header block that never ends: HEADERS without END_HEADERS, then CONTINUATION frames
    // carrying one endless header value.
    let mut burst = preface();
    let mut block = get_block();
    // Literal header, new name "x", value length 1,000,000 (HPACK integer, 7-bit prefix).
    block.extend_from_slice(&[0x00, 0x01, b'x', 0x7f]);
    let mut rest = 1_000_000u32 - 127;
    while rest >= 128 {
        block.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    block.push(rest as u8);
    burst.extend(frame(HEADERS, END_STREAM, 1, &block));
    for _ in 0..200 {
        burst.extend(frame(CONTINUATION, 0, 1, &[b'a'; 1000]));
    }
    let code = attack(&edge, &pki, &burst).await;
    assert!(
        matches!(
            code,
            Some(ENHANCE_YOUR_CALM) | Some(COMPRESSION_ERROR) | Some(PROTOCOL_ERROR)
        ),
        "GOAWAY expected, got {code:?}"
    );
    assert_eq!(o.count(), 0);
    assert_eq!(served(&edge, &pki).await, 200);
}
