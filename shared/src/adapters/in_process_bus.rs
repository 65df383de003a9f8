//! `InProcessBus`: the event bus inside one process, routing as template.yaml's rules do.
//!
//! Publishing only enqueues; a dispatcher hands deliveries to tasks, so a publisher
//! never runs the consumer's work on its own call stack (as with EventBridge, where
//! PutEvents returns before any target runs). A handler's retryable failure is
//! delivered again twice, like Lambda's asynchronous invocation.
//!
//! Deliveries run concurrently, like Lambda's: up to [`MAX_IN_FLIGHT`] at once, at
//! most [`MAX_PER_PROJECT`] of one project, taken from the projects' queues in turn
//! (round robin), so a project whose steps wait on a slow provider never holds up
//! another's. Two events of one run are never handled at once: a run's next event
//! waits for the one in flight (its steps stay in order).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::ports::{BusError, BusEvent, EventBus, EventHandler, HandlerError};
use crate::routing::{Target, targets};

/// Deliveries handled at once, across projects.
pub const MAX_IN_FLIGHT: usize = 128;

/// Deliveries of one project handled at once.
pub const MAX_PER_PROJECT: usize = 32;

const RETRIES: usize = 2;
const KEEP_PUBLISHED: usize = 1000;

/// A routed event and its handler. The event is shared with the log of published
/// events: routing copies no event.
struct Delivery {
    handler: Arc<dyn EventHandler>,
    event: Arc<BusEvent>,
    /// The run the event belongs to, if any: its events are handled one at a time.
    run: Option<String>,
}

/// The deliveries waiting and in flight.
#[derive(Default)]
struct Queues {
    /// Waiting deliveries, per project (events without a project share one queue).
    waiting: HashMap<String, VecDeque<Delivery>>,
    /// Projects with waiting deliveries, in the order they are served.
    turns: VecDeque<String>,
    /// Deliveries in flight, per project.
    busy: HashMap<String, usize>,
    /// Runs with a delivery in flight.
    runs: HashSet<String>,
    /// Deliveries in flight, in all.
    in_flight: usize,
}

impl Queues {
    /// The next delivery to start, if the limits allow one: the first project in turn
    /// that is under its limit and has a delivery whose run is not busy.
    fn next(&mut self) -> Option<(String, Delivery)> {
        if self.in_flight >= MAX_IN_FLIGHT {
            return None;
        }
        for _ in 0..self.turns.len() {
            let project = self.turns.pop_front()?;
            let queue = self.waiting.entry(project.clone()).or_default();
            let busy = self.busy.get(&project).copied().unwrap_or(0);
            let free = |d: &Delivery| d.run.as_ref().is_none_or(|r| !self.runs.contains(r));
            let found = (busy < MAX_PER_PROJECT)
                .then(|| queue.iter().position(free))
                .flatten();
            let Some(index) = found else {
                self.turns.push_back(project);
                continue;
            };
            let delivery = queue.remove(index)?;
            if queue.is_empty() {
                self.waiting.remove(&project);
            } else {
                self.turns.push_back(project.clone());
            }
            *self.busy.entry(project.clone()).or_default() += 1;
            if let Some(run) = &delivery.run {
                self.runs.insert(run.clone());
            }
            self.in_flight += 1;
            return Some((project, delivery));
        }
        None
    }

    /// A delivery is done: its project and run are free again.
    fn done(&mut self, project: &str, run: Option<&String>) {
        self.in_flight -= 1;
        if let Some(busy) = self.busy.get_mut(project) {
            *busy -= 1;
            if *busy == 0 {
                self.busy.remove(project);
            }
        }
        if let Some(run) = run {
            self.runs.remove(run);
        }
    }

    fn push(&mut self, project: String, delivery: Delivery) {
        let queue = self.waiting.entry(project.clone()).or_default();
        if queue.is_empty() && !self.turns.contains(&project) {
            self.turns.push_back(project);
        }
        queue.push_back(delivery);
    }
}

