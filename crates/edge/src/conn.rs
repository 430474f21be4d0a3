//! Connection-level defences: caps on concurrent connections (per client and in total) taken
//! before any TLS work, and the deadlines Pingora does not give — the whole request head, the
//! request body's rate, the response's read rate — plus the HTTP/2 limits handed to `h2`.
//!
//! Counting closes soundly: Pingora's `ConnectionFilter` sees accepts but never closes, so the
//! count is taken by a [`ConnGuard`] carried *inside* the connection's L4 stream (its `tracer`
//! slot, dropped with the stream whatever ends the connection: TLS handshake failure, protocol
//! error, timeout, normal close). The guard is attached before the TLS handshake on TLS
//! listeners (a pre-TLS callback) and before the first read on plain ones (a `ServerApp`
//! wrapper), so there is no window in which a connection is counted but not owned. The
//! `ConnectionFilter` only reads the counts, to drop a flood silently at accept.

use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream, ServerApp};
use pingora::listeners::PreTlsProcess;
use pingora::protocols::http::v2::server::{default_h2_options, H2Options};
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{GetSocketDigest, Stream};
use pingora::server::ShutdownWatch;
use pingora::upstreams::peer::{Tracer, Tracing};
use prometheus::{IntCounterVec, IntGauge, Opts};

use crate::config::Limits;
use crate::state::EdgeState;

const SHARDS: usize = 16;

/// The key a client's connections are counted under: the IPv4 address, or the IPv6 /64 (one
/// subscriber's whole prefix, which they can rotate through freely).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 address (IPv4-mapped IPv6 addresses are folded here).
    V4(u32),
    /// The first 64 bits of an IPv6 address.
    V6(u64),
}

impl ClientKey {
    /// The key for an address.
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(a) => ClientKey::V4(u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(u32::from(v4)),
                None => ClientKey::V6((u128::from(a) >> 64) as u64),
            },
        }
    }

    pub(crate) fn shard(&self) -> usize {
        let h = match self {
            ClientKey::V4(a) => (*a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ClientKey::V6(p) => p.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        };
        (h >> 60) as usize % SHARDS
    }
}

/// A count per client, sharded by key. Memory is bounded by what is counted: a client's entry
/// goes when its count returns to zero. Shared by the connection caps and a zone's client
/// share of its origin slots.
#[derive(Debug)]
pub struct ClientCounts {
    shards: Vec<Mutex<HashMap<ClientKey, u32>>>,
}

impl Default for ClientCounts {
    fn default() -> Self {
        ClientCounts {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl ClientCounts {
    fn shard(&self, key: ClientKey) -> std::sync::MutexGuard<'_, HashMap<ClientKey, u32>> {
        self.shards[key.shard()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The client's count now.
    pub fn get(&self, key: ClientKey) -> u64 {
        self.shard(key).get(&key).copied().unwrap_or(0).into()
    }

    /// One more for `key`, unless it holds `cap` already (0: no cap); whether it was counted.
    pub fn try_add(&self, key: ClientKey, cap: u64) -> bool {
        let mut shard = self.shard(key);
        // Refused only at a count of at least `cap` > 0: an entry that exists already.
        let n = shard.entry(key).or_insert(0);
        if cap > 0 && u64::from(*n) >= cap {
            return false;
        }
        *n += 1;
        true
    }

    /// One less for `key`.
    pub fn remove_one(&self, key: ClientKey) {
        let mut shard = self.shard(key);
        if let Some(n) = shard.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                shard.remove(&key);
            }
        }
    }
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client already holds `max_connections_per_ip`.
    PerClient,
    /// The edge already holds `max_connections`.
    Total,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::PerClient => "per_ip_cap",
            Refusal::Total => "total_cap",
        }
    }
}

/// Open connections per client and in total. Memory is bounded by the open connections: a
/// client's entry is removed when its last connection closes.
pub struct ConnTracker {
    state: Arc<EdgeState>,
    per_client: ClientCounts,
    total: AtomicUsize,
    open: IntGauge,
    refused: IntCounterVec,
}

impl std::fmt::Debug for ConnTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnTracker")
            .field("total", &self.total.load(Ordering::Relaxed))
            .finish()
    }
}

