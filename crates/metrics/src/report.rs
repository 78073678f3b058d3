//! Everything `histo evaluate` reports for one task, as serialisable structs with a
//! human-readable table (`Display`). JSON: NaN and ±∞ are written as `null` (the first ROC
//! threshold, +∞ in scikit-learn, is therefore `null`).

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::agreement::{BlandAltman, bland_altman, mae, mse};
use crate::classification::{Average, ClassStats, ConfusionMatrix};
use crate::correlation::{kendall_tau_b, pearson, prediction_probability, spearman};
use crate::error::Result;
use crate::icc::{Icc, icc_pair};
use crate::roc::{RocCurve, average_precision, roc_auc, roc_auc_ovr, roc_curve};

/// The six ICC forms of one pair of raters, serialised as a map `ICC1 … ICC3k` → row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IccTable(pub [Icc; 6]);

impl Serialize for IccTable {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(6))?;
        for r in &self.0 {
            m.serialize_entry(r.kind.name(), r)?;
        }
        m.end()
    }
}

/// ICC tables of the rater pairs present.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct IccPairs {
    /// Prediction against rater A.
    pub prediction_vs_rater_a: IccTable,
    /// Prediction against rater B (when there is a rater B).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction_vs_rater_b: Option<IccTable>,
    /// Rater A against rater B (when there is a rater B).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rater_a_vs_rater_b: Option<IccTable>,
}

/// Regression (BreastPathQ cellularity) evaluation of a prediction against one or two raters.
/// Correlations, P_K, errors and Bland–Altman compare the prediction with rater A.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RegressionReport {
    /// Number of samples.
    pub n: usize,
    /// ICC tables (pingouin's six forms).
    pub icc: IccPairs,
    /// Pearson's r.
    pub pearson: f64,
    /// Spearman's ρ.
    pub spearman: f64,
    /// Kendall's τ-b.
    pub kendall_tau_b: f64,
    /// Prediction probability P_K with rater A as reference.
    pub pk: f64,
    /// Mean squared error.
    pub mse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Bland–Altman of prediction − rater A.
    pub bland_altman: BlandAltman,
}

impl RegressionReport {
    /// Computes every regression figure.
    pub fn compute(prediction: &[f64], rater_a: &[f64], rater_b: Option<&[f64]>) -> Result<Self> {
        let icc = IccPairs {
            prediction_vs_rater_a: IccTable(icc_pair(prediction, rater_a)?),
            prediction_vs_rater_b: rater_b
                .map(|b| icc_pair(prediction, b))
                .transpose()?
                .map(IccTable),
            rater_a_vs_rater_b: rater_b
                .map(|b| icc_pair(rater_a, b))
                .transpose()?
                .map(IccTable),
        };
        Ok(Self {
            n: prediction.len(),
            icc,
            pearson: pearson(prediction, rater_a)?,
            spearman: spearman(prediction, rater_a)?,
            kendall_tau_b: kendall_tau_b(prediction, rater_a)?,
            pk: prediction_probability(rater_a, prediction)?,
            mse: mse(prediction, rater_a)?,
            mae: mae(prediction, rater_a)?,
            bland_altman: bland_altman(prediction, rater_a)?,
        })
    }
}

/// Binary (tumour vs normal) evaluation of scores.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BinaryReport {
    /// Number of samples.
    pub n: usize,
    /// Number of positive samples.
    pub n_positive: usize,
    /// ROC AUC.
    pub auc: f64,
    /// Average precision.
    pub average_precision: f64,
    /// Accuracy of `score ≥ 0.5`.
    pub accuracy: f64,
    /// F1 of the positive class for `score ≥ 0.5`.
    pub f1: f64,
    /// The ROC curve.
    pub roc: RocCurve,
    /// Confusion matrix of `score ≥ 0.5` (rows: true 0, 1).
    pub confusion_matrix: Vec<Vec<u64>>,
}

impl BinaryReport {
    /// The decision threshold of `accuracy`, `f1` and the confusion matrix.
    pub const THRESHOLD: f64 = 0.5;

