//! Every store operation, on SQLite and on PostgreSQL.

use rempart_desk::decision::PolicyContext;
use rempart_desk::store::{
    Actor, Lane, NewDecision, NewEvidence, NewReport, Role, Store, SubmitOutcome,
};
use rempart_desk::testkit;

fn actor(at: i64) -> Actor {
    Actor {
        name: "test".into(),
        at,
    }
}

fn report(
    n: u32,
    host: &str,
    category: &str,
    priority: i64,
    explanation: &str,
    email: &str,
) -> NewReport {
    NewReport {
        receipt: format!("R-{n}"),
        category: category.into(),
        explanation: explanation.into(),
        notifier_name: Some("N".into()),
        notifier_email: Some(email.into()),
        good_faith: true,
        source_ip: "127.0.0.1".into(),
        dedup_key: format!("k{n}"),
        content_hash: format!("c{n}"),
        follow_hash: format!("f{n}"),
        priority,
        signal_priority: None,
        review_due: 1_000 + 60_000 * (priority + 1),
        similarity_key: format!("{host}:{explanation}"),
        urls: vec![(format!("https://{host}/p/{n}"), host.into())],
        campaign_threshold: 3,
        campaign_since: 0,
        fetch_evidence: true,
        page: priority == 0,
    }
}

fn ctx() -> PolicyContext {
    PolicyContext {
        public_url: "https://desk.example".into(),
        implemented_by: "Provider".into(),
    }
}

async fn created(store: &Store, r: &NewReport, at: i64) -> (String, String) {
    match store.submit_report(r, &actor(at)).await.unwrap() {
        SubmitOutcome::Created {
            report_id, case_id, ..
        } => (report_id, case_id),
        other => panic!("expected created, got {other:?}"),
    }
}

#[tokio::test]
async fn intake_is_idempotent_and_groups_by_host() {
    for (name, store) in testkit::stores().await {
        let r1 = report(
            1,
            "a.example",
            "doxxing",
            1,
            "address posted",
            "x@example.org",
        );
        let (rid, cid) = created(&store, &r1, 1_000).await;
        assert_eq!(
            store.submit_report(&r1, &actor(1_001)).await.unwrap(),
            SubmitOutcome::Duplicate {
                report_id: rid.clone(),
                receipt: "R-1".into(),
                same_content: true
            },
            "{name}"
        );
        let mut reused = r1.clone();
        reused.content_hash = "other".into();
        assert!(
            matches!(
                store.submit_report(&reused, &actor(1_002)).await.unwrap(),
                SubmitOutcome::Duplicate {
                    same_content: false,
                    ..
                }
            ),
            "{name}"
        );
        let (_, cid2) = created(
            &store,
            &report(2, "a.example", "doxxing", 1, "again", "X@example.org "),
            2_000,
        )
        .await;
        let (_, cid3) = created(
            &store,
            &report(3, "a.example", "harassment", 2, "third", "y@example.org"),
            3_000,
        )
        .await;
        assert_eq!(cid, cid2, "{name}");
        assert_eq!(cid, cid3, "{name}");
        let case = store.case(&cid, 3_000).await.unwrap();
        assert_eq!(case.reports, 3, "{name}");
        assert_eq!(
            case.notifiers, 2,
            "{name}: same e-mail in other case counts once"
        );
        assert_eq!(case.priority, 1, "{name}");
        assert_eq!(case.first_report_at, 1_000);
        assert_eq!(case.last_report_at, 3_000);
        let reports = store.case_reports(&cid).await.unwrap();
        assert_eq!(reports.len(), 3);
        assert_eq!(reports[0].urls[0].url, "https://a.example/p/1");
        assert_eq!(store.report_by_follow_hash("f1").await.unwrap().id, rid);
        assert_eq!(store.report(&rid).await.unwrap().receipt, "R-1");
        assert_eq!(
            store.pending_jobs("fetch_evidence").await.unwrap(),
            3,
            "{name}"
        );
    }
}

