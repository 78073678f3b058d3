//! BatchNorm2d for NCHW tensors: training-mode normalisation with batch statistics (optionally
//! fused with the ReLU that follows it), running-statistics update, and the eval-mode affine.

use crate::cpu::Elem;
use crate::cpu::batch_norm::{self as kernels, Planes};
use crate::storage::{cpu_slice, fast_path, slice, to_vec};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, Var, bail};

/// The result of [`batch_norm_train`].
#[derive(Clone, Debug)]
pub struct BatchNormTrain {
    /// The normalised, scaled and shifted output, differentiable with respect to `x`, `gamma`
    /// and `beta`.
    pub y: Tensor,
    /// Per-channel batch mean `[C]` (detached).
    pub mean: Tensor,
    /// Per-channel **unbiased** batch variance `[C]` (divided by `N·H·W - 1`; detached), the
    /// value PyTorch and candle-nn blend into the running variance.
    pub var_unbiased: Tensor,
}

impl BatchNormTrain {
    /// Blends the batch statistics into the running ones, as PyTorch and candle-nn do:
    /// `running = (1 - momentum)·running + momentum·batch` (0.1 is the usual momentum).
    pub fn update_running(
        &self,
        running_mean: &Var,
        running_var: &Var,
        momentum: f64,
    ) -> Result<()> {
        if !(0.0..=1.0).contains(&momentum) {
            bail!("batch-norm momentum must be in [0, 1], got {momentum}")
        }
        let blend = |running: &Var, batch: &Tensor| -> Result<()> {
            if running.dims() != batch.dims() {
                bail!(
                    "batch-norm running statistic has shape {:?}, expected {:?}",
                    running.dims(),
                    batch.dims()
                )
            }
            let batch = batch.to_dtype(running.dtype())?;
            running.set(&((running.as_tensor() * (1.0 - momentum))? + (batch * momentum)?)?)
        };
        blend(running_mean, &self.mean)?;
        blend(running_var, &self.var_unbiased)
    }
}

fn check_channels(
    x: &Tensor,
    params: &[(&Tensor, &str)],
    what: &str,
) -> Result<(usize, usize, usize)> {
    let (n, c, h, w) = match x.dims() {
        &[n, c, h, w] => (n, c, h, w),
        other => bail!("{what}: input must be NCHW (rank 4), got shape {other:?}"),
    };
    for (t, name) in params {
        if t.dims() != [c] {
            bail!(
                "{what}: {name} has shape {:?}, expected [{c}] (one value per channel)",
                t.dims()
            )
        }
        if t.dtype() != x.dtype() {
            bail!(
                "{what}: {name} is {:?} but the input is {:?}",
                t.dtype(),
                x.dtype()
            )
        }
    }
    Ok((n, c, h * w))
}

/// Training-mode BatchNorm2d: normalises each channel of `x[N, C, H, W]` with its batch mean
/// and **biased** batch variance, then scales by `gamma[C]` and shifts by `beta[C]`:
/// `y = (x - mean) / sqrt(var + eps) · gamma + beta`. Returns `y` with the batch mean and the
/// unbiased batch variance for [`BatchNormTrain::update_running`].
///
/// On CPU (f32/f64) the statistics take one pass over `x`, the output one pass, and the
/// backward two passes, with no transposed copies; elsewhere the same formula runs as candle
/// tensor ops. Fails when a channel has fewer than two values (as PyTorch does).
pub fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<BatchNormTrain> {
    train(x, gamma, beta, eps, false)
}

/// [`batch_norm_train`] followed by ReLU, fused into the same passes (forward and backward).
pub fn batch_norm_relu_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<BatchNormTrain> {
    train(x, gamma, beta, eps, true)
}

fn train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<BatchNormTrain> {
    let what = "batch_norm_train";
    let (n, c, hw) = check_channels(x, &[(gamma, "gamma"), (beta, "beta")], what)?;
    let m = n * hw;
    if m < 2 {
        bail!(
            "{what}: each channel needs more than one value in training mode, got input {:?}",
            x.dims()
        )
    }
    if eps.is_nan() || eps < 0.0 {
        bail!("{what}: eps must be non-negative, got {eps}")
    }
    let unbias = m as f64 / (m as f64 - 1.0);
    if !fast_path(x) {
        let mean = x.mean_keepdim((0, 2, 3))?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim((0, 2, 3))?;
        let y = xc
            .broadcast_div(&(&var + eps)?.sqrt()?)?
            .broadcast_mul(&gamma.reshape((1, c, 1, 1))?)?
            .broadcast_add(&beta.reshape((1, c, 1, 1))?)?;
        let y = if relu { y.relu()? } else { y };
        return Ok(BatchNormTrain {
            y,
            mean: mean.flatten_all()?.detach(),
            var_unbiased: (var.flatten_all()? * unbias)?.detach(),
        });
    }
    let p = Planes { n, c, hw };
    let x = x.contiguous()?;
    let (mean, var) = {
        let (s, l) = x.storage_and_layout();
        match x.dtype() {
            DType::F32 => kernels::stats(&p, cpu_slice::<f32>(&s, l, what)?),
            _ => kernels::stats(&p, cpu_slice::<f64>(&s, l, what)?),
        }
    };
    let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let var_unbiased: Vec<f64> = var.iter().map(|v| v * unbias).collect();
    let to_tensor = |v: &[f64]| Tensor::new(v, x.device())?.to_dtype(x.dtype());
    let (mean_t, var_t) = (to_tensor(&mean)?, to_tensor(&var_unbiased)?);
    let op = BatchNormOp {
        p,
        relu,
        mean,
        invstd,
    };
    let y = x.apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)?;
    Ok(BatchNormTrain {
        y,
        mean: mean_t,
        var_unbiased: var_t,
    })
}

