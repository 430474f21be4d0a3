//! Referrals to authorities (DSA Art. 18) and what authorities send back.

use sqlx::any::AnyRow;

use super::{get, new_id, one_by_id, Actor, EvidenceRow, Store, StoreError};

/// A referral to record.
#[derive(Debug, Clone)]
pub struct NewReferral {
    /// The case.
    pub case_id: String,
    /// Country code the basis points to, or empty when unclear.
    pub jurisdiction: String,
    /// `victim`, `suspect`, `place` or `unclear`.
    pub basis: String,
    /// The directory entry used: a country code or `fallback`.
    pub authority_key: String,
    /// The authority's name.
    pub authority_name: String,
    /// Its e-mail.
    pub authority_email: Option<String>,
    /// Its URL.
    pub authority_url: Option<String>,
    /// Why the case is referred (the suspected offence, the threat).
    pub reason: String,
}

/// A stored referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralRow {
    /// Id.
    pub id: String,
    /// Case.
    pub case_id: String,
    /// Country code, or empty.
    pub jurisdiction: String,
    /// Basis.
    pub basis: String,
    /// Directory entry.
    pub authority_key: String,
    /// Authority.
    pub authority_name: String,
    /// Its e-mail.
    pub authority_email: Option<String>,
    /// Its URL.
    pub authority_url: Option<String>,
    /// Why.
    pub reason: String,
    /// Who referred.
    pub referred_by: String,
    /// When (ms).
    pub referred_at: i64,
    /// Where the bundle was written.
    pub bundle_path: Option<String>,
    /// The bundle manifest's SHA-256.
    pub manifest_sha256: Option<String>,
}

/// An acknowledgement or order from an authority, to record.
#[derive(Debug, Clone)]
pub struct NewAuthorityResponse {
    /// The case.
    pub case_id: String,
    /// The referral it answers (required for acknowledgements).
    pub referral_id: Option<String>,
    /// `acknowledgement` or `order`.
    pub kind: String,
    /// Which authority.
    pub authority: String,
    /// Its reference.
    pub reference: String,
    /// What an order applies to.
    pub scope: Option<String>,
    /// When it was received (ms).
    pub received_at: i64,
    /// The decision giving effect to an order.
    pub decision_id: Option<String>,
    /// A note.
    pub note: String,
}

/// A stored acknowledgement or order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityResponseRow {
    /// Id.
    pub id: String,
    /// Case.
    pub case_id: String,
    /// Referral.
    pub referral_id: Option<String>,
    /// `acknowledgement` or `order`.
    pub kind: String,
    /// Authority.
    pub authority: String,
    /// Reference.
    pub reference: String,
    /// Scope of an order.
    pub scope: Option<String>,
    /// Received (ms).
    pub received_at: i64,
    /// Decision giving effect.
    pub decision_id: Option<String>,
    /// When the order took effect (ms): the later of its receipt and the decision's start.
    pub effective_at: Option<i64>,
    /// Note.
    pub note: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// When (ms).
    pub recorded_at: i64,
}

const REFERRAL_COLUMNS: &str = "id, case_id, jurisdiction, basis, authority_key, authority_name, \
     authority_email, authority_url, reason, referred_by, referred_at, bundle_path, manifest_sha256";

fn referral_from_row(r: &AnyRow) -> Result<ReferralRow, StoreError> {
    Ok(ReferralRow {
        id: get(r, "id")?,
        case_id: get(r, "case_id")?,
        jurisdiction: get(r, "jurisdiction")?,
        basis: get(r, "basis")?,
        authority_key: get(r, "authority_key")?,
        authority_name: get(r, "authority_name")?,
        authority_email: get(r, "authority_email")?,
        authority_url: get(r, "authority_url")?,
        reason: get(r, "reason")?,
        referred_by: get(r, "referred_by")?,
        referred_at: get(r, "referred_at")?,
        bundle_path: get(r, "bundle_path")?,
        manifest_sha256: get(r, "manifest_sha256")?,
    })
}

