//! Referral bundles (DSA Art. 18): what an authority receives, and how it checks it offline.
//!
//! A bundle is a **directory** (not a tar): the files can be read and hashed with ordinary tools
//! (`sha256sum`, `openssl`), any transport can carry it (the sender zips it or puts it on an
//! encrypted medium as the authority asks), and every byte that matters is a file's content, so
//! the signature covers everything: a tar would add headers (mtimes, owners) outside the
//! signature, or need a canonical tar writer and reader.
//!
//! ```text
//! manifest.json        what the bundle holds: the referral, every file's SHA-256 and size,
//!                      the evidence's metadata (URL, fetch time, status, headers)
//! manifest.json.sig    detached Ed25519 signature (64 raw bytes) over manifest.json's bytes
//! README.txt           how to verify
//! reports.json         the notices (URLs, category, explanation; no notifier identity)
//! evidence/<sha256>    each preserved body, named by its SHA-256 (content-addressed)
//! audit/excerpt.jsonl  the case's audit entries, with their chain hashes
//! audit/checkpoint.json  the latest signed checkpoint, which covers every entry of the excerpt
//! ```
//!
//! The manifest commits to every other file by hash, and the signature commits to the manifest,
//! so [`verify_bundle`] names any altered, missing or added file. The manifest is signed as
//! raw bytes (no domain tag: a JSON document cannot be mistaken for a checkpoint message, which
//! starts with a tag), so `openssl pkeyutl -verify -rawin` checks it too.
//!
//! Limit: the excerpt holds only this case's entries. Each entry's hash is recomputed from its
//! content and the checkpoint's signature is checked, but linking the excerpt's entries to the
//! checkpoint hash needs the entries of other cases in between, which are not disclosed; the
//! provider can show them to a court (`rempart audit verify` checks the whole chain).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{AuditEntry, CheckpointRow, EvidenceRow};

/// The manifest's `format`.
pub const BUNDLE_FORMAT: &str = "rempart-referral-bundle/1";
/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The detached signature's file name.
pub const SIGNATURE: &str = "manifest.json.sig";
/// The audit excerpt's path.
pub const EXCERPT: &str = "audit/excerpt.jsonl";
/// The checkpoint's path.
pub const CHECKPOINT: &str = "audit/checkpoint.json";

/// One file listed in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestFile {
    /// Relative path, `/`-separated.
    pub path: String,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// `evidence`, `reports`, `audit_excerpt`, `checkpoint` or `readme`.
    pub kind: String,
}

/// One preserved snapshot, as described in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestEvidence {
    /// The desk's evidence id.
    pub id: String,
    /// The URL fetched.
    pub url: String,
    /// When, RFC 3339.
    pub fetched_at: String,
    /// HTTP status, if a response came.
    pub status: Option<i64>,
    /// Response headers.
    pub headers: serde_json::Value,
    /// The body's file (`evidence/<sha256>`), if a body was kept.
    pub file: Option<String>,
    /// The body's SHA-256 as recorded at preservation.
    pub sha256: Option<String>,
    /// Whether the body was cut at the size limit.
    pub truncated: bool,
    /// Why the fetch failed, if it did.
    pub error: Option<String>,
}

/// The manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// Who sends it.
    pub provider: String,
    /// When the bundle was made, RFC 3339.
    pub created_at: String,
    /// The signer's Ed25519 public key, hex (the desk's audit key).
    pub signer_public_key: String,
    /// The referral: id, case, authority, jurisdiction and basis, reason.
    pub referral: serde_json::Value,
    /// The evidence.
    pub evidence: Vec<ManifestEvidence>,
    /// Every file but the manifest and its signature.
    pub files: Vec<ManifestFile>,
}

