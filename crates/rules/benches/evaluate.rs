//! Cost of evaluating 100 rules per request (none terminal, so every rule is evaluated: the
//! worst case), and of compiling them. `cargo bench -p rempart-rules`.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use ipnet::IpNet;
use rempart_rules::{Action, Expr, IpSet, Lists, Request, Rule, RuleSet};

struct Req {
    headers: Vec<(&'static str, &'static [u8])>,
}

impl Request for Req {
    fn host(&self) -> &str {
        "forum.example"
    }
    fn path(&self) -> &str {
        "/t/12345/some-topic-title"
    }
    fn method(&self) -> &str {
        "GET"
    }
    fn query(&self) -> &str {
        "page=2&sort=new"
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
    fn client_ip(&self) -> Option<IpAddr> {
        Some(IpAddr::from([198, 51, 100, 23]))
    }
    fn rate(&self) -> f64 {
        3.0
    }
    fn tls(&self) -> bool {
        true
    }
}

fn lists() -> Lists {
    let mut l = Lists::new();
    // A 10,000-prefix list.
    let nets = (0..10_000u32).map(|i| {
        let a = 0x0a00_0000 | (i << 8);
        IpNet::new(IpAddr::from(a.to_be_bytes()), 24).expect("prefix")
    });
    l.insert("bad_networks", IpSet::new(nets));
    l
}

/// 100 rules of the kinds operators write, none of which matches the request.
fn sources() -> Vec<String> {
    (0..100)
        .map(|i| match i % 5 {
            0 => format!("http.path starts_with \"/admin{i}/\" and http.method == \"POST\""),
            1 => format!("http.header[\"user-agent\"] contains \"BadBot{i}\""),
            2 => format!("http.query matches \"(?i)(union|select)\\\\s+{i}\""),
            3 => format!(
                "ip.src in {{192.0.{}.0/24 2001:db8:{i:x}::/48}} or ip.src in $bad_networks",
                i % 256
            ),
            _ => format!(
                "http.host in {{\"a{i}.example\" \"b{i}.example\"}} or (http.rate > 100 and not ssl)"
            ),
        })
        .collect()
}

fn rules(lists: &Lists) -> RuleSet {
    RuleSet::new(
        sources()
            .iter()
            .enumerate()
            .map(|(i, s)| Rule {
                id: i.to_string(),
                action: Action::Block { status: 403 },
                expr: Expr::parse(s, lists).expect("rule compiles"),
            })
            .collect(),
    )
}

fn bench(c: &mut Criterion) {
    let lists = lists();
    let set = rules(&lists);
    let req = Req {
        headers: vec![
            (
                "user-agent",
                b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            ),
            ("accept", b"text/html"),
        ],
    };
    assert!(set.evaluate(&req, |_| false).outcome.rule().is_none());
    c.bench_function("evaluate 100 rules (none matches)", |b| {
        b.iter(|| black_box(set.evaluate(black_box(&req), |_| false)))
    });
    let srcs = sources();
    c.bench_function("compile 100 rules", |b| {
        b.iter(|| {
            for s in &srcs {
                black_box(Expr::parse(black_box(s), &lists).expect("compiles"));
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
