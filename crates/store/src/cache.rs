//! Small read caches whose entries are only as good as the [`Freshness`] epoch they were read at.
//!
//! [`Freshness`]: crate::fresh::Freshness

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) struct Cache<K, V> {
    entries: Mutex<Entries<K, V>>,
    capacity: usize,
    hits: AtomicU64,
}

struct Entries<K, V> {
    epoch: u64,
    map: HashMap<K, Entry<V>>,
}

struct Entry<V> {
    value: V,
    /// Postgres: the generation ([`Freshness::generation`]) at which the value was last known
    /// current; 0 for none. While it stays the current one, nothing has committed since and the
    /// value is served without a statement of its own.
    ///
    /// [`Freshness::generation`]: crate::fresh::Freshness::generation
    generation: u64,
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(Entries { epoch: 0, map: HashMap::new() }),
            capacity,
            hits: AtomicU64::new(0),
        }
    }

    /// How many reads it has answered.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// The value cached for `key`, if it was read at `epoch` (the caller's current one).
    pub(crate) fn get(&self, epoch: u64, key: &K) -> Option<V> {
        let hit = self.lookup(epoch, key);
        if hit.is_some() {
            self.count_hit();
        }
        hit
    }

    /// [`Cache::get`] without counting a hit: for entries the caller still checks against the
    /// database (Postgres), counted with [`Cache::count_hit`] once found current.
    pub(crate) fn lookup(&self, epoch: u64, key: &K) -> Option<V> {
        self.lookup_with_generation(epoch, key).map(|(value, _)| value)
    }

    /// [`Cache::lookup`], with the generation its value was last known current at.
    pub(crate) fn lookup_with_generation(&self, epoch: u64, key: &K) -> Option<(V, u64)> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if epoch > entries.epoch {
            // Something changed since these were read: all of them go.
            entries.map.clear();
            entries.epoch = epoch;
            return None;
        }
        if epoch < entries.epoch {
            return None;
        }
        entries.map.get(key).map(|entry| (entry.value.clone(), entry.generation))
    }

    /// The value cached for `key` with the epoch it was read at, whatever the caller's epoch: for
    /// entries whose epoch the caller checks against the database itself (Postgres's callers).
    pub(crate) fn get_with_epoch(&self, key: &K) -> Option<(V, u64)> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let hit = entries.map.get(key)?.value.clone();
        self.count_hit();
        Some((hit, entries.epoch))
    }

    /// The generation the value kept for `key` was last known current at, if it is `value`.
    pub(crate) fn generation_of(&self, key: &K, value: &V) -> Option<u64>
    where
        V: PartialEq,
    {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.map.get(key).filter(|entry| entry.value == *value).map(|entry| entry.generation)
    }

    /// Records that the value kept for `key` is current at `generation`, if it is still the one
    /// the caller found current then (`same`): another may have replaced it meanwhile with a
    /// value read earlier.
    pub(crate) fn confirm(&self, key: &K, generation: u64, same: impl FnOnce(&V) -> bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = entries.map.get_mut(key).filter(|entry| same(&entry.value)) {
            entry.generation = entry.generation.max(generation);
        }
    }

    pub(crate) fn count_hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets `key` (a revoked key, for one).
    pub(crate) fn remove(&self, key: &K) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).map.remove(key);
    }

    /// Keeps `value`, read from the database at `read_at`, unless the epoch has moved since
    /// (`now`): it may then describe something that has changed.
    pub(crate) fn put(&self, read_at: u64, now: u64, key: K, value: V) {
        self.put_at_generation(read_at, now, key, value, 0);
    }

    /// [`Cache::put`] for a value read after the check that saw `generation` began.
    pub(crate) fn put_at_generation(
        &self,
        read_at: u64,
        now: u64,
        key: K,
        value: V,
        generation: u64,
    ) {
        if read_at != now {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if read_at < entries.epoch {
            return;
        }
        if read_at > entries.epoch || entries.map.len() >= self.capacity {
            // Bounded memory without bookkeeping: a full cache starts over.
            entries.map.clear();
            entries.epoch = read_at;
        }
        entries.map.insert(key, Entry { value, generation });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_for_their_epoch_only() {
        let cache = Cache::new(2);
        cache.put(1, 1, "a", 10);
        assert_eq!(cache.get(1, &"a"), Some(10));
        assert_eq!(cache.get(0, &"a"), None, "an older reader does not trust newer entries");
        assert_eq!(cache.get(2, &"a"), None);
        assert_eq!(cache.get(2, &"a"), None, "moving on dropped it");
        cache.put(2, 3, "b", 20);
        assert_eq!(cache.get(2, &"b"), None, "read before a change: not kept");
        cache.put(1, 1, "c", 30);
        assert_eq!(cache.get(2, &"c"), None, "a late writer from an older epoch is ignored");
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = Cache::new(2);
        cache.put(0, 0, 1, 1);
        cache.put(0, 0, 2, 2);
        cache.put(0, 0, 3, 3);
        assert_eq!((cache.get(0, &1), cache.get(0, &3)), (None, Some(3)));
    }
}
