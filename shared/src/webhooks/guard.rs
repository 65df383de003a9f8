//! The receiver's in-process state: opened verification keys, kept a short while, and
//! counts of failed verifications per webhook URL.
//!
//! Both exist so that a forged delivery costs next to nothing. Without them, every
//! delivery with a plausible signature decrypted the integration's secret and wrote an
//! audit record of it: a stranger who knew a webhook URL could add a durable record per
//! request. Now:
//!
//! - an opened key is kept in memory for at most [`KEY_TTL_SECS`] per (project,
//!   integration), wiped when dropped (its credentials are `secrecy` values). Its
//!   opening is audited before it is used, as every decryption is; when it is dropped
//!   (expired, evicted, replaced by a newer credential version, or at shutdown) one
//!   summary record says how many verifications it served and how many of them failed
//!   ([`ReleasedKey`], written by [`super::write_released`]). At most
//!   [`MAX_OPEN_KEYS`] are held; the one opened first makes room;
//! - failed verifications are counted per (project, integration name) as the URL
//!   spells them, whether or not such an integration exists, in windows of one minute.
//!   Past [`GuardSettings::failures_per_minute`] a failure is answered 429 rather than
//!   401, and no key is opened for the URL until the window ends, except once per
//!   window when none is held, so that the provider's own (valid) deliveries keep
//!   verifying: a valid signature is never refused for the failures of others. At most
//!   [`MAX_COUNTERS`] URLs are counted; past that, counts of ended windows go first,
//!   then any.
//!
//! All of it is per process: on AWS, per warm Lambda container (a new container opens
//! the key again, audited, and counts from zero), which bounds the cost per container
//! rather than globally; locally, per `studio-local` process. A container that ends
//! while it holds a key never writes that key's summary record; the opening's own
//! record is always written.
//!
//! The locks are `std` mutexes: each is held for a map operation, never across an
//! `.await` (the single-flight lock of an opening is tokio's, see [`Guard::opening`]).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::domain::{CredentialEnvelope, IntegrationName, ProjectId};
use crate::vault::Credentials;

/// How long an opened verification key is kept, from its opening (not from its last
/// use): a busy integration's secret is decrypted, and audited, once a minute.
pub const KEY_TTL_SECS: i64 = 60;

/// The most verification keys held at once.
pub const MAX_OPEN_KEYS: usize = 1024;

/// Failed verifications per webhook URL per minute before the receiver answers 429
/// (`STUDIO_WEBHOOK_FAILURES_PER_MINUTE` overrides it).
pub const FAILED_VERIFICATIONS_PER_MINUTE: u32 = 60;

/// The most webhook URLs whose failures are counted at once.
pub const MAX_COUNTERS: usize = 10_000;

/// The earliest a refusal (401 or 429) is answered after the delivery arrived
/// (`STUDIO_WEBHOOK_REFUSAL_FLOOR_MS` overrides it). Longer than opening a key takes
/// (a key-service call and an audit write), so the time of a refusal does not tell
/// whether a key was opened for it: an unknown target and a known one are refused
/// alike, in time as in status and body.
pub const REFUSAL_FLOOR: Duration = Duration::from_millis(50);

/// The most summaries of dropped keys waiting to be written; past it the oldest are
/// logged and lost (the store has been unavailable for a long while).
const MAX_RELEASED: usize = 10_000;

/// The length of a counting window, in seconds.
const WINDOW_SECS: i64 = 60;

/// What the guard is configured with (see [`crate::config::Config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardSettings {
    /// Failed verifications per webhook URL per minute answered 401; the next are 429.
    pub failures_per_minute: u32,
    /// The earliest a refusal is answered after the delivery arrived.
    pub refusal_floor: Duration,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self {
            failures_per_minute: FAILED_VERIFICATIONS_PER_MINUTE,
            refusal_floor: REFUSAL_FLOOR,
        }
    }
}

/// Which sealed credentials a key was opened from: a rotation (or an integration
/// deleted and made again under the same name) makes a held key useless at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIdentity {
    version: u32,
    nonce: String,
}

impl KeyIdentity {
    /// The identity of the credentials sealed in `envelope` (its version and its nonce,
    /// which is fresh at every seal).
    pub fn of(envelope: &CredentialEnvelope) -> Self {
        Self {
            version: envelope.version,
            nonce: envelope.nonce.clone(),
        }
    }
}

