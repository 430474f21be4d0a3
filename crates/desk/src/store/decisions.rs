//! Decisions and policy versions.

use sqlx::any::AnyRow;

use super::dueprocess::{insert_due_process, NewStatement};
use super::{get, new_id, Actor, Backend, Store, StoreError, WriteTx};
use crate::clock::from_millis;
use crate::decision::PolicyContext;
use crate::policy_digest::SetDigest;
use rempart_policy::{PolicyDelta, Restriction, RestrictionId};

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
        match self.latest_policy_version().await? {
            Some(v) => Ok(Some((v, self.policy_version(v).await?))),
            None => Ok(None),
        }
    }

    /// The newest policy version's number, without its document.
    pub async fn latest_policy_version(&self) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM policy_versions")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.map(|v| v as u64))
    }

    /// One policy version's JSON: the stored document of a version issued before migration
    /// 0008, else built from the restriction rows live at that version (the same bytes as
    /// serialising the [`rempart_policy::Policy`]).
    pub async fn policy_version(&self, version: u64) -> Result<String, StoreError> {
        let meta = self.policy_meta(version).await?;
        if let Some(doc) = meta.document {
            return Ok(doc);
        }
        let mut rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, body FROM policy_restrictions \
             WHERE added_in <= $1 AND (removed_in IS NULL OR removed_in > $1)",
        )
        .bind(version as i64)
        .fetch_all(&self.pool)
        .await?;
        // Sorted here, not in SQL: byte order whatever the database's collation.
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(policy_document(
            version,
            from_millis(meta.issued_at),
            rows.iter().map(|(_, b)| b.as_str()),
        ))
    }

    /// What the publisher needs to know of a version before reading it.
    pub async fn policy_meta(&self, version: u64) -> Result<PolicyMeta, StoreError> {
        // issued_at, document, bytes, restrictions
        type Row = (i64, Option<String>, Option<i64>, Option<i64>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT issued_at, document, bytes, restrictions FROM policy_versions WHERE version = $1",
        )
        .bind(version as i64)
        .fetch_optional(&self.pool)
        .await?;
        let (issued_at, document, bytes, restrictions) = row.ok_or(StoreError::NotFound)?;
        Ok(PolicyMeta {
            issued_at,
            restrictions: restrictions.map_or(0, |n| n as u64),
            bytes: bytes
                .map(|b| b as u64)
                .or(document.as_ref().map(|d| d.len() as u64))
                .unwrap_or(0),
            document,
        })
    }

    /// The change from `version - 1` to `version`, from the restriction rows; `None` for a
    /// version stored whole (before migration 0008), whose predecessor has no rows.
    pub async fn policy_delta(&self, version: u64) -> Result<Option<PolicyDelta>, StoreError> {
        let meta = self.policy_meta(version).await?;
        if meta.document.is_some() || version < 2 {
            return Ok(None);
        }
        let added: Vec<(String,)> =
            sqlx::query_as("SELECT body FROM policy_restrictions WHERE added_in = $1")
                .bind(version as i64)
                .fetch_all(&self.pool)
                .await?;
        let ended: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM policy_restrictions WHERE removed_in = $1")
                .bind(version as i64)
                .fetch_all(&self.pool)
                .await?;
        let mut upsert = added
            .iter()
            .map(|(b,)| serde_json::from_str::<Restriction>(b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Corrupt(format!("policy version {version}: {e}")))?;
        upsert.sort_by(|a, b| a.id.cmp(&b.id));
        let replaced: std::collections::HashSet<&str> =
            upsert.iter().map(|r| r.id.0.as_str()).collect();
        let mut remove: Vec<RestrictionId> = ended
            .into_iter()
            .filter(|(id,)| !replaced.contains(id.as_str()))
            .map(|(id,)| RestrictionId(id))
            .collect();
        remove.sort();
        Ok(Some(PolicyDelta {
            schema: rempart_policy::POLICY_SCHEMA,
            base: version - 1,
            version,
            issued_at: from_millis(meta.issued_at),
            upsert,
            remove,
        }))
    }

    /// Each policy version's restrictions digest as its restriction rows give it, from the first
    /// version that has one (issued after migration 0010), for `rempart audit verify` to compare
    /// with the digests in the audit log. One pass over the rows live since then, streamed:
    /// memory per version, not per row.
    pub async fn policy_digests_from_rows(&self) -> Result<Vec<(u64, String)>, StoreError> {
        use futures_util::TryStreamExt;
        let versions: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM policy_versions WHERE restrictions_digest IS NOT NULL \
             ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?;
        let Some(&first) = versions.first() else {
            return Ok(Vec::new());
        };
        let mut digest = SetDigest::empty();
        // Per version: (added, removed).
        let mut changes: std::collections::HashMap<i64, (SetDigest, SetDigest)> =
            std::collections::HashMap::new();
        let mut rows = sqlx::query_as::<_, (i64, Option<i64>, String)>(
            "SELECT added_in, removed_in, body FROM policy_restrictions \
             WHERE removed_in IS NULL OR removed_in > $1",
        )
        .bind(first)
        .fetch(&self.pool);
        while let Some((added_in, removed_in, body)) = rows.try_next().await? {
            if added_in <= first {
                digest.insert(&body);
            } else {
                changes.entry(added_in).or_default().0.insert(&body);
            }
            if let Some(r) = removed_in {
                changes.entry(r).or_default().1.insert(&body);
            }
        }
        drop(rows);
        let mut out = Vec::with_capacity(versions.len());
        for v in versions {
            if v > first {
                if let Some((added, removed)) = changes.get(&v) {
                    digest.insert_all(added);
                    digest.remove_all(removed);
                }
            }
            out.push((v as u64, digest.to_hex()));
        }
        Ok(out)
    }

    /// Restricts many URLs at once and issues one policy version, for benchmarks that need a
    /// large policy in force quickly: one transaction, one audit entry for the batch, the
    /// decisions without statements of reasons (not for production use). The version is
    /// built, stored and audited by the same code as any decision's.
    pub async fn bulk_restrict(
        &self,
        case_id: &str,
        urls: &[String],
        actor: &Actor,
        ctx: &PolicyContext,
    ) -> Result<u64, StoreError> {
        let mut w = self.begin_write().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM cases WHERE id = $1")
            .bind(case_id)
            .fetch_optional(&mut *w.tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let cols = [("id", "TEXT"), ("scope", "TEXT")];
        let insert = format!(
            "INSERT INTO decisions (id, case_id, action, ground_kind, ground, facts, category, \
             scope, starts_at, decided_by, decided_at) \
             SELECT id, $2, 'restrict_url', 'legal', 'Bulk restriction for a benchmark.', \
             'Benchmark.', 'doxxing', scope, $3, $4, $3 FROM ({}) AS rows",
            w.backend.json_rows(1, &cols)
        );
        let ids: Vec<String> = urls.iter().map(|_| super::new_id("d_")).collect();
        for (chunk, chunk_ids) in urls.chunks(10_000).zip(ids.chunks(10_000)) {
            let rows: Vec<serde_json::Value> = chunk
                .iter()
                .zip(chunk_ids)
                .map(|(u, id)| {
                    serde_json::json!({
                        "id": id,
                        "scope": serde_json::json!({"type": "url", "url": u}).to_string(),
                    })
                })
                .collect();
            sqlx::query(&insert)
                .bind(serde_json::Value::Array(rows).to_string())
                .bind(case_id)
                .bind(actor.at)
                .bind(&actor.name)
                .execute(&mut *w.tx)
                .await?;
        }
        w.audit(
            actor,
            "decision.bulk",
            &format!("case:{case_id}"),
            serde_json::json!({ "restrict_url": urls.len() }),
        )
        .await?;
        let v = issue_policy(
            &mut w,
            actor,
            ctx,
            &format!("bulk of {} restrictions", urls.len()),
            &ids.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await?;
        w.commit().await?;
        if self.backend == Backend::Postgres {
            // Statistics for the tables just grown, as autovacuum would gather within a minute:
            // until then PostgreSQL takes `id = …` on them for thousands of rows and reads
            // every live restriction to find one, and the benchmark would measure that.
            sqlx::query("ANALYZE decisions, policy_restrictions")
                .execute(&self.pool)
                .await?;
        }
        Ok(v)
    }
}

/// What the publisher needs to know of a stored policy version.
#[derive(Debug, Clone)]
pub struct PolicyMeta {
    /// When it was issued (ms).
    pub issued_at: i64,
    /// Size of its JSON document.
    pub bytes: u64,
    /// Restrictions it holds (0 when not recorded: versions stored whole).
    pub restrictions: u64,
    /// The whole document, for versions stored whole (before migration 0008).
    pub document: Option<String>,
}

/// A policy document from restrictions already serialised (sorted by id): the same bytes as
/// `serde_json::to_string(&Policy)`, without parsing them again.
pub fn policy_document<'a>(
    version: u64,
    issued_at: chrono::DateTime<chrono::Utc>,
    restrictions: impl Iterator<Item = &'a str>,
) -> String {
    let mut doc = format!(
        "{{\"schema\":{},\"version\":{version},\"issued_at\":{},\"restrictions\":[",
        rempart_policy::POLICY_SCHEMA,
        serde_json::to_string(&issued_at).unwrap_or_default()
    );
    for (i, r) in restrictions.enumerate() {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(r);
    }
    doc.push_str("]}");
    doc
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
        Some(issue_policy(w, actor, ctx, &format!("lift of {id}"), &[id]).await?)
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
        Some(issue_policy(w, actor, ctx, &format!("decision {id}"), &[&id]).await?)
    } else {
        None
    };
    Ok((id, version))
}

