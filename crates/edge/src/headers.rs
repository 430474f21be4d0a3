//! Request-head hygiene: refusing ambiguous framing (request smuggling) and oversized heads,
//! and the forwarding headers the edge writes toward origins.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Version;
use ipnet::IpNet;

use crate::config::Limits;

/// Why a request head is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadProblem {
    /// 400: ambiguous or invalid framing, with the reason.
    Bad(&'static str),
    /// 414: request target too long.
    UriTooLong,
    /// 431: headers too large or too many.
    HeadersTooLarge,
}

/// Checks a request head before anything else looks at it.
pub fn check_head(
    version: Version,
    target_len: usize,
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<(), HeadProblem> {
    if target_len > limits.max_uri_bytes {
        return Err(HeadProblem::UriTooLong);
    }
    if headers.len() > limits.max_header_count {
        return Err(HeadProblem::HeadersTooLarge);
    }
    let size: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if size > limits.max_header_bytes {
        return Err(HeadProblem::HeadersTooLarge);
    }
    for (_, v) in headers.iter() {
        // A bare CR or LF inside a value is how obs-fold and header injection arrive.
        if v.as_bytes()
            .iter()
            .any(|&b| b == b'\r' || b == b'\n' || b == 0)
        {
            return Err(HeadProblem::Bad("control character in a header value"));
        }
    }

    let cl: Vec<&HeaderValue> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
    let te: Vec<&HeaderValue> = headers.get_all(header::TRANSFER_ENCODING).iter().collect();
    if !cl.is_empty() && !te.is_empty() {
        return Err(HeadProblem::Bad(
            "both Content-Length and Transfer-Encoding are present",
        ));
    }
    if cl.len() > 1 {
        return Err(HeadProblem::Bad("more than one Content-Length header"));
    }
    if let Some(v) = cl.first() {
        let b = v.as_bytes();
        if b.is_empty() || b.len() > 18 || !b.iter().all(u8::is_ascii_digit) {
            return Err(HeadProblem::Bad(
                "Content-Length is not a plain decimal number",
            ));
        }
    }
    if !te.is_empty() {
        if version == Version::HTTP_2 || version == Version::HTTP_3 {
            return Err(HeadProblem::Bad(
                "Transfer-Encoding is not allowed in HTTP/2",
            ));
        }
        if version == Version::HTTP_10 || version == Version::HTTP_09 {
            return Err(HeadProblem::Bad(
                "Transfer-Encoding is not allowed in HTTP/1.0",
            ));
        }
        if te.len() > 1 || !te[0].as_bytes().eq_ignore_ascii_case(b"chunked") {
            return Err(HeadProblem::Bad(
                "Transfer-Encoding must be exactly \"chunked\"",
            ));
        }
    }
    Ok(())
}

/// Something whose headers can be read and edited: Pingora's request and response headers
/// (which keep header-name case alongside the map, so they must be edited through their own
/// methods), and a plain `HeaderMap` in tests.
pub trait HeaderEdit {
    /// The headers.
    fn map(&self) -> &HeaderMap;
    /// Removes every value of a header.
    fn remove(&mut self, name: &str);
    /// Sets a header to one value.
    fn set(&mut self, name: &'static str, value: HeaderValue);
}

impl HeaderEdit for HeaderMap {
    fn map(&self) -> &HeaderMap {
        self
    }
    fn remove(&mut self, name: &str) {
        HeaderMap::remove(self, name);
    }
    fn set(&mut self, name: &'static str, value: HeaderValue) {
        self.insert(name, value);
    }
}

// Pingora's request and response headers edit alike.
macro_rules! pingora_header_edit {
    ($t:ty) => {
        impl HeaderEdit for $t {
            fn map(&self) -> &HeaderMap {
                &self.headers
            }
            fn remove(&mut self, name: &str) {
                self.remove_header(name);
            }
            fn set(&mut self, name: &'static str, value: HeaderValue) {
                let _ = self.insert_header(name, value);
            }
        }
    };
}
pingora_header_edit!(pingora::http::RequestHeader);
pingora_header_edit!(pingora::http::ResponseHeader);

/// Headers that describe one connection, not the message; never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 6] = [
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-authenticate",
];

/// Removes hop-by-hop headers, including those named in `Connection`. An upgrade
/// (WebSocket) keeps `Connection: upgrade` and `Upgrade`, which the proxy needs.
pub fn strip_hop_by_hop(headers: &mut impl HeaderEdit, is_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .map()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty() && t != "upgrade" && t != "close" && t != "keep-alive")
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in named {
        // Never let a client strip the edge's own forwarding headers via Connection.
        if !is_forwarding_header(&name) {
            headers.remove(name.as_str());
        }
    }
    for name in HOP_BY_HOP {
        if headers.map().contains_key(name) {
            headers.remove(name);
        }
    }
    if !is_upgrade {
        for name in ["connection", "upgrade"] {
            if headers.map().contains_key(name) {
                headers.remove(name);
            }
        }
    }
}

