//! Helpers shared by the end-to-end and conformance tests: the moto server endpoint,
//! fresh AWS resources per test, an in-memory app over the embedded adapters, and a
//! store wrapper that counts writes (to prove that bad input changes nothing).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::{Credentials, Region};
use shared::adapters::{
    FixedClock, InProcessBus, LocalKeyService, LocalStore, SandboxEdge, TimeOrderedIds,
};
use shared::ports::{Condition, Deps, Item, Key, Page, Query, Store, StoreError, Write};

/// The moto server to run AWS adapter tests against (`AWS_ENDPOINT_URL`, as
/// `infra/moto.sh start` prints it). Under CI the emulator is required: a missing one
/// fails the test instead of skipping it, so a green run always tested the AWS side.
pub fn moto_endpoint() -> Option<String> {
    match std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(url) => Some(url),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("AWS_ENDPOINT_URL is not set under CI=true: start moto with infra/moto.sh start")
        }
        None => {
            eprintln!(
                "skipping an AWS adapter test: AWS_ENDPOINT_URL is not set (see infra/moto.sh)"
            );
            None
        }
    }
}

/// A fresh event bus with the template's execute-step rule, its target an SQS queue in
/// place of the function (moto cannot invoke a Lambda target): the bus's name and the
/// queue's URL.
pub async fn bus_routed_to_a_queue(sdk: &aws_config::SdkConfig) -> (String, String) {
    use shared::routing::{RULES, Target};
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let bus_name = unique("bus");
    events
        .create_event_bus()
        .name(&bus_name)
        .send()
        .await
        .expect("create bus");
    let queue_url = sqs
        .create_queue()
        .queue_name(unique("execute-step"))
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("url")
        .to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("queue arn");
    for rule in RULES.iter().filter(|r| r.target == Target::ExecuteStep) {
        let pattern =
            serde_json::json!({"source": [rule.source], "detail-type": rule.detail_types});
        events
            .put_rule()
            .name(rule.name)
            .event_bus_name(&bus_name)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("put rule");
        events
            .put_targets()
            .rule(rule.name)
            .event_bus_name(&bus_name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("execute-step")
                    .arn(&queue_arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("put targets");
    }
    (bus_name, queue_url)
}

/// SDK configuration pointing at moto, with dummy credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(shared::tls::aws_http_client())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// A unique name so tests sharing one moto server never see each other's resources.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates a table with the design's key schema and TTL attribute; returns its name.
pub async fn create_table(sdk: &aws_config::SdkConfig) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let name = unique("studio");
    let attribute = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key")
    };
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .expect("create table on moto");
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("enable TTL on moto");
    name
}

/// Creates a symmetric KMS key; returns its id.
pub async fn create_key(sdk: &aws_config::SdkConfig) -> String {
    let out = aws_sdk_kms::Client::new(sdk)
        .create_key()
        .description("studio test key")
        .send()
        .await
        .expect("create key on moto");
    out.key_metadata().expect("metadata").key_id().to_owned()
}

/// A clock fixed at a round time, for TTL tests.
pub fn test_clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc),
    ))
}

/// Embedded dependencies in a temporary folder (kept alive by the returned guard).
pub struct LocalDeps {
    pub deps: Deps,
    pub bus: Arc<InProcessBus>,
    pub writes: Arc<CountingStore>,
    pub clock: Arc<FixedClock>,
    pub dir: tempfile::TempDir,
}

pub fn local_deps() -> LocalDeps {
    local_deps_over(None)
}

/// As [`local_deps`], over the given store instead of an embedded one (a DynamoDB table
/// in moto, for tests that must hold on both stores).
pub fn local_deps_over(store: Option<Arc<dyn Store>>) -> LocalDeps {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = test_clock();
    let store = store.unwrap_or_else(|| {
        Arc::new(LocalStore::open(&dir.path().join("studio.redb"), clock.clone()).expect("store"))
    });
    let writes = Arc::new(CountingStore::new(store));
    let keys = LocalKeyService::open_or_create(&dir.path().join("master.key")).expect("keys");
    let bus = Arc::new(InProcessBus::new());
    let deps = Deps {
        store: writes.clone(),
        keys: Arc::new(keys),
        bus: bus.clone(),
        // Live calls in tests go to servers on this machine only: the edge refuses
        // every other destination before any lookup or connection.
        live_edge: Arc::new(LoopbackOnlyEdge(shared::adapters::LiveEdge::with_policy(
            std::time::Duration::from_secs(2),
            shared::adapters::EgressPolicy::parse("127.0.0.1").expect("policy"),
        ))),
        sandbox_edge: Arc::new(SandboxEdge),
        clock: clock.clone(),
        ids: Arc::new(TimeOrderedIds),
        webhook_guard: Arc::new(shared::webhooks::Guard::default()),
    };
    // As in the local binary: the bus delivers to execute-step's handler in-process.
    bus.attach(
        shared::routing::Target::ExecuteStep,
        Arc::new(shared::execute::ExecuteStep::new(deps.clone())),
    );
    LocalDeps {
        deps,
        bus,
        writes,
        clock,
        dir,
    }
}

