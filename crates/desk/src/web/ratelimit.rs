//! A per-address fixed-window rate limit on intake, driven by the desk's clock.

use std::collections::HashMap;
use std::sync::Mutex;

/// Counts requests per key per minute.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_minute: u32,
    windows: Mutex<(i64, HashMap<String, u32>)>,
}

impl RateLimiter {
    pub(crate) fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            windows: Mutex::new((i64::MIN, HashMap::new())),
        }
    }

    /// Counts one request from `key` at `now_ms`; `Err(seconds to wait)` when over the limit.
    pub(crate) fn check(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        let minute = now_ms.div_euclid(60_000);
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if w.0 != minute {
            *w = (minute, HashMap::new());
        }
        // Looked up before inserting: the key is copied only for a sender's first request of
        // the minute.
        let retry_after = || {
            ((60_000 - now_ms.rem_euclid(60_000)) as u64)
                .div_ceil(1000)
                .max(1)
        };
        match w.1.get_mut(key) {
            Some(n) if *n >= self.per_minute => Err(retry_after()),
            Some(n) => {
                *n += 1;
                Ok(())
            }
            None if self.per_minute == 0 => Err(retry_after()),
            None => {
                w.1.insert(key.to_string(), 1);
                Ok(())
            }
        }
    }
}
