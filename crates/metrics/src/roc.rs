//! ROC curve, ROC AUC, average precision and one-vs-rest AUC for scores, with ties handled
//! exactly as scikit-learn handles them (one curve point per distinct score).
//!
//! Scores are split by class, mapped to order-preserving integer keys and sorted; the curve is
//! then one merge from the highest score down. [`roc_auc`] never builds the curve: it sums the
//! trapezoids while merging, which is the Mann–Whitney statistic with ties counted as one half.

use serde::Serialize;

use crate::classification::Average;
use crate::error::{Result, invalid};

/// Points of a ROC curve, as scikit-learn's `roc_curve(y, s)` returns them
/// (`drop_intermediate=True`): a first point `(0, 0)` at threshold `+∞`, then one point per
/// distinct score from the highest down, without the points that lie on a straight line
/// between their neighbours.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RocCurve {
    /// False-positive rates (NaN everywhere when there is no negative sample).
    pub fpr: Vec<f64>,
    /// True-positive rates (NaN everywhere when there is no positive sample).
    pub tpr: Vec<f64>,
    /// Score thresholds, decreasing; the first is `+∞` (JSON: `Infinity` is not JSON, so
    /// serde writes it as `null`).
    pub thresholds: Vec<f64>,
}

/// An order-preserving map from finite `f64` to `u64` (−0 and +0 map to the same key).
fn key(x: f64) -> u64 {
    let b = (x + 0.0).to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

fn unkey(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Checks the inputs and returns the sorted keys of the positive and the negative scores.
fn split_sorted(y_true: &[bool], scores: &[f64]) -> Result<(Vec<u64>, Vec<u64>)> {
    if y_true.len() != scores.len() {
        return Err(invalid!(
            "{} labels but {} scores",
            y_true.len(),
            scores.len()
        ));
    }
    if scores.is_empty() {
        return Err(invalid!("no samples"));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(invalid!(
            "score {i} is {}; scores must be finite",
            scores[i]
        ));
    }
    // Branch-free split (labels are unpredictable): write each key to both outputs and advance
    // only the one it belongs to; one spare slot at each end absorbs the extra write.
    let n_pos = y_true.iter().filter(|&&y| y).count();
    let mut pos = vec![0u64; n_pos + 1];
    let mut neg = vec![0u64; scores.len() - n_pos + 1];
    let (mut i, mut j) = (0usize, 0usize);
    for (&y, &s) in y_true.iter().zip(scores) {
        let k = key(s);
        pos[i] = k;
        neg[j] = k;
        i += y as usize;
        j += !y as usize;
    }
    pos.truncate(n_pos);
    neg.truncate(scores.len() - n_pos);
    pos.sort_unstable();
    neg.sort_unstable();
    Ok((pos, neg))
}

/// Calls `f(threshold_key, positives_at, negatives_at)` for each distinct score from the
/// highest down.
fn for_each_distinct_desc(pos: &[u64], neg: &[u64], mut f: impl FnMut(u64, u64, u64)) {
    let (mut i, mut j) = (pos.len(), neg.len());
    while i > 0 || j > 0 {
        let k = match (i > 0, j > 0) {
            (true, true) => pos[i - 1].max(neg[j - 1]),
            (true, false) => pos[i - 1],
            _ => neg[j - 1],
        };
        let (mut p, mut n) = (0u64, 0u64);
        while i > 0 && pos[i - 1] == k {
            i -= 1;
            p += 1;
        }
        while j > 0 && neg[j - 1] == k {
            j -= 1;
            n += 1;
        }
        f(k, p, n);
    }
}

/// Cumulative `(threshold, tps, fps)` at each distinct score, highest first (scikit-learn's
/// `_binary_clf_curve`).
fn clf_curve(pos: &[u64], neg: &[u64]) -> Vec<(f64, u64, u64)> {
    let mut out = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    for_each_distinct_desc(pos, neg, |k, p, n| {
        tp += p;
        fp += n;
        out.push((unkey(k), tp, fp));
    });
    out
}

/// The ROC curve of `scores` for the binary truth `y_true` (true = positive class).
pub fn roc_curve(y_true: &[bool], scores: &[f64]) -> Result<RocCurve> {
    let (pos, neg) = split_sorted(y_true, scores)?;
    let pts = clf_curve(&pos, &neg);
    // drop_intermediate: keep the ends and every point where the curve bends.
    let kept: Vec<(f64, u64, u64)> = if pts.len() > 2 {
        let d2 = |a: u64, b: u64, c: u64| a as i128 - 2 * b as i128 + c as i128 != 0;
        (0..pts.len())
            .filter(|&i| {
                i == 0
                    || i == pts.len() - 1
                    || d2(pts[i - 1].2, pts[i].2, pts[i + 1].2)
                    || d2(pts[i - 1].1, pts[i].1, pts[i + 1].1)
            })
            .map(|i| pts[i])
            .collect()
    } else {
        pts
    };
    let (p, n) = (pos.len() as f64, neg.len() as f64);
    let rate = |c: u64, total: f64| {
        if total > 0.0 {
            c as f64 / total
        } else {
            f64::NAN
        }
    };
    let mut curve = RocCurve {
        fpr: vec![rate(0, n)],
        tpr: vec![rate(0, p)],
        thresholds: vec![f64::INFINITY],
    };
    for (t, tp, fp) in kept {
        curve.fpr.push(rate(fp, n));
        curve.tpr.push(rate(tp, p));
        curve.thresholds.push(t);
    }
    Ok(curve)
}

/// Area under the ROC curve (scikit-learn's `roc_auc_score` for binary truth). NaN when only
/// one class is present in `y_true`, which is what scikit-learn (≥ 1.6) returns, with a
/// warning; errors for mismatched lengths, no samples or non-finite scores.
pub fn roc_auc(y_true: &[bool], scores: &[f64]) -> Result<f64> {
    let (pos, neg) = split_sorted(y_true, scores)?;
    Ok(auc_sorted(&pos, &neg))
}

fn auc_sorted(pos: &[u64], neg: &[u64]) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return f64::NAN;
    }
    // Walk up from the lowest score: each positive beats the negatives below it and ties with
    // those at its score (half each).
    let (mut i, mut j) = (0usize, 0usize);
    let mut twice_u: u128 = 0;
    while i < pos.len() {
        let k = pos[i];
        while j < neg.len() && neg[j] < k {
            j += 1;
        }
        let below = j as u64;
        let mut eq = 0u64;
        while j + (eq as usize) < neg.len() && neg[j + eq as usize] == k {
            eq += 1;
        }
        let mut p = 0u64;
        while i < pos.len() && pos[i] == k {
            i += 1;
            p += 1;
        }
        twice_u += p as u128 * (2 * below as u128 + eq as u128);
    }
    twice_u as f64 / (2.0 * pos.len() as f64 * neg.len() as f64)
}

