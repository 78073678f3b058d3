//! Principal component analysis for the 2-D embedding plot.
//!
//! PCA rather than t-SNE or UMAP: no well-kept pure-Rust implementation of either exists
//! (the `bhtsne` crate is unmaintained and would add dependencies for one plot), and PCA is
//! deterministic, linear (distances in the plot mean something) and takes milliseconds. The
//! leading components come from subspace iteration on `XᵀX` (never forming the d×d
//! covariance) followed by a Rayleigh–Ritz step solved with cyclic Jacobi rotations.

use crate::{Error, Result};

/// The result of [`pca`].
#[derive(Clone, Debug, PartialEq)]
pub struct Pca {
    /// Per-feature mean that was subtracted.
    pub mean: Vec<f64>,
    /// The components (unit vectors, length d), by decreasing variance. Sign convention: the
    /// largest-magnitude entry of each component is positive.
    pub components: Vec<Vec<f64>>,
    /// Variance along each component (divided by n − 1, as NumPy / scikit-learn).
    pub variance: Vec<f64>,
    /// Fraction of the total variance each component explains.
    pub explained_ratio: Vec<f64>,
    /// The centred samples projected on the components: `n` rows of `k` values.
    pub scores: Vec<Vec<f64>>,
}

/// The first `k` principal components of `n` samples of `d` features (`data` row-major,
/// `n·d` values).
pub fn pca(data: &[f32], n: usize, d: usize, k: usize) -> Result<Pca> {
    if n < 2 || d == 0 || data.len() != n * d {
        return Err(Error::Config(format!(
            "PCA needs at least 2 samples of at least 1 feature ({n} × {d} given, {} values)",
            data.len()
        )));
    }
    if data.iter().any(|v| !v.is_finite()) {
        return Err(Error::Config(
            "PCA input holds NaN or infinite values".into(),
        ));
    }
    let k = k.min(d).min(n - 1).max(1);
    let mut mean = vec![0f64; d];
    for row in data.chunks_exact(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let x: Vec<f64> = data
        .chunks_exact(d)
        .flat_map(|row| row.iter().zip(&mean).map(|(&v, m)| v as f64 - m))
        .collect();
    let total: f64 = x.iter().map(|v| v * v).sum::<f64>() / (n - 1) as f64;

    // subspace iteration with oversampling, on C·V = Xᵀ(X·V)
    let p = (k + 6).min(d);
    let mut v: Vec<Vec<f64>> = (0..p)
        .map(|j| {
            (0..d)
                .map(|i| {
                    // deterministic start: a fixed pseudo-random pattern
                    let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (j as u64 + 7);
                    ((h >> 11) as f64 / (1u64 << 53) as f64) - 0.5
                })
                .collect()
        })
        .collect();
    orthonormalise(&mut v);
    let apply = |v: &[f64]| -> Vec<f64> {
        let mut out = vec![0f64; d];
        for row in x.chunks_exact(d) {
            let s: f64 = row.iter().zip(v).map(|(a, b)| a * b).sum();
            if s != 0.0 {
                for (o, a) in out.iter_mut().zip(row) {
                    *o += s * a;
                }
            }
        }
        out.iter_mut().for_each(|o| *o /= (n - 1) as f64);
        out
    };
    let mut prev = vec![f64::NAN; p];
    for _ in 0..500 {
        let mut w: Vec<Vec<f64>> = v.iter().map(|c| apply(c)).collect();
        let ritz: Vec<f64> = v.iter().zip(&w).map(|(a, b)| dot(a, b)).collect();
        orthonormalise(&mut w);
        v = w;
        let done = ritz
            .iter()
            .zip(&prev)
            .take(k)
            .all(|(a, b)| (a - b).abs() <= 1e-13 * total.max(1e-300));
        prev = ritz;
        if done {
            break;
        }
    }
    // Rayleigh–Ritz: eigenvectors of the small matrix VᵀCV
    let cv: Vec<Vec<f64>> = v.iter().map(|c| apply(c)).collect();
    let mut small = vec![vec![0f64; p]; p];
    for i in 0..p {
        for j in 0..p {
            small[i][j] = dot(&v[i], &cv[j]);
        }
    }
    let (vals, vecs) = jacobi_eigen(small);
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]));
    let mut components = Vec::with_capacity(k);
    let mut variance = Vec::with_capacity(k);
    for &e in order.iter().take(k) {
        let mut c = vec![0f64; d];
        for (j, vj) in v.iter().enumerate() {
            let w = vecs[j][e];
            for (ci, a) in c.iter_mut().zip(vj) {
                *ci += w * a;
            }
        }
        let norm = dot(&c, &c).sqrt();
        c.iter_mut().for_each(|a| *a /= norm);
        let big = c
            .iter()
            .copied()
            .fold(0f64, |m, a| if a.abs() > m.abs() { a } else { m });
        if big < 0.0 {
            c.iter_mut().for_each(|a| *a = -*a);
        }
        components.push(c);
        variance.push(vals[e].max(0.0));
    }
    let explained_ratio = variance
        .iter()
        .map(|v| if total > 0.0 { v / total } else { 0.0 })
        .collect();
    let scores = x
        .chunks_exact(d)
        .map(|row| components.iter().map(|c| dot(row, c)).collect())
        .collect();
    Ok(Pca {
        mean,
        components,
        variance,
        explained_ratio,
        scores,
    })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Modified Gram–Schmidt (twice, for stability). A vector that vanishes (it lay in the span of
/// the previous ones, e.g. in the null space of a low-rank covariance) is replaced by the first
/// unit basis vector that is independent of the previous ones, so the result is always an
/// orthonormal set (`v.len() ≤ d`).
fn orthonormalise(v: &mut [Vec<f64>]) {
    let project_out = |x: &mut Vec<f64>, prev: &[Vec<f64>]| {
        for _pass in 0..2 {
            for p in prev {
                let r = dot(x, p);
                for (a, b) in x.iter_mut().zip(p) {
                    *a -= r * b;
                }
            }
        }
    };
    for i in 0..v.len() {
        let (prev, rest) = v.split_at_mut(i);
        let x = &mut rest[0];
        let before = dot(x, x).sqrt();
        project_out(x, prev);
        let mut norm = dot(x, x).sqrt();
        if norm <= 1e-10 * before.max(1e-300) || norm < 1e-300 || norm.is_nan() {
            let d = x.len();
            for e in 0..d {
                let mut cand: Vec<f64> = (0..d).map(|t| if t == e { 1.0 } else { 0.0 }).collect();
                project_out(&mut cand, prev);
                let nc = dot(&cand, &cand).sqrt();
                if nc > 0.5 {
                    *x = cand;
                    norm = nc;
                    break;
                }
            }
        }
        x.iter_mut().for_each(|a| *a /= norm);
    }
}

/// Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations: eigenvalues
/// and the eigenvectors as the columns of the returned matrix.
fn jacobi_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let scale: f64 = (0..n).map(|i| a[i][i] * a[i][i]).sum::<f64>().max(1e-300);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (arp, arq) = (row[p], row[q]);
                    row[p] = c * arp - s * arq;
                    row[q] = s * arp + c * arq;
                }
                let (mut rp, mut rq) = (a[p].clone(), a[q].clone());
                for ((x, y), (ap, aq)) in
                    rp.iter_mut().zip(rq.iter_mut()).zip(a[p].iter().zip(&a[q]))
                {
                    *x = c * ap - s * aq;
                    *y = s * ap + c * aq;
                }
                a[p] = rp;
                a[q] = rq;
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-worked case: samples `a_i·u + b_i·w + c` with orthonormal `u`, `w`, uncorrelated
    /// zero-mean `a`, `b` and var(a) > var(b): the components are `u`, `w` (up to sign), the
    /// scores are `a`, `b`, the variances var(a), var(b), and they explain everything.
    #[test]
    fn recovers_a_planted_orthogonal_pair() {
        let s = 0.5f64.sqrt();
        let u = [s, s, 0.0, 0.0, 0.0];
        let w = [0.0, 0.0, 0.6, 0.8, 0.0];
        let c = [1.0, -2.0, 3.0, 0.5, 7.0];
        // a, b: zero mean, Σ a·b = 0
        let a = [3.0, -3.0, 1.0, -1.0, 0.0, 0.0];
        let b = [0.0, 0.0, 1.0, 1.0, -1.0, -1.0];
        let n = a.len();
        let data: Vec<f32> = (0..n)
            .flat_map(|i| (0..5).map(move |j| (a[i] * u[j] + b[i] * w[j] + c[j]) as f32))
            .collect();
        let p = pca(&data, n, 5, 2).unwrap();
        let var_a = a.iter().map(|x| x * x).sum::<f64>() / (n - 1) as f64; // 20 / 5 = 4
        let var_b = b.iter().map(|x| x * x).sum::<f64>() / (n - 1) as f64; // 4 / 5
        assert!((p.variance[0] - var_a).abs() < 1e-5, "{:?}", p.variance);
        assert!((p.variance[1] - var_b).abs() < 1e-5, "{:?}", p.variance);
        assert!((p.explained_ratio[0] + p.explained_ratio[1] - 1.0).abs() < 1e-6);
        let sign = |v: &[f64], r: &[f64]| dot(v, r).signum();
        let (su, sw) = (sign(&p.components[0], &u), sign(&p.components[1], &w));
        for j in 0..5 {
            assert!((p.components[0][j] - su * u[j]).abs() < 1e-5);
            assert!((p.components[1][j] - sw * w[j]).abs() < 1e-5);
        }
        for i in 0..n {
            // f32 input: tolerance 1e-5 relative to values of order 1–10
            assert!((p.scores[i][0] - su * a[i]).abs() < 1e-5, "{:?}", p.scores);
            assert!((p.scores[i][1] - sw * b[i]).abs() < 1e-5, "{:?}", p.scores);
        }
    }

    /// Against NumPy's SVD-based PCA (`data/fixtures/ssl/make_pca_reference.py`): components,
    /// variances and scores to 1e-6 (signs normalised as here).
    #[test]
    fn matches_numpy_on_a_random_matrix() {
        let text = include_str!("../../../data/fixtures/ssl/pca_reference.json");
        let r: serde_json::Value = serde_json::from_str(text).unwrap();
        let (n, d) = (
            r["n"].as_u64().unwrap() as usize,
            r["d"].as_u64().unwrap() as usize,
        );
        let f = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .flat_map(|x| match x.as_array() {
                    Some(row) => row.iter().map(|y| y.as_f64().unwrap()).collect(),
                    None => vec![x.as_f64().unwrap()],
                })
                .collect()
        };
        let data: Vec<f32> = f(&r["x"]).iter().map(|&v| v as f32).collect();
        let p = pca(&data, n, d, 2).unwrap();
        let comps = f(&r["components"]);
        let var = f(&r["variance"]);
        let ratio = f(&r["explained_ratio"]);
        let scores = f(&r["scores"]);
        for k in 0..2 {
            assert!((p.variance[k] - var[k]).abs() < 1e-6 * var[k].max(1.0));
            assert!((p.explained_ratio[k] - ratio[k]).abs() < 1e-6);
            for j in 0..d {
                assert!((p.components[k][j] - comps[k * d + j]).abs() < 1e-6);
            }
            for i in 0..n {
                assert!((p.scores[i][k] - scores[i * 2 + k]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(pca(&[1.0, 2.0], 1, 2, 2).is_err());
        assert!(pca(&[1.0, 2.0, 3.0], 2, 2, 2).is_err());
        assert!(pca(&[1.0, f32::NAN, 3.0, 4.0], 2, 2, 2).is_err());
        // constant data: zero variance, no panic
        let p = pca(&[1.0; 12], 4, 3, 2).unwrap();
        assert!(p.variance.iter().all(|v| v.abs() < 1e-12));
    }
}
