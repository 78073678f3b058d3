//! The residual join of a ResNet block, `relu(a + b)`, as one pass forward and one backward.

use crate::cpu::Elem;
use crate::cpu::elementwise;
use crate::storage::{cpu_slice, fast_path, slice};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor, bail};

/// `max(0, a + b)` for two tensors of the same shape, differentiable with respect to both.
///
/// On CPU (f32/f64) the forward is one pass and the backward one pass producing the single
/// masked gradient both inputs share (candle's `(a + b)?.relu()` takes two passes forward and
/// four backward). Elsewhere it is exactly `(a + b)?.relu()`.
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.dims() != b.dims() {
        bail!(
            "add_relu: shapes differ ({:?} and {:?})",
            a.dims(),
            b.dims()
        )
    }
    if a.dtype() != b.dtype() {
        bail!(
            "add_relu: dtypes differ ({:?} and {:?})",
            a.dtype(),
            b.dtype()
        )
    }
    if fast_path(a) && b.device().is_cpu() {
        a.contiguous()?.apply_op2(&b.contiguous()?, AddRelu)
    } else {
        (a + b)?.relu()
    }
}

struct AddRelu;

impl CustomOp2 for AddRelu {
    fn name(&self) -> &'static str {
        "histo-add-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = match s1.dtype() {
            DType::F32 => f32::into_storage(elementwise::add_relu(
                slice(s1, l1, "add_relu")?,
                slice(s2, l2, "add_relu")?,
            )),
            DType::F64 => f64::into_storage(elementwise::add_relu(
                slice(s1, l1, "add_relu")?,
                slice(s2, l2, "add_relu")?,
            )),
            other => bail!("add_relu: unsupported dtype {other:?} on the CPU path"),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _a: &Tensor,
        _b: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let what = "add_relu backward";
        let dy = dy.contiguous()?;
        let ((ys, yl), (gs, gl)) = (y.storage_and_layout(), dy.storage_and_layout());
        let g = match y.dtype() {
            DType::F32 => {
                let v = elementwise::relu_grad(
                    cpu_slice::<f32>(&ys, yl, what)?,
                    cpu_slice::<f32>(&gs, gl, what)?,
                );
                Tensor::from_vec(v, y.shape(), y.device())?
            }
            _ => {
                let v = elementwise::relu_grad(
                    cpu_slice::<f64>(&ys, yl, what)?,
                    cpu_slice::<f64>(&gs, gl, what)?,
                );
                Tensor::from_vec(v, y.shape(), y.device())?
            }
        };
        Ok((Some(g.clone()), Some(g)))
    }
}
