//! `cargo xtask`: orchestration of the histo workspace (the cargo-xtask convention; the alias
//! lives in `.cargo/config.toml`). Only orchestration lives here: every real computation is in
//! the crates, so that users get it from the library and the `histo` binary too.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod bench_tiling;
mod bench_train;
mod cuda;
mod gpu_check;
mod openslide;
mod reproduce;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "histo project automation")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build once and run the whole test suite (unit, integration and doc tests).
    Test {
        /// Extra arguments for `cargo test` (after `--`), e.g. a test name filter.
        #[arg(last = true)]
        rest: Vec<String>,
    },
    /// What CI runs: format check, clippy with -D warnings, the test suite, and the tests of
    /// optional features whose system libraries are installed.
    Ci,
    /// Run the whole method end to end on the embedded synthetic dataset and write a report.
    Reproduce(Box<reproduce::Args>),
    /// Run a benchmark: `tiling` (histo-wsi: RSP triplets/s, candidate tests/s, peak RSS) or
    /// `train` (ResNet-18 / RSP training img/s and peak RSS, `--torch PYTHON` for ratios).
    Bench {
        /// Which benchmark.
        name: String,
        /// Extra arguments for the benchmark (after `--`), e.g. `--runs 9`.
        #[arg(last = true)]
        rest: Vec<String>,
    },
    /// Fetch the pinned CUDA 13.0 compiler wheels from PyPI into `.cuda-toolchain/`, generate
    /// link stubs, and print the environment a CUDA build needs.
    CudaToolchain,
    /// Build `histo` with CUDA for sm_90a (H100/H200) in `target/cuda/` and pack it into `dist/`.
    BuildCuda {
        /// Cargo features: `cudnn` (default; cuDNN convolutions) or `cuda`.
        #[arg(long, default_value = "cudnn")]
        features: String,
    },
    /// The GPU check (parity, train-step img/s vs PyTorch, GPU memory, end to end), or its CPU
    /// half with `--device cpu`; `--prepare` packs it for a GPU machine.
    GpuCheck(Box<gpu_check::Args>),
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.task {
        Task::Test { rest } => test(&rest),
        Task::Ci => ci(),
        Task::Reproduce(args) => reproduce::run(*args),
        Task::Bench { name, rest } => match name.as_str() {
            "tiling" => bench_tiling::run(&rest),
            "train" => bench_train::run(&rest),
            other => bail!("unknown benchmark `{other}` (available: tiling, train)"),
        },
        Task::CudaToolchain => cuda::toolchain(),
        Task::BuildCuda { features } => cuda::build(&features),
        Task::GpuCheck(args) => gpu_check::run(*args),
    }
}

/// The workspace root (the parent of this crate's folder), or the current directory for a
/// carried xtask binary (`cargo xtask gpu-check --prepare`) run in a checkout elsewhere.
fn root() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf();
    if built.join("Cargo.toml").is_file() {
        return built;
    }
    std::env::current_dir().unwrap_or(built)
}

fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("==> cargo {}", args.join(" "));
    let start = Instant::now();
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot run `{cargo}`"))?;
    eprintln!("    ({:.1} s)", start.elapsed().as_secs_f64());
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn test(rest: &[String]) -> Result<()> {
    let mut args = vec!["test", "--workspace"];
    if !rest.is_empty() {
        args.push("--");
        args.extend(rest.iter().map(String::as_str));
    }
    cargo(&args)
}

fn ci() -> Result<()> {
    let start = Instant::now();
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    test(&[])?;
    openslide::ci_step()?;
    cuda::ci_step()?;
    eprintln!("==> CI passed in {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}