fn is_forwarding_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "forwarded"
            | "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-forwarded-host"
            | "via"
            | "x-request-id"
            | "host"
    )
}

/// What the edge knows about the client connection.
#[derive(Debug, Clone)]
pub struct ClientInfo<'a> {
    /// The peer address of the connection.
    pub peer: Option<IpAddr>,
    /// Whether the client connection is TLS.
    pub tls: bool,
    /// The host the client asked for.
    pub host: &'a str,
    /// The request id.
    pub request_id: &'a str,
    /// The HTTP version toward the client, for `Via`.
    pub version: Version,
}

/// Writes `Forwarded`, `X-Forwarded-*`, `Via` and `X-Request-Id`. Client-supplied values are
/// replaced, unless the peer is a trusted proxy, in which case its chain is extended.
pub fn set_forwarding(headers: &mut impl HeaderEdit, client: &ClientInfo<'_>, trusted: &[IpNet]) {
    let trusted_peer = client
        .peer
        .is_some_and(|ip| trusted.iter().any(|n| n.contains(&ip)));
    let peer_text = client.peer.map(|ip| ip.to_string()).unwrap_or_default();
    let proto = if client.tls { "https" } else { "http" };

    let prior_xff = if trusted_peer {
        joined(headers.map(), "x-forwarded-for")
    } else {
        None
    };
    let prior_fwd = if trusted_peer {
        joined(headers.map(), "forwarded")
    } else {
        None
    };
    let prior_via = joined(headers.map(), "via");
    for name in [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-real-ip",
        "x-request-id",
    ] {
        if headers.map().contains_key(name) {
            headers.remove(name);
        }
    }

    let xff = match prior_xff {
        Some(p) => format!("{p}, {peer_text}"),
        None => peer_text.clone(),
    };
    let node = match client.peer {
        Some(IpAddr::V6(ip)) => format!("\"[{ip}]\""),
        Some(IpAddr::V4(ip)) => ip.to_string(),
        None => "unknown".into(),
    };
    let host_q = quote_if_needed(client.host);
    let element = format!("for={node};proto={proto};host={host_q}");
    let fwd = match prior_fwd {
        Some(p) => format!("{p}, {element}"),
        None => element,
    };
    let via_token = match client.version {
        Version::HTTP_2 => "2 rempart",
        Version::HTTP_10 => "1.0 rempart",
        _ => "1.1 rempart",
    };
    let via = match prior_via {
        Some(p) => format!("{p}, {via_token}"),
        None => via_token.to_string(),
    };
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.set(name, v);
        }
    };
    put("x-forwarded-for", &xff);
    put("x-forwarded-proto", proto);
    put("x-forwarded-host", client.host);
    put("forwarded", &fwd);
    put("via", &via);
    put("x-request-id", client.request_id);
}

fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let parts: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if parts.is_empty() {
        None
    } else {
        Some(parts.join(", "))
    }
}