impl ConnTracker {
    /// A tracker reading its caps from the live configuration, with its metrics registered.
    pub fn new(state: Arc<EdgeState>) -> Result<Arc<ConnTracker>, prometheus::Error> {
        let open = IntGauge::new(
            "connections_open",
            "Client connections open (counted from accept, before TLS, to close)",
        )?;
        let refused = IntCounterVec::new(
            Opts::new(
                "connections_refused_total",
                "Client connections closed at accept, before TLS, by reason",
            ),
            &["reason"],
        )?;
        state.metrics.register(Box::new(open.clone()))?;
        state.metrics.register(Box::new(refused.clone()))?;
        Ok(Arc::new(ConnTracker {
            state,
            per_client: ClientCounts::default(),
            total: AtomicUsize::new(0),
            open,
            refused,
        }))
    }

    fn caps(&self) -> (u64, u64) {
        let c = self.state.config.load();
        (
            *c.limits.max_connections_per_ip.get_ref(),
            *c.limits.max_connections.get_ref(),
        )
    }

    /// Whether a new connection from `ip` would be refused now (read only: the accept filter
    /// uses it to drop a flood without a pre-TLS task; [`Self::admit`] decides for real).
    pub fn would_refuse(&self, ip: IpAddr) -> Option<Refusal> {
        let (per_ip, total) = self.caps();
        if total > 0 && self.total.load(Ordering::Relaxed) as u64 >= total {
            return Some(Refusal::Total);
        }
        if per_ip > 0 && self.per_client.get(ClientKey::of(ip)) >= per_ip {
            return Some(Refusal::PerClient);
        }
        None
    }

    /// Counts a refusal.
    pub fn refused(&self, why: Refusal) {
        self.refused.with_label_values(&[why.label()]).inc();
    }

    /// Counts a new connection from `ip` if the caps allow it; the count is released when the
    /// returned guard is dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnGuard, Refusal> {
        let (per_ip, total) = self.caps();
        let before = self.total.fetch_add(1, Ordering::AcqRel) as u64;
        if total > 0 && before >= total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Total);
        }
        let key = ClientKey::of(ip);
        if !self.per_client.try_add(key, per_ip) {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::PerClient);
        }
        self.open.inc();
        Ok(ConnGuard {
            tracker: Some(self.clone()),
            key,
        })
    }

    fn release(&self, key: ClientKey) {
        self.per_client.remove_one(key);
        self.total.fetch_sub(1, Ordering::AcqRel);
        self.open.dec();
    }

    /// Open connections now (for tests and the admin view).
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Counts the connection `stream` carries unless it is already counted; `Err` when the caps
    /// refuse it (the caller drops the stream).
    fn attach(self: &Arc<Self>, stream: &mut L4Stream) -> Result<(), Refusal> {
        if stream.tracer.is_some() {
            return Ok(());
        }
        let ip = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet().map(|a| a.ip())));
        // A connection without an IP peer (a Unix socket) is not a client of the caps.
        let Some(ip) = ip else { return Ok(()) };
        let guard = self.admit(ip)?;
        stream.tracer = Some(Tracer(Box::new(guard)));
        Ok(())
    }
}

/// One counted connection; dropping it (with the stream that carries it) releases the count.
pub struct ConnGuard {
    tracker: Option<Arc<ConnTracker>>,
    key: ClientKey,
}

impl std::fmt::Debug for ConnGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnGuard")
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if let Some(t) = self.tracker.take() {
            t.release(self.key);
        }
    }
}

// The L4 stream's `tracer` slot is the one owned place Pingora drops with the connection.
// Pingora never clones a downstream stream's tracer; a clone would not own the count.
impl Tracing for ConnGuard {
    fn on_connected(&self) {}
    fn on_disconnected(&self) {}
    fn boxed_clone(&self) -> Box<dyn Tracing> {
        Box::new(ConnGuard {
            tracker: None,
            key: self.key,
        })
    }
}

/// Counts TLS connections before the handshake.
pub struct PreTlsCount(pub Arc<ConnTracker>);

#[async_trait]
impl PreTlsProcess for PreTlsCount {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        crate::synfilter::on_accepted(std::os::fd::AsRawFd::as_raw_fd(stream));
        self.0.attach(stream).map_err(|why| {
            self.0.refused(why);
            pingora::Error::explain(
                pingora::ErrorType::AcceptError,
                "connection cap reached (a race past the accept filter)",
            )
        })
    }
}

/// Per-connection state the HTTP/1 request loop reads (task-local: one connection's HTTP/1
/// requests run in its task, one after the other).
struct ConnScope {
    requests: Cell<u32>,
}

