//! Helpers shared by the integration tests: seeded random tensors and closeness checks.
#![allow(dead_code)]

use candle_core::{DType, Device, Result, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A tensor of standard-normal values from a fixed seed.
pub fn randn(seed: u64, shape: &[usize], dtype: DType) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let len: usize = shape.iter().product();
    let v: Vec<f64> = (0..len).map(|_| StandardNormal.sample(&mut rng)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(dtype)
}

pub fn to_f64(t: &Tensor) -> Result<Vec<f64>> {
    t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()
}

/// Largest `|a - b|`, relative to the largest `|b|` (at least 1).
pub fn rel_err(a: &Tensor, b: &Tensor) -> Result<f64> {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let (a, b) = (to_f64(a)?, to_f64(b)?);
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    Ok(a.iter()
        .zip(&b)
        .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()))
        / scale)
}

pub fn assert_close(a: &Tensor, b: &Tensor, tol: f64, what: &str) -> Result<()> {
    let e = rel_err(a, b)?;
    assert!(e <= tol, "{what}: relative error {e:e} > {tol:e}");
    Ok(())
}

/// Bitwise equality of two tensors' values.
pub fn assert_bits_eq(a: &Tensor, b: &Tensor, what: &str) -> Result<()> {
    let (a, b) = (to_f64(a)?, to_f64(b)?);
    assert!(
        a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
        "{what}: results differ bitwise"
    );
    Ok(())
}

/// Central finite difference of `f` with respect to element `i` of `x` (step `h`).
pub fn finite_diff(
    x: &Tensor,
    i: usize,
    h: f64,
    f: &dyn Fn(&Tensor) -> Result<f64>,
) -> Result<f64> {
    let mut v = to_f64(x)?;
    let base = v[i];
    v[i] = base + h;
    let plus = f(&Tensor::from_vec(v.clone(), x.shape(), x.device())?.to_dtype(x.dtype())?)?;
    v[i] = base - h;
    let minus = f(&Tensor::from_vec(v, x.shape(), x.device())?.to_dtype(x.dtype())?)?;
    Ok((plus - minus) / (2.0 * h))
}

/// `Σ y·r` accumulated in f64.
pub fn weighted_sum(y: &Tensor, r: &Tensor) -> Result<f64> {
    (y.to_dtype(DType::F64)? * r.to_dtype(DType::F64)?)?
        .sum_all()?
        .to_scalar::<f64>()
}

/// A few indices spread over `0..len` (first, last and some in between).
pub fn sample_indices(len: usize, count: usize, seed: u64) -> Vec<usize> {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx = vec![0, len - 1];
    idx.extend((0..count.saturating_sub(2)).map(|_| rng.random_range(0..len)));
    idx
}
