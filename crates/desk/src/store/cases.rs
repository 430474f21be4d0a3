//! Reports and the cases they group into.

use sqlx::any::AnyRow;

use super::{get, new_id, Actor, Store, StoreError};

/// A report ready to be stored (validated, prioritised).
#[derive(Debug, Clone)]
pub struct NewReport {
    /// Receipt number shown to the notifier.
    pub receipt: String,
    /// Category (snake_case).
    pub category: String,
    /// The notifier's explanation.
    pub explanation: String,
    /// Notifier's name.
    pub notifier_name: Option<String>,
    /// Notifier's e-mail.
    pub notifier_email: Option<String>,
    /// The good-faith statement was made.
    pub good_faith: bool,
    /// Sender's address.
    pub source_ip: String,
    /// Idempotency key (from the header or the content).
    pub dedup_key: String,
    /// Hash of the content, to tell a replay from a reused key.
    pub content_hash: String,
    /// Hash of the follow-link token (links of the first form), or any unique value that
    /// starts with the submission time (links that carry their receipt: see the intake).
    pub follow_hash: String,
    /// Priority (0..=3) from category and signals.
    pub priority: i64,
    /// What the signals hook said, if anything.
    pub signal_priority: Option<i64>,
    /// When the report's first review is due, in milliseconds.
    pub review_due: i64,
    /// Near-identical-report key.
    pub similarity_key: String,
    /// (URL, host) pairs; the case is the first URL's host.
    pub urls: Vec<(String, String)>,
    /// Campaign detection: this many similar reports within `campaign_since` make a campaign.
    pub campaign_threshold: i64,
    /// Start of the campaign window, in milliseconds.
    pub campaign_since: i64,
    /// Enqueue evidence fetches.
    pub fetch_evidence: bool,
    /// Enqueue paging jobs (P0).
    pub page: bool,
}

/// What happened to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Stored and committed.
    Created {
        /// Report id.
        report_id: String,
        /// Receipt number.
        receipt: String,
        /// The case it joined or opened.
        case_id: String,
        /// Whether it is part of a campaign.
        campaign: bool,
    },
    /// The same submission was already stored.
    Duplicate {
        /// Report id.
        report_id: String,
        /// Receipt number.
        receipt: String,
        /// Whether the content matches (false: an idempotency key reused for other content).
        same_content: bool,
    },
}

/// A case as listed in the queue.
#[derive(Debug, Clone)]
pub struct CaseSummary {
    /// Id.
    pub id: String,
    /// The host the case is about.
    pub host: String,
    /// `open` or `decided`.
    pub status: String,
    /// Priority 0..=3.
    pub priority: i64,
    /// When the first review is due (ms).
    pub review_due: i64,
    /// When first reviewed, if it has been since the last report.
    pub first_reviewed_at: Option<i64>,
    /// Whether a campaign was detected.
    pub campaign: bool,
    /// Reports.
    pub reports: i64,
    /// Distinct notifiers.
    pub notifiers: i64,
    /// Reports in the last hour.
    pub reports_last_hour: i64,
    /// First report (ms).
    pub first_report_at: i64,
    /// Last report (ms).
    pub last_report_at: i64,
}

/// A case.
pub type CaseRow = CaseSummary;

/// A report as stored.
#[derive(Debug, Clone)]
pub struct ReportRow {
    /// Id.
    pub id: String,
    /// Receipt.
    pub receipt: String,
    /// Case.
    pub case_id: String,
    /// Category.
    pub category: String,
    /// Explanation.
    pub explanation: String,
    /// Notifier's name.
    pub notifier_name: Option<String>,
    /// Notifier's e-mail.
    pub notifier_email: Option<String>,
    /// Good faith statement made.
    pub good_faith: bool,
    /// When (ms).
    pub submitted_at: i64,
    /// Priority.
    pub priority: i64,
    /// Part of a campaign.
    pub campaign: bool,
    /// URLs.
    pub urls: Vec<ReportUrlRow>,
}

