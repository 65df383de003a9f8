//! The ports: small traits through which the domain reaches the outside world.
//!
//! Each has an embedded and an AWS implementation in [`crate::adapters`], chosen once
//! at start-up by [`crate::app::build`]. They are used as `Arc<dyn Trait>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

// ---------------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------------

/// The key of one item of the single table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Partition key: the aggregate the item belongs to (for example `P#<project>`); a
    /// query never crosses it.
    pub pk: String,
    /// Sort key within the partition; queries select by its prefix and page in its
    /// order.
    pub sk: String,
}

impl Key {
    /// A key from its partition and sort key.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One stored item: a JSON document under a key, optionally expiring.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Where the item lives.
    pub key: Key,
    /// The stored document, a JSON object.
    pub doc: Value,
    /// Unix seconds after which the item counts as gone (DynamoDB TTL semantics: reads
    /// and conditions treat it as absent even before it is physically removed).
    pub expires_at: Option<i64>,
}

impl Item {
    /// An item that never expires.
    pub fn new(key: Key, doc: Value) -> Self {
        Self {
            key,
            doc,
            expires_at: None,
        }
    }

    /// The same item, gone after `at` (Unix seconds).
    pub fn expiring(mut self, at: i64) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Serializes a domain record into an item.
    pub fn of<T: Serialize>(key: Key, record: &T) -> Result<Self, StoreError> {
        let doc = serde_json::to_value(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Self::new(key, doc))
    }

    /// Reads the document back as a domain record.
    pub fn parse<T: for<'de> Deserialize<'de>>(&self) -> Result<T, StoreError> {
        // Deserialized from the borrowed document: no copy of it is made.
        T::deserialize(&self.doc).map_err(|e| {
            StoreError::Corrupt(format!(
                "item {}/{} does not parse: {e}",
                self.key.pk, self.key.sk
            ))
        })
    }
}

/// An item whose document is JSON text already: serialized straight from a record that
/// borrows its parts, where building a `Value` first would copy them (a webhook's entity
/// state, an audit record). Stores keep it exactly as an [`Item`] with the same
/// document: reads give back a `Value` as usual.
#[derive(Debug, Clone)]
pub struct RawItem {
    /// Where the item lives.
    pub key: Key,
    /// The document as JSON object text, kept exactly as serialized.
    pub json: Box<RawValue>,
    /// Unix seconds after which the item counts as gone, as [`Item::expires_at`].
    pub expires_at: Option<i64>,
}

impl RawItem {
    /// Serializes a record that serializes as a JSON object (a document is one).
    pub fn of<T: Serialize>(key: Key, record: &T) -> Result<Self, StoreError> {
        let json = serde_json::value::to_raw_value(record)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        if !json.get().starts_with('{') {
            return Err(StoreError::Invalid(format!(
                "item {}/{}: a document is a JSON object",
                key.pk, key.sk
            )));
        }
        Ok(Self {
            key,
            json,
            expires_at: None,
        })
    }

    /// The same item, gone after `at` (Unix seconds).
    pub fn expiring(mut self, at: i64) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// The same item with its document as a `Value` (for a store that needs one).
    pub fn to_item(&self) -> Result<Item, StoreError> {
        let doc = serde_json::from_str(self.json.get())
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(Item {
            key: self.key.clone(),
            doc,
            expires_at: self.expires_at,
        })
    }
}

impl PartialEq for RawItem {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.json.get() == other.json.get()
            && self.expires_at == other.expires_at
    }
}

/// A condition a write requires of the item's current state.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// No requirement: the write happens whatever the item's state.
    Always,
    /// No live item under the key (an expired one counts as absent).
    NotExists,
    /// A live item under the key.
    Exists,
    /// A live item whose top-level document field equals the value.
    FieldEquals {
        /// The top-level field of the current document.
        field: String,
        /// The value it must equal (JSON equality).
        value: Value,
    },
}

