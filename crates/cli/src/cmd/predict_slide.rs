//! `histo predict-slide`: a tumour-probability heat-map of whole-slide images with a trained
//! checkpoint (grid tiling of the tissue, the trained head, B19 fixed).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args as ClapArgs;
use histo_ssl_cr::{Predictor, SlideConfig, predict_slide};
use histo_wsi::{LevelSpec, TissueMethod};

use crate::Context;

/// Options of `histo predict-slide`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// A trained binary (or multiclass) checkpoint, e.g. RUN/best.safetensors.
    #[arg(long, value_name = "CKPT")]
    checkpoint: PathBuf,
    /// Slide file(s) (.tif, .svs, …) or folders of them. Repeatable.
    #[arg(long, value_name = "SLIDE", required = true)]
    slide: Vec<PathBuf>,
    /// Output folder: per slide `{name}.npy` (float64 map, x-major, 0 outside tissue),
    /// `{name}_heatmap.png`, `{name}_tiles.csv`, `{name}.json` (max and mean score), and
    /// `slides.csv` for all slides.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Pyramid level the tiles are read at (0 = full resolution, as Camelyon16 patches).
    #[arg(long, default_value_t = 0, conflicts_with = "magnification")]
    level: usize,
    /// Read at this objective magnification instead (e.g. 20).
    #[arg(long)]
    magnification: Option<f64>,
    /// Tile side in pixels of the read level (the training patch size).
    #[arg(long, default_value_t = 256)]
    tile: usize,
    /// Step between tiles (default: the tile size).
    #[arg(long)]
    stride: Option<usize>,
    /// Tissue test: otsu (default), v1, v2 or none (every tile).
    #[arg(long, default_value = "otsu")]
    tissue: String,
    /// Class whose probability is mapped (default: 1 for binary models, the TUM/tumor class
    /// of multiclass models).
    #[arg(long)]
    class: Option<usize>,
    /// Longer side of the thumbnail under the heat-map.
    #[arg(long, default_value_t = 1024)]
    thumbnail: usize,
    /// Opacity of the heat-map.
    #[arg(long, default_value_t = 0.5)]
    alpha: f32,
    /// Tiles per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
}

fn is_slide(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref(),
        Some("tif" | "tiff" | "svs" | "ndpi" | "mrxs" | "scn" | "vms" | "bif")
    )
}

fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_slide(p))
                .collect();
            v.sort();
            if v.is_empty() {
                bail!(
                    "{}: no slide files (.tif, .svs, …) in this folder",
                    p.display()
                );
            }
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Runs `histo predict-slide`.
pub fn run(args: Args, ctx: &Context) -> Result<()> {
    let device = ctx.device()?;
    let mut pred = Predictor::load(&args.checkpoint, &device, None)?;
    pred.batch_size = args.batch_size.max(1);
    let tissue = match args.tissue.as_str() {
        "none" => None,
        s => Some(s.parse::<TissueMethod>()?),
    };
    let cfg = SlideConfig {
        level: match args.magnification {
            Some(m) => LevelSpec::Magnification(m),
            None => LevelSpec::Index(args.level),
        },
        tile: args.tile,
        stride: args.stride.unwrap_or(args.tile),
        tissue,
        class: args.class,
        thumbnail: args.thumbnail,
        alpha: args.alpha,
    };
    let slides = expand(&args.slide)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.out.display()))?;
    let mut table = String::from("slide,max,mean,tiles\n");
    let mut failed = 0;
    for s in &slides {
        match predict_slide(&pred, s, &cfg, &args.out) {
            Ok(r) => {
                super::finetune::say!(
                    "{}: {} tiles, max {:.4}, mean {:.4} -> {}",
                    s.display(),
                    r.tiles,
                    r.max,
                    r.mean,
                    r.heatmap.display()
                );
                table.push_str(&format!(
                    "{},{},{},{}\n",
                    s.display(),
                    r.max,
                    r.mean,
                    r.tiles
                ));
            }
            Err(e) => {
                // a batch job skips a bad slide, says so, and carries on
                eprintln!("skipping {}: {e}", s.display());
                failed += 1;
            }
        }
    }
    let csv = args.out.join("slides.csv");
    std::fs::write(&csv, table).map_err(|e| anyhow::anyhow!("{}: {e}", csv.display()))?;
    if failed == slides.len() {
        bail!("no slide could be predicted ({failed} failed)");
    }
    if failed > 0 {
        eprintln!("{failed} of {} slides failed", slides.len());
    }
    Ok(())
}
