//! Max-pooling with padding (ResNet's 3×3, stride 2, padding 1 stem pool), with a backward.
//!
//! candle 0.11's `max_pool2d` has no padding and no backward when the window is larger than the
//! stride, which is exactly the ResNet stem; this op has both, on every device.

use crate::cpu::Elem;
use crate::cpu::pool::{self as kernels, PoolGeom};
use crate::storage::{cpu_slice, fast_path, slice};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, bail};
use std::sync::OnceLock;

/// `y[n, c, oy, ox] = max` of `x[n, c]` over the `kernel × kernel` window at
/// `(oy·stride - padding, ox·stride - padding)`, padding with −∞ (PyTorch's `MaxPool2d`,
/// floor mode). The gradient goes to the first maximum of each window. Needs
/// `padding ≤ kernel / 2`.
///
/// On CPU (f32/f64) one pass per direction; elsewhere candle's `max_pool2d` on a −∞-padded
/// copy (forward) with a mask-based backward built from candle ops.
pub fn max_pool2d(x: &Tensor, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
    let (n, c, h, w) = match x.dims() {
        &[n, c, h, w] => (n, c, h, w),
        other => bail!("max_pool2d: input must be NCHW (rank 4), got shape {other:?}"),
    };
    if kernel == 0 || stride == 0 {
        bail!("max_pool2d: kernel and stride must be at least 1 (got {kernel} and {stride})")
    }
    if 2 * padding > kernel {
        bail!("max_pool2d: padding {padding} is more than half the kernel {kernel}")
    }
    if h + 2 * padding < kernel || w + 2 * padding < kernel {
        bail!(
            "max_pool2d: window {kernel}x{kernel} does not fit the padded input {h}x{w} (padding {padding})"
        )
    }
    let g = PoolGeom {
        planes: n * c,
        h,
        w,
        k: kernel,
        stride,
        pad: padding,
    };
    if fast_path(x) {
        return x.contiguous()?.apply_op1(MaxPool {
            g,
            argmax: OnceLock::new(),
        });
    }
    fallback(x, &g, (n, c))
}

/// Non-CPU path: unfold the padded input into `k²` strided views and take their maximum.
/// Differentiable through candle's own ops (the gradient is split between tied maxima).
fn fallback(x: &Tensor, g: &PoolGeom, (n, c): (usize, usize)) -> Result<Tensor> {
    let (oh, ow) = (g.oh(), g.ow());
    let xp = if g.pad > 0 {
        let neg = f64::NEG_INFINITY;
        let pad_rows = Tensor::full(neg, (n, c, g.pad, g.w), x.device())?.to_dtype(x.dtype())?;
        let x = Tensor::cat(&[&pad_rows, x, &pad_rows], 2)?;
        let pad_cols =
            Tensor::full(neg, (n, c, g.h + 2 * g.pad, g.pad), x.device())?.to_dtype(x.dtype())?;
        Tensor::cat(&[&pad_cols, &x, &pad_cols], 3)?
    } else {
        x.clone()
    };
    let mut best: Option<Tensor> = None;
    for i in 0..g.k {
        for j in 0..g.k {
            let rows: Vec<u32> = (0..oh).map(|o| (o * g.stride + i) as u32).collect();
            let cols: Vec<u32> = (0..ow).map(|o| (o * g.stride + j) as u32).collect();
            let v = xp
                .index_select(&Tensor::new(rows, x.device())?, 2)?
                .index_select(&Tensor::new(cols, x.device())?, 3)?;
            best = Some(match best {
                None => v,
                Some(b) => b.maximum(&v)?,
            });
        }
    }
    best.ok_or_else(|| candle_core::Error::Msg("max_pool2d: empty window".into()))
}

/// The CPU op. One instance serves one forward call (candle keeps it in the graph), so it can
/// keep the window maxima's positions for its backward instead of searching them again.
struct MaxPool {
    g: PoolGeom,
    argmax: OnceLock<Vec<u32>>,
}

impl MaxPool {
    fn fwd<T: Elem>(&self, x: &[T]) -> Vec<T> {
        let (y, idx) = kernels::forward_with_argmax(&self.g, x);
        // A second forward through the same instance (not something candle does) would find
        // the cell full; its backward then searches the maxima again.
        let _ = self.argmax.set(idx);
        y
    }

    fn bwd_vec<T: Elem + candle_core::WithDType>(&self, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
        let what = "max_pool2d backward";
        let ((xs, xl), (gs, gl)) = (x.storage_and_layout(), dy.storage_and_layout());
        let dy_s = cpu_slice::<T>(&gs, gl, what)?;
        let v = match self.argmax.get() {
            Some(idx) if idx.len() == dy_s.len() => {
                kernels::backward_from_argmax(&self.g, idx, dy_s)
            }
            _ => kernels::backward(&self.g, cpu_slice::<T>(&xs, xl, what)?, dy_s),
        };
        Tensor::from_vec(v, x.shape(), x.device())
    }
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "histo-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.g;
        let out = match s.dtype() {
            DType::F32 => f32::into_storage(self.fwd(slice::<f32>(s, l, self.name())?)),
            DType::F64 => f64::into_storage(self.fwd(slice::<f64>(s, l, self.name())?)),
            other => bail!("max_pool2d: unsupported dtype {other:?} on the CPU path"),
        };
        let d = l.dims();
        Ok((out, Shape::from((d[0], d[1], g.oh(), g.ow()))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let dy = dy.contiguous()?;
        let dx = match x.dtype() {
            DType::F32 => self.bwd_vec::<f32>(x, &dy)?,
            _ => self.bwd_vec::<f64>(x, &dy)?,
        };
        Ok(Some(dx))
    }
}
