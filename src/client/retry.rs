//! When and how long to wait before sending a request again.

use reqwest::Method;
use std::time::Duration;

/// How often and how patiently to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (1 means "never retry").
    pub attempts: u32,
    /// Delay before the first retry; it doubles with each further retry.
    pub first_delay: Duration,
    /// Upper bound of one delay.
    pub max_delay: Duration,
    /// Shorten each delay by a random 0–50 %, so clients that failed together (every task of a
    /// job array hitting a restarting server) do not retry in lockstep.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// The default policy with `retries` retries after the first attempt.
    pub fn with_retries(retries: u32) -> Self {
        RetryPolicy {
            attempts: retries.saturating_add(1),
            ..RetryPolicy::default()
        }
    }

    /// The delay before retry number `retry` (1-based): exponential, capped, maybe jittered.
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        let nominal = self.first_delay.saturating_mul(factor).min(self.max_delay);
        if self.jitter {
            nominal.mul_f64(1.0 - 0.5 * random_fraction())
        } else {
            nominal
        }
    }
}

/// A number in `[0, 1)`, random enough for jitter (std's per-process random hash keys).
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether a failed attempt may be sent again.
pub(super) fn retryable(
    method: &Method,
    outcome: &Result<reqwest::Response, reqwest::Error>,
) -> bool {
    let idempotent = matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    );
    match outcome {
        // A POST that got a 5xx may have had its effect (a 502 after sbatch queued the job):
        // repeat it only on 503, which says the request was not processed.
        Ok(r) => {
            let status = r.status();
            status.is_server_error()
                && (idempotent || status == reqwest::StatusCode::SERVICE_UNAVAILABLE)
        }
        // Not connected: the server never saw the request.
        Err(e) if e.is_connect() => true,
        // It may have seen it: only requests that are safe to repeat.
        Err(e) => idempotent && (e.is_timeout() || e.is_request()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_jitter_only_shortens_them() {
        let fixed = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        let ms: Vec<u128> = (1..=7).map(|r| fixed.delay(r).as_millis()).collect();
        assert_eq!(ms, [200, 400, 800, 1600, 3200, 5000, 5000]);
        let jittered = RetryPolicy::default();
        for r in 1..=7 {
            let d = jittered.delay(r);
            assert!(d <= fixed.delay(r) && d >= fixed.delay(r) / 2, "{r}: {d:?}");
        }
        assert_eq!(RetryPolicy::with_retries(0).attempts, 1);
    }
}
