//! Zones at run time: hostname routing and each zone's origins with their load balancer.

use std::collections::{BTreeSet, HashMap};
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use pingora::lb::discovery::Static;
use pingora::lb::health_check::{HttpHealthCheck, TcpHealthCheck};
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend, Backends, LoadBalancer};
use pingora::upstreams::peer::HttpPeer;
use pingora::utils::tls::{parse_x509, WrappedX509};

use crate::config::{self, EdgeConfig, IpLists};
use crate::iplist::IpRules;
use crate::metrics::{Metrics, ZoneMetrics};
use crate::ratelimit::{LimiterRegistry, RateRule};
use crate::tls::{load_certified_key, CertTable};

/// How to reach one origin.
#[derive(Debug, Clone)]
pub struct OriginSettings {
    /// Speak TLS.
    pub tls: bool,
    /// SNI and name to verify.
    pub sni: String,
    /// Verify the certificate.
    pub verify: bool,
    /// Custom CA certificates (DER), if any.
    pub ca: Option<Arc<[WrappedX509]>>,
    /// Offer HTTP/2.
    pub h2: bool,
}

/// A zone ready to serve.
pub struct Zone {
    /// Its name.
    pub name: String,
    /// Whether it has a certificate (so HTTPS works for it).
    pub has_tls: bool,
    /// Redirect plain HTTP to HTTPS.
    pub https_redirect: bool,
    /// The HSTS header value to send on HTTPS responses.
    pub hsts: Option<HeaderValue>,
    /// Connect, read, write and idle timeouts toward origins.
    pub timeouts: [Duration; 4],
    /// The origins and their health.
    pub balancer: Arc<LoadBalancer<RoundRobin>>,
    /// Health check interval (zero: none).
    pub health_interval: Duration,
    /// This zone's metric handles.
    pub metrics: ZoneMetrics,
    /// The zone's own address lists.
    pub ip_rules: IpRules,
    /// The zone's rate limits.
    pub rate_rules: Vec<RateRule>,
    /// The zone's request rules.
    pub rules: crate::rules::ScopeRules,
    /// Slots for requests in flight toward the origins, if limited.
    pub inflight: Option<Arc<tokio::sync::Semaphore>>,
    /// How long a request waits for a slot.
    pub queue_timeout: Duration,
    /// Each client's share of those slots, if limited.
    pub client_share: Option<Arc<ClientShare>>,
    /// The zone's challenge mode (off, always, or automatic under load).
    pub challenge: crate::challenge::ZoneChallenge,
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zone").field("name", &self.name).finish()
    }
}

impl Zone {
    /// Picks a healthy origin and describes how to reach it; `None` when all are down.
    pub fn pick_origin(&self, key: &[u8]) -> Option<HttpPeer> {
        let backend = self.balancer.select(key, 256)?;
        let settings = backend.ext.get::<Arc<OriginSettings>>()?;
        let mut peer = HttpPeer::new(backend.addr.clone(), settings.tls, settings.sni.clone());
        let [connect, read, write, idle] = self.timeouts;
        peer.options.connection_timeout = Some(connect);
        peer.options.total_connection_timeout = Some(connect + connect);
        peer.options.read_timeout = Some(read);
        peer.options.write_timeout = Some(write);
        peer.options.idle_timeout = Some(idle);
        if settings.tls {
            peer.options.verify_cert = settings.verify;
            peer.options.verify_hostname = settings.verify;
            peer.options.ca = settings.ca.clone();
        }
        if settings.h2 && settings.tls {
            peer.options.set_http_version(2, 1);
        }
        Some(peer)
    }

    /// Runs one round of health checks.
    pub async fn check_health(&self) {
        self.balancer.backends().run_health_check(true).await;
    }
}

/// Hostname → zone, with wildcards.
#[derive(Default)]
pub struct ZoneTable {
    exact: HashMap<String, Arc<Zone>>,
    wildcard: HashMap<String, Arc<Zone>>,
    /// Every zone, in configuration order.
    pub zones: Vec<Arc<Zone>>,
    /// The provider-wide address lists.
    pub ip_rules: IpRules,
    /// The provider-wide rate limits.
    pub rate_rules: Vec<RateRule>,
    /// The provider-wide request rules.
    pub rules: crate::rules::ScopeRules,
    /// Whether any rule reads `http.rate` (so the edge measures each client's rate).
    pub rules_use_rate: bool,
}

