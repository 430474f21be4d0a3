//! Helpers for tests (this crate's and the workspace's end-to-end tests): fresh SQLite and
//! PostgreSQL stores.
//!
//! PostgreSQL tests use `REMPART_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`)
//! and a fresh schema per store. When the server is unreachable they are skipped with a message,
//! except when `CI=true`, where they fail.

use std::path::PathBuf;

use crate::store::{NewDecision, NewReport, NewStatement, Store, StoreError};

/// The default PostgreSQL URL for tests.
pub const DEFAULT_TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh temporary directory (removed by the OS's tmp cleaning; tests stay small).
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rempart-desk-{tag}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A database URL for a fresh SQLite file.
pub fn sqlite_url() -> String {
    format!("sqlite://{}", temp_dir("sqlite").join("desk.db").display())
}

/// A database URL for a fresh PostgreSQL schema, or `None` if PostgreSQL is unreachable
/// (panics instead when `CI=true`).
pub async fn postgres_url() -> Option<String> {
    let base =
        std::env::var("REMPART_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES.into());
    sqlx::any::install_default_drivers();
    let schema = format!("rempart_test_{}", uuid::Uuid::new_v4().simple());
    let made: Result<(), sqlx::Error> = async {
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&base)
            .await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(())
    }
    .await;
    match made {
        Ok(()) => {
            let sep = if base.contains('?') { '&' } else { '?' };
            Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
        }
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL at {base} is required when CI=true: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPING PostgreSQL tests: {base} unreachable: {e}");
            None
        }
    }
}

/// Fresh stores on every available engine, named.
pub async fn stores() -> Vec<(&'static str, Store)> {
    let mut out = vec![("sqlite", connect(&sqlite_url()).await)];
    if let Some(url) = postgres_url().await {
        out.push(("postgres", connect(&url).await));
    }
    out
}

/// Database URLs of fresh databases on every available engine.
pub async fn database_urls() -> Vec<(&'static str, String)> {
    let mut out = vec![("sqlite", sqlite_url())];
    if let Some(url) = postgres_url().await {
        out.push(("postgres", url));
    }
    out
}

async fn connect(url: &str) -> Store {
    match Store::connect(url).await {
        Ok(s) => s,
        Err(StoreError::Db(e)) => panic!("connect {url}: {e}"),
        Err(e) => panic!("connect {url}: {e}"),
    }
}

/// A statement of reasons for a test decision: French territory, an Article 16 notice, taken
/// by a person, with `explanation` and the default redress text.
pub fn statement(explanation: &str) -> NewStatement {
    NewStatement {
        territorial_scope: vec!["FR".into()],
        explanation: explanation.into(),
        source_type: "SOURCE_ARTICLE_16".into(),
        automated_detection: false,
        automated_decision: "AUTOMATED_DECISION_NOT_AUTOMATED".into(),
        redress: crate::config::DEFAULT_REDRESS.into(),
    }
}

/// An anonymous doxxing report (receipt R-1, priority 1) on `https://{host}/p/1`, due for review
/// at `review_due`; no evidence fetch, no page.
pub fn doxxing_report(host: &str, review_due: i64) -> NewReport {
    NewReport {
        receipt: "R-1".into(),
        category: "doxxing".into(),
        explanation: "address".into(),
        notifier_name: None,
        notifier_email: None,
        good_faith: true,
        source_ip: "127.0.0.1".into(),
        dedup_key: "k1".into(),
        content_hash: "c1".into(),
        follow_hash: "f1".into(),
        priority: 1,
        signal_priority: None,
        review_due,
        similarity_key: "s".into(),
        urls: vec![(format!("https://{host}/p/1"), host.into())],
        campaign_threshold: 3,
        campaign_since: 0,
        fetch_evidence: false,
        page: false,
    }
}

/// A legal decision restricting `url` on case `case_id` (a private person's home address) from
/// `at`, until `ends_at` if given.
pub fn restrict_url(case_id: &str, url: &str, at: i64, ends_at: Option<i64>) -> NewDecision {
    NewDecision {
        case_id: case_id.into(),
        action: "restrict_url".into(),
        ground_kind: "legal".into(),
        ground: "Publishes a private person's home address.".into(),
        facts: "Reported.".into(),
        category: "doxxing".into(),
        scope: Some(serde_json::json!({"type": "url", "url": url}).to_string()),
        starts_at: at,
        ends_at,
        deadline: None,
        statement: Some(statement("The address identifies a private person.")),
        emergency: false,
    }
}
