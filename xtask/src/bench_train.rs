//! `cargo xtask bench train`: CPU training throughput of histo's networks against PyTorch.
//!
//! Builds histo-train's `bench_train` example in release and runs it on three configurations
//! (ResNet-18 train steps at 64² and 128², batch 32; the RSP TripletNet + pretext classifier at
//! 64², batch 16 triplets), each step being forward + cross-entropy + backward + SGD-Nesterov.
//! With `--torch PYTHON` it runs `crates/train/examples/bench_train_torch.py` (the same steps in
//! PyTorch, as `bench_models.py` of the Python baseline) after each of our runs, alternating
//! round by round so both sides see the same machine load, and prints the ratios of the
//! medians. Each run is a fresh process (so peak RSS is per configuration) with one untimed
//! warm-up step. Figures go to `results/bench/train-t{threads}.json`.
//!
//! ```sh
//! cargo xtask bench train -- [--rounds 3] [--threads 2] [--torch /path/to/python] \
//!     [--only resnet18-64,resnet18-128,rsp-64] [--steps-scale 1.0]
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::root;

/// One measured configuration: name, model, input size, batch, timed steps per run.
const CONFIGS: [(&str, &str, usize, usize, usize); 3] = [
    ("resnet18-64", "resnet18", 64, 32, 6),
    ("resnet18-128", "resnet18", 128, 32, 2),
    ("rsp-64", "rsp", 64, 16, 3),
];

struct Opts {
    rounds: usize,
    threads: usize,
    torch: Option<String>,
    only: Option<Vec<String>>,
    steps_scale: f64,
}

fn parse(rest: &[String]) -> Result<Opts> {
    let mut o = Opts {
        rounds: 3,
        threads: 2,
        torch: None,
        only: None,
        steps_scale: 1.0,
    };
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let val = it
            .next()
            .with_context(|| format!("bench train: {flag} needs a value"))?;
        match flag.as_str() {
            "--rounds" => o.rounds = val.parse().context("--rounds needs a whole number")?,
            "--threads" => o.threads = val.parse().context("--threads needs a whole number")?,
            "--torch" => o.torch = Some(val.clone()),
            "--only" => o.only = Some(val.split(',').map(str::to_string).collect()),
            "--steps-scale" => {
                o.steps_scale = val.parse().context("--steps-scale needs a number")?
            }
            other => bail!(
                "bench train: unknown option `{other}` (--rounds N, --threads N, --torch PYTHON, \
                 --only a,b, --steps-scale F)"
            ),
        }
    }
    if o.rounds == 0 || o.threads == 0 || o.steps_scale.is_nan() || o.steps_scale <= 0.0 {
        bail!("bench train: --rounds, --threads and --steps-scale must be positive")
    }
    if let Some(only) = &o.only {
        for name in only {
            if !CONFIGS.iter().any(|c| c.0 == name) {
                let names: Vec<&str> = CONFIGS.iter().map(|c| c.0).collect();
                bail!("bench train: unknown configuration `{name}` (have {names:?})")
            }
        }
    }
    Ok(o)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs one benchmark process and returns its `summary` object (the last JSON line it prints).
fn run_one(mut cmd: Command, what: &str) -> Result<Value> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start the {what} benchmark"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "the {what} benchmark failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()?
                .get("summary")
                .cloned()
        })
        .with_context(|| format!("the {what} benchmark printed no summary:\n{stdout}"))
}

