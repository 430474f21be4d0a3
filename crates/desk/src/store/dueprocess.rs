//! Due process in the store: statements of reasons, emergency measures and their outcome,
//! authority orders, four-eyes approvals, customer accounts and zones, customer responses and
//! appeals. Every change commits with its audit entry (action names in
//! [`crate::dueprocess`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;

use super::decisions::{
    decision_from_row, insert_decision, issue_policy, lift_in, DECISION_COLUMNS,
};
use super::{get, new_id, one_by_id, Actor, DecisionRow, NewDecision, Store, StoreError, WriteTx};
use crate::decision::PolicyContext;
use crate::dueprocess as dp;

/// The statement of reasons of a new restrictive decision (DSA Art. 17(3)); the decision
/// itself holds the measure, scope, duration, ground, facts and category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStatement {
    /// EEA country codes where the measure applies.
    pub territorial_scope: Vec<String>,
    /// Why the content is illegal (legal ground) or incompatible with the terms of service.
    pub explanation: String,
    /// `SOURCE_ARTICLE_16`, `SOURCE_TRUSTED_FLAGGER`, `SOURCE_TYPE_OTHER_NOTIFICATION` or
    /// `SOURCE_VOLUNTARY` (own initiative).
    pub source_type: String,
    /// Whether automated means detected the content.
    pub automated_detection: bool,
    /// `AUTOMATED_DECISION_FULLY`, `_PARTIALLY` or `AUTOMATED_DECISION_NOT_AUTOMATED`.
    pub automated_decision: String,
    /// The redress available.
    pub redress: String,
}

/// A stored statement of reasons.
#[derive(Debug, Clone)]
pub struct StatementRow {
    /// The decision.
    pub decision_id: String,
    /// JSON array of EEA country codes.
    pub territorial_scope: String,
    /// Why illegal or incompatible.
    pub explanation: String,
    /// Source type.
    pub source_type: String,
    /// Automated detection.
    pub automated_detection: bool,
    /// Automated decision.
    pub automated_decision: String,
    /// Redress.
    pub redress: String,
    /// When sent to the customer (ms).
    pub sent_at: Option<i64>,
}

/// An emergency measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyRow {
    /// The decision.
    pub decision_id: String,
    /// When it lapses unless confirmed (ms).
    pub expires_at: i64,
    /// `pending`, `confirmed`, `lapsed` or `lifted`.
    pub outcome: String,
    /// When the outcome was reached.
    pub outcome_at: Option<i64>,
    /// Who reached it (`system:emergency` for a lapse).
    pub outcome_by: Option<String>,
}

/// An order from an authority to record.
#[derive(Debug, Clone)]
pub struct NewAuthorityOrder {
    /// The authority.
    pub authority: String,
    /// Its reference.
    pub reference: String,
    /// What it applies to.
    pub scope: String,
    /// Its date, `YYYY-MM-DD`.
    pub order_date: String,
    /// Until when it requires the restriction (ms), if limited.
    pub ends_at: Option<i64>,
    /// When the provider received it (ms): the start of the time to give it effect.
    pub received_at: i64,
}

/// A recorded authority order.
#[derive(Debug, Clone)]
pub struct AuthorityOrderRow {
    /// Id.
    pub id: String,
    /// The decision.
    pub decision_id: String,
    /// Authority.
    pub authority: String,
    /// Reference.
    pub reference: String,
    /// Scope.
    pub scope: String,
    /// Date.
    pub order_date: String,
    /// End (ms).
    pub ends_at: Option<i64>,
}

/// A proposal waiting for a second senior analyst.
#[derive(Debug, Clone)]
pub struct ApprovalRow {
    /// Id.
    pub id: String,
    /// Case.
    pub case_id: String,
    /// The proposed decision.
    pub proposal: NewDecision,
    /// Who proposed it.
    pub requested_by: String,
    /// When.
    pub requested_at: i64,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
}

/// A customer's answer.
#[derive(Debug, Clone)]
pub struct ResponseRow {
    /// Id.
    pub id: String,
    /// Who answered.
    pub responder: String,
    /// `content_removed` or `disagree`.
    pub kind: String,
    /// Their explanation.
    pub explanation: String,
    /// When.
    pub at: i64,
}

/// A file attached to a customer's answer, already checked (size, type by magic bytes) by
/// the web layer.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// A safe file name (for `Content-Disposition`).
    pub filename: String,
    /// The type found from the content.
    pub content_type: String,
    /// The bytes.
    pub body: Vec<u8>,
}

