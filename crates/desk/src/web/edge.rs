//! What edges see of decisions: the policy long-poll (notice pages are in `notice`).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::edge_name;
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