/// Per-request state, shared by the deadline (outside the request's work) and the proxy phases
/// (inside it): when the head arrived, and how much body has been read.
#[derive(Default)]
struct RequestWatch {
    head_at: OnceLock<Instant>,
    body_bytes: AtomicU64,
    /// Held while a new connection waits for its first request head (see [`FirstHeads`]).
    first_head: Mutex<Option<FirstHeadWait>>,
}

/// New HTTP/1 connections still waiting for their first request head.
///
/// At shutdown (or when a graceful upgrade hands the listeners over) Pingora stops accepting,
/// then its clean-up drops every connection parked in a request-head read. That is right for
/// an idle kept-alive connection, but a connection accepted in the accept loop's last instant
/// has a request on its way and nobody else will answer it: the clean-up waits for those heads
/// first (each is bounded by the head deadline anyway).
#[derive(Default)]
pub struct FirstHeads {
    waiting: AtomicUsize,
    none_left: tokio::sync::Notify,
}

impl FirstHeads {
    fn wait_for(self: &Arc<Self>) -> FirstHeadWait {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        FirstHeadWait(self.clone())
    }

    /// Returns once no new connection waits for its first head, or after `at_most`.
    pub async fn arrived(&self, at_most: Duration) {
        let deadline = tokio::time::Instant::now() + at_most;
        loop {
            // Registered before the count is read: a wake-up in between is not missed.
            let none_left = self.none_left.notified();
            if self.waiting.load(Ordering::Acquire) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, none_left).await.is_err() {
                return;
            }
        }
    }
}

struct FirstHeadWait(Arc<FirstHeads>);

impl Drop for FirstHeadWait {
    fn drop(&mut self) {
        if self.0.waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.none_left.notify_waiters();
        }
    }
}

tokio::task_local! {
    static CONN: ConnScope;
    static REQUEST: Arc<RequestWatch>;
}

/// Called by the proxy as soon as a request head has been parsed: stops the head deadline and
/// applies the body and response rate limits to this request.
pub fn on_request_head(session: &mut pingora::proxy::Session, limits: &Limits) {
    let _ = REQUEST.try_with(|w| {
        let _ = w.head_at.set(Instant::now());
        if let Ok(mut first) = w.first_head.lock() {
            first.take();
        }
    });
    let window = Duration::from_secs(*limits.body_rate_window_s.get_ref());
    if *limits.min_body_rate.get_ref() > 0 {
        // A body that stalls for a whole window fails its read (→ 408); one that trickles is
        // caught by `on_request_body`.
        session.set_read_timeout(Some(window));
    }
    let min_response_rate = *limits.min_response_rate.get_ref();
    if min_response_rate > 0 {
        // HTTP/1: Pingora times each write by its size at this rate (at least 1 s).
        session.set_min_send_rate(Some(min_response_rate as usize));
        // HTTP/2 (where the rate is a no-op): a write that waits a whole window for the
        // client's flow-control credit fails.
        if matches!(session.as_downstream(), ServerSession::H2(_)) {
            session.set_write_timeout(Some(window));
        }
    }
}

/// Called by the proxy for each piece of request body read: whether the body has been
/// arriving for at least one window at less than the minimum rate (the caller answers 408).
pub fn body_too_slow(bytes: usize, limits: &Limits) -> bool {
    let min_rate = *limits.min_body_rate.get_ref();
    if min_rate == 0 {
        return false;
    }
    let window = Duration::from_secs(*limits.body_rate_window_s.get_ref());
    REQUEST
        .try_with(|w| {
            let total = w.body_bytes.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
            let Some(start) = w.head_at.get() else {
                return false;
            };
            let elapsed = start.elapsed();
            elapsed >= window && (total as f64) < min_rate as f64 * elapsed.as_secs_f64()
        })
        .unwrap_or(false)
}

/// The HTTP/2 settings: Pingora's bounded defaults with the configured limits. `h2` itself
/// bounds CONTINUATION frames per header block (from the header-list size) and locally
/// generated resets (1024 per connection, then GOAWAY `ENHANCE_YOUR_CALM`).
pub fn h2_options(limits: &Limits) -> H2Options {
    let mut o = default_h2_options();
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    o.max_concurrent_streams(clamp(*limits.h2_max_concurrent_streams.get_ref()));
    o.max_header_list_size(clamp(*limits.h2_max_header_list_bytes.get_ref()));
    // Rapid reset (CVE-2023-44487): streams the client resets before they are served still sit
    // in the accept queue; past this many the connection gets GOAWAY `ENHANCE_YOUR_CALM`.
    o.max_pending_accept_reset_streams(
        *limits.h2_max_pending_accept_reset_streams.get_ref() as usize
    );
    o
}

