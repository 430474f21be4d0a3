//! Referrals to authorities (DSA Art. 18) on a case, and the acknowledgements and orders
//! authorities send back: the analysts' page, its forms, and the JSON API.
//!
//! | route | who |
//! | --- | --- |
//! | `GET /cases/{id}/referrals` | analyst: referrals, bundles, responses, forms |
//! | `POST /cases/{id}/referrals` | analyst: refer (writes the signed bundle) |
//! | `POST /cases/{id}/authority-responses` | analyst: record an acknowledgement or an order |
//! | `POST /referrals/{id}/bundle` | analyst: write a bundle that failed to be written |
//! | `GET`/`POST /api/v1/cases/{id}/referrals`, `POST /api/v1/cases/{id}/authority-responses` | same, JSON |

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{NaiveDate, NaiveDateTime};
use maud::html;
use serde::Deserialize;

use super::auth::{authenticate, CurrentUser};
use super::pages::{layout, when, PageError};
use super::AppState;
use crate::error::DeskError;
use crate::store::{
    AuthorityResponseRow, NewAuthorityResponse, NewReferral, ReferralRow, Role, StoreError,
};

const BASES: [(&str, &str); 4] = [
    ("victim", "the victim's jurisdiction"),
    ("suspect", "the suspect's jurisdiction"),
    ("place", "where the offence takes place"),
    ("unclear", "unclear: the fallback authority"),
];

/// The referral form (and JSON body).
#[derive(Debug, Deserialize)]
pub(crate) struct ReferralForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    jurisdiction: String,
    basis: String,
    reason: String,
}

/// The acknowledgement / order form (and JSON body).
#[derive(Debug, Deserialize)]
pub(crate) struct ResponseForm {
    #[serde(default)]
    csrf: Option<String>,
    kind: String,
    #[serde(default)]
    referral: Option<String>,
    authority: String,
    reference: String,
    #[serde(default)]
    scope: Option<String>,
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (UTC); empty: now.
    #[serde(default)]
    received: String,
    #[serde(default)]
    decision: Option<String>,
    #[serde(default)]
    note: String,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn conflict_to_invalid(e: StoreError) -> DeskError {
    match e {
        StoreError::Conflict(m) => DeskError::Invalid(vec![m]),
        other => DeskError::Store(other),
    }
}

/// Records a referral and writes its bundle; returns the referral.
async fn refer(
    state: &AppState,
    u: &CurrentUser,
    case_id: &str,
    f: &ReferralForm,
) -> Result<ReferralRow, DeskError> {
    let Some(dir) = &state.config.referrals else {
        return Err(DeskError::Invalid(vec![
            "no directory of authorities is configured ([referrals] in the desk's configuration)"
                .into(),
        ]));
    };
    let mut problems = Vec::new();
    let basis = f.basis.trim();
    if !BASES.iter().any(|(b, _)| *b == basis) {
        problems.push("basis must be victim, suspect, place or unclear".into());
    }
    let jurisdiction = f.jurisdiction.trim().to_ascii_uppercase();
    if basis != "unclear"
        && !(jurisdiction.len() == 2 && jurisdiction.bytes().all(|b| b.is_ascii_uppercase()))
    {
        problems
            .push("give the jurisdiction as a two-letter country code, or choose 'unclear'".into());
    }
    let reason = f.reason.trim();
    if reason.is_empty() || reason.len() > 5000 {
        problems.push("give the reason (the suspected offence), in at most 5000 characters".into());
    }
    if !problems.is_empty() {
        return Err(DeskError::Invalid(problems));
    }
    let jurisdiction = if basis == "unclear" {
        String::new()
    } else {
        jurisdiction
    };
    let (key, authority) = dir.authority_for(&jurisdiction);
    let actor = state.actor(u.actor_name());
    let id = state
        .store
        .record_referral(
            &NewReferral {
                case_id: case_id.to_string(),
                jurisdiction,
                basis: basis.to_string(),
                authority_key: key,
                authority_name: authority.name.clone(),
                authority_email: authority.email.clone(),
                authority_url: authority.url.clone(),
                reason: reason.to_string(),
            },
            &actor,
        )
        .await?;
    write_bundle(state, &id, &actor).await?;
    Ok(state.store.referral(&id).await?)
}

async fn write_bundle(
    state: &AppState,
    referral_id: &str,
    actor: &crate::store::Actor,
) -> Result<(), DeskError> {
    let Some(dir) = &state.config.referrals else {
        return Err(DeskError::Invalid(vec![
            "no directory of authorities is configured".into(),
        ]));
    };
    let written = crate::bundle::write_referral_bundle(
        &state.store,
        &state.keys.audit,
        &state.config.provider_name,
        &dir.bundle_dir,
        referral_id,
        actor,
    )
    .await;
    state.checkpoint().await;
    written
        .map(|_| ())
        .map_err(|e| DeskError::Internal(format!("writing the bundle of {referral_id}: {e:#}")))
}

/// When an authority's message was received: `YYYY-MM-DD[THH:MM[:SS]]` UTC, not in the
/// future; empty means now.
pub(crate) fn parse_received(s: &str, now_ms: i64) -> Result<i64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(now_ms);
    }
    let at = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
        })
        .map_err(|_| format!("received must be YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC), not '{s}'"))?
        .and_utc()
        .timestamp_millis();
    if at > now_ms {
        return Err("received must not be in the future".into());
    }
    Ok(at)
}

