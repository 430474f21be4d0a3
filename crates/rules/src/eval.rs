//! The compiled form of an expression and its evaluation.

use std::net::IpAddr;
use std::sync::Arc;

use memchr::memmem::Finder;

use crate::{IpSet, Request};

/// A compiled expression node.
#[derive(Debug)]
pub(crate) enum Node {
    All(Box<[Node]>),
    Any(Box<[Node]>),
    Not(Box<Node>),
    Text(TextField, TextTest),
    Ip(IpTest),
    Rate(Cmp, f64),
    Tls,
}

/// A string-valued field.
#[derive(Debug)]
pub(crate) enum TextField {
    Host,
    Path,
    Method,
    Query,
    /// A header, by lower-case name; an absent header reads as the empty string.
    Header(Box<str>),
}

/// A test on a string field (over bytes: header values need not be UTF-8).
#[derive(Debug)]
pub(crate) enum TextTest {
    Eq(Box<[u8]>),
    Ne(Box<[u8]>),
    Contains(Box<Finder<'static>>),
    StartsWith(Box<[u8]>),
    EndsWith(Box<[u8]>),
    Matches(Box<regex::bytes::Regex>),
    In(Box<[Box<[u8]>]>),
}

/// A test on the client's address.
#[derive(Debug)]
pub(crate) enum IpTest {
    Eq(IpAddr),
    Ne(IpAddr),
    In(Arc<IpSet>),
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    canon(a) == canon(b)
}

impl Node {
    pub(crate) fn eval<R: Request + ?Sized>(&self, req: &R) -> bool {
        match self {
            Node::All(nodes) => nodes.iter().all(|n| n.eval(req)),
            Node::Any(nodes) => nodes.iter().any(|n| n.eval(req)),
            Node::Not(n) => !n.eval(req),
            Node::Text(field, test) => {
                let value: &[u8] = match field {
                    TextField::Host => req.host().as_bytes(),
                    TextField::Path => req.path().as_bytes(),
                    TextField::Method => req.method().as_bytes(),
                    TextField::Query => req.query().as_bytes(),
                    TextField::Header(name) => req.header(name).unwrap_or(b""),
                };
                match test {
                    TextTest::Eq(v) => value == &**v,
                    TextTest::Ne(v) => value != &**v,
                    TextTest::Contains(f) => f.find(value).is_some(),
                    TextTest::StartsWith(v) => value.starts_with(v),
                    TextTest::EndsWith(v) => value.ends_with(v),
                    TextTest::Matches(re) => re.is_match(value),
                    TextTest::In(set) => set.iter().any(|v| value == &**v),
                }
            }
            Node::Ip(test) => match (req.client_ip(), test) {
                (Some(ip), IpTest::Eq(a)) => same_ip(ip, *a),
                (Some(ip), IpTest::Ne(a)) => !same_ip(ip, *a),
                (Some(ip), IpTest::In(set)) => set.contains(ip),
                // No address (a Unix socket): it equals nothing and is in no set.
                (None, IpTest::Ne(_)) => true,
                (None, _) => false,
            },
            Node::Rate(cmp, v) => {
                let r = req.rate();
                match cmp {
                    Cmp::Eq => r == *v,
                    Cmp::Ne => r != *v,
                    Cmp::Lt => r < *v,
                    Cmp::Le => r <= *v,
                    Cmp::Gt => r > *v,
                    Cmp::Ge => r >= *v,
                }
            }
            Node::Tls => req.tls(),
        }
    }
}
