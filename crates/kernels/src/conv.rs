//! 2-D convolution (NCHW input, OIHW weight, groups 1, dilation 1, no bias) whose CPU forward
//! and both gradients are im2col/col2im + GEMM, as candle custom ops.

use crate::cpu::Elem;
use crate::cpu::conv::{self as kernels, ConvGeom};
use crate::storage::{fast_path, slice};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor, bail};

/// Checks the arguments and returns the geometry of `x ⋆ w`.
fn geometry(x: &[usize], w: &[usize], stride: usize, padding: usize) -> Result<ConvGeom> {
    let &[n, c, h, wd] = x else {
        bail!("conv2d: input must be NCHW (rank 4), got shape {x:?}")
    };
    let &[o, wc, kh, kw] = w else {
        bail!("conv2d: weight must be OIHW (rank 4), got shape {w:?}")
    };
    if stride == 0 {
        bail!("conv2d: stride must be at least 1")
    }
    if wc != c {
        bail!(
            "conv2d: input has {c} channels but the weight expects {wc} (input {x:?}, weight {w:?})"
        )
    }
    if kh == 0 || kw == 0 || h + 2 * padding < kh || wd + 2 * padding < kw {
        bail!("conv2d: kernel {kh}x{kw} does not fit the padded input {h}x{wd} (padding {padding})")
    }
    Ok(ConvGeom {
        n,
        c,
        h,
        w: wd,
        o,
        kh,
        kw,
        stride,
        pad: padding,
    })
}

fn same_kind(a: &Tensor, b: &Tensor, what: &str) -> Result<()> {
    if a.dtype() != b.dtype() {
        bail!(
            "{what}: dtypes differ ({:?} and {:?})",
            a.dtype(),
            b.dtype()
        )
    }
    if !a.device().same_device(b.device()) {
        bail!("{what}: tensors are on different devices")
    }
    Ok(())
}

/// 2-D convolution `y[n, o] = Σ_c x[n, c] ⋆ w[o, c]` with the same stride and zero padding on
/// both axes; `x` is `[N, C, H, W]`, `w` is `[O, C, KH, KW]`, `y` is `[N, O, OH, OW]` with
/// `OH = (H + 2·padding - KH) / stride + 1`.
///
/// On CPU (f32/f64) the forward and the backward (input and weight gradients) run as
/// im2col/col2im + GEMM custom ops; elsewhere this is candle's `Tensor::conv2d` (cuDNN on CUDA
/// builds with `cudnn`). Bias is not part of the op: add it with `broadcast_add`.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let g = geometry(x.dims(), w.dims(), stride, padding)?;
    same_kind(x, w, "conv2d")?;
    if fast_path(x) {
        x.contiguous()?.apply_op2(&w.contiguous()?, Conv2d(g))
    } else {
        x.conv2d(w, padding, stride, 1, 1)
    }
}

/// The gradient of [`conv2d`] with respect to its input: `dx[N, C, H, W]` from the output
/// gradient `dy[N, O, OH, OW]` and the weight `w[O, C, KH, KW]` (a transposed convolution).
/// `input_hw` is the `(H, W)` of the forward input, which the output size alone leaves open
/// when `stride > 1`.
pub fn conv2d_input_grad(
    dy: &Tensor,
    w: &Tensor,
    input_hw: (usize, usize),
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (n, _, oh, ow) = dy.dims4()?;
    let (_, c, _, _) = w.dims4()?;
    let g = geometry(&[n, c, input_hw.0, input_hw.1], w.dims(), stride, padding)?;
    check_output(&g, dy.dims(), "conv2d_input_grad")?;
    same_kind(dy, w, "conv2d_input_grad")?;
    if fast_path(dy) {
        return dy
            .contiguous()?
            .apply_op2(&w.contiguous()?, Conv2dInputGrad(g));
    }
    let out_padding = g.h - ((oh - 1) * stride + g.kh - 2 * padding);
    if out_padding != g.w - ((ow - 1) * stride + g.kw - 2 * padding) {
        bail!("conv2d_input_grad: the fallback needs the same output padding on both axes")
    }
    dy.conv_transpose2d(w, padding, out_padding, stride, 1)
}