/// A reported URL.
#[derive(Debug, Clone)]
pub struct ReportUrlRow {
    /// URL.
    pub url: String,
    /// Its host.
    pub host: String,
}

const CASE_COLUMNS: &str = "c.id, c.host, c.status, c.priority, c.review_due, c.first_reviewed_at, c.campaign, \
     (SELECT COUNT(*) FROM reports r WHERE r.case_id = c.id) AS reports, \
     (SELECT COUNT(DISTINCT r.notifier_key) FROM reports r WHERE r.case_id = c.id) AS notifiers, \
     (SELECT COUNT(*) FROM reports r WHERE r.case_id = c.id AND r.submitted_at >= $1) AS reports_last_hour, \
     (SELECT MIN(r.submitted_at) FROM reports r WHERE r.case_id = c.id) AS first_report_at, \
     (SELECT MAX(r.submitted_at) FROM reports r WHERE r.case_id = c.id) AS last_report_at";

fn case_from_row(r: &AnyRow) -> Result<CaseSummary, StoreError> {
    Ok(CaseSummary {
        id: get(r, "id")?,
        host: get(r, "host")?,
        status: get(r, "status")?,
        priority: get(r, "priority")?,
        review_due: get(r, "review_due")?,
        first_reviewed_at: get(r, "first_reviewed_at")?,
        campaign: get::<i64>(r, "campaign")? != 0,
        reports: get(r, "reports")?,
        notifiers: get(r, "notifiers")?,
        reports_last_hour: get(r, "reports_last_hour")?,
        first_report_at: get::<Option<i64>>(r, "first_report_at")?.unwrap_or(0),
        last_report_at: get::<Option<i64>>(r, "last_report_at")?.unwrap_or(0),
    })
}

const REPORT_COLUMNS: &str =
    "id, receipt, case_id, category, explanation, notifier_name, notifier_email, \
     good_faith, submitted_at, priority, campaign";

impl Store {
    /// Stores a report, joining or opening its case, flagging campaigns, enqueuing evidence
    /// fetches and paging, and auditing — in one transaction. When this returns `Created`, the
    /// report is committed.
    pub async fn submit_report(
        &self,
        new: &NewReport,
        actor: &Actor,
    ) -> Result<SubmitOutcome, StoreError> {
        let mut out = self
            .submit_reports(std::slice::from_ref(&(new.clone(), actor.clone())))
            .await?;
        out.pop()
            .ok_or_else(|| StoreError::Conflict("a batch of one gave no outcome".into()))
    }

    /// Stores several reports in one transaction (group commit: one lock and one durable
    /// commit for the batch). When this returns, every `Created` report is committed. If the
    /// batch fails as a whole, nothing of it is committed.
    ///
    /// The outcome is the same as submitting the reports one after the other, but the batch
    /// costs a fixed number of statements whatever its size: the duplicate, campaign and case
    /// lookups are one `IN (…)` query each, the consequences are worked out in memory in
    /// submission order, and the rows go in as multi-row inserts. The one approximation: the
    /// campaign window of each similarity key starts at the earliest window start of the
    /// batch's reports with that key (a few milliseconds wider for the later ones).
    pub async fn submit_reports(
        &self,
        batch: &[(NewReport, Actor)],
    ) -> Result<Vec<SubmitOutcome>, StoreError> {
        self.submit_reports_checkpointed(batch, None).await
    }

    /// [`Store::submit_reports`], with an audit checkpoint in the same transaction when one
    /// is due (the intake's writer).
    pub(crate) async fn submit_reports_checkpointed(
        &self,
        batch: &[(NewReport, Actor)],
        checkpoint: Option<&super::Checkpointing<'_>>,
    ) -> Result<Vec<SubmitOutcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = self.begin_write().await?;
        let out = submit_batch_in(&mut w, batch).await?;
        w.commit_checkpointed(checkpoint).await?;
        Ok(out)
    }
}

