//! `tile rsp`: sample RSP triplets from many slides into a tile store, slide-parallel and
//! tile-parallel, in bounded memory, resumable.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::sampler::{RspConfig, for_each_triplet, plan_slide};
use crate::slide::{BackendKind, Slide, SlideOptions};
use crate::store::{
    Manifest, ShardEntry, ShardWriter, SlideEntry, SlideStatus, remove_stale_temporaries,
    shard_name,
};
use crate::{Error, Result};

/// Options of a tiling run.
#[derive(Clone, Debug)]
pub struct RspRun {
    /// What to sample.
    pub config: RspConfig,
    /// Slide reader.
    pub backend: BackendKind,
    /// Decoded-tile cache per open slide, bytes.
    pub cache_bytes: usize,
    /// Triplets per shard (0: about 256 MB of pixels per shard).
    pub shard_triplets: usize,
    /// Slides processed at the same time (each holds its tile cache and one triplet per thread).
    pub parallel_slides: usize,
}

impl Default for RspRun {
    fn default() -> Self {
        Self {
            config: RspConfig::default(),
            backend: BackendKind::Rust,
            cache_bytes: 256 << 20,
            shard_triplets: 0,
            parallel_slides: 2,
        }
    }
}

impl RspRun {
    /// Triplets per shard actually used.
    pub fn shard_size(&self) -> usize {
        if self.shard_triplets > 0 {
            return self.shard_triplets;
        }
        let per = 3 * self.config.tile * self.config.tile * 3;
        ((256usize << 20) / per.max(1)).max(1)
    }
}

/// Progress events (for a progress bar).
#[derive(Clone, Debug)]
pub enum Progress {
    /// The run starts: slides to process now, slides already complete.
    Start {
        /// Slides to process.
        todo: usize,
        /// Slides complete from an earlier run.
        done_before: usize,
    },
    /// A slide was planned: candidates tested, accepted.
    Planned {
        /// Slide file.
        path: PathBuf,
        /// Candidates.
        candidates: usize,
        /// Accepted.
        accepted: usize,
    },
    /// Triplets written (increment).
    Triplets(usize),
    /// A slide finished with this status.
    SlideDone {
        /// Slide file.
        path: PathBuf,
        /// Final status.
        status: SlideStatus,
        /// Why, when skipped or failed.
        reason: Option<String>,
    },
}

/// What a run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunSummary {
    /// Slides completed in this run.
    pub used: usize,
    /// Slides complete from an earlier run (not redone).
    pub already_complete: usize,
    /// Slides skipped (path, reason).
    pub skipped: Vec<(String, String)>,
    /// Slides that failed (path, reason).
    pub failed: Vec<(String, String)>,
    /// Candidates tested in this run.
    pub candidates: usize,
    /// Candidates accepted in this run.
    pub accepted: usize,
    /// Triplets written in this run.
    pub triplets: usize,
    /// Triplets in the store after the run.
    pub store_total: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl RunSummary {
    /// Triplets written per second.
    pub fn triplets_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.triplets as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Lists slide files: files as given; directories expanded to their `.svs`, `.tif`, `.tiff`,
/// `.ndpi`, `.mrxs`, `.scn`, `.vms`, `.vmu`, `.bif` files (sorted; not recursive).
pub fn collect_slides(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    const EXT: [&str; 9] = [
        "svs", "tif", "tiff", "ndpi", "mrxs", "scn", "vms", "vmu", "bif",
    ];
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file()
                        && f.extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| EXT.contains(&e.to_ascii_lowercase().as_str()))
                })
                .collect();
            v.sort();
            out.extend(v);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(Error::io(
                p,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
            ));
        }
    }
    Ok(out)
}

/// Triplets between two progress events.
const PROGRESS_EVERY: usize = 32;

