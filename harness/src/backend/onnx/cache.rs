//! An LRU cache of loaded models keyed by artifact checksum, with the
//! counters that `INFORMATION_SCHEMA.TIDB_MODEL_CACHE` shows.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

/// Counters and size of a model cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct CacheStats {
    /// Maximum number of entries.
    pub capacity: usize,
    /// Entries now cached.
    pub entries: usize,
    /// Models loaded and inserted after a cache miss.
    pub loads: u64,
    /// Lookups that found their model.
    pub hits: u64,
    /// Entries removed to make room, including removals by a capacity cut.
    pub evictions: u64,
}

/// A thread-safe LRU map from checksum to a loaded value.
///
/// The lock is held only for lookups and inserts, never while a model
/// loads or runs. Two threads that miss on the same checksum at once both
/// load it, and both loads count.
pub struct ModelCache<V> {
    inner: Mutex<Inner<V>>,
}

struct Inner<V> {
    entries: LruCache<String, Arc<V>>,
    stats: CacheStats,
    /// Capacity 0: loads are counted but nothing is kept.
    disabled: bool,
}

impl<V> ModelCache<V> {
    /// Creates an empty cache holding at most `capacity` entries.
    pub fn new(capacity: NonZeroUsize) -> ModelCache<V> {
        ModelCache {
            inner: Mutex::new(Inner {
                entries: LruCache::new(capacity),
                stats: CacheStats {
                    capacity: capacity.get(),
                    ..CacheStats::default()
                },
                disabled: false,
            }),
        }
    }

    /// Looks up `checksum`, marking it most recently used and counting a hit.
    pub fn get(&self, checksum: &str) -> Option<Arc<V>> {
        let mut inner = self.lock();
        let value = inner.entries.get(checksum).cloned();
        if value.is_some() {
            inner.stats.hits += 1;
        }
        value
    }

    /// Inserts a freshly loaded value, counting a load and any eviction.
    pub fn insert(&self, checksum: &str, value: Arc<V>) {
        let mut inner = self.lock();
        inner.stats.loads += 1;
        if inner.disabled {
            return;
        }
        // `push` returns the replaced entry for an existing key, or the
        // evicted least recently used entry.
        if let Some((old_key, _)) = inner.entries.push(checksum.to_string(), value) {
            if old_key != checksum {
                inner.stats.evictions += 1;
            }
        }
        inner.stats.entries = inner.entries.len();
    }

    /// Changes the capacity, evicting least recently used entries that no
    /// longer fit. Capacity 0 disables the cache: every entry is evicted,
    /// and later inserts are counted as loads but not kept.
    pub fn resize(&self, capacity: usize) {
        let mut inner = self.lock();
        let before = inner.entries.len();
        match NonZeroUsize::new(capacity) {
            Some(capacity) => {
                inner.entries.resize(capacity);
                inner.disabled = false;
            }
            None => {
                inner.entries.clear();
                inner.disabled = true;
            }
        }
        let removed = before - inner.entries.len();
        inner.stats.evictions += removed as u64;
        inner.stats.capacity = capacity;
        inner.stats.entries = inner.entries.len();
    }

    /// Removes the entry of `checksum`, counting an eviction; returns
    /// whether it was cached.
    pub fn remove(&self, checksum: &str) -> bool {
        let mut inner = self.lock();
        let removed = inner.entries.pop(checksum).is_some();
        if removed {
            inner.stats.evictions += 1;
            inner.stats.entries = inner.entries.len();
        }
        removed
    }

    /// Returns the counters and size now.
    pub fn stats(&self) -> CacheStats {
        self.lock().stats
    }

    /// Checksums now cached, most recently used first.
    pub fn checksums(&self) -> Vec<String> {
        self.lock()
            .entries
            .iter()
            .map(|(key, _)| key.clone())
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        // A panic while the lock was held leaves a consistent LRU and
        // counters: every update is a single step on the map or a counter.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize) -> ModelCache<u32> {
        ModelCache::new(NonZeroUsize::new(capacity).unwrap())
    }

    #[test]
    fn hits_loads_and_evictions_counted() {
        let cache = cache(2);
        assert!(cache.get("a").is_none());
        cache.insert("a", Arc::new(1));
        cache.insert("b", Arc::new(2));
        assert_eq!(cache.get("a").as_deref(), Some(&1));

        // "b" is now least recently used, so "c" evicts it.
        cache.insert("c", Arc::new(3));
        assert!(cache.get("b").is_none());
        assert_eq!(cache.checksums(), vec!["c".to_string(), "a".to_string()]);

        let stats = cache.stats();
        assert_eq!(stats.loads, 3);
        assert_eq!(stats.hits, 1);
        assert_eq!(stats.evictions, 1);
        assert_eq!(stats.entries, 2);
        assert_eq!(stats.capacity, 2);
    }

    #[test]
    fn reinsert_same_key_is_no_eviction() {
        let cache = cache(1);
        cache.insert("a", Arc::new(1));
        cache.insert("a", Arc::new(2));
        assert_eq!(cache.stats().evictions, 0);
        assert_eq!(cache.get("a").as_deref(), Some(&2));
    }

    #[test]
    fn shrinking_counts_evictions() {
        let cache = cache(3);
        for key in ["a", "b", "c"] {
            cache.insert(key, Arc::new(0));
        }
        cache.resize(1);
        let stats = cache.stats();
        assert_eq!(stats.evictions, 2);
        assert_eq!(stats.entries, 1);
        assert_eq!(stats.capacity, 1);
        assert_eq!(cache.checksums(), vec!["c".to_string()]);
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let cache = cache(2);
        cache.insert("a", Arc::new(1));
        cache.resize(0);
        assert_eq!(cache.stats().evictions, 1);
        cache.insert("b", Arc::new(2));
        assert!(cache.get("b").is_none());
        let stats = cache.stats();
        assert_eq!((stats.loads, stats.entries, stats.capacity), (2, 0, 0));

        cache.resize(1);
        cache.insert("b", Arc::new(2));
        assert_eq!(cache.get("b").as_deref(), Some(&2));
    }

    #[test]
    fn remove_counts_an_eviction() {
        let cache = cache(2);
        cache.insert("a", Arc::new(1));
        assert!(cache.remove("a"));
        assert!(!cache.remove("a"));
        let stats = cache.stats();
        assert_eq!((stats.evictions, stats.entries), (1, 0));
    }
}
