//! `histo slide info | read | thumbnail`: inspect whole-slide images (histo-wsi).

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Args as ClapArgs, Subcommand};
use histo_wsi::{BackendKind, LevelSpec, Slide, SlideOptions, TissueDetector, TissueMethod};
use serde::Serialize;

use crate::Context;

/// Options of `histo slide`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: SlideCommand,
}

#[derive(Subcommand, Debug)]
enum SlideCommand {
    /// Levels, microns per pixel, vendor and properties of a slide.
    Info(InfoArgs),
    /// Read a region (OpenSlide's read_region: X, Y in level-0 pixels) and save it as PNG.
    Read(ReadArgs),
    /// A downscaled picture of the whole slide, optionally with the detected tissue drawn on it.
    Thumbnail(ThumbArgs),
}

#[derive(ClapArgs, Debug)]
struct InfoArgs {
    /// The slide (tiled TIFF / SVS; any OpenSlide format with `--backend openslide`).
    path: PathBuf,
    /// Reader: `rust` (built in) or `openslide` (needs a build with `--features openslide`).
    #[arg(long, default_value = "rust")]
    backend: BackendKind,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(ClapArgs, Debug)]
struct ReadArgs {
    /// The slide.
    path: PathBuf,
    /// Left edge in level-0 pixels (may be negative: outside the slide is black).
    #[arg(long, allow_hyphen_values = true)]
    x: i64,
    /// Top edge in level-0 pixels.
    #[arg(long, allow_hyphen_values = true)]
    y: i64,
    /// Pyramid level to read.
    #[arg(long, default_value_t = 0)]
    level: usize,
    /// Width in pixels of that level.
    #[arg(long)]
    width: usize,
    /// Height in pixels of that level.
    #[arg(long)]
    height: usize,
    /// Output image (PNG; the format follows the extension).
    #[arg(long)]
    out: PathBuf,
    /// Reader: `rust` or `openslide`.
    #[arg(long, default_value = "rust")]
    backend: BackendKind,
}

#[derive(ClapArgs, Debug)]
struct ThumbArgs {
    /// The slide.
    path: PathBuf,
    /// Output image (PNG).
    #[arg(long)]
    out: PathBuf,
    /// Longest side of the thumbnail in pixels.
    #[arg(long, default_value_t = 1024)]
    max_size: usize,
    /// Draw the tissue mask over the thumbnail (green): `v1` (Lab a*, default), `v2`
    /// (saturation) or `otsu`.
    #[arg(long, num_args = 0..=1, default_missing_value = "v1", value_name = "METHOD")]
    tissue: Option<TissueMethod>,
    /// Reader: `rust` or `openslide`.
    #[arg(long, default_value = "rust")]
    backend: BackendKind,
}

#[derive(Serialize)]
struct LevelJson {
    width: u64,
    height: u64,
    downsample: f64,
}

#[derive(Serialize)]
struct InfoJson<'a> {
    vendor: &'a str,
    backend: &'a str,
    levels: Vec<LevelJson>,
    mpp_x: Option<f64>,
    mpp_y: Option<f64>,
    properties: &'a std::collections::BTreeMap<String, String>,
}

fn open(path: &PathBuf, backend: BackendKind) -> Result<Slide> {
    Slide::open_with(
        path,
        &SlideOptions {
            backend,
            ..Default::default()
        },
    )
    .with_context(|| format!("opening slide {}", path.display()))
}

/// Runs `histo slide`.
pub fn run(args: Args, _ctx: &Context) -> Result<()> {
    match args.command {
        SlideCommand::Info(a) => info(a),
        SlideCommand::Read(a) => read(a),
        SlideCommand::Thumbnail(a) => thumbnail(a),
    }
}

fn info(a: InfoArgs) -> Result<()> {
    let s = open(&a.path, a.backend)?;
    let (mpp_x, mpp_y) = s.mpp();
    if a.json {
        let j = InfoJson {
            vendor: s.vendor(),
            backend: s.backend(),
            levels: s
                .levels()
                .iter()
                .map(|l| LevelJson {
                    width: l.width,
                    height: l.height,
                    downsample: l.downsample,
                })
                .collect(),
            mpp_x,
            mpp_y,
            properties: s.properties(),
        };
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    let opt = |v: Option<f64>| v.map_or_else(|| "unknown".to_string(), |v| format!("{v}"));
    println!("{}", a.path.display());
    println!(
        "  vendor    : {} (read with the {} backend)",
        s.vendor(),
        s.backend()
    );
    println!("  mpp       : {} x {} µm/px", opt(mpp_x), opt(mpp_y));
    println!(
        "  objective : {}",
        s.objective_power()
            .map_or("unknown".into(), |m| format!("{m}x"))
    );
    println!("  levels    :");
    for (i, l) in s.levels().iter().enumerate() {
        println!(
            "    {i}: {} x {} (downsample {:.4})",
            l.width, l.height, l.downsample
        );
    }
    println!(
        "  properties: {} (use --json to list them)",
        s.properties().len()
    );
    Ok(())
}

fn read(a: ReadArgs) -> Result<()> {
    let s = open(&a.path, a.backend)?;
    let img = s
        .read_region(a.x, a.y, a.level, a.width, a.height)
        .with_context(|| {
            format!(
                "reading {}x{} at ({}, {}) level {}",
                a.width, a.height, a.x, a.y, a.level
            )
        })?;
    img.save(&a.out)
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!("wrote {} ({}x{})", a.out.display(), a.width, a.height);
    Ok(())
}

fn thumbnail(a: ThumbArgs) -> Result<()> {
    let s = open(&a.path, a.backend)?;
    let mut img = s
        .thumbnail(a.max_size)
        .with_context(|| format!("making a thumbnail of {}", a.path.display()))?;
    if let Some(method) = a.tissue {
        let det = TissueDetector::prepare(&s, &method)
            .with_context(|| format!("tissue statistics of {}", a.path.display()))?;
        let (w0, h0) = s.dimensions();
        let ds = (w0.max(h0) as f64 / a.max_size as f64).max(1.0);
        let lvl = s.resolve(LevelSpec::Downsample(ds))?;
        let mask = det.mask(&s, &lvl)?;
        let (mw, mh) = (lvl.width as usize, lvl.height as usize);
        let (w, h) = (img.width(), img.height());
        let mut n = 0usize;
        for y in 0..h {
            for x in 0..w {
                let (mx, my) = ((x * mw / w).min(mw - 1), (y * mh / h).min(mh - 1));
                if mask[my * mw + mx] {
                    n += 1;
                    let p = img.pixel(x, y);
                    img.put_pixel(
                        x,
                        y,
                        [
                            (p[0] as u16 * 3 / 5) as u8,
                            ((p[1] as u16 * 3 + 255 * 2) / 5) as u8,
                            (p[2] as u16 * 3 / 5) as u8,
                        ],
                    );
                }
            }
        }
        let st = det.stats();
        eprintln!(
            "tissue ({:?}): {:.1} % of the thumbnail; pixel threshold {:.4}{}",
            st.method,
            100.0 * n as f64 / (w * h) as f64,
            st.pixel_threshold,
            st.mu
                .map_or(String::new(), |m| format!(", slide mean a* {m:.4}"))
        );
    }
    img.save(&a.out)
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "wrote {} ({}x{})",
        a.out.display(),
        img.width(),
        img.height()
    );
    Ok(())
}