async fn record_response(
    state: &AppState,
    u: &CurrentUser,
    case_id: &str,
    f: &ResponseForm,
) -> Result<String, DeskError> {
    let mut problems = Vec::new();
    let kind = f.kind.trim();
    if kind != "acknowledgement" && kind != "order" {
        problems.push("kind must be acknowledgement or order".into());
    }
    if f.authority.trim().is_empty() || f.authority.len() > 300 {
        problems.push("name the authority (at most 300 characters)".into());
    }
    if f.reference.trim().is_empty() || f.reference.len() > 300 {
        problems.push("give the authority's reference (at most 300 characters)".into());
    }
    if f.note.len() > 5000 || f.scope.as_ref().is_some_and(|s| s.len() > 2000) {
        problems.push("the note or the scope is too long".into());
    }
    let now = state.now_ms();
    let received = parse_received(&f.received, now).unwrap_or_else(|e| {
        problems.push(e);
        now
    });
    if !problems.is_empty() {
        return Err(DeskError::Invalid(problems));
    }
    let id = state
        .store
        .record_authority_response(
            &NewAuthorityResponse {
                case_id: case_id.to_string(),
                referral_id: nonempty(&f.referral),
                kind: kind.to_string(),
                authority: f.authority.trim().to_string(),
                reference: f.reference.trim().to_string(),
                scope: nonempty(&f.scope),
                received_at: received,
                decision_id: nonempty(&f.decision),
                note: f.note.trim().to_string(),
            },
            &state.actor(u.actor_name()),
        )
        .await
        .map_err(conflict_to_invalid)?;
    state.checkpoint().await;
    Ok(id)
}

fn referral_json(r: &ReferralRow) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "case": r.case_id, "jurisdiction": r.jurisdiction, "basis": r.basis,
        "authority": { "directory_entry": r.authority_key, "name": r.authority_name,
            "email": r.authority_email, "url": r.authority_url },
        "reason": r.reason, "referred_by": r.referred_by, "referred_at": when(r.referred_at),
        "bundle_path": r.bundle_path, "manifest_sha256": r.manifest_sha256,
    })
}

fn response_json(r: &AuthorityResponseRow) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "kind": r.kind, "referral": r.referral_id, "authority": r.authority,
        "reference": r.reference, "scope": r.scope, "received_at": when(r.received_at),
        "decision": r.decision_id, "effective_at": r.effective_at.map(when), "note": r.note,
        "recorded_by": r.recorded_by, "recorded_at": when(r.recorded_at),
    })
}

