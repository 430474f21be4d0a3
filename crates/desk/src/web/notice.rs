//! Public pages of due process, in English and French: the notice of each restriction (the
//! page an edge's 451 links to) and the notifier's view of the decision on their report, with
//! the appeal of a decision not to act. No personal data of notifiers or victims: free text is
//! redacted ([`crate::dueprocess::public_text`]).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::auth::{cookie, ct_eq, random_token, set_cookie};
use super::intake::{lang_of, scope_text, LangQuery};
use super::pages::{layout, when, PageError};
use super::AppState;
use crate::dueprocess::{public_text, EEA};
use crate::error::DeskError;
use crate::i18n::Lang;
use crate::store::StoreError;

/// `GET /notices/{id}`: the public notice of a restriction: measure, scope, dates, category,
/// ground, authority and order reference, status.
pub(crate) async fn notice_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let lang = lang_of(&q, &headers);
    let t = |id: &str, args: &[(&str, &str)]| state.i18n.t(lang, id, args);
    let d = state.store.decision(&id).await?;
    let now = state.now_ms();
    let notifiers = state.store.case_notifier_identities(&d.case_id).await?;
    let statement = state.store.statement(&d.id).await?;
    let emergency = state.store.emergency(&d.id).await?;
    let orders = state.store.authority_orders(&d.id).await?;
    let reversed = state
        .store
        .decision_appeals(&d.id)
        .await?
        .iter()
        .any(|a| a.outcome.as_deref() == Some("reversed"));
    let status = if reversed {
        "notice-status-reversed"
    } else if d.lifted_at.is_some() {
        "notice-status-lifted"
    } else if emergency.as_ref().is_some_and(|e| e.outcome == "lapsed") {
        "notice-status-lapsed"
    } else if d.ends_at.is_some_and(|e| e <= now) || d.starts_at > now {
        "notice-status-ended"
    } else {
        "notice-status-in-force"
    };
    let territory = statement.as_ref().map(|s| {
        let codes: Vec<String> = serde_json::from_str(&s.territorial_scope).unwrap_or_default();
        if codes.len() == EEA.len() {
            t("notice-territory-eea", &[])
        } else {
            codes.join(", ")
        }
    });
    let other = match lang {
        Lang::En => "fr",
        Lang::Fr => "en",
    };
    let title = t("notice-title", &[("id", &d.id)]);
    Ok(layout(
        lang.tag(),
        &title,
        None,
        html! {
            p { a href={ "?lang=" (other) } hreflang=(other) lang=(other) { (t("notice-other-language", &[])) } }
            h1 { (title) }
            p { (t("notice-implemented-by", &[("provider", &state.config.provider_name)])) }
            @if let Some(e) = &emergency {
                @if e.outcome == "pending" && now < e.expires_at {
                    p id="emergency" { strong { (t("notice-emergency-pending", &[("at", &when(e.expires_at))])) } }
                } @else if e.outcome == "confirmed" {
                    p id="emergency" { (t("notice-emergency-confirmed", &[])) }
                }
            }
            dl {
                dt { (t("notice-measure", &[])) } dd id="measure" { (t(&format!("action-{}", d.action), &[])) }
                @if let Some(scope) = &d.scope { dt { (t("notice-applies-to", &[])) } dd { code { (scope_text(scope)) } } }
                @if let Some(terr) = &territory { dt { (t("notice-territory", &[])) } dd { (terr) } }
                dt { (t("notice-ground", &[])) }
                dd id="ground" {
                    (t(if d.ground_kind == "legal" { "notice-ground-legal" } else { "notice-ground-terms" }, &[]))
                    ": " (public_text(&d.ground, &notifiers))
                }
                @if let Some(s) = &statement { dt { (t("notice-why", &[])) } dd id="why" { (public_text(&s.explanation, &notifiers)) } }
                dt { (t("notice-category", &[])) } dd id="category" { (t(&format!("cat-{}", d.category), &[])) }
                dt { (t("notice-since", &[])) } dd { (when(d.starts_at)) }
                @if let Some(end) = d.ends_at.or(d.lifted_at) { dt { (t("notice-until", &[])) } dd { (when(end)) } }
                @for o in &orders {
                    dt { (t("notice-order", &[])) }
                    dd.order { (t("notice-order-text", &[("authority", &o.authority), ("reference", &o.reference), ("date", &o.order_date)])) }
                }
                dt { (t("notice-status", &[])) } dd id="status" { (t(status, &[])) }
            }
            p { (t("notice-redress", &[])) }
        },
    )
    .into_response())
}

/// The notifier's double-submit CSRF cookie for the appeal form.
const NOTIFIER_CSRF_COOKIE: &str = "rempart_notifier_csrf";

/// `GET /r/{token}/decision`: the decision on the notifier's report with its reasons and the
/// redress; a decision not to act can be appealed here.
pub(crate) async fn reasons_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let lang = lang_of(&q, &headers);
    let csrf = random_token(24);
    let page = reasons_markup(&state, &token, lang, &csrf).await?;
    Ok((
        StatusCode::OK,
        [(
            header::SET_COOKIE,
            set_cookie(&state, NOTIFIER_CSRF_COOKIE, &csrf, 3600),
        )],
        page,
    )
        .into_response())
}

