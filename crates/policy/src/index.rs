//! The matching index: from a request's host and path to the narrowest restriction in force.
//!
//! Every scope becomes a hash-map key, so a lookup costs a handful of hash probes: one for the
//! exact URL, one per path segment for prefixes, one per host label for hostnames. The number
//! of restrictions does not enter into it.

use std::collections::HashMap;
use std::sync::Arc;

// Seeded per process, so the table's layout cannot be predicted from outside, and several
// times faster than SipHash on these short keys.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use chrono::{DateTime, Utc};

use crate::model::{Policy, Restriction, Scope};
use crate::normalize::{normalize_host, normalize_path, split_url};

/// A restriction that matched a request.
#[derive(Debug, Clone, Copy)]
pub struct Match<'a> {
    /// The restriction, the narrowest in force.
    pub restriction: &'a Restriction,
}

/// The three tables of the index.
enum Table {
    Urls,
    Prefixes,
    Hosts,
}

#[derive(Clone)]
struct UrlEntry {
    query: Option<String>,
    restriction: Arc<Restriction>,
}

#[derive(Clone)]
struct HostEntry {
    include_subdomains: bool,
    restriction: Arc<Restriction>,
}

/// A policy compiled for lookups.
pub struct PolicyIndex {
    version: u64,
    len: usize,
    /// `host/path` → restrictions on that exact URL.
    urls: Map<Box<str>, Vec<UrlEntry>>,
    /// `host/prefix` (no trailing slash; the root prefix is `host/`) → restrictions.
    prefixes: Map<Box<str>, Vec<Arc<Restriction>>>,
    /// host → restrictions on the host (and maybe its subdomains).
    hosts: Map<Box<str>, Vec<HostEntry>>,
}

impl std::fmt::Debug for PolicyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyIndex")
            .field("version", &self.version)
            .field("restrictions", &self.len)
            .finish()
    }
}

impl PolicyIndex {
    /// Compiles a (validated) policy. Restrictions whose scope cannot be parsed are skipped;
    /// [`Policy::validate`] reports them.
    pub fn build(policy: &Policy) -> Self {
        let mut index = PolicyIndex {
            version: policy.version,
            len: policy.restrictions.len(),
            urls: Map::default(),
            prefixes: Map::default(),
            hosts: Map::default(),
        };
        for r in &policy.restrictions {
            index.insert(Arc::new(r.clone()));
        }
        index
    }

    /// The index of `version` (holding `len` restrictions), made from this one by taking out
    /// the restrictions `removed` (as they were in this index) and adding `added`. Costs a
    /// copy of the tables (pointers, not restrictions) instead of compiling every restriction
    /// again; gives the same lookups as [`PolicyIndex::build`] of the resulting policy.
    pub fn with_changes(
        &self,
        version: u64,
        len: usize,
        removed: &[Restriction],
        added: &[Restriction],
    ) -> Self {
        let mut index = PolicyIndex {
            version: self.version,
            len: self.len,
            urls: self.urls.clone(),
            prefixes: self.prefixes.clone(),
            hosts: self.hosts.clone(),
        };
        index.apply_changes(version, len, removed, added);
        index
    }

    /// [`PolicyIndex::with_changes`] in place: costs the changes alone.
    pub fn apply_changes(
        &mut self,
        version: u64,
        len: usize,
        removed: &[Restriction],
        added: &[Restriction],
    ) {
        for r in removed {
            self.remove(r);
        }
        for r in added {
            self.insert(Arc::new(r.clone()));
        }
        self.version = version;
        self.len = len;
    }

    /// Where a scope lives in the tables.
    fn key_of(scope: &Scope) -> Option<(Table, Box<str>, Option<String>)> {
        match scope {
            Scope::Url { url } => split_url(url)
                .ok()
                .map(|(host, path, query)| (Table::Urls, format!("{host}{path}").into(), query)),
            Scope::PathPrefix { host, prefix } => {
                let prefix = normalize_path(prefix);
                let trimmed = prefix.trim_end_matches('/');
                let key = if trimmed.is_empty() {
                    format!("{host}/")
                } else {
                    format!("{host}{trimmed}")
                };
                Some((Table::Prefixes, key.into(), None))
            }
            Scope::Host { host, .. } => Some((Table::Hosts, host.clone().into(), None)),
        }
    }

