//! Policy versions issued per change (issue 4 §7 at scale), on SQLite and on PostgreSQL: after
//! any sequence of decisions, lifts, expiries, confirmations and lapses, each version's
//! document is the one built from the whole set of decisions in force, and the digest kept
//! from the changes alone is the digest of that whole document. And a database from before
//! the policy was stored as rows (migration 0007) keeps its document through the migrations.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rempart_desk::clock::from_millis;
use rempart_desk::decision::{build_policy, PolicyContext};
use rempart_desk::policy_digest::SetDigest;
use rempart_desk::store::{Actor, DecisionRow, NewDecision, Store, SubmitOutcome};
use rempart_desk::testkit;

fn actor(name: &str, at: i64) -> Actor {
    Actor {
        name: name.into(),
        at,
    }
}

fn ctx(public_url: &str) -> PolicyContext {
    PolicyContext {
        public_url: public_url.into(),
        implemented_by: "Provider".into(),
    }
}

fn restrict(
    case_id: &str,
    url: &str,
    at: i64,
    ends_at: Option<i64>,
    emergency: bool,
) -> NewDecision {
    NewDecision {
        emergency,
        ..rempart_desk::testkit::restrict_url(case_id, url, at, ends_at)
    }
}

async fn open_case(store: &Store, host: &str) -> String {
    let r = rempart_desk::testkit::doxxing_report(host, 100_000);
    match store
        .submit_report(&r, &actor("public", 1_000))
        .await
        .unwrap()
    {
        SubmitOutcome::Created { case_id, .. } => case_id,
        other => panic!("expected created, got {other:?}"),
    }
}

/// The document version `v` must be: built from scratch (the code that built every version
/// before they were issued per change) from the decisions in force when it was issued.
fn expected_document(v: u64, at: i64, decisions: &[DecisionRow], ctx: &PolicyContext) -> String {
    let in_force: Vec<DecisionRow> = decisions
        .iter()
        .filter(|d| d.scope.is_some() && d.lifted_at.is_none())
        .filter(|d| d.ends_at.is_none_or(|e| e > at))
        .cloned()
        .collect();
    serde_json::to_string(&build_policy(v, from_millis(at), &in_force, ctx)).unwrap()
}

/// Checks version `v`, issued at `at`: its document, size, count, and the digest recorded in
/// the version's row and in the audit log, against the whole document.
async fn check_version(
    name: &str,
    store: &Store,
    case_id: &str,
    v: u64,
    at: i64,
    ctx: &PolicyContext,
) -> usize {
    let decisions = store.case_decisions(case_id).await.unwrap();
    let doc = store.policy_version(v).await.unwrap();
    assert_eq!(
        doc,
        expected_document(v, at, &decisions, ctx),
        "{name}: version {v}"
    );
    let policy = rempart_policy::Policy::from_json(&doc).unwrap();
    let bodies: Vec<String> = policy
        .restrictions
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    let whole = SetDigest::of(bodies.iter().map(String::as_str)).to_hex();
    let meta = store.policy_meta(v).await.unwrap();
    assert_eq!(meta.bytes, doc.len() as u64, "{name}: version {v}");
    assert_eq!(
        meta.restrictions,
        bodies.len() as u64,
        "{name}: version {v}"
    );
    let stored: Option<String> =
        sqlx::query_scalar("SELECT restrictions_digest FROM policy_versions WHERE version = $1")
            .bind(v as i64)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        stored.as_deref(),
        Some(whole.as_str()),
        "{name}: version {v}"
    );
    let logged = store
        .audit_entries()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == "policy.issued" && e.subject == format!("policy:{v}"))
        .expect("policy.issued entry");
    let details: serde_json::Value = serde_json::from_str(&logged.details).unwrap();
    assert_eq!(details["restrictions_digest"], whole, "{name}: version {v}");
    assert_eq!(details["restrictions"], bodies.len(), "{name}: version {v}");
    assert_eq!(logged.at, at, "{name}: version {v}");
    bodies.len()
}

