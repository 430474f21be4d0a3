//! Several desks on one PostgreSQL database (issue 6, item 3): two `Desk` instances in one test
//! process share a fresh schema, as two desk processes behind a load balancer share a database.
//! Skipped (with a message) when PostgreSQL is unreachable, except with `CI=true`; the
//! publication test also needs NATS JetStream (`REMPART_TEST_NATS`, default 127.0.0.1:4222).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{TimeZone, Utc};
use common::*;
use futures_util::StreamExt;
use rempart_desk::clock::ManualClock;
use rempart_desk::store::{Actor, NewDecision};
use rempart_desk::triage::NoSignals;
use rempart_desk::{Desk, DeskConfig};

/// Two desks on one fresh PostgreSQL schema, sharing their configuration (and so their keys).
async fn two_desks(extra: &str) -> Option<(Desk, Desk, DeskConfig)> {
    two_desks_polling(extra, Duration::ZERO).await
}

/// Same, with long polls of `long_poll`.
async fn two_desks_polling(extra: &str, long_poll: Duration) -> Option<(Desk, Desk, DeskConfig)> {
    let url = rempart_desk::testkit::postgres_url().await?;
    let mut config = config(&url, extra);
    config.long_poll = long_poll;
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap(),
    ));
    let a = Desk::open_with(config.clone(), clock.clone(), Arc::new(NoSignals))
        .await
        .expect("desk A");
    let b = Desk::open_with(config.clone(), clock, Arc::new(NoSignals))
        .await
        .expect("desk B");
    Some((a, b, config))
}

async fn start(desk: &Desk) -> (SocketAddr, rempart_desk::RunningDesk) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (addr, desk.clone().start_on(l).await.expect("start"))
}

/// Opens a case with a report through `desk`; returns its id.
async fn open_case(desk: &Desk) -> String {
    let body = report(
        "http://site.test/secret",
        "doxxing",
        "My home address is published there.",
        "nadia@example.org",
    );
    let resp = send(&desk.router(), post_json("/api/v1/reports", &body)).await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
    desk.store().queue(i64::MAX / 2, 10).await.unwrap()[0]
        .id
        .clone()
}

/// Restricts `http://site.test<path>` on `desk` as the web handler does (record, then tell the
/// long poll and the publisher); returns the new version.
async fn restrict(desk: &Desk, case_id: &str, path: &str) -> u64 {
    let now = Utc::now().timestamp_millis();
    let scope = serde_json::json!({"type": "url", "url": format!("http://site.test{path}")});
    let d = NewDecision {
        case_id: case_id.into(),
        action: "restrict_url".into(),
        ground_kind: "legal".into(),
        ground: "Publishes a private person's home address.".into(),
        facts: "Reported by the person concerned.".into(),
        category: "doxxing".into(),
        scope: Some(scope.to_string()),
        starts_at: now,
        ends_at: None,
        deadline: None,
        statement: Some(rempart_desk::testkit::statement(
            "The post gives a private person's home address.",
        )),
        emergency: false,
    };
    let ctx = rempart_desk::decision::PolicyContext {
        public_url: "https://desk.example".into(),
        implemented_by: "Example Provider".into(),
    };
    let actor = Actor {
        name: "user:alice".into(),
        at: now,
    };
    let (_, v) = desk
        .store()
        .record_decision(&d, &actor, &ctx)
        .await
        .expect("decision");
    let v = v.expect("a restriction issues a version");
    desk.policy_issued(v);
    v
}

#[tokio::test]
async fn a_long_poll_on_one_desk_wakes_for_a_decision_on_the_other() {
    // A minute: the poll answers 204 when it runs out, 200 as soon as B learns of a version.
    let Some((a, b, _)) = two_desks_polling("", Duration::from_secs(60)).await else {
        return;
    };
    let (b_addr, _b_running) = start(&b).await;
    let case_id = open_case(&a).await;
    let poll = tokio::spawn(async move {
        reqwest::Client::new()
            .get(format!("http://{b_addr}/api/v1/policy?after=0"))
            .bearer_auth(EDGE_TOKEN)
            .send()
            .await
            .expect("long poll")
    });
    // B never issues a version itself: only A's decision, through PostgreSQL, can end the poll
    // with a 200 (whether the poll reached B before or after the decision).
    let v = restrict(&a, &case_id, "/one").await;
    let resp = poll.await.unwrap();
    assert_eq!(resp.status(), 200, "the long poll on B was not woken");
    let doc: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(doc["version"], v, "{doc}");
}

