//! `bench e2e`: the job users compare with n8n, over real HTTP against the release
//! `studio-local` binary (built beforehand, never by the bench): waited runs (live
//! against a capture server answering at once or after 50 ms, and sandbox) and signed
//! webhook deliveries, at 1, 8 and 32 concurrent clients, next to the bench's own bare
//! calls to the same capture servers. Then the server's resident memory, the bytes it
//! wrote per run, with `STUDIO_BENCH_KILL=1` a SIGKILL in the middle of a load and the
//! restart, and, with `STUDIO_BENCH_STARTUP_GB`, its start-up time on a data dir of
//! that size.
//!
//! Every HTTP failure is counted and printed with its reason: a slow or failing server
//! is a figure to report, not a reason to stop. The bench and the server share the
//! machine's cores, as a client and a server on one host do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CONCURRENCY: [usize; 3] = [1, 8, 32];
const SLOW: Duration = Duration::from_millis(50);
const API_TOKEN: &str = "bench-token-123456";
pub(crate) const WEBHOOK_SECRET: &str = "whsec_bench_secret_0123456789abcdef";
const TICKET: &str = "{\"id\":\"T-1\",\"title\":\"Intake\"}";
/// What a live run sends, as the product renders it (the bare calls send the same).
const TICKET_REQUEST: &str = "{\"email\":\"ada@example.com\",\"title\":\"Intake for Ada\"}";
/// Longer than the server's own 20 s wait for a run, so a slow run shows as a 202.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
const RESTARTS: usize = 5;

pub fn bench_e2e() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            println!("e2e: no runtime: {e}");
            return;
        }
    };
    if let Err(e) = runtime.block_on(run()) {
        println!("e2e: {e}");
    }
}

async fn run() -> Result<(), String> {
    let binary = server_binary()?;
    let secs = std::env::var("STUDIO_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(5.0);
    let data = match std::env::var("STUDIO_BENCH_DIR") {
        Ok(dir) => tempfile::tempdir_in(dir),
        Err(_) => tempfile::tempdir(),
    }
    .map_err(|e| format!("no data dir: {e}"))?;
    println!(
        "e2e: {} on {}, {secs} s per cell, load average before: {}",
        binary.display(),
        data.path().display(),
        load_average()
    );
    let (mut server, _) = Server::start(&binary, data.path()).await?;
    let measured = measure(&mut server, Duration::from_secs_f64(secs)).await;
    let outcome = match measured {
        Ok(env) => after_load(&mut server, &binary, &env).await,
        Err(e) => Err(e),
    };
    server.stop().await;
    outcome
}

/// Resident memory, the start-up figure (optional), and the server's log.
async fn after_load(server: &mut Server, binary: &Path, env: &Arc<Env>) -> Result<(), String> {
    println!(
        "server memory after the load: VmRSS {} (peak VmHWM {}); data dir {}",
        megabytes(proc_field(server.pid, "status", "VmRSS:").map(|kb| kb * 1024)),
        megabytes(proc_field(server.pid, "status", "VmHWM:").map(|kb| kb * 1024)),
        megabytes(Some(dir_size(&server.data_dir))),
    );
    server.log_summary();
    if std::env::var("STUDIO_BENCH_KILL").is_ok_and(|v| v == "1") {
        kill_in_the_middle(server, binary, env).await?;
    } else {
        println!(
            "a SIGKILL in the middle of a load: STUDIO_BENCH_KILL=1 ./target/release/bench e2e"
        );
    }
    match std::env::var("STUDIO_BENCH_STARTUP_GB")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|gb| *gb > 0.0)
    {
        Some(gb) => startup(server, binary, env, gb).await,
        None => {
            println!(
                "start-up on a large data dir: STUDIO_BENCH_STARTUP_GB=1 ./target/release/bench e2e"
            );
            Ok(())
        }
    }
}

