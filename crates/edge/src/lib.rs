//! The edge: a multi-tenant reverse proxy on Pingora that terminates TLS, routes each request
//! to its zone's origins, and enforces the desk's policy with RFC 7725 block pages.
//!
//! Layout: [`config`] (the file, validated), [`zones`] and [`tls`] (what the config becomes at
//! run time), [`proxy`] (the data path, one `ProxyHttp` phase at a time), [`headers`] (request
//! hygiene and forwarding headers), [`pages`] (block and error pages), [`control`] (reloads,
//! policy source, health checks), [`admin`] and [`metrics`].

pub mod admin;
pub mod challenge;
pub mod config;
pub mod conn;
pub mod control;
pub mod fleet;
pub mod headers;
pub mod iplist;
pub mod metrics;
pub mod pages;
pub mod penalty;
pub mod proxy;
pub mod ratelimit;
pub mod rules;
pub mod state;
pub mod synfilter;
pub mod tls;
pub mod zones;

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use pingora::apps::http_app::HttpServer;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{ListenerConfig, TlsAccept};
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::protocols::tls::TlsRef;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::config::EdgeConfig;
use crate::state::EdgeState;
use crate::tls::SniResolver;

/// How to start the edge.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The configuration file.
    pub config: PathBuf,
    /// Take the listeners over from a running edge (graceful upgrade).
    pub upgrade: bool,
}

/// Drops connections from addresses on the provider-wide deny list at accept, before any TLS
/// work is spent on them.
/// Also drops, silently, connections from clients in the penalty box (see [`penalty`]) and
/// connections over the connection caps (see [`conn`]).
#[derive(Debug)]
struct AcceptFilter {
    state: Arc<EdgeState>,
    conns: Arc<conn::ConnTracker>,
}

#[async_trait]
impl pingora::listeners::ConnectionFilter for AcceptFilter {
    async fn should_accept(&self, addr: Option<&std::net::SocketAddr>) -> bool {
        let Some(addr) = addr else { return true };
        let zones = self.state.zones.load();
        if zones.ip_rules.check(addr.ip()) == iplist::Verdict::Denied {
            self.state
                .metrics
                .edge_answers
                .with_label_values(&["ip_denied_at_accept"])
                .inc();
            return false;
        }
        // A client refused again and again (see `penalty`): closed before TLS and HTTP.
        if self.state.penalty.refuses(addr.ip()) {
            return false;
        }
        if let Some(why) = self.conns.would_refuse(addr.ip()) {
            self.conns.refused(why);
            return false;
        }
        // Connections already open come first: the accept loop gives way to the runtime before
        // it takes the next connection from the kernel. A burst of new connections (a flood from
        // many addresses) then waits in the kernel's accept queue instead of queueing its
        // requests ahead of a request on a kept-alive connection. Without it, 200 connections
        // landing within a millisecond were 200 tasks (≈ 8 ms of work) ahead of the next
        // established client's request.
        //
        // The filter must not await here: Pingora's accept loop selects between `accept()` and
        // its shutdown signal, and a shutdown arriving while the filter is pending drops the
        // connection just taken from the kernel (a failed request during a graceful upgrade).
        // Spending the accept task's scheduling budget instead makes the *next* accept yield
        // before it touches the kernel's queue, where a connection is never lost.
        spend_task_budget().await;
        true
    }
}

/// Uses up the current task's cooperative-scheduling budget and returns at once: the task's
/// next budgeted operation (a socket's accept) yields to the scheduler first. Completes on
/// its first poll, so it is no cancellation point.
async fn spend_task_budget() {
    std::future::poll_fn(|cx| {
        // Bounded: an unconstrained task's budget never runs out (Tokio's default is 128).
        for _ in 0..1024 {
            match tokio::task::coop::poll_proceed(cx) {
                std::task::Poll::Ready(spent) => spent.made_progress(),
                std::task::Poll::Pending => break,
            }
        }
        std::task::Poll::Ready(())
    })
    .await
}

struct SniCapture;

#[async_trait]
impl TlsAccept for SniCapture {
    async fn handshake_complete_callback(
        &self,
        tls: &TlsRef,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        tls.server_name()
            .map(|n| Arc::new(proxy::Sni(n.to_string())) as Arc<dyn Any + Send + Sync>)
    }
}

