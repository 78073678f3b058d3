//! The tensor operations the networks are built from, each routed through one function:
//! [`conv2d`] (every convolution of the trunks), [`max_pool2d`] (the padded 3×3/2 max-pool of
//! the ResNet stem) and [`add_relu`] (the residual join). On the CPU (f32/f64) they are
//! histo-kernels' custom ops, whose forward and backward are GEMM-based or fused single-pass
//! loops (several times faster to train than candle's own CPU ops); on other devices they are
//! candle's ops (cuDNN convolutions with the `cudnn` feature), except that on CUDA a
//! convolution's backward runs as forward convolutions too (candle's `conv_transpose2d` there
//! is a direct loop kernel). BatchNorm lives in
//! [`crate::BatchNorm2d`], also on histo-kernels.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CudaStorage, CustomOp2, DType, Layout, Shape, Storage, Tensor};

use crate::Result;

/// 2-D convolution without bias, square stride and zero padding: `x` `[N, Cin, H, W]`,
/// `w` `[Cout, Cin, kh, kw]`. Every convolution of histo's networks goes through here
/// ([`histo_kernels::conv2d`]: im2col + GEMM forward and backward on the CPU; no input gradient
/// is computed for an input that needs none, such as the image batch).
///
/// Half-precision inputs on the CPU (mixed precision, [`crate::Precision::Bf16`]) are convolved
/// in f32 from the half-precision operands and the result rounded back, which is what cuDNN's
/// bf16 convolutions compute (bf16 operands, f32 accumulation); candle has no half-precision
/// matrix product on the CPU, and it would be no faster there.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let half = matches!(x.dtype(), DType::BF16 | DType::F16);
    if half && x.device().is_cpu() && w.dtype() == x.dtype() {
        let (xf, wf) = (x.to_dtype(DType::F32)?, w.to_dtype(DType::F32)?);
        let y = histo_kernels::conv2d(&xf, &wf, stride, padding)?;
        return Ok(y.to_dtype(x.dtype())?);
    }
    if x.device().is_cuda() {
        return conv2d_forward_convs(x, w, stride, padding);
    }
    Ok(histo_kernels::conv2d(x, w, stride, padding)?)
}

/// `x ⋆ w` whose backward pass is made of forward convolutions only (cuDNN on CUDA builds with
/// `cudnn`, cuBLAS im2col otherwise).
///
/// candle backpropagates a convolution's input gradient through `conv_transpose2d`, which on
/// CUDA is a direct loop kernel without cuDNN, many times slower than the forward convolution.
/// Here the input gradient is the forward convolution of the stride-dilated, zero-padded output
/// gradient with the spatially flipped, in/out-transposed kernel, and the weight gradient is
/// candle's own formulation (a dilated forward convolution of the transposed input and output
/// gradient). The forward is candle's `conv2d` on detached inputs; a custom op hands its result
/// out (one device copy of the output) and carries this backward.
fn conv2d_forward_convs(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let y = x.detach().conv2d(&w.detach(), padding, stride, 1, 1)?;
    if !(x.track_op() || w.track_op()) {
        return Ok(y);
    }
    let op = ForwardConvs {
        y: Mutex::new(Some(y)),
        stride,
        padding,
    };
    Ok(x.apply_op2_arc(w, Arc::new(Box::new(op)))?)
}

/// The custom op of [`conv2d_forward_convs`]: its forward hands out the precomputed output
/// (taken once), its backward runs forward convolutions.
struct ForwardConvs {
    y: Mutex<Option<Tensor>>,
    stride: usize,
    padding: usize,
}

impl ForwardConvs {
    /// The precomputed output's storage, copied out (it may be handed out only once).
    fn take(&self) -> candle_core::Result<(Storage, Shape)> {
        let y = self
            .y
            .lock()
            .map_err(|_| candle_core::Error::Msg("conv2d: poisoned lock".into()))?
            .take()
            .ok_or_else(|| candle_core::Error::Msg("conv2d: output already taken".into()))?;
        let (st, layout) = y.storage_and_layout();
        let copy = st.try_clone(layout)?;
        Ok((copy, y.shape().clone()))
    }
}

