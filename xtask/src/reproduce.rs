//! `cargo xtask reproduce`: the whole method end to end, with a report.
//!
//! Orchestration only, through the `histo` binary (built once in release mode, or the one given
//! with `--histo`): every number in the report comes from a file a `histo` command wrote, and
//! every command line in the report is exactly what ran, so a user can re-run any step by hand.
//! The pipeline: synthetic data (cached in `cache/synth-<scale>`, reused when complete) → RSP
//! tiling → RSP pretraining → per task and label fraction: random-init baseline, SSL (fine-tune
//! from RSP), SSL_CR (consistency from SSL), each predicted on the held-out test set and
//! evaluated → for the Camelyon-style task, heat-maps of the test slides, slide-level AUC and
//! FROC. The run folder holds `REPORT.md`, `report.json`, `commands.sh`, `state.json` (what
//! `--resume` reads) and one log per stage under `logs/`.

mod machine;
mod plan;
mod report;
mod runner;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use serde_json::json;

use plan::{Config, Data, Stage};
use runner::{Runner, Status};

/// Size of the synthetic datasets (histo-synth's presets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scale {
    /// Seconds of data, a few minutes in all: checks that every stage runs (the CI test).
    Tiny,
    /// The default: ≈ 25 minutes on 2 CPU cores after the build.
    Small,
    /// Hours of data generation and training: for GPU machines.
    Full,
}

impl Scale {
    /// The name histo-synth uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Tiny => "tiny",
            Scale::Small => "small",
            Scale::Full => "full",
        }
    }
}

/// A downstream task, named after the dataset whose layout it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TaskName {
    /// Kather-style 9-class tissue typing (multiclass).
    Kather,
    /// BreastPathQ-style tumour cellularity (regression against two raters).
    Breastpathq,
    /// Camelyon16-style tumour vs normal patches (binary), plus test-slide heat-maps.
    Camelyon16,
}

impl TaskName {
    /// The dataset name (`kather`, `breastpathq`, `camelyon16`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskName::Kather => "kather",
            TaskName::Breastpathq => "breastpathq",
            TaskName::Camelyon16 => "camelyon16",
        }
    }

    /// `histo finetune --task` / `histo evaluate --task`.
    pub fn kind(self) -> &'static str {
        match self {
            TaskName::Kather => "multiclass",
            TaskName::Breastpathq => "regression",
            TaskName::Camelyon16 => "binary",
        }
    }

    /// For headings.
    pub fn title(self) -> &'static str {
        match self {
            TaskName::Kather => "Kather-style tissue typing",
            TaskName::Breastpathq => "BreastPathQ-style cellularity",
            TaskName::Camelyon16 => "Camelyon16-style metastasis detection",
        }
    }
}

/// A training method of the paper's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Supervised from random initialisation.
    Baseline,
    /// Fine-tuned from the RSP-pretrained network.
    Ssl,
    /// Consistency-trained from the SSL model.
    SslCr,
}

impl Method {
    /// In run order (SSL_CR starts from SSL).
    pub const ALL: [Method; 3] = [Method::Baseline, Method::Ssl, Method::SslCr];

    /// Folder and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Baseline => "baseline",
            Method::Ssl => "ssl",
            Method::SslCr => "ssl_cr",
        }
    }

    /// As the paper writes it.
    pub fn title(self) -> &'static str {
        match self {
            Method::Baseline => "Random init",
            Method::Ssl => "SSL",
            Method::SslCr => "SSL_CR",
        }
    }
}

