//! Evaluation for histo: the metrics the paper and its datasets' official challenges report,
//! computed as the reference Python libraries compute them, plus PNG plots.
//!
//! - [`classification`]: confusion matrix, accuracy, balanced accuracy, per-class sensitivity /
//!   specificity / precision / F1, macro / weighted / micro averages, Cohen's kappa
//!   (scikit-learn with `labels=range(C)`); [`roc`]: ROC curve, AUC, average precision and
//!   one-vs-rest AUC with scikit-learn's tie handling.
//! - [`icc`](mod@icc): pingouin's six intraclass correlations with F test and 95 % CI; [`correlation`]:
//!   Pearson, Spearman, Kendall τ-b (SciPy) and BreastPathQ's prediction probability P_K;
//!   [`agreement`]: MSE, MAE, Bland–Altman.
//! - [`froc`]: Camelyon16 lesion-level FROC following the official evaluation script, and
//!   detections from probability maps (the slide-level AUC is [`roc_auc`] of slide scores).
//! - [`plot`]: line charts (training curves), confusion matrices, ROC / FROC curves,
//!   Bland–Altman, prediction-vs-rater scatter, slide heat-map overlays — PNG, drawn with
//!   plotters and a bundled font (no system font library).
//! - [`report`]: what `histo evaluate` computes per task, serialisable, with a text table.
//!
//! Every number is tested against scikit-learn / SciPy / pingouin / matplotlib outputs
//! (`data/fixtures/metrics/make_reference.py`) to 1e-9 (ICC p-values and intervals 1e-6).
//! The crate depends on no other histo crate and not on candle. Own code where crates exist:
//! the F quantile is built on statrs' inverse incomplete beta function (statrs' own F
//! `inverse_cdf` is a 16-step bisection, too coarse for confidence intervals); the
//! Camelyon16 image operations (exact distance transform, hole filling, labelling) are small
//! and written here rather than pulling an image-processing stack for three functions.
//!
//! ```
//! use histo_metrics::{Average, ConfusionMatrix, icc_pair, roc_auc};
//!
//! let auc = roc_auc(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8])?;
//! assert_eq!(auc, 0.75);
//!
//! let cm = ConfusionMatrix::new(&[0, 1, 2, 2], &[0, 2, 2, 2], 3)?;
//! assert_eq!(cm.accuracy(), 0.75);
//! let f1 = cm.f1(Average::Macro);
//!
//! let model = [0.10, 0.45, 0.80, 0.30, 0.95];
//! let pathologist = [0.05, 0.50, 0.70, 0.35, 1.00];
//! let table = icc_pair(&model, &pathologist)?; // ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k
//! assert!(table[1].icc > 0.9 && table[1].ci95_low < table[1].icc);
//! # let _ = f1;
//! # Ok::<(), histo_metrics::MetricsError>(())
//! ```

#![warn(missing_docs)]

pub mod agreement;
pub mod classification;
pub mod correlation;
mod error;
mod fdist;
pub mod froc;
pub mod icc;
pub mod plot;
pub mod report;
pub mod roc;

pub use agreement::{BlandAltman, bland_altman, mae, mse};
pub use classification::{Average, ClassStats, ConfusionMatrix};
pub use correlation::{kendall_tau_b, pearson, prediction_probability, spearman};
pub use error::{MetricsError, Result};
pub use icc::{Icc, IccKind, icc, icc_pair};
pub use roc::{RocCurve, average_precision, roc_auc, roc_auc_ovr, roc_curve};