/// `GET /cases/{id}/referrals`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    let case = state.store.case(&id, state.now_ms()).await?;
    let referrals = state.store.case_referrals(&id).await?;
    let responses = state.store.case_authority_responses(&id).await?;
    let decisions = state.store.case_decisions(&id).await?;
    let directory = state.config.referrals.as_ref();
    let public_key = hex::encode(state.keys.audit.verifying_key().as_bytes());
    Ok(layout(
        "en",
        &format!("Referrals — case {} — Rempart desk", case.host),
        Some((u.user.username.as_str(), u.csrf.as_str(), u.user.role >= Role::Admin)),
        html! {
            h1 { "Referrals to authorities: " (case.host) }
            p { a href={ "/cases/" (case.id) } { "Back to the case" } }
            p.help { "Refer when there is a suspicion of a criminal offence involving a threat to the life or safety of persons (DSA Art. 18). The bundle holds the evidence, the notices without notifiers' identities, the case's audit entries with a signed checkpoint, and a manifest signed with the desk's key "
                code { (public_key) } "; the authority checks it with " code { "rempart bundle verify DIR --key KEY" } "." }
            h2 { "Referrals" }
            @if referrals.is_empty() { p { "None." } }
            ul id="referrals" { @for r in &referrals {
                li id={ "referral-" (r.id) } {
                    strong { (r.authority_name) } " (" (if r.authority_key == "fallback" { "fallback" } else { r.authority_key.as_str() }) ")"
                    @if let Some(e) = &r.authority_email { " · " code { (e) } }
                    @if let Some(url) = &r.authority_url { " · " code { (url) } }
                    " · basis: " (r.basis) @if !r.jurisdiction.is_empty() { " (" (r.jurisdiction) ")" }
                    " · by " (r.referred_by) " " (when(r.referred_at))
                    pre { (r.reason) }
                    @match (&r.bundle_path, &r.manifest_sha256) {
                        (Some(p), Some(sha)) => { p { "Bundle: " code { (p) } " · manifest SHA-256 " code.manifest { (sha) } } }
                        _ => {
                            form method="post" action={ "/referrals/" (r.id) "/bundle" } {
                                input type="hidden" name="csrf" value=(u.csrf);
                                "The bundle was not written. " button type="submit" { "Write the bundle" }
                            }
                        }
                    }
                }
            } }
            h2 { "Refer this case" }
            @if let Some(dir) = directory {
                form method="post" action={ "/cases/" (case.id) "/referrals" } id="refer" {
                    input type="hidden" name="csrf" value=(u.csrf);
                    label for="basis" { "Jurisdiction by" }
                    select id="basis" name="basis" {
                        @for (b, l) in BASES { option value=(b) { (l) } }
                    }
                    label for="jurisdiction" { "Country (two-letter code)" }
                    input type="text" id="jurisdiction" name="jurisdiction" maxlength="2" list="countries";
                    datalist id="countries" { @for (k, a) in &dir.authorities { option value=(k.0) { (a.name) } } }
                    p.help { "Directory: " @for (k, a) in &dir.authorities { (k.0) " → " (a.name) "; " } "otherwise → " (dir.fallback.name) "." }
                    label for="reason" { "Why: the suspected offence and the threat" }
                    textarea id="reason" name="reason" rows="4" required maxlength="5000" {}
                    p { button type="submit" { "Refer and write the bundle" } }
                }
            } @else {
                p { "No directory of authorities is configured ([referrals] in the desk's configuration)." }
            }
            h2 { "Acknowledgements and orders received" }
            @if responses.is_empty() { p { "None." } }
            ul id="responses" { @for r in &responses {
                li {
                    strong { (r.kind) } " from " (r.authority) ", ref. " code { (r.reference) }
                    " · received " (when(r.received_at))
                    @if let Some(s) = &r.scope { " · scope: " (s) }
                    @if let Some(d) = &r.decision_id { " · given effect by " code { (d) } }
                    @if let Some(e) = r.effective_at { " " (when(e)) }
                    " · recorded by " (r.recorded_by)
                    @if !r.note.is_empty() { pre { (r.note) } }
                }
            } }
            form method="post" action={ "/cases/" (case.id) "/authority-responses" } id="response" {
                input type="hidden" name="csrf" value=(u.csrf);
                label for="kind" { "What was received" }
                select id="kind" name="kind" {
                    option value="acknowledgement" { "Acknowledgement of a referral" }
                    option value="order" { "Order (legal order to act)" }
                }
                label for="referral" { "Answering referral" }
                select id="referral" name="referral" {
                    option value="" { "(none)" }
                    @for r in &referrals { option value=(r.id) { (r.authority_name) " · " (when(r.referred_at)) } }
                }
                label for="authority" { "Authority" }
                input type="text" id="authority" name="authority" required maxlength="300";
                label for="reference" { "Its reference" }
                input type="text" id="reference" name="reference" required maxlength="300";
                label for="scope" { "Scope of an order" }
                input type="text" id="scope" name="scope" maxlength="2000";
                label for="received" { "Received (UTC; empty: now)" }
                input type="datetime-local" id="received" name="received";
                label for="decision" { "Decision giving effect to an order" }
                select id="decision" name="decision" {
                    option value="" { "(none yet)" }
                    @for d in &decisions { option value=(d.id) { (crate::decision::action_label(&d.action)) " · " (when(d.decided_at)) } }
                }
                label for="note" { "Note" }
                textarea id="note" name="note" rows="3" maxlength="5000" {}
                p { button type="submit" { "Record" } }
            }
        },
    )
    .into_response())
}

