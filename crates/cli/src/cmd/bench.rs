//! `histo bench`: measurements of this build on this machine — training-step throughput of the
//! real networks (`step`), CPU-vs-GPU parity of a ResNet-18 forward and backward (`parity`),
//! and the throughput of the augmenting batch loader alone (`loader`). `cargo xtask gpu-check`
//! drives these (with PyTorch alongside) on a GPU machine; each prints one JSON object.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use histo_augment::{RspPool, RspVersion};
use histo_models::{Mode, Precision, PretextModel, ResNetClassifier, ResNetConfig, TripletConfig};
use histo_ssl::task::cross_entropy;
use histo_tensor::{DType, Device, Image, InputScale, SampleRng, Tensor};
use histo_train::{Grads, Loader, LoaderConfig, Optimizer, OptimizerConfig, ParamGroup};
use rand::Rng;
use serde_json::{Value, json};

use crate::Context;

/// Options of `histo bench`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// Training-step images/s of ResNet-18 or the RSP TripletNet on the `--device`: forward in
    /// training mode, cross-entropy, backward, SGD-Nesterov step, on random 0–255 inputs.
    Step(StepArgs),
    /// CPU vs `--device` (a GPU): ResNet-18 forward, loss and every gradient on the same
    /// weights and inputs, as the largest relative difference per tensor.
    Parity(ParityArgs),
    /// Images/s of the RSP batch loader alone: worker threads augmenting triplets and
    /// assembling f32 batches (and copying them to the `--device`), with no model.
    Loader(LoaderArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ModelKind {
    /// torchvision's ResNet-18 with a 1000-way `fc`.
    Resnet18,
    /// The RSP pretext network: ResNet-18 TripletNet on three views + 6-way classifier.
    Rsp,
}

#[derive(ClapArgs, Debug)]
struct StepArgs {
    /// Which network.
    #[arg(long, value_enum, default_value = "resnet18")]
    model: ModelKind,
    /// Input height and width.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Samples per step (RSP: triplets, three images each).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Steps per timed run.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Timed runs (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Untimed steps first (cuDNN algorithm search, allocator warm-up).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Convolution precision: f32, or bf16 (mixed precision with f32 master weights).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Also write the JSON summary here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(ClapArgs, Debug)]
struct ParityArgs {
    /// Input height and width.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Images.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Also write the JSON result here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(ClapArgs, Debug)]
struct LoaderArgs {
    /// Tile height and width.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Triplets per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Worker-thread counts to measure (comma-separated; 0 = all cores).
    #[arg(long, value_delimiter = ',', default_value = "1,0")]
    workers: Vec<usize>,
    /// Batches per measurement (after one untimed batch).
    #[arg(long, default_value_t = 8)]
    batches: usize,
    /// Augmentation pool: the original pretraining's `v1` or `v2` (RandAugment), or `none`
    /// (the loader's own cost: sample copies and the u8 → f32 batch assembly).
    #[arg(long, default_value = "v1")]
    pool: String,
    /// Also write the JSON result here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Runs `histo bench`.
pub fn run(args: Args, ctx: &Context) -> Result<()> {
    let (out, path) = match args.what {
        What::Step(a) => {
            let p = a.json.clone();
            (step(a, ctx)?, p)
        }
        What::Parity(a) => {
            let p = a.json.clone();
            (parity(a, ctx)?, p)
        }
        What::Loader(a) => {
            let p = a.json.clone();
            (loader(a, ctx)?, p)
        }
    };
    println!("{out}");
    if let Some(p) = path {
        std::fs::write(&p, serde_json::to_string_pretty(&out)? + "\n")
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn device_name(dev: &Device) -> String {
    if dev.is_cpu() {
        "cpu".into()
    } else {
        format!("{:?}", dev.location())
    }
}

/// Peak resident set size of this process in MiB (`VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The median (the lower one of an even count).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

/// Uniform `[0, 255)` images drawn on the host from a seeded stream (the same on every device).
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

fn step(a: StepArgs, ctx: &Context) -> Result<Value> {
    if a.size < 32 || a.batch < 2 || a.steps == 0 || a.runs == 0 {
        bail!("histo bench step needs --size ≥ 32, --batch ≥ 2, --steps ≥ 1 and --runs ≥ 1");
    }
    let dev = ctx.device()?;
    let mut rng = SampleRng::global("bench-step", ctx.seed, 0);
    type Forward = Box<dyn Fn() -> histo_models::Result<Tensor>>;
    let (forward, vars, y, images_per_step, params): (Forward, _, _, _, _) = match a.model {
        ModelKind::Resnet18 => {
            let net = ResNetClassifier::new(ResNetConfig::resnet18(), 1000, &dev, ctx.seed)?;
            net.store().set_precision(a.precision);
            let vars = net.store().trainable();
            let params = net.store().num_params();
            let x = images(&mut rng, a.batch, a.size, &dev)?;
            let y = labels(&mut rng, a.batch, 1000, &dev)?;
            let f: Forward = Box::new(move || net.forward(&x, Mode::TRAIN));
            (f, vars, y, a.batch, params)
        }
        ModelKind::Rsp => {
            let m = PretextModel::new(TripletConfig::default(), &dev, ctx.seed)?;
            let mut vars = Vec::new();
            let mut params = 0;
            for (_, s) in m.parts() {
                s.set_precision(a.precision);
                vars.extend(s.trainable());
                params += s.num_params();
            }
            let xs = [
                images(&mut rng, a.batch, a.size, &dev)?,
                images(&mut rng, a.batch, a.size, &dev)?,
                images(&mut rng, a.batch, a.size, &dev)?,
            ];
            let y = labels(&mut rng, a.batch, 6, &dev)?;
            let f: Forward = Box::new(move || m.forward(&xs[0], &xs[1], &xs[2], Mode::TRAIN));
            (f, vars, y, 3 * a.batch, params)
        }
    };
    let mut opt = Optimizer::new(
        OptimizerConfig::Sgd {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
        },
        0.01,
        vec![ParamGroup::new(vars)],
    )?;
    let params_list = opt.params();
    let mut one = || -> Result<()> {
        let logits = forward()?;
        let loss = cross_entropy(&logits, &y)?;
        let grads = Grads::backward(&loss, &params_list)?;
        opt.step(&grads)?;
        Ok(())
    };
    let t0 = Instant::now();
    for _ in 0..a.warmup {
        one()?;
    }
    dev.synchronize()?;
    let warmup_s = t0.elapsed().as_secs_f64();
    let mut wall = Vec::new();
    for _ in 0..a.runs {
        let t = Instant::now();
        for _ in 0..a.steps {
            one()?;
        }
        dev.synchronize()?;
        wall.push(t.elapsed().as_secs_f64() / a.steps as f64);
    }
    let med = median(&wall);
    Ok(json!({
        "impl": "histo",
        "model": format!("{:?}", a.model).to_lowercase(),
        "device": device_name(&dev),
        "precision": a.precision.to_string(),
        "size": a.size,
        "batch": a.batch,
        "images_per_step": images_per_step,
        "params": params,
        "threads": rayon::current_num_threads(),
        "warmup_s": warmup_s,
        "s_per_step": wall,
        "median_s_per_step": med,
        "images_per_s": images_per_step as f64 / med,
        "peak_rss_mib": peak_rss_mib(),
    }))
}

/// `max |a − b| / max |a|` over two tensors of the same shape (`a` the CPU reference).
fn rel_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    let a: Vec<f32> = a.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
    let b: Vec<f32> = b.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
    if a.len() != b.len() {
        bail!("parity: {} values against {}", a.len(), b.len());
    }
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    let d = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    Ok((d / scale) as f64)
}

/// Logits, loss and the gradients by parameter name (all on the CPU).
type StepOutputs = (Tensor, Tensor, Vec<(String, Tensor)>);

/// Logits, loss and named gradients of one ResNet-18 training step on `dev`.
fn forward_backward(
    dev: &Device,
    seed: u64,
    precision: Precision,
    x: &Tensor,
    y: &Tensor,
) -> Result<StepOutputs> {
    let net = ResNetClassifier::new(ResNetConfig::resnet18(), 10, dev, seed)?;
    net.store().set_precision(precision);
    let (x, y) = (x.to_device(dev)?, y.to_device(dev)?);
    let logits = net.forward(&x, Mode::TRAIN)?;
    let loss = cross_entropy(&logits, &y)?;
    let grads = Grads::backward(&loss, &net.store().trainable())?;
    let mut named: Vec<(String, Tensor)> = grads
        .0
        .into_iter()
        .map(|(k, g)| Ok((k, g.to_device(&Device::Cpu)?)))
        .collect::<Result<_>>()?;
    named.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((
        logits.to_device(&Device::Cpu)?,
        loss.to_device(&Device::Cpu)?,
        named,
    ))
}

fn parity(a: ParityArgs, ctx: &Context) -> Result<Value> {
    let dev = ctx.device()?;
    if dev.is_cpu() {
        bail!(
            "histo bench parity compares the CPU with a GPU: run it with --device cuda on a \
             build with the `cuda` feature (see `cargo xtask build-cuda`)"
        );
    }
    if a.size < 32 || a.batch < 2 {
        bail!("histo bench parity needs --size ≥ 32 and --batch ≥ 2");
    }
    let mut rng = SampleRng::global("bench-parity", ctx.seed, 0);
    // mean/std-scaled inputs, as a user with `input_scale = mean_std` feeds them
    let x = ((images(&mut rng, a.batch, a.size, &Device::Cpu)? / 127.5)? - 1.0)?;
    let y = labels(&mut rng, a.batch, 10, &Device::Cpu)?;
    let (l_cpu, loss_cpu, g_cpu) =
        forward_backward(&Device::Cpu, ctx.seed, Precision::F32, &x, &y)?;
    let mut result = json!({
        "model": "resnet18 (10 classes), training mode",
        "device": device_name(&dev),
        "size": a.size,
        "batch": a.batch,
    });
    for precision in [Precision::F32, Precision::Bf16] {
        let (l, loss, g) = forward_backward(&dev, ctx.seed, precision, &x, &y)?;
        let mut worst = (String::new(), 0f64);
        for ((n1, c), (n2, d)) in g_cpu.iter().zip(&g) {
            if n1 != n2 {
                bail!("parity: gradient names differ ({n1} vs {n2})");
            }
            let r = rel_diff(c, d)?;
            if r > worst.1 || r.is_nan() {
                worst = (n1.clone(), r);
            }
        }
        result[precision.to_string()] = json!({
            "logits_max_rel_diff": rel_diff(&l_cpu, &l)?,
            "loss_cpu": loss_cpu.to_scalar::<f32>()?,
            "loss_gpu": loss.to_scalar::<f32>()?,
            "gradients": g.len(),
            "grad_max_rel_diff": worst.1,
            "grad_worst_tensor": worst.0,
        });
    }
    Ok(result)
}

type Triplet = ([Image; 3], u32);

/// Smooth random tiles (gradients plus noise), `n` triplets of `size`² pixels.
fn tiles(n: usize, size: usize, seed: u64) -> Vec<Triplet> {
    (0..n)
        .map(|i| {
            let mut rng = SampleRng::stream("bench-loader", seed, 0, i as u64);
            let one = |rng: &mut SampleRng| {
                let mut img = Image::new(size, size);
                let (a, b): (usize, usize) = (rng.random_range(0..120), rng.random_range(0..120));
                for yy in 0..size {
                    for xx in 0..size {
                        let n: usize = rng.random_range(0..40);
                        let r = (a + (xx * 100) / size + n).min(255) as u8;
                        let g = (b + (yy * 100) / size + n).min(255) as u8;
                        img.put_pixel(xx, yy, [r, g, r / 2 + g / 2]);
                    }
                }
                img
            };
            let t = [one(&mut rng), one(&mut rng), one(&mut rng)];
            (t, (i % 6) as u32)
        })
        .collect()
}

fn loader(a: LoaderArgs, ctx: &Context) -> Result<Value> {
    if a.batch == 0 || a.batches == 0 || a.workers.is_empty() {
        bail!("histo bench loader needs --batch ≥ 1, --batches ≥ 1 and at least one --workers");
    }
    let version = match a.pool.as_str() {
        "v1" => Some(RspVersion::V1),
        "v2" => Some(RspVersion::V2),
        "none" => None,
        other => bail!("--pool v1|v2|none, got `{other}`"),
    };
    let dev = ctx.device()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // enough distinct samples for every timed batch plus the untimed first one
    let data = Arc::new(tiles(a.batch * (a.batches + 1), a.size, ctx.seed));
    let pool = Arc::new(version.map(RspPool::new));
    let mut runs = Vec::new();
    for &w in &a.workers {
        let workers = if w == 0 { cores } else { w };
        let p = pool.clone();
        let l = Loader::new(
            data.clone(),
            Arc::new(
                move |(t, y): Triplet, rng: &mut SampleRng, _| match p.as_ref() {
                    Some(p) => Ok((p.apply_triplet(&t, rng).map_err(|e| e.to_string())?, y)),
                    None => Ok((t, y)),
                },
            ),
            Arc::new(|items: Vec<Triplet>| {
                histo_ssl::data::collate(items, InputScale::Raw255).map_err(|e| e.to_string())
            }),
            LoaderConfig {
                batch_size: a.batch,
                shuffle: false,
                drop_last: true,
                workers,
                prefetch: 2,
                seed: ctx.seed,
            },
        )?;
        let mut it = l.epoch(0);
        let first = it.next().context("the loader yielded no batch")??;
        drop(first);
        let t = Instant::now();
        let mut copy_s = 0.0;
        let mut n = 0;
        for b in it.take(a.batches) {
            let b = b?;
            let tc = Instant::now();
            let on = b.to_device(&dev)?;
            dev.synchronize()?;
            copy_s += tc.elapsed().as_secs_f64();
            drop(on);
            n += 1;
        }
        let secs = t.elapsed().as_secs_f64();
        let imgs = (n * a.batch * 3) as f64;
        runs.push(json!({
            "workers": workers,
            "batches": n,
            "seconds": secs,
            "images_per_s": imgs / secs,
            "triplets_per_s": imgs / 3.0 / secs,
            "copy_to_device_s": copy_s,
        }));
    }
    Ok(json!({
        "bench": "loader",
        "pool": a.pool,
        "size": a.size,
        "batch": a.batch,
        "device": device_name(&dev),
        "cores": cores,
        "runs": runs,
    }))
}
