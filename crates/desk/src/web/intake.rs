//! Report intake: the public form, the JSON API, receipts and follow links.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use hmac::{Hmac, Mac};
use maud::html;
use rand::Rng;
use rempart_policy::Category;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::auth::sha256_hex;
use super::pages::{layout, when};
use super::AppState;
use crate::decision::parse_category;
use crate::error::DeskError;
use crate::i18n::Lang;
use crate::store::{NewReport, SubmitOutcome};
use crate::triage::{priority, similarity_key, Priority, ReportForSignals};

/// A report as sent by the JSON API (the form is converted to this).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportInput {
    pub(crate) urls: Vec<String>,
    pub(crate) category: String,
    pub(crate) explanation: String,
    #[serde(default)]
    pub(crate) notifier_name: Option<String>,
    #[serde(default)]
    pub(crate) notifier_email: Option<String>,
    pub(crate) good_faith: bool,
}

/// A validated report.
struct Valid {
    urls: Vec<(String, String)>,
    category: Category,
    explanation: String,
    name: Option<String>,
    email: Option<String>,
}

/// One problem: a message id and its argument.
type Problem = (&'static str, Option<String>);

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn validate(state: &AppState, input: &ReportInput) -> Result<Valid, Vec<Problem>> {
    let limits = &state.config.intake;
    let mut problems: Vec<Problem> = Vec::new();
    let mut urls: Vec<(String, String)> = Vec::new();
    let given: Vec<&str> = input
        .urls
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    if given.is_empty() {
        problems.push(("err-urls-missing", None));
    } else if given.len() > limits.max_urls {
        problems.push(("err-urls-too-many", None));
    }
    for raw in given.iter().take(limits.max_urls) {
        match url::Url::parse(raw) {
            Ok(u)
                if (u.scheme() == "https" || u.scheme() == "http")
                    && u.host_str().is_some_and(|h| !h.is_empty())
                    && raw.len() <= 2048 =>
            {
                let host = u
                    .host_str()
                    .unwrap_or("")
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                let mut u = u.clone();
                u.set_fragment(None);
                let s = u.to_string();
                if !urls.iter().any(|(x, _)| *x == s) {
                    urls.push((s, host));
                }
            }
            _ => problems.push(("err-url-invalid", Some(raw.chars().take(200).collect()))),
        }
    }
    let category = parse_category(input.category.trim());
    if category.is_none() {
        problems.push(("err-category", None));
    }
    let explanation = input.explanation.trim().to_string();
    if explanation.is_empty() {
        problems.push(("err-explanation-missing", None));
    } else if explanation.chars().count() > limits.max_explanation_chars {
        problems.push(("err-explanation-too-long", None));
    }
    let name = nonempty(&input.notifier_name);
    let email = nonempty(&input.notifier_email);
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        problems.push(("err-field-too-long", None));
    }
    if let Some(e) = &email {
        let ok = e.len() <= 254
            && !e.chars().any(char::is_whitespace)
            && e.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
        if !ok {
            problems.push(("err-email-invalid", None));
        }
    }
    // DSA Art. 16(2)(c): name and e-mail, except for child sexual abuse material.
    if category != Some(Category::ChildSexualAbuseMaterial) {
        if name.is_none() {
            problems.push(("err-name-missing", None));
        }
        if email.is_none() {
            problems.push(("err-email-invalid", None));
        }
    }
    if !input.good_faith {
        problems.push(("err-good-faith", None));
    }
    match (problems.is_empty(), category) {
        (true, Some(category)) => Ok(Valid {
            urls,
            category,
            explanation,
            name,
            email,
        }),
        _ => {
            problems.dedup();
            Err(problems)
        }
    }
}

fn render_problems(state: &AppState, lang: Lang, problems: &[Problem]) -> Vec<String> {
    problems
        .iter()
        .map(|(id, arg)| match arg {
            Some(a) => state.i18n.t(lang, id, &[("url", a)]),
            None => state.i18n.t(lang, id, &[]),
        })
        .collect()
}

