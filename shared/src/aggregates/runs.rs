//! Runs: a workflow's executions, their step traces, the claims that keep a live step
//! from running twice, and the markers of the provider events that started them.
//!
//! The runtime ([`crate::runtime`]) moves a run step by step; this module is where a
//! run and its traces are stored and read, and the use cases the API calls (start a
//! run and wait for it, read one, list them).

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::Error;
use super::projects::keys::project as partition;
use crate::domain::{
    DEDUPE_TTL_SECS, ProjectId, Run, RunId, RunMode, RunStatus, StepTrace, WorkflowId,
};
use crate::ports::{Condition, Deps, Item, Key, Query, StoreError, Write, query_all};
use crate::runtime::{RunTrigger, RuntimeError, StartRun};

/// The runs' keys, all in the project partition.
pub mod keys {
    use crate::domain::{ProjectId, RunId};

    /// A run's item.
    pub fn run(r: &RunId) -> String {
        format!("R#{r}")
    }
    /// The prefix of every run item (and their traces and claims).
    pub const RUN_PREFIX: &str = "R#";
    /// A step's trace.
    pub fn run_step(r: &RunId, step: u32) -> String {
        format!("R#{r}#S#{step:02}")
    }
    /// The prefix of a run's traces.
    pub fn run_steps_prefix(r: &RunId) -> String {
        format!("R#{r}#S#")
    }
    /// A live step's claim: one execution at a time (expiring).
    pub fn run_step_claim(r: &RunId, step: u32) -> String {
        format!("R#{r}#C#{step:02}")
    }
    /// The marker of a provider event that started a run, by the event's hash (provider
    /// ids are not ours to put in keys).
    pub fn run_occasion(occasion_hash: &str) -> String {
        format!("K#{occasion_hash}")
    }
    /// The partition (of its own, across projects) listing the runs still running: what
    /// a start after a crash resumes, read as one query instead of a scan.
    pub const RUNNING: &str = "U#running";
    /// A running run's entry in [`RUNNING`].
    pub fn running(p: &ProjectId, r: &RunId) -> String {
        format!("{p}#{r}")
    }
}

fn running_key(project: &ProjectId, run: &RunId) -> Key {
    Key::new(keys::RUNNING, keys::running(project, run))
}

/// How long runs and their traces are kept by default: 30 days.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

static RETENTION_DAYS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Sets how many days runs and their traces are kept (once, at start-up, from the
/// configuration; later calls change nothing). Until then, [`DEFAULT_RETENTION_DAYS`].
pub fn keep_runs_for(days: u32) {
    let _ = RETENTION_DAYS.set(days);
}

/// When a run started at `started` expires, with its traces (Unix seconds): the stores
/// treat it as absent from then on, and remove it (DynamoDB's TTL, the embedded
/// store's sweep).
fn expiry(started: &chrono::DateTime<chrono::Utc>) -> i64 {
    started.timestamp() + retention_secs()
}

/// How long runs are kept, in seconds (deleted entities in the webhook cache are kept
/// as long).
pub(crate) fn retention_secs() -> i64 {
    let days = *RETENTION_DAYS.get().unwrap_or(&DEFAULT_RETENTION_DAYS);
    i64::from(days) * 24 * 3600
}

fn run_key(project: &ProjectId, run: &RunId) -> Key {
    Key::new(partition(project), keys::run(run))
}

fn trace_key(project: &ProjectId, run: &RunId, step: u32) -> Key {
    Key::new(partition(project), keys::run_step(run, step))
}

/// Where a run's record is, as events name it (`P#…/R#…`).
pub fn run_ref(project: &ProjectId, run: &RunId) -> String {
    format!("{}/{}", partition(project), keys::run(run))
}

/// Where a step's trace is, as events name it (`P#…/R#…#S#nn`).
pub fn trace_ref(project: &ProjectId, run: &RunId, step: u32) -> String {
    format!("{}/{}", partition(project), keys::run_step(run, step))
}

/// A sandbox run's writes are previews and relaxed (see `Store::transact_relaxed`); a
/// live run's are the record of what was sent, and durable.
async fn transact(deps: &Deps, durable: bool, writes: Vec<Write>) -> Result<(), StoreError> {
    if durable {
        deps.store.transact(writes).await
    } else {
        deps.store.transact_relaxed(writes).await
    }
}

/// What storing a new run came to.
pub enum Inserted {
    /// The run is stored.
    New,
    /// Its occasion had started a run before: that run.
    Earlier(Run),
}

/// How a new run's record is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// As the run's mode says: relaxed for sandbox runs, durable for live ones.
    ByMode,
    /// Relaxed even for a live run: its caller answers only after the run's later
    /// commits, and the first durable one (the claim with its audit record, before any
    /// call) makes this one durable too. A crash before it loses a run that had done
    /// nothing and that nobody was told of.
    Relaxed,
}

