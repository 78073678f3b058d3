//! The tensor operations the networks are built from, each routed through one function so a
//! faster kernel can be swapped in at one place: [`conv2d`] (every convolution of the trunks)
//! and [`max_pool2d`] (the padded 3×3/2 max-pool of the ResNet stem, with a working backward).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::Result;

/// 2-D convolution without bias, square stride and zero padding: `x` `[N, Cin, H, W]`,
/// `w` `[Cout, Cin, kh, kw]`. Every convolution of histo's networks goes through here.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    Ok(x.conv2d(w, padding, stride, 1, 1)?)
}

/// Global average pooling `[N, C, H, W]` → `[N, C]` (torchvision's `AdaptiveAvgPool2d(1)` +
/// `flatten`).
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    Ok(x.mean((2, 3))?)
}

/// Output length of a pooling window along one axis (PyTorch, `ceil_mode=False`).
fn pooled(len: usize, k: usize, s: usize, p: usize) -> usize {
    (len + 2 * p).saturating_sub(k) / s + 1
}

/// Max-pooling with a square `k`×`k` window, stride `s` and implicit −∞ padding `p` on every
/// side, as `torch.nn.MaxPool2d(k, s, p)`; ResNet's stem uses `(3, 2, 1)`.
///
/// candle's own `max_pool2d` has no padding and only backpropagates when kernel == stride. On
/// the CPU (f32) this is a custom op whose backward routes each output gradient to the first
/// maximum of its window, like PyTorch. On other devices and dtypes it is built from shifted
/// strided views combined with `maximum` (ties then share the gradient).
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
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        Ok(x.apply_op1(MaxPool { k, s, p })?)
    } else {
        max_pool2d_views(x, k, s, p)
    }
}

/// The device-agnostic formulation: pad with −∞, take `k²` strided views, reduce by `maximum`.
fn max_pool2d_views(x: &Tensor, k: usize, s: usize, p: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (ho, wo) = (pooled(h, k, s, p), pooled(w, k, s, p));
    // pad so that every view `offset + s·i` for i < out exists: length ≥ (k−1) + s·out.
    let (hp, wp) = ((k - 1) + s * ho, (k - 1) + s * wo);
    let neg = |shape: (usize, usize, usize, usize)| -> Result<Tensor> {
        Ok(Tensor::full(f32::NEG_INFINITY, shape, x.device())?.to_dtype(x.dtype())?)
    };
    let mut xp = x.clone();
    if p > 0 || hp > h + p {
        let bottom = hp.saturating_sub(h + p);
        let mut parts = Vec::new();
        if p > 0 {
            parts.push(neg((n, c, p, w))?);
        }
        parts.push(xp.clone());
        if bottom > 0 {
            parts.push(neg((n, c, bottom, w))?);
        }
        xp = Tensor::cat(&parts, 2)?;
    }
    let hcur = xp.dim(2)?;
    if p > 0 || wp > w + p {
        let right = wp.saturating_sub(w + p);
        let mut parts = Vec::new();
        if p > 0 {
            parts.push(neg((n, c, hcur, p))?);
        }
        parts.push(xp.clone());
        if right > 0 {
            parts.push(neg((n, c, hcur, right))?);
        }
        xp = Tensor::cat(&parts, 3)?;
    }
    let mut out: Option<Tensor> = None;
    for dy in 0..k {
        let rows = xp
            .narrow(2, dy, s * ho)?
            .reshape((n, c, ho, s, xp.dim(3)?))?
            .narrow(3, 0, 1)?
            .squeeze(3)?;
        for dx in 0..k {
            let v = rows
                .narrow(3, dx, s * wo)?
                .reshape((n, c, ho, wo, s))?
                .narrow(4, 0, 1)?
                .squeeze(4)?;
            out = Some(match out {
                None => v,
                Some(m) => m.maximum(&v)?,
            });
        }
    }
    Ok(out.expect("k ≥ 1").contiguous()?)
}

#[derive(Clone, Copy)]
struct MaxPool {
    k: usize,
    s: usize,
    p: usize,
}

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(v) => v.as_slice(),
        _ => candle_core::bail!("max_pool2d: expected f32"),
    };
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("max_pool2d: input must be contiguous"),
    }
}

