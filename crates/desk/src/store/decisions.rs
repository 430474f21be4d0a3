//! Decisions and policy versions.

use sqlx::any::AnyRow;

use super::dueprocess::{insert_due_process, NewStatement};
use super::{get, new_id, Actor, Store, StoreError, WriteTx};
use crate::clock::from_millis;
use crate::decision::{build_policy, PolicyContext};

/// A decision to store.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewDecision {
    /// The case.
    pub case_id: String,
    /// Action name (see [`crate::decision::Action`]).
    pub action: String,
    /// `legal` or `terms_of_service`.
    pub ground_kind: String,
    /// The ground, in words.
    pub ground: String,
    /// The facts and circumstances.
    pub facts: String,
    /// Category of the content.
    pub category: String,
    /// The scope (JSON of a policy `Scope`) for restrictive actions.
    pub scope: Option<String>,
    /// From when (ms).
    pub starts_at: i64,
    /// Until when (ms), if temporary.
    pub ends_at: Option<i64>,
    /// Deadline for the customer (ms), for `ask_customer`.
    pub deadline: Option<i64>,
    /// The statement of reasons: required for a restrictive decision (one with a scope).
    pub statement: Option<NewStatement>,
    /// An emergency measure, applied by one analyst: lapses at `ends_at` unless confirmed.
    pub emergency: bool,
}

/// A stored decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRow {
    /// Id (also the restriction id).
    pub id: String,
    /// Case.
    pub case_id: String,
    /// Action.
    pub action: String,
    /// `legal` or `terms_of_service`.
    pub ground_kind: String,
    /// Ground.
    pub ground: String,
    /// Facts.
    pub facts: String,
    /// Category.
    pub category: String,
    /// Scope JSON.
    pub scope: Option<String>,
    /// Start (ms).
    pub starts_at: i64,
    /// End (ms).
    pub ends_at: Option<i64>,
    /// Customer deadline (ms).
    pub deadline: Option<i64>,
    /// Who decided.
    pub decided_by: String,
    /// When (ms).
    pub decided_at: i64,
    /// When lifted (ms).
    pub lifted_at: Option<i64>,
    /// Who lifted it.
    pub lifted_by: Option<String>,
    /// Why it was lifted.
    pub lift_reason: Option<String>,
}

pub(super) const DECISION_COLUMNS: &str =
    "id, case_id, action, ground_kind, ground, facts, category, scope, \
     starts_at, ends_at, deadline, decided_by, decided_at, lifted_at, lifted_by, lift_reason";

pub(super) fn decision_from_row(r: &AnyRow) -> Result<DecisionRow, StoreError> {
    Ok(DecisionRow {
        id: get(r, "id")?,
        case_id: get(r, "case_id")?,
        action: get(r, "action")?,
        ground_kind: get(r, "ground_kind")?,
        ground: get(r, "ground")?,
        facts: get(r, "facts")?,
        category: get(r, "category")?,
        scope: get(r, "scope")?,
        starts_at: get(r, "starts_at")?,
        ends_at: get(r, "ends_at")?,
        deadline: get(r, "deadline")?,
        decided_by: get(r, "decided_by")?,
        decided_at: get(r, "decided_at")?,
        lifted_at: get(r, "lifted_at")?,
        lifted_by: get(r, "lifted_by")?,
        lift_reason: get(r, "lift_reason")?,
    })
}

impl Store {
    /// Records a decision; a restrictive one issues a new policy version in the same
    /// transaction. Returns the decision id and the new policy version, if any.
    pub async fn record_decision(
        &self,
        new: &NewDecision,
        actor: &Actor,
        ctx: &PolicyContext,
    ) -> Result<(String, Option<u64>), StoreError> {
        let mut w = self.begin_write().await?;
        let r = insert_decision(&mut w, new, &actor.name, actor, ctx).await?;
        w.commit().await?;
        Ok(r)
    }