impl CustomOp2 for ForwardConvs {
    fn name(&self) -> &'static str {
        "conv2d-forward-convs"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        match self.take()? {
            (Storage::Cpu(s), shape) => Ok((s, shape)),
            _ => candle_core::bail!("conv2d: the output is not on the CPU"),
        }
    }

    fn cuda_fwd(
        &self,
        _: &CudaStorage,
        _: &Layout,
        _: &CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        match self.take()? {
            (Storage::Cuda(s), shape) => Ok((s, shape)),
            _ => candle_core::bail!("conv2d: the output is not on the GPU"),
        }
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (s, p) = (self.stride, self.padding);
        let (n, _, h, wd) = x.dims4()?;
        let (o, _, kh, kw) = w.dims4()?;
        let (_, _, oh, ow) = dy.dims4()?;
        // no input gradient for an input that needs none (the image batch of the stem)
        let dx = if !x.track_op() {
            None
        } else if kh == kw && p < kh {
            // dilate: s − 1 zeros between the output-gradient pixels
            let mut d = dy.contiguous()?;
            if s > 1 {
                d = d
                    .reshape((n, o, oh, 1, ow, 1))?
                    .pad_with_zeros(3, 0, s - 1)?
                    .pad_with_zeros(5, 0, s - 1)?
                    .reshape((n, o, oh * s, ow * s))?
                    .narrow(2, 0, (oh - 1) * s + 1)?
                    .narrow(3, 0, (ow - 1) * s + 1)?;
            }
            // the input rows/columns the strided forward never reached get zero gradient
            let (eh, ew) = (
                h + 2 * p - kh - (oh - 1) * s,
                wd + 2 * p - kw - (ow - 1) * s,
            );
            if eh > 0 {
                d = d.pad_with_zeros(2, 0, eh)?;
            }
            if ew > 0 {
                d = d.pad_with_zeros(3, 0, ew)?;
            }
            let wt = w.flip(&[2, 3])?.transpose(0, 1)?.contiguous()?;
            Some(d.contiguous()?.conv2d(&wt, kh - 1 - p, 1, 1, 1)?)
        } else {
            let out_padding = h + 2 * p - (oh - 1) * s - kh;
            Some(dy.conv_transpose2d(w, p, out_padding, s, 1)?)
        };
        let dw = x
            .transpose(0, 1)?
            .conv2d(&dy.transpose(0, 1)?, p, 1, s, 1)?
            .transpose(0, 1)?;
        let dw = if dw.dims()[2] != kh || dw.dims()[3] != kw {
            dw.narrow(2, 0, kh)?.narrow(3, 0, kw)?
        } else {
            dw
        };
        Ok((dx, Some(dw)))
    }
}

/// Global average pooling `[N, C, H, W]` → `[N, C]` (torchvision's `AdaptiveAvgPool2d(1)` +
/// `flatten`).
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    Ok(x.mean((2, 3))?)
}

/// `relu(a + b)`, the join of a residual block ([`histo_kernels::add_relu`]: one pass forward
/// and backward on the CPU).
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(histo_kernels::add_relu(a, b)?)
}