#[tokio::test]
async fn the_digest_kept_per_change_is_the_whole_documents_after_random_changes() {
    for (name, store) in testkit::stores().await {
        let case_id = open_case(&store, "r.example").await;
        let mut rng = StdRng::seed_from_u64(0x5eed_0004);
        let mut context = ctx("https://desk.example");
        let mut at = 2_000;
        // Decisions not lifted yet, and pending emergency measures with their end.
        let mut standing: Vec<String> = Vec::new();
        let mut pending: Vec<(String, i64)> = Vec::new();
        let mut last_version = 0;
        let mut largest = 0;
        let mut kinds = [0usize; 6];
        for step in 0..80 {
            at += rng.gen_range(0..2_500);
            let roll = rng.gen_range(0..100);
            let version = if step == 50 {
                // A configuration change alters every restriction's notice URL: all rebuilt.
                context = ctx("https://desk2.example");
                kinds[5] += 1;
                let url = format!("https://r.example/after-context-{step}");
                let (id, v) = store
                    .record_decision(
                        &restrict(&case_id, &url, at, None, false),
                        &actor("a1", at),
                        &context,
                    )
                    .await
                    .unwrap();
                standing.push(id);
                v
            } else if roll < 50 || standing.is_empty() {
                let url = format!("https://r.example/p/{step}");
                let emergency = rng.gen_bool(0.15);
                let ends_at =
                    (emergency || rng.gen_bool(0.3)).then(|| at + rng.gen_range(1..6_000));
                let (id, v) = store
                    .record_decision(
                        &restrict(&case_id, &url, at, ends_at, emergency),
                        &actor("a1", at),
                        &context,
                    )
                    .await
                    .unwrap();
                if let (true, Some(end)) = (emergency, ends_at) {
                    pending.push((id.clone(), end));
                }
                standing.push(id);
                kinds[0] += 1;
                v
            } else if roll < 75 {
                let id = standing.swap_remove(rng.gen_range(0..standing.len()));
                pending.retain(|(p, _)| *p != id);
                kinds[1] += 1;
                store
                    .lift_decision(&id, "error", &actor("a1", at), &context)
                    .await
                    .unwrap()
            } else if let Some(i) = (!pending.is_empty()).then(|| rng.gen_range(0..pending.len())) {
                let (id, end) = pending.swap_remove(i);
                if at < end {
                    kinds[2] += 1;
                    Some(
                        store
                            .confirm_emergency(&id, &actor("a2", at), &context)
                            .await
                            .unwrap(),
                    )
                } else {
                    kinds[3] += 1;
                    store
                        .lapse_emergency(&id, &actor("a2", at), &context)
                        .await
                        .unwrap()
                }
            } else {
                // A decision with no restriction: no version; the next one drops what expired.
                kinds[4] += 1;
                let mut d = restrict(&case_id, "https://r.example/none", at, None, false);
                d.action = "no_action".into();
                d.scope = None;
                d.statement = None;
                let (_, v) = store
                    .record_decision(&d, &actor("a1", at), &context)
                    .await
                    .unwrap();
                assert_eq!(v, None);
                None
            };
            if let Some(v) = version {
                assert_eq!(v, last_version + 1, "{name}");
                last_version = v;
                largest = largest.max(check_version(name, &store, &case_id, v, at, &context).await);
            }
        }
        // The sequence exercised every kind of change, and the policy grew beyond a few.
        assert!(kinds.iter().all(|&k| k > 0), "{name}: {kinds:?}");
        assert!(largest >= 10, "{name}: {largest}");
        // The digest also survives reading every version's delta onto the one before.
        for v in 2..=last_version {
            let before =
                rempart_policy::Policy::from_json(&store.policy_version(v - 1).await.unwrap())
                    .unwrap();
            let mut after = store
                .policy_delta(v)
                .await
                .unwrap()
                .unwrap()
                .apply(&before)
                .unwrap();
            after.restrictions.sort_by(|x, y| x.id.cmp(&y.id));
            assert_eq!(
                serde_json::to_string(&after).unwrap(),
                store.policy_version(v).await.unwrap(),
                "{name}: delta {v}"
            );
        }
    }
}

