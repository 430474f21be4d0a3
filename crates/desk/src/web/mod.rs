//! The HTTP service: public intake, the edge's policy channel, and the analysts' pages.

mod analyst;
mod auth;
mod batch;
pub(crate) mod due;
mod edge;
mod highlight;
mod intake;
mod notice;
mod pages;
mod portal;
mod ratelimit;
mod referral;
mod scan;
mod transparency;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{watch, Notify};

use crate::clock::{Clock, SystemClock};
use crate::config::DeskConfig;
use crate::decision::PolicyContext;
use crate::i18n::I18n;
use crate::keys::Keys;
use crate::store::{Actor, Store};
use crate::triage::{NoSignals, SignalsHook};

pub use auth::{hash_password, verify_password};

/// Shared state of the handlers.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) config: DeskConfig,
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) keys: Keys,
    pub(crate) signals: Arc<dyn SignalsHook>,
    pub(crate) policy_version: watch::Sender<u64>,
    pub(crate) jobs: Arc<Notify>,
    /// Wakes the pager (P0 pages have a worker of their own).
    pub(crate) pages: Arc<Notify>,
    pub(crate) intake: batch::Intake,
    pub(crate) limiter: ratelimit::RateLimiter,
    pub(crate) i18n: I18n,
    pub(crate) fleet: Arc<crate::publish::Fleet>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub(crate) fn now_ms(&self) -> i64 {
        crate::clock::to_millis(self.clock.now())
    }

    pub(crate) fn actor(&self, name: impl Into<String>) -> Actor {
        Actor {
            name: name.into(),
            at: self.now_ms(),
        }
    }

    pub(crate) fn policy_ctx(&self) -> PolicyContext {
        PolicyContext {
            public_url: self.config.public_url.clone(),
            implemented_by: self.config.provider_name.clone(),
        }
    }

    /// Tells long-polling edges that `version` exists.
    pub(crate) fn published(&self, version: u64) {
        self.policy_version.send_if_modified(|v| {
            if version > *v {
                *v = version;
                true
            } else {
                false
            }
        });
    }

    /// Writes a signed audit checkpoint if one is due; failures are logged, not fatal (the
    /// chain itself is already committed).
    pub(crate) async fn checkpoint(&self) {
        if let Err(e) = self
            .store
            .checkpoint_if_due(
                &self.keys.audit,
                self.config.checkpoint_every,
                self.now_ms(),
            )
            .await
        {
            tracing::error!(error = %e, "audit checkpoint failed");
        }
    }
}

/// A desk, opened on its database, ready to serve.
#[derive(Clone)]
pub struct Desk {
    state: AppState,
}

/// A desk serving on a socket.
#[derive(Debug)]
pub struct RunningDesk {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    worker: tokio::task::JoinHandle<()>,
}

impl RunningDesk {
    /// Stops serving and the job worker.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.worker.abort();
        let _ = (&mut self.server).await;
    }

    /// Waits until the server stops (it does not stop by itself unless it fails).
    pub async fn wait(self) -> anyhow::Result<()> {
        let r = self.server.await;
        self.worker.abort();
        r??;
        Ok(())
    }
}

impl Desk {
    /// Opens the desk with the system clock and no content-signals detector.
    pub async fn open(config: DeskConfig) -> anyhow::Result<Desk> {
        Desk::open_with(config, Arc::new(SystemClock), Arc::new(NoSignals)).await
    }

    /// Opens the desk with a given clock and content-signals hook.
    pub async fn open_with(
        config: DeskConfig,
        clock: Arc<dyn Clock>,
        signals: Arc<dyn SignalsHook>,
    ) -> anyhow::Result<Desk> {
        use anyhow::Context as _;
        let keys = Keys::load_or_create(&config.key_dir).context("loading the desk's keys")?;
        let store = Store::connect(&config.database).await.with_context(|| {
            format!(
                "opening the database {}",
                crate::config::redact_url(&config.database)
            )
        })?;
        let current = store.latest_policy_version().await?.unwrap_or(0);
        let (policy_version, _) = watch::channel(current);
        let limiter = ratelimit::RateLimiter::new(config.intake.per_ip_per_minute);
        let jobs = Arc::new(Notify::new());
        let pages = Arc::new(Notify::new());
        let intake = batch::Intake::spawn(
            store.clone(),
            batch::Wake {
                jobs: jobs.clone(),
                pages: pages.clone(),
            },
            batch::Checkpoints {
                key: keys.audit.clone(),
                every: config.checkpoint_every,
                clock: clock.clone(),
            },
        );
        Ok(Desk {
            state: AppState(Arc::new(Inner {
                config,
                store,
                clock,
                keys,
                signals,
                policy_version,
                jobs,
                pages,
                intake,
                limiter,
                i18n: I18n::default(),
                fleet: Arc::default(),
            })),
        })
    }