/// A stored attachment (without its bytes).
#[derive(Debug, Clone)]
pub struct AttachmentRow {
    /// Id.
    pub id: String,
    /// The answer it belongs to.
    pub response_id: String,
    /// The decision answered.
    pub decision_id: String,
    /// File name.
    pub filename: String,
    /// Type found from the content.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the bytes (hex), the content address in `evidence_blobs`.
    pub sha256: String,
    /// When uploaded (ms).
    pub uploaded_at: i64,
}

const ATTACHMENT_COLUMNS: &str =
    "id, response_id, decision_id, filename, content_type, size, sha256, uploaded_at";

fn attachment_from_row(r: &AnyRow) -> Result<AttachmentRow, StoreError> {
    Ok(AttachmentRow {
        id: get(r, "id")?,
        response_id: get(r, "response_id")?,
        decision_id: get(r, "decision_id")?,
        filename: get(r, "filename")?,
        content_type: get(r, "content_type")?,
        size: get(r, "size")?,
        sha256: get(r, "sha256")?,
        uploaded_at: get(r, "uploaded_at")?,
    })
}

/// An appeal (internal complaint).
#[derive(Debug, Clone)]
pub struct AppealRow {
    /// Id.
    pub id: String,
    /// The decision appealed.
    pub decision_id: String,
    /// `customer` or `notifier`.
    pub party: String,
    /// Who filed it.
    pub filed_by: String,
    /// Why.
    pub grounds: String,
    /// When.
    pub filed_at: i64,
    /// `upheld` or `reversed`, once decided.
    pub outcome: Option<String>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<i64>,
    /// The reasons given.
    pub reasons: Option<String>,
}

fn emergency_from(r: &AnyRow) -> Result<EmergencyRow, StoreError> {
    Ok(EmergencyRow {
        decision_id: get(r, "decision_id")?,
        expires_at: get(r, "expires_at")?,
        outcome: get(r, "outcome")?,
        outcome_at: get(r, "outcome_at")?,
        outcome_by: get(r, "outcome_by")?,
    })
}

fn appeal_from(r: &AnyRow) -> Result<AppealRow, StoreError> {
    Ok(AppealRow {
        id: get(r, "id")?,
        decision_id: get(r, "decision_id")?,
        party: get(r, "party")?,
        filed_by: get(r, "filed_by")?,
        grounds: get(r, "grounds")?,
        filed_at: get(r, "filed_at")?,
        outcome: get(r, "outcome")?,
        decided_by: get(r, "decided_by")?,
        decided_at: get(r, "decided_at")?,
        reasons: get(r, "reasons")?,
    })
}

fn approval_from(r: &AnyRow) -> Result<ApprovalRow, StoreError> {
    let proposal: String = get(r, "proposal")?;
    Ok(ApprovalRow {
        id: get(r, "id")?,
        case_id: get(r, "case_id")?,
        proposal: serde_json::from_str(&proposal)
            .map_err(|e| StoreError::Corrupt(format!("approval proposal: {e}")))?,
        requested_by: get(r, "requested_by")?,
        requested_at: get(r, "requested_at")?,
        status: get(r, "status")?,
    })
}

const EMERGENCY_COLUMNS: &str = "decision_id, expires_at, outcome, outcome_at, outcome_by";
const APPEAL_COLUMNS: &str =
    "id, decision_id, party, filed_by, grounds, filed_at, outcome, decided_by, decided_at, reasons";
const APPROVAL_COLUMNS: &str = "id, case_id, proposal, requested_by, requested_at, status";