/// The embedded [`EventBus`]: routes with [`crate::routing::RULES`] to the handlers
/// attached, delivers concurrently (see the module documentation), and logs the last
/// 1,000 events published.
pub struct InProcessBus {
    handlers: Mutex<HashMap<Target, Arc<dyn EventHandler>>>,
    queues: Arc<Mutex<Queues>>,
    /// Wakes the dispatcher: a delivery was queued or finished.
    wake: Arc<Notify>,
    started: std::sync::Once,
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
        Self {
            handlers: Mutex::new(HashMap::new()),
            queues: Arc::new(Mutex::new(Queues::default())),
            wake: Arc::new(Notify::new()),
            started: std::sync::Once::new(),
            pending: Arc::new(AtomicUsize::new(0)),
            idle: Arc::new(Notify::new()),
            published: Mutex::new(VecDeque::new()),
        }
    }

    /// Attaches the handler for a target and starts the dispatcher (once). Must be
    /// called inside a tokio runtime.
    pub fn attach(&self, target: Target, handler: Arc<dyn EventHandler>) {
        self.handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(target, handler);
        self.started.call_once(|| {
            let (queues, wake) = (Arc::clone(&self.queues), Arc::clone(&self.wake));
            let (pending, idle) = (Arc::clone(&self.pending), Arc::clone(&self.idle));
            tokio::spawn(dispatch(queues, wake, pending, idle));
        });
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

/// Starts every delivery the limits allow, then waits to be woken (a delivery queued or
/// finished), for as long as the process runs.
async fn dispatch(
    queues: Arc<Mutex<Queues>>,
    wake: Arc<Notify>,
    pending: Arc<AtomicUsize>,
    idle: Arc<Notify>,
) {
    loop {
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        loop {
            let next = queues.lock().unwrap_or_else(|p| p.into_inner()).next();
            let Some((project, delivery)) = next else {
                break;
            };
            let (queues, wake) = (Arc::clone(&queues), Arc::clone(&wake));
            let (pending, idle) = (Arc::clone(&pending), Arc::clone(&idle));
            tokio::spawn(async move {
                deliver(delivery.handler.as_ref(), &delivery.event).await;
                queues
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .done(&project, delivery.run.as_ref());
                wake.notify_one();
                if pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                    idle.notify_waiters();
                }
            });
        }
        woken.await;
    }
}

/// The project and run an event belongs to, from its detail.
fn lane(event: &BusEvent) -> (String, Option<String>) {
    let text = |field: &str| {
        event
            .detail
            .get(field)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    (text("project").unwrap_or_default(), text("run"))
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
                    let (project, run) = lane(&event);
                    let delivery = Delivery {
                        handler: Arc::clone(handler),
                        event: Arc::clone(&event),
                        run,
                    };
                    self.queues
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(project, delivery);
                    self.wake.notify_one();
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Nobody;

    #[async_trait]
    impl EventHandler for Nobody {
        async fn handle(&self, _: &BusEvent) -> Result<serde_json::Value, HandlerError> {
            Ok(serde_json::Value::Null)
        }
    }

    fn delivery(run: Option<&str>) -> Delivery {
        Delivery {
            handler: Arc::new(Nobody),
            event: Arc::new(BusEvent::new("StepRequested", serde_json::json!({}))),
            run: run.map(str::to_owned),
        }
    }

    #[test]
    fn projects_take_turns_and_one_run_has_one_delivery_in_flight() {
        let mut q = Queues::default();
        q.push("a".into(), delivery(Some("r1")));
        q.push("a".into(), delivery(Some("r1")));
        q.push("a".into(), delivery(Some("r2")));
        q.push("b".into(), delivery(Some("r3")));
        let order: Vec<(String, Option<String>)> = std::iter::from_fn(|| q.next())
            .map(|(p, d)| (p, d.run))
            .collect();
        // a's second r1 waits for the first; b gets its turn between a's.
        assert_eq!(
            order,
            vec![
                ("a".into(), Some("r1".into())),
                ("b".into(), Some("r3".into())),
                ("a".into(), Some("r2".into())),
            ]
        );
        q.done("a", Some(&"r1".to_owned()));
        let (project, next) = q.next().expect("r1's next event, now that r1 is free");
        assert_eq!((project.as_str(), next.run.as_deref()), ("a", Some("r1")));
        assert!(q.next().is_none());
    }

    #[test]
    fn a_project_never_has_more_than_its_share_in_flight() {
        let mut q = Queues::default();
        for _ in 0..MAX_PER_PROJECT + 5 {
            q.push("busy".into(), delivery(None));
        }
        q.push("quiet".into(), delivery(None));
        let started: Vec<String> = std::iter::from_fn(|| q.next()).map(|(p, _)| p).collect();
        assert_eq!(
            started.iter().filter(|p| *p == "busy").count(),
            MAX_PER_PROJECT
        );
        assert_eq!(started.iter().filter(|p| *p == "quiet").count(), 1);
        q.done("busy", None);
        assert_eq!(q.next().map(|(p, _)| p).as_deref(), Some("busy"));
    }
}
