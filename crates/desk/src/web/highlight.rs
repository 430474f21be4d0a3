//! Personal-information spans highlighted in evidence text, for the analyst's evidence view.
//!
//! Every piece of the text goes through maud's escaping: a span marks where the detector found
//! a phone number or an address, it never lets the evidence's own markup through.

use maud::{html, Markup};
use rempart_signals::Span;

/// `text` as HTML, each span wrapped in `<mark class="pii pii-KIND" title="KIND">` with its
/// kind also written after it (`[phone]`), so that the highlight does not rely on colour alone.
/// Spans must be in byte offsets of `text`, in order and non-overlapping (what
/// `Signals::scan` returns); a span that is not (wrong text, bad offsets) is skipped, never
/// trusted.
pub(crate) fn highlight(text: &str, spans: &[Span]) -> Markup {
    let mut at = 0;
    let mut pieces: Vec<(&str, Option<&'static str>)> = Vec::with_capacity(spans.len() * 2 + 1);
    for s in spans {
        if s.start < at
            || s.start >= s.end
            || s.end > text.len()
            || !text.is_char_boundary(s.start)
            || !text.is_char_boundary(s.end)
        {
            continue;
        }
        pieces.push((&text[at..s.start], None));
        pieces.push((&text[s.start..s.end], Some(s.kind.as_str())));
        at = s.end;
    }
    pieces.push((&text[at..], None));
    html! {
        @for (piece, kind) in pieces {
            @if let Some(kind) = kind {
                mark class={ "pii pii-" (kind) } title=(kind) { (piece) }
                small.pii-kind { "[" (kind) "]" }
            } @else {
                (piece)
            }
        }
    }
}

/// `text` with the spans the content signals find in it highlighted; plain escaped text if the
/// detector is unavailable. Only the first [`MAX_HIGHLIGHT_BYTES`] are scanned (a huge page
/// would hold the worker for long), the rest is shown unmarked.
pub(crate) fn highlight_pii(text: &str) -> Markup {
    let Ok(signals) = super::scan::signals() else {
        return html! { (text) };
    };
    let mut cut = text.len().min(MAX_HIGHLIGHT_BYTES);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let report = signals.scan(&text[..cut]);
    html! { (highlight(&text[..cut], &report.spans)) (&text[cut..]) }
}

/// How much of an evidence body [`highlight_pii`] scans.
pub(crate) const MAX_HIGHLIGHT_BYTES: usize = 256 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use rempart_signals::{Signals, SpanKind};

    fn span(start: usize, end: usize, kind: SpanKind) -> Span {
        Span {
            start,
            end,
            char_start: start,
            char_end: end,
            kind,
            confidence: 0.9,
            doxxing: true,
        }
    }

    #[test]
    fn marks_spans_with_their_kind() {
        let text = "call 06 12 34 56 78 now";
        let html = highlight(text, &[span(5, 19, SpanKind::Phone)]).into_string();
        assert_eq!(
            html,
            r#"call <mark class="pii pii-phone" title="phone">06 12 34 56 78</mark><small class="pii-kind">[phone]</small> now"#
        );
    }

    #[test]
    fn escapes_markup_inside_and_outside_spans() {
        let text =
            r#"<script>alert(1)</script> mail "x"@evil.example <img src=x onerror=alert(2)>"#;
        let inner = text.find('"').unwrap();
        let html = highlight(text, &[span(inner, inner + 16, SpanKind::Email)]).into_string();
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("&lt;img src=x onerror=alert(2)&gt;"),
            "{html}"
        );
        assert!(html.contains("&quot;x&quot;@evil.example"), "{html}");
        // Only the highlight's own elements are markup.
        assert_eq!(html.matches('<').count(), 4, "{html}");
    }

    #[test]
    fn bad_offsets_are_skipped_not_trusted() {
        let text = "héllo 203.0.113.9";
        // 2 is inside 'é'; 40 is past the end; the overlapping one comes after a good one.
        let spans = [
            span(2, 5, SpanKind::Ip),
            span(7, 40, SpanKind::Ip),
            span(7, 18, SpanKind::Ip),
            span(10, 12, SpanKind::Ip),
        ];
        let html = highlight(text, &spans).into_string();
        assert_eq!(
            html,
            r#"héllo <mark class="pii pii-ip" title="ip">203.0.113.9</mark><small class="pii-kind">[ip]</small>"#
        );
        assert_eq!(highlight("", &spans).into_string(), "");
    }

    #[test]
    fn highlights_what_the_detector_finds() {
        let signals = Signals::new().unwrap();
        let text = "She lives at 42 Maple Avenue, Columbus, OH 43215 <b>go</b>";
        let report = signals.scan(text);
        let html = highlight(text, &report.spans).into_string();
        assert!(
            html.contains(r#"<mark class="pii pii-address" title="address">42 Maple Avenue, Columbus, OH 43215</mark>"#),
            "{html}"
        );
        assert!(html.ends_with("&lt;b&gt;go&lt;/b&gt;"), "{html}");
    }
}
