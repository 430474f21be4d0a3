//! Policy from the fleet's channel: NATS JetStream, signed by the desk.
//!
//! The stream holds, for one subject, the latest full snapshot (published with a roll-up, which
//! purges everything before it) followed by the deltas since. The edge reads it from the start
//! with an ordered consumer: the snapshot, then each delta whose base is the version in force.
//! A snapshot too large for a message comes as a signed reference to an object store object:
//! the edge fetches it and applies it only if its size and SHA-256 are the signed ones, so a
//! partial or altered snapshot is never applied.
//! Every message is checked against the desk's public keys before it is parsed; a message
//! that fails is refused (logged, counted in `reloads_total{what="policy",outcome="refused"}`)
//! and the policy in force stays. What was verified is kept on disk (the snapshot and its
//! deltas, still signed) so that the edge starts from it when the broker is unreachable.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use rempart_policy::{PayloadKind, Policy, SignedPolicy, SnapshotRef, TrustedKeys, Verified};
use serde::{Deserialize, Serialize};

use crate::config::EdgeConfig;
use crate::state::EdgeState;

/// Message headers that carry the signature next to the signed payload (the message body).
pub mod headers {
    /// `snapshot` or `delta`.
    pub const KIND: &str = "Rempart-Kind";
    /// The signing key's id.
    pub const KEY_ID: &str = "Rempart-Key-Id";
    /// The Ed25519 signature of the body, hex.
    pub const SIGNATURE: &str = "Rempart-Signature";
    /// The version the message brings (informative: the signed payload is authoritative).
    pub const VERSION: &str = "Rempart-Version";
}

const CACHE_FORMAT: &str = "rempart-signed-policy/1";

/// The largest policy document a stored snapshot may decode to (some 10 million
/// restrictions): a bound on memory, not a limit met in practice.
const MAX_SNAPSHOT_BYTES: u64 = 4 << 30;

/// How long fetching a stored snapshot may take before the session starts over.
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// What is kept on disk: a signed snapshot and the signed deltas applied on top, in order.
/// Re-verified on every start, so a cache altered on disk is refused like a tampered message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifiedChain {
    format: String,
    snapshot: SignedPolicy,
    #[serde(default)]
    deltas: Vec<SignedPolicy>,
}

impl VerifiedChain {
    /// A chain of one verified snapshot.
    pub fn of_snapshot(snapshot: SignedPolicy) -> VerifiedChain {
        VerifiedChain {
            format: CACHE_FORMAT.into(),
            snapshot,
            deltas: Vec::new(),
        }
    }

    /// Verifies every link and returns the policy they produce; a snapshot stored by
    /// reference is read with `blob` (the stored bytes, checked against the reference).
    pub fn replay(
        &self,
        trusted: &TrustedKeys,
        blob: &dyn Fn(&SnapshotRef) -> Result<Vec<u8>, String>,
    ) -> Result<Policy, String> {
        if self.format != CACHE_FORMAT {
            return Err(format!("unknown cache format '{}'", self.format));
        }
        let mut policy = match self.snapshot.verify(trusted).map_err(|e| e.to_string())? {
            Verified::Snapshot(p) => p,
            Verified::SnapshotRef(r) => r.open(&blob(&r)?, MAX_SNAPSHOT_BYTES)?,
            Verified::Delta(_) => return Err("the chain does not start with a snapshot".into()),
        };
        for d in &self.deltas {
            match d.verify(trusted).map_err(|e| e.to_string())? {
                Verified::Delta(delta) => {
                    delta.apply_in_place(&mut policy)?;
                }
                _ => return Err("a snapshot inside the chain".into()),
            }
        }
        Ok(policy)
    }
}

/// Where the bytes of a snapshot stored by reference are kept next to the cache file: named
/// by their digest, so that a new snapshot never overwrites the one an older cache names.
fn blob_path(cache: &Path, r: &SnapshotRef) -> PathBuf {
    let name = cache
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    cache.with_file_name(format!("{name}.{}.zst", &r.sha256[..16]))
}

