//! BatchNorm2d against candle-nn's `BatchNorm` (forward, running statistics, autograd backward)
//! and central finite differences.
//!
//! Tolerances: f32 vs candle-nn, 1e-5 of the largest magnitude (candle-nn normalises with a
//! two-pass mean/variance over a transposed copy, we with shifted one-pass f64 sums);
//! f64 vs finite differences (h = 1e-5), 1e-6 of max(1, |gradient|).

mod common;

use candle_core::{DType, Device, ModuleT, Result, Tensor, Var};
use candle_nn::BatchNorm;
use common::*;
use histo_kernels::{
    BatchNormTrain, batch_norm_eval, batch_norm_relu_train, batch_norm_train, channel_affine,
};

const EPS: f64 = 1e-5;

struct Params {
    x: Var,
    gamma: Var,
    beta: Var,
}

fn params(shape: &[usize], dtype: DType, seed: u64) -> Result<Params> {
    let c = shape[1];
    // A channel offset and scale far from (0, 1), so normalisation matters.
    let x = ((randn(seed, shape, dtype)? * 3.0)? + 5.0)?;
    let gamma = (randn(seed + 1, &[c], dtype)? + 1.0)?;
    Ok(Params {
        x: Var::from_tensor(&x)?,
        gamma: Var::from_tensor(&gamma)?,
        beta: Var::from_tensor(&randn(seed + 2, &[c], dtype)?)?,
    })
}

/// `(y, dx, dgamma, dbeta)` of `Σ f(x, γ, β)·r`.
fn grads(p: &Params, y: &Tensor, seed: u64) -> Result<[Tensor; 4]> {
    let r = randn(seed, y.dims(), y.dtype())?;
    let g = (y * &r)?.sum_all()?.backward()?;
    let get = |v: &Var| g.get(v).expect("gradient").clone();
    Ok([y.clone(), get(&p.x), get(&p.gamma), get(&p.beta)])
}

fn candle_bn(p: &Params) -> Result<(BatchNorm, Var, Var)> {
    let c = p.gamma.dim(0)?;
    let rm = randn(9, &[c], p.x.dtype())?;
    let rv = (randn(10, &[c], p.x.dtype())?.abs()? + 0.5)?;
    let bn = BatchNorm::new_with_momentum(
        c,
        rm.clone(),
        rv.clone(),
        p.gamma.as_tensor().clone(),
        p.beta.as_tensor().clone(),
        EPS,
        0.1,
    )?;
    Ok((bn, Var::from_tensor(&rm)?, Var::from_tensor(&rv)?))
}

#[test]
fn training_forward_backward_and_running_stats_match_candle_nn() -> Result<()> {
    for shape in [[1, 6, 5, 7], [32, 6, 5, 7], [4, 3, 1, 1]] {
        for relu in [false, true] {
            let what = format!("{shape:?} relu={relu}");
            let p = params(&shape, DType::F32, 1)?;
            let (bn, rm, rv) = candle_bn(&p)?;
            let f = if relu {
                batch_norm_relu_train
            } else {
                batch_norm_train
            };
            let out: BatchNormTrain = f(
                p.x.as_tensor(),
                p.gamma.as_tensor(),
                p.beta.as_tensor(),
                EPS,
            )?;
            out.update_running(&rm, &rv, 0.1)?;
            let ours = grads(&p, &out.y, 3)?;
            let y_ref = bn.forward_t(p.x.as_tensor(), true)?;
            let y_ref = if relu { y_ref.relu()? } else { y_ref };
            let reference = grads(&p, &y_ref, 3)?;
            for (k, name) in ["y", "dx", "dgamma", "dbeta"].iter().enumerate() {
                assert_close(&ours[k], &reference[k], 1e-5, &format!("{what} {name}"))?;
            }
            assert_close(
                rm.as_tensor(),
                bn.running_mean(),
                1e-6,
                &format!("{what} running mean"),
            )?;
            assert_close(
                rv.as_tensor(),
                bn.running_var(),
                1e-6,
                &format!("{what} running var"),
            )?;
        }
    }
    Ok(())
}

#[test]
fn training_gradients_match_finite_differences_f64() -> Result<()> {
    for shape in [[1, 3, 5, 7], [32, 2, 3, 5]] {
        for relu in [false, true] {
            let what = format!("{shape:?} relu={relu}");
            let p = params(&shape, DType::F64, 4)?;
            let f = if relu {
                batch_norm_relu_train
            } else {
                batch_norm_train
            };
            let y = f(
                p.x.as_tensor(),
                p.gamma.as_tensor(),
                p.beta.as_tensor(),
                EPS,
            )?
            .y;
            let r = randn(5, y.dims(), DType::F64)?;
            let [_, dx, dg, db] = grads(&p, &y, 5)?;
            let loss = |x: &Tensor, g: &Tensor, b: &Tensor| weighted_sum(&f(x, g, b, EPS)?.y, &r);
            let (x, g, b) = (p.x.as_tensor(), p.gamma.as_tensor(), p.beta.as_tensor());
            let check = |grad: &Tensor,
                         fd: &dyn Fn(usize) -> Result<f64>,
                         n: usize,
                         name: &str|
             -> Result<()> {
                let grad = to_f64(grad)?;
                for j in sample_indices(n, 8, 1) {
                    let fd = fd(j)?;
                    assert!(
                        (fd - grad[j]).abs() < 1e-6 * grad[j].abs().max(1.0),
                        "{what} {name}[{j}]: {} vs fd {fd}",
                        grad[j]
                    );
                }
                Ok(())
            };
            check(
                &dx,
                &|j| finite_diff(x, j, 1e-5, &|x| loss(x, g, b)),
                x.elem_count(),
                "dx",
            )?;
            check(
                &dg,
                &|j| finite_diff(g, j, 1e-5, &|g| loss(x, g, b)),
                g.elem_count(),
                "dgamma",
            )?;
            check(
                &db,
                &|j| finite_diff(b, j, 1e-5, &|b| loss(x, g, b)),
                b.elem_count(),
                "dbeta",
            )?;
        }
    }
    Ok(())
}

