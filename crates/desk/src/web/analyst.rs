//! The analysts' pages and API: login, queue, case, evidence, decisions, accounts.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::Duration;
use maud::html;
use rempart_policy::{Category, Scope};
use serde::Deserialize;

use super::auth::{
    authenticate, cookie, ct_eq, random_token, set_cookie, sha256_hex, verify_password,
    CurrentUser, LOGIN_CSRF_COOKIE, SESSION_COOKIE, SESSION_HOURS,
};
use super::intake::{scope_text, ClientIp};
use super::pages::{layout, time_left, when, PageError};
use super::AppState;
use crate::clock::to_millis;
use crate::decision::{parse_category, parse_kind, Action};
use crate::error::DeskError;
use crate::store::{NewDecision, Role, StoreError};
use crate::triage::Priority;

fn nav(u: &CurrentUser) -> Option<(&str, &str, bool)> {
    Some((
        u.user.username.as_str(),
        u.csrf.as_str(),
        u.user.role >= Role::Admin,
    ))
}

/// `GET /login`.
pub(crate) async fn login_page(State(state): State<AppState>) -> Response {
    let csrf = random_token(24);
    login_form(&state, &csrf, None, StatusCode::OK)
}

fn login_form(state: &AppState, csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let page = layout(
        "en",
        "Sign in — Rempart desk",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error { p.errors role="alert" { (e) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                label for="username" { "User name" }
                input type="text" id="username" name="username" autocomplete="username" required;
                label for="password" { "Password" }
                input type="password" id="password" name="password" autocomplete="current-password" required;
                p { button type="submit" { "Sign in" } }
            }
        },
    );
    (
        status,
        [(
            header::SET_COOKIE,
            set_cookie(state, LOGIN_CSRF_COOKIE, csrf, 3600),
        )],
        page,
    )
        .into_response()
}

/// The login form.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /login`.
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    if !cookie(&headers, LOGIN_CSRF_COOKIE).is_some_and(|c| ct_eq(c, &f.csrf)) {
        return Err(DeskError::Forbidden("missing or wrong CSRF token").into());
    }
    state
        .limiter
        .check(&format!("login:{ip}"), state.now_ms())
        .map_err(|retry_after| DeskError::RateLimited { retry_after })?;
    let user = state.store.user_by_name(f.username.trim()).await?;
    let ok = match &user {
        Some(u) => verify_password(&f.password, &u.password_hash),
        None => {
            // Same work whether or not the account exists.
            let _ = verify_password(&f.password, dummy_hash());
            false
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        let csrf = random_token(24);
        return Ok(login_form(
            &state,
            &csrf,
            Some("Wrong user name or password."),
            StatusCode::UNAUTHORIZED,
        ));
    };
    let token = random_token(32);
    let csrf = random_token(24);
    let actor = state.actor(format!("user:{}", user.username));
    let expires = actor.at + SESSION_HOURS * 3_600_000;
    state
        .store
        .create_session(&sha256_hex(&token), &user, &csrf, expires, &actor)
        .await?;
    state.checkpoint().await;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                set_cookie(&state, SESSION_COOKIE, &token, SESSION_HOURS * 3600),
            ),
            (
                header::LOCATION,
                if user.role == Role::Customer {
                    "/portal"
                } else {
                    "/queue"
                }
                .to_string(),
            ),
        ],
    )
        .into_response())
}

/// A real Argon2 hash of a random password, so that signing in as an unknown user costs the
/// same as with a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| super::hash_password(&random_token(16)).unwrap_or_default())
}

/// A form carrying only the CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /logout`.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Customer).await?;
    u.check_csrf(f.csrf.as_deref())?;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.store.delete_session(&sha256_hex(token)).await?;
    }
    Ok((
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                set_cookie(&state, SESSION_COOKIE, "", 0),
            ),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response())
}

fn review_cell(due: i64, reviewed: Option<i64>, now: i64) -> (String, bool) {
    match reviewed {
        Some(at) => (format!("reviewed {}", when(at)), false),
        None => time_left(due, now),
    }
}

