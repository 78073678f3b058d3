//! BatchNorm2d training step (forward + backward through autograd of `Σ y·r`) on the
//! ResNet-18 BatchNorm shapes at 64² and 128² input, batch 32: this crate's fused op against
//! candle-nn's `BatchNorm::forward_train`. Throughput is in tensor elements per second.
//!
//! ```sh
//! cargo bench -p histo-kernels --bench batch_norm
//! ```

use candle_core::{DType, Device, ModuleT, Result, Tensor, Var};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;

const BATCH: usize = 32;

struct Params {
    x: Var,
    gamma: Var,
    beta: Var,
    r: Tensor,
}

fn ours(p: &Params) -> Result<()> {
    let out = histo_kernels::batch_norm_train(&p.x, &p.gamma, &p.beta, 1e-5)?;
    let g = (&out.y * &p.r)?.sum_all()?.backward()?;
    assert!(g.get(&p.x).is_some());
    Ok(())
}

fn candle(p: &Params) -> Result<()> {
    let c = p.gamma.dim(0)?;
    let dev = p.x.device();
    let bn = candle_nn::BatchNorm::new(
        c,
        Tensor::zeros(c, DType::F32, dev)?,
        Tensor::ones(c, DType::F32, dev)?,
        p.gamma.as_tensor().clone(),
        p.beta.as_tensor().clone(),
        1e-5,
    )?;
    let y = bn.forward_t(&p.x, true)?;
    let g = (&y * &p.r)?.sum_all()?.backward()?;
    assert!(g.get(&p.x).is_some());
    Ok(())
}

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    for size in [64, 128] {
        let mut group = c.benchmark_group(format!("bn_fwd_bwd/{size}px"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2));
        for (ch, div) in [(64, 2), (64, 4), (128, 8), (256, 16), (512, 32)] {
            let s = size / div;
            let shape = (BATCH, ch, s, s);
            let p = Params {
                x: Var::randn(0f32, 1.0, shape, &dev).expect("x"),
                gamma: Var::ones(ch, DType::F32, &dev).expect("gamma"),
                beta: Var::zeros(ch, DType::F32, &dev).expect("beta"),
                r: Tensor::randn(0f32, 1.0, shape, &dev).expect("r"),
            };
            group.throughput(Throughput::Elements((BATCH * ch * s * s) as u64));
            let name = format!("{ch}x{s}x{s}");
            group.bench_function(format!("{name}/ours"), |b| {
                b.iter(|| ours(&p).expect("ours"))
            });
            group.bench_function(format!("{name}/candle"), |b| {
                b.iter(|| candle(&p).expect("candle"))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