const RESPONSE_COLUMNS: &str = "id, case_id, referral_id, kind, authority, reference, scope, \
     received_at, decision_id, effective_at, note, recorded_by, recorded_at";

fn response_from_row(r: &AnyRow) -> Result<AuthorityResponseRow, StoreError> {
    Ok(AuthorityResponseRow {
        id: get(r, "id")?,
        case_id: get(r, "case_id")?,
        referral_id: get(r, "referral_id")?,
        kind: get(r, "kind")?,
        authority: get(r, "authority")?,
        reference: get(r, "reference")?,
        scope: get(r, "scope")?,
        received_at: get(r, "received_at")?,
        decision_id: get(r, "decision_id")?,
        effective_at: get(r, "effective_at")?,
        note: get(r, "note")?,
        recorded_by: get(r, "recorded_by")?,
        recorded_at: get(r, "recorded_at")?,
    })
}

impl Store {
    /// Records a referral and audits it (`referral.made`). The bundle is written afterwards
    /// (it must contain this entry and a checkpoint covering it), see [`Store::set_referral_bundle`].
    pub async fn record_referral(
        &self,
        new: &NewReferral,
        actor: &Actor,
    ) -> Result<String, StoreError> {
        let mut w = self.begin_write().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM cases WHERE id = $1")
            .bind(&new.case_id)
            .fetch_optional(&mut *w.tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let id = new_id("ref_");
        sqlx::query(
            "INSERT INTO referrals (id, case_id, jurisdiction, basis, authority_key, authority_name, \
             authority_email, authority_url, reason, referred_by, referred_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&id)
        .bind(&new.case_id)
        .bind(&new.jurisdiction)
        .bind(&new.basis)
        .bind(&new.authority_key)
        .bind(&new.authority_name)
        .bind(&new.authority_email)
        .bind(&new.authority_url)
        .bind(&new.reason)
        .bind(&actor.name)
        .bind(actor.at)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            actor,
            "referral.made",
            &format!("case:{}", new.case_id),
            serde_json::json!({
                "referral": id, "jurisdiction": new.jurisdiction, "basis": new.basis,
                "authority_key": new.authority_key, "authority": new.authority_name,
                "reason": new.reason,
            }),
        )
        .await?;
        w.commit().await?;
        Ok(id)
    }

    /// Records where a referral's bundle was written and its manifest's hash
    /// (`referral.bundle_written`: the log then commits to what was sent).
    pub async fn set_referral_bundle(
        &self,
        id: &str,
        path: &str,
        manifest_sha256: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let case_id: String = sqlx::query_scalar("SELECT case_id FROM referrals WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *w.tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        sqlx::query("UPDATE referrals SET bundle_path = $2, manifest_sha256 = $3 WHERE id = $1")
            .bind(id)
            .bind(path)
            .bind(manifest_sha256)
            .execute(&mut *w.tx)
            .await?;
        w.audit(
            actor,
            "referral.bundle_written",
            &format!("case:{case_id}"),
            serde_json::json!({ "referral": id, "path": path, "manifest_sha256": manifest_sha256 }),
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// One referral.
    pub async fn referral(&self, id: &str) -> Result<ReferralRow, StoreError> {
        one_by_id(
            &self.pool,
            &format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id = $1"),
            id,
            referral_from_row,
        )
        .await
    }

    /// A case's referrals, oldest first.
    pub async fn case_referrals(&self, case_id: &str) -> Result<Vec<ReferralRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE case_id = $1 ORDER BY referred_at, id"
        ))
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(referral_from_row).collect()
    }

    /// Records an acknowledgement (`authority.acknowledged`) or an order
    /// (`authority_order.recorded`, with `received_at` and, when a decision gives it effect,
    /// `effective_at` in its details, both in ms). An acknowledgement needs a referral of the
    /// case; an order's decision must be of the case.
    pub async fn record_authority_response(
        &self,
        new: &NewAuthorityResponse,
        actor: &Actor,
    ) -> Result<String, StoreError> {
        let mut w = self.begin_write().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM cases WHERE id = $1")
            .bind(&new.case_id)
            .fetch_optional(&mut *w.tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let action = match new.kind.as_str() {
            "acknowledgement" => "authority.acknowledged",
            "order" => "authority_order.recorded",
            other => return Err(StoreError::Conflict(format!("unknown kind '{other}'"))),
        };
        if let Some(r) = &new.referral_id {
            let case: Option<String> =
                sqlx::query_scalar("SELECT case_id FROM referrals WHERE id = $1")
                    .bind(r)
                    .fetch_optional(&mut *w.tx)
                    .await?;
            if case.as_deref() != Some(new.case_id.as_str()) {
                return Err(StoreError::Conflict(format!(
                    "referral {r} is not a referral of this case"
                )));
            }
        } else if new.kind == "acknowledgement" {
            return Err(StoreError::Conflict(
                "an acknowledgement answers a referral: choose it".into(),
            ));
        }
        let effective_at = match &new.decision_id {
            Some(d) => {
                let row: Option<(String, i64)> =
                    sqlx::query_as("SELECT case_id, starts_at FROM decisions WHERE id = $1")
                        .bind(d)
                        .fetch_optional(&mut *w.tx)
                        .await?;
                match row {
                    Some((case, starts)) if case == new.case_id => {
                        // A measure already in force when the order came takes effect on receipt.
                        Some(starts.max(new.received_at))
                    }
                    _ => {
                        return Err(StoreError::Conflict(format!(
                            "decision {d} is not a decision of this case"
                        )))
                    }
                }
            }
            None => None,
        };
        let id = new_id("ar_");
        sqlx::query(
            "INSERT INTO authority_responses (id, case_id, referral_id, kind, authority, reference, \
             scope, received_at, decision_id, effective_at, note, recorded_by, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&id)
        .bind(&new.case_id)
        .bind(&new.referral_id)
        .bind(&new.kind)
        .bind(&new.authority)
        .bind(&new.reference)
        .bind(&new.scope)
        .bind(new.received_at)
        .bind(&new.decision_id)
        .bind(effective_at)
        .bind(&new.note)
        .bind(&actor.name)
        .bind(actor.at)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            actor,
            action,
            &format!("case:{}", new.case_id),
            serde_json::json!({
                "response": id, "referral": new.referral_id, "authority": new.authority,
                "reference": new.reference, "scope": new.scope, "received_at": new.received_at,
                "decision": new.decision_id, "effective_at": effective_at,
            }),
        )
        .await?;
        w.commit().await?;
        Ok(id)
    }

    /// A case's acknowledgements and orders, oldest first.
    pub async fn case_authority_responses(
        &self,
        case_id: &str,
    ) -> Result<Vec<AuthorityResponseRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RESPONSE_COLUMNS} FROM authority_responses WHERE case_id = $1 \
             ORDER BY received_at, id"
        ))
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(response_from_row).collect()
    }

    /// A case's snapshots with their bodies, for a bundle. Not audited one by one: the
    /// referral's own entries record that the evidence left the desk.
    pub async fn case_evidence_with_bodies(
        &self,
        case_id: &str,
    ) -> Result<Vec<(EvidenceRow, Option<Vec<u8>>)>, StoreError> {
        let mut out = Vec::new();
        for e in self.case_evidence(case_id).await? {
            let body = match &e.body_sha256 {
                Some(sha) => {
                    sqlx::query_scalar("SELECT body FROM evidence_blobs WHERE sha256 = $1")
                        .bind(sha)
                        .fetch_optional(&self.pool)
                        .await?
                }
                None => None,
            };
            out.push((e, body));
        }
        Ok(out)
    }
}