fn prefixed_decision_columns() -> String {
    DECISION_COLUMNS
        .split(", ")
        .map(|c| format!("d.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn decision_in(w: &mut WriteTx<'_>, id: &str) -> Result<DecisionRow, StoreError> {
    one_by_id(
        &mut *w.tx,
        &format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE id = $1"),
        id,
        decision_from_row,
    )
    .await
}

async fn emergency_in(w: &mut WriteTx<'_>, id: &str) -> Result<Option<EmergencyRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {EMERGENCY_COLUMNS} FROM emergencies WHERE decision_id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *w.tx)
    .await?;
    row.as_ref().map(emergency_from).transpose()
}

/// Stores what due process adds to a new decision, inside its transaction: the statement of
/// reasons (and the job that e-mails it), the emergency record (and the job that lapses it).
pub(super) async fn insert_due_process(
    w: &mut WriteTx<'_>,
    new: &NewDecision,
    id: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    if let Some(s) = &new.statement {
        if s.territorial_scope.is_empty()
            || s.explanation.trim().is_empty()
            || s.redress.trim().is_empty()
            || !dp::SOURCE_TYPES.contains(&s.source_type.as_str())
            || !dp::AUTOMATED_DECISIONS.contains(&s.automated_decision.as_str())
        {
            return Err(StoreError::Conflict(
                "the statement of reasons is incomplete".into(),
            ));
        }
        let scope = serde_json::to_string(&s.territorial_scope)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO statements (decision_id, territorial_scope, explanation, source_type, \
             automated_detection, automated_decision, redress, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(&scope)
        .bind(&s.explanation)
        .bind(&s.source_type)
        .bind(i64::from(s.automated_detection))
        .bind(&s.automated_decision)
        .bind(&s.redress)
        .bind(actor.at)
        .execute(&mut *w.tx)
        .await?;
        super::jobs::enqueue_in(
            w,
            "statement_mail",
            &serde_json::json!({ "decision": id }),
            actor.at,
        )
        .await?;
    }
    if new.emergency {
        let (Some(end), Some(scope)) = (new.ends_at, &new.scope) else {
            return Err(StoreError::Conflict(
                "an emergency measure restricts something and carries an expiry".into(),
            ));
        };
        sqlx::query(
            "INSERT INTO emergencies (decision_id, expires_at, outcome) VALUES ($1, $2, 'pending')",
        )
        .bind(id)
        .bind(end)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            actor,
            dp::AUDIT_EMERGENCY_APPLIED,
            &format!("case:{}", new.case_id),
            serde_json::json!({ "decision": id, "expires_at": end, "scope": scope }),
        )
        .await?;
        super::jobs::enqueue_in(
            w,
            "emergency_expiry",
            &serde_json::json!({ "decision": id }),
            end,
        )
        .await?;
    }
    Ok(())
}

/// Marks a pending emergency measure lifted, inside the lift's transaction.
pub(super) async fn emergency_lifted(
    w: &mut WriteTx<'_>,
    id: &str,
    reason: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    let n = sqlx::query(
        "UPDATE emergencies SET outcome = 'lifted', outcome_at = $2, outcome_by = $3, note = $4 \
         WHERE decision_id = $1 AND outcome = 'pending'",
    )
    .bind(id)
    .bind(actor.at)
    .bind(&actor.name)
    .bind(reason)
    .execute(&mut *w.tx)
    .await?
    .rows_affected();
    if n > 0 {
        let d = decision_in(w, id).await?;
        w.audit(
            actor,
            dp::AUDIT_EMERGENCY_LIFTED,
            &format!("case:{}", d.case_id),
            serde_json::json!({ "decision": id, "reason": reason }),
        )
        .await?;
    }
    Ok(())
}

impl Store {
    /// A decision's statement of reasons.
    pub async fn statement(&self, decision_id: &str) -> Result<Option<StatementRow>, StoreError> {
        let row = sqlx::query(
            "SELECT decision_id, territorial_scope, explanation, source_type, automated_detection, \
             automated_decision, redress, sent_at FROM statements WHERE decision_id = $1",
        )
        .bind(decision_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StatementRow {
                decision_id: get(&r, "decision_id")?,
                territorial_scope: get(&r, "territorial_scope")?,
                explanation: get(&r, "explanation")?,
                source_type: get(&r, "source_type")?,
                automated_detection: get::<i64>(&r, "automated_detection")? != 0,
                automated_decision: get(&r, "automated_decision")?,
                redress: get(&r, "redress")?,
                sent_at: get(&r, "sent_at")?,
            })
        })
        .transpose()
    }

    /// Every decision with a statement of reasons, oldest first.
    pub async fn decisions_with_statements(&self) -> Result<Vec<DecisionRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM decisions d JOIN statements s ON s.decision_id = d.id \
             ORDER BY d.decided_at, d.id",
            prefixed_decision_columns()
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decision_from_row).collect()
    }

    /// Records that a statement was e-mailed to `recipients` addresses (audited as
    /// `statement.sent`; the addresses themselves are not logged).
    pub async fn mark_statement_sent(
        &self,
        decision_id: &str,
        recipients: usize,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let d = decision_in(&mut w, decision_id).await?;
        sqlx::query("UPDATE statements SET sent_at = $2 WHERE decision_id = $1")
            .bind(decision_id)
            .bind(actor.at)
            .execute(&mut *w.tx)
            .await?;
        w.audit(
            actor,
            dp::AUDIT_STATEMENT_SENT,
            &format!("case:{}", d.case_id),
            serde_json::json!({ "decision": decision_id, "recipients": recipients }),
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// The e-mail addresses of the customers owning the zone of `host`.
    pub async fn customer_emails_for_host(&self, host: &str) -> Result<Vec<String>, StoreError> {
        let host = host.to_ascii_lowercase();
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT u.email FROM zone_owners z JOIN users u ON u.id = z.user_id \
             WHERE u.email IS NOT NULL AND ($1 = z.zone OR $1 LIKE '%.' || z.zone) ORDER BY u.email",
        )
        .bind(&host)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(e,)| e).collect())
    }

    /// The notifiers' names and e-mail addresses of a case (to keep them out of public text).
    pub async fn case_notifier_identities(&self, case_id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(Option<String>, Option<String>)> =
            sqlx::query_as("SELECT notifier_name, notifier_email FROM reports WHERE case_id = $1")
                .bind(case_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .flat_map(|(n, e)| [n, e])
            .flatten()
            .collect())
    }

    /// When the case's first report arrived (ms).
    pub async fn case_first_report_at(&self, case_id: &str) -> Result<i64, StoreError> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT MIN(submitted_at) FROM reports WHERE case_id = $1")
                .bind(case_id)
                .fetch_one(&self.pool)
                .await?;
        at.ok_or(StoreError::NotFound)
    }

    /// A decision's emergency record, if it is an emergency measure.
    pub async fn emergency(&self, decision_id: &str) -> Result<Option<EmergencyRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {EMERGENCY_COLUMNS} FROM emergencies WHERE decision_id = $1"
        ))
        .bind(decision_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(emergency_from).transpose()
    }

    /// Emergency measures still waiting for confirmation, soonest expiry first.
    pub async fn pending_emergencies(&self) -> Result<Vec<EmergencyRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EMERGENCY_COLUMNS} FROM emergencies WHERE outcome = 'pending' ORDER BY expires_at"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(emergency_from).collect()
    }

    /// Confirms a pending emergency measure by a second reviewer (not the analyst who applied
    /// it), before its expiry: the restriction loses its end. Returns the new policy version.
    pub async fn confirm_emergency(
        &self,
        decision_id: &str,
        actor: &Actor,
        ctx: &PolicyContext,
    ) -> Result<u64, StoreError> {
        let mut w = self.begin_write().await?;
        let e = pending_emergency(&mut w, decision_id, actor).await?;
        let d = decision_in(&mut w, decision_id).await?;
        if d.decided_by == actor.name {
            return Err(StoreError::Conflict(
                "an emergency measure is confirmed by a second reviewer, not by the analyst who applied it"
                    .into(),
            ));
        }
        sqlx::query("UPDATE decisions SET ends_at = NULL WHERE id = $1")
            .bind(decision_id)
            .execute(&mut *w.tx)
            .await?;
        settle(&mut w, decision_id, "confirmed", actor).await?;
        w.audit(
            actor,
            dp::AUDIT_EMERGENCY_CONFIRMED,
            &format!("case:{}", d.case_id),
            serde_json::json!({ "decision": decision_id, "by": "second_reviewer", "expires_at": e.expires_at }),
        )
        .await?;
        let v = issue_policy(
            &mut w,
            actor,
            ctx,
            &format!("confirmation of {decision_id}"),
            &[decision_id],
        )
        .await?;
        w.commit().await?;
        Ok(v)
    }

    /// Records an authority's order on a decision. A pending emergency measure is thereby
    /// confirmed: its end becomes the order's (none if the order sets none). Returns the new
    /// policy version if the restriction changed.
    pub async fn record_authority_order(
        &self,
        decision_id: &str,
        order: &NewAuthorityOrder,
        actor: &Actor,
        ctx: &PolicyContext,
    ) -> Result<Option<u64>, StoreError> {
        let mut w = self.begin_write().await?;
        let d = decision_in(&mut w, decision_id).await?;
        let id = new_id("o_");
        sqlx::query(
            "INSERT INTO authority_orders (id, decision_id, authority, reference, scope, order_date, \
             ends_at, recorded_by, recorded_at, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(decision_id)
        .bind(&order.authority)
        .bind(&order.reference)
        .bind(&order.scope)
        .bind(&order.order_date)
        .bind(order.ends_at)
        .bind(&actor.name)
        .bind(actor.at)
        .bind(order.received_at)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            actor,
            dp::AUDIT_AUTHORITY_ORDER,
            &format!("case:{}", d.case_id),
            serde_json::json!({
                "decision": decision_id, "order": id, "authority": order.authority,
                "reference": order.reference, "scope": order.scope, "order_date": order.order_date,
                "ends_at": order.ends_at,
                // The order takes effect when it is recorded here: the restriction exists, or
                // its emergency measure is confirmed in this very transaction. The time to give
                // effect runs from its receipt.
                "received_at": order.received_at,
                "effective_at": actor.at,
            }),
        )
        .await?;
        let mut version = None;
        let e = emergency_in(&mut w, decision_id).await?;
        if e.as_ref().is_some_and(|e| e.outcome == "pending") {
            let e = pending_emergency(&mut w, decision_id, actor).await?;
            if order.ends_at.is_some_and(|end| end <= actor.at) {
                return Err(StoreError::Conflict(
                    "the order's end has already passed".into(),
                ));
            }
            sqlx::query("UPDATE decisions SET ends_at = $2 WHERE id = $1")
                .bind(decision_id)
                .bind(order.ends_at)
                .execute(&mut *w.tx)
                .await?;
            settle(&mut w, decision_id, "confirmed", actor).await?;
            w.audit(
                actor,
                dp::AUDIT_EMERGENCY_CONFIRMED,
                &format!("case:{}", d.case_id),
                serde_json::json!({ "decision": decision_id, "by": "authority_order", "order": id, "expires_at": e.expires_at }),
            )
            .await?;
            version = Some(
                issue_policy(&mut w, actor, ctx, &format!("order {id}"), &[decision_id]).await?,
            );
        }
        w.commit().await?;
        Ok(version)
    }

    /// The orders recorded on a decision.
    pub async fn authority_orders(
        &self,
        decision_id: &str,
    ) -> Result<Vec<AuthorityOrderRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, decision_id, authority, reference, scope, order_date, ends_at \
             FROM authority_orders WHERE decision_id = $1 ORDER BY recorded_at, id",
        )
        .bind(decision_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuthorityOrderRow {
                    id: get(r, "id")?,
                    decision_id: get(r, "decision_id")?,
                    authority: get(r, "authority")?,
                    reference: get(r, "reference")?,
                    scope: get(r, "scope")?,
                    order_date: get(r, "order_date")?,
                    ends_at: get(r, "ends_at")?,
                })
            })
            .collect()
    }

    /// Lapses an emergency measure whose expiry has passed unconfirmed, and issues the policy
    /// without it. `Ok(None)` if it was settled meanwhile; `Conflict` if it is not yet due.
    pub async fn lapse_emergency(
        &self,
        decision_id: &str,
        actor: &Actor,
        ctx: &PolicyContext,
    ) -> Result<Option<u64>, StoreError> {
        let mut w = self.begin_write().await?;
        let Some(e) = emergency_in(&mut w, decision_id).await? else {
            return Err(StoreError::NotFound);
        };
        if e.outcome != "pending" {
            return Ok(None);
        }
        if actor.at < e.expires_at {
            return Err(StoreError::Conflict(format!(
                "emergency measure {decision_id} is not due to lapse yet"
            )));
        }
        let d = decision_in(&mut w, decision_id).await?;
        settle(&mut w, decision_id, "lapsed", actor).await?;
        w.audit(
            actor,
            dp::AUDIT_EMERGENCY_LAPSED,
            &format!("case:{}", d.case_id),
            serde_json::json!({ "decision": decision_id, "expires_at": e.expires_at }),
        )
        .await?;
        let v = issue_policy(
            &mut w,
            actor,
            ctx,
            &format!("lapse of {decision_id}"),
            &[decision_id],
        )
        .await?;
        w.commit().await?;
        Ok(Some(v))
    }

    /// Proposes a decision that needs a second senior analyst's approval. Returns its id.
    pub async fn propose_decision(
        &self,
        new: &NewDecision,
        actor: &Actor,
    ) -> Result<String, StoreError> {
        let mut w = self.begin_write().await?;
        let id = new_id("a_");
        let proposal =
            serde_json::to_string(new).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO approvals (id, case_id, proposal, requested_by, requested_at, status) \
             VALUES ($1, $2, $3, $4, $5, 'pending')",
        )
        .bind(&id)
        .bind(&new.case_id)
        .bind(&proposal)
        .bind(&actor.name)
        .bind(actor.at)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            actor,
            "approval.requested",
            &format!("case:{}", new.case_id),
            serde_json::json!({ "approval": id, "action": new.action, "scope": new.scope }),
        )
        .await?;
        w.commit().await?;
        Ok(id)
    }

    /// Proposals waiting for approval, oldest first.
    pub async fn pending_approvals(&self) -> Result<Vec<ApprovalRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE status = 'pending' ORDER BY requested_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(approval_from).collect()
    }

    /// One proposal.
    pub async fn approval(&self, id: &str) -> Result<ApprovalRow, StoreError> {
        one_by_id(
            &self.pool,
            &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1"),
            id,
            approval_from,
        )
        .await
    }

    /// Approves a proposal (by a senior analyst other than its author): the decision is
    /// recorded in the author's name, from now. Returns the decision and the policy version.
    pub async fn approve_decision(
        &self,
        approval_id: &str,
        actor: &Actor,
        ctx: &PolicyContext,
    ) -> Result<(String, Option<u64>), StoreError> {
        let mut w = self.begin_write().await?;
        let a = one_by_id(
            &mut *w.tx,
            &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1"),
            approval_id,
            approval_from,
        )
        .await?;
        if a.status != "pending" {
            return Err(StoreError::Conflict(format!(
                "this proposal was already {}",
                a.status
            )));
        }
        if a.requested_by == actor.name {
            return Err(StoreError::Conflict(
                "a second senior analyst must approve; you proposed this measure".into(),
            ));
        }
        let mut new = a.proposal.clone();
        // The measure starts when approved; a temporary one keeps its length.
        if let Some(end) = new.ends_at {
            new.ends_at = Some(actor.at + (end - new.starts_at).max(1));
        }
        new.starts_at = actor.at;
        let (decision, version) =
            insert_decision(&mut w, &new, &a.requested_by, actor, ctx).await?;
        sqlx::query(
            "UPDATE approvals SET status = 'approved', decided_by = $2, decided_at = $3, decision_id = $4 \
             WHERE id = $1",
        )
        .bind(approval_id)
        .bind(&actor.name)
        .bind(actor.at)
        .bind(&decision)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            actor,
            "approval.granted",
            &format!("case:{}", a.case_id),
            serde_json::json!({ "approval": approval_id, "decision": decision, "requested_by": a.requested_by }),
        )
        .await?;
        w.commit().await?;
        Ok((decision, version))
    }

    /// Rejects a proposal.
    pub async fn reject_decision(
        &self,
        approval_id: &str,
        note: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let a = self.approval(approval_id).await?;
        let n = sqlx::query(
            "UPDATE approvals SET status = 'rejected', decided_by = $2, decided_at = $3, note = $4 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(approval_id)
        .bind(&actor.name)
        .bind(actor.at)
        .bind(note)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict(
                "this proposal is no longer pending".into(),
            ));
        }
        w.audit(
            actor,
            "approval.rejected",
            &format!("case:{}", a.case_id),
            serde_json::json!({ "approval": approval_id, "note": note }),
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// Creates a customer account owning `zones` (apex hostnames; each covers its subdomains).
    pub async fn create_customer(
        &self,
        username: &str,
        password_hash: &str,
        email: &str,
        zones: &[String],
        actor: &Actor,
    ) -> Result<String, StoreError> {
        let mut w = self.begin_write().await?;
        let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *w.tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("user '{username}' exists")));
        }
        let id = new_id("u_");
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at, email) \
             VALUES ($1, $2, $3, 'customer', $4, $5)",
        )
        .bind(&id)
        .bind(username)
        .bind(password_hash)
        .bind(actor.at)
        .bind(email)
        .execute(&mut *w.tx)
        .await?;
        for z in zones {
            sqlx::query(
                "INSERT INTO zone_owners (user_id, zone) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(z.trim().to_ascii_lowercase())
            .execute(&mut *w.tx)
            .await?;
        }
        w.audit(
            actor,
            "user.created",
            &format!("user:{username}"),
            serde_json::json!({ "role": "customer", "zones": zones }),
        )
        .await?;
        w.commit().await?;
        Ok(id)
    }

    /// The zones a customer owns.
    pub async fn customer_zones(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT zone FROM zone_owners WHERE user_id = $1 ORDER BY zone")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(z,)| z).collect())
    }

    /// The decisions on hosts within a customer's zones, newest first.
    pub async fn customer_decisions(&self, user_id: &str) -> Result<Vec<DecisionRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT {} FROM decisions d JOIN cases c ON c.id = d.case_id \
             JOIN zone_owners z ON (c.host = z.zone OR c.host LIKE '%.' || z.zone) \
             WHERE z.user_id = $1 AND d.action <> 'no_action' ORDER BY d.decided_at DESC, d.id",
            prefixed_decision_columns()
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decision_from_row).collect()
    }

    /// Whether a decision concerns a host within the customer's zones.
    pub async fn customer_owns_decision(
        &self,
        user_id: &str,
        decision_id: &str,
    ) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM decisions d JOIN cases c ON c.id = d.case_id \
             JOIN zone_owners z ON (c.host = z.zone OR c.host LIKE '%.' || z.zone) \
             WHERE z.user_id = $1 AND d.id = $2",
        )
        .bind(user_id)
        .bind(decision_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Records a customer's answer to a decision with its attachments (bytes stored once per
    /// distinct content, like evidence); returns the answer's id.
    pub async fn add_customer_response(
        &self,
        decision_id: &str,
        kind: &str,
        explanation: &str,
        attachments: &[NewAttachment],
        actor: &Actor,
    ) -> Result<String, StoreError> {
        let mut w = self.begin_write().await?;
        let d = decision_in(&mut w, decision_id).await?;
        let id = new_id("cr_");
        sqlx::query(
            "INSERT INTO customer_responses (id, decision_id, responder, kind, explanation, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(decision_id)
        .bind(&actor.name)
        .bind(kind)
        .bind(explanation)
        .bind(actor.at)
        .execute(&mut *w.tx)
        .await?;
        let mut files = Vec::with_capacity(attachments.len());
        for (position, a) in attachments.iter().enumerate() {
            let sha = hex::encode(Sha256::digest(&a.body));
            sqlx::query(
                "INSERT INTO evidence_blobs (sha256, body, size) VALUES ($1, $2, $3) \
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(&sha)
            .bind(a.body.clone())
            .bind(a.body.len() as i64)
            .execute(&mut *w.tx)
            .await?;
            let aid = new_id("att_");
            sqlx::query(
                "INSERT INTO response_attachments (id, response_id, position, decision_id, \
                 filename, content_type, size, sha256, uploaded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&aid)
            .bind(&id)
            .bind(position as i64)
            .bind(decision_id)
            .bind(&a.filename)
            .bind(&a.content_type)
            .bind(a.body.len() as i64)
            .bind(&sha)
            .bind(actor.at)
            .execute(&mut *w.tx)
            .await?;
            files.push(
                serde_json::json!({ "attachment": aid, "filename": a.filename,
                "type": a.content_type, "size": a.body.len(), "sha256": sha }),
            );
        }
        w.audit(
            actor,
            "customer.responded",
            &format!("case:{}", d.case_id),
            serde_json::json!({ "decision": decision_id, "response": id, "kind": kind,
                "attachments": files }),
        )
        .await?;
        w.commit().await?;
        Ok(id)
    }

    /// A decision's customer responses, oldest first.
    pub async fn customer_responses(
        &self,
        decision_id: &str,
    ) -> Result<Vec<ResponseRow>, StoreError> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, responder, kind, explanation, at FROM customer_responses \
             WHERE decision_id = $1 ORDER BY at, id",
        )
        .bind(decision_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, responder, kind, explanation, at)| ResponseRow {
                id,
                responder,
                kind,
                explanation,
                at,
            })
            .collect())
    }

    /// The attachments of a decision's customer responses, oldest first.
    pub async fn decision_attachments(
        &self,
        decision_id: &str,
    ) -> Result<Vec<AttachmentRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM response_attachments WHERE decision_id = $1 \
             ORDER BY uploaded_at, response_id, position"
        ))
        .bind(decision_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(attachment_from_row).collect()
    }

    /// One attachment's record (no bytes, no audit): to check who may fetch it.
    pub async fn attachment(&self, id: &str) -> Result<AttachmentRow, StoreError> {
        one_by_id(
            &self.pool,
            &format!("SELECT {ATTACHMENT_COLUMNS} FROM response_attachments WHERE id = $1"),
            id,
            attachment_from_row,
        )
        .await
    }

    /// One attachment with its bytes, recording who fetched it (the access is audited before
    /// the bytes are returned).
    pub async fn download_attachment(
        &self,
        id: &str,
        actor: &Actor,
    ) -> Result<(AttachmentRow, Vec<u8>), StoreError> {
        let a = self.attachment(id).await?;
        let d = self.decision(&a.decision_id).await?;
        self.audit_event(
            actor,
            "attachment.downloaded",
            &format!("case:{}", d.case_id),
            serde_json::json!({ "attachment": id, "decision": a.decision_id, "sha256": a.sha256 }),
        )
        .await?;
        let body: Vec<u8> = sqlx::query_scalar("SELECT body FROM evidence_blobs WHERE sha256 = $1")
            .bind(&a.sha256)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok((a, body))
    }

    /// Files an appeal against a decision, within `window_ms` of it; one pending appeal per
    /// party and decision. Returns its id.
    pub async fn file_appeal(
        &self,
        decision_id: &str,
        party: &str,
        grounds: &str,
        window_ms: i64,
        actor: &Actor,
    ) -> Result<String, StoreError> {
        let mut w = self.begin_write().await?;
        let d = decision_in(&mut w, decision_id).await?;
        if actor.at - d.decided_at > window_ms {
            return Err(StoreError::Conflict(
                "the time to appeal this decision has passed".into(),
            ));
        }
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM appeals WHERE decision_id = $1 AND party = $2 AND outcome IS NULL",
        )
        .bind(decision_id)
        .bind(party)
        .fetch_one(&mut *w.tx)
        .await?;
        if pending > 0 {
            return Err(StoreError::Conflict(
                "an appeal against this decision is already pending".into(),
            ));
        }
        let id = new_id("ap_");
        sqlx::query(
            "INSERT INTO appeals (id, decision_id, party, filed_by, grounds, filed_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(decision_id)
        .bind(party)
        .bind(&actor.name)
        .bind(grounds)
        .bind(actor.at)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            actor,
            dp::AUDIT_APPEAL_FILED,
            &format!("case:{}", d.case_id),
            serde_json::json!({ "appeal": id, "decision": decision_id, "party": party }),
        )
        .await?;
        w.commit().await?;
        Ok(id)
    }

    /// Decides an appeal, by a person who did not take the decision appealed. A reversal
    /// lifts a restriction (new policy version, returned) or, for a decision not to act,
    /// reopens the case for a new decision.
    pub async fn decide_appeal(
        &self,
        appeal_id: &str,
        reverse: bool,
        reasons: &str,
        actor: &Actor,
        ctx: &PolicyContext,
    ) -> Result<Option<u64>, StoreError> {
        let mut w = self.begin_write().await?;
        let a = one_by_id(
            &mut *w.tx,
            &format!("SELECT {APPEAL_COLUMNS} FROM appeals WHERE id = $1"),
            appeal_id,
            appeal_from,
        )
        .await?;
        if a.outcome.is_some() {
            return Err(StoreError::Conflict(
                "this appeal was already decided".into(),
            ));
        }
        let d = decision_in(&mut w, &a.decision_id).await?;
        if d.decided_by == actor.name {
            return Err(StoreError::Conflict(
                "an appeal is decided by a person who did not take the decision".into(),
            ));
        }
        let outcome = if reverse { "reversed" } else { "upheld" };
        sqlx::query(
            "UPDATE appeals SET outcome = $2, decided_by = $3, decided_at = $4, reasons = $5 WHERE id = $1",
        )
        .bind(appeal_id)
        .bind(outcome)
        .bind(&actor.name)
        .bind(actor.at)
        .bind(reasons)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            actor,
            if reverse {
                dp::AUDIT_APPEAL_REVERSED
            } else {
                dp::AUDIT_APPEAL_UPHELD
            },
            &format!("case:{}", d.case_id),
            serde_json::json!({ "appeal": appeal_id, "decision": d.id, "party": a.party, "reasons": reasons }),
        )
        .await?;
        let mut version = None;
        if reverse {
            if d.scope.is_some() && d.lifted_at.is_none() {
                version = lift_in(
                    &mut w,
                    &d.id,
                    &format!("appeal {appeal_id} reversed the decision: {reasons}"),
                    actor,
                    ctx,
                )
                .await?;
            } else if d.scope.is_none() {
                sqlx::query("UPDATE cases SET status = 'open', review_due = $2 WHERE id = $1")
                    .bind(&d.case_id)
                    .bind(actor.at)
                    .execute(&mut *w.tx)
                    .await?;
            }
        }
        w.commit().await?;
        Ok(version)
    }

    /// Appeals waiting for a decision, oldest first.
    pub async fn pending_appeals(&self) -> Result<Vec<AppealRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE outcome IS NULL ORDER BY filed_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(appeal_from).collect()
    }

    /// A decision's appeals, oldest first.
    pub async fn decision_appeals(&self, decision_id: &str) -> Result<Vec<AppealRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE decision_id = $1 ORDER BY filed_at, id"
        ))
        .bind(decision_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(appeal_from).collect()
    }

    /// One appeal.
    pub async fn appeal(&self, id: &str) -> Result<AppealRow, StoreError> {
        one_by_id(
            &self.pool,
            &format!("SELECT {APPEAL_COLUMNS} FROM appeals WHERE id = $1"),
            id,
            appeal_from,
        )
        .await
    }
}

/// The pending emergency record of a decision, refusing one already settled or expired.
async fn pending_emergency(
    w: &mut WriteTx<'_>,
    decision_id: &str,
    actor: &Actor,
) -> Result<EmergencyRow, StoreError> {
    let e = emergency_in(w, decision_id)
        .await?
        .ok_or_else(|| StoreError::Conflict("this decision is not an emergency measure".into()))?;
    if e.outcome != "pending" {
        return Err(StoreError::Conflict(format!(
            "this emergency measure was already {}",
            e.outcome
        )));
    }
    if actor.at >= e.expires_at {
        return Err(StoreError::Conflict(
            "this emergency measure has expired; it lapses and a new decision is needed".into(),
        ));
    }
    Ok(e)
}

async fn settle(
    w: &mut WriteTx<'_>,
    decision_id: &str,
    outcome: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE emergencies SET outcome = $2, outcome_at = $3, outcome_by = $4 WHERE decision_id = $1",
    )
    .bind(decision_id)
    .bind(outcome)
    .bind(actor.at)
    .bind(&actor.name)
    .execute(&mut *w.tx)
    .await?;
    Ok(())
}