impl Condition {
    /// Evaluates the condition on the current live item (`None` if absent or expired).
    /// Both adapters share this meaning; the DynamoDB one expresses it as a
    /// ConditionExpression instead.
    pub fn holds(&self, current: Option<&Value>) -> bool {
        match (self, current) {
            (Condition::Always, _) => true,
            (Condition::NotExists, current) => current.is_none(),
            (Condition::Exists, current) => current.is_some(),
            (Condition::FieldEquals { field, value }, Some(doc)) => doc.get(field) == Some(value),
            (Condition::FieldEquals { .. }, None) => false,
        }
    }
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Writes the item, replacing any item under its key, if the condition holds.
    Put(Item, Condition),
    /// As `Put`, with the document already serialized.
    PutRaw(RawItem, Condition),
    /// Deletes the item under the key, if the condition holds.
    Delete(Key, Condition),
    /// Writes nothing; the transaction fails unless the condition holds.
    Check(Key, Condition),
    /// Adds `delta` to a top-level integer field of a live item (one that is absent
    /// counts as 0), leaving the rest of the document as it is; the transaction fails
    /// when no live item is under the key. Counters that concurrent transactions share
    /// change without a read-modify-write race (a DynamoDB `Update ... SET #f = #f + :d`).
    Add {
        /// The item's key.
        key: Key,
        /// The top-level field of its document.
        field: String,
        /// What to add (negative to subtract).
        delta: i64,
    },
}

impl Write {
    /// The key the write touches (a transaction may touch each key only once).
    pub fn key(&self) -> &Key {
        match self {
            Write::Put(item, _) => &item.key,
            Write::PutRaw(item, _) => &item.key,
            Write::Delete(key, _) | Write::Check(key, _) | Write::Add { key, .. } => key,
        }
    }
}

/// DynamoDB's limit for TransactWriteItems; the embedded store keeps the same one so
/// code that passes locally does not fail on AWS.
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// Checks a transaction the way DynamoDB does before running it.
pub fn check_transaction(writes: &[Write]) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Err(StoreError::Invalid(
            "a transaction needs at least one write".into(),
        ));
    }
    if writes.len() > MAX_TRANSACTION_WRITES {
        return Err(StoreError::Invalid(format!(
            "a transaction takes at most {MAX_TRANSACTION_WRITES} writes, got {}",
            writes.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for w in writes {
        if !seen.insert(w.key()) {
            return Err(StoreError::Invalid(format!(
                "a transaction may touch {}/{} only once",
                w.key().pk,
                w.key().sk
            )));
        }
    }
    Ok(())
}

/// A prefix query within one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The partition to read.
    pub pk: String,
    /// Only sort keys starting with this (empty for the whole partition).
    pub sk_prefix: String,
    /// Continue after this sort key (the `next` of the previous page).
    pub after: Option<String>,
    /// At most this many items on one page (100 from [`Query::prefix`]).
    pub limit: usize,
    /// Sort keys descending (newest first for time-ordered keys).
    pub descending: bool,
}

impl Query {
    /// A query for the items whose sort keys start with `sk_prefix`: ascending, from
    /// the start, 100 per page.
    pub fn prefix(pk: impl Into<String>, sk_prefix: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk_prefix: sk_prefix.into(),
            after: None,
            limit: 100,
            descending: false,
        }
    }
}

/// One page of a query. `next` is `None` when there is nothing more; when it is set,
/// there may be more (the page was full), and it goes into the next query's `after`.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The live items of the page, in the query's order.
    pub items: Vec<Item>,
    /// The sort key to continue after (the next query's `after`), or `None` when there
    /// is nothing more.
    pub next: Option<String>,
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A condition did not hold; for a transaction, `index` names the write at fault.
    #[error("condition failed{}", index.map(|i| format!(" on write {i}")).unwrap_or_default())]
    ConditionFailed {
        /// The position of the failed write in the transaction; `None` for a single
        /// put or delete.
        index: Option<usize>,
    },
    /// A request the backend refuses as given (an empty or oversized transaction, a key
    /// touched twice, an item too large); retrying it does not help.
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// A stored item that does not parse: a bug or tampering, never the caller's fault.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The backend could not be reached or refused for capacity; worth retrying.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Every item of a prefix query, page after page.
pub async fn query_all(store: &dyn Store, mut query: Query) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    loop {
        let page = store.query(&query).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(items),
        }
    }
}