#[test]
fn eval_mode_matches_candle_nn_and_its_gradients() -> Result<()> {
    for relu in [false, true] {
        let p = params(&[4, 5, 3, 3], DType::F32, 7)?;
        let (bn, rm, rv) = candle_bn(&p)?;
        let y = batch_norm_eval(
            p.x.as_tensor(),
            rm.as_tensor(),
            rv.as_tensor(),
            p.gamma.as_tensor(),
            p.beta.as_tensor(),
            EPS,
            relu,
        )?;
        let ours = grads(&p, &y, 8)?;
        let y_ref = bn.forward_t(p.x.as_tensor(), false)?;
        let y_ref = if relu { y_ref.relu()? } else { y_ref };
        let reference = grads(&p, &y_ref, 8)?;
        for (k, name) in ["y", "dx", "dgamma", "dbeta"].iter().enumerate() {
            assert_close(
                &ours[k],
                &reference[k],
                1e-5,
                &format!("eval relu={relu} {name}"),
            )?;
        }
    }
    Ok(())
}

#[test]
fn channel_affine_gradients_match_finite_differences_f64() -> Result<()> {
    let x = Var::from_tensor(&randn(1, &[3, 4, 5, 3], DType::F64)?)?;
    let scale = Var::from_tensor(&randn(2, &[4], DType::F64)?)?;
    let shift = Var::from_tensor(&randn(3, &[4], DType::F64)?)?;
    let y = channel_affine(&x, &scale, &shift, true)?;
    let r = randn(4, y.dims(), DType::F64)?;
    let g = (&y * &r)?.sum_all()?.backward()?;
    let loss =
        |x: &Tensor, s: &Tensor, b: &Tensor| weighted_sum(&channel_affine(x, s, b, true)?, &r);
    for (var, name) in [(&x, "x"), (&scale, "scale"), (&shift, "shift")] {
        let grad = to_f64(g.get(var).expect("gradient"))?;
        for j in sample_indices(var.elem_count(), 8, 2) {
            let fd = finite_diff(var, j, 1e-6, &|t| match name {
                "x" => loss(t, &scale, &shift),
                "scale" => loss(&x, t, &shift),
                _ => loss(&x, &scale, t),
            })?;
            assert!(
                (fd - grad[j]).abs() < 1e-6 * grad[j].abs().max(1.0),
                "{name}[{j}]: {} vs {fd}",
                grad[j]
            );
        }
    }
    Ok(())
}

#[test]
fn constant_channel_gives_beta_not_nan() -> Result<()> {
    let x = Tensor::full(2.5f32, (3, 2, 4, 4), &Device::Cpu)?;
    let gamma = Tensor::new(&[2f32, 3.0], &Device::Cpu)?;
    let beta = Tensor::new(&[0.5f32, -1.0], &Device::Cpu)?;
    let out = batch_norm_train(&x, &gamma, &beta, EPS)?;
    let y = out.y.flatten_from(1)?.to_vec2::<f32>()?;
    for row in y {
        assert!(row[..16].iter().all(|v| *v == 0.5) && row[16..].iter().all(|v| *v == -1.0));
    }
    assert_eq!(out.var_unbiased.to_vec1::<f32>()?, vec![0.0, 0.0]);
    assert_eq!(out.mean.to_vec1::<f32>()?, vec![2.5, 2.5]);
    Ok(())
}

#[test]
fn matches_candle_nn_on_a_non_contiguous_input() -> Result<()> {
    let p = params(&[6, 4, 3, 3], DType::F32, 11)?;
    let x = p.x.as_tensor().transpose(2, 3)?;
    let (bn, _, _) = candle_bn(&p)?;
    let ours = batch_norm_train(&x, p.gamma.as_tensor(), p.beta.as_tensor(), EPS)?.y;
    assert_close(&ours, &bn.forward_t(&x, true)?, 1e-5, "strided input")
}

#[test]
fn bad_arguments_are_clear_errors() -> Result<()> {
    let dev = Device::Cpu;
    let x = randn(1, &[2, 3, 4, 4], DType::F32)?;
    let (g3, b3) = (
        Tensor::ones(3, DType::F32, &dev)?,
        Tensor::zeros(3, DType::F32, &dev)?,
    );
    let e = batch_norm_train(&x, &Tensor::ones(4, DType::F32, &dev)?, &b3, EPS)
        .expect_err("shape")
        .to_string();
    assert!(e.contains("gamma has shape [4], expected [3]"), "{e}");
    let e = batch_norm_train(&randn(1, &[1, 3, 1, 1], DType::F32)?, &g3, &b3, EPS)
        .expect_err("m=1")
        .to_string();
    assert!(e.contains("more than one value"), "{e}");
    let e = batch_norm_train(&x.flatten_from(2)?, &g3, &b3, EPS)
        .expect_err("rank")
        .to_string();
    assert!(e.contains("rank 4"), "{e}");
    let e = batch_norm_train(&x, &g3, &b3, f64::NAN)
        .expect_err("eps")
        .to_string();
    assert!(e.contains("eps"), "{e}");
    let out = batch_norm_train(&x, &g3, &b3, EPS)?;
    let e = out
        .update_running(
            &Var::zeros(3, DType::F32, &dev)?,
            &Var::ones(3, DType::F32, &dev)?,
            1.5,
        )
        .expect_err("momentum")
        .to_string();
    assert!(e.contains("momentum"), "{e}");
    Ok(())
}
