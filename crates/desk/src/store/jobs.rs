//! A job queue in the database: evidence fetches and pages survive restarts, and several desk
//! processes can share the work (PostgreSQL claims with `FOR UPDATE SKIP LOCKED`).

use super::{Backend, Store, StoreError, WriteTx};

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// `fetch_evidence` or `page`.
    pub kind: String,
    /// JSON payload.
    pub payload: serde_json::Value,
    /// Attempts so far, including this one.
    pub attempts: i64,
}

pub(super) async fn enqueue_in(
    w: &mut WriteTx<'_>,
    kind: &str,
    payload: &serde_json::Value,
    run_at: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO jobs (kind, payload, run_at) VALUES ($1, $2, $3)")
        .bind(kind)
        .bind(payload.to_string())
        .bind(run_at)
        .execute(&mut *w.tx)
        .await?;
    Ok(())
}

impl Store {
    /// Claims a due job for `lease_ms` (a crashed worker's job is retried after it): pages
    /// first, so that a flood of evidence fetches never delays paging the on-call; otherwise
    /// the oldest.
    pub async fn claim_job(&self, now: i64, lease_ms: i64) -> Result<Option<Job>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET locked_until = $2, attempts = attempts + 1 WHERE id = (\
             SELECT id FROM jobs WHERE done_at IS NULL AND run_at <= $1 \
             AND (locked_until IS NULL OR locked_until < $1) \
             ORDER BY CASE WHEN kind = 'page' THEN 0 ELSE 1 END, run_at, id LIMIT 1{lock}) \
             RETURNING id, kind, payload, attempts"
        );
        let row: Option<(i64, String, String, i64)> = sqlx::query_as(&sql)
            .bind(now)
            .bind(now + lease_ms)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|(id, kind, payload, attempts)| {
            Ok(Job {
                id,
                kind,
                payload: serde_json::from_str(&payload)
                    .map_err(|e| StoreError::Corrupt(format!("job {id} payload: {e}")))?,
                attempts,
            })
        })
        .transpose()
    }

    /// Marks a job done.
    pub async fn complete_job(&self, id: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET done_at = $2, locked_until = NULL, last_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failure: retried at `retry_at`, or given up (done, with the error) if `None`.
    pub async fn fail_job(
        &self,
        id: i64,
        error: &str,
        now: i64,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        match retry_at {
            Some(at) => sqlx::query(
                "UPDATE jobs SET run_at = $2, locked_until = NULL, last_error = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(at)
            .bind(error),
            None => sqlx::query(
                "UPDATE jobs SET done_at = $2, locked_until = NULL, last_error = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .bind(error),
        }
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// When the next pending job becomes due (ms), if any.
    pub async fn next_job_at(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(CASE WHEN locked_until IS NOT NULL AND locked_until > run_at THEN locked_until ELSE run_at END) \
             FROM jobs WHERE done_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Jobs not yet done, by kind (for tests and the status page).
    pub async fn pending_jobs(&self, kind: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = $1 AND done_at IS NULL")
                .bind(kind)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The last error of each job of a kind, oldest first (for tests and the status page).
    pub async fn job_errors(&self, kind: &str) -> Result<Vec<(i64, Option<String>)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT attempts, last_error FROM jobs WHERE kind = $1 ORDER BY id")
                .bind(kind)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
