//! `cargo run --release -p studio-tests --bin bench [NAME...]`: prints the figures that
//! BENCHMARKS.md records. Names: `describe`, `compile`, `runtime`, `startup`, `ingest`
//! (default: all of these), and `e2e`, only when named (it runs the release
//! `studio-local` binary, built beforehand, and takes minutes). `ingest` reads
//! `STUDIO_BENCH_DIR`, `STUDIO_BENCH_IN_FLIGHT`, `STUDIO_BENCH_ROUNDS` and
//! `STUDIO_BENCH_CONSUMER=off`; `e2e` reads `STUDIO_BENCH_SECS`, `STUDIO_BENCH_DIR`,
//! `STUDIO_BENCH_STARTUP_GB` and `CARGO_TARGET_DIR`.
//!
//! Timings are wall-clock per call over many calls, reported as percentiles; run on an
//! otherwise idle machine, release build.

#[global_allocator]
static ALLOCATOR: shared::Allocator = shared::Allocator;

mod e2e;
mod runtime;
mod soak;

use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let total: Duration = samples.iter().sum();
    println!(
        "{name:<28} n={:<7} p50={:>9.2?} p90={:>9.2?} p99={:>9.2?} max={:>9.2?} mean={:>9.2?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.90),
        percentile(&samples, 0.99),
        samples[samples.len() - 1],
        total / samples.len() as u32,
    );
}

fn phrasings() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/describe_phrasings.tsv");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t').map(|(_, t)| t.to_owned()))
        .collect()
}

fn bench_describe() {
    let texts = phrasings();
    // First call builds the catalog and matcher tables: reported apart, as a cold start.
    let start = Instant::now();
    let _ = shared::describe::describe("warm up");
    println!(
        "describe: first call (parses the catalog, builds tables): {:.2?}",
        start.elapsed()
    );
    let mut samples = Vec::with_capacity(texts.len() * 200);
    for _ in 0..200 {
        for text in &texts {
            let start = Instant::now();
            let described = shared::describe::describe(text);
            samples.push(start.elapsed());
            std::hint::black_box(described.ok());
        }
    }
    report("describe (per sentence)", samples);
}

/// Compiling a step: every instruction of `tests/data/compile_instructions.json` (plain
/// words to a checked contract, including the refused ones and the earlier steps some
/// of them follow), 200 times, against the labelled set's 16 integrations, in memory
/// (no store: the handler adds three store reads and one transaction).
fn bench_compile() {
    use shared::compiler::{CompileRequest, EntitySpec, ProjectIntegration, Workspace, compile};
    use shared::domain::{StepContract, Trigger, WorkflowId};

    #[derive(serde::Deserialize)]
    struct Set {
        integrations: Vec<serde_json::Value>,
        entities: std::collections::BTreeMap<String, EntitySpec>,
        cases: Vec<serde_json::Value>,
    }
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/compile_instructions.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        println!("compile: tests/data/compile_instructions.json not found");
        return;
    };
    let Ok(set) = serde_json::from_str::<Set>(&text) else {
        println!("compile: the labelled set does not parse");
        return;
    };
    let integrations: Vec<ProjectIntegration> = set
        .integrations
        .iter()
        .filter_map(|i| {
            ProjectIntegration::new(
                i["name"].as_str()?,
                i["provider"].as_str()?,
                i["config"].as_object().cloned().unwrap_or_default(),
            )
            .ok()
        })
        .collect();
    let request = |instruction: &str, entity: &serde_json::Value| CompileRequest {
        instruction: Some(instruction.to_owned()),
        entity: entity.as_str().and_then(|e| set.entities.get(e).cloned()),
        ..CompileRequest::default()
    };
    // The earlier steps a case follows are compiled once, outside the timing.
    let workflow = WorkflowId::parse("bench").expect("valid id");
    let mut prepared: Vec<(CompileRequest, Vec<StepContract>, Option<Trigger>)> = Vec::new();
    for case in &set.cases {
        let mut steps = Vec::new();
        let mut trigger = None;
        for earlier in case["earlier"].as_array().into_iter().flatten() {
            let ws = Workspace {
                workflow: &workflow,
                integrations: &integrations,
                trigger: trigger.as_ref(),
                steps: &steps,
            };
            if let Ok(c) = compile(
                &request(earlier.as_str().unwrap_or_default(), &case["entity"]),
                &ws,
            ) {
                trigger = Some(c.trigger.clone());
                steps.push(c.contract);
            }
        }
        prepared.push((
            request(
                case["instruction"].as_str().unwrap_or_default(),
                &case["entity"],
            ),
            steps,
            trigger,
        ));
    }
    let start = Instant::now();
    let (req, steps, trigger) = &prepared[0];
    let ws = Workspace {
        workflow: &workflow,
        integrations: &integrations,
        trigger: trigger.as_ref(),
        steps,
    };
    std::hint::black_box(compile(req, &ws).ok());
    println!(
        "compile: first call (builds the phrase index, compiles the schema validator): {:.2?}",
        start.elapsed()
    );
    // One pass to compile every operation's validator once, as a warm process has.
    for (req, steps, trigger) in &prepared {
        let ws = Workspace {
            workflow: &workflow,
            integrations: &integrations,
            trigger: trigger.as_ref(),
            steps,
        };
        std::hint::black_box(compile(req, &ws).ok());
    }
    let mut samples = Vec::with_capacity(prepared.len() * 200);
    for _ in 0..200 {
        for (req, steps, trigger) in &prepared {
            let ws = Workspace {
                workflow: &workflow,
                integrations: &integrations,
                trigger: trigger.as_ref(),
                steps,
            };
            let start = Instant::now();
            let compiled = compile(req, &ws);
            samples.push(start.elapsed());
            std::hint::black_box(compiled.ok());
        }
    }
    report("compile (per instruction)", samples);
}