/// Deletes the snapshot blobs next to `cache` but `keep`.
fn remove_other_blobs(cache: &Path, keep: Option<&Path>) {
    let (Some(dir), Some(name)) = (cache.parent(), cache.file_name()) else {
        return;
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let kept = keep.and_then(Path::file_name) == Some(e.file_name().as_os_str());
        if n.starts_with(&prefix) && n.ends_with(".zst") && !kept {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Reads and verifies the cache file: the last verified policy and its chain.
pub fn load_cache(path: &Path, trusted: &TrustedKeys) -> Result<(Policy, VerifiedChain), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let chain: VerifiedChain =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let blob = |r: &SnapshotRef| {
        let p = blob_path(path, r);
        std::fs::read(&p).map_err(|e| format!("{}: cannot read: {e}", p.display()))
    };
    let policy = chain
        .replay(trusted, &blob)
        .map_err(|e| format!("{}: refused: {e}", path.display()))?;
    Ok((policy, chain))
}

/// The trusted keys from the configuration.
pub fn trusted_keys(config: &EdgeConfig) -> TrustedKeys {
    TrustedKeys::new(config.policy.trusted.iter().copied())
}

/// A status report, published on `<status_subject>.<edge_id>.status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeStatus {
    /// The edge's name.
    pub edge_id: String,
    /// The policy version it enforces.
    pub version: u64,
    /// When the desk issued that version (RFC 3339).
    pub issued_at: String,
    /// When this report was made (RFC 3339).
    pub at: String,
    /// Restrictions in the policy in force.
    pub restrictions: usize,
}

/// What one message did.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Applied(u64),
    /// Not newer than the version in force.
    Skipped,
    /// Refused: bad or missing signature, or a payload that does not apply.
    Refused,
    /// A delta for a version newer than ours, from another base: re-read from the snapshot.
    Gap,
    /// A stored snapshot could not be fetched: start the session over.
    Unavailable(String),
}

struct Follower {
    state: Arc<EdgeState>,
    trusted: TrustedKeys,
    cache: Option<PathBuf>,
    policy: Policy,
    chain: Option<VerifiedChain>,
    /// The stored snapshot's bytes written next to the cache (by digest), if any.
    blob_written: Option<PathBuf>,
}

impl Follower {
    fn refuse(&self, seq: u64, why: &str) -> Step {
        self.state
            .metrics
            .reloads
            .with_label_values(&["policy", "refused"])
            .inc();
        tracing::error!(
            stream_sequence = seq,
            version_in_force = self.policy.version,
            "policy message refused, the policy in force stays: {why}"
        );
        Step::Refused
    }

