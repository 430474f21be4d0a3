//! The customer portal: customer accounts see the notices and statements of reasons of their
//! own zones, answer them, and appeal (DSA Art. 20) within the window.

use super::{hash_password, Desk};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::auth::{authenticate, CurrentUser};
use super::intake::{lang_of, scope_text, LangQuery};
use super::pages::{layout, when, PageError};
use super::AppState;
use crate::error::DeskError;
use crate::i18n::Lang;
use crate::store::{AttachmentRow, NewAttachment, Role, StoreError};

impl Desk {
    /// Creates a customer account owning `zones` (apex hostnames, each with its subdomains),
    /// with a random password, which is returned. Statements of reasons go to `email`.
    pub async fn create_customer(
        &self,
        username: &str,
        email: &str,
        zones: &[String],
    ) -> anyhow::Result<String> {
        let password = super::auth::random_token(18);
        let hash = hash_password(&password)?;
        let state = self.state();
        state
            .store
            .create_customer(username, &hash, email, zones, &state.actor("system"))
            .await?;
        state.checkpoint().await;
        Ok(password)
    }
}

/// A customer, and only a customer: analysts work in the desk, not in the portal.
async fn customer(state: &AppState, headers: &HeaderMap) -> Result<CurrentUser, DeskError> {
    let u = authenticate(state, headers, Role::Customer).await?;
    if u.user.role != Role::Customer {
        return Err(DeskError::Forbidden("the portal is for customers"));
    }
    Ok(u)
}

/// A decision of the customer's zones; any other is "not found" (no probing of others').
async fn owned(state: &AppState, u: &CurrentUser, id: &str) -> Result<(), DeskError> {
    if state.store.customer_owns_decision(&u.user.id, id).await? {
        Ok(())
    } else {
        Err(DeskError::NotFound)
    }
}

fn portal_layout(u: &CurrentUser, lang: Lang, t: &Tr, title: &str, body: Markup) -> Markup {
    let other = match lang {
        Lang::En => "fr",
        Lang::Fr => "en",
    };
    layout(
        lang.tag(),
        title,
        None,
        html! {
            nav {
                a href="/portal" { (t("portal-nav-notices", &[])) } " · "
                (t("portal-signed-in", &[("user", &u.user.username)])) " · "
                a href={ "?lang=" (other) } hreflang=(other) lang=(other) { (t("notice-other-language", &[])) } " · "
                form method="post" action="/logout" style="display:inline" {
                    input type="hidden" name="csrf" value=(u.csrf);
                    button type="submit" { (t("portal-sign-out", &[])) }
                }
            }
            (body)
        },
    )
}

/// A translation function for one request's language.
type Tr<'a> = dyn Fn(&str, &[(&str, &str)]) -> String + 'a;

/// `GET /portal`: the decisions concerning the customer's zones.
pub(crate) async fn portal_page(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = customer(&state, &headers).await?;
    let lang = lang_of(&q, &headers);
    let t = |id: &str, args: &[(&str, &str)]| state.i18n.t(lang, id, args);
    let zones = state.store.customer_zones(&u.user.id).await?;
    let decisions = state.store.customer_decisions(&u.user.id).await?;
    Ok(portal_layout(
        &u,
        lang,
        &t,
        &t("portal-title", &[]),
        html! {
            h1 { (t("portal-heading", &[])) }
            p { (t("portal-zones", &[])) " " @for (i, z) in zones.iter().enumerate() { @if i > 0 { ", " } code { (z) } } }
            @if decisions.is_empty() { p { (t("portal-no-notice", &[])) } }
            ul id="notices" { @for d in &decisions {
                li {
                    a href={ "/portal/decisions/" (d.id) "?lang=" (lang.tag()) } { (t(&format!("action-{}", d.action), &[])) }
                    @if let Some(s) = &d.scope { " — " code { (scope_text(s)) } }
                    " · " (when(d.decided_at))
                    @if d.lifted_at.is_some() { " · " (t("portal-lifted", &[])) }
                }
            } }
        },
    )
    .into_response())
}

