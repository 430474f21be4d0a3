//! `GET /transparency` (HTML, en/fr, charts as inline SVG drawn here, no JavaScript),
//! `GET /transparency.json` and `GET /transparency.csv`, for `?from=YYYY-MM-DD&to=YYYY-MM-DD`.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::pages::{layout, PageError};
use super::AppState;
use crate::error::DeskError;
use crate::i18n::Lang;
use crate::transparency::{compute, to_csv, Figures, Period};

/// The query string.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct TransparencyQuery {
    from: Option<String>,
    to: Option<String>,
    lang: Option<String>,
}

async fn figures(state: &AppState, q: &TransparencyQuery) -> Result<Figures, DeskError> {
    let period = Period::parse(q.from.as_deref(), q.to.as_deref(), state.clock.now())
        .map_err(DeskError::Invalid)?;
    Ok(compute(&state.store, &period).await?)
}

/// Public figures may be cached briefly; they change only as decisions are made.
const CACHE: &str = "public, max-age=300";

/// `GET /transparency.json`.
pub(crate) async fn json(
    State(state): State<AppState>,
    Query(q): Query<TransparencyQuery>,
) -> Result<Response, DeskError> {
    let f = figures(&state, &q).await?;
    Ok(([(header::CACHE_CONTROL, CACHE)], axum::Json(f)).into_response())
}

/// `GET /transparency.csv`.
pub(crate) async fn csv(
    State(state): State<AppState>,
    Query(q): Query<TransparencyQuery>,
) -> Result<Response, DeskError> {
    let f = figures(&state, &q).await?;
    let name = format!(
        "attachment; filename=\"transparency-{}-{}.csv\"",
        f.period.from, f.period.to
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
            (header::CACHE_CONTROL, CACHE.to_string()),
        ],
        to_csv(&f),
    )
        .into_response())
}

/// A horizontal bar chart as inline SVG: one bar per item, the value written after it.
fn bar_chart(title: &str, items: &[(String, i64)]) -> Markup {
    const LABEL_W: i64 = 420;
    const BAR_W: i64 = 300;
    const ROW_H: i64 = 26;
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let height = ROW_H * items.len().max(1) as i64 + 8;
    let width = LABEL_W + BAR_W + 60;
    html! {
        figure {
            svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title)
                width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) } {
                title { (title) }
                @for (i, (label, v)) in items.iter().enumerate() {
                    @let y = 4 + i as i64 * ROW_H;
                    @let w = if *v > 0 { (BAR_W * v / max).max(2) } else { 0 };
                    text x=(LABEL_W - 8) y=(y + 17) text-anchor="end" font-size="13" fill="#222" { (short(label)) }
                    rect x=(LABEL_W) y=(y + 3) width=(w) height=(ROW_H - 8) fill="#2f5d9b" {}
                    text x=(LABEL_W + w + 6) y=(y + 17) font-size="13" fill="#222" { (v) }
                }
            }
            figcaption { (title) }
        }
    }
}

/// A label that fits the chart's label column (the table-free chart has no wrapping).
fn short(label: &str) -> String {
    const MAX: usize = 60;
    if label.chars().count() <= MAX {
        label.to_string()
    } else {
        label.chars().take(MAX - 1).chain(['…']).collect()
    }
}

fn duration_text(secs: Option<i64>, none: &str) -> String {
    match secs {
        None => none.to_string(),
        Some(s) if s >= 3600 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        Some(s) if s >= 60 => format!("{} min {} s", s / 60, s % 60),
        Some(s) => format!("{s} s"),
    }
}

