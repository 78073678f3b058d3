//! `histo probe`: linear-probe evaluation of a pretrained trunk on a labelled patch dataset.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use histo_ssl::probe::{ProbeConfig, probe, save_report};

use crate::Context;

/// Options of `histo probe`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The checkpoint whose TripletNet trunk is probed (e.g. RUN/best.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Labelled patches: a folder with `train/` and `test/` class folders (e.g. histo synth's
    /// `kather/`), or one folder of class folders (split by --test-fraction).
    #[arg(long)]
    dataset: PathBuf,
    /// Resize patches to this size (default: their own size, which keeps their magnification;
    /// the trunk is fully convolutional).
    #[arg(long)]
    size: Option<usize>,
    /// Held-out fraction when there is no test/ folder.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// At most this many training patches per class (0: all).
    #[arg(long, default_value_t = 0)]
    max_per_class: usize,
    /// L2 penalty of the logistic regression.
    #[arg(long, default_value_t = 1e-3)]
    l2: f64,
    /// Do not probe a randomly initialised trunk for comparison.
    #[arg(long)]
    no_baseline: bool,
    /// Also write the report as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `histo probe`.
pub fn run(args: Args, ctx: &Context) -> Result<()> {
    if !(0.0..1.0).contains(&args.test_fraction) {
        anyhow::bail!(
            "--test-fraction must be in [0, 1), got {}",
            args.test_fraction
        );
    }
    if !(args.l2.is_finite() && args.l2 >= 0.0) {
        anyhow::bail!("--l2 must be ≥ 0, got {}", args.l2);
    }
    if args.size == Some(0) {
        anyhow::bail!("--size must be at least 1");
    }
    let config = ProbeConfig {
        size: args.size,
        test_fraction: args.test_fraction,
        max_train_per_class: args.max_per_class,
        l2: args.l2,
        random_baseline: !args.no_baseline,
        seed: ctx.seed,
        ..ProbeConfig::default()
    };
    let device = ctx.device()?;
    let r = probe(&args.checkpoint, &args.dataset, &config, &device).with_context(|| {
        format!(
            "probing {} on {}",
            args.checkpoint.display(),
            args.dataset.display()
        )
    })?;
    if let Some(p) = &args.out {
        save_report(&r, p)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "linear probe of {} on {}: {} classes, {} training and {} test patches at {} px, {} features",
        r.checkpoint,
        r.dataset,
        r.classes.len(),
        r.train,
        r.test,
        r.size,
        r.features
    );
    let line = |name: &str, s: &histo_ssl::probe::ProbeScore| {
        println!(
            "  {name:<18} accuracy {:.4}  balanced {:.4}  macro F1 {:.4}  (train {:.4})",
            s.accuracy, s.balanced_accuracy, s.macro_f1, s.train_accuracy
        );
    };
    line("pretrained trunk", &r.pretrained);
    if let Some(rand) = &r.random {
        line("random trunk", rand);
    }
    println!("  ({:.1} s)", r.seconds);
    Ok(())
}
