//! The customer portal: customer accounts see the notices and statements of reasons of their
//! own zones, answer them, and appeal (DSA Art. 20) within the window.

use super::{hash_password, Desk};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::auth::{authenticate, CurrentUser};
use super::intake::scope_text;
use super::pages::{layout, when, PageError};
use super::AppState;
use crate::error::DeskError;
use crate::store::{Role, StoreError};

impl Desk {
    /// Creates a customer account owning `zones` (apex hostnames, each with its subdomains),
    /// with a random password, which is returned. Statements of reasons go to `email`.
    pub async fn create_customer(
        &self,
        username: &str,
        email: &str,
        zones: &[String],
    ) -> anyhow::Result<String> {
        let password = super::auth::random_token(18);
        let hash = hash_password(&password)?;
        let state = self.state();
        state
            .store
            .create_customer(username, &hash, email, zones, &state.actor("system"))
            .await?;
        state.checkpoint().await;
        Ok(password)
    }
}

/// A customer, and only a customer: analysts work in the desk, not in the portal.
async fn customer(state: &AppState, headers: &HeaderMap) -> Result<CurrentUser, DeskError> {
    let u = authenticate(state, headers, Role::Customer).await?;
    if u.user.role != Role::Customer {
        return Err(DeskError::Forbidden("the portal is for customers"));
    }
    Ok(u)
}

/// A decision of the customer's zones; any other is "not found" (no probing of others').
async fn owned(state: &AppState, u: &CurrentUser, id: &str) -> Result<(), DeskError> {
    if state.store.customer_owns_decision(&u.user.id, id).await? {
        Ok(())
    } else {
        Err(DeskError::NotFound)
    }
}

fn portal_layout(u: &CurrentUser, title: &str, body: Markup) -> Markup {
    layout(
        "en",
        title,
        None,
        html! {
            nav {
                a href="/portal" { "Your notices" } " · Signed in as " (u.user.username) " · "
                form method="post" action="/logout" style="display:inline" {
                    input type="hidden" name="csrf" value=(u.csrf);
                    button type="submit" { "Sign out" }
                }
            }
            (body)
        },
    )
}

/// `GET /portal`: the decisions concerning the customer's zones.
pub(crate) async fn portal_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = customer(&state, &headers).await?;
    let zones = state.store.customer_zones(&u.user.id).await?;
    let decisions = state.store.customer_decisions(&u.user.id).await?;
    Ok(portal_layout(
        &u,
        "Your notices — Rempart",
        html! {
            h1 { "Notices concerning your sites" }
            p { "Your zones: " @for (i, z) in zones.iter().enumerate() { @if i > 0 { ", " } code { (z) } } }
            @if decisions.is_empty() { p { "No notice." } }
            ul id="notices" { @for d in &decisions {
                li {
                    a href={ "/portal/decisions/" (d.id) } { (crate::decision::action_label(&d.action)) }
                    @if let Some(s) = &d.scope { " — " code { (scope_text(s)) } }
                    " · " (when(d.decided_at))
                    @if d.lifted_at.is_some() { " · lifted" }
                }
            } }
        },
    )
    .into_response())
}

/// `GET /portal/decisions/{id}`: the statement of reasons, the answers given, the appeals,
/// and the forms to answer and to appeal.
pub(crate) async fn decision_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = customer(&state, &headers).await?;
    owned(&state, &u, &id).await?;
    let d = state.store.decision(&id).await?;
    let statement = state.store.statement(&id).await?;
    let notifiers = state.store.case_notifier_identities(&d.case_id).await?;
    let responses = state.store.customer_responses(&id).await?;
    let appeals = state.store.decision_appeals(&id).await?;
    let orders = state.store.authority_orders(&id).await?;
    let now = state.now_ms();
    let window = state.config.due_process.appeal_window.num_milliseconds();
    let can_appeal = now - d.decided_at <= window
        && !appeals
            .iter()
            .any(|a| a.party == "customer" && a.outcome.is_none());
    let text = statement
        .as_ref()
        .map(|s| super::due::statement_text(&state, &d, s, &notifiers));
    Ok(portal_layout(
        &u,
        "Statement of reasons — Rempart",
        html! {
            h1 { "Statement of reasons" }
            @if let Some(text) = &text { pre id="statement" { (text) } }
            @else {
                p { (crate::decision::action_label(&d.action)) " — " (d.ground) }
                p { a href={ "/notices/" (d.id) } { "Public notice" } }
            }
            @for o in &orders {
                p.order { "Order of " (o.authority) ", ref. " (o.reference) " of " (o.order_date) }
            }
            h2 { "Your answers" }
            @if responses.is_empty() { p { "None yet." } }
            ul { @for r in &responses { li { (when(r.at)) ": " (r.kind.replace('_', " ")) " — " (r.explanation) } } }
            form method="post" action={ "/portal/decisions/" (d.id) "/respond" } id="respond" {
                input type="hidden" name="csrf" value=(u.csrf);
                label for="kind" { "Your answer" }
                select id="kind" name="kind" {
                    option value="content_removed" { "I removed the content" }
                    option value="disagree" { "I disagree with the decision" }
                }
                label for="response-explanation" { "Explanation" }
                textarea id="response-explanation" name="explanation" rows="4" required maxlength="5000" {}
                p { button type="submit" { "Send the answer" } }
            }
            h2 { "Appeal" }
            ul id="appeals" { @for a in &appeals {
                @if a.party == "customer" {
                    li { "Filed " (when(a.filed_at)) ": " (a.grounds) " · "
                        @match (&a.outcome, &a.reasons) {
                            (Some(o), Some(r)) => { strong.outcome { (o) } ": " (r) }
                            _ => { "pending: decided by a person who did not take the decision" }
                        }
                    }
                }
            } }
            @if can_appeal {
                form method="post" action={ "/portal/decisions/" (d.id) "/appeal" } id="appeal" {
                    input type="hidden" name="csrf" value=(u.csrf);
                    label for="grounds" { "Why should the decision be reversed? (free of charge; within six months of the decision)" }
                    textarea id="grounds" name="grounds" rows="5" required maxlength="5000" {}
                    p { button type="submit" { "File the appeal" } }
                }
            } @else if now - d.decided_at > window {
                p { "The time to appeal this decision has passed." }
            }
        },
    )
    .into_response())
}