/// `CARGO_TARGET_DIR/release/studio-local`, else the workspace's `target/release`.
pub(crate) fn server_binary() -> Result<PathBuf, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let binary = target.join("release/studio-local");
    if binary.is_file() {
        Ok(binary.canonicalize().unwrap_or(binary))
    } else {
        Err(format!(
            "{} is missing: build it with cargo build --release -p studio-local",
            binary.display()
        ))
    }
}

/// The spawned `studio-local`. Its stdout and stderr are pipes that the bench drains
/// (a pipe left full would block the server; a log file would count in its writes).
pub(crate) struct Server {
    child: Child,
    pub(crate) pid: u32,
    pub(crate) url: String,
    pub(crate) data_dir: PathBuf,
    log: Arc<std::sync::Mutex<Log>>,
    stopped: bool,
}

#[derive(Default)]
struct Log {
    lines: usize,
    warnings: usize,
    last_warning: Option<String>,
}

impl Server {
    /// Spawns the server and waits for its "listening" line; answers the time it took.
    pub(crate) async fn start(
        binary: &Path,
        data_dir: &Path,
    ) -> Result<(Server, Duration), String> {
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("STUDIO_BACKEND", "embedded")
            .env("STUDIO_EGRESS_ALLOW", "127.0.0.1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let pid = child.id().ok_or("the server exited at once")?;
        let log = Arc::new(std::sync::Mutex::new(Log::default()));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    log.lines += 1;
                    if line.contains("WARN") || line.contains("ERROR") {
                        log.warnings += 1;
                        log.last_warning = Some(line);
                    }
                }
            });
        }
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let prefix = "studio-local listening on ";
        let url = tokio::time::timeout(Duration::from_secs(300), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix(prefix) {
                    return Some(url.to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let elapsed = started.elapsed();
        let Some(url) = url else {
            let _ = child.kill().await;
            return Err(format!(
                "the server printed no \"{prefix}\" line (its log: {:?})",
                log.lock()
                    .map(|l| l.last_warning.clone())
                    .unwrap_or_default()
            ));
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let server = Server {
            child,
            pid,
            url,
            data_dir: data_dir.to_owned(),
            log,
            stopped: false,
        };
        Ok((server, elapsed))
    }

    /// SIGTERM, then waits for the exit (SIGKILL after 30 s); answers the time it took.
    /// Once only: the pid of an ended process may be another's.
    pub(crate) async fn stop(&mut self) -> Duration {
        let started = Instant::now();
        if std::mem::replace(&mut self.stopped, true) {
            return Duration::ZERO;
        }
        if let Some(status) = self.exited() {
            println!("server: had already exited ({status})");
            return Duration::ZERO;
        }
        let signalled = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await
            .is_ok_and(|s| s.success());
        if !signalled {
            println!("server: SIGTERM failed, killing it");
        }
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(Ok(status)) if !status.success() => println!("server: exited with {status}"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => println!("server: wait failed: {e}"),
            Err(_) => {
                println!("server: still running 30 s after SIGTERM, killing it");
                let _ = self.child.kill().await;
            }
        }
        started.elapsed()
    }

    /// SIGKILL, and waits for the end; answers whether the signal was sent.
    pub(crate) async fn kill(&mut self) -> bool {
        let killed = Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .status()
            .await
            .is_ok_and(|s| s.success());
        let _ = self.child.wait().await;
        self.stopped = true;
        killed
    }

    /// None while it runs; the exit status if it has ended.
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(status.to_string()),
            Err(e) => Some(e.to_string()),
        }
    }

    pub(crate) fn log_summary(&self) {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        println!(
            "server log (stderr): {} lines, {} warnings or errors{}",
            log.lines,
            log.warnings,
            log.last_warning
                .as_deref()
                .map(|l| format!("; the last: {l}"))
                .unwrap_or_default()
        );
    }
}