/// `GET /queue`.
pub(crate) async fn queue_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    let now = state.now_ms();
    let cases = state.store.queue(now, 200).await?;
    Ok(layout(
        "en",
        "Queue — Rempart desk",
        nav(&u),
        html! {
            h1 { "Queue" }
            p { (cases.len()) " open case(s), most urgent first. Volume never raises priority; campaigns are marked." }
            table id="queue" {
                thead { tr { th { "Priority" } th { "Host" } th { "First review" } th { "Reports" } th { "Notifiers" } th { "Last hour" } th { "" } } }
                tbody {
                    @for c in &cases {
                        @let (left, overdue) = review_cell(c.review_due, c.first_reviewed_at, now);
                        tr class=[(c.priority == 0).then_some("p0")] {
                            td { (Priority::from_i64(c.priority)) }
                            td { a href={ "/cases/" (c.id) } { (c.host) } }
                            td class=[overdue.then_some("overdue")] { (left) }
                            td { (c.reports) }
                            td { (c.notifiers) }
                            td { (c.reports_last_hour) }
                            td { @if c.campaign { span.badge title="burst of near-identical reports" { "campaign" } } }
                        }
                    }
                }
            }
        },
    )
    .into_response())
}

/// `GET /cases/{id}`: opening it counts as the first review.
pub(crate) async fn case_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    state.store.case(&id, state.now_ms()).await?;
    if state
        .store
        .mark_reviewed(&id, &state.actor(u.actor_name()))
        .await?
    {
        state.checkpoint().await;
    }
    let now = state.now_ms();
    let case = state.store.case(&id, now).await?;
    let reports = state.store.case_reports(&id).await?;
    let evidence = state.store.case_evidence(&id).await?;
    let decisions = state.store.case_decisions(&id).await?;
    let history = state.store.audit_for_subject(&format!("case:{id}")).await?;
    let first_url = reports
        .first()
        .and_then(|r| r.urls.first())
        .map(|u| u.url.clone())
        .unwrap_or_default();
    let category = reports
        .first()
        .map(|r| r.category.clone())
        .unwrap_or_default();
    let span_min = ((case.last_report_at - case.first_report_at) / 60_000).max(0);
    let (left, _) = review_cell(case.review_due, case.first_reviewed_at, now);
    let extras = super::due::decision_extras(&state, &u, &decisions, now).await?;
    Ok(layout(
        "en",
        &format!("Case {} — Rempart desk", case.host),
        nav(&u),
        html! {
            h1 { "Case: " (case.host) }
            p {
                strong { (Priority::from_i64(case.priority)) } " · " (case.status) " · " (left)
                @if case.campaign { " · " span.badge { "campaign" } }
            }
            p { (case.reports) " report(s) from " (case.notifiers) " distinct notifier(s) over " (span_min)
                " min; " (case.reports_last_hour) " in the last hour." }
            h2 { "Reports" }
            @for r in &reports {
                article id={ "report-" (r.id) } {
                    h3 { (r.receipt) " · " (r.category.replace('_', " ")) " · " (Priority::from_i64(r.priority))
                        @if r.campaign { " · campaign" } }
                    p { "Received " (when(r.submitted_at)) }
                    p { "Notifier: "
                        @if u.sees_identities() {
                            (r.notifier_name.as_deref().unwrap_or("(anonymous)")) " "
                            @if let Some(e) = &r.notifier_email { "<" (e) ">" }
                        } @else { "(visible to senior analysts)" }
                    }
                    p { "URLs (not links, on purpose):" }
                    ul { @for url in &r.urls { li { code { (url.url) } } } }
                    pre.explanation { (r.explanation) }
                }
            }
            h2 { "Evidence" }
            @if evidence.is_empty() { p { "No snapshot yet." } }
            ul { @for e in &evidence {
                li {
                    a href={ "/evidence/" (e.id) } { "Snapshot of " code { (e.url) } }
                    " · fetched " (when(e.fetched_at))
                    @if let Some(s) = e.status { " · HTTP " (s) }
                    @if let Some(err) = &e.error { " · failed: " (err) }
                    @if let Some(h) = &e.body_sha256 { " · sha256 " code { (h) } }
                }
            } }
            h2 { "Decisions" }
            @if decisions.is_empty() { p { "None yet." } }
            ul { @for (d, extra) in decisions.iter().zip(&extras) {
                li {
                    (crate::decision::action_label(&d.action))
                    @if let Some(s) = &d.scope { " — " code { (scope_text(s)) } }
                    " · " (d.ground_kind) ": " (d.ground) " · by " (d.decided_by) " " (when(d.decided_at))
                    @if let Some(at) = d.lifted_at { " · lifted " (when(at)) } @else if d.scope.is_some() && u.user.role >= Role::SeniorAnalyst {
                        form method="post" action={ "/decisions/" (d.id) "/lift" } {
                            input type="hidden" name="csrf" value=(u.csrf);
                            label for={ "reason-" (d.id) } { "Reason for lifting" }
                            input type="text" id={ "reason-" (d.id) } name="reason" required;
                            button type="submit" { "Lift" }
                        }
                    }
                    (extra)
                }
            } }
            p { a href={ "/cases/" (case.id) "/referrals" } { "Referrals to authorities, acknowledgements and orders" } }
            h2 { "Decide" }
            form method="post" action={ "/cases/" (case.id) "/decisions" } id="decide" {
                input type="hidden" name="csrf" value=(u.csrf);
                label for="action" { "Measure" }
                select id="action" name="action" {
                    @for a in Action::ALL {
                        @if !a.needs_senior() || u.user.role >= Role::SeniorAnalyst {
                            option value=(a.as_str()) selected[a == Action::RestrictUrl] { (a.label()) }
                        }
                    }
                }
                label for="scope" { "Scope: URL (exact URL or path prefix as a URL) or hostname" }
                input type="text" id="scope" name="scope" value=(first_url);
                label for="ground_kind" { "Ground" }
                select id="ground_kind" name="ground_kind" {
                    option value="legal" { "Legal (HTTP 451)" }
                    option value="terms_of_service" { "Terms of service (HTTP 403)" }
                }
                label for="ground" { "Ground, in one sentence (shown publicly)" }
                input type="text" id="ground" name="ground" required maxlength="500";
                label for="facts" { "Facts and circumstances (internal)" }
                textarea id="facts" name="facts" rows="4" required maxlength="5000" {}
                label for="category" { "Category" }
                select id="category" name="category" {
                    @for c in Category::ALL { option value=(c.as_str()) selected[c.as_str() == category] { (c.as_str().replace('_', " ")) } }
                }
                label for="duration_hours" { "Duration in hours (empty: until lifted)" }
                input type="text" id="duration_hours" name="duration_hours" inputmode="numeric";
                label for="deadline_hours" { "Customer deadline in hours (for asking the customer)" }
                input type="text" id="deadline_hours" name="deadline_hours" inputmode="numeric" value="24";
                (super::due::decide_fields(&state))
                p { button type="submit" { "Record decision" } }
            }
            h2 { "History" }
            ol { @for e in &history { li { (when(e.at)) " · " (e.actor) " · " (e.action) " · " code { (e.details) } } } }
        },
    )
    .into_response())
}

