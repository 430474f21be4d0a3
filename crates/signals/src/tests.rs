//! Behaviour tests per context rule; pattern-family tests live next to each detector.

use crate::{Severity, Signals, SpanKind};

fn s() -> Signals {
    Signals::new().expect("builds")
}
