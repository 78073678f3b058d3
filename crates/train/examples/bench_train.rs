//! Training-step throughput of histo's real networks on the CPU, the measuring half of
//! `cargo xtask bench train` (which builds this in release, alternates it with the PyTorch
//! script `bench_train_torch.py` beside it, and prints ratios).
//!
//! One step is what `/work/shared/bench/python/bench_models.py` times in PyTorch: forward in
//! training mode, cross-entropy, backward, and [`Optimizer::step`] with SGD (lr 0.01, momentum
//! 0.9, Nesterov, weight decay 1e-4) over every parameter. Inputs are uniform in [0, 255)
//! (unnormalised, as the original feeds tiles).
//!
//! - `--model resnet18`: [`ResNetClassifier`] ResNet-18 with a 1000-way `fc`;
//! - `--model rsp`: the RSP [`PretextModel`] (TripletNet on three views + 6-way classifier).
//!
//! ```sh
//! cargo run --release -p histo-train --example bench_train -- --model resnet18 --size 64 \
//!     --batch 32 --steps 5 --runs 3 [--warmup 1] [--spans] [--json out.json]
//! ```
//! Threads: `RAYON_NUM_THREADS` (read by rayon and by candle's matmul). Prints one JSON object
//! per run (`{"run": …}`) and a summary object (`{"summary": …}`), also written to `--json`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor};
use histo_models::{Mode, PretextModel, ResNetClassifier, ResNetConfig, TripletConfig};
use histo_tensor::SampleRng;
use histo_train::{Grads, Optimizer, OptimizerConfig, ParamGroup};
use rand::Rng;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Model {
    ResNet18,
    Rsp,
}

struct Args {
    model: Model,
    size: usize,
    batch: usize,
    steps: usize,
    runs: usize,
    warmup: usize,
    spans: bool,
    json: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        model: Model::ResNet18,
        size: 64,
        batch: 32,
        steps: 3,
        runs: 3,
        warmup: 1,
        spans: false,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--spans" {
            a.spans = true;
            continue;
        }
        if flag == "--bench" {
            continue; // passed by `cargo bench`
        }
        let val = it.next().with_context(|| format!("{flag} needs a value"))?;
        let num = || -> Result<usize> {
            val.parse()
                .with_context(|| format!("{flag} needs a whole number, got `{val}`"))
        };
        match flag.as_str() {
            "--model" => {
                a.model = match val.as_str() {
                    "resnet18" => Model::ResNet18,
                    "rsp" => Model::Rsp,
                    other => bail!("--model resnet18|rsp, got `{other}`"),
                }
            }
            "--size" => a.size = num()?,
            "--batch" => a.batch = num()?,
            "--steps" => a.steps = num()?,
            "--runs" => a.runs = num()?,
            "--warmup" => a.warmup = num()?,
            "--json" => a.json = Some(val),
            other => bail!("unknown option `{other}`"),
        }
    }
    if a.size < 32 || a.batch < 2 || a.steps == 0 || a.runs == 0 {
        bail!("need --size ≥ 32, --batch ≥ 2, --steps ≥ 1, --runs ≥ 1")
    }
    Ok(a)
}

thread_local! {
    static SPANS: RefCell<BTreeMap<&'static str, Duration>> = const { RefCell::new(BTreeMap::new()) };
}

/// Runs `f`, adding its wall time to span `name`.
fn span<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    SPANS.with(|s| *s.borrow_mut().entry(name).or_default() += t.elapsed());
    out
}

/// User + system CPU seconds of this process (all threads), from `/proc/self/stat`.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Peak resident set size of this process in MiB (`VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The median (the lower one of an even count, as Python's `statistics.median_low`).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

fn images(rng: &mut SampleRng, n: usize, size: usize, dev: &Device) -> Result<Tensor> {
    let v: Vec<f32> = (0..n * 3 * size * size)
        .map(|_| rng.random_range(0.0..255.0))
        .collect();
    Ok(Tensor::from_vec(v, (n, 3, size, size), dev)?)
}

fn labels(rng: &mut SampleRng, n: usize, classes: u32, dev: &Device) -> Result<Tensor> {
    let v: Vec<u32> = (0..n).map(|_| rng.random_range(0..classes)).collect();
    Ok(Tensor::new(v, dev)?)
}

/// A network, its inputs, and one training step.
struct Bench {
    step: Box<dyn FnMut() -> Result<()>>,
    params: usize,
    /// Images per step (three views per RSP triplet).
    images: usize,
}