/// `GET /evidence/{id}`: rendered as escaped text, never executed; the view is audited.
pub(crate) async fn evidence_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    let (e, body) = state
        .store
        .view_evidence(&id, &state.actor(u.actor_name()))
        .await?;
    state.checkpoint().await;
    let case_id = state.store.report(&e.report_id).await?.case_id;
    let headers_list: Vec<(String, String)> = serde_json::from_str(&e.headers).unwrap_or_default();
    let text = body
        .as_deref()
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(512 * 1024)]).into_owned());
    Ok(layout(
        "en",
        "Evidence — Rempart desk",
        nav(&u),
        html! {
            h1 { "Evidence snapshot" }
            p { a href={ "/cases/" (case_id) } { "Back to the case" } }
            dl {
                dt { "URL" } dd { code { (e.url) } }
                dt { "Fetched" } dd { (when(e.fetched_at)) }
                @if let Some(s) = e.status { dt { "Status" } dd { (s) } }
                @if let Some(h) = &e.body_sha256 { dt { "SHA-256" } dd { code { (h) } } }
                @if e.truncated { dt { "Truncated" } dd { "yes, at the size limit" } }
                @if let Some(err) = &e.error { dt { "Error" } dd { (err) } }
            }
            h2 { "Headers" }
            pre { @for (k, v) in &headers_list { (k) ": " (v) "\n" } }
            h2 { "Body (as text)" }
            @if let Some(t) = text { pre id="body" { (super::highlight::highlight_pii(&t)) } } @else { p { "No body." } }
        },
    )
    .into_response())
}

