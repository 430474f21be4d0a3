use std::net::IpAddr;

use ipnet::IpNet;

use super::*;

struct Req {
    host: &'static str,
    path: &'static str,
    method: &'static str,
    query: &'static str,
    headers: Vec<(&'static str, &'static [u8])>,
    ip: Option<IpAddr>,
    rate: f64,
    tls: bool,
}

impl Default for Req {
    fn default() -> Self {
        Req {
            host: "forum.example",
            path: "/wp-login.php",
            method: "POST",
            query: "a=1&b=2",
            headers: vec![("user-agent", b"curl/8.5.0"), ("x-raw", b"\xff\xfebin")],
            ip: Some("10.1.2.3".parse().unwrap()),
            rate: 12.5,
            tls: true,
        }
    }
}

impl Request for Req {
    fn host(&self) -> &str {
        self.host
    }
    fn path(&self) -> &str {
        self.path
    }
    fn method(&self) -> &str {
        self.method
    }
    fn query(&self) -> &str {
        self.query
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
    fn client_ip(&self) -> Option<IpAddr> {
        self.ip
    }
    fn rate(&self) -> f64 {
        self.rate
    }
    fn tls(&self) -> bool {
        self.tls
    }
}

fn lists() -> Lists {
    let mut l = Lists::new();
    l.insert(
        "office",
        IpSet::new(["10.1.0.0/16".parse::<IpNet>().unwrap()]),
    );
    l
}

fn eval(src: &str) -> bool {
    eval_on(src, &Req::default())
}

fn eval_on(src: &str, req: &Req) -> bool {
    Expr::parse(src, &lists())
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .matches(req)
}

fn err(src: &str) -> ParseError {
    match Expr::parse(src, &lists()) {
        Ok(_) => panic!("{src} should not parse"),
        Err(e) => e,
    }
}

#[test]
fn string_operators() {
    assert!(eval(r#"http.host == "forum.example""#));
    assert!(!eval(r#"http.host == "Forum.example""#));
    assert!(eval(r#"http.host != "other.example""#));
    assert!(eval(r#"http.path contains "login""#));
    assert!(!eval(r#"http.path contains "admin""#));
    assert!(eval(r#"http.path starts_with "/wp-""#));
    assert!(eval(r#"http.path ends_with ".php""#));
    assert!(eval(r#"http.path matches "^/wp-(login|admin)\\.php$""#));
    assert!(eval(r#"http.path matches r"^/wp-\w+\.php$""#));
    assert!(!eval(r#"http.path matches "^/admin""#));
    assert!(eval(r#"http.method in {"PUT" "POST"}"#));
    assert!(eval(r#"http.method in {"PUT", "POST",}"#));
    assert!(!eval(r#"http.method in {"GET", "HEAD"}"#));
    assert!(eval(r#"http.query contains "b=2""#));
    let no_query = Req {
        query: "",
        ..Req::default()
    };
    assert!(eval_on(r#"http.query == """#, &no_query));
}

#[test]
fn headers_are_case_insensitive_and_absent_is_empty() {
    assert!(eval(r#"http.header["User-Agent"] starts_with "curl/""#));
    assert!(eval(
        r#"http.header["USER-AGENT"] matches "^curl/[0-9.]+$""#
    ));
    assert!(eval(r#"http.header["accept"] == """#));
    assert!(!eval(r#"http.header["accept"] contains "html""#));
    // Header values are bytes, not necessarily UTF-8.
    assert!(eval(r#"http.header["x-raw"] ends_with "bin""#));
}

#[test]
fn address_operators() {
    assert!(eval("ip.src in {10.0.0.0/8 2001:db8::/32}"));
    assert!(!eval("ip.src in {192.0.2.0/24, 2001:db8::/32}"));
    assert!(eval("ip.src in {10.1.2.3}"));
    assert!(eval("ip.src == 10.1.2.3"));
    assert!(eval("ip.src != 10.1.2.4"));
    assert!(eval("ip.src in $office"));
    let v6 = Req {
        ip: Some("2001:db8::5".parse().unwrap()),
        ..Req::default()
    };
    assert!(eval_on("ip.src in {10.0.0.0/8 2001:db8::/32}", &v6));
    assert!(!eval_on("ip.src in $office", &v6));
    let mapped = Req {
        ip: Some("::ffff:10.1.2.3".parse().unwrap()),
        ..Req::default()
    };
    assert!(eval_on("ip.src == 10.1.2.3", &mapped));
    assert!(eval_on("ip.src in $office", &mapped));
    let unix = Req {
        ip: None,
        ..Req::default()
    };
    assert!(!eval_on("ip.src in {0.0.0.0/0 ::/0}", &unix));
    assert!(eval_on("ip.src != 10.1.2.3", &unix));
}

#[test]
fn number_and_bool_operators() {
    assert!(eval("http.rate > 10"));
    assert!(eval("http.rate >= 12.5"));
    assert!(eval("http.rate <= 12.5"));
    assert!(!eval("http.rate < 12.5"));
    assert!(eval("http.rate == 12.5"));
    assert!(eval("http.rate != 12"));
    assert!(eval("ssl"));
    assert!(eval("tls"));
    assert!(!eval("not ssl"));
    assert!(Expr::parse("http.rate > 1", &lists()).unwrap().uses_rate());
    assert!(!Expr::parse("ssl", &lists()).unwrap().uses_rate());
}

#[test]
fn precedence_not_binds_tighter_than_and_tighter_than_or() {
    // true or (false and false) = true; (true or false) and false would be false.
    assert!(eval(r#"ssl or http.path == "/x" and http.method == "GET""#));
    assert!(!eval(
        r#"(ssl or http.path == "/x") and http.method == "GET""#
    ));
    // not applies to the comparison only.
    assert!(eval(r#"not http.method == "GET" and ssl"#));
    assert!(!eval(r#"not (http.method == "POST" and ssl)"#));
    assert!(eval(r#"! ! ssl && (http.rate > 100 || ssl)"#));
    assert!(eval("not not ssl"));
}

#[test]
fn parse_errors_point_at_the_column() {
    let e = err(r#"http.path = "/x""#);
    assert_eq!((e.line, e.column), (1, 11), "{e}");
    assert!(e.reason.contains("'=='"), "{e}");

    let e = err(r#"http.paht == "/x""#);
    assert_eq!((e.line, e.column), (1, 1), "{e}");
    assert!(e.reason.contains("unknown field 'http.paht'"), "{e}");

    let e = err(r#"http.path == "/x" and"#);
    assert_eq!((e.line, e.column), (1, 22), "{e}");
    assert!(e.reason.contains("end of the expression"), "{e}");

    let e = err(r#"(http.path == "/x""#);
    assert_eq!((e.line, e.column), (1, 19), "{e}");
    assert!(e.reason.contains("expected ')'"), "{e}");

    let e = err("http.path == \"/x\nor ssl");
    assert_eq!((e.line, e.column), (1, 14), "{e}");
    assert!(e.reason.contains("never closed"), "{e}");

    let e = err("ssl\nand http.rate > fast");
    assert_eq!((e.line, e.column), (2, 17), "{e}");
    assert!(e.reason.contains("expected a number"), "{e}");

    let e = err(r#"http.path matches "(unclosed""#);
    assert_eq!((e.line, e.column), (1, 19), "{e}");
    assert!(e.reason.starts_with("invalid regular expression"), "{e}");

    let e = err("ip.src in {10.0.0.0/33}");
    assert_eq!(e.column, 12, "{e}");
    let e = err("ip.src in $nobody");
    assert_eq!(e.column, 11, "{e}");
    assert!(e.reason.contains("$office"), "{e}");
    let e = err(r#"ip.src contains "10.""#);
    assert_eq!(e.column, 8, "{e}");
    let e = err(r#"http.host > "a""#);
    assert_eq!(e.column, 11, "{e}");
    let e = err(r#"http.header[agent] == "x""#);
    assert_eq!(e.column, 13, "{e}");
    let e = err("ssl ssl");
    assert_eq!(e.column, 5, "{e}");
    let e = err("");
    assert_eq!((e.line, e.column), (1, 1), "{e}");
    let e = err("http.method in {}");
    assert_eq!(e.column, 17, "{e}");
    // Columns count characters, not bytes.
    let e = err(r#"http.path == "é" @"#);
    assert_eq!(e.column, 18, "{e}");
    assert_eq!(e.to_string(), "1:18: unexpected character '@'");
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("{}ssl{}", "(".repeat(100), ")".repeat(100));
    assert!(err(&deep).reason.contains("nested"));
    let nots = format!("{}ssl", "not ".repeat(100));
    assert!(err(&nots).reason.contains("nested"));
    let ok = format!("{}ssl{}", "(".repeat(60), ")".repeat(60));
    assert!(eval(&ok));
}

fn rule(id: &str, src: &str, action: Action) -> Rule {
    Rule {
        id: id.into(),
        action,
        expr: Expr::parse(src, &lists()).unwrap_or_else(|e| panic!("{src}: {e}")),
    }
}

#[test]
fn first_terminal_rule_wins_and_logs_accumulate() {
    let set = RuleSet::new(vec![
        rule(
            "log-curl",
            r#"http.header["user-agent"] contains "curl""#,
            Action::Log,
        ),
        rule(
            "nothing",
            r#"http.path == "/nope""#,
            Action::Block { status: 403 },
        ),
        rule("log-post", r#"http.method == "POST""#, Action::Log),
        rule(
            "login",
            r#"http.path contains "login""#,
            Action::Block { status: 418 },
        ),
        rule("office", "ip.src in $office", Action::Allow),
    ]);
    let v = set.evaluate(&Req::default(), |_| false);
    assert_eq!(v.outcome, Outcome::Block(3, 418));
    assert_eq!(v.logged, vec![0, 2]);
    assert_eq!(set.rules()[v.outcome.rule().unwrap()].id, "login");

    // Order matters: an allow placed first wins over the block.
    let set = RuleSet::new(vec![
        rule("office", "ip.src in $office", Action::Allow),
        rule(
            "login",
            r#"http.path contains "login""#,
            Action::Block { status: 403 },
        ),
    ]);
    assert_eq!(
        set.evaluate(&Req::default(), |_| false).outcome,
        Outcome::Allow(0)
    );

    let set = RuleSet::new(vec![rule("c", "ssl", Action::Challenge)]);
    assert_eq!(
        set.evaluate(&Req::default(), |_| false).outcome,
        Outcome::Challenge(0)
    );

    let v =
        RuleSet::new(vec![rule("l", "not ssl", Action::Log)]).evaluate(&Req::default(), |_| false);
    assert_eq!(v.outcome, Outcome::Continue);
    assert!(v.logged.is_empty());
}

#[test]
fn rate_limit_rules_refuse_only_over_their_limit() {
    let set = RuleSet::new(vec![
        rule(
            "api",
            r#"http.path starts_with "/wp""#,
            Action::RateLimit("logins".into()),
        ),
        rule("later", "ssl", Action::Block { status: 403 }),
    ]);
    let mut asked = Vec::new();
    let v = set.evaluate(&Req::default(), |name| {
        asked.push(name.to_string());
        false
    });
    // Under the limit: counted, and the later rules still apply.
    assert_eq!(v.outcome, Outcome::Block(1, 403));
    assert_eq!(v.counted, vec![0]);
    assert_eq!(asked, vec!["logins"]);
    let v = set.evaluate(&Req::default(), |_| true);
    assert_eq!(v.outcome, Outcome::RateLimited(0));
    assert!(!set.is_empty() && !set.uses_rate());
}