    /// Adds a restriction; entries under one key stay in id order, so that which of two
    /// restrictions on the same scope answers does not depend on the order of arrival.
    fn insert(&mut self, r: Arc<Restriction>) {
        let Some((table, key, query)) = Self::key_of(&r.scope) else {
            return;
        };
        match table {
            Table::Urls => {
                let v = self.urls.entry(key).or_default();
                let at = v.partition_point(|e| e.restriction.id < r.id);
                v.insert(
                    at,
                    UrlEntry {
                        query,
                        restriction: r,
                    },
                );
            }
            Table::Prefixes => {
                let v = self.prefixes.entry(key).or_default();
                let at = v.partition_point(|e| e.id < r.id);
                v.insert(at, r);
            }
            Table::Hosts => {
                let include_subdomains = matches!(
                    r.scope,
                    Scope::Host {
                        include_subdomains: true,
                        ..
                    }
                );
                let v = self.hosts.entry(key).or_default();
                let at = v.partition_point(|e| e.restriction.id < r.id);
                v.insert(
                    at,
                    HostEntry {
                        include_subdomains,
                        restriction: r,
                    },
                );
            }
        }
    }

    /// Takes out the restriction with `r`'s id from where `r`'s scope puts it.
    fn remove(&mut self, r: &Restriction) {
        let Some((table, key, _)) = Self::key_of(&r.scope) else {
            return;
        };
        fn drop_from<T>(map: &mut Map<Box<str>, Vec<T>>, key: &str, is_it: impl Fn(&T) -> bool) {
            if let Some(v) = map.get_mut(key) {
                v.retain(|e| !is_it(e));
                if v.is_empty() {
                    map.remove(key);
                }
            }
        }
        match table {
            Table::Urls => drop_from(&mut self.urls, &key, |e| e.restriction.id == r.id),
            Table::Prefixes => drop_from(&mut self.prefixes, &key, |e| e.id == r.id),
            Table::Hosts => drop_from(&mut self.hosts, &key, |e| e.restriction.id == r.id),
        }
    }

