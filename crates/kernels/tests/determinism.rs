//! Same inputs give bit-identical outputs and gradients whatever the rayon thread count.

mod common;

use candle_core::{DType, Result, Tensor, Var};
use common::*;
use histo_kernels::{batch_norm_relu_train, conv2d};

/// Output, input gradient and parameter gradients of conv → BN+ReLU → weighted sum.
fn step(x: &Tensor, w: &Var, gamma: &Var, beta: &Var, stride: usize) -> Result<Vec<Tensor>> {
    let xv = Var::from_tensor(x)?;
    let y = conv2d(&xv, w, stride, 1)?;
    let bn = batch_norm_relu_train(&y, gamma, beta, 1e-5)?;
    let r = randn(99, bn.y.dims(), DType::F32)?;
    let g = (&bn.y * &r)?.sum_all()?.backward()?;
    let mut out = vec![bn.y.clone(), bn.mean, bn.var_unbiased];
    for v in [&xv, w, gamma, beta] {
        out.push(g.get(v).expect("gradient").clone());
    }
    Ok(out)
}

#[test]
fn results_do_not_depend_on_thread_count() -> Result<()> {
    // The first shape needs two im2col chunks (the weight gradient accumulates across them);
    // the second is a deep, small-plane layer (one GEMM over the whole batch).
    for (xs, ws, stride) in [
        ([32, 16, 32, 32], [32, 16, 3, 3], 1),
        ([8, 64, 4, 4], [128, 64, 3, 3], 2),
    ] {
        let x = randn(1, &xs, DType::F32)?;
        let w = Var::from_tensor(&(randn(2, &ws, DType::F32)? * 0.1)?)?;
        let gamma = Var::from_tensor(&(randn(3, &[ws[0]], DType::F32)? + 1.0)?)?;
        let beta = Var::from_tensor(&randn(4, &[ws[0]], DType::F32)?)?;
        let run = |threads: usize| -> Result<Vec<Tensor>> {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            pool.install(|| step(&x, &w, &gamma, &beta, stride))
        };
        let one = run(1)?;
        for threads in [2, 3] {
            for (k, (a, b)) in one.iter().zip(&run(threads)?).enumerate() {
                assert_bits_eq(a, b, &format!("{xs:?} output {k} with {threads} threads"))?;
            }
        }
    }
    Ok(())
}
