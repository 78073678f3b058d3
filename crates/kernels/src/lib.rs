//! Fast CPU kernels for training histo's networks with candle.
//!
//! candle 0.11's CPU backend computes the input gradient of `conv2d` with a naive direct
//! `conv_transpose2d` loop, runs BatchNorm in training mode as several passes with transposed
//! copies, cannot backpropagate through ResNet's padded 3×3/2 max-pool (and scales its max-pool
//! gradient by 1/k² where it can), and every optimiser update is a chain of allocating tensor
//! ops; ResNet training on CPU is about ten times slower than PyTorch. This crate provides those
//! operations as candle custom ops whose CPU forward **and** backward are GEMM-based (through the
//! `gemm` crate candle itself uses) or fused single-pass loops, parallelised with rayon. On any
//! other device (CUDA, Metal) and for dtypes other than f32/f64 each function falls back to
//! candle's own implementation, so callers keep one code path. We wrote these ourselves because
//! candle has no hook for a faster CPU convolution backward and no maintained crate provides
//! one for candle tensors; the kernels are small.
//!
//! - [`conv2d`] (+ [`conv2d_input_grad`], [`conv2d_weight_grad`]): im2col/col2im + GEMM, no input
//!   gradient for an input that needs none (the image batch);
//! - [`batch_norm_train`] / [`batch_norm_relu_train`]: BatchNorm2d with batch statistics
//!   (PyTorch/candle-nn semantics), optionally fused with ReLU, and
//!   [`BatchNormTrain::update_running`]; [`batch_norm_eval`] / [`channel_affine`] for eval mode;
//! - [`max_pool2d`] with −∞ padding and a backward; [`add_relu`] for the residual join;
//! - [`Sgd::step`]: PyTorch's SGD (momentum, Nesterov, weight decay) in place, two passes.
//!
//! Results do not depend on the number of threads: work is split by shape only and every
//! reduction runs in a fixed order (tested with pools of 1, 2 and 3 threads). Large temporaries
//! (column matrices) live in per-thread scratch buffers that are reused across calls.
//!
//! Performance (2-core AMD EPYC shared with other jobs, so figures are noisy; commands in
//! `benches/`): every distinct ResNet-18 convolution, forward + backward at batch 32, runs
//! 1.9–13× faster than candle's `conv2d`/`conv_transpose2d` (`cargo bench --bench conv`); a whole
//! ResNet-18 training step at 64² costs about 570 ms of CPU time single-threaded against 1410 ms
//! with candle's ops and 400 ms with PyTorch 2.15 (`--bench resnet18_step`,
//! `benches/torch_conv.py --train-step`). What remains is GEMM time (~45 %), page faults from
//! fresh allocations (~20 %, in candle and here), and candle's autograd bookkeeping (every
//! gradient is added to a fresh zero tensor).
//!
//! ```
//! use candle_core::{DType, Device, Tensor, Var};
//! use histo_kernels::{Sgd, add_relu, batch_norm_relu_train, conv2d, max_pool2d};
//!
//! let dev = Device::Cpu;
//! let x = Tensor::randn(0f32, 1.0, (2, 3, 16, 16), &dev)?;
//! let w = Var::randn(0f32, 0.1, (8, 3, 3, 3), &dev)?;
//! let (gamma, beta) = (Var::ones(8, DType::F32, &dev)?, Var::zeros(8, DType::F32, &dev)?);
//! let y = conv2d(&x, &w, 2, 1)?; // [2, 8, 8, 8]
//! let bn = batch_norm_relu_train(&y, &gamma, &beta, 1e-5)?;
//! let (running_mean, running_var) = (Var::zeros(8, DType::F32, &dev)?, Var::ones(8, DType::F32, &dev)?);
//! bn.update_running(&running_mean, &running_var, 0.1)?;
//! let out = max_pool2d(&add_relu(&bn.y, &y)?, 3, 2, 1)?; // [2, 8, 4, 4]
//! let grads = out.sum_all()?.backward()?;
//! let grad_w = grads.get(&w).expect("w is a variable");
//! assert_eq!(grad_w.dims(), &[8, 3, 3, 3]);
//! let sgd = Sgd { lr: 0.01, momentum: 0.9, weight_decay: 1e-4, nesterov: true };
//! let _momentum_buffer = sgd.step(&w, grad_w, None)?;
//! # Ok::<(), candle_core::Error>(())
//! ```

mod activation;
mod batch_norm;
mod conv;
mod cpu;
mod optim;
mod pool;
mod storage;

pub use activation::add_relu;
pub use batch_norm::{
    BatchNormTrain, batch_norm_eval, batch_norm_relu_train, batch_norm_train, channel_affine,
};
pub use conv::{conv2d, conv2d_input_grad, conv2d_weight_grad};
pub use optim::Sgd;
pub use pool::max_pool2d;