/// A server counting the requests for each path: the evidence fetches' side effect.
async fn counting_origin() -> (SocketAddr, Arc<Mutex<HashMap<String, u32>>>) {
    let hits: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let h = hits.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let h = h.clone();
        async move {
            *h.lock().unwrap().entry(uri.path().to_string()).or_insert(0) += 1;
            "a post"
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (addr, hits)
}

#[tokio::test]
async fn two_desks_never_run_the_same_job_twice() {
    const JOBS: usize = 200;
    let (origin, hits) = counting_origin().await;
    let extra = format!("[evidence]\nvia = \"{origin}\"\n[intake]\nper_ip_per_minute = 100000\n");
    let Some((a, b, _)) = two_desks(&extra).await else {
        return;
    };
    // Reports alternately on both desks: one evidence fetch each.
    for i in 0..JOBS {
        let desk = if i % 2 == 0 { &a } else { &b };
        let body = report(
            &format!("http://site.test/p/{i}"),
            "harassment",
            "Insults.",
            "n@example.org",
        );
        let resp = send(&desk.router(), post_json("/api/v1/reports", &body)).await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
    }
    assert_eq!(
        a.store().pending_jobs("fetch_evidence").await.unwrap(),
        JOBS as i64
    );
    // Two claimers on each desk, all at once, plus both desks' background workers.
    let (_, _a_running) = start(&a).await;
    let (_, _b_running) = start(&b).await;
    let (n1, n2, n3, n4) = tokio::join!(
        a.run_due_jobs(),
        b.run_due_jobs(),
        a.run_due_jobs(),
        b.run_due_jobs()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while a.store().pending_jobs("fetch_evidence").await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "jobs left undone");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(n1 + n2 + n3 + n4 <= JOBS, "{n1}+{n2}+{n3}+{n4} claims");
    let hits = hits.lock().unwrap().clone();
    assert_eq!(hits.len(), JOBS, "every job ran");
    let twice: Vec<_> = hits.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "jobs run more than once: {twice:?}");
    let errors = a.store().job_errors("fetch_evidence").await.unwrap();
    assert!(
        errors
            .iter()
            .all(|(attempts, e)| *attempts == 1 && e.is_none()),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_job_enqueued_on_one_desk_wakes_the_other_desks_worker() {
    let (origin, hits) = counting_origin().await;
    let extra = format!("[evidence]\nvia = \"{origin}\"\n");
    let Some((a, b, _)) = two_desks(&extra).await else {
        return;
    };
    // Only B runs a worker. Once it has found the queue empty it sleeps until its next poll
    // (30 s) unless woken; A's intake can wake it only through PostgreSQL's NOTIFY.
    let (_, _b_running) = start(&b).await;
    for i in 0..2 {
        let path = format!("/p/{i}");
        let body = report(
            &format!("http://site.test{path}"),
            "harassment",
            "Insults.",
            "n@example.org",
        );
        let resp = send(&a.router(), post_json("/api/v1/reports", &body)).await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
        // Under the 30 s poll: the second report comes after B's worker has run the first,
        // so it is asleep again then.
        let deadline = Instant::now() + Duration::from_secs(20);
        while a.store().pending_jobs("fetch_evidence").await.unwrap() > 0 {
            assert!(
                Instant::now() < deadline,
                "B's worker was not woken for report {i} enqueued on A"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(hits.lock().unwrap().get(&path), Some(&1), "{path}");
    }
}

#[tokio::test]
async fn two_desks_writing_at_once_keep_one_audit_chain() {
    let Some((a, b, config)) =
        two_desks("[intake]\nper_ip_per_minute = 100000\n[evidence]\nenabled = false\n").await
    else {
        return;
    };
    let submit = |desk: Desk, tag: &'static str| async move {
        for i in 0..40 {
            let body = report(
                &format!("http://site.test/{tag}/{i}"),
                "harassment",
                "Insults.",
                "n@example.org",
            );
            let resp = send(&desk.router(), post_json("/api/v1/reports", &body)).await;
            assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
        }
    };
    tokio::join!(submit(a.clone(), "a"), submit(b.clone(), "b"));
    let report = rempart_desk::audit_verify(&config).await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    let entries = a.store().audit_entries().await.unwrap();
    let submitted = entries
        .iter()
        .filter(|e| e.action == "report.submitted")
        .count();
    assert_eq!(submitted, 80, "one chain holds both desks' reports");
}

fn nats_url() -> String {
    std::env::var("REMPART_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

#[tokio::test]
async fn two_desks_publish_versions_in_order_without_gap_or_duplicate() {
    const DECISIONS: u64 = 30;
    let client = match async_nats::connect(nats_url()).await {
        Ok(c) => c,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("NATS at {} is required when CI=true: {e}", nats_url())
        }
        Err(e) => {
            eprintln!("SKIPPING: NATS at {} unreachable: {e}", nats_url());
            return;
        }
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (stream_name, subject) = (format!("RT_{id}"), format!("rt.{id}.policy"));
    let extra = format!(
        "[nats]\nurl = \"{}\"\nstream = \"{stream_name}\"\nsubject = \"{subject}\"\nstatus_subject = \"rt.{id}.edge\"\n",
        nats_url()
    );
    let Some((a, b, _)) = two_desks(&extra).await else {
        return;
    };
    let (_, _a_running) = start(&a).await;
    let (_, _b_running) = start(&b).await;
    let js = async_nats::jetstream::new(client.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    let stream = loop {
        match js.get_stream(&stream_name).await {
            Ok(s) => break s,
            Err(_) => {
                assert!(Instant::now() < deadline, "no desk created the stream");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // Every message as it is stored, in stream order (an ordered consumer started before the
    // first version). A later snapshot's roll-up may purge a message before it is delivered:
    // that shows as a gap in stream sequence, never as a wrong order.
    let mut messages = stream
        .create_consumer(async_nats::jetstream::consumer::push::OrderedConfig {
            deliver_subject: client.new_inbox(),
            filter_subject: subject.clone(),
            ..Default::default()
        })
        .await
        .expect("consumer")
        .messages()
        .await
        .expect("messages");
    let case_id = open_case(&a).await;
    // Alternately on both desks: both publishers are woken for each version (their own, or the
    // other desk's through PostgreSQL's NOTIFY) and race to publish it.
    for i in 0..DECISIONS {
        let desk = if i % 2 == 0 { &a } else { &b };
        assert_eq!(restrict(desk, &case_id, &format!("/v{i}")).await, i + 1);
    }
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.last().map(|(_, v)| *v) != Some(DECISIONS) {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, messages.next())
            .await
            .unwrap_or_else(|_| panic!("versions published: {seen:?}"))
            .expect("message")
            .expect("message");
        let version: u64 = msg
            .headers
            .as_ref()
            .and_then(|h| h.get("Rempart-Version"))
            .and_then(|v| v.as_str().parse().ok())
            .expect("a version header");
        let seq = msg.info().expect("info").stream_sequence;
        seen.push((seq, version));
    }
    for pair in seen.windows(2) {
        let ((s1, v1), (s2, v2)) = (pair[0], pair[1]);
        assert!(v2 > v1, "out of order or duplicate: {seen:?}");
        if s2 == s1 + 1 {
            assert_eq!(v2, v1 + 1, "a gap: {seen:?}");
        }
    }
    if seen[0].0 == 1 {
        assert_eq!(seen[0].1, 1, "the first message is the first version");
    }
    let _ = js.delete_stream(&stream_name).await;
}
