//! Preserved evidence: snapshots of reported URLs, content-addressed by SHA-256, immutable.

use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;

use super::{get, new_id, Actor, Store, StoreError};

/// A snapshot to store.
#[derive(Debug, Clone)]
pub struct NewEvidence {
    /// The report whose URL was fetched.
    pub report_id: String,
    /// The URL.
    pub url: String,
    /// HTTP status, if a response came.
    pub status: Option<i64>,
    /// Response headers as JSON `[[name, value], …]`.
    pub headers: String,
    /// The body, if a response came.
    pub body: Option<Vec<u8>>,
    /// Whether the body was cut at the size limit.
    pub truncated: bool,
    /// Why the fetch failed, if it did.
    pub error: Option<String>,
}

/// A stored snapshot (without its body).
#[derive(Debug, Clone)]
pub struct EvidenceRow {
    /// Id.
    pub id: String,
    /// Report.
    pub report_id: String,
    /// URL.
    pub url: String,
    /// When fetched (ms).
    pub fetched_at: i64,
    /// HTTP status.
    pub status: Option<i64>,
    /// Headers JSON.
    pub headers: String,
    /// Body's SHA-256 (hex), the content address.
    pub body_sha256: Option<String>,
    /// Body cut at the limit.
    pub truncated: bool,
    /// Fetch error.
    pub error: Option<String>,
}

fn evidence_from_row(r: &AnyRow) -> Result<EvidenceRow, StoreError> {
    Ok(EvidenceRow {
        id: get(r, "id")?,
        report_id: get(r, "report_id")?,
        url: get(r, "url")?,
        fetched_at: get(r, "fetched_at")?,
        status: get(r, "status")?,
        headers: get(r, "headers")?,
        body_sha256: get(r, "body_sha256")?,
        truncated: get::<i64>(r, "truncated")? != 0,
        error: get(r, "error")?,
    })
}

const EVIDENCE_COLUMNS: &str =
    "e.id, e.report_id, e.url, e.fetched_at, e.status, e.headers, e.body_sha256, e.truncated, e.error";

impl Store {
    /// Stores a snapshot (the body once per distinct content) and audits it.
    pub async fn store_evidence(
        &self,
        new: &NewEvidence,
        actor: &Actor,
    ) -> Result<String, StoreError> {
        let mut w = self.begin_write().await?;
        let case_id: String = sqlx::query_scalar("SELECT case_id FROM reports WHERE id = $1")
            .bind(&new.report_id)
            .fetch_optional(&mut *w.tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let sha = match &new.body {
            Some(body) => {
                let sha = hex::encode(Sha256::digest(body));
                sqlx::query(
                    "INSERT INTO evidence_blobs (sha256, body, size) VALUES ($1, $2, $3) \
                     ON CONFLICT (sha256) DO NOTHING",
                )
                .bind(&sha)
                .bind(body.clone())
                .bind(body.len() as i64)
                .execute(&mut *w.tx)
                .await?;
                Some(sha)
            }
            None => None,
        };
        let id = new_id("e_");
        sqlx::query(
            "INSERT INTO evidence (id, report_id, url, fetched_at, status, headers, body_sha256, truncated, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&new.report_id)
        .bind(&new.url)
        .bind(actor.at)
        .bind(new.status)
        .bind(&new.headers)
        .bind(&sha)
        .bind(i64::from(new.truncated))
        .bind(&new.error)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            actor,
            "evidence.preserved",
            &format!("case:{case_id}"),
            serde_json::json!({ "evidence": id, "report": new.report_id, "url": new.url,
                "status": new.status, "sha256": sha, "error": new.error }),
        )
        .await?;
        w.commit().await?;
        Ok(id)
    }

    /// The snapshots of a case's reports.
    pub async fn case_evidence(&self, case_id: &str) -> Result<Vec<EvidenceRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVIDENCE_COLUMNS} FROM evidence e JOIN reports r ON r.id = e.report_id \
             WHERE r.case_id = $1 ORDER BY e.fetched_at, e.id"
        ))
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(evidence_from_row).collect()
    }

    /// One snapshot with its body, recording who viewed it (the view is audited before the
    /// body is returned).
    pub async fn view_evidence(
        &self,
        id: &str,
        actor: &Actor,
    ) -> Result<(EvidenceRow, Option<Vec<u8>>), StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {EVIDENCE_COLUMNS}, r.case_id FROM evidence e JOIN reports r ON r.id = e.report_id WHERE e.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let ev = evidence_from_row(&row)?;
        let case_id: String = get(&row, "case_id")?;
        self.audit_event(
            actor,
            "evidence.viewed",
            &format!("case:{case_id}"),
            serde_json::json!({ "evidence": id }),
        )
        .await?;
        let body = match &ev.body_sha256 {
            Some(sha) => {
                sqlx::query_scalar("SELECT body FROM evidence_blobs WHERE sha256 = $1")
                    .bind(sha)
                    .fetch_optional(&self.pool)
                    .await?
            }
            None => None,
        };
        Ok((ev, body))
    }
}