    /// Lifts a decision; if it restricted anything, issues a new policy version without it.
    pub async fn lift_decision(
        &self,
        id: &str,
        reason: &str,
        actor: &Actor,
        ctx: &PolicyContext,
    ) -> Result<Option<u64>, StoreError> {
        let mut w = self.begin_write().await?;
        let v = lift_in(&mut w, id, reason, actor, ctx).await?;
        w.commit().await?;
        Ok(v)
    }

    /// Reopens a case whose customer deadline passed (unless a later decision was made on
    /// it), due for review now. Returns whether it was reopened.
    pub async fn reopen_after_deadline(
        &self,
        case_id: &str,
        decision_id: &str,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let later: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM decisions WHERE case_id = $1 AND decided_at > \
             (SELECT decided_at FROM decisions WHERE id = $2)",
        )
        .bind(case_id)
        .bind(decision_id)
        .fetch_one(&mut *w.tx)
        .await?;
        if later > 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE cases SET status = 'open', first_reviewed_at = NULL, review_due = $2 WHERE id = $1",
        )
        .bind(case_id)
        .bind(actor.at)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            actor,
            "case.deadline_passed",
            &format!("case:{case_id}"),
            serde_json::json!({ "decision": decision_id }),
        )
        .await?;
        w.commit().await?;
        Ok(true)
    }

    /// One decision.
    pub async fn decision(&self, id: &str) -> Result<DecisionRow, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DECISION_COLUMNS} FROM decisions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        decision_from_row(&row)
    }

    /// A case's decisions, oldest first.
    pub async fn case_decisions(&self, case_id: &str) -> Result<Vec<DecisionRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DECISION_COLUMNS} FROM decisions WHERE case_id = $1 ORDER BY decided_at, id"
        ))
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decision_from_row).collect()
    }

    /// The newest policy version: (version, JSON).
    pub async fn latest_policy(&self) -> Result<Option<(u64, String)>, StoreError> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, document FROM policy_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(v, d)| (v as u64, d)))
    }

    /// One policy version's JSON.
    pub async fn policy_version(&self, version: u64) -> Result<String, StoreError> {
        sqlx::query_scalar("SELECT document FROM policy_versions WHERE version = $1")
            .bind(version as i64)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)
    }
}

/// Lifts a decision inside `w` (see [`Store::lift_decision`]).
pub(super) async fn lift_in(
    w: &mut WriteTx<'_>,
    id: &str,
    reason: &str,
    actor: &Actor,
    ctx: &PolicyContext,
) -> Result<Option<u64>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {DECISION_COLUMNS} FROM decisions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *w.tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    let d = decision_from_row(&row)?;
    if d.lifted_at.is_some() {
        return Err(StoreError::Conflict(format!(
            "decision {id} was already lifted"
        )));
    }
    sqlx::query(
        "UPDATE decisions SET lifted_at = $2, lifted_by = $3, lift_reason = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(actor.at)
    .bind(&actor.name)
    .bind(reason)
    .execute(&mut *w.tx)
    .await?;
    w.audit(
        actor,
        "decision.lifted",
        &format!("case:{}", d.case_id),
        serde_json::json!({ "decision": id, "reason": reason }),
    )
    .await?;
    super::dueprocess::emergency_lifted(w, id, reason, actor).await?;
    let version = if d.scope.is_some() {
        Some(issue_policy(w, actor, ctx, &format!("lift of {id}")).await?)
    } else {
        None
    };
    Ok(version)
}