/// Why a held key was dropped, as its summary record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// Held for [`KEY_TTL_SECS`].
    Expired,
    /// Room was needed for another ([`MAX_OPEN_KEYS`]).
    Evicted,
    /// The integration's credentials changed.
    Replaced,
    /// The process stopped.
    Shutdown,
}

/// A dropped key's summary, for its audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedKey {
    /// The project of the integration.
    pub project: ProjectId,
    /// The integration whose key it was.
    pub integration: IntegrationName,
    /// The credential version it was opened from.
    pub credential_version: u32,
    /// When it was opened (Unix seconds, the injected clock).
    pub opened_at: i64,
    /// Verifications it served, passed or failed.
    pub served: u64,
    /// Of those, the ones that failed.
    pub failed: u64,
    /// Why it was dropped.
    pub reason: ReleaseReason,
}

type Released = Arc<Mutex<Vec<ReleasedKey>>>;

/// A webhook URL that names an integration.
type Target = (ProjectId, IntegrationName);

/// An opened verification key. Its credentials are wiped when the last holder lets
/// go of it, and at that moment its summary is queued for its audit record, with
/// counts that include every verification still running when it was dropped.
pub struct OpenedKey {
    project: ProjectId,
    integration: IntegrationName,
    identity: KeyIdentity,
    credentials: Credentials,
    opened_at: i64,
    served: AtomicU64,
    failed: AtomicU64,
    reason: OnceLock<ReleaseReason>,
    released: Released,
}

impl OpenedKey {
    /// The opened credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Counts one verification it served, and whether it failed.
    pub fn count(&self, passed: bool) {
        self.served.fetch_add(1, Ordering::Relaxed);
        if !passed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn expired(&self, now: i64) -> bool {
        now >= self.opened_at + KEY_TTL_SECS
    }
}

impl Drop for OpenedKey {
    fn drop(&mut self) {
        let summary = ReleasedKey {
            project: self.project.clone(),
            integration: self.integration.clone(),
            credential_version: self.identity.version,
            opened_at: self.opened_at,
            served: *self.served.get_mut(),
            failed: *self.failed.get_mut(),
            reason: self
                .reason
                .get()
                .copied()
                .unwrap_or(ReleaseReason::Shutdown),
        };
        let mut queue = lock(&self.released);
        if queue.len() >= MAX_RELEASED {
            let lost = queue.remove(0);
            tracing::error!(project = %lost.project, integration = %lost.integration,
                served = lost.served, failed = lost.failed,
                "the summary of a dropped webhook verification key could not be kept for its audit record");
        }
        queue.push(summary);
    }
}

/// Failures of one webhook URL in the current window.
#[derive(Debug, Clone, Copy)]
struct Counter {
    window: i64,
    failures: u32,
    /// Whether this window's one opening past the limit has been used.
    refilled: bool,
}

/// A refusal as the guard counted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Within the limit: answered 401.
    Unauthorized,
    /// Past the limit: answered 429, with the seconds until the window ends.
    Limited {
        /// Seconds until failures are counted afresh (`Retry-After`).
        retry_after_secs: u64,
    },
}

/// The opened keys and the failure counts of one process. See the module
/// documentation.
pub struct Guard {
    settings: GuardSettings,
    keys: Mutex<HashMap<Target, Arc<OpenedKey>>>,
    /// One lock per integration being opened (see [`Guard::opening`]).
    opening: Mutex<HashMap<Target, Weak<tokio::sync::Mutex<()>>>>,
    counters: Mutex<HashMap<u64, Counter>>,
    hasher: std::hash::RandomState,
    released: Released,
    /// A random key the decoy check of an unknown target uses.
    decoy: Zeroizing<[u8; 32]>,
    sweeper: AtomicBool,
    /// The second of the last sweep: one sweep per second at most, however many
    /// deliveries arrive.
    swept_at: AtomicI64,
}

/// A poisoned lock still holds consistent maps (every update is one map operation), so
/// it is used as is rather than taking the receiver down.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Default for Guard {
    fn default() -> Self {
        Self::new(GuardSettings::default())
    }
}

impl Guard {
    /// An empty guard.
    pub fn new(settings: GuardSettings) -> Self {
        let mut decoy = Zeroizing::new([0u8; 32]);
        // Without randomness the decoy key is zeros: it only costs time, it guards
        // nothing.
        let _ = getrandom::fill(decoy.as_mut_slice());
        Self {
            settings,
            keys: Mutex::default(),
            opening: Mutex::default(),
            counters: Mutex::default(),
            hasher: std::hash::RandomState::new(),
            released: Released::default(),
            decoy,
            sweeper: AtomicBool::new(false),
            swept_at: AtomicI64::new(i64::MIN),
        }
    }

