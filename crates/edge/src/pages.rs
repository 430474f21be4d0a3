//! Pages the edge answers itself: the RFC 7725 block page and the edge's error pages, in
//! English and French (Fluent), as semantic HTML readable without CSS or JavaScript, or as
//! JSON for clients that ask for it.

use chrono::{DateTime, Utc};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use rempart_policy::Restriction;
use serde::Serialize;
use unic_langid::{langid, LanguageIdentifier};

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English (the default).
    En,
    /// French.
    Fr,
}

impl Lang {
    /// The BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// Chooses by `Accept-Language`, honouring q-values; English when nothing fits.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let mut best = (Lang::En, 0.0f32);
        for (tag, q) in weighted(accept_language.unwrap_or("")) {
            let lang = match tag.split('-').next().unwrap_or("") {
                "fr" => Lang::Fr,
                "en" => Lang::En,
                _ => continue,
            };
            if q > best.1 {
                best = (lang, q);
            }
        }
        best.0
    }
}

/// The items of an `Accept`-style header, lower-cased, with their q-values (1 by default).
fn weighted(header: &str) -> impl Iterator<Item = (String, f32)> + '_ {
    header.split(',').filter_map(|item| {
        let mut parts = item.trim().split(';');
        let value = parts.next()?.trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|v| v.parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        (!value.is_empty()).then_some((value, q))
    })
}

/// Whether the client prefers JSON to HTML.
pub fn wants_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let mut json_q = 0.0f32;
    let mut html_q = 0.0f32;
    for (media, q) in weighted(accept) {
        if media == "application/json" || media.ends_with("+json") {
            json_q = json_q.max(q);
        } else if media == "text/html" || media == "*/*" || media == "text/*" {
            html_q = html_q.max(if media == "text/html" { q } else { q - 0.001 });
        }
    }
    json_q > 0.0 && json_q >= html_q
}

/// The translated strings, and the pages that never change, rendered once.
pub struct Catalog {
    en: FluentBundle<FluentResource>,
    fr: FluentBundle<FluentResource>,
    /// The 429 page in HTML, per language (English, French), with its length: a refusal
    /// under a flood costs no formatting and no allocation for its body.
    rate_limited: [(bytes::Bytes, http::HeaderValue); 2],
    /// Every message without arguments, formatted once per language (English, French): pages
    /// built per request (challenges, errors) then cost a lookup, not a Fluent formatting.
    plain: [std::collections::HashMap<String, String>; 2],
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog")
    }
}

fn bundle(lang: LanguageIdentifier, source: &str) -> FluentBundle<FluentResource> {
    let mut bundle = FluentBundle::new_concurrent(vec![lang]);
    // Isolation marks would end up inside HTML text and attributes.
    bundle.set_use_isolating(false);
    let resource = match FluentResource::try_new(source.to_string()) {
        Ok(r) => r,
        // The files are compiled in and tested; a broken one keeps what parsed.
        Err((r, _)) => r,
    };
    let _ = bundle.add_resource(resource);
    bundle
}

impl Default for Catalog {
    fn default() -> Self {
        let mut catalog = Catalog {
            en: bundle(langid!("en"), include_str!("../locales/en.ftl")),
            fr: bundle(langid!("fr"), include_str!("../locales/fr.ftl")),
            rate_limited: std::array::from_fn(|_| {
                (bytes::Bytes::new(), http::HeaderValue::from_static("0"))
            }),
            plain: Default::default(),
        };
        let ids: std::collections::BTreeSet<&str> = [
            include_str!("../locales/en.ftl"),
            include_str!("../locales/fr.ftl"),
        ]
        .into_iter()
        .flat_map(str::lines)
        .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim()))
        .filter(|id| {
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .collect();
        for (i, lang) in [Lang::En, Lang::Fr].into_iter().enumerate() {
            for id in &ids {
                if let Some(text) = catalog.format(lang, id, &[]).filter(|(_, clean)| *clean) {
                    catalog.plain[i].insert(id.to_string(), text.0);
                }
            }
        }
        catalog.rate_limited = [Lang::En, Lang::Fr].map(|lang| {
            let body = bytes::Bytes::from(rate_limited_html(&catalog, lang));
            let len = http::HeaderValue::from(body.len());
            (body, len)
        });
        catalog
    }
}