impl MaxPool {
    /// For each output cell of one plane, the flat index (in the input plane) of the first
    /// maximum of its window, scanning rows then columns; `None` never happens for valid windows.
    fn argmax_plane(&self, src: &[f32], h: usize, w: usize, ho: usize, wo: usize) -> Vec<u32> {
        let MaxPool { k, s, p } = *self;
        let mut out = Vec::with_capacity(ho * wo);
        for oy in 0..ho {
            let y0 = (oy * s) as isize - p as isize;
            for ox in 0..wo {
                let x0 = (ox * s) as isize - p as isize;
                let mut best = f32::NEG_INFINITY;
                let mut at = u32::MAX;
                for dy in 0..k as isize {
                    let y = y0 + dy;
                    if y < 0 || y >= h as isize {
                        continue;
                    }
                    for dx in 0..k as isize {
                        let x = x0 + dx;
                        if x < 0 || x >= w as isize {
                            continue;
                        }
                        let i = y as usize * w + x as usize;
                        let v = src[i];
                        if v > best || v.is_nan() || at == u32::MAX {
                            best = v;
                            at = i as u32;
                            if v.is_nan() {
                                break;
                            }
                        }
                    }
                }
                out.push(at);
            }
        }
        out
    }
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "histo-max-pool2d"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = layout.shape().dims4()?;
        let src = contiguous_f32(storage, layout)?;
        let (ho, wo) = (
            pooled(h, self.k, self.s, self.p),
            pooled(w, self.k, self.s, self.p),
        );
        let mut dst = vec![0f32; n * c * ho * wo];
        if ho * wo > 0 {
            dst.par_chunks_mut(ho * wo)
                .zip(src.par_chunks(h * w))
                .for_each(|(d, plane)| {
                    for (o, i) in d.iter_mut().zip(self.argmax_plane(plane, h, w, ho, wo)) {
                        *o = plane[i as usize];
                    }
                });
        }
        Ok((CpuStorage::F32(dst), Shape::from((n, c, ho, wo))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let arg = arg.contiguous()?;
        let grad = grad_res.contiguous()?;
        Ok(Some(arg.apply_op2_no_bwd(&grad, &MaxPoolBackward(*self))?))
    }
}

/// Scatters the output gradient to the first maximum of each window.
struct MaxPoolBackward(MaxPool);

impl CustomOp2 for MaxPoolBackward {
    fn name(&self) -> &'static str {
        "histo-max-pool2d-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l1.shape().dims4()?;
        let (_, _, ho, wo) = l2.shape().dims4()?;
        let src = contiguous_f32(s1, l1)?;
        let grad = contiguous_f32(s2, l2)?;
        let mut dst = vec![0f32; n * c * h * w];
        if ho * wo > 0 && h * w > 0 {
            dst.par_chunks_mut(h * w)
                .zip(src.par_chunks(h * w))
                .zip(grad.par_chunks(ho * wo))
                .for_each(|((d, plane), g)| {
                    for (gi, i) in g.iter().zip(self.0.argmax_plane(plane, h, w, ho, wo)) {
                        d[i as usize] += gi;
                    }
                });
        }
        Ok((CpuStorage::F32(dst), Shape::from((n, c, h, w))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn input() -> Tensor {
        // 1x2x5x6, distinct values with a deliberate tie in plane 1
        let mut v: Vec<f32> = (0..60).map(|i| ((i * 37) % 61) as f32 - 30.0).collect();
        v[30] = 50.0;
        v[31] = 50.0;
        Tensor::from_vec(v, (1, 2, 5, 6), &Device::Cpu).unwrap()
    }

    /// Hand-computed: plane 0 of the input, padded 3x3/2 pooling (PyTorch semantics).
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
    fn forward_matches_a_naive_loop_on_both_paths() {
        let x = input();
        let all: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        let want: Vec<f32> = naive(&all[..30], 5, 6)
            .into_iter()
            .chain(naive(&all[30..], 5, 6))
            .collect();
        let a = max_pool2d(&x, 3, 2, 1).unwrap();
        assert_eq!(a.dims(), &[1, 2, 3, 3]);
        assert_eq!(a.flatten_all().unwrap().to_vec1::<f32>().unwrap(), want);
        let b = max_pool2d_views(&x, 3, 2, 1).unwrap();
        assert_eq!(b.flatten_all().unwrap().to_vec1::<f32>().unwrap(), want);
        // the even-sized case too
        let y = Tensor::arange(0f32, 64., &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 8, 8))
            .unwrap();
        let a = max_pool2d(&y, 3, 2, 1).unwrap();
        let b = max_pool2d_views(&y, 3, 2, 1).unwrap();
        assert_eq!(a.dims(), &[1, 1, 4, 4]);
        assert_eq!(
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }

    #[test]
    fn backward_routes_gradient_to_the_first_maximum() {
        let x = Var::from_tensor(&input()).unwrap();
        let y = max_pool2d(x.as_tensor(), 3, 2, 1).unwrap();
        // weight each output differently so misrouting shows
        let wts = Tensor::arange(1f32, 19., &Device::Cpu)
            .unwrap()
            .reshape((1, 2, 3, 3))
            .unwrap();
        let loss = (y * &wts).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let gx: Vec<f32> = g.get(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        // every output weight lands exactly once on an input that equals that output
        let xs: Vec<f32> = input().flatten_all().unwrap().to_vec1().unwrap();
        let total: f32 = gx.iter().sum();
        assert_eq!(total, (1..19).sum::<i32>() as f32);
        // the tie at plane 1, input (0,0) and (0,1): output (0,0)'s window holds both and the
        // first wins (weight 10); input (0,1) gets only output (0,1)'s weight 11, whose window
        // (columns 1..=3) it leads.
        assert!(xs[30] == 50.0 && xs[31] == 50.0);
        assert_eq!((gx[30], gx[31]), (10.0, 11.0));
        // the view-based path gives the same gradient where there are no ties (plane 0)
        let x2 = Var::from_tensor(&input()).unwrap();
        let y2 = max_pool2d_views(x2.as_tensor(), 3, 2, 1).unwrap();
        let g2 = (y2 * &wts).unwrap().sum_all().unwrap().backward().unwrap();
        let gx2: Vec<f32> = g2
            .get(&x2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(&gx[..30], &gx2[..30]);
    }

    #[test]
    fn bad_windows_are_errors() {
        let x = input();
        assert!(max_pool2d(&x, 3, 0, 1).is_err());
        assert!(max_pool2d(&x, 3, 2, 2).is_err());
        let tiny = Tensor::zeros((1, 1, 1, 1), DType::F32, &Device::Cpu).unwrap();
        assert!(max_pool2d(&tiny, 5, 2, 1).is_err());
    }
}