    /// What the guard was configured with.
    pub fn settings(&self) -> GuardSettings {
        self.settings
    }

    /// The counter of a webhook URL's failures, from the path's two segments as they
    /// came (unchecked: unknown and malformed names are counted too). Keyed by a hash
    /// with a per-process random key, so long names cost no memory and cannot be
    /// chosen to collide.
    pub fn counter(&self, project: &str, integration: &str) -> u64 {
        self.hasher.hash_one((project, integration))
    }

    /// Whether the URL's failures this window have reached the limit.
    pub fn limited(&self, counter: u64, now: i64) -> bool {
        let window = now.div_euclid(WINDOW_SECS);
        lock(&self.counters)
            .get(&counter)
            .is_some_and(|c| c.window == window && c.failures >= self.settings.failures_per_minute)
    }

    /// Counts a refusal, and says how it is answered.
    pub fn count_failure(&self, counter: u64, now: i64) -> Counted {
        let limit = self.settings.failures_per_minute;
        let failures = self.with_counter(counter, now, |c| {
            c.failures = c.failures.saturating_add(1);
            c.failures
        });
        if failures > limit {
            Counted::Limited {
                retry_after_secs: (WINDOW_SECS - now.rem_euclid(WINDOW_SECS)).unsigned_abs(),
            }
        } else {
            Counted::Unauthorized
        }
    }

    /// Takes the window's one opening past the limit, if it is still there.
    pub fn take_refill(&self, counter: u64, now: i64) -> bool {
        self.with_counter(counter, now, |c| !std::mem::replace(&mut c.refilled, true))
    }

    fn with_counter<R>(&self, counter: u64, now: i64, f: impl FnOnce(&mut Counter) -> R) -> R {
        let window = now.div_euclid(WINDOW_SECS);
        let mut counters = lock(&self.counters);
        if !counters.contains_key(&counter) && counters.len() >= MAX_COUNTERS {
            counters.retain(|_, c| c.window == window);
            if counters.len() >= MAX_COUNTERS
                && let Some(any) = counters.keys().next().copied()
            {
                counters.remove(&any);
            }
        }
        let entry = counters.entry(counter).or_insert(Counter {
            window,
            failures: 0,
            refilled: false,
        });
        if entry.window != window {
            *entry = Counter {
                window,
                failures: 0,
                refilled: false,
            };
        }
        f(entry)
    }

    /// The held key of an integration, if it is still fresh and opened from the
    /// credentials the integration has now. A stale one is dropped on the way.
    pub fn key(
        &self,
        project: &ProjectId,
        integration: &IntegrationName,
        identity: &KeyIdentity,
        now: i64,
    ) -> Option<Arc<OpenedKey>> {
        let mut keys = lock(&self.keys);
        let target = (project.clone(), integration.clone());
        let held = keys.get(&target)?;
        let reason = if held.expired(now) {
            ReleaseReason::Expired
        } else if held.identity != *identity {
            ReleaseReason::Replaced
        } else {
            return Some(Arc::clone(held));
        };
        if let Some(stale) = keys.remove(&target) {
            let _ = stale.reason.set(reason);
        }
        None
    }

    /// Holds a key just opened (its opening already audited) and hands it back. The
    /// key opened first makes room when [`MAX_OPEN_KEYS`] are held.
    pub fn keep(
        &self,
        project: &ProjectId,
        integration: &IntegrationName,
        identity: KeyIdentity,
        credentials: Credentials,
        now: i64,
    ) -> Arc<OpenedKey> {
        let key = Arc::new(OpenedKey {
            project: project.clone(),
            integration: integration.clone(),
            identity,
            credentials,
            opened_at: now,
            served: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            reason: OnceLock::new(),
            released: Arc::clone(&self.released),
        });
        let target = (project.clone(), integration.clone());
        let mut keys = lock(&self.keys);
        if !keys.contains_key(&target) && keys.len() >= MAX_OPEN_KEYS {
            let oldest = keys
                .iter()
                .min_by_key(|(_, k)| k.opened_at)
                .map(|(t, _)| t.clone());
            if let Some(evicted) = oldest.and_then(|t| keys.remove(&t)) {
                let _ = evicted.reason.set(ReleaseReason::Evicted);
            }
        }
        if let Some(previous) = keys.insert(target, Arc::clone(&key)) {
            let _ = previous.reason.set(ReleaseReason::Replaced);
        }
        key
    }