/// The MAC of a receipt under the desk's follow key (base64url).
fn receipt_mac(state: &AppState, receipt: &str) -> String {
    use base64::Engine;
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&state.keys.follow).expect("any key length");
    mac.update(receipt.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The follow-link token of a receipt: `<receipt>.<MAC of the receipt>`, so that a replayed
/// submission gets the same link and the database stores nothing a link can be made from.
/// The report is found by its receipt once the MAC checks. (Links of the first form, the bare
/// MAC, are found by the hash stored in `follow_hash`; that random-keyed index insert cost
/// every intake batch one scattered page per report, which the time-ordered value now
/// stored there does not.)
fn follow_token(state: &AppState, receipt: &str) -> String {
    format!("{receipt}.{}", receipt_mac(state, receipt))
}

/// The report a follow-link token points to; `NotFound` for a token the desk did not make.
pub(crate) async fn report_by_follow_token(
    state: &AppState,
    token: &str,
) -> Result<crate::store::ReportRow, crate::store::StoreError> {
    match token.split_once('.') {
        Some((receipt, mac)) => {
            // The MAC first: a forged token costs no database lookup.
            if !super::auth::ct_eq(mac, &receipt_mac(state, receipt)) {
                return Err(crate::store::StoreError::NotFound);
            }
            state.store.report_by_receipt(receipt).await
        }
        None => state.store.report_by_follow_hash(&sha256_hex(token)).await,
    }
}

fn new_receipt() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::thread_rng();
    let s: String = (0..10)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("R-{}-{}", &s[..5], &s[5..])
}

/// What the sender gets back.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Receipt {
    receipt: String,
    follow_url: String,
    duplicate: bool,
}

/// The peer's address (the desk is not behind a proxy it trusts; `unknown` in tests that
/// call the router directly).
#[derive(Debug, Clone)]
pub(crate) struct ClientIp(pub(crate) String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string()),
        ))
    }
}

/// What a report's content hash covers (replays are told from reused idempotency keys by
/// it). Fields in alphabetical order: serialised as is, this is the canonical JSON
/// ([`crate::audit::canonical_json`]) of the same object, so stored hashes stay valid.
#[derive(serde::Serialize)]
struct Content<'a> {
    category: &'a str,
    email: Option<&'a str>,
    explanation: &'a str,
    name: Option<&'a str>,
    urls: &'a [String],
}

/// Validates, prioritises and stores a report. `Err(problems)` for invalid input.
async fn submit(
    state: &AppState,
    input: &ReportInput,
    ip: &str,
    idempotency_key: Option<&str>,
) -> Result<Result<Receipt, Vec<Problem>>, DeskError> {
    state
        .limiter
        .check(ip, state.now_ms())
        .map_err(|retry_after| DeskError::RateLimited { retry_after })?;
    let v = match validate(state, input) {
        Ok(v) => v,
        Err(p) => return Ok(Err(p)),
    };
    let url_list: Vec<String> = v.urls.iter().map(|(u, _)| u.clone()).collect();
    let signal = state
        .signals
        .severity(&ReportForSignals {
            category: v.category,
            urls: &url_list,
            explanation: &v.explanation,
        })
        .await;
    let prio = priority(v.category, signal);
    let content = serde_json::to_string(&Content {
        category: v.category.as_str(),
        email: v.email.as_deref(),
        explanation: &v.explanation,
        name: v.name.as_deref(),
        urls: &url_list,
    })
    .map_err(|e| DeskError::Internal(format!("encoding a report: {e}")))?;
    let content_hash = hex::encode(Sha256::digest(content.as_bytes()));
    let dedup_key = match idempotency_key {
        Some(k) => format!("idem:{}", sha256_hex(k)),
        None => format!("content:{content_hash}"),
    };
    let now = state.clock.now();
    let receipt = new_receipt();
    let token = follow_token(state, &receipt);
    let new = NewReport {
        // Unique (the receipt is) and time-ordered: appended at the end of its index.
        follow_hash: format!("v2:{:012x}:{receipt}", crate::clock::to_millis(now)),
        receipt,
        category: v.category.as_str().into(),
        explanation: v.explanation.clone(),
        notifier_name: v.name.clone(),
        notifier_email: v.email.clone(),
        good_faith: true,
        source_ip: ip.to_string(),
        dedup_key,
        content_hash,
        priority: prio.as_i64(),
        signal_priority: signal.map(Priority::as_i64),
        review_due: crate::clock::to_millis(state.config.targets.due(prio, now)),
        similarity_key: similarity_key(v.category, &v.urls[0].1, &v.explanation),
        urls: v.urls,
        campaign_threshold: state.config.campaign_threshold,
        campaign_since: crate::clock::to_millis(now - state.config.campaign_window),
        fetch_evidence: state.config.evidence.enabled,
        page: prio == Priority::P0,
    };
    let outcome = state.intake.submit(new, state.actor("public")).await?;
    let (receipt, token, duplicate) = match outcome {
        SubmitOutcome::Created { receipt, .. } => (receipt, token, false),
        SubmitOutcome::Duplicate {
            receipt,
            same_content: true,
            ..
        } => {
            let token = follow_token(state, &receipt);
            (receipt, token, true)
        }
        SubmitOutcome::Duplicate {
            same_content: false,
            ..
        } => {
            return Err(DeskError::Conflict(
                "this Idempotency-Key was used for a different report",
            ))
        }
    };
    let follow_url = format!("{}/r/{token}", state.config.public_url);
    Ok(Ok(Receipt {
        receipt,
        follow_url,
        duplicate,
    }))
}