fn quote_if_needed(s: &str) -> String {
    let token = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn check(pairs: &[(&str, &str)]) -> Result<(), HeadProblem> {
        check_head(Version::HTTP_11, 10, &map(pairs), &Limits::default())
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        assert!(check(&[("content-length", "5")]).is_ok());
        assert!(check(&[("transfer-encoding", "chunked")]).is_ok());
        assert!(check(&[("transfer-encoding", "Chunked")]).is_ok());
        for bad in [
            vec![("content-length", "5"), ("transfer-encoding", "chunked")],
            vec![("content-length", "5"), ("content-length", "5")],
            vec![("content-length", "5"), ("content-length", "6")],
            vec![("content-length", "+5")],
            vec![("content-length", "5 ")],
            vec![("content-length", "0x5")],
            vec![("content-length", "5,5")],
            vec![("content-length", "")],
            vec![("transfer-encoding", "chunked, identity")],
            vec![("transfer-encoding", "xchunked")],
            vec![
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ],
        ] {
            assert!(
                matches!(check(&bad), Err(HeadProblem::Bad(_))),
                "{bad:?} must be refused"
            );
        }
        let h = map(&[("transfer-encoding", "chunked")]);
        assert!(check_head(Version::HTTP_10, 1, &h, &Limits::default()).is_err());
    }

    #[test]
    fn size_limits() {
        let limits = Limits {
            max_uri_bytes: 100,
            max_header_bytes: 200,
            max_header_count: 3,
            ..Limits::default()
        };
        let ok = map(&[("a", "b")]);
        assert_eq!(
            check_head(Version::HTTP_11, 101, &ok, &limits),
            Err(HeadProblem::UriTooLong)
        );
        let big = map(&[("a", &"x".repeat(300))]);
        assert_eq!(
            check_head(Version::HTTP_11, 1, &big, &limits),
            Err(HeadProblem::HeadersTooLarge)
        );
        let many = map(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
        assert_eq!(
            check_head(Version::HTTP_11, 1, &many, &limits),
            Err(HeadProblem::HeadersTooLarge)
        );
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret, x-forwarded-for"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("x-forwarded-for", "1.2.3.4"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert!(h.get("x-secret").is_none());
        assert!(h.get("keep-alive").is_none());
        assert!(h.get("te").is_none());
        assert!(h.get("connection").is_none());
        assert!(
            h.get("x-forwarded-for").is_some(),
            "stripped later, not by Connection"
        );
        assert!(h.get("accept").is_some());
        let mut up = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        strip_hop_by_hop(&mut up, true);
        assert!(up.get("upgrade").is_some() && up.get("connection").is_some());
    }

    #[test]
    fn forwarding_headers_replace_untrusted_and_extend_trusted() {
        let client = ClientInfo {
            peer: Some("203.0.113.9".parse().unwrap()),
            tls: true,
            host: "forum.example",
            request_id: "rid",
            version: Version::HTTP_11,
        };
        let mut h = map(&[("x-forwarded-for", "6.6.6.6"), ("forwarded", "for=6.6.6.6")]);
        set_forwarding(&mut h, &client, &[]);
        assert_eq!(h["x-forwarded-for"], "203.0.113.9");
        assert_eq!(
            h["forwarded"],
            "for=203.0.113.9;proto=https;host=forum.example"
        );
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["via"], "1.1 rempart");
        assert_eq!(h["x-request-id"], "rid");

        let mut h = map(&[("x-forwarded-for", "198.51.100.1")]);
        set_forwarding(&mut h, &client, &["203.0.113.0/24".parse().unwrap()]);
        assert_eq!(h["x-forwarded-for"], "198.51.100.1, 203.0.113.9");

        let v6 = ClientInfo {
            peer: Some("2001:db8::1".parse().unwrap()),
            ..client
        };
        let mut h = HeaderMap::new();
        set_forwarding(&mut h, &v6, &[]);
        assert_eq!(
            h["forwarded"],
            "for=\"[2001:db8::1]\";proto=https;host=forum.example"
        );
    }
}