#[tokio::test]
async fn campaign_is_flagged_without_raising_priority() {
    for (name, store) in testkit::stores().await {
        let mut last = String::new();
        for n in 0..3 {
            let r = report(
                n,
                "c.example",
                "harassment",
                2,
                "same text",
                &format!("u{n}@example.org"),
            );
            last = created(&store, &r, 1_000 + i64::from(n)).await.1;
        }
        let case = store.case(&last, 2_000).await.unwrap();
        assert!(case.campaign, "{name}");
        assert_eq!(case.priority, 2, "{name}: volume never raises priority");
        assert!(
            store
                .case_reports(&last)
                .await
                .unwrap()
                .iter()
                .all(|r| r.campaign),
            "{name}"
        );
    }
}

#[tokio::test]
async fn queue_orders_by_priority_then_time_left() {
    for (name, store) in testkit::stores().await {
        let (_, p2) = created(
            &store,
            &report(1, "p2.example", "harassment", 2, "a", "a@e.org"),
            1_000,
        )
        .await;
        let (_, p1) = created(
            &store,
            &report(2, "p1.example", "doxxing", 1, "b", "b@e.org"),
            2_000,
        )
        .await;
        let (_, p0) = created(
            &store,
            &report(3, "p0.example", "threat_to_life", 0, "c", "c@e.org"),
            3_000,
        )
        .await;
        let queue = store.queue(3_000, 50).await.unwrap();
        let ids: Vec<_> = queue.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids, vec![p0.clone(), p1.clone(), p2], "{name}");
        assert_eq!(
            store.pending_jobs("page").await.unwrap(),
            2,
            "{name}: webhook + e-mail for the P0"
        );
        assert!(store.mark_reviewed(&p0, &actor(4_000)).await.unwrap());
        assert!(
            !store.mark_reviewed(&p0, &actor(4_001)).await.unwrap(),
            "{name}: only the first review counts"
        );
        assert_eq!(
            store.case(&p0, 4_000).await.unwrap().first_reviewed_at,
            Some(4_000)
        );
    }
}

#[tokio::test]
async fn decisions_issue_and_lift_policy_versions() {
    for (name, store) in testkit::stores().await {
        let (_, cid) = created(
            &store,
            &report(1, "d.example", "doxxing", 1, "a", "a@e.org"),
            1_000,
        )
        .await;
        assert_eq!(store.latest_policy().await.unwrap(), None);
        let scope = r#"{"type":"url","url":"https://d.example/p/1"}"#;
        let d = NewDecision {
            case_id: cid.clone(),
            action: "restrict_url".into(),
            ground_kind: "legal".into(),
            ground: "Publishes a private person's home address.".into(),
            facts: "Reported by the person concerned.".into(),
            category: "doxxing".into(),
            scope: Some(scope.into()),
            starts_at: 2_000,
            ends_at: None,
            deadline: None,
            statement: Some(rempart_desk::testkit::statement(
                "The address identifies a private person.",
            )),
            emergency: false,
        };
        let (did, v) = store
            .record_decision(&d, &actor(2_000), &ctx())
            .await
            .unwrap();
        assert_eq!(v, Some(1), "{name}");
        let (version, doc) = store.latest_policy().await.unwrap().unwrap();
        assert_eq!(version, 1);
        let policy = rempart_policy::Policy::from_json(&doc).unwrap();
        assert_eq!(policy.restrictions.len(), 1);
        assert_eq!(
            policy.restrictions[0].notice_url,
            format!("https://desk.example/notices/{did}")
        );
        assert_eq!(store.case(&cid, 2_000).await.unwrap().status, "decided");
        let none = NewDecision {
            action: "no_action".into(),
            scope: None,
            statement: None,
            ..d.clone()
        };
        assert_eq!(
            store
                .record_decision(&none, &actor(2_500), &ctx())
                .await
                .unwrap()
                .1,
            None
        );
        assert_eq!(
            store
                .lift_decision(&did, "error", &actor(3_000), &ctx())
                .await
                .unwrap(),
            Some(2)
        );
        assert!(
            store
                .lift_decision(&did, "again", &actor(3_001), &ctx())
                .await
                .is_err(),
            "{name}"
        );
        let p2 =
            rempart_policy::Policy::from_json(&store.policy_version(2).await.unwrap()).unwrap();
        assert!(p2.restrictions.is_empty(), "{name}");
        let ds = store.case_decisions(&cid).await.unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(store.decision(&did).await.unwrap().lifted_at, Some(3_000));
    }
}