/// A decision's contribution to the policy, fingerprinted: every field the restriction is
/// made of, and the context. A live row with the same fingerprint already holds the right
/// restriction, so it is not built again (building one scans its ground for personal data).
fn fingerprint(d: &DecisionRow, ctx: &PolicyContext) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [
        d.id.as_str(),
        d.scope.as_deref().unwrap_or(""),
        &d.ground_kind,
        &d.category,
        &d.ground,
        &d.starts_at.to_string(),
        &d.ends_at.map(|e| e.to_string()).unwrap_or_default(),
        &ctx.public_url,
        &ctx.implemented_by,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The fingerprint of the configuration restrictions are built with (see [`PolicyContext`]):
/// when it changes, every live row is rebuilt.
fn context_fingerprint(ctx: &PolicyContext) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [&ctx.public_url, &ctx.implemented_by] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The live set as of the last version (table `policy_state`): its digest, its size and the
/// bytes of its bodies.
struct LiveSummary {
    digest: SetDigest,
    restrictions: i64,
    body_bytes: i64,
}

/// Live restriction rows by id: (fingerprint of the decision it was built from, body).
type LiveRows = std::collections::HashMap<String, (Option<String>, String)>;

/// The condition for a decision to be in force at `$1`.
const IN_FORCE: &str =
    "scope IS NOT NULL AND lifted_at IS NULL AND (ends_at IS NULL OR ends_at > $1)";

/// Every decision in force at `at` and every live row: what a version is built from when no
/// summary of the live set can be trusted (the first version after migration 0010, or a
/// configuration that changed what restrictions say).
async fn whole_policy(
    w: &mut WriteTx<'_>,
    at: i64,
) -> Result<(Vec<DecisionRow>, LiveRows), StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {DECISION_COLUMNS} FROM decisions WHERE {IN_FORCE}"
    ))
    .bind(at)
    .fetch_all(&mut *w.tx)
    .await?;
    let in_force = rows
        .iter()
        .map(decision_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    drop(rows);
    let live = sqlx::query_as::<_, (String, Option<String>, String)>(
        "SELECT id, source, body FROM policy_restrictions WHERE removed_in IS NULL",
    )
    .fetch_all(&mut *w.tx)
    .await?
    .into_iter()
    .map(|(id, source, body)| (id, (source, body)))
    .collect();
    Ok((in_force, live))
}

