//! The [`Dataset`] trait, its [`Sample`], a bounded decode cache ([`Cached`]) and index views
//! ([`Subset`]).

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use histo_tensor::{Image, Target};
use lru::LruCache;
use serde::Serialize;

use crate::{Error, Result};

/// One decoded sample: a u8 RGB image, its label and a stable identifier (a relative path or
/// `file#row`), so predictions and split files can name it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The decoded patch.
    pub image: Image,
    /// Its label.
    pub target: Target,
    /// A stable identifier of the sample within its dataset.
    pub id: String,
}

/// An item a dataset skipped, or something odd it noticed, when it was opened (an unknown
/// folder, a file with an unexpected extension, a list line whose PNG is missing, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file or folder concerned.
    pub path: PathBuf,
    /// What is wrong and what was done about it.
    pub msg: String,
}

impl Problem {
    /// A problem with `path`.
    pub fn new(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.msg)
    }
}

/// A random-access collection of labelled patches that decodes lazily.
///
/// Opening a dataset lists its files and reads its labels; pixels are decoded only by
/// [`Dataset::get`], so a 100k-patch folder costs a few MB of paths, not 15 GB of pixels.
/// Implementations are `Send + Sync` and `get` takes `&self`, so a loader can call it from many
/// threads at once. The trait is object-safe: `Box<dyn Dataset>` and `Arc<dyn Dataset>` work.
pub trait Dataset: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;

    /// `true` when the dataset has no sample.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes sample `index`.
    fn get(&self, index: usize) -> Result<Sample>;

    /// The label of sample `index`, without decoding its image (used by stratified splits).
    fn target(&self, index: usize) -> Result<Target>;

    /// The identifier of sample `index`, without decoding its image.
    fn id(&self, index: usize) -> Result<String>;

    /// Class names in label order (index = class id); empty for regression datasets.
    fn class_names(&self) -> &[String] {
        &[]
    }

    /// Items skipped or oddities noticed when the dataset was opened.
    fn problems(&self) -> &[Problem] {
        &[]
    }
}

macro_rules! forward_dataset {
    ($ty:ty) => {
        impl<D: Dataset + ?Sized> Dataset for $ty {
            fn len(&self) -> usize {
                (**self).len()
            }
            fn get(&self, index: usize) -> Result<Sample> {
                (**self).get(index)
            }
            fn target(&self, index: usize) -> Result<Target> {
                (**self).target(index)
            }
            fn id(&self, index: usize) -> Result<String> {
                (**self).id(index)
            }
            fn class_names(&self) -> &[String] {
                (**self).class_names()
            }
            fn problems(&self) -> &[Problem] {
                (**self).problems()
            }
        }
    };
}

forward_dataset!(Box<D>);
forward_dataset!(Arc<D>);
forward_dataset!(&D);

/// Checks `index < len`.
pub(crate) fn check_index(index: usize, len: usize) -> Result<()> {
    if index < len {
        Ok(())
    } else {
        Err(Error::index(index, len))
    }
}

/// All targets of a dataset, in index order (no image is decoded).
pub fn targets<D: Dataset + ?Sized>(dataset: &D) -> Result<Vec<Target>> {
    (0..dataset.len()).map(|i| dataset.target(i)).collect()
}

/// A view of some samples of another dataset, in the given order (repeats allowed).
///
/// Index `i` of the view is index `indices[i]` of the inner dataset; ids are the inner ids.
pub struct Subset<D> {
    inner: D,
    indices: Vec<usize>,
}

impl<D: Dataset> Subset<D> {
    /// A view of `indices` of `inner`; an index past the end of `inner` is an error.
    pub fn new(inner: D, indices: Vec<usize>) -> Result<Self> {
        let len = inner.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= len) {
            return Err(Error::index(bad, len));
        }
        Ok(Self { inner, indices })
    }

    /// The inner indices, in view order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The wrapped dataset.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    fn map(&self, index: usize) -> Result<usize> {
        self.indices
            .get(index)
            .copied()
            .ok_or_else(|| Error::index(index, self.indices.len()))
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        self.inner.get(self.map(index)?)
    }
    fn target(&self, index: usize) -> Result<Target> {
        self.inner.target(self.map(index)?)
    }
    fn id(&self, index: usize) -> Result<String> {
        self.inner.id(self.map(index)?)
    }
    fn class_names(&self) -> &[String] {
        self.inner.class_names()
    }
    fn problems(&self) -> &[Problem] {
        self.inner.problems()
    }
}

/// Hit and miss counts of a [`Cached`] dataset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// Samples served from the cache.
    pub hits: u64,
    /// Samples decoded by the inner dataset.
    pub misses: u64,
    /// Samples held now.
    pub entries: usize,
    /// Pixel bytes held now.
    pub bytes: usize,
}

struct CacheState {
    lru: LruCache<usize, Sample>,
    stats: CacheStats,
}

/// A dataset with a bounded least-recently-used cache of decoded samples.
///
/// Worth it when images are re-read every epoch and decoding dominates (e.g. Kather TIFFs or
/// gzip-compressed h5 chunks) and the cache covers a good part of the data; the bound is in
/// pixel bytes, so memory stays predictable. A sample larger than the whole budget is decoded
/// every time. Two threads that miss the same sample at once both decode it (no lock is held
/// while decoding).
pub struct Cached<D> {
    inner: D,
    capacity_bytes: usize,
    state: Mutex<CacheState>,
}

impl<D: Dataset> Cached<D> {
    /// Wraps `inner` with a cache of at most `capacity_bytes` of decoded pixels.
    pub fn new(inner: D, capacity_bytes: usize) -> Self {
        Self {
            inner,
            capacity_bytes,
            state: Mutex::new(CacheState {
                lru: LruCache::unbounded(),
                stats: CacheStats::default(),
            }),
        }
    }

    /// Current hit/miss counts and size.
    pub fn stats(&self) -> CacheStats {
        self.lock().stats
    }

    /// The wrapped dataset.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // A panic while holding the lock cannot leave the LRU inconsistent (every update is a
        // single call), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<D: Dataset> Dataset for Cached<D> {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        {
            let mut st = self.lock();
            if let Some(s) = st.lru.get(&index) {
                let s = s.clone();
                st.stats.hits += 1;
                return Ok(s);
            }
            st.stats.misses += 1;
        }
        let sample = self.inner.get(index)?;
        let size = sample.image.as_slice().len();
        if size <= self.capacity_bytes {
            let mut st = self.lock();
            if st.lru.put(index, sample.clone()).is_none() {
                st.stats.bytes += size;
            }
            while st.stats.bytes > self.capacity_bytes {
                match st.lru.pop_lru() {
                    Some((_, old)) => st.stats.bytes -= old.image.as_slice().len(),
                    None => break,
                }
            }
            st.stats.entries = st.lru.len();
        }
        Ok(sample)
    }

    fn target(&self, index: usize) -> Result<Target> {
        self.inner.target(index)
    }
    fn id(&self, index: usize) -> Result<String> {
        self.inner.id(index)
    }
    fn class_names(&self) -> &[String] {
        self.inner.class_names()
    }
    fn problems(&self) -> &[Problem] {
        self.inner.problems()
    }
}