/// A fresh database of `engine` brought to migration 0007 only (the policy stored as whole
/// documents), as a desk of that time left it.
async fn database_at_0007(engine: &str, url: &str) -> sqlx::AnyPool {
    let dir = testkit::temp_dir("migrations-0007");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(engine);
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let number: u32 = file[..4].parse().unwrap();
        if number <= 7 {
            std::fs::copy(&path, dir.join(&file)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap();
    let url = if engine == "sqlite" {
        format!("{url}?mode=rwc")
    } else {
        url.to_string()
    };
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    migrator.run(&pool).await.unwrap();
    pool
}

/// A decision row as the desk of migration 0007 stored it.
async fn insert_decision_0007(
    pool: &sqlx::AnyPool,
    id: &str,
    url: Option<&str>,
    at: i64,
    ends_at: Option<i64>,
    lifted_at: Option<i64>,
) -> DecisionRow {
    let scope = url.map(|u| serde_json::json!({"type": "url", "url": u}).to_string());
    sqlx::query(
        "INSERT INTO decisions (id, case_id, action, ground_kind, ground, facts, category, scope, \
         starts_at, ends_at, decided_by, decided_at, lifted_at) \
         VALUES ($1, 'c_old', $2, 'legal', 'Publishes a private person''s address.', 'Reported.', \
         'doxxing', $3, $4, $5, 'user:a1', $4, $6)",
    )
    .bind(id)
    .bind(if url.is_some() {
        "restrict_url"
    } else {
        "no_action"
    })
    .bind(&scope)
    .bind(at)
    .bind(ends_at)
    .bind(lifted_at)
    .execute(pool)
    .await
    .unwrap();
    DecisionRow {
        id: id.into(),
        case_id: "c_old".into(),
        action: if url.is_some() {
            "restrict_url"
        } else {
            "no_action"
        }
        .into(),
        ground_kind: "legal".into(),
        ground: "Publishes a private person's address.".into(),
        facts: "Reported.".into(),
        category: "doxxing".into(),
        scope,
        starts_at: at,
        ends_at,
        deadline: None,
        decided_by: "user:a1".into(),
        decided_at: at,
        lifted_at,
        lifted_by: None,
        lift_reason: None,
    }
}

#[tokio::test]
async fn a_database_from_migration_0007_keeps_its_policy_through_the_migrations() {
    for (engine, url) in testkit::database_urls().await {
        let context = ctx("https://desk.example");
        let pool = database_at_0007(engine, &url).await;
        sqlx::query(
            "INSERT INTO cases (id, host, status, priority, opened_at, review_due) \
             VALUES ('c_old', 'old.example', 'decided', 1, 1000, 2000)",
        )
        .execute(&pool)
        .await
        .unwrap();
        // In force at 5,000: d_1, d_2 (until 9,000), d_5; lifted d_3; expired d_4; no
        // restriction d_6. Version 1 held d_1 alone; version 2 is the latest.
        let mut rows = Vec::new();
        for (id, u, at, end, lifted) in [
            ("d_1", Some("https://old.example/1"), 1_000, None, None),
            (
                "d_2",
                Some("https://old.example/\"quoted\"/é"),
                2_000,
                Some(9_000),
                None,
            ),
            (
                "d_3",
                Some("https://old.example/3"),
                2_000,
                None,
                Some(3_000),
            ),
            (
                "d_4",
                Some("https://old.example/4"),
                2_000,
                Some(4_000),
                None,
            ),
            ("d_5", Some("https://old.example/5"), 3_000, None, None),
            ("d_6", None, 3_000, None, None),
        ] {
            rows.push(insert_decision_0007(&pool, id, u, at, end, lifted).await);
        }
        let doc1 = expected_document(1, 1_500, &rows[..1], &context);
        let doc2 = expected_document(2, 5_000, &rows, &context);
        for (v, at, doc) in [(1, 1_500, &doc1), (2, 5_000, &doc2)] {
            sqlx::query(
                "INSERT INTO policy_versions (version, issued_at, document) VALUES ($1, $2, $3)",
            )
            .bind(v)
            .bind(at)
            .bind(doc)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;

        // Migrated by the desk (0008 unfolds the latest version into rows, 0010 their ends).
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(
            store.latest_policy().await.unwrap(),
            Some((2, doc2.clone())),
            "{engine}"
        );
        assert_eq!(store.policy_version(1).await.unwrap(), doc1, "{engine}");
        // The rows live at version 2 are version 2's restrictions, value for value.
        let live: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM policy_restrictions WHERE added_in <= 2 AND removed_in IS NULL",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let mut from_rows: Vec<rempart_policy::Restriction> = live
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect();
        from_rows.sort_by(|a, b| a.id.cmp(&b.id));
        let p2 = rempart_policy::Policy::from_json(&doc2).unwrap();
        assert_eq!(from_rows, p2.restrictions, "{engine}");
        assert_eq!(p2.restrictions.len(), 3, "{engine}");
        let ends: Vec<(String, Option<i64>)> = sqlx::query_as(
            "SELECT id, ends_at FROM policy_restrictions WHERE removed_in IS NULL ORDER BY id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            ends,
            vec![
                ("d_1".into(), None),
                ("d_2".into(), Some(9_000)),
                ("d_5".into(), None)
            ],
            "{engine}"
        );

        // The first version after the migrations (built from the whole policy), then one at
        // 10,000 built from its change alone, where d_2 has expired.
        let (_, v3) = store
            .record_decision(
                &restrict("c_old", "https://old.example/7", 6_000, None, false),
                &actor("a1", 6_000),
                &context,
            )
            .await
            .unwrap();
        assert_eq!(v3, Some(3), "{engine}");
        assert_eq!(
            check_version(engine, &store, "c_old", 3, 6_000, &context).await,
            4,
            "{engine}"
        );
        let (_, v4) = store
            .record_decision(
                &restrict("c_old", "https://old.example/8", 10_000, None, false),
                &actor("a1", 10_000),
                &context,
            )
            .await
            .unwrap();
        assert_eq!(v4, Some(4), "{engine}");
        assert_eq!(
            check_version(engine, &store, "c_old", 4, 10_000, &context).await,
            4,
            "{engine}"
        );
        let d4 = store.policy_delta(4).await.unwrap().unwrap();
        assert_eq!(d4.upsert.len(), 1, "{engine}");
        assert_eq!(
            d4.remove,
            vec![rempart_policy::RestrictionId("d_2".into())],
            "{engine}"
        );
        // And every delta since the migration applies to the version before.
        for v in 3..=4 {
            let before =
                rempart_policy::Policy::from_json(&store.policy_version(v - 1).await.unwrap())
                    .unwrap();
            let mut after = store
                .policy_delta(v)
                .await
                .unwrap()
                .unwrap()
                .apply(&before)
                .unwrap();
            after.restrictions.sort_by(|x, y| x.id.cmp(&y.id));
            assert_eq!(
                serde_json::to_string(&after).unwrap(),
                store.policy_version(v).await.unwrap(),
                "{engine}"
            );
        }
    }
}

#[tokio::test]
async fn audit_verify_detects_policy_rows_changed_after_the_fact() {
    use rempart_desk::audit::{verify_store, AuditProblem};
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    for (name, store) in testkit::stores().await {
        let case_id = open_case(&store, "t.example").await;
        let context = ctx("https://desk.example");
        let mut ids = Vec::new();
        for i in 0..4 {
            let at = 2_000 + i * 1_000;
            let url = format!("https://t.example/p/{i}");
            let (id, v) = store
                .record_decision(
                    &restrict(&case_id, &url, at, None, false),
                    &actor("a1", at),
                    &context,
                )
                .await
                .unwrap();
            assert_eq!(v, Some(i as u64 + 1), "{name}");
            ids.push(id);
        }
        store
            .lift_decision(&ids[0], "error", &actor("a1", 7_000), &context)
            .await
            .unwrap();
        let policy_problems = |store: Store| {
            let key = key.verifying_key();
            async move {
                let report = verify_store(&store, &key).await.unwrap();
                report
                    .problems
                    .into_iter()
                    .map(|p| match p {
                        AuditProblem::Policy { version, .. } => version,
                        other => panic!("only policy problems expected, got {other}"),
                    })
                    .collect::<Vec<u64>>()
            }
        };
        assert_eq!(
            policy_problems(store.clone()).await,
            Vec::<u64>::new(),
            "{name}"
        );
        let exec = |sql: String| {
            let pool = store.pool().clone();
            async move { sqlx::query(&sql).execute(&pool).await.unwrap() }
        };
        // A restriction's URL altered in place: wrong from the version it came in (2) on.
        exec(format!(
            "UPDATE policy_restrictions SET body = REPLACE(body, 'p/1', 'p/9') WHERE id = '{}'",
            ids[1]
        ))
        .await;
        assert_eq!(
            policy_problems(store.clone()).await,
            vec![2, 3, 4, 5],
            "{name}"
        );
        exec(format!(
            "UPDATE policy_restrictions SET body = REPLACE(body, 'p/9', 'p/1') WHERE id = '{}'",
            ids[1]
        ))
        .await;
        assert_eq!(
            policy_problems(store.clone()).await,
            Vec::<u64>::new(),
            "{name}"
        );
        // A lifted restriction's end moved later (kept in force one more version).
        exec(format!(
            "UPDATE policy_restrictions SET removed_in = NULL WHERE id = '{}'",
            ids[0]
        ))
        .await;
        assert_eq!(policy_problems(store.clone()).await, vec![5], "{name}");
        // A restriction deleted outright.
        exec(format!(
            "UPDATE policy_restrictions SET removed_in = 5 WHERE id = '{}'",
            ids[0]
        ))
        .await;
        exec(format!(
            "DELETE FROM policy_restrictions WHERE id = '{}'",
            ids[3]
        ))
        .await;
        assert_eq!(policy_problems(store.clone()).await, vec![4, 5], "{name}");
    }
}
