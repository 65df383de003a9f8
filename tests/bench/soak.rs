//! `bench soak`: a bounded mixed load over real HTTP against the release `studio-local`
//! (describe, compile, waited sandbox and live runs, signed, forged and duplicate Stripe
//! webhooks), with a SIGKILL and a restart on the same data in its middle. Then the
//! checks: nothing the server acknowledged is lost (every compiled step, every live
//! run answered as succeeded, every delivery answered as recorded has its run), no
//! event is published twice (one triggered run per provider event, duplicates
//! included), no forged delivery is accepted, and no run stays running. Sandbox runs
//! are committed relaxed (a 50 ms window, docs/runs.md "Durability"): those lost to the
//! SIGKILL are counted and reported, not a failure.
//!
//! `STUDIO_BENCH_SOAK_SECS` (default 12) is the length of each half of the load.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::e2e::{
    Env, Job, Server, WEBHOOK_SECRET, answer_of, load_average, run_counts, runs_of, server_binary,
    set_up, transport,
};

/// Clients at once, each on one kind of call (see [`Kind`]).
const CLIENTS: usize = 14;
/// The triggered workflow the webhooks start.
const TRIGGERED: &str = "on-customer";

/// One kind of call in the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Describe,
    Compile,
    Sandbox,
    Live,
    Signed,
    Duplicate,
    Forged,
}

const MIX: [Kind; 7] = [
    Kind::Describe,
    Kind::Compile,
    Kind::Sandbox,
    Kind::Live,
    Kind::Signed,
    Kind::Duplicate,
    Kind::Forged,
];

/// What the server acknowledged, and what went wrong, per kind.
#[derive(Default)]
struct Acks {
    compiled: Mutex<Vec<String>>,
    live: AtomicU64,
    sandbox: AtomicU64,
    /// Provider event ids answered as recorded (a first delivery).
    recorded: Mutex<BTreeSet<String>>,
    /// Deliveries of an already recorded event answered as duplicates.
    duplicates: AtomicU64,
    /// Forged deliveries refused (401, or 429 past the failure limit).
    forged_refused: AtomicU64,
    /// Forged deliveries accepted: must stay 0.
    forged_accepted: AtomicU64,
    calls: Mutex<BTreeMap<Kind, u64>>,
    failures: Mutex<BTreeMap<String, u64>>,
}

impl Acks {
    fn count(&self, kind: Kind, outcome: Result<(), String>) {
        *lock(&self.calls).entry(kind).or_default() += 1;
        if let Err(reason) = outcome {
            *lock(&self.failures)
                .entry(format!("{kind:?}: {reason}"))
                .or_default() += 1;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn bench_soak() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            println!("soak: no runtime: {e}");
            return;
        }
    };
    match runtime.block_on(soak()) {
        Ok(problems) if problems.is_empty() => println!("soak: every check held"),
        Ok(problems) => {
            for p in &problems {
                println!("soak: FAILED: {p}");
            }
        }
        Err(e) => println!("soak: {e}"),
    }
}

async fn soak() -> Result<Vec<String>, String> {
    let binary = server_binary()?;
    let half = Duration::from_secs_f64(
        std::env::var("STUDIO_BENCH_SOAK_SECS")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .unwrap_or(12.0),
    );
    let data = tempfile::tempdir().map_err(|e| format!("no data dir: {e}"))?;
    println!(
        "soak: {} clients, {half:.0?} before and {half:.0?} after a SIGKILL, load average before: {}",
        CLIENTS,
        load_average()
    );
    let (mut server, _) = Server::start(&binary, data.path()).await?;
    let (env, _, _) = set_up(&server.url).await?;
    env.setup(
        &format!("/projects/{}/workflows/{TRIGGERED}/steps/compile", env.project),
        json!({"integration": "tickets-instant", "operation": "create_ticket",
               "input_mapping": {"title": "{{change.after.email}} changed"},
               "trigger": {"kind": "data_change", "integration": "stripe", "entity_type": "customer", "change": "updated"}}),
        201,
    )
    .await?;
    let live_before = run_counts(&env, "live-instant").await?.0;
    let sandbox_before = run_counts(&env, "sandbox").await?.0;
    let current = Arc::new(RwLock::new(Arc::new(env)));
    let acks = Arc::new(Acks::default());

    // The first half, with the SIGKILL in its middle; the restart; the second half.
    let workers = spawn_workers(&current, &acks, half);
    tokio::time::sleep(half / 2).await;
    if !server.kill().await {
        return Err("SIGKILL failed".into());
    }
    let killed_at = Instant::now();
    for worker in workers {
        let _ = worker.await;
    }
    let (restarted, took) = Server::start(&binary, data.path()).await?;
    server = restarted;
    println!(
        "SIGKILL in the middle of the first half; restart to \"listening\" in {took:.1?} ({:.1?} after the kill)",
        killed_at.elapsed()
    );
    let env = {
        let old = current.read().unwrap_or_else(|e| e.into_inner()).clone();
        Arc::new(Env {
            client: old.client.clone(),
            server: server.url.clone(),
            project: old.project.clone(),
            token: old.token.clone(),
            events: AtomicU64::new(old.events.load(Ordering::Relaxed)),
        })
    };
    *current.write().unwrap_or_else(|e| e.into_inner()) = env.clone();
    for worker in spawn_workers(&current, &acks, half) {
        let _ = worker.await;
    }
    report(&acks);
    let problems = check(&env, &acks, live_before, sandbox_before).await?;
    server.log_summary();
    server.stop().await;
    Ok(problems)
}

