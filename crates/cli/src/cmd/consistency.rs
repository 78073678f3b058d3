//! `histo consistency`: stage 3, teacher–student consistency training ("SSL_CR").

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args as ClapArgs;
use histo_ssl_cr::{Consistency, ConsistencyConfig, DataSpec, RunOptions, TaskKind, TeacherUpdate};

use crate::Context;

/// Options of `histo consistency`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The task (as the fine-tuned checkpoint's): regression, binary or multiclass.
    #[arg(long)]
    task: TaskKind,
    /// The dataset as KIND:PATH, the same as the fine-tune run's (see `histo finetune --help`).
    #[arg(long, value_name = "KIND:PATH")]
    data: DataSpec,
    /// The fine-tuned (stage 2) checkpoint that teacher and student start from, e.g.
    /// SSL_RUN/best.safetensors.
    #[arg(long, value_name = "FINETUNE_CKPT")]
    init: PathBuf,
    /// Fraction of the training labels used, in (0, 1]: the same as the fine-tune run's.
    #[arg(long, value_name = "F")]
    labels: Option<f64>,
    /// The run folder.
    #[arg(long, value_name = "RUN")]
    out: PathBuf,
    /// Settings: a built-in preset (paper-breastpathq, paper-camelyon16, paper-kather,
    /// synthetic) or a TOML file. Default: the paper preset of the dataset kind.
    #[arg(long, value_name = "NAME|FILE.toml")]
    preset: Option<String>,
    /// Epochs in total.
    #[arg(long)]
    epochs: Option<u64>,
    /// Labelled samples per step (3 views each); μ times as many unlabelled pairs.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Base learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Unlabelled samples per labelled sample (μ).
    #[arg(long)]
    mu: Option<usize>,
    /// Weight of the consistency loss (λ_u).
    #[arg(long)]
    lambda_u: Option<f64>,
    /// Confidence threshold of pseudo-labels (0 = the original; 0.95 = FixMatch).
    #[arg(long)]
    threshold: Option<f64>,
    /// Teacher update: copy (the student is copied into the teacher after every epoch, the
    /// original) or ema.
    #[arg(long, value_name = "copy|ema")]
    teacher: Option<String>,
    /// Decay of the EMA teacher.
    #[arg(long, default_value_t = 0.99)]
    ema_decay: f64,
    /// Draw unlabelled batches per class, as the original Camelyon16 script (B23).
    #[arg(long)]
    per_class_unlabelled: bool,
    /// Frozen groups of the student (default `trunk`, the original's modules_student 60).
    #[arg(long, value_name = "GROUPS")]
    freeze: Option<String>,
    /// Labelled-subset draw: without-replacement (default) or original (with replacement, B11).
    #[arg(long, value_name = "HOW")]
    sampling: Option<String>,
    /// Draw the validation split and the labelled subset per class.
    #[arg(long)]
    stratified: bool,
    /// Loader threads.
    #[arg(long)]
    workers: Option<usize>,
    /// Continue the run in --out from its last.safetensors.
    #[arg(long)]
    resume: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `histo consistency`.
pub fn run(args: Args, ctx: &Context) -> Result<()> {
    let preset = args
        .preset
        .clone()
        .unwrap_or_else(|| args.data.kind.paper_preset().to_string());
    let mut config = ConsistencyConfig::preset(&preset)?;
    if let Some(f) = args.labels {
        histo_ssl_cr::check_label_fraction(f).context("--labels")?;
        config.split.label_fraction = f;
    }
    if let Some(e) = args.epochs {
        config.train.epochs = e;
    }
    if let Some(b) = args.batch_size {
        config.train.batch_size = b;
    }
    if let Some(lr) = args.lr {
        config.train.lr = lr;
    }
    if let Some(f) = &args.freeze {
        config.train.freeze = f.clone();
    }
    if let Some(s) = &args.sampling {
        config.split.sampling = histo_ssl_cr::config::sampling_from_str(s)?;
    }
    if args.stratified {
        config.split.stratified = true;
    }
    if let Some(w) = args.workers {
        config.train.workers = w;
    }
    let c = &mut config.consistency;
    if let Some(m) = args.mu {
        c.mu = m;
    }
    if let Some(l) = args.lambda_u {
        c.lambda_u = l;
    }
    if let Some(t) = args.threshold {
        c.threshold = t;
    }
    match args.teacher.as_deref() {
        None => {}
        Some("copy") => c.teacher = TeacherUpdate::Copy,
        Some("ema") => {
            c.teacher = TeacherUpdate::Ema {
                decay: args.ema_decay,
            }
        }
        Some(other) => anyhow::bail!("--teacher {other}: expected copy or ema"),
    }
    if args.per_class_unlabelled {
        c.per_class_unlabelled = true;
    }
    let job = Consistency {
        config,
        task: args.task,
        data: args.data,
        init: args.init,
    };
    let opts = RunOptions {
        out: args.out,
        device: ctx.device()?,
        seed: ctx.seed,
        resume: args.resume,
        progress: true,
    };
    let summary = histo_ssl_cr::consistency(&job, &opts)
        .with_context(|| format!("consistency training into {}", opts.out.display()))?;
    super::finetune::report(&summary, args.json)
}
