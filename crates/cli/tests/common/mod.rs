//! Test kit: real origins (plain and TLS) started in the test, certificates made with rcgen,
//! and the real `rempart` binary started on free ports.

#![allow(dead_code)]

pub mod browser;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use tokio::sync::Notify;

/// A free TCP port on loopback (bound then released), never the same twice in one test
/// process: the kernel may hand a released port out again, and Pingora binds with
/// SO_REUSEPORT, so a port given to two listeners (an edge's HTTP and HTTPS, or two tests
/// running side by side) is no error but a silent split of their connections.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if GIVEN.lock().unwrap_or_else(|p| p.into_inner()).insert(port) {
            return port;
        }
    }
}

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "rempart-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate authority and leaf certificates signed by it.
pub struct Pki {
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
    pub ca_pem: String,
}

impl Pki {
    pub fn new() -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Rempart test CA");
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let ca = params.self_signed(&ca_key).expect("ca");
        let ca_pem = ca.pem();
        Pki { ca, ca_key, ca_pem }
    }

    /// Writes `<name>.pem` and `<name>.key` for the given DNS names; returns their paths.
    pub fn leaf(&self, dir: &TempDir, name: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign");
        let c = dir.write(&format!("{name}.pem"), &cert.pem());
        let k = dir.write(&format!("{name}.key"), &key.serialize_pem());
        (c, k)
    }

    pub fn rustls_server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign");
        let der = rustls::pki_types::CertificateDer::from(cert.der().to_vec());
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key");
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key_der)
        .expect("cert");
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(cfg)
    }
}

/// What an origin saw.
#[derive(Default)]
pub struct Seen {
    pub requests: AtomicUsize,
    pub release: Notify,
    pub held: AtomicUsize,
    pub held_arrived: Notify,
}

/// A real HTTP origin running in the test process.
pub struct Origin {
    pub addr: SocketAddr,
    pub name: String,
    pub seen: Arc<Seen>,
}

#[derive(Clone)]
struct OriginState {
    name: String,
    seen: Arc<Seen>,
}

async fn echo(State(s): State<OriginState>, req: Request) -> Response {
    s.seen.requests.fetch_add(1, Ordering::SeqCst);
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                serde_json::Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let version = format!("{:?}", req.version());
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    Json(serde_json::json!({
        "origin": s.name,
        "method": method,
        "path": path,
        "version": version,
        "headers": headers,
        "body_len": body.len(),
        "body_sum": body.iter().map(|&b| u64::from(b)).sum::<u64>(),
    }))
    .into_response()
}

/// Holds the request until the test calls `seen.release.notify_waiters()`.
async fn hold(State(s): State<OriginState>) -> Response {
    s.seen.requests.fetch_add(1, Ordering::SeqCst);
    let released = s.seen.release.notified();
    s.seen.held.fetch_add(1, Ordering::SeqCst);
    s.seen.held_arrived.notify_waiters();
    released.await;
    format!("released by {}", s.name).into_response()
}

async fn ws(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            if let Message::Text(t) = msg {
                let reply = format!("echo: {}", t.as_str());
                if socket.send(Message::Text(reply.into())).await.is_err() {
                    break;
                }
            }
        }
    })
}

fn router(name: &str, seen: Arc<Seen>) -> Router {
    Router::new()
        .route("/hold", get(hold))
        .route("/ws", get(ws))
        .fallback(any(echo))
        .with_state(OriginState {
            name: name.to_string(),
            seen,
        })
}

impl Origin {
    /// A plain HTTP/1.1 origin.
    pub async fn plain(name: &str) -> Origin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Seen::default());
        let app = router(name, seen.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Origin {
            addr,
            name: name.to_string(),
            seen,
        }
    }

    /// A TLS origin (HTTP/2 and HTTP/1.1 by ALPN) with a certificate from `pki`.
    pub async fn tls(name: &str, pki: &Pki, dns: &str) -> Origin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Seen::default());
        let app = router(name, seen.clone());
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.rustls_server_config(&[dns]));
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let io = hyper_util::rt::TokioIo::new(tls);
                    let svc = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection_with_upgrades(io, svc)
                    .await;
                });
            }
        });
        Origin {
            addr,
            name: name.to_string(),
            seen,
        }
    }

    /// Sends `GET /hold` for `host` through `edge` and returns once the origin holds it; the
    /// request completes after `seen.release.notify_waiters()`.
    pub async fn hold_request(
        &self,
        edge: &Edge,
        host: &'static str,
    ) -> tokio::task::JoinHandle<reqwest::Result<reqwest::StatusCode>> {
        let arrived = self.seen.held_arrived.notified();
        let url = edge.url("/hold");
        let held = tokio::spawn(async move {
            reqwest::Client::new()
                .get(url)
                .header("host", host)
                .send()
                .await
                .map(|r| r.status())
        });
        arrived.await;
        held
    }

    pub fn count(&self) -> usize {
        self.seen.requests.load(Ordering::SeqCst)
    }
}

