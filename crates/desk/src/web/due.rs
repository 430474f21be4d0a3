//! Due process on the analysts' side: the statement of reasons on the decision form,
//! emergency measures (countdown, confirmation by a second reviewer or an authority's order),
//! four-eyes approvals, appeals, the DSA Transparency Database export, and the jobs that lapse
//! emergency measures and e-mail statements.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use maud::{html, Markup};
use serde::Deserialize;

use super::auth::{authenticate, CurrentUser};
use super::intake::scope_text;
use super::pages::{layout, time_left, when, PageError};
use super::AppState;
use crate::decision::Action;
use crate::dueprocess as dp;
use crate::error::DeskError;
use crate::store::{DecisionRow, Job, NewAuthorityOrder, NewStatement, Role, StoreError};

/// The statement-of-reasons part of the decision form.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReasonsForm {
    /// Why the content is illegal, or incompatible with the terms of service.
    #[serde(default)]
    explanation: String,
    /// `EEA` or EEA country codes.
    #[serde(default)]
    territorial_scope: String,
    /// `yes` or `no`.
    #[serde(default)]
    automated_detection: String,
    /// `not_automated`, `partially` or `fully`.
    #[serde(default)]
    automated_decision: String,
    /// Present if the provider acted on its own initiative, not on a notice.
    #[serde(default)]
    own_initiative: Option<String>,
    /// Present for an emergency measure (imminent threat to life).
    #[serde(default)]
    emergency: Option<String>,
}

fn checked(v: &Option<String>) -> bool {
    v.as_deref()
        .is_some_and(|v| !matches!(v.trim(), "" | "0" | "off" | "false" | "no"))
}

impl ReasonsForm {
    pub(crate) fn is_emergency(&self) -> bool {
        checked(&self.emergency)
    }
}

fn conflict(e: StoreError) -> DeskError {
    match e {
        StoreError::Conflict(m) => DeskError::Invalid(vec![m]),
        other => DeskError::Store(other),
    }
}

/// The statement of reasons of a restrictive decision from the form; every missing part is a
/// problem (the decision is refused without them).
pub(crate) async fn statement_from(
    state: &AppState,
    case_id: &str,
    f: &ReasonsForm,
    problems: &mut Vec<String>,
) -> Result<Option<NewStatement>, DeskError> {
    let explanation = f.explanation.trim();
    if explanation.is_empty() || explanation.chars().count() > 2000 {
        problems.push(
            "the statement of reasons must explain why the content is illegal or incompatible with the terms of service (at most 2000 characters)"
                .into(),
        );
    }
    let territorial_scope = match dp::parse_territorial_scope(&f.territorial_scope) {
        Ok(s) => s,
        Err(e) => {
            problems.push(e);
            Vec::new()
        }
    };
    let automated_detection = match f.automated_detection.trim() {
        "yes" | "Yes" => Some(true),
        "no" | "No" => Some(false),
        _ => {
            problems.push("say whether automated means detected the content (yes or no)".into());
            None
        }
    };
    let automated_decision = match f.automated_decision.trim() {
        "not_automated" | "AUTOMATED_DECISION_NOT_AUTOMATED" => {
            Some("AUTOMATED_DECISION_NOT_AUTOMATED")
        }
        "partially" | "AUTOMATED_DECISION_PARTIALLY" => Some("AUTOMATED_DECISION_PARTIALLY"),
        "fully" | "AUTOMATED_DECISION_FULLY" => Some("AUTOMATED_DECISION_FULLY"),
        _ => {
            problems.push(
                "say whether the decision was automated (not_automated, partially or fully)".into(),
            );
            None
        }
    };
    let source_type = if checked(&f.own_initiative) {
        "SOURCE_VOLUNTARY"
    } else if state
        .store
        .case_notifier_identities(case_id)
        .await?
        .is_empty()
    {
        // Anonymous notices (allowed for child sexual abuse material) are not Art. 16 notices
        // with the notifier's identity.
        "SOURCE_TYPE_OTHER_NOTIFICATION"
    } else {
        "SOURCE_ARTICLE_16"
    };
    let (Some(automated_detection), Some(automated_decision)) =
        (automated_detection, automated_decision)
    else {
        return Ok(None);
    };
    Ok(Some(NewStatement {
        territorial_scope,
        explanation: explanation.to_string(),
        source_type: source_type.into(),
        automated_detection,
        automated_decision: automated_decision.into(),
        redress: state.config.due_process.redress.clone(),
    }))
}

