//! max_pool2d against a direct loop, candle's max_pool2d (no padding), finite differences and
//! the generic fallback. Tolerances: exact for values and routed gradients (max-pooling only
//! copies); f64 finite differences (h = 1e-6, no ties in random data) within 1e-6.

mod common;

use candle_core::{DType, Device, Result, Tensor, Var};
use common::*;
use histo_kernels::max_pool2d;

/// Direct max-pool with −∞ padding, in f64.
fn naive(
    x: &[f64],
    (planes, h, w): (usize, usize, usize),
    k: usize,
    s: usize,
    p: usize,
) -> Vec<f64> {
    let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
    let mut y = Vec::new();
    for pl in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut m = f64::NEG_INFINITY;
                for i in 0..k {
                    for j in 0..k {
                        let (iy, ix) = (
                            (oy * s + i) as isize - p as isize,
                            (ox * s + j) as isize - p as isize,
                        );
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            m = m.max(x[(pl * h + iy as usize) * w + ix as usize]);
                        }
                    }
                }
                y.push(m);
            }
        }
    }
    y
}

#[test]
fn forward_matches_direct_loop_and_gradient_matches_finite_differences() -> Result<()> {
    for (k, s, p, h, w) in [
        (3, 2, 1, 9, 11),
        (3, 2, 1, 8, 8),
        (2, 2, 0, 7, 6),
        (3, 1, 1, 5, 5),
        (5, 3, 2, 12, 7),
    ] {
        let what = format!("k{k} s{s} p{p} {h}x{w}");
        let x = Var::from_tensor(&randn(1, &[2, 3, h, w], DType::F64)?)?;
        let y = max_pool2d(&x, k, s, p)?;
        assert_eq!(
            to_f64(&y)?,
            naive(&to_f64(&x)?, (6, h, w), k, s, p),
            "{what}"
        );
        let r = randn(2, y.dims(), DType::F64)?;
        let dx = to_f64((&y * &r)?.sum_all()?.backward()?.get(&x).expect("gradient"))?;
        for j in sample_indices(x.elem_count(), 12, 3) {
            let fd = finite_diff(&x, j, 1e-6, &|x| weighted_sum(&max_pool2d(x, k, s, p)?, &r))?;
            assert!(
                (fd - dx[j]).abs() < 1e-6,
                "{what} dx[{j}]: {} vs fd {fd}",
                dx[j]
            );
        }
    }
    Ok(())
}

#[test]
fn matches_candle_values_without_padding_and_fixes_its_gradient_scale() -> Result<()> {
    // candle 0.11's max_pool2d backward multiplies by the window *average* of the max mask,
    // i.e. scales a unique maximum's gradient by 1/k² (0.25 here); ours passes it whole, which
    // the finite-difference test above confirms.
    let x = Var::from_tensor(&randn(4, &[3, 4, 8, 10], DType::F32)?)?;
    let r = randn(5, &[3, 4, 4, 5], DType::F32)?;
    let ours = max_pool2d(&x, 2, 2, 0)?;
    let theirs = x.max_pool2d(2)?;
    assert_close(&ours, &theirs, 0.0, "values")?;
    let g1 = (&ours * &r)?
        .sum_all()?
        .backward()?
        .get(&x)
        .expect("gradient")
        .clone();
    let g2 = (&theirs * &r)?
        .sum_all()?
        .backward()?
        .get(&x)
        .expect("gradient")
        .clone();
    assert_close(&(g1 * 0.25)?, &g2, 0.0, "gradients")
}

#[test]
fn ties_route_the_gradient_to_the_first_maximum() -> Result<()> {
    let x = Var::from_tensor(&Tensor::ones((1, 1, 2, 2), DType::F32, &Device::Cpu)?)?;
    let y = max_pool2d(&x, 2, 2, 0)?;
    let g = y.sum_all()?.backward()?;
    assert_eq!(
        g.get(&x)
            .expect("gradient")
            .flatten_all()?
            .to_vec1::<f32>()?,
        vec![1.0, 0.0, 0.0, 0.0]
    );
    Ok(())
}

#[test]
fn fallback_path_gives_the_same_values() -> Result<()> {
    // F16 takes the generic candle-op path (the one CUDA uses).
    let x = randn(6, &[2, 3, 9, 9], DType::F32)?;
    let fast = max_pool2d(&x, 3, 2, 1)?;
    let slow = max_pool2d(&x.to_dtype(DType::F16)?, 3, 2, 1)?;
    assert_close(&fast.to_dtype(DType::F16)?, &slow, 0.0, "fallback")
}

#[test]
fn bad_arguments_are_clear_errors() -> Result<()> {
    let x = randn(1, &[1, 1, 4, 4], DType::F32)?;
    let e = max_pool2d(&x, 3, 2, 2).expect_err("pad").to_string();
    assert!(e.contains("more than half"), "{e}");
    let e = max_pool2d(&x, 7, 1, 1).expect_err("fit").to_string();
    assert!(e.contains("does not fit"), "{e}");
    let e = max_pool2d(&x, 3, 0, 1).expect_err("stride").to_string();
    assert!(e.contains("at least 1"), "{e}");
    Ok(())
}