fn idempotency_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200)
}

/// `POST /api/v1/reports`.
pub(crate) async fn api_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Json<ReportInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, DeskError> {
    let Json(input) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            DeskError::TooLarge
        } else {
            DeskError::Invalid(vec![e.body_text()])
        }
    })?;
    match submit(&state, &input, &ip, idempotency_key(&headers)).await? {
        Ok(r) => {
            let status = if r.duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Ok((status, Json(r)).into_response())
        }
        Err(p) => Err(DeskError::Invalid(render_problems(&state, Lang::En, &p))),
    }
}

/// `?lang=`.
#[derive(Debug, Deserialize)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

pub(crate) fn lang_of(q: &LangQuery, headers: &HeaderMap) -> Lang {
    Lang::negotiate(
        q.lang.as_deref(),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// The form as posted (every field optional so that errors are shown, not rejected).
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ReportForm {
    #[serde(default)]
    urls: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    explanation: String,
    #[serde(default)]
    notifier_name: String,
    #[serde(default)]
    notifier_email: String,
    #[serde(default)]
    good_faith: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

fn form_markup(state: &AppState, lang: Lang, f: &ReportForm, errors: &[String]) -> maud::Markup {
    let t = |id: &str| state.i18n.t(lang, id, &[]);
    let other = match lang {
        Lang::En => ("fr", "Français"),
        Lang::Fr => ("en", "English"),
    };
    layout(
        lang.tag(),
        &t("site-title"),
        None,
        html! {
            p { a href={ "/report?lang=" (other.0) } lang=(other.0) { (other.1) } }
            h1 { (t("form-title")) }
            p { (t("form-intro")) }
            @if !errors.is_empty() {
                div.errors role="alert" id="errors" {
                    p { strong { (t("errors-title")) } }
                    ul { @for e in errors { li { (e) } } }
                }
            }
            form method="post" action="/report" {
                input type="hidden" name="lang" value=(lang.tag());
                label for="urls" { (t("field-urls")) }
                p.help id="urls-help" { (t("field-urls-help")) }
                textarea id="urls" name="urls" rows="3" required aria-describedby="urls-help" { (f.urls) }
                fieldset {
                    legend { (t("field-category")) }
                    @for c in Category::ALL {
                        div {
                            input type="radio" name="category" id={ "cat-" (c.as_str()) } value=(c.as_str())
                                checked[f.category == c.as_str()] required;
                            " "
                            label for={ "cat-" (c.as_str()) } style="display:inline;font-weight:normal" {
                                (t(&format!("cat-{}", c.as_str())))
                            }
                        }
                    }
                }
                label for="explanation" { (t("field-explanation")) }
                p.help id="explanation-help" { (t("field-explanation-help")) }
                textarea id="explanation" name="explanation" rows="6" required
                    maxlength=(state.config.intake.max_explanation_chars) aria-describedby="explanation-help" { (f.explanation) }
                p.help id="identity-help" { (t("field-identity-help")) }
                label for="notifier_name" { (t("field-name")) }
                input type="text" id="notifier_name" name="notifier_name" autocomplete="name" maxlength="200"
                    value=(f.notifier_name) aria-describedby="identity-help";
                label for="notifier_email" { (t("field-email")) }
                input type="email" id="notifier_email" name="notifier_email" autocomplete="email" maxlength="254"
                    value=(f.notifier_email) aria-describedby="identity-help";
                p {
                    input type="checkbox" id="good_faith" name="good_faith" value="yes" required checked[f.good_faith.is_some()];
                    " "
                    label for="good_faith" style="display:inline" { (t("field-good-faith")) }
                }
                p { button type="submit" { (t("submit")) } }
            }
        },
    )
}

/// `GET /report`.
pub(crate) async fn form_page(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&q, &headers);
    form_markup(&state, lang, &ReportForm::default(), &[]).into_response()
}

/// `POST /report`: the form, without JavaScript.
pub(crate) async fn form_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<ReportForm>,
) -> Response {
    let lang = lang_of(
        &LangQuery {
            lang: f.lang.clone(),
        },
        &headers,
    );
    let input = ReportInput {
        urls: f.urls.lines().map(str::to_string).collect(),
        category: f.category.clone(),
        explanation: f.explanation.clone(),
        notifier_name: Some(f.notifier_name.clone()),
        notifier_email: Some(f.notifier_email.clone()),
        good_faith: f.good_faith.is_some(),
    };
    let t = |id: &str, args: &[(&str, &str)]| state.i18n.t(lang, id, args);
    match submit(&state, &input, &ip, idempotency_key(&headers)).await {
        Ok(Ok(r)) => {
            let status = if r.duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let page = layout(
                lang.tag(),
                &t("receipt-title", &[]),
                None,
                html! {
                    h1 { (t("receipt-title", &[])) }
                    @if r.duplicate { p { (t("receipt-duplicate", &[])) } }
                    p id="receipt" { (t("receipt-number", &[("receipt", &r.receipt)])) }
                    p { (t("receipt-follow", &[])) }
                    p { a id="follow" href=(r.follow_url) { (r.follow_url) } }
                },
            );
            (status, page).into_response()
        }
        Ok(Err(problems)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            form_markup(&state, lang, &f, &render_problems(&state, lang, &problems)),
        )
            .into_response(),
        Err(DeskError::RateLimited { retry_after }) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.to_string())],
            layout(
                lang.tag(),
                &t("site-title", &[]),
                None,
                html! { p { (t("rate-limited", &[])) } },
            ),
        )
            .into_response(),
        Err(e) => super::pages::PageError(e).into_response(),
    }
}

