//! What edges and the public see of decisions: the policy long-poll and notice pages.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::auth::edge_name;
use super::intake::scope_text;
use super::pages::{layout, when, PageError};
use super::AppState;
use crate::error::DeskError;

/// `?after=N`.
#[derive(Debug, Deserialize)]
pub(crate) struct After {
    #[serde(default)]
    after: u64,
}

/// `GET /api/v1/policy?after=N`: the current policy if newer than N, else wait for one (up to
/// the long-poll duration) and answer 204.
pub(crate) async fn policy(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<After>,
) -> Result<Response, DeskError> {
    let Some(edge) = edge_name(&state, &headers) else {
        return Err(DeskError::Unauthenticated);
    };
    let mut rx = state.policy_version.subscribe();
    let deadline = tokio::time::sleep(state.config.long_poll);
    tokio::pin!(deadline);
    loop {
        let current = *rx.borrow_and_update();
        if current > q.after {
            let doc = state.store.policy_version(current).await?;
            tracing::debug!(%edge, version = current, "policy served");
            // Signed like the fleet channel's messages, for edges that check (trusted_keys).
            let signed = rempart_policy::SignedPolicy::sign(
                rempart_policy::PayloadKind::Snapshot,
                doc,
                &state.keys.policy,
            );
            return Ok((
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                    (
                        header::HeaderName::from_static("rempart-key-id"),
                        signed.key_id,
                    ),
                    (
                        header::HeaderName::from_static("rempart-signature"),
                        signed.signature,
                    ),
                ],
                signed.payload,
            )
                .into_response());
        }
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return Ok(StatusCode::NO_CONTENT.into_response());
                }
            }
            _ = &mut deadline => return Ok(StatusCode::NO_CONTENT.into_response()),
        }
    }
}

/// `GET /api/v1/edges` (analyst and above): each edge's enforced version and lag, from the
/// edges' reports over NATS, flagged when behind.
pub(crate) async fn edges(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, DeskError> {
    super::auth::authenticate(&state, &headers, crate::store::Role::Analyst).await?;
    let current = *state.policy_version.borrow();
    let policy_key = hex::encode(state.keys.policy.verifying_key().as_bytes());
    let Some(nats) = &state.config.nats else {
        return Ok(axum::Json(serde_json::json!({
            "current_version": current, "policy_key": policy_key, "nats": false, "edges": [],
        }))
        .into_response());
    };
    let rows = state.fleet.rows(current, chrono::Utc::now(), nats);
    let behind = rows.iter().filter(|r| r.behind).count();
    Ok(axum::Json(serde_json::json!({
        "current_version": current, "policy_key": policy_key, "nats": true,
        "behind": behind, "edges": rows,
    }))
    .into_response())
}

/// `GET /notices/{id}`: the public notice of a restriction. No notifier data, no facts (the
/// statement of reasons comes with due process).
pub(crate) async fn notice_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let d = state.store.decision(&id).await?;
    let now = state.now_ms();
    let in_force = d.lifted_at.is_none() && d.ends_at.is_none_or(|e| e > now) && d.starts_at <= now;
    let ground_kind = match d.ground_kind.as_str() {
        "legal" => "Legal ground (the content is considered illegal)",
        _ => "Terms of service",
    };
    let action = crate::decision::action_label(&d.action);
    Ok(layout(
        "en",
        "Notice of restriction",
        None,
        html! {
            h1 { "Notice " (d.id) }
            p { "Implemented by " strong { (state.config.provider_name) } "." }
            dl {
                dt { "Measure" } dd { (action) }
                @if let Some(scope) = &d.scope { dt { "Applies to" } dd { code { (scope_text(scope)) } } }
                dt { "Ground" } dd { (ground_kind) ": " (d.ground) }
                dt { "Category" } dd { (d.category.replace('_', " ")) }
                dt { "Since" } dd { (when(d.starts_at)) }
                @if let Some(end) = d.ends_at { dt { "Until" } dd { (when(end)) } }
                dt { "Status" } dd id="status" {
                    @if d.lifted_at.is_some() { "Lifted" } @else if in_force { "In force" } @else { "Not in force" }
                }
            }
            p { "If you are affected by this measure, you may contest it by writing to the provider's abuse desk, quoting the notice number." }
        },
    )
    .into_response())
}