/// An emergency measure is for an imminent threat to life, on the narrowest scope.
pub(crate) fn check_emergency(action: Option<Action>, category: &str, problems: &mut Vec<String>) {
    if !matches!(
        action,
        Some(Action::RestrictUrl | Action::RestrictPathPrefix)
    ) {
        problems.push(
            "an emergency measure restricts the narrowest scope: the exact URL or a path prefix"
                .into(),
        );
    }
    if category != "threat_to_life" {
        problems.push("an emergency measure is only for an imminent threat to life".into());
    }
}

/// The statement-of-reasons and emergency fields of the decision form.
pub(crate) fn decide_fields(state: &AppState) -> Markup {
    let expiry = state.config.due_process.emergency_expiry;
    let expiry_text = if expiry.num_seconds() % 3600 == 0 {
        format!("{} h", expiry.num_hours())
    } else {
        format!("{} s", expiry.num_seconds())
    };
    html! {
        fieldset id="statement" {
            legend { "Statement of reasons (sent to the customer; required for a restriction)" }
            label for="explanation" { "Why the content is illegal (legal ground) or incompatible with the terms of service" }
            textarea id="explanation" name="explanation" rows="3" maxlength="2000" {}
            label for="territorial_scope" { "Territorial scope (EEA, or country codes such as FR, BE)" }
            input type="text" id="territorial_scope" name="territorial_scope" value="EEA";
            label for="automated_detection" { "Was the content detected by automated means?" }
            select id="automated_detection" name="automated_detection" {
                option value="no" selected { "No" }
                option value="yes" { "Yes" }
            }
            label for="automated_decision" { "Was the decision automated?" }
            select id="automated_decision" name="automated_decision" {
                option value="not_automated" selected { "No, taken by a person" }
                option value="partially" { "Partially" }
                option value="fully" { "Fully" }
            }
            label { input type="checkbox" name="own_initiative" value="1"; " Own initiative (not following a notice)" }
        }
        fieldset id="emergency-fields" {
            legend { "Emergency measure" }
            label {
                input type="checkbox" id="emergency" name="emergency" value="1";
                " Imminent threat to life: apply now, alone (exact URL or path prefix only). It lapses after "
                (expiry_text) " unless a second reviewer confirms it or an authority's order is recorded."
            }
        }
    }
}

