//! Time of one RSP training step (forward + loss + backward + SGD) of a TripletNet of a given
//! width on random tiles, to size CPU presets:
//!
//! ```sh
//! cargo run --release -p histo-ssl --example step_bench -- WIDTH TILE BATCH [STEPS]
//! ```

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use histo_models::{Mode, PretextModel, TripletConfig};
use histo_train::{Grads, Optimizer, OptimizerConfig, ParamGroup};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let (width, tile, batch) = match a.as_slice() {
        [w, t, b, ..] => (*w, *t, *b),
        _ => return Err("usage: step_bench WIDTH TILE BATCH [STEPS]".into()),
    };
    let steps = a.get(3).copied().unwrap_or(5);
    let dev = Device::Cpu;
    let m = PretextModel::new(TripletConfig::narrow(18, width), &dev, 0)?;
    let mut params = m.net.store().trainable();
    params.extend(m.classifier.store().trainable());
    let mut opt = Optimizer::new(
        OptimizerConfig::sgd_nesterov(),
        0.01,
        vec![ParamGroup::new(params)],
    )?;
    let x: Vec<Tensor> = (0..3)
        .map(|_| Tensor::rand(0f32, 255f32, (batch, 3, tile, tile), &dev))
        .collect::<Result<_, _>>()?;
    let y = Tensor::new((0..batch as u32).map(|i| i % 6).collect::<Vec<_>>(), &dev)?;
    let mut times = Vec::new();
    for s in 0..steps + 1 {
        let t0 = Instant::now();
        let logits = m.forward(&x[0], &x[1], &x[2], Mode::TRAIN)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        let _ = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        let t1 = Instant::now();
        let g = Grads::backward(&loss, &opt.params())?;
        let t2 = Instant::now();
        opt.step(&g)?;
        let t3 = Instant::now();
        if s > 0 {
            times.push([
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64(),
                (t3 - t2).as_secs_f64(),
            ]);
        }
    }
    let mut tot: Vec<f64> = times.iter().map(|t| t.iter().sum()).collect();
    tot.sort_by(f64::total_cmp);
    let med = tot[tot.len() / 2];
    let mean = |k: usize| times.iter().map(|t| t[k]).sum::<f64>() / times.len() as f64;
    println!(
        "width {width} tile {tile} batch {batch}: {:.0} ms/step median ({:.1} triplets/s); forward {:.0} ms, backward {:.0} ms, sgd {:.0} ms",
        1000.0 * med,
        batch as f64 / med,
        1000.0 * mean(0),
        1000.0 * mean(1),
        1000.0 * mean(2)
    );
    Ok(())
}
