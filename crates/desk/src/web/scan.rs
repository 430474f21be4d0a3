//! `POST /api/v1/scan`: the content-signals detector for forum moderators.
//!
//! Authenticated by an API token (`Authorization: Bearer rk_…`) of any account, the least
//! privileged being the `moderator` role, which may do nothing else. Each token may scan
//! [`SCANS_PER_TOKEN_PER_MINUTE`] texts a minute (the desk's clock). The body is the text itself
//! (`text/plain`) or `{"text": "..."}` (`application/json`), at most [`MAX_TEXT_BYTES`]; the answer
//! is the detector's report (labels with scores, spans with byte and code-point offsets,
//! evidence) plus its `severity`. The text is never logged nor stored.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rempart_signals::{Report, Severity, Signals};
use serde::Serialize;

use super::auth::{bearer, sha256_hex};
use super::AppState;
use crate::error::DeskError;

/// Largest text accepted, in bytes of UTF-8 (a long forum post is a few kilobytes).
pub(crate) const MAX_TEXT_BYTES: usize = 32 * 1024;
/// Scans allowed per API token per minute.
pub(crate) const SCANS_PER_TOKEN_PER_MINUTE: u32 = 60;

/// The detector, compiled on first use and shared by every request of the process.
pub(crate) fn signals() -> Result<&'static Signals, DeskError> {
    static SIGNALS: OnceLock<Result<Signals, String>> = OnceLock::new();
    SIGNALS
        .get_or_init(|| Signals::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| DeskError::Internal(format!("content signals: {e}")))
}

/// Per-token fixed windows of one minute of the desk's clock, keyed by the token's hash (never
/// the token itself). Each token has its own window, so one token's traffic never resets
/// another's count.
struct TokenLimiter {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl TokenLimiter {
    /// Counts one scan for `key` at `now_ms`; `Err(seconds to wait)` when over the limit.
    fn check(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        let minute = now_ms.div_euclid(60_000);
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if w.len() > 100_000 {
            // Bounded memory: forget tokens idle since an earlier minute.
            w.retain(|_, (m, _)| *m == minute);
        }
        let (m, n) = w.entry(key.to_string()).or_insert((minute, 0));
        if *m != minute {
            (*m, *n) = (minute, 0);
        }
        if *n >= SCANS_PER_TOKEN_PER_MINUTE {
            let left = 60_000 - now_ms.rem_euclid(60_000);
            return Err((left as u64).div_ceil(1000).max(1));
        }
        *n += 1;
        Ok(())
    }
}

fn limiter() -> &'static TokenLimiter {
    static LIMITER: OnceLock<TokenLimiter> = OnceLock::new();
    LIMITER.get_or_init(|| TokenLimiter {
        windows: Mutex::new(HashMap::new()),
    })
}

#[derive(Serialize)]
struct ScanAnswer {
    severity: Severity,
    #[serde(flatten)]
    report: Report,
}

#[derive(serde::Deserialize)]
struct ScanJson {
    text: String,
}

/// The text of a scan request: JSON `{"text": ...}` or the raw body as UTF-8 text.
fn text_of(headers: &HeaderMap, body: &[u8]) -> Result<String, DeskError> {
    if body.len() > MAX_TEXT_BYTES + 1024 {
        return Err(DeskError::TooLarge);
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let text = if json {
        serde_json::from_slice::<ScanJson>(body)
            .map_err(|_| DeskError::Invalid(vec![r#"body must be {"text": "..."}"#.into()]))?
            .text
    } else {
        String::from_utf8(body.to_vec())
            .map_err(|_| DeskError::Invalid(vec!["body must be UTF-8 text".into()]))?
    };
    if text.len() > MAX_TEXT_BYTES {
        return Err(DeskError::TooLarge);
    }
    Ok(text)
}

/// `POST /api/v1/scan`.
pub(crate) async fn scan(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DeskError> {
    // API tokens only: a browser session must not be able to drive this endpoint.
    let token = bearer(&headers).ok_or(DeskError::Unauthenticated)?;
    let token_hash = sha256_hex(token);
    let user = state
        .store
        .user_by_api_token(&token_hash)
        .await?
        .ok_or(DeskError::Unauthenticated)?;
    limiter()
        .check(&token_hash, state.now_ms())
        .map_err(|retry_after| DeskError::RateLimited { retry_after })?;
    let text = text_of(&headers, &body)?;
    let report = signals()?.scan(&text);
    // Who asked and what came out, never the text.
    tracing::info!(
        user = %user.username,
        bytes = text.len(),
        severity = ?report.severity(),
        spans = report.spans.len(),
        "scan"
    );
    Ok(Json(ScanAnswer {
        severity: report.severity(),
        report,
    })
    .into_response())
}