/// `GET /portal/decisions/{id}`: the statement of reasons, the answers given, the appeals,
/// and the forms to answer and to appeal.
pub(crate) async fn decision_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = customer(&state, &headers).await?;
    owned(&state, &u, &id).await?;
    let lang = lang_of(&q, &headers);
    let t = |id: &str, args: &[(&str, &str)]| state.i18n.t(lang, id, args);
    let d = state.store.decision(&id).await?;
    let statement = state.store.statement(&id).await?;
    let notifiers = state.store.case_notifier_identities(&d.case_id).await?;
    let responses = state.store.customer_responses(&id).await?;
    let attachments = state.store.decision_attachments(&id).await?;
    let appeals = state.store.decision_appeals(&id).await?;
    let orders = state.store.authority_orders(&id).await?;
    let now = state.now_ms();
    let window = state.config.due_process.appeal_window.num_milliseconds();
    let can_appeal = now - d.decided_at <= window
        && !appeals
            .iter()
            .any(|a| a.party == "customer" && a.outcome.is_none());
    // The statement itself is the text that was sent (in English); the page around it follows
    // the customer's language.
    let text = statement
        .as_ref()
        .map(|s| super::due::statement_text(&state, &d, s, &notifiers));
    let limits = [
        ("files", MAX_ATTACHMENTS.to_string()),
        ("each", (MAX_ATTACHMENT_BYTES / (1024 * 1024)).to_string()),
        ("total", (MAX_ATTACHMENTS_TOTAL / (1024 * 1024)).to_string()),
    ];
    let limits: Vec<(&str, &str)> = limits.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(portal_layout(
        &u,
        lang,
        &t,
        &t("portal-statement-title", &[]),
        html! {
            h1 { (t("portal-statement-heading", &[])) }
            @if let Some(text) = &text { pre id="statement" lang="en" { (text) } }
            @else {
                p { (t(&format!("action-{}", d.action), &[])) " — " (d.ground) }
            }
            p { a href={ "/notices/" (d.id) "?lang=" (lang.tag()) } { (t("portal-public-notice", &[])) } }
            @for o in &orders {
                p.order { (t("notice-order-text", &[("authority", &o.authority), ("reference", &o.reference), ("date", &o.order_date)])) }
            }
            h2 { (t("portal-answers", &[])) }
            @if responses.is_empty() { p { (t("portal-none-yet", &[])) } }
            ul id="responses" { @for r in &responses { li {
                (when(r.at)) ": " (t(&format!("portal-answer-{}", r.kind), &[])) " — " (r.explanation)
                ul.attachments { @for a in attachments.iter().filter(|a| a.response_id == r.id) {
                    li { a href={ "/portal/attachments/" (a.id) } download { (a.filename) } " (" (a.content_type) ", " (a.size) " B)" }
                } }
            } } }
            form method="post" action={ "/portal/decisions/" (d.id) "/respond" } id="respond" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(u.csrf);
                label for="kind" { (t("portal-your-answer", &[])) }
                select id="kind" name="kind" {
                    option value="content_removed" { (t("portal-answer-content_removed", &[])) }
                    option value="disagree" { (t("portal-answer-disagree", &[])) }
                }
                label for="response-explanation" { (t("portal-explanation", &[])) }
                textarea id="response-explanation" name="explanation" rows="4" required maxlength="5000" {}
                label for="attachments" { (t("portal-attachments", &limits)) }
                input type="file" id="attachments" name="attachments" multiple accept=".pdf,.png,.jpg,.jpeg,.txt,application/pdf,image/png,image/jpeg,text/plain";
                p { button type="submit" { (t("portal-send-answer", &[])) } }
            }
            h2 { (t("portal-appeal", &[])) }
            ul id="appeals" { @for a in &appeals {
                @if a.party == "customer" {
                    li { (t("portal-filed", &[("at", &when(a.filed_at))])) ": " (a.grounds) " · "
                        @match (&a.outcome, &a.reasons) {
                            (Some(o), Some(r)) => { strong.outcome { (o) } ": " (r) }
                            _ => { (t("portal-appeal-pending", &[])) }
                        }
                    }
                }
            } }
            @if can_appeal {
                form method="post" action={ "/portal/decisions/" (d.id) "/appeal" } id="appeal" {
                    input type="hidden" name="csrf" value=(u.csrf);
                    label for="grounds" { (t("portal-appeal-grounds", &[])) }
                    textarea id="grounds" name="grounds" rows="5" required maxlength="5000" {}
                    p { button type="submit" { (t("portal-file-appeal", &[])) } }
                }
            } @else if now - d.decided_at > window {
                p { (t("portal-appeal-closed", &[])) }
            }
        },
    )
    .into_response())
}