    /// Computes every binary figure.
    pub fn compute(y_true: &[bool], scores: &[f64]) -> Result<Self> {
        let auc = roc_auc(y_true, scores)?;
        let yt: Vec<usize> = y_true.iter().map(|&b| b as usize).collect();
        let yp: Vec<usize> = scores
            .iter()
            .map(|&s| (s >= Self::THRESHOLD) as usize)
            .collect();
        let cm = ConfusionMatrix::new(&yt, &yp, 2)?;
        Ok(Self {
            n: y_true.len(),
            n_positive: y_true.iter().filter(|&&b| b).count(),
            auc,
            average_precision: average_precision(y_true, scores)?,
            accuracy: cm.accuracy(),
            f1: cm.per_class()[1].f1,
            roc: roc_curve(y_true, scores)?,
            confusion_matrix: cm.rows(),
        })
    }
}

/// Multi-class (tissue type) evaluation of class predictions and probabilities.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MulticlassReport {
    /// Number of samples.
    pub n: usize,
    /// Number of classes.
    pub n_classes: usize,
    /// Accuracy.
    pub accuracy: f64,
    /// Balanced accuracy.
    pub balanced_accuracy: f64,
    /// Macro F1.
    pub f1_macro: f64,
    /// Support-weighted F1.
    pub f1_weighted: f64,
    /// Micro F1.
    pub f1_micro: f64,
    /// Macro precision.
    pub precision_macro: f64,
    /// Macro recall.
    pub recall_macro: f64,
    /// Weighted precision.
    pub precision_weighted: f64,
    /// Weighted recall.
    pub recall_weighted: f64,
    /// Cohen's kappa.
    pub kappa: f64,
    /// Cohen's kappa with quadratic weights.
    pub kappa_quadratic: f64,
    /// One-vs-rest AUC, macro average (NaN when a class has no sample).
    pub auc_ovr_macro: f64,
    /// One-vs-rest AUC, support-weighted average.
    pub auc_ovr_weighted: f64,
    /// Confusion matrix (rows: true class).
    pub confusion_matrix: Vec<Vec<u64>>,
    /// Per-class figures.
    pub per_class: Vec<ClassStats>,
}

impl MulticlassReport {
    /// Computes every multi-class figure; `probs` is row-major `n × n_classes`.
    pub fn compute(
        y_true: &[usize],
        y_pred: &[usize],
        probs: &[f64],
        n_classes: usize,
    ) -> Result<Self> {
        let cm = ConfusionMatrix::new(y_true, y_pred, n_classes)?;
        let (pm, rm, fm) = cm.precision_recall_f1(Average::Macro);
        let (pw, rw, fw) = cm.precision_recall_f1(Average::Weighted);
        Ok(Self {
            n: y_true.len(),
            n_classes,
            accuracy: cm.accuracy(),
            balanced_accuracy: cm.balanced_accuracy(),
            f1_macro: fm,
            f1_weighted: fw,
            f1_micro: cm.f1(Average::Micro),
            precision_macro: pm,
            recall_macro: rm,
            precision_weighted: pw,
            recall_weighted: rw,
            kappa: cm.cohen_kappa(false),
            kappa_quadratic: cm.cohen_kappa(true),
            auc_ovr_macro: roc_auc_ovr(y_true, probs, n_classes, Average::Macro)?,
            auc_ovr_weighted: roc_auc_ovr(y_true, probs, n_classes, Average::Weighted)?,
            confusion_matrix: cm.rows(),
            per_class: cm.per_class(),
        })
    }
}

/// `{:.4}`, or `n/a` for NaN.
struct F(f64);

impl fmt::Display for F {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_nan() {
            write!(f, "{:>8}", "n/a")
        } else {
            write!(f, "{:>8.4}", self.0)
        }
    }
}

fn write_icc(f: &mut fmt::Formatter<'_>, title: &str, t: &IccTable) -> fmt::Result {
    writeln!(f, "ICC, {title}")?;
    writeln!(
        f,
        "  {:<6} {:>8} {:>9} {:>5} {:>7} {:>10}  95% CI",
        "form", "ICC", "F", "df1", "df2", "p"
    )?;
    for r in &t.0 {
        writeln!(
            f,
            "  {:<6} {} {:>9.3} {:>5} {:>7.1} {:>10.3e}  [{:.3}, {:.3}]",
            r.kind.name(),
            F(r.icc),
            r.f,
            r.df1,
            r.df2,
            r.pval,
            r.ci95_low,
            r.ci95_high
        )?;
    }
    Ok(())
}