/// Stores a new run; with an `occasion` (a provider event for one workflow), at most
/// once per occasion: the marker lives as long as webhook dedupe markers.
///
/// # Errors
/// The store's.
pub async fn insert(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    occasion: Option<&str>,
    commit: Commit,
) -> Result<Inserted, StoreError> {
    use sha2::Digest as _;
    let mut writes = vec![Write::Put(
        Item::of(run_key(project, &run.id), run)?.expiring(expiry(&run.started_at)),
        Condition::NotExists,
    )];
    // The occasion is hashed: provider event ids are not ours to put in keys.
    let marker = occasion.map(|o| {
        Key::new(
            partition(project),
            keys::run_occasion(&hex::encode(sha2::Sha256::digest(o.as_bytes()))),
        )
    });
    if let Some(marker) = &marker {
        writes.push(Write::Put(
            Item::new(marker.clone(), json!({"run": run.id}))
                .expiring(deps.clock.now().timestamp() + DEDUPE_TTL_SECS),
            Condition::NotExists,
        ));
    }
    writes.push(Write::Put(
        Item::new(
            running_key(project, &run.id),
            json!({"project": project, "run": run.id}),
        )
        .expiring(expiry(&run.started_at)),
        Condition::Always,
    ));
    let durable = commit == Commit::ByMode && run.mode == RunMode::Live;
    match (transact(deps, durable, writes).await, &marker) {
        (Ok(()), _) => Ok(Inserted::New),
        (Err(StoreError::ConditionFailed { index: Some(1) }), Some(marker)) => {
            let earlier = deps
                .store
                .get(marker)
                .await?
                .and_then(|m| m.doc.get("run").and_then(Value::as_str).map(str::to_owned))
                .ok_or_else(|| StoreError::Unavailable("run marker vanished; retry".into()))?;
            let earlier = RunId::parse(&earlier).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let earlier = get(deps, project, &earlier)
                .await?
                .ok_or_else(|| StoreError::Corrupt("a run marker names a missing run".into()))?;
            Ok(Inserted::Earlier(earlier))
        }
        (Err(e), _) => Err(e),
    }
}

/// A run, if the project has it.
///
/// # Errors
/// The store's.
pub async fn get(deps: &Deps, project: &ProjectId, id: &RunId) -> Result<Option<Run>, StoreError> {
    crate::ports::get_as(deps.store.as_ref(), &run_key(project, id)).await
}

/// Whether a step's trace exists (the step is done).
///
/// # Errors
/// The store's.
pub async fn has_trace(
    deps: &Deps,
    project: &ProjectId,
    run: &RunId,
    step: u32,
) -> Result<bool, StoreError> {
    Ok(deps
        .store
        .get(&trace_key(project, run, step))
        .await?
        .is_some())
}

/// A run's traces, in step order.
///
/// # Errors
/// The store's.
pub async fn traces(
    deps: &Deps,
    project: &ProjectId,
    run: &RunId,
) -> Result<Vec<StepTrace>, StoreError> {
    let query = Query::prefix(partition(project), keys::run_steps_prefix(run));
    query_all(deps.store.as_ref(), query)
        .await?
        .iter()
        .map(|item| item.parse())
        .collect()
}

/// The claim on a live step, for the transaction that audits the opening of its
/// credentials: written only if absent, kept as long as the run. A claim without a
/// trace is a live step that may have reached the provider: it is never sent again.
pub(crate) fn claim(deps: &Deps, project: &ProjectId, run: &Run, step: u32) -> Write {
    Write::Put(
        Item::new(
            Key::new(partition(project), keys::run_step_claim(&run.id, step)),
            json!({"claimed_at": deps.clock.now()}),
        )
        .expiring(expiry(&run.started_at)),
        Condition::NotExists,
    )
}

/// When a step of the run was claimed, if it was.
///
/// # Errors
/// The store's.
pub async fn claimed_at(
    deps: &Deps,
    project: &ProjectId,
    run: &RunId,
    step: u32,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
    let key = Key::new(partition(project), keys::run_step_claim(run, step));
    Ok(deps
        .store
        .get(&key)
        .await?
        .and_then(|item| item.doc.get("claimed_at").cloned())
        .and_then(|at| serde_json::from_value(at).ok()))
}

