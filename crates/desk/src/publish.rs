//! Publication of policy versions to the edges over NATS JetStream, and the edges' reports.
//!
//! One stream (`[nats] stream`, created if missing, roll-ups allowed) holds one subject
//! (`[nats] subject`). Each version is one message, signed with the desk's policy key (see
//! [`rempart_policy::SignedPolicy`]): a delta from the previous version while the deltas since
//! the last snapshot stay smaller than a snapshot, else a full snapshot published with
//! `Nats-Rollup: sub`, which purges everything before it. The subject therefore always reads
//! "latest snapshot, then each delta since", which is what a new edge needs and all it needs.
//! A snapshot larger than a message (the server's `max_payload`) is compressed and stored in
//! the JetStream object store `<stream>_SNAPSHOTS`; the subject then carries a signed
//! [`rempart_policy::SnapshotRef`] naming the object, its size and its SHA-256.
//!
//! Order, without gap or duplicate: the publisher reads the version of the subject's last
//! message and publishes every later version from the database in order, each with
//! `Nats-Expected-Last-Subject-Sequence` (a concurrent publisher's message makes ours fail
//! instead of interleaving) and `Nats-Msg-Id` = stream and version (a retried publish is
//! dropped by JetStream as a duplicate). It runs on start, whenever this desk issues a
//! version, and every few seconds (versions issued by another desk on the same database).
//!
//! Edges report the version they enforce on `<status_subject>.<edge_id>.status`; every desk
//! subscribes, so each desk knows every edge without sharing memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use rempart_policy::{SignedPolicy, SigningKey, SnapshotRef};
use serde::{Deserialize, Serialize};

use crate::config::NatsConfig;
use crate::web::AppState;

/// Header names shared with the edge (`rempart_edge::fleet::headers`).
const KIND: &str = "Rempart-Kind";
const KEY_ID: &str = "Rempart-Key-Id";
const SIGNATURE: &str = "Rempart-Signature";
const VERSION: &str = "Rempart-Version";

/// Room left under the server's `max_payload` for a message's headers.
const INLINE_MARGIN: u64 = 16 * 1024;

/// What an edge reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeReport {
    /// The edge's name.
    pub edge_id: String,
    /// The version it enforces.
    pub version: u64,
    /// When that version was issued.
    pub issued_at: String,
    /// When the edge made the report.
    pub at: String,
    /// Restrictions it enforces.
    pub restrictions: usize,
}

/// What the desk knows of the fleet.
#[derive(Debug, Default)]
pub struct Fleet {
    edges: Mutex<HashMap<String, (EdgeReport, DateTime<Utc>)>>,
    /// When each version was issued (those this desk has read), to tell how long an edge
    /// has lacked the next one.
    issued: Mutex<BTreeMap<u64, DateTime<Utc>>>,
}

/// One edge's row in `GET /api/v1/edges`.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeRow {
    /// The edge's name.
    pub edge_id: String,
    /// The version it enforces.
    pub version: u64,
    /// How many versions it lacks.
    pub versions_behind: u64,
    /// For how long it has lacked a version, in seconds (0 when up to date).
    pub lag_seconds: i64,
    /// Seconds since its last report.
    pub last_report_seconds: i64,
    /// Restrictions it enforces.
    pub restrictions: usize,
    /// Behind by more than the configured versions or seconds, or silent for as long.
    pub behind: bool,
}

impl Fleet {
    fn heard(&self, report: EdgeReport, now: DateTime<Utc>) {
        let mut edges = self.edges.lock().unwrap_or_else(|e| e.into_inner());
        edges.insert(report.edge_id.clone(), (report, now));
    }

    fn issued(&self, version: u64, at: DateTime<Utc>) {
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.insert(version, at);
        // Only recent versions matter for lag; keep the map small.
        while issued.len() > 10_000 {
            issued.pop_first();
        }
    }

    /// Every edge heard from, with its lag behind `current`.
    pub fn rows(&self, current: u64, now: DateTime<Utc>, nats: &NatsConfig) -> Vec<EdgeRow> {
        let edges = self.edges.lock().unwrap_or_else(|e| e.into_inner());
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<EdgeRow> = edges
            .values()
            .map(|(r, heard_at)| {
                let versions_behind = current.saturating_sub(r.version);
                // Lacking since the first version it does not have was issued.
                let lag_seconds = if versions_behind == 0 {
                    0
                } else {
                    issued
                        .range(r.version + 1..)
                        .next()
                        .map_or(0, |(_, at)| (now - *at).num_seconds().max(0))
                };
                let last_report_seconds = (now - *heard_at).num_seconds().max(0);
                let limit = nats.behind_seconds as i64;
                EdgeRow {
                    edge_id: r.edge_id.clone(),
                    version: r.version,
                    versions_behind,
                    lag_seconds,
                    last_report_seconds,
                    restrictions: r.restrictions,
                    behind: versions_behind > nats.behind_versions
                        || lag_seconds > limit
                        || last_report_seconds > limit,
                }
            })
            .collect();
        rows.sort_by(|a, b| a.edge_id.cmp(&b.edge_id));
        rows
    }
}