impl fmt::Display for RegressionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Regression, {} samples", self.n)?;
        write_icc(f, "prediction vs rater A", &self.icc.prediction_vs_rater_a)?;
        if let Some(t) = &self.icc.prediction_vs_rater_b {
            write_icc(f, "prediction vs rater B", t)?;
        }
        if let Some(t) = &self.icc.rater_a_vs_rater_b {
            write_icc(f, "rater A vs rater B", t)?;
        }
        writeln!(f, "Prediction vs rater A")?;
        for (k, v) in [
            ("Pearson r", self.pearson),
            ("Spearman rho", self.spearman),
            ("Kendall tau-b", self.kendall_tau_b),
            ("P_K", self.pk),
            ("MSE", self.mse),
            ("MAE", self.mae),
        ] {
            writeln!(f, "  {k:<24}{}", F(v))?;
        }
        let ba = &self.bland_altman;
        writeln!(
            f,
            "  {:<24}{} (SD {:.4}, limits of agreement [{:.4}, {:.4}])",
            "Bland-Altman bias",
            F(ba.bias),
            ba.sd,
            ba.loa_low,
            ba.loa_high
        )
    }
}

impl fmt::Display for BinaryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Binary, {} samples ({} positive)",
            self.n, self.n_positive
        )?;
        for (k, v) in [
            ("ROC AUC", self.auc),
            ("average precision", self.average_precision),
            ("accuracy (score >= 0.5)", self.accuracy),
            ("F1 (score >= 0.5)", self.f1),
        ] {
            writeln!(f, "  {k:<24}{}", F(v))?;
        }
        let c = &self.confusion_matrix;
        writeln!(
            f,
            "  confusion (rows true 0/1): [{}, {}] [{}, {}]",
            c[0][0], c[0][1], c[1][0], c[1][1]
        )
    }
}

impl fmt::Display for MulticlassReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Multi-class, {} samples, {} classes",
            self.n, self.n_classes
        )?;
        for (k, v) in [
            ("accuracy", self.accuracy),
            ("balanced accuracy", self.balanced_accuracy),
            ("F1 macro", self.f1_macro),
            ("F1 weighted", self.f1_weighted),
            ("F1 micro", self.f1_micro),
            ("precision macro", self.precision_macro),
            ("recall macro", self.recall_macro),
            ("precision weighted", self.precision_weighted),
            ("recall weighted", self.recall_weighted),
            ("Cohen kappa", self.kappa),
            ("Cohen kappa quadratic", self.kappa_quadratic),
            ("AUC one-vs-rest macro", self.auc_ovr_macro),
            ("AUC one-vs-rest weighted", self.auc_ovr_weighted),
        ] {
            writeln!(f, "  {k:<26}{}", F(v))?;
        }
        writeln!(
            f,
            "  {:<6} {:>11} {:>11} {:>9} {:>8} {:>8}",
            "class", "sensitivity", "specificity", "precision", "F1", "support"
        )?;
        for (i, s) in self.per_class.iter().enumerate() {
            writeln!(
                f,
                "  {:<6} {:>11.4} {:>11.4} {:>9.4} {:>8.4} {:>8}",
                i, s.sensitivity, s.specificity, s.precision, s.f1, s.support
            )?;
        }
        writeln!(
            f,
            "  confusion matrix (rows: true class, columns: predicted)"
        )?;
        for row in &self.confusion_matrix {
            let cells: Vec<String> = row.iter().map(|c| format!("{c:>6}")).collect();
            writeln!(f, "  {}", cells.join(""))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_are_the_documented_ones() {
        let p = [0.1, 0.4, 0.35, 0.8, 0.7];
        let a = [0.0, 0.5, 0.3, 0.9, 0.6];
        let r = RegressionReport::compute(&p, &a, None).unwrap();
        let v = serde_json::to_value(&r).unwrap();
        let icc = &v["icc"]["prediction_vs_rater_a"];
        for k in ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"] {
            for f in ["icc", "f", "df1", "df2", "pval", "ci95_low", "ci95_high"] {
                assert!(icc[k][f].is_number(), "{k}.{f}");
            }
        }
        assert!(v["icc"].get("rater_a_vs_rater_b").is_none());
        for k in ["pearson", "spearman", "kendall_tau_b", "pk", "mse", "mae"] {
            assert!(v[k].is_number(), "{k}");
        }
        for k in ["bias", "sd", "loa_low", "loa_high"] {
            assert!(v["bland_altman"][k].is_number(), "{k}");
        }
        let b = BinaryReport::compute(&[false, true, true], &[0.2, 0.7, 0.4]).unwrap();
        let v = serde_json::to_value(&b).unwrap();
        assert!(
            v["roc"]["thresholds"][0].is_null(),
            "+inf is written as null"
        );
        assert!(b.to_string().contains("ROC AUC"));
    }
}