/// Records a decision inside `w` (see [`Store::record_decision`]); `decided_by` may differ from
/// the actor when a second senior analyst approves a colleague's proposal.
pub(super) async fn insert_decision(
    w: &mut WriteTx<'_>,
    new: &NewDecision,
    decided_by: &str,
    actor: &Actor,
    ctx: &PolicyContext,
) -> Result<(String, Option<u64>), StoreError> {
    if new.scope.is_some() && new.statement.is_none() {
        return Err(StoreError::Conflict(
            "a restrictive decision needs its statement of reasons".into(),
        ));
    }
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM cases WHERE id = $1")
        .bind(&new.case_id)
        .fetch_optional(&mut *w.tx)
        .await?;
    if exists.is_none() {
        return Err(StoreError::NotFound);
    }
    let id = new_id("d_");
    sqlx::query(
        "INSERT INTO decisions (id, case_id, action, ground_kind, ground, facts, category, scope, \
             starts_at, ends_at, deadline, decided_by, decided_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(&new.case_id)
    .bind(&new.action)
    .bind(&new.ground_kind)
    .bind(&new.ground)
    .bind(&new.facts)
    .bind(&new.category)
    .bind(&new.scope)
    .bind(new.starts_at)
    .bind(new.ends_at)
    .bind(new.deadline)
    .bind(decided_by)
    .bind(actor.at)
    .execute(&mut *w.tx)
    .await?;
    sqlx::query(
        "UPDATE cases SET status = 'decided', \
             first_reviewed_at = COALESCE(first_reviewed_at, $2) WHERE id = $1",
    )
    .bind(&new.case_id)
    .bind(actor.at)
    .execute(&mut *w.tx)
    .await?;
    w.audit(
        actor,
        "decision.made",
        &format!("case:{}", new.case_id),
        serde_json::json!({
            "decision": id,
            "decided_by": decided_by,
            "action": new.action,
            "ground_kind": new.ground_kind,
            "ground": new.ground,
            "facts": new.facts,
            "category": new.category,
            "scope": new.scope,
            "starts_at": new.starts_at,
            "ends_at": new.ends_at,
            "deadline": new.deadline,
        }),
    )
    .await?;
    if let Some(deadline) = new.deadline {
        // When the customer's deadline passes, the case comes back for review.
        super::jobs::enqueue_in(
            w,
            "customer_deadline",
            &serde_json::json!({ "decision": id, "case_id": new.case_id }),
            deadline,
        )
        .await?;
    }
    insert_due_process(w, new, &id, actor).await?;
    let version = if new.scope.is_some() {
        Some(issue_policy(w, actor, ctx, &format!("decision {id}")).await?)
    } else {
        None
    };
    Ok((id, version))
}

/// Builds and stores the next policy version from the decisions in force, inside `w`.
pub(super) async fn issue_policy(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    ctx: &PolicyContext,
    cause: &str,
) -> Result<u64, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {DECISION_COLUMNS} FROM decisions WHERE scope IS NOT NULL AND lifted_at IS NULL \
         AND (ends_at IS NULL OR ends_at > $1) ORDER BY id"
    ))
    .bind(actor.at)
    .fetch_all(&mut *w.tx)
    .await?;
    let in_force = rows
        .iter()
        .map(decision_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM policy_versions")
        .fetch_one(&mut *w.tx)
        .await?;
    let version = last.unwrap_or(0) as u64 + 1;
    let policy = build_policy(version, from_millis(actor.at), &in_force, ctx);
    policy
        .validate()
        .map_err(|e| StoreError::Conflict(format!("the resulting policy is invalid: {e}")))?;
    let document = serde_json::to_string(&policy)
        .map_err(|e| StoreError::Corrupt(format!("policy serialisation: {e}")))?;
    sqlx::query("INSERT INTO policy_versions (version, issued_at, document) VALUES ($1, $2, $3)")
        .bind(version as i64)
        .bind(actor.at)
        .bind(&document)
        .execute(&mut *w.tx)
        .await?;
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(document.as_bytes()));
    w.audit(
        actor,
        "policy.issued",
        &format!("policy:{version}"),
        serde_json::json!({ "version": version, "cause": cause, "restrictions": policy.restrictions.len(), "sha256": digest }),
    )
    .await?;
    Ok(version)
}
