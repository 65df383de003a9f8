//! A small in-process cache with a time to live, for what the runtime reads from a
//! provider on a step's behalf (looked-up ids, fetched entities). Bounded: past
//! [`LIMIT`] entries, expired ones go first, then the oldest.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Entries kept at most per cache.
pub const LIMIT: usize = 10_000;

/// Values by key, each kept for [`ttl`].
pub struct TtlCache<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V: Clone> Default for TtlCache<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone> TtlCache<V> {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value kept under `key`, unless it has expired.
    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < ttl())
            .map(|(value, _)| value.clone())
    }

    /// Keeps a value under `key`, making room first if the cache is full.
    pub fn put(&self, key: String, value: V) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= LIMIT {
            let ttl = ttl();
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= LIMIT
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (value, Instant::now()));
    }
}

/// How long a value is kept: `STUDIO_LOOKUP_TTL_SECS`, 600 by default.
pub fn ttl() -> Duration {
    static TTL: OnceLock<Duration> = OnceLock::new();
    *TTL.get_or_init(|| {
        let secs = std::env::var("STUDIO_LOOKUP_TTL_SECS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(600);
        Duration::from_secs(secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_cache_makes_room_and_keeps_the_newest() {
        let cache: TtlCache<u32> = TtlCache::new();
        for i in 0..(LIMIT as u32 + 5) {
            cache.put(format!("k{i}"), i);
        }
        assert_eq!(
            cache.get(&format!("k{}", LIMIT + 4)),
            Some(LIMIT as u32 + 4)
        );
        assert_eq!(cache.get("k0"), None, "the oldest went first");
        assert!(cache.entries.lock().expect("lock").len() <= LIMIT);
    }
}