/// A server answering every request with a small JSON after `delay`: what a provider
/// is to a live run, and the target of the bench's bare calls.
async fn capture_server(delay: Duration) -> Result<String, String> {
    let app = axum::Router::new().fallback(axum::routing::any(move || async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        (
            axum::http::StatusCode::CREATED,
            [("content-type", "application/json")],
            TICKET,
        )
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("capture server: {e}"))?;
    let url = format!(
        "http://{}",
        listener
            .local_addr()
            .map_err(|e| format!("capture server: {e}"))?
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// What every call needs: one keep-alive client, the server, the project.
pub(crate) struct Env {
    pub(crate) client: reqwest::Client,
    pub(crate) server: String,
    pub(crate) project: String,
    pub(crate) token: String,
    /// Webhook event ids, unique across the whole bench.
    pub(crate) events: AtomicU64,
}

impl Env {
    /// A setup call: anything but `expect` is an error that stops the bench.
    pub(crate) async fn setup(
        &self,
        path: &str,
        body: Value,
        expect: u16,
    ) -> Result<Value, String> {
        let answer = self
            .client
            .post(format!("{}{path}", self.server))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if status == expect {
            Ok(body)
        } else {
            Err(format!("POST {path}: {status} {body}"))
        }
    }
}

/// The measured jobs. Each call answers Ok or the reason it failed.
pub(crate) enum Job {
    Bare {
        url: String,
    },
    Run {
        workflow: &'static str,
        mode: &'static str,
    },
    Webhook,
}

impl Job {
    pub(crate) async fn once(&self, env: &Env) -> Result<(), String> {
        match self {
            Job::Bare { url } => {
                let answer = env
                    .client
                    .post(format!("{url}/tickets"))
                    .header("content-type", "application/json")
                    .bearer_auth(API_TOKEN)
                    .body(TICKET_REQUEST)
                    .send()
                    .await
                    .map_err(transport)?;
                let status = answer.status();
                answer.bytes().await.map_err(transport)?;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("HTTP {}", status.as_u16()))
                }
            }
            Job::Run { workflow, mode } => {
                let body = json!({"workflow": workflow, "mode": mode, "wait": true,
                    "trigger": {"entity": "IntakeForm", "event": "submitted",
                                "payload": {"patient_name": "Ada", "patient_email": "ada@example.com"}}});
                let answer = env
                    .client
                    .post(format!("{}/projects/{}/runs", env.server, env.project))
                    .bearer_auth(&env.token)
                    .json(&body)
                    .send()
                    .await
                    .map_err(transport)?;
                let run = answer_of(answer, 201).await?;
                match run["status"].as_str() {
                    Some("succeeded") => Ok(()),
                    other => Err(format!("run {}", other.unwrap_or("without status"))),
                }
            }
            Job::Webhook => {
                let i = env.events.fetch_add(1, Ordering::Relaxed);
                let body = serde_json::to_string_pretty(&json!({
                    "id": format!("evt_e2e_{i}"), "object": "event", "type": "customer.updated",
                    "data": {"object": {"id": format!("cus_{}", i % 500), "object": "customer",
                                        "email": format!("p{i}@example.com"), "name": "Ada"},
                             "previous_attributes": {"email": "old@example.com"}}
                }))
                .map_err(|e| e.to_string())?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or_default();
                let signature =
                    shared::webhooks::signing::stripe(WEBHOOK_SECRET, now, body.as_bytes());
                let answer = env
                    .client
                    .post(format!("{}/hooks/{}/stripe", env.server, env.project))
                    .header("content-type", "application/json")
                    .header("stripe-signature", signature)
                    .body(body)
                    .send()
                    .await
                    .map_err(transport)?;
                let outcome = answer_of(answer, 200).await?;
                match (outcome["outcome"].as_str(), outcome["duplicates"].as_u64()) {
                    (Some("recorded"), Some(0)) => Ok(()),
                    _ => Err(format!("answered {outcome}")),
                }
            }
        }
    }
}

/// The JSON body of an answer with the `expected` status; any other status is the
/// failure's reason, whatever its body.
pub(crate) async fn answer_of(answer: reqwest::Response, expected: u16) -> Result<Value, String> {
    let status = answer.status().as_u16();
    let body = answer.bytes().await.map_err(transport)?;
    if status != expected {
        return Err(format!("HTTP {status}"));
    }
    serde_json::from_slice(&body).map_err(|_| "unreadable body".to_owned())
}

pub(crate) fn transport(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection refused or reset".into()
    } else {
        format!("transport: {}", e.without_url())
    }
}

