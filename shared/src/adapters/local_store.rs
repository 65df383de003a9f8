//! `LocalStore`: the single table in a local database file (redb).
//!
//! redb is an embedded, pure-Rust, ACID key-value store: one file, crash-safe
//! commits, ordered keys. Every write runs in a redb write transaction; redb admits
//! one writer at a time, so a condition checked inside the transaction still holds
//! when the transaction commits — the same guarantee DynamoDB's conditional writes give.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ports::{
    Clock, Condition, Item, Key, Page, Query, Store, StoreError, Write, check_transaction,
};

/// Keys are `pk 0x00 sk`: 0x00 never occurs in keys (identifiers are checked), and
/// 0xFF never occurs in UTF-8, which makes it a prefix's upper bound. Byte order is the
/// order DynamoDB sorts string sort keys in, so both stores page identically.
const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");

/// The page cache's size when none is given: small, so the process stays small; reads
/// of a large file then come from the operating system's cache.
pub const DEFAULT_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// How often the writer removes expired items, when it is otherwise idle.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Items one sweep step reads (the next step goes on from where it stopped; a full pass
/// over the table takes as many steps as it needs).
const SWEEP_SCAN: usize = 20_000;

#[derive(Serialize, Deserialize)]
struct Stored {
    doc: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// A stored value as written: the document borrowed, not copied.
#[derive(Serialize)]
struct StoredRef<'a, D: Serialize + ?Sized> {
    doc: &'a D,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// A stored value as a condition reads it: the document left unparsed until a
/// condition needs its fields (`NotExists` and `Exists` only need to know it is live).
#[derive(Deserialize)]
struct StoredRaw<'a> {
    #[serde(borrow)]
    doc: &'a serde_json::value::RawValue,
    #[serde(default)]
    expires_at: Option<i64>,
}

/// The embedded [`Store`]: one redb database file, with the same conditions, limits and
/// paging as DynamoDB.
pub struct LocalStore {
    /// The database; `None` once [`LocalStore::close`] has run.
    db: std::sync::RwLock<Option<Arc<Database>>>,
    clock: Arc<dyn Clock>,
    /// The queue to the writer thread (see [`writer`]).
    writer: std::sync::Mutex<std::sync::mpsc::Sender<Message>>,
    /// What the writer thread and relaxed writers on the caller's thread share.
    commits: Arc<Commits>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("local database: {e}"))
}

fn encode_key(key: &Key) -> Result<Vec<u8>, StoreError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(StoreError::Invalid(
            "partition and sort keys must not be empty".into(),
        ));
    }
    if key.pk.contains('\0') || key.sk.contains('\0') {
        return Err(StoreError::Invalid("keys must not contain NUL".into()));
    }
    let mut out = Vec::with_capacity(key.pk.len() + 1 + key.sk.len());
    out.extend_from_slice(key.pk.as_bytes());
    out.push(0);
    out.extend_from_slice(key.sk.as_bytes());
    Ok(out)
}

fn decode_key(raw: &[u8]) -> Result<Key, StoreError> {
    let split = raw
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| StoreError::Corrupt("key without separator".into()))?;
    let pk = std::str::from_utf8(&raw[..split]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sk =
        std::str::from_utf8(&raw[split + 1..]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Key::new(pk, sk))
}

/// DynamoDB TTL semantics: an item whose expiry has passed counts as gone to reads,
/// queries and conditions, even before it is physically removed.
fn expired(expires_at: Option<i64>, now: i64) -> bool {
    matches!(expires_at, Some(at) if at <= now)
}