/// What the case page shows under each decision: its statement, its emergency countdown and
/// outcome (with the confirmation and order forms), orders, customer answers and appeals.
pub(crate) async fn decision_extras(
    state: &AppState,
    u: &CurrentUser,
    decisions: &[DecisionRow],
    now: i64,
) -> Result<Vec<Markup>, DeskError> {
    let mut out = Vec::with_capacity(decisions.len());
    for d in decisions {
        let statement = state.store.statement(&d.id).await?;
        let emergency = state.store.emergency(&d.id).await?;
        let orders = state.store.authority_orders(&d.id).await?;
        let responses = state.store.customer_responses(&d.id).await?;
        let attachments = state.store.decision_attachments(&d.id).await?;
        let appeals = state.store.decision_appeals(&d.id).await?;
        let me = u.actor_name();
        out.push(html! {
            @if let Some(e) = &emergency {
                div.emergency id={ "emergency-" (d.id) } {
                    strong { "Emergency measure" } " · "
                    @if e.outcome == "pending" {
                        @let (left, overdue) = time_left(e.expires_at, now);
                        span.countdown.overdue[overdue] id={ "countdown-" (d.id) } data-expires=(e.expires_at) {
                            "lapses " (when(e.expires_at)) " (" (left) ") unless confirmed"
                        }
                        @if d.decided_by != me && now < e.expires_at {
                            form method="post" action={ "/decisions/" (d.id) "/confirm" } {
                                input type="hidden" name="csrf" value=(u.csrf);
                                button type="submit" { "Confirm as second reviewer" }
                            }
                        }
                    } @else {
                        span id={ "outcome-" (d.id) } { (e.outcome) }
                        @if let (Some(at), Some(by)) = (e.outcome_at, &e.outcome_by) { " " (when(at)) " by " (by) }
                    }
                }
            }
            @if let Some(s) = &statement {
                details {
                    summary { "Statement of reasons" @if let Some(at) = s.sent_at { " · sent " (when(at)) } }
                    p { "Why: " (s.explanation) }
                    p { "Territorial scope: " (s.territorial_scope) " · source: " (s.source_type)
                        " · automated detection: " (if s.automated_detection { "yes" } else { "no" })
                        " · " (s.automated_decision) }
                    p { a href={ "/api/v1/statements/" (d.id) } { "DSA Transparency Database JSON" } }
                }
            }
            @for o in &orders {
                p.order { "Order of " (o.authority) ", ref. " (o.reference) " of " (o.order_date) " · scope: " (o.scope)
                    @if let Some(end) = o.ends_at { " · until " (when(end)) } }
            }
            @if d.scope.is_some() && d.lifted_at.is_none() {
                details {
                    summary { "Record an order from an authority" }
                    form method="post" action={ "/decisions/" (d.id) "/orders" } {
                        input type="hidden" name="csrf" value=(u.csrf);
                        label for={ "authority-" (d.id) } { "Authority" }
                        input type="text" id={ "authority-" (d.id) } name="authority" required maxlength="300";
                        label for={ "reference-" (d.id) } { "Reference" }
                        input type="text" id={ "reference-" (d.id) } name="reference" required maxlength="200";
                        label for={ "oscope-" (d.id) } { "Scope of the order" }
                        input type="text" id={ "oscope-" (d.id) } name="scope" required maxlength="500";
                        label for={ "odate-" (d.id) } { "Date of the order (YYYY-MM-DD)" }
                        input type="text" id={ "odate-" (d.id) } name="order_date" required;
                        label for={ "oreceived-" (d.id) } { "Received (YYYY-MM-DDTHH:MM UTC; empty: now)" }
                        input type="text" id={ "oreceived-" (d.id) } name="received";
                        label for={ "ountil-" (d.id) } { "Applies until (YYYY-MM-DD, empty if not limited)" }
                        input type="text" id={ "ountil-" (d.id) } name="until";
                        button type="submit" { "Record the order" }
                    }
                }
            }
            @for r in &responses {
                p.response { "Customer (" (r.responder) ", " (when(r.at)) "): " (r.kind.replace('_', " ")) " — " (r.explanation) }
                // Downloads only (never shown inline); each download is audited.
                ul.attachments { @for a in attachments.iter().filter(|a| a.response_id == r.id) {
                    li { a href={ "/attachments/" (a.id) } download { (a.filename) } " (" (a.content_type) ", " (a.size) " bytes, SHA-256 " code { (a.sha256) } ")" }
                } }
            }
            @for a in &appeals {
                div.appeal id={ "appeal-" (a.id) } {
                    "Appeal by the " (a.party) " " (when(a.filed_at)) ": " (a.grounds)
                    @if let Some(o) = &a.outcome {
                        " · " strong { (o) } @if let Some(by) = &a.decided_by { " by " (by) }
                        @if let Some(r) = &a.reasons { ": " (r) }
                    } @else if u.user.role >= Role::SeniorAnalyst && d.decided_by != me {
                        (appeal_form(u, &a.id))
                    } @else {
                        " · pending (decided by a senior analyst who did not take the decision)"
                    }
                }
            }
        });
    }
    Ok(out)
}

