//! Page layout and small rendering helpers (maud escapes every interpolated value).

use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

use crate::clock::from_millis;
use crate::error::DeskError;
use crate::store::StoreError;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;line-height:1.4}\
label{display:block;font-weight:600;margin-top:1rem}textarea,input[type=text],input[type=email],input[type=password],select{width:100%;box-sizing:border-box;padding:.4rem}\
.help{color:#444;font-size:.9rem}.errors{border:2px solid #b00;padding:.5rem 1rem}table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #ccc;padding:.3rem;text-align:left;vertical-align:top}.p0{background:#fdd}.overdue{color:#b00;font-weight:700}\
pre{white-space:pre-wrap;word-break:break-all;background:#f4f4f4;padding:.5rem;max-height:40rem;overflow:auto}.badge{border:1px solid;padding:0 .3rem;border-radius:.3rem}";

/// A full page.
pub(crate) fn layout(
    lang: &str,
    title: &str,
    nav: Option<(&str, &str, bool)>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                @if let Some((user, csrf, admin)) = nav {
                    nav {
                        a href="/queue" { "Queue" } " · "
                        a href="/due" { "Due process" } " · "
                        @if admin { a href="/admin" { "Admin" } " · " }
                        "Signed in as " (user) " · "
                        form method="post" action="/logout" style="display:inline" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A timestamp for people.
pub(crate) fn when(ms: i64) -> String {
    let t: DateTime<Utc> = from_millis(ms);
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// "12 min left" / "overdue by 3 min".
pub(crate) fn time_left(due_ms: i64, now_ms: i64) -> (String, bool) {
    let secs = (due_ms - now_ms) / 1000;
    let fmt = |s: i64| {
        if s >= 3600 {
            format!("{} h {} min", s / 3600, (s % 3600) / 60)
        } else {
            format!("{} min", s / 60)
        }
    };
    if secs >= 0 {
        (format!("{} left", fmt(secs)), false)
    } else {
        (format!("overdue by {}", fmt(-secs)), true)
    }
}

/// An error as a page (HTML routes): unauthenticated users are sent to the login page.
#[derive(Debug)]
pub(crate) struct PageError(pub(crate) DeskError);

impl From<DeskError> for PageError {
    fn from(e: DeskError) -> Self {
        PageError(e)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError(DeskError::Store(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if matches!(self.0, DeskError::Unauthenticated) {
            return Redirect::to("/login").into_response();
        }
        let status = self.0.status();
        if status.is_server_error() {
            tracing::error!(error = %self.0, "page failed");
        }
        let msg = self.0.public_message();
        let page = layout(
            "en",
            "Error",
            None,
            html! {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p { (msg) }
                @if let DeskError::Invalid(problems) = &self.0 {
                    ul { @for p in problems { li { (p) } } }
                }
            },
        );
        (status, page).into_response()
    }
}