/// Builds the edge's state from a configuration: zones, certificates, first health checks and
/// the first policy (from the policy file or the fail-static cache).
pub fn prepare(config: EdgeConfig) -> anyhow::Result<Arc<EdgeState>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let metrics = metrics::Metrics::new()?;
    let limiters = Arc::new(ratelimit::LimiterRegistry::default());
    let (table, certs) = rt
        .block_on(zones::build(&config, &metrics, &limiters))
        .map_err(anyhow::Error::msg)?;
    rt.block_on(async {
        for z in &table.zones {
            z.check_health().await;
        }
    });
    let resolver = Arc::new(SniResolver::default());
    resolver.replace(certs);
    let access_log = config.access_log;
    let state = Arc::new(EdgeState::new(
        config, table, resolver, metrics, limiters, access_log,
    )?);
    let config = state.config.load_full();
    if config.policy.file.is_some() {
        let v = control::reload_policy_file(&state).map_err(anyhow::Error::msg)?;
        tracing::info!(version = v, "policy loaded from file");
        state.set_ready();
    } else if config.policy.nats_url.is_some()
        || (config.policy.desk_url.is_some() && !config.policy.trusted.is_empty())
    {
        // Fail-static: start from the last verified policy; the fleet channel catches up.
        if let Some(path) = config.policy.cache_file.as_ref().map(|c| config.path(c)) {
            if path.is_file() {
                match fleet::load_cache(&path, &fleet::trusted_keys(&config)) {
                    Ok((p, _)) => {
                        state.install_policy(&p, true);
                        state.set_ready();
                        tracing::info!(
                            version = p.version,
                            "starting from the last verified policy on disk"
                        );
                    }
                    Err(e) => tracing::error!("ignoring the policy cache: {e}"),
                }
            }
        }
    } else if config.policy.desk_url.is_some() {
        if let Some(cache) = &config.policy.cache_file {
            let path = config.path(cache);
            if path.is_file() {
                match control::read_policy_file(&path) {
                    Ok(p) => {
                        state.install_policy(&p, true);
                        state.set_ready();
                        tracing::info!(
                            version = p.version,
                            "starting from the last verified policy on disk"
                        );
                    }
                    Err(e) => tracing::warn!("ignoring the policy cache: {e}"),
                }
            }
        }
    } else {
        state.set_ready();
    }
    Ok(state)
}

/// Per-connection socket buffers. Pingora's default read buffer is 64 KiB per connection, which
/// made 10k idle keep-alive connections cost 440 MiB; the HTTP layer reads headers into its own
/// buffer, so a small one is enough.
fn l4_buffer() -> L4BufferSettings {
    L4BufferSettings::new(4096, 4096)
}

