//! Signed policy messages: what travels from the desk to the edges through a broker that is not
//! trusted with the policy's integrity.
//!
//! The desk signs the exact bytes of a payload — a full [`Policy`] or a [`PolicyDelta`] between
//! two consecutive versions — with Ed25519. An edge checks the signature against the public
//! keys it was configured with before it parses the payload, so a compromised broker can drop
//! or delay versions but never inject or alter a restriction. The payload is kept as the bytes
//! that were signed (no re-serialisation), so there is no canonical form to agree on.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{Policy, Restriction, RestrictionId, POLICY_SCHEMA};

/// Whether a payload is a whole policy or a delta from the previous version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadKind {
    /// A full [`Policy`] document.
    Snapshot,
    /// A [`PolicyDelta`].
    Delta,
    /// A [`SnapshotRef`]: a snapshot too large for one message, stored as an object whose
    /// size and SHA-256 the signed reference names.
    SnapshotRef,
}

impl PayloadKind {
    /// The lower-case name, as in message headers.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadKind::Snapshot => "snapshot",
            PayloadKind::Delta => "delta",
            PayloadKind::SnapshotRef => "snapshot_ref",
        }
    }

    /// Parses [`PayloadKind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<PayloadKind> {
        match s {
            "snapshot" => Some(PayloadKind::Snapshot),
            "delta" => Some(PayloadKind::Delta),
            "snapshot_ref" => Some(PayloadKind::SnapshotRef),
            _ => None,
        }
    }
}

/// A payload with the desk's signature over exactly its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedPolicy {
    /// Snapshot or delta; a payload parsed as the other kind is refused (the two JSON shapes
    /// do not overlap), so the kind needs no signature of its own.
    pub kind: PayloadKind,
    /// The signed bytes: JSON of a [`Policy`] or a [`PolicyDelta`].
    pub payload: String,
    /// Which key signed ([`key_id`] of its public key).
    pub key_id: String,
    /// The Ed25519 signature of `payload`'s bytes, in hex.
    pub signature: String,
}

/// What a verified message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// A whole policy.
    Snapshot(Policy),
    /// The change from one version to the next.
    Delta(PolicyDelta),
    /// Where to fetch a whole policy, and the digest that binds its bytes to this signature.
    SnapshotRef(SnapshotRef),
}

impl Verified {
    /// The version this message brings the edge to.
    pub fn version(&self) -> u64 {
        match self {
            Verified::Snapshot(p) => p.version,
            Verified::Delta(d) => d.version,
            Verified::SnapshotRef(r) => r.version,
        }
    }
}

/// Why a signed message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The message names a key this edge does not trust.
    #[error("signed by key '{0}', which is not among the trusted keys")]
    UnknownKey(String),
    /// The signature is malformed or does not match the payload: tampered, or forged.
    #[error("the signature does not match the payload (tampered or forged)")]
    BadSignature,
    /// The payload is signed but not a valid policy or delta.
    #[error("the signed payload is not a valid {kind}: {message}")]
    BadPayload {
        /// What it claimed to be.
        kind: &'static str,
        /// Why it was refused.
        message: String,
    },
}

/// A short, stable name for a public key: the first 16 hex digits of its bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&key.as_bytes()[..8])
}

/// Parses a public key written as 64 hex digits.
pub fn parse_public_key(hex_text: &str) -> Result<VerifyingKey, String> {
    let bytes = hex::decode(hex_text.trim())
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| "a public key must be 64 hex digits (32 bytes)".to_string())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid Ed25519 public key".to_string())
}

/// The public keys an edge accepts policy from, by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(HashMap<String, VerifyingKey>);