/// The answer form (URL-encoded, for clients without files).
#[derive(Debug, Deserialize)]
pub(crate) struct RespondForm {
    #[serde(default)]
    csrf: Option<String>,
    kind: String,
    #[serde(default)]
    explanation: String,
}

/// At most this many files on one answer.
pub(crate) const MAX_ATTACHMENTS: usize = 5;
/// At most this many bytes per file.
pub(crate) const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
/// At most this many bytes of files on one answer.
pub(crate) const MAX_ATTACHMENTS_TOTAL: usize = 10 * 1024 * 1024;
/// The body limit of the answer route: the files and the form's text fields and framing.
pub(crate) const RESPOND_BODY_LIMIT: usize = MAX_ATTACHMENTS_TOTAL + 256 * 1024;

/// The types accepted, found from the content's first bytes: the declared type alone is the
/// sender's word, and a browser told `image/png` must not be handed HTML.
fn sniff(body: &[u8]) -> Option<&'static str> {
    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    if body.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if body.starts_with(PNG) {
        Some("image/png")
    } else if body.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if is_plain_text(body) {
        Some("text/plain")
    } else {
        None
    }
}

/// UTF-8 without control characters (but tab, line ends, form feed) that does not open like
/// markup (which a browser could be made to sniff as HTML).
fn is_plain_text(body: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(body) else {
        return false;
    };
    if s.is_empty()
        || s.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\x0c'))
    {
        return false;
    }
    let mut head = s.trim_start_matches('\u{feff}').trim_start().chars();
    !(head.next() == Some('<')
        && head
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '!' | '?' | '/')))
}

/// A file name safe to repeat in `Content-Disposition` and in pages: the last path component,
/// letters, digits, ' ', '.', '_', '-' only, at most 100 characters.
fn safe_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' ') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "attachment".into()
    } else {
        cleaned
    }
}