/// The answer form.
#[derive(Debug, Deserialize)]
pub(crate) struct RespondForm {
    #[serde(default)]
    csrf: Option<String>,
    kind: String,
    #[serde(default)]
    explanation: String,
}

/// `POST /portal/decisions/{id}/respond`.
pub(crate) async fn respond(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<RespondForm>,
) -> Result<Response, PageError> {
    let u = customer(&state, &headers).await?;
    u.check_csrf(f.csrf.as_deref())?;
    owned(&state, &u, &id).await?;
    let mut problems = Vec::new();
    if !matches!(f.kind.as_str(), "content_removed" | "disagree") {
        problems.push("the answer is content_removed or disagree".to_string());
    }
    let explanation = f.explanation.trim();
    if explanation.is_empty() || explanation.chars().count() > 5000 {
        problems.push("explain your answer (at most 5000 characters)".into());
    }
    if !problems.is_empty() {
        return Err(DeskError::Invalid(problems).into());
    }
    state
        .store
        .add_customer_response(&id, &f.kind, explanation, &state.actor(u.actor_name()))
        .await?;
    state.checkpoint().await;
    Ok(Redirect::to(&format!("/portal/decisions/{id}")).into_response())
}

/// The appeal form.
#[derive(Debug, Deserialize)]
pub(crate) struct AppealForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    grounds: String,
}

/// `POST /portal/decisions/{id}/appeal`: an internal complaint, within the window.
pub(crate) async fn appeal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<AppealForm>,
) -> Result<Response, PageError> {
    let u = customer(&state, &headers).await?;
    u.check_csrf(f.csrf.as_deref())?;
    owned(&state, &u, &id).await?;
    let grounds = f.grounds.trim();
    if grounds.is_empty() || grounds.chars().count() > 5000 {
        return Err(DeskError::Invalid(vec![
            "explain why the decision should be reversed (at most 5000 characters)".into(),
        ])
        .into());
    }
    state
        .store
        .file_appeal(
            &id,
            "customer",
            grounds,
            state.config.due_process.appeal_window.num_milliseconds(),
            &state.actor(u.actor_name()),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => DeskError::Invalid(vec![m]),
            other => DeskError::Store(other),
        })?;
    state.checkpoint().await;
    Ok(Redirect::to(&format!("/portal/decisions/{id}")).into_response())
}

fn customer_admin_markup(u: &CurrentUser, message: Option<Markup>) -> Markup {
    layout(
        "en",
        "Customer accounts — Rempart desk",
        Some((u.user.username.as_str(), u.csrf.as_str(), true)),
        html! {
            h1 { "Create a customer account" }
            @if let Some(m) = message { div role="status" { (m) } }
            form method="post" action="/admin/customers" {
                input type="hidden" name="csrf" value=(u.csrf);
                label for="username" { "User name" }
                input type="text" id="username" name="username" required maxlength="64";
                label for="email" { "E-mail address (statements of reasons are sent there)" }
                input type="email" id="email" name="email" required maxlength="254";
                label for="zones" { "Zones owned (hostnames, comma-separated; each covers its subdomains)" }
                input type="text" id="zones" name="zones" required;
                p { button type="submit" { "Create (shows a one-time password)" } }
            }
        },
    )
}

/// `GET /admin/customers`.
pub(crate) async fn admin_customers_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Admin).await?;
    Ok(customer_admin_markup(&u, None).into_response())
}

/// The new-customer form.
#[derive(Debug, Deserialize)]
pub(crate) struct NewCustomerForm {
    #[serde(default)]
    csrf: Option<String>,
    username: String,
    email: String,
    zones: String,
}

/// `POST /admin/customers`.
pub(crate) async fn admin_create_customer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<NewCustomerForm>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Admin).await?;
    u.check_csrf(f.csrf.as_deref())?;
    let mut problems = Vec::new();
    let name = f.username.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        problems.push("user names use letters, digits, '.', '_' and '-'".to_string());
    }
    let email = f.email.trim();
    if email.len() > 254 || email.parse::<lettre::Address>().is_err() {
        problems.push("give a valid e-mail address".into());
    }
    let mut zones = Vec::new();
    for z in f.zones.split([',', ' ']).filter(|z| !z.is_empty()) {
        let z = z.trim().trim_end_matches('.').to_ascii_lowercase();
        if z.is_empty()
            || z.len() > 253
            || !z
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            problems.push(format!("'{z}' is not a hostname"));
        } else {
            zones.push(z);
        }
    }
    if zones.is_empty() {
        problems.push("name at least one zone".into());
    }
    if !problems.is_empty() {
        return Err(DeskError::Invalid(problems).into());
    }
    let password = super::auth::random_token(18);
    let hash = hash_password(&password).map_err(|e| DeskError::Internal(e.to_string()))?;
    state
        .store
        .create_customer(name, &hash, email, &zones, &state.actor(u.actor_name()))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => DeskError::Conflict("this user name is taken"),
            other => DeskError::Store(other),
        })?;
    state.checkpoint().await;
    Ok(customer_admin_markup(
        &u,
        Some(html! { p { "Customer " code { (name) } " created. One-time password: " code id="password" { (password) } } }),
    )
    .into_response())
}
