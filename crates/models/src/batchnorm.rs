//! [`BatchNorm2d`]: PyTorch's `nn.BatchNorm2d` (training and eval mode, running statistics,
//! `num_batches_tracked`). Every BatchNorm of histo's networks is this type; the arithmetic is
//! histo-kernels' fused BatchNorm (one pass for the statistics, one for the output, two for the
//! backward on the CPU; candle ops elsewhere).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Tensor, Var};

use crate::Result;
use crate::store::Builder;

/// How a forward pass runs: training (batch statistics, running statistics updated) or
/// evaluation (running statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Training mode (`module.train()`): BatchNorm uses batch statistics and updates its
    /// running statistics.
    pub train: bool,
    /// How many running-statistic updates one training forward makes. 1 normally; 3
    /// reproduces the original fine-tune model, which runs its trunk three times on the same
    /// batch (spec B1): the running statistics then move by `1 − (1 − 0.1)³ = 0.271` per step.
    pub bn_updates: u32,
}

impl Mode {
    /// Training mode, one running-statistic update per forward.
    pub const TRAIN: Mode = Mode {
        train: true,
        bn_updates: 1,
    };
    /// Evaluation mode.
    pub const EVAL: Mode = Mode {
        train: false,
        bn_updates: 1,
    };
}

/// Batch normalisation over `[N, C, H, W]` (or `[N, C]`) with torchvision names `weight`,
/// `bias`, `running_mean`, `running_var`, `num_batches_tracked`; momentum 0.1, ε = 1e-5.
#[derive(Clone, Debug)]
pub struct BatchNorm2d {
    weight: Var,
    bias: Var,
    running_mean: Var,
    running_var: Var,
    num_batches_tracked: Var,
    eps: f64,
    momentum: f64,
    force_eval: Arc<AtomicBool>,
}

impl BatchNorm2d {
    pub(crate) fn new(b: &mut Builder, channels: usize) -> Result<Self> {
        let weight = b.param("weight", &[channels], vec![1.0; channels])?;
        let bias = b.param("bias", &[channels], vec![0.0; channels])?;
        let running_mean = b.buffer("running_mean", b.zeros(channels, DType::F32)?)?;
        let ones = (b.zeros(channels, DType::F32)? + 1.0)?;
        let running_var = b.buffer("running_var", ones)?;
        let nbt = Tensor::new(0i64, &b.device())?;
        let num_batches_tracked = b.buffer("num_batches_tracked", nbt)?;
        Ok(Self {
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
            eps: 1e-5,
            momentum: 0.1,
            force_eval: b.bn_eval_flag(),
        })
    }

    /// The running mean.
    pub fn running_mean(&self) -> &Tensor {
        self.running_mean.as_tensor()
    }

    /// The running (unbiased) variance.
    pub fn running_var(&self) -> &Tensor {
        self.running_var.as_tensor()
    }

    /// Normalises `x`. In training mode (unless this layer's group was frozen with BatchNorm in
    /// eval mode) it uses the batch statistics and updates the running ones `mode.bn_updates` times.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        self.forward_act(x, mode, false)
    }

    /// `relu(self.forward(x, mode))`, with the ReLU fused into the normalisation (one pass
    /// forward and backward on the CPU).
    pub fn forward_relu(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        self.forward_act(x, mode, true)
    }

    fn forward_act(&self, x: &Tensor, mode: Mode, relu: bool) -> Result<Tensor> {
        let dtype = self.weight.dtype();
        if x.dtype() != dtype {
            // Mixed precision: normalise an f32 (the parameters' dtype) copy, statistics
            // included, and hand the next layer the input's dtype again.
            let y = self.forward_act(&x.to_dtype(dtype)?, mode, relu)?;
            return Ok(y.to_dtype(x.dtype())?);
        }
        let dims = x.dims().to_vec();
        if dims.len() < 2 {
            return Err(candle_core::Error::Msg(format!(
                "BatchNorm needs an input [N, C, …], got shape {dims:?}"
            ))
            .into());
        }
        // histo-kernels works on NCHW: see [N, C, …] as [N, C, rest, 1].
        let x4 = if dims.len() == 4 {
            x.clone()
        } else {
            x.reshape((dims[0], dims[1], dims[2..].iter().product::<usize>(), 1))?
        };
        let (w, b) = (self.weight.as_tensor(), self.bias.as_tensor());
        let y = if !mode.train || self.force_eval.load(Ordering::Relaxed) {
            histo_kernels::batch_norm_eval(
                &x4,
                self.running_mean.as_tensor(),
                self.running_var.as_tensor(),
                w,
                b,
                self.eps,
                relu,
            )?
        } else {
            let count = x.elem_count() / dims[1].max(1);
            if count < 2 {
                return Err(candle_core::Error::Msg(format!(
                    "BatchNorm in training mode needs more than one value per channel, got input {dims:?}"
                ))
                .into());
            }
            let out = if relu {
                histo_kernels::batch_norm_relu_train(&x4, w, b, self.eps)?
            } else {
                histo_kernels::batch_norm_train(&x4, w, b, self.eps)?
            };
            self.update_running(&out.mean, &out.var_unbiased, mode.bn_updates)?;
            out.y
        };
        Ok(if dims.len() == 4 { y } else { y.reshape(dims)? })
    }

    /// Blends the batch mean and unbiased variance into the running statistics `times` times.
    fn update_running(&self, mean: &Tensor, unbiased: &Tensor, times: u32) -> Result<()> {
        let m = self.momentum;
        let mut rm = self.running_mean.as_tensor().detach();
        let mut rv = self.running_var.as_tensor().detach();
        // as PyTorch does it: r ← (1−m)·r + m·s, `times` times with the same batch statistics
        for _ in 0..times {
            rm = ((rm * (1.0 - m))? + (mean * m)?)?;
            rv = ((rv * (1.0 - m))? + (unbiased * m)?)?;
        }
        self.running_mean.set(&rm)?;
        self.running_var.set(&rv)?;
        let n = self.num_batches_tracked.as_tensor();
        let next = n.broadcast_add(&Tensor::new(times as i64, n.device())?)?;
        self.num_batches_tracked.set(&next)?;
        Ok(())
    }
}
