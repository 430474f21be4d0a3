//! The content-signals detector (`rempart-signals`) plugged into triage: a notifier's text that
//! shows a private person's information together with a threat or a call to act is P0 whatever
//! category was chosen; either one alone is P1. The text itself is never logged.

use crate::triage::{Priority, ReportForSignals, SignalsHook};

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

#[cfg(test)]
mod tests {
    use super::*;

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