/// Options of `cargo xtask reproduce`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Size of the synthetic datasets: tiny (≈ 3 min, a smoke test), small (the default,
    /// ≈ 25 min on 2 cores), full (a GPU job).
    #[arg(long, value_enum, default_value = "small")]
    scale: Scale,
    /// Compute device for training and prediction: auto, cpu, cuda, cuda:N (CUDA needs
    /// `--features cuda`).
    #[arg(long, default_value = "auto")]
    device: String,
    /// Label fractions (comma-separated, each in (0, 1]).
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.25,0.5,1")]
    fractions: Vec<f64>,
    /// Downstream tasks (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "kather,breastpathq,camelyon16"
    )]
    tasks: Vec<TaskName>,
    /// The seed of every random stream (data generation, splits, initialisation, augmentation).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Run folder (default: `results/<scale>-<UTC date>-<time>`; with `--resume`, the latest
    /// run of this scale).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue a run: stages already done with the same command lines are skipped, an
    /// interrupted training continues from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Run on a real dataset in its native layout instead of the synthetic data, with the
    /// paper's hyper-parameters (90 epochs: a GPU job). Needs `--dataset`.
    #[arg(long, requires = "dataset")]
    data_dir: Option<PathBuf>,
    /// The real dataset in `--data-dir`: kather (NCT-CRC-HE: `train/` and `test/` class
    /// folders), breastpathq (the challenge release), camelyon16 (patch folders, annotations,
    /// slides).
    #[arg(long, value_enum, requires = "data_dir")]
    dataset: Option<TaskName>,
    /// Real data: whole-slide images for RSP pretraining (a folder of .svs/.tif).
    #[arg(long, requires = "data_dir")]
    pretrain_slides: Option<PathBuf>,
    /// Real data: start from this RSP checkpoint instead of pretraining (e.g. one converted
    /// with `histo convert-checkpoint` from the published models).
    #[arg(long, requires = "data_dir", conflicts_with = "pretrain_slides")]
    rsp_checkpoint: Option<PathBuf>,
    /// Synthetic-data cache folder (default: `cache/` in the workspace).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Use this `histo` binary instead of building one.
    #[arg(long)]
    histo: Option<PathBuf>,
    /// Cargo profile for building `histo` (release, or dev for quick checks).
    #[arg(long, default_value = "release", conflicts_with = "histo")]
    profile: String,
    /// Cargo features for building `histo` (e.g. `cuda` or `cudnn` for `--device cuda`).
    #[arg(long, conflicts_with = "histo")]
    features: Option<String>,
    /// Run the stages whose `histo` subcommands exist and report the others as missing
    /// (the run still ends with an error).
    #[arg(long)]
    allow_missing: bool,
    /// Print the plan (every command line) and exit.
    #[arg(long)]
    dry_run: bool,
}

/// A path as the commands see it: relative to the workspace root when inside it.
fn rel(root: &Path, p: &Path) -> PathBuf {
    p.strip_prefix(root)
        .map_or_else(|_| p.to_path_buf(), Path::to_path_buf)
}

/// A user path made absolute against the current directory, then shown relative to the root.
fn user_path(root: &Path, p: &Path) -> Result<PathBuf> {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .context("cannot read the current directory")?
            .join(p)
    };
    Ok(rel(root, &abs))
}

fn validate(args: &Args) -> Result<()> {
    if args.fractions.is_empty() {
        bail!("--fractions is empty");
    }
    for &f in &args.fractions {
        if !(f > 0.0 && f <= 1.0) {
            bail!("--fractions: {f} is not a label fraction in (0, 1]");
        }
    }
    let mut seen = args.fractions.clone();
    seen.sort_by(f64::total_cmp);
    if seen.windows(2).any(|w| w[0] == w[1]) {
        bail!("--fractions lists a fraction twice");
    }
    if args.tasks.is_empty() {
        bail!("--tasks is empty");
    }
    if let Some(d) = &args.data_dir {
        if !d.is_dir() {
            bail!("--data-dir {}: not a folder", d.display());
        }
        if args.pretrain_slides.is_none() && args.rsp_checkpoint.is_none() {
            bail!(
                "--data-dir needs --pretrain-slides DIR (whole-slide images for RSP pretraining) \
                 or --rsp-checkpoint FILE (an RSP model to start from)"
            );
        }
    }
    if let Some(p) = &args.rsp_checkpoint
        && !p.is_file()
    {
        bail!("--rsp-checkpoint {}: no such file", p.display());
    }
    if let Some(p) = &args.pretrain_slides
        && !p.is_dir()
    {
        bail!("--pretrain-slides {}: not a folder", p.display());
    }
    Ok(())
}

