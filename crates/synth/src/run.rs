//! Book-keeping shared by the dataset generators: output root, progress, counters.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::SynthConfig;

/// Receives progress of a long generation (the CLI draws progress bars with it).
pub trait Progress: Sync {
    /// A stage begins with `total` steps.
    fn begin(&self, _stage: &str, _total: u64) {}
    /// `n` more steps are done.
    fn advance(&self, _n: u64) {}
    /// The stage is over.
    fn end(&self) {}
}

/// Progress that goes nowhere.
pub struct Silent;

impl Progress for Silent {}

/// What one dataset's generation did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetReport {
    /// `pretrain`, `kather`, `breastpathq` or `camelyon16`.
    pub name: String,
    /// Files written by this run.
    pub written: u64,
    /// Files found complete and skipped.
    pub skipped: u64,
    /// Level-0 pixels rendered by this run.
    pub pixels: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Size of the dataset's folder on disk afterwards, bytes.
    pub bytes: u64,
}

/// Counters of one dataset's generation.
pub(crate) struct Run<'a> {
    pub cfg: &'a SynthConfig,
    pub root: PathBuf,
    pub progress: &'a dyn Progress,
    written: AtomicU64,
    skipped: AtomicU64,
    pixels: AtomicU64,
    start: Instant,
}

impl<'a> Run<'a> {
    pub fn new(cfg: &'a SynthConfig, root: PathBuf, progress: &'a dyn Progress) -> Self {
        Self {
            cfg,
            root,
            progress,
            written: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            pixels: AtomicU64::new(0),
            start: Instant::now(),
        }
    }

    pub fn wrote(&self, pixels: u64) {
        self.written.fetch_add(1, Ordering::Relaxed);
        self.pixels.fetch_add(pixels, Ordering::Relaxed);
    }

    pub fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Pixels rendered for labels only (no file written).
    pub fn rendered(&self, pixels: u64) {
        self.pixels.fetch_add(pixels, Ordering::Relaxed);
    }

    pub fn report(&self, name: &str) -> DatasetReport {
        DatasetReport {
            name: name.into(),
            written: self.written.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            pixels: self.pixels.load(Ordering::Relaxed),
            seconds: self.start.elapsed().as_secs_f64(),
            bytes: dir_size(&self.root),
        }
    }
}

/// Total size of the regular files under `path` (0 if it does not exist).
pub(crate) fn dir_size(path: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(path) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