    async fn handle(
        &mut self,
        js: &jetstream::Context,
        seq: u64,
        msg: &async_nats::Message,
    ) -> Step {
        let header = |name: &str| {
            msg.headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_string())
        };
        let (Some(kind), Some(key_id), Some(signature)) = (
            header(headers::KIND),
            header(headers::KEY_ID),
            header(headers::SIGNATURE),
        ) else {
            return self.refuse(seq, "unsigned (no signature headers)");
        };
        let Some(kind) = PayloadKind::parse(&kind) else {
            return self.refuse(seq, &format!("unknown kind '{kind}'"));
        };
        let Ok(payload) = String::from_utf8(msg.payload.to_vec()) else {
            return self.refuse(seq, "the payload is not UTF-8");
        };
        let signed = SignedPolicy {
            kind,
            payload,
            key_id,
            signature,
        };
        let verified = match signed.verify(&self.trusted) {
            Ok(v) => v,
            Err(e) => return self.refuse(seq, &e.to_string()),
        };
        if verified.version() <= self.policy.version {
            return Step::Skipped;
        }
        let started = std::time::Instant::now();
        let chain_of = |signed| VerifiedChain {
            format: CACHE_FORMAT.into(),
            snapshot: signed,
            deltas: Vec::new(),
        };
        let state = self.state.clone();
        let (policy, chain, blob) = match verified {
            Verified::Snapshot(p) => (p, chain_of(signed), None),
            Verified::SnapshotRef(r) => {
                let bytes = match fetch_snapshot(js, &r).await {
                    Ok(b) => b,
                    Err(e) => return Step::Unavailable(e),
                };
                tracing::info!(
                    version = r.version,
                    bytes = bytes.len(),
                    fetch_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "stored policy snapshot fetched"
                );
                // Checked whole (size, SHA-256 named by the signed reference) before parsing:
                // a partial or altered object is refused like a tampered message.
                let opened = tokio::task::spawn_blocking(move || {
                    r.open(&bytes, MAX_SNAPSHOT_BYTES).map(|p| (p, bytes, r))
                })
                .await;
                match opened {
                    Ok(Ok((p, bytes, r))) => (p, chain_of(signed), Some((r, bytes))),
                    Ok(Err(e)) => return self.refuse(seq, &e),
                    Err(e) => return self.refuse(seq, &format!("opening the snapshot: {e}")),
                }
            }
            Verified::Delta(d) => {
                if d.base != self.policy.version {
                    tracing::info!(
                        base = d.base,
                        version = d.version,
                        in_force = self.policy.version,
                        "missed versions: reading the latest snapshot"
                    );
                    return Step::Gap;
                }
                let Some(mut chain) = self.chain.clone() else {
                    return Step::Gap;
                };
                // Applied to the policy in force and to its index by their changes only, off
                // the async threads; a refused delta changes neither.
                let mut policy = std::mem::replace(&mut self.policy, Policy::empty());
                let applied = tokio::task::spawn_blocking(move || {
                    let base = policy.version;
                    match d.apply_in_place(&mut policy) {
                        Ok(gone) => {
                            state.install_changes(&policy, base, &gone, &d.upsert);
                            (policy, Ok(()))
                        }
                        Err(e) => (policy, Err(e)),
                    }
                })
                .await;
                let policy = match applied {
                    Ok((p, Ok(()))) => p,
                    Ok((p, Err(e))) => {
                        self.policy = p;
                        return self.refuse(seq, &e);
                    }
                    Err(e) => {
                        // The blocking task died: what is in force is unknown, start over.
                        return Step::Unavailable(format!("applying the delta failed: {e}"));
                    }
                };
                chain.deltas.push(signed);
                self.applied(policy, chain, None, started).await;
                return Step::Applied(self.policy.version);
            }
        };
        // Build the index off the async threads: a large policy takes a while.
        let policy = match tokio::task::spawn_blocking(move || {
            state.install_policy(&policy, false);
            policy
        })
        .await
        {
            Ok(p) => p,
            Err(e) => return self.refuse(seq, &format!("installing failed: {e}")),
        };
        self.applied(policy, chain, blob, started).await;
        Step::Applied(self.policy.version)
    }

    /// Records a policy now in force: metrics, log, and the cache on disk (the stored
    /// snapshot's bytes first, then the chain that names them).
    async fn applied(
        &mut self,
        policy: Policy,
        chain: VerifiedChain,
        blob: Option<(SnapshotRef, Vec<u8>)>,
        started: std::time::Instant,
    ) {
        self.state
            .metrics
            .reloads
            .with_label_values(&["policy", "ok"])
            .inc();
        tracing::info!(
            version = policy.version,
            restrictions = policy.restrictions.len(),
            apply_ms = started.elapsed().as_secs_f64() * 1000.0,
            "policy from the fleet channel applied"
        );
        if let Some(cache) = &self.cache {
            let cache = cache.clone();
            let bytes = serde_json::to_vec(&chain).unwrap_or_default();
            let is_ref = chain.snapshot.kind == PayloadKind::SnapshotRef;
            let previous_blob = self.blob_written.clone();
            let written = tokio::task::spawn_blocking(move || {
                let mut blob_path_written = previous_blob.filter(|_| is_ref);
                if let Some((r, data)) = &blob {
                    let p = blob_path(&cache, r);
                    crate::control::write_atomically(&p, data)?;
                    blob_path_written = Some(p);
                }
                crate::control::write_atomically(&cache, &bytes)?;
                if blob.is_some() || !is_ref {
                    remove_other_blobs(&cache, blob_path_written.as_deref());
                }
                Ok::<_, std::io::Error>(blob_path_written)
            })
            .await;
            match written.map_err(std::io::Error::other) {
                Ok(Ok(p)) => self.blob_written = p,
                Ok(Err(e)) | Err(e) => tracing::warn!("cannot keep the policy on disk: {e}"),
            }
        }
        self.policy = policy;
        self.chain = Some(chain);
    }

    fn status(&self, edge_id: &str) -> EdgeStatus {
        let now = chrono::Utc::now();
        EdgeStatus {
            edge_id: edge_id.to_string(),
            version: self.policy.version,
            issued_at: self.policy.issued_at.to_rfc3339(),
            at: now.to_rfc3339(),
            restrictions: self.policy.restrictions.len(),
        }
    }
}

/// Fetches a stored snapshot's bytes, at most the size its signed reference gives (plus one,
/// to tell a longer object). In a task of its own: the client's object reader panics if the
/// store vanishes mid-read, which must cost this fetch, not the follower.
async fn fetch_snapshot(js: &jetstream::Context, r: &SnapshotRef) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let (js, bucket, object, limit) = (js.clone(), r.bucket.clone(), r.object.clone(), r.bytes);
    let task = tokio::spawn(async move {
        let store = js
            .get_object_store(&bucket)
            .await
            .map_err(|e| format!("object store {bucket}: {e}"))?;
        let obj = store
            .get(&object)
            .await
            .map_err(|e| format!("snapshot {bucket}/{object}: {e}"))?;
        let mut bytes = Vec::with_capacity(obj.info().size.min(limit as usize));
        obj.take(limit + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| format!("reading snapshot {bucket}/{object}: {e}"))?;
        Ok(bytes)
    });
    match tokio::time::timeout(FETCH_TIMEOUT, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(format!("fetching the snapshot failed: {e}")),
        Err(_) => Err("fetching the snapshot timed out".into()),
    }
}

