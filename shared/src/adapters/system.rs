//! The system clock and time-ordered ids, plus a settable clock for tests.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::ports::{Clock, Ids};

/// The [`Clock`] of the machine.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that says what it is told; tests move it to expire items or tokens.
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    /// A clock stopped at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    /// Sets the time it says.
    pub fn set(&self, at: DateTime<Utc>) {
        // A poisoned lock only means another test thread panicked; the value is still usable.
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// Moves the time it says forward by `by` (back, if negative).
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// UUIDv7: unique, and ordered by creation time, so runs and audit records listed by
/// sort key come out oldest or newest first without an index.
pub struct TimeOrderedIds;

impl Ids for TimeOrderedIds {
    fn new_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }
}
