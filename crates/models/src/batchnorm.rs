//! [`BatchNorm2d`]: PyTorch's `nn.BatchNorm2d` (training and eval mode, running statistics,
//! `num_batches_tracked`). Every BatchNorm of histo's networks is this type.

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
        let c = self.weight.dim(0)?;
        let bshape: Vec<usize> = (0..x.rank()).map(|d| if d == 1 { c } else { 1 }).collect();
        let w = self.weight.as_tensor().reshape(bshape.as_slice())?;
        let b = self.bias.as_tensor().reshape(bshape.as_slice())?;
        if !mode.train || self.force_eval.load(Ordering::Relaxed) {
            let rv = self.running_var.as_tensor().detach();
            let rm = self.running_mean.as_tensor().detach();
            let inv = (rv + self.eps)?
                .sqrt()?
                .recip()?
                .reshape(bshape.as_slice())?;
            let scale = w.broadcast_mul(&inv)?;
            let shift = b.broadcast_sub(&rm.reshape(bshape.as_slice())?.broadcast_mul(&scale)?)?;
            return Ok(x.broadcast_mul(&scale)?.broadcast_add(&shift)?);
        }
        let count = x.elem_count() / c;
        if count < 2 {
            return Err(candle_core::Error::Msg(format!(
                "BatchNorm in training mode needs more than one value per channel, got input {:?}",
                x.dims()
            ))
            .into());
        }
        let mean = channel_mean(x, count)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = channel_mean(&xc.sqr()?, count)?;
        let inv = (&var + self.eps)?.sqrt()?.recip()?;
        let y = xc
            .broadcast_mul(&inv.broadcast_mul(&w)?)?
            .broadcast_add(&b)?;
        self.update_running(
            &mean.detach().flatten_all()?,
            &var.detach().flatten_all()?,
            count,
            mode.bn_updates,
        )?;
        Ok(y)
    }

    fn update_running(&self, mean: &Tensor, var: &Tensor, count: usize, times: u32) -> Result<()> {
        let unbiased = (var * (count as f64 / (count as f64 - 1.0)))?;
        let m = self.momentum;
        let mut rm = self.running_mean.as_tensor().detach();
        let mut rv = self.running_var.as_tensor().detach();
        // as PyTorch does it: r ← (1−m)·r + m·s, `times` times with the same batch statistics
        for _ in 0..times {
            rm = ((rm * (1.0 - m))? + (mean * m)?)?;
            rv = ((rv * (1.0 - m))? + (&unbiased * m)?)?;
        }
        self.running_mean.set(&rm)?;
        self.running_var.set(&rv)?;
        let n = self.num_batches_tracked.as_tensor();
        let next = n.broadcast_add(&Tensor::new(times as i64, n.device())?)?;
        self.num_batches_tracked.set(&next)?;
        Ok(())
    }
}

/// Mean over every axis but the channel axis 1, keeping dims. Summing the contiguous trailing
/// axes first and the batch axis second is faster in candle than one multi-axis reduction.
fn channel_mean(x: &Tensor, count: usize) -> Result<Tensor> {
    let s = if x.rank() > 2 {
        let inner: Vec<usize> = (2..x.rank()).collect();
        x.sum_keepdim(inner.as_slice())?.sum_keepdim(0)?
    } else {
        x.sum_keepdim(0)?
    };
    Ok((s / count as f64)?)
}