/// Eval-mode BatchNorm2d with running statistics:
/// `y = (x - running_mean) / sqrt(running_var + eps) · gamma + beta`, optionally followed by
/// ReLU. Differentiable with respect to `x`, `gamma` and `beta` (for fine-tuning with frozen
/// statistics). One pass over `x` on CPU.
pub fn batch_norm_eval(
    x: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<Tensor> {
    let what = "batch_norm_eval";
    check_channels(
        x,
        &[
            (running_mean, "running_mean"),
            (running_var, "running_var"),
            (gamma, "gamma"),
            (beta, "beta"),
        ],
        what,
    )?;
    let scale = (gamma / (running_var.detach() + eps)?.sqrt()?)?;
    let shift = (beta - (running_mean.detach() * &scale)?)?;
    channel_affine(x, &scale, &shift, relu)
}

/// Per-channel affine map `y = x·scale[c] + shift[c]` over `x[N, C, H, W]`, optionally followed
/// by ReLU; differentiable with respect to all three inputs. One pass on CPU.
pub fn channel_affine(x: &Tensor, scale: &Tensor, shift: &Tensor, relu: bool) -> Result<Tensor> {
    let (n, c, hw) = check_channels(x, &[(scale, "scale"), (shift, "shift")], "channel_affine")?;
    if fast_path(x) {
        let op = ChannelAffineOp {
            p: Planes { n, c, hw },
            relu,
        };
        return x
            .contiguous()?
            .apply_op3(&scale.contiguous()?, &shift.contiguous()?, op);
    }
    let y = x
        .broadcast_mul(&scale.reshape((1, c, 1, 1))?)?
        .broadcast_add(&shift.reshape((1, c, 1, 1))?)?;
    if relu { y.relu() } else { Ok(y) }
}

/// Runs the per-channel affine kernel on `x` with `scale`/`shift` computed by `coef` from the
/// op's other two inputs.
fn affine_fwd<T: Elem>(
    p: &Planes,
    relu: bool,
    x: (&CpuStorage, &Layout),
    a: (&CpuStorage, &Layout),
    b: (&CpuStorage, &Layout),
    coef: impl FnOnce(&[T], &[T]) -> (Vec<T>, Vec<T>),
) -> Result<CpuStorage> {
    let name = "batch-norm";
    let x = slice::<T>(x.0, x.1, name)?;
    let (scale, shift) = coef(slice(a.0, a.1, name)?, slice(b.0, b.1, name)?);
    Ok(T::into_storage(kernels::affine(p, x, &scale, &shift, relu)))
}

/// Training-mode normalisation with precomputed batch statistics; inputs `(x, gamma, beta)`.
struct BatchNormOp {
    p: Planes,
    relu: bool,
    mean: Vec<f64>,
    invstd: Vec<f64>,
}

impl BatchNormOp {
    fn coef<T: Elem>(&self, gamma: &[T], beta: &[T]) -> (Vec<T>, Vec<T>) {
        (0..self.p.c)
            .map(|c| {
                let a = gamma[c].to_f64() * self.invstd[c];
                (
                    T::from_f64(a),
                    T::from_f64(beta[c].to_f64() - self.mean[c] * a),
                )
            })
            .unzip()
    }

    /// `(dx, dgamma, dbeta)` for one dtype.
    fn grads<T: Elem>(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Vec<T>, Vec<T>, Vec<T>)> {
        let p = &self.p;
        let what = "batch-norm backward";
        let gamma: Vec<T> = to_vec(gamma, what)?;
        let (x, dy, y) = (x.contiguous()?, dy.contiguous()?, y.contiguous()?);
        let ((xs, xl), (gs, gl), (ys, yl)) = (
            x.storage_and_layout(),
            dy.storage_and_layout(),
            y.storage_and_layout(),
        );
        let (x, dy) = (
            cpu_slice::<T>(&xs, xl, what)?,
            cpu_slice::<T>(&gs, gl, what)?,
        );
        let y = if self.relu {
            Some(cpu_slice::<T>(&ys, yl, what)?)
        } else {
            None
        };
        let (sum_dy, sum_dy_xc) = kernels::grad_sums(p, x, dy, y, &self.mean);
        let m = p.per_channel() as f64;
        // dx = γ·σ⁻¹·(dy - Σdy/M - x̂·Σ(dy·x̂)/M) with x̂ = (x - μ)·σ⁻¹, written as dy·a + x·b + k.
        let coef: Vec<[T; 3]> = (0..p.c)
            .map(|c| {
                let (s, mu, g) = (self.invstd[c], self.mean[c], gamma[c].to_f64());
                let a = g * s;
                let b = -g * s * s * s * sum_dy_xc[c] / m;
                let k = -a * sum_dy[c] / m - b * mu;
                [T::from_f64(a), T::from_f64(b), T::from_f64(k)]
            })
            .collect();
        let dx = kernels::input_grad(p, x, dy, y, &coef);
        let dgamma = (0..p.c)
            .map(|c| T::from_f64(sum_dy_xc[c] * self.invstd[c]))
            .collect();
        let dbeta = sum_dy.iter().map(|v| T::from_f64(*v)).collect();
        Ok((dx, dgamma, dbeta))
    }
}

impl CustomOp3 for BatchNormOp {
    fn name(&self) -> &'static str {
        "histo-batch-norm-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = match s1.dtype() {
            DType::F32 => {
                affine_fwd::<f32>(&self.p, self.relu, (s1, l1), (s2, l2), (s3, l3), |g, b| {
                    self.coef(g, b)
                })?
            }
            _ => affine_fwd::<f64>(&self.p, self.relu, (s1, l1), (s2, l2), (s3, l3), |g, b| {
                self.coef(g, b)
            })?,
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dev, c) = (x.device(), self.p.c);
        let (dx, dg, db) = match x.dtype() {
            DType::F32 => {
                let (dx, dg, db) = self.grads::<f32>(x, gamma, y, dy)?;
                (
                    Tensor::from_vec(dx, x.shape(), dev)?,
                    Tensor::from_vec(dg, c, dev)?,
                    Tensor::from_vec(db, c, dev)?,
                )
            }
            _ => {
                let (dx, dg, db) = self.grads::<f64>(x, gamma, y, dy)?;
                (
                    Tensor::from_vec(dx, x.shape(), dev)?,
                    Tensor::from_vec(dg, c, dev)?,
                    Tensor::from_vec(db, c, dev)?,
                )
            }
        };
        Ok((Some(dx), Some(dg), Some(db)))
    }
}