/// Follows the policy stream until the process ends: connects (retrying while the broker is
/// down, serving the policy in force meanwhile), applies verified versions, reports status.
pub async fn run(state: Arc<EdgeState>) {
    let config = state.config.load_full();
    let p = &config.policy;
    let Some(url) = p.nats_url.as_ref().map(|u| u.get_ref().clone()) else {
        return;
    };
    let edge_id = p
        .edge_id
        .as_ref()
        .map(|e| e.get_ref().clone())
        .unwrap_or_default();
    let trusted = trusted_keys(&config);
    let cache = p.cache_file.as_ref().map(|c| config.path(c));
    // Start from what was verified before (prepare() installed it already).
    let (policy, chain) = match cache.as_deref().filter(|c| c.is_file()) {
        Some(c) => match load_cache(c, &trusted) {
            Ok((p, chain)) => (p, Some(chain)),
            Err(_) => (Policy::empty(), None),
        },
        None => (Policy::empty(), None),
    };
    let blob_written = match (&cache, &chain) {
        (Some(c), Some(chain)) => match chain.snapshot.verify(&trusted) {
            Ok(Verified::SnapshotRef(r)) => Some(blob_path(c, &r)),
            _ => None,
        },
        _ => None,
    };
    let mut follower = Follower {
        state: state.clone(),
        trusted,
        cache,
        policy,
        chain,
        blob_written,
    };
    let status_subject = format!("{}.{edge_id}.status", p.status_subject);
    let interval = Duration::from_millis(p.status_interval_ms);
    let mut backoff = Duration::from_millis(100);
    let mut gap_backoff = Duration::from_millis(100);
    let mut version_at_gap = None;
    loop {
        match follow(&mut follower, &url, p, &status_subject, interval).await {
            Ok(()) => {
                // A gap: read again from the snapshot, backing off while nothing is applied
                // in between (a snapshot that keeps being refused must not make us spin).
                backoff = Duration::from_millis(100);
                if version_at_gap == Some(follower.policy.version) {
                    gap_backoff = (gap_backoff * 2).min(Duration::from_secs(5));
                } else {
                    gap_backoff = Duration::from_millis(100);
                }
                version_at_gap = Some(follower.policy.version);
                tokio::time::sleep(gap_backoff).await;
            }
            Err(e) => {
                tracing::warn!(
                    version_in_force = follower.policy.version,
                    "the policy channel is unavailable, enforcing the policy in force: {e}"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One session with the broker: returns Ok to start over from the snapshot (a gap), Err when
/// the broker or the stream is unavailable.
async fn follow(
    f: &mut Follower,
    url: &str,
    p: &crate::config::PolicySource,
    status_subject: &str,
    interval: Duration,
) -> Result<(), String> {
    let client = async_nats::ConnectOptions::new()
        .name(format!("rempart-edge {status_subject}"))
        .connection_timeout(Duration::from_secs(2))
        .connect(url)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let js = jetstream::new(client.clone());
    let stream = js
        .get_stream(&p.nats_stream)
        .await
        .map_err(|e| format!("stream {}: {e}", p.nats_stream))?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: p.nats_subject.clone(),
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("consumer on {}: {e}", p.nats_stream))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| format!("reading {}: {e}", p.nats_stream))?;
    // Connected and reading: whatever is in force is what the fleet channel says, or will.
    f.state.set_ready();
    let edge_id = status_subject.split('.').rev().nth(1).unwrap_or("");
    let report = |f: &Follower| {
        let body = serde_json::to_vec(&f.status(edge_id)).unwrap_or_default();
        let client = client.clone();
        let subject = status_subject.to_string();
        async move {
            if let Err(e) = client.publish(subject, body.into()).await {
                tracing::debug!("status report not sent: {e}");
            }
        }
    };
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            next = messages.next() => {
                let msg = match next {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => return Err(format!("reading {}: {e}", p.nats_stream)),
                    None => return Err("the stream of messages ended".into()),
                };
                let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(0);
                match f.handle(&js, seq, &msg.message).await {
                    Step::Applied(_) => report(f).await,
                    Step::Gap => return Ok(()),
                    Step::Unavailable(e) => return Err(e),
                    Step::Skipped | Step::Refused => {}
                }
            }
            _ = tick.tick() => report(f).await,
        }
    }
}