/// The 429 page. It names no request: the `x-request-id` header carries that, so the page is
/// the same for every refusal and is rendered once.
fn rate_limited_html(catalog: &Catalog, lang: Lang) -> Vec<u8> {
    let title = catalog.text(lang, "error-rate-limited-title", &[]);
    let text = catalog.text(lang, "error-rate-limited-body", &[]);
    let main = format!(
        "<h1>429 — {}</h1>\n<p>{}</p>",
        escape(&title),
        escape(&text)
    );
    html_document(lang, &format!("429 {title}"), &main, "")
}

impl Catalog {
    /// The pre-rendered 429 HTML page in `lang` and its `content-length` value.
    pub fn rate_limited_page(&self, lang: Lang) -> (bytes::Bytes, http::HeaderValue) {
        let i = match lang {
            Lang::En => 0,
            Lang::Fr => 1,
        };
        self.rate_limited[i].clone()
    }

    /// A message in `lang`, with arguments; the English text when the French one is missing.
    pub fn text(&self, lang: Lang, id: &str, args: &[(&str, &str)]) -> String {
        if args.is_empty() {
            let i = match lang {
                Lang::En => 0,
                Lang::Fr => 1,
            };
            if let Some(text) = self.plain[i].get(id) {
                return text.clone();
            }
        }
        self.format(lang, id, args)
            .map_or_else(|| id.to_string(), |(text, _)| text)
    }

    /// Formats a message with Fluent: the text and whether it formatted without errors.
    fn format(&self, lang: Lang, id: &str, args: &[(&str, &str)]) -> Option<(String, bool)> {
        let mut fargs = FluentArgs::new();
        for (k, v) in args {
            fargs.set(*k, *v);
        }
        for b in [
            match lang {
                Lang::Fr => &self.fr,
                Lang::En => &self.en,
            },
            &self.en,
        ] {
            if let Some(pattern) = b.get_message(id).and_then(|m| m.value()) {
                let mut errors = vec![];
                let text = b
                    .format_pattern(pattern, Some(&fargs), &mut errors)
                    .into_owned();
                return Some((text, errors.is_empty()));
            }
        }
        None
    }
}

/// A page ready to send.
#[derive(Debug)]
pub struct Page {
    /// Status code.
    pub status: u16,
    /// `text/html; charset=utf-8` or `application/json`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// The page's language.
    pub lang: Lang,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn date(lang: Lang, t: DateTime<Utc>) -> String {
    match lang {
        Lang::En => t.format("%-d %B %Y, %H:%M UTC").to_string(),
        Lang::Fr => {
            const MONTHS: [&str; 12] = [
                "janvier",
                "février",
                "mars",
                "avril",
                "mai",
                "juin",
                "juillet",
                "août",
                "septembre",
                "octobre",
                "novembre",
                "décembre",
            ];
            use chrono::Datelike;
            let m = MONTHS[t.month0() as usize];
            format!("{} {m} {}, {} UTC", t.day(), t.year(), t.format("%H:%M"))
        }
    }
}

pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}h1{font-size:1.6rem}dt{font-weight:bold}dd{margin:0 0 .6rem 0}a{color:#0645ad}footer{margin-top:2rem;font-size:.9rem;color:#444}";

fn html_document(lang: Lang, title: &str, main: &str, footer: &str) -> Vec<u8> {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{main}\n</main>\n\
         <footer>\n{footer}\n</footer>\n</body>\n</html>\n",
        lang = lang.tag(),
        title = escape(title),
    )
    .into_bytes()
}

