//! Referrals to authorities: the directory picks the authority (or the fallback), the bundle
//! verifies offline, and `verify_bundle` names the file on any altered byte, a missing or an
//! added file, an altered signature or another key; acknowledgements and orders are recorded
//! on the case. On SQLite and PostgreSQL.

mod common;

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use common::*;
use rempart_desk::bundle::{verify_bundle, write_referral_bundle};
use rempart_desk::store::{Actor, NewEvidence, NewReferral, Role};

const NOTIFIER_EMAIL: &str = "victim-friend@private.example";

fn directory(bundle_dir: &Path) -> String {
    format!(
        r#"
[referrals]
bundle_dir = "{}"
[referrals.fallback]
name = "Europol EC3"
url = "https://europol.example/report"
[referrals.authorities.FR]
name = "PHAROS"
email = "pharos@interieur.example"
[referrals.authorities.BE]
name = "Federal Computer Crime Unit"
url = "https://fccu.example"
"#,
        bundle_dir.display()
    )
}

async fn file_report(t: &TestDesk, url: &str) -> String {
    let resp = send(
        &t.desk.router(),
        post_json(
            "/api/v1/reports",
            &report(
                url,
                "threat_to_life",
                "He says he will hurt her tonight",
                NOTIFIER_EMAIL,
            ),
        ),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
    let host = url::Url::parse(url)
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    let queue = t.desk.store().queue(i64::MAX / 2, 100).await.unwrap();
    queue.into_iter().find(|c| c.host == host).expect("case").id
}

async fn preserve(t: &TestDesk, case_id: &str) {
    let reports = t.desk.store().case_reports(case_id).await.unwrap();
    let actor = Actor {
        name: "system".into(),
        at: 1_764_057_600_000,
    };
    for (url, body, error) in [
        (
            "https://threat.example/post/1",
            Some(b"<p>the threat</p>".to_vec()),
            None,
        ),
        (
            "https://threat.example/post/1?copy",
            Some(b"<p>the threat</p>".to_vec()),
            None,
        ),
        (
            "https://threat.example/post/2",
            Some(vec![0u8, 159, 146, 150, 255]),
            None,
        ),
        (
            "https://threat.example/gone",
            None,
            Some("connection refused".to_string()),
        ),
    ] {
        t.desk
            .store()
            .store_evidence(
                &NewEvidence {
                    report_id: reports[0].id.clone(),
                    url: url.into(),
                    status: body.as_ref().map(|_| 200),
                    headers: r#"[["content-type","text/html"]]"#.into(),
                    body,
                    truncated: false,
                    error,
                },
                &actor,
            )
            .await
            .unwrap();
    }
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir)
        .unwrap()
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn referral_from_the_case_page_writes_a_bundle_that_verifies() {
    let bundles = rempart_desk::testkit::temp_dir("bundles");
    for (name, t) in desks(&directory(&bundles)).await {
        let case_id = file_report(&t, &format!("https://threat-{name}.example/post/1")).await;
        preserve(&t, &case_id).await;
        let s = login(&t, "ana", Role::Analyst).await;
        let r = t.desk.router();
        // The case page links to the referral page, which has the form and the directory.
        let case_page = send(&r, with_cookie(&format!("/cases/{case_id}"), &s.cookie)).await;
        assert!(
            case_page
                .body
                .contains(&format!("/cases/{case_id}/referrals")),
            "{name}"
        );
        let page = send(
            &r,
            with_cookie(&format!("/cases/{case_id}/referrals"), &s.cookie),
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{name}");
        assert!(page.body.contains("PHAROS") && page.body.contains(r#"id="refer""#));
        // Bad input: every problem listed, nothing recorded.
        let bad = send(
            &r,
            post_form(
                &format!("/cases/{case_id}/referrals"),
                Some(&s.cookie),
                &[
                    ("csrf", &s.csrf),
                    ("basis", "victim"),
                    ("jurisdiction", "France"),
                    ("reason", ""),
                ],
            ),
        )
        .await;
        assert_eq!(
            bad.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {}",
            bad.body
        );
        assert!(
            bad.body.contains("two-letter") && bad.body.contains("reason"),
            "{}",
            bad.body
        );
        // Without the CSRF token: refused.
        let no_csrf = send(
            &r,
            post_form(
                &format!("/cases/{case_id}/referrals"),
                Some(&s.cookie),
                &[
                    ("basis", "victim"),
                    ("jurisdiction", "fr"),
                    ("reason", "threat"),
                ],
            ),
        )
        .await;
        assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
        assert!(t
            .desk
            .store()
            .case_referrals(&case_id)
            .await
            .unwrap()
            .is_empty());

        let ok = send(
            &r,
            post_form(
                &format!("/cases/{case_id}/referrals"),
                Some(&s.cookie),
                &[
                    ("csrf", &s.csrf),
                    ("basis", "victim"),
                    ("jurisdiction", "fr"),
                    ("reason", "Threat to kill a named person tonight"),
                ],
            ),
        )
        .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{name}: {}", ok.body);
        // Unclear jurisdiction, and a country without an entry: the fallback.
        for (basis, j) in [("unclear", ""), ("suspect", "DE")] {
            t.clock.advance(chrono::Duration::minutes(1));
            let resp = send(
                &r,
                post_form(
                    &format!("/cases/{case_id}/referrals"),
                    Some(&s.cookie),
                    &[
                        ("csrf", &s.csrf),
                        ("basis", basis),
                        ("jurisdiction", j),
                        ("reason", "threat"),
                    ],
                ),
            )
            .await;
            assert_eq!(resp.status, StatusCode::SEE_OTHER, "{name}: {}", resp.body);
        }
        let referrals = t.desk.store().case_referrals(&case_id).await.unwrap();
        assert_eq!(referrals.len(), 3);
        assert_eq!(
            referrals
                .iter()
                .map(|r| (
                    r.authority_key.as_str(),
                    r.authority_name.as_str(),
                    r.basis.as_str()
                ))
                .collect::<Vec<_>>(),
            [
                ("FR", "PHAROS", "victim"),
                ("fallback", "Europol EC3", "unclear"),
                ("fallback", "Europol EC3", "suspect")
            ],
            "{name}"
        );
        let key = t.config.key_dir.join("audit-ed25519.key");
        let public = rempart_desk::keys::Keys::audit_public(key.parent().unwrap()).unwrap();
        let first = &referrals[0];
        let dir = PathBuf::from(first.bundle_path.as_deref().expect("bundle written"));
        let report = verify_bundle(&dir, Some(&public));
        assert!(report.is_ok(), "{name}: {report}");
        // README, reports, 2 distinct bodies (3 snapshots with bodies), excerpt, checkpoint.
        assert_eq!(report.files_verified, 6, "{name}: {report}");
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["referral"]["authority"]["name"], "PHAROS");
        assert_eq!(manifest["referral"]["jurisdiction"], "FR");
        assert_eq!(manifest["evidence"].as_array().unwrap().len(), 4);
        assert_eq!(
            first.manifest_sha256.as_deref().unwrap(),
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                std::fs::read(dir.join("manifest.json")).unwrap()
            ))
        );
        let excerpt = std::fs::read_to_string(dir.join("audit/excerpt.jsonl")).unwrap();
        assert!(excerpt.contains("referral.made") && excerpt.contains("evidence.preserved"));
        // The notifier's identity never leaves in a bundle.
        for f in all_files(&dir) {
            let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
            assert!(
                !text.contains(NOTIFIER_EMAIL) && !text.contains("Nadia Notifier"),
                "{name}: {} leaks the notifier",
                f.display()
            );
        }
        // The log records where the bundle went and its manifest hash, and still verifies.
        let log = t
            .desk
            .store()
            .audit_for_subject(&format!("case:{case_id}"))
            .await
            .unwrap();
        assert!(log.iter().any(|e| e.action == "referral.bundle_written"
            && e.details
                .contains(first.manifest_sha256.as_deref().unwrap())));
        let audit = rempart_desk::audit::verify_store(t.desk.store(), &public)
            .await
            .unwrap();
        assert!(audit.is_ok(), "{name}: {audit}");

        // An acknowledgement through the form, an order through the API (with an API token).
        let ack = send(
            &r,
            post_form(
                &format!("/cases/{case_id}/authority-responses"),
                Some(&s.cookie),
                &[
                    ("csrf", &s.csrf),
                    ("kind", "acknowledgement"),
                    ("referral", &first.id),
                    ("authority", "PHAROS"),
                    ("reference", "PH-2026-123"),
                    ("received", "2026-11-25T07:30"),
                ],
            ),
        )
        .await;
        assert_eq!(ack.status, StatusCode::SEE_OTHER, "{name}: {}", ack.body);
        // An acknowledgement must answer a referral; a date in the future is refused.
        for (referral, received) in [("", "2026-11-25"), (first.id.as_str(), "2030-01-01")] {
            let bad = send(
                &r,
                post_form(
                    &format!("/cases/{case_id}/authority-responses"),
                    Some(&s.cookie),
                    &[
                        ("csrf", &s.csrf),
                        ("kind", "acknowledgement"),
                        ("referral", referral),
                        ("authority", "PHAROS"),
                        ("reference", "x"),
                        ("received", received),
                    ],
                ),
            )
            .await;
            assert_eq!(
                bad.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{name}: {}",
                bad.body
            );
        }
        let (decision, _) = t
            .desk
            .store()
            .record_decision(
                &rempart_desk::store::NewDecision {
                    case_id: case_id.clone(),
                    action: "restrict_url".into(),
                    ground_kind: "legal".into(),
                    ground: "Threat to life".into(),
                    facts: "facts".into(),
                    category: "threat_to_life".into(),
                    scope: Some(r#"{"type":"url","url":"https://threat.example/post/1"}"#.into()),
                    starts_at: 1_795_593_600_000 + 3_600_000,
                    ends_at: None,
                    deadline: None,
                    statement: Some(rempart_desk::testkit::statement(
                        "A threat to kill a person.",
                    )),
                    emergency: false,
                },
                &Actor {
                    name: "user:ana".into(),
                    at: 1_795_593_600_000 + 3_600_000,
                },
                &rempart_desk::decision::PolicyContext {
                    public_url: "https://desk.example".into(),
                    implemented_by: "Example Provider".into(),
                },
            )
            .await
            .unwrap();
        let token_page = {
            let admin = login(&t, "root", Role::Admin).await;
            send(
                &r,
                post_form(
                    "/admin/tokens",
                    Some(&admin.cookie),
                    &[
                        ("csrf", &admin.csrf),
                        ("username", "ana"),
                        ("label", "tests"),
                    ],
                ),
            )
            .await
        };
        let token = token_page
            .body
            .split(r#"id="token">"#)
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_string();
        let mut req = post_json(
            &format!("/api/v1/cases/{case_id}/authority-responses"),
            &serde_json::json!({
                "kind": "order", "authority": "Tribunal judiciaire de Paris", "reference": "ORD-77",
                "scope": "https://threat.example/post/1", "received": "2026-11-25T08:00",
                "decision": decision,
            }),
        );
        req.headers_mut().insert(
            axum::http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        let order = send(&r, req).await;
        assert_eq!(order.status, StatusCode::CREATED, "{name}: {}", order.body);
        let responses = t
            .desk
            .store()
            .case_authority_responses(&case_id)
            .await
            .unwrap();
        assert_eq!(responses.len(), 2);
        let o = responses.iter().find(|r| r.kind == "order").unwrap();
        // The order came at 08:00; the decision giving it effect started at 09:00.
        assert_eq!(o.effective_at.unwrap() - o.received_at, 3_600_000, "{name}");
        let actions: Vec<String> = t
            .desk
            .store()
            .audit_for_subject(&format!("case:{case_id}"))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert!(actions.contains(&"authority.acknowledged".to_string()));
        assert!(actions.contains(&"authority_order.recorded".to_string()));
        let listed = send(
            &r,
            with_cookie(&format!("/api/v1/cases/{case_id}/referrals"), &s.cookie),
        )
        .await;
        assert_eq!(listed.json()["referrals"].as_array().unwrap().len(), 3);
        assert_eq!(listed.json()["responses"].as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn a_desk_without_a_directory_refuses_referrals() {
    for (name, t) in desks("").await {
        let case_id = file_report(&t, "https://nodir.example/x").await;
        let s = login(&t, "ana", Role::Analyst).await;
        let resp = send(
            &t.desk.router(),
            post_form(
                &format!("/cases/{case_id}/referrals"),
                Some(&s.cookie),
                &[
                    ("csrf", &s.csrf),
                    ("basis", "victim"),
                    ("jurisdiction", "FR"),
                    ("reason", "x"),
                ],
            ),
        )
        .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(
            resp.body.contains("no directory of authorities"),
            "{}",
            resp.body
        );
    }
}

/// One bundle written through the store, to tamper with.
async fn a_bundle() -> (PathBuf, ed25519_dalek::VerifyingKey) {
    let bundles = rempart_desk::testkit::temp_dir("bundles");
    let t = open(&rempart_desk::testkit::sqlite_url(), &directory(&bundles)).await;
    let case_id = file_report(&t, "https://threat.example/post/1").await;
    preserve(&t, &case_id).await;
    let actor = Actor {
        name: "user:ana".into(),
        at: 1_764_060_000_000,
    };
    let id = t
        .desk
        .store()
        .record_referral(
            &NewReferral {
                case_id,
                jurisdiction: "FR".into(),
                basis: "place".into(),
                authority_key: "FR".into(),
                authority_name: "PHAROS".into(),
                authority_email: Some("pharos@interieur.example".into()),
                authority_url: None,
                reason: "threat".into(),
            },
            &actor,
        )
        .await
        .unwrap();
    let keys = rempart_desk::keys::Keys::load_or_create(&t.config.key_dir).unwrap();
    let (dir, _) = write_referral_bundle(
        t.desk.store(),
        &keys.audit,
        "Example Provider",
        &bundles,
        &id,
        &actor,
    )
    .await
    .unwrap();
    (dir, keys.audit.verifying_key())
}

fn tampered(original: &Path, change: impl FnOnce(&Path)) -> PathBuf {
    let dir = rempart_desk::testkit::temp_dir("tampered").join("bundle");
    copy_dir(original, &dir);
    change(&dir);
    dir
}

#[tokio::test]
async fn bundle_verify_names_the_file_on_any_change() {
    let (dir, key) = a_bundle().await;
    assert!(verify_bundle(&dir, Some(&key)).is_ok());
    assert!(
        verify_bundle(&dir, None).is_ok(),
        "the manifest names the signer"
    );
    let files: Vec<String> = all_files(&dir).iter().map(|p| rel(&dir, p)).collect();
    // Every kind of file is there.
    for kind in [
        "manifest.json",
        "manifest.json.sig",
        "README.txt",
        "reports.json",
        "audit/excerpt.jsonl",
        "audit/checkpoint.json",
    ] {
        assert!(files.iter().any(|f| f == kind), "{kind} in {files:?}");
    }
    assert_eq!(
        files.iter().filter(|f| f.starts_with("evidence/")).count(),
        2
    );
    // One flipped byte anywhere in any file (first, middle and last byte).
    for f in &files {
        let len = std::fs::metadata(dir.join(f)).unwrap().len() as usize;
        for at in [0, len / 2, len - 1] {
            let bad = tampered(&dir, |d| {
                let p = d.join(f);
                let mut b = std::fs::read(&p).unwrap();
                b[at] ^= 0x01;
                std::fs::write(&p, b).unwrap();
            });
            let report = verify_bundle(&bad, Some(&key));
            assert!(!report.is_ok(), "{f} byte {at} flipped went unnoticed");
            assert!(
                report.problems.iter().any(|p| &p.file == f)
                    || (f == "manifest.json"
                        && report
                            .problems
                            .iter()
                            .any(|p| p.file == "manifest.json.sig")),
                "{f} byte {at}: {report}"
            );
            // Without --key, the same (a changed manifest no longer matches its signature).
            assert!(!verify_bundle(&bad, None).is_ok(), "{f} byte {at} (no key)");
        }
        // Deleted.
        let bad = tampered(&dir, |d| std::fs::remove_file(d.join(f)).unwrap());
        let report = verify_bundle(&bad, Some(&key));
        assert!(
            report.problems.iter().any(|p| &p.file == f),
            "{f} deleted: {report}"
        );
    }
    // Added, at the top and among the evidence.
    for added in ["notes.txt", "evidence/extra"] {
        let bad = tampered(&dir, |d| std::fs::write(d.join(added), b"x").unwrap());
        let report = verify_bundle(&bad, Some(&key));
        assert!(
            report.problems.iter().any(|p| p.file == added),
            "{added}: {report}"
        );
    }
    // A signature by another key (the manifest re-signed by a forger naming their own key).
    let forger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let bad = tampered(&dir, |d| {
        use ed25519_dalek::Signer;
        let m = std::fs::read(d.join("manifest.json")).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        v["signer_public_key"] = hex::encode(forger.verifying_key().as_bytes()).into();
        let m = serde_json::to_vec_pretty(&v).unwrap();
        std::fs::write(d.join("manifest.json"), &m).unwrap();
        std::fs::write(d.join("manifest.json.sig"), forger.sign(&m).to_bytes()).unwrap();
    });
    let report = verify_bundle(&bad, Some(&key));
    assert!(
        report.problems.iter().any(|p| p.file == "manifest.json"),
        "{report}"
    );
    // Without a pinned key the forgery is internally consistent, but its checkpoint is signed by
    // the desk's key, not the forger's: still caught.
    let report = verify_bundle(&bad, None);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.file == "audit/checkpoint.json"),
        "{report}"
    );
    // A truncated signature.
    let bad = tampered(&dir, |d| {
        std::fs::write(d.join("manifest.json.sig"), [0u8; 10]).unwrap()
    });
    let report = verify_bundle(&bad, Some(&key));
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.file == "manifest.json.sig"),
        "{report}"
    );
}
