//! `histo evaluate`: metrics, a JSON report and optional PNG plots from a CSV of predictions.
//!
//! CSV formats (a header row is required; extra columns such as `id` are ignored):
//! - regression: `prediction,rater_a[,rater_b]`
//! - binary: `target,score` (target 0 or 1)
//! - multiclass: `target,prediction,prob_0,…,prob_{C-1}` (each row's probabilities sum to 1)

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args as ClapArgs, ValueEnum};
use histo_metrics::plot;
use histo_metrics::report::{BinaryReport, MulticlassReport, RegressionReport};
use histo_metrics::roc::sums_to_one;
use histo_metrics::{ConfusionMatrix, roc_auc, roc_curve};

use crate::Context;

/// What the predictions are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Task {
    /// Scores against one or two raters (BreastPathQ cellularity): ICC, correlations, P_K,
    /// errors, Bland–Altman.
    Regression,
    /// Binary scores (Camelyon16 tumour vs normal): AUC, average precision, accuracy, F1, ROC.
    Binary,
    /// Class predictions and probabilities (Kather tissue types): accuracy, F1, kappa, AUC,
    /// confusion matrix, per-class figures.
    Multiclass,
}

/// Options of `histo evaluate`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The kind of predictions in the CSV.
    #[arg(long, value_enum)]
    task: Task,
    /// CSV of predictions with a header row (see `histo evaluate --help` for the columns).
    #[arg(long, value_name = "FILE.csv")]
    predictions: PathBuf,
    /// Where to write the metrics as JSON.
    #[arg(long, value_name = "OUT.json")]
    json: PathBuf,
    /// Folder for PNG plots (created if missing).
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
}

/// The CSV, read whole.
struct Table {
    path: PathBuf,
    headers: Vec<String>,
    /// (file line number, cells)
    rows: Vec<(u64, Vec<String>)>,
}

impl Table {
    fn read(path: &Path) -> Result<Self> {
        let shown = path.display();
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_path(path)
            .with_context(|| format!("cannot open {shown}"))?;
        let headers: Vec<String> = rdr
            .headers()
            .with_context(|| format!("cannot read the header row of {shown}"))?
            .iter()
            .map(str::to_string)
            .collect();
        if headers.iter().all(String::is_empty) {
            bail!("{shown} is empty: a header row naming the columns is required");
        }
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let rec = rec.with_context(|| format!("cannot read {shown}"))?;
            let line = rec.position().map_or(0, |p| p.line());
            rows.push((line, rec.iter().map(str::to_string).collect()));
        }
        if rows.is_empty() {
            bail!("{shown} has a header row but no data rows");
        }
        Ok(Self {
            path: path.to_path_buf(),
            headers,
            rows,
        })
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    fn column(&self, name: &str) -> Result<usize> {
        self.find(name).with_context(|| {
            format!(
                "{}: missing column `{name}` (the header has: {})",
                self.path.display(),
                self.headers.join(", ")
            )
        })
    }

    /// The finite numbers of column `col`.
    fn numbers(&self, col: usize) -> Result<Vec<f64>> {
        let name = &self.headers[col];
        self.rows
            .iter()
            .map(|(line, cells)| {
                let at = || format!("{} line {line}, column `{name}`", self.path.display());
                let cell = cells[col].as_str();
                let v: f64 = cell
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{}: `{cell}` is not a number", at()))?;
                if !v.is_finite() {
                    bail!("{}: {cell} is not allowed (values must be finite)", at());
                }
                Ok(v)
            })
            .collect()
    }

    /// Class indices `0..n_classes` of column `col`.
    fn classes(&self, col: usize, n_classes: usize) -> Result<Vec<usize>> {
        let name = &self.headers[col];
        let values = self.numbers(col)?;
        values
            .iter()
            .zip(&self.rows)
            .map(|(&v, (line, cells))| {
                if v.fract() != 0.0 || v < 0.0 || v >= n_classes as f64 {
                    bail!(
                        "{} line {line}, column `{name}`: `{}` is not a class index 0..={}",
                        self.path.display(),
                        cells[col],
                        n_classes - 1
                    );
                }
                Ok(v as usize)
            })
            .collect()
    }

    /// Fails when column `col` holds one class only.
    fn require_two_classes(&self, labels: &[usize], col: usize) -> Result<()> {
        if labels.iter().all(|&c| c == labels[0]) {
            bail!(
                "{}: column `{}` holds only class {} ({} rows); the evaluation needs at least two \
                 classes",
                self.path.display(),
                self.headers[col],
                labels[0],
                labels.len()
            );
        }
        Ok(())
    }
}

/// Runs `histo evaluate`.
pub fn run(args: Args, _ctx: &Context) -> Result<()> {
    let table = Table::read(&args.predictions)?;
    if let Some(dir) = &args.plots {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create plot folder {}", dir.display()))?;
    }
    let (json, text) = match args.task {
        Task::Regression => regression(&table, args.plots.as_deref())?,
        Task::Binary => binary(&table, args.plots.as_deref())?,
        Task::Multiclass => multiclass(&table, args.plots.as_deref())?,
    };
    fs::write(&args.json, json + "\n")
        .with_context(|| format!("cannot write {}", args.json.display()))?;
    print!("{text}");
    tracing::info!("metrics written to {}", args.json.display());
    Ok(())
}