/// A project, a Custom HTTP integration per capture server, a Stripe integration for
/// the webhooks, and one-step workflows compiled from the structured form.
pub(crate) async fn set_up(server: &str) -> Result<(Env, String, String), String> {
    shared::tls::install_default_provider();
    let client = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .map_err(|e| format!("client: {e}"))?;
    let instant = capture_server(Duration::ZERO).await?;
    let slow = capture_server(SLOW).await?;
    let mut env = Env {
        client,
        server: server.to_owned(),
        project: String::new(),
        token: String::new(),
        events: AtomicU64::new(0),
    };
    let project = env
        .setup("/projects", json!({"name": "bench"}), 201)
        .await?;
    env.project = project["id"].as_str().unwrap_or_default().to_owned();
    env.token = project["token"].as_str().unwrap_or_default().to_owned();
    let integrations = format!("/projects/{}/integrations", env.project);
    for (name, url) in [("tickets-instant", &instant), ("tickets-slow", &slow)] {
        env.setup(&integrations, json!({"name": name, "provider": "custom_http",
            "credentials": {"token": API_TOKEN},
            "config": {"base_url": url, "auth": {"scheme": "bearer"},
                       "endpoints": [{"name": "create_ticket", "method": "POST", "path": "/tickets",
                                      "input_schema": {"type": "object", "required": ["title"],
                                                       "properties": {"title": {"type": "string"}, "email": {"type": "string"}}},
                                      "response_schema": {"type": "object", "required": ["id"],
                                                          "properties": {"id": {"type": "string"}, "title": {"type": "string"}}}}]}}), 201)
            .await?;
    }
    env.setup(
        &integrations,
        json!({"name": "stripe", "provider": "stripe",
               "credentials": {"secret_key": "sk_test_abcdefghijklmnopqrstuvwx", "webhook_secret": WEBHOOK_SECRET}}),
        201,
    )
    .await?;
    for (workflow, integration) in [
        ("live-instant", "tickets-instant"),
        ("live-slow", "tickets-slow"),
        ("sandbox", "tickets-instant"),
    ] {
        env.setup(
            &format!("/projects/{}/workflows/{workflow}/steps/compile", env.project),
            json!({"integration": integration, "operation": "create_ticket",
                   "entity": {"name": "IntakeForm", "fields": {"patient_name": "string", "patient_email": "email"}},
                   "trigger": {"kind": "entity", "entity": "IntakeForm", "event": "submitted"},
                   "input_mapping": {"title": "Intake for {{entity.patient_name}}", "email": "{{entity.patient_email}}"}}),
            201,
        )
        .await?;
    }
    Ok((env, instant, slow))
}

/// One job at one concurrency.
struct Cell {
    job: &'static str,
    clients: usize,
    elapsed: Duration,
    /// Successful calls' latencies, sorted.
    latencies: Vec<Duration>,
    failures: BTreeMap<String, usize>,
    /// Bytes the server wrote to storage during the cell (runs and deliveries only).
    written: Option<u64>,
}