/// What can have changed since the last version: the decisions `touched` by this transaction
/// and the live restrictions that expired by `at` (through the index on their end), each with
/// its decision if still in force and its live row if any. Everything else is as it was.
async fn changed_part(
    w: &mut WriteTx<'_>,
    at: i64,
    touched: &[&str],
) -> Result<(Vec<DecisionRow>, LiveRows), StoreError> {
    let expired: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM policy_restrictions \
         WHERE removed_in IS NULL AND ends_at IS NOT NULL AND ends_at <= $1",
    )
    .bind(at)
    .fetch_all(&mut *w.tx)
    .await?;
    let mut ids: Vec<&str> = touched
        .iter()
        .copied()
        .chain(expired.iter().map(String::as_str))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let decisions_sql = format!(
        "SELECT {DECISION_COLUMNS} FROM decisions WHERE {IN_FORCE} AND id IN ({})",
        w.backend.json_list(2)
    );
    let live_sql = format!(
        "SELECT id, source, body FROM policy_restrictions \
         WHERE removed_in IS NULL AND id IN ({})",
        w.backend.json_list(1)
    );
    let mut in_force = Vec::new();
    let mut live = LiveRows::new();
    for chunk in ids.chunks(10_000) {
        let list = serde_json::to_string(chunk).unwrap_or_default();
        for r in sqlx::query(&decisions_sql)
            .bind(at)
            .bind(&list)
            .fetch_all(&mut *w.tx)
            .await?
        {
            in_force.push(decision_from_row(&r)?);
        }
        let rows: Vec<(String, Option<String>, String)> = sqlx::query_as(&live_sql)
            .bind(&list)
            .fetch_all(&mut *w.tx)
            .await?;
        live.extend(
            rows.into_iter()
                .map(|(id, source, body)| (id, (source, body))),
        );
    }
    Ok((in_force, live))
}

