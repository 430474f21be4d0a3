//! The audit log detects every kind of tampering, on SQLite and on PostgreSQL, and says which
//! entry.

use ed25519_dalek::SigningKey;
use rempart_desk::audit::{entry_hash, verify_store, AuditProblem};
use rempart_desk::store::{Actor, Store};
use rempart_desk::testkit;

/// A log of 8 entries with a signed checkpoint every 3.
async fn log() -> Vec<(&'static str, Store, SigningKey)> {
    let mut out = Vec::new();
    for (name, store) in testkit::stores().await {
        let key = SigningKey::from_bytes(&[7; 32]);
        for i in 1..=8 {
            let actor = Actor {
                name: format!("user:u{i}"),
                at: 1_000 * i,
            };
            store
                .audit_event(
                    &actor,
                    "test.event",
                    "case:x",
                    serde_json::json!({ "i": i }),
                )
                .await
                .unwrap();
            store.checkpoint_if_due(&key, 3, 1_000 * i).await.unwrap();
        }
        out.push((name, store, key));
    }
    out
}

async fn problems(store: &Store, key: &SigningKey) -> Vec<AuditProblem> {
    verify_store(store, &key.verifying_key())
        .await
        .unwrap()
        .problems
}

async fn exec(store: &Store, sql: &str) {
    sqlx::query(sql).execute(store.pool()).await.unwrap();
}