/// Checks one uploaded file: its content must be of an accepted type, and agree with the
/// declared type when one is declared.
fn check_attachment(
    name: &str,
    declared: Option<&str>,
    body: Vec<u8>,
) -> Result<NewAttachment, String> {
    let filename = safe_filename(name);
    let Some(found) = sniff(&body) else {
        return Err(format!(
            "{filename}: only PDF, PNG, JPEG and plain-text files are accepted"
        ));
    };
    let declared = declared
        .map(|d| {
            d.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|d| !d.is_empty() && d != "application/octet-stream");
    if let Some(d) = declared {
        let d = if d == "image/jpg" {
            "image/jpeg".into()
        } else {
            d
        };
        if d != found {
            return Err(format!(
                "{filename}: declared as {d}, but its content is not (only PDF, PNG, JPEG and plain-text files are accepted)"
            ));
        }
    }
    Ok(NewAttachment {
        filename,
        content_type: found.to_string(),
        body,
    })
}

/// What an answer carries, from either encoding.
struct Answer {
    csrf: Option<String>,
    kind: String,
    explanation: String,
    files: Vec<NewAttachment>,
    problems: Vec<String>,
}

/// Why an upload is refused before anything is stored.
enum UploadRefused {
    TooLarge(String),
    Bad(DeskError),
}

fn too_large(message: String) -> Response {
    let page = layout(
        "en",
        "Too large",
        None,
        html! { h1 { "413 Payload Too Large" } p id="error" { (message) } p { "Nothing was stored." } },
    );
    (StatusCode::PAYLOAD_TOO_LARGE, page).into_response()
}

async fn read_multipart(state: &AppState, req: Request) -> Result<Answer, UploadRefused> {
    let total_text = format!(
        "the attachments exceed {} MiB in total; nothing was stored",
        MAX_ATTACHMENTS_TOTAL / (1024 * 1024)
    );
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            UploadRefused::TooLarge(total_text.clone())
        } else {
            UploadRefused::Bad(DeskError::Invalid(vec![format!(
                "the form could not be read: {}",
                e.body_text()
            )]))
        }
    };
    let mut mp = Multipart::from_request(req, state)
        .await
        .map_err(|e| UploadRefused::Bad(DeskError::Invalid(vec![e.body_text()])))?;
    let mut a = Answer {
        csrf: None,
        kind: String::new(),
        explanation: String::new(),
        files: Vec::new(),
        problems: Vec::new(),
    };
    let mut total = 0usize;
    let mut count = 0usize;
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "attachments" => {
                let filename = field.file_name().unwrap_or("").to_string();
                let declared = field.content_type().map(str::to_string);
                let mut body = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if body.len() + chunk.len() > MAX_ATTACHMENT_BYTES {
                        return Err(UploadRefused::TooLarge(format!(
                            "{} is larger than {} MiB; nothing was stored",
                            safe_filename(&filename),
                            MAX_ATTACHMENT_BYTES / (1024 * 1024)
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                // A file input left empty still sends a part, without a name or bytes.
                if filename.is_empty() && body.is_empty() {
                    continue;
                }
                count += 1;
                total += body.len();
                if total > MAX_ATTACHMENTS_TOTAL {
                    return Err(UploadRefused::TooLarge(total_text.clone()));
                }
                match check_attachment(&filename, declared.as_deref(), body) {
                    Ok(f) => a.files.push(f),
                    Err(p) => a.problems.push(p),
                }
            }
            "csrf" | "kind" | "explanation" => {
                let text = field.text().await.map_err(multipart_error)?;
                match name.as_str() {
                    "csrf" => a.csrf = Some(text),
                    "kind" => a.kind = text,
                    _ => a.explanation = text,
                }
            }
            // Unknown parts are drained and ignored.
            _ => while field.chunk().await.map_err(multipart_error)?.is_some() {},
        }
    }
    if count > MAX_ATTACHMENTS {
        a.problems
            .push(format!("attach at most {MAX_ATTACHMENTS} files"));
    }
    Ok(a)
}

/// `POST /portal/decisions/{id}/respond`: an answer, with attachments when sent as
/// `multipart/form-data` (the portal's form); nothing is stored unless all of it is valid.
pub(crate) async fn respond(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, PageError> {
    let u = customer(&state, &headers).await?;
    owned(&state, &u, &id).await?;
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let answer = if multipart {
        match read_multipart(&state, req).await {
            Ok(a) => a,
            Err(UploadRefused::TooLarge(m)) => return Ok(too_large(m)),
            Err(UploadRefused::Bad(e)) => return Err(e.into()),
        }
    } else {
        let Form(f) = Form::<RespondForm>::from_request(req, &state)
            .await
            .map_err(|e| DeskError::Invalid(vec![e.body_text()]))?;
        Answer {
            csrf: f.csrf,
            kind: f.kind,
            explanation: f.explanation,
            files: Vec::new(),
            problems: Vec::new(),
        }
    };
    u.check_csrf(answer.csrf.as_deref())?;
    let mut problems = answer.problems;
    if !matches!(answer.kind.as_str(), "content_removed" | "disagree") {
        problems.push("the answer is content_removed or disagree".to_string());
    }
    let explanation = answer.explanation.trim();
    if explanation.is_empty() || explanation.chars().count() > 5000 {
        problems.push("explain your answer (at most 5000 characters)".into());
    }
    if !problems.is_empty() {
        return Err(DeskError::Invalid(problems).into());
    }
    state
        .store
        .add_customer_response(
            &id,
            &answer.kind,
            explanation,
            &answer.files,
            &state.actor(u.actor_name()),
        )
        .await?;
    state.checkpoint().await;
    Ok(Redirect::to(&format!("/portal/decisions/{id}")).into_response())
}

/// An attachment as a download, never rendered inline: `attachment` disposition, no sniffing,
/// and a policy that forbids everything should a browser open it anyway.
fn attachment_response(a: &AttachmentRow, body: Vec<u8>) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    let ct = HeaderValue::from_str(&a.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, ct);
    // safe_filename left only header-safe characters.
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", a.filename))
        .unwrap_or(HeaderValue::from_static("attachment"));
    h.insert(header::CONTENT_DISPOSITION, disposition);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox; frame-ancestors 'none'"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, private"),
    );
    resp
}

/// `GET /attachments/{id}`: analysts download a customer's attachment (audited).
pub(crate) async fn analyst_attachment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    let (a, body) = state
        .store
        .download_attachment(&id, &state.actor(u.actor_name()))
        .await?;
    state.checkpoint().await;
    Ok(attachment_response(&a, body))
}