impl ZoneTable {
    /// The zone serving `host` (already lower-cased, without port).
    pub fn find(&self, host: &str) -> Option<&Arc<Zone>> {
        if let Some(z) = self.exact.get(host) {
            return Some(z);
        }
        let (_, parent) = host.split_once('.')?;
        self.wildcard.get(parent)
    }
}

/// Builds the zone table and the certificate table from a validated configuration.
pub async fn build(
    config: &EdgeConfig,
    metrics: &Metrics,
    limiters: &LimiterRegistry,
) -> Result<(ZoneTable, CertTable), String> {
    let mut table = ZoneTable {
        ip_rules: build_rules(config, &config.ip_lists)?,
        rate_rules: limiters.rules("", &general_limits(&config.rate_limits, &config.rules)),
        rules: crate::rules::ScopeRules::build(
            "",
            &config.rules,
            &config.rate_limits,
            &crate::rules::lists(config),
            limiters,
        )?,
        ..ZoneTable::default()
    };
    table.rules_use_rate = table.rules.set.uses_rate();
    let mut certs = CertTable::default();
    for zc in &config.zones {
        let zone = Arc::new(build_zone(config, zc, metrics, limiters).await?);
        table.rules_use_rate |= zone.rules.set.uses_rate();
        if let Some(tls) = &zc.tls {
            let key = load_certified_key(
                &config.path(tls.cert.get_ref()),
                &config.path(tls.key.get_ref()),
            )?;
            for h in &zc.hosts {
                certs.insert(h.get_ref(), key.clone());
            }
        }
        for h in &zc.hosts {
            let h = h.get_ref();
            match h.strip_prefix("*.") {
                Some(parent) => table.wildcard.insert(parent.to_string(), zone.clone()),
                None => table.exact.insert(h.clone(), zone.clone()),
            };
        }
        table.zones.push(zone);
    }
    Ok((table, certs))
}

