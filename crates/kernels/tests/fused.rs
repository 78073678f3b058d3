//! add_relu and the in-place SGD update against the same formulas written with candle ops.
//! Tolerances: add_relu is exact (same arithmetic); SGD within 1e-6 relative over 5 steps in f32
//! (the fused loop and candle's separate ops round the same products in a different order).

mod common;

use candle_core::{DType, Result, Tensor, Var};
use common::*;
use histo_kernels::{Sgd, add_relu};

#[test]
fn add_relu_matches_candle_forward_and_backward() -> Result<()> {
    for shape in [vec![3, 4, 5, 7], vec![100_003]] {
        let a = Var::from_tensor(&randn(1, &shape, DType::F32)?)?;
        let b = Var::from_tensor(&randn(2, &shape, DType::F32)?)?;
        let r = randn(3, &shape, DType::F32)?;
        let run = |y: Tensor| -> Result<[Tensor; 3]> {
            let g = (&y * &r)?.sum_all()?.backward()?;
            Ok([
                y,
                g.get(&a).expect("a").clone(),
                g.get(&b).expect("b").clone(),
            ])
        };
        let ours = run(add_relu(&a, &b)?)?;
        let theirs = run((a.as_tensor() + b.as_tensor())?.relu()?)?;
        for k in 0..3 {
            assert_close(&ours[k], &theirs[k], 0.0, &format!("{shape:?} output {k}"))?;
        }
    }
    let e = add_relu(
        &randn(1, &[2, 3], DType::F32)?,
        &randn(1, &[3, 2], DType::F32)?,
    )
    .expect_err("shape");
    assert!(e.to_string().contains("shapes differ"), "{e}");
    Ok(())
}

/// The update written with candle tensor ops (PyTorch's SGD, as histo-train does it).
fn reference_step(
    cfg: &Sgd,
    p: &Tensor,
    g: &Tensor,
    buf: Option<Tensor>,
) -> Result<(Tensor, Option<Tensor>)> {
    let d = (g + (p * cfg.weight_decay)?)?;
    if cfg.momentum == 0.0 {
        return Ok(((p - (d * cfg.lr)?)?, None));
    }
    let buf = match buf {
        None => d.copy()?,
        Some(b) => ((b * cfg.momentum)? + &d)?,
    };
    let d = if cfg.nesterov {
        (&d + (&buf * cfg.momentum)?)?
    } else {
        buf.clone()
    };
    Ok(((p - (d * cfg.lr)?)?, Some(buf)))
}

#[test]
fn sgd_matches_the_tensor_op_formula_over_several_steps() -> Result<()> {
    for (momentum, nesterov, wd) in [
        (0.9, true, 1e-4),
        (0.9, false, 0.0),
        (0.0, false, 1e-2),
        (0.5, true, 0.0),
    ] {
        let cfg = Sgd {
            lr: 0.1,
            momentum,
            weight_decay: wd,
            nesterov,
        };
        let shape = [64, 3, 7, 7];
        let param = Var::from_tensor(&randn(1, &shape, DType::F32)?)?;
        let mut p_ref = param.as_tensor().copy()?;
        let (mut buf, mut buf_ref) = (None, None);
        for step in 0..5 {
            let g = randn(10 + step, &shape, DType::F32)?;
            buf = cfg.step(&param, &g, buf)?;
            (p_ref, buf_ref) = reference_step(&cfg, &p_ref, &g, buf_ref)?;
            let what = format!("{cfg:?} step {step}");
            assert_close(param.as_tensor(), &p_ref, 1e-6, &what)?;
            assert_eq!(buf.is_some(), buf_ref.is_some(), "{what}");
            if let (Some(b), Some(r)) = (&buf, &buf_ref) {
                assert_close(b, r, 1e-6, &format!("{what} buffer"))?;
            }
        }
    }
    Ok(())
}

#[test]
fn sgd_updates_a_non_contiguous_gradient_and_f16_through_the_fallback() -> Result<()> {
    let cfg = Sgd {
        lr: 0.5,
        momentum: 0.9,
        weight_decay: 0.0,
        nesterov: true,
    };
    let param = Var::from_tensor(&randn(1, &[4, 6], DType::F32)?)?;
    let g = randn(2, &[6, 4], DType::F32)?.t()?;
    let (want, _) = reference_step(&cfg, param.as_tensor(), &g, None)?;
    cfg.step(&param, &g, None)?;
    assert_close(param.as_tensor(), &want, 1e-6, "strided gradient")?;

    let param = Var::from_tensor(&randn(1, &[4, 6], DType::F16)?)?;
    let g = randn(2, &[4, 6], DType::F16)?;
    let (want, _) = reference_step(&cfg, param.as_tensor(), &g, None)?;
    cfg.step(&param, &g, None)?;
    assert_close(param.as_tensor(), &want, 0.0, "f16 fallback")
}

#[test]
fn sgd_rejects_mismatched_shapes_and_bad_settings() -> Result<()> {
    let param = Var::from_tensor(&randn(1, &[4, 6], DType::F32)?)?;
    let cfg = Sgd {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 0.0,
        nesterov: false,
    };
    let e = cfg
        .step(&param, &randn(2, &[6, 4], DType::F32)?, None)
        .expect_err("shape")
        .to_string();
    assert!(e.contains("gradient has shape [6, 4]"), "{e}");
    let bad = Sgd { lr: -1.0, ..cfg };
    let e = bad
        .step(&param, &randn(2, &[4, 6], DType::F32)?, None)
        .expect_err("lr")
        .to_string();
    assert!(e.contains("non-negative"), "{e}");
    Ok(())
}