fn optimizer(params: Vec<(String, candle_core::Var)>) -> Result<Optimizer> {
    Ok(Optimizer::new(
        OptimizerConfig::Sgd {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
        },
        0.01,
        vec![ParamGroup::new(params)],
    )?)
}

fn step_fn(
    forward: impl Fn() -> Result<Tensor> + 'static,
    y: Tensor,
    mut opt: Optimizer,
) -> Box<dyn FnMut() -> Result<()>> {
    let params = opt.params();
    Box::new(move || {
        let logits = span("forward", &forward)?;
        let loss = span("loss", || candle_nn::loss::cross_entropy(&logits, &y))?;
        let grads = span("backward", || Grads::backward(&loss, &params))?;
        span("optimizer", || opt.step(&grads))?;
        Ok(())
    })
}

fn build(a: &Args, dev: &Device) -> Result<Bench> {
    let mut rng = SampleRng::global("bench-train", 7, 0);
    Ok(match a.model {
        Model::ResNet18 => {
            let net = ResNetClassifier::new(ResNetConfig::resnet18(), 1000, dev, 0)?;
            let params = net.store().num_params();
            let opt = optimizer(net.store().trainable())?;
            let x = images(&mut rng, a.batch, a.size, dev)?;
            let y = labels(&mut rng, a.batch, 1000, dev)?;
            Bench {
                step: step_fn(move || Ok(net.forward(&x, Mode::TRAIN)?), y, opt),
                params,
                images: a.batch,
            }
        }
        Model::Rsp => {
            let m = PretextModel::new(TripletConfig::default(), dev, 0)?;
            let params = m.net.store().num_params() + m.classifier.store().num_params();
            let mut vars = m.net.store().trainable();
            vars.extend(m.classifier.store().trainable());
            let opt = optimizer(vars)?;
            let xs = [
                images(&mut rng, a.batch, a.size, dev)?,
                images(&mut rng, a.batch, a.size, dev)?,
                images(&mut rng, a.batch, a.size, dev)?,
            ];
            let y = labels(&mut rng, a.batch, 6, dev)?;
            Bench {
                step: step_fn(
                    move || Ok(m.forward(&xs[0], &xs[1], &xs[2], Mode::TRAIN)?),
                    y,
                    opt,
                ),
                params,
                images: 3 * a.batch,
            }
        }
    })
}

fn main() -> Result<()> {
    let a = parse_args()?;
    let dev = Device::Cpu;
    let mut bench = build(&a, &dev)?;
    let (images, params) = (bench.images, bench.params);
    let threads = rayon::current_num_threads();
    let mut step = || (bench.step)();
    for _ in 0..a.warmup {
        step()?;
    }
    SPANS.with(|s| s.borrow_mut().clear());
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for run in 0..a.runs {
        let c0 = cpu_seconds();
        let t0 = Instant::now();
        for _ in 0..a.steps {
            step()?;
        }
        let dt = t0.elapsed().as_secs_f64() / a.steps as f64;
        let dc = match (c0, cpu_seconds()) {
            (Some(c0), Some(c1)) => Some((c1 - c0) / a.steps as f64),
            _ => None,
        };
        wall.push(dt);
        if let Some(dc) = dc {
            cpu.push(dc);
        }
        println!(
            "{}",
            serde_json::json!({"run": run, "s_per_step": dt, "cpu_s_per_step": dc,
                "images_per_s": images as f64 / dt})
        );
    }
    let steps_timed = (a.runs * a.steps) as f64;
    let spans: BTreeMap<&str, f64> = SPANS.with(|s| {
        s.borrow()
            .iter()
            .map(|(k, d)| (*k, d.as_secs_f64() / steps_timed))
            .collect()
    });
    let med = median(wall.clone());
    let summary = serde_json::json!({
        "impl": "histo",
        "model": format!("{:?}", a.model).to_lowercase(),
        "size": a.size,
        "batch": a.batch,
        "images_per_step": images,
        "params": params,
        "threads": threads,
        "steps_per_run": a.steps,
        "runs": a.runs,
        "s_per_step": wall,
        "cpu_s_per_step": cpu,
        "median_s_per_step": med,
        "median_cpu_s_per_step": if cpu.is_empty() { None } else { Some(median(cpu.clone())) },
        "images_per_s": images as f64 / med,
        "peak_rss_mib": peak_rss_mib(),
        "spans_s_per_step": spans,
        "dtype": format!("{:?}", DType::F32),
    });
    if a.spans {
        for (k, v) in &spans {
            eprintln!("  {k:<10} {:>8.1} ms/step", v * 1e3);
        }
    }
    println!("{}", serde_json::json!({ "summary": summary }));
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&summary)? + "\n")
            .with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}