/// A JSON array, bound as one parameter (see [`super::Backend::json_rows`]).
fn json_array(rows: Vec<serde_json::Value>) -> String {
    serde_json::Value::Array(rows).to_string()
}

/// Rows as a JSON array, bound as one parameter (see [`super::Backend::json_rows`]).
fn to_json<T: serde::Serialize>(rows: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| StoreError::Corrupt(format!("encoding rows: {e}")))
}

/// A `reports` row as the batch inserts it.
#[derive(serde::Serialize)]
struct ReportOut<'a> {
    id: &'a str,
    receipt: &'a str,
    case_id: &'a str,
    category: &'a str,
    explanation: &'a str,
    notifier_name: Option<&'a str>,
    notifier_email: Option<&'a str>,
    notifier_key: &'a str,
    good_faith: i64,
    submitted_at: i64,
    source_ip: &'a str,
    dedup_key: &'a str,
    content_hash: &'a str,
    follow_hash: &'a str,
    priority: i64,
    signal_priority: Option<i64>,
    similarity_key: &'a str,
    campaign: i64,
}

/// A `report_urls` row.
#[derive(serde::Serialize)]
struct UrlOut<'a> {
    report_id: &'a str,
    position: i64,
    url: &'a str,
    host: &'a str,
}

/// The details of a `report.submitted` audit entry. Fields in alphabetical order: serialised
/// as is, this is the canonical JSON ([`crate::audit::canonical_json`]) the entry's hash
/// covers, without building a map first (a unit test checks that the two agree).
#[derive(serde::Serialize)]
pub(crate) struct SubmittedDetails<'a> {
    pub(crate) campaign: bool,
    pub(crate) category: &'a str,
    pub(crate) priority: i64,
    pub(crate) receipt: &'a str,
    pub(crate) report: &'a str,
    pub(crate) signal_priority: Option<i64>,
    pub(crate) urls: usize,
}

/// A case as the batch leaves it.
struct CaseState {
    id: String,
    host: String,
    status: String,
    priority: i64,
    opened_at: i64,
    review_due: i64,
    reviewed: Option<i64>,
    campaign: bool,
    /// Opened by this batch (inserted), else updated.
    opened: bool,
    changed: bool,
}

/// A new report as the batch stores it.
struct Planned<'a> {
    new: &'a NewReport,
    id: String,
    case_id: String,
    at: i64,
    campaign: bool,
    notifier_key: String,
}

