//! The content-signals detector (`rempart-signals`) plugged into triage: a notifier's text that
//! shows a private person's information together with a threat or a call to act is P0 whatever
//! category was chosen; either one alone is P1. The text itself is never logged.

use crate::triage::{Priority, ReportForSignals, SignalsHook};
use crate::web::AppState;

/// At most this much of an evidence body's text is scanned (the start of a page holds the post).
const MAX_EVIDENCE_TEXT: usize = 256 * 1024;

/// Triage by the offline doxxing and threat detector.
pub struct ContentSignals {
    signals: rempart_signals::Signals,
}

impl ContentSignals {
    /// Compiles the detector (once per process).
    pub fn new() -> anyhow::Result<ContentSignals> {
        Ok(ContentSignals {
            signals: rempart_signals::Signals::new()
                .map_err(|e| anyhow::anyhow!("content signals: {e}"))?,
        })
    }

    /// The priority the signals give a text, if any.
    pub fn priority_of(&self, text: &str) -> Option<Priority> {
        use rempart_signals::Severity;
        match self.signals.scan(text).severity() {
            Severity::DoxxingAndThreat => Some(Priority::P0),
            Severity::Threat | Severity::Doxxing => Some(Priority::P1),
            Severity::None => None,
        }
    }
}

#[async_trait::async_trait]
impl SignalsHook for ContentSignals {
    async fn severity(&self, report: &ReportForSignals<'_>) -> Option<Priority> {
        self.priority_of(report.explanation)
    }
}

/// The readable text of an evidence body: HTML tags dropped (with the contents of `script`
/// and `style`), the common entities decoded, whitespace collapsed. Plain text passes through.
pub(crate) fn evidence_text(body: &[u8]) -> String {
    let raw = String::from_utf8_lossy(&body[..body.len().min(4 * MAX_EVIDENCE_TEXT)]);
    let mut out = String::with_capacity(raw.len().min(MAX_EVIDENCE_TEXT));
    let mut rest: &str = &raw;
    while let Some(lt) = rest.find('<') {
        push_text(&mut out, &rest[..lt]);
        let tag = &rest[lt..];
        let lower: String = tag.chars().take(8).collect::<String>().to_ascii_lowercase();
        let skip_to = if lower.starts_with("<script") {
            "</script"
        } else if lower.starts_with("<style") {
            "</style"
        } else {
            ""
        };
        let after_tag = if skip_to.is_empty() {
            tag.find('>').map_or(tag.len(), |i| i + 1)
        } else {
            let l = tag.to_ascii_lowercase();
            l.find(skip_to)
                .and_then(|i| tag[i..].find('>').map(|j| i + j + 1))
                .unwrap_or(tag.len())
        };
        // A tag separates words ("<td>a</td><td>b</td>").
        out.push(' ');
        rest = &tag[after_tag..];
        if out.len() >= MAX_EVIDENCE_TEXT {
            break;
        }
    }
    push_text(&mut out, rest);
    let mut text = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.len() > MAX_EVIDENCE_TEXT {
        let mut cut = MAX_EVIDENCE_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

fn push_text(out: &mut String, s: &str) {
    if !s.contains('&') {
        out.push_str(s);
        return;
    }
    out.push_str(
        &s.replace("&nbsp;", " ")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    );
}

/// Re-triage after an evidence fetch: the signals run on the text of the stored body and may
/// raise the case's priority (never lower it), e.g. a page that turns out to publish a home
/// address next to a call to violence becomes P0. Failures are logged and never fail the fetch;
/// neither the body nor its text is logged.
pub(crate) async fn retriage_on_evidence(
    state: &AppState,
    report_id: &str,
    url: &str,
    body: &[u8],
) {
    if body.is_empty() {
        return;
    }
    let report = match state.store.report(report_id).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(report = report_id, error = %e, "re-triage on evidence: no report");
            return;
        }
    };
    let Some(category) = crate::decision::parse_category(&report.category) else {
        return;
    };
    let text = evidence_text(body);
    let urls = [url.to_string()];
    let seen = ReportForSignals {
        category,
        urls: &urls,
        explanation: &text,
    };
    let Some(p) = state.signals.severity(&seen).await else {
        return;
    };
    let now = state.clock.now();
    let due = crate::clock::to_millis(state.config.targets.due(p, now));
    match state
        .store
        .raise_priority_on_evidence(report_id, p as i64, due, &state.actor("system:signals"))
        .await
    {
        Ok(true) => {
            tracing::info!(report = report_id, priority = ?p, "case priority raised by its evidence");
            state.jobs.notify_one();
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(report = report_id, error = %e, "re-triage on evidence failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_text_drops_markup_and_scripts() {
        let body = b"<html><head><style>p{color:red}</style><script>var a = '<b>';</script></head>\
<body><h1>Post</h1><p>She lives at 42 Maple Avenue,&nbsp;Columbus, OH 43215 &amp; more</p><SCRIPT>x()</SCRIPT></body>";
        assert_eq!(
            evidence_text(body),
            "Post She lives at 42 Maple Avenue, Columbus, OH 43215 & more"
        );
        assert_eq!(evidence_text(b"plain text, no tags"), "plain text, no tags");
        assert_eq!(evidence_text(b"<unclosed"), "");
        assert_eq!(evidence_text(b"\xff\xfe<p>ok</p>"), "\u{fffd}\u{fffd} ok");
    }

    #[test]
    fn an_address_with_a_call_to_act_is_p0() {
        let s = ContentSignals::new().unwrap();
        assert_eq!(
            s.priority_of("She lives at 14 Elm Street, Springfield, IL 62704. Somebody go there and shoot her."),
            Some(Priority::P0)
        );
        assert_eq!(s.priority_of("Lovely weather in Lyon today."), None);
    }
}
