//! Multi-class (and binary) classification from class labels: confusion matrix, accuracy,
//! balanced accuracy, per-class sensitivity / specificity / precision / F1, averaged precision,
//! recall and F1, and Cohen's kappa — as scikit-learn computes them with `labels=range(C)`.
//!
//! Division by zero follows scikit-learn's `zero_division` default: a precision, recall or F1
//! whose denominator is 0 counts as 0 (e.g. a class that is never predicted has precision 0).

use serde::Serialize;

use crate::error::{Result, invalid};

/// How per-class values are combined into one number (scikit-learn's `average=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Average {
    /// Unweighted mean over all `C` classes.
    Macro,
    /// Mean weighted by each class's support (number of true samples).
    Weighted,
    /// Computed from the pooled counts of all classes (equals accuracy for single-label data).
    Micro,
}

/// Per-class figures (one-vs-rest counts of the confusion matrix).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ClassStats {
    /// TP / (TP + FN), the recall of this class (0 when the class has no samples).
    pub sensitivity: f64,
    /// TN / (TN + FP) (0 when every sample belongs to this class).
    pub specificity: f64,
    /// TP / (TP + FP) (0 when the class is never predicted).
    pub precision: f64,
    /// 2·TP / (2·TP + FP + FN) (0 when that denominator is 0).
    pub f1: f64,
    /// Number of samples whose true class is this one.
    pub support: u64,
}

