//! Reading the audit log and writing checkpoints.

use ed25519_dalek::SigningKey;

use super::{get, Store, StoreError};

/// One audit entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: i64,
    /// When, in milliseconds.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What, e.g. `report.submitted`.
    pub action: String,
    /// On what, e.g. `case:…`.
    pub subject: String,
    /// Canonical JSON details.
    pub details: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// A signed checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointRow {
    /// The entry it covers.
    pub seq: i64,
    /// That entry's hash.
    pub hash: String,
    /// When signed.
    pub at: i64,
    /// Signer's public key, hex.
    pub public_key: String,
    /// Signature, hex.
    pub signature: String,
}

impl Store {
    /// Every audit entry, in sequence order.
    pub async fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: get(r, "seq")?,
                    at: get(r, "at")?,
                    actor: get(r, "actor")?,
                    action: get(r, "action")?,
                    subject: get(r, "subject")?,
                    details: get(r, "details")?,
                    prev_hash: get(r, "prev_hash")?,
                    hash: get(r, "hash")?,
                })
            })
            .collect()
    }

    /// Audit entries about one subject, in order (for a case's history).
    pub async fn audit_for_subject(&self, subject: &str) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log \
             WHERE subject = $1 ORDER BY seq",
        )
        .bind(subject)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: get(r, "seq")?,
                    at: get(r, "at")?,
                    actor: get(r, "actor")?,
                    action: get(r, "action")?,
                    subject: get(r, "subject")?,
                    details: get(r, "details")?,
                    prev_hash: get(r, "prev_hash")?,
                    hash: get(r, "hash")?,
                })
            })
            .collect()
    }

    /// The recorded head of the chain: (seq, hash).
    pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Every checkpoint, in order.
    pub async fn audit_checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        let rows: Vec<(i64, String, i64, String, String)> = sqlx::query_as(
            "SELECT seq, hash, at, public_key, signature FROM audit_checkpoints ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, hash, at, public_key, signature)| CheckpointRow {
                seq,
                hash,
                at,
                public_key,
                signature,
            })
            .collect())
    }

    /// Writes a signed checkpoint of the current head if at least `every` entries were
    /// appended since the last one (or `every` is 1 and any were). Returns the checkpoint's seq.
    pub async fn checkpoint_if_due(
        &self,
        key: &SigningKey,
        every: i64,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let (head_seq, head_hash) = self.audit_head().await?;
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_checkpoints")
            .fetch_one(&self.pool)
            .await?;
        let last = last.unwrap_or(0);
        if head_seq == 0 || head_seq - last < every {
            return Ok(None);
        }
        let (public_key, signature) = crate::audit::sign_checkpoint(key, head_seq, &head_hash, now);
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, at, public_key, signature) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
        )
        .bind(head_seq)
        .bind(&head_hash)
        .bind(now)
        .bind(public_key)
        .bind(signature)
        .execute(self.writes())
        .await?;
        Ok(Some(head_seq))
    }

    /// Appends a standalone audit entry (for reads that must be recorded, e.g. evidence views).
    pub async fn audit_event(
        &self,
        actor: &super::Actor,
        action: &str,
        subject: &str,
        details: serde_json::Value,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        tx.audit(actor, action, subject, details).await?;
        tx.commit().await
    }
}