impl TrustedKeys {
    /// Trusts these keys.
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        TrustedKeys(keys.into_iter().map(|k| (key_id(&k), k)).collect())
    }

    /// Whether no key is trusted (then nothing verifies).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl SignedPolicy {
    /// Signs a payload.
    pub fn sign(kind: PayloadKind, payload: String, key: &SigningKey) -> SignedPolicy {
        let signature = key.sign(payload.as_bytes());
        SignedPolicy {
            kind,
            key_id: key_id(&key.verifying_key()),
            signature: hex::encode(signature.to_bytes()),
            payload,
        }
    }

    /// Signs a whole policy.
    pub fn snapshot(policy: &Policy, key: &SigningKey) -> SignedPolicy {
        // Serialising our own types to a String cannot fail.
        let payload = serde_json::to_string(policy).unwrap_or_default();
        Self::sign(PayloadKind::Snapshot, payload, key)
    }

    /// Signs a delta.
    pub fn delta(delta: &PolicyDelta, key: &SigningKey) -> SignedPolicy {
        let payload = serde_json::to_string(delta).unwrap_or_default();
        Self::sign(PayloadKind::Delta, payload, key)
    }

    /// Signs a snapshot reference.
    pub fn snapshot_ref(reference: &SnapshotRef, key: &SigningKey) -> SignedPolicy {
        let payload = serde_json::to_string(reference).unwrap_or_default();
        Self::sign(PayloadKind::SnapshotRef, payload, key)
    }

    /// Checks the signature with a trusted key, then parses and validates the payload.
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<Verified, SignatureError> {
        let key = trusted
            .0
            .get(&self.key_id)
            .ok_or_else(|| SignatureError::UnknownKey(self.key_id.clone()))?;
        let signature = hex::decode(&self.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| Signature::from_bytes(&b))
            .ok_or(SignatureError::BadSignature)?;
        key.verify_strict(self.payload.as_bytes(), &signature)
            .map_err(|_| SignatureError::BadSignature)?;
        match self.kind {
            PayloadKind::Snapshot => Policy::from_json(&self.payload)
                .map(Verified::Snapshot)
                .map_err(|e| SignatureError::BadPayload {
                    kind: "policy",
                    message: e.to_string(),
                }),
            PayloadKind::Delta => PolicyDelta::from_json(&self.payload)
                .map(Verified::Delta)
                .map_err(|e| SignatureError::BadPayload {
                    kind: "policy delta",
                    message: e,
                }),
            PayloadKind::SnapshotRef => SnapshotRef::from_json(&self.payload)
                .map(Verified::SnapshotRef)
                .map_err(|e| SignatureError::BadPayload {
                    kind: "snapshot reference",
                    message: e,
                }),
        }
    }
}

/// The change from policy version `base` to `version`: restrictions added or changed, and ids
/// removed. Applied only to exactly version `base`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDelta {
    /// Schema number; must equal [`POLICY_SCHEMA`].
    pub schema: u32,
    /// The version this delta applies to.
    pub base: u64,
    /// The version it produces.
    pub version: u64,
    /// When the desk issued `version`.
    pub issued_at: DateTime<Utc>,
    /// Restrictions new in `version`, or changed since `base` (replacing the one with their id).
    #[serde(default)]
    pub upsert: Vec<Restriction>,
    /// Ids of restrictions in `base` that are gone from `version`.
    #[serde(default)]
    pub remove: Vec<RestrictionId>,
}

impl PolicyDelta {
    /// The delta that turns `old` into `new`.
    pub fn between(old: &Policy, new: &Policy) -> PolicyDelta {
        let before: HashMap<&RestrictionId, &Restriction> =
            old.restrictions.iter().map(|r| (&r.id, r)).collect();
        let after: HashSet<&RestrictionId> = new.restrictions.iter().map(|r| &r.id).collect();
        PolicyDelta {
            schema: POLICY_SCHEMA,
            base: old.version,
            version: new.version,
            issued_at: new.issued_at,
            upsert: new
                .restrictions
                .iter()
                .filter(|r| before.get(&r.id) != Some(r))
                .cloned()
                .collect(),
            remove: old
                .restrictions
                .iter()
                .filter(|r| !after.contains(&r.id))
                .map(|r| r.id.clone())
                .collect(),
        }
    }

    /// Parses a delta from JSON and checks its shape.
    pub fn from_json(text: &str) -> Result<PolicyDelta, String> {
        let delta: PolicyDelta = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if delta.schema != POLICY_SCHEMA {
            return Err(format!(
                "schema {} is not supported; this edge reads schema {POLICY_SCHEMA}",
                delta.schema
            ));
        }
        if delta.version <= delta.base {
            return Err(format!(
                "version {} must be after its base {}",
                delta.version, delta.base
            ));
        }
        Ok(delta)
    }

    /// The policy this delta produces from `base`, validated; `base` must be exactly the
    /// version the delta was computed from.
    pub fn apply(&self, base: &Policy) -> Result<Policy, String> {
        if base.version != self.base {
            return Err(format!(
                "delta {}→{} does not apply to version {}",
                self.base, self.version, base.version
            ));
        }
        let replaced: HashSet<&RestrictionId> = self
            .remove
            .iter()
            .chain(self.upsert.iter().map(|r| &r.id))
            .collect();
        let mut restrictions: Vec<Restriction> = base
            .restrictions
            .iter()
            .filter(|r| !replaced.contains(&r.id))
            .cloned()
            .collect();
        restrictions.extend(self.upsert.iter().cloned());
        let policy = Policy {
            schema: POLICY_SCHEMA,
            version: self.version,
            issued_at: self.issued_at,
            restrictions,
        };
        policy.validate().map_err(|e| e.to_string())?;
        Ok(policy)
    }

