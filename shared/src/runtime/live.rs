//! Live calls: retries with exponential backoff and jitter, honouring Retry-After, and
//! never repeating a side effect that may already have happened.
//!
//! | outcome | retried when |
//! |---|---|
//! | could not connect (never reached the provider) | always |
//! | 429 Too Many Requests (refused, not processed) | always |
//! | 5xx, timeout, connection lost after sending | only if repeating is safe: no side effects, an idempotent method, or an idempotency key |

use std::time::Duration;

use crate::ports::{Edge, EdgeError, EdgeOutcome, OutboundRequest, OutboundResponse};

/// How often and how patiently a live call is retried (by default 3 attempts, 200 ms
/// doubling, at most 10 s).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait after the first attempt, doubled after each further one (half of it
    /// randomized).
    pub base_delay: Duration,
    /// The longest wait, including one a Retry-After asks for.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// What a live call came to, with how many attempts it took.
#[derive(Debug)]
pub struct Delivery {
    /// The last attempt's answer (any status), or its error.
    pub result: Result<OutboundResponse, EdgeError>,
    /// How many attempts were made, the first included.
    pub attempts: u32,
}

fn retry_after(response: &OutboundResponse) -> Option<Duration> {
    let value = response
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))?
        .1
        .trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    wait.to_std().ok().or(Some(Duration::ZERO))
}

fn jitter(max: Duration) -> Duration {
    let mut byte = [0u8; 2];
    let _ = getrandom::fill(&mut byte);
    let fraction = f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX);
    max.mul_f64(fraction)
}

/// Sends `request`, retrying as the table above says.
pub async fn send(
    edge: &dyn Edge,
    request: &OutboundRequest,
    safe_to_repeat: bool,
    policy: RetryPolicy,
) -> Delivery {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = edge.send(request).await;
        let last = attempt >= policy.attempts;
        let backoff = policy.base_delay * 2u32.saturating_pow(attempt - 1);
        let provider_says = |r: &OutboundResponse| {
            retry_after(r)
                .map(|w| (w, true))
                .unwrap_or((backoff, false))
        };
        let wait = match &outcome {
            Ok(EdgeOutcome::Sent(response)) if response.status == 429 && !last => {
                Some(provider_says(response))
            }
            Ok(EdgeOutcome::Sent(response))
                if response.status >= 500 && safe_to_repeat && !last =>
            {
                Some(provider_says(response))
            }
            Err(EdgeError::Connect(_)) if !last => Some((backoff, false)),
            Err(EdgeError::Timeout(_) | EdgeError::Transport(_)) if safe_to_repeat && !last => {
                Some((backoff, false))
            }
            _ => None,
        };
        match wait {
            Some((wait, from_provider)) => {
                let wait = wait.min(policy.max_delay);
                // A provider's Retry-After is a floor (a little jitter on top, so many
                // steps told the same second do not return at once); our own backoff
                // gets "equal jitter": half fixed, half random.
                let sleep = if from_provider {
                    wait + jitter(Duration::from_millis(100))
                } else {
                    wait / 2 + jitter(wait / 2)
                };
                tokio::time::sleep(sleep).await;
            }
            None => {
                let result = match outcome {
                    Ok(EdgeOutcome::Sent(response)) => Ok(response),
                    Ok(EdgeOutcome::WouldHaveSent) => {
                        Err(EdgeError::Invalid("the live edge did not send".into()))
                    }
                    Err(e) => Err(e),
                };
                return Delivery {
                    result,
                    attempts: attempt,
                };
            }
        }
    }
}
