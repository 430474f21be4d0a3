//! URL normalisation, so that a restriction cannot be evaded by spelling the same URL another
//! way (`/%70ost`, `/a/../post`, `//post`, `Forum.Example.`). The request forwarded to the origin
//! is never changed; only the key used for matching is.

use std::borrow::Cow;

/// Lower-cases a hostname, drops a port and a trailing dot.
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let host = strip_port(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // IPv6 literal: keep up to the closing bracket.
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rfind(':') {
        Some(i) if host[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &host[..i],
        _ => host,
    }
}

/// Checks that a hostname in a restriction is a plain lower-case name (or IP literal).
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.[]:".contains(&b))
        && !host.starts_with('.')
        && !host.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "host '{host}' must be a lower-case hostname without port, scheme or trailing dot"
        ))
    }
}

/// Splits an absolute `http(s)://host/path?query` URL of a restriction into its normalised
/// host, path and query.
pub(crate) fn split_url(url: &str) -> Result<(String, String, Option<String>), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("url '{url}' must start with https:// or http://"))?;
    let rest = rest.split('#').next().unwrap_or(rest);
    let (authority, path_query) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(format!("url '{url}' must not contain user information"));
    }
    let host = normalize_host(authority).into_owned();
    check_host(&host).map_err(|e| format!("url '{url}': {e}"))?;
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (path_query, None),
    };
    Ok((host, normalize_path(path).into_owned(), query))
}

/// Normalises a request path for matching: decodes percent-encoded unreserved characters,
/// upper-cases the remaining escapes, removes dot segments and collapses repeated slashes.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    let needs_work = !path.starts_with('/')
        || path.contains('%')
        || path.contains("//")
        || path.contains("/.")
        || path.contains('\\');
    if !needs_work {
        return Cow::Borrowed(path);
    }
    let decoded = decode_unreserved(path);
    let mut out: Vec<&str> = Vec::new();
    // Backslashes are treated as separators by some origins (IIS): match as they would.
    let unified = decoded.replace('\\', "/");
    for segment in unified.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut result = String::with_capacity(path.len());
    for s in &out {
        result.push('/');
        result.push_str(s);
    }
    if result.is_empty() || (unified.ends_with('/') && !out.is_empty()) {
        result.push('/');
    }
    Cow::Owned(result)
}

fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let c = (h * 16 + l) as u8;
                if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                    out.push(c as char);
                } else {
                    out.push('%');
                    out.push(bytes[i + 1].to_ascii_uppercase() as char);
                    out.push(bytes[i + 2].to_ascii_uppercase() as char);
                }
                i += 3;
                continue;
            }
        }
        // Copy one whole character (the path may hold raw UTF-8).
        let ch_len = utf8_len(bytes[i]);
        let end = (i + ch_len).min(bytes.len());
        out.push_str(std::str::from_utf8(&bytes[i..end]).unwrap_or("\u{FFFD}"));
        i = end;
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(normalize_host("Forum.Example.:8443"), "forum.example");
        assert_eq!(normalize_host("[::1]:443"), "[::1]");
        assert_eq!(normalize_host("a.example"), "a.example");
    }

    #[test]
    fn paths() {
        assert_eq!(normalize_path("/t/1"), "/t/1");
        assert_eq!(normalize_path("/%74/%31"), "/t/1");
        assert_eq!(normalize_path("//t///1"), "/t/1");
        assert_eq!(normalize_path("/x/../t/./1"), "/t/1");
        assert_eq!(normalize_path("/../../t/1"), "/t/1");
        assert_eq!(normalize_path("/a%2fb"), "/a%2Fb");
        assert_eq!(normalize_path("/t/"), "/t/");
        assert_eq!(normalize_path("/./"), "/");
        assert_eq!(normalize_path("/caf%C3%A9/é"), "/caf%C3%A9/é");
        assert_eq!(normalize_path("/bad%"), "/bad%");
        assert_eq!(normalize_path("/bad%4"), "/bad%4");
        assert_eq!(normalize_path("\\t\\1"), "/t/1");
    }

    #[test]
    fn urls() {
        let (h, p, q) = split_url("https://Forum.Example/t/%31?x=1#frag").unwrap();
        assert_eq!(
            (h.as_str(), p.as_str(), q.as_deref()),
            ("forum.example", "/t/1", Some("x=1"))
        );
        assert!(split_url("ftp://x/").is_err());
        assert!(split_url("https://u@x/").is_err());
        assert_eq!(split_url("https://x.example").unwrap().1, "/");
    }
}