fn appeal_form(u: &CurrentUser, appeal_id: &str) -> Markup {
    html! {
        form method="post" action={ "/appeals/" (appeal_id) "/decide" } {
            input type="hidden" name="csrf" value=(u.csrf);
            label for={ "areasons-" (appeal_id) } { "Reasons for the outcome" }
            textarea id={ "areasons-" (appeal_id) } name="reasons" rows="2" required maxlength="2000" {}
            button type="submit" name="outcome" value="upheld" { "Uphold the decision" }
            " "
            button type="submit" name="outcome" value="reversed" { "Reverse the decision" }
        }
    }
}

/// A form carrying only the CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /decisions/{id}/confirm`: a second reviewer confirms an emergency measure.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    u.check_csrf(f.csrf.as_deref())?;
    let d = state.store.decision(&id).await?;
    let v = state
        .store
        .confirm_emergency(&id, &state.actor(u.actor_name()), &state.policy_ctx())
        .await
        .map_err(conflict)?;
    state.published(v);
    state.checkpoint().await;
    Ok(Redirect::to(&format!("/cases/{}", d.case_id)).into_response())
}

/// The authority-order form.
#[derive(Debug, Deserialize)]
pub(crate) struct OrderForm {
    #[serde(default)]
    csrf: Option<String>,
    authority: String,
    reference: String,
    scope: String,
    order_date: String,
    #[serde(default)]
    until: String,
    /// When the order was received (empty: now), as opposed to when it is recorded.
    #[serde(default)]
    received: String,
}

fn parse_date(s: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// `POST /decisions/{id}/orders`: records an authority's order (confirms an emergency measure).
pub(crate) async fn record_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<OrderForm>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    u.check_csrf(f.csrf.as_deref())?;
    let mut problems = Vec::new();
    for (name, v, max) in [
        ("authority", &f.authority, 300),
        ("reference", &f.reference, 200),
        ("scope", &f.scope, 500),
    ] {
        if v.trim().is_empty() || v.chars().count() > max {
            problems.push(format!(
                "the order's {name} must be given (at most {max} characters)"
            ));
        }
    }
    let date = parse_date(&f.order_date);
    if date.is_none() {
        problems.push("the order's date must be YYYY-MM-DD".into());
    }
    let ends_at = if f.until.trim().is_empty() {
        None
    } else {
        match parse_date(&f.until).and_then(|d| d.succ_opt()) {
            // Until the end of that day, UTC.
            Some(next) => Some(
                next.and_time(chrono::NaiveTime::MIN)
                    .and_utc()
                    .timestamp_millis(),
            ),
            None => {
                problems.push("the order's end must be YYYY-MM-DD".into());
                None
            }
        }
    };
    let now = state.now_ms();
    let received_at = super::referral::parse_received(&f.received, now).unwrap_or_else(|e| {
        problems.push(e);
        now
    });
    if !problems.is_empty() {
        return Err(DeskError::Invalid(problems).into());
    }
    let d = state.store.decision(&id).await?;
    let order = NewAuthorityOrder {
        received_at,
        authority: f.authority.trim().into(),
        reference: f.reference.trim().into(),
        scope: f.scope.trim().into(),
        order_date: date.map(|d| d.to_string()).unwrap_or_default(),
        ends_at,
    };
    let v = state
        .store
        .record_authority_order(
            &id,
            &order,
            &state.actor(u.actor_name()),
            &state.policy_ctx(),
        )
        .await
        .map_err(conflict)?;
    if let Some(v) = v {
        state.published(v);
    }
    state.checkpoint().await;
    Ok(Redirect::to(&format!("/cases/{}", d.case_id)).into_response())
}