/// The decision form.
#[derive(Debug, Deserialize)]
pub(crate) struct DecisionForm {
    #[serde(default)]
    csrf: Option<String>,
    action: String,
    #[serde(default)]
    scope: String,
    ground_kind: String,
    ground: String,
    facts: String,
    category: String,
    #[serde(default)]
    duration_hours: String,
    #[serde(default)]
    deadline_hours: String,
    /// The statement of reasons (DSA Art. 17(3)), see [`super::due`].
    #[serde(flatten)]
    pub(crate) reasons: super::due::ReasonsForm,
}

fn host_of(s: &str) -> Option<String> {
    let s = s.trim();
    if s.contains("://") {
        url::Url::parse(s)
            .ok()?
            .host_str()
            .map(|h| h.to_ascii_lowercase())
    } else if !s.is_empty() && !s.contains('/') {
        Some(s.to_ascii_lowercase())
    } else {
        None
    }
}

fn build_scope(action: Action, scope: &str) -> Result<Option<Scope>, String> {
    let scope = scope.trim();
    Ok(match action {
        Action::NoAction | Action::AskCustomer => None,
        Action::RestrictUrl => {
            let u = url::Url::parse(scope)
                .map_err(|_| "the scope must be the exact URL".to_string())?;
            let mut u = u;
            u.set_fragment(None);
            Some(Scope::Url { url: u.to_string() })
        }
        Action::RestrictPathPrefix => {
            let u = url::Url::parse(scope)
                .map_err(|_| "the scope must be a URL whose path is the prefix".to_string())?;
            Some(Scope::PathPrefix {
                host: u.host_str().unwrap_or("").to_ascii_lowercase(),
                prefix: u.path().to_string(),
            })
        }
        Action::RestrictHost | Action::SuspendZone => {
            let host = host_of(scope)
                .ok_or_else(|| "the scope must be a hostname or a URL".to_string())?;
            Some(Scope::Host {
                host,
                include_subdomains: action == Action::SuspendZone,
            })
        }
    })
}

fn hours(s: &str, what: &str, problems: &mut Vec<String>) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    match s.parse::<i64>() {
        Ok(h) if h > 0 && h <= 24 * 365 * 10 => Some(h),
        _ => {
            problems.push(format!("{what} must be a whole number of hours"));
            None
        }
    }
}

/// Records a decision from the form or the API (or proposes it for approval).
async fn record(
    state: &AppState,
    u: &CurrentUser,
    case_id: &str,
    f: &DecisionForm,
) -> Result<Recorded, DeskError> {
    let mut problems = Vec::new();
    let action = Action::parse(&f.action);
    if action.is_none() {
        problems.push(format!("unknown measure '{}'", f.action));
    }
    if action.is_some_and(Action::needs_senior) {
        u.require(Role::SeniorAnalyst)?;
    }
    if parse_kind(&f.ground_kind).is_none() {
        problems.push("ground_kind must be legal or terms_of_service".into());
    }
    if parse_category(&f.category).is_none() {
        problems.push(format!("unknown category '{}'", f.category));
    }
    if f.ground.trim().is_empty() || f.ground.len() > 500 {
        problems.push("the ground must be one sentence of at most 500 characters".into());
    }
    if f.facts.trim().is_empty() || f.facts.len() > 5000 {
        problems.push("the facts must be given, in at most 5000 characters".into());
    }
    let duration = hours(&f.duration_hours, "the duration", &mut problems);
    let deadline = hours(&f.deadline_hours, "the deadline", &mut problems);
    let scope = match action.map(|a| build_scope(a, &f.scope)) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            problems.push(e);
            None
        }
        None => None,
    };
    let statement = match action {
        Some(a) if a.is_restrictive() => {
            super::due::statement_from(state, case_id, &f.reasons, &mut problems).await?
        }
        _ => None,
    };
    let emergency = f.reasons.is_emergency();
    if emergency {
        super::due::check_emergency(action, &f.category, &mut problems);
    }
    if !problems.is_empty() {
        return Err(DeskError::Invalid(problems));
    }
    let action = action.expect("checked");
    let now = state.clock.now();
    let ends_at = if emergency {
        // An emergency measure carries its expiry as the restriction's end, so that an edge
        // stops enforcing it then even if cut off from the desk.
        Some(to_millis(now + state.config.due_process.emergency_expiry))
    } else {
        duration
            .filter(|_| action.is_restrictive())
            .map(|h| to_millis(now + Duration::hours(h)))
    };
    let new = NewDecision {
        case_id: case_id.to_string(),
        action: action.as_str().into(),
        ground_kind: f.ground_kind.clone(),
        ground: f.ground.trim().into(),
        facts: f.facts.trim().into(),
        category: f.category.clone(),
        scope: scope.map(|s| serde_json::to_string(&s).expect("scope serialises")),
        starts_at: to_millis(now),
        ends_at,
        deadline: deadline
            .filter(|_| action == Action::AskCustomer)
            .map(|h| to_millis(now + Duration::hours(h))),
        statement,
        emergency,
    };
    if !emergency && state.config.due_process.four_eyes.contains(&action) {
        // Four-eyes: the measure waits for a second senior analyst.
        let id = state
            .store
            .propose_decision(&new, &state.actor(u.actor_name()))
            .await?;
        state.checkpoint().await;
        return Ok(Recorded::Proposed(id));
    }
    let result = state
        .store
        .record_decision(&new, &state.actor(u.actor_name()), &state.policy_ctx())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => DeskError::Invalid(vec![m]),
            other => DeskError::Store(other),
        })?;
    if let Some(v) = result.1 {
        state.published(v);
    }
    state.jobs.notify_one();
    state.checkpoint().await;
    Ok(Recorded::Decided)
}