fn regression(t: &Table, plots: Option<&Path>) -> Result<(String, String)> {
    let p = t.numbers(t.column("prediction")?)?;
    let a = t.numbers(t.column("rater_a")?)?;
    let b = t.find("rater_b").map(|c| t.numbers(c)).transpose()?;
    if p.len() < 2 {
        bail!(
            "{}: regression needs at least 2 rows, found {}",
            t.path.display(),
            p.len()
        );
    }
    let r = RegressionReport::compute(&p, &a, b.as_deref())
        .with_context(|| format!("evaluating {}", t.path.display()))?;
    if let Some(dir) = plots {
        let mut pairs: Vec<(&str, &[f64], &str, &[f64])> = vec![("rater A", &a, "prediction", &p)];
        if let Some(b) = &b {
            pairs.push(("rater B", b, "prediction", &p));
            pairs.push(("rater A", &a, "rater B", b));
        }
        for (xn, x, yn, y) in pairs {
            let stem = format!("{}_vs_{}", yn.replace(' ', "_"), xn.replace(' ', "_"));
            plot::scatter_identity_plot(
                &dir.join(format!("scatter_{stem}.png")),
                &format!("{yn} vs {xn}"),
                xn,
                yn,
                x,
                y,
            )?;
            plot::bland_altman_plot(
                &dir.join(format!("bland_altman_{stem}.png")),
                &format!("Bland–Altman: {yn} − {xn}"),
                y,
                x,
            )?;
        }
    }
    Ok((serde_json::to_string_pretty(&r)?, r.to_string()))
}

fn binary(t: &Table, plots: Option<&Path>) -> Result<(String, String)> {
    let tc = t.column("target")?;
    let y = t.classes(tc, 2)?;
    let s = t.numbers(t.column("score")?)?;
    t.require_two_classes(&y, tc)?;
    let truth: Vec<bool> = y.iter().map(|&c| c == 1).collect();
    let r = BinaryReport::compute(&truth, &s)
        .with_context(|| format!("evaluating {}", t.path.display()))?;
    if let Some(dir) = plots {
        plot::roc_plot(
            &dir.join("roc.png"),
            "ROC",
            &[("score".into(), r.roc.clone(), r.auc)],
        )?;
        let cm = ConfusionMatrix::from_counts(2, r.confusion_matrix.concat())?;
        let names = vec!["0".to_string(), "1".to_string()];
        plot::confusion_matrix_plot(
            &dir.join("confusion_matrix.png"),
            &cm,
            &names,
            false,
            "Confusion matrix (score ≥ 0.5)",
        )?;
    }
    Ok((serde_json::to_string_pretty(&r)?, r.to_string()))
}

fn multiclass(t: &Table, plots: Option<&Path>) -> Result<(String, String)> {
    let shown = t.path.display();
    // prob_0 … prob_{C-1}, all present, no gaps.
    let n_classes = t.headers.iter().filter(|h| h.starts_with("prob_")).count();
    if n_classes < 2 {
        bail!(
            "{shown}: multiclass needs probability columns prob_0, prob_1, … (at least two); the header \
             has: {}",
            t.headers.join(", ")
        );
    }
    let prob_cols: Vec<usize> = (0..n_classes)
        .map(|c| t.column(&format!("prob_{c}")))
        .collect::<Result<_>>()?;
    let tc = t.column("target")?;
    let y = t.classes(tc, n_classes)?;
    let pred = t.classes(t.column("prediction")?, n_classes)?;
    t.require_two_classes(&y, tc)?;
    let columns: Vec<Vec<f64>> = prob_cols
        .iter()
        .map(|&c| t.numbers(c))
        .collect::<Result<_>>()?;
    let n = y.len();
    let mut probs = Vec::with_capacity(n * n_classes);
    for (i, (line, _)) in t.rows.iter().enumerate() {
        let row: Vec<f64> = columns.iter().map(|col| col[i]).collect();
        let sum: f64 = row.iter().sum();
        if !sums_to_one(sum) {
            bail!(
                "{shown} line {line}: prob_0..prob_{} sum to {sum}, not 1 (tolerance \
                 |sum − 1| ≤ 1e-8 + 1e-5·sum, as scikit-learn; write more decimals)",
                n_classes - 1
            );
        }
        probs.extend(row);
    }
    let missing: Vec<String> = (0..n_classes)
        .filter(|c| !y.contains(c))
        .map(|c| c.to_string())
        .collect();
    if !missing.is_empty() {
        tracing::warn!(
            "{shown}: class(es) {} have no sample in column `target`: their one-vs-rest AUC is \
             undefined, so auc_ovr_macro and auc_ovr_weighted are null",
            missing.join(", ")
        );
    }
    let r = MulticlassReport::compute(&y, &pred, &probs, n_classes)
        .with_context(|| format!("evaluating {shown}"))?;
    if let Some(dir) = plots {
        let cm = ConfusionMatrix::new(&y, &pred, n_classes)?;
        plot::confusion_matrix_plot(
            &dir.join("confusion_matrix.png"),
            &cm,
            &[],
            false,
            "Confusion matrix",
        )?;
        plot::confusion_matrix_plot(
            &dir.join("confusion_matrix_normalized.png"),
            &cm,
            &[],
            true,
            "Confusion matrix (rows normalised)",
        )?;
        let mut curves = Vec::new();
        for c in 0..n_classes {
            let truth: Vec<bool> = y.iter().map(|&v| v == c).collect();
            let score: Vec<f64> = probs.chunks(n_classes).map(|r| r[c]).collect();
            if truth.iter().any(|&t| t) {
                curves.push((
                    format!("class {c}"),
                    roc_curve(&truth, &score)?,
                    roc_auc(&truth, &score)?,
                ));
            }
        }
        plot::roc_plot(&dir.join("roc_ovr.png"), "One-vs-rest ROC", &curves)?;
    }
    Ok((serde_json::to_string_pretty(&r)?, r.to_string()))
}