/// `GET /due`: emergency measures with their countdown, proposals awaiting a second senior
/// analyst, appeals awaiting a decision.
pub(crate) async fn due_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    let now = state.now_ms();
    let mut emergencies = Vec::new();
    for e in state.store.pending_emergencies().await? {
        let d = state.store.decision(&e.decision_id).await?;
        emergencies.push((e, d));
    }
    let approvals = state.store.pending_approvals().await?;
    let appeals = state.store.pending_appeals().await?;
    let me = u.actor_name();
    let senior = u.user.role >= Role::SeniorAnalyst;
    Ok(layout(
        "en",
        "Due process — Rempart desk",
        Some((u.user.username.as_str(), u.csrf.as_str(), u.user.role >= Role::Admin)),
        html! {
            h1 { "Due process" }
            h2 { "Emergency measures awaiting confirmation" }
            @if emergencies.is_empty() { p { "None." } }
            table id="emergencies" {
                tbody { @for (e, d) in &emergencies {
                    @let (left, overdue) = time_left(e.expires_at, now);
                    tr {
                        td { a href={ "/cases/" (d.case_id) } { code { (d.scope.as_deref().map(scope_text).unwrap_or_default()) } } }
                        td { "by " (d.decided_by) }
                        td.overdue[overdue] id={ "countdown-" (d.id) } { "lapses " (when(e.expires_at)) " (" (left) ")" }
                    }
                } }
            }
            h2 { "Measures awaiting a second senior analyst (four-eyes)" }
            @if approvals.is_empty() { p { "None." } }
            table id="approvals" {
                tbody { @for a in &approvals {
                    tr id={ "approval-" (a.id) } {
                        td { a href={ "/cases/" (a.case_id) } { (crate::decision::action_label(&a.proposal.action)) } }
                        td { code { (a.proposal.scope.as_deref().map(scope_text).unwrap_or_default()) } }
                        td { (a.proposal.ground) }
                        td { "proposed by " (a.requested_by) " " (when(a.requested_at)) }
                        td {
                            @if senior && a.requested_by != me {
                                form method="post" action={ "/approvals/" (a.id) "/approve" } style="display:inline" {
                                    input type="hidden" name="csrf" value=(u.csrf);
                                    button type="submit" { "Approve" }
                                }
                                form method="post" action={ "/approvals/" (a.id) "/reject" } style="display:inline" {
                                    input type="hidden" name="csrf" value=(u.csrf);
                                    input type="text" name="note" placeholder="why not" required;
                                    button type="submit" { "Reject" }
                                }
                            } @else { "awaiting another senior analyst" }
                        }
                    }
                } }
            }
            h2 { "Appeals" }
            @if appeals.is_empty() { p { "None." } }
            ul id="appeals" { @for a in &appeals {
                li { "Appeal by the " (a.party) " against " a href={ "/notices/" (a.decision_id) } { (a.decision_id) } " · " (when(a.filed_at)) ": " (a.grounds)
                    @if senior { (appeal_form(&u, &a.id)) } }
            } }
        },
    )
    .into_response())
}

/// `POST /approvals/{id}/approve`: a second senior analyst approves.
pub(crate) async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::SeniorAnalyst).await?;
    u.check_csrf(f.csrf.as_deref())?;
    let a = state.store.approval(&id).await?;
    let (_, v) = state
        .store
        .approve_decision(&id, &state.actor(u.actor_name()), &state.policy_ctx())
        .await
        .map_err(conflict)?;
    if let Some(v) = v {
        state.published(v);
    }
    state.jobs.notify_one();
    state.checkpoint().await;
    Ok(Redirect::to(&format!("/cases/{}", a.case_id)).into_response())
}

/// The rejection form.
#[derive(Debug, Deserialize)]
pub(crate) struct RejectForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    note: String,
}

/// `POST /approvals/{id}/reject`.
pub(crate) async fn reject(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<RejectForm>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::SeniorAnalyst).await?;
    u.check_csrf(f.csrf.as_deref())?;
    if f.note.trim().is_empty() {
        return Err(DeskError::Invalid(vec!["say why the proposal is rejected".into()]).into());
    }
    state
        .store
        .reject_decision(&id, f.note.trim(), &state.actor(u.actor_name()))
        .await
        .map_err(conflict)?;
    state.checkpoint().await;
    Ok(Redirect::to("/due").into_response())
}

