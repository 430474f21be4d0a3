//! The data path: Pingora's `ProxyHttp` phases for Rempart.
//!
//! `request_filter` does everything that may answer without an origin — head checks, routing
//! to the zone, HTTPS redirect, policy enforcement — so a refused or restricted request never
//! reaches an origin. `upstream_peer` picks a healthy origin; the header filters write the
//! forwarding headers; `logging` writes the access log line and the metrics.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use http::Version;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::protocols::l4::socket::SocketAddr as PSocketAddr;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use rempart_policy::normalize_host;

use crate::headers::{check_head, set_forwarding, strip_hop_by_hop, ClientInfo, HeadProblem};
use crate::pages::{block_page, error_page, wants_json, EdgeError, Lang, Page};
use crate::state::EdgeState;
use crate::zones::Zone;

/// The SNI a TLS client asked for, attached to the connection after the handshake.
#[derive(Debug)]
pub struct Sni(pub String);

/// Per-request state shared across the phases.
#[derive(Debug)]
pub struct RequestCtx {
    started: Instant,
    request_id: String,
    zone: Option<Arc<Zone>>,
    host: String,
    /// Which layer decided the response: `origin`, `policy`, `routing`, `hygiene`, `redirect`,
    /// `challenge`, ….
    decided_by: &'static str,
    restriction: Option<Arc<str>>,
    /// The request rule that decided (logged as `decided_by = "rule:<id>"`).
    rule: Option<String>,
    /// The `log` rules that matched, comma-separated.
    rules_logged: Option<String>,
    upstream_sent: Option<Instant>,
    upstream_ms: Option<f64>,
    origin: Option<String>,
    peer: Option<Box<HttpPeer>>,
    /// A slot toward the zone's origins, held until the request ends.
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The client's share of those slots, held as long.
    _share: Option<crate::zones::ShareGuard>,
}

/// The edge's proxy logic.
pub struct EdgeProxy {
    state: Arc<EdgeState>,
    tls: bool,
    /// `edge_answers_total{reason="rate_limited"}`, resolved once: the label lookup is a hash
    /// and a lock, too much for the cheapest answer the edge gives.
    rate_limited: prometheus::IntCounter,
    /// Answer every request with the 429 page at once (`REMPART_BENCH_CONSTANT_429=1`): only
    /// for bench/flood, to measure what Pingora's HTTP/1 parse and write cost on their own.
    /// Compiled in only with the `bench-floor` feature.
    #[cfg(feature = "bench-floor")]
    constant_429: bool,
}

impl EdgeProxy {
    /// A proxy for plain (`tls = false`) or TLS listeners.
    pub fn new(state: Arc<EdgeState>, tls: bool) -> Self {
        let rate_limited = state
            .metrics
            .edge_answers
            .with_label_values(&["rate_limited"]);
        EdgeProxy {
            state,
            tls,
            rate_limited,
            #[cfg(feature = "bench-floor")]
            constant_429: std::env::var_os("REMPART_BENCH_CONSTANT_429").is_some_and(|v| v == "1"),
        }
    }