    /// Size of the delta's JSON, to compare with the snapshot's.
    pub fn json_len(&self) -> usize {
        serde_json::to_string(self).map_or(usize::MAX, |s| s.len())
    }
}

impl PolicyDelta {
    /// Applies this delta to `policy` in place, after checking everything it brings, so that
    /// a refused delta leaves `policy` untouched. Costs a pass over the restrictions but no
    /// copy of them (the whole policy is not validated again: it was when it came in).
    /// Returns the restrictions removed or replaced, for the caller's index.
    pub fn apply_in_place(&self, policy: &mut Policy) -> Result<Vec<Restriction>, String> {
        if policy.version != self.base {
            return Err(format!(
                "delta {}→{} does not apply to version {}",
                self.base, self.version, policy.version
            ));
        }
        let mut seen = HashSet::with_capacity(self.upsert.len());
        for r in &self.upsert {
            if !seen.insert(&r.id) {
                return Err(format!("duplicate id '{}' in the delta", r.id));
            }
            r.validate()
                .map_err(|e| format!("restriction '{}': {e}", r.id))?;
        }
        let replaced: HashSet<&RestrictionId> = self.remove.iter().chain(seen).collect();
        let mut gone = Vec::new();
        // Retained in place: nothing moves before the first restriction taken out, and a
        // delta that only adds (the usual decision) leaves the list as it is.
        if !replaced.is_empty() {
            policy.restrictions.retain(|r| {
                if replaced.contains(&r.id) {
                    gone.push(r.clone());
                    false
                } else {
                    true
                }
            });
        }
        policy.restrictions.extend(self.upsert.iter().cloned());
        policy.version = self.version;
        policy.issued_at = self.issued_at;
        Ok(gone)
    }
}

/// How a stored snapshot's bytes are encoded: zstd-compressed JSON of a [`Policy`].
pub const SNAPSHOT_ENCODING: &str = "zstd";

/// zstd level for stored snapshots: level 3 (zstd's default) compresses policy JSON about
/// tenfold at several hundred MB/s; higher levels gain little on such repetitive text.
const SNAPSHOT_ZSTD_LEVEL: i32 = 3;

/// A whole policy too large for one broker message, stored elsewhere (a JetStream object
/// store, chunked by the broker) and named by this small signed reference. The signature
/// covers the reference, and the reference binds the stored bytes by size and SHA-256: an
/// edge that verified the reference and the digest has verified the whole snapshot, and one
/// that could not fetch every byte has nothing to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRef {
    /// Schema number; must equal [`POLICY_SCHEMA`].
    pub schema: u32,
    /// The version of the policy stored.
    pub version: u64,
    /// When the desk issued it.
    pub issued_at: DateTime<Utc>,
    /// The object store (bucket) holding it.
    pub bucket: String,
    /// The object's name.
    pub object: String,
    /// [`SNAPSHOT_ENCODING`].
    pub encoding: String,
    /// Size of the stored (encoded) bytes.
    pub bytes: u64,
    /// SHA-256 of the stored bytes, hex.
    pub sha256: String,
    /// Restrictions in the policy (informative).
    pub restrictions: u64,
}

impl SnapshotRef {
    /// Encodes a policy document for storage; returns its reference (naming `bucket` and an
    /// object name derived from the version and digest) and the bytes to store.
    pub fn seal(
        document: &str,
        version: u64,
        issued_at: DateTime<Utc>,
        restrictions: u64,
        bucket: &str,
    ) -> Result<(SnapshotRef, Vec<u8>), String> {
        let bytes = zstd::bulk::compress(document.as_bytes(), SNAPSHOT_ZSTD_LEVEL)
            .map_err(|e| format!("compressing the snapshot: {e}"))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok((
            SnapshotRef {
                schema: POLICY_SCHEMA,
                version,
                issued_at,
                bucket: bucket.to_string(),
                object: format!("policy-v{version}-{}", &sha256[..16]),
                encoding: SNAPSHOT_ENCODING.into(),
                bytes: bytes.len() as u64,
                sha256,
                restrictions,
            },
            bytes,
        ))
    }