/// The run folder: `--out`, or a new `results/<scale>-<stamp>`, or (with `--resume`) the
/// latest run folder of this scale.
fn run_folder(root: &Path, args: &Args, start: u64) -> Result<PathBuf> {
    let prefix = match args.dataset {
        Some(d) => format!("{}-", d.as_str()),
        None => format!("{}-", args.scale.as_str()),
    };
    if let Some(o) = &args.out {
        return user_path(root, o);
    }
    if args.resume {
        let results = root.join("results");
        let mut runs: Vec<PathBuf> = std::fs::read_dir(&results)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.join("state.json").is_file()
                            && p.file_name()
                                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                    })
                    .collect()
            })
            .unwrap_or_default();
        runs.sort();
        return match runs.pop() {
            Some(p) => Ok(rel(root, &p)),
            None => bail!(
                "--resume: no earlier run of this scale under {} (name one with --out)",
                results.display()
            ),
        };
    }
    Ok(PathBuf::from("results").join(format!("{prefix}{}", machine::utc_stamp(start))))
}

/// Builds `histo` (unless `--histo` names one) and returns its path and the build time.
fn histo_binary(root: &Path, args: &Args) -> Result<(PathBuf, Option<f64>)> {
    if let Some(h) = &args.histo {
        let p = user_path(root, h)?;
        if !root.join(&p).is_file() {
            bail!("--histo {}: no such file", h.display());
        }
        return Ok((p, None));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = vec![
        "build".to_string(),
        "--profile".into(),
        args.profile.clone(),
        "-p".into(),
        "histo-cli".into(),
        "--bin".into(),
        "histo".into(),
    ];
    if let Some(f) = &args.features {
        cmd.push("--features".into());
        cmd.push(f.clone());
    }
    eprintln!("==> cargo {}", cmd.join(" "));
    let t = Instant::now();
    let status = Command::new(&cargo)
        .args(&cmd)
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot run `{cargo}`"))?;
    if !status.success() {
        bail!("building histo failed ({status})");
    }
    let build_s = t.elapsed().as_secs_f64();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root.join("target"), |t| user_path(root, &t).unwrap_or(t));
    let dir = match args.profile.as_str() {
        "dev" | "test" => "debug",
        "bench" => "release",
        p => p,
    };
    let bin = root.join(&target).join(dir).join("histo");
    if !bin.is_file() {
        bail!("cargo built histo but {} is missing", bin.display());
    }
    Ok((rel(root, &bin), Some(build_s)))
}

/// Whether `histo <words…>` exists in this build.
fn has_subcommand(root: &Path, histo: &Path, words: &[&str]) -> bool {
    Command::new(root.join(histo))
        .args(words)
        .arg("--help")
        .current_dir(root)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The subcommands a stage uses (`tile rsp`, `finetune`, …), for the availability check.
fn subcommands(stage: &Stage) -> Vec<Vec<String>> {
    stage
        .cmds
        .iter()
        .map(|c| {
            // args: --seed S [--device D] SUB [SUB2] …
            let mut words = vec![];
            let mut it = c.args.iter().peekable();
            while let Some(a) = it.next() {
                if a == "--seed" || a == "--device" {
                    it.next();
                    continue;
                }
                if a.starts_with('-') {
                    break;
                }
                words.push(a.clone());
                if words.len() == 2 || a != "tile" {
                    break;
                }
            }
            words
        })
        .collect()
}

/// What each subcommand stands for (for the message when one is missing).
fn subcommand_role(words: &[String]) -> &'static str {
    match words.first().map(String::as_str) {
        Some("synth") => "synthetic data (histo-synth)",
        Some("tile") => "RSP tiling (histo-wsi)",
        Some("pretrain") => "RSP pretraining (histo-ssl, issue 8)",
        Some("finetune") => "fine-tuning: baseline and SSL (histo-ssl-cr, issue 9)",
        Some("consistency") => "consistency training: SSL_CR (histo-ssl-cr, issue 9)",
        Some("predict") => "test-set prediction (histo-ssl-cr, issue 9)",
        Some("predict-slide") => "slide heat-maps (histo-ssl-cr, issue 9)",
        Some("evaluate") => "metrics and plots (histo-metrics)",
        Some("evaluate-slides") => "slide-level AUC and FROC (histo-metrics)",
        _ => "a pipeline stage",
    }
}