impl Cell {
    fn p(&self, p: f64) -> Option<Duration> {
        (!self.latencies.is_empty()).then(|| crate::percentile(&self.latencies, p))
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    failures: BTreeMap<String, usize>,
}

/// `clients` loops, each calling as soon as its last call answered, until `length` has
/// passed; a call started before the end is waited for and counted.
async fn drive(
    env: &Arc<Env>,
    job: &Arc<Job>,
    clients: usize,
    length: Duration,
) -> (Tally, Duration) {
    let start = Instant::now();
    let deadline = start + length;
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (env, job) = (env.clone(), job.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < deadline {
                    let one = Instant::now();
                    match job.once(&env).await {
                        Ok(()) => tally.latencies.push(one.elapsed()),
                        Err(reason) => *tally.failures.entry(reason).or_default() += 1,
                    }
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        match worker.await {
            Ok(tally) => {
                total.latencies.extend(tally.latencies);
                for (reason, n) in tally.failures {
                    *total.failures.entry(reason).or_default() += n;
                }
            }
            Err(e) => {
                *total
                    .failures
                    .entry(format!("client task: {e}"))
                    .or_default() += 1
            }
        }
    }
    total.latencies.sort_unstable();
    (total, start.elapsed())
}

/// Sets up, then runs every job at every concurrency and prints the table.
async fn measure(server: &mut Server, length: Duration) -> Result<Arc<Env>, String> {
    let (env, instant, slow) = set_up(&server.url).await?;
    let env = Arc::new(env);
    let run = |workflow, mode| Arc::new(Job::Run { workflow, mode });
    let jobs: Vec<(&'static str, Arc<Job>)> = vec![
        ("bare call (instant)", Arc::new(Job::Bare { url: instant })),
        ("run live (instant)", run("live-instant", "live")),
        ("bare call (50 ms)", Arc::new(Job::Bare { url: slow })),
        ("run live (50 ms)", run("live-slow", "live")),
        ("run sandbox", run("sandbox", "sandbox")),
        ("webhook ingest", Arc::new(Job::Webhook)),
    ];
    let mut cells = Vec::new();
    'jobs: for (name, job) in &jobs {
        // Warm-up, not counted: connections, caches, the first live call's client.
        for _ in 0..10 {
            if let Err(reason) = job.once(&env).await {
                println!("{name}: warm-up call failed: {reason}");
            }
        }
        let server_side = !matches!(**job, Job::Bare { .. });
        for clients in CONCURRENCY {
            let before = proc_field(server.pid, "io", "write_bytes:");
            let (tally, elapsed) = drive(&env, job, clients, length).await;
            // Sandbox commits reach the disk within 50 ms: let the last ones land.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let after = proc_field(server.pid, "io", "write_bytes:");
            cells.push(Cell {
                job: name,
                clients,
                elapsed,
                latencies: tally.latencies,
                failures: tally.failures,
                written: match (server_side, before, after) {
                    (true, Some(b), Some(a)) => Some(a.saturating_sub(b)),
                    _ => None,
                },
            });
            if let Some(status) = server.exited() {
                // Status 0 is its graceful shutdown, on SIGTERM or SIGINT.
                println!("the server exited ({status}) during {name} with {clients} clients");
                break 'jobs;
            }
        }
    }
    print_table(&cells);
    Ok(env)
}

fn print_table(cells: &[Cell]) {
    let ms = |d: Option<Duration>| {
        d.map(|d| format!("{:.2} ms", d.as_secs_f64() * 1000.0))
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "{:<20} {:>7} {:>7} {:>5} {:>8} {:>10} {:>10} {:>12}",
        "job", "clients", "done", "fail", "req/s", "p50", "p99", "written/run"
    );
    for cell in cells {
        let done = cell.latencies.len();
        let written = match cell.written {
            Some(bytes) if done > 0 => format!("{:.1} KB", bytes as f64 / done as f64 / 1000.0),
            Some(_) => "n/a".into(),
            None => "-".into(),
        };
        println!(
            "{:<20} {:>7} {:>7} {:>5} {:>8.0} {:>10} {:>10} {:>12}",
            cell.job,
            cell.clients,
            done,
            cell.failures.values().sum::<usize>(),
            done as f64 / cell.elapsed.as_secs_f64(),
            ms(cell.p(0.50)),
            ms(cell.p(0.99)),
            written
        );
    }
    for cell in cells.iter().filter(|c| !c.failures.is_empty()) {
        let reasons: Vec<String> = cell
            .failures
            .iter()
            .map(|(reason, n)| format!("{reason} ×{n}"))
            .collect();
        println!(
            "failures, {} with {} clients: {}",
            cell.job,
            cell.clients,
            reasons.join(", ")
        );
    }
    let p50 = |job: &str, clients: usize| {
        cells
            .iter()
            .find(|c| c.job == job && c.clients == clients)
            .and_then(|c| c.p(0.50))
    };
    let ratios: Vec<String> = CONCURRENCY
        .iter()
        .map(|&clients| {
            match (
                p50("run live (50 ms)", clients),
                p50("bare call (50 ms)", clients),
            ) {
                (Some(run), Some(bare)) => format!(
                    "{} {:.3}×",
                    clients_label(clients),
                    run.as_secs_f64() / bare.as_secs_f64()
                ),
                _ => format!("{} n/a", clients_label(clients)),
            }
        })
        .collect();
    println!(
        "run live (50 ms) p50 / bare call (50 ms) p50: {}",
        ratios.join(", ")
    );
}

/// Fills the data dir to `gb` with sandbox runs through the API, stops the server and
/// times `RESTARTS` starts to the "listening" line, each stopped with SIGTERM.
async fn startup(
    server: &mut Server,
    binary: &Path,
    env: &Arc<Env>,
    gb: f64,
) -> Result<(), String> {
    let target = (gb * 1e9) as u64;
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let job = Arc::new(Job::Run {
        workflow: "sandbox",
        mode: "sandbox",
    });
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (env, job, done, runs, failures) = (
                env.clone(),
                job.clone(),
                done.clone(),
                runs.clone(),
                failures.clone(),
            );
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    match job.once(&env).await {
                        Ok(()) => runs.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failures.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let (mut last_runs, mut stalled_since, mut last_print) = (0, Instant::now(), Instant::now());
    let filled = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let size = dir_size(&server.data_dir);
        if size >= target {
            break Ok(size);
        }
        let now_runs = runs.load(Ordering::Relaxed);
        if now_runs > last_runs {
            (last_runs, stalled_since) = (now_runs, Instant::now());
        } else if stalled_since.elapsed() > Duration::from_secs(60) {
            break Err(format!(
                "no run finished for 60 s at {}",
                megabytes(Some(size))
            ));
        }
        if last_print.elapsed() > Duration::from_secs(30) {
            last_print = Instant::now();
            println!(
                "filling: {} after {:.0?}, {now_runs} runs",
                megabytes(Some(size)),
                started.elapsed()
            );
        }
    };
    done.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }
    let size = filled?;
    println!(
        "filled the data dir to {} with {} sandbox runs ({} failed) in {:.1?}",
        megabytes(Some(size)),
        runs.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        started.elapsed()
    );
    let stopped = server.stop().await;
    println!("stopped with SIGTERM in {stopped:.2?}");
    let mut times = Vec::new();
    for _ in 0..RESTARTS {
        let (mut restarted, took) = Server::start(binary, &server.data_dir).await?;
        times.push(took);
        let stopped = restarted.stop().await;
        println!("start to \"listening\": {took:.2?} (stopped in {stopped:.2?})");
    }
    times.sort_unstable();
    println!(
        "start-up on {}: median {:.2?} over {RESTARTS} restarts (min {:.2?}, max {:.2?})",
        megabytes(Some(dir_size(&server.data_dir))),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    Ok(())
}

/// A number from `/proc/{pid}/{file}`, the line starting with `key` (kB in `status`).
fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or_default()
}