#[derive(Serialize)]
struct BlockJson<'a> {
    status: u16,
    title: String,
    restriction_id: &'a str,
    category: &'static str,
    category_label: String,
    ground: &'a str,
    scope: &'static str,
    implemented_by: &'a str,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    notice_url: &'a str,
    request_id: &'a str,
}

/// Renders the block page for a restriction.
pub fn block_page(
    catalog: &Catalog,
    r: &Restriction,
    lang: Lang,
    json: bool,
    request_id: &str,
) -> Page {
    let status = r.status();
    let legal = status == 451;
    let title = catalog.text(
        lang,
        if legal {
            "blocked-title-legal"
        } else {
            "blocked-title-tos"
        },
        &[],
    );
    let category_label = catalog.text(lang, &format!("category-{}", r.category.as_str()), &[]);
    if json {
        let body = BlockJson {
            status,
            title,
            restriction_id: &r.id.0,
            category: r.category.as_str(),
            category_label,
            ground: &r.ground,
            scope: r.scope.breadth(),
            implemented_by: &r.implemented_by,
            since: r.starts_at,
            until: r.ends_at,
            notice_url: &r.notice_url,
            request_id,
        };
        return Page {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(&body).unwrap_or_default(),
            lang,
        };
    }
    let t = |id: &str| escape(&catalog.text(lang, id, &[]));
    let lead = catalog.text(
        lang,
        if legal {
            "blocked-lead-legal"
        } else {
            "blocked-lead-tos"
        },
        &[("operator", &r.implemented_by)],
    );
    let until = match r.ends_at {
        Some(end) => escape(&date(lang, end)),
        None => t("blocked-until-none"),
    };
    let main = format!(
        "<h1>{status} — {title}</h1>\n<p>{lead}</p>\n<dl>\n\
         <dt>{l_cat}</dt><dd>{cat}</dd>\n\
         <dt>{l_ground}</dt><dd>{ground}</dd>\n\
         <dt>{l_scope}</dt><dd>{scope}</dd>\n\
         <dt>{l_by}</dt><dd>{by}</dd>\n\
         <dt>{l_since}</dt><dd><time datetime=\"{since_iso}\">{since}</time></dd>\n\
         <dt>{l_until}</dt><dd>{until}</dd>\n\
         <dt>{l_ref}</dt><dd>{id}</dd>\n</dl>\n\
         <p><a href=\"{notice}\" rel=\"blocked-by\">{l_notice}</a></p>",
        title = escape(&title),
        lead = escape(&lead),
        l_cat = t("blocked-category"),
        cat = escape(&category_label),
        l_ground = t("blocked-ground"),
        ground = escape(&r.ground),
        l_scope = t("blocked-scope"),
        scope = t(&format!("scope-{}", r.scope.breadth())),
        l_by = t("blocked-by"),
        by = escape(&r.implemented_by),
        l_since = t("blocked-since"),
        since_iso = r.starts_at.to_rfc3339(),
        since = escape(&date(lang, r.starts_at)),
        l_until = t("blocked-until"),
        l_ref = t("blocked-reference"),
        id = escape(&r.id.0),
        notice = escape(&r.notice_url),
        l_notice = t("blocked-notice"),
    );
    let footer = format!(
        "<p>{}: <code>{}</code></p>",
        t("request-id"),
        escape(request_id)
    );
    Page {
        status,
        content_type: "text/html; charset=utf-8",
        body: html_document(lang, &format!("{status} {title}"), &main, &footer),
        lang,
    }
}