    /// The 429 answer, the one a flood gets most: a page rendered once per language, static
    /// header values, no allocation but the header map's. Keep-alive is kept, unless the
    /// refusal puts the client in the penalty box (`escalate`: a per-client limit; see
    /// [`crate::penalty`]): then the answer closes the connection and its `Retry-After` is the
    /// time in the box. Clients asking for JSON get [`Self::send_error`]'s answer (with
    /// `retry_after` in the body).
    async fn send_rate_limited(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        secs: u64,
        escalate: bool,
    ) -> Result<bool> {
        use http::HeaderValue;
        let boxed = if escalate {
            crate::penalty::on_refusal(&self.state, session, secs)
        } else {
            None
        };
        let secs = boxed.unwrap_or(secs);
        let decided_by = if boxed.is_some() {
            "penalty_box"
        } else {
            "rate_limit"
        };
        let (lang, json) = negotiate(session);
        if json {
            return self
                .send_error(session, ctx, EdgeError::RateLimited(secs), decided_by)
                .await;
        }
        self.rate_limited.inc();
        ctx.decided_by = decided_by;
        let (body, len) = self.state.catalog.rate_limited_page(lang);
        let mut resp = ResponseHeader::build(429, Some(8))?;
        resp.insert_header(
            "content-type",
            HeaderValue::from_static("text/html; charset=utf-8"),
        )?;
        resp.insert_header("content-length", len)?;
        resp.insert_header("content-language", HeaderValue::from_static(lang.tag()))?;
        resp.insert_header("vary", HeaderValue::from_static("Accept, Accept-Language"))?;
        resp.insert_header(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        )?;
        resp.insert_header("cache-control", HeaderValue::from_static("no-store"))?;
        resp.insert_header("retry-after", HeaderValue::from(secs))?;
        if !ctx.request_id.is_empty() {
            resp.insert_header("x-request-id", ctx.request_id.as_str())?;
        }
        let head_only = session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(resp), head_only)
            .await?;
        if !head_only {
            session.write_response_body(Some(body), true).await?;
        }
        Ok(true)
    }

    async fn send_page(
        &self,
        session: &mut Session,
        page: Page,
        extra: &[(&'static str, String)],
    ) -> Result<()> {
        let mut resp = ResponseHeader::build(page.status, Some(8))?;
        resp.insert_header("content-type", page.content_type)?;
        resp.insert_header("content-length", page.body.len().to_string())?;
        resp.insert_header("content-language", page.lang.tag())?;
        resp.insert_header("vary", "Accept, Accept-Language")?;
        resp.insert_header("x-content-type-options", "nosniff")?;
        for (name, value) in extra {
            resp.insert_header(*name, value.as_str())?;
        }
        let head_only = session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(resp), head_only)
            .await?;
        if !head_only {
            session
                .write_response_body(Some(Bytes::from(page.body)), true)
                .await?;
        }
        Ok(())
    }

    async fn send_error(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        err: EdgeError<'_>,
        decided_by: &'static str,
    ) -> Result<bool> {
        let (lang, json) = negotiate(session);
        let page = error_page(&self.state.catalog, &err, lang, json, &ctx.request_id);
        let reason = match err {
            EdgeError::UnknownHost(_) => "unknown_host",
            EdgeError::Misdirected(_) => "misdirected",
            EdgeError::OriginDown(_) => "origin_down",
            EdgeError::BadRequest(_) => "bad_request",
            EdgeError::UriTooLong => "uri_too_long",
            EdgeError::HeadersTooLarge => "headers_too_large",
            EdgeError::Denied => "ip_denied",
            EdgeError::RateLimited(_) => "rate_limited",
            EdgeError::OverShare => "client_concurrency",
            EdgeError::Overloaded(_) => "zone_overloaded",
            EdgeError::RuleBlocked(_) => "rule_blocked",
        };
        self.state
            .metrics
            .edge_answers
            .with_label_values(&[reason])
            .inc();
        ctx.decided_by = decided_by;
        if page.status == 400 || page.status == 431 || page.status == 414 {
            // The rest of this connection's bytes cannot be trusted to be framed right.
            session.set_keepalive(None);
        }
        let mut extra = vec![
            ("cache-control", "no-store".to_string()),
            ("x-request-id", ctx.request_id.clone()),
        ];
        match err {
            EdgeError::RateLimited(secs) => extra.push(("retry-after", secs.to_string())),
            EdgeError::OverShare | EdgeError::Overloaded(_) => {
                extra.push(("retry-after", "1".to_string()))
            }
            _ => {}
        }
        self.send_page(session, page, &extra).await?;
        Ok(true)
    }

    fn client_ip(session: &Session) -> Option<IpAddr> {
        match session.client_addr() {
            Some(PSocketAddr::Inet(a)) => Some(a.ip()),
            _ => None,
        }
    }

    fn sni(session: &Session) -> Option<String> {
        session
            .digest()
            .and_then(|d| d.ssl_digest.as_ref())
            .and_then(|s| s.extension.get::<Sni>())
            .map(|s| s.0.to_ascii_lowercase())
    }
}

fn negotiate(session: &Session) -> (Lang, bool) {
    let h = &session.req_header().headers;
    let lang = Lang::negotiate(h.get("accept-language").and_then(|v| v.to_str().ok()));
    let json = wants_json(h.get("accept").and_then(|v| v.to_str().ok()));
    (lang, json)
}

/// Whether the raw HTTP/1 head carried a Content-Length header.
fn had_content_length(session: &Session) -> bool {
    match session.as_downstream() {
        pingora::protocols::http::ServerSession::H1(s) => {
            let raw = s.get_headers_raw_bytes();
            raw.split(|&b| b == b'\n').skip(1).any(|line| {
                line.len() >= 15 && line[..15].eq_ignore_ascii_case(b"content-length:")
                    || line.len() > 14
                        && line[..14].eq_ignore_ascii_case(b"content-length")
                        && line[14..]
                            .iter()
                            .take_while(|b| **b != b':')
                            .all(|b| *b == b' ' || *b == b'\t')
            })
        }
        _ => false,
    }
}