/// A live item's document as a record, read with [`Store::get_json`]: the hot reads
/// (the integration of every webhook delivery and step) skip the `Value` in between.
pub async fn get_as<T: for<'de> Deserialize<'de>>(
    store: &dyn Store,
    key: &Key,
) -> Result<Option<T>, StoreError> {
    match store.get_json(key).await? {
        None => Ok(None),
        Some(raw) => serde_json::from_str(raw.get()).map(Some).map_err(|e| {
            StoreError::Corrupt(format!("item {}/{} does not parse: {e}", key.pk, key.sk))
        }),
    }
}

/// Key-value store with sorted keys: the single table of the design.
#[async_trait]
pub trait Store: Send + Sync {
    /// The live item at `key`: `None` when there is none or it has expired (an item
    /// past its `expires_at` is never returned, even before the backend removes it).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend cannot answer (worth retrying);
    /// [`StoreError::Corrupt`] for a stored item that does not parse.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    /// The document of a live item as JSON text, for a caller that deserializes it
    /// straight into a record ([`get_as`]) with no `Value` built in between. The
    /// default goes through [`Store::get`]; `LocalStore` hands over the stored text.
    ///
    /// # Errors
    /// As [`Store::get`].
    async fn get_json(&self, key: &Key) -> Result<Option<Box<RawValue>>, StoreError> {
        self.get(key)
            .await?
            .map(|item| {
                serde_json::value::to_raw_value(&item.doc)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .transpose()
    }
    /// Writes one item if `condition` holds, durably before it answers.
    ///
    /// # Errors
    /// [`StoreError::ConditionFailed`] when the condition does not hold (nothing is
    /// written); [`StoreError::Invalid`] for an item the backend cannot take (too
    /// large); [`StoreError::Unavailable`] when the backend cannot answer.
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;
    /// Deletes the item at `key` if `condition` holds (deleting nothing is no error).
    ///
    /// # Errors
    /// As [`Store::put`].
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError>;
    /// All writes happen or none do, durably before it answers; each write's condition
    /// (and each [`Write::Check`]) is evaluated in the same atomic step.
    ///
    /// # Errors
    /// [`StoreError::ConditionFailed`] with the index of the first write whose condition
    /// failed (nothing is written); otherwise as [`Store::put`].
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;
    /// As [`Store::transact`] (same conditions, same all-or-nothing), for writes whose
    /// loss in a power failure costs nothing but a preview: a sandbox run's traces. A
    /// store may answer before they are on disk, provided it makes them durable soon
    /// after (`LocalStore`: within [`RELAXED_FLUSH`]) and never reorders them with the
    /// durable writes that follow. Every other write (claims, audit records, live
    /// traces, credentials) goes through [`Store::transact`]. No default: a wrapper
    /// must forward it, or it would silently make every relaxed write durable.
    ///
    /// # Errors
    /// As [`Store::transact`].
    async fn transact_relaxed(&self, writes: Vec<Write>) -> Result<(), StoreError>;
    /// One page of the live items of a partition whose sort keys start with the
    /// query's prefix, in sort-key order (or reverse), with the key to continue from
    /// when there is more ([`query_all`] reads every page).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend cannot answer;
    /// [`StoreError::Corrupt`] for a stored item that does not parse.
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;
}

/// The longest a relaxed write (see [`Store::transact_relaxed`]) stays off disk.
pub const RELAXED_FLUSH: std::time::Duration = std::time::Duration::from_millis(50);

// ---------------------------------------------------------------------------------
// Key service
// ---------------------------------------------------------------------------------

/// The context a data key is bound to (KMS EncryptionContext). A wrapped key made under
/// one context never unwraps under another, so a ciphertext copied onto another
/// project's or integration's item is useless there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// The context of an integration's credential: its project and integration names.
    pub fn for_integration(project: &str, integration: &str) -> Self {
        let mut map = BTreeMap::new();
        map.insert("project".to_owned(), project.to_owned());
        map.insert("integration".to_owned(), integration.to_owned());
        Self(map)
    }

    /// The same context with one more pair bound (a later `with` of the same key
    /// replaces it).
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// The bound pairs, sorted by key.
    pub fn pairs(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// A canonical byte form (sorted, length-prefixed) used as AEAD associated data.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in &self.0 {
            for part in [k, v] {
                out.extend_from_slice(&(part.len() as u32).to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        out
    }
}

/// A fresh 256-bit data key: the plaintext (wiped on drop) and its wrapped form.
pub struct DataKey {
    /// The key itself, used to seal or open and never stored.
    pub plaintext: Zeroizing<[u8; 32]>,
    /// The key wrapped under the master key and the context: what is stored next to the
    /// ciphertext.
    pub wrapped: Vec<u8>,
    /// The master key that wrapped it (the KMS key ARN, or `local:<fingerprint>`).
    pub key_id: String,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("plaintext", &"<redacted>")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Why the key service did not make or unwrap a data key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeyError {
    /// The wrapped key does not open under this context (wrong project or integration,
    /// or tampered).
    #[error("the data key cannot be unwrapped under this context")]
    Rejected,
    /// The master key cannot be used (missing, disabled, no permission); retrying does
    /// not help.
    #[error("key service misconfigured: {0}")]
    Misconfigured(String),
    /// The key service could not be reached or gave an incomplete answer; worth
    /// retrying.
    #[error("key service unavailable: {0}")]
    Unavailable(String),
}

/// Envelope encryption's key half: data keys made and unwrapped under a context.
#[async_trait]
pub trait KeyService: Send + Sync {
    /// A fresh 256-bit data key, in plaintext (wiped on drop) and wrapped under the
    /// master key with `context` bound to it (KMS `GenerateDataKey` with the
    /// EncryptionContext; locally AES-256-GCM key wrap with the context as associated
    /// data).
    ///
    /// # Errors
    /// [`KeyError::Misconfigured`] (no such key, no permission) or
    /// [`KeyError::Unavailable`] (worth retrying).
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, KeyError>;
    /// Unwraps a data key, only under the context it was made with.
    ///
    /// # Errors
    /// [`KeyError::Rejected`] when the wrapped key does not open under `context`
    /// (another project or integration, or tampered); otherwise as
    /// [`KeyService::generate_data_key`].
    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, KeyError>;
}

// ---------------------------------------------------------------------------------
// Event bus
// ---------------------------------------------------------------------------------

/// The EventBridge `source` of every event the product publishes.
pub const EVENT_SOURCE: &str = "studio.integrations";

/// EventBridge's limit on one entry; kept locally so oversized events fail here too.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// An event on the bus: EventBridge's envelope fields that routing looks at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusEvent {
    /// Who published the event ([`EVENT_SOURCE`] for the product's own).
    pub source: String,
    /// The kind of event (`DataChanged` and the like): what rules route on.
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// The event's content, a JSON object.
    pub detail: Value,
}

impl BusEvent {
    /// The checks EventBridge makes on an entry before accepting it (both buses make
    /// them, so the embedded default refuses what AWS would).
    ///
    /// # Errors
    /// [`BusError::Invalid`] for a missing source or detail-type, a detail that is no
    /// JSON object, or an entry over [`MAX_EVENT_BYTES`].
    pub fn check(&self) -> Result<(), BusError> {
        if self.source.is_empty() || self.detail_type.is_empty() {
            return Err(BusError::Invalid(
                "source and detail-type are required".into(),
            ));
        }
        if !self.detail.is_object() {
            return Err(BusError::Invalid("detail must be a JSON object".into()));
        }
        let size = (self.source.len() + self.detail_type.len()).saturating_add(self.detail_len());
        if size > MAX_EVENT_BYTES {
            return Err(BusError::Invalid(format!(
                "event of {size} bytes is over the {MAX_EVENT_BYTES}-byte limit"
            )));
        }
        Ok(())
    }

    /// An event of the product ([`EVENT_SOURCE`]) with this detail-type and detail.
    pub fn new(detail_type: &str, detail: Value) -> Self {
        Self {
            source: EVENT_SOURCE.to_owned(),
            detail_type: detail_type.to_owned(),
            detail,
        }
    }

    /// An event of the product whose detail is the serialized record.
    ///
    /// # Errors
    /// [`BusError::Invalid`] when the record does not serialize.
    pub fn of<T: Serialize>(detail_type: &str, detail: &T) -> Result<Self, BusError> {
        let detail = serde_json::to_value(detail).map_err(|e| BusError::Invalid(e.to_string()))?;
        Ok(Self::new(detail_type, detail))
    }

    /// The length of the detail's JSON text, counted without building the text.
    pub fn detail_len(&self) -> usize {
        json_len(&self.detail)
    }
}

/// The length of a value's JSON text, counted without building the text (`usize::MAX`
/// if it does not serialize).
pub fn json_len(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// Why events were not published.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BusError {
    /// An event the bus refuses as given (see [`BusEvent::check`]); nothing was sent.
    #[error("invalid event: {0}")]
    Invalid(String),
    /// Some entries were still refused after retries.
    #[error("{failed} of {total} events were not accepted: {reasons:?}")]
    Rejected {
        /// How many entries were refused.
        failed: usize,
        /// How many entries were published in all.
        total: usize,
        /// The bus's reason for each refused entry.
        reasons: Vec<String>,
    },
    /// The bus could not be reached; worth retrying.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
}

/// The event bus (EventBridge on AWS, in-process locally).
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Hands the events to the bus, all or none checked first ([`BusEvent::check`]);
    /// once it answers `Ok`, each is delivered to its routed targets at least once
    /// (a handler may see an event twice and must be idempotent).
    ///
    /// # Errors
    /// [`BusError::Invalid`] for an event the bus would refuse (nothing is sent);
    /// [`BusError::Rejected`] when some entries were still refused after retries.
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), BusError>;
}

/// What receives routed events (execute-step's handler, locally).
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// Handles one delivered event and answers what was done (the invocation's result
    /// on Lambda). Borrowed: the bus keeps the event to deliver it again on a retryable
    /// failure.
    ///
    /// # Errors
    /// [`HandlerError::Retryable`] when another delivery may succeed;
    /// [`HandlerError::Rejected`] when none will.
    async fn handle(&self, event: &BusEvent) -> Result<Value, HandlerError>;
}

