//! The fleet channel against a real NATS JetStream (127.0.0.1:4222, or `REMPART_TEST_NATS`):
//! a desk publishes signed policy versions, real `rempart edge` processes follow them. Each
//! test has its own stream and subjects, so tests run in parallel without meeting.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use rempart_desk::store::{Actor, NewDecision};
use rempart_desk::{Desk, DeskConfig};

fn nats_url() -> String {
    std::env::var("REMPART_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Whether NATS answers; without it the tests are skipped, except under CI=true.
async fn nats_up() -> bool {
    match async_nats::connect(nats_url()).await {
        Ok(_) => true,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("NATS at {} is required when CI=true: {e}", nats_url())
        }
        Err(e) => {
            eprintln!(
                "SKIPPING fleet tests: NATS at {} unreachable: {e}",
                nats_url()
            );
            false
        }
    }
}

/// Names unique to one test.
struct Names {
    stream: String,
    subject: String,
    status: String,
}

impl Names {
    fn new() -> Names {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Names {
            stream: format!("RT_{id}"),
            subject: format!("rt.{id}.policy"),
            status: format!("rt.{id}.edge"),
        }
    }
}

const EDGE_TOKEN: &str = "fleet-test-edge-token";

struct FleetDesk {
    desk: Desk,
    addr: std::net::SocketAddr,
    _running: rempart_desk::RunningDesk,
    key_dir: PathBuf,
    case_id: String,
    names: Names,
}

impl FleetDesk {
    async fn start(dir: &TempDir) -> FleetDesk {
        let db = format!("sqlite://{}", dir.path("desk.db").display());
        FleetDesk::start_on(dir, &db).await
    }

    /// A desk on the given database (`sqlite://…` or a PostgreSQL URL).
    async fn start_on(dir: &TempDir, database: &str) -> FleetDesk {
        let names = Names::new();
        let text = format!(
            r#"
listen = "127.0.0.1:0"
public_url = "https://desk.test"
provider_name = "Test Provider"
database = "{db}"
key_dir = "{keys}"
long_poll_seconds = 0
[nats]
url = "{url}"
stream = "{stream}"
subject = "{subject}"
status_subject = "{status}"
behind_versions = 0
[[edge_tokens]]
name = "edge"
sha256 = "{token_sha}"
"#,
            token_sha = hex::encode(rempart_desk::edge_token_sha256(EDGE_TOKEN)),
            db = database,
            keys = dir.path("keys").display(),
            url = nats_url(),
            stream = names.stream,
            subject = names.subject,
            status = names.status,
        );
        let config =
            DeskConfig::from_toml(&text, std::path::Path::new("desk.toml")).expect("config");
        let desk = Desk::open(config).await.expect("desk");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let running = desk.clone().start_on(listener).await.expect("start");
        // A report opens the case the decisions are made on.
        let resp = reqwest::Client::new()
            .post(format!("http://{addr}/api/v1/reports"))
            .json(&serde_json::json!({
                "urls": ["http://site.test/secret"], "category": "doxxing",
                "explanation": "My home address is published there.",
                "notifier_name": "Nadia", "notifier_email": "nadia@example.org", "good_faith": true,
            }))
            .send()
            .await
            .expect("report");
        assert!(resp.status().is_success(), "{}", resp.status());
        let deadline = Instant::now() + Duration::from_secs(30);
        let case_id = loop {
            let now = chrono::Utc::now().timestamp_millis();
            if let Some(c) = desk.store().queue(now, 10).await.expect("queue").pop() {
                break c.id;
            }
            assert!(Instant::now() < deadline, "the report opened no case");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // The stream exists once the publisher has connected.
        let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.expect("nats"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while js.get_stream(&names.stream).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "the desk never created its stream"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        FleetDesk {
            desk,
            addr,
            _running: running,
            key_dir: dir.path("keys"),
            case_id,
            names,
        }
    }

    /// Restricts `http://site.test<path>`; returns the new policy version.
    async fn restrict(&self, path: &str) -> u64 {
        self.restrict_until(path, None).await
    }

    /// Same, ending at `ends_at` (ms) if given.
    async fn restrict_until(&self, path: &str, ends_at: Option<i64>) -> u64 {
        let scope = serde_json::json!({"type": "url", "url": format!("http://site.test{path}")});
        let now = chrono::Utc::now().timestamp_millis();
        let d = NewDecision {
            case_id: self.case_id.clone(),
            action: "restrict_url".into(),
            ground_kind: "legal".into(),
            ground: "Publishes a private person's home address.".into(),
            facts: "Reported by the person concerned.".into(),
            category: "doxxing".into(),
            scope: Some(scope.to_string()),
            starts_at: now,
            ends_at,
            deadline: None,
            statement: Some(rempart_desk::testkit::statement(
                "The post gives a private person's home address.",
            )),
            emergency: false,
        };
        let ctx = rempart_desk::decision::PolicyContext {
            public_url: "https://desk.test".into(),
            implemented_by: "Test Provider".into(),
        };
        let actor = Actor {
            name: "analyst".into(),
            at: now,
        };
        let (_, v) = self
            .desk
            .store()
            .record_decision(&d, &actor, &ctx)
            .await
            .expect("decision");
        let v = v.expect("a restrictive decision issues a version");
        self.desk.policy_issued(v);
        v
    }

    fn edge_config(&self, edge_id: &str, nats: &str, origin: &Origin) -> String {
        format!(
            "[policy]\nnats_url = \"{nats}\"\nnats_stream = \"{}\"\nnats_subject = \"{}\"\nstatus_subject = \"{}\"\nedge_id = \"{edge_id}\"\nstatus_interval_ms = 100\ntrusted_keys_file = \"{}\"\ncache_file = \"policy-cache.json\"\n\n{}",
            self.names.stream,
            self.names.subject,
            self.names.status,
            self.key_dir.join("policy-ed25519.pub").display(),
            zone("site", &["site.test"], &[origin], ""),
        )
    }
}

/// Waits until the edge has written its cache (just after applying a version).
async fn wait_cache(dir: &TempDir) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.path("policy-cache.json").is_file() {
        assert!(Instant::now() < deadline, "no cache written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts an edge and waits until its HTTP listener accepts too: an edge that starts from its
/// cache is ready at once, and Pingora may open the admin listener before the others.
async fn start_edge(dir: &TempDir, config: &str) -> Edge {
    let edge = Edge::start(dir, config).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", edge.http))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the HTTP listener never opened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    edge
}

impl Drop for FleetDesk {
    /// Deletes the test's stream, so that runs do not pile streams up on the shared server.
    fn drop(&mut self) {
        let stream = self.names.stream.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(c) = async_nats::connect(nats_url()).await {
                    let js = async_nats::jetstream::new(c);
                    let _ = js.delete_stream(&stream).await;
                    let _ = js.delete_stream(format!("OBJ_{stream}_SNAPSHOTS")).await;
                }
            });
        })
        .join();
    }
}

async fn status_of(edge: &Edge, path: &str) -> u16 {
    edge.get("site.test", path).await.status().as_u16()
}

/// Waits until `path` answers `status` on the edge.
async fn wait_status(edge: &Edge, path: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = status_of(edge, path).await;
        if got == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still answers {got}, not {status}:\n{}",
            edge.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_reaches_three_edges_which_report_their_version() {
    if !nats_up().await {
        return;
    }
    let dir = TempDir::new("fleet-three");
    let desk = FleetDesk::start(&dir).await;
    let origin = Origin::plain("o1").await;
    let mut edges = Vec::new();
    let mut dirs = Vec::new();
    for i in 1..=3 {
        let d = TempDir::new(&format!("fleet-edge{i}"));
        let e = Edge::start(
            &d,
            &desk.edge_config(&format!("e{i}"), &nats_url(), &origin),
        )
        .await;
        dirs.push(d);
        edges.push(e);
    }
    for e in &edges {
        assert_eq!(status_of(e, "/secret").await, 200);
    }
    let v = desk.restrict("/secret").await;
    for e in &edges {
        wait_status(e, "/secret", 451).await;
        assert_eq!(e.metric("rempart_edge_policy_version").await, v as f64);
        assert_eq!(status_of(e, "/elsewhere").await, 200);
    }
    // The desk hears every edge at the new version, none flagged behind.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = desk.desk.edges();
        if rows.len() == 3 && rows.iter().all(|r| r.version == v && !r.behind) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "edges not all reported at {v}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A second version is a delta; it reaches them too.
    let v2 = desk.restrict("/second").await;
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.expect("nats"));
    let stream = js.get_stream(&desk.names.stream).await.expect("stream");
    let deadline = Instant::now() + Duration::from_secs(30);
    let last = loop {
        let m = stream
            .get_last_raw_message_by_subject(&desk.names.subject)
            .await
            .expect("last");
        if m.headers.get("Rempart-Version").map(|v| v.as_str()) == Some(&v2.to_string()) {
            break m;
        }
        assert!(Instant::now() < deadline, "version {v2} never published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        last.headers.get("Rempart-Kind").map(|v| v.as_str()),
        Some("delta")
    );
    for e in &edges {
        wait_status(e, "/second", 451).await;
        assert_eq!(status_of(e, "/secret").await, 451);
        assert_eq!(e.metric("rempart_edge_policy_version").await, v2 as f64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_forged_and_tampered_messages_are_refused() {
    if !nats_up().await {
        return;
    }
    let dir = TempDir::new("fleet-tamper");
    let desk = FleetDesk::start(&dir).await;
    let origin = Origin::plain("o1").await;
    let edir = TempDir::new("fleet-tamper-edge");
    let edge = start_edge(&edir, &desk.edge_config("e1", &nats_url(), &origin)).await;
    let v1 = desk.restrict("/secret").await;
    wait_status(&edge, "/secret", 451).await;

    // What a compromised broker could inject: a version 2 restricting /injected.
    let mut forged = rempart_policy::Policy::from_json(&policy_json(
        &[restriction(
            "x-1",
            serde_json::json!({"type": "url", "url": "http://site.test/injected"}),
            "legal",
        )],
        v1 + 1,
    ))
    .expect("policy");
    forged.issued_at = chrono::Utc::now();
    let payload = serde_json::to_string(&forged).expect("json");
    let desk_key = std::fs::read_to_string(desk.key_dir.join("policy-ed25519.key")).expect("key");
    let desk_key = rempart_policy::SigningKey::from_bytes(
        &<[u8; 32]>::try_from(hex::decode(desk_key.trim()).expect("hex")).expect("32 bytes"),
    );
    let other_key = rempart_policy::SigningKey::from_bytes(&[7; 32]);
    let good = rempart_policy::SignedPolicy::sign(
        rempart_policy::PayloadKind::Snapshot,
        payload.clone(),
        &desk_key,
    );
    let mut tampered = good.clone();
    tampered.payload = payload.replace("/injected", "/other");
    let mut forged_sig = rempart_policy::SignedPolicy::sign(
        rempart_policy::PayloadKind::Snapshot,
        payload.clone(),
        &other_key,
    );
    forged_sig.key_id = good.key_id.clone();
    let unknown_key = rempart_policy::SignedPolicy::sign(
        rempart_policy::PayloadKind::Snapshot,
        payload.clone(),
        &other_key,
    );

    let client = async_nats::connect(nats_url()).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let publish = |signed: Option<rempart_policy::SignedPolicy>, body: String| {
        let js = js.clone();
        let subject = desk.names.subject.clone();
        async move {
            let mut headers = async_nats::HeaderMap::new();
            if let Some(s) = signed {
                headers.insert("Rempart-Kind", s.kind.as_str());
                headers.insert("Rempart-Key-Id", s.key_id.as_str());
                headers.insert("Rempart-Signature", s.signature.as_str());
            }
            js.publish_with_headers(subject, headers, body.into())
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
    };
    publish(None, payload.clone()).await;
    publish(Some(tampered.clone()), tampered.payload.clone()).await;
    publish(Some(forged_sig.clone()), payload.clone()).await;
    publish(Some(unknown_key.clone()), payload.clone()).await;
    edge.wait_metric(
        "rempart_edge_reloads_total{outcome=\"refused\",what=\"policy\"}",
        4.0,
    )
    .await;
    assert_eq!(status_of(&edge, "/injected").await, 200);
    assert_eq!(status_of(&edge, "/other").await, 200);
    assert_eq!(status_of(&edge, "/secret").await, 451);
    assert_eq!(edge.metric("rempart_edge_policy_version").await, v1 as f64);
    let log = edge.log_text();
    assert!(log.contains("unsigned"), "{log}");
    assert!(log.contains("tampered or forged"), "{log}");

    // The desk covers the junk and goes on: the next decision reaches the edge.
    let v2 = desk.restrict("/second").await;
    wait_status(&edge, "/second", 451).await;
    assert_eq!(edge.metric("rempart_edge_policy_version").await, v2 as f64);
    assert_eq!(status_of(&edge, "/injected").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_restarted_while_nats_is_down_serves_its_last_policy() {
    if !nats_up().await {
        return;
    }
    let dir = TempDir::new("fleet-static");
    let desk = FleetDesk::start(&dir).await;
    let origin = Origin::plain("o1").await;
    let edir = TempDir::new("fleet-static-edge");
    let edge = start_edge(&edir, &desk.edge_config("e1", &nats_url(), &origin)).await;
    let v = desk.restrict("/secret").await;
    wait_status(&edge, "/secret", 451).await;
    let cache = edir.path("policy-cache.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cache.is_file() {
        assert!(Instant::now() < deadline, "no cache written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(edge);

    // The broker is unreachable now (a closed port); the edge starts from its cache.
    let closed = format!("nats://127.0.0.1:{}", free_port());
    let edge = start_edge(&edir, &desk.edge_config("e1", &closed, &origin)).await;
    assert_eq!(status_of(&edge, "/secret").await, 451);
    assert_eq!(status_of(&edge, "/elsewhere").await, 200);
    assert_eq!(edge.metric("rempart_edge_policy_version").await, v as f64);
    assert!(edge
        .log_text()
        .contains("starting from the last verified policy on disk"));
    drop(edge);

    // A cache altered on disk is refused like a tampered message: nothing is enforced from it.
    let text = std::fs::read_to_string(&cache).expect("cache");
    std::fs::write(&cache, text.replace("/secret", "/public")).expect("write");
    let log = edir.path("edge-altered.log");
    let mut child = std::process::Command::new(bin())
        .args(["edge", "--config"])
        .arg(edir.path("edge.toml"))
        .env("REMPART_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("ignoring the policy cache") {
            assert!(text.contains("tampered or forged"), "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the altered cache was not refused:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_that_missed_versions_catches_up() {
    if !nats_up().await {
        return;
    }
    let dir = TempDir::new("fleet-catchup");
    let desk = FleetDesk::start(&dir).await;
    let origin = Origin::plain("o1").await;
    let edir = TempDir::new("fleet-catchup-edge");
    let edge = start_edge(&edir, &desk.edge_config("e1", &nats_url(), &origin)).await;
    let first = desk.restrict("/one").await;
    wait_status(&edge, "/one", 451).await;
    // Heard by the desk at that version before it goes away.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !desk
        .desk
        .edges()
        .iter()
        .any(|r| r.edge_id == "e1" && r.version == first)
    {
        assert!(Instant::now() < deadline, "{:?}", desk.desk.edges());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(edge);
    // Versions issued while the edge is away.
    desk.restrict("/two").await;
    desk.restrict("/three").await;
    let last = desk.restrict("/four").await;
    // The desk flags the absent edge as behind.
    let row =
        |rows: Vec<rempart_desk::publish::EdgeRow>| rows.into_iter().find(|r| r.edge_id == "e1");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !row(desk.desk.edges()).is_some_and(|r| r.behind && r.versions_behind >= 3) {
        assert!(Instant::now() < deadline, "{:?}", desk.desk.edges());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let edge = start_edge(&edir, &desk.edge_config("e1", &nats_url(), &origin)).await;
    wait_status(&edge, "/four", 451).await;
    for p in ["/one", "/two", "/three"] {
        assert_eq!(status_of(&edge, p).await, 451, "{p}");
    }
    assert_eq!(
        edge.metric("rempart_edge_policy_version").await,
        last as f64
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while row(desk.desk.edges()).is_none_or(|r| r.behind || r.version != last) {
        assert!(Instant::now() < deadline, "{:?}", desk.desk.edges());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A new edge with no cache starts from the snapshot and reaches the same version.
    let fresh_dir = TempDir::new("fleet-catchup-fresh");
    let fresh = start_edge(&fresh_dir, &desk.edge_config("e2", &nats_url(), &origin)).await;
    wait_status(&fresh, "/four", 451).await;
    assert_eq!(status_of(&fresh, "/one").await, 451);
    assert_eq!(
        fresh.metric("rempart_edge_policy_version").await,
        last as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_measure_expires_on_time_on_an_edge_cut_off_from_the_desk() {
    if !nats_up().await {
        return;
    }
    let dir = TempDir::new("fleet-expiry");
    let desk = FleetDesk::start(&dir).await;
    let origin = Origin::plain("o1").await;
    let edir = TempDir::new("fleet-expiry-edge");
    let edge = start_edge(&edir, &desk.edge_config("e1", &nats_url(), &origin)).await;
    let ends_at = chrono::Utc::now() + chrono::Duration::seconds(4);
    desk.restrict_until("/urgent", Some(ends_at.timestamp_millis()))
        .await;
    wait_status(&edge, "/urgent", 451).await;
    wait_cache(&edir).await;
    drop(edge);
    // Cut off: the broker is unreachable, no newer version can lift the measure.
    let closed = format!("nats://127.0.0.1:{}", free_port());
    let edge = start_edge(&edir, &desk.edge_config("e1", &closed, &origin)).await;
    let got = status_of(&edge, "/urgent").await;
    if chrono::Utc::now() < ends_at {
        assert_eq!(got, 451, "the measure is in force until its end");
    }
    // It stops at its end, from the edge's own clock.
    let deadline = Instant::now() + Duration::from_secs(60);
    while status_of(&edge, "/urgent").await != 200 {
        assert!(Instant::now() < deadline, "the measure never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        chrono::Utc::now() >= ends_at,
        "the measure stopped before its end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_poll_is_signed_and_checked_when_the_edge_has_trusted_keys() {
    if !nats_up().await {
        return;
    }
    let dir = TempDir::new("fleet-longpoll");
    let desk = FleetDesk::start(&dir).await;
    let origin = Origin::plain("o1").await;
    let token = dir.write("edge.token", EDGE_TOKEN);
    let config = |keys: &std::path::Path| {
        format!(
            "[policy]\ndesk_url = \"http://{}/api/v1/policy\"\ndesk_token_file = \"{}\"\ntrusted_keys_file = \"{}\"\ncache_file = \"policy-cache.json\"\n\n{}",
            desk.addr,
            token.display(),
            keys.display(),
            zone("site", &["site.test"], &[&origin], ""),
        )
    };
    desk.restrict("/secret").await;
    // Trusting the desk's key: the version is taken, and cached signed.
    let good = TempDir::new("fleet-longpoll-good");
    let edge = start_edge(&good, &config(&desk.key_dir.join("policy-ed25519.pub"))).await;
    wait_status(&edge, "/secret", 451).await;
    // Written just after the policy is applied.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !good.path("policy-cache.json").is_file() {
        assert!(Instant::now() < deadline, "no cache written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cache = std::fs::read_to_string(good.path("policy-cache.json")).expect("cache");
    assert!(cache.contains("\"signature\""), "{cache}");
    // Trusting another key only: refused, nothing enforced.
    let bad = TempDir::new("fleet-longpoll-bad");
    let other = bad.write(
        "other.pub",
        &hex::encode(
            rempart_policy::SigningKey::from_bytes(&[9; 32])
                .verifying_key()
                .as_bytes(),
        ),
    );
    let text = format!(
        "[listen]\nhttp = [\"127.0.0.1:{}\"]\n\n{}",
        free_port(),
        config(&other)
    );
    let path = bad.write("edge.toml", &text);
    let log = bad.path("edge.log");
    let mut child = std::process::Command::new(bin())
        .args(["edge", "--config"])
        .arg(&path)
        .env("REMPART_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("policy from the desk refused") {
            assert!(text.contains("not among the trusted keys"), "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the unverifiable policy was not refused:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(!bad.path("policy-cache.json").exists());
}

/// Waits until the last message on the policy subject carries `version`; returns it.
async fn published(
    desk: &FleetDesk,
    version: u64,
) -> async_nats::jetstream::message::StreamMessage {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.expect("nats"));
    let stream = js.get_stream(&desk.names.stream).await.expect("stream");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(m) = stream
            .get_last_raw_message_by_subject(&desk.names.subject)
            .await
        {
            if m.headers.get("Rempart-Version").map(|v| v.as_str()) == Some(&version.to_string()) {
                return m;
            }
        }
        assert!(
            Instant::now() < deadline,
            "version {version} never published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A database for the desk: a fresh PostgreSQL schema when PostgreSQL answers (always under
/// CI=true), else SQLite.
async fn fleet_database(dir: &TempDir) -> String {
    match rempart_desk::testkit::postgres_url().await {
        Some(url) => url,
        None => format!("sqlite://{}", dir.path("desk.db").display()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_larger_than_max_payload_reaches_an_edge_through_the_object_store() {
    if !nats_up().await {
        return;
    }
    let dir = TempDir::new("fleet-large");
    let desk = FleetDesk::start_on(&dir, &fleet_database(&dir).await).await;
    let origin = Origin::plain("o1").await;
    let edir = TempDir::new("fleet-large-edge");
    let edge = start_edge(&edir, &desk.edge_config("e1", &nats_url(), &origin)).await;
    // 5,000 restrictions: some 1.7 MB of JSON, more than the server's max_payload.
    let urls: Vec<String> = (0..5_000)
        .map(|i| format!("http://site.test/seed/{i}"))
        .collect();
    let v = desk
        .desk
        .bulk_restrict(&desk.case_id, &urls)
        .await
        .expect("bulk");
    let client = async_nats::connect(nats_url()).await.expect("nats");
    let max_payload = client.server_info().max_payload as u64;
    let meta = desk.desk.store().policy_meta(v).await.expect("meta");
    assert!(meta.bytes > max_payload, "{} <= {max_payload}", meta.bytes);
    let msg = published(&desk, v).await;
    assert_eq!(
        msg.headers.get("Rempart-Kind").map(|v| v.as_str()),
        Some("snapshot_ref")
    );
    assert!(msg.payload.len() < 2_000, "{}", msg.payload.len());
    wait_status(&edge, "/seed/4999", 451).await;
    assert_eq!(status_of(&edge, "/seed/0").await, 451);
    assert_eq!(status_of(&edge, "/seed/5000").await, 200);
    assert_eq!(edge.metric("rempart_edge_policy_version").await, v as f64);
    // The next decision is a small delta on top of the stored snapshot.
    let v2 = desk.restrict("/after").await;
    let msg = published(&desk, v2).await;
    assert_eq!(
        msg.headers.get("Rempart-Kind").map(|v| v.as_str()),
        Some("delta")
    );
    wait_status(&edge, "/after", 451).await;
    assert_eq!(status_of(&edge, "/seed/17").await, 451);
    // Fail-static with a stored snapshot: the edge starts from its cache (the signed
    // reference, the stored bytes next to it, the delta) with the broker unreachable.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(edir.path("policy-cache.json"))
        .unwrap_or_default()
        .contains("\"delta\"")
    {
        assert!(Instant::now() < deadline, "the delta was never cached");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(edge);
    let closed = format!("nats://127.0.0.1:{}", free_port());
    let edge = start_edge(&edir, &desk.edge_config("e1", &closed, &origin)).await;
    assert_eq!(status_of(&edge, "/seed/4321").await, 451);
    assert_eq!(status_of(&edge, "/after").await, 451);
    assert_eq!(edge.metric("rempart_edge_policy_version").await, v2 as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_or_partial_stored_snapshot_is_refused_and_the_policy_in_force_stays() {
    if !nats_up().await {
        return;
    }
    let dir = TempDir::new("fleet-large-tamper");
    let desk = FleetDesk::start_on(&dir, &fleet_database(&dir).await).await;
    let origin = Origin::plain("o1").await;
    let edir = TempDir::new("fleet-large-tamper-edge");
    let config = desk.edge_config("e1", &nats_url(), &origin);
    let edge = start_edge(&edir, &config).await;
    let v1 = desk.restrict("/secret").await;
    wait_status(&edge, "/secret", 451).await;
    wait_cache(&edir).await;
    drop(edge);

    // A large version while the edge is away, whose stored bytes a compromised broker alters.
    let urls: Vec<String> = (0..5_000)
        .map(|i| format!("http://site.test/seed/{i}"))
        .collect();
    let v2 = desk
        .desk
        .bulk_restrict(&desk.case_id, &urls)
        .await
        .expect("bulk");
    let msg = published(&desk, v2).await;
    let reference: rempart_policy::SnapshotRef =
        serde_json::from_slice(&msg.payload).expect("a snapshot reference");
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.expect("nats"));
    let bucket = js
        .get_object_store(&reference.bucket)
        .await
        .expect("bucket");
    let mut original = Vec::new();
    {
        use tokio::io::AsyncReadExt;
        bucket
            .get(&reference.object)
            .await
            .expect("object")
            .read_to_end(&mut original)
            .await
            .expect("read");
    }
    assert_eq!(original.len() as u64, reference.bytes);
    let mut altered = original.clone();
    let mid = altered.len() / 2;
    altered[mid] ^= 0x55;
    bucket
        .put(reference.object.as_str(), &mut altered.as_slice())
        .await
        .expect("put altered");
    let edge = start_edge(&edir, &config).await;
    edge.wait_metric(
        "rempart_edge_reloads_total{outcome=\"refused\",what=\"policy\"}",
        1.0,
    )
    .await;
    assert_eq!(status_of(&edge, "/secret").await, 451);
    assert_eq!(status_of(&edge, "/seed/1").await, 200);
    assert_eq!(edge.metric("rempart_edge_policy_version").await, v1 as f64);
    assert!(edge.log_text().contains("SHA-256"), "{}", edge.log_text());
    drop(edge);

    // Partial: only the first half of the bytes (an interrupted upload, a lost chunk).
    bucket
        .put(
            reference.object.as_str(),
            &mut &original[..original.len() / 2],
        )
        .await
        .expect("put partial");
    let edge = start_edge(&edir, &config).await;
    edge.wait_metric(
        "rempart_edge_reloads_total{outcome=\"refused\",what=\"policy\"}",
        1.0,
    )
    .await;
    assert_eq!(status_of(&edge, "/seed/1").await, 200);
    assert_eq!(status_of(&edge, "/secret").await, 451);
    assert_eq!(edge.metric("rempart_edge_policy_version").await, v1 as f64);

    // The intact bytes back: the next version makes the edge read from the snapshot again,
    // and it reaches the newest version, whole.
    bucket
        .put(reference.object.as_str(), &mut original.as_slice())
        .await
        .expect("put original");
    let v3 = desk.restrict("/third").await;
    wait_status(&edge, "/third", 451).await;
    assert_eq!(status_of(&edge, "/seed/4999").await, 451);
    assert_eq!(status_of(&edge, "/secret").await, 451);
    assert_eq!(edge.metric("rempart_edge_policy_version").await, v3 as f64);
}