    /// The lock that lets one delivery at a time open an integration's key, so that
    /// concurrent deliveries of a cold integration cost one opening, not one each.
    pub async fn opening(
        &self,
        project: &ProjectId,
        integration: &IntegrationName,
    ) -> tokio::sync::OwnedMutexGuard<()> {
        let lock_of_target = {
            let mut opening = lock(&self.opening);
            if opening.len() >= MAX_OPEN_KEYS {
                opening.retain(|_, w| w.strong_count() > 0);
            }
            let target = (project.clone(), integration.clone());
            match opening.get(&target).and_then(Weak::upgrade) {
                Some(existing) => existing,
                None => {
                    let fresh = Arc::new(tokio::sync::Mutex::new(()));
                    opening.insert(target, Arc::downgrade(&fresh));
                    fresh
                }
            }
        };
        lock_of_target.lock_owned().await
    }

    /// Drops the keys held for [`KEY_TTL_SECS`] and the counts of ended windows (once
    /// per second of `now` at most: the maps are walked whole).
    pub fn sweep(&self, now: i64) {
        if self.swept_at.swap(now, Ordering::Relaxed) == now {
            return;
        }
        lock(&self.keys).retain(|_, key| {
            let keep = !key.expired(now);
            if !keep {
                let _ = key.reason.set(ReleaseReason::Expired);
            }
            keep
        });
        let window = now.div_euclid(WINDOW_SECS);
        lock(&self.counters).retain(|_, c| c.window >= window);
        lock(&self.opening).retain(|_, w| w.strong_count() > 0);
    }

    /// Drops every held key (the process is stopping).
    pub fn release_all(&self) {
        for (_, key) in lock(&self.keys).drain() {
            let _ = key.reason.set(ReleaseReason::Shutdown);
        }
    }

    /// The summaries of dropped keys not yet written, oldest first.
    pub fn take_released(&self) -> Vec<ReleasedKey> {
        std::mem::take(&mut *lock(&self.released))
    }

    /// How many keys are held now.
    pub fn held(&self) -> usize {
        lock(&self.keys).len()
    }

    /// The work of a signature check, on a key nobody has, for a delivery to a target
    /// that does not exist: it is refused as a forged delivery is, after as much work.
    pub fn decoy_check(&self, body: &[u8]) {
        std::hint::black_box(super::verify::hmac_sha256(self.decoy.as_slice(), &[body]));
    }

    /// Whether the sweeper has been started (and marks it started).
    pub(super) fn start_sweeper_once(&self) -> bool {
        !self.sweeper.swap(true, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> (ProjectId, IntegrationName) {
        (
            ProjectId::parse("clinic").expect("id"),
            IntegrationName::parse(name).expect("name"),
        )
    }

    fn identity(version: u32) -> KeyIdentity {
        KeyIdentity {
            version,
            nonce: format!("nonce-{version}"),
        }
    }

    fn secret() -> Credentials {
        let mut c = Credentials::new();
        c.insert("webhook_secret", "whsec_guard_test_secret");
        c
    }

    fn settings(limit: u32) -> GuardSettings {
        GuardSettings {
            failures_per_minute: limit,
            refusal_floor: Duration::ZERO,
        }
    }

    #[test]
    fn a_kept_key_serves_until_its_minute_is_over_then_says_what_it_served() {
        let guard = Guard::new(settings(60));
        let (p, i) = target("stripe");
        let opened_at = 1_000_020;
        let key = guard.keep(&p, &i, identity(1), secret(), opened_at);
        key.count(true);
        key.count(false);
        drop(key);
        let held = guard.key(&p, &i, &identity(1), opened_at + KEY_TTL_SECS - 1);
        held.expect("still fresh").count(false);
        assert!(guard.take_released().is_empty(), "nothing dropped yet");
        assert!(
            guard
                .key(&p, &i, &identity(1), opened_at + KEY_TTL_SECS)
                .is_none()
        );
        assert_eq!(
            guard.take_released(),
            vec![ReleasedKey {
                project: p,
                integration: i,
                credential_version: 1,
                opened_at,
                served: 3,
                failed: 2,
                reason: ReleaseReason::Expired,
            }]
        );
        assert_eq!(guard.held(), 0);
    }

    #[test]
    fn a_key_of_older_credentials_is_never_used() {
        let guard = Guard::new(settings(60));
        let (p, i) = target("stripe");
        drop(guard.keep(&p, &i, identity(1), secret(), 0));
        assert!(guard.key(&p, &i, &identity(2), 1).is_none());
        let released = guard.take_released();
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].reason, ReleaseReason::Replaced);
    }