fn megabytes(bytes: Option<u64>) -> String {
    bytes
        .map(|b| format!("{:.1} MB", b as f64 / 1e6))
        .unwrap_or_else(|| "n/a".into())
}

fn clients_label(clients: usize) -> String {
    if clients == 1 {
        "1 client".into()
    } else {
        format!("{clients} clients")
    }
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

/// Every run of one workflow of the bench's project, from `GET /runs` page by page.
pub(crate) async fn runs_of(env: &Env, workflow: &str) -> Result<Vec<Value>, String> {
    let mut runs = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!(
            "{}/projects/{}/runs?limit=200&workflow={workflow}",
            env.server, env.project
        );
        if let Some(after) = &after {
            url.push_str(&format!("&after={after}"));
        }
        let answer = env
            .client
            .get(url)
            .bearer_auth(&env.token)
            .send()
            .await
            .map_err(transport)?;
        let mut page = answer_of(answer, 200).await?;
        if let Some(Value::Array(items)) = page.get_mut("runs").map(Value::take) {
            runs.extend(items);
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return Ok(runs),
        }
    }
}

/// How one workflow's runs stand: (succeeded, failed, running).
pub(crate) async fn run_counts(env: &Env, workflow: &str) -> Result<(usize, usize, usize), String> {
    let (mut succeeded, mut failed, mut running) = (0, 0, 0);
    for run in runs_of(env, workflow).await? {
        match run["status"].as_str() {
            Some("succeeded") => succeeded += 1,
            Some("failed") => failed += 1,
            _ => running += 1,
        }
    }
    Ok((succeeded, failed, running))
}