/// The runs still running, across projects, as the running index lists them (a run
/// that ended removes its entry in the transaction that ends it).
///
/// # Errors
/// The store's.
pub async fn running(deps: &Deps) -> Result<Vec<(ProjectId, RunId)>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        project: ProjectId,
        run: RunId,
    }
    query_all(deps.store.as_ref(), Query::prefix(keys::RUNNING, ""))
        .await?
        .iter()
        .map(|item| item.parse::<Entry>().map(|e| (e.project, e.run)))
        .collect()
}

/// Removes a run's entry from the running index (a run found ended, or gone).
///
/// # Errors
/// The store's.
pub async fn forget_running(
    deps: &Deps,
    project: &ProjectId,
    run: &RunId,
) -> Result<(), StoreError> {
    deps.store
        .delete(&running_key(project, run), Condition::Always)
        .await
}

fn ended(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    status: RunStatus,
) -> Result<Item, StoreError> {
    let mut done = run.clone();
    done.status = status;
    done.finished_at = Some(deps.clock.now());
    Ok(Item::of(run_key(project, &run.id), &done)?.expiring(expiry(&run.started_at)))
}

fn still_running() -> Condition {
    Condition::FieldEquals {
        field: "status".into(),
        value: json!("running"),
    }
}

/// Stores a step's trace (written only if absent: a duplicate delivery that got this
/// far finds it and stops) and, if the run ends with it, the run's final status, in one
/// transaction.
///
/// # Errors
/// `ConditionFailed` when the trace exists (a duplicate); the store's.
pub async fn record_trace(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    trace: &StepTrace,
    end: Option<RunStatus>,
) -> Result<(), StoreError> {
    let trace =
        Item::of(trace_key(project, &run.id, trace.step), trace)?.expiring(expiry(&run.started_at));
    let mut writes = vec![Write::Put(trace.clone(), Condition::NotExists)];
    if let Some(status) = end {
        // The run's end (index 1), and its running entry gone with it.
        writes.push(Write::Put(
            ended(deps, project, run, status)?,
            still_running(),
        ));
        writes.push(Write::Delete(
            running_key(project, &run.id),
            Condition::Always,
        ));
    }
    let durable = run.mode == RunMode::Live;
    match transact(deps, durable, writes).await {
        // The run was ended meanwhile (not by this step: its trace did not exist), so
        // only the trace is stored.
        Err(StoreError::ConditionFailed { index: Some(1) }) => {
            transact(deps, durable, vec![Write::Put(trace, Condition::NotExists)]).await
        }
        Ok(()) => {
            if end.is_some() {
                wake(&run.id);
            }
            Ok(())
        }
        other => other,
    }
}

/// Ends a run that is still running (a run ended meanwhile is left as it is).
///
/// # Errors
/// The store's.
pub async fn end(
    deps: &Deps,
    project: &ProjectId,
    run: &Run,
    status: RunStatus,
) -> Result<(), StoreError> {
    let writes = vec![
        Write::Put(ended(deps, project, run, status)?, still_running()),
        Write::Delete(running_key(project, &run.id), Condition::Always),
    ];
    match deps.store.transact(writes).await {
        Ok(()) => {
            wake(&run.id);
            Ok(())
        }
        Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A run as the API shows it: the run, and its traces under `steps`.
///
/// # Errors
/// `NotFound`; the store's.
pub async fn view(deps: &Deps, project: &ProjectId, id: &RunId) -> Result<Value, Error> {
    let run = get(deps, project, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("the project has no run {id}")))?;
    let steps = traces(deps, project, id).await?;
    let mut body = serde_json::to_value(&run).map_err(|e| Error::Internal(e.to_string()))?;
    body["steps"] = serde_json::to_value(steps).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(body)
}

/// How long [`start`] waits for a run to finish before answering that it is running.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// The longest pause between two reads of a waited run that has not ended. A run that
/// ends in this process wakes its waiter at once; one that ends elsewhere (another
/// Lambda instance) is seen at the next read: 1 ms after the start, then doubling up
/// to this.
const MAX_POLL: std::time::Duration = std::time::Duration::from_millis(50);

type Waiters = std::sync::Mutex<std::collections::HashMap<RunId, Arc<Notify>>>;

/// Process-local wake-ups: the waiters of runs, by run id. A run that ends in this
/// process wakes its waiter; one that ends in another is found by the waiter's reads.
fn waiters() -> &'static Waiters {
    static WAITERS: std::sync::OnceLock<Waiters> = std::sync::OnceLock::new();
    WAITERS.get_or_init(Default::default)
}

/// Wakes whoever waits for this run here (its end is stored).
fn wake(run: &RunId) {
    let waiter = waiters().lock().ok().and_then(|w| w.get(run).cloned());
    if let Some(waiter) = waiter {
        waiter.notify_waiters();
    }
}

