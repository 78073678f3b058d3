//! `histo tile rsp`: cut RSP triplets (HR / LR1 / LR2) from whole-slide images into a tile store.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args as ClapArgs, Subcommand};
use histo_wsi::{
    Acceptance, BackendKind, Geometry, LevelSpec, Progress, RspConfig, RspRun, SlideStatus,
    TissueMethod, collect_slides, tile_rsp,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Context;

/// Options of `histo tile`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: TileCommand,
}

#[derive(Subcommand, Debug)]
enum TileCommand {
    /// Sample RSP triplets from slides into a tile store (safetensors shards + manifest.json).
    /// Re-running on the same store skips slides already complete.
    Rsp(RspArgs),
}

#[derive(ClapArgs, Debug)]
struct RspArgs {
    /// Slide files and/or directories (their .svs, .tif, .tiff, .ndpi, .mrxs, ... files).
    #[arg(long, num_args = 1.., required = true)]
    slides: Vec<PathBuf>,
    /// Output tile-store directory.
    #[arg(long)]
    out: PathBuf,
    /// Tile width and height in pixels.
    #[arg(long, default_value_t = 256)]
    tile: usize,
    /// Grid stride in pixels of the lowest resolution (LR2), starting at the stride as the
    /// original does.
    #[arg(long, default_value_t = 128)]
    stride: usize,
    /// HR, LR1, LR2 as pyramid level indices (the original: 0,1,2).
    #[arg(long, value_delimiter = ',', conflicts_with = "magnifications")]
    levels: Option<Vec<usize>>,
    /// HR, LR1, LR2 as objective magnifications, e.g. 20,10,5 (missing ones are computed from
    /// the nearest finer level by area averaging).
    #[arg(long, value_delimiter = ',')]
    magnifications: Option<Vec<f64>>,
    /// Triplet geometry: concentric (v2, default) or corner (the original v1 code, bug B5).
    #[arg(long, default_value = "concentric")]
    geometry: Geometry,
    /// Tissue test: v1 (Lab a* > 1.15 mean on 95 %), v2 (saturation > 0.1 on 75 %), otsu.
    #[arg(long, default_value = "v1")]
    tissue: TissueMethod,
    /// Slide rule: any, v1 (>= 3 levels and mpp < 1 µm) or v2 (>= 3 levels).
    #[arg(long, default_value = "any")]
    acceptance: Acceptance,
    /// Reader: rust (built in) or openslide (needs a build with `--features openslide`).
    #[arg(long, default_value = "rust")]
    backend: BackendKind,
    /// Triplets per shard (default: about 256 MB of pixels).
    #[arg(long, default_value_t = 0)]
    shard_triplets: usize,
    /// Slides processed at the same time (each holds its tile cache and one triplet per thread).
    #[arg(long, default_value_t = 2)]
    parallel_slides: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `histo tile`.
pub fn run(args: Args, _ctx: &Context) -> Result<()> {
    match args.command {
        TileCommand::Rsp(a) => rsp(a),
    }
}

fn rsp(a: RspArgs) -> Result<()> {
    for (name, n) in [
        ("--levels", a.levels.as_ref().map(Vec::len)),
        ("--magnifications", a.magnifications.as_ref().map(Vec::len)),
    ] {
        if let Some(n) = n.filter(|&n| n != 3) {
            bail!("{name} takes three comma-separated values (HR,LR1,LR2), got {n}");
        }
    }
    let levels = match (&a.levels, &a.magnifications) {
        (_, Some(m)) => [
            LevelSpec::Magnification(m[0]),
            LevelSpec::Magnification(m[1]),
            LevelSpec::Magnification(m[2]),
        ],
        (Some(l), None) => [
            LevelSpec::Index(l[0]),
            LevelSpec::Index(l[1]),
            LevelSpec::Index(l[2]),
        ],
        (None, None) => [
            LevelSpec::Index(0),
            LevelSpec::Index(1),
            LevelSpec::Index(2),
        ],
    };
    let slides = collect_slides(&a.slides).context("listing slides")?;
    if slides.is_empty() {
        bail!("no slide found in {:?}", a.slides);
    }
    let run = RspRun {
        config: RspConfig {
            tile: a.tile,
            stride: a.stride,
            levels,
            geometry: a.geometry,
            tissue: a.tissue,
            acceptance: a.acceptance,
        },
        backend: a.backend,
        shard_triplets: a.shard_triplets,
        parallel_slides: a.parallel_slides,
        ..Default::default()
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} slides {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let triplets = std::sync::atomic::AtomicUsize::new(0);
    let progress = |p: &Progress| match p {
        Progress::Start { todo, .. } => bar.set_length(*todo as u64),
        Progress::Triplets(n) => {
            let t = triplets.fetch_add(*n, std::sync::atomic::Ordering::Relaxed) + n;
            bar.set_message(format!("{t} triplets"));
        }
        Progress::SlideDone {
            path,
            status,
            reason,
        } => {
            bar.inc(1);
            if *status != SlideStatus::Complete {
                bar.suspend(|| {
                    let what = if *status == SlideStatus::Skipped {
                        "skipped"
                    } else {
                        "failed"
                    };
                    let r = reason.as_deref().unwrap_or("");
                    if r.contains(&*path.to_string_lossy()) {
                        eprintln!("warning: {what}: {r}");
                    } else {
                        eprintln!("warning: {what} {}: {r}", path.display());
                    }
                });
            }
        }
        Progress::Planned { .. } => {}
    };
    let summary = tile_rsp(&slides, &a.out, &run, &progress)
        .with_context(|| format!("tiling into {}", a.out.display()))?;
    bar.finish_and_clear();
    if a.json {
        let mut v = serde_json::to_value(&summary)?;
        v["triplets_per_second"] = serde_json::json!(summary.triplets_per_second());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("tile store {}", a.out.display());
    println!(
        "  slides    : {} used, {} already complete, {} skipped, {} failed",
        summary.used,
        summary.already_complete,
        summary.skipped.len(),
        summary.failed.len()
    );
    for (p, r) in summary.skipped.iter().chain(&summary.failed) {
        // reasons usually name the file already
        if r.contains(p.as_str()) {
            println!("    - {r}");
        } else {
            println!("    - {p}: {r}");
        }
    }
    println!(
        "  candidates: {}, accepted: {}",
        summary.candidates, summary.accepted
    );
    println!(
        "  triplets  : {} written in {:.1} s ({:.0} triplets/s); {} in the store",
        summary.triplets,
        summary.seconds,
        summary.triplets_per_second(),
        summary.store_total
    );
    Ok(())
}