/// What recording a decision did.
#[derive(Debug)]
pub(crate) enum Recorded {
    /// Recorded (and published if it restricts).
    Decided,
    /// Four-eyes: proposed, waiting for approval.
    Proposed(String),
}

/// `POST /cases/{id}/decisions`.
pub(crate) async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<DecisionForm>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    u.check_csrf(f.csrf.as_deref())?;
    match record(&state, &u, &id, &f).await? {
        Recorded::Decided => Ok(Redirect::to(&format!("/cases/{id}")).into_response()),
        // Four-eyes: the proposal waits in the approvals queue.
        Recorded::Proposed(a) => Ok(Redirect::to(&format!("/due#approval-{a}")).into_response()),
    }
}

/// The lift form.
#[derive(Debug, Deserialize)]
pub(crate) struct LiftForm {
    #[serde(default)]
    csrf: Option<String>,
    reason: String,
}

/// `POST /decisions/{id}/lift`.
pub(crate) async fn lift(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<LiftForm>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::SeniorAnalyst).await?;
    u.check_csrf(f.csrf.as_deref())?;
    if f.reason.trim().is_empty() {
        return Err(DeskError::Invalid(vec!["give the reason for lifting".into()]).into());
    }
    let d = state.store.decision(&id).await?;
    let v = state
        .store
        .lift_decision(
            &id,
            f.reason.trim(),
            &state.actor(u.actor_name()),
            &state.policy_ctx(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => DeskError::Conflict("this decision was already lifted"),
            other => DeskError::Store(other),
        })?;
    if let Some(v) = v {
        state.published(v);
    }
    state.checkpoint().await;
    Ok(Redirect::to(&format!("/cases/{}", d.case_id)).into_response())
}

/// `GET /admin`.
pub(crate) async fn admin_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Admin).await?;
    Ok(admin_markup(&u, None).into_response())
}

fn admin_markup(u: &CurrentUser, message: Option<maud::Markup>) -> maud::Markup {
    layout(
        "en",
        "Admin — Rempart desk",
        nav(u),
        html! {
            h1 { "Accounts" }
            @if let Some(m) = message { div role="status" { (m) } }
            p { a href="/admin/customers" { "Create a customer account (zone owner)" } }
            h2 { "Create an account" }
            form method="post" action="/admin/users" {
                input type="hidden" name="csrf" value=(u.csrf);
                label for="username" { "User name" }
                input type="text" id="username" name="username" required maxlength="64";
                label for="role" { "Role" }
                select id="role" name="role" {
                    option value="analyst" { "Analyst" }
                    option value="moderator" { "Moderator (scan API only)" }
                    option value="senior_analyst" { "Senior analyst" }
                    option value="admin" { "Admin" }
                }
                p { button type="submit" { "Create (shows a one-time password)" } }
            }
            h2 { "Create an API token" }
            form method="post" action="/admin/tokens" {
                input type="hidden" name="csrf" value=(u.csrf);
                label for="token-user" { "For user" }
                input type="text" id="token-user" name="username" required;
                label for="label" { "Label" }
                input type="text" id="label" name="label" required maxlength="100";
                p { button type="submit" { "Create (shown once)" } }
            }
        },
    )
}