/// Why an event was not handled: retryable (worth another delivery) or not.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandlerError {
    /// The event cannot be handled, now or later (it does not parse, or the step failed
    /// for good); delivering it again does not help.
    #[error("rejected event: {0}")]
    Rejected(String),
    /// A temporary failure (a dependency unavailable); worth delivering the event
    /// again.
    #[error("temporary failure: {0}")]
    Retryable(String),
}

// ---------------------------------------------------------------------------------
// Edge (outbound HTTP)
// ---------------------------------------------------------------------------------

/// An outbound request, exactly as it would go on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundRequest {
    /// The HTTP method, upper case (`GET`, `POST`...).
    pub method: String,
    /// The absolute URL, query included.
    pub url: String,
    /// Header names and values, in the order they are sent.
    pub headers: Vec<(String, String)>,
    /// The body bytes (empty for none).
    #[serde(with = "body_bytes")]
    pub body: Vec<u8>,
}

/// A provider's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Header names and values, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body bytes (empty for none).
    #[serde(with = "body_bytes")]
    pub body: Vec<u8>,
}

/// What the edge did with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeOutcome {
    /// The request went out and the provider answered this (any status).
    Sent(OutboundResponse),
    /// Sandbox: recorded, never sent.
    WouldHaveSent,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EdgeError {
    /// A request that cannot be sent as given (a bad URL or header); it never left.
    #[error("invalid outbound request: {0}")]
    Invalid(String),
    /// No answer within the time limit (in milliseconds); the request may have reached
    /// the provider.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// The request could not be delivered (DNS, connect, TLS); it never reached the
    /// provider, so it is safe to retry.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The destination is not allowed (a non-public address not on the allow-list).
    #[error("{0}")]
    Refused(String),
    /// The request may have reached the provider; retrying a side effect is unsafe.
    #[error("transport error after sending: {0}")]
    Transport(String),
}