    pub(crate) fn state(&self) -> &AppState {
        &self.state
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The routes.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Runs every job due now (evidence fetches, pages) until none is left; returns how many
    /// ran. The background worker calls this; tests call it directly.
    pub async fn run_due_jobs(&self) -> usize {
        crate::worker::run_due_jobs(&self.state).await
    }

    /// Tells the long poll and the NATS publisher that `version` was issued (the web handlers
    /// do this after each decision; for callers that use the store directly).
    pub fn policy_issued(&self, version: u64) {
        self.state.published(version);
    }

    /// The edges heard from over NATS, with their lag (empty without `[nats]`).
    pub fn edges(&self) -> Vec<crate::publish::EdgeRow> {
        let Some(nats) = &self.state.config.nats else {
            return Vec::new();
        };
        let current = *self.state.policy_version.borrow();
        self.state.fleet.rows(current, chrono::Utc::now(), nats)
    }

    /// Creates an admin account with a random one-time password, which is returned.
    pub async fn create_admin(&self, username: &str) -> anyhow::Result<String> {
        self.create_user(username, crate::store::Role::Admin).await
    }

    /// Benchmarks only: restricts `urls` on case `case_id` in one transaction and issues one
    /// policy version (see [`crate::store::Store::bulk_restrict`]); returns the version.
    pub async fn bulk_restrict(&self, case_id: &str, urls: &[String]) -> anyhow::Result<u64> {
        let v = self
            .state
            .store
            .bulk_restrict(
                case_id,
                urls,
                &self.state.actor("bench-seed"),
                &self.state.policy_ctx(),
            )
            .await?;
        self.state.checkpoint().await;
        self.state.published(v);
        Ok(v)
    }

    /// Creates an account with a random password, which is returned.
    pub async fn create_user(
        &self,
        username: &str,
        role: crate::store::Role,
    ) -> anyhow::Result<String> {
        let password = auth::random_token(18);
        let hash = hash_password(&password)?;
        self.state
            .store
            .create_user(username, &hash, role, &self.state.actor("system"))
            .await?;
        self.state.checkpoint().await;
        Ok(password)
    }

    /// Binds the configured address and serves, with the job worker, in the background.
    pub async fn start(self) -> anyhow::Result<RunningDesk> {
        let listener = tokio::net::TcpListener::bind(self.state.config.listen).await?;
        self.start_on(listener).await
    }

    /// Serves on an already bound listener (so that the caller knows the address, e.g. for the
    /// public URL, before opening the desk), with the job worker, in the background.
    pub async fn start_on(self, listener: tokio::net::TcpListener) -> anyhow::Result<RunningDesk> {
        let addr = listener.local_addr()?;
        let app = self.router();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
        });
        let worker = tokio::spawn(crate::worker::run(self.state.clone()));
        if self.state.store.backend() == crate::store::Backend::Postgres {
            tokio::spawn(crate::publish::listen_for_versions(self.state.clone()));
        }
        if let Some(nats) = self.state.config.nats.clone() {
            tokio::spawn(crate::publish::run(self.state.clone(), nats));
        }
        tracing::info!(%addr, "desk listening");
        Ok(RunningDesk {
            addr,
            shutdown: Some(tx),
            server,
            worker,
        })
    }
}

