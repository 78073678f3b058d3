//! Forward + backward of every distinct ResNet-18 convolution at 64² and 128² input, batch 32:
//! this crate's im2col/GEMM ops against candle's `conv2d` / `conv_transpose2d` (the ops candle's
//! own backprop uses). Throughput is in FLOP ("elements" in criterion's output are FLOPs, so
//! `Gelem/s` reads as GFLOP/s).
//!
//! ```sh
//! cargo bench -p histo-kernels --bench conv              # everything (a few minutes)
//! cargo bench -p histo-kernels --bench conv -- ours      # only this crate's side
//! ```
//! `benches/torch_conv.py` times the same layers in PyTorch (see its header).

use candle_core::{Device, Result, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;

/// One distinct ResNet-18 convolution: name, in/out channels, kernel, stride, padding, and the
/// input size as a divisor of the image size.
pub struct Layer {
    pub name: &'static str,
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub div: usize,
}

pub const LAYERS: [Layer; 11] = [
    Layer {
        name: "conv1_7x7s2_3-64",
        cin: 3,
        cout: 64,
        k: 7,
        stride: 2,
        pad: 3,
        div: 1,
    },
    Layer {
        name: "l1_3x3s1_64-64",
        cin: 64,
        cout: 64,
        k: 3,
        stride: 1,
        pad: 1,
        div: 4,
    },
    Layer {
        name: "l2a_3x3s2_64-128",
        cin: 64,
        cout: 128,
        k: 3,
        stride: 2,
        pad: 1,
        div: 4,
    },
    Layer {
        name: "l2b_3x3s1_128-128",
        cin: 128,
        cout: 128,
        k: 3,
        stride: 1,
        pad: 1,
        div: 8,
    },
    Layer {
        name: "l2d_1x1s2_64-128",
        cin: 64,
        cout: 128,
        k: 1,
        stride: 2,
        pad: 0,
        div: 4,
    },
    Layer {
        name: "l3a_3x3s2_128-256",
        cin: 128,
        cout: 256,
        k: 3,
        stride: 2,
        pad: 1,
        div: 8,
    },
    Layer {
        name: "l3b_3x3s1_256-256",
        cin: 256,
        cout: 256,
        k: 3,
        stride: 1,
        pad: 1,
        div: 16,
    },
    Layer {
        name: "l3d_1x1s2_128-256",
        cin: 128,
        cout: 256,
        k: 1,
        stride: 2,
        pad: 0,
        div: 8,
    },
    Layer {
        name: "l4a_3x3s2_256-512",
        cin: 256,
        cout: 512,
        k: 3,
        stride: 2,
        pad: 1,
        div: 16,
    },
    Layer {
        name: "l4b_3x3s1_512-512",
        cin: 512,
        cout: 512,
        k: 3,
        stride: 1,
        pad: 1,
        div: 32,
    },
    Layer {
        name: "l4d_1x1s2_256-512",
        cin: 256,
        cout: 512,
        k: 1,
        stride: 2,
        pad: 0,
        div: 16,
    },
];

const BATCH: usize = 32;

/// Forward, input gradient (except for the stem, whose input needs none in training) and weight
/// gradient, as candle's backprop would run them.
fn candle_step(l: &Layer, x: &Tensor, w: &Tensor, dy: &Tensor) -> Result<()> {
    let y = x.conv2d(w, l.pad, l.stride, 1, 1)?;
    if l.cin != 3 {
        let (h, oh) = (x.dim(2)?, dy.dim(2)?);
        let out_padding = h - ((oh - 1) * l.stride + l.k - 2 * l.pad);
        dy.conv_transpose2d(w, l.pad, out_padding, l.stride, 1)?;
    }
    let dw = x
        .transpose(0, 1)?
        .conv2d(&dy.transpose(0, 1)?, l.pad, 1, l.stride, 1)?
        .transpose(0, 1)?;
    dw.narrow(2, 0, l.k)?.narrow(3, 0, l.k)?.contiguous()?;
    drop(y);
    Ok(())
}

fn ours_step(l: &Layer, x: &Tensor, w: &Tensor, dy: &Tensor) -> Result<()> {
    let y = histo_kernels::conv2d(x, w, l.stride, l.pad)?;
    if l.cin != 3 {
        histo_kernels::conv2d_input_grad(dy, w, (x.dim(2)?, x.dim(3)?), l.stride, l.pad)?;
    }
    histo_kernels::conv2d_weight_grad(x, dy, (l.k, l.k), l.stride, l.pad)?;
    drop(y);
    Ok(())
}

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    for size in [64, 128] {
        let mut group = c.benchmark_group(format!("conv_fwd_bwd/{size}px"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for l in &LAYERS {
            let s = size / l.div;
            let x = Tensor::randn(0f32, 1.0, (BATCH, l.cin, s, s), &dev).expect("x");
            let w = Tensor::randn(0f32, 0.1, (l.cout, l.cin, l.k, l.k), &dev).expect("w");
            let o = (s + 2 * l.pad - l.k) / l.stride + 1;
            let dy = Tensor::randn(0f32, 1.0, (BATCH, l.cout, o, o), &dev).expect("dy");
            let passes = if l.cin == 3 { 2 } else { 3 };
            let flops = passes * 2 * BATCH * l.cout * o * o * l.cin * l.k * l.k;
            group.throughput(Throughput::Elements(flops as u64));
            group.bench_function(format!("{}/ours", l.name), |b| {
                b.iter(|| ours_step(l, &x, &w, &dy).expect("ours"))
            });
            group.bench_function(format!("{}/candle", l.name), |b| {
                b.iter(|| candle_step(l, &x, &w, &dy).expect("candle"))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