/// New account.
#[derive(Debug, Deserialize)]
pub(crate) struct NewUserForm {
    #[serde(default)]
    csrf: Option<String>,
    username: String,
    role: String,
}

/// `POST /admin/users`.
pub(crate) async fn admin_create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<NewUserForm>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Admin).await?;
    u.check_csrf(f.csrf.as_deref())?;
    let role =
        Role::parse(&f.role).ok_or_else(|| DeskError::Invalid(vec!["unknown role".into()]))?;
    let name = f.username.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(DeskError::Invalid(vec![
            "user names use letters, digits, '.', '_' and '-'".into()
        ])
        .into());
    }
    let password = random_token(18);
    let hash = super::hash_password(&password).map_err(|e| DeskError::Internal(e.to_string()))?;
    state
        .store
        .create_user(name, &hash, role, &state.actor(u.actor_name()))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => DeskError::Conflict("this user name is taken"),
            other => DeskError::Store(other),
        })?;
    state.checkpoint().await;
    Ok(admin_markup(&u, Some(html! { p { "Account " code { (name) } " created. One-time password: " code id="password" { (password) } } })).into_response())
}

/// New API token.
#[derive(Debug, Deserialize)]
pub(crate) struct NewTokenForm {
    #[serde(default)]
    csrf: Option<String>,
    username: String,
    label: String,
}

/// `POST /admin/tokens`.
pub(crate) async fn admin_create_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<NewTokenForm>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Admin).await?;
    u.check_csrf(f.csrf.as_deref())?;
    let owner = state
        .store
        .user_by_name(f.username.trim())
        .await?
        .ok_or(DeskError::NotFound)?;
    let token = format!("rk_{}", random_token(32));
    state
        .store
        .create_api_token(
            &sha256_hex(&token),
            &owner,
            f.label.trim(),
            &state.actor(u.actor_name()),
        )
        .await?;
    state.checkpoint().await;
    Ok(admin_markup(&u, Some(html! { p { "API token for " code { (owner.username) } ": " code id="token" { (token) } " (shown once)" } })).into_response())
}

/// `GET /api/v1/queue`.
pub(crate) async fn api_queue(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, DeskError> {
    authenticate(&state, &headers, Role::Analyst).await?;
    let now = state.now_ms();
    let cases = state.store.queue(now, 500).await?;
    let out: Vec<_> = cases
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id, "host": c.host, "priority": Priority::from_i64(c.priority).to_string(),
                "review_due": when(c.review_due), "reviewed": c.first_reviewed_at.is_some(),
                "seconds_left": (c.review_due - now) / 1000, "campaign": c.campaign,
                "reports": c.reports, "notifiers": c.notifiers, "reports_last_hour": c.reports_last_hour,
            })
        })
        .collect();
    Ok(Json(out).into_response())
}

/// `GET /api/v1/cases/{id}`: notifiers' identities only for senior analysts and admins.
pub(crate) async fn api_case(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, DeskError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    let case = state.store.case(&id, state.now_ms()).await?;
    let reports = state.store.case_reports(&id).await?;
    let reports: Vec<_> = reports
        .iter()
        .map(|r| {
            let mut v = serde_json::json!({
                "id": r.id, "receipt": r.receipt, "category": r.category, "explanation": r.explanation,
                "urls": r.urls.iter().map(|u| u.url.clone()).collect::<Vec<_>>(),
                "priority": Priority::from_i64(r.priority).to_string(), "campaign": r.campaign,
                "submitted_at": when(r.submitted_at),
            });
            if u.sees_identities() {
                v["notifier_name"] = serde_json::json!(r.notifier_name);
                v["notifier_email"] = serde_json::json!(r.notifier_email);
            }
            v
        })
        .collect();
    Ok(Json(serde_json::json!({
        "id": case.id, "host": case.host, "status": case.status,
        "priority": Priority::from_i64(case.priority).to_string(), "campaign": case.campaign,
        "notifiers": case.notifiers, "reports": reports,
    }))
    .into_response())
}