/// A `C × C` confusion matrix: rows are true classes, columns predicted classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    n_classes: usize,
    counts: Vec<u64>,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl ConfusionMatrix {
    /// Counts `(y_true[i], y_pred[i])` pairs; labels must be below `n_classes`.
    pub fn new(y_true: &[usize], y_pred: &[usize], n_classes: usize) -> Result<Self> {
        if y_true.len() != y_pred.len() {
            return Err(invalid!(
                "{} true labels but {} predicted labels",
                y_true.len(),
                y_pred.len()
            ));
        }
        if y_true.is_empty() {
            return Err(invalid!("no samples"));
        }
        if n_classes == 0 {
            return Err(invalid!("the number of classes must be at least 1"));
        }
        let mut counts = vec![0u64; n_classes * n_classes];
        for (i, (&t, &p)) in y_true.iter().zip(y_pred).enumerate() {
            if t >= n_classes || p >= n_classes {
                return Err(invalid!(
                    "sample {i}: label {} is not below the number of classes {n_classes}",
                    t.max(p)
                ));
            }
            counts[t * n_classes + p] += 1;
        }
        Ok(Self { n_classes, counts })
    }

    /// Builds a matrix from row-major counts (`C × C`).
    pub fn from_counts(n_classes: usize, counts: Vec<u64>) -> Result<Self> {
        if n_classes == 0 || counts.len() != n_classes * n_classes {
            return Err(invalid!(
                "{} counts do not form a square matrix of {n_classes} classes",
                counts.len()
            ));
        }
        if counts.iter().all(|&c| c == 0) {
            return Err(invalid!("the confusion matrix holds no samples"));
        }
        Ok(Self { n_classes, counts })
    }

    /// Number of classes `C`.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Count of samples of true class `t` predicted as `p`.
    pub fn get(&self, t: usize, p: usize) -> u64 {
        self.counts[t * self.n_classes + p]
    }

    /// The matrix as rows (true class) of counts.
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts
            .chunks(self.n_classes)
            .map(<[u64]>::to_vec)
            .collect()
    }

    /// The matrix with each row divided by its sum (rows without samples stay 0), as
    /// scikit-learn's `confusion_matrix(..., normalize="true")` but with 0 instead of NaN.
    pub fn normalized_rows(&self) -> Vec<Vec<f64>> {
        self.counts
            .chunks(self.n_classes)
            .map(|r| {
                let s: u64 = r.iter().sum();
                r.iter().map(|&c| ratio(c, s)).collect()
            })
            .collect()
    }

    /// Total number of samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn support(&self, c: usize) -> u64 {
        (0..self.n_classes).map(|p| self.get(c, p)).sum()
    }

    fn predicted(&self, c: usize) -> u64 {
        (0..self.n_classes).map(|t| self.get(t, c)).sum()
    }

    fn trace(&self) -> u64 {
        (0..self.n_classes).map(|c| self.get(c, c)).sum()
    }

    /// Fraction of samples on the diagonal.
    pub fn accuracy(&self) -> f64 {
        ratio(self.trace(), self.total())
    }

    /// Mean recall over the classes that have samples (scikit-learn's
    /// `balanced_accuracy_score`, which ignores classes only ever predicted).
    pub fn balanced_accuracy(&self) -> f64 {
        let recalls: Vec<f64> = (0..self.n_classes)
            .filter(|&c| self.support(c) > 0)
            .map(|c| ratio(self.get(c, c), self.support(c)))
            .collect();
        recalls.iter().sum::<f64>() / recalls.len() as f64
    }

    /// One-vs-rest figures of every class.
    pub fn per_class(&self) -> Vec<ClassStats> {
        let total = self.total();
        (0..self.n_classes)
            .map(|c| {
                let tp = self.get(c, c);
                let fn_ = self.support(c) - tp;
                let fp = self.predicted(c) - tp;
                let tn = total - tp - fn_ - fp;
                ClassStats {
                    sensitivity: ratio(tp, tp + fn_),
                    specificity: ratio(tn, tn + fp),
                    precision: ratio(tp, tp + fp),
                    f1: ratio(2 * tp, 2 * tp + fp + fn_),
                    support: tp + fn_,
                }
            })
            .collect()
    }

    /// `(precision, recall, F1)` combined with `average` (scikit-learn's
    /// `precision_recall_fscore_support(..., labels=range(C), average=...)`).
    pub fn precision_recall_f1(&self, average: Average) -> (f64, f64, f64) {
        let stats = self.per_class();
        match average {
            Average::Micro => {
                let tp = self.trace();
                let total = self.total();
                // Single-label data: pooled FP = pooled FN = total − TP.
                let p = ratio(tp, total);
                (p, p, ratio(2 * tp, 2 * total))
            }
            Average::Macro | Average::Weighted => {
                let w: Vec<f64> = stats
                    .iter()
                    .map(|s| {
                        if average == Average::Macro {
                            1.0
                        } else {
                            s.support as f64
                        }
                    })
                    .collect();
                let sw: f64 = w.iter().sum();
                if sw == 0.0 {
                    return (0.0, 0.0, 0.0);
                }
                let mean = |f: fn(&ClassStats) -> f64| {
                    stats.iter().zip(&w).map(|(s, w)| f(s) * w).sum::<f64>() / sw
                };
                (
                    mean(|s| s.precision),
                    mean(|s| s.sensitivity),
                    mean(|s| s.f1),
                )
            }
        }
    }

    /// F1 combined with `average`.
    pub fn f1(&self, average: Average) -> f64 {
        self.precision_recall_f1(average).2
    }

    /// Cohen's kappa between the true and predicted labels: unweighted, or with quadratic
    /// weights `(i − j)²` over the class indices (scikit-learn's `cohen_kappa_score` with
    /// `labels=range(C)`). NaN when the expected disagreement is 0 (e.g. one class only), as
    /// scikit-learn returns.
    pub fn cohen_kappa(&self, quadratic: bool) -> f64 {
        let c = self.n_classes;
        let total = self.total() as f64;
        let rows: Vec<f64> = (0..c).map(|i| self.support(i) as f64).collect();
        let cols: Vec<f64> = (0..c).map(|j| self.predicted(j) as f64).collect();
        let (mut observed, mut expected) = (0.0, 0.0);
        for (i, &row) in rows.iter().enumerate() {
            for (j, &col) in cols.iter().enumerate() {
                let w = if quadratic {
                    ((i as f64) - (j as f64)).powi(2)
                } else if i == j {
                    0.0
                } else {
                    1.0
                };
                observed += w * self.get(i, j) as f64;
                expected += w * row * col / total;
            }
        }
        // scikit-learn normalises both sums by their totals, which are equal: 1 − Σwo / Σwe.
        1.0 - observed / expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_classifier() {
        let y = [0, 1, 2, 2, 1, 0];
        let m = ConfusionMatrix::new(&y, &y, 3).unwrap();
        assert_eq!(m.accuracy(), 1.0);
        assert_eq!(m.balanced_accuracy(), 1.0);
        for a in [Average::Macro, Average::Weighted, Average::Micro] {
            assert_eq!(m.precision_recall_f1(a), (1.0, 1.0, 1.0));
        }
        assert_eq!(m.cohen_kappa(false), 1.0);
        assert_eq!(m.cohen_kappa(true), 1.0);
    }

    #[test]
    fn hand_worked_example() {
        // sklearn: balanced_accuracy_score([0,0,1],[0,2,1]) = 0.75 (class 2 has no support),
        // f1_score(..., average="macro", labels=[0,1,2,3]) = (2/3 + 1 + 0 + 0) / 4.
        let m = ConfusionMatrix::new(&[0, 0, 1], &[0, 2, 1], 4).unwrap();
        assert_eq!(m.balanced_accuracy(), 0.75);
        assert!((m.f1(Average::Macro) - (2.0 / 3.0 + 1.0) / 4.0).abs() < 1e-15);
        let s = m.per_class();
        assert_eq!(s[2].precision, 0.0);
        assert_eq!(s[3].support, 0);
        assert_eq!(m.rows()[0], vec![1, 0, 1, 0]);
        assert_eq!(m.normalized_rows()[0], vec![0.5, 0.0, 0.5, 0.0]);
    }

    #[test]
    fn single_class_kappa_is_nan_like_sklearn() {
        let m = ConfusionMatrix::new(&[0, 0, 0], &[0, 0, 0], 2).unwrap();
        assert!(m.cohen_kappa(false).is_nan());
    }

    #[test]
    fn bad_labels_are_errors() {
        assert!(ConfusionMatrix::new(&[0, 1], &[0], 2).is_err());
        assert!(ConfusionMatrix::new(&[], &[], 2).is_err());
        let e = ConfusionMatrix::new(&[0, 3], &[0, 1], 3).unwrap_err();
        assert!(e.to_string().contains("sample 1"), "{e}");
    }
}