/// The host the request is for: the absolute-form target's authority, else `Host`.
fn request_host(req: &RequestHeader) -> Option<&str> {
    if let Some(a) = req.uri.authority() {
        return Some(a.as_str());
    }
    req.headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
}

#[async_trait]
impl ProxyHttp for EdgeProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> Self::CTX {
        RequestCtx {
            started: Instant::now(),
            request_id: uuid::Uuid::new_v4().simple().to_string(),
            zone: None,
            host: String::new(),
            decided_by: "origin",
            restriction: None,
            rule: None,
            rules_logged: None,
            upstream_sent: None,
            upstream_ms: None,
            origin: None,
            peer: None,
            _slot: None,
            _share: None,
        }
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        _ctx: &mut Self::CTX,
    ) -> Result<()> {
        // The head is complete: stop its deadline, arm the body and response rates.
        crate::conn::on_request_head(session, &self.state.config.load().limits);
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        _ctx: &mut Self::CTX,
    ) -> Result<()> {
        let n = body.as_ref().map_or(0, |b| b.len());
        if crate::conn::body_too_slow(n, &self.state.config.load().limits) {
            self.state
                .metrics
                .edge_answers
                .with_label_values(&["body_too_slow"])
                .inc();
            return Error::e_explain(
                HTTPStatus(408),
                "request body slower than limits.min_body_rate",
            );
        }
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool> {
        #[cfg(feature = "bench-floor")]
        if self.constant_429 {
            return self.send_rate_limited(session, ctx, 1, false).await;
        }
        let config = self.state.config.load();

        // Idle keep-alive connections are closed after the configured time, whatever the
        // client asked for in `Keep-Alive: timeout=`.
        if session.get_keepalive().is_some() {
            session.set_keepalive(Some(config.limits.idle_timeout_s));
        }

        // 1. Hygiene: framing and sizes, before anything reads the request.
        let req = session.req_header();
        let target_len = req.uri.path_and_query().map_or(0, |pq| pq.as_str().len())
            + req.uri.authority().map_or(0, |a| a.as_str().len());
        if let Err(problem) = check_head(req.version, target_len, &req.headers, &config.limits) {
            let err = match problem {
                HeadProblem::Bad(reason) => EdgeError::BadRequest(reason),
                HeadProblem::UriTooLong => EdgeError::UriTooLong,
                HeadProblem::HeadersTooLarge => EdgeError::HeadersTooLarge,
            };
            return self.send_error(session, ctx, err, "hygiene").await;
        }

        // Pingora drops Content-Length when Transfer-Encoding is present (RFC 9112 §6.3);
        // the raw head still shows it, and such a request is refused, not guessed at.
        if req.headers.contains_key(http::header::TRANSFER_ENCODING) && had_content_length(session)
        {
            return self
                .send_error(
                    session,
                    ctx,
                    EdgeError::BadRequest("both Content-Length and Transfer-Encoding are present"),
                    "hygiene",
                )
                .await;
        }
        let req = session.req_header();

        // 2. Routing: the zone that serves this host.
        let Some(raw_host) = request_host(req) else {
            return self
                .send_error(
                    session,
                    ctx,
                    EdgeError::BadRequest("no Host header"),
                    "hygiene",
                )
                .await;
        };
        let host = normalize_host(raw_host).into_owned();
        if host.is_empty() || host.bytes().any(|b| b.is_ascii_whitespace() || b == b'/') {
            return self
                .send_error(
                    session,
                    ctx,
                    EdgeError::BadRequest("invalid Host header"),
                    "hygiene",
                )
                .await;
        }
        ctx.host = host;
        let zones = self.state.zones.load();
        let Some(zone) = zones.find(&ctx.host).cloned() else {
            let host = ctx.host.clone();
            return self
                .send_error(session, ctx, EdgeError::UnknownHost(&host), "routing")
                .await;
        };
        if self.tls {
            if let Some(sni) = Self::sni(session) {
                let same_zone = zones
                    .find(sni.trim_end_matches('.'))
                    .is_some_and(|z| Arc::ptr_eq(z, &zone));
                if !same_zone {
                    let host = ctx.host.clone();
                    return self
                        .send_error(session, ctx, EdgeError::Misdirected(&host), "routing")
                        .await;
                }
            }
        }
        ctx.zone = Some(zone.clone());

        // The zone's own address lists.
        if !zone.ip_rules.is_empty() {
            if let Some(ip) = Self::client_ip(session) {
                if zone.ip_rules.check(ip) == crate::iplist::Verdict::Denied {
                    return self
                        .send_error(session, ctx, EdgeError::Denied, "ip_list")
                        .await;
                }
            }
        }

        // Challenges: answers to them, then the zone's challenge mode (always, or automatic
        // above its request rate) for requests without a valid clearance.
        if crate::challenge::is_submit(session.req_header().uri.path()) {
            ctx.decided_by = "challenge";
            crate::challenge::handle_submit(&self.state, session, &zone, self.tls, &ctx.request_id)
                .await?;
            return Ok(true);
        }
        // A plain-HTTP request about to be redirected to HTTPS is challenged there.
        let redirecting = !self.tls && zone.https_redirect;
        if let Some(trigger) = zone.challenge.on_request().filter(|_| !redirecting) {
            let done =
                crate::challenge::enforce(&self.state, session, &zone, trigger, &ctx.request_id)
                    .await?;
            if done.answered() {
                ctx.decided_by = done.decided_by("challenge");
                ctx.restriction = Some(trigger.restriction());
                return Ok(true);
            }
        }

        // Request rules: provider-wide, then the zone's; the first terminal rule decides.
        let mut skip_rate_limits = false;
        if !zones.rules.is_empty() || !zone.rules.is_empty() {
            let ip = Self::client_ip(session);
            let rate = match ip {
                Some(ip) if zones.rules_use_rate => crate::rules::measure(ip),
                _ => 0.0,
            };
            let view = crate::rules::View {
                host: &ctx.host,
                req: session.req_header(),
                ip,
                rate,
                tls: self.tls,
            };
            let decision = crate::rules::evaluate(
                &zones.rules,
                &zone.rules,
                &zone.name,
                &view,
                &self.state.metrics,
            );
            ctx.rules_logged = decision.logged;
            ctx.rule = decision.rule;
            use crate::rules::Effect;
            let refusal = match decision.effect {
                Effect::Continue => None,
                Effect::Allow => {
                    skip_rate_limits = true;
                    None
                }
                Effect::Block(status) => Some(EdgeError::RuleBlocked(status)),
                Effect::Challenge => {
                    // A cleared client goes on; others get the challenge page.
                    let trigger = crate::challenge::Trigger::Rule;
                    let done = crate::challenge::enforce(
                        &self.state,
                        session,
                        &zone,
                        trigger,
                        &ctx.request_id,
                    )
                    .await?;
                    if done.answered() {
                        ctx.decided_by = done.decided_by("rule");
                        ctx.restriction = Some(trigger.restriction());
                        return Ok(true);
                    }
                    None
                }
                Effect::RateLimited(secs) => Some(EdgeError::RateLimited(secs)),
            };
            if let Some(err) = refusal {
                return self.send_error(session, ctx, err, "rule").await;
            }
        }

        // Rate limits: provider-wide, then the zone's.
        if !skip_rate_limits && (!zones.rate_rules.is_empty() || !zone.rate_rules.is_empty()) {
            if let Some(ip) = Self::client_ip(session) {
                let req = session.req_header();
                let limited = crate::ratelimit::check_rule(
                    &zones.rate_rules,
                    ip,
                    &req.method,
                    req.uri.path(),
                )
                .or_else(|| {
                    crate::ratelimit::check_rule(&zone.rate_rules, ip, &req.method, req.uri.path())
                });
                if let Some((rule, wait)) = limited {
                    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    if rule.challenge {
                        // A cleared client goes on to the origin; others get the challenge.
                        let trigger = crate::challenge::Trigger::RateLimit(secs.max(1));
                        let done = crate::challenge::enforce(
                            &self.state,
                            session,
                            &zone,
                            trigger,
                            &ctx.request_id,
                        )
                        .await?;
                        if done.answered() {
                            ctx.decided_by = done.decided_by("challenge");
                            ctx.restriction = Some(rule.label.clone());
                            return Ok(true);
                        }
                    } else {
                        ctx.restriction = Some(rule.label.clone());
                        let escalate = rule.per_client();
                        return self
                            .send_rate_limited(session, ctx, secs.max(1), escalate)
                            .await;
                    }
                }
            }
        }

        // 3. Plain HTTP to a zone that wants HTTPS.
        if !self.tls && zone.https_redirect {
            let pq = session
                .req_header()
                .uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str());
            let location = format!("https://{}{}", ctx.host, pq);
            ctx.decided_by = "redirect";
            let mut resp = ResponseHeader::build(308, Some(4))?;
            resp.insert_header("location", location)?;
            resp.insert_header("content-length", "0")?;
            resp.insert_header("x-request-id", ctx.request_id.as_str())?;
            session.write_response_header(Box::new(resp), true).await?;
            return Ok(true);
        }

        // 4. The policy: the narrowest restriction in force, before any origin is contacted.
        let policy = self.state.policy.load();
        if !policy.is_empty() {
            let now = Utc::now();
            let pq = session
                .req_header()
                .uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str());
            if let Some(m) = policy.lookup(&ctx.host, pq, now) {
                let r = m.restriction;
                let (lang, json) = negotiate(session);
                let page = block_page(&self.state.catalog, r, lang, json, &ctx.request_id);
                // Never cached past the restriction's end, and briefly otherwise, so that a
                // lifted restriction stops showing soon.
                let max_age = r
                    .ends_at
                    .map_or(60, |end| (end - now).num_seconds().clamp(0, 60));
                let extra = [
                    ("link", format!("<{}>; rel=\"blocked-by\"", r.notice_url)),
                    ("cache-control", format!("public, max-age={max_age}")),
                    ("x-request-id", ctx.request_id.clone()),
                ];
                ctx.decided_by = "policy";
                ctx.restriction = Some(Arc::from(r.id.0.as_str()));
                self.state
                    .metrics
                    .restrictions_served
                    .with_label_values(&[r.id.0.as_str(), &r.status().to_string()])
                    .inc();
                self.send_page(session, page, &extra).await?;
                return Ok(true);
            }
        }

        // 5. A healthy origin, or a page naming the zone whose origins are all down.
        // Weighted round robin ignores the key.
        match zone.pick_origin(b"") {
            Some(peer) => ctx.peer = Some(Box::new(peer)),
            None => {
                let name = zone.name.clone();
                return self
                    .send_error(session, ctx, EdgeError::OriginDown(&name), "origin_health")
                    .await;
            }
        }

        // One client's share of those slots first: a client holding its share is answered at
        // once, without queueing behind (or ahead of) anyone.
        if let (Some(share), Some(ip)) = (&zone.client_share, Self::client_ip(session)) {
            match share.take(ip) {
                Some(guard) => ctx._share = Some(guard),
                None => {
                    return self
                        .send_error(session, ctx, EdgeError::OverShare, "client_concurrency")
                        .await;
                }
            }
        }
        // The zone's cap on requests in flight toward its origins: a short queue, then 503.
        if let Some(slots) = &zone.inflight {
            let acquire = slots.clone().acquire_owned();
            match tokio::time::timeout(zone.queue_timeout, acquire).await {
                Ok(Ok(permit)) => ctx._slot = Some(permit),
                _ => {
                    let name = zone.name.clone();
                    return self
                        .send_error(session, ctx, EdgeError::Overloaded(&name), "concurrency")
                        .await;
                }
            }
        }

        // 6. A chunked body is framed by the client: read its first part now, so that a
        // malformed one is refused before the origin hears of the request. Pingora replays
        // what was read from its retry buffer (64 KiB, one read never exceeds it); later
        // parts are re-framed by the edge, so a bad chunk further on cannot desynchronise
        // the origin either.
        if session
            .req_header()
            .headers
            .contains_key(http::header::TRANSFER_ENCODING)
        {
            session.as_mut().enable_retry_buffering();
            if session.read_request_body().await.is_err() {
                return self
                    .send_error(
                        session,
                        ctx,
                        EdgeError::BadRequest("malformed chunked body"),
                        "hygiene",
                    )
                    .await;
            }
        }
        Ok(false)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> Result<Box<HttpPeer>> {
        // The first attempt uses the origin chosen in request_filter; a retry picks again.
        let peer = match ctx.peer.take() {
            Some(peer) => peer,
            None => {
                let zone = ctx
                    .zone
                    .as_ref()
                    .ok_or_else(|| Error::explain(InternalError, "no zone chosen"))?;
                Box::new(zone.pick_origin(b"").ok_or_else(|| {
                    Error::explain(HTTPStatus(502), "every origin of the zone is down")
                })?)
            }
        };
        ctx.origin = Some(peer._address.to_string());
        Ok(peer)
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        let is_upgrade = session.is_upgrade_req();
        strip_hop_by_hop(upstream_request, is_upgrade);
        let config = self.state.config.load();
        let version = session.req_header().version;
        let peer = Self::client_ip(session);
        set_forwarding(
            upstream_request,
            &ClientInfo {
                peer,
                tls: self.tls,
                host: &ctx.host,
                request_id: &ctx.request_id,
                version,
            },
            &config.trusted_nets,
        );
        // HTTP/2 clients carry the host in :authority; origins expect a Host header.
        if upstream_request.headers.get(http::header::HOST).is_none() {
            if let Some(a) = session.req_header().uri.authority() {
                upstream_request.insert_header("host", a.as_str())?;
            }
        }
        ctx.upstream_sent = Some(Instant::now());
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream_response: &mut ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        if let (Some(sent), Some(zone)) = (ctx.upstream_sent, ctx.zone.as_ref()) {
            let secs = sent.elapsed().as_secs_f64();
            ctx.upstream_ms = Some(secs * 1000.0);
            zone.metrics.upstream_latency.observe(secs);
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        let upgrade = resp.status == http::StatusCode::SWITCHING_PROTOCOLS;
        strip_hop_by_hop(resp, upgrade);
        let via_token = match session.req_header().version {
            Version::HTTP_2 => "2 rempart",
            _ => "1.1 rempart",
        };
        let via = match resp.headers.get("via").and_then(|v| v.to_str().ok()) {
            Some(prior) => format!("{prior}, {via_token}"),
            None => via_token.to_string(),
        };
        resp.insert_header("via", via)?;
        resp.insert_header("x-request-id", ctx.request_id.as_str())?;
        if self.tls {
            if let Some(hsts) = ctx.zone.as_ref().and_then(|z| z.hsts.clone()) {
                resp.insert_header("strict-transport-security", hsts)?;
            }
        }
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Self::CTX,
    ) -> FailToProxy {
        let code = match e.etype() {
            HTTPStatus(code) => *code,
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    WriteError | ReadError | ConnectionClosed => 0,
                    // A request body that stalled past limits.body_rate_window_s.
                    ReadTimedout => 408,
                    _ => 400,
                },
                _ => 500,
            },
        };
        if code == 502 || code == 504 {
            if session.response_written().is_none() {
                let name = ctx
                    .zone
                    .as_ref()
                    .map(|z| z.name.clone())
                    .unwrap_or_default();
                let _ = self
                    .send_error(session, ctx, EdgeError::OriginDown(&name), "origin")
                    .await;
            }
        } else if code == 400 && session.response_written().is_none() {
            let _ = self
                .send_error(
                    session,
                    ctx,
                    EdgeError::BadRequest("malformed request body"),
                    "hygiene",
                )
                .await;
        } else if code > 0 && session.response_written().is_none() {
            let _ = session.respond_error(code).await;
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Self::CTX) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        match ctx.zone.as_ref() {
            Some(z) => z.metrics.count(status),
            None => self.state.no_zone.count(status),
        }
        let zone = ctx.zone.as_ref().map_or("-", |z| z.name.as_str());
        if !self.state.access_log {
            return;
        }
        let req = session.req_header();
        let client = Self::client_ip(session).map(|ip| ip.to_string());
        let rule_decided = ctx
            .rule
            .as_ref()
            .filter(|_| ctx.decided_by == "rule")
            .map(|id| format!("rule:{id}"));
        let decided_by = rule_decided.as_deref().unwrap_or(ctx.decided_by);
        tracing::info!(
            target: "access",
            request_id = %ctx.request_id,
            zone,
            host = %ctx.host,
            method = %req.method,
            path = %req.uri.path(),
            version = ?req.version,
            status,
            decided_by,
            rules_logged = ctx.rules_logged.as_deref(),
            restriction = ctx.restriction.as_deref(),
            origin = ctx.origin.as_deref(),
            client = client.as_deref(),
            tls = self.tls,
            duration_ms = ctx.started.elapsed().as_secs_f64() * 1000.0,
            upstream_ms = ctx.upstream_ms,
            error = e.map(|e| e.etype().as_str()),
        );
    }
}