/// The appeal-decision form.
#[derive(Debug, Deserialize)]
pub(crate) struct AppealDecisionForm {
    #[serde(default)]
    csrf: Option<String>,
    outcome: String,
    #[serde(default)]
    reasons: String,
}

/// `POST /appeals/{id}/decide`: a senior analyst who did not take the decision upholds or
/// reverses it, with reasons; a reversal lifts the restriction.
pub(crate) async fn decide_appeal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<AppealDecisionForm>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::SeniorAnalyst).await?;
    u.check_csrf(f.csrf.as_deref())?;
    let reverse = match f.outcome.as_str() {
        "reversed" => true,
        "upheld" => false,
        _ => {
            return Err(DeskError::Invalid(vec!["the outcome is upheld or reversed".into()]).into())
        }
    };
    let reasons = f.reasons.trim();
    if reasons.is_empty() || reasons.chars().count() > 2000 {
        return Err(DeskError::Invalid(vec![
            "give the reasons for the outcome (at most 2000 characters)".into(),
        ])
        .into());
    }
    let a = state.store.appeal(&id).await?;
    let d = state.store.decision(&a.decision_id).await?;
    let v = state
        .store
        .decide_appeal(
            &id,
            reverse,
            reasons,
            &state.actor(u.actor_name()),
            &state.policy_ctx(),
        )
        .await
        .map_err(conflict)?;
    if let Some(v) = v {
        state.published(v);
    }
    state.checkpoint().await;
    Ok(Redirect::to(&format!("/cases/{}", d.case_id)).into_response())
}

async fn dsa_json(
    state: &AppState,
    d: &DecisionRow,
) -> Result<Option<serde_json::Value>, DeskError> {
    let Some(s) = state.store.statement(&d.id).await? else {
        return Ok(None);
    };
    let first = state
        .store
        .case_first_report_at(&d.case_id)
        .await
        .unwrap_or(d.decided_at);
    let notifiers = state.store.case_notifier_identities(&d.case_id).await?;
    Ok(Some(dp::dsa_statement(d, &s, first, &notifiers)))
}

/// `GET /api/v1/statements/{id}`: one statement of reasons in the DSA Transparency Database's
/// format.
pub(crate) async fn api_statement(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, DeskError> {
    authenticate(&state, &headers, Role::Analyst).await?;
    let d = state.store.decision(&id).await?;
    let v = dsa_json(&state, &d).await?.ok_or(DeskError::NotFound)?;
    Ok(Json(v).into_response())
}

/// `GET /api/v1/statements`: every statement of reasons, as the body of the Transparency
/// Database's batch endpoint (`{"statements": [...]}`).
pub(crate) async fn api_statements(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, DeskError> {
    authenticate(&state, &headers, Role::Analyst).await?;
    let mut out = Vec::new();
    for d in state.store.decisions_with_statements().await? {
        if let Some(v) = dsa_json(&state, &d).await? {
            out.push(v);
        }
    }
    Ok(Json(serde_json::json!({ "statements": out })).into_response())
}

fn field<'a>(job: &'a Job, name: &str) -> Result<&'a str, String> {
    job.payload[name]
        .as_str()
        .ok_or_else(|| format!("job payload lacks '{name}'"))
}

/// Job `emergency_expiry`: lapses an unconfirmed emergency measure and publishes the policy
/// without it (edges already stopped enforcing it at its `ends_at`).
pub(crate) async fn emergency_expiry_job(state: &AppState, job: &Job) -> Result<(), String> {
    let id = field(job, "decision")?;
    let v = state
        .store
        .lapse_emergency(id, &state.actor("system:emergency"), &state.policy_ctx())
        .await
        .map_err(|e| e.to_string())?;
    if let Some(v) = v {
        state.published(v);
    }
    Ok(())
}