    /// Parses a reference and checks its shape.
    pub fn from_json(text: &str) -> Result<SnapshotRef, String> {
        let r: SnapshotRef = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if r.schema != POLICY_SCHEMA {
            return Err(format!(
                "schema {} is not supported; this edge reads schema {POLICY_SCHEMA}",
                r.schema
            ));
        }
        if r.encoding != SNAPSHOT_ENCODING {
            return Err(format!("unknown encoding '{}'", r.encoding));
        }
        if r.sha256.len() != 64 || !r.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("sha256 must be 64 hex digits".into());
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 200
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !name_ok(&r.bucket) || !name_ok(&r.object) {
            return Err("bucket and object names must be short and alphanumeric".into());
        }
        Ok(r)
    }

    /// Checks fetched bytes against the reference (size, then SHA-256), decodes them and
    /// returns the policy, which must be the version the reference names. Nothing partial
    /// passes: a missing or altered byte changes the digest.
    pub fn open(&self, bytes: &[u8], max_document: u64) -> Result<Policy, String> {
        if bytes.len() as u64 != self.bytes {
            return Err(format!(
                "the stored snapshot has {} bytes, the signed reference says {}",
                bytes.len(),
                self.bytes
            ));
        }
        if hex::encode(Sha256::digest(bytes)) != self.sha256.to_ascii_lowercase() {
            return Err("the stored snapshot's SHA-256 does not match the signed reference (tampered or partial)".into());
        }
        let mut document = Vec::new();
        let decoder = zstd::stream::read::Decoder::new(bytes)
            .map_err(|e| format!("decoding the snapshot: {e}"))?;
        std::io::Read::read_to_end(
            &mut std::io::Read::take(decoder, max_document + 1),
            &mut document,
        )
        .map_err(|e| format!("decoding the snapshot: {e}"))?;
        if document.len() as u64 > max_document {
            return Err(format!("the snapshot exceeds {max_document} bytes decoded"));
        }
        let text =
            String::from_utf8(document).map_err(|_| "the snapshot is not UTF-8".to_string())?;
        let policy = Policy::from_json(&text).map_err(|e| e.to_string())?;
        if policy.version != self.version || policy.issued_at != self.issued_at {
            return Err(format!(
                "the stored snapshot is version {}, the signed reference names {}",
                policy.version, self.version
            ));
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Category, RestrictionKind, Scope};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn restriction(id: &str, path: &str) -> Restriction {
        Restriction {
            id: RestrictionId(id.into()),
            scope: Scope::Url {
                url: format!("https://forum.example{path}"),
            },
            kind: RestrictionKind::Legal,
            category: Category::Doxxing,
            notice_url: format!("https://desk.example/notices/{id}"),
            ground: "Publishes a private person's home address.".into(),
            implemented_by: "Provider".into(),
            starts_at: DateTime::<Utc>::UNIX_EPOCH,
            ends_at: None,
        }
    }

    fn policy(version: u64, rs: Vec<Restriction>) -> Policy {
        Policy {
            schema: POLICY_SCHEMA,
            version,
            issued_at: DateTime::<Utc>::UNIX_EPOCH,
            restrictions: rs,
        }
    }

    #[test]
    fn a_signed_snapshot_verifies_with_the_trusted_key_only() {
        let p = policy(3, vec![restriction("d-1", "/t/1")]);
        let signed = SignedPolicy::snapshot(&p, &key(1));
        let trusted = TrustedKeys::new([key(1).verifying_key()]);
        assert_eq!(signed.verify(&trusted), Ok(Verified::Snapshot(p.clone())));
        let other = TrustedKeys::new([key(2).verifying_key()]);
        assert!(matches!(
            signed.verify(&other),
            Err(SignatureError::UnknownKey(_))
        ));
        // A forger who claims the trusted key's id still fails.
        let mut forged = SignedPolicy::snapshot(&p, &key(2));
        forged.key_id = key_id(&key(1).verifying_key());
        assert_eq!(forged.verify(&trusted), Err(SignatureError::BadSignature));
    }

    #[test]
    fn a_tampered_payload_or_signature_is_refused() {
        let p = policy(3, vec![restriction("d-1", "/t/1")]);
        let trusted = TrustedKeys::new([key(1).verifying_key()]);
        let mut signed = SignedPolicy::snapshot(&p, &key(1));
        signed.payload = signed.payload.replace("/t/1", "/t/2");
        assert_eq!(signed.verify(&trusted), Err(SignatureError::BadSignature));
        let mut signed = SignedPolicy::snapshot(&p, &key(1));
        signed.signature = "00".repeat(64);
        assert_eq!(signed.verify(&trusted), Err(SignatureError::BadSignature));
        signed.signature = "not hex".into();
        assert_eq!(signed.verify(&trusted), Err(SignatureError::BadSignature));
    }

    #[test]
    fn a_kind_that_lies_about_the_payload_is_refused() {
        let p = policy(3, vec![]);
        let trusted = TrustedKeys::new([key(1).verifying_key()]);
        let mut signed = SignedPolicy::snapshot(&p, &key(1));
        signed.kind = PayloadKind::Delta;
        assert!(matches!(
            signed.verify(&trusted),
            Err(SignatureError::BadPayload { .. })
        ));
    }

    #[test]
    fn a_delta_turns_the_old_version_into_the_new_one() {
        let old = policy(
            4,
            vec![
                restriction("a", "/a"),
                restriction("b", "/b"),
                restriction("c", "/c"),
            ],
        );
        let mut changed = restriction("b", "/b");
        changed.ground = "Threatens a named person.".into();
        let new = policy(
            5,
            vec![restriction("a", "/a"), changed, restriction("d", "/d")],
        );
        let delta = PolicyDelta::between(&old, &new);
        assert_eq!(delta.upsert.len(), 2);
        assert_eq!(delta.remove, vec![RestrictionId("c".into())]);
        let mut got = delta.apply(&old).expect("applies");
        got.restrictions.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(got, new);
        // Not to any other base.
        assert!(delta.apply(&new).is_err());
        let signed = SignedPolicy::delta(&delta, &key(1));
        let trusted = TrustedKeys::new([key(1).verifying_key()]);
        assert_eq!(signed.verify(&trusted), Ok(Verified::Delta(delta)));
    }

    #[test]
    fn public_keys_parse_from_hex() {
        let k = key(7).verifying_key();
        assert_eq!(parse_public_key(&hex::encode(k.as_bytes())), Ok(k));
        assert!(parse_public_key("abcd").is_err());
        assert!(parse_public_key(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn a_delta_applied_in_place_matches_apply_and_a_bad_one_changes_nothing() {
        let old = policy(4, vec![restriction("a", "/a"), restriction("b", "/b")]);
        let new = policy(5, vec![restriction("b", "/b2"), restriction("c", "/c")]);
        let delta = PolicyDelta::between(&old, &new);
        let mut inplace = old.clone();
        let mut gone = delta.apply_in_place(&mut inplace).expect("applies");
        gone.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(gone, old.restrictions);
        inplace.restrictions.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(inplace, new);
        // Wrong base, or an invalid restriction: refused, nothing changed.
        let mut same = old.clone();
        assert!(delta.apply_in_place(&mut policy(3, vec![])).is_err());
        let mut bad = delta.clone();
        bad.upsert[0].notice_url = String::new();
        bad.upsert[0].scope = Scope::Url {
            url: "not a url".into(),
        };
        assert!(bad.apply_in_place(&mut same).is_err());
        assert_eq!(same, old);
    }

    #[test]
    fn a_sealed_snapshot_opens_only_whole_and_unaltered() {
        let p = policy(
            9,
            (0..500)
                .map(|i| restriction(&format!("d-{i}"), &format!("/t/{i}")))
                .collect(),
        );
        let doc = serde_json::to_string(&p).expect("json");
        let (r, bytes) = SnapshotRef::seal(&doc, 9, p.issued_at, 500, "BUCKET").expect("seal");
        assert!(
            bytes.len() * 5 < doc.len(),
            "{} vs {}",
            bytes.len(),
            doc.len()
        );
        assert_eq!(r.open(&bytes, 1 << 30), Ok(p.clone()));
        // Signed and verified like any payload.
        let signed = SignedPolicy::snapshot_ref(&r, &key(1));
        let trusted = TrustedKeys::new([key(1).verifying_key()]);
        assert_eq!(
            signed.verify(&trusted),
            Ok(Verified::SnapshotRef(r.clone()))
        );
        // Partial: refused.
        assert!(r.open(&bytes[..bytes.len() - 1], 1 << 30).is_err());
        // Altered, same length: refused.
        let mut altered = bytes.clone();
        let mid = altered.len() / 2;
        altered[mid] ^= 1;
        assert!(r.open(&altered, 1 << 30).unwrap_err().contains("SHA-256"));
        // Another version's snapshot under this reference: refused.
        let other = policy(8, p.restrictions.clone());
        let (_, other_bytes) = SnapshotRef::seal(
            &serde_json::to_string(&other).expect("json"),
            8,
            p.issued_at,
            500,
            "BUCKET",
        )
        .expect("seal");
        let mut lying = r.clone();
        lying.bytes = other_bytes.len() as u64;
        lying.sha256 = hex::encode(Sha256::digest(&other_bytes));
        assert!(lying
            .open(&other_bytes, 1 << 30)
            .unwrap_err()
            .contains("version 8"));
        // Too large once decoded.
        assert!(r.open(&bytes, 1000).is_err());
    }
}