/// Max-pooling with a square `k`×`k` window, stride `s` and implicit −∞ padding `p` on every
/// side, as `torch.nn.MaxPool2d(k, s, p)`; ResNet's stem uses `(3, 2, 1)`.
///
/// candle's own `max_pool2d` has no padding and only backpropagates when kernel == stride, so
/// this is [`histo_kernels::max_pool2d`]: on the CPU (f32/f64) a custom op whose backward
/// routes each output gradient to the first maximum of its window, like PyTorch; on other
/// devices and dtypes a formulation from candle ops (ties then share the gradient).
pub fn max_pool2d(x: &Tensor, k: usize, s: usize, p: usize) -> Result<Tensor> {
    if k == 0 || s == 0 || p * 2 > k {
        return Err(candle_core::Error::Msg(format!(
            "max_pool2d: invalid window {k}, stride {s}, padding {p} (need k ≥ 1, s ≥ 1, p ≤ k/2)"
        ))
        .into());
    }
    let (_, _, h, w) = x.dims4()?;
    if h + 2 * p < k || w + 2 * p < k {
        return Err(candle_core::Error::Msg(format!(
            "max_pool2d: input {h}x{w} is smaller than the {k}x{k} window"
        ))
        .into());
    }
    Ok(histo_kernels::max_pool2d(x, k, s, p)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    fn input() -> Tensor {
        // 1x2x5x6, distinct values with a deliberate tie in plane 1
        let mut v: Vec<f32> = (0..60).map(|i| ((i * 37) % 61) as f32 - 30.0).collect();
        v[30] = 50.0;
        v[31] = 50.0;
        Tensor::from_vec(v, (1, 2, 5, 6), &Device::Cpu).unwrap()
    }

    /// Output length of a pooling window along one axis (PyTorch, `ceil_mode=False`).
    fn pooled(len: usize, k: usize, s: usize, p: usize) -> usize {
        (len + 2 * p).saturating_sub(k) / s + 1
    }

    /// Hand-computed: one plane, padded 3x3/2 pooling (PyTorch semantics).
    fn naive(x: &[f32], h: usize, w: usize) -> Vec<f32> {
        let (ho, wo) = (pooled(h, 3, 2, 1), pooled(w, 3, 2, 1));
        let mut out = vec![f32::NEG_INFINITY; ho * wo];
        for oy in 0..ho {
            for ox in 0..wo {
                for y in (2 * oy).saturating_sub(1)..(2 * oy + 2).min(h) {
                    for xx in (2 * ox).saturating_sub(1)..(2 * ox + 2).min(w) {
                        out[oy * wo + ox] = out[oy * wo + ox].max(x[y * w + xx]);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn max_pool_forward_matches_a_naive_loop() {
        let x = input();
        let all: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        let want: Vec<f32> = naive(&all[..30], 5, 6)
            .into_iter()
            .chain(naive(&all[30..], 5, 6))
            .collect();
        let a = max_pool2d(&x, 3, 2, 1).unwrap();
        assert_eq!(a.dims(), &[1, 2, 3, 3]);
        assert_eq!(a.flatten_all().unwrap().to_vec1::<f32>().unwrap(), want);
        // the even-sized case too
        let y = Tensor::arange(0f32, 64., &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 8, 8))
            .unwrap();
        let all: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        let a = max_pool2d(&y, 3, 2, 1).unwrap();
        assert_eq!(a.dims(), &[1, 1, 4, 4]);
        assert_eq!(
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            naive(&all, 8, 8)
        );
    }

    #[test]
    fn max_pool_backward_routes_gradient_to_the_first_maximum() {
        let x = Var::from_tensor(&input()).unwrap();
        let y = max_pool2d(x.as_tensor(), 3, 2, 1).unwrap();
        // weight each output differently so misrouting shows
        let wts = Tensor::arange(1f32, 19., &Device::Cpu)
            .unwrap()
            .reshape((1, 2, 3, 3))
            .unwrap();
        let loss = (&y * &wts).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let gx: Vec<f32> = g.get(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let xs: Vec<f32> = input().flatten_all().unwrap().to_vec1().unwrap();
        let ys: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        // every output weight lands exactly once, on an input equal to that output
        let total: f32 = gx.iter().sum();
        assert_eq!(total, (1..19).sum::<i32>() as f32);
        for (i, g) in gx.iter().enumerate() {
            if *g != 0.0 {
                assert!(ys.contains(&xs[i]), "gradient on a non-maximum at {i}");
            }
        }
        // the tie at plane 1, input (0,0) and (0,1): output (0,0)'s window holds both and the
        // first wins (weight 10); input (0,1) gets only output (0,1)'s weight 11, whose window
        // (columns 1..=3) it leads.
        assert!(xs[30] == 50.0 && xs[31] == 50.0);
        assert_eq!((gx[30], gx[31]), (10.0, 11.0));
    }

    #[test]
    fn forward_conv_backward_matches_the_gemm_kernels() {
        // every geometry of the ResNets (7x7/2 stem, 3x3/1, 3x3/2, 1x1/2 downsample) on odd,
        // even and non-square sizes
        let dev = Device::Cpu;
        for (cin, cout, k, s, p, hw) in [
            (3, 4, 7, 2, 3, 19),
            (3, 4, 7, 2, 3, 20),
            (4, 5, 3, 1, 1, 9),
            (4, 5, 3, 2, 1, 9),
            (4, 5, 3, 2, 1, 10),
            (4, 6, 1, 2, 0, 9),
            (4, 6, 1, 2, 0, 8),
        ] {
            let x = Var::from_tensor(&Tensor::randn(0f32, 1., (2, cin, hw, hw + 1), &dev).unwrap())
                .unwrap();
            let w = Var::from_tensor(&Tensor::randn(0f32, 0.5, (cout, cin, k, k), &dev).unwrap())
                .unwrap();
            let ours = conv2d_forward_convs(x.as_tensor(), w.as_tensor(), s, p).unwrap();
            // histo-kernels' GEMM convolution and backward (gradient-checked there); candle's
            // own conv2d backward fails on non-square inputs whose rows and columns leave
            // different remainders at stride 2
            let want = histo_kernels::conv2d(x.as_tensor(), w.as_tensor(), s, p).unwrap();
            assert_eq!(ours.dims(), want.dims());
            let gy = Tensor::randn(0f32, 1., want.dims(), &dev).unwrap();
            let go = (&ours * &gy)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let gw = (&want * &gy)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let close = |a: &Tensor, b: &Tensor, what: &str| {
                let d = (a - b).unwrap().abs().unwrap().max_all().unwrap();
                let m = b.abs().unwrap().max_all().unwrap();
                let (d, m) = (d.to_scalar::<f32>().unwrap(), m.to_scalar::<f32>().unwrap());
                assert!(
                    d <= 1e-5 * m.max(1.0),
                    "{what} k{k} s{s} p{p} {hw}: {d} (max {m})"
                );
            };
            close(&ours, &want, "output");
            close(go.get(&x).unwrap(), gw.get(&x).unwrap(), "input gradient");
            close(go.get(&w).unwrap(), gw.get(&w).unwrap(), "weight gradient");
            // an input that needs no gradient (the image batch) gets none, the weight still does
            let plain = x.as_tensor().detach();
            let y = conv2d_forward_convs(&plain, w.as_tensor(), s, p).unwrap();
            let g = (&y * &gy).unwrap().sum_all().unwrap().backward().unwrap();
            assert!(g.get(&plain).is_none());
            close(
                g.get(&w).unwrap(),
                gw.get(&w).unwrap(),
                "weight gradient (plain input)",
            );
        }
    }

    #[test]
    fn bad_windows_are_errors() {
        let x = input();
        assert!(max_pool2d(&x, 3, 0, 1).is_err());
        assert!(max_pool2d(&x, 3, 2, 2).is_err());
        let tiny = Tensor::zeros((1, 1, 1, 1), DType::F32, &Device::Cpu).unwrap();
        assert!(max_pool2d(&tiny, 5, 2, 1).is_err());
    }

    #[test]
    fn add_relu_is_relu_of_the_sum_with_its_gradient() {
        let dev = Device::Cpu;
        let a = Var::new(&[[1f32, -2.0, 0.5], [3.0, -1.0, -0.25]], &dev).unwrap();
        let b = Var::new(&[[-3f32, 1.0, 0.5], [1.0, 2.0, 0.0]], &dev).unwrap();
        let y = add_relu(a.as_tensor(), b.as_tensor()).unwrap();
        let want = [[0f32, 0.0, 1.0], [4.0, 1.0, 0.0]];
        assert_eq!(y.to_vec2::<f32>().unwrap(), want);
        let g = y.sum_all().unwrap().backward().unwrap();
        let mask = [[0f32, 0.0, 1.0], [1.0, 1.0, 0.0]];
        assert_eq!(g.get(&a).unwrap().to_vec2::<f32>().unwrap(), mask);
        assert_eq!(g.get(&b).unwrap().to_vec2::<f32>().unwrap(), mask);
    }
}
