//! Lexer and recursive-descent parser, producing the compiled tree directly (fields are typed,
//! so each comparison is checked and compiled as it is read).

use std::net::IpAddr;

use ipnet::IpNet;
use memchr::memmem::Finder;

use crate::eval::{Cmp, IpTest, Node, TextField, TextTest};
use crate::{IpSet, Lists, ParseError};

/// Deepest nesting of parentheses and `not` (bounds the parser's and the evaluator's stack).
const MAX_DEPTH: usize = 64;
/// Longest expression accepted.
const MAX_LEN: usize = 64 * 1024;
/// Memory a compiled regular expression may take.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq)]
enum Tok<'s> {
    /// A field, keyword, number or address: `[A-Za-z0-9_.:/]+`.
    Word(&'s str),
    /// A quoted string, unescaped.
    Str(String),
    /// `$name`.
    List(&'s str),
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Bang,
    AndAnd,
    OrOr,
    End,
}

impl Tok<'_> {
    fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("'{w}'"),
            Tok::Str(s) => format!("the string \"{}\"", s.escape_debug()),
            Tok::List(l) => format!("the list ${l}"),
            Tok::End => "the end of the expression".into(),
            t => format!("'{}'", t.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Eq => "==",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Bang => "!",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            _ => "",
        }
    }
}