/// `y = x·scale[c] + shift[c]` (then ReLU); inputs `(x, scale, shift)`.
struct ChannelAffineOp {
    p: Planes,
    relu: bool,
}

impl ChannelAffineOp {
    fn grads<T: Elem>(
        &self,
        x: &Tensor,
        scale: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Vec<T>, Vec<T>, Vec<T>)> {
        let (p, what) = (&self.p, "channel-affine backward");
        let scale: Vec<T> = to_vec(scale, what)?;
        let (x, dy, y) = (x.contiguous()?, dy.contiguous()?, y.contiguous()?);
        let ((xs, xl), (gs, gl), (ys, yl)) = (
            x.storage_and_layout(),
            dy.storage_and_layout(),
            y.storage_and_layout(),
        );
        let (x, dy) = (
            cpu_slice::<T>(&xs, xl, what)?,
            cpu_slice::<T>(&gs, gl, what)?,
        );
        let y = if self.relu {
            Some(cpu_slice::<T>(&ys, yl, what)?)
        } else {
            None
        };
        let (sum_dy, sum_dy_x) = kernels::grad_sums(p, x, dy, y, &vec![0.0; p.c]);
        let coef: Vec<[T; 3]> = scale.iter().map(|s| [*s, T::ZERO, T::ZERO]).collect();
        let dx = kernels::input_grad(p, x, dy, y, &coef);
        let cast = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect();
        Ok((dx, cast(sum_dy_x), cast(sum_dy)))
    }
}

impl CustomOp3 for ChannelAffineOp {
    fn name(&self) -> &'static str {
        "histo-channel-affine"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = match s1.dtype() {
            DType::F32 => {
                affine_fwd::<f32>(&self.p, self.relu, (s1, l1), (s2, l2), (s3, l3), |a, b| {
                    (a.to_vec(), b.to_vec())
                })?
            }
            _ => affine_fwd::<f64>(&self.p, self.relu, (s1, l1), (s2, l2), (s3, l3), |a, b| {
                (a.to_vec(), b.to_vec())
            })?,
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        scale: &Tensor,
        _shift: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dev, c) = (x.device(), self.p.c);
        let (dx, ds, db) = match x.dtype() {
            DType::F32 => {
                let (dx, ds, db) = self.grads::<f32>(x, scale, y, dy)?;
                (
                    Tensor::from_vec(dx, x.shape(), dev)?,
                    Tensor::from_vec(ds, c, dev)?,
                    Tensor::from_vec(db, c, dev)?,
                )
            }
            _ => {
                let (dx, ds, db) = self.grads::<f64>(x, scale, y, dy)?;
                (
                    Tensor::from_vec(dx, x.shape(), dev)?,
                    Tensor::from_vec(ds, c, dev)?,
                    Tensor::from_vec(db, c, dev)?,
                )
            }
        };
        Ok((Some(dx), Some(ds), Some(db)))
    }
}