/// Average precision (scikit-learn's `average_precision_score` for binary truth):
/// `Σ (Rₖ − Rₖ₋₁) · Pₖ` over the distinct scores from the highest down. Without positives
/// scikit-learn sets every recall to 1, which makes this 0; with only positives it is 1.
pub fn average_precision(y_true: &[bool], scores: &[f64]) -> Result<f64> {
    let (pos, neg) = split_sorted(y_true, scores)?;
    let n_pos = pos.len() as f64;
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for (_, tp, fp) in clf_curve(&pos, &neg) {
        let recall = if pos.is_empty() {
            1.0
        } else {
            tp as f64 / n_pos
        };
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Ok(ap)
}

/// scikit-learn's check that each row of multi-class scores is a probability vector:
/// `np.allclose(1, row_sum)`, i.e. `|1 − s| ≤ 1e-8 + 1e-5·|s|`.
pub fn sums_to_one(row_sum: f64) -> bool {
    (1.0 - row_sum).abs() <= 1e-8 + 1e-5 * row_sum.abs()
}

/// One-vs-rest ROC AUC of `n_classes`-class probabilities (`probs` row-major, one row per
/// sample), averaged over classes with [`Average::Macro`] or by class support with
/// [`Average::Weighted`] (scikit-learn's `roc_auc_score(y, probs, multi_class="ovr",
/// labels=range(C))`). Rows must sum to 1 within scikit-learn's tolerance (see
/// [`sums_to_one`]). A class without samples has a NaN AUC, so the average is NaN.
pub fn roc_auc_ovr(
    y_true: &[usize],
    probs: &[f64],
    n_classes: usize,
    average: Average,
) -> Result<f64> {
    if n_classes < 2 {
        return Err(invalid!(
            "one-vs-rest AUC needs at least 2 classes, got {n_classes}"
        ));
    }
    if probs.len() != y_true.len() * n_classes {
        return Err(invalid!(
            "{} probabilities for {} samples of {n_classes} classes",
            probs.len(),
            y_true.len()
        ));
    }
    for (i, row) in probs.chunks(n_classes).enumerate() {
        let s: f64 = row.iter().sum();
        if !sums_to_one(s) {
            return Err(invalid!("probabilities of sample {i} sum to {s}, not 1"));
        }
    }
    if let Some((i, &y)) = y_true.iter().enumerate().find(|(_, y)| **y >= n_classes) {
        return Err(invalid!(
            "sample {i}: label {y} is not below the number of classes {n_classes}"
        ));
    }
    let mut weighted = 0.0;
    let mut total_w = 0.0;
    let mut column = vec![0.0; y_true.len()];
    let mut truth = vec![false; y_true.len()];
    for c in 0..n_classes {
        for (i, row) in probs.chunks(n_classes).enumerate() {
            column[i] = row[c];
            truth[i] = y_true[i] == c;
        }
        let auc = roc_auc(&truth, &column)?;
        let w = match average {
            Average::Macro => 1.0,
            Average::Weighted => truth.iter().filter(|&&t| t).count() as f64,
            Average::Micro => {
                return Err(invalid!(
                    "micro averaging is not defined for one-vs-rest AUC here"
                ));
            }
        };
        weighted += w * auc;
        total_w += w;
    }
    Ok(weighted / total_w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_preserve_order_and_merge_signed_zeros() {
        let xs = [-1e300, -2.5, -1e-300, -0.0, 0.0, 1e-300, 0.5, 3.0, 1e300];
        for w in xs.windows(2) {
            assert!(key(w[0]) <= key(w[1]), "{w:?}");
        }
        assert_eq!(key(-0.0), key(0.0));
        for x in xs {
            assert_eq!(unkey(key(x)), x + 0.0);
        }
    }

    #[test]
    fn perfect_and_inverted_and_tied() {
        let y = [false, false, true, true];
        assert_eq!(roc_auc(&y, &[0.1, 0.2, 0.8, 0.9]).unwrap(), 1.0);
        assert_eq!(roc_auc(&y, &[0.9, 0.8, 0.2, 0.1]).unwrap(), 0.0);
        assert_eq!(roc_auc(&y, &[0.5; 4]).unwrap(), 0.5);
        assert_eq!(average_precision(&y, &[0.5; 4]).unwrap(), 0.5);
        let c = roc_curve(&y, &[0.5; 4]).unwrap();
        assert_eq!(c.fpr, vec![0.0, 1.0]);
        assert_eq!(c.tpr, vec![0.0, 1.0]);
        assert_eq!(c.thresholds, vec![f64::INFINITY, 0.5]);
    }

    #[test]
    fn single_class_is_nan_like_sklearn() {
        assert!(roc_auc(&[true, true], &[0.1, 0.2]).unwrap().is_nan());
        assert!(roc_auc(&[false, false], &[0.1, 0.2]).unwrap().is_nan());
        assert_eq!(
            average_precision(&[false, false], &[0.1, 0.2]).unwrap(),
            0.0
        );
        assert_eq!(average_precision(&[true, true], &[0.1, 0.2]).unwrap(), 1.0);
        let c = roc_curve(&[false, false, false], &[0.1, 0.5, 0.9]).unwrap();
        assert!(c.tpr.iter().all(|t| t.is_nan()));
        assert_eq!(c.fpr, vec![0.0, 1.0 / 3.0, 1.0]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(roc_auc(&[true], &[0.1, 0.2]).is_err());
        assert!(roc_auc(&[], &[]).is_err());
        let e = roc_auc(&[true, false], &[0.1, f64::NAN]).unwrap_err();
        assert!(e.to_string().contains("score 1"), "{e}");
        let e = roc_auc_ovr(&[0, 1], &[0.5, 0.6, 0.5, 0.5], 2, Average::Macro).unwrap_err();
        assert!(e.to_string().contains("sample 0"), "{e}");
    }
}
