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
    /// Clients refused again and again, closed at accept for a while (kept across reloads).
    pub penalty: crate::penalty::PenaltyBox,
    ready: AtomicBool,
    /// The index replaced by the last delta, to be brought forward in place by the next.
    spare: std::sync::Mutex<Option<Spare>>,
}

/// An index one delta behind the one in force, and that delta's changes.
struct Spare {
    index: PolicyIndex,
    /// The version (and size) the pending changes bring it to.
    next_version: u64,
    next_len: usize,
    removed: Vec<rempart_policy::Restriction>,
    added: Vec<rempart_policy::Restriction>,
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
    ) -> Result<Self, prometheus::Error> {
        Ok(EdgeState {
            config: ArcSwap::from_pointee(config),
            zones: ArcSwap::from_pointee(zones),
            certs,
            policy: ArcSwap::from_pointee(PolicyIndex::build(&Policy::empty())),
            catalog: Catalog::default(),
            no_zone: metrics.zone("-"),
            challenges: crate::challenge::Challenges::default(),
            penalty: crate::penalty::PenaltyBox::new(&metrics)?,
            limiters,
            metrics,
            access_log,
            ready: AtomicBool::new(false),
            spare: std::sync::Mutex::new(None),
        })
    }

    /// Installs a validated policy; returns false (and changes nothing) if it is older than
    /// the one in force and `allow_older` is not set.
    pub fn install_policy(&self, policy: &Policy, allow_older: bool) -> bool {
        let current = self.policy.load().version();
        if !allow_older && policy.version < current {
            return false;
        }
        let index = PolicyIndex::build(policy);
        *self.spare.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.policy.store(Arc::new(index));
        self.metrics.policy_version.set(policy.version as i64);
        self.metrics.policy_issued.set(policy.issued_at.timestamp());
        self.metrics
            .policy_restrictions
            .set(policy.restrictions.len() as i64);
        true
    }

    /// Installs `policy`, made from version `base` by removing `removed` and adding `added`.
    /// The index replaced by the previous delta is brought forward in place when it was taken
    /// back (the usual case), so a delta costs its changes; otherwise the index in force is
    /// copied and changed, or built afresh if it is not `base`'s.
    pub fn install_changes(
        &self,
        policy: &Policy,
        base: u64,
        removed: &[rempart_policy::Restriction],
        added: &[rempart_policy::Restriction],
    ) {
        let len = policy.restrictions.len();
        let in_force = self.policy.load().version();
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
        let index = match spare {
            Some(mut s) if in_force == base && s.next_version == base => {
                s.index
                    .apply_changes(s.next_version, s.next_len, &s.removed, &s.added);
                s.index.apply_changes(policy.version, len, removed, added);
                s.index
            }
            _ if in_force == base => {
                let current = self.policy.load_full();
                current.with_changes(policy.version, len, removed, added)
            }
            _ => PolicyIndex::build(policy),
        };
        let mut old = self.policy.swap(Arc::new(index));
        self.metrics.policy_version.set(policy.version as i64);
        self.metrics.policy_issued.set(policy.issued_at.timestamp());
        self.metrics.policy_restrictions.set(len as i64);
        // Take the replaced index back once no request holds it (a request holds it for
        // microseconds), with the changes it lacks; else the last request drops it.
        for _ in 0..20 {
            match Arc::try_unwrap(old) {
                Ok(index) => {
                    *self.spare.lock().unwrap_or_else(|e| e.into_inner()) = Some(Spare {
                        index,
                        next_version: policy.version,
                        next_len: len,
                        removed: removed.to_vec(),
                        added: added.to_vec(),
                    });
                    return;
                }
                Err(held) => {
                    old = held;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rempart_policy::{
        Category, PolicyDelta, Restriction, RestrictionId, RestrictionKind, Scope,
    };

    fn restriction(id: usize) -> Restriction {
        Restriction {
            id: RestrictionId(format!("d-{id:04}")),
            scope: Scope::Url {
                url: format!("https://site.test/t/{id}"),
            },
            kind: if id % 2 == 1 {
                RestrictionKind::TermsOfService
            } else {
                RestrictionKind::Legal
            },
            category: Category::Doxxing,
            notice_url: format!("https://desk.test/notices/{id}"),
            ground: "Ground.".into(),
            implemented_by: "Provider".into(),
            starts_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            ends_at: None,
        }
    }

    #[test]
    fn deltas_bring_the_replaced_index_forward_and_answer_like_a_fresh_build() {
        let config = EdgeConfig::parse(
            std::path::Path::new("/tmp/rempart-state-test.toml"),
            "[listen]\nhttp = [\"127.0.0.1:8080\"]\n\n[[zone]]\nname = \"site\"\nhosts = [\"site.test\"]\n[[zone.origin]]\naddress = \"127.0.0.1:9\"\n",
        )
        .expect("config");
        let state = crate::prepare(config).expect("state");
        let mut policy = Policy::empty();
        policy.version = 1;
        policy.restrictions = (0..40).map(restriction).collect();
        state.install_policy(&policy, true);
        let now = chrono::Utc::now();
        for v in 2..=6u64 {
            // Each version drops one restriction, changes one and adds one.
            let mut next = policy.clone();
            next.version = v;
            next.restrictions
                .retain(|r| r.id.0 != format!("d-{:04}", v * 3));
            if let Some(r) = next
                .restrictions
                .iter_mut()
                .find(|r| r.id.0 == format!("d-{:04}", v * 5))
            {
                r.scope = Scope::Url {
                    url: format!("https://site.test/moved/{v}"),
                };
            }
            next.restrictions.push(restriction(100 + v as usize));
            let delta = PolicyDelta::between(&policy, &next);
            let base = policy.version;
            let gone = delta.apply_in_place(&mut policy).expect("applies");
            state.install_changes(&policy, base, &gone, &delta.upsert);
            let fresh = PolicyIndex::build(&policy);
            let live = state.policy.load();
            assert_eq!(live.version(), v);
            assert_eq!(live.len(), fresh.len());
            let paths = (0..110)
                .map(|i| format!("/t/{i}"))
                .chain((2..=6).map(|i| format!("/moved/{i}")));
            for path in paths {
                let got = live
                    .lookup("site.test", &path, now)
                    .map(|m| m.restriction.id.clone());
                let want = fresh
                    .lookup("site.test", &path, now)
                    .map(|m| m.restriction.id.clone());
                assert_eq!(got, want, "version {v}, {path}");
            }
        }
        // Nothing held the replaced indexes: the last one is kept for the next delta.
        assert!(state
            .spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|s| s.next_version == 6));
    }
}