fn router(state: AppState) -> Router {
    let limit = state.config.intake.max_body_bytes;
    let intake = Router::new()
        .route("/report", get(intake::form_page).post(intake::form_submit))
        .route("/api/v1/reports", post(intake::api_submit))
        .layer(DefaultBodyLimit::max(limit));
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/report") }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/r/{token}", get(intake::follow_page))
        .route("/notices/{id}", get(notice::notice_page))
        .route("/r/{token}/decision", get(notice::reasons_page))
        .route("/r/{token}/appeals", post(notice::notifier_appeal))
        .route("/api/v1/policy", get(edge::policy))
        .route("/api/v1/edges", get(edge::edges))
        .route("/login", get(analyst::login_page).post(analyst::login))
        .route("/logout", post(analyst::logout))
        .route("/queue", get(analyst::queue_page))
        .route("/cases/{id}", get(analyst::case_page))
        .route("/cases/{id}/decisions", post(analyst::decide))
        .route("/decisions/{id}/lift", post(analyst::lift))
        .route("/evidence/{id}", get(analyst::evidence_page))
        .route("/admin", get(analyst::admin_page))
        .route("/admin/users", post(analyst::admin_create_user))
        .route("/admin/tokens", post(analyst::admin_create_token))
        .route("/api/v1/queue", get(analyst::api_queue))
        .route("/api/v1/cases/{id}", get(analyst::api_case))
        // Due process (issue 5).
        .route("/due", get(due::due_page))
        .route("/decisions/{id}/confirm", post(due::confirm))
        .route("/decisions/{id}/orders", post(due::record_order))
        .route("/approvals/{id}/approve", post(due::approve))
        .route("/approvals/{id}/reject", post(due::reject))
        .route("/appeals/{id}/decide", post(due::decide_appeal))
        .route("/api/v1/statements", get(due::api_statements))
        .route("/api/v1/statements/{id}", get(due::api_statement))
        .route(
            "/admin/customers",
            get(portal::admin_customers_page).post(portal::admin_create_customer),
        )
        .route("/portal", get(portal::portal_page))
        .route("/portal/decisions/{id}", get(portal::decision_page))
        .route("/portal/attachments/{id}", get(portal::customer_attachment))
        .route("/attachments/{id}", get(portal::analyst_attachment))
        .route("/portal/decisions/{id}/appeal", post(portal::appeal))
        .route(
            "/cases/{id}/referrals",
            get(referral::page).post(referral::refer_form),
        )
        .route(
            "/cases/{id}/authority-responses",
            post(referral::response_form),
        )
        .route("/referrals/{id}/bundle", post(referral::rewrite_bundle))
        .route(
            "/api/v1/cases/{id}/referrals",
            get(referral::api_list).post(referral::api_refer),
        )
        .route(
            "/api/v1/cases/{id}/authority-responses",
            post(referral::api_response),
        )
        .route("/transparency", get(transparency::page))
        .route("/transparency.json", get(transparency::json))
        .route("/transparency.csv", get(transparency::csv))
        .route("/api/v1/scan", post(scan::scan))
        .merge(intake)
        .merge(
            // An answer to a notice carries files: its own, larger, body limit.
            Router::new()
                .route("/portal/decisions/{id}/respond", post(portal::respond))
                .layer(DefaultBodyLimit::max(portal::RESPOND_BODY_LIMIT)),
        )
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    let h = resp.headers_mut();
    // No page of the desk needs scripts, frames or remote content; evidence is shown as text.
    // A handler may set a stricter policy (attachments add `sandbox`).
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(

        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// Serves the desk until it fails.
pub async fn serve(config: DeskConfig) -> anyhow::Result<()> {
    let signals = Arc::new(crate::ContentSignals::new()?);
    Desk::open_with(config, Arc::new(SystemClock), signals)
        .await?
        .start()
        .await?
        .wait()
        .await
}

/// Creates an admin account; returns its one-time password.
pub async fn create_admin(config: &DeskConfig, username: &str) -> anyhow::Result<String> {
    Desk::open(config.clone())
        .await?
        .create_admin(username)
        .await
}

/// Benchmarks only (`rempart bench-seed`): see [`Desk::bulk_restrict`]. A desk running on the
/// same database publishes the version (PostgreSQL's notification, or its periodic check).
pub async fn bulk_restrict(
    config: &DeskConfig,
    case_id: &str,
    urls: &[String],
) -> anyhow::Result<u64> {
    Desk::open(config.clone())
        .await?
        .bulk_restrict(case_id, urls)
        .await
}

/// Verifies the audit log of the configured database against the desk's key.
pub async fn audit_verify(config: &DeskConfig) -> anyhow::Result<crate::audit::AuditReport> {
    let key = Keys::audit_public(&config.key_dir)?;
    // Read-only: verifying must not change (or migrate) the database it examines.
    let store = Store::connect_read_only(&config.database).await?;
    Ok(crate::audit::verify_store(&store, &key).await?)
}