async fn build_zone(
    config: &EdgeConfig,
    zc: &config::Zone,
    metrics: &Metrics,
    limiters: &LimiterRegistry,
) -> Result<Zone, String> {
    let name = zc.name.get_ref().clone();
    let name_for_challenge = name.clone();
    let mut set = BTreeSet::new();
    let mut any_tls = None;
    let mut origin_settings = Vec::new();
    for o in &zc.origins {
        let addr_text = o.address.get_ref();
        let addr = addr_text
            .to_socket_addrs()
            .map_err(|e| format!("zone '{name}': origin '{addr_text}' does not resolve: {e}"))?
            .next()
            .ok_or_else(|| format!("zone '{name}': origin '{addr_text}' has no address"))?;
        let host = addr_text
            .rsplit_once(':')
            .map_or(addr_text.as_str(), |(h, _)| h);
        let ca = match &o.ca {
            Some(path) => Some(load_ca(&config.path(path.get_ref()))?),
            None => None,
        };
        let settings = Arc::new(OriginSettings {
            tls: o.tls,
            sni: o.sni.clone().unwrap_or_else(|| host.to_string()),
            verify: o.verify,
            ca,
            h2: o.h2,
        });
        if o.tls {
            any_tls = Some(settings.sni.clone());
        }
        let mut backend = Backend::new_with_weight(&addr.to_string(), *o.weight.get_ref())
            .map_err(|e| format!("zone '{name}': origin '{addr_text}': {e}"))?;
        origin_settings.push(settings.clone());
        backend.ext.insert(settings);
        set.insert(backend);
    }
    let mut backends = Backends::new(Static::new(set));
    let check = &zc.health_check.check;
    if check == "tcp" {
        let mut hc = match &any_tls {
            Some(sni) => TcpHealthCheck::new_tls(sni),
            None => TcpHealthCheck::new(),
        };
        // A TLS check verifies like the proxied traffic does, with the origin's own CA.
        if let Some(tls_origin) = origin_settings.iter().find(|o| o.tls) {
            hc.peer_template.options.verify_cert = tls_origin.verify;
            hc.peer_template.options.verify_hostname = tls_origin.verify;
            hc.peer_template.options.ca = tls_origin.ca.clone();
        }
        backends.set_health_check(hc);
    } else {
        let host = zc.hosts[0].get_ref().trim_start_matches("*.").to_string();
        let mut hc = HttpHealthCheck::new(&host, any_tls.is_some());
        hc.req.set_uri(
            check
                .parse()
                .map_err(|e| format!("zone '{name}': health check path '{check}': {e}"))?,
        );
        if any_tls.is_some() {
            hc.peer_template.options.verify_cert = false;
            hc.peer_template.options.verify_hostname = false;
        }
        backends.set_health_check(Box::new(hc));
    }
    let balancer = LoadBalancer::from_backends(backends);
    balancer
        .update()
        .await
        .map_err(|e| format!("zone '{name}': {e}"))?;
    let hsts = if zc.hsts_max_age > 0 {
        let v = if zc.hsts_include_subdomains {
            format!("max-age={}; includeSubDomains", zc.hsts_max_age)
        } else {
            format!("max-age={}", zc.hsts_max_age)
        };
        HeaderValue::from_str(&v).ok()
    } else {
        None
    };
    Ok(Zone {
        name,
        has_tls: zc.tls.is_some(),
        https_redirect: zc.https_redirect,
        hsts,
        timeouts: zc.timeouts.durations(),
        balancer: Arc::new(balancer),
        health_interval: Duration::from_millis(zc.health_check.interval_ms),
        metrics: metrics.zone(zc.name.get_ref()),
        ip_rules: build_rules(config, &zc.ip_lists)?,
        rate_rules: limiters.rules(
            zc.name.get_ref(),
            &general_limits(&zc.rate_limits, &zc.rules),
        ),
        rules: crate::rules::ScopeRules::build(
            zc.name.get_ref(),
            &zc.rules,
            &zc.rate_limits,
            &crate::rules::lists(config),
            limiters,
        )
        .map_err(|e| format!("zone '{}': {e}", zc.name.get_ref()))?,
        inflight: (zc.max_concurrent_requests > 0)
            .then(|| Arc::new(tokio::sync::Semaphore::new(zc.max_concurrent_requests))),
        queue_timeout: Duration::from_millis(zc.queue_timeout_ms),
        client_share: ClientShare::for_zone(zc),
        challenge: crate::challenge::ZoneChallenge::new(
            &name_for_challenge,
            &zc.challenge,
            metrics,
        ),
    })
}

/// The rate limits that apply to every request of a scope: those that no rule sends
/// requests to (a limit named by a `rate_limit` rule counts only what its rules send).
fn general_limits(
    limits: &[config::RateLimit],
    rules: &[config::RuleConfig],
) -> Vec<config::RateLimit> {
    let referenced = crate::rules::referenced_limits(rules);
    limits
        .iter()
        .filter(|l| !referenced.contains(l.name.get_ref()))
        .cloned()
        .collect()
}

/// Builds address lists from inline entries and files.
pub fn build_rules(config: &EdgeConfig, lists: &IpLists) -> Result<IpRules, String> {
    let mut rules = IpRules::default();
    for (set, inline, file) in [
        (&mut rules.allow, &lists.allow, &lists.allow_file),
        (&mut rules.deny, &lists.deny, &lists.deny_file),
    ] {
        for entry in inline {
            let net = config::parse_net(entry.get_ref())
                .ok_or_else(|| format!("'{}' is not an IP address or CIDR", entry.get_ref()))?;
            set.insert(net);
        }
        if let Some(f) = file {
            set.extend_from_file(&config.path(f.get_ref()))?;
        }
    }
    Ok(rules)
}

fn load_ca(path: &std::path::Path) -> Result<Arc<[WrappedX509]>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("CA {}: {e}", path.display()))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut bytes.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("CA {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in CA file {}", path.display()));
    }
    // Parse with rustls first: Pingora's wrapper panics on a certificate it cannot parse.
    let mut store = rustls::RootCertStore::empty();
    let mut list = Vec::with_capacity(certs.len());
    for c in certs {
        store
            .add(c.clone())
            .map_err(|e| format!("CA {} holds an unusable certificate: {e}", path.display()))?;
        list.push(WrappedX509::new(c.to_vec(), parse_x509));
    }
    Ok(Arc::from(list))
}