#[tokio::test]
async fn evidence_is_content_addressed_immutable_and_views_are_audited() {
    for (name, store) in testkit::stores().await {
        let (rid, cid) = created(
            &store,
            &report(1, "e.example", "doxxing", 1, "a", "a@e.org"),
            1_000,
        )
        .await;
        let ev = NewEvidence {
            report_id: rid.clone(),
            url: "https://e.example/p/1".into(),
            status: Some(200),
            headers: r#"[["content-type","text/html"]]"#.into(),
            body: Some(b"<script>alert(1)</script>".to_vec()),
            truncated: false,
            error: None,
        };
        let id1 = store.store_evidence(&ev, &actor(1_500)).await.unwrap();
        let _id2 = store.store_evidence(&ev, &actor(1_600)).await.unwrap();
        let list = store.case_evidence(&cid).await.unwrap();
        assert_eq!(list.len(), 2, "{name}");
        assert_eq!(
            list[0].body_sha256, list[1].body_sha256,
            "{name}: same content, one blob"
        );
        let (row, body) = store
            .view_evidence(
                &id1,
                &Actor {
                    name: "user:alice".into(),
                    at: 2_000,
                },
            )
            .await
            .unwrap();
        assert_eq!(row.fetched_at, 1_500);
        assert_eq!(body.as_deref(), Some(&b"<script>alert(1)</script>"[..]));
        let history = store
            .audit_for_subject(&format!("case:{cid}"))
            .await
            .unwrap();
        assert!(
            history
                .iter()
                .any(|e| e.action == "evidence.viewed" && e.actor == "user:alice"),
            "{name}"
        );
        let tamper = sqlx::query("UPDATE evidence SET url = 'x'")
            .execute(store.pool())
            .await;
        assert!(tamper.is_err(), "{name}: evidence rows are immutable");
        let tamper = sqlx::query("UPDATE evidence_blobs SET size = 0")
            .execute(store.pool())
            .await;
        assert!(tamper.is_err(), "{name}: evidence blobs are immutable");
    }
}