/// Runs `cargo xtask reproduce`.
pub fn run(args: Args) -> Result<()> {
    validate(&args)?;
    let root = crate::root();
    let start = machine::unix_now();
    let run = run_folder(&root, &args, start)?;
    let run_abs = root.join(&run);
    if !args.resume && !args.dry_run && run_abs.join("state.json").exists() {
        bail!(
            "{} already holds a run: pass --resume to continue it, or choose another --out",
            run.display()
        );
    }
    let cache = match &args.cache {
        Some(c) => user_path(&root, c)?,
        None => PathBuf::from("cache"),
    };
    let data = match (&args.data_dir, args.dataset) {
        (Some(dir), Some(dataset)) => Data::Real {
            dataset,
            dir: user_path(&root, dir)?,
            pretrain_slides: args
                .pretrain_slides
                .as_deref()
                .map(|p| user_path(&root, p))
                .transpose()?,
            rsp_checkpoint: args
                .rsp_checkpoint
                .as_deref()
                .map(|p| user_path(&root, p))
                .transpose()?,
        },
        _ => {
            // histo-synth refuses a folder generated with other settings: one folder per
            // scale, seed and reproduction-specific overrides.
            let mut name = format!("synth-{}", args.scale.as_str());
            if !plan::synth_overrides(args.scale).is_empty() {
                name.push_str("-reproduce");
            }
            if args.seed != 42 {
                name.push_str(&format!("-seed{}", args.seed));
            }
            Data::Synth {
                dir: cache.join(&name),
                lock: cache.join(format!("{name}.lock")),
            }
        }
    };
    let tasks = match args.dataset {
        Some(d) => vec![d],
        None => args.tasks.clone(),
    };

    let (histo, build_s) = if args.dry_run && args.histo.is_none() {
        (PathBuf::from("target/release/histo"), None)
    } else {
        histo_binary(&root, &args)?
    };
    let cfg = Config {
        histo: histo.clone(),
        scale: args.scale,
        seed: args.seed,
        device: args.device.clone(),
        fractions: args.fractions.clone(),
        tasks,
        data: data.clone(),
        run: run.clone(),
    };

    let data_stage = cfg.data_stage();
    let stages = cfg.stages();
    if args.dry_run {
        for s in data_stage.iter().chain(&stages) {
            println!("# {} [{}]", s.label, s.id);
            for l in s.command_lines(false) {
                println!("{l}");
            }
        }
        return Ok(());
    }

    // Which subcommands does this build have?
    let mut missing: Vec<(String, &'static str)> = vec![];
    for s in data_stage.iter().chain(&stages) {
        for words in subcommands(s) {
            let w: Vec<&str> = words.iter().map(String::as_str).collect();
            let name = format!("histo {}", w.join(" "));
            if !missing.iter().any(|(n, _)| *n == name) && !has_subcommand(&root, &histo, &w) {
                missing.push((name, subcommand_role(&words)));
            }
        }
    }
    if !missing.is_empty() && !args.allow_missing {
        let list: Vec<String> = missing
            .iter()
            .map(|(n, r)| format!("  `{n}`: {r}"))
            .collect();
        bail!(
            "this build of histo ({}) lacks stages the pipeline needs:\n{}\nThey have not \
             landed yet; nothing was run and no result is reported. `--allow-missing` runs the \
             stages that exist and reports the others as missing.",
            histo.display(),
            list.join("\n")
        );
    }

    let info = Command::new(root.join(&histo))
        .args(["--device", &args.device, "info", "--json"])
        .current_dir(&root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice(&o.stdout).ok());
    let machine = machine::describe(&root, info);

    let total = data_stage.iter().count() + stages.len();
    let mut runner = Runner::new(root.clone(), run_abs.clone(), args.resume, total)?;
    runner.state.config = json!({
        "scale": args.scale.as_str(),
        "seed": args.seed,
        "device": args.device,
        "fractions": args.fractions,
        "tasks": cfg.tasks.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "data": match &data {
            Data::Synth { dir, .. } => json!({"synthetic": dir}),
            Data::Real { dataset, dir, pretrain_slides, rsp_checkpoint } => json!({
                "dataset": dataset.as_str(), "dir": dir,
                "pretrain_slides": pretrain_slides, "rsp_checkpoint": rsp_checkpoint,
            }),
        },
        "histo": histo,
    });
    eprintln!("==> run folder: {}", run.display());
    let t0 = Instant::now();
    let is_missing = |s: &Stage| -> Option<String> {
        subcommands(s).into_iter().find_map(|w| {
            let name = format!("histo {}", w.join(" "));
            missing
                .iter()
                .any(|(n, _)| *n == name)
                .then(|| format!("`{name}` is not available in this build"))
        })
    };

    let mut all = Vec::new();
    if let Some(s) = data_stage {
        match is_missing(&s) {
            Some(reason) => runner.block(&s, reason)?,
            None => {
                runner.run(&s)?;
            }
        }
        all.push(s);
    }
    for s in &stages {
        let blocked = s.deps.iter().find(|d| !runner.is_done(d));
        if let Some(d) = blocked {
            runner.block(s, format!("`{d}` did not complete"))?;
        } else if let Some(reason) = is_missing(s) {
            runner.block(s, reason)?;
        } else {
            runner.run(s)?;
        }
    }
    all.extend(stages);
    let pipeline_s = t0.elapsed().as_secs_f64();
    runner.state.invocations.push(runner::Invocation {
        started: machine::utc_string(start),
        started_unix: start,
        pipeline_s,
        build_s,
    });
    runner.save()?;

    let commands: Vec<String> = all
        .iter()
        .flat_map(|s| {
            std::iter::once(format!("\n# {} [{}]", s.label, s.id)).chain(s.command_lines(false))
        })
        .collect();
    std::fs::write(
        run_abs.join("commands.sh"),
        format!(
            "#!/usr/bin/env bash\n# Every command of this run, in order; run from the workspace \
             root.\nset -euo pipefail\n{}\n",
            commands.join("\n")
        ),
    )
    .with_context(|| format!("writing {}", run_abs.join("commands.sh").display()))?;

    let ctx = report::Context {
        root: &root,
        cfg: &cfg,
        stages: &all,
        state: &runner.state,
        machine,
        missing: missing.iter().map(|(n, r)| format!("`{n}`: {r}")).collect(),
    };
    report::write(&ctx)?;
    eprintln!(
        "==> report: {} (this invocation: {:.1} min after the build)",
        run.join("REPORT.md").display(),
        pipeline_s / 60.0
    );
    let incomplete: Vec<&str> = all
        .iter()
        .filter(|s| {
            runner
                .state
                .stages
                .get(&s.id)
                .is_none_or(|r| r.status != Status::Done)
        })
        .map(|s| s.id.as_str())
        .collect();
    if !incomplete.is_empty() {
        bail!(
            "{} of {} stages did not complete ({}); REPORT.md says which and why",
            incomplete.len(),
            all.len(),
            incomplete.join(", ")
        );
    }
    Ok(())
}