/// Publishes policy versions and listens to edges until the desk stops; reconnects with a
/// back-off when NATS is unavailable (the long poll keeps working meanwhile).
pub(crate) async fn run(state: AppState, nats: NatsConfig) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match session(&state, &nats).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(url = %crate::config::redact_url(&nats.url), "policy publication over NATS: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn session(state: &AppState, nats: &NatsConfig) -> Result<(), String> {
    let client = async_nats::ConnectOptions::new()
        .name("rempart-desk")
        .connection_timeout(Duration::from_secs(2))
        .connect(&nats.url)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let js = jetstream::new(client.clone());
    let stream = js
        .get_or_create_stream(jetstream::stream::Config {
            name: nats.stream.clone(),
            subjects: vec![nats.subject.clone()],
            allow_rollup: true,
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("stream {}: {e}", nats.stream))?;
    let mut reports = client
        .subscribe(format!("{}.*.status", nats.status_subject))
        .await
        .map_err(|e| format!("subscribing to edge reports: {e}"))?;
    let mut versions = state.policy_version.subscribe();
    let mut publisher = Publisher {
        key: state.keys.policy.clone(),
        deltas_since_snapshot: None,
        snapshot_wire: 0,
        inline_max: (client.server_info().max_payload as u64).saturating_sub(INLINE_MARGIN),
    };
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut due = true;
    let mut flagged = std::collections::HashSet::new();
    tracing::info!(stream = %nats.stream, subject = %nats.subject, "publishing policy versions over NATS");
    loop {
        if due {
            // Raced by another desk's publisher: read the subject again and carry on from
            // where it stands (each race means the other desk made progress). Bounded, in
            // case the subject never moves: the next tick tries again.
            for _ in 0..100 {
                if !publisher.publish_pending(state, &js, &stream, nats).await? {
                    break;
                }
            }
            due = false;
        }
        tokio::select! {
            changed = versions.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                due = true;
            }
            Some(msg) = reports.next() => {
                let edge = msg.subject.split('.').rev().nth(1).unwrap_or("").to_string();
                match serde_json::from_slice::<EdgeReport>(&msg.payload) {
                    Ok(r) if r.edge_id == edge => state.fleet.heard(r, Utc::now()),
                    _ => tracing::debug!(subject = %msg.subject, "malformed edge report ignored"),
                }
            }
            _ = tick.tick() => {
                due = true;
                alert_behind(state, nats, &mut flagged);
            }
        }
    }
}

impl Publisher {
    /// Whether a message on the subject carries this desk's valid signature.
    fn is_ours(&self, headers: &async_nats::HeaderMap, payload: &[u8]) -> bool {
        let get = |n: &str| headers.get(n).map(|v| v.as_str().to_string());
        let (Some(kind), Some(key_id), Some(signature)) = (get(KIND), get(KEY_ID), get(SIGNATURE))
        else {
            return false;
        };
        let (Some(kind), Ok(payload)) = (
            rempart_policy::PayloadKind::parse(&kind),
            String::from_utf8(payload.to_vec()),
        ) else {
            return false;
        };
        let signed = SignedPolicy {
            kind,
            payload,
            key_id,
            signature,
        };
        let trusted = rempart_policy::TrustedKeys::new([self.key.verifying_key()]);
        signed.verify(&trusted).is_ok()
    }
}

/// Logs an alert when an edge falls behind, once until it catches up (then logs that too).
fn alert_behind(
    state: &AppState,
    nats: &NatsConfig,
    flagged: &mut std::collections::HashSet<String>,
) {
    let current = *state.policy_version.borrow();
    for row in state.fleet.rows(current, Utc::now(), nats) {
        if row.behind && flagged.insert(row.edge_id.clone()) {
            tracing::warn!(
                edge = %row.edge_id,
                version = row.version,
                current,
                versions_behind = row.versions_behind,
                lag_seconds = row.lag_seconds,
                last_report_seconds = row.last_report_seconds,
                "ALERT: an edge is behind on the policy"
            );
        } else if !row.behind && flagged.remove(&row.edge_id) {
            tracing::info!(edge = %row.edge_id, version = row.version, "the edge has caught up");
        }
    }
}