    #[test]
    fn the_sweep_drops_expired_keys_even_when_no_delivery_asks_for_them() {
        let guard = Guard::new(settings(60));
        let (p, i) = target("stripe");
        drop(guard.keep(&p, &i, identity(1), secret(), 0));
        guard.sweep(KEY_TTL_SECS - 1);
        assert_eq!(guard.held(), 1);
        guard.sweep(KEY_TTL_SECS);
        assert_eq!(guard.held(), 0);
        assert_eq!(guard.take_released()[0].reason, ReleaseReason::Expired);
    }

    #[test]
    fn a_key_still_in_use_when_dropped_is_summarised_with_that_use() {
        let guard = Guard::new(settings(60));
        let (p, i) = target("stripe");
        let in_use = guard.keep(&p, &i, identity(1), secret(), 0);
        guard.sweep(KEY_TTL_SECS);
        assert!(guard.take_released().is_empty(), "still held by a delivery");
        in_use.count(false);
        drop(in_use);
        let released = guard.take_released();
        assert_eq!((released[0].served, released[0].failed), (1, 1));
    }

    #[test]
    fn the_held_keys_are_bounded_and_the_oldest_makes_room() {
        let guard = Guard::new(settings(60));
        let project = ProjectId::parse("clinic").expect("id");
        for n in 0..=MAX_OPEN_KEYS {
            let name = IntegrationName::parse(&format!("i{n}")).expect("name");
            drop(guard.keep(&project, &name, identity(1), secret(), n as i64));
        }
        assert_eq!(guard.held(), MAX_OPEN_KEYS);
        let released = guard.take_released();
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].integration.as_str(), "i0");
        assert_eq!(released[0].reason, ReleaseReason::Evicted);
    }

    #[test]
    fn failures_past_the_limit_are_limited_until_the_window_ends() {
        let guard = Guard::new(settings(3));
        let counter = guard.counter("clinic", "stripe");
        let now = 6_000_015; // 15 s into a window
        for _ in 0..3 {
            assert!(!guard.limited(counter, now));
            assert_eq!(guard.count_failure(counter, now), Counted::Unauthorized);
        }
        assert!(guard.limited(counter, now));
        assert_eq!(
            guard.count_failure(counter, now + 5),
            Counted::Limited {
                retry_after_secs: 40
            }
        );
        // Other URLs, known or not, are counted on their own.
        assert!(!guard.limited(guard.counter("clinic", "nope"), now));
        // The next window counts afresh.
        assert!(!guard.limited(counter, now + 45));
        assert_eq!(
            guard.count_failure(counter, now + 45),
            Counted::Unauthorized
        );
    }

    #[test]
    fn past_the_limit_one_opening_per_window_is_allowed() {
        let guard = Guard::new(settings(1));
        let counter = guard.counter("clinic", "stripe");
        guard.count_failure(counter, 120);
        assert!(guard.take_refill(counter, 121));
        assert!(!guard.take_refill(counter, 122));
        assert!(guard.take_refill(counter, 180), "a new window");
    }

    #[test]
    fn the_counters_are_bounded() {
        let guard = Guard::new(settings(60));
        for n in 0..MAX_COUNTERS + 10 {
            guard.count_failure(guard.counter("p", &n.to_string()), 60);
        }
        assert!(lock(&guard.counters).len() <= MAX_COUNTERS);
        guard.sweep(120);
        assert!(lock(&guard.counters).is_empty(), "ended windows go");
    }

    #[tokio::test]
    async fn one_opening_at_a_time_per_integration() {
        let guard = Guard::new(settings(60));
        let (p, i) = target("stripe");
        let first = guard.opening(&p, &i).await;
        let (other_p, other_i) = target("slack");
        // Another integration is not held up.
        drop(guard.opening(&other_p, &other_i).await);
        let lock_of_target = lock(&guard.opening)
            .get(&(p.clone(), i.clone()))
            .and_then(Weak::upgrade)
            .expect("lock held");
        assert!(lock_of_target.try_lock().is_err(), "the same one is");
        drop(lock_of_target);
        drop(first);
        guard.sweep(0);
        assert!(lock(&guard.opening).is_empty());
    }
}