/// `GET /transparency`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Query(q): Query<TransparencyQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let lang = Lang::negotiate(
        q.lang.as_deref(),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let f = figures(&state, &q).await?;
    let t = |id: &str| state.i18n.t(lang, id, &[]);
    // A label from the locale, or the stored name in words when it has none (a new action
    // type added elsewhere still shows).
    let label = |prefix: &str, name: &str| {
        let id = format!("{prefix}{name}");
        let s = state.i18n.t(lang, &id, &[]);
        if s == id {
            name.replace('_', " ")
        } else {
            s
        }
    };
    let period = state.i18n.t(
        lang,
        "tr-period",
        &[("from", &f.period.from), ("to", &f.period.to)],
    );
    let qs = format!("from={}&to={}", f.period.from, f.period.to);
    let now = state.clock.now();
    let last = Period::last_half_year(now);
    let to_date = Period::half_year_to_date(now);
    let other = match lang {
        Lang::En => ("fr", "Français"),
        Lang::Fr => ("en", "English"),
    };
    let by_category: Vec<(String, i64)> = f
        .notices
        .by_category
        .iter()
        .map(|(k, v)| (label("cat-", k), *v))
        .collect();
    let by_type: Vec<(String, i64)> = f
        .actions
        .by_type
        .iter()
        .map(|(k, v)| (label("tr-action-", k), *v))
        .collect();
    let none = t("tr-none");
    let row = |k: String, v: String| html! { tr { th scope="row" { (k) } td { (v) } } };
    Ok((
        [(header::CACHE_CONTROL, CACHE)],
        layout(
            lang.tag(),
            &format!("{} — {}", t("tr-title"), state.config.provider_name),
            None,
            html! {
                p { a href={ "/transparency?" (qs) "&lang=" (other.0) } lang=(other.0) { (other.1) } }
                h1 { (t("tr-title")) }
                p { (state.config.provider_name) " · " (period) }
                p { (t("tr-intro")) }
                p {
                    a href={ "/transparency?from=" (last.from) "&to=" (last.to) "&lang=" (lang.tag()) } { (t("tr-last-half-year")) }
                    " · "
                    a href={ "/transparency?from=" (to_date.from) "&to=" (to_date.to) "&lang=" (lang.tag()) } { (t("tr-to-date")) }
                    " · "
                    a href={ "/transparency.json?" (qs) } { "JSON" }
                    " · "
                    a href={ "/transparency.csv?" (qs) } { "CSV" }
                }
                form method="get" action="/transparency" {
                    input type="hidden" name="lang" value=(lang.tag());
                    label for="from" { (t("tr-from")) }
                    input type="date" id="from" name="from" value=(f.period.from);
                    label for="to" { (t("tr-to")) }
                    input type="date" id="to" name="to" value=(f.period.to);
                    p { button type="submit" { (t("tr-show")) } }
                }
                h2 { (t("tr-notices")) }
                table id="notices" {
                    (row(t("tr-total"), f.notices.total.to_string()))
                    @for (k, v) in &f.notices.by_source { (row(label("tr-source-", k), v.to_string())) }
                    (row(t("tr-automated-detection"), f.notices.automated_detection.to_string()))
                }
                (bar_chart(&t("tr-notices-by-category"), &by_category))
                h2 { (t("tr-actions")) }
                table id="actions" {
                    (row(t("tr-total"), f.actions.total.to_string()))
                    @for (k, v) in &f.actions.by_ground { (row(label("tr-ground-", k), v.to_string())) }
                    (row(t("tr-following-notice"), f.actions.following_notice.to_string()))
                    (row(t("tr-own-initiative"), f.actions.own_initiative.to_string()))
                    (row(t("tr-automated-decision"), f.actions.automated_decision.to_string()))
                    (row(t("tr-median-notice-to-action"), duration_text(f.actions.median_seconds_notice_to_action, &none)))
                }
                (bar_chart(&t("tr-actions-by-type"), &by_type))
                h2 { (t("tr-appeals")) }
                table id="appeals" {
                    (row(t("tr-filed"), f.appeals.filed.to_string()))
                    (row(t("tr-upheld"), f.appeals.upheld.to_string()))
                    (row(t("tr-reversed"), f.appeals.reversed.to_string()))
                }
                h2 { (t("tr-emergency")) }
                table id="emergency" {
                    (row(t("tr-applied"), f.emergency_measures.applied.to_string()))
                    (row(t("tr-confirmed"), f.emergency_measures.confirmed.to_string()))
                    (row(t("tr-lapsed"), f.emergency_measures.lapsed.to_string()))
                    (row(t("tr-lifted"), f.emergency_measures.lifted.to_string()))
                }
                h2 { (t("tr-authorities")) }
                table id="authorities" {
                    (row(t("tr-referrals"), f.referrals.total.to_string()))
                    @for (k, v) in &f.referrals.by_basis { (row(label("tr-basis-", k), v.to_string())) }
                    (row(t("tr-acknowledged"), f.referrals.acknowledged.to_string()))
                    (row(t("tr-orders"), f.authority_orders.received.to_string()))
                    (row(t("tr-median-to-effect"), duration_text(f.authority_orders.median_seconds_to_give_effect, &none)))
                }
                h2 { (t("tr-definitions")) }
                p { (t("tr-definitions-text")) }
            },
        ),
    )
        .into_response())
}