/// A restriction the new version holds, among those compared.
struct Wanted<'a> {
    id: &'a str,
    /// Fingerprint of its decision.
    fp: String,
    body: String,
    ends_at: Option<i64>,
    /// Whether the live row already holds it, built from the same decision and context.
    same: bool,
}

/// Builds and stores the next policy version, inside `w`; `touched` are the decisions this
/// transaction created or changed. The version costs its change: only the touched decisions
/// and the restrictions expired since are compared with their live rows, only the rows that
/// changed are written, and the digest the audit log records is updated from the change (see
/// [`crate::policy_digest`]); the document itself is built only when an edge needs a snapshot.
/// The whole policy is read only when the live set has no trusted summary yet (the first
/// version after migration 0010) or the configuration restrictions are built with changed.
pub(super) async fn issue_policy(
    w: &mut WriteTx<'_>,
    actor: &Actor,
    ctx: &PolicyContext,
    cause: &str,
    touched: &[&str],
) -> Result<u64, StoreError> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM policy_versions")
        .fetch_one(&mut *w.tx)
        .await?;
    let version = last.unwrap_or(0) as u64 + 1;
    let issued_at = from_millis(actor.at);
    let context = context_fingerprint(ctx);
    let stored: Option<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT context, digest, restrictions, body_bytes FROM policy_state WHERE id = 1",
    )
    .fetch_optional(&mut *w.tx)
    .await?;
    let summary = match stored {
        Some((c, digest, restrictions, body_bytes)) if c == context => Some(LiveSummary {
            digest: SetDigest::from_hex(&digest)
                .ok_or_else(|| StoreError::Corrupt(format!("policy_state digest {digest}")))?,
            restrictions,
            body_bytes,
        }),
        _ => None,
    };
    let (mut in_force, live) = match summary {
        Some(_) => changed_part(w, actor.at, touched).await?,
        None => whole_policy(w, actor.at).await?,
    };
    // Byte order of ids, whatever the database's collation.
    in_force.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let mut wanted: Vec<Wanted<'_>> = Vec::with_capacity(in_force.len());
    let mut fresh = Vec::new();
    for d in &in_force {
        let fp = fingerprint(d, ctx);
        if let Some((Some(source), body)) = live.get(&d.id) {
            if *source == fp {
                wanted.push(Wanted {
                    id: &d.id,
                    fp,
                    body: body.clone(),
                    ends_at: d.ends_at,
                    same: true,
                });
                continue;
            }
        }
        if let Some(r) = crate::decision::restriction_of(d, ctx) {
            let body = serde_json::to_string(&r)
                .map_err(|e| StoreError::Corrupt(format!("policy serialisation: {e}")))?;
            fresh.push(r);
            wanted.push(Wanted {
                id: &d.id,
                fp,
                body,
                ends_at: d.ends_at,
                same: false,
            });
        }
    }
    // What is new is checked as a policy would be; what is live was checked when it came in.
    rempart_policy::Policy {
        schema: rempart_policy::POLICY_SCHEMA,
        version,
        issued_at,
        restrictions: fresh,
    }
    .validate()
    .map_err(|e| StoreError::Conflict(format!("the resulting policy is invalid: {e}")))?;
    let wanted_ids: std::collections::HashMap<&str, (&str, bool)> = wanted
        .iter()
        .map(|x| (x.id, (x.body.as_str(), x.same)))
        .collect();
    // Ended: no longer wanted, or wanted with another body.
    let ended: Vec<&str> = live
        .iter()
        .filter(|(id, (_, body))| match wanted_ids.get(id.as_str()) {
            Some((b, same)) => !*same && *b != body.as_str(),
            None => true,
        })
        .map(|(id, _)| id.as_str())
        .collect();
    let end_sql = format!(
        "UPDATE policy_restrictions SET removed_in = $1 WHERE removed_in IS NULL AND id IN ({})",
        w.backend.json_list(2)
    );
    for chunk in ended.chunks(10_000) {
        sqlx::query(&end_sql)
            .bind(version as i64)
            .bind(serde_json::to_string(chunk).unwrap_or_default())
            .execute(&mut *w.tx)
            .await?;
    }
    // Same body, new fingerprint (a row from before fingerprints, or a context that changed
    // nothing visible): the row stays live, its fingerprint is brought up to date.
    let refresh: Vec<serde_json::Value> = wanted
        .iter()
        .filter(|x| {
            !x.same
                && live
                    .get(x.id)
                    .is_some_and(|(s, b)| *b == x.body && s.as_deref() != Some(x.fp.as_str()))
        })
        .map(|x| serde_json::json!({ "id": x.id, "source": x.fp }))
        .collect();
    let refresh_sql = format!(
        "UPDATE policy_restrictions SET source = r.source FROM ({}) AS r \
         WHERE policy_restrictions.id = r.id AND policy_restrictions.removed_in IS NULL",
        w.backend
            .json_rows(1, &[("id", "TEXT"), ("source", "TEXT")])
    );
    for chunk in refresh.chunks(10_000) {
        sqlx::query(&refresh_sql)
            .bind(serde_json::Value::Array(chunk.to_vec()).to_string())
            .execute(&mut *w.tx)
            .await?;
    }
    let added: Vec<&Wanted<'_>> = wanted
        .iter()
        .filter(|x| !x.same && live.get(x.id).is_none_or(|(_, b)| *b != x.body))
        .collect();
    let add_sql = format!(
        "INSERT INTO policy_restrictions (id, added_in, source, body, ends_at) \
         SELECT id, $1, source, body, ends_at FROM ({}) AS rows",
        w.backend.json_rows(
            2,
            &[
                ("id", "TEXT"),
                ("source", "TEXT"),
                ("body", "TEXT"),
                ("ends_at", "BIGINT")
            ]
        )
    );
    for chunk in added.chunks(10_000) {
        let rows: Vec<serde_json::Value> = chunk
            .iter()
            .map(|x| {
                serde_json::json!({ "id": x.id, "source": x.fp, "body": x.body, "ends_at": x.ends_at })
            })
            .collect();
        sqlx::query(&add_sql)
            .bind(version as i64)
            .bind(serde_json::Value::Array(rows).to_string())
            .execute(&mut *w.tx)
            .await?;
    }
    // The live set after this version: from the change when the summary holds, else from
    // everything just compared (then the whole policy).
    let after = match summary {
        Some(mut s) => {
            for id in &ended {
                if let Some((_, body)) = live.get(*id) {
                    s.digest.remove(body);
                    s.restrictions -= 1;
                    s.body_bytes -= body.len() as i64;
                }
            }
            for x in &added {
                s.digest.insert(&x.body);
                s.restrictions += 1;
                s.body_bytes += x.body.len() as i64;
            }
            s
        }
        None => LiveSummary {
            digest: SetDigest::of(wanted.iter().map(|x| x.body.as_str())),
            restrictions: wanted.len() as i64,
            body_bytes: wanted.iter().map(|x| x.body.len() as i64).sum(),
        },
    };
    // The document's size without building it: its frame, the bodies, a comma between each two.
    let bytes = policy_document(version, issued_at, std::iter::empty()).len() as i64
        + after.body_bytes
        + (after.restrictions - 1).max(0);
    let digest = after.digest.to_hex();
    sqlx::query(
        "INSERT INTO policy_versions (version, issued_at, restrictions, bytes, restrictions_digest) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(version as i64)
    .bind(actor.at)
    .bind(after.restrictions)
    .bind(bytes)
    .bind(&digest)
    .execute(&mut *w.tx)
    .await?;
    sqlx::query(
        "INSERT INTO policy_state (id, context, digest, restrictions, body_bytes) \
         VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET context = excluded.context, \
         digest = excluded.digest, restrictions = excluded.restrictions, \
         body_bytes = excluded.body_bytes",
    )
    .bind(&context)
    .bind(&digest)
    .bind(after.restrictions)
    .bind(after.body_bytes)
    .execute(&mut *w.tx)
    .await?;
    w.audit(
        actor,
        "policy.issued",
        &format!("policy:{version}"),
        serde_json::json!({
            "version": version,
            "cause": cause,
            "restrictions": after.restrictions,
            "restrictions_digest": digest,
        }),
    )
    .await?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_from_stored_restrictions_is_the_serialised_policy() {
        let mut p = rempart_policy::Policy::empty();
        p.version = 7;
        p.issued_at = from_millis(1_764_000_000_123);
        for i in 0..3 {
            p.restrictions.push(Restriction {
                id: RestrictionId(format!("d_{i}")),
                scope: rempart_policy::Scope::Url {
                    url: format!("https://site.test/{i}"),
                },
                kind: rempart_policy::RestrictionKind::Legal,
                category: rempart_policy::Category::Doxxing,
                notice_url: format!("https://desk.test/notices/d_{i}"),
                ground: "Ground \"quoted\".".into(),
                implemented_by: "P".into(),
                starts_at: from_millis(1_764_000_000_000),
                ends_at: (i == 1).then(|| from_millis(1_765_000_000_000)),
            });
        }
        let bodies: Vec<String> = p
            .restrictions
            .iter()
            .map(|r| serde_json::to_string(r).expect("json"))
            .collect();
        let doc = policy_document(7, p.issued_at, bodies.iter().map(String::as_str));
        assert_eq!(doc, serde_json::to_string(&p).expect("json"));
        let empty = rempart_policy::Policy {
            restrictions: vec![],
            ..p
        };
        assert_eq!(
            policy_document(7, empty.issued_at, std::iter::empty()),
            serde_json::to_string(&empty).expect("json")
        );
    }
}
