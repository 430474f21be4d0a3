//! The desk's one error type for handlers: internal details are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::store::StoreError;

/// What a request handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The request is malformed or breaks a rule; every problem is listed for the sender.
    #[error("invalid request: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// No valid credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Valid credentials, insufficient role, or a bad CSRF token.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// No such thing.
    #[error("not found")]
    NotFound,
    /// The same idempotency key was used for a different report.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The request body exceeds the size limit.
    #[error("request body too large")]
    TooLarge,
    /// Too many requests from this address.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until a request would be accepted.
        retry_after: u64,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Anything else that is our fault.
    #[error("internal: {0}")]
    Internal(String),
}

impl DeskError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            DeskError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            DeskError::Unauthenticated => StatusCode::UNAUTHORIZED,
            DeskError::Forbidden(_) => StatusCode::FORBIDDEN,
            DeskError::NotFound => StatusCode::NOT_FOUND,
            DeskError::Conflict(_) => StatusCode::CONFLICT,
            DeskError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            DeskError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            DeskError::Store(StoreError::NotFound) => StatusCode::NOT_FOUND,
            DeskError::Store(_) | DeskError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message the client sees: never the internal detail.
    pub fn public_message(&self) -> String {
        match self {
            DeskError::Store(StoreError::NotFound) => "not found".into(),
            DeskError::Store(_) | DeskError::Internal(_) => {
                "internal error; it has been logged".into()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for DeskError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut body = serde_json::json!({ "error": self.public_message() });
        if let DeskError::Invalid(problems) = &self {
            body["problems"] = serde_json::json!(problems);
        }
        let mut resp = (status, Json(body)).into_response();
        if let DeskError::RateLimited { retry_after } = self {
            if let Ok(v) = retry_after.to_string().parse() {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        resp
    }
}