/// The database holds traces and cached entities, which carry personal data: the file
/// is created readable by its owner only (0600), and an older file is made so.
fn private_file(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(unavailable)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(unavailable)?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn decode_value(raw: &[u8]) -> Result<Stored, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl LocalStore {
    /// Opens (or creates) the database file, with the default page cache
    /// ([`DEFAULT_CACHE_BYTES`]). Its folder must exist.
    ///
    /// # Errors
    /// `Unavailable` when the file cannot be opened (another process holds it, the
    /// folder is missing, the file is not a database).
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Self::open_with_cache(path, clock, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the database file with a page cache of `cache_bytes`.
    ///
    /// # Errors
    /// As [`LocalStore::open`].
    pub fn open_with_cache(
        path: &Path,
        clock: Arc<dyn Clock>,
        cache_bytes: usize,
    ) -> Result<Self, StoreError> {
        private_file(path)?;
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(unavailable)?;
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(ITEMS).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        let db = Arc::new(db);
        let (queue, receiver) = std::sync::mpsc::channel();
        let commits = Arc::new(Commits::default());
        let (writer_db, writer_clock, writer_commits) =
            (Arc::clone(&db), Arc::clone(&clock), Arc::clone(&commits));
        // The thread ends when the store (the queue's only sender) is dropped.
        std::thread::Builder::new()
            .name("local-store-writer".into())
            .spawn(move || writer(writer_db, writer_clock, writer_commits, receiver))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the store's writer: {e}"))
            })?;
        Ok(Self {
            db: std::sync::RwLock::new(Some(db)),
            clock,
            writer: std::sync::Mutex::new(queue),
            commits,
        })
    }

    fn live(&self, stored: Stored) -> Option<Value> {
        (!expired(stored.expires_at, self.clock.now().timestamp())).then_some(stored.doc)
    }

    /// Runs a read. redb reads are short and never wait for the writer (MVCC: a read
    /// transaction sees the last commit), so they run on the calling thread: a hand-off
    /// to a blocking thread would cost more than the read itself.
    fn read<T>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let db = self.database()?;
        work(&db)
    }

    /// The open database, or `Unavailable` once closed.
    fn database(&self) -> Result<Arc<Database>, StoreError> {
        self.db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the local database is closed".into()))
    }

    /// Removes the items whose expiry has passed (reads already treat them as gone), in
    /// one pass over the table, and answers how many. The writer also sweeps on its own
    /// when idle, a step of 20,000 items at a time (a pass a minute, or a step a second
    /// while a pass is under way); freed pages are reused, so a database whose items
    /// expire stops growing.
    ///
    /// # Errors
    /// `Unavailable` when the writer has stopped or the commit fails.
    pub fn sweep_expired(&self) -> Result<usize, StoreError> {
        let (done, answer) = std::sync::mpsc::channel();
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Message::Sweep(done))
            .map_err(|_| StoreError::Unavailable("the store's writer stopped".into()))?;
        answer
            .recv()
            .map_err(|_| StoreError::Unavailable("the store's writer stopped".into()))?
    }

    /// Ends the store cleanly: every write queued is committed, the last commit is
    /// made durable, the writer thread ends, and the database file is closed, so the
    /// next start does no recovery. Reads and writes after this are `Unavailable`.
    /// Waits up to 5 s for reads in flight to end.
    ///
    /// # Errors
    /// `Unavailable` when the final flush or the close fails (the next start then
    /// recovers the file).
    pub fn close(&self) -> Result<(), StoreError> {
        let (done, answer) = std::sync::mpsc::channel();
        let sent = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Message::Close(done));
        let flushed = match sent {
            Ok(()) => answer
                .recv()
                .unwrap_or_else(|_| Err(unavailable("the writer stopped before closing"))),
            Err(_) => Ok(()),
        };
        let Some(mut db) = self.db.write().unwrap_or_else(|p| p.into_inner()).take() else {
            return flushed;
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match Arc::try_unwrap(db) {
                Ok(database) => {
                    flushed?;
                    return database.close().map_err(unavailable);
                }
                Err(shared) if std::time::Instant::now() < deadline => {
                    db = shared;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(_) => {
                    return Err(unavailable(
                        "reads still in flight after 5 s; the file closes when they end",
                    ));
                }
            }
        }
    }
}

