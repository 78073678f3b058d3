//! `histo pretrain`: RSP self-supervised pretraining on a tile store (stage 1).

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use histo_ssl::{CONFIG, PretrainConfig, PretrainOptions, pretrain};

use crate::Context;

/// Options of `histo pretrain`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The tile store (`histo tile rsp --out STORE`).
    #[arg(long)]
    store: PathBuf,
    /// The run folder: config.toml, logs, curves.png, last/best.safetensors, embedding.png,
    /// summary.json.
    #[arg(long)]
    out: PathBuf,
    /// Preset name (synthetic, paper-breastpathq, paper-camelyon16, paper-v2) or a TOML file.
    /// Default: the run's own config.toml with --resume, else `synthetic`.
    #[arg(long)]
    preset: Option<String>,
    /// Epochs in total (a resumed run continues up to this).
    #[arg(long)]
    epochs: Option<u64>,
    /// Triplets per batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Loader threads (reading and augmenting tiles).
    #[arg(long)]
    workers: Option<usize>,
    /// Continue the run in --out from its last.safetensors (exactly where it stopped).
    #[arg(long)]
    resume: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `histo pretrain`.
pub fn run(args: Args, ctx: &Context) -> Result<()> {
    let saved = args.out.join(CONFIG);
    let mut config = match (&args.preset, args.resume && saved.exists()) {
        (None, true) => PretrainConfig::load(&saved)?,
        (Some(p), _) => {
            let mut c = PretrainConfig::preset(p)?;
            c.seed = ctx.seed;
            c
        }
        (None, false) => {
            let mut c = PretrainConfig::preset("synthetic")?;
            c.seed = ctx.seed;
            c
        }
    };
    if let Some(e) = args.epochs {
        config.set_epochs(e);
    }
    if let Some(b) = args.batch_size {
        config.train.batch_size = b;
    }
    if let Some(w) = args.workers {
        config.train.workers = w;
    }
    config
        .validate()
        .context("checking the configuration (--epochs, --batch-size, --workers)")?;
    let device = ctx.device()?;
    let opts = PretrainOptions {
        store: args.store.clone(),
        out: args.out.clone(),
        resume: args.resume,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    tracing::info!(
        "RSP pretraining `{}` on {} into {} ({} epochs, batch {})",
        config.preset,
        args.store.display(),
        args.out.display(),
        config.train.epochs,
        config.train.batch_size
    );
    let s = pretrain(&config, &opts, &device)
        .with_context(|| format!("pretraining into {}", args.out.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!("RSP pretraining run {}", args.out.display());
    println!(
        "  data       : {} training triplets ({} samples/epoch), {} validation triplets \
         ({} samples){}",
        s.train_triplets,
        s.train_samples,
        s.val_triplets,
        s.val_samples,
        if s.val_slides.is_empty() {
            String::new()
        } else {
            format!(", validation slides {}", s.val_slides.join(", "))
        }
    );
    println!(
        "  epochs     : {} ({} in this run)",
        s.epochs, s.epochs_this_run
    );
    println!(
        "  validation : accuracy {:.4} (chance 0.1667), loss {:.4}",
        s.val_accuracy, s.val_loss
    );
    if let (Some(e), Some(l), Some(a)) = (s.best_epoch, s.best_val_loss, s.best_val_accuracy) {
        println!("  best       : epoch {e}, loss {l:.4}, accuracy {a:.4} (best.safetensors)");
    }
    println!(
        "  speed      : {:.1} triplets/s on {} ({} threads); wall {:.1} s{}",
        s.triplets_per_s,
        s.device,
        s.threads,
        s.wall_s,
        s.peak_rss_mib
            .map(|m| format!("; peak memory {m:.0} MiB"))
            .unwrap_or_default()
    );
    for w in &s.warnings {
        println!("  warning    : {w}");
    }
    Ok(())
}