#[tokio::test]
async fn jobs_are_claimed_once_retried_and_completed() {
    for (name, store) in testkit::stores().await {
        created(
            &store,
            &report(1, "j.example", "doxxing", 1, "a", "a@e.org"),
            1_000,
        )
        .await;
        let job = store
            .claim_job(1_000, 30_000)
            .await
            .unwrap()
            .expect("due job");
        assert_eq!(job.kind, "fetch_evidence");
        assert_eq!(job.attempts, 1);
        assert!(
            store.claim_job(1_000, 30_000).await.unwrap().is_none(),
            "{name}: leased"
        );
        store
            .fail_job(job.id, "boom", 1_100, Some(5_000))
            .await
            .unwrap();
        assert!(
            store.claim_job(4_999, 30_000).await.unwrap().is_none(),
            "{name}: not yet due"
        );
        assert_eq!(store.next_job_at().await.unwrap(), Some(5_000));
        let again = store
            .claim_job(5_000, 30_000)
            .await
            .unwrap()
            .expect("retry");
        assert_eq!(again.attempts, 2);
        store.complete_job(again.id, 5_100).await.unwrap();
        assert_eq!(
            store.pending_jobs("fetch_evidence").await.unwrap(),
            0,
            "{name}"
        );
        assert_eq!(store.next_job_at().await.unwrap(), None);
        // A crashed worker's lease expires and the job is claimed again.
        created(
            &store,
            &report(2, "j2.example", "doxxing", 1, "b", "b@e.org"),
            6_000,
        )
        .await;
        let j = store.claim_job(6_000, 1_000).await.unwrap().unwrap();
        let j2 = store.claim_job(7_001, 1_000).await.unwrap().unwrap();
        assert_eq!(j.id, j2.id, "{name}");
        assert_eq!(store.job_errors("fetch_evidence").await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn users_sessions_and_api_tokens() {
    for (name, store) in testkit::stores().await {
        store
            .create_user("alice", "$argon2id$x", Role::SeniorAnalyst, &actor(1))
            .await
            .unwrap();
        assert!(
            store
                .create_user("alice", "h", Role::Admin, &actor(2))
                .await
                .is_err(),
            "{name}"
        );
        let alice = store.user_by_name("alice").await.unwrap().unwrap();
        assert_eq!(alice.role, Role::SeniorAnalyst);
        assert!(store.user_by_name("bob").await.unwrap().is_none());
        store
            .create_session("sh", &alice, "csrf1", 100, &actor(10))
            .await
            .unwrap();
        let s = store.session("sh", 50).await.unwrap().unwrap();
        assert_eq!(
            (s.user.username.as_str(), s.csrf.as_str()),
            ("alice", "csrf1")
        );
        assert!(
            store.session("sh", 100).await.unwrap().is_none(),
            "{name}: expired"
        );
        store.delete_session("sh").await.unwrap();
        assert!(store.session("sh", 50).await.unwrap().is_none());
        store
            .create_api_token("th", &alice, "ci", &actor(20))
            .await
            .unwrap();
        assert_eq!(
            store
                .user_by_api_token("th")
                .await
                .unwrap()
                .unwrap()
                .username,
            "alice"
        );
        assert!(store.user_by_api_token("nope").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn a_batch_commits_together_and_sees_its_own_duplicates() {
    for (name, store) in testkit::stores().await {
        let a = report(1, "b.example", "doxxing", 1, "a", "a@e.org");
        let b = report(2, "b.example", "doxxing", 1, "b", "b@e.org");
        let out = store
            .submit_reports(&[
                (a.clone(), actor(1_000)),
                (b, actor(1_001)),
                (a, actor(1_002)),
            ])
            .await
            .unwrap();
        assert!(matches!(out[0], SubmitOutcome::Created { .. }), "{name}");
        assert!(matches!(out[1], SubmitOutcome::Created { .. }), "{name}");
        assert!(
            matches!(
                out[2],
                SubmitOutcome::Duplicate {
                    same_content: true,
                    ..
                }
            ),
            "{name}"
        );
        let case = store.queue(2_000, 10).await.unwrap().remove(0);
        assert_eq!(case.reports, 2, "{name}");
        let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let report = rempart_desk::audit::verify_store(&store, &key.verifying_key())
            .await
            .unwrap();
        assert!(report.is_ok(), "{name}: {report}");
    }
}

/// The reports of every case, in a form comparable across two stores (ids differ).
async fn snapshot(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for c in store.queue(10_000, 100).await.unwrap() {
        out.push(format!(
            "case {} p{} due {} campaign {} reports {} notifiers {} first {} last {}",
            c.host,
            c.priority,
            c.review_due,
            c.campaign,
            c.reports,
            c.notifiers,
            c.first_report_at,
            c.last_report_at
        ));
        for r in store.case_reports(&c.id).await.unwrap() {
            out.push(format!(
                "  {} p{} campaign {} urls {}",
                r.receipt,
                r.priority,
                r.campaign,
                r.urls.len()
            ));
        }
    }
    out
}

#[tokio::test]
async fn a_batch_stores_what_one_by_one_would() {
    // Three hosts; a campaign crossing its threshold (3) inside the batch on one, with a
    // reviewed case reopened by new reports on another, a P0 and a repeated submission.
    let mut reports = Vec::new();
    for n in 0..4 {
        reports.push(report(
            10 + n,
            "flood.example",
            "harassment",
            2,
            "take it down",
            &format!("f{n}@e.org"),
        ));
    }
    reports.push(report(20, "old.example", "doxxing", 1, "again", "o@e.org"));
    reports.push(report(
        21,
        "old.example",
        "threat_to_life",
        0,
        "now a threat",
        "t@e.org",
    ));
    reports.push(reports[1].clone());
    let mut two_urls = report(30, "multi.example", "other", 3, "two", "m@e.org");
    two_urls.urls.push((
        "https://elsewhere.example/x".into(),
        "elsewhere.example".into(),
    ));
    reports.push(two_urls);
    for (name, url) in testkit::database_urls().await {
        let one = Store::connect(&url).await.unwrap();
        let other_url = if name == "sqlite" {
            testkit::sqlite_url()
        } else {
            testkit::postgres_url().await.unwrap()
        };
        let batched = Store::connect(&other_url).await.unwrap();
        // Before: one similar report already stored, and a reviewed case on old.example.
        let seed = [
            report(
                1,
                "flood.example",
                "harassment",
                2,
                "take it down",
                "s@e.org",
            ),
            report(2, "old.example", "doxxing", 1, "first", "o@e.org"),
        ];
        for store in [&one, &batched] {
            for (i, r) in seed.iter().enumerate() {
                let (_, case) = created(store, r, 100 + i as i64).await;
                if i == 1 {
                    assert!(store.mark_reviewed(&case, &actor(150)).await.unwrap());
                }
            }
        }
        let mut one_by_one = Vec::new();
        for (i, r) in reports.iter().enumerate() {
            one_by_one.push(
                one.submit_report(r, &actor(1_000 + i as i64))
                    .await
                    .unwrap(),
            );
        }
        let items: Vec<(NewReport, Actor)> = reports
            .iter()
            .enumerate()
            .map(|(i, r)| (r.clone(), actor(1_000 + i as i64)))
            .collect();
        let together = batched.submit_reports(&items).await.unwrap();
        let shape = |o: &SubmitOutcome| match o {
            SubmitOutcome::Created {
                receipt, campaign, ..
            } => format!("created {receipt} campaign {campaign}"),
            SubmitOutcome::Duplicate {
                receipt,
                same_content,
                ..
            } => format!("duplicate {receipt} {same_content}"),
        };
        assert_eq!(
            one_by_one.iter().map(shape).collect::<Vec<_>>(),
            together.iter().map(shape).collect::<Vec<_>>(),
            "{name}"
        );
        assert!(
            matches!(
                together[0],
                SubmitOutcome::Created {
                    campaign: false,
                    ..
                }
            ) && together[1..4]
                .iter()
                .all(|o| matches!(o, SubmitOutcome::Created { campaign: true, .. })),
            "{name}: the third similar report crosses the threshold"
        );
        let (a, b) = (snapshot(&one).await, snapshot(&batched).await);
        assert_eq!(a, b, "{name}");
        assert!(
            a.iter().any(|l| l.starts_with("case old.example p0")),
            "{name}: {a:?}"
        );
        for store in [&one, &batched] {
            assert_eq!(store.pending_jobs("page").await.unwrap(), 2, "{name}");
            assert_eq!(
                store.pending_jobs("fetch_evidence").await.unwrap(),
                2 + 7 + 1,
                "{name}: one fetch per URL of each new report"
            );
            let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
            let v = rempart_desk::audit::verify_store(store, &key.verifying_key())
                .await
                .unwrap();
            assert!(v.is_ok(), "{name}: {v}");
            assert_eq!(
                v.entries,
                store.audit_entries().await.unwrap().len(),
                "{name}"
            );
        }
        assert_eq!(
            one.audit_entries().await.unwrap().len(),
            batched.audit_entries().await.unwrap().len(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn pages_have_a_lane_of_their_own() {
    for (name, store) in testkit::stores().await {
        // A backlog of evidence fetches, older than the P0's page.
        let flood: Vec<(NewReport, Actor)> = (0..300)
            .map(|n| {
                (
                    report(
                        n,
                        "flood.example",
                        "harassment",
                        2,
                        "x",
                        &format!("{n}@e.org"),
                    ),
                    actor(1_000),
                )
            })
            .collect();
        store.submit_reports(&flood).await.unwrap();
        created(
            &store,
            &report(
                999,
                "victim.example",
                "threat_to_life",
                0,
                "tonight",
                "w@e.org",
            ),
            2_000,
        )
        .await;
        let other = store
            .claim_job_in(Lane::Other, 3_000, 60_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(other.kind, "fetch_evidence", "{name}");
        for _ in 0..2 {
            let page = store
                .claim_job_in(Lane::Pages, 3_000, 60_000)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(page.kind, "page", "{name}");
        }
        assert!(
            store
                .claim_job_in(Lane::Pages, 3_000, 60_000)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        assert_eq!(
            store.next_job_at_in(Lane::Pages).await.unwrap(),
            Some(63_000),
            "{name}: the leased pages come back when their lease ends"
        );
        assert_eq!(
            store.next_job_at_in(Lane::Other).await.unwrap(),
            Some(1_000)
        );
    }
}

#[tokio::test]
async fn policy_versions_are_stored_as_their_changes_and_every_version_reads_back() {
    for (name, store) in testkit::stores().await {
        let (_, cid) = created(
            &store,
            &report(1, "v.example", "doxxing", 1, "a", "a@e.org"),
            1_000,
        )
        .await;
        let decide = |path: &str, at: i64| {
            let url = format!("https://v.example{path}");
            rempart_desk::testkit::restrict_url(&cid, &url, at, None)
        };
        let (a, v1) = store
            .record_decision(&decide("/a", 2_000), &actor(2_000), &ctx())
            .await
            .unwrap();
        let (b, v2) = store
            .record_decision(&decide("/b", 3_000), &actor(3_000), &ctx())
            .await
            .unwrap();
        assert_eq!((v1, v2), (Some(1), Some(2)), "{name}");
        let v3 = store
            .lift_decision(&a, "error", &actor(4_000), &ctx())
            .await
            .unwrap();
        assert_eq!(v3, Some(3), "{name}");
        let ids = |v: u64| {
            let store = &store;
            async move {
                let p = rempart_policy::Policy::from_json(&store.policy_version(v).await.unwrap())
                    .unwrap();
                assert_eq!(p.version, v);
                p.restrictions
                    .into_iter()
                    .map(|r| r.id.0)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(ids(1).await, vec![a.clone()], "{name}");
        let mut both = vec![a.clone(), b.clone()];
        both.sort();
        assert_eq!(ids(2).await, both, "{name}");
        assert_eq!(ids(3).await, vec![b.clone()], "{name}");
        // Each version's delta is its change alone, and applies to the version before.
        let d2 = store.policy_delta(2).await.unwrap().expect("delta");
        assert_eq!(
            (d2.base, d2.upsert.len(), d2.remove.len()),
            (1, 1, 0),
            "{name}"
        );
        assert_eq!(d2.upsert[0].id.0, b);
        let d3 = store.policy_delta(3).await.unwrap().expect("delta");
        assert_eq!(
            d3.remove,
            vec![rempart_policy::RestrictionId(a.clone())],
            "{name}"
        );
        assert!(d3.upsert.is_empty(), "{name}");
        let p2 =
            rempart_policy::Policy::from_json(&store.policy_version(2).await.unwrap()).unwrap();
        let mut p3 = d3.apply(&p2).unwrap();
        p3.restrictions.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(
            serde_json::to_string(&p3).unwrap(),
            store.policy_version(3).await.unwrap(),
            "{name}"
        );
        // Stored once per change, not once per version: a, b, and nothing more.
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM policy_restrictions")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(rows, 2, "{name}");
        let docs: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM policy_versions WHERE document IS NOT NULL")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(docs, 0, "{name}");

        // The bench's bulk path: one transaction, one version, the same building code.
        let urls: Vec<String> = (0..2_500)
            .map(|i| format!("https://bulk.example/seed/{i}"))
            .collect();
        let v4 = store
            .bulk_restrict(&cid, &urls, &actor(5_000), &ctx())
            .await
            .unwrap();
        assert_eq!(v4, 4, "{name}");
        let meta = store.policy_meta(4).await.unwrap();
        let doc4 = store.policy_version(4).await.unwrap();
        assert_eq!(meta.bytes, doc4.len() as u64, "{name}");
        assert_eq!(meta.restrictions, 2_501, "{name}");
        let p4 = rempart_policy::Policy::from_json(&doc4).unwrap();
        assert_eq!(p4.restrictions.len(), 2_501, "{name}");
        assert_eq!(
            store.policy_delta(4).await.unwrap().unwrap().upsert.len(),
            2_500
        );
        // Older versions still read as they were.
        assert_eq!(ids(3).await, vec![b.clone()], "{name}");
        // A bulk on a case that does not exist changes nothing.
        assert!(store
            .bulk_restrict("c_missing", &urls[..1], &actor(6_000), &ctx())
            .await
            .is_err());
        assert_eq!(
            store.latest_policy_version().await.unwrap(),
            Some(4),
            "{name}"
        );
    }
}
