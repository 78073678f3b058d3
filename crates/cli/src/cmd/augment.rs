//! `histo augment`: see what the model will see (`preview`) and apply one HED shift (`hed`).

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Subcommand, ValueEnum};
use histo_augment::ops::{HedBase, HedShift};
use histo_augment::pipelines::{V2Op, random_hed_shift};
use histo_augment::{
    FinetuneViews, Image, Mode, RandAugment, RspPool, RspVersion, Size, Strong, Transform, Weak,
    sample_rng,
};

use crate::Context;

/// Arguments of `histo augment`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: AugmentCommand,
}

#[derive(Subcommand, Debug)]
enum AugmentCommand {
    /// Write a PNG grid: the input image followed by N augmented views of it.
    Preview(PreviewArgs),
    /// Apply one HED stain shift with the given deltas (scikit-image 0.15 closed form).
    Hed(HedArgs),
}

/// Which augmentation to preview.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Pipeline {
    /// RSP pretraining pool (v1: 8 ops in a random order); the image is used as all three tiles.
    Rsp,
    /// RSP pretraining, Pretraining_v2 (RandAugment(2, 3) per tile).
    RspV2,
    /// The 3-view fine-tuning stack (resized, rotated, rotated+rescaled+cropped).
    Finetune,
    /// Weak view of consistency training: flip + random crop.
    Weak,
    /// Strong view: flip + crop + RandAugment(7, 10), default (sane) magnitudes.
    Strong,
    /// Strong view with the original's magnitudes (faithful mode).
    StrongFaithful,
    /// The random HED stain shift of the original (σ ~ U(±0.035), δ ~ N(0, σ), log10).
    Hed,
    /// Pretraining_v2's HED augmenter (σ and bias ~ U(±0.03·magnitude)).
    HedV2,
    /// Pretraining_v2's HSB augmenter (hue and saturation ~ U(±0.03·magnitude)).
    Hsb,
}

/// Arguments of `histo augment preview`.
#[derive(clap::Args, Debug)]
struct PreviewArgs {
    /// Input image (PNG, JPEG or TIFF).
    #[arg(long)]
    image: PathBuf,
    /// The augmentation to show.
    #[arg(long, value_enum, default_value = "strong")]
    pipeline: Pipeline,
    /// Number of augmented views.
    #[arg(long, default_value_t = 16)]
    n: usize,
    /// Output size of the crop-based pipelines (finetune, weak, strong): N or WIDTHxHEIGHT.
    #[arg(long, default_value = "256")]
    size: Size,
    /// Magnitude of the hed-v2 and hsb augmenters (the original's RandAugment draws it in [1, 3]).
    #[arg(long, default_value_t = 3.0)]
    magnitude: f64,
    /// Columns of the grid (default: about the square root of N + 1).
    #[arg(long)]
    cols: Option<usize>,
    /// Output PNG.
    #[arg(long)]
    out: PathBuf,
}

/// Logarithm base of the HED transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Base {
    /// log10 / 10^x: scikit-image 0.15, what the original ran.
    Log10,
    /// ln / e^x: scikit-image 0.14.
    Exp,
}

/// Arguments of `histo augment hed`.
#[derive(clap::Args, Debug)]
struct HedArgs {
    /// Input image (PNG, JPEG or TIFF).
    #[arg(long)]
    image: PathBuf,
    /// Offsets of the haematoxylin, eosin and DAB densities, e.g. `--delta=0.02,-0.015,0.01`.
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        required = true
    )]
    delta: Vec<f64>,
    /// Logarithm base.
    #[arg(long, value_enum, default_value = "log10")]
    base: Base,
    /// Output image (format from the extension).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `histo augment`.
pub fn run(args: Args, ctx: &Context) -> Result<()> {
    match args.command {
        AugmentCommand::Preview(a) => preview(a, ctx),
        AugmentCommand::Hed(a) => hed(a),
    }
}

fn hed(a: HedArgs) -> Result<()> {
    let [dh, de, dd] = a.delta[..] else {
        bail!(
            "--delta needs exactly 3 comma-separated numbers (H, E, D), got {}",
            a.delta.len()
        );
    };
    let img = Image::open(&a.image)?;
    let shift = HedShift {
        delta: [dh, de, dd],
        base: match a.base {
            Base::Log10 => HedBase::Log10,
            Base::Exp => HedBase::Exp,
        },
    };
    let out = shift.apply(&img).context("--delta")?;
    out.save(&a.out)?;
    let f = shift.factors();
    println!(
        "wrote {} ({}x{}); channel factors R {:.4}, G {:.4}, B {:.4}",
        a.out.display(),
        out.width(),
        out.height(),
        f[0],
        f[1],
        f[2]
    );
    Ok(())
}

