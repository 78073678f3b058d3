//! `histo finetune`: stage 2, supervised fine-tuning with a fraction of the labels ("SSL").

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args as ClapArgs;
use histo_ssl_cr::{DataSpec, Finetune, FinetuneConfig, Init, RunOptions, RunSummary, TaskKind};

use super::train_args::TrainOverrides;
use crate::Context;

/// `println!` that ignores a closed stdout (`histo … | head` must not panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
pub(crate) use say;

/// Options of `histo finetune`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The task: regression (BreastPathQ cellularity, MSE), binary (Camelyon16 tumour vs
    /// normal) or multiclass (Kather's 9 tissue types, or any class folders).
    #[arg(long)]
    task: TaskKind,
    /// The dataset as KIND:PATH: kather:ROOT, folders:ROOT, breastpathq:ROOT (release layout)
    /// or breastpathq:IMAGES,LABELS.csv, breastpathq-h5:DIR, camelyon16:ROOT (PATCHES_*
    /// folders). Validation: 20 % of train held out, or Camelyon16's *_VALID folders.
    #[arg(long, value_name = "KIND:PATH")]
    data: DataSpec,
    /// Initial network: an RSP checkpoint (histo-ssl's RUN/best.safetensors: trunk + pair
    /// head), `random`, or an original PyTorch .pt.
    #[arg(long, value_name = "RSP_CKPT|random|ORIGINAL.pt")]
    init: Init,
    /// The run folder (checkpoints, logs, curves, config.toml, split.json, summary.json).
    #[arg(long, value_name = "RUN")]
    out: PathBuf,
    #[command(flatten)]
    train: TrainOverrides,
    /// Side of the network input in pixels (patches are resized to it).
    #[arg(long, value_name = "PX")]
    image_size: Option<usize>,
    /// Class count of a multiclass task when the dataset does not tell.
    #[arg(long)]
    classes: Option<usize>,
    /// Continue the run in --out from its last.safetensors.
    #[arg(long)]
    resume: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `histo finetune`.
pub fn run(args: Args, ctx: &Context) -> Result<()> {
    let preset = args.train.preset_or(args.data.kind.paper_preset());
    let mut config = FinetuneConfig::preset(&preset)?;
    args.train.apply(&mut config.train, &mut config.split)?;
    if let Some(s) = args.image_size {
        config.input.size = s;
    }
    let job = Finetune {
        config,
        task: args.task,
        data: args.data,
        init: args.init,
        classes: args.classes,
    };
    let opts = RunOptions {
        out: args.out,
        device: ctx.device()?,
        seed: ctx.seed,
        resume: args.resume,
        progress: true,
    };
    let summary = histo_ssl_cr::finetune(&job, &opts)
        .with_context(|| format!("fine-tuning into {}", opts.out.display()))?;
    report(&summary, args.json)
}

/// Prints a run summary.
pub fn report(s: &RunSummary, json: bool) -> Result<()> {
    if json {
        say!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    say!(
        "{} {} ({} labelled of {} training samples, {} validation): {} epochs in {:.1} s",
        s.stage,
        s.task,
        s.labelled,
        s.train,
        s.val,
        s.epochs,
        s.wall_s
    );
    if let (Some(v), Some(e)) = (s.best_value, s.best_epoch) {
        say!("  best {} {v:.4} at epoch {e}", s.metric);
    }
    if let Some(b) = &s.best {
        say!("  best checkpoint: {}", b.display());
    }
    say!("  last checkpoint: {}", s.last.display());
    Ok(())
}
