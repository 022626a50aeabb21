//! [`TtlCache`]: what a stage keeps of a company's settings, read again at
//! most every `ttl`, so that an admin's change reaches every stage within
//! that time without a restart.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Values by key, each fresh for `ttl` after it was read; at most
/// `capacity` keys (past it, stale entries go, then all of them).
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self { ttl, capacity: capacity.max(1), entries: Mutex::new(HashMap::new()) }
    }

    /// The value of `key` if it was read less than `ttl` ago.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(key).filter(|(read_at, _)| read_at.elapsed() < self.ttl).map(|(_, value)| value.clone())
    }

    /// Remembers `value` for `key`, read now.
    pub fn insert(&self, key: K, value: V) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (read_at, _)| now.duration_since(*read_at) < self.ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (now, value));
    }

    /// The fresh value of `key`, or what `load` reads (then remembered).
    pub async fn get_or_load<E, Load>(&self, key: &K, load: impl FnOnce() -> Load) -> Result<V, E>
    where
        Load: Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        let value = load().await?;
        self.insert(key.clone(), value.clone());
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_expire_and_the_size_is_bounded() {
        let cache = TtlCache::new(Duration::from_secs(60), 2);
        cache.insert("a", 1);
        cache.insert("b", 2);
        assert_eq!((cache.get(&"a"), cache.get(&"b")), (Some(1), Some(2)));
        cache.insert("c", 3);
        assert_eq!(cache.get(&"c"), Some(3));
        assert_eq!(cache.get(&"a"), None, "full of fresh entries: it started over");
        let expired = TtlCache::new(Duration::ZERO, 2);
        expired.insert("a", 1);
        assert_eq!(expired.get(&"a"), None);
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first() {
        let cache = TtlCache::new(Duration::from_millis(500), 2);
        cache.insert("old", 1);
        std::thread::sleep(Duration::from_millis(600));
        cache.insert("fresh", 2);
        cache.insert("new", 3);
        assert_eq!((cache.get(&"fresh"), cache.get(&"new")), (Some(2), Some(3)), "only the expired one went");
    }
}