/// The edge's own error pages.
#[derive(Debug, Clone)]
pub enum EdgeError<'a> {
    /// No zone serves the host (404).
    UnknownHost(&'a str),
    /// TLS connection opened for another zone (421).
    Misdirected(&'a str),
    /// Every origin of the zone is down (502).
    OriginDown(&'a str),
    /// Malformed or ambiguous request (400).
    BadRequest(&'a str),
    /// Request target too long (414).
    UriTooLong,
    /// Headers too large (431).
    HeadersTooLarge,
    /// The client's address is on the zone's deny list (403).
    Denied,
    /// Over a rate limit (429); seconds until the next request would pass.
    RateLimited(u64),
    /// The client holds its whole share of the zone's origin slots (429, retry in a second).
    OverShare,
    /// The zone's origins are at their concurrency cap (503).
    Overloaded(&'a str),
    /// A request rule refused the request, with this status.
    RuleBlocked(u16),
}

/// Renders an error page.
pub fn error_page(
    catalog: &Catalog,
    err: &EdgeError<'_>,
    lang: Lang,
    json: bool,
    request_id: &str,
) -> Page {
    let (status, key, args): (u16, &str, Vec<(&str, &str)>) = match err {
        EdgeError::UnknownHost(h) => (404, "error-unknown-host", vec![("host", h)]),
        EdgeError::Misdirected(h) => (421, "error-misdirected", vec![("host", h)]),
        EdgeError::OriginDown(z) => (502, "error-origin-down", vec![("zone", z)]),
        EdgeError::BadRequest(r) => (400, "error-bad-request", vec![("reason", r)]),
        EdgeError::UriTooLong => (414, "error-uri-too-long", vec![]),
        EdgeError::HeadersTooLarge => (431, "error-headers-too-large", vec![]),
        EdgeError::Denied => (403, "error-denied", vec![]),
        EdgeError::RateLimited(_) | EdgeError::OverShare => (429, "error-rate-limited", vec![]),
        EdgeError::Overloaded(z) => (503, "error-overloaded", vec![("zone", z)]),
        EdgeError::RuleBlocked(status) => (*status, "error-rule-blocked", vec![]),
    };
    let title = catalog.text(lang, &format!("{key}-title"), &[]);
    let text = catalog.text(lang, &format!("{key}-body"), &args);
    if json {
        let mut body = serde_json::json!({
            "status": status, "title": title, "detail": text, "request_id": request_id,
        });
        match err {
            EdgeError::RateLimited(secs) => body["retry_after"] = (*secs).into(),
            EdgeError::OverShare => body["retry_after"] = 1.into(),
            _ => {}
        }
        return Page {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(&body).unwrap_or_default(),
            lang,
        };
    }
    let main = format!(
        "<h1>{status} — {}</h1>\n<p>{}</p>",
        escape(&title),
        escape(&text)
    );
    let footer = format!(
        "<p>{}: <code>{}</code></p>",
        escape(&catalog.text(lang, "request-id", &[])),
        escape(request_id)
    );
    Page {
        status,
        content_type: "text/html; charset=utf-8",
        body: html_document(lang, &format!("{status} {title}"), &main, &footer),
        lang,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rempart_policy::{Category, RestrictionId, RestrictionKind, Scope};

    fn restriction() -> Restriction {
        Restriction {
            id: RestrictionId("d-7".into()),
            scope: Scope::Url {
                url: "https://forum.example/t/1".into(),
            },
            kind: RestrictionKind::Legal,
            category: Category::Doxxing,
            notice_url: "https://desk.example/notices/d-7?a=1&b=2".into(),
            ground: "Publishes a <private> person's address.".into(),
            implemented_by: "Example Provider".into(),
            starts_at: "2026-11-01T10:00:00Z".parse().unwrap(),
            ends_at: Some("2026-11-02T10:00:00Z".parse().unwrap()),
        }
    }

    #[test]
    fn languages() {
        assert_eq!(Lang::negotiate(None), Lang::En);
        assert_eq!(Lang::negotiate(Some("fr-FR,fr;q=0.9,en;q=0.8")), Lang::Fr);
        assert_eq!(Lang::negotiate(Some("en;q=0.5, fr;q=0.4")), Lang::En);
        assert_eq!(Lang::negotiate(Some("de, fr;q=0.3")), Lang::Fr);
        assert_eq!(Lang::negotiate(Some("de")), Lang::En);
    }

    #[test]
    fn json_negotiation() {
        assert!(wants_json(Some("application/json")));
        assert!(wants_json(Some("application/problem+json")));
        assert!(!wants_json(Some(
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )));
        assert!(!wants_json(Some("*/*")));
        assert!(!wants_json(None));
        assert!(wants_json(Some("text/html;q=0.5, application/json")));
    }

    #[test]
    fn block_page_is_escaped_and_complete() {
        let c = Catalog::default();
        let p = block_page(&c, &restriction(), Lang::En, false, "req-1");
        let html = String::from_utf8(p.body).unwrap();
        assert_eq!(p.status, 451);
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("Unavailable for legal reasons"));
        assert!(html.contains("&lt;private&gt;"), "ground must be escaped");
        assert!(!html.contains("<private>"));
        assert!(html.contains("href=\"https://desk.example/notices/d-7?a=1&amp;b=2\""));
        assert!(html.contains("Publication of private information"));
        assert!(html.contains("2 November 2026, 10:00 UTC"));
        assert!(html.contains("Example Provider"));
        let fr = block_page(&c, &restriction(), Lang::Fr, false, "req-1");
        let html = String::from_utf8(fr.body).unwrap();
        assert!(html.contains("Indisponible pour raisons juridiques"));
        assert!(html.contains("2 novembre 2026"));
        assert!(!html.contains('\u{2068}'), "no isolation marks");
    }

    #[test]
    fn block_json() {
        let c = Catalog::default();
        let p = block_page(&c, &restriction(), Lang::Fr, true, "req-2");
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["status"], 451);
        assert_eq!(v["restriction_id"], "d-7");
        assert_eq!(v["category"], "doxxing");
        assert_eq!(v["until"], "2026-11-02T10:00:00Z");
    }

    #[test]
    fn challenge_strings_are_translated() {
        let c = Catalog::default();
        for id in [
            "challenge-title",
            "challenge-lead",
            "challenge-privacy",
            "challenge-working",
            "challenge-done",
            "challenge-nojs",
            "challenge-nojs-off",
            "challenge-continue",
            "challenge-too-early",
            "challenge-failed-title",
            "challenge-failed-body",
            "challenge-retry",
        ] {
            let en = c.text(Lang::En, id, &[("seconds", "5"), ("minutes", "60")]);
            let fr = c.text(Lang::Fr, id, &[("seconds", "5"), ("minutes", "60")]);
            assert_ne!(en, id, "{id} missing in English");
            assert_ne!(fr, en, "{id} missing in French");
        }
    }

    #[test]
    fn messages_without_arguments_are_formatted_once() {
        let c = Catalog::default();
        assert!(c.plain[0].contains_key("challenge-title"));
        assert!(
            !c.plain[0].contains_key("blocked-lead-legal"),
            "it has a variable"
        );
        assert_eq!(
            c.text(Lang::Fr, "request-id", &[]),
            "Identifiant de la requête"
        );
        assert_eq!(
            c.text(Lang::En, "blocked-lead-legal", &[("operator", "P")]),
            "Access to this page has been restricted by P for legal reasons."
        );
        assert_eq!(c.text(Lang::En, "no-such-message", &[]), "no-such-message");
    }

    #[test]
    fn rate_limited_page_is_rendered_once_per_language() {
        let c = Catalog::default();
        let (en, len) = c.rate_limited_page(Lang::En);
        assert_eq!(len.to_str().unwrap(), en.len().to_string());
        let en = std::str::from_utf8(&en).unwrap();
        assert!(en.contains("<html lang=\"en\">") && en.contains("429 — Too many requests"));
        let (fr, _) = c.rate_limited_page(Lang::Fr);
        assert!(std::str::from_utf8(&fr)
            .unwrap()
            .contains("Trop de requêtes"));
    }

    #[test]
    fn every_category_is_translated() {
        let c = Catalog::default();
        for cat in rempart_policy::Category::ALL {
            for lang in [Lang::En, Lang::Fr] {
                let id = format!("category-{}", cat.as_str());
                assert_ne!(c.text(lang, &id, &[]), id, "{id} missing in {lang:?}");
            }
        }
    }
}
