//! `histo`: the command-line front end of the histo toolkit.
//!
//! One subcommand module per stage lives in [`cmd`]; each has an `Args` struct (clap derive)
//! and a `run(args, &Context)` function. Adding a stage means adding a module and one line in
//! [`Command`]. Errors are printed as one readable chain and exit with status 1.

mod cmd;
mod context;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use histo_tensor::DeviceSpec;

pub use context::Context;

/// histo: annotation-efficient deep learning on histopathology whole-slide images
/// (RSP self-supervised pretraining, fine-tuning with few labels, teacher-student consistency).
#[derive(Parser, Debug)]
#[command(name = "histo", version, propagate_version = true)]
struct Cli {
    /// Log filter: error, warn, info, debug, trace, or a tracing directive such as
    /// `histo=debug,candle=warn`. Logs go to stderr.
    #[arg(long, global = true, env = "HISTO_LOG", default_value = "info")]
    log_level: String,

    /// Compute device: auto, cpu, cuda or cuda:N. `auto` uses the first GPU when this build
    /// has CUDA support and one is present, else the CPU.
    #[arg(long, global = true, env = "HISTO_DEVICE", default_value = "auto")]
    device: DeviceSpec,

    /// Seed of every random stream (augmentation, shuffling, initialisation).
    #[arg(long, global = true, env = "HISTO_SEED", default_value_t = 42)]
    seed: u64,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the build (version, features), the compute devices and the thread count.
    Info(cmd::info::Args),
    /// Inspect whole-slide images: levels and properties, regions, thumbnails with tissue.
    Slide(cmd::slide::Args),
    /// Cut tiles from whole-slide images: RSP triplets into a tile store.
    Tile(cmd::tile::Args),
    /// Preview the augmentation pipelines on an image (PNG grid), or apply one HED stain shift.
    Augment(cmd::augment::Args),
    /// Write the embedded synthetic datasets: procedural H&E slides and patches in the real
    /// layouts of Kather, BreastPathQ and Camelyon16, plus pretraining slides.
    Synth(cmd::synth::Args),
    /// Metrics, a JSON report and PNG plots from a CSV of predictions (regression, binary or
    /// multi-class).
    Evaluate(cmd::evaluate::Args),
    /// Test-slide evaluation from `histo predict-slide` outputs: tile labels from the
    /// annotations, slide scores, Camelyon16 lesion-level FROC.
    EvaluateSlides(cmd::evaluate_slides::Args),
    /// Inspect a dataset on disk (counts, image sizes, scores, problems).
    Dataset(cmd::dataset::Args),
    /// Convert a checkpoint of the original PyTorch scripts (.pt) to a histo safetensors checkpoint.
    ConvertCheckpoint(cmd::convert_checkpoint::Args),
    /// Stage 2: fine-tune a (pretrained) network with a fraction of the labels ("SSL").
    Finetune(cmd::finetune::Args),
    /// Stage 3: teacher-student consistency training from a fine-tuned checkpoint ("SSL_CR").
    Consistency(cmd::consistency::Args),
    /// Predictions of a trained checkpoint on a dataset, as the CSV `histo evaluate` reads.
    Predict(cmd::predict::Args),
    /// Tumour-probability heat-maps of whole-slide images with a trained checkpoint.
    PredictSlide(cmd::predict_slide::Args),
    /// Stage 1: RSP self-supervised pretraining on a tile store (order of three magnifications).
    Pretrain(cmd::pretrain::Args),
    /// Linear-probe evaluation of a pretrained trunk on labelled patches (vs a random trunk).
    Probe(cmd::probe::Args),
    /// Measure this build here: training-step images/s, CPU-vs-GPU parity, loader images/s.
    Bench(cmd::bench::Args),
}

/// Rust ignores SIGPIPE, so writing to a closed pipe (`histo … | head`) makes `println!`
/// panic; a command-line tool should end quietly instead, as `cat` does.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at the start of `main`, before any thread exists; setting a signal's
    // disposition to its default is always sound.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    if let Err(e) = context::init_logging(&cli.log_level) {
        eprintln!("error: {e:#}");
        return ExitCode::from(1);
    }
    let ctx = Context {
        device: cli.device,
        seed: cli.seed,
    };
    let result = ctx.check().and_then(|()| match cli.command {
        Some(Command::Info(args)) => cmd::info::run(args, &ctx),
        Some(Command::Slide(args)) => cmd::slide::run(args, &ctx),
        Some(Command::Tile(args)) => cmd::tile::run(args, &ctx),
        Some(Command::Augment(args)) => cmd::augment::run(args, &ctx),
        Some(Command::Synth(args)) => cmd::synth::run(args, &ctx),
        Some(Command::Dataset(args)) => cmd::dataset::run(args, &ctx),
        Some(Command::Evaluate(args)) => cmd::evaluate::run(args, &ctx),
        Some(Command::EvaluateSlides(args)) => cmd::evaluate_slides::run(args, &ctx),
        Some(Command::ConvertCheckpoint(args)) => cmd::convert_checkpoint::run(args, &ctx),
        Some(Command::Finetune(args)) => cmd::finetune::run(args, &ctx),
        Some(Command::Consistency(args)) => cmd::consistency::run(args, &ctx),
        Some(Command::Predict(args)) => cmd::predict::run(args, &ctx),
        Some(Command::PredictSlide(args)) => cmd::predict_slide::run(args, &ctx),
        Some(Command::Pretrain(args)) => cmd::pretrain::run(args, &ctx),
        Some(Command::Probe(args)) => cmd::probe::run(args, &ctx),
        Some(Command::Bench(args)) => cmd::bench::run(args, &ctx),
        None => {
            // No subcommand: show the help on stderr and fail as a usage error.
            let _ = Cli::command().write_help(&mut std::io::stderr());
            Err(anyhow::anyhow!("no subcommand given (see the list above)"))
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