/// A mixed load (waited live runs against the 50 ms provider, sandbox runs), a SIGKILL
/// in its middle, a restart on the same data: how long the restart took, whether every
/// run the server answered as succeeded is still there, and that no run stays running.
async fn kill_in_the_middle(
    server: &mut Server,
    binary: &Path,
    env: &Arc<Env>,
) -> Result<(), String> {
    const WORKFLOWS: [(&str, &str); 2] = [("live-slow", "live"), ("sandbox", "sandbox")];
    let mut before = Vec::new();
    for (workflow, _) in WORKFLOWS {
        before.push(run_counts(env, workflow).await?.0);
    }
    let acknowledged: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let workers: Vec<_> = (0..16)
        .map(|i| {
            let (env, acknowledged) = (env.clone(), acknowledged.clone());
            let (workflow, mode) = WORKFLOWS[i % 2];
            let job = Arc::new(Job::Run { workflow, mode });
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(4);
                while Instant::now() < deadline {
                    if job.once(&env).await.is_ok() {
                        acknowledged[i % 2].fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = server.kill().await;
    for worker in workers {
        let _ = worker.await;
    }
    if !killed {
        return Err("SIGKILL failed".into());
    }
    let (restarted, took) = Server::start(binary, &server.data_dir.clone()).await?;
    *server = restarted;
    let env = Env {
        client: env.client.clone(),
        server: server.url.clone(),
        project: env.project.clone(),
        token: env.token.clone(),
        events: AtomicU64::new(0),
    };
    println!(
        "SIGKILL in a mixed load (8 clients waiting on live runs against the 50 ms provider, 8 on sandbox runs); restart to \"listening\" in {took:.1?}"
    );
    let settle = Instant::now();
    for (i, (workflow, mode)) in WORKFLOWS.iter().enumerate() {
        let mut counts = run_counts(&env, workflow).await?;
        while counts.2 > 0 && settle.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            counts = run_counts(&env, workflow).await?;
        }
        let (succeeded, failed, running) = counts;
        let acked = acknowledged[i].load(Ordering::Relaxed);
        let kept = succeeded.saturating_sub(before[i]) as u64;
        println!(
            "  {mode}: {acked} answered as succeeded; after the restart (within {:.1?}) {kept} succeeded ({}), {failed} failed, {running} running",
            settle.elapsed(),
            if kept >= acked {
                "none answered was lost".to_owned()
            } else {
                format!("{} answered but lost", acked - kept)
            },
        );
    }
    Ok(())
}
