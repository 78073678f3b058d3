//! Train-step throughput of ResNet-18 and of the RSP pretext network (TripletNet + 6-way
//! classifier), as `shared/bench/python/bench_models.py` measures PyTorch: forward + CE loss +
//! backward + SGD (lr 0.01, momentum 0.9, Nesterov, weight decay 1e-4) on random 0–255 inputs.
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run --release -p histo-train --example train_throughput -- resnet18 64 32
//! RAYON_NUM_THREADS=2 cargo run --release -p histo-train --example train_throughput -- rsp 64 32
//! ```
//! Arguments: `resnet18|rsp SIZE BATCH [ITERS] [RUNS]` (BATCH counts triplets for `rsp`).
//! Prints the median over RUNS runs of ITERS steps (after 2 warm-up steps) in images/s, and the
//! process's peak resident memory (VmHWM).

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use histo_models::{Mode, PretextModel, ResNetClassifier, ResNetConfig, TripletConfig};
use histo_tensor::SampleRng;
use histo_train::{Grads, Optimizer, OptimizerConfig, ParamGroup};
use rand::Rng;

fn random_images(rng: &mut SampleRng, n: usize, size: usize) -> candle_core::Result<Tensor> {
    let v: Vec<f32> = (0..n * 3 * size * size)
        .map(|_| rng.random_range(0.0..255.0))
        .collect();
    Tensor::from_vec(v, (n, 3, size, size), &Device::Cpu)
}

fn phases(t0: Instant, t1: Instant, t2: Instant) -> [f64; 3] {
    let t3 = Instant::now();
    [
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        (t3 - t2).as_secs_f64(),
    ]
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: train_throughput resnet18|rsp SIZE BATCH [ITERS] [RUNS]";
    let model = args.first().ok_or(usage)?.clone();
    let size: usize = args.get(1).ok_or(usage)?.parse()?;
    let batch: usize = args.get(2).ok_or(usage)?.parse()?;
    let iters: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let runs: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let dev = Device::Cpu;
    let mut rng = SampleRng::global("bench", 0, 0);
    let sgd = OptimizerConfig::sgd_nesterov();

    // each step returns the seconds spent in forward + loss, backward, and the optimiser
    type Step = Box<dyn FnMut() -> histo_train::Result<[f64; 3]>>;
    let (mut step, images_per_step): (Step, usize) = match model.as_str() {
        "resnet18" => {
            let net = ResNetClassifier::new(ResNetConfig::resnet18(), 1000, &dev, 0)?;
            let mut opt =
                Optimizer::new(sgd, 0.01, vec![ParamGroup::new(net.store().trainable())])?;
            let x = random_images(&mut rng, batch, size)?;
            let y: Vec<u32> = (0..batch).map(|_| rng.random_range(0..1000)).collect();
            let y = Tensor::new(y, &dev)?;
            (
                Box::new(move || {
                    let t0 = Instant::now();
                    let logits = net.forward(&x, Mode::TRAIN)?;
                    let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
                    loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
                    let t1 = Instant::now();
                    let grads = Grads::backward(&loss, &opt.params())?;
                    let t2 = Instant::now();
                    opt.step(&grads)?;
                    Ok(phases(t0, t1, t2))
                }),
                batch,
            )
        }
        "rsp" => {
            let m = PretextModel::new(TripletConfig::default(), &dev, 0)?;
            let mut params = m.net.store().trainable();
            params.extend(m.classifier.store().trainable());
            let mut opt = Optimizer::new(sgd, 0.01, vec![ParamGroup::new(params)])?;
            let xs = [
                random_images(&mut rng, batch, size)?,
                random_images(&mut rng, batch, size)?,
                random_images(&mut rng, batch, size)?,
            ];
            let y: Vec<u32> = (0..batch).map(|_| rng.random_range(0..6)).collect();
            let y = Tensor::new(y, &dev)?;
            (
                Box::new(move || {
                    let t0 = Instant::now();
                    let logits = m.forward(&xs[0], &xs[1], &xs[2], Mode::TRAIN)?;
                    let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
                    loss.to_scalar::<f32>()?;
                    let t1 = Instant::now();
                    let grads = Grads::backward(&loss, &opt.params())?;
                    let t2 = Instant::now();
                    opt.step(&grads)?;
                    Ok(phases(t0, t1, t2))
                }),
                3 * batch,
            )
        }
        other => return Err(format!("unknown model `{other}`; {usage}").into()),
    };
    for _ in 0..2 {
        step()?;
    }
    let mut rates = Vec::new();
    let mut split = [0f64; 3];
    for _ in 0..runs {
        let t = Instant::now();
        for _ in 0..iters {
            for (s, p) in split.iter_mut().zip(step()?) {
                *s += p;
            }
        }
        rates.push((iters * images_per_step) as f64 / t.elapsed().as_secs_f64());
    }
    let total: f64 = split.iter().sum();
    rates.sort_by(|a, b| a.total_cmp(b));
    let median = rates[rates.len() / 2];
    println!(
        "{model} train {size}px batch {batch}: {median:.1} img/s median of {runs} x {iters} steps \
         ({:.0} ms/step: forward {:.0} %, backward {:.0} %, optimiser {:.0} %; runs {:?}); \
         threads {}; peak RSS {:.0} MiB",
        1000.0 * images_per_step as f64 / median,
        100.0 * split[0] / total,
        100.0 * split[1] / total,
        100.0 * split[2] / total,
        rates.iter().map(|r| format!("{r:.1}")).collect::<Vec<_>>(),
        rayon::current_num_threads(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    Ok(())
}
