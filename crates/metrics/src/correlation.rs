//! Correlation and concordance: Pearson, Spearman, Kendall τ-b and the prediction
//! probability P_K, as SciPy computes the first three.
//!
//! Kendall τ-b and P_K share one O(n log n) pair count (Knight's algorithm, as SciPy's
//! `kendalltau`): sort by (x, y), count ties, then count the discordant pairs as the swaps of a
//! merge sort on y.

use crate::error::{Result, invalid};

fn check_pair(x: &[f64], y: &[f64], min: usize) -> Result<()> {
    if x.len() != y.len() {
        return Err(invalid!("{} values against {} values", x.len(), y.len()));
    }
    if x.len() < min {
        return Err(invalid!("at least {min} pairs are needed, got {}", x.len()));
    }
    for (name, v) in [("first", x), ("second", y)] {
        if let Some(i) = v.iter().position(|v| !v.is_finite()) {
            return Err(invalid!(
                "value {i} of the {name} series is {}; values must be finite",
                v[i]
            ));
        }
    }
    Ok(())
}

/// Pearson's r (SciPy's `pearsonr(x, y).statistic`); NaN when either series is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair(x, y, 2)?;
    Ok(pearson_unchecked(x, y))
}

fn pearson_unchecked(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    (sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0)
}

/// Ranks 1..=n with ties given their average rank (SciPy's `rankdata(method="average")`).
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && v[idx[j]] == v[idx[i]] {
            j += 1;
        }
        // positions i..j (0-based) share the mean of ranks i+1..=j.
        let r = (i + 1 + j) as f64 / 2.0;
        for &k in &idx[i..j] {
            ranks[k] = r;
        }
        i = j;
    }
    ranks
}

/// Spearman's ρ: Pearson's r of the average ranks (SciPy's `spearmanr(x, y).statistic`).
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair(x, y, 2)?;
    Ok(pearson_unchecked(&average_ranks(x), &average_ranks(y)))
}

/// Pair counts of two series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pairs {
    /// n (n − 1) / 2.
    total: u64,
    /// Pairs tied in x.
    x_ties: u64,
    /// Pairs tied in y.
    y_ties: u64,
    /// Pairs tied in both.
    xy_ties: u64,
    /// Discordant pairs (tied in neither).
    discordant: u64,
}

impl Pairs {
    /// Concordant minus discordant pairs.
    fn con_minus_dis(&self) -> i128 {
        self.total as i128 - self.x_ties as i128 - self.y_ties as i128 + self.xy_ties as i128
            - 2 * self.discordant as i128
    }
}

fn tie_pairs_of_runs<T: PartialEq>(sorted: &[T]) -> u64 {
    let mut ties = 0u64;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i + 1;
        while j < sorted.len() && sorted[j] == sorted[i] {
            j += 1;
        }
        let r = (j - i) as u64;
        ties += r * (r - 1) / 2;
        i = j;
    }
    ties
}

fn pair_counts(x: &[f64], y: &[f64]) -> Pairs {
    let n = x.len();
    let mut v: Vec<(f64, f64)> = x.iter().copied().zip(y.iter().copied()).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    // total_cmp tells −0 from +0; ties are by value, so normalise zeros first.
    for p in &mut v {
        p.0 += 0.0;
        p.1 += 0.0;
    }
    let xs: Vec<f64> = v.iter().map(|p| p.0).collect();
    let x_ties = tie_pairs_of_runs(&xs);
    let xy_ties = tie_pairs_of_runs(&v);
    let mut ys: Vec<f64> = v.iter().map(|p| p.1).collect();
    let mut buf = vec![0.0; n];
    let discordant = merge_count(&mut ys, &mut buf);
    let y_ties = tie_pairs_of_runs(&ys);
    Pairs {
        total: (n as u64) * (n as u64).saturating_sub(1) / 2,
        x_ties,
        y_ties,
        xy_ties,
        discordant,
    }
}