struct Publisher {
    key: SigningKey,
    /// Bytes of deltas published since the last snapshot; unknown after a (re)start, which
    /// makes the next version a snapshot.
    deltas_since_snapshot: Option<u64>,
    /// The last snapshot's size on the wire (its JSON, or its stored bytes).
    snapshot_wire: u64,
    /// The largest payload published as one message: the server's `max_payload` less room
    /// for headers. A larger snapshot goes to the object store.
    inline_max: u64,
}

impl Publisher {
    async fn publish_pending(
        &mut self,
        state: &AppState,
        js: &jetstream::Context,
        stream: &jetstream::stream::Stream,
        nats: &NatsConfig,
    ) -> Result<bool, String> {
        let store = &state.store;
        let db = |e: crate::store::StoreError| format!("reading policy versions: {e}");
        // Only the number: the versions are read one by one below, when there is work.
        let Some(latest) = store
            .latest_policy_version()
            .await
            .map_err(db)?
            .filter(|v| *v > 0)
        else {
            return Ok(false);
        };
        let (mut published, mut last_seq, ours) = match stream
            .get_last_raw_message_by_subject(&nats.subject)
            .await
        {
            Ok(m) => {
                let ours = self.is_ours(&m.headers, &m.payload);
                let v = m
                    .headers
                    .get(VERSION)
                    .and_then(|v| v.as_str().parse::<u64>().ok())
                    .unwrap_or(0);
                (v, m.sequence, ours)
            }
            Err(e) if e.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound => {
                (0, 0, true)
            }
            Err(e) => return Err(format!("reading the last published version: {e}")),
        };
        if !ours {
            // Something on the subject that this desk did not sign (edges refuse it): cover
            // it with the latest version as a snapshot, whose roll-up purges it.
            tracing::error!(
                sequence = last_seq,
                "the last message on the policy subject is not signed by this desk; republishing the latest version as a snapshot"
            );
            published = latest.saturating_sub(1);
            self.deltas_since_snapshot = None;
        }
        if published > latest {
            return Err(format!(
                "the stream holds version {published}, newer than the database's {latest}: is it another desk's stream?"
            ));
        }
        while published < latest {
            let version = published + 1;
            let meta = store.policy_meta(version).await.map_err(db)?;
            let issued_at = crate::clock::from_millis(meta.issued_at);
            state.fleet.issued(version, issued_at);
            // A delta (read from the rows changed in this version, never from whole
            // documents) while the deltas since the last snapshot stay smaller than it was on
            // the wire (so an edge never replays more than a snapshot's worth) and it fits a
            // message.
            let delta = match self.deltas_since_snapshot {
                Some(_) if ours => store.policy_delta(version).await.map_err(db)?,
                _ => None,
            };
            let signed = match (delta, self.deltas_since_snapshot) {
                (Some(d), Some(since))
                    if d.base == published && {
                        let n = d.json_len() as u64;
                        // What a snapshot would cost now: the document itself when it
                        // fits a message, else about what the last stored one did.
                        let snapshot = if meta.bytes <= self.inline_max {
                            meta.bytes
                        } else {
                            meta.bytes.min(self.snapshot_wire)
                        };
                        since + n < snapshot && n <= self.inline_max
                    } =>
                {
                    self.deltas_since_snapshot = Some(since + d.json_len() as u64);
                    SignedPolicy::delta(&d, &self.key)
                }
                _ => {
                    self.deltas_since_snapshot = Some(0);
                    let doc = store.policy_version(version).await.map_err(db)?;
                    if doc.len() as u64 <= self.inline_max {
                        self.snapshot_wire = doc.len() as u64;
                        // The document is signed as it is: no re-serialisation.
                        SignedPolicy::sign(rempart_policy::PayloadKind::Snapshot, doc, &self.key)
                    } else {
                        let (signed, stored) = self
                            .store_snapshot(js, nats, version, issued_at, meta.restrictions, doc)
                            .await?;
                        self.snapshot_wire = stored;
                        signed
                    }
                }
            };
            let mut publish = jetstream::context::Publish::build()
                .message_id(if ours {
                    format!("{}:{version}", nats.stream)
                } else {
                    format!("{}:{version}:after:{last_seq}", nats.stream)
                })
                .expected_last_subject_sequence(last_seq)
                .header(KIND, signed.kind.as_str())
                .header(KEY_ID, signed.key_id.as_str())
                .header(SIGNATURE, signed.signature.as_str())
                .header(VERSION, version.to_string().as_str());
            if signed.kind != rempart_policy::PayloadKind::Delta {
                publish = publish.header("Nats-Rollup", "sub");
            }
            let ack = js
                .send_publish(
                    nats.subject.clone(),
                    publish.payload(signed.payload.into_bytes().into()),
                )
                .await
                .map_err(|e| format!("publishing version {version}: {e}"))?
                .await;
            let ack = match ack {
                Ok(ack) => ack,
                // Another desk published on the subject since we read it: its message stands
                // (the expected sequence refused ours), read the subject again.
                Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                    tracing::debug!(version, "another desk published first");
                    self.deltas_since_snapshot = None;
                    return Ok(true);
                }
                Err(e) => return Err(format!("publishing version {version}: {e}")),
            };
            if ack.duplicate {
                // Published already (by a retry or another desk): read the subject again.
                self.deltas_since_snapshot = None;
                return Ok(true);
            }
            tracing::info!(
                version,
                kind = signed.kind.as_str(),
                sequence = ack.sequence,
                "policy version published"
            );
            if signed.kind == rempart_policy::PayloadKind::SnapshotRef {
                prune_snapshots(js, &snapshot_bucket(nats)).await;
            }
            published = version;
            last_seq = ack.sequence;
        }
        Ok(false)
    }

    /// Stores a snapshot too large for one message in the object store (chunked by
    /// JetStream); returns the signed reference to publish instead, and the stored size.
    async fn store_snapshot(
        &self,
        js: &jetstream::Context,
        nats: &NatsConfig,
        version: u64,
        issued_at: DateTime<Utc>,
        restrictions: u64,
        doc: String,
    ) -> Result<(SignedPolicy, u64), String> {
        let bucket = snapshot_bucket(nats);
        let b = bucket.clone();
        let json_bytes = doc.len();
        let (reference, bytes) = tokio::task::spawn_blocking(move || {
            SnapshotRef::seal(&doc, version, issued_at, restrictions, &b)
        })
        .await
        .map_err(|e| format!("sealing version {version}: {e}"))??;
        let objects = match js.get_object_store(&bucket).await {
            Ok(o) => o,
            Err(_) => js
                .create_object_store(jetstream::object_store::Config {
                    bucket: bucket.clone(),
                    description: Some("Rempart policy snapshots too large for one message".into()),
                    storage: jetstream::stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("object store {bucket}: {e}"))?,
        };
        objects
            .put(reference.object.as_str(), &mut bytes.as_slice())
            .await
            .map_err(|e| format!("storing version {version} in {bucket}: {e}"))?;
        tracing::info!(
            version,
            bucket = %bucket,
            object = %reference.object,
            bytes = reference.bytes,
            json_bytes,
            restrictions,
            "policy snapshot stored"
        );
        Ok((
            SignedPolicy::snapshot_ref(&reference, &self.key),
            reference.bytes,
        ))
    }
}