/// Runs the edge until it is told to stop. Does not return on success (Pingora exits the
/// process after a graceful shutdown).
pub fn run(opts: RunOptions) -> anyhow::Result<()> {
    let config = EdgeConfig::load(&opts.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = prepare(config)?;
    let config = state.config.load_full();

    let tag = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        config
            .source
            .canonicalize()
            .unwrap_or(config.source.clone())
            .hash(&mut h);
        format!("{:x}", h.finish())
    };
    let conf = ServerConf {
        threads: config.listen.threads,
        grace_period_seconds: Some(config.process.grace_period_s),
        graceful_shutdown_timeout_seconds: Some(config.process.shutdown_timeout_s),
        upgrade_sock: config
            .process
            .upgrade_sock
            .clone()
            .unwrap_or_else(|| format!("/tmp/rempart-edge-{tag}.sock")),
        pid_file: config
            .process
            .pid_file
            .clone()
            .unwrap_or_else(|| format!("/tmp/rempart-edge-{tag}.pid")),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: opts.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let conns = conn::ConnTracker::new(state.clone())?;
    let accept_filter = Arc::new(AcceptFilter {
        state: state.clone(),
        conns: conns.clone(),
    });
    // The proxy wrapped in the connection defences (caps, head deadline, HTTP/2 limits).
    let server_conf = server.configuration.clone();
    let guarded = |tls: bool| {
        conn::Guarded::new(
            pingora::proxy::http_proxy(&server_conf, proxy::EdgeProxy::new(state.clone(), tls)),
            state.clone(),
            conns.clone(),
        )
    };
    if !config.listen.http.is_empty() {
        let mut http = Service::new("rempart http".to_string(), guarded(false));
        for a in &config.listen.http {
            http.add_listener(ListenerConfig::tcp(a.get_ref().as_str()).l4_buffer(l4_buffer()));
        }
        http.set_connection_filter(accept_filter.clone());
        server.add_service(http);
    }
    if !config.listen.https.is_empty() {
        let mut https = Service::new("rempart https".to_string(), guarded(true));
        https
            .endpoints()
            .set_pre_tls_callback(Arc::new(conn::PreTlsCount(conns.clone())));
        for a in &config.listen.https {
            let mut tls =
                TlsSettings::with_callbacks(Box::new(SniCapture)).context("TLS settings")?;
            tls.set_cert_resolver(state.certs.clone());
            tls.enable_h2();
            https.add_listener(
                ListenerConfig::tcp(a.get_ref().as_str())
                    .tls(tls)
                    .l4_buffer(l4_buffer()),
            );
        }
        https.set_connection_filter(accept_filter.clone());
        server.add_service(https);
    }
    // Keeps the listening sockets' kernel filter in step with the penalty box (it does
    // nothing while `limits.penalty_filter = "accept"` but remove a predecessor's filter).
    let listening: Vec<String> = config
        .listen
        .http
        .iter()
        .chain(&config.listen.https)
        .map(|a| a.get_ref().clone())
        .collect();
    server.add_service(synfilter::SynFilter::new(state.clone(), listening)?);
    if let Some(admin) = &config.listen.admin {
        let mut svc = Service::new(
            "rempart admin".to_string(),
            HttpServer::new_app(admin::Admin::new(state.clone())),
        );
        svc.add_tcp(admin.get_ref());
        server.add_service(svc);
    }
    server.add_service(background_service(
        "rempart control",
        control::Control::new(state.clone()),
    ));
    tracing::info!(config = %config.source.display(), "edge starting");
    server.run_forever()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::listeners::ConnectionFilter;
    use std::sync::Mutex;

    fn filter() -> AcceptFilter {
        let text =
            "[listen]\nhttp = [\"127.0.0.1:1\"]\n[[zone]]\nname = \"z\"\nhosts = [\"z.example\"]\n\
                    [[zone.origin]]\naddress = \"127.0.0.1:1\"\n";
        let config = EdgeConfig::parse(std::path::Path::new("/tmp/rempart-accept.toml"), text)
            .expect("valid");
        let state = prepare(config).expect("state");
        let conns = conn::ConnTracker::new(state.clone()).expect("tracker");
        AcceptFilter { state, conns }
    }

    /// A request on a connection already open runs before the next connection is accepted:
    /// the order of events in a single-threaded runtime, with an accept loop shaped like
    /// Pingora's (kernel accept, then the filter, once per connection) over a real socket that
    /// has three connections waiting.
    #[test]
    fn open_connections_run_before_the_next_accept() {
        let filter = Arc::new(filter());
        let order = Arc::new(Mutex::new(Vec::new()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let at = listener.local_addr().expect("addr");
            let waiting: Vec<_> = (0..3)
                .map(|_| std::net::TcpStream::connect(at).expect("connect"))
                .collect();
            let (ready, wake) = tokio::sync::oneshot::channel::<()>();
            let seen = order.clone();
            // The established connection: its request becomes ready after the first accept.
            let request = tokio::spawn(async move {
                let _ = wake.await;
                seen.lock().expect("lock").push("request");
            });
            let seen = order.clone();
            let accepts = tokio::spawn(async move {
                let mut ready = Some(ready);
                let mut taken = Vec::new();
                for _ in 0..3 {
                    let (stream, peer) = listener.accept().await.expect("accept");
                    assert!(filter.should_accept(Some(&peer)).await);
                    taken.push(stream);
                    seen.lock().expect("lock").push("accept");
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
            });
            let (a, b) = tokio::join!(request, accepts);
            a.expect("request task");
            b.expect("accept task");
            drop(waiting);
        });
        let order = order.lock().expect("lock").clone();
        assert_eq!(order, ["accept", "request", "accept", "accept"]);
    }

    /// The filter completes on its first poll: Pingora's accept loop may drop the accept future
    /// at any await point (on shutdown), and a connection already taken from the kernel would
    /// be lost with it.
    #[test]
    fn the_filter_never_leaves_an_accepted_connection_pending() {
        use futures_util::FutureExt;
        let filter = filter();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let addr: std::net::SocketAddr = "127.2.0.1:40000".parse().expect("addr");
        rt.block_on(async {
            for _ in 0..300 {
                assert_eq!(filter.should_accept(Some(&addr)).now_or_never(), Some(true));
            }
        });
    }
}