/// The service's application: counts plain connections at their first poll (TLS ones were
/// counted before the handshake) and enforces the request-head deadline.
pub struct Guarded<SV> {
    inner: Arc<Deadlines<SV>>,
    tracker: Arc<ConnTracker>,
}

impl<SV> Guarded<SV> {
    /// Wraps a Pingora HTTP application.
    pub fn new(app: SV, state: Arc<EdgeState>, tracker: Arc<ConnTracker>) -> Self {
        let config = state.config.load();
        let mut options = HttpServerOptions::default();
        // An HTTP/2 connection with no stream open (including one trickling a header block
        // that never ends) is closed like an idle HTTP/1 one.
        options.h2_idle_timeout = Some(Duration::from_secs(config.limits.idle_timeout_s));
        Guarded {
            inner: Arc::new(Deadlines {
                app: Arc::new(app),
                state: state.clone(),
                options,
                first_heads: Arc::default(),
            }),
            tracker,
        }
    }
}

#[async_trait]
impl<SV> ServerApp for Guarded<SV>
where
    SV: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let stream: Stream = if stream.as_any().is::<L4Stream>() {
            let Ok(mut l4) = stream.into_any().downcast::<L4Stream>() else {
                return None;
            };
            crate::synfilter::on_accepted(std::os::fd::AsRawFd::as_raw_fd(&*l4));
            if let Err(why) = self.tracker.attach(&mut l4) {
                self.tracker.refused(why);
                return None;
            }
            l4
        } else {
            stream
        };
        let scope = ConnScope {
            requests: Cell::new(0),
        };
        CONN.scope(scope, ServerApp::process_new(&self.inner, stream, shutdown))
            .await
    }

    async fn cleanup(&self) {
        let header_timeout = Duration::from_secs(
            *self
                .inner
                .state
                .config
                .load()
                .limits
                .header_timeout_s
                .get_ref(),
        );
        self.inner.first_heads.arrived(header_timeout).await;
        self.inner.app.http_cleanup().await;
    }
}

/// The HTTP layer: Pingora's application with the deadlines it lacks.
pub struct Deadlines<SV> {
    app: Arc<SV>,
    state: Arc<EdgeState>,
    options: HttpServerOptions,
    first_heads: Arc<FirstHeads>,
}

#[async_trait]
impl<SV> HttpServerApp for Deadlines<SV>
where
    SV: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new_http(
        self: &Arc<Self>,
        session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        let watch = Arc::new(RequestWatch::default());
        let is_h1 = matches!(session, ServerSession::H1(_));
        let first = is_h1 && CONN.try_with(|c| c.requests.get() == 0).unwrap_or(false);
        if first {
            if let Ok(mut slot) = watch.first_head.lock() {
                *slot = Some(self.first_heads.wait_for());
            }
        }
        let work = REQUEST.scope(watch.clone(), self.app.process_new_http(session, shutdown));
        if !is_h1 {
            // An HTTP/2 stream arrives with its whole head; h2 bounds the header block.
            return work.await;
        }
        let deadline = {
            let config = self.state.config.load();
            let header_timeout = Duration::from_secs(*config.limits.header_timeout_s.get_ref());
            // The first request's head is due `header_timeout` after the connection opened; a
            // later one's after the idle keep-alive wait plus `header_timeout` (Pingora closes
            // a connection that stays silent for the idle time; this bounds one that trickles).
            let nth = CONN
                .try_with(|c| {
                    let n = c.requests.get();
                    c.requests.set(n.saturating_add(1));
                    n
                })
                .unwrap_or(0);
            if nth == 0 {
                header_timeout
            } else {
                header_timeout + Duration::from_secs(config.limits.idle_timeout_s)
            }
        };
        tokio::pin!(work);
        tokio::select! {
            biased;
            done = &mut work => return done,
            _ = tokio::time::sleep(deadline) => {}
        }
        if watch.head_at.get().is_some() {
            return work.await;
        }
        // No complete head in time, however slowly it trickled: close the connection
        // (dropping the work drops the session and its stream), as nginx does.
        self.state
            .metrics
            .edge_answers
            .with_label_values(&["header_timeout"])
            .inc();
        None
    }

    fn h2_options(&self) -> Option<H2Options> {
        Some(h2_options(&self.state.config.load().limits))
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        Some(&self.options)
    }

    async fn http_cleanup(&self) {
        self.app.http_cleanup().await;
    }
}