/// `GET /portal/attachments/{id}`: the customer who owns the zone downloads it back (audited);
/// to anyone else it does not exist.
pub(crate) async fn customer_attachment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = customer(&state, &headers).await?;
    let a = state.store.attachment(&id).await?;
    owned(&state, &u, &a.decision_id).await?;
    let (a, body) = state
        .store
        .download_attachment(&id, &state.actor(u.actor_name()))
        .await?;
    state.checkpoint().await;
    Ok(attachment_response(&a, body))
}

/// The appeal form.
#[derive(Debug, Deserialize)]
pub(crate) struct AppealForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    grounds: String,
}

/// `POST /portal/decisions/{id}/appeal`: an internal complaint, within the window.
pub(crate) async fn appeal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<AppealForm>,
) -> Result<Response, PageError> {
    let u = customer(&state, &headers).await?;
    u.check_csrf(f.csrf.as_deref())?;
    owned(&state, &u, &id).await?;
    let grounds = f.grounds.trim();
    if grounds.is_empty() || grounds.chars().count() > 5000 {
        return Err(DeskError::Invalid(vec![
            "explain why the decision should be reversed (at most 5000 characters)".into(),
        ])
        .into());
    }
    state
        .store
        .file_appeal(
            &id,
            "customer",
            grounds,
            state.config.due_process.appeal_window.num_milliseconds(),
            &state.actor(u.actor_name()),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => DeskError::Invalid(vec![m]),
            other => DeskError::Store(other),
        })?;
    state.checkpoint().await;
    Ok(Redirect::to(&format!("/portal/decisions/{id}")).into_response())
}

fn customer_admin_markup(u: &CurrentUser, message: Option<Markup>) -> Markup {
    layout(
        "en",
        "Customer accounts — Rempart desk",
        Some((u.user.username.as_str(), u.csrf.as_str(), true)),
        html! {
            h1 { "Create a customer account" }
            @if let Some(m) = message { div role="status" { (m) } }
            form method="post" action="/admin/customers" {
                input type="hidden" name="csrf" value=(u.csrf);
                label for="username" { "User name" }
                input type="text" id="username" name="username" required maxlength="64";
                label for="email" { "E-mail address (statements of reasons are sent there)" }
                input type="email" id="email" name="email" required maxlength="254";
                label for="zones" { "Zones owned (hostnames, comma-separated; each covers its subdomains)" }
                input type="text" id="zones" name="zones" required;
                p { button type="submit" { "Create (shows a one-time password)" } }
            }
        },
    )
}

/// `GET /admin/customers`.
pub(crate) async fn admin_customers_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Admin).await?;
    Ok(customer_admin_markup(&u, None).into_response())
}

/// The new-customer form.
#[derive(Debug, Deserialize)]
pub(crate) struct NewCustomerForm {
    #[serde(default)]
    csrf: Option<String>,
    username: String,
    email: String,
    zones: String,
}

/// `POST /admin/customers`.
pub(crate) async fn admin_create_customer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<NewCustomerForm>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Admin).await?;
    u.check_csrf(f.csrf.as_deref())?;
    let mut problems = Vec::new();
    let name = f.username.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        problems.push("user names use letters, digits, '.', '_' and '-'".to_string());
    }
    let email = f.email.trim();
    if email.len() > 254 || email.parse::<lettre::Address>().is_err() {
        problems.push("give a valid e-mail address".into());
    }
    let mut zones = Vec::new();
    for z in f.zones.split([',', ' ']).filter(|z| !z.is_empty()) {
        let z = z.trim().trim_end_matches('.').to_ascii_lowercase();
        if z.is_empty()
            || z.len() > 253
            || !z
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            problems.push(format!("'{z}' is not a hostname"));
        } else {
            zones.push(z);
        }
    }
    if zones.is_empty() {
        problems.push("name at least one zone".into());
    }
    if !problems.is_empty() {
        return Err(DeskError::Invalid(problems).into());
    }
    let password = super::auth::random_token(18);
    let hash = hash_password(&password).map_err(|e| DeskError::Internal(e.to_string()))?;
    state
        .store
        .create_customer(name, &hash, email, &zones, &state.actor(u.actor_name()))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => DeskError::Conflict("this user name is taken"),
            other => DeskError::Store(other),
        })?;
    state.checkpoint().await;
    Ok(customer_admin_markup(
        &u,
        Some(html! { p { "Customer " code { (name) } " created. One-time password: " code id="password" { (password) } } }),
    )
    .into_response())
}