fn error(src: &str, offset: usize, reason: impl Into<String>) -> ParseError {
    let offset = offset.min(src.len());
    // Offsets always fall on char boundaries (the lexer walks chars); guard anyway.
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    ParseError {
        line,
        column,
        offset,
        reason: reason.into(),
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/')
}

fn lex(src: &str) -> Result<Vec<(Tok<'_>, usize)>, ParseError> {
    let mut toks = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let next_is = |s: &str| src[at + c.len_utf8()..].starts_with(s);
        let two = |t: Tok<'static>| (t, 2usize);
        let (tok, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            '{' => (Tok::LBrace, 1),
            '}' => (Tok::RBrace, 1),
            '[' => (Tok::LBracket, 1),
            ']' => (Tok::RBracket, 1),
            ',' => (Tok::Comma, 1),
            '=' if next_is("=") => two(Tok::Eq),
            '=' => return Err(error(src, at, "'=' is not an operator; write '=='")),
            '!' if next_is("=") => two(Tok::Ne),
            '!' => (Tok::Bang, 1),
            '<' if next_is("=") => two(Tok::Le),
            '<' => (Tok::Lt, 1),
            '>' if next_is("=") => two(Tok::Ge),
            '>' => (Tok::Gt, 1),
            '&' if next_is("&") => two(Tok::AndAnd),
            '|' if next_is("|") => two(Tok::OrOr),
            '&' | '|' => {
                return Err(error(
                    src,
                    at,
                    format!("'{c}' is not an operator; write '{c}{c}' or 'and'/'or'"),
                ))
            }
            '"' => {
                chars.next();
                toks.push((Tok::Str(string(src, at, &mut chars, false)?), at));
                continue;
            }
            'r' if next_is("\"") => {
                chars.next();
                chars.next();
                toks.push((Tok::Str(string(src, at, &mut chars, true)?), at));
                continue;
            }
            '$' => {
                chars.next();
                let start = at + 1;
                let mut end = start;
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        end = i + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                if end == start {
                    return Err(error(src, at, "'$' must be followed by a list name"));
                }
                toks.push((Tok::List(&src[start..end]), at));
                continue;
            }
            c if is_word(c) => {
                let mut end = at;
                while let Some(&(i, c)) = chars.peek() {
                    if is_word(c) {
                        end = i + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                toks.push((Tok::Word(&src[at..end]), at));
                continue;
            }
            c => {
                return Err(error(
                    src,
                    at,
                    format!("unexpected character '{}'", c.escape_debug()),
                ))
            }
        };
        for _ in 0..len {
            chars.next();
        }
        toks.push((tok, at));
    }
    toks.push((Tok::End, src.len()));
    Ok(toks)
}

/// Reads a string after its opening quote; `raw` strings take backslashes literally.
fn string(
    src: &str,
    start: usize,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    raw: bool,
) -> Result<String, ParseError> {
    let mut out = String::new();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok(out),
            '\\' if !raw => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 't')) => out.push('\t'),
                Some((_, e)) => {
                    return Err(error(
                        src,
                        at,
                        format!(
                            "unknown escape '\\{}' (use \\\" \\\\ \\n \\r \\t, or a raw string r\"...\")",
                            e.escape_debug()
                        ),
                    ))
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(error(
        src,
        start,
        "this string is never closed (missing '\"')",
    ))
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Ip,
    Number,
}

struct Parser<'s, 'l> {
    src: &'s str,
    toks: Vec<(Tok<'s>, usize)>,
    pos: usize,
    depth: usize,
    lists: &'l Lists,
    uses_rate: bool,
}

const FIELDS: &str =
    "http.host, http.path, http.method, http.query, http.header[\"name\"], ip.src, http.rate, ssl";

pub(crate) fn parse(src: &str, lists: &Lists) -> Result<(Node, bool), ParseError> {
    if src.len() > MAX_LEN {
        return Err(error(
            src,
            0,
            format!("the expression is longer than {MAX_LEN} bytes"),
        ));
    }
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        depth: 0,
        lists,
        uses_rate: false,
    };
    if p.peek() == &Tok::End {
        return Err(p.err_here("the expression is empty"));
    }
    let node = p.or()?;
    if p.peek() != &Tok::End {
        let what = p.peek().describe();
        return Err(p.err_here(format!(
            "expected 'and', 'or' or the end of the expression, found {what}"
        )));
    }
    Ok((node, p.uses_rate))
}

impl<'s> Parser<'s, '_> {
    fn peek(&self) -> &Tok<'s> {
        &self.toks[self.pos.min(self.toks.len() - 1)].0
    }

    fn at(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].1
    }

    fn next(&mut self) -> (Tok<'s>, usize) {
        let t = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn err_here(&self, reason: impl Into<String>) -> ParseError {
        error(self.src, self.at(), reason)
    }

    fn err_at(&self, at: usize, reason: impl Into<String>) -> ParseError {
        error(self.src, at, reason)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Word(x) if *x == w)
    }

    fn deeper(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_here(format!("nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Node, ParseError> {
        let mut items = vec![self.and()?];
        while self.is_word("or") || self.peek() == &Tok::OrOr {
            self.next();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Node::Any(items.into_boxed_slice())
        })
    }

    fn and(&mut self) -> Result<Node, ParseError> {
        let mut items = vec![self.not()?];
        while self.is_word("and") || self.peek() == &Tok::AndAnd {
            self.next();
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Node::All(items.into_boxed_slice())
        })
    }

    fn not(&mut self) -> Result<Node, ParseError> {
        if self.is_word("not") || self.peek() == &Tok::Bang {
            self.next();
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        let (tok, at) = self.next();
        match tok {
            Tok::LParen => {
                self.deeper()?;
                if self.peek() == &Tok::RParen {
                    return Err(self.err_here("empty parentheses: expected an expression"));
                }
                let inner = self.or()?;
                self.depth -= 1;
                if self.peek() != &Tok::RParen {
                    let what = self.peek().describe();
                    return Err(self.err_here(format!(
                        "expected ')' to close the '(' at column {}, found {what}",
                        error(self.src, at, "").column
                    )));
                }
                self.next();
                Ok(inner)
            }
            Tok::Word(w) => self.comparison(w, at),
            t => Err(self.err_at(
                at,
                format!(
                    "expected a field ({FIELDS}), 'not' or '(', found {}",
                    t.describe()
                ),
            )),
        }
    }

    fn comparison(&mut self, name: &'s str, at: usize) -> Result<Node, ParseError> {
        let (kind, field) = match name {
            "ssl" | "tls" => return Ok(Node::Tls),
            "http.host" => (Kind::Text, Some(TextField::Host)),
            "http.path" => (Kind::Text, Some(TextField::Path)),
            "http.method" => (Kind::Text, Some(TextField::Method)),
            "http.query" => (Kind::Text, Some(TextField::Query)),
            "http.header" => (Kind::Text, Some(self.header_name()?)),
            "ip.src" => (Kind::Ip, None),
            "http.rate" => {
                self.uses_rate = true;
                (Kind::Number, None)
            }
            "and" | "or" => {
                return Err(self.err_at(at, format!("'{name}' needs an expression before it")))
            }
            _ => {
                return Err(self.err_at(
                    at,
                    format!("unknown field '{name}'; the fields are {FIELDS}"),
                ))
            }
        };
        let (op, op_at) = self.next();
        let op_name = match &op {
            Tok::Word(w) => w.to_string(),
            Tok::End => {
                return Err(self.err_at(
                    op_at,
                    format!("expected an operator after '{name}', found the end of the expression"),
                ))
            }
            t => t.symbol().to_string(),
        };
        match kind {
            Kind::Text => {
                let field = field.unwrap_or(TextField::Host);
                let test = self.text_test(name, &op, &op_name, op_at)?;
                Ok(Node::Text(field, test))
            }
            Kind::Ip => Ok(Node::Ip(self.ip_test(&op, &op_name, op_at)?)),
            Kind::Number => {
                let cmp = match op {
                    Tok::Eq => Cmp::Eq,
                    Tok::Ne => Cmp::Ne,
                    Tok::Lt => Cmp::Lt,
                    Tok::Le => Cmp::Le,
                    Tok::Gt => Cmp::Gt,
                    Tok::Ge => Cmp::Ge,
                    _ => {
                        return Err(self.err_at(
                            op_at,
                            format!(
                            "'{op_name}' does not apply to {name} (a number); use == != < <= > >="
                        ),
                        ))
                    }
                };
                let (v, v_at) = self.next();
                let n = match v {
                    Tok::Word(w) if w.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
                        w.parse::<f64>().ok().filter(|n| n.is_finite())
                    }
                    _ => None,
                };
                match n {
                    Some(n) => Ok(Node::Rate(cmp, n)),
                    None => Err(self.err_at(
                        v_at,
                        format!(
                            "expected a number after '{op_name}', found {}",
                            v.describe()
                        ),
                    )),
                }
            }
        }
    }

    fn header_name(&mut self) -> Result<TextField, ParseError> {
        let (t, at) = self.next();
        if t != Tok::LBracket {
            return Err(self.err_at(
                at,
                format!(
                    "expected '[' after http.header, as in http.header[\"user-agent\"], found {}",
                    t.describe()
                ),
            ));
        }
        let (t, at) = self.next();
        let Tok::Str(name) = t else {
            return Err(self.err_at(
                at,
                format!("expected a header name in quotes, found {}", t.describe()),
            ));
        };
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid {
            return Err(self.err_at(at, format!("'{name}' is not a header name")));
        }
        let (t, at) = self.next();
        if t != Tok::RBracket {
            return Err(self.err_at(
                at,
                format!("expected ']' after the header name, found {}", t.describe()),
            ));
        }
        // Header names are case-insensitive: compare in lower case, once, here.
        Ok(TextField::Header(
            name.to_ascii_lowercase().into_boxed_str(),
        ))
    }

    fn string_value(&mut self, op_name: &str) -> Result<(String, usize), ParseError> {
        let (t, at) = self.next();
        match t {
            Tok::Str(s) => Ok((s, at)),
            t => Err(self.err_at(
                at,
                format!(
                    "expected a quoted string after '{op_name}', found {}",
                    t.describe()
                ),
            )),
        }
    }

    fn text_test(
        &mut self,
        name: &str,
        op: &Tok<'s>,
        op_name: &str,
        op_at: usize,
    ) -> Result<TextTest, ParseError> {
        let bytes = |s: String| s.into_bytes().into_boxed_slice();
        Ok(match (op, op_name) {
            (Tok::Eq, _) => TextTest::Eq(bytes(self.string_value(op_name)?.0)),
            (Tok::Ne, _) => TextTest::Ne(bytes(self.string_value(op_name)?.0)),
            (Tok::Word(_), "contains") => {
                let (s, _) = self.string_value(op_name)?;
                TextTest::Contains(Box::new(Finder::new(s.as_bytes()).into_owned()))
            }
            (Tok::Word(_), "starts_with") => {
                TextTest::StartsWith(bytes(self.string_value(op_name)?.0))
            }
            (Tok::Word(_), "ends_with") => TextTest::EndsWith(bytes(self.string_value(op_name)?.0)),
            (Tok::Word(_), "matches") => {
                let (s, at) = self.string_value(op_name)?;
                let re = regex::bytes::RegexBuilder::new(&s)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .dfa_size_limit(REGEX_SIZE_LIMIT)
                    .nest_limit(MAX_DEPTH as u32)
                    .build()
                    .map_err(|e| {
                        // regex's messages span several lines (a diagram); keep the reason.
                        let text = e.to_string();
                        let reason = text
                            .lines()
                            .rev()
                            .find(|l| !l.trim().is_empty())
                            .unwrap_or("invalid")
                            .trim()
                            .trim_start_matches("error: ")
                            .to_string();
                        self.err_at(at, format!("invalid regular expression: {reason}"))
                    })?;
                TextTest::Matches(Box::new(re))
            }
            (Tok::Word(_), "in") => {
                let items = self.set(|p| {
                    let (t, at) = p.next();
                    match t {
                        Tok::Str(s) => Ok(s.into_bytes().into_boxed_slice()),
                        t => Err(p.err_at(
                            at,
                            format!("expected a quoted string in the set, found {}", t.describe()),
                        )),
                    }
                })?;
                TextTest::In(items.into_boxed_slice())
            }
            (Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge, _) => {
                return Err(self.err_at(
                    op_at,
                    format!("'{op_name}' compares numbers, and {name} is a string"),
                ))
            }
            _ => {
                return Err(self.err_at(
                    op_at,
                    format!(
                        "expected an operator for {name} (== != contains matches starts_with ends_with in), found {}",
                        op.describe()
                    ),
                ))
            }
        })
    }

    fn ip_test(&mut self, op: &Tok<'s>, op_name: &str, op_at: usize) -> Result<IpTest, ParseError> {
        match (op, op_name) {
            (Tok::Eq | Tok::Ne, _) => {
                let (t, at) = self.next();
                let ip = match t {
                    Tok::Word(w) => w.parse::<IpAddr>().ok(),
                    _ => None,
                };
                let Some(ip) = ip else {
                    return Err(self.err_at(
                        at,
                        format!(
                            "expected an IP address after '{op_name}' (for a prefix, use 'in {{10.0.0.0/8}}'), found {}",
                            t.describe()
                        ),
                    ));
                };
                Ok(if *op == Tok::Eq {
                    IpTest::Eq(ip)
                } else {
                    IpTest::Ne(ip)
                })
            }
            (Tok::Word(_), "in") => {
                if let Tok::List(name) = self.peek().clone() {
                    let at = self.at();
                    self.next();
                    return match self.lists.get(name) {
                        Some(set) => Ok(IpTest::In(set.clone())),
                        None => {
                            let known = self.lists.names();
                            Err(self.err_at(
                                at,
                                if known.is_empty() {
                                    format!("unknown list ${name}: no lists are defined")
                                } else {
                                    format!(
                                        "unknown list ${name}; the lists are ${}",
                                        known.join(", $")
                                    )
                                },
                            ))
                        }
                    };
                }
                let nets = self.set(|p| {
                    let (t, at) = p.next();
                    let net = match t {
                        Tok::Word(w) => w
                            .parse::<IpNet>()
                            .ok()
                            .or_else(|| w.parse::<IpAddr>().ok().map(IpNet::from)),
                        _ => None,
                    };
                    net.ok_or_else(|| {
                        p.err_at(
                            at,
                            format!(
                                "expected an IP address or CIDR such as 10.0.0.0/8 in the set, found {}",
                                t.describe()
                            ),
                        )
                    })
                })?;
                Ok(IpTest::In(std::sync::Arc::new(IpSet::new(nets))))
            }
            _ => Err(self.err_at(
                op_at,
                format!(
                    "'{op_name}' does not apply to ip.src (an address); use == != or in {{...}} / in $list"
                ),
            )),
        }
    }

    /// `{ item item, item }`: commas are optional.
    fn set<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        let (t, at) = self.next();
        if t != Tok::LBrace {
            return Err(self.err_at(
                at,
                format!(
                    "expected '{{' to start a set after 'in', found {}",
                    t.describe()
                ),
            ));
        }
        let mut items = Vec::new();
        loop {
            match self.peek() {
                Tok::RBrace => {
                    if items.is_empty() {
                        return Err(self.err_here("the set is empty"));
                    }
                    self.next();
                    return Ok(items);
                }
                Tok::Comma => {
                    self.next();
                }
                Tok::End => {
                    return Err(self.err_at(at, "this set is never closed (missing '}')"));
                }
                _ => items.push(item(self)?),
            }
        }
    }
}