fn step_args(model: &str, size: usize, batch: usize, steps: usize) -> Vec<String> {
    [
        "--model",
        model,
        "--size",
        &size.to_string(),
        "--batch",
        &batch.to_string(),
        "--steps",
        &steps.to_string(),
        "--runs",
        "1",
        "--warmup",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

/// Per-side results of one configuration over the rounds.
#[derive(Default)]
struct Side {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    rss: f64,
    images: f64,
}

impl Side {
    fn add(&mut self, s: &Value) {
        let f = |k: &str| s.get(k).and_then(Value::as_f64);
        if let Some(v) = f("median_s_per_step") {
            self.wall.push(v);
        }
        if let Some(v) = f("median_cpu_s_per_step") {
            self.cpu.push(v);
        }
        self.rss = self.rss.max(f("peak_rss_mib").unwrap_or(0.0));
        self.images = f("images_per_step").unwrap_or(self.images);
    }

    fn img_s(&self) -> f64 {
        self.images / median(self.wall.clone())
    }

    fn cpu_ms(&self) -> f64 {
        if self.cpu.is_empty() {
            f64::NAN
        } else {
            1e3 * median(self.cpu.clone())
        }
    }

    fn json(&self) -> Value {
        json!({
            "s_per_step": self.wall,
            "cpu_s_per_step": self.cpu,
            "images_per_s": self.img_s(),
            "median_cpu_ms_per_step": self.cpu_ms(),
            "peak_rss_mib": self.rss,
        })
    }
}

/// Runs the training benchmark; `rest` holds the options after `--`.
pub fn run(rest: &[String]) -> Result<()> {
    let o = parse(rest)?;
    let root = root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = [
        "build",
        "--release",
        "-p",
        "histo-train",
        "--example",
        "bench_train",
    ];
    eprintln!("==> cargo {}", build.join(" "));
    let status = Command::new(&cargo)
        .args(build)
        .current_dir(&root)
        .status()
        .with_context(|| format!("cannot run `{cargo}`"))?;
    if !status.success() {
        bail!("building the training benchmark failed ({status})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("target"));
    let exe = target.join("release/examples/bench_train");
    let script = root.join("crates/train/examples/bench_train_torch.py");
    let configs: Vec<_> = CONFIGS
        .iter()
        .filter(|c| {
            o.only
                .as_ref()
                .is_none_or(|only| only.iter().any(|n| n == c.0))
        })
        .collect();
    let load_before = load_average();
    eprintln!(
        "==> {} round(s), {} thread(s), load average {load_before}{}",
        o.rounds,
        o.threads,
        if o.torch.is_some() {
            ", alternating with PyTorch"
        } else {
            ""
        }
    );
    let mut ours: Vec<Side> = configs.iter().map(|_| Side::default()).collect();
    let mut torch: Vec<Side> = configs.iter().map(|_| Side::default()).collect();
    for round in 1..=o.rounds {
        for (i, &&(name, model, size, batch, steps)) in configs.iter().enumerate() {
            let steps = ((steps as f64 * o.steps_scale).round() as usize).max(1);
            let args = step_args(model, size, batch, steps);
            let mut cmd = Command::new(&exe);
            cmd.args(&args)
                .env("RAYON_NUM_THREADS", o.threads.to_string())
                .current_dir(&root);
            let s = run_one(cmd, "histo")?;
            ours[i].add(&s);
            eprintln!(
                "    round {round} {name:<13} histo {:>7.1} img/s",
                value_img_s(&s)
            );
            if let Some(py) = &o.torch {
                let mut cmd = torch_command(py, &script, &args, o.threads);
                cmd.current_dir(&root);
                let s = run_one(cmd, "PyTorch")?;
                torch[i].add(&s);
                eprintln!(
                    "    round {round} {name:<13} torch {:>7.1} img/s",
                    value_img_s(&s)
                );
            }
        }
    }
    let load_after = load_average();
    println!(
        "\ntraining step = forward + cross-entropy + backward + SGD (Nesterov 0.9, wd 1e-4); \
         {} thread(s); median of {} round(s); load average before {load_before}, after {load_after}",
        o.threads, o.rounds
    );
    let with_torch = o.torch.is_some();
    if with_torch {
        println!(
            "{:<13} {:>9} {:>9} {:>6} | {:>11} {:>11} {:>6} | {:>9} {:>9}",
            "config",
            "histo",
            "torch",
            "ratio",
            "histo cpu",
            "torch cpu",
            "ratio",
            "histo RSS",
            "torch RSS"
        );
        println!(
            "{:<13} {:>9} {:>9} {:>6} | {:>11} {:>11} {:>6} | {:>9} {:>9}",
            "", "img/s", "img/s", "", "ms/step", "ms/step", "", "MiB", "MiB"
        );
    } else {
        println!(
            "{:<13} {:>9} | {:>11} | {:>9}",
            "config", "img/s", "cpu ms/step", "peak RSS MiB"
        );
    }
    let mut rows = Vec::new();
    for (i, &&(name, model, size, batch, _)) in configs.iter().enumerate() {
        let (a, t) = (&ours[i], &torch[i]);
        let mut row = json!({
            "config": name, "model": model, "size": size, "batch": batch,
            "histo": a.json(),
        });
        if with_torch {
            let ratio = a.img_s() / t.img_s();
            let cpu_ratio = t.cpu_ms() / a.cpu_ms();
            println!(
                "{name:<13} {:>9.1} {:>9.1} {:>5.2}x | {:>11.0} {:>11.0} {:>5.2}x | {:>9.0} {:>9.0}",
                a.img_s(),
                t.img_s(),
                ratio,
                a.cpu_ms(),
                t.cpu_ms(),
                cpu_ratio,
                a.rss,
                t.rss
            );
            row["torch"] = t.json();
            row["ratio_images_per_s"] = json!(ratio);
            row["ratio_cpu_time"] = json!(cpu_ratio);
        } else {
            println!(
                "{name:<13} {:>9.1} | {:>11.0} | {:>9.0}",
                a.img_s(),
                a.cpu_ms(),
                a.rss
            );
        }
        rows.push(row);
    }
    if with_torch {
        println!("ratio = histo / torch throughput; cpu ratio = torch / histo CPU time per step");
    }
    let results = root.join("results/bench");
    std::fs::create_dir_all(&results).with_context(|| format!("creating {}", results.display()))?;
    let path = results.join(format!("train-t{}.json", o.threads));
    let doc = json!({
        "threads": o.threads,
        "rounds": o.rounds,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "configs": rows,
    });
    write(&path, &doc)?;
    eprintln!("==> figures written to {}", path.display());
    Ok(())
}

fn value_img_s(s: &Value) -> f64 {
    s.get("images_per_s")
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

fn torch_command(py: &str, script: &Path, args: &[String], threads: usize) -> Command {
    let mut cmd = Command::new(py);
    cmd.arg(script)
        .args(args)
        .arg("--threads")
        .arg(threads.to_string());
    for var in ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"] {
        cmd.env(var, threads.to_string());
    }
    cmd
}

fn write(path: &PathBuf, doc: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(doc).context("serialising the results")? + "\n";
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
