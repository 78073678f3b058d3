//! `histo synth`: writes the embedded synthetic datasets (procedural H&E slides and patches in
//! the real on-disk layouts of Kather, BreastPathQ and Camelyon16, plus pretraining slides).

use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use histo_synth::{Progress, Scale, Selection, SynthConfig, proxy};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Context;

/// Arguments of `histo synth`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Preset size: tiny (tests: seconds, a few MB), small (a few minutes on 2 cores), full
    /// (hours; for GPU machines).
    #[arg(long, default_value = "small")]
    scale: String,

    /// Output folder (created; re-running resumes, skipping complete files).
    #[arg(long)]
    out: PathBuf,

    /// Write preview PNGs (class mosaic, cellularity strip, slide thumbnail with annotation
    /// outlines) under OUT/preview/.
    #[arg(long)]
    preview: bool,

    /// Only these datasets (comma-separated: pretrain, kather, breastpathq, camelyon16).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,

    /// Override a setting, e.g. `--set kather.train_per_class=100` or
    /// `--set difficulty.overlap=0.3` (repeatable; see OUT/synth.json for every key).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,

    /// A TOML file overriding any subset of the settings (applied before --set).
    #[arg(long)]
    config: Option<PathBuf>,

    /// Print the resolved configuration and exit without writing anything.
    #[arg(long)]
    dry_run: bool,

    /// After generating, measure the separability proxy (nearest-centroid accuracy on
    /// colour/texture statistics of the Kather-style patches, train → test).
    #[arg(long)]
    proxy: bool,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Progress bars on stderr (hidden when stderr is not a terminal).
struct Bars(Mutex<Option<ProgressBar>>);

impl Progress for Bars {
    fn begin(&self, stage: &str, total: u64) {
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("{msg:32} [{bar:30}] {pos}/{len} ({elapsed}, eta {eta})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(stage.to_string());
        if let Ok(mut b) = self.0.lock() {
            *b = Some(bar);
        }
    }
    fn advance(&self, n: u64) {
        if let Ok(b) = self.0.lock()
            && let Some(b) = b.as_ref()
        {
            b.inc(n);
        }
    }
    fn end(&self) {
        if let Ok(mut b) = self.0.lock()
            && let Some(b) = b.take()
        {
            b.finish_and_clear();
        }
    }
}

/// Runs `histo synth`.
pub fn run(args: Args, ctx: &Context) -> Result<()> {
    let scale: Scale = args.scale.parse().context("--scale")?;
    let mut cfg = SynthConfig::preset(scale, ctx.seed);
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --config {}", path.display()))?;
        cfg = cfg
            .with_toml(&text)
            .with_context(|| format!("in --config {}", path.display()))?;
    }
    cfg = cfg.with_overrides(&args.sets).context("--set")?;
    if args.dry_run {
        println!("{}", serde_json::to_string_pretty(&cfg)?);
        return Ok(());
    }
    let selection = Selection::parse(&args.only).context("--only")?;
    let bars = Bars(Mutex::new(None));
    let report = histo_synth::generate(&cfg, &args.out, selection, args.preview, &bars)
        .with_context(|| format!("generating synthetic data in {}", args.out.display()))?;
    let proxy = if args.proxy {
        let dir = args.out.join("kather");
        Some(
            proxy::nearest_centroid(&dir)
                .with_context(|| format!("separability proxy on {}", dir.display()))?,
        )
    } else {
        None
    };
    if args.json {
        let v = serde_json::json!({ "report": report, "proxy": proxy, "config": cfg });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:<12} {:>8} {:>8} {:>10} {:>9} {:>10}",
        "dataset", "written", "skipped", "Mpixels", "seconds", "MB"
    );
    for d in &report.datasets {
        println!(
            "{:<12} {:>8} {:>8} {:>10.1} {:>9.1} {:>10.1}",
            d.name,
            d.written,
            d.skipped,
            d.pixels as f64 / 1e6,
            d.seconds,
            d.bytes as f64 / 1e6
        );
    }
    for p in &report.previews {
        println!("preview: {}", p.display());
    }
    for n in &report.notes {
        println!("note: {n}");
    }
    if let Some(p) = proxy {
        println!(
            "separability proxy (nearest centroid on colour/texture statistics): test accuracy {:.1} % ({} train, {} test patches; train accuracy {:.1} %)",
            100.0 * p.accuracy,
            p.train,
            p.test,
            100.0 * p.train_accuracy
        );
        let names = histo_synth::TissueClass::ALL.map(|c| c.name());
        let recall: Vec<String> = names
            .iter()
            .zip(p.recall)
            .map(|(n, r)| format!("{n} {:.0}%", 100.0 * r))
            .collect();
        println!("per-class recall: {}", recall.join(", "));
    }
    Ok(())
}