/// A waiter's registration, removed when it is dropped.
struct Waiting {
    run: RunId,
    notify: Arc<Notify>,
}

impl Waiting {
    fn new(run: &RunId) -> Self {
        let notify = Arc::new(Notify::new());
        if let Ok(mut w) = waiters().lock() {
            w.insert(run.clone(), notify.clone());
        }
        Self {
            run: run.clone(),
            notify,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Ok(mut w) = waiters().lock() {
            w.remove(&self.run);
        }
    }
}

/// A run to start, as the API asks for it.
pub struct NewRun {
    /// The workflow to run.
    pub workflow: WorkflowId,
    /// Sandbox (nothing sent) or live.
    pub mode: RunMode,
    /// What started it.
    pub trigger: RunTrigger,
    /// Wait (up to [`WAIT`]) for it to finish.
    pub wait: bool,
}

/// A started run, as the API shows it, and whether it has finished.
pub struct Started {
    /// The run and its traces so far.
    pub view: Value,
    /// Whether it finished within the wait.
    pub finished: bool,
}

/// Starts a run and, if asked, waits for it to finish.
///
/// # Errors
/// `Invalid` for a workflow that does not exist or has no steps; `Unavailable`; the
/// store's.
pub async fn start(deps: &Deps, project: &ProjectId, new: NewRun) -> Result<Started, Error> {
    let start = StartRun {
        project: project.clone(),
        workflow: new.workflow,
        mode: new.mode,
        trigger: new.trigger,
    };
    let started = if new.wait {
        crate::runtime::start_run_waited(deps, start).await
    } else {
        crate::runtime::start_run(deps, start).await
    };
    let run = started.map_err(|e| match e {
        RuntimeError::NotFound(m) | RuntimeError::Invalid(m) => Error::invalid("workflow", m),
        RuntimeError::Unavailable(m) => Error::Unavailable(m),
        other => Error::Internal(other.to_string()),
    })?;
    let deadline = tokio::time::Instant::now()
        + if new.wait {
            WAIT
        } else {
            std::time::Duration::ZERO
        };
    let waiting = Waiting::new(&run.id);
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        // Armed before the read: an end stored after the read still wakes this loop.
        let woken = waiting.notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let view = view(deps, project, &run.id).await?;
        let finished = view["status"] != json!("running");
        let now = tokio::time::Instant::now();
        if finished || now >= deadline {
            return Ok(Started { view, finished });
        }
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep(pause.min(deadline - now)) => {
                pause = (pause * 2).min(MAX_POLL);
            }
        }
    }
}

/// A page of runs, newest first.
pub struct RunPage {
    /// The runs.
    pub runs: Vec<Run>,
    /// The cursor of the next page (a run id), if the page is full.
    pub next: Option<String>,
}

/// Which runs a listing shows.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this workflow's runs.
    pub workflow: Option<WorkflowId>,
    /// Only the runs from this source (a workflow's trigger, or an agent's call).
    pub source: Option<crate::domain::RunSource>,
}

impl RunFilter {
    fn admits(&self, run: &Run) -> bool {
        self.workflow
            .as_ref()
            .is_none_or(|w| run.workflow.as_ref() == Some(w))
            && self.source.is_none_or(|s| s == run.source)
    }
}

/// Up to `limit` (1 to 200) runs newest first (run ids are time-ordered), after the
/// run `after`, optionally of one workflow.
///
/// # Errors
/// `Invalid` for a limit out of range; the store's.
pub async fn list(
    deps: &Deps,
    project: &ProjectId,
    filter: &RunFilter,
    limit: usize,
    after: Option<&RunId>,
) -> Result<RunPage, Error> {
    if !(1..=200).contains(&limit) {
        return Err(Error::invalid("limit", "must be between 1 and 200"));
    }
    let mut query = Query::prefix(partition(project), keys::RUN_PREFIX);
    query.descending = true;
    query.after = after.map(keys::run);
    let mut runs = Vec::new();
    let mut more = true;
    while runs.len() < limit && more {
        let page = deps.store.query(&query).await?;
        for item in &page.items {
            // Step traces and claims share the run's prefix (R#{run}#S#nn, R#{run}#C#nn);
            // only run items count.
            if item.key.sk.matches('#').count() > 1 {
                continue;
            }
            let run: Run = item.parse()?;
            if filter.admits(&run) && runs.len() < limit {
                runs.push(run);
            }
        }
        more = page.next.is_some();
        query.after = page.next;
    }
    let next = if runs.len() == limit {
        runs.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(RunPage { runs, next })
}