    /// The version of the policy this index was built from.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// How many restrictions the policy holds (active or not).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the policy holds no restriction.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The narrowest restriction in force at `now` for a request to `host` with
    /// `path_and_query` (the request target in origin form).
    pub fn lookup(
        &self,
        host: &str,
        path_and_query: &str,
        now: DateTime<Utc>,
    ) -> Option<Match<'_>> {
        if self.len == 0 {
            return None;
        }
        let host = normalize_host(host);
        let (raw_path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let path = normalize_path(raw_path);
        let mut key = String::with_capacity(host.len() + path.len());
        key.push_str(&host);
        key.push_str(&path);

        // 1. The exact URL.
        if let Some(entries) = self.urls.get(key.as_str()) {
            let hit = entries.iter().find(|e| {
                (e.query.is_none() || e.query.as_deref() == query) && e.restriction.is_active(now)
            });
            if let Some(e) = hit {
                return Some(Match {
                    restriction: &e.restriction,
                });
            }
        }

        // 2. Path prefixes, longest first, on segment boundaries.
        if !self.prefixes.is_empty() {
            let mut end = key.trim_end_matches('/').len();
            loop {
                let candidate = if end <= host.len() {
                    &key[..host.len() + 1]
                } else {
                    &key[..end]
                };
                if let Some(found) = self.prefixes.get(candidate) {
                    if let Some(r) = found.iter().find(|r| r.is_active(now)) {
                        return Some(Match { restriction: r });
                    }
                }
                if end <= host.len() {
                    break;
                }
                end = match key[host.len()..end].rfind('/') {
                    Some(i) => host.len() + i,
                    None => host.len(),
                };
            }
        }

        // 3. The host, then each parent domain that covers its subdomains.
        if !self.hosts.is_empty() {
            let mut name: &str = &host;
            let mut exact = true;
            loop {
                if let Some(entries) = self.hosts.get(name) {
                    let hit = entries
                        .iter()
                        .find(|e| (exact || e.include_subdomains) && e.restriction.is_active(now));
                    if let Some(e) = hit {
                        return Some(Match {
                            restriction: &e.restriction,
                        });
                    }
                }
                match name.find('.') {
                    Some(i) => name = &name[i + 1..],
                    None => break,
                }
                exact = false;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Category, RestrictionId, RestrictionKind, POLICY_SCHEMA};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn restriction(id: &str, scope: Scope) -> Restriction {
        Restriction {
            id: RestrictionId(id.into()),
            scope,
            kind: RestrictionKind::Legal,
            category: Category::Doxxing,
            notice_url: format!("https://desk.example/notices/{id}"),
            ground: "Ground.".into(),
            implemented_by: "Provider".into(),
            starts_at: t("2026-01-01T00:00:00Z"),
            ends_at: None,
        }
    }

    fn index(rs: Vec<Restriction>) -> PolicyIndex {
        PolicyIndex::build(&Policy {
            schema: POLICY_SCHEMA,
            version: 1,
            issued_at: t("2026-01-01T00:00:00Z"),
            restrictions: rs,
        })
    }

    fn hit(ix: &PolicyIndex, host: &str, pq: &str) -> Option<String> {
        ix.lookup(host, pq, t("2026-06-01T00:00:00Z"))
            .map(|m| m.restriction.id.0.clone())
    }

    #[test]
    fn narrowest_scope_wins() {
        let ix = index(vec![
            restriction(
                "host",
                Scope::Host {
                    host: "forum.example".into(),
                    include_subdomains: false,
                },
            ),
            restriction(
                "prefix",
                Scope::PathPrefix {
                    host: "forum.example".into(),
                    prefix: "/t/".into(),
                },
            ),
            restriction(
                "url",
                Scope::Url {
                    url: "https://forum.example/t/1".into(),
                },
            ),
        ]);
        assert_eq!(hit(&ix, "forum.example", "/t/1").as_deref(), Some("url"));
        assert_eq!(hit(&ix, "forum.example", "/t/2").as_deref(), Some("prefix"));
        assert_eq!(hit(&ix, "forum.example", "/other").as_deref(), Some("host"));
    }

    #[test]
    fn exact_url_ignores_spelling_and_extra_query() {
        let ix = index(vec![restriction(
            "url",
            Scope::Url {
                url: "https://forum.example/t/1".into(),
            },
        )]);
        for pq in ["/t/1", "/t/1?utm=x", "/%74/1", "//t/1", "/t/x/../1"] {
            assert_eq!(
                hit(&ix, "Forum.Example:443", pq).as_deref(),
                Some("url"),
                "{pq}"
            );
        }
        assert_eq!(hit(&ix, "forum.example", "/t/10"), None);
        assert_eq!(hit(&ix, "forum.example", "/t/1/reply"), None);
        assert_eq!(hit(&ix, "other.example", "/t/1"), None);
    }

    #[test]
    fn url_with_query_matches_only_that_query() {
        let ix = index(vec![restriction(
            "q",
            Scope::Url {
                url: "https://forum.example/view?id=5".into(),
            },
        )]);
        assert_eq!(
            hit(&ix, "forum.example", "/view?id=5").as_deref(),
            Some("q")
        );
        assert_eq!(hit(&ix, "forum.example", "/view?id=6"), None);
        assert_eq!(hit(&ix, "forum.example", "/view"), None);
    }

    #[test]
    fn prefixes_respect_segments() {
        let ix = index(vec![restriction(
            "p",
            Scope::PathPrefix {
                host: "forum.example".into(),
                prefix: "/forum/t".into(),
            },
        )]);
        assert_eq!(hit(&ix, "forum.example", "/forum/t").as_deref(), Some("p"));
        assert_eq!(hit(&ix, "forum.example", "/forum/t/").as_deref(), Some("p"));
        assert_eq!(
            hit(&ix, "forum.example", "/forum/t/9?x").as_deref(),
            Some("p")
        );
        assert_eq!(hit(&ix, "forum.example", "/forum/top"), None);
        assert_eq!(hit(&ix, "forum.example", "/forum"), None);
    }

    #[test]
    fn root_prefix_covers_the_host() {
        let ix = index(vec![restriction(
            "root",
            Scope::PathPrefix {
                host: "a.example".into(),
                prefix: "/".into(),
            },
        )]);
        assert_eq!(hit(&ix, "a.example", "/").as_deref(), Some("root"));
        assert_eq!(hit(&ix, "a.example", "/x/y").as_deref(), Some("root"));
    }

    #[test]
    fn subdomains_only_when_asked() {
        let ix = index(vec![
            restriction(
                "exact",
                Scope::Host {
                    host: "a.example".into(),
                    include_subdomains: false,
                },
            ),
            restriction(
                "tree",
                Scope::Host {
                    host: "b.example".into(),
                    include_subdomains: true,
                },
            ),
        ]);
        assert_eq!(hit(&ix, "a.example", "/").as_deref(), Some("exact"));
        assert_eq!(hit(&ix, "x.a.example", "/"), None);
        assert_eq!(hit(&ix, "b.example", "/").as_deref(), Some("tree"));
        assert_eq!(hit(&ix, "x.y.b.example", "/").as_deref(), Some("tree"));
        assert_eq!(hit(&ix, "xb.example", "/"), None);
    }

    #[test]
    fn inactive_narrow_restriction_falls_back_to_wider() {
        let mut ended = restriction(
            "ended",
            Scope::Url {
                url: "https://a.example/p".into(),
            },
        );
        ended.ends_at = Some(t("2026-03-01T00:00:00Z"));
        let mut future = restriction(
            "future",
            Scope::Url {
                url: "https://a.example/q".into(),
            },
        );
        future.starts_at = t("2027-01-01T00:00:00Z");
        let ix = index(vec![
            ended,
            future,
            restriction(
                "host",
                Scope::Host {
                    host: "a.example".into(),
                    include_subdomains: false,
                },
            ),
        ]);
        assert_eq!(hit(&ix, "a.example", "/p").as_deref(), Some("host"));
        assert_eq!(hit(&ix, "a.example", "/q").as_deref(), Some("host"));
    }

    #[test]
    fn expiry_is_evaluated_at_lookup_time() {
        let mut r = restriction(
            "emergency",
            Scope::Url {
                url: "https://a.example/p".into(),
            },
        );
        r.ends_at = Some(t("2026-06-01T12:00:00Z"));
        let ix = index(vec![r]);
        assert!(ix
            .lookup("a.example", "/p", t("2026-06-01T11:59:59Z"))
            .is_some());
        assert!(ix
            .lookup("a.example", "/p", t("2026-06-01T12:00:00Z"))
            .is_none());
    }

    #[test]
    fn a_large_index_builds_and_matches() {
        // Not a timing test: the lookup does the same probes whatever the size; this checks
        // the large index stays correct.
        let rs: Vec<Restriction> = (0..200_000)
            .map(|i| {
                restriction(
                    &format!("r{i}"),
                    Scope::Url {
                        url: format!("https://h{}.example/post/{i}", i % 1000),
                    },
                )
            })
            .collect();
        let ix = index(rs);
        assert_eq!(
            hit(&ix, "h7.example", "/post/1007").as_deref(),
            Some("r1007")
        );
        assert_eq!(hit(&ix, "h7.example", "/post/1008"), None);
    }

    #[test]
    fn an_index_changed_by_a_delta_answers_like_one_built_afresh() {
        let url = |id: &str, u: &str| {
            restriction(
                id,
                Scope::Url {
                    url: format!("https://forum.example{u}"),
                },
            )
        };
        let host = restriction(
            "h",
            Scope::Host {
                host: "other.example".into(),
                include_subdomains: true,
            },
        );
        let old = vec![url("a", "/a"), url("b", "/b"), url("c", "/b"), host.clone()];
        let before = index(old.clone());
        // Remove "a" and the host, replace "c" (same URL as "b"), add "d".
        let mut c2 = url("c", "/c");
        c2.ground = "Changed.".into();
        let removed = vec![old[0].clone(), old[2].clone(), host];
        let added = vec![c2.clone(), url("d", "/d")];
        let changed = before.with_changes(2, 4, &removed, &added);
        let fresh = index(vec![url("b", "/b"), c2, url("d", "/d")]);
        for path in ["/a", "/b", "/c", "/d", "/e"] {
            assert_eq!(
                hit(&changed, "forum.example", path),
                hit(&fresh, "forum.example", path),
                "{path}"
            );
        }
        assert_eq!(hit(&changed, "x.other.example", "/"), None);
        assert_eq!(hit(&changed, "forum.example", "/c"), Some("c".into()));
        assert_eq!(hit(&changed, "forum.example", "/a"), None);
        // In place, the same.
        let mut inplace = index(old.clone());
        inplace.apply_changes(2, 4, &removed, &added);
        for path in ["/a", "/b", "/c", "/d"] {
            assert_eq!(
                hit(&inplace, "forum.example", path),
                hit(&fresh, "forum.example", path),
                "{path}"
            );
        }
        // The old index is untouched.
        assert_eq!(hit(&before, "forum.example", "/a"), Some("a".into()));
        assert_eq!(hit(&before, "x.other.example", "/"), Some("h".into()));
        assert_eq!(changed.version(), 2);
    }

    #[test]
    fn restrictions_on_one_scope_answer_in_id_order_whatever_the_document_order() {
        let scope = || Scope::Url {
            url: "https://forum.example/t".into(),
        };
        let ix = index(vec![restriction("z", scope()), restriction("m", scope())]);
        assert_eq!(hit(&ix, "forum.example", "/t"), Some("m".into()));
    }
}