/// The gradient of [`conv2d`] with respect to its weight: `dw[O, C, KH, KW]` from the forward
/// input `x[N, C, H, W]` and the output gradient `dy[N, O, OH, OW]`.
pub fn conv2d_weight_grad(
    x: &Tensor,
    dy: &Tensor,
    kernel_hw: (usize, usize),
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (_, c, _, _) = x.dims4()?;
    let (_, o, _, _) = dy.dims4()?;
    let g = geometry(x.dims(), &[o, c, kernel_hw.0, kernel_hw.1], stride, padding)?;
    check_output(&g, dy.dims(), "conv2d_weight_grad")?;
    same_kind(x, dy, "conv2d_weight_grad")?;
    if fast_path(x) {
        return x
            .contiguous()?
            .apply_op2(&dy.contiguous()?, Conv2dWeightGrad(g));
    }
    // candle's own formula: the weight gradient is a convolution of x with dy, batch as channels.
    x.transpose(0, 1)?
        .conv2d(&dy.transpose(0, 1)?, padding, 1, stride, 1)?
        .transpose(0, 1)?
        .narrow(2, 0, g.kh)?
        .narrow(3, 0, g.kw)
}

fn check_output(g: &ConvGeom, dy: &[usize], what: &str) -> Result<()> {
    let want = [g.n, g.o, g.oh(), g.ow()];
    if dy != want {
        bail!("{what}: output gradient has shape {dy:?}, the convolution produces {want:?}")
    }
    Ok(())
}

/// Runs a two-input kernel on f32 or f64 storages.
fn dispatch2(
    name: &str,
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
    f32_fn: impl FnOnce(&[f32], &[f32]) -> Vec<f32>,
    f64_fn: impl FnOnce(&[f64], &[f64]) -> Vec<f64>,
) -> Result<CpuStorage> {
    Ok(match s1.dtype() {
        DType::F32 => f32::into_storage(f32_fn(slice(s1, l1, name)?, slice(s2, l2, name)?)),
        DType::F64 => f64::into_storage(f64_fn(slice(s1, l1, name)?, slice(s2, l2, name)?)),
        other => bail!("{name}: unsupported dtype {other:?} on the CPU path"),
    })
}

/// `conv2d` forward; backward through the two gradient ops below.
struct Conv2d(ConvGeom);

impl CustomOp2 for Conv2d {
    fn name(&self) -> &'static str {
        "histo-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let out = dispatch2(
            self.name(),
            s1,
            l1,
            s2,
            l2,
            |x, w| kernels::forward(g, x, w),
            |x, w| kernels::forward(g, x, w),
        )?;
        Ok((out, Shape::from((g.n, g.o, g.oh(), g.ow()))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = self.0;
        let dy = dy.contiguous()?;
        // An input that is no variable and derives from none (the image batch fed to the stem)
        // needs no gradient: skip its GEMM and col2im, as PyTorch does.
        let dx = if x.track_op() {
            Some(dy.apply_op2(w, Conv2dInputGrad(g))?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(x.apply_op2(&dy, Conv2dWeightGrad(g))?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

/// `(dy, w) -> dx`.
struct Conv2dInputGrad(ConvGeom);

impl CustomOp2 for Conv2dInputGrad {
    fn name(&self) -> &'static str {
        "histo-conv2d-input-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let out = dispatch2(
            self.name(),
            s1,
            l1,
            s2,
            l2,
            |dy, w| kernels::backward_input(g, dy, w),
            |dy, w| kernels::backward_input(g, dy, w),
        )?;
        Ok((out, Shape::from((g.n, g.c, g.h, g.w))))
    }
}

/// `(x, dy) -> dw`.
struct Conv2dWeightGrad(ConvGeom);

impl CustomOp2 for Conv2dWeightGrad {
    fn name(&self) -> &'static str {
        "histo-conv2d-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let out = dispatch2(
            self.name(),
            s1,
            l1,
            s2,
            l2,
            |x, dy| kernels::backward_weight(g, x, dy),
            |x, dy| kernels::backward_weight(g, x, dy),
        )?;
        Ok((out, Shape::from((g.o, g.c, g.kh, g.kw))))
    }
}