async fn submit_batch_in(
    w: &mut super::WriteTx<'_>,
    batch: &[(NewReport, Actor)],
) -> Result<Vec<SubmitOutcome>, StoreError> {
    use std::collections::HashMap;

    // Duplicates, stored before or earlier in this batch.
    let backend = w.backend;
    let mut known: HashMap<String, (String, String, String)> = HashMap::new();
    {
        let keys: Vec<serde_json::Value> = batch
            .iter()
            .map(|(n, _)| serde_json::Value::from(n.dedup_key.as_str()))
            .collect();
        let sql = match backend {
            super::Backend::Sqlite => format!(
                "SELECT dedup_key, id, receipt, content_hash FROM reports WHERE dedup_key IN ({})",
                backend.json_list(1)
            ),
            // One index probe per key whatever the statistics say: as a join, PostgreSQL's
            // cached plan for this prepared statement hashed a sequential scan of `reports`
            // (≈ 70 µs of server CPU per report at 16,000 rows, growing with the table). A
            // LATERAL subquery with LIMIT is not flattened into a join, so it runs per key.
            super::Backend::Postgres => format!(
                "SELECT k.key, r.id, r.receipt, r.content_hash FROM ({}) AS k(key) \
                 CROSS JOIN LATERAL (SELECT id, receipt, content_hash FROM reports \
                 WHERE dedup_key = k.key LIMIT 1) AS r",
                backend.json_list(1)
            ),
        };
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(&sql)
            .bind(json_array(keys))
            .fetch_all(&mut *w.tx)
            .await?;
        for (k, id, receipt, hash) in rows {
            known.insert(k, (id, receipt, hash));
        }
    }
    let mut outcomes: Vec<Option<SubmitOutcome>> = vec![None; batch.len()];
    let mut fresh: Vec<usize> = Vec::new();
    for (i, (new, _)) in batch.iter().enumerate() {
        if let Some((report_id, receipt, content_hash)) = known.get(&new.dedup_key) {
            outcomes[i] = Some(SubmitOutcome::Duplicate {
                report_id: report_id.clone(),
                receipt: receipt.clone(),
                same_content: *content_hash == new.content_hash,
            });
        } else {
            let id = new_id("r_");
            known.insert(
                new.dedup_key.clone(),
                (id.clone(), new.receipt.clone(), new.content_hash.clone()),
            );
            fresh.push(i);
            outcomes[i] = Some(SubmitOutcome::Created {
                report_id: id,
                receipt: new.receipt.clone(),
                case_id: String::new(),
                campaign: false,
            });
        }
    }
    if fresh.is_empty() {
        return Ok(outcomes.into_iter().flatten().collect());
    }

    // Similar reports already stored, per similarity key.
    let mut since: HashMap<&str, i64> = HashMap::new();
    for &i in &fresh {
        let n = &batch[i].0;
        let e = since.entry(n.similarity_key.as_str()).or_insert(i64::MAX);
        *e = (*e).min(n.campaign_since);
    }
    let mut similar: HashMap<String, i64> = HashMap::new();
    {
        let keys: Vec<serde_json::Value> = since
            .iter()
            .map(|(k, s)| serde_json::json!({ "k": k, "since": s }))
            .collect();
        // Counted up to the threshold only: beyond it a report is part of the campaign
        // whatever the exact number, and during a flood the window holds many thousands.
        let limit = fresh
            .iter()
            .map(|&i| batch[i].0.campaign_threshold)
            .max()
            .unwrap_or(1);
        let sql = format!(
            "SELECT w.k, (SELECT COUNT(*) FROM (SELECT 1 AS one FROM reports r \
             WHERE r.similarity_key = w.k AND r.submitted_at >= w.since LIMIT $2) AS f) AS n \
             FROM ({}) AS w",
            backend.json_rows(1, &[("k", "TEXT"), ("since", "BIGINT")])
        );
        let rows: Vec<(String, i64)> = sqlx::query_as(&sql)
            .bind(json_array(keys))
            .bind(limit.max(1))
            .fetch_all(&mut *w.tx)
            .await?;
        similar.extend(rows.into_iter().filter(|(_, n)| *n > 0));
    }

    // The cases of the batch's hosts.
    let mut cases: HashMap<String, CaseState> = HashMap::new();
    {
        let mut hosts: Vec<&str> = Vec::new();
        for &i in &fresh {
            let host = batch[i]
                .0
                .urls
                .first()
                .map(|(_, h)| h.as_str())
                .ok_or_else(|| StoreError::Conflict("a report needs at least one URL".into()))?;
            hosts.push(host);
        }
        hosts.sort_unstable();
        hosts.dedup();
        let sql = format!(
            "SELECT id, host, status, priority, opened_at, review_due, first_reviewed_at, campaign \
             FROM cases WHERE host IN ({})",
            backend.json_list(1)
        );
        let list: Vec<serde_json::Value> =
            hosts.iter().map(|h| serde_json::Value::from(*h)).collect();
        for r in sqlx::query(&sql)
            .bind(json_array(list))
            .fetch_all(&mut *w.tx)
            .await?
        {
            let c = CaseState {
                id: get(&r, "id")?,
                host: get(&r, "host")?,
                status: get(&r, "status")?,
                priority: get(&r, "priority")?,
                opened_at: get(&r, "opened_at")?,
                review_due: get(&r, "review_due")?,
                reviewed: get(&r, "first_reviewed_at")?,
                campaign: get::<i64>(&r, "campaign")? != 0,
                opened: false,
                changed: false,
            };
            cases.insert(c.host.clone(), c);
        }
    }

    // Work out each report's consequences in submission order, as if stored one by one.
    let mut planned: Vec<Planned<'_>> = Vec::with_capacity(fresh.len());
    let mut in_batch: HashMap<&str, i64> = HashMap::new();
    // Campaigns that crossed their threshold in this batch: (similarity key, window start).
    let mut crossings: Vec<(&str, i64)> = Vec::new();
    let mut case_order: Vec<String> = Vec::new();
    for &i in &fresh {
        let (new, actor) = &batch[i];
        let now = actor.at;
        let key = new.similarity_key.as_str();
        let before =
            similar.get(key).copied().unwrap_or(0) + in_batch.get(key).copied().unwrap_or(0);
        *in_batch.entry(key).or_insert(0) += 1;
        let campaign = before + 1 >= new.campaign_threshold;
        // Mark the burst once, when it reaches the threshold: later near-identical reports are
        // stored marked, earlier ones in the window are marked at the crossing (each report
        // adds exactly one, so the count always passes through the threshold).
        if campaign && before + 1 == new.campaign_threshold {
            crossings.push((key, new.campaign_since));
            for p in planned.iter_mut() {
                if p.new.similarity_key == key && p.at >= new.campaign_since {
                    p.campaign = true;
                }
            }
        }
        let host = new.urls.first().map(|(_, h)| h.clone()).unwrap_or_default();
        let case_id = match cases.get_mut(&host) {
            None => {
                let id = new_id("c_");
                w.audit(
                    actor,
                    "case.opened",
                    &format!("case:{id}"),
                    serde_json::json!({ "host": host }),
                )
                .await?;
                case_order.push(host.clone());
                cases.insert(
                    host.clone(),
                    CaseState {
                        id: id.clone(),
                        host,
                        status: "open".into(),
                        priority: new.priority,
                        opened_at: now,
                        review_due: new.review_due,
                        reviewed: None,
                        campaign,
                        opened: true,
                        changed: true,
                    },
                );
                id
            }
            Some(c) => {
                let open = c.status == "open";
                let priority = if open {
                    c.priority.min(new.priority)
                } else {
                    new.priority
                };
                let review_due = if open && c.reviewed.is_none() {
                    c.review_due.min(new.review_due)
                } else {
                    new.review_due
                };
                // Written back only if this report changes it: most reports join an open,
                // unreviewed case that is already as urgent. (An unchanged row rewritten by
                // every batch bloats PostgreSQL's table and the pages each commit writes.)
                let differs = !open
                    || c.reviewed.is_some()
                    || priority != c.priority
                    || review_due != c.review_due
                    || (campaign && !c.campaign);
                c.priority = priority;
                c.review_due = review_due;
                c.status = "open".into();
                c.reviewed = None;
                c.campaign |= campaign;
                if differs && !c.changed {
                    c.changed = true;
                    case_order.push(c.host.clone());
                }
                c.id.clone()
            }
        };
        let id = match &outcomes[i] {
            Some(SubmitOutcome::Created { report_id, .. }) => report_id.clone(),
            _ => return Err(StoreError::Conflict("batch bookkeeping".into())),
        };
        outcomes[i] = Some(SubmitOutcome::Created {
            report_id: id.clone(),
            receipt: new.receipt.clone(),
            case_id: case_id.clone(),
            campaign,
        });
        let details = serde_json::to_string(&SubmittedDetails {
            campaign,
            category: &new.category,
            priority: new.priority,
            receipt: &new.receipt,
            report: &id,
            signal_priority: new.signal_priority,
            urls: new.urls.len(),
        })
        .map_err(|e| StoreError::Corrupt(format!("encoding audit details: {e}")))?;
        w.audit_canonical(
            actor,
            "report.submitted",
            format!("case:{case_id}"),
            details,
        );
        planned.push(Planned {
            notifier_key: crate::triage::notifier_key(new.notifier_email.as_deref(), &id),
            new,
            id,
            case_id,
            at: now,
            campaign,
        });
    }

    // Writes: earlier reports of crossed campaigns, cases, reports, URLs, jobs.
    for (key, since) in crossings {
        sqlx::query(
            "UPDATE reports SET campaign = 1 WHERE similarity_key = $1 AND submitted_at >= $2",
        )
        .bind(key)
        .bind(since)
        .execute(&mut *w.tx)
        .await?;
    }
    let (opened, updated): (Vec<&CaseState>, Vec<&CaseState>) = case_order
        .iter()
        .filter_map(|h| cases.get(h))
        .partition(|c| c.opened);
    let case_cols = [
        ("id", "TEXT"),
        ("host", "TEXT"),
        ("status", "TEXT"),
        ("priority", "BIGINT"),
        ("opened_at", "BIGINT"),
        ("review_due", "BIGINT"),
        ("campaign", "BIGINT"),
    ];
    let case_rows = |list: &[&CaseState]| {
        json_array(
            list.iter()
                .map(|c| {
                    serde_json::json!({
                        "id": c.id, "host": c.host, "status": c.status, "priority": c.priority,
                        "opened_at": c.opened_at, "review_due": c.review_due,
                        "campaign": i64::from(c.campaign),
                    })
                })
                .collect(),
        )
    };
    if !opened.is_empty() {
        let sql = format!(
            "INSERT INTO cases (id, host, status, priority, opened_at, review_due, campaign) {}",
            backend.json_rows(1, &case_cols)
        );
        sqlx::query(&sql)
            .bind(case_rows(&opened))
            .execute(&mut *w.tx)
            .await?;
    }
    if !updated.is_empty() {
        let sql = format!(
            "UPDATE cases SET status = 'open', first_reviewed_at = NULL, priority = u.priority, \
             review_due = u.review_due, campaign = u.campaign FROM ({}) u WHERE cases.id = u.id",
            backend.json_rows(1, &case_cols)
        );
        sqlx::query(&sql)
            .bind(case_rows(&updated))
            .execute(&mut *w.tx)
            .await?;
    }
    // Rows serialised straight from borrowed fields (no intermediate `serde_json::Value`).
    let report_rows: Vec<ReportOut<'_>> = planned
        .iter()
        .map(|p| {
            let n = p.new;
            ReportOut {
                id: &p.id,
                receipt: &n.receipt,
                case_id: &p.case_id,
                category: &n.category,
                explanation: &n.explanation,
                notifier_name: n.notifier_name.as_deref(),
                notifier_email: n.notifier_email.as_deref(),
                notifier_key: &p.notifier_key,
                good_faith: i64::from(n.good_faith),
                submitted_at: p.at,
                source_ip: &n.source_ip,
                dedup_key: &n.dedup_key,
                content_hash: &n.content_hash,
                follow_hash: &n.follow_hash,
                priority: n.priority,
                signal_priority: n.signal_priority,
                similarity_key: &n.similarity_key,
                campaign: i64::from(p.campaign),
            }
        })
        .collect();
    let sql = format!(
        "INSERT INTO reports (id, receipt, case_id, category, explanation, notifier_name, \
         notifier_email, notifier_key, good_faith, submitted_at, source_ip, dedup_key, \
         content_hash, follow_hash, priority, signal_priority, similarity_key, campaign) {}",
        backend.json_rows(
            1,
            &[
                ("id", "TEXT"),
                ("receipt", "TEXT"),
                ("case_id", "TEXT"),
                ("category", "TEXT"),
                ("explanation", "TEXT"),
                ("notifier_name", "TEXT"),
                ("notifier_email", "TEXT"),
                ("notifier_key", "TEXT"),
                ("good_faith", "BIGINT"),
                ("submitted_at", "BIGINT"),
                ("source_ip", "TEXT"),
                ("dedup_key", "TEXT"),
                ("content_hash", "TEXT"),
                ("follow_hash", "TEXT"),
                ("priority", "BIGINT"),
                ("signal_priority", "BIGINT"),
                ("similarity_key", "TEXT"),
                ("campaign", "BIGINT"),
            ]
        )
    );
    sqlx::query(&sql)
        .bind(to_json(&report_rows)?)
        .execute(&mut *w.tx)
        .await?;
    let url_rows: Vec<UrlOut<'_>> = planned
        .iter()
        .flat_map(|p| {
            p.new
                .urls
                .iter()
                .enumerate()
                .map(move |(i, (u, h))| UrlOut {
                    report_id: &p.id,
                    position: i as i64,
                    url: u,
                    host: h,
                })
        })
        .collect();
    let sql = format!(
        "INSERT INTO report_urls (report_id, position, url, host) {}",
        backend.json_rows(
            1,
            &[
                ("report_id", "TEXT"),
                ("position", "BIGINT"),
                ("url", "TEXT"),
                ("host", "TEXT"),
            ]
        )
    );
    sqlx::query(&sql)
        .bind(to_json(&url_rows)?)
        .execute(&mut *w.tx)
        .await?;
    // Pages first, so that the pager's jobs have the lowest ids of the batch.
    let mut jobs: Vec<(&str, String, i64)> = Vec::new();
    for p in planned.iter().filter(|p| p.new.page) {
        for channel in ["webhook", "email"] {
            jobs.push((
                "page",
                serde_json::json!({ "report_id": p.id, "case_id": p.case_id, "channel": channel })
                    .to_string(),
                p.at,
            ));
        }
    }
    for p in planned.iter().filter(|p| p.new.fetch_evidence) {
        for (url, _) in &p.new.urls {
            jobs.push((
                "fetch_evidence",
                serde_json::json!({ "report_id": p.id, "url": url }).to_string(),
                p.at,
            ));
        }
    }
    super::jobs::enqueue_many_in(w, &jobs).await?;
    Ok(outcomes.into_iter().flatten().collect())
}