async fn hash_of(store: &Store, seq: i64) -> String {
    sqlx::query_scalar(&format!("SELECT hash FROM audit_log WHERE seq = {seq}"))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn intact_log_verifies_with_checkpoints() {
    for (name, store, key) in log().await {
        let report = verify_store(&store, &key.verifying_key()).await.unwrap();
        assert!(report.is_ok(), "{name}: {report}");
        assert_eq!(report.entries, 8);
        assert_eq!(report.checkpoints_verified, 2, "{name}: at 3 and 6");
    }
}

#[tokio::test]
async fn altered_entry_is_named() {
    for (name, store, key) in log().await {
        exec(
            &store,
            "UPDATE audit_log SET details = '{\"i\":40}' WHERE seq = 4",
        )
        .await;
        assert_eq!(
            problems(&store, &key).await,
            vec![AuditProblem::Altered { seq: 4 }],
            "{name}"
        );
    }
}

#[tokio::test]
async fn deleted_entry_is_named() {
    for (name, store, key) in log().await {
        exec(&store, "DELETE FROM audit_log WHERE seq = 4").await;
        assert_eq!(
            problems(&store, &key).await,
            vec![AuditProblem::Deleted { from: 4, to: 4 }],
            "{name}"
        );
    }
}

#[tokio::test]
async fn deleted_and_renumbered_entry_is_found() {
    for (name, store, key) in log().await {
        exec(&store, "DELETE FROM audit_log WHERE seq = 4").await;
        exec(
            &store,
            "UPDATE audit_log SET seq = seq + 1000 WHERE seq > 4",
        )
        .await;
        exec(
            &store,
            "UPDATE audit_log SET seq = seq - 1001 WHERE seq > 1000",
        )
        .await;
        exec(&store, "UPDATE audit_head SET seq = 7").await;
        let p = problems(&store, &key).await;
        assert!(
            p.contains(&AuditProblem::Broken { seq: 4 }),
            "{name}: {p:?}"
        );
    }
}

#[tokio::test]
async fn truncated_tail_is_found() {
    for (name, store, key) in log().await {
        exec(&store, "DELETE FROM audit_log WHERE seq >= 7").await;
        assert_eq!(
            problems(&store, &key).await,
            vec![AuditProblem::Deleted { from: 7, to: 8 }],
            "{name}"
        );
    }
}

#[tokio::test]
async fn inserted_entry_is_named() {
    for (name, store, key) in log().await {
        // Make room at 4 and insert a well-formed entry that follows entry 3.
        exec(
            &store,
            "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 4",
        )
        .await;
        exec(
            &store,
            "UPDATE audit_log SET seq = seq - 999 WHERE seq > 1000",
        )
        .await;
        let prev = hash_of(&store, 3).await;
        let h = entry_hash(3_500, "user:mallory", "test.event", "case:x", "{}", &prev);
        exec(
            &store,
            &format!(
            "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) \
             VALUES (4, 3500, 'user:mallory', 'test.event', 'case:x', '{{}}', '{prev}', '{h}')"
        ),
        )
        .await;
        exec(&store, "UPDATE audit_head SET seq = 9").await;
        let p = problems(&store, &key).await;
        assert!(
            p.contains(&AuditProblem::Inserted { seq: 4 }),
            "{name}: {p:?}"
        );
    }
}

#[tokio::test]
async fn appended_forgery_is_named() {
    for (name, store, key) in log().await {
        let prev = hash_of(&store, 8).await;
        let h = entry_hash(9_000, "user:mallory", "test.event", "case:x", "{}", &prev);
        exec(
            &store,
            &format!(
            "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) \
             VALUES (9, 9000, 'user:mallory', 'test.event', 'case:x', '{{}}', '{prev}', '{h}')"
        ),
        )
        .await;
        assert_eq!(
            problems(&store, &key).await,
            vec![AuditProblem::Inserted { seq: 9 }],
            "{name}"
        );
    }
}

#[tokio::test]
async fn reordered_entries_are_named() {
    for (name, store, key) in log().await {
        exec(&store, "UPDATE audit_log SET seq = 100 WHERE seq = 3").await;
        exec(&store, "UPDATE audit_log SET seq = 3 WHERE seq = 5").await;
        exec(&store, "UPDATE audit_log SET seq = 5 WHERE seq = 100").await;
        let p = problems(&store, &key).await;
        assert!(
            p.contains(&AuditProblem::Reordered { seq: 3, follows: 4 }),
            "{name}: {p:?}"
        );
    }
}

#[tokio::test]
async fn rewritten_chain_is_caught_by_signed_checkpoint() {
    for (name, store, key) in log().await {
        // An attacker with the database but not the key rewrites entry 2 and re-hashes the
        // whole chain after it, head included: only the signed checkpoints can tell.
        let entries = store.audit_entries().await.unwrap();
        let mut prev = entries[0].hash.clone();
        for e in &entries[1..] {
            let details = if e.seq == 2 {
                "{\"i\":20}".to_string()
            } else {
                e.details.clone()
            };
            let h = entry_hash(e.at, &e.actor, &e.action, &e.subject, &details, &prev);
            sqlx::query(
                "UPDATE audit_log SET details = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
            )
            .bind(&details)
            .bind(&prev)
            .bind(&h)
            .bind(e.seq)
            .execute(store.pool())
            .await
            .unwrap();
            prev = h;
        }
        sqlx::query("UPDATE audit_head SET hash = $1")
            .bind(&prev)
            .execute(store.pool())
            .await
            .unwrap();
        let p = problems(&store, &key).await;
        assert!(
            p.iter()
                .any(|x| matches!(x, AuditProblem::Checkpoint { seq: 3, .. })),
            "{name}: {p:?}"
        );
        // A checkpoint signed by another key is refused too.
        let other = SigningKey::from_bytes(&[9; 32]);
        let p = verify_store(&store, &other.verifying_key())
            .await
            .unwrap()
            .problems;
        assert!(
            p.iter()
                .any(|x| matches!(x, AuditProblem::Checkpoint { .. })),
            "{name}"
        );
    }
}

#[tokio::test]
async fn verifying_reads_and_never_migrates() {
    // A database without the desk's schema is refused, and left without it.
    let missing = testkit::temp_dir("ro").join("none.db");
    let url = format!("sqlite://{}", missing.display());
    assert!(Store::connect_read_only(&url).await.is_err());
    assert!(!missing.exists(), "verifying created the SQLite file");
    if let Some(url) = testkit::postgres_url().await {
        let err = Store::connect_read_only(&url).await.unwrap_err();
        assert!(err.to_string().contains("schema"), "{err}");
        let store = Store::connect(&url).await.unwrap();
        let migrated: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(store.pool())
            .await
            .unwrap();
        // Only the migrations `connect` just ran: the refused verification added none.
        assert!(migrated >= 2);
    }
    // A desk's database is verified through a connection that cannot write, and a schema a
    // migration behind is refused rather than migrated.
    for (name, store, key) in log().await {
        let url = match store.backend() {
            rempart_desk::store::Backend::Sqlite => sqlite_url_of(&store).await,
            rempart_desk::store::Backend::Postgres => continue,
        };
        let ro = Store::connect_read_only(&url).await.unwrap();
        let report = verify_store(&ro, &key.verifying_key()).await.unwrap();
        assert!(report.is_ok(), "{name}: {report}");
        assert!(
            sqlx::query("DELETE FROM audit_log")
                .execute(ro.pool())
                .await
                .is_err(),
            "{name}: the verifying connection could write"
        );
        exec(&store, "DELETE FROM _sqlx_migrations WHERE version = 2").await;
        let err = Store::connect_read_only(&url).await.unwrap_err();
        assert!(err.to_string().contains("not up to date"), "{name}: {err}");
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE version = 2")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(left, 0, "{name}: verifying migrated the database");
    }
}

/// The file a SQLite store was opened on.
async fn sqlite_url_of(store: &Store) -> String {
    let rows: Vec<(i64, String, String)> = sqlx::query_as("PRAGMA database_list")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let file = rows
        .into_iter()
        .find(|(_, name, _)| name == "main")
        .unwrap()
        .2;
    format!("sqlite://{file}")
}