/// The one place a request leaves the process. The sandbox decision is made here, so
/// nothing above the edge can cause a real call in sandbox mode.
#[async_trait]
pub trait Edge: Send + Sync {
    /// Sends the request once (retries are the caller's choice), or, at the sandbox
    /// edge, sends nothing and answers [`EdgeOutcome::WouldHaveSent`]. A live edge
    /// refuses destinations its egress policy does not allow, before connecting.
    ///
    /// # Errors
    /// [`EdgeError::Invalid`] for a request that cannot be sent as given (bad URL);
    /// [`EdgeError::Connect`] when it never reached the provider (safe to retry);
    /// [`EdgeError::Timeout`]; [`EdgeError::Refused`] for a destination not allowed;
    /// [`EdgeError::Transport`] when the exchange failed after the request went out.
    async fn send(&self, request: &OutboundRequest) -> Result<EdgeOutcome, EdgeError>;
}

mod body_bytes {
    //! Bodies are bytes; in JSON they are a UTF-8 string when they are text, else base64.
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(body) {
            Ok(text) if !text.starts_with("base64:") => s.serialize_str(text),
            _ => s.serialize_str(&format!(
                "base64:{}",
                base64::engine::general_purpose::STANDARD.encode(body)
            )),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        match text.strip_prefix("base64:") {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(serde::de::Error::custom),
            None => Ok(text.into_bytes()),
        }
    }
}

