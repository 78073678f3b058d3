//! SGD parameter updates done in place, one pass per tensor (PyTorch's `torch.optim.SGD`).

use crate::cpu::Elem;
use crate::cpu::elementwise::zip3_mut;
use crate::storage::{fast_path, slice};
use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CustomOp2, DType, InplaceOp3, Layout, Result, Shape, Tensor, Var, bail,
};

/// SGD hyper-parameters with PyTorch's semantics (dampening 0, coupled L2 weight decay):
/// `d = g + wd·p`; `buf = momentum·buf + d` (`buf = d` on the first step);
/// `d = d + momentum·buf` with Nesterov, else `d = buf`; `p = p - lr·d`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
}

impl Sgd {
    /// Updates `param` in place from `grad` and returns the momentum buffer to pass to the next
    /// step (`None` in, a fresh buffer out, on the first step; `None` when `momentum` is 0).
    ///
    /// On CPU (f32/f64) this is two fused passes (buffer, then parameter) writing into the
    /// existing storages, instead of about ten allocating tensor ops; elsewhere the same
    /// formula runs as candle tensor ops followed by `Var::set`.
    pub fn step(
        &self,
        param: &Var,
        grad: &Tensor,
        momentum_buf: Option<Tensor>,
    ) -> Result<Option<Tensor>> {
        if param.dims() != grad.dims() {
            bail!(
                "sgd: gradient has shape {:?}, the parameter {:?}",
                grad.dims(),
                param.dims()
            )
        }
        if let Some(b) = &momentum_buf
            && b.dims() != param.dims()
        {
            bail!(
                "sgd: momentum buffer has shape {:?}, the parameter {:?}",
                b.dims(),
                param.dims()
            )
        }
        if !(self.momentum >= 0.0 && self.lr >= 0.0 && self.weight_decay >= 0.0) {
            bail!("sgd: lr, momentum and weight decay must be non-negative, got {self:?}")
        }
        let p = param.as_tensor();
        let fast = fast_path(p)
            && p.is_contiguous()
            && grad.device().is_cpu()
            && grad.dtype() == p.dtype()
            && momentum_buf
                .as_ref()
                .is_none_or(|b| b.is_contiguous() && b.dtype() == p.dtype());
        if !fast {
            return self.step_with_tensor_ops(param, grad, momentum_buf);
        }
        let grad = grad.contiguous()?;
        let buf = if self.momentum == 0.0 {
            None
        } else {
            Some(match momentum_buf {
                // The buffer is ours alone (we created it), so it can be written in place.
                Some(buf) => {
                    buf.inplace_op3(&grad, p, &UpdateBuffer(*self))?;
                    buf
                }
                None => grad.apply_op2_no_bwd(p, &InitBuffer(*self))?,
            })
        };
        // Without momentum the buffer operand is unused: pass the gradient again.
        p.inplace_op3(&grad, buf.as_ref().unwrap_or(&grad), &UpdateParam(*self))?;
        Ok(buf)
    }

    fn step_with_tensor_ops(
        &self,
        param: &Var,
        grad: &Tensor,
        buf: Option<Tensor>,
    ) -> Result<Option<Tensor>> {
        let p = param.as_tensor().detach();
        let g = grad.detach();
        let d = if self.weight_decay != 0.0 {
            (&g + (&p * self.weight_decay)?)?
        } else {
            g
        };
        let (d, buf) = if self.momentum != 0.0 {
            let buf = match buf {
                None => d.copy()?,
                Some(b) => ((b * self.momentum)? + &d)?,
            };
            let d = if self.nesterov {
                (&d + (&buf * self.momentum)?)?
            } else {
                buf.clone()
            };
            (d, Some(buf))
        } else {
            (d, None)
        };
        param.set(&(&p - (d * self.lr)?)?)?;
        Ok(buf)
    }

    fn cast<T: Elem>(&self) -> (T, T, T) {
        (
            T::from_f64(self.lr),
            T::from_f64(self.momentum),
            T::from_f64(self.weight_decay),
        )
    }
}

