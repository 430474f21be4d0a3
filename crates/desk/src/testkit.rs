//! Helpers for tests (this crate's and the workspace's end-to-end tests): fresh SQLite and
//! PostgreSQL stores.
//!
//! PostgreSQL tests use `REMPART_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`)
//! and a fresh schema per store. When the server is unreachable they are skipped with a message,
//! except when `CI=true`, where they fail.

use std::path::PathBuf;

use crate::store::{Store, StoreError};

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