/// Sorts `v` ascending (stably) and returns the number of strict inversions.
fn merge_count(v: &mut [f64], buf: &mut [f64]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut swaps = {
        let (l, r) = v.split_at_mut(mid);
        let (bl, br) = buf.split_at_mut(mid);
        merge_count(l, bl) + merge_count(r, br)
    };
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        if v[j] < v[i] {
            buf[k] = v[j];
            swaps += (mid - i) as u64;
            j += 1;
        } else {
            buf[k] = v[i];
            i += 1;
        }
        k += 1;
    }
    buf[k..k + mid - i].copy_from_slice(&v[i..mid]);
    let k2 = k + mid - i;
    buf[k2..n].copy_from_slice(&v[j..n]);
    v.copy_from_slice(&buf[..n]);
    swaps
}

/// Kendall's τ-b (SciPy's `kendalltau(x, y).statistic`, default variant "b"); NaN when either
/// series is constant.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair(x, y, 2)?;
    let p = pair_counts(x, y);
    let den = ((p.total - p.x_ties) as f64 * (p.total - p.y_ties) as f64).sqrt();
    if den == 0.0 {
        return Ok(f64::NAN);
    }
    Ok((p.con_minus_dis() as f64 / den).clamp(-1.0, 1.0))
}

/// The prediction probability P_K of Smith, Dutton & Smith (Anesthesiology 84:38–51, 1996),
/// the ranking metric of the BreastPathQ challenge: over all pairs of samples whose reference
/// values differ, the fraction that the prediction orders the same way, counting pairs tied in
/// the prediction as one half — `(P_c + P_tx / 2) / (P_c + P_d + P_tx)`. Equals
/// `(somersd(reference, prediction) + 1) / 2` in SciPy. 0.5 is chance, 1 perfect.
/// NaN when every reference value is equal.
pub fn prediction_probability(reference: &[f64], prediction: &[f64]) -> Result<f64> {
    check_pair(reference, prediction, 2)?;
    let p = pair_counts(reference, prediction);
    let untied_reference = p.total - p.x_ties;
    if untied_reference == 0 {
        return Ok(f64::NAN);
    }
    Ok((p.con_minus_dis() as f64 / untied_reference as f64 + 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All-pairs counting, the definition.
    fn brute(x: &[f64], y: &[f64]) -> Pairs {
        let mut p = Pairs {
            total: 0,
            x_ties: 0,
            y_ties: 0,
            xy_ties: 0,
            discordant: 0,
        };
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                p.total += 1;
                let (dx, dy) = (x[i] - x[j], y[i] - y[j]);
                p.x_ties += (dx == 0.0) as u64;
                p.y_ties += (dy == 0.0) as u64;
                p.xy_ties += (dx == 0.0 && dy == 0.0) as u64;
                p.discordant += (dx * dy < 0.0) as u64;
            }
        }
        p
    }

    proptest::proptest! {
        #[test]
        fn pair_counts_match_brute_force(v in proptest::collection::vec((0u8..6, 0u8..6), 0..40)) {
            let x: Vec<f64> = v.iter().map(|p| p.0 as f64).collect();
            let y: Vec<f64> = v.iter().map(|p| p.1 as f64 - 2.0).collect();
            proptest::prop_assert_eq!(pair_counts(&x, &y), brute(&x, &y));
        }
    }

    #[test]
    fn hand_worked() {
        // Perfect order, one tie in the prediction: pairs with distinct reference = 5 of 6
        // (ref 0.5, 0.5 tied); one of them tied in prediction → P_K = (4 + 0.5) / 5.
        let r = [0.1, 0.5, 0.5, 0.9];
        let p = [0.2, 0.4, 0.6, 0.6];
        assert!((prediction_probability(&r, &p).unwrap() - 0.9).abs() < 1e-15);
        assert_eq!(
            average_ranks(&[3.0, 1.0, 3.0, 2.0]),
            vec![3.5, 1.0, 3.5, 2.0]
        );
        assert_eq!(
            kendall_tau_b(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap(),
            -1.0
        );
        assert!(pearson(&[1.0, 1.0], &[1.0, 2.0]).unwrap().is_nan());
        assert!(
            prediction_probability(&[1.0, 1.0], &[1.0, 2.0])
                .unwrap()
                .is_nan()
        );
        assert!(pearson(&[1.0], &[1.0]).is_err());
        assert!(spearman(&[1.0, f64::INFINITY], &[1.0, 2.0]).is_err());
    }
}
