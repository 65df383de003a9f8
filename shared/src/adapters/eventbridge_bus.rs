//! `EventBridgeBus`: publishes to an EventBridge bus with PutEvents.
//!
//! PutEvents takes at most 10 entries per call, so events go in batches of 10.
//! PutEvents can succeed as a call while refusing some entries (throttling, internal
//! errors): those come back with an ErrorCode in the entry at the same index, and are
//! sent again with backoff. Entries still refused after the last attempt are reported
//! as an error, never dropped silently.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::ports::{BusError, BusEvent, EventBus};

/// PutEvents' limit on entries per call.
pub const PUT_EVENTS_BATCH: usize = 10;
const ATTEMPTS: usize = 4;

/// The [`EventBus`] on an EventBridge bus.
pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
}

impl EventBridgeBus {
    /// Publishes to the bus named `bus_name`.
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }

    fn entry(&self, event: &BusEvent) -> Result<PutEventsRequestEntry, BusError> {
        let detail =
            serde_json::to_string(&event.detail).map_err(|e| BusError::Invalid(e.to_string()))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(&event.source)
            .detail_type(&event.detail_type)
            .detail(detail)
            .build())
    }

    /// Sends one batch; returns, per entry, `None` if accepted or the error code.
    async fn put_batch(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> Result<Vec<Option<String>>, BusError> {
        let count = entries.len();
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                BusError::Unavailable(format!("eventbridge: {}", DisplayErrorContext(&e)))
            })?;
        let results = out.entries();
        if out.failed_entry_count() == 0 {
            return Ok(vec![None; count]);
        }
        Ok((0..count)
            .map(|i| match results.get(i) {
                Some(r) if r.error_code().is_some() => Some(format!(
                    "{}: {}",
                    r.error_code().unwrap_or_default(),
                    r.error_message().unwrap_or_default()
                )),
                Some(_) => None,
                None => Some("no result for entry".to_owned()),
            })
            .collect())
    }
}

/// Sends `entries` through `send` in batches of [`PUT_EVENTS_BATCH`], sending refused
/// entries again up to `attempts` times in all. Separate from the SDK so the retry rule
/// is tested with injected failures.
pub async fn send_in_batches<E, F, Fut>(
    entries: Vec<E>,
    attempts: usize,
    mut send: F,
) -> Result<(), BusError>
where
    E: Clone,
    F: FnMut(Vec<E>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Option<String>>, BusError>>,
{
    let total = entries.len();
    let mut failed = Vec::new();
    let mut reasons = Vec::new();
    for batch in entries.chunks(PUT_EVENTS_BATCH) {
        let mut todo: Vec<E> = batch.to_vec();
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
            let results = send(todo.clone()).await?;
            let mut again = Vec::new();
            let mut last_reasons = Vec::new();
            for (entry, result) in todo.into_iter().zip(results) {
                if let Some(reason) = result {
                    again.push(entry);
                    last_reasons.push(reason);
                }
            }
            todo = again;
            if todo.is_empty() {
                break;
            }
            if attempt + 1 == attempts {
                reasons.extend(last_reasons);
            }
        }
        failed.extend(todo);
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(BusError::Rejected {
            failed: failed.len(),
            total,
            reasons,
        })
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), BusError> {
        for event in &events {
            event.check()?;
        }
        let entries = events
            .iter()
            .map(|e| self.entry(e))
            .collect::<Result<Vec<_>, _>>()?;
        send_in_batches(entries, ATTEMPTS, |batch| self.put_batch(batch)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn events_go_in_batches_of_ten() {
        let sizes = Mutex::new(Vec::new());
        let result = send_in_batches((0..23).collect(), ATTEMPTS, |batch: Vec<i32>| {
            sizes.lock().expect("lock").push(batch.len());
            let n = batch.len();
            async move { Ok(vec![None; n]) }
        })
        .await;
        assert_eq!(result, Ok(()));
        assert_eq!(*sizes.lock().expect("lock"), vec![10, 10, 3]);
    }

    #[tokio::test]
    async fn refused_entries_are_sent_again_and_only_they() {
        let calls = Mutex::new(Vec::new());
        let result = send_in_batches((0..5).collect(), ATTEMPTS, |batch: Vec<i32>| {
            let first = calls.lock().expect("lock").is_empty();
            calls.lock().expect("lock").push(batch.clone());
            let results = batch
                .iter()
                .map(|e| (first && e % 2 == 0).then(|| "ThrottlingException: slow down".to_owned()))
                .collect();
            async move { Ok(results) }
        })
        .await;
        assert_eq!(result, Ok(()));
        assert_eq!(
            *calls.lock().expect("lock"),
            vec![vec![0, 1, 2, 3, 4], vec![0, 2, 4]]
        );
    }

    #[tokio::test]
    async fn entries_still_refused_after_the_last_attempt_are_an_error() {
        let attempts = Mutex::new(0);
        let result = send_in_batches(vec!["a", "b"], 3, |batch: Vec<&str>| {
            *attempts.lock().expect("lock") += 1;
            let results = batch
                .iter()
                .map(|e| (*e == "b").then(|| "InternalFailure: try later".to_owned()))
                .collect();
            async move { Ok(results) }
        })
        .await;
        assert_eq!(*attempts.lock().expect("lock"), 3);
        match result {
            Err(BusError::Rejected {
                failed,
                total,
                reasons,
            }) => {
                assert_eq!((failed, total), (1, 2));
                assert_eq!(reasons, vec!["InternalFailure: try later".to_owned()]);
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
}