/// One caller's writes, waiting for the writer thread.
struct Pending {
    writes: Vec<Prepared>,
    /// False for [`Store::transact_relaxed`]: may be answered before the fsync.
    durable: bool,
    reply: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

enum Message {
    Write(Pending),
    /// A relaxed commit was made on a caller's thread: flush within RELAXED_FLUSH.
    Unflushed,
    /// Remove expired items now (and answer how many, if asked).
    Sweep(std::sync::mpsc::Sender<Result<usize, StoreError>>),
    /// Commit what is queued, flush, answer, and end the thread.
    Close(std::sync::mpsc::Sender<Result<(), StoreError>>),
}

/// Shared by the writer thread and relaxed writes made on the caller's thread.
#[derive(Default)]
struct Commits {
    /// Held for every write transaction, so a caller can tell (`try_lock`) whether one
    /// is running instead of waiting in redb for it.
    gate: std::sync::Mutex<()>,
    /// Some commit since the last durable one is in memory only. Changed under `gate`.
    unflushed: std::sync::atomic::AtomicBool,
}

impl Commits {
    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Most transactions one commit takes.
const MAX_BATCH: usize = 512;

/// The writer thread: group commit. redb admits one writer at a time and each durable
/// commit costs an fsync, so a commit per caller caps the store at a few thousand
/// writes a second. The thread takes every transaction queued while the previous
/// commit ran, applies them one after the other inside one redb write transaction —
/// each checks its conditions against the state the ones before it left, and writes
/// nothing if one fails, exactly as if it ran alone — commits once, then answers each
/// caller. Nobody is answered before the commit that holds their writes is durable,
/// except relaxed writers, whose commits the thread makes durable within
/// [`crate::ports::RELAXED_FLUSH`] (a durable commit persists every commit before it).
fn writer(
    db: Arc<Database>,
    clock: Arc<dyn Clock>,
    commits: Arc<Commits>,
    queue: std::sync::mpsc::Receiver<Message>,
) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut flush_at: Option<std::time::Instant> = None;
    let mut sweep_at = std::time::Instant::now() + SWEEP_EVERY;
    // Where the sweep goes on from (the key it stopped after); `None` at a pass's start.
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        let wake_at = flush_at.map_or(sweep_at, |at| at.min(sweep_at));
        let first = match queue
            .recv_timeout(wake_at.saturating_duration_since(std::time::Instant::now()))
        {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => {
                let now = std::time::Instant::now();
                if flush_at.is_some_and(|at| now >= at) && flush(&db, &commits).is_ok() {
                    flush_at = None;
                }
                if now >= sweep_at {
                    // One step now; the next one soon if the pass is not over.
                    sweep_at = match sweep(&db, &commits, clock.now().timestamp(), &mut cursor) {
                        Ok((_, false)) => now + std::time::Duration::from_secs(1),
                        Ok((_, true)) => now + SWEEP_EVERY,
                        Err(error) => {
                            tracing::warn!(%error, "expired items not removed; trying again later");
                            now + SWEEP_EVERY
                        }
                    };
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = flush(&db, &commits);
                return;
            }
        };
        let mut batch = Vec::new();
        let mut controls = Vec::new();
        let mut take =
            |message: Message,
             batch: &mut Vec<Pending>,
             flush_at: &mut Option<std::time::Instant>| match message {
                Message::Write(pending) => batch.push(pending),
                Message::Unflushed => {
                    flush_at.get_or_insert_with(|| {
                        std::time::Instant::now() + crate::ports::RELAXED_FLUSH
                    });
                }
                control => controls.push(control),
            };
        take(first, &mut batch, &mut flush_at);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => take(next, &mut batch, &mut flush_at),
                Err(_) => break,
            }
        }
        commit_batch(&db, &clock, &commits, batch, &mut flush_at);
        for control in controls {
            match control {
                Message::Sweep(answer) => {
                    let swept = sweep_all(&db, &commits, clock.now().timestamp());
                    if swept.is_ok() {
                        flush_at = None;
                    }
                    let _ = answer.send(swept);
                }
                Message::Close(answer) => {
                    let _ = answer.send(flush(&db, &commits));
                    return;
                }
                Message::Write(_) | Message::Unflushed => {}
            }
        }
    }
}