/// The statement of reasons as the customer reads it (e-mail, portal): no notifier identity.
pub(crate) fn statement_text(
    state: &AppState,
    d: &DecisionRow,
    s: &crate::store::StatementRow,
    notifiers: &[String],
) -> String {
    let scope = d.scope.as_deref().map(scope_text).unwrap_or_default();
    let territories: Vec<String> = serde_json::from_str(&s.territorial_scope).unwrap_or_default();
    let ground = if d.ground_kind == "legal" {
        "Legal ground"
    } else {
        "Terms of service"
    };
    let source = match s.source_type.as_str() {
        "SOURCE_VOLUNTARY" => "the provider's own initiative",
        "SOURCE_TRUSTED_FLAGGER" => "a notice from a trusted flagger",
        _ => "a notice (DSA Art. 16)",
    };
    format!(
        "Statement of reasons, decision {id}\n\n\
         Measure: {measure}\nApplies to: {scope}\nTerritorial scope: {terr}\nFrom: {from}\nUntil: {until}\n\n\
         Facts and circumstances: {facts}\nThe decision followed {source}.\n\
         Automated means: detection {det}; decision {dec}.\n\n\
         {ground}: {g}\nWhy: {why}\n\nRedress: {redress}\n\nPortal: {url}/portal/decisions/{id}\nPublic notice: {url}/notices/{id}\n",
        id = d.id,
        measure = crate::decision::action_label(&d.action),
        terr = if territories.len() == dp::EEA.len() {
            "the whole EEA".to_string()
        } else {
            territories.join(", ")
        },
        from = when(d.starts_at),
        until = d.ends_at.map(when).unwrap_or_else(|| "until lifted".into()),
        facts = dp::public_text(&d.facts, notifiers),
        det = if s.automated_detection { "yes" } else { "no" },
        dec = match s.automated_decision.as_str() {
            "AUTOMATED_DECISION_FULLY" => "fully automated",
            "AUTOMATED_DECISION_PARTIALLY" => "partially automated",
            _ => "taken by a person",
        },
        g = d.ground,
        why = dp::public_text(&s.explanation, notifiers),
        redress = s.redress,
        url = state.config.public_url,
    )
}

/// Job `statement_mail`: e-mails the statement of reasons to the customers owning the zone,
/// through the desk's SMTP relay (the paging one).
pub(crate) async fn statement_mail_job(state: &AppState, job: &Job) -> Result<(), String> {
    let id = field(job, "decision")?;
    let Some(smtp) = &state.config.paging.smtp else {
        return Ok(());
    };
    let d = state.store.decision(id).await.map_err(|e| e.to_string())?;
    let Some(s) = state.store.statement(id).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    if s.sent_at.is_some() {
        return Ok(());
    }
    let case = state
        .store
        .case(&d.case_id, state.now_ms())
        .await
        .map_err(|e| e.to_string())?;
    let to = state
        .store
        .customer_emails_for_host(&case.host)
        .await
        .map_err(|e| e.to_string())?;
    if to.is_empty() {
        return Ok(());
    }
    let notifiers = state
        .store
        .case_notifier_identities(&d.case_id)
        .await
        .map_err(|e| e.to_string())?;
    let body = statement_text(state, &d, &s, &notifiers);
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let mut builder = Message::builder()
        .from(
            smtp.from
                .parse()
                .map_err(|e| format!("from address: {e}"))?,
        )
        .subject(format!(
            "Statement of reasons: {} on {}",
            crate::decision::action_label(&d.action),
            case.host
        ));
    for addr in &to {
        builder = builder.to(addr.parse().map_err(|e| format!("to address: {e}"))?);
    }
    let msg = builder.body(body).map_err(|e| e.to_string())?;
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .timeout(Some(std::time::Duration::from_secs(10)))
        .build()
        .send(msg)
        .await
        .map_err(|e| format!("smtp: {e}"))?;
    state
        .store
        .mark_statement_sent(id, to.len(), &state.actor("system:statements"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