/// A client whose connections leave from the given loopback address.
pub fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .expect("client")
}

/// The real `rempart edge` process.
pub struct Edge {
    pub child: Child,
    pub http: u16,
    pub https: u16,
    pub admin: u16,
    pub config: PathBuf,
    pub log: PathBuf,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rempart")
}

impl Edge {
    /// Writes `config_body` (everything after `[listen]`'s addresses) and starts the edge,
    /// waiting until `/readyz` answers 200.
    pub async fn start(dir: &TempDir, config_body: &str) -> Edge {
        // A port handed out by `free_port` is free again until the edge binds it, and another
        // listener of this test process (an origin binding port 0) can take it first; Pingora
        // then retries the bind while the other listener answers. Such a start is thrown away
        // and tried again on new ports.
        let mut attempt = 0;
        loop {
            let (http, https, admin) = (free_port(), free_port(), free_port());
            let https_line = if config_body.contains("tls = {") {
                format!("https = [\"127.0.0.1:{https}\"]\n")
            } else {
                String::new()
            };
            let text = format!(
                "[listen]\nhttp = [\"127.0.0.1:{http}\"]\n{https_line}admin = \"127.0.0.1:{admin}\"\n\n[process]\nupgrade_sock = \"{sock}\"\npid_file = \"{pid}\"\n\n{config_body}",
                sock = dir.path("upgrade.sock").display(),
                pid = dir.path("edge.pid").display(),
            );
            let config = dir.write("edge.toml", &text);
            match Self::spawn(dir, config, http, https, admin).await {
                Ok(edge) => return edge,
                Err(edge) if attempt < 4 => {
                    attempt += 1;
                    drop(edge);
                }
                Err(edge) => panic!("edge never got its ports:\n{}", edge.log_text()),
            }
        }
    }

    pub async fn start_with(
        dir: &TempDir,
        config: PathBuf,
        http: u16,
        https: u16,
        admin: u16,
    ) -> Edge {
        match Self::spawn(dir, config, http, https, admin).await {
            Ok(edge) => edge,
            Err(edge) => panic!("edge could not bind its ports:\n{}", edge.log_text()),
        }
    }

    /// Starts the edge and waits until it is ready; `Err` (with the edge, to read its log or
    /// drop it) when one of its ports was taken by another listener.
    async fn spawn(
        dir: &TempDir,
        config: PathBuf,
        http: u16,
        https: u16,
        admin: u16,
    ) -> Result<Edge, Edge> {
        let log = dir.path("edge.log");
        let child = Command::new(bin())
            .args(["edge", "--config"])
            .arg(&config)
            .env("REMPART_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn rempart");
        let mut edge = Edge {
            child,
            http,
            https,
            admin,
            config,
            log,
        };
        if edge.wait_ready().await {
            Ok(edge)
        } else {
            Err(edge)
        }
    }

