//! Times the pieces of one fine-tuning step on the CPU: 3-view augmentation, the training
//! forward + backward + Adam step, and eval-mode inference, for the synthetic preset's network
//! (narrow ResNet-18) at a given input size.
//!
//! `cargo run --release -p histo-ssl-cr --example step_timing -- [WIDTH] [SIZE] [BATCH]`

use std::time::Instant;

use histo_augment::FinetuneViews;
use histo_models::{FinetuneModel, Mode, TripletConfig};
use histo_tensor::{Device, Image, InputScale, SampleRng};
use histo_train::{Grads, Optimizer, OptimizerConfig, ParamGroup};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("usage: step_timing [WIDTH] [SIZE] [BATCH] (integers): {e}"))?;
    let (width, size, batch) = (
        *args.first().unwrap_or(&16),
        *args.get(1).unwrap_or(&64),
        *args.get(2).unwrap_or(&16),
    );
    let dev = Device::Cpu;
    let model = FinetuneModel::new(TripletConfig::narrow(18, width), 9, &dev, 1)?;
    let mut params = model.net.store().trainable();
    params.extend(model.classifier.store().trainable());
    let mut opt = Optimizer::new(
        OptimizerConfig::adam_l2(),
        1e-3,
        vec![ParamGroup::new(params)],
    )?;
    let src = Image::filled(224, 224, [200, 120, 180]);
    let views = FinetuneViews::new(size);
    let (mut aug, mut step, mut eval) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..7u64 {
        let t = Instant::now();
        let mut imgs = Vec::new();
        for i in 0..batch as u64 {
            let mut rng = SampleRng::new(1, rep, i);
            imgs.extend(views.views(&src, &mut rng)?);
        }
        aug.push(t.elapsed().as_secs_f64());
        let x = histo_ssl_cr::pipeline::images_tensor(&imgs, InputScale::Raw255, &dev)?;
        let y = histo_tensor::Tensor::zeros(3 * batch, histo_tensor::DType::U32, &dev)?;
        let t = Instant::now();
        let out = model.forward(&x, Mode::TRAIN)?;
        let loss = histo_ssl_cr::task::cross_entropy(&out, &y)?;
        let g = Grads::backward(&loss, &opt.params())?;
        opt.step(&g)?;
        step.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let _ = model.forward(&x, Mode::EVAL)?.to_vec2::<f32>()?;
        eval.push(t.elapsed().as_secs_f64());
    }
    let n = (3 * batch) as f64;
    println!(
        "width {width}, {size} px, {batch} samples = {} images per step (median of 7)",
        3 * batch
    );
    println!(
        "  3-view augmentation from 224 px: {:.1} ms ({:.0} images/s on one thread)",
        1e3 * median(aug.clone()),
        n / median(aug)
    );
    println!(
        "  train step (fwd + bwd + Adam):   {:.1} ms ({:.0} images/s)",
        1e3 * median(step.clone()),
        n / median(step)
    );
    println!(
        "  eval forward:                    {:.1} ms ({:.0} images/s)",
        1e3 * median(eval.clone()),
        n / median(eval)
    );
    Ok(())
}
