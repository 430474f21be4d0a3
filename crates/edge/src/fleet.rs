//! Policy from the fleet's channel: NATS JetStream, signed by the desk.
//!
//! The stream holds, for one subject, the latest full snapshot (published with a roll-up, which
//! purges everything before it) followed by the deltas since. The edge reads it from the start
//! with an ordered consumer: the snapshot, then each delta whose base is the version in force.
//! Every message is checked against the desk's public keys before it is parsed; a message
//! that fails is refused (logged, counted in `reloads_total{what="policy",outcome="refused"}`)
//! and the policy in force stays. What was verified is kept on disk (the snapshot and its
//! deltas, still signed) so that the edge starts from it when the broker is unreachable.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use rempart_policy::{PayloadKind, Policy, SignedPolicy, TrustedKeys, Verified};
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

    /// Verifies every link and returns the policy they produce.
    pub fn replay(&self, trusted: &TrustedKeys) -> Result<Policy, String> {
        if self.format != CACHE_FORMAT {
            return Err(format!("unknown cache format '{}'", self.format));
        }
        let mut policy = match self.snapshot.verify(trusted).map_err(|e| e.to_string())? {
            Verified::Snapshot(p) => p,
            Verified::Delta(_) => return Err("the chain does not start with a snapshot".into()),
        };
        for d in &self.deltas {
            match d.verify(trusted).map_err(|e| e.to_string())? {
                Verified::Delta(delta) => policy = delta.apply(&policy)?,
                Verified::Snapshot(_) => return Err("a snapshot inside the chain".into()),
            }
        }
        Ok(policy)
    }
}

/// Reads and verifies the cache file: the last verified policy and its chain.
pub fn load_cache(path: &Path, trusted: &TrustedKeys) -> Result<(Policy, VerifiedChain), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let chain: VerifiedChain =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let policy = chain
        .replay(trusted)
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
}

struct Follower {
    state: Arc<EdgeState>,
    trusted: TrustedKeys,
    cache: Option<PathBuf>,
    policy: Policy,
    chain: Option<VerifiedChain>,
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

    async fn handle(&mut self, seq: u64, msg: &async_nats::Message) -> Step {
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
        let (policy, chain) = match verified {
            Verified::Snapshot(p) => (
                p,
                VerifiedChain {
                    format: CACHE_FORMAT.into(),
                    snapshot: signed,
                    deltas: Vec::new(),
                },
            ),
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
                let p = match d.apply(&self.policy) {
                    Ok(p) => p,
                    Err(e) => return self.refuse(seq, &e),
                };
                chain.deltas.push(signed);
                (p, chain)
            }
        };
        let version = policy.version;
        // Build the index off the async threads: a large policy takes a while.
        let state = self.state.clone();
        let policy = match tokio::task::spawn_blocking(move || {
            state.install_policy(&policy, false);
            policy
        })
        .await
        {
            Ok(p) => p,
            Err(e) => return self.refuse(seq, &format!("installing failed: {e}")),
        };
        self.state
            .metrics
            .reloads
            .with_label_values(&["policy", "ok"])
            .inc();
        tracing::info!(version, "policy from the fleet channel applied");
        if let Some(cache) = &self.cache {
            let cache = cache.clone();
            let bytes = serde_json::to_vec(&chain).unwrap_or_default();
            let written = tokio::task::spawn_blocking(move || {
                crate::control::write_atomically(&cache, &bytes)
            })
            .await;
            if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
                tracing::warn!("cannot keep the policy on disk: {e}");
            }
        }
        self.policy = policy;
        self.chain = Some(chain);
        Step::Applied(version)
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
    let mut follower = Follower {
        state: state.clone(),
        trusted,
        cache,
        policy,
        chain,
    };
    let status_subject = format!("{}.{edge_id}.status", p.status_subject);
    let interval = Duration::from_millis(p.status_interval_ms);
    let mut backoff = Duration::from_millis(100);
    loop {
        match follow(&mut follower, &url, p, &status_subject, interval).await {
            Ok(()) => {
                // A gap: read again from the snapshot, without spinning if it persists.
                backoff = Duration::from_millis(100);
                tokio::time::sleep(backoff).await;
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
                match f.handle(seq, &msg.message).await {
                    Step::Applied(_) => report(f).await,
                    Step::Gap => return Ok(()),
                    Step::Skipped | Step::Refused => {}
                }
            }
            _ = tick.tick() => report(f).await,
        }
    }
}
