//! `histo predict`: predictions of a trained checkpoint on a dataset, as the CSV `histo
//! evaluate` reads.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args as ClapArgs;
use histo_ssl_cr::{DataSpec, Predictor, Split, TaskKind, predict_dataset};

use crate::Context;

/// Options of `histo predict`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// A fine-tuned or consistency-trained checkpoint (RUN/best.safetensors), or an original
    /// PyTorch .pt with a fine-tune head.
    #[arg(long, value_name = "CKPT")]
    checkpoint: PathBuf,
    /// The dataset as KIND:PATH (see `histo finetune --help`).
    #[arg(long, value_name = "KIND:PATH")]
    dataset: DataSpec,
    /// Which part: test (default; Camelyon16: the *_VALID folders), validation (BreastPathQ's
    /// validation folder, Camelyon16's *_VALID) or train.
    #[arg(long, default_value = "test")]
    split: Split,
    /// The CSV to write: regression `id,prediction,rater_a[,rater_b]`; binary
    /// `id,target,score,prediction`; multiclass `id,target,prediction,prob_0,…`.
    #[arg(long, value_name = "preds.csv")]
    out: PathBuf,
    /// The task, when the checkpoint does not record it (imported checkpoints).
    #[arg(long)]
    task: Option<TaskKind>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
}

/// Runs `histo predict`.
pub fn run(args: Args, ctx: &Context) -> Result<()> {
    let device = ctx.device()?;
    let mut pred = Predictor::load(&args.checkpoint, &device, args.task)?;
    pred.batch_size = args.batch_size.max(1);
    let data = args.dataset.evaluation(args.split)?;
    let s = predict_dataset(&pred, &data, &args.out).with_context(|| {
        format!(
            "predicting {} with {}",
            args.dataset,
            args.checkpoint.display()
        )
    })?;
    super::finetune::say!(
        "wrote {} ({} {} predictions; {} {:.4}) in {:.1} s",
        args.out.display(),
        s.samples,
        pred.task,
        s.metric.0,
        s.metric.1,
        s.wall_s
    );
    super::finetune::say!(
        "  evaluate: histo evaluate --task {} --predictions {} --json METRICS.json",
        pred.task,
        args.out.display()
    );
    Ok(())
}