/// What goes into a bundle.
#[derive(Debug, Clone)]
pub struct BundleContents {
    /// Provider name.
    pub provider: String,
    /// When (ms).
    pub created_at: i64,
    /// The referral's description.
    pub referral: serde_json::Value,
    /// The notices, already stripped of notifiers' identities.
    pub reports: serde_json::Value,
    /// Snapshots with their bodies.
    pub evidence: Vec<(EvidenceRow, Option<Vec<u8>>)>,
    /// The case's audit entries, in order.
    pub excerpt: Vec<AuditEntry>,
    /// A signed checkpoint at or after the excerpt's last entry.
    pub checkpoint: CheckpointRow,
}

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The inputs are inconsistent.
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_owned(),
        source,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn rfc3339(ms: i64) -> String {
    crate::clock::from_millis(ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An audit entry as a JSON line of the excerpt.
fn entry_json(e: &AuditEntry) -> serde_json::Value {
    serde_json::json!({
        "seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "subject": e.subject,
        "details": e.details, "prev_hash": e.prev_hash, "hash": e.hash,
    })
}

const README: &str = "Referral bundle from an abuse desk running Rempart.\n\n\
manifest.json lists every file of this directory with its SHA-256; manifest.json.sig is a\n\
detached Ed25519 signature (64 raw bytes) over manifest.json, by the key in\n\
manifest.json's signer_public_key. Obtain that key from the provider by another channel.\n\n\
Verify: rempart bundle verify . --key <public key hex>\n\
or:     sha256sum each file and compare with manifest.json, then check the signature with\n\
        openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in manifest.json -sigfile manifest.json.sig\n";

/// Writes a bundle into `dir` (which must not exist; it is created through a temporary
/// sibling and renamed, so a half-written bundle never carries the final name). Returns the
/// manifest's SHA-256.
pub fn write_bundle(
    dir: &Path,
    contents: &BundleContents,
    key: &SigningKey,
) -> Result<String, BundleError> {
    if let Some(last) = contents.excerpt.last() {
        if contents.checkpoint.seq < last.seq {
            return Err(BundleError::Invalid(format!(
                "the checkpoint (entry {}) does not cover the excerpt's last entry {}",
                contents.checkpoint.seq, last.seq
            )));
        }
    }
    if dir.exists() {
        return Err(BundleError::Invalid(format!(
            "{} already exists",
            dir.display()
        )));
    }
    let name = dir
        .file_name()
        .ok_or_else(|| BundleError::Invalid(format!("{} has no name", dir.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let tmp = parent.join(format!(".{name}.partial"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(io(&tmp))?;
    #[cfg(unix)]
    {
        // Evidence of a threat to life is sensitive: only the desk's user reads the bundle.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700)).map_err(io(&tmp))?;
    }
    let mut files: Vec<ManifestFile> = Vec::new();
    let mut put = |rel: &str, kind: &str, bytes: &[u8]| -> Result<(), BundleError> {
        let path = tmp.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(io(p))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
        files.push(ManifestFile {
            path: rel.to_string(),
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
            kind: kind.to_string(),
        });
        Ok(())
    };
    put("README.txt", "readme", README.as_bytes())?;
    let reports = serde_json::to_vec_pretty(&contents.reports)
        .map_err(|e| BundleError::Invalid(format!("reports: {e}")))?;
    put("reports.json", "reports", &reports)?;
    let mut evidence = Vec::new();
    let mut written = BTreeSet::new();
    for (row, body) in &contents.evidence {
        let file = match body {
            Some(body) => {
                let sha = sha256_hex(body);
                if row.body_sha256.as_deref() != Some(sha.as_str()) {
                    // The store is content-addressed: a mismatch means the database was altered.
                    return Err(BundleError::Invalid(format!(
                        "evidence {}: the stored body does not match its recorded SHA-256",
                        row.id
                    )));
                }
                let rel = format!("evidence/{sha}");
                if written.insert(rel.clone()) {
                    put(&rel, "evidence", body)?;
                }
                Some(rel)
            }
            None => None,
        };
        evidence.push(ManifestEvidence {
            id: row.id.clone(),
            url: row.url.clone(),
            fetched_at: rfc3339(row.fetched_at),
            status: row.status,
            headers: serde_json::from_str(&row.headers).unwrap_or(serde_json::Value::Null),
            file,
            sha256: row.body_sha256.clone(),
            truncated: row.truncated,
            error: row.error.clone(),
        });
    }
    let mut excerpt = String::new();
    for e in &contents.excerpt {
        excerpt.push_str(&entry_json(e).to_string());
        excerpt.push('\n');
    }
    put(EXCERPT, "audit_excerpt", excerpt.as_bytes())?;
    let cp = &contents.checkpoint;
    let checkpoint = serde_json::to_vec_pretty(&serde_json::json!({
        "seq": cp.seq, "hash": cp.hash, "at": cp.at,
        "public_key": cp.public_key, "signature": cp.signature,
    }))
    .map_err(|e| BundleError::Invalid(format!("checkpoint: {e}")))?;
    put(CHECKPOINT, "checkpoint", &checkpoint)?;
    let manifest = Manifest {
        format: BUNDLE_FORMAT.into(),
        provider: contents.provider.clone(),
        created_at: rfc3339(contents.created_at),
        signer_public_key: hex::encode(key.verifying_key().as_bytes()),
        referral: contents.referral.clone(),
        evidence,
        files,
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BundleError::Invalid(format!("manifest: {e}")))?;
    let mpath = tmp.join(MANIFEST);
    std::fs::write(&mpath, &manifest_bytes).map_err(io(&mpath))?;
    let spath = tmp.join(SIGNATURE);
    std::fs::write(&spath, key.sign(&manifest_bytes).to_bytes()).map_err(io(&spath))?;
    std::fs::rename(&tmp, dir).map_err(io(dir))?;
    Ok(sha256_hex(&manifest_bytes))
}

/// One thing wrong with a bundle, naming the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleProblem {
    /// The file, relative to the bundle.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for BundleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// The outcome of [`verify_bundle`].
#[derive(Debug, Clone, Default)]
pub struct BundleReport {
    /// Files whose hash matched.
    pub files_verified: usize,
    /// Audit entries in the excerpt.
    pub audit_entries: usize,
    /// Whether the signer was checked against a key given by the verifier (not only the key
    /// the manifest names).
    pub signer_pinned: bool,
    /// The signer's key, hex.
    pub signer: String,
    /// Everything wrong.
    pub problems: Vec<BundleProblem>,
}

impl BundleReport {
    /// Whether the bundle is intact.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for BundleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            write!(
                f,
                "bundle intact: signature by {} verified, {} files and {} audit entries checked",
                self.signer, self.files_verified, self.audit_entries
            )?;
            if !self.signer_pinned {
                write!(
                    f,
                    "\nwarning: no --key given; the signer is only the key the manifest names"
                )?;
            }
            Ok(())
        } else {
            writeln!(f, "bundle ALTERED: {} problem(s)", self.problems.len())?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}

/// Parses a public key: 64 hex digits, or a file holding them.
pub fn parse_public_key(arg: &str) -> Result<VerifyingKey, String> {
    let text = if Path::new(arg).is_file() {
        std::fs::read_to_string(arg).map_err(|e| format!("{arg}: {e}"))?
    } else {
        arg.to_string()
    };
    let bytes = hex::decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| format!("{arg}: a public key is 64 hex digits (or a file holding them)"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("{arg}: not an Ed25519 public key: {e}"))
}

/// Every regular file under `dir`, as `/`-separated relative paths; anything else (a link, a
/// device) is a problem.
fn list_files(dir: &Path, problems: &mut Vec<BundleProblem>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let entries = match std::fs::read_dir(dir.join(&rel)) {
            Ok(e) => e,
            Err(e) => {
                problems.push(BundleProblem {
                    file: display_rel(&rel),
                    message: format!("cannot read the directory: {e}"),
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            let child = rel.join(entry.file_name());
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(child),
                Ok(t) if t.is_file() => {
                    out.insert(display_rel(&child));
                }
                _ => problems.push(BundleProblem {
                    file: display_rel(&child),
                    message: "not a regular file (links are not allowed in a bundle)".into(),
                }),
            }
        }
    }
    out
}

fn display_rel(p: &Path) -> String {
    let s: Vec<String> = p
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if s.is_empty() {
        ".".into()
    } else {
        s.join("/")
    }
}

/// A manifest path must stay inside the bundle.
fn safe_rel(p: &str) -> bool {
    !p.is_empty()
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Checks a bundle: the signature over the manifest (against `key` if given, else against the
/// key the manifest names), every file's hash, no file missing or added, the audit excerpt's
/// entry hashes and the checkpoint's signature. Every problem names its file.
pub fn verify_bundle(dir: &Path, key: Option<&VerifyingKey>) -> BundleReport {
    let mut report = BundleReport {
        signer_pinned: key.is_some(),
        ..Default::default()
    };
    let problem = |report: &mut BundleReport, file: &str, message: String| {
        report.problems.push(BundleProblem {
            file: file.to_string(),
            message,
        })
    };
    let manifest_bytes = match std::fs::read(dir.join(MANIFEST)) {
        Ok(b) => b,
        Err(e) => {
            problem(&mut report, MANIFEST, format!("cannot read: {e}"));
            return report;
        }
    };
    let manifest: Option<Manifest> = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => Some(m),
        Err(e) => {
            problem(
                &mut report,
                MANIFEST,
                format!("not a valid manifest (altered?): {e}"),
            );
            None
        }
    };
    let named_key = manifest.as_ref().and_then(|m| {
        hex::decode(&m.signer_public_key)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
    });
    let signer = match (key, named_key) {
        (Some(k), Some(n)) if k != &n => {
            problem(
                &mut report,
                MANIFEST,
                format!(
                    "names signer {} but the key given is {}",
                    hex::encode(n.as_bytes()),
                    hex::encode(k.as_bytes())
                ),
            );
            Some(*k)
        }
        (Some(k), _) => Some(*k),
        (None, n) => n,
    };
    report.signer = signer.map_or_else(String::new, |k| hex::encode(k.as_bytes()));
    match std::fs::read(dir.join(SIGNATURE)) {
        Err(e) => problem(&mut report, SIGNATURE, format!("cannot read: {e}")),
        Ok(sig) => match (Signature::from_slice(&sig), signer) {
            (Err(_), _) => problem(
                &mut report,
                SIGNATURE,
                format!("must be 64 bytes, found {} (altered?)", sig.len()),
            ),
            (Ok(_), None) => problem(
                &mut report,
                MANIFEST,
                "names no valid signer key and none was given".into(),
            ),
            (Ok(sig), Some(k)) => {
                if k.verify(&manifest_bytes, &sig).is_err() {
                    problem(
                        &mut report,
                        SIGNATURE,
                        format!("the signature does not verify over {MANIFEST}: one of them was altered"),
                    );
                }
            }
        },
    }
    let Some(manifest) = manifest else {
        return report;
    };
    if manifest.format != BUNDLE_FORMAT {
        problem(
            &mut report,
            MANIFEST,
            format!("unknown format '{}'", manifest.format),
        );
    }
    let mut problems = Vec::new();
    let present = list_files(dir, &mut problems);
    report.problems.extend(problems);
    let mut listed: BTreeMap<&str, &ManifestFile> = BTreeMap::new();
    for f in &manifest.files {
        if !safe_rel(&f.path) || f.path == MANIFEST || f.path == SIGNATURE {
            problem(
                &mut report,
                &f.path,
                "listed in the manifest with a path outside the bundle or reserved".into(),
            );
            continue;
        }
        listed.insert(f.path.as_str(), f);
    }
    for p in &present {
        if p != MANIFEST && p != SIGNATURE && !listed.contains_key(p.as_str()) {
            problem(&mut report, p, "not listed in the manifest (added)".into());
        }
    }
    let mut contents: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for (path, f) in &listed {
        if !present.contains(*path) {
            problem(
                &mut report,
                path,
                "listed in the manifest but missing".into(),
            );
            continue;
        }
        match std::fs::read(dir.join(path)) {
            Err(e) => problem(&mut report, path, format!("cannot read: {e}")),
            Ok(bytes) => {
                let sha = sha256_hex(&bytes);
                if sha != f.sha256 || bytes.len() as u64 != f.size {
                    problem(
                        &mut report,
                        path,
                        format!(
                            "altered: SHA-256 {sha} ({} bytes), the manifest says {} ({} bytes)",
                            bytes.len(),
                            f.sha256,
                            f.size
                        ),
                    );
                } else {
                    report.files_verified += 1;
                    contents.insert(path, bytes);
                }
            }
        }
    }
    for e in &manifest.evidence {
        if let Some(file) = &e.file {
            let expected = format!("evidence/{}", e.sha256.as_deref().unwrap_or(""));
            if *file != expected || !listed.contains_key(file.as_str()) {
                problem(
                    &mut report,
                    file,
                    format!("evidence {} does not match a listed file", e.id),
                );
            }
        }
    }
    check_audit(&mut report, &contents, signer.as_ref());
    report
}

/// The excerpt's entries must match their hashes, be in order, and be covered by a validly
/// signed checkpoint.
fn check_audit(
    report: &mut BundleReport,
    contents: &BTreeMap<&str, Vec<u8>>,
    signer: Option<&VerifyingKey>,
) {
    let mut push = |file: &str, message: String| {
        report.problems.push(BundleProblem {
            file: file.into(),
            message,
        })
    };
    let mut entries = Vec::new();
    if let Some(bytes) = contents.get(EXCERPT) {
        for (i, line) in String::from_utf8_lossy(bytes).lines().enumerate() {
            match serde_json::from_str::<ExcerptEntry>(line) {
                Ok(e) => entries.push(e),
                Err(e) => push(EXCERPT, format!("line {}: not an audit entry: {e}", i + 1)),
            }
        }
    }
    let mut last_seq = 0;
    let mut prev: Option<&ExcerptEntry> = None;
    for e in &entries {
        let h = crate::audit::entry_hash(
            e.at,
            &e.actor,
            &e.action,
            &e.subject,
            &e.details,
            &e.prev_hash,
        );
        if h != e.hash {
            push(EXCERPT, format!("entry {} does not match its hash", e.seq));
        }
        if e.seq <= last_seq {
            push(EXCERPT, format!("entry {} is out of order", e.seq));
        }
        if let Some(p) = prev {
            if p.seq + 1 == e.seq && e.prev_hash != p.hash {
                push(
                    EXCERPT,
                    format!("entry {} does not follow entry {}", e.seq, p.seq),
                );
            }
        }
        last_seq = e.seq;
        prev = Some(e);
    }
    let audit_entries = entries.len();
    if let Some(bytes) = contents.get(CHECKPOINT) {
        match serde_json::from_slice::<CheckpointJson>(bytes) {
            Err(e) => push(CHECKPOINT, format!("not a checkpoint: {e}")),
            Ok(cp) => {
                if cp.seq < last_seq {
                    push(
                        CHECKPOINT,
                        format!(
                            "covers entries up to {} but the excerpt goes to {last_seq}",
                            cp.seq
                        ),
                    );
                }
                if let Some(e) = entries.iter().find(|e| e.seq == cp.seq) {
                    if e.hash != cp.hash {
                        push(
                            CHECKPOINT,
                            format!("entry {}'s hash differs from the signed one", cp.seq),
                        );
                    }
                }
                let key_ok = signer.is_some_and(|k| hex::encode(k.as_bytes()) == cp.public_key);
                let sig = hex::decode(&cp.signature)
                    .ok()
                    .and_then(|b| Signature::from_slice(&b).ok());
                let signed_ok = match (signer, sig) {
                    (Some(k), Some(sig)) => k
                        .verify(
                            &crate::audit::checkpoint_message(cp.seq, &cp.hash, cp.at),
                            &sig,
                        )
                        .is_ok(),
                    _ => false,
                };
                if !key_ok {
                    push(CHECKPOINT, "signed by another key than the bundle's".into());
                } else if !signed_ok {
                    push(CHECKPOINT, "bad signature".into());
                }
            }
        }
    }
    report.audit_entries = audit_entries;
}

#[derive(Deserialize)]
struct ExcerptEntry {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    subject: String,
    details: String,
    prev_hash: String,
    hash: String,
}

#[derive(Deserialize)]
struct CheckpointJson {
    seq: i64,
    hash: String,
    at: i64,
    public_key: String,
    signature: String,
}

/// Writes the bundle of referral `referral_id` under `bundle_root/<referral id>`: forces a
/// signed checkpoint so that one covers the whole excerpt (the referral's own entry included),
/// then records the bundle's path and manifest hash on the referral. Returns (path, manifest
/// SHA-256).
pub async fn write_referral_bundle(
    store: &crate::store::Store,
    key: &SigningKey,
    provider: &str,
    bundle_root: &Path,
    referral_id: &str,
    actor: &crate::store::Actor,
) -> anyhow::Result<(PathBuf, String)> {
    let referral = store.referral(referral_id).await?;
    store.checkpoint_if_due(key, 1, actor.at).await?;
    let subject = format!("case:{}", referral.case_id);
    let excerpt = store.audit_for_subject(&subject).await?;
    let last = excerpt.last().map_or(0, |e| e.seq);
    let checkpoint = store
        .audit_checkpoints()
        .await?
        .into_iter()
        .rev()
        .find(|c| c.seq >= last)
        .ok_or_else(|| anyhow::anyhow!("no signed checkpoint covers entry {last}"))?;
    let case = store.case(&referral.case_id, actor.at).await?;
    // The notices, without who sent them: an authority that needs a notifier's contact asks
    // the provider, who decides case by case (reporters' identities are protected).
    let reports: Vec<serde_json::Value> = store
        .case_reports(&referral.case_id)
        .await?
        .iter()
        .map(|r| {
            serde_json::json!({
                "receipt": r.receipt, "category": r.category, "explanation": r.explanation,
                "urls": r.urls.iter().map(|u| u.url.clone()).collect::<Vec<_>>(),
                "submitted_at": rfc3339(r.submitted_at),
            })
        })
        .collect();
    let contents = BundleContents {
        provider: provider.to_string(),
        created_at: actor.at,
        referral: serde_json::json!({
            "id": referral.id, "case": referral.case_id, "host": case.host,
            "jurisdiction": referral.jurisdiction, "basis": referral.basis,
            "authority": { "directory_entry": referral.authority_key, "name": referral.authority_name,
                "email": referral.authority_email, "url": referral.authority_url },
            "reason": referral.reason, "referred_by": referral.referred_by,
            "referred_at": rfc3339(referral.referred_at),
        }),
        reports: serde_json::Value::Array(reports),
        evidence: store.case_evidence_with_bodies(&referral.case_id).await?,
        excerpt,
        checkpoint,
    };
    let dir = bundle_root.join(&referral.id);
    let sha = write_bundle(&dir, &contents, key)?;
    store
        .set_referral_bundle(&referral.id, &dir.display().to_string(), &sha, actor)
        .await?;
    Ok((dir, sha))
}
