//! A thread-safe, byte-bounded LRU cache of decoded tiles, so that neighbouring reads do not
//! decode the same JPEG tile twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Key of a decoded tile: (level, tile column, tile row).
pub(crate) type TileKey = (usize, u64, u64);

struct Entry {
    tile: Arc<Vec<u8>>,
    stamp: u64,
}

struct Inner {
    map: HashMap<TileKey, Entry>,
    order: BTreeMap<u64, TileKey>,
    bytes: usize,
    clock: u64,
    hits: u64,
    misses: u64,
}

/// LRU cache of decoded RGB tiles, bounded by the total number of pixel bytes it holds.
pub(crate) struct TileCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl TileCache {
    /// A cache that holds at most `capacity` bytes of decoded pixels (0 disables caching).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: BTreeMap::new(),
                bytes: 0,
                clock: 0,
                hits: 0,
                misses: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters (at worst a tile is missing), so a poisoned lock is simply reused.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached tile, marked as most recently used.
    pub(crate) fn get(&self, key: &TileKey) -> Option<Arc<Vec<u8>>> {
        let mut g = self.lock();
        let inner = &mut *g;
        inner.clock += 1;
        let now = inner.clock;
        match inner.map.get_mut(key) {
            Some(e) => {
                inner.order.remove(&e.stamp);
                e.stamp = now;
                inner.order.insert(now, *key);
                inner.hits += 1;
                Some(e.tile.clone())
            }
            None => {
                inner.misses += 1;
                None
            }
        }
    }

    /// Inserts a tile, evicting the least recently used ones beyond the capacity.
    pub(crate) fn insert(&self, key: TileKey, tile: Arc<Vec<u8>>) {
        if tile.len() > self.capacity {
            return;
        }
        let mut g = self.lock();
        let inner = &mut *g;
        inner.clock += 1;
        let now = inner.clock;
        let len = tile.len();
        if let Some(old) = inner.map.insert(key, Entry { tile, stamp: now }) {
            inner.order.remove(&old.stamp);
            inner.bytes -= old.tile.len();
        }
        inner.order.insert(now, key);
        inner.bytes += len;
        while inner.bytes > self.capacity {
            let Some((_, k)) = inner.order.pop_first() else {
                break;
            };
            if let Some(e) = inner.map.remove(&k) {
                inner.bytes -= e.tile.len();
            }
        }
    }

    /// (hits, misses) since creation.
    pub(crate) fn stats(&self) -> (u64, u64) {
        let g = self.lock();
        (g.hits, g.misses)
    }

    /// Bytes currently held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_within_the_byte_bound() {
        let c = TileCache::new(30);
        for i in 0..3 {
            c.insert((0, i, 0), Arc::new(vec![0; 10]));
        }
        assert!(c.get(&(0, 0, 0)).is_some()); // 0 becomes most recent
        c.insert((0, 3, 0), Arc::new(vec![0; 10])); // evicts 1
        assert!(c.get(&(0, 1, 0)).is_none());
        assert!(c.get(&(0, 0, 0)).is_some());
        assert!(c.get(&(0, 2, 0)).is_some());
        assert!(c.get(&(0, 3, 0)).is_some());
        assert_eq!(c.bytes(), 30);
        c.insert((0, 9, 9), Arc::new(vec![0; 31])); // larger than the cache: not kept
        assert_eq!(c.bytes(), 30);
        let (h, m) = c.stats();
        assert_eq!((h, m), (4, 1));
    }
}
