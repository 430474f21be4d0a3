//! The tamper-evident audit log: a hash chain with signed checkpoints, and its verification.
//!
//! Entry hash = SHA-256 over a canonical encoding: a domain tag, then each field (`at`,
//! `actor`, `action`, `subject`, `details` as canonical JSON, `prev_hash`) as an 8-byte
//! big-endian length followed by its bytes. The sequence number is not hashed: order is fixed
//! by the chain of `prev_hash`, which lets verification tell a reordering (an entry follows
//! the wrong one) from an alteration (an entry no longer matches its hash).
//! Checkpoints sign `(seq, hash, at)` with the desk's Ed25519 key.

use std::collections::{HashMap, HashSet};
use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::store::{AuditEntry, CheckpointRow};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Canonical JSON: serde_json's compact form with object keys sorted.
pub fn canonical_json(v: &serde_json::Value) -> String {
    // serde_json's Map is a BTreeMap (no `preserve_order`), so keys come out sorted.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The hash of an entry.
pub fn entry_hash(
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &str,
    prev_hash: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(b"rempart-audit-v1\0");
    for field in [
        at.to_string().as_bytes(),
        actor.as_bytes(),
        action.as_bytes(),
        subject.as_bytes(),
        details.as_bytes(),
        prev_hash.as_bytes(),
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field);
    }
    hex::encode(h.finalize())
}

pub(crate) fn checkpoint_message(seq: i64, hash: &str, at: i64) -> Vec<u8> {
    let mut m = b"rempart-audit-checkpoint-v1\0".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&at.to_be_bytes());
    m.extend_from_slice(hash.as_bytes());
    m
}

/// Signs a checkpoint; returns (public key hex, signature hex).
pub fn sign_checkpoint(key: &SigningKey, seq: i64, hash: &str, at: i64) -> (String, String) {
    let sig = key.sign(&checkpoint_message(seq, hash, at));
    (
        hex::encode(key.verifying_key().as_bytes()),
        hex::encode(sig.to_bytes()),
    )
}

/// One thing wrong with the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditProblem {
    /// The entry's content no longer matches its hash.
    Altered {
        /// The entry.
        seq: i64,
    },
    /// Entries with these sequence numbers are missing.
    Deleted {
        /// First missing.
        from: i64,
        /// Last missing.
        to: i64,
    },
    /// The entry is not part of the chain written by the desk: the next entry follows the one
    /// before it.
    Inserted {
        /// The foreign entry.
        seq: i64,
    },
    /// The entry is out of place: by its chain link it follows entry `follows`.
    Reordered {
        /// The misplaced entry.
        seq: i64,
        /// The entry it really follows.
        follows: i64,
    },
    /// The chain breaks before this entry: an entry before it was deleted (and the rest
    /// renumbered), or the previous entry was altered and its hash recomputed.
    Broken {
        /// The first entry after the break.
        seq: i64,
    },
    /// A signed checkpoint does not match the log.
    Checkpoint {
        /// The checkpoint's entry.
        seq: i64,
        /// What is wrong.
        reason: String,
    },
    /// The log's end does not match the recorded head.
    Head {
        /// What is wrong.
        reason: String,
    },
    /// A policy version's restrictions, as stored, do not match the digest the log recorded
    /// when it was issued.
    Policy {
        /// The version.
        version: u64,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditProblem::Altered { seq } => {
                write!(f, "entry {seq} was altered: its content does not match its hash")
            }
            AuditProblem::Deleted { from, to } if from == to => {
                write!(f, "entry {from} was deleted")
            }
            AuditProblem::Deleted { from, to } => write!(f, "entries {from} to {to} were deleted"),
            AuditProblem::Inserted { seq } => write!(
                f,
                "entry {seq} was inserted: the entry after it follows the entry before it"
            ),
            AuditProblem::Reordered { seq, follows } => write!(
                f,
                "entry {seq} is out of order: it was written after entry {follows}"
            ),
            AuditProblem::Broken { seq } => write!(
                f,
                "the chain breaks before entry {seq}: an entry before it was deleted, or entry {} was altered and re-hashed",
                seq - 1
            ),
            AuditProblem::Checkpoint { seq, reason } => {
                write!(f, "checkpoint at entry {seq}: {reason}")
            }
            AuditProblem::Head { reason } => write!(f, "end of log: {reason}"),
            AuditProblem::Policy { version, reason } => {
                write!(f, "policy version {version}: {reason}")
            }
        }
    }
}

/// The outcome of verifying the log.
#[derive(Debug, Clone)]
pub struct AuditReport {
    /// Entries read.
    pub entries: usize,
    /// Checkpoints whose signature verified.
    pub checkpoints_verified: usize,
    /// Everything wrong, in log order.
    pub problems: Vec<AuditProblem>,
}

impl AuditReport {
    /// Whether the log is intact.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            write!(
                f,
                "audit log intact: {} entries, {} signed checkpoints verified",
                self.entries, self.checkpoints_verified
            )
        } else {
            writeln!(
                f,
                "audit log TAMPERED: {} problem(s) in {} entries",
                self.problems.len(),
                self.entries
            )?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}

