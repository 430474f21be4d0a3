//! What the data path reads, swapped atomically on reload: readers never see half a change.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rempart_policy::{Policy, PolicyIndex};

use crate::config::EdgeConfig;
use crate::metrics::Metrics;
use crate::pages::Catalog;
use crate::tls::SniResolver;
use crate::zones::ZoneTable;

/// The edge's shared state.
pub struct EdgeState {
    /// The configuration in force.
    pub config: ArcSwap<EdgeConfig>,
    /// Hostname routing and origins.
    pub zones: ArcSwap<ZoneTable>,
    /// Certificates by SNI.
    pub certs: Arc<SniResolver>,
    /// The compiled policy in force.
    pub policy: ArcSwap<PolicyIndex>,
    /// Page strings.
    pub catalog: Catalog,
    /// Metrics.
    pub metrics: Metrics,
    /// Whether access log lines are written.
    pub access_log: bool,
    /// Rate limiters, kept across reloads.
    pub limiters: Arc<crate::ratelimit::LimiterRegistry>,
    /// Counters for requests that matched no zone.
    pub no_zone: crate::metrics::ZoneMetrics,
    /// The challenge key made at start (used when the config names no key file).
    pub challenges: crate::challenge::Challenges,
    ready: AtomicBool,
}

impl std::fmt::Debug for EdgeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeState").finish_non_exhaustive()
    }
}

impl EdgeState {
    /// State for a first configuration.
    pub fn new(
        config: EdgeConfig,
        zones: ZoneTable,
        certs: Arc<SniResolver>,
        metrics: Metrics,
        limiters: Arc<crate::ratelimit::LimiterRegistry>,
        access_log: bool,
    ) -> Self {
        EdgeState {
            config: ArcSwap::from_pointee(config),
            zones: ArcSwap::from_pointee(zones),
            certs,
            policy: ArcSwap::from_pointee(PolicyIndex::build(&Policy::empty())),
            catalog: Catalog::default(),
            no_zone: metrics.zone("-"),
            challenges: crate::challenge::Challenges::default(),
            limiters,
            metrics,
            access_log,
            ready: AtomicBool::new(false),
        }
    }

    /// Installs a validated policy; returns false (and changes nothing) if it is older than
    /// the one in force and `allow_older` is not set.
    pub fn install_policy(&self, policy: &Policy, allow_older: bool) -> bool {
        let current = self.policy.load().version();
        if !allow_older && policy.version < current {
            return false;
        }
        let index = PolicyIndex::build(policy);
        self.policy.store(Arc::new(index));
        self.metrics.policy_version.set(policy.version as i64);
        self.metrics.policy_issued.set(policy.issued_at.timestamp());
        self.metrics
            .policy_restrictions
            .set(policy.restrictions.len() as i64);
        true
    }

    /// Installs `policy`, made from version `base` by removing `removed` and adding `added`:
    /// the index in force is changed by those alone when it is `base`'s (the usual case), and
    /// built afresh otherwise.
    pub fn install_changes(
        &self,
        policy: &Policy,
        base: u64,
        removed: &[rempart_policy::Restriction],
        added: &[rempart_policy::Restriction],
    ) {
        let current = self.policy.load_full();
        let index = if current.version() == base {
            current.with_changes(policy.version, policy.restrictions.len(), removed, added)
        } else {
            PolicyIndex::build(policy)
        };
        drop(current);
        self.policy.store(Arc::new(index));
        self.metrics.policy_version.set(policy.version as i64);
        self.metrics.policy_issued.set(policy.issued_at.timestamp());
        self.metrics
            .policy_restrictions
            .set(policy.restrictions.len() as i64);
    }

    /// Marks the edge ready (a policy source has answered, or there is none).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether the edge is ready to take traffic.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