/// The object store of large snapshots: named after the stream.
pub fn snapshot_bucket(nats: &NatsConfig) -> String {
    format!("{}_SNAPSHOTS", nats.stream)
}

/// Deletes stored snapshots but the two newest: the one just published, and the one before
/// for an edge still fetching it (it will find the newer one on the subject).
async fn prune_snapshots(js: &jetstream::Context, bucket: &str) {
    let Ok(objects) = js.get_object_store(bucket).await else {
        return;
    };
    let Ok(mut list) = objects.list().await else {
        return;
    };
    let mut names = Vec::new();
    while let Some(Ok(info)) = list.next().await {
        let version = info
            .name
            .strip_prefix("policy-v")
            .and_then(|r| r.split('-').next())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(v) = version {
            names.push((v, info.name));
        }
    }
    names.sort();
    let keep = names.len().saturating_sub(2);
    for (_, name) in names.into_iter().take(keep) {
        if let Err(e) = objects.delete(&name).await {
            tracing::debug!(object = %name, "old snapshot not deleted: {e}");
        }
    }
}

/// Several desks on one PostgreSQL: wakes this desk's long polls and NATS publisher when any
/// desk issues a policy version (the `policy_versions_notify` trigger sends a NOTIFY on
/// commit). Notifications sent while the listener is disconnected are lost, so the latest
/// version is read again after every (re)connection.
pub(crate) async fn listen_for_versions(state: AppState) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if let Err(e) = listen_session(&state).await {
            tracing::warn!("listening for policy versions of other desks: {e}");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn listen_session(state: &AppState) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(&state.config.database).await?;
    // Reconnect (and LISTEN again) before reporting a lost connection, so that the re-read
    // below comes after the LISTEN and no version falls between the two.
    listener.eager_reconnect(true);
    listener.listen(VERSIONS_CHANNEL).await?;
    loop {
        let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM policy_versions")
            .fetch_one(state.store.pool())
            .await?;
        if let Some(v) = latest {
            state.published(v as u64);
        }
        // A notification (or `None`: the connection was lost and made again): read again.
        let _ = listener.try_recv().await?;
    }
}

/// The PostgreSQL channel of new policy versions (migration 0006).
const VERSIONS_CHANNEL: &str = "rempart_policy";