/// Commits one batch of transactions in one redb write transaction and answers each
/// caller (see [`writer`]).
fn commit_batch(
    db: &Database,
    clock: &Arc<dyn Clock>,
    commits: &Commits,
    batch: Vec<Pending>,
    flush_at: &mut Option<std::time::Instant>,
) {
    use std::sync::atomic::Ordering;
    {
        if batch.is_empty() {
            return;
        }
        // One durable caller makes the whole commit durable, and with it every
        // relaxed commit before it.
        let durable = batch.iter().any(|p| p.durable)
            || flush_at.is_some_and(|at| std::time::Instant::now() >= at);
        let now = clock.now().timestamp();
        let gate = commits.lock();
        if durable {
            commits.unflushed.store(false, Ordering::SeqCst);
        }
        let outcome = (|| -> Result<Vec<Result<(), StoreError>>, StoreError> {
            let mut txn = db.begin_write().map_err(unavailable)?;
            if !durable {
                txn.set_durability(redb::Durability::None)
                    .map_err(unavailable)?;
            }
            let mut results = Vec::with_capacity(batch.len());
            {
                let mut table = txn.open_table(ITEMS).map_err(unavailable)?;
                for pending in &batch {
                    results.push(apply(&mut table, &pending.writes, now)?);
                }
            }
            txn.commit().map_err(unavailable)?;
            Ok(results)
        })();
        match outcome {
            Ok(results) => {
                if durable {
                    *flush_at = None;
                } else {
                    commits.unflushed.store(true, Ordering::SeqCst);
                    flush_at.get_or_insert_with(|| {
                        std::time::Instant::now() + crate::ports::RELAXED_FLUSH
                    });
                }
                drop(gate);
                for (pending, result) in batch.into_iter().zip(results) {
                    let _ = pending.reply.send(result);
                }
            }
            Err(fatal) => {
                if durable {
                    // Earlier relaxed commits may still be in memory only.
                    commits.unflushed.store(true, Ordering::SeqCst);
                    flush_at.get_or_insert_with(std::time::Instant::now);
                }
                drop(gate);
                // Nothing of this batch was committed: every caller learns so.
                for pending in batch {
                    let _ = pending.reply.send(Err(fatal.clone()));
                }
            }
        }
    }
}

/// One sweep step: reads up to [`SWEEP_SCAN`] items from `cursor` on, removes those
/// whose expiry has passed, in one durable commit (which also makes every relaxed
/// commit before it durable), and moves the cursor past them (back to the start at the
/// end of the table). Answers how many items it removed and whether it reached the end.
/// A scan, in steps, rather than an index of expiries: an index would cost every write
/// that expires (most of a run's) one more tree insert.
fn sweep(
    db: &Database,
    commits: &Commits,
    now: i64,
    cursor: &mut Option<Vec<u8>>,
) -> Result<(usize, bool), StoreError> {
    let _gate = commits.lock();
    commits
        .unflushed
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let result = (|| -> Result<(usize, bool), StoreError> {
        let txn = db.begin_write().map_err(unavailable)?;
        let removed;
        let mut next = None;
        {
            let mut items = txn.open_table(ITEMS).map_err(unavailable)?;
            let mut due = Vec::new();
            let mut read = 0;
            let range = match cursor.as_deref() {
                Some(from) => items.range::<&[u8]>((Bound::Excluded(from), Bound::Unbounded)),
                None => items.range::<&[u8]>(..),
            }
            .map_err(unavailable)?;
            for entry in range {
                let (key, value) = entry.map_err(unavailable)?;
                read += 1;
                let stored: StoredRaw = serde_json::from_slice(value.value())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if expired(stored.expires_at, now) {
                    due.push(key.value().to_vec());
                }
                if read == SWEEP_SCAN {
                    next = Some(key.value().to_vec());
                    break;
                }
            }
            for key in &due {
                items.remove(key.as_slice()).map_err(unavailable)?;
            }
            removed = due.len();
        }
        txn.commit().map_err(unavailable)?;
        let finished = next.is_none();
        *cursor = next;
        Ok((removed, finished))
    })();
    if result.is_err() {
        commits
            .unflushed
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    result
}

/// A whole pass over the table, in sweep steps: the number of items removed.
fn sweep_all(db: &Database, commits: &Commits, now: i64) -> Result<usize, StoreError> {
    let mut cursor = None;
    let mut removed = 0;
    loop {
        let (step, finished) = sweep(db, commits, now, &mut cursor)?;
        removed += step;
        if finished {
            return Ok(removed);
        }
    }
}

/// An empty durable commit: makes every relaxed commit before it durable.
fn flush(db: &Database, commits: &Commits) -> Result<(), StoreError> {
    let _gate = commits.lock();
    commits
        .unflushed
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let result = db
        .begin_write()
        .map_err(unavailable)
        .and_then(|txn| txn.commit().map_err(unavailable));
    if result.is_err() {
        commits
            .unflushed
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    result
}

/// One write, encoded on the caller's thread (key bytes, value bytes): the writer
/// thread, which every write goes through, only checks conditions and touches the
/// tree.
struct Prepared {
    key: Vec<u8>,
    op: Op,
    condition: Condition,
}

enum Op {
    Put(Vec<u8>),
    Delete,
    Check,
    Add { field: String, delta: i64 },
}

/// Encodes a caller's writes; an invalid key fails the caller alone.
fn prepare(writes: Vec<Write>) -> Result<Vec<Prepared>, StoreError> {
    writes
        .into_iter()
        .map(|write| {
            let key = encode_key(write.key())?;
            Ok(match write {
                Write::Put(item, condition) => Prepared {
                    key,
                    op: Op::Put(
                        serde_json::to_vec(&StoredRef {
                            doc: &item.doc,
                            expires_at: item.expires_at,
                        })
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                    ),
                    condition,
                },
                Write::PutRaw(item, condition) => Prepared {
                    key,
                    op: Op::Put(
                        serde_json::to_vec(&StoredRef {
                            doc: &*item.json,
                            expires_at: item.expires_at,
                        })
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                    ),
                    condition,
                },
                Write::Delete(_, condition) => Prepared {
                    key,
                    op: Op::Delete,
                    condition,
                },
                Write::Check(_, condition) => Prepared {
                    key,
                    op: Op::Check,
                    condition,
                },
                Write::Add { field, delta, .. } => Prepared {
                    key,
                    op: Op::Add { field, delta },
                    condition: Condition::Exists,
                },
            })
        })
        .collect()
}

/// One top-level field of a JSON object, parsed on its own: the rest of the document is
/// only scanned (a condition on an entity's revision need not build its whole state).
/// As with `Value`, the last of duplicate keys wins; `None` when the field is absent.
fn top_level_field(doc: &str, field: &str) -> Result<Option<Value>, serde_json::Error> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Field<'f>(&'f str);
    impl<'de> Visitor<'de> for Field<'_> {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(wanted) = map.next_key_seed(Key(self.0))? {
                if wanted {
                    found = Some(map.next_value::<Value>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    /// A key, compared with the field's name without being copied.
    struct Key<'f>(&'f str);
    impl<'de> Visitor<'de> for Key<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a key")
        }
        fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
            Ok(key == self.0)
        }
    }
    impl<'de> DeserializeSeed<'de> for Key<'_> {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }
    impl<'de> DeserializeSeed<'de> for Field<'_> {
        type Value = Option<Value>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    let mut de = serde_json::Deserializer::from_str(doc);
    let found = Field(field).deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

