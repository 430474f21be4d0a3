//! `rempart bundle verify`: exit 0 on an intact referral bundle, exit 1 naming the file when a
//! byte is altered, and exit 1 when the bundle was signed by another key than the one given.

use std::path::Path;
use std::process::Command;

use rempart_desk::bundle::{write_bundle, BundleContents};
use rempart_desk::store::{AuditEntry, CheckpointRow, EvidenceRow};

fn bundle(dir: &Path, key: &rempart_desk::keys::Keys) {
    let mut entries = Vec::new();
    let mut prev = rempart_desk::audit::GENESIS_HASH.to_string();
    for (seq, action) in [(1, "report.submitted"), (2, "referral.made")] {
        let details = format!("{{\"n\":{seq}}}");
        let hash = rempart_desk::audit::entry_hash(
            seq * 1000,
            "user:ana",
            action,
            "case:c1",
            &details,
            &prev,
        );
        entries.push(AuditEntry {
            seq,
            at: seq * 1000,
            actor: "user:ana".into(),
            action: action.into(),
            subject: "case:c1".into(),
            details,
            prev_hash: prev.clone(),
            hash: hash.clone(),
        });
        prev = hash;
    }
    let (public_key, signature) = rempart_desk::audit::sign_checkpoint(&key.audit, 2, &prev, 3000);
    let body = b"<p>the threat</p>".to_vec();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
    write_bundle(
        dir,
        &BundleContents {
            provider: "Example Provider".into(),
            created_at: 3000,
            referral: serde_json::json!({ "id": "ref_1", "case": "c1" }),
            reports: serde_json::json!([]),
            evidence: vec![(
                EvidenceRow {
                    id: "e_1".into(),
                    report_id: "r_1".into(),
                    url: "https://threat.example/1".into(),
                    fetched_at: 1500,
                    status: Some(200),
                    headers: "[]".into(),
                    body_sha256: Some(sha),
                    truncated: false,
                    error: None,
                },
                Some(body),
            )],
            excerpt: entries,
            checkpoint: CheckpointRow {
                seq: 2,
                hash: prev,
                at: 3000,
                public_key,
                signature,
            },
        },
        &key.audit,
    )
    .expect("bundle written");
}

fn verify(dir: &Path, key: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rempart"))
        .args(["bundle", "verify"])
        .arg(dir)
        .args(["--key", key])
        .output()
        .expect("run rempart");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn bundle_verify_exit_codes() {
    let root = rempart_desk::testkit::temp_dir("cli-bundle");
    let keys = rempart_desk::keys::Keys::load_or_create(&root.join("keys")).unwrap();
    let public = hex::encode(keys.audit.verifying_key().as_bytes());
    let dir = root.join("ref_1");
    bundle(&dir, &keys);
    let (ok, out) = verify(&dir, &public);
    assert!(ok, "{out}");
    assert!(out.contains("bundle intact"), "{out}");
    // The key can be given as a file too.
    std::fs::write(root.join("desk.pub"), &public).unwrap();
    assert!(verify(&dir, root.join("desk.pub").to_str().unwrap()).0);

    let evidence = std::fs::read_dir(dir.join("evidence"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let name = format!(
        "evidence/{}",
        evidence.file_name().unwrap().to_string_lossy()
    );
    let mut b = std::fs::read(&evidence).unwrap();
    b[3] ^= 0x20;
    std::fs::write(&evidence, b).unwrap();
    let (ok, out) = verify(&dir, &public);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("{name}: altered")), "{out}");

    // Another desk's key: refused.
    let other = rempart_desk::keys::Keys::load_or_create(&root.join("other")).unwrap();
    let dir2 = root.join("ref_2");
    bundle(&dir2, &keys);
    let (ok, out) = verify(&dir2, &hex::encode(other.audit.verifying_key().as_bytes()));
    assert!(!ok && out.contains("manifest.json"), "{out}");
    // A malformed key: a clear error, exit 1.
    let (ok, out) = verify(&dir2, "not-a-key");
    assert!(!ok && out.contains("64 hex digits"), "{out}");
}
