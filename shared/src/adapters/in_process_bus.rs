//! `InProcessBus`: the event bus inside one process, routing as template.yaml's rules do.
//!
//! Publishing only enqueues; a worker task delivers to the attached handlers, so a
//! publisher never runs the consumer's work on its own call stack (as with
//! EventBridge, where PutEvents returns before any target runs). A handler's
//! retryable failure is delivered again twice, like Lambda's asynchronous invocation.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc};

use crate::ports::{BusError, BusEvent, EventBus, EventHandler, HandlerError};
use crate::routing::{Target, targets};

const RETRIES: usize = 2;
const KEEP_PUBLISHED: usize = 1000;

/// Shared with the log of published events: routing copies no event.
type Delivery = (Arc<dyn EventHandler>, Arc<BusEvent>);

/// The embedded [`EventBus`]: routes with [`crate::routing::RULES`] to the handlers
/// attached, on a worker task, and logs the last 1,000 events published.
pub struct InProcessBus {
    handlers: Mutex<HashMap<Target, Arc<dyn EventHandler>>>,
    queue: mpsc::UnboundedSender<Delivery>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Delivery>>>,
    pending: Arc<AtomicUsize>,
    idle: Arc<Notify>,
    published: Mutex<VecDeque<Arc<BusEvent>>>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessBus {
    /// A bus with no handler attached: until one is, events are logged, not delivered.
    pub fn new() -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        Self {
            handlers: Mutex::new(HashMap::new()),
            queue,
            receiver: Mutex::new(Some(receiver)),
            pending: Arc::new(AtomicUsize::new(0)),
            idle: Arc::new(Notify::new()),
            published: Mutex::new(VecDeque::new()),
        }
    }

    /// Attaches the handler for a target and starts the delivery worker (once). Must be
    /// called inside a tokio runtime.
    pub fn attach(&self, target: Target, handler: Arc<dyn EventHandler>) {
        self.handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(target, handler);
        let receiver = self
            .receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut receiver) = receiver {
            let pending = Arc::clone(&self.pending);
            let idle = Arc::clone(&self.idle);
            tokio::spawn(async move {
                while let Some((handler, event)) = receiver.recv().await {
                    deliver(handler.as_ref(), &event).await;
                    if pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                        idle.notify_waiters();
                    }
                }
            });
        }
    }

    /// Waits until every routed event has been handled (tests and graceful shutdown).
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The most recent events published, routed or not, oldest first.
    pub fn published(&self) -> Vec<BusEvent> {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|event| BusEvent::clone(event))
            .collect()
    }
}

async fn deliver(handler: &dyn EventHandler, event: &BusEvent) {
    for attempt in 0..=RETRIES {
        match handler.handle(event).await {
            Ok(_) => return,
            Err(HandlerError::Retryable(reason)) if attempt < RETRIES => {
                tracing::warn!(detail_type = %event.detail_type, %reason, attempt, "event handler failed; retrying");
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            Err(error) => {
                tracing::error!(detail_type = %event.detail_type, %error, "event not handled");
                return;
            }
        }
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), BusError> {
        // All or nothing: check every event before routing any.
        for event in &events {
            event.check()?;
        }
        let handlers = self
            .handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        for event in events {
            let event = Arc::new(event);
            for target in targets(&event) {
                // A target with no handler attached is like a rule with no target: the
                // event is dropped for it.
                if let Some(handler) = handlers.get(&target) {
                    self.pending.fetch_add(1, Ordering::AcqRel);
                    if self
                        .queue
                        .send((Arc::clone(handler), Arc::clone(&event)))
                        .is_err()
                    {
                        self.pending.fetch_sub(1, Ordering::AcqRel);
                        return Err(BusError::Unavailable("the delivery worker stopped".into()));
                    }
                }
            }
            if published.len() == KEEP_PUBLISHED {
                published.pop_front();
            }
            published.push_back(event);
        }
        Ok(())
    }
}
