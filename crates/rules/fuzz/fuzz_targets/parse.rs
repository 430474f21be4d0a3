//! Feed arbitrary bytes (lossy UTF-8) to the rules parser; whatever parses is evaluated
//! against a fixed request. Neither may panic, and an error must point inside the input.
//! Run with `scripts/fuzz`, or `cargo fuzz run parse` from `crates/rules`.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use rempart_rules::{Expr, IpSet, Lists, Request};

struct Fixed;

impl Request for Fixed {
    fn host(&self) -> &str {
        "forum.example"
    }
    fn path(&self) -> &str {
        "/wp-login.php"
    }
    fn method(&self) -> &str {
        "POST"
    }
    fn query(&self) -> &str {
        "a=1"
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        (name == "user-agent").then_some(b"curl/8.5.0".as_slice())
    }
    fn client_ip(&self) -> Option<IpAddr> {
        Some(IpAddr::from([10, 1, 2, 3]))
    }
    fn rate(&self) -> f64 {
        12.5
    }
    fn tls(&self) -> bool {
        true
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lists = Lists::new();
    lists.insert("office", IpSet::new(["10.1.0.0/16".parse::<ipnet::IpNet>().unwrap()]));
    match Expr::parse(&text, &lists) {
        Ok(expr) => {
            let _ = expr.matches(&Fixed);
        }
        Err(e) => {
            assert!(e.line >= 1 && e.column >= 1 && e.offset <= text.len());
            assert!(e.line <= text.lines().count().max(1) + 1);
        }
    }
});