/// Verified webhook ingests per second on the embedded backends, wired as studio-local
/// wires them (`app::build`): signed Stripe deliveries (unique events, spread over 500
/// customers) through `webhooks::ingest`, as the ingest-webhook handler calls it, 256 in
/// flight on a multi-threaded runtime, after a warm-up of 2,000, in three rounds of
/// 20,000 fresh events. Each ingest reads the integration, opens the webhook secret
/// through the audited vault (the payload decrypted every time, the data key from the
/// key cache as in the product), checks the signature, reads the cached entity and
/// writes the dedupe marker, the entity and the audit record in one transaction, then
/// publishes DataChanged, which execute-step's handler matches against trigger
/// subscriptions in the same process. Duplicates (the same deliveries again) and the
/// signature check alone are measured too. `STUDIO_BENCH_DIR` puts the database
/// elsewhere (a tmpfs shows the cost of the disk's fsync).
fn bench_ingest() {
    use std::sync::Arc;

    use serde_json::json;
    use shared::aggregates::keys;
    use shared::domain::{Integration, IntegrationName, ProjectId};
    use shared::ports::{Condition, Item, Key};
    use shared::vault::{self, Credentials};
    use shared::webhooks::{self, Delivery, Outcome, signing};

    const EVENTS: usize = 20_000;
    let rounds: usize = std::env::var("STUDIO_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3);
    // Deliveries in flight at once: enough to keep the store's group commit full, so
    // the figure is the ingest's capacity rather than one fsync's latency (providers
    // deliver concurrently, and several providers at once). At 64 in flight the rate
    // follows the disk's fsync latency. STUDIO_BENCH_IN_FLIGHT changes it.
    let in_flight: usize = std::env::var("STUDIO_BENCH_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(256);
    const SECRET: &str = "whsec_bench_secret_0123456789abcdef";

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ingest: no runtime: {e}");
            return;
        }
    };
    runtime.block_on(async {
        // The local product's own wiring (`app::build` on the embedded backends, as
        // studio-local runs): the store on disk, the data-key cache in front of the
        // key service, and execute-step's handler on the in-process bus.
        // STUDIO_BENCH_DIR puts the database elsewhere.
        let dir = match std::env::var("STUDIO_BENCH_DIR") {
            Ok(dir) => tempfile::tempdir_in(dir).expect("STUDIO_BENCH_DIR is writable"),
            Err(_) => tempfile::tempdir().expect("tempdir"),
        };
        let app = shared::app::build(
            shared::config::Config::embedded(dir.path()),
            shared::app::no_live_edge,
        )
        .await
        .expect("the local app");
        let mut deps = app.deps.clone();
        // STUDIO_BENCH_CONSUMER=off: DataChanged is published to a bus with no consumer,
        // as ingest-webhook's is on AWS (execute-step is another function there);
        // by default execute-step's handler consumes it in this process, as in
        // studio-local, and its trigger matching shares the two cores.
        if std::env::var("STUDIO_BENCH_CONSUMER").as_deref() == Ok("off") {
            deps.bus = Arc::new(shared::adapters::InProcessBus::new());
        }
        let project = ProjectId::parse("bench").expect("id");
        let name = IntegrationName::parse("stripe").expect("name");
        let mut credentials = Credentials::new();
        credentials.insert("secret_key", "sk_test_bench");
        credentials.insert("webhook_secret", SECRET);
        let envelope = vault::seal(deps.keys.as_ref(), &project, &name, 1, &credentials)
            .await
            .expect("seal");
        let now = deps.clock.now();
        let integration: Integration = serde_json::from_value(json!({
            "name": name, "provider": "stripe", "credentials": envelope,
            "created_at": now, "updated_at": now,
        }))
        .expect("integration");
        deps.store
            .put(
                Item::of(Key::new(keys::project(&project), keys::integration(&name)), &integration)
                    .expect("item"),
                Condition::Always,
            )
            .await
            .expect("seed");
        let t = now.timestamp();
        // Signed deliveries of unique events, `first..first + n`, spread over 500
        // customers (so most update an entity cached by an earlier one).
        let make = |first: usize, n: usize| -> Vec<Delivery> {
            (first..first + n)
                .map(|i| {
                    let body = serde_json::to_string_pretty(&json!({
                        "id": format!("evt_bench_{i}"), "object": "event", "type": "customer.updated",
                        "data": {"object": {"id": format!("cus_{}", i % 500), "object": "customer",
                                            "email": format!("p{i}@example.com"), "name": "Ada"},
                                 "previous_attributes": {"email": "old@example.com"}}
                    }))
                    .expect("json");
                    let mut headers = http::HeaderMap::new();
                    headers.insert(
                        "stripe-signature",
                        signing::stripe(SECRET, t, body.as_bytes()).parse().expect("header"),
                    );
                    Delivery {
                        project: "bench".into(),
                        integration: "stripe".into(),
                        method: "POST".into(),
                        url: "https://hooks.example.com/hooks/bench/stripe".into(),
                        headers,
                        body: body.into_bytes().into(),
                        request_id: shared::domain::RequestId::parse(&format!("req-{i}"))
                            .expect("request id"),
                        source: None,
                    }
                })
                .collect()
        };
        let deliveries = make(0, EVENTS);

        // The signature check alone, single-threaded.
        let hooks = shared::catalog::catalog()
            .expect("catalog")
            .get("stripe")
            .and_then(|p| p.webhooks.clone())
            .expect("stripe webhooks");
        let start = Instant::now();
        for d in deliveries.iter().take(5_000) {
            let signed = webhooks::Signed {
                method: &d.method,
                url: &d.url,
                headers: &d.headers,
                body: &d.body,
                now: t,
            };
            std::hint::black_box(
                webhooks::verify(&hooks, Some("Stripe-Signature"), SECRET, &signed, 3600).is_ok(),
            );
        }
        let verify = start.elapsed();
        println!(
            "ingest: signature check alone (Stripe v1, ~300-byte body): {:.0}/s on one core ({:.2?} each)",
            5_000.0 / verify.as_secs_f64(),
            verify / 5_000
        );

        // The floor under every ingest: one conditional put on the same store, 64 in
        // flight (an ingest makes two such writes: the audit record and the transaction).
        {
            let start = Instant::now();
            let mut workers = Vec::new();
            for w in 0..in_flight {
                let store = deps.store.clone();
                workers.push(tokio::spawn(async move {
                    for i in 0..(5_000 / in_flight) {
                        let key = Key::new("BENCH", format!("{w}-{i}"));
                        store
                            .put(Item::new(key, json!({"n": i})), Condition::NotExists)
                            .await
                            .expect("put");
                    }
                }));
            }
            for w in workers {
                w.await.expect("worker");
            }
            let n = (5_000 / in_flight) * in_flight;
            println!(
                "ingest: the store alone, one conditional put: {:.0}/s ({in_flight} in flight)",
                n as f64 / start.elapsed().as_secs_f64()
            );
        }

        let run = |label: &'static str, deliveries: Vec<Delivery>, want: fn(&Outcome) -> bool| {
            let deps = deps.clone();
            async move {
                let n = deliveries.len();
                let queue = Arc::new(std::sync::Mutex::new(deliveries));
                let samples = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
                let start = Instant::now();
                let mut workers = Vec::new();
                for _ in 0..in_flight {
                    let (queue, samples, deps) = (queue.clone(), samples.clone(), deps.clone());
                    workers.push(tokio::spawn(async move {
                        loop {
                            let next = queue.lock().expect("lock").pop();
                            let Some(delivery) = next else { break };
                            let one = Instant::now();
                            let outcome = webhooks::ingest(&deps, delivery).await;
                            let took = one.elapsed();
                            assert!(outcome.as_ref().is_ok_and(want), "{label}: {outcome:?}");
                            samples.lock().expect("lock").push(took);
                        }
                    }));
                }
                for w in workers {
                    w.await.expect("worker");
                }
                let elapsed = start.elapsed();
                println!(
                    "ingest: {label}: {n} in {elapsed:.2?} = {:.0}/s ({in_flight} in flight)",
                    n as f64 / elapsed.as_secs_f64()
                );
                let samples = std::mem::take(&mut *samples.lock().expect("lock"));
                report(&format!("ingest {label} (latency)"), samples);
                n as f64 / elapsed.as_secs_f64()
            }
        };
        // Warm-up (the database file grows to its working size, every customer gets a
        // cached entity), then STUDIO_BENCH_ROUNDS (3) rounds of fresh events, each reported: the rate
        // varies from run to run on this machine, and every round counts.
        let recorded = |o: &Outcome| matches!(o, Outcome::Recorded { changes: 1, .. });
        run("warm-up", make(EVENTS * (rounds + 1), 2_000), recorded).await;
        let mut rates = Vec::new();
        for round in 0..rounds {
            let fresh = if round == 0 {
                deliveries.clone()
            } else {
                make(EVENTS * round, EVENTS)
            };
            rates.push(run("verified and recorded", fresh, recorded).await);
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "ingest: verified and recorded, {rounds} rounds: worst {:.0}/s, median {:.0}/s, best {:.0}/s",
            rates[0],
            rates[rates.len() / 2],
            rates[rates.len() - 1]
        );
        run(
            "verified duplicates",
            deliveries,
            |o| matches!(o, Outcome::Recorded { duplicates: 1, .. }),
        )
        .await;
    });
}

fn main() {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let all = wanted.is_empty();
    if all || wanted.iter().any(|w| w == "describe") {
        bench_describe();
    }
    if all || wanted.iter().any(|w| w == "compile") {
        bench_compile();
    }
    if all || wanted.iter().any(|w| w == "runtime") {
        runtime::bench_runtime(report);
    }
    if all || wanted.iter().any(|w| w == "startup") {
        runtime::bench_startup();
    }
    if all || wanted.iter().any(|w| w == "ingest") {
        bench_ingest();
    }
    if wanted.iter().any(|w| w == "e2e") {
        e2e::bench_e2e();
    }
    if wanted.iter().any(|w| w == "soak") {
        soak::bench_soak();
    }
}
