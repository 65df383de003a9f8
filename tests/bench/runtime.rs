//! Step runtime figures: sandbox step overhead, live step overhead against a bare
//! reqwest call to the same loopback server, KMS (key service) calls per 100 live
//! executions, and each function binary's size and time to its first handled event.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use shared::adapters::CachingKeyService;
use shared::aggregates::keys;
use shared::domain::{
    Integration, IntegrationName, Project, ProjectId, RunMode, StepContract, StepRequested,
    Trigger, Workflow, WorkflowId,
};
use shared::ports::{Condition, DataKey, Deps, EncryptionContext, Item, Key, KeyError, KeyService};
use shared::runtime::{RunTrigger, StartRun, execute_step, start_run};
use zeroize::Zeroizing;

struct Counting(Arc<dyn KeyService>, AtomicUsize);

#[async_trait]
impl KeyService for Counting {
    async fn generate_data_key(&self, c: &EncryptionContext) -> Result<DataKey, KeyError> {
        self.0.generate_data_key(c).await
    }
    async fn decrypt_data_key(
        &self,
        w: &[u8],
        c: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.decrypt_data_key(w, c).await
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// A project with one integration and a one-step workflow, stored directly.
async fn seed(
    deps: &Deps,
    provider: &str,
    config: Value,
    credentials: &[(&str, &str)],
    operation: &str,
    mapping: Value,
) -> ProjectId {
    let project = ProjectId::parse("bench").expect("id");
    let name = IntegrationName::parse("target").expect("name");
    let record = Project {
        id: project.clone(),
        name: "bench".into(),
        created_at: chrono::Utc::now(),
        token_sha256: String::new(),
    };
    let pk = keys::project(&project);
    deps.store
        .put(
            Item::of(Key::new(pk.clone(), keys::META), &record).expect("item"),
            Condition::Always,
        )
        .await
        .expect("project");
    let mut creds = shared::vault::Credentials::new();
    for (k, v) in credentials {
        creds.insert(*k, *v);
    }
    let envelope = shared::vault::seal(deps.keys.as_ref(), &project, &name, 1, &creds)
        .await
        .expect("seal");
    let integration = Integration {
        name: name.clone(),
        provider: provider.into(),
        config: serde_json::from_value(config).expect("config"),
        credentials: envelope,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        revision: 0,
        needs_attention: None,
        agent_live: false,
        token_expires_at: None,
    };
    deps.store
        .put(
            Item::of(Key::new(pk.clone(), keys::integration(&name)), &integration).expect("item"),
            Condition::Always,
        )
        .await
        .expect("integration");
    let workflow = WorkflowId::parse("bench").expect("id");
    let trigger = Trigger::Entity {
        entity: "IntakeForm".into(),
        event: "submitted".into(),
    };
    let wf = Workflow {
        id: workflow.clone(),
        trigger: Some(trigger.clone()),
        steps: vec![1],
        updated_at: chrono::Utc::now(),
    };
    deps.store
        .put(
            Item::of(Key::new(pk.clone(), keys::workflow(&workflow)), &wf).expect("item"),
            Condition::Always,
        )
        .await
        .expect("workflow");
    let contract = StepContract {
        workflow: workflow.clone(),
        step: 1,
        trigger,
        integration: name,
        provider: provider.into(),
        operation: operation.into(),
        outbound: true,
        input_schema: json!({"type": "object"}),
        input_mapping: serde_json::from_value(mapping).expect("mapping"),
        output_schema: json!({"type": "object"}),
        integration_created_at: None,
    };
    deps.store
        .put(
            Item::of(Key::new(pk, keys::step(&workflow, 1)), &contract).expect("item"),
            Condition::Always,
        )
        .await
        .expect("contract");
    project
}

/// Embedded backends whose bus delivers to nobody: the bench is the only one to run
/// each step (with `local_deps`' bus, execute-step's handler would run it too, in the
/// background, and the timed call would often find it done and skip it).
fn quiet(mut local: studio_tests::LocalDeps) -> studio_tests::LocalDeps {
    local.deps.bus = Arc::new(shared::adapters::InProcessBus::new());
    local
}

/// Starts a run outside the timing, then times the one step.
async fn one_step(deps: &Deps, project: &ProjectId, mode: RunMode) -> Duration {
    let run = start_run(
        deps,
        StartRun {
            project: project.clone(),
            workflow: WorkflowId::parse("bench").expect("id"),
            mode,
            trigger: RunTrigger::Entity {
                entity: "IntakeForm".into(),
                event: "submitted".into(),
                payload: json!({"email": "ada@example.com", "name": "Ada"}),
            },
        },
    )
    .await
    .expect("run");
    let step = StepRequested {
        project: project.clone(),
        run: run.id.clone(),
        workflow: run.workflow.clone().expect("a workflow's run"),
        step: 1,
        mode,
    };
    let start = Instant::now();
    let outcome = execute_step(deps, &step).await.expect("step");
    let elapsed = start.elapsed();
    assert!(
        outcome.effect == "sent" || outcome.effect == "would_have_sent",
        "{outcome:?}"
    );
    elapsed
}

async fn loopback_server() -> String {
    loopback_server_after(Duration::ZERO).await
}

/// The same server, answering after `delay` (a provider's own time to answer).
async fn loopback_server_after(delay: Duration) -> String {
    let app = axum::Router::new().fallback(axum::routing::any(move || async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        (
            axum::http::StatusCode::CREATED,
            [("content-type", "application/json")],
            "{\"id\":\"T-1\",\"title\":\"Intake\"}",
        )
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn custom_config(url: &str) -> Value {
    json!({"base_url": url, "auth": {"scheme": "bearer"},
           "endpoints": [{"name": "create_ticket", "method": "POST", "path": "/tickets",
                          "input_schema": {"type": "object", "properties": {"title": {"type": "string"}, "email": {"type": "string"}}},
                          "response_schema": {"type": "object", "properties": {"id": {"type": "string"}}}}]})
}

/// Sandbox steps, the store's writes, live steps against a loopback server that answers
/// at once (and the live edge path alone) against a bare reqwest POST to it, key service
/// calls per live step, and live steps against the server answering after 5 and 50 ms.
pub fn bench_runtime(report: fn(&str, Vec<Duration>)) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // Sandbox: Postmark send_email, mock response, trace stored.
        let local = quiet(studio_tests::local_deps());
        let project = seed(&local.deps, "postmark", json!({"from_address": "clinic@example.com"}), &[("server_token", "POSTMARK_API_TEST")], "send_email",
            json!({"To": "{{entity.email}}", "Subject": "Hello {{entity.name}}", "TextBody": "Welcome."})).await;
        for _ in 0..20 {
            one_step(&local.deps, &project, RunMode::Sandbox).await;
        }
        let mut samples = Vec::new();
        for _ in 0..500 {
            samples.push(one_step(&local.deps, &project, RunMode::Sandbox).await);
        }
        report("sandbox step (stored)", samples);

        // What the step is made of: the store's primitives, one at a time.
        let key = |i: usize| Key::new("P#bench", format!("X#{i:06}"));
        let (mut gets, mut relaxed, mut durable) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..500 {
            let item = Item::new(key(i), json!({"n": i, "effect": "would_have_sent"}));
            let start = Instant::now();
            local.deps.store.transact_relaxed(vec![shared::ports::Write::Put(item, Condition::NotExists)]).await.expect("relaxed");
            relaxed.push(start.elapsed());
        }
        for i in 0..500 {
            let start = Instant::now();
            std::hint::black_box(local.deps.store.get(&key(i)).await.expect("get"));
            gets.push(start.elapsed());
        }
        for i in 0..500 {
            let item = Item::new(key(100_000 + i), json!({"n": i}));
            let start = Instant::now();
            local.deps.store.put(item, Condition::NotExists).await.expect("durable");
            durable.push(start.elapsed());
        }
        report("store get", gets);
        report("store relaxed transaction", relaxed);
        report("store durable put", durable);

        // Live: a Custom HTTP POST to a loopback server, against a bare reqwest POST.
        let url = loopback_server().await;
        let mut local = quiet(studio_tests::local_deps());
        let counting = Arc::new(Counting(local.deps.keys.clone(), AtomicUsize::new(0)));
        local.deps.keys = Arc::new(CachingKeyService::new(counting.clone(), Duration::from_secs(300), 1000));
        let project = seed(&local.deps, "custom_http", custom_config(&url), &[("token", "bench-token-123456")], "create_ticket",
            json!({"title": "Intake", "email": "{{entity.email}}"})).await;
        shared::tls::install_default_provider();
        let client = reqwest::Client::new();
        let body = "{\"email\":\"ada@example.com\",\"title\":\"Intake\"}";
        for _ in 0..20 {
            one_step(&local.deps, &project, RunMode::Live).await;
            client.post(format!("{url}/tickets")).body(body).send().await.expect("bare").bytes().await.expect("body");
        }
        counting.1.store(0, Ordering::SeqCst);
        let (mut live, mut bare) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            live.push(one_step(&local.deps, &project, RunMode::Live).await);
            let start = Instant::now();
            client
                .post(format!("{url}/tickets"))
                .header("content-type", "application/json")
                .header("authorization", "Bearer bench-token-123456")
                .body(body)
                .send()
                .await
                .expect("bare")
                .bytes()
                .await
                .expect("body");
            bare.push(start.elapsed());
        }
        let kms_calls = counting.1.load(Ordering::SeqCst);

        // The runtime's own work on a live call, without the store: build the request
        // from the declaration, send it through the live edge (egress guard, retry
        // policy), mask the trace. Against the same bare reqwest call.
        let provider = shared::catalog::custom::build("target", custom_config(&url).as_object().expect("object")).expect("provider");
        let op = provider.operations[0].clone();
        let edge = shared::adapters::LiveEdge::with_policy(Duration::from_secs(5), shared::adapters::EgressPolicy::parse("127.0.0.1").expect("policy"));
        let mut creds = shared::vault::Credentials::new();
        creds.insert("token", "bench-token-123456");
        let input = json!({"title": "Intake", "email": "ada@example.com"});
        let (mut edge_path, mut bare_again) = (Vec::new(), Vec::new());
        for i in 0..520 {
            let start = Instant::now();
            let request = shared::runtime::request::build_request(&provider, &op, &input, &serde_json::Map::new(),
                shared::runtime::request::CredentialValues::Real(&creds), None).expect("request");
            let delivery = shared::runtime::live::send(&edge, &request, false, shared::runtime::live::RetryPolicy::default()).await;
            let body: Value = serde_json::from_slice(&delivery.result.expect("sent").body).expect("json");
            std::hint::black_box(creds.redactor().json(&body));
            let edge_time = start.elapsed();
            let start = Instant::now();
            client.post(format!("{url}/tickets")).header("content-type", "application/json")
                .header("authorization", "Bearer bench-token-123456").body(body.to_string()).send().await.expect("bare").bytes().await.expect("body");
            if i >= 20 {
                edge_path.push(edge_time);
                bare_again.push(start.elapsed());
            }
        }
        let (edge_median, bare_median2) = (median(&mut edge_path.clone()), median(&mut bare_again.clone()));
        report("live edge path (no store)", edge_path);
        report("bare reqwest POST", bare_again);
        println!("live edge path / bare reqwest (medians): {:.2}x", edge_median.as_secs_f64() / bare_median2.as_secs_f64());

        // The sandbox's own work, without the store: render, build the masked request,
        // derive the mock.
        let postmark = shared::catalog::catalog().expect("catalog").get("postmark").expect("postmark").clone();
        let send = postmark.operations.iter().find(|o| o.id == "send_email").expect("op").clone();
        let mapping: serde_json::Map<String, Value> = serde_json::from_value(json!({"To": "{{entity.email}}", "Subject": "Hello {{entity.name}}", "TextBody": "Welcome."})).expect("map");
        let context = json!({"entity": {"email": "ada@example.com", "name": "Ada"}});
        let config: serde_json::Map<String, Value> = serde_json::from_value(json!({"from_address": "clinic@example.com"})).expect("config");
        let mut compute = Vec::new();
        for i in 0..5000 {
            let start = Instant::now();
            let rendered = Value::Object(shared::runtime::mapping::render(&mapping, &context));
            let input = Value::Object(shared::runtime::request::with_defaults(&postmark, &send, &rendered, &config).expect("defaults"));
            let request = shared::runtime::request::build_request(&postmark, &send, &input, &config, shared::runtime::request::CredentialValues::Masked, None).expect("request");
            let mock = shared::runtime::mock::mock_response(&send, &input, &format!("run-{i}#1")).expect("mock");
            std::hint::black_box((shared::runtime::request_view(&request), mock));
            compute.push(start.elapsed());
        }
        report("sandbox step compute (no store)", compute);
        let (live_median, bare_median) = (median(&mut live.clone()), median(&mut bare.clone()));
        report("live step (stored, audited)", live);
        report("bare reqwest POST", bare);
        println!(
            "live step / bare reqwest (medians): {:.2}x",
            live_median.as_secs_f64() / bare_median.as_secs_f64()
        );
        println!("key service Decrypt calls per 100 live executions (after warm-up): {kms_calls}");

        // The same live step against a server that takes a provider's time to answer:
        // what the step's two durable commits cost against calls that are not loopback-
        // fast. Alternating, 20 of each after 3 of each to warm up.
        for delay_ms in [5u64, 50] {
            let url = loopback_server_after(Duration::from_millis(delay_ms)).await;
            let project = seed(&local.deps, "custom_http", custom_config(&url), &[("token", "bench-token-123456")], "create_ticket",
                json!({"title": "Intake", "email": "{{entity.email}}"})).await;
            let (mut live, mut bare) = (Vec::new(), Vec::new());
            for i in 0..23 {
                let step = one_step(&local.deps, &project, RunMode::Live).await;
                let start = Instant::now();
                client.post(format!("{url}/tickets")).header("content-type", "application/json")
                    .header("authorization", "Bearer bench-token-123456").body(body).send().await.expect("bare").bytes().await.expect("body");
                if i >= 3 {
                    live.push(step);
                    bare.push(start.elapsed());
                }
            }
            let (live_median, bare_median) = (median(&mut live), median(&mut bare));
            println!(
                "live step / bare reqwest, server answering after {delay_ms} ms (medians): {:.3}x ({live_median:.2?} / {bare_median:.2?})",
                live_median.as_secs_f64() / bare_median.as_secs_f64()
            );
        }
    });
}

/// Size of each release function binary and its time from spawn to the first handled
/// event, served through a stand-in of the Lambda Runtime API, on the AWS backend as
/// deployed (the function binaries carry no embedded backend), against moto server
/// (`AWS_ENDPOINT_URL`, see infra/moto.sh). Build each function on its own first, as SAM
/// does (`cargo build --release --bin NAME`), so each gets only its own features;
/// `STUDIO_BENCH_TARGET` names another folder of binaries than target/release.
pub fn bench_startup() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let target = std::env::var("STUDIO_BENCH_TARGET").map(std::path::PathBuf::from).unwrap_or_else(|_| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release")
        });
        let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
        let Some(endpoint) = studio_tests::moto_endpoint() else {
            println!("startup: needs moto server (eval \"$(infra/moto.sh start)\")");
            return;
        };
        let sdk = studio_tests::sdk_config(&endpoint).await;
        let table = studio_tests::create_table(&sdk).await;
        let key = studio_tests::create_key(&sdk).await;
        let bus = studio_tests::unique("bench-bus");
        aws_sdk_eventbridge::Client::new(&sdk).create_event_bus().name(&bus).send().await.expect("event bus");
        for (name, sample) in [
            ("add-integration", "add-integration/create-project.json"),
            ("compile-contract", "compile-contract/get-workflow.json"),
            ("execute-step", "execute-step/data-changed.json"),
            ("ingest-webhook", "ingest-webhook/stripe-webhook.json"),
        ] {
            let binary = target.join(name);
            let Ok(meta) = std::fs::metadata(&binary) else {
                println!("{name}: not built (cargo build --release --bin {name})");
                continue;
            };
            let event: Value = serde_json::from_slice(&std::fs::read(events.join(sample)).expect("sample")).expect("json");
            let mut times = Vec::new();
            for _ in 0..10 {
                let api = studio_tests::lambda_runtime_api::FakeRuntimeApi::start(vec![event.clone()]).await;
                let dir = tempfile::tempdir().expect("tempdir");
                let start = Instant::now();
                let mut child = tokio::process::Command::new(&binary)
                    .env("AWS_LAMBDA_RUNTIME_API", &api.address)
                    .env("AWS_LAMBDA_FUNCTION_NAME", name)
                    .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                    .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                    .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
                    .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
                    .env("STUDIO_BACKEND", "aws")
                    .env("STUDIO_TABLE_NAME", &table)
                    .env("STUDIO_KMS_KEY_ID", &key)
                    .env("STUDIO_EVENT_BUS_NAME", &bus)
                    .env("AWS_ENDPOINT_URL", &endpoint)
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ACCESS_KEY_ID", "testing")
                    .env("AWS_SECRET_ACCESS_KEY", "testing")
                    .env("HOME", dir.path())
                    .env("RUST_LOG", "off")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .expect("spawn");
                let answers = api.answers(1, Duration::from_secs(10)).await;
                times.push(start.elapsed());
                let _ = child.kill().await;
                assert_eq!(answers.len(), 1, "{name} answered");
            }
            times.sort_unstable();
            println!(
                "{name:<18} size={:>6.2} MB  first handled event: p50={:.2?} max={:.2?} (AWS backend on moto, x86_64)",
                meta.len() as f64 / 1_000_000.0,
                times[times.len() / 2],
                times[times.len() - 1]
            );
        }
    });
}