/// `POST /cases/{id}/referrals`.
pub(crate) async fn refer_form(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<ReferralForm>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    u.check_csrf(f.csrf.as_deref())?;
    refer(&state, &u, &id, &f).await?;
    Ok(Redirect::to(&format!("/cases/{id}/referrals")).into_response())
}

/// `POST /cases/{id}/authority-responses`.
pub(crate) async fn response_form(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<ResponseForm>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    u.check_csrf(f.csrf.as_deref())?;
    record_response(&state, &u, &id, &f).await?;
    Ok(Redirect::to(&format!("/cases/{id}/referrals")).into_response())
}

/// A form carrying only the CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /referrals/{id}/bundle`: writes a bundle that failed to be written.
pub(crate) async fn rewrite_bundle(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    u.check_csrf(f.csrf.as_deref())?;
    let r = state.store.referral(&id).await?;
    if r.bundle_path.is_some() {
        return Err(DeskError::Conflict("this referral's bundle was already written").into());
    }
    write_bundle(&state, &id, &state.actor(u.actor_name())).await?;
    Ok(Redirect::to(&format!("/cases/{}/referrals", r.case_id)).into_response())
}

/// `GET /api/v1/cases/{id}/referrals`.
pub(crate) async fn api_list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, DeskError> {
    authenticate(&state, &headers, Role::Analyst).await?;
    state.store.case(&id, state.now_ms()).await?;
    let referrals = state.store.case_referrals(&id).await?;
    let responses = state.store.case_authority_responses(&id).await?;
    Ok(Json(serde_json::json!({
        "referrals": referrals.iter().map(referral_json).collect::<Vec<_>>(),
        "responses": responses.iter().map(response_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `POST /api/v1/cases/{id}/referrals`.
pub(crate) async fn api_refer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(f): Json<ReferralForm>,
) -> Result<Response, DeskError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    u.check_csrf(f.csrf.as_deref())?;
    let r = refer(&state, &u, &id, &f).await?;
    Ok((StatusCode::CREATED, Json(referral_json(&r))).into_response())
}

/// `POST /api/v1/cases/{id}/authority-responses`.
pub(crate) async fn api_response(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(f): Json<ResponseForm>,
) -> Result<Response, DeskError> {
    let u = authenticate(&state, &headers, Role::Analyst).await?;
    u.check_csrf(f.csrf.as_deref())?;
    let rid = record_response(&state, &u, &id, &f).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": rid }))).into_response())
}
