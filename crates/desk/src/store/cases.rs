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
    /// Hash of the follow-link token.
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
        let mut w = self.begin_write().await?;
        let outcome = submit_in(&mut w, new, actor).await?;
        if matches!(outcome, SubmitOutcome::Created { .. }) {
            w.commit().await?;
        }
        Ok(outcome)
    }

    /// Stores several reports in one transaction (group commit: one lock and one durable
    /// commit for the batch). When this returns, every `Created` report is committed. If the
    /// batch fails as a whole, nothing of it is committed.
    pub async fn submit_reports(
        &self,
        batch: &[(NewReport, Actor)],
    ) -> Result<Vec<SubmitOutcome>, StoreError> {
        let mut w = self.begin_write().await?;
        let mut out = Vec::with_capacity(batch.len());
        for (new, actor) in batch {
            out.push(submit_in(&mut w, new, actor).await?);
        }
        w.commit().await?;
        Ok(out)
    }
}

async fn submit_in(
    w: &mut super::WriteTx<'_>,
    new: &NewReport,
    actor: &Actor,
) -> Result<SubmitOutcome, StoreError> {
    {
        let existing: Option<(String, String, String)> =
            sqlx::query_as("SELECT id, receipt, content_hash FROM reports WHERE dedup_key = $1")
                .bind(&new.dedup_key)
                .fetch_optional(&mut *w.tx)
                .await?;
        if let Some((report_id, receipt, content_hash)) = existing {
            return Ok(SubmitOutcome::Duplicate {
                report_id,
                receipt,
                same_content: content_hash == new.content_hash,
            });
        }
        let report_id = new_id("r_");
        let now = actor.at;
        let similar: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM reports WHERE similarity_key = $1 AND submitted_at >= $2",
        )
        .bind(&new.similarity_key)
        .bind(new.campaign_since)
        .fetch_one(&mut *w.tx)
        .await?;
        let campaign = similar + 1 >= new.campaign_threshold;
        let host = new
            .urls
            .first()
            .map(|(_, h)| h.clone())
            .ok_or_else(|| StoreError::Conflict("a report needs at least one URL".into()))?;
        let case: Option<(String, String, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, status, priority, review_due, first_reviewed_at FROM cases WHERE host = $1",
        )
        .bind(&host)
        .fetch_optional(&mut *w.tx)
        .await?;
        let case_id = match case {
            None => {
                let id = new_id("c_");
                sqlx::query(
                    "INSERT INTO cases (id, host, status, priority, opened_at, review_due, campaign) \
                     VALUES ($1, $2, 'open', $3, $4, $5, $6)",
                )
                .bind(&id)
                .bind(&host)
                .bind(new.priority)
                .bind(now)
                .bind(new.review_due)
                .bind(i64::from(campaign))
                .execute(&mut *w.tx)
                .await?;
                w.audit(
                    actor,
                    "case.opened",
                    &format!("case:{id}"),
                    serde_json::json!({ "host": host }),
                )
                .await?;
                id
            }
            Some((id, status, priority, review_due, reviewed)) => {
                let open = status == "open";
                let priority = if open {
                    priority.min(new.priority)
                } else {
                    new.priority
                };
                let due = if open && reviewed.is_none() {
                    review_due.min(new.review_due)
                } else {
                    new.review_due
                };
                sqlx::query(
                    "UPDATE cases SET status = 'open', priority = $2, review_due = $3, \
                     first_reviewed_at = NULL, campaign = CASE WHEN $4 = 1 THEN 1 ELSE campaign END \
                     WHERE id = $1",
                )
                .bind(&id)
                .bind(priority)
                .bind(due)
                .bind(i64::from(campaign))
                .execute(&mut *w.tx)
                .await?;
                id
            }
        };
        // Mark the burst once, when it reaches the threshold: later near-identical reports are
        // inserted marked, and earlier ones in the window were marked at the crossing (each
        // report adds exactly one, so the count always passes through the threshold). Doing it
        // for every report of a campaign rewrote the whole burst each time.
        if campaign && similar + 1 == new.campaign_threshold {
            sqlx::query(
                "UPDATE reports SET campaign = 1 WHERE similarity_key = $1 AND submitted_at >= $2",
            )
            .bind(&new.similarity_key)
            .bind(new.campaign_since)
            .execute(&mut *w.tx)
            .await?;
        }
        let notifier_key = crate::triage::notifier_key(new.notifier_email.as_deref(), &report_id);
        sqlx::query(
            "INSERT INTO reports (id, receipt, case_id, category, explanation, notifier_name, \
             notifier_email, notifier_key, good_faith, submitted_at, source_ip, dedup_key, \
             content_hash, follow_hash, priority, signal_priority, similarity_key, campaign) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(&report_id)
        .bind(&new.receipt)
        .bind(&case_id)
        .bind(&new.category)
        .bind(&new.explanation)
        .bind(&new.notifier_name)
        .bind(&new.notifier_email)
        .bind(&notifier_key)
        .bind(i64::from(new.good_faith))
        .bind(now)
        .bind(&new.source_ip)
        .bind(&new.dedup_key)
        .bind(&new.content_hash)
        .bind(&new.follow_hash)
        .bind(new.priority)
        .bind(new.signal_priority)
        .bind(&new.similarity_key)
        .bind(i64::from(campaign))
        .execute(&mut *w.tx)
        .await?;
        for (i, (url, host)) in new.urls.iter().enumerate() {
            sqlx::query(
                "INSERT INTO report_urls (report_id, position, url, host) VALUES ($1, $2, $3, $4)",
            )
            .bind(&report_id)
            .bind(i as i64)
            .bind(url)
            .bind(host)
            .execute(&mut *w.tx)
            .await?;
            if new.fetch_evidence {
                super::jobs::enqueue_in(
                    w,
                    "fetch_evidence",
                    &serde_json::json!({ "report_id": report_id, "url": url }),
                    now,
                )
                .await?;
            }
        }
        if new.page {
            for channel in ["webhook", "email"] {
                super::jobs::enqueue_in(
                    w,
                    "page",
                    &serde_json::json!({ "report_id": report_id, "case_id": case_id, "channel": channel }),
                    now,
                )
                .await?;
            }
        }
        w.audit(
            actor,
            "report.submitted",
            &format!("case:{case_id}"),
            serde_json::json!({
                "report": report_id,
                "receipt": new.receipt,
                "category": new.category,
                "priority": new.priority,
                "signal_priority": new.signal_priority,
                "urls": new.urls.len(),
                "campaign": campaign,
            }),
        )
        .await?;
        Ok(SubmitOutcome::Created {
            report_id,
            receipt: new.receipt.clone(),
            case_id,
            campaign,
        })
    }
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
