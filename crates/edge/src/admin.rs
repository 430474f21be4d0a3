//! The admin listener: `/metrics`, `/healthz`, `/readyz`. Keep it on loopback or a private
//! network; it says nothing secret but is not meant for the public.

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::state::EdgeState;

/// The admin HTTP application.
pub struct Admin {
    state: Arc<EdgeState>,
}

impl Admin {
    /// An admin app over the edge's state.
    pub fn new(state: Arc<EdgeState>) -> Self {
        Admin { state }
    }
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .header("cache-control", "no-store")
        .body(body)
        .unwrap_or_default()
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/metrics" => reply(
                200,
                "text/plain; version=0.0.4",
                self.state.metrics.render(),
            ),
            "/healthz" => reply(200, "text/plain", b"ok\n".to_vec()),
            "/readyz" => {
                if self.state.is_ready() {
                    let body = format!(
                        "ready policy_version={}\n",
                        self.state.policy.load().version()
                    );
                    reply(200, "text/plain", body.into_bytes())
                } else {
                    reply(503, "text/plain", b"not ready: no policy yet\n".to_vec())
                }
            }
            "/policy" => {
                let p = self.state.policy.load();
                let body = serde_json::json!({"version": p.version(), "restrictions": p.len()});
                reply(200, "application/json", body.to_string().into_bytes())
            }
            _ => reply(404, "text/plain", b"not found\n".to_vec()),
        }
    }
}