/// The views of one pipeline; sample `i` draws from `sample_rng(seed, 0, i)`.
fn views(a: &PreviewArgs, img: &Image, seed: u64) -> Result<Vec<Image>> {
    let mut out = Vec::with_capacity(a.n);
    let mut i = 0u64;
    while out.len() < a.n {
        let mut rng = sample_rng(seed, 0, i);
        i += 1;
        let batch: Vec<Image> = match a.pipeline {
            Pipeline::Rsp | Pipeline::RspV2 => {
                let v = if a.pipeline == Pipeline::Rsp {
                    RspVersion::V1
                } else {
                    RspVersion::V2
                };
                let t = [img.clone(), img.clone(), img.clone()];
                RspPool::new(v).apply_triplet(&t, &mut rng)?.to_vec()
            }
            Pipeline::Finetune => FinetuneViews {
                size: a.size,
                ..FinetuneViews::default()
            }
            .views(img, &mut rng)?
            .to_vec(),
            Pipeline::Weak => vec![Weak { size: a.size }.apply(img, &mut rng)?],
            Pipeline::Strong | Pipeline::StrongFaithful => {
                let mode = if a.pipeline == Pipeline::Strong {
                    Mode::Sane
                } else {
                    Mode::Faithful
                };
                let strong = Strong {
                    size: a.size,
                    randaugment: RandAugment::default().with_mode(mode),
                };
                vec![strong.apply(img, &mut rng)?]
            }
            Pipeline::Hed => vec![random_hed_shift(img, 0.035, &mut rng)?],
            Pipeline::HedV2 => vec![V2Op::Hed.apply(img, a.magnitude, &mut rng)?],
            Pipeline::Hsb => vec![V2Op::Hsv.apply(img, a.magnitude, &mut rng)?],
        };
        out.extend(batch);
    }
    out.truncate(a.n);
    Ok(out)
}

/// Lays images out left to right, top to bottom, in equal cells with a 4-pixel white gap.
fn grid(images: &[Image], cols: usize) -> Result<Image> {
    let cw = images.iter().map(Image::width).max().unwrap_or(1);
    let ch = images.iter().map(Image::height).max().unwrap_or(1);
    let rows = images.len().div_ceil(cols);
    let gap = 4;
    let (w, h) = (cols * (cw + gap) + gap, rows * (ch + gap) + gap);
    if w.saturating_mul(h) > 1 << 28 {
        bail!("the grid would be {w}x{h} pixels; use a smaller --n or --size");
    }
    let mut out = Image::filled(w, h, [255, 255, 255]);
    for (k, img) in images.iter().enumerate() {
        let (x0, y0) = (gap + (k % cols) * (cw + gap), gap + (k / cols) * (ch + gap));
        let row = img.width() * 3;
        let dst = out.as_mut_slice();
        for y in 0..img.height() {
            let d = ((y0 + y) * w + x0) * 3;
            dst[d..d + row].copy_from_slice(&img.as_slice()[y * row..(y + 1) * row]);
        }
    }
    Ok(out)
}

fn preview(a: PreviewArgs, ctx: &Context) -> Result<()> {
    if a.n == 0 || a.n > 1024 {
        bail!("--n must be between 1 and 1024, got {}", a.n);
    }
    if a.cols == Some(0) {
        bail!("--cols must be at least 1");
    }
    let img = Image::open(&a.image)?;
    let augmented = views(&a, &img, ctx.seed)
        .with_context(|| format!("augmenting {} with {:?}", a.image.display(), a.pipeline))?;
    let mut all = Vec::with_capacity(a.n + 1);
    all.push(img);
    all.extend(augmented);
    let cols = a
        .cols
        .unwrap_or_else(|| ((all.len() as f64).sqrt().ceil() as usize).max(1));
    let g = grid(&all, cols)?;
    g.save(&a.out)?;
    println!(
        "wrote {} ({}x{}): the input and {} {:?} views, seed {}",
        a.out.display(),
        g.width(),
        g.height(),
        a.n,
        a.pipeline,
        ctx.seed
    );
    Ok(())
}