/// Passes every call through and counts the writes.
pub struct CountingStore {
    inner: Arc<dyn Store>,
    writes: AtomicUsize,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            writes: AtomicUsize::new(0),
        }
    }

    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn get_json(
        &self,
        key: &Key,
    ) -> Result<Option<Box<serde_json::value::RawValue>>, StoreError> {
        self.inner.get_json(key).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.put(item, condition).await
    }
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key, condition).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.transact(writes).await
    }
    async fn transact_relaxed(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.transact_relaxed(writes).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
}

/// A stand-in for the Lambda Runtime API (the HTTP interface a Lambda function's
/// runtime polls), so a function binary can be run as Lambda runs it: it hands out the
/// queued events one by one and records what the function answers.
pub mod lambda_runtime_api {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, HeaderValue};
    use axum::routing::{get, post};
    use serde_json::Value;
    use tokio::sync::Notify;

    /// What the function answered for one invocation.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Answer {
        Response(Value),
        Error(Value),
    }

    #[derive(Default)]
    struct Shared {
        queue: Mutex<VecDeque<(String, Value)>>,
        answers: Mutex<Vec<(String, Answer)>>,
        answered: Notify,
    }

    pub struct FakeRuntimeApi {
        /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
        pub address: String,
        shared: Arc<Shared>,
    }

    impl FakeRuntimeApi {
        pub async fn start(events: Vec<Value>) -> Self {
            let shared = Arc::new(Shared::default());
            {
                let mut queue = shared.queue.lock().expect("lock");
                for (i, event) in events.into_iter().enumerate() {
                    queue.push_back((format!("request-{i}"), event));
                }
            }
            let app = Router::new()
                .route("/2018-06-01/runtime/invocation/next", get(next))
                .route(
                    "/2018-06-01/runtime/invocation/{id}/response",
                    post(response),
                )
                .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
                .route("/2018-06-01/runtime/init/error", post(init_error))
                .with_state(shared.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let address = listener.local_addr().expect("addr").to_string();
            tokio::spawn(async move { axum::serve(listener, app).await });
            Self { address, shared }
        }

        /// Waits until `count` invocations have been answered (or the timeout passes).
        pub async fn answers(
            &self,
            count: usize,
            timeout: std::time::Duration,
        ) -> Vec<(String, Answer)> {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let notified = self.shared.answered.notified();
                {
                    let answers = self.shared.answers.lock().expect("lock");
                    if answers.len() >= count {
                        return answers.clone();
                    }
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return self.shared.answers.lock().expect("lock").clone();
                }
            }
        }
    }

    async fn next(State(shared): State<Arc<Shared>>) -> (HeaderMap, String) {
        loop {
            let item = shared.queue.lock().expect("lock").pop_front();
            if let Some((id, event)) = item {
                let mut headers = HeaderMap::new();
                let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
                headers.insert(
                    "lambda-runtime-aws-request-id",
                    HeaderValue::from_str(&id).expect("header"),
                );
                headers.insert("lambda-runtime-deadline-ms", HeaderValue::from(deadline));
                headers.insert(
                    "lambda-runtime-invoked-function-arn",
                    HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:test"),
                );
                headers.insert(
                    "lambda-runtime-trace-id",
                    HeaderValue::from_static("Root=1-00000000-000000000000000000000000"),
                );
                return (headers, event.to_string());
            }
            // Like the real API: a poll with nothing to do waits.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn record(shared: &Shared, id: String, answer: Answer) {
        shared.answers.lock().expect("lock").push((id, answer));
        shared.answered.notify_waiters();
    }

    async fn response(
        State(shared): State<Arc<Shared>>,
        Path(id): Path<String>,
        body: String,
    ) -> &'static str {
        record(
            &shared,
            id,
            Answer::Response(serde_json::from_str(&body).unwrap_or(Value::String(body))),
        );
        "{}"
    }

    async fn error(
        State(shared): State<Arc<Shared>>,
        Path(id): Path<String>,
        body: String,
    ) -> &'static str {
        record(
            &shared,
            id,
            Answer::Error(serde_json::from_str(&body).unwrap_or(Value::String(body))),
        );
        "{}"
    }

    async fn init_error(State(shared): State<Arc<Shared>>, body: String) -> &'static str {
        record(
            &shared,
            "init".into(),
            Answer::Error(serde_json::from_str(&body).unwrap_or(Value::String(body))),
        );
        "{}"
    }
}

/// The tests' live edge: sends only to 127.0.0.1, so no test ever reaches (or even
/// resolves) a provider's real host.
pub struct LoopbackOnlyEdge(pub shared::adapters::LiveEdge);

#[async_trait]
impl shared::ports::Edge for LoopbackOnlyEdge {
    async fn send(
        &self,
        request: &shared::ports::OutboundRequest,
    ) -> Result<shared::ports::EdgeOutcome, shared::ports::EdgeError> {
        let host = reqwest::Url::parse(&request.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        if host.as_deref() != Some("127.0.0.1") {
            return Err(shared::ports::EdgeError::Refused(format!(
                "tests send only to 127.0.0.1, not {}",
                host.unwrap_or_default()
            )));
        }
        self.0.send(request).await
    }
}