fn spawn_workers(
    current: &Arc<RwLock<Arc<Env>>>,
    acks: &Arc<Acks>,
    length: Duration,
) -> Vec<tokio::task::JoinHandle<()>> {
    let deadline = Instant::now() + length;
    (0..CLIENTS)
        .map(|i| {
            let (current, acks) = (current.clone(), acks.clone());
            let kind = MIX[i % MIX.len()];
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let env = current.read().unwrap_or_else(|e| e.into_inner()).clone();
                    let outcome = call(&env, &acks, kind, i, n).await;
                    if outcome.as_ref().is_err_and(|e| e.contains("refused")) {
                        // The server is down: no busy loop while it is.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    acks.count(kind, outcome);
                    n += 1;
                }
            })
        })
        .collect()
}

/// One call of the kind; what it acknowledged goes into `acks`.
async fn call(env: &Env, acks: &Acks, kind: Kind, client: usize, n: u64) -> Result<(), String> {
    match kind {
        Kind::Describe => {
            let text = [
                "send appointment reminders by email",
                "text our patients",
                "our billing API at https://billing.example.com",
            ][n as usize % 3];
            post(
                env,
                &format!("/projects/{}/integrations/describe", env.project),
                json!({"text": text}),
                200,
            )
            .await
            .map(drop)
        }
        Kind::Compile => {
            let workflow = format!("soak-{client}-{n}");
            post(
                env,
                &format!("/projects/{}/workflows/{workflow}/steps/compile", env.project),
                json!({"instruction": "When the intake form is submitted, create a ticket with tickets-instant",
                       "entity": {"name": "IntakeForm", "fields": {"patient_name": "string", "patient_email": "email"}}}),
                201,
            )
            .await?;
            lock(&acks.compiled).push(workflow);
            Ok(())
        }
        Kind::Sandbox | Kind::Live => {
            let (workflow, mode, count) = match kind {
                Kind::Sandbox => ("sandbox", "sandbox", &acks.sandbox),
                _ => ("live-instant", "live", &acks.live),
            };
            Job::Run { workflow, mode }.once(env).await?;
            count.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Kind::Signed | Kind::Duplicate | Kind::Forged => webhook(env, acks, kind).await,
    }
}

async fn post(env: &Env, path: &str, body: Value, expected: u16) -> Result<Value, String> {
    let answer = env
        .client
        .post(format!("{}{path}", env.server))
        .bearer_auth(&env.token)
        .json(&body)
        .send()
        .await
        .map_err(transport)?;
    answer_of(answer, expected).await
}

/// A Stripe delivery: a new event, signed; an event already recorded, sent again; or
/// a new event with a wrong signature.
async fn webhook(env: &Env, acks: &Acks, kind: Kind) -> Result<(), String> {
    let id = match kind {
        Kind::Duplicate => {
            let recorded = lock(&acks.recorded).iter().next_back().cloned();
            match recorded {
                Some(id) => id,
                None => {
                    // Nothing recorded yet: wait for the first, without spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    return Ok(());
                }
            }
        }
        _ => format!("evt_soak_{}", env.events.fetch_add(1, Ordering::Relaxed)),
    };
    let body = json!({"id": id, "object": "event", "type": "customer.updated",
        "data": {"object": {"id": format!("cus_{id}"), "object": "customer", "email": format!("{id}@example.com")},
                 "previous_attributes": {"email": "old@example.com"}}})
    .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let secret = if kind == Kind::Forged {
        "whsec_not_the_secret_000000000000"
    } else {
        WEBHOOK_SECRET
    };
    let signature = shared::webhooks::signing::stripe(secret, now, body.as_bytes());
    let answer = env
        .client
        .post(format!("{}/hooks/{}/stripe", env.server, env.project))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(transport)?;
    let status = answer.status().as_u16();
    let outcome: Value = answer.json().await.unwrap_or(Value::Null);
    match (kind, status) {
        (Kind::Forged, 401 | 429) => {
            acks.forged_refused.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        (Kind::Forged, _) => {
            acks.forged_accepted.fetch_add(1, Ordering::Relaxed);
            Err(format!("forged delivery answered {status}"))
        }
        (_, 200) if outcome["duplicates"].as_u64() == Some(1) => {
            acks.duplicates.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        (Kind::Signed, 200) if outcome["outcome"] == "recorded" => {
            lock(&acks.recorded).insert(id);
            Ok(())
        }
        _ => Err(format!("HTTP {status} {outcome}")),
    }
}

fn report(acks: &Acks) {
    println!("calls per kind: {:?}", lock(&acks.calls));
    println!(
        "acknowledged: {} compiles, {} live runs, {} sandbox runs, {} deliveries recorded, {} duplicates answered as such, {} forged refused",
        lock(&acks.compiled).len(),
        acks.live.load(Ordering::Relaxed),
        acks.sandbox.load(Ordering::Relaxed),
        lock(&acks.recorded).len(),
        acks.duplicates.load(Ordering::Relaxed),
        acks.forged_refused.load(Ordering::Relaxed),
    );
    let failures = lock(&acks.failures);
    let total: u64 = failures.values().sum();
    println!("failed calls (the server was down for part of the load): {total}");
    for (reason, n) in failures.iter() {
        println!("  {n:>6}  {reason}");
    }
}

/// The checks after the load; each broken one is a line in the answer.
async fn check(
    env: &Env,
    acks: &Acks,
    live_before: usize,
    sandbox_before: usize,
) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    // Nothing left running (within 30 s of the end).
    let settle = Instant::now();
    let mut counts = BTreeMap::new();
    for workflow in ["live-instant", "sandbox", TRIGGERED] {
        let mut c = run_counts(env, workflow).await?;
        while c.2 > 0 && settle.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            c = run_counts(env, workflow).await?;
        }
        if c.2 > 0 {
            problems.push(format!("{workflow}: {} runs still running after 30 s", c.2));
        }
        counts.insert(workflow, c);
    }
    let live_kept = counts["live-instant"].0.saturating_sub(live_before) as u64;
    let live_acked = acks.live.load(Ordering::Relaxed);
    if live_kept < live_acked {
        problems.push(format!(
            "{} live runs answered as succeeded are lost",
            live_acked - live_kept
        ));
    }
    let sandbox_kept = counts["sandbox"].0.saturating_sub(sandbox_before) as u64;
    let sandbox_acked = acks.sandbox.load(Ordering::Relaxed);
    println!(
        "after the restart: live {live_kept} kept of {live_acked} acknowledged; sandbox {sandbox_kept} kept of {sandbox_acked} acknowledged ({} lost to the relaxed window)",
        sandbox_acked.saturating_sub(sandbox_kept)
    );
    let compiled = lock(&acks.compiled).clone();
    let mut missing = 0;
    for workflow in &compiled {
        let answer = env
            .client
            .get(format!(
                "{}/projects/{}/workflows/{workflow}",
                env.server, env.project
            ))
            .bearer_auth(&env.token)
            .send()
            .await
            .map_err(transport)?;
        if answer.status().as_u16() != 200 {
            missing += 1;
        }
    }
    if missing > 0 {
        problems.push(format!(
            "{missing} of {} compiled steps are lost",
            compiled.len()
        ));
    }
    problems.extend(triggered(env, acks).await?);
    if acks.forged_accepted.load(Ordering::Relaxed) > 0 {
        problems.push("a forged delivery was accepted".into());
    }
    Ok(problems)
}

/// One triggered run per recorded provider event: none twice, none missing.
async fn triggered(env: &Env, acks: &Acks) -> Result<Vec<String>, String> {
    let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
    for run in runs_of(env, TRIGGERED).await? {
        let event = run["trigger"]["provider_event_id"]
            .as_str()
            .unwrap_or("(no event id)")
            .to_owned();
        *per_event.entry(event).or_default() += 1;
    }
    let twice: Vec<&String> = per_event
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(e, _)| e)
        .collect();
    let recorded = lock(&acks.recorded).clone();
    let without_run = recorded
        .iter()
        .filter(|e| !per_event.contains_key(*e))
        .count();
    println!(
        "triggered runs: {} for {} recorded events; {} events with more than one run; {without_run} recorded events without a run",
        per_event.values().sum::<usize>(),
        recorded.len(),
        twice.len()
    );
    let mut problems = Vec::new();
    if !twice.is_empty() {
        problems.push(format!(
            "{} events started their workflow more than once (first: {})",
            twice.len(),
            twice[0]
        ));
    }
    if without_run > 0 {
        problems.push(format!(
            "{without_run} recorded events never started their run"
        ));
    }
    Ok(problems)
}