/// The slots toward a zone's origins one client holds: at most `per_client` at once.
#[derive(Debug)]
pub struct ClientShare {
    per_client: u64,
    held: crate::conn::ClientCounts,
}

impl ClientShare {
    fn for_zone(zc: &config::Zone) -> Option<Arc<ClientShare>> {
        let per_client = Self::per_client(zc);
        (per_client > 0).then(|| {
            Arc::new(ClientShare {
                per_client: per_client as u64,
                held: crate::conn::ClientCounts::default(),
            })
        })
    }

    /// How many slots one client may hold; 0: no limit of its own. The default is a quarter
    /// of the zone's slots but never below 6, a browser's parallel connections to one host;
    /// a share as large as the zone's cap limits nothing.
    fn per_client(zc: &config::Zone) -> usize {
        let total = zc.max_concurrent_requests;
        let share = match zc.max_concurrent_requests_per_client {
            Some(n) => n,
            None if total > 0 => (total / 4).max(6),
            None => 0,
        };
        if total > 0 && share >= total {
            0
        } else {
            share
        }
    }

    /// One more slot for `ip`, or `None` if it holds its whole share already.
    pub fn take(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<ShareGuard> {
        let key = crate::conn::ClientKey::of(ip);
        self.held.try_add(key, self.per_client).then(|| ShareGuard {
            share: self.clone(),
            key,
        })
    }
}

/// One slot of a client's share, given back when dropped (with the request).
#[derive(Debug)]
pub struct ShareGuard {
    share: Arc<ClientShare>,
    key: crate::conn::ClientKey,
}

impl Drop for ShareGuard {
    fn drop(&mut self) {
        self.share.held.remove_one(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(total: usize, per_client: Option<usize>) -> config::Zone {
        let text = format!(
            "[listen]\nhttp = [\"127.0.0.1:1\"]\n[[zone]]\nname = \"z\"\nhosts = [\"z.example\"]\n\
             max_concurrent_requests = {total}\n{}\
             [[zone.origin]]\naddress = \"127.0.0.1:1\"\n",
            per_client.map_or(String::new(), |n| format!(
                "max_concurrent_requests_per_client = {n}\n"
            ))
        );
        let config = config::EdgeConfig::parse(std::path::Path::new("/tmp/share.toml"), &text)
            .expect("valid");
        config.zones.into_iter().next().expect("one zone")
    }

    #[test]
    fn a_clients_default_share_is_a_quarter_but_never_below_a_browsers_connections() {
        assert_eq!(ClientShare::per_client(&zone(64, None)), 16);
        assert_eq!(ClientShare::per_client(&zone(40, None)), 10);
        assert_eq!(ClientShare::per_client(&zone(16, None)), 6);
        // A zone with fewer slots than that: the share would limit nothing.
        assert_eq!(ClientShare::per_client(&zone(6, None)), 0);
        assert_eq!(ClientShare::per_client(&zone(4, None)), 0);
        // No zone cap: a share only where one is configured.
        assert_eq!(ClientShare::per_client(&zone(0, None)), 0);
        assert_eq!(ClientShare::per_client(&zone(0, Some(3))), 3);
        // Configured: as given, 0 turning it off.
        assert_eq!(ClientShare::per_client(&zone(4, Some(1))), 1);
        assert_eq!(ClientShare::per_client(&zone(64, Some(0))), 0);
    }

    #[test]
    fn a_share_is_given_back_with_its_guard() {
        let share = ClientShare::for_zone(&zone(8, Some(2))).expect("a share");
        let ip: std::net::IpAddr = "2001:db8::1".parse().expect("ip");
        let same_64: std::net::IpAddr = "2001:db8::2".parse().expect("ip");
        let a = share.take(ip).expect("first");
        let _b = share.take(same_64).expect("second, the same /64");
        assert!(share.take(ip).is_none(), "the /64 holds its two");
        drop(a);
        assert!(share.take(same_64).is_some());
        drop(_b);
    }
}
