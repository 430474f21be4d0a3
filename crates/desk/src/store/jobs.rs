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

/// Enqueues several jobs in one statement: (kind, payload JSON, run at).
pub(super) async fn enqueue_many_in(
    w: &mut WriteTx<'_>,
    jobs: &[(&str, String, i64)],
) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = jobs
        .iter()
        .map(|(kind, payload, at)| serde_json::json!({ "kind": kind, "payload": payload, "run_at": at }))
        .collect();
    let sql = format!(
        "INSERT INTO jobs (kind, payload, run_at) {}",
        w.backend.json_rows(
            1,
            &[("kind", "TEXT"), ("payload", "TEXT"), ("run_at", "BIGINT")]
        )
    );
    sqlx::query(&sql)
        .bind(serde_json::Value::Array(rows).to_string())
        .execute(&mut *w.tx)
        .await?;
    Ok(())
}

/// Which jobs a worker takes: the on-call's pages have a lane of their own, so that no
/// backlog of evidence fetches (a campaign floods the intake) ever sits in front of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// P0 pages.
    Pages,
    /// Everything else (evidence fetches, customer deadlines).
    Other,
}

impl Lane {
    fn condition(self) -> &'static str {
        match self {
            Lane::Pages => "kind = 'page'",
            Lane::Other => "kind <> 'page'",
        }
    }
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
        match self.claim_job_in(Lane::Pages, now, lease_ms).await? {
            Some(job) => Ok(Some(job)),
            None => self.claim_job_in(Lane::Other, now, lease_ms).await,
        }
    }

    /// Claims the oldest due job of a lane for `lease_ms`.
    pub async fn claim_job_in(
        &self,
        lane: Lane,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<Job>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // Pages are found through the (kind, done_at, run_at) index; the other lane walks the
        // pending jobs in run_at order (`jobs_due`), where the few pages are skipped.
        let sql = format!(
            "UPDATE jobs SET locked_until = $2, attempts = attempts + 1 WHERE id = (\
             SELECT id FROM jobs WHERE done_at IS NULL AND {} AND run_at <= $1 \
             AND (locked_until IS NULL OR locked_until < $1) \
             ORDER BY run_at, id LIMIT 1{lock}) \
             RETURNING id, kind, payload, attempts",
            lane.condition()
        );
        let _turn = self.write_turn().await;
        let row: Option<(i64, String, String, i64)> = sqlx::query_as(&sql)
            .bind(now)
            .bind(now + lease_ms)
            .fetch_optional(self.writes())
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
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE jobs SET done_at = $2, locked_until = NULL, last_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(self.writes())
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
        let _turn = self.write_turn().await;
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
        .execute(self.writes())
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

    /// When the next pending job of a lane becomes due (ms), if any.
    pub async fn next_job_at_in(&self, lane: Lane) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT MIN(CASE WHEN locked_until IS NOT NULL AND locked_until > run_at THEN locked_until ELSE run_at END) \
             FROM jobs WHERE done_at IS NULL AND {}",
            lane.condition()
        ))
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