/// Applies one caller's writes inside the batch's transaction. The outer error is
/// fatal to the whole batch (storage failure); the inner result is this caller's.
fn apply(
    table: &mut redb::Table<&[u8], &[u8]>,
    writes: &[Prepared],
    now: i64,
) -> Result<Result<(), StoreError>, StoreError> {
    // Check every condition (and compute every counter) first, then write: a failed
    // condition leaves the table as this caller found it.
    let mut added = Vec::new();
    for (index, write) in writes.iter().enumerate() {
        let holds = match &write.condition {
            Condition::Always => true,
            condition => {
                let raw = table.get(write.key.as_slice()).map_err(unavailable)?;
                let live = match &raw {
                    Some(raw) => {
                        let stored: StoredRaw = serde_json::from_slice(raw.value())
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        (!expired(stored.expires_at, now)).then_some(stored)
                    }
                    None => None,
                };
                if let (Op::Add { field, delta }, Some(stored)) = (&write.op, &live) {
                    match add_to(stored, field, *delta)? {
                        Ok(bytes) => added.push(bytes),
                        Err(e) => return Ok(Err(e)),
                    }
                }
                holds(condition, live.map(|s| s.doc))?
            }
        };
        if !holds {
            return Ok(Err(StoreError::ConditionFailed {
                index: if writes.len() > 1 { Some(index) } else { None },
            }));
        }
    }
    let mut added = added.into_iter();
    for write in writes {
        match &write.op {
            Op::Put(value) => {
                table
                    .insert(write.key.as_slice(), value.as_slice())
                    .map_err(unavailable)?;
            }
            Op::Add { .. } => {
                if let Some(value) = added.next() {
                    table
                        .insert(write.key.as_slice(), value.as_slice())
                        .map_err(unavailable)?;
                }
            }
            Op::Delete => {
                table.remove(write.key.as_slice()).map_err(unavailable)?;
            }
            Op::Check => {}
        }
    }
    Ok(Ok(()))
}