/// Verifies entries (in sequence order), checkpoints and the recorded head against `key`.
pub fn verify(
    entries: &[AuditEntry],
    checkpoints: &[CheckpointRow],
    head: (i64, &str),
    key: &VerifyingKey,
) -> AuditReport {
    let mut problems = Vec::new();
    let by_hash: HashMap<&str, i64> = entries.iter().map(|e| (e.hash.as_str(), e.seq)).collect();
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS_HASH;
    let mut prev_seq = 0;
    for e in entries {
        let gap = e.seq != expected_seq;
        if gap {
            problems.push(AuditProblem::Deleted {
                from: expected_seq,
                to: e.seq - 1,
            });
        }
        let content_ok = entry_hash(
            e.at,
            &e.actor,
            &e.action,
            &e.subject,
            &e.details,
            &e.prev_hash,
        ) == e.hash;
        let link_ok = e.prev_hash == prev_hash;
        match (content_ok, link_ok) {
            (true, true) => {}
            (false, true) => problems.push(AuditProblem::Altered { seq: e.seq }),
            (_, false) if gap => {
                if !content_ok {
                    problems.push(AuditProblem::Altered { seq: e.seq });
                }
            }
            (_, false) => match by_hash.get(e.prev_hash.as_str()) {
                Some(&s) if s + 1 == prev_seq => {
                    problems.push(AuditProblem::Inserted { seq: prev_seq })
                }
                Some(&s) if s != prev_seq => problems.push(AuditProblem::Reordered {
                    seq: e.seq,
                    follows: s,
                }),
                _ if e.prev_hash == GENESIS_HASH && prev_seq != 0 => {
                    problems.push(AuditProblem::Reordered {
                        seq: e.seq,
                        follows: 0,
                    })
                }
                _ if content_ok => problems.push(AuditProblem::Broken { seq: e.seq }),
                _ => problems.push(AuditProblem::Altered { seq: e.seq }),
            },
        }
        prev_hash = &e.hash;
        prev_seq = e.seq;
        expected_seq = e.seq + 1;
    }
    let (head_seq, head_hash) = head;
    if prev_seq < head_seq {
        problems.push(AuditProblem::Deleted {
            from: prev_seq + 1,
            to: head_seq,
        });
    } else if prev_seq > head_seq {
        problems.push(AuditProblem::Inserted { seq: head_seq + 1 });
    } else if prev_hash != head_hash {
        problems.push(AuditProblem::Head {
            reason: format!(
                "the last entry's hash does not match the recorded head (entry {prev_seq} altered)"
            ),
        });
    }
    let by_seq: HashMap<i64, &AuditEntry> = entries.iter().map(|e| (e.seq, e)).collect();
    let mut checkpoints_verified = 0;
    let expected_key = hex::encode(key.as_bytes());
    for cp in checkpoints {
        if cp.public_key != expected_key {
            problems.push(AuditProblem::Checkpoint {
                seq: cp.seq,
                reason: "signed by another key than the desk's".into(),
            });
            continue;
        }
        let sig = hex::decode(&cp.signature)
            .ok()
            .and_then(|b| Signature::from_slice(&b).ok());
        match sig {
            Some(sig)
                if key
                    .verify(&checkpoint_message(cp.seq, &cp.hash, cp.at), &sig)
                    .is_ok() =>
            {
                checkpoints_verified += 1;
            }
            _ => {
                problems.push(AuditProblem::Checkpoint {
                    seq: cp.seq,
                    reason: "bad signature".into(),
                });
                continue;
            }
        }
        match by_seq.get(&cp.seq) {
            Some(e) if e.hash == cp.hash => {}
            Some(_) => problems.push(AuditProblem::Checkpoint {
                seq: cp.seq,
                reason: "the entry's hash differs from the signed one (the log was rewritten up to here)".into(),
            }),
            None => problems.push(AuditProblem::Checkpoint {
                seq: cp.seq,
                reason: "the signed entry is missing".into(),
            }),
        }
    }
    AuditReport {
        entries: entries.len(),
        checkpoints_verified,
        problems,
    }
}

/// Reads the whole log from `store` and verifies it against `key`.
pub async fn verify_store(
    store: &crate::store::Store,
    key: &VerifyingKey,
) -> Result<AuditReport, crate::store::StoreError> {
    let entries = store.audit_entries().await?;
    let checkpoints = store.audit_checkpoints().await?;
    let (head_seq, head_hash) = store.audit_head().await?;
    let mut report = verify(&entries, &checkpoints, (head_seq, &head_hash), key);
    report.problems.extend(policy_problems(
        &entries,
        &store.policy_digests_from_rows().await?,
    ));
    Ok(report)
}

/// Compares the restrictions digest each `policy.issued` entry recorded with the one the
/// stored rows give (`from_rows`, see [`crate::store::Store::policy_digests_from_rows`]):
/// restriction rows altered, added, removed or moved to another version after the fact show
/// as a version whose digest differs. Versions issued before migration 0010 logged the
/// SHA-256 of their whole document instead and are not compared.
pub fn policy_problems(entries: &[AuditEntry], from_rows: &[(u64, String)]) -> Vec<AuditProblem> {
    let logged: std::collections::BTreeMap<u64, String> = entries
        .iter()
        .filter(|e| e.action == "policy.issued")
        .filter_map(|e| {
            let d: serde_json::Value = serde_json::from_str(&e.details).ok()?;
            Some((
                d["version"].as_u64()?,
                d["restrictions_digest"].as_str()?.to_string(),
            ))
        })
        .collect();
    let mut problems = Vec::new();
    for (version, digest) in from_rows {
        let reason = match logged.get(version) {
            Some(l) if l == digest => continue,
            Some(_) => {
                "its restriction rows do not match the digest in the audit log \
                        (rows altered, added or removed since it was issued)"
            }
            None => "the audit log records no digest for it",
        };
        problems.push(AuditProblem::Policy {
            version: *version,
            reason: reason.into(),
        });
    }
    let stored: HashSet<u64> = from_rows.iter().map(|(v, _)| *v).collect();
    for version in logged.keys().filter(|v| !stored.contains(v)) {
        problems.push(AuditProblem::Policy {
            version: *version,
            reason: "the audit log records it but the database holds no such version".into(),
        });
    }
    problems
}