/// Outcome of one slide: a finished entry, or a fatal (output) error.
fn process_slide(
    out: &Path,
    entry: &SlideEntry,
    run: &RspRun,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<SlideEntry> {
    let start = Instant::now();
    let path = PathBuf::from(&entry.path);
    let mut e = SlideEntry::pending(entry.index, &path);
    let finish = |mut e: SlideEntry, status, reason: Option<String>| {
        e.status = status;
        e.reason = reason.clone();
        e.seconds = start.elapsed().as_secs_f64();
        progress(&Progress::SlideDone {
            path: path.clone(),
            status,
            reason,
        });
        e
    };
    let opts = SlideOptions {
        backend: run.backend,
        cache_bytes: run.cache_bytes,
    };
    let slide = match Slide::open_with(&path, &opts) {
        Ok(s) => s,
        Err(err) => return Ok(finish(e, SlideStatus::Failed, Some(err.to_string()))),
    };
    e.backend = Some(slide.backend().into());
    e.vendor = Some(slide.vendor().into());
    e.levels = slide.levels().to_vec();
    (e.mpp_x, e.mpp_y) = slide.mpp();
    let plan = match plan_slide(&slide, &run.config) {
        Ok(p) => p,
        Err(err @ Error::Request { .. }) => {
            return Ok(finish(e, SlideStatus::Skipped, Some(err.to_string())));
        }
        Err(err @ Error::Invalid(_)) => return Err(err),
        Err(err) => return Ok(finish(e, SlideStatus::Failed, Some(err.to_string()))),
    };
    e.read_levels = plan.levels.to_vec();
    e.tissue = Some(plan.tissue.clone());
    e.candidates = plan.candidates;
    e.accepted = plan.triplets.len();
    progress(&Progress::Planned {
        path: path.clone(),
        candidates: plan.candidates,
        accepted: plan.triplets.len(),
    });
    if plan.triplets.is_empty() {
        let why = format!(
            "{}: no tissue tile among {} candidates",
            path.display(),
            plan.candidates
        );
        return Ok(finish(e, SlideStatus::Skipped, Some(why)));
    }
    let tile = run.config.tile;
    for (k, chunk) in plan.triplets.chunks(run.shard_size()).enumerate() {
        let name = shard_name(entry.index, k);
        let writer = ShardWriter::create(&out.join(&name), entry.index, tile, chunk)?;
        // Output errors stop the run; a slide that cannot be read is recorded as failed.
        let output_error = Mutex::new(None);
        let done = AtomicUsize::new(0);
        let read = for_each_triplet(&slide, &plan.levels, chunk, tile, |i, tiles| {
            if let Err(err) = writer.write(i, tiles) {
                let mut slot = output_error.lock().unwrap_or_else(|p| p.into_inner());
                let msg = err.to_string();
                *slot = Some(err);
                return Err(Error::Invalid(msg));
            }
            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
            if d.is_multiple_of(PROGRESS_EVERY) {
                progress(&Progress::Triplets(PROGRESS_EVERY));
            }
            Ok(())
        });
        if let Some(err) = output_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(err);
        }
        if let Err(err) = read {
            drop(writer);
            for s in &e.shards {
                let _ = std::fs::remove_file(out.join(&s.file));
            }
            e.shards.clear();
            return Ok(finish(e, SlideStatus::Failed, Some(err.to_string())));
        }
        writer.finish()?;
        e.shards.push(ShardEntry {
            file: name,
            count: chunk.len(),
        });
        progress(&Progress::Triplets(chunk.len() % PROGRESS_EVERY));
    }
    Ok(finish(e, SlideStatus::Complete, None))
}

/// Samples RSP triplets from `slides` into the store at `out` (created if needed). Re-running
/// on the same store skips slides that are complete (or were skipped by a rule) and retries
/// the others. A slide that cannot be read or yields no tissue is recorded and skipped; only
/// problems with the output (or the parameters) stop the run.
pub fn tile_rsp(
    slides: &[PathBuf],
    out: &Path,
    run: &RspRun,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<RunSummary> {
    let start = Instant::now();
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let stale = remove_stale_temporaries(out)?;
    if stale > 0 {
        tracing::info!(
            "{}: removed {stale} temporary file(s) of an interrupted run",
            out.display()
        );
    }
    let params = serde_json::to_value(&run.config).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut manifest = if out.join("manifest.json").exists() {
        let m = Manifest::load(out)?;
        if m.params != params
            || m.tile_size != run.config.tile
            || m.shard_triplets != run.shard_size()
        {
            return Err(Error::Invalid(format!(
                "the tile store at {} was made with other parameters ({}); use another output directory",
                out.display(),
                m.params
            )));
        }
        m
    } else {
        Manifest::new(run.config.tile, run.shard_size(), params)
    };
    for p in slides {
        let key = p.to_string_lossy();
        if !manifest.slides.iter().any(|s| s.path == key) {
            let idx = manifest.slides.len();
            manifest.slides.push(SlideEntry::pending(idx, p));
        }
    }
    manifest.save(out)?;
    let wanted: Vec<String> = slides
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let todo: Vec<SlideEntry> = manifest
        .slides
        .iter()
        .filter(|s| {
            wanted.contains(&s.path)
                && matches!(s.status, SlideStatus::Pending | SlideStatus::Failed)
        })
        .cloned()
        .collect();
    let done_before = manifest
        .slides
        .iter()
        .filter(|s| wanted.contains(&s.path) && s.status == SlideStatus::Complete)
        .count();
    progress(&Progress::Start {
        todo: todo.len(),
        done_before,
    });
    let manifest = Mutex::new(manifest);
    let mut summary = RunSummary {
        already_complete: done_before,
        ..Default::default()
    };
    for group in todo.chunks(run.parallel_slides.max(1)) {
        let results: Vec<Result<SlideEntry>> = group
            .par_iter()
            .map(|e| {
                let done = process_slide(out, e, run, progress)?;
                let mut m = manifest.lock().unwrap_or_else(|p| p.into_inner());
                m.slides[done.index] = done.clone();
                m.save(out)?;
                Ok(done)
            })
            .collect();
        for r in results {
            let e = r?;
            match e.status {
                SlideStatus::Complete => {
                    summary.used += 1;
                    summary.triplets += e.accepted;
                }
                SlideStatus::Skipped => summary
                    .skipped
                    .push((e.path.clone(), e.reason.clone().unwrap_or_default())),
                _ => summary
                    .failed
                    .push((e.path.clone(), e.reason.clone().unwrap_or_default())),
            }
            summary.candidates += e.candidates;
            summary.accepted += e.accepted;
        }
    }
    let m = manifest.into_inner().unwrap_or_else(|p| p.into_inner());
    summary.store_total = m.total();
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}