/// Whether a condition holds on the live document (`None`: absent or expired).
fn holds(
    condition: &Condition,
    live: Option<&serde_json::value::RawValue>,
) -> Result<bool, StoreError> {
    Ok(match (condition, live) {
        (Condition::NotExists, live) => live.is_none(),
        (Condition::Exists, live) => live.is_some(),
        (_, None) => condition.holds(None),
        (Condition::FieldEquals { field, value }, Some(doc)) => {
            top_level_field(doc.get(), field)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?
                .as_ref()
                == Some(value)
        }
        (_, Some(doc)) => {
            let doc: Value =
                serde_json::from_str(doc.get()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            condition.holds(Some(&doc))
        }
    })
}

/// The stored bytes of a document whose integer field grew by `delta` (an absent field
/// counts as 0); the caller's error when the field holds something else.
fn add_to(
    stored: &StoredRaw,
    field: &str,
    delta: i64,
) -> Result<Result<Vec<u8>, StoreError>, StoreError> {
    let mut doc: Value =
        serde_json::from_str(stored.doc.get()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let Some(object) = doc.as_object_mut() else {
        return Ok(Err(StoreError::Invalid(
            "a counter's item is not a JSON object".into(),
        )));
    };
    let current = match object.get(field) {
        None => 0,
        Some(value) => match value.as_i64() {
            Some(n) => n,
            None => {
                return Ok(Err(StoreError::Invalid(format!(
                    "field {field} is not an integer"
                ))));
            }
        },
    };
    let Some(next) = current.checked_add(delta) else {
        return Ok(Err(StoreError::Invalid(format!("field {field} overflows"))));
    };
    object.insert(field.to_owned(), Value::from(next));
    let bytes = serde_json::to_vec(&StoredRef {
        doc: &doc,
        expires_at: stored.expires_at,
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Ok(bytes))
}

#[async_trait]
impl Store for LocalStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let raw_key = encode_key(key)?;
        let found = self.read(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ITEMS).map_err(unavailable)?;
            let raw = table.get(raw_key.as_slice()).map_err(unavailable)?;
            raw.map(|v| decode_value(v.value())).transpose()
        })?;
        Ok(found.and_then(|stored| {
            let expires_at = stored.expires_at;
            self.live(stored).map(|doc| Item {
                key: key.clone(),
                doc,
                expires_at,
            })
        }))
    }

    async fn get_json(
        &self,
        key: &Key,
    ) -> Result<Option<Box<serde_json::value::RawValue>>, StoreError> {
        let raw_key = encode_key(key)?;
        let now = self.clock.now().timestamp();
        self.read(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ITEMS).map_err(unavailable)?;
            let Some(raw) = table.get(raw_key.as_slice()).map_err(unavailable)? else {
                return Ok(None);
            };
            let stored: StoredRaw = serde_json::from_slice(raw.value())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok((!expired(stored.expires_at, now)).then(|| stored.doc.to_owned()))
        })
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.transact_unchecked(vec![Write::Put(item, condition)])
            .await
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.transact_unchecked(vec![Write::Delete(key.clone(), condition)])
            .await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_transaction(&writes)?;
        self.transact_unchecked(writes).await
    }

    async fn transact_relaxed(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_transaction(&writes)?;
        let writes = prepare(writes)?;
        match self.relaxed_here(&writes) {
            Some(result) => result,
            None => self.enqueue(writes, false).await,
        }
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.limit == 0 {
            return Err(StoreError::Invalid(
                "a query's limit must be at least 1".into(),
            ));
        }
        let mut prefix = encode_key(&Key::new(query.pk.clone(), "x"))?;
        prefix.pop();
        prefix.extend_from_slice(query.sk_prefix.as_bytes());
        let mut upper = prefix.clone();
        upper.push(0xFF);
        let after = match &query.after {
            Some(sk) => Some(encode_key(&Key::new(query.pk.clone(), sk.clone()))?),
            None => None,
        };
        let (descending, limit) = (query.descending, query.limit);
        let now = self.clock.now().timestamp();
        let rows = self.read(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ITEMS).map_err(unavailable)?;
            let (lower, upper): (Bound<&[u8]>, Bound<&[u8]>) = match (&after, descending) {
                (Some(a), false) => (
                    Bound::Excluded(a.as_slice().max(prefix.as_slice())),
                    Bound::Excluded(upper.as_slice()),
                ),
                (Some(a), true) => (
                    Bound::Included(prefix.as_slice()),
                    Bound::Excluded(a.as_slice().min(upper.as_slice())),
                ),
                (None, _) => (
                    Bound::Included(prefix.as_slice()),
                    Bound::Excluded(upper.as_slice()),
                ),
            };
            if lower_after_upper(lower, upper) {
                return Ok(Vec::new());
            }
            let range = table.range::<&[u8]>((lower, upper)).map_err(unavailable)?;
            let mut rows = Vec::new();
            let mut push = |entry: Result<
                (redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>),
                redb::StorageError,
            >|
             -> Result<bool, StoreError> {
                let (k, v) = entry.map_err(unavailable)?;
                let stored = decode_value(v.value())?;
                if expired(stored.expires_at, now) {
                    return Ok(true);
                }
                rows.push((decode_key(k.value())?, stored));
                Ok(rows.len() < limit)
            };
            if descending {
                for entry in range.rev() {
                    if !push(entry)? {
                        break;
                    }
                }
            } else {
                for entry in range {
                    if !push(entry)? {
                        break;
                    }
                }
            }
            Ok(rows)
        })?;
        let next = if rows.len() == limit {
            rows.last().map(|(k, _)| k.sk.clone())
        } else {
            None
        };
        let items = rows
            .into_iter()
            .map(|(key, stored)| Item {
                key,
                doc: stored.doc,
                expires_at: stored.expires_at,
            })
            .collect();
        Ok(Page { items, next })
    }
}