impl Store {
    /// Open cases, most urgent first: by priority, then cases awaiting first review by time
    /// left, then reviewed ones.
    pub async fn queue(&self, now: i64, limit: i64) -> Result<Vec<CaseSummary>, StoreError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases c WHERE c.status = 'open' \
             ORDER BY c.priority, CASE WHEN c.first_reviewed_at IS NULL THEN 0 ELSE 1 END, c.review_due \
             LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(now - 3_600_000)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(case_from_row).collect()
    }

    /// One case.
    pub async fn case(&self, id: &str, now: i64) -> Result<CaseSummary, StoreError> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases c WHERE c.id = $2");
        let row = sqlx::query(&sql)
            .bind(now - 3_600_000)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        case_from_row(&row)
    }

    /// The reports of a case, oldest first.
    pub async fn case_reports(&self, case_id: &str) -> Result<Vec<ReportRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE case_id = $1 ORDER BY submitted_at, id"
        ))
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.report_from_row(r).await?);
        }
        Ok(out)
    }

    /// The report a follow link points to.
    pub async fn report_by_follow_hash(&self, follow_hash: &str) -> Result<ReportRow, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE follow_hash = $1"
        ))
        .bind(follow_hash)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        self.report_from_row(&row).await
    }

    /// The report with this receipt number.
    pub async fn report_by_receipt(&self, receipt: &str) -> Result<ReportRow, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE receipt = $1"
        ))
        .bind(receipt)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        self.report_from_row(&row).await
    }

    /// One report.
    pub async fn report(&self, id: &str) -> Result<ReportRow, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        self.report_from_row(&row).await
    }

    async fn report_from_row(&self, r: &AnyRow) -> Result<ReportRow, StoreError> {
        let id: String = get(r, "id")?;
        let urls: Vec<(String, String)> = sqlx::query_as(
            "SELECT url, host FROM report_urls WHERE report_id = $1 ORDER BY position",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await?;
        Ok(ReportRow {
            receipt: get(r, "receipt")?,
            case_id: get(r, "case_id")?,
            category: get(r, "category")?,
            explanation: get(r, "explanation")?,
            notifier_name: get(r, "notifier_name")?,
            notifier_email: get(r, "notifier_email")?,
            good_faith: get::<i64>(r, "good_faith")? != 0,
            submitted_at: get(r, "submitted_at")?,
            priority: get(r, "priority")?,
            campaign: get::<i64>(r, "campaign")? != 0,
            urls: urls
                .into_iter()
                .map(|(url, host)| ReportUrlRow { url, host })
                .collect(),
            id,
        })
    }

    /// Records that an analyst has reviewed the case (first review since its last report).
    /// Returns whether this was the first review.
    pub async fn mark_reviewed(&self, case_id: &str, actor: &Actor) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE cases SET first_reviewed_at = $2 WHERE id = $1 AND first_reviewed_at IS NULL",
        )
        .bind(case_id)
        .bind(actor.at)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE reports SET reviewed_at = $2 WHERE case_id = $1 AND reviewed_at IS NULL",
        )
        .bind(case_id)
        .bind(actor.at)
        .execute(&mut *w.tx)
        .await?;
        w.audit(
            actor,
            "case.reviewed",
            &format!("case:{case_id}"),
            serde_json::json!({}),
        )
        .await?;
        w.commit().await?;
        Ok(true)
    }
}