    /// Waits until the admin listener answers and the proxy listeners are bound by this edge;
    /// false as soon as the log says one of its ports is in use.
    async fn wait_ready(&mut self) -> bool {
        let client = reqwest::Client::new();
        // The HTTPS listener, where configured, starts on its own thread too.
        let with_https = std::fs::read_to_string(&self.config)
            .unwrap_or_default()
            .lines()
            .any(|l| l.trim_start().starts_with("https = ["));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("edge exited with {status}:\n{}", self.log_text());
            }
            let url = format!("http://127.0.0.1:{}/readyz", self.admin);
            if let Ok(r) = client.get(&url).send().await {
                // Pingora starts each service on its own thread: the admin listener can answer
                // before the proxy listeners are bound, so wait for those too (read from the
                // kernel's socket table: a probe connection would count in the edge's metrics).
                let pid = self.child.id();
                let proxy_up =
                    listening_by(pid, self.http) && (!with_https || listening_by(pid, self.https));
                if r.status() == 200 && proxy_up {
                    return true;
                }
            }
            if self.log_text().contains(" is in use, will try again") {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "edge not ready:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    /// A client that sends every request to this edge's HTTP listener with the given Host.
    pub async fn get(&self, host: &str, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(self.url(path))
            .header("host", host)
            .send()
            .await
            .expect("request")
    }

    /// The same from another loopback address (the edge sees another client).
    pub async fn get_from(&self, ip: [u8; 4], host: &str, path: &str) -> reqwest::Response {
        client_from(ip)
            .get(self.url(path))
            .header("host", host)
            .send()
            .await
            .expect("request")
    }

    /// Waits until the edge's log contains `needle` (log lines are written after the
    /// response; bounded: 60 s, then fails saying `what`).
    pub async fn wait_for_log(&self, needle: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log_text().contains(needle) {
            assert!(Instant::now() < deadline, "{what}:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// An HTTPS client that trusts `ca_pem` and resolves `hosts` to this edge.
    pub fn https_client(&self, ca_pem: &str, hosts: &[&str]) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca"))
            .use_rustls_tls();
        for h in hosts {
            b = b.resolve(h, SocketAddr::from(([127, 0, 0, 1], self.https)));
        }
        b.build().expect("client")
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.admin))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// The value of one metric line (exact series text before the value), or 0.
    pub async fn metric(&self, series: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Polls until `cond(value of series)` holds (bounded: 30 s, then fails saying `what`).
    pub async fn wait_for_metric(&self, series: &str, what: &str, cond: impl Fn(f64) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let v = self.metric(series).await;
            if cond(v) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{series} = {v}, never {what}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits until a metric reaches at least `value`.
    pub async fn wait_metric(&self, series: &str, value: f64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.metric(series).await < value {
            assert!(
                Instant::now() < deadline,
                "metric {series} never reached {value}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether process `pid` has a socket listening on 127.0.0.1:`port` (the kernel's table and
/// the process's open files, no connection made): another listener on that port is not it.
pub fn listening_by(pid: u32, port: u16) -> bool {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .map(|t| {
            t.lines().any(|l| {
                // sl local remote state tx:rx tr:when retrnsmt uid timeout inode …
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 9 && f[1] == local && f[3] == "0A" && inodes.contains(f[9])
            })
        })
        .unwrap_or(false)
}

/// The edge's gauge of open client connections, as a `metric` series.
pub const OPEN: &str = "rempart_edge_connections_open ";

/// A zone block for the config.
pub fn zone(name: &str, hosts: &[&str], origins: &[&Origin], extra: &str) -> String {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    let mut s = format!(
        "[[zone]]\nname = \"{name}\"\nhosts = [{}]\n{extra}\n[zone.health_check]\ninterval_ms = 200\n",
        hosts.join(", ")
    );
    for o in origins {
        s.push_str(&format!("[[zone.origin]]\naddress = \"{}\"\n", o.addr));
    }
    s
}

/// Sends raw bytes and reads the whole response until the server closes.
pub async fn raw_exchange(port: u16, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

/// Sends raw bytes to an address and returns the response's status line.
pub async fn raw_status(port: u16, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

pub fn policy_json(restrictions: &[serde_json::Value], version: u64) -> String {
    serde_json::json!({
        "schema": 1,
        "version": version,
        "issued_at": "2026-01-01T00:00:00Z",
        "restrictions": restrictions,
    })
    .to_string()
}

pub fn restriction(id: &str, scope: serde_json::Value, kind: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "scope": scope,
        "kind": kind,
        "category": "doxxing",
        "notice_url": format!("https://desk.test/notices/{id}"),
        "ground": "Publishes a private person's home address.",
        "implemented_by": "Test Provider",
        "starts_at": "2026-01-01T00:00:00Z",
    })
}

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}

/// Leading zero bits of a digest, counted here rather than with the edge's function.
pub fn zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for b in digest {
        bits += b.leading_zeros();
        if *b != 0 {
            break;
        }
    }
    bits
}

/// Solves a challenge token as the page's script does: the first counter whose
/// SHA-256 of `token:counter` starts with `difficulty` zero bits.
pub fn solve(token: &str, difficulty: u32) -> String {
    use sha2::{Digest, Sha256};
    (0u64..)
        .find(|n| zero_bits(&Sha256::digest(format!("{token}:{n}").as_bytes())) >= difficulty)
        .expect("a solution")
        .to_string()
}