fn lower_after_upper(lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> bool {
    let l = match lower {
        Bound::Included(l) | Bound::Excluded(l) => l,
        Bound::Unbounded => return false,
    };
    let u = match upper {
        Bound::Included(u) | Bound::Excluded(u) => u,
        Bound::Unbounded => return false,
    };
    // redb panics on an inverted range, so it is checked here.
    l >= u
}

impl LocalStore {
    async fn transact_unchecked(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let writes = prepare(writes)?;
        self.enqueue(writes, true).await
    }

    /// A relaxed transaction on the caller's thread, when no other write transaction
    /// runs (else `None`: the writer thread takes it). A non-durable redb commit takes
    /// microseconds; handing it to the writer thread and back costs two thread
    /// wake-ups, which is most of a sandbox step.
    fn relaxed_here(&self, writes: &[Prepared]) -> Option<Result<(), StoreError>> {
        let _gate = self.commits.gate.try_lock().ok()?;
        let now = self.clock.now().timestamp();
        let attempt = || -> Result<Result<(), StoreError>, StoreError> {
            let mut txn = self.database()?.begin_write().map_err(unavailable)?;
            txn.set_durability(redb::Durability::None)
                .map_err(unavailable)?;
            let result = {
                let mut table = txn.open_table(ITEMS).map_err(unavailable)?;
                apply(&mut table, writes, now)?
            };
            match result {
                Ok(()) => txn.commit().map_err(unavailable)?,
                Err(_) => txn.abort().map_err(unavailable)?,
            }
            Ok(result)
        };
        let result = attempt().and_then(|r| r);
        if result.is_ok()
            && !self
                .commits
                .unflushed
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            // The writer thread flushes it; if it has stopped, so has the store.
            let _ = self
                .writer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .send(Message::Unflushed);
        }
        Some(result)
    }

    async fn enqueue(&self, writes: Vec<Prepared>, durable: bool) -> Result<(), StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Message::Write(Pending {
                writes,
                durable,
                reply,
            }))
            .map_err(|_| StoreError::Unavailable("the store's writer stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer stopped".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::top_level_field;
    use serde_json::json;

    #[test]
    fn a_top_level_field_reads_as_the_whole_document_would() {
        let doc = r#"{"state": {"revision": 9, "x": [1, {"y": "z"}]}, "revision": 3,
                      "esc\u0061ped": "yes", "dup": 1, "dup": 2}"#;
        let whole: serde_json::Value = serde_json::from_str(doc).expect("json");
        for field in ["revision", "state", "escaped", "dup", "missing", "x"] {
            assert_eq!(
                top_level_field(doc, field).expect("parses"),
                whole.get(field).cloned(),
                "{field}"
            );
        }
        assert_eq!(
            top_level_field(doc, "revision").expect("parses"),
            Some(json!(3))
        );
        for broken in [r#"{"revision": 3"#, r#"[1, 2]"#, r#"{"revision": 3} x"#, ""] {
            assert!(top_level_field(broken, "revision").is_err(), "{broken}");
        }
    }
}
