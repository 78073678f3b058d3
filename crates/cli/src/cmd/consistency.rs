//! `histo consistency`: stage 3, teacher–student consistency training ("SSL_CR").

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args as ClapArgs;
use histo_ssl_cr::{Consistency, ConsistencyConfig, DataSpec, RunOptions, TaskKind, TeacherUpdate};

use super::train_args::TrainOverrides;
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
    /// The run folder.
    #[arg(long, value_name = "RUN")]
    out: PathBuf,
    #[command(flatten)]
    train: TrainOverrides,
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
    /// Continue the run in --out from its last.safetensors.
    #[arg(long)]
    resume: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `histo consistency`.
pub fn run(args: Args, ctx: &Context) -> Result<()> {
    let preset = args.train.preset_or(args.data.kind.paper_preset());
    let mut config = ConsistencyConfig::preset(&preset)?;
    args.train.apply(&mut config.train, &mut config.split)?;
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
