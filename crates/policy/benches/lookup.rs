//! Lookup cost against the number of restrictions: the same requests against indexes of
//! 1,000 and 1,000,000 restrictions (a third each URL, path prefix and host scopes).
//! Run: `cargo bench -p rempart-policy --bench lookup`.

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rempart_policy::{
    Category, Policy, PolicyIndex, Restriction, RestrictionId, RestrictionKind, Scope,
    POLICY_SCHEMA,
};

fn policy(n: usize) -> Policy {
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap_or_default();
    let restrictions = (0..n)
        .map(|i| {
            let host = format!("h{}.example", i % 50_000);
            let scope = match i % 3 {
                0 => Scope::Url {
                    url: format!("https://{host}/post/{i}"),
                },
                1 => Scope::PathPrefix {
                    host,
                    prefix: format!("/forum/{i}/"),
                },
                _ => Scope::Host {
                    host: format!("blocked{i}.example"),
                    include_subdomains: i % 2 == 0,
                },
            };
            Restriction {
                id: RestrictionId(format!("r{i}")),
                scope,
                kind: RestrictionKind::Legal,
                category: Category::Doxxing,
                notice_url: format!("https://desk.example/notices/r{i}"),
                ground: "Ground.".into(),
                implemented_by: "Provider".into(),
                starts_at: start,
                ends_at: None,
            }
        })
        .collect();
    Policy {
        schema: POLICY_SCHEMA,
        version: 1,
        issued_at: start,
        restrictions,
    }
}

fn lookups(c: &mut Criterion) {
    let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap_or_default();
    let mut group = c.benchmark_group("lookup");
    for n in [1_000usize, 1_000_000] {
        let index = PolicyIndex::build(&policy(n));
        // A miss that walks every level (the common case: most traffic is not restricted).
        group.bench_with_input(BenchmarkId::new("miss", n), &index, |b, ix| {
            b.iter(|| {
                ix.lookup(
                    black_box("h7.example"),
                    black_box("/forum/a/b/c/d?x=1"),
                    now,
                )
            })
        });
        // A hit on an exact URL.
        group.bench_with_input(BenchmarkId::new("hit_url", n), &index, |b, ix| {
            b.iter(|| ix.lookup(black_box("h0.example"), black_box("/post/0"), now))
        });
        // A hit on a parent domain covering its subdomains.
        group.bench_with_input(BenchmarkId::new("hit_subdomain", n), &index, |b, ix| {
            b.iter(|| ix.lookup(black_box("a.b.blocked2.example"), black_box("/x"), now))
        });
    }
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
