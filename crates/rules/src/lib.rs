//! The request rules language: a small, Wireshark-like expression language over a request —
//! `http.host`, `http.path`, `http.method`, `http.query`, `http.header["name"]`, `ip.src`,
//! `http.rate`, `ssl` — with actions (block, challenge, rate limit, allow, log).
//!
//! An expression is parsed once into a compiled tree ([`Expr`]): regular expressions are
//! compiled, address sets are sorted ranges searched by bisection, substring searchers are
//! built, header names are lower-cased. Evaluating a request walks that tree over a borrowed
//! [`Request`] view; nothing is parsed or allocated per request (except the list of `log`
//! rules that matched, when one did).
//!
//! Pure: no I/O, no clock. The edge supplies the request view, the client's measured rate and
//! the state of named rate limits. See `docs/rules.md` for the language reference.

#![deny(missing_docs)]

mod eval;
mod ipset;
mod parse;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

pub use ipset::IpSet;

/// A parse error, located in the expression (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {reason}")]
pub struct ParseError {
    /// 1-based line in the expression.
    pub line: usize,
    /// 1-based column (characters) in that line.
    pub column: usize,
    /// Byte offset in the expression.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

/// What a rule needs to know about a request, borrowed from wherever the request lives (the
/// edge passes its request head without copying it).
pub trait Request {
    /// The host, lower case, without port.
    fn host(&self) -> &str;
    /// The path, without the query.
    fn path(&self) -> &str;
    /// The method, as sent (upper case for standard methods).
    fn method(&self) -> &str;
    /// The query string without `?` (empty when there is none).
    fn query(&self) -> &str;
    /// The first value of the header named `name` (given lower case), as bytes.
    fn header(&self, name: &str) -> Option<&[u8]>;
    /// The client's address, when known.
    fn client_ip(&self) -> Option<IpAddr>;
    /// The client's request rate as measured by the edge, in requests per second.
    fn rate(&self) -> f64;
    /// Whether the request came over TLS.
    fn tls(&self) -> bool;
}

/// Named address lists that expressions may refer to as `$name`.
#[derive(Debug, Clone, Default)]
pub struct Lists(HashMap<String, Arc<IpSet>>);

impl Lists {
    /// No lists.
    pub fn new() -> Lists {
        Lists::default()
    }

    /// Adds (or replaces) the list `name`.
    pub fn insert(&mut self, name: impl Into<String>, set: IpSet) {
        self.0.insert(name.into(), Arc::new(set));
    }

    fn get(&self, name: &str) -> Option<&Arc<IpSet>> {
        self.0.get(name)
    }

    fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.0.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

/// A compiled expression.
#[derive(Debug)]
pub struct Expr {
    node: eval::Node,
    uses_rate: bool,
}

impl Expr {
    /// Parses and compiles an expression; `$name` refers to `lists`.
    pub fn parse(source: &str, lists: &Lists) -> Result<Expr, ParseError> {
        let (node, uses_rate) = parse::parse(source, lists)?;
        Ok(Expr { node, uses_rate })
    }

    /// Whether the request matches.
    pub fn matches<R: Request + ?Sized>(&self, req: &R) -> bool {
        self.node.eval(req)
    }

    /// Whether the expression reads `http.rate` (so the caller knows it must measure it).
    pub fn uses_rate(&self) -> bool {
        self.uses_rate
    }
}

/// What a rule does when its expression matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Refuse with this status (403 unless configured).
    Block {
        /// The HTTP status to answer.
        status: u16,
    },
    /// Answer with a challenge.
    Challenge,
    /// Count the request against the named rate limit; over it, refuse with 429. Under it,
    /// the later rules still apply.
    RateLimit(String),
    /// Let the request through: later rules and the rate limits are skipped.
    Allow,
    /// Record the match and go on with the later rules.
    Log,
}

impl Action {
    /// The action's name, as written in the configuration.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Block { .. } => "block",
            Action::Challenge => "challenge",
            Action::RateLimit(_) => "rate_limit",
            Action::Allow => "allow",
            Action::Log => "log",
        }
    }
}

/// One rule: an expression and an action.
#[derive(Debug)]
pub struct Rule {
    /// Its identifier, for logs and metrics.
    pub id: String,
    /// What to do on a match.
    pub action: Action,
    /// The compiled expression.
    pub expr: Expr,
}

/// The decision of a rule set for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No terminal rule matched: go on with the rest of the request's processing.
    Continue,
    /// The rule at this index allowed the request: skip later rules and rate limits.
    Allow(usize),
    /// The rule at this index blocks the request with this status.
    Block(usize, u16),
    /// The rule at this index asks for a challenge.
    Challenge(usize),
    /// The rule at this index counted the request against its rate limit, which refused it.
    RateLimited(usize),
}

impl Outcome {
    /// The index of the rule that decided, if one did.
    pub fn rule(&self) -> Option<usize> {
        match *self {
            Outcome::Continue => None,
            Outcome::Allow(i)
            | Outcome::Block(i, _)
            | Outcome::Challenge(i)
            | Outcome::RateLimited(i) => Some(i),
        }
    }
}

/// The outcome and the `log` rules that matched before it (indices, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What to do with the request.
    pub outcome: Outcome,
    /// The `log` rules that matched (only allocated when one did).
    pub logged: Vec<usize>,
    /// The `rate_limit` rules that matched and counted the request without refusing it.
    pub counted: Vec<usize>,
}

/// An ordered list of rules.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    uses_rate: bool,
}

impl RuleSet {
    /// A rule set, evaluated in the given order.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        let uses_rate = rules.iter().any(|r| r.expr.uses_rate());
        RuleSet { rules, uses_rate }
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether any rule reads `http.rate`.
    pub fn uses_rate(&self) -> bool {
        self.uses_rate
    }

    /// Evaluates the rules in order: the first matching terminal rule (block, challenge,
    /// allow, or a rate limit that refuses) decides; `log` rules accumulate. For a matching
    /// `rate_limit` rule, `over_limit(name)` counts the request against the named limit and
    /// says whether the limit refuses it.
    pub fn evaluate<R: Request + ?Sized>(
        &self,
        req: &R,
        mut over_limit: impl FnMut(&str) -> bool,
    ) -> Verdict {
        let mut logged = Vec::new();
        let mut counted = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.expr.matches(req) {
                continue;
            }
            let outcome = match &rule.action {
                Action::Log => {
                    logged.push(i);
                    continue;
                }
                Action::RateLimit(name) => {
                    if over_limit(name) {
                        Outcome::RateLimited(i)
                    } else {
                        counted.push(i);
                        continue;
                    }
                }
                Action::Block { status } => Outcome::Block(i, *status),
                Action::Challenge => Outcome::Challenge(i),
                Action::Allow => Outcome::Allow(i),
            };
            return Verdict {
                outcome,
                logged,
                counted,
            };
        }
        Verdict {
            outcome: Outcome::Continue,
            logged,
            counted,
        }
    }
}

#[cfg(test)]
mod tests;
