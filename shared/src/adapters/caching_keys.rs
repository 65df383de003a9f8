//! `CachingKeyService`: unwrapped data keys kept for a bounded time and number of uses,
//! so a busy integration does not cost a KMS Decrypt per step.
//!
//! The cache key is the wrapped key together with its encryption context, so a hit is
//! only ever for the exact context KMS already accepted. Entries are wiped when they
//! expire, run out of uses, or are evicted. Generating data keys is never cached: each
//! credential version gets a fresh one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::ports::{DataKey, EncryptionContext, KeyError, KeyService};

struct Entry {
    key: Zeroizing<[u8; 32]>,
    expires: Instant,
    uses_left: u32,
}

/// A [`KeyService`] that keeps unwrapped data keys for a while in front of another
/// (KMS), wiping each when it expires or runs out of uses.
pub struct CachingKeyService {
    inner: Arc<dyn KeyService>,
    ttl: Duration,
    max_uses: u32,
    max_entries: usize,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl CachingKeyService {
    /// Caches `inner`'s unwrapped keys for `ttl` and at most `max_uses` decryptions
    /// each (at least one), 1,024 keys at most.
    pub fn new(inner: Arc<dyn KeyService>, ttl: Duration, max_uses: u32) -> Self {
        Self {
            inner,
            ttl,
            max_uses: max_uses.max(1),
            max_entries: 1024,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn cache_key(wrapped: &[u8], context: &EncryptionContext) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update((wrapped.len() as u64).to_be_bytes());
        hash.update(wrapped);
        hash.update(context.canonical_bytes());
        hash.finalize().into()
    }
}

#[async_trait]
impl KeyService for CachingKeyService {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, KeyError> {
        self.inner.generate_data_key(context).await
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let id = Self::cache_key(wrapped, context);
        let now = Instant::now();
        {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = entries.get_mut(&id) {
                if entry.expires > now && entry.uses_left > 0 {
                    entry.uses_left -= 1;
                    return Ok(entry.key.clone());
                }
                entries.remove(&id);
            }
        }
        let key = self.inner.decrypt_data_key(wrapped, context).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max_entries {
            entries.retain(|_, e| e.expires > now && e.uses_left > 0);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(
            id,
            Entry {
                key: key.clone(),
                expires: now + self.ttl,
                uses_left: self.max_uses - 1,
            },
        );
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

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

    #[tokio::test]
    async fn cached_keys_spare_the_key_service_within_their_uses_and_never_cross_contexts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = Arc::new(
            crate::adapters::LocalKeyService::open_or_create(&dir.path().join("k")).expect("keys"),
        );
        let counting = Arc::new(Counting(local, AtomicUsize::new(0)));
        let cache = CachingKeyService::new(counting.clone(), Duration::from_secs(60), 3);
        let ctx = EncryptionContext::for_integration("p", "i");
        let made = cache.generate_data_key(&ctx).await.expect("generate");
        for _ in 0..7 {
            let key = cache
                .decrypt_data_key(&made.wrapped, &ctx)
                .await
                .expect("decrypt");
            assert_eq!(*key, *made.plaintext);
        }
        // 3 uses per fetch: 7 decrypts cost 3 calls.
        assert_eq!(counting.1.load(Ordering::SeqCst), 3);
        let other = EncryptionContext::for_integration("other", "i");
        assert_eq!(
            cache.decrypt_data_key(&made.wrapped, &other).await,
            Err(KeyError::Rejected)
        );
    }

    #[tokio::test]
    async fn cached_keys_expire() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = Arc::new(
            crate::adapters::LocalKeyService::open_or_create(&dir.path().join("k")).expect("keys"),
        );
        let counting = Arc::new(Counting(local, AtomicUsize::new(0)));
        let cache = CachingKeyService::new(counting.clone(), Duration::from_millis(20), 100);
        let ctx = EncryptionContext::for_integration("p", "i");
        let made = cache.generate_data_key(&ctx).await.expect("generate");
        cache
            .decrypt_data_key(&made.wrapped, &ctx)
            .await
            .expect("decrypt");
        tokio::time::sleep(Duration::from_millis(30)).await;
        cache
            .decrypt_data_key(&made.wrapped, &ctx)
            .await
            .expect("decrypt");
        assert_eq!(counting.1.load(Ordering::SeqCst), 2);
    }
}
