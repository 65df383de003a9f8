//! Event bus conformance: `InProcessBus` and `EventBridgeBus` (on moto, observed through
//! an SQS queue behind a rule with the template's pattern) route the same events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use shared::adapters::{EventBridgeBus, InProcessBus};
use shared::ports::{BusError, BusEvent, EventBus, EventHandler, HandlerError};
use shared::routing::Target;
use studio_tests::{moto_endpoint, sdk_config};

/// A bus, and a way to see what its execute-step rule delivered.
#[async_trait]
trait Harness: Send + Sync {
    fn bus(&self) -> Arc<dyn EventBus>;
    /// Waits for `expected` deliveries (a little longer, to catch extras) and returns them.
    async fn delivered(&self, expected: usize) -> Vec<BusEvent>;
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::local().as_ref()).await;
                }
            )*
        }
        mod eventbridge {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(harness) = super::eventbridge().await {
                        super::$name(harness.as_ref()).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    step_and_trigger_events_reach_execute_step_and_others_do_not,
    more_than_one_batch_of_events_is_delivered_whole,
    an_invalid_event_refuses_the_whole_publish,
);

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<BusEvent>>,
    fail_first: Mutex<usize>,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &BusEvent) -> Result<Value, HandlerError> {
        {
            let mut failures = self.fail_first.lock().expect("lock");
            if *failures > 0 {
                *failures -= 1;
                return Err(HandlerError::Retryable("store did not answer".into()));
            }
        }
        self.events.lock().expect("lock").push(event.clone());
        Ok(json!({}))
    }
}

struct Local {
    bus: Arc<InProcessBus>,
    recorder: Arc<Recorder>,
}

#[async_trait]
impl Harness for Local {
    fn bus(&self) -> Arc<dyn EventBus> {
        self.bus.clone()
    }
    async fn delivered(&self, _expected: usize) -> Vec<BusEvent> {
        self.bus.wait_idle().await;
        self.recorder.events.lock().expect("lock").clone()
    }
}

fn local() -> Box<dyn Harness> {
    let bus = Arc::new(InProcessBus::new());
    let recorder = Arc::new(Recorder::default());
    bus.attach(Target::ExecuteStep, recorder.clone());
    Box::new(Local { bus, recorder })
}

struct Bridge {
    bus: Arc<EventBridgeBus>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

#[async_trait]
impl Harness for Bridge {
    fn bus(&self) -> Arc<dyn EventBus> {
        self.bus.clone()
    }
    async fn delivered(&self, expected: usize) -> Vec<BusEvent> {
        let mut events = Vec::new();
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(if expected == 0 { 1 } else { 10 });
        while tokio::time::Instant::now() < deadline {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            for message in out.messages() {
                let body: Value =
                    serde_json::from_str(message.body().unwrap_or("{}")).expect("event json");
                events.push(serde_json::from_value(body).expect("an EventBridge event"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
            if events.len() > expected {
                break;
            }
            if out.messages().is_empty() {
                if events.len() == expected && expected > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        events
    }
}

/// A fresh bus with the template's execute-step rule, targeting an SQS queue in place of
/// the function (moto cannot invoke a Lambda target).
async fn eventbridge() -> Option<Box<dyn Harness>> {
    let endpoint = moto_endpoint()?;
    let sdk = sdk_config(&endpoint).await;
    let (bus_name, queue_url) = studio_tests::bus_routed_to_a_queue(&sdk).await;
    Some(Box::new(Bridge {
        bus: Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            bus_name,
        )),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        queue_url,
    }))
}

fn event(detail_type: &str, n: usize) -> BusEvent {
    BusEvent::new(detail_type, json!({"project": "clinic", "n": n}))
}

async fn step_and_trigger_events_reach_execute_step_and_others_do_not(harness: &dyn Harness) {
    let published = vec![
        event("DataChanged", 1),
        event("IntegrationChanged", 2),
        event("StepRequested", 3),
        event("RunCompleted", 4),
        event("WorkflowTriggered", 5),
        event("StepCompleted", 6),
    ];
    harness.bus().publish(published).await.expect("publish");
    let mut delivered: Vec<(String, Value)> = harness
        .delivered(3)
        .await
        .into_iter()
        .map(|e| (e.detail_type, e.detail))
        .collect();
    delivered.sort_by_key(|(_, d)| d["n"].as_u64());
    assert_eq!(
        delivered,
        vec![
            (
                "DataChanged".to_owned(),
                json!({"project": "clinic", "n": 1})
            ),
            (
                "StepRequested".to_owned(),
                json!({"project": "clinic", "n": 3})
            ),
            (
                "WorkflowTriggered".to_owned(),
                json!({"project": "clinic", "n": 5})
            ),
        ]
    );
}

async fn more_than_one_batch_of_events_is_delivered_whole(harness: &dyn Harness) {
    let published: Vec<BusEvent> = (0..23).map(|n| event("StepRequested", n)).collect();
    harness.bus().publish(published).await.expect("publish");
    let mut seen: Vec<u64> = harness
        .delivered(23)
        .await
        .iter()
        .filter_map(|e| e.detail["n"].as_u64())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..23).collect::<Vec<u64>>());
}

async fn an_invalid_event_refuses_the_whole_publish(harness: &dyn Harness) {
    let bad = vec![
        event("StepRequested", 1),
        BusEvent::new("StepRequested", json!("not an object")),
    ];
    assert!(matches!(
        harness.bus().publish(bad).await,
        Err(BusError::Invalid(_))
    ));
    let huge = BusEvent::new("StepRequested", json!({"blob": "x".repeat(300 * 1024)}));
    assert!(matches!(
        harness
            .bus()
            .publish(vec![event("DataChanged", 2), huge])
            .await,
        Err(BusError::Invalid(_))
    ));
    assert!(
        harness.delivered(0).await.is_empty(),
        "nothing of a refused publish is delivered"
    );
}

#[tokio::test]
async fn the_in_process_bus_delivers_again_after_a_retryable_failure() {
    let bus = Arc::new(InProcessBus::new());
    let recorder = Arc::new(Recorder::default());
    *recorder.fail_first.lock().expect("lock") = 2;
    bus.attach(Target::ExecuteStep, recorder.clone());
    bus.publish(vec![event("StepRequested", 7)])
        .await
        .expect("publish");
    bus.wait_idle().await;
    assert_eq!(recorder.events.lock().expect("lock").len(), 1);
}
