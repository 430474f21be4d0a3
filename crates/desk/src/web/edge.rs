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
            return Ok((
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                doc,
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