/// Runs `f` on the f32 or f64 buffers of an in-place op.
fn dispatch_inplace(
    name: &str,
    dst: &mut CpuStorage,
    dl: &Layout,
    (a, al): (&CpuStorage, &Layout),
    (b, bl): (&CpuStorage, &Layout),
    f32_fn: impl Fn(&mut [f32], &[f32], &[f32]) + Sync,
    f64_fn: impl Fn(&mut [f64], &[f64], &[f64]) + Sync,
) -> Result<()> {
    let Some((start, end)) = dl.contiguous_offsets() else {
        bail!("{name}: the updated tensor must be contiguous")
    };
    match dst {
        CpuStorage::F32(d) => zip3_mut(
            &mut d[start..end],
            slice(a, al, name)?,
            slice(b, bl, name)?,
            f32_fn,
        ),
        CpuStorage::F64(d) => zip3_mut(
            &mut d[start..end],
            slice(a, al, name)?,
            slice(b, bl, name)?,
            f64_fn,
        ),
        other => bail!("{name}: unsupported dtype {:?}", other.dtype()),
    }
    Ok(())
}

/// `buf = momentum·buf + (g + wd·p)`, in place on `buf`; sources `(g, p)`.
struct UpdateBuffer(Sgd);

impl UpdateBuffer {
    fn run<T: Elem>(&self, buf: &mut [T], g: &[T], p: &[T]) {
        let (_, m, wd) = self.0.cast::<T>();
        for ((b, g), p) in buf.iter_mut().zip(g).zip(p) {
            *b = m * *b + (*g + wd * *p);
        }
    }
}

impl InplaceOp3 for UpdateBuffer {
    fn name(&self) -> &'static str {
        "histo-sgd-buffer"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dl: &Layout,
        g: &CpuStorage,
        gl: &Layout,
        p: &CpuStorage,
        pl: &Layout,
    ) -> Result<()> {
        dispatch_inplace(
            self.name(),
            dst,
            dl,
            (g, gl),
            (p, pl),
            |d, a, b| self.run(d, a, b),
            |d, a, b| self.run(d, a, b),
        )
    }
}

/// `p = p - lr·d` with `d = g + wd·p` and the Nesterov / plain momentum term from the already
/// updated `buf`, in place on `p`; sources `(g, buf)`.
struct UpdateParam(Sgd);

impl UpdateParam {
    fn run<T: Elem>(&self, p: &mut [T], g: &[T], buf: &[T]) {
        let (lr, m, wd) = self.0.cast::<T>();
        let (momentum, nesterov) = (self.0.momentum != 0.0, self.0.nesterov);
        for ((p, g), b) in p.iter_mut().zip(g).zip(buf) {
            let d = *g + wd * *p;
            let d = match (momentum, nesterov) {
                (false, _) => d,
                (true, true) => d + m * *b,
                (true, false) => *b,
            };
            *p = *p - lr * d;
        }
    }
}

impl InplaceOp3 for UpdateParam {
    fn name(&self) -> &'static str {
        "histo-sgd-param"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dl: &Layout,
        g: &CpuStorage,
        gl: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> Result<()> {
        dispatch_inplace(
            self.name(),
            dst,
            dl,
            (g, gl),
            (b, bl),
            |d, a, b| self.run(d, a, b),
            |d, a, b| self.run(d, a, b),
        )
    }
}

/// First-step buffer `g + wd·p` as a new tensor; inputs `(g, p)`.
struct InitBuffer(Sgd);

impl InitBuffer {
    fn run<T: Elem>(&self, g: &[T], p: &[T]) -> Vec<T> {
        let (_, _, wd) = self.0.cast::<T>();
        g.iter().zip(p).map(|(g, p)| *g + wd * *p).collect()
    }
}

impl CustomOp2 for InitBuffer {
    fn name(&self) -> &'static str {
        "histo-sgd-init-buffer"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        let out = match s1.dtype() {
            DType::F32 => f32::into_storage(self.run(slice(s1, l1, name)?, slice(s2, l2, name)?)),
            DType::F64 => f64::into_storage(self.run(slice(s1, l1, name)?, slice(s2, l2, name)?)),
            other => bail!("{name}: unsupported dtype {other:?}"),
        };
        Ok((out, l1.shape().clone()))
    }
}