async fn reasons_markup(
    state: &AppState,
    token: &str,
    lang: Lang,
    csrf: &str,
) -> Result<maud::Markup, PageError> {
    let t = |id: &str, args: &[(&str, &str)]| state.i18n.t(lang, id, args);
    let report = super::intake::report_by_follow_token(state, token).await?;
    let notifiers = state
        .store
        .case_notifier_identities(&report.case_id)
        .await?;
    let decisions: Vec<_> = state
        .store
        .case_decisions(&report.case_id)
        .await?
        .into_iter()
        .filter(|d| d.decided_at >= report.submitted_at)
        .collect();
    let mut items = Vec::new();
    let notifier = format!("notifier:{}", report.receipt);
    for d in decisions {
        let statement = state.store.statement(&d.id).await?;
        let appeals: Vec<_> = state
            .store
            .decision_appeals(&d.id)
            .await?
            .into_iter()
            .filter(|a| a.filed_by == notifier)
            .collect();
        items.push((d, statement, appeals));
    }
    let title = t("reasons-title", &[("receipt", &report.receipt)]);
    Ok(layout(
        lang.tag(),
        &title,
        None,
        html! {
            h1 { (title) }
            @if items.is_empty() { p { (t("follow-none", &[])) } }
            @for (d, s, appeals) in &items {
                article id={ "decision-" (d.id) } {
                    h2 { (t("reasons-decision", &[])) ": " (t(&format!("action-{}", d.action), &[])) }
                    p { (when(d.decided_at)) }
                    @if let Some(scope) = &d.scope { p { code { (scope_text(scope)) } } }
                    p.ground { (t(if d.ground_kind == "legal" { "notice-ground-legal" } else { "notice-ground-terms" }, &[]))
                        ": " (public_text(&d.ground, &notifiers)) }
                    @if let Some(s) = s { p.why { (t("notice-why", &[])) ": " (public_text(&s.explanation, &notifiers)) } }
                    @if d.scope.is_some() { p { a href={ "/notices/" (d.id) "?lang=" (lang.tag()) } { (t("notice-title", &[("id", &d.id)])) } } }
                    @for a in appeals {
                        p.appeal {
                            (t("reasons-appeal-filed", &[("at", &when(a.filed_at))]))
                            @if let (Some(o), Some(r)) = (&a.outcome, &a.reasons) {
                                " " (t(&format!("reasons-appeal-outcome-{o}"), &[("reasons", r)]))
                            }
                        }
                    }
                    // A decision not to act (or to only ask the customer) can be appealed by
                    // the notifier; a pending appeal is not doubled.
                    @if d.scope.is_none() && appeals.iter().all(|a| a.outcome.is_some()) {
                        form method="post" action={ "/r/" (token) "/appeals?lang=" (lang.tag()) } {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="decision" value=(d.id);
                            label for={ "grounds-" (d.id) } { (t("reasons-appeal-grounds", &[])) }
                            textarea id={ "grounds-" (d.id) } name="grounds" rows="4" required maxlength="5000" {}
                            p { button type="submit" { (t("reasons-appeal-submit", &[])) } }
                        }
                    }
                }
            }
            p { (t("reasons-redress", &[])) }
        },
    ))
}

/// The notifier's appeal form.
#[derive(Debug, Deserialize)]
pub(crate) struct NotifierAppealForm {
    #[serde(default)]
    csrf: String,
    decision: String,
    grounds: String,
}

/// `POST /r/{token}/appeals`: the notifier appeals a decision not to act on their report.
pub(crate) async fn notifier_appeal(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    Form(f): Form<NotifierAppealForm>,
) -> Result<Response, PageError> {
    if !cookie(&headers, NOTIFIER_CSRF_COOKIE).is_some_and(|c| ct_eq(c, &f.csrf)) {
        return Err(DeskError::Forbidden("missing or wrong CSRF token").into());
    }
    let lang = lang_of(&q, &headers);
    let report = super::intake::report_by_follow_token(&state, &token).await?;
    let d = state.store.decision(&f.decision).await?;
    if d.case_id != report.case_id || d.decided_at < report.submitted_at {
        return Err(DeskError::NotFound.into());
    }
    if d.scope.is_some() {
        return Err(DeskError::Invalid(vec![
            "a notifier appeals a decision not to act; this decision restricts the content".into(),
        ])
        .into());
    }
    let grounds = f.grounds.trim();
    if grounds.is_empty() || grounds.chars().count() > 5000 {
        return Err(DeskError::Invalid(vec![
            "explain why the decision should change (at most 5000 characters)".into(),
        ])
        .into());
    }
    state
        .store
        .file_appeal(
            &d.id,
            "notifier",
            grounds,
            state.config.due_process.appeal_window.num_milliseconds(),
            &state.actor(format!("notifier:{}", report.receipt)),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => DeskError::Invalid(vec![m]),
            other => DeskError::Store(other),
        })?;
    state.checkpoint().await;
    Ok(Redirect::to(&format!("/r/{token}/decision?lang={}", lang.tag())).into_response())
}