// ---------------------------------------------------------------------------------
// Clock and ids
// ---------------------------------------------------------------------------------

/// The time, from one place, so tests can set it.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// New ids (UUIDv7 in production), from one place, so tests can fix them.
pub trait Ids: Send + Sync {
    /// A new unique id; ids made later sort after earlier ones.
    fn new_id(&self) -> String;
}

/// Everything the handlers reach the outside world through.
#[derive(Clone)]
pub struct Deps {
    /// The single table.
    pub store: Arc<dyn Store>,
    /// Makes and unwraps the data keys of credentials.
    pub keys: Arc<dyn KeyService>,
    /// Where events are published.
    pub bus: Arc<dyn EventBus>,
    /// The edge that sends requests (live runs, lookups, token refreshes).
    pub live_edge: Arc<dyn Edge>,
    /// The edge that records requests without sending them (sandbox runs).
    pub sandbox_edge: Arc<dyn Edge>,
    /// Now, from one place (a fixed clock in tests).
    pub clock: Arc<dyn Clock>,
    /// New time-ordered ids (UUIDv7 in production).
    pub ids: Arc<dyn Ids>,
    /// The webhook receiver's in-process state: verification keys opened in the last
    /// minute and failed verifications per webhook URL (per process: per warm Lambda
    /// container on AWS). See [`crate::webhooks::Guard`].
    pub webhook_guard: Arc<crate::webhooks::Guard>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_len_counts_what_serialization_writes() {
        for value in [
            serde_json::json!(null),
            serde_json::json!({"a": [1, 2.5, "x\"y"], "é": {"nested": true}}),
            serde_json::json!("a long string with unicode ✓ and escapes \n"),
        ] {
            assert_eq!(
                json_len(&value),
                serde_json::to_vec(&value).expect("json").len()
            );
        }
    }

    #[test]
    fn encryption_context_bytes_do_not_collide_across_boundaries() {
        let a = EncryptionContext::for_integration("ab", "c");
        let b = EncryptionContext::for_integration("a", "bc");
        assert_ne!(a.canonical_bytes(), b.canonical_bytes());
    }

    #[test]
    fn transactions_refuse_the_same_key_twice_and_over_the_limit() {
        let k = Key::new("P#a", "META");
        let twice = vec![
            Write::Check(k.clone(), Condition::Exists),
            Write::Delete(k, Condition::Always),
        ];
        assert!(matches!(
            check_transaction(&twice),
            Err(StoreError::Invalid(_))
        ));
        let many: Vec<Write> = (0..101)
            .map(|i| Write::Check(Key::new("P#a", format!("S{i}")), Condition::Always))
            .collect();
        assert!(matches!(
            check_transaction(&many),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            check_transaction(&[]),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn conditions_treat_absent_items_as_not_matching_fields() {
        let doc = serde_json::json!({"version": 2});
        let cond = Condition::FieldEquals {
            field: "version".into(),
            value: serde_json::json!(2),
        };
        assert!(cond.holds(Some(&doc)));
        assert!(!cond.holds(None));
        assert!(Condition::NotExists.holds(None));
        assert!(!Condition::NotExists.holds(Some(&doc)));
    }

    #[test]
    fn binary_bodies_round_trip_through_json() {
        let req = OutboundRequest {
            method: "POST".into(),
            url: "https://api.example.com/x".into(),
            headers: vec![],
            body: vec![0xff, 0x00, 0x10],
        };
        let json = serde_json::to_string(&req).expect("serializes");
        let back: OutboundRequest = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, req);
    }
}
