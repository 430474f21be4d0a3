//! Translations of the public pages (Fluent), chosen by `Accept-Language` or `?lang=`.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use unic_langid::LanguageIdentifier;

/// A language the public pages are available in.
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

    /// Picks from `?lang=` if given, else the most preferred supported language of an
    /// `Accept-Language` header, else English.
    pub fn negotiate(query: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(l) = query.and_then(Lang::parse) {
            return l;
        }
        let mut best: Option<(f32, Lang)> = None;
        for part in accept_language.unwrap_or("").split(',') {
            let mut it = part.trim().split(';');
            let tag = it.next().unwrap_or("").trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag) {
                if best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, lang));
                }
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }
}

/// The loaded bundles.
pub struct I18n {
    en: FluentBundle<FluentResource>,
    fr: FluentBundle<FluentResource>,
}

impl std::fmt::Debug for I18n {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("I18n")
    }
}

fn bundle(tag: &str, source: &str) -> FluentBundle<FluentResource> {
    let id: LanguageIdentifier = tag.parse().expect("static language tag");
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks: the text goes into HTML, escaped.
    b.set_use_isolating(false);
    let res =
        FluentResource::try_new(source.to_string()).expect("locale files are checked by tests");
    b.add_resource(res).expect("no duplicate messages");
    b
}

impl Default for I18n {
    fn default() -> Self {
        I18n {
            en: bundle("en", include_str!("../locales/en.ftl")),
            fr: bundle("fr", include_str!("../locales/fr.ftl")),
        }
    }
}

impl I18n {
    /// The message `id` in `lang`, with arguments; falls back to English, then to the id.
    pub fn t(&self, lang: Lang, id: &str, args: &[(&str, &str)]) -> String {
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            fa.set(*k, v.to_string());
        }
        for b in [self.bundle(lang), &self.en] {
            if let Some(pattern) = b.get_message(id).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                return b
                    .format_pattern(pattern, Some(&fa), &mut errors)
                    .into_owned();
            }
        }
        id.to_string()
    }

    fn bundle(&self, lang: Lang) -> &FluentBundle<FluentResource> {
        match lang {
            Lang::En => &self.en,
            Lang::Fr => &self.fr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(
            Lang::negotiate(None, Some("fr-FR,fr;q=0.9,en;q=0.8")),
            Lang::Fr
        );
        assert_eq!(
            Lang::negotiate(None, Some("de,en;q=0.5,fr;q=0.7")),
            Lang::Fr
        );
        assert_eq!(Lang::negotiate(None, Some("de")), Lang::En);
        assert_eq!(Lang::negotiate(Some("en"), Some("fr")), Lang::En);
    }

    #[test]
    fn every_english_message_has_a_french_translation() {
        let en = include_str!("../locales/en.ftl");
        let fr = include_str!("../locales/fr.ftl");
        let ids = |s: &str| -> Vec<String> {
            s.lines()
                .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.to_string()))
                .collect()
        };
        assert_eq!(ids(en), ids(fr));
        let i = I18n::default();
        assert_eq!(
            i.t(Lang::Fr, "receipt-number", &[("receipt", "R-1")]),
            "Votre numéro de récépissé est R-1."
        );
    }
}