impl Store {
    /// Raises (never lowers) the priority of the open case holding `report_id` to `priority`
    /// (0 = P0), moving its review deadline earlier to `review_due` if that is sooner, after the
    /// content signals found more in the report's evidence than in its explanation. A raise to
    /// P0 pages the on-call as a P0 report does. Returns whether anything changed.
    pub async fn raise_priority_on_evidence(
        &self,
        report_id: &str,
        priority: i64,
        review_due: i64,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let row: Option<(String, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT c.id, c.priority, c.review_due, c.first_reviewed_at FROM cases c \
             JOIN reports r ON r.case_id = c.id WHERE r.id = $1 AND c.status = 'open'",
        )
        .bind(report_id)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some((case_id, old, due, reviewed)) = row else {
            return Ok(false);
        };
        if priority >= old {
            return Ok(false);
        }
        let due = if reviewed.is_none() {
            due.min(review_due)
        } else {
            review_due
        };
        sqlx::query("UPDATE cases SET priority = $2, review_due = $3 WHERE id = $1")
            .bind(&case_id)
            .bind(priority)
            .bind(due)
            .execute(&mut *w.tx)
            .await?;
        if priority == 0 {
            for channel in ["webhook", "email"] {
                super::jobs::enqueue_in(
                    &mut w,
                    "page",
                    &serde_json::json!({ "report_id": report_id, "case_id": case_id, "channel": channel }),
                    actor.at,
                )
                .await?;
            }
        }
        w.audit(
            actor,
            "case.priority_raised",
            &format!("case:{case_id}"),
            serde_json::json!({ "report": report_id, "from": old, "to": priority, "by": "evidence_signals" }),
        )
        .await?;
        w.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The audit chain hashes the canonical JSON of an entry's details: the struct the intake
    /// serialises must give exactly what `canonical_json` gives for the same details.
    #[test]
    fn submitted_details_are_canonical_json() {
        for (signal, campaign) in [(None, false), (Some(0), true)] {
            let d = SubmittedDetails {
                campaign,
                category: "harassment",
                priority: 2,
                receipt: "R-ABCDE-FGHJK",
                report: "r_0123",
                signal_priority: signal,
                urls: 3,
            };
            let canonical = crate::audit::canonical_json(&serde_json::json!({
                "report": "r_0123", "receipt": "R-ABCDE-FGHJK", "category": "harassment",
                "priority": 2, "signal_priority": signal, "urls": 3, "campaign": campaign,
            }));
            assert_eq!(serde_json::to_string(&d).unwrap(), canonical);
        }
    }
}