/// `GET /r/{token}`: the notifier follows the report.
pub(crate) async fn follow_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, super::pages::PageError> {
    let lang = lang_of(&q, &headers);
    let t = |id: &str, args: &[(&str, &str)]| state.i18n.t(lang, id, args);
    let report = report_by_follow_token(&state, &token).await?;
    let case = state.store.case(&report.case_id, state.now_ms()).await?;
    let decisions: Vec<_> = state
        .store
        .case_decisions(&report.case_id)
        .await?
        .into_iter()
        .filter(|d| d.decided_at >= report.submitted_at)
        .collect();
    let status = if !decisions.is_empty() {
        "follow-status-decided"
    } else if case.first_reviewed_at.is_some() {
        "follow-status-reviewing"
    } else {
        "follow-status-received"
    };
    let at = when(report.submitted_at);
    Ok(layout(
        lang.tag(),
        &t("follow-title", &[("receipt", &report.receipt)]),
        None,
        html! {
            h1 { (t("follow-title", &[("receipt", &report.receipt)])) }
            p { (t("follow-submitted", &[("at", &at)])) }
            p { (t(&format!("cat-{}", report.category), &[])) }
            ul { @for u in &report.urls { li { code { (u.url) } } } }
            p id="status" { strong { (t(status, &[])) } }
            h2 { (t("follow-outcome", &[])) }
            @if decisions.is_empty() {
                p { (t("follow-none", &[])) }
            } @else {
                ul id="outcome" {
                    @for d in &decisions {
                        li {
                            (crate::decision::action_label(&d.action))
                            @if let Some(scope) = &d.scope { " — " code { (scope_text(scope)) } }
                            @if d.action != "no_action" { ". " (d.ground) }
                            @if d.lifted_at.is_some() { " (lifted)" }
                            " " a href={ "/notices/" (d.id) } { "notice" }
                        }
                    }
                }
            }
            p { a id="reasons" href={ "/r/" (token) "/decision?lang=" (lang.tag()) } { (t("reasons-link", &[])) } }
        },
    )
    .into_response())
}

/// A scope for people.
pub(crate) fn scope_text(scope_json: &str) -> String {
    match serde_json::from_str::<rempart_policy::Scope>(scope_json) {
        Ok(rempart_policy::Scope::Url { url }) => url,
        Ok(rempart_policy::Scope::PathPrefix { host, prefix }) => format!("{host}{prefix}*"),
        Ok(rempart_policy::Scope::Host {
            host,
            include_subdomains: true,
        }) => format!("*.{host} and {host}"),
        Ok(rempart_policy::Scope::Host { host, .. }) => host,
        Err(_) => scope_json.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_input_is_canonical_json() {
        let urls = vec![
            "https://a.example/x".to_string(),
            "https://b.example/".into(),
        ];
        for (name, email) in [(None, None), (Some("N"), Some("n@example.org"))] {
            let c = Content {
                category: "doxxing",
                email,
                explanation: "Mon adresse \"ici\" <b>",
                name,
                urls: &urls,
            };
            let canonical = crate::audit::canonical_json(&serde_json::json!({
                "urls": urls, "category": "doxxing", "explanation": "Mon adresse \"ici\" <b>",
                "name": name, "email": email,
            }));
            assert_eq!(serde_json::to_string(&c).unwrap(), canonical);
        }
    }
}
