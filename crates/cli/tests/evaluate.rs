//! `histo evaluate`: end to end against the reference values of
//! `data/fixtures/metrics/make_reference.py` (scikit-learn, SciPy, pingouin), and bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use common::*;

fn fixture(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/fixtures/metrics")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// A CSV input written by `make_reference.py` (exact decimal representations of its doubles).
fn fixture_csv(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/fixtures/metrics")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

/// Runs `histo evaluate` on `csv` and returns the JSON it wrote.
fn evaluate(dir: &Path, task: &str, csv: &str, plots: bool) -> (Value, Output) {
    let input = dir.join(format!("{task}.csv"));
    std::fs::write(&input, csv).unwrap();
    let out = dir.join(format!("{task}.json"));
    let plot_dir = dir.join(format!("{task}_plots"));
    let mut args = vec![
        "evaluate",
        "--task",
        task,
        "--predictions",
        input.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
    ];
    if plots {
        args.extend(["--plots", plot_dir.to_str().unwrap()]);
    }
    let o = histo(&args);
    assert!(o.status.success(), "{}", text(&o));
    (
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap(),
        o,
    )
}

fn close(got: &Value, want: &Value, what: &str) {
    let (g, w) = (got.as_f64().unwrap_or(f64::NAN), want.as_f64().unwrap());
    assert!((g - w).abs() <= 1e-9, "{what}: got {g}, want {w}");
}

fn png_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count()
}

#[test]
fn regression_matches_pingouin_and_scipy() {
    let dir = tempfile::tempdir().unwrap();
    let c = &fixture("regression.json")["cases"]["small_ties"];
    let (v, o) = evaluate(
        dir.path(),
        "regression",
        &fixture_csv("evaluate_regression.csv"),
        true,
    );
    for pair in [
        "prediction_vs_rater_a",
        "prediction_vs_rater_b",
        "rater_a_vs_rater_b",
    ] {
        for form in ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"] {
            let (g, w) = (&v["icc"][pair][form], &c["icc"][pair][form]);
            for f in ["icc", "df1", "df2"] {
                close(&g[f], &w[f], &format!("{pair} {form} {f}"));
            }
            for f in ["pval", "ci95_low", "ci95_high"] {
                let (gv, wv) = (g[f].as_f64().unwrap(), w[f].as_f64().unwrap());
                assert!((gv - wv).abs() < 1e-6, "{pair} {form} {f}: {gv} vs {wv}");
            }
        }
    }
    for k in ["pearson", "spearman", "kendall_tau_b", "pk", "mse", "mae"] {
        close(&v[k], &c[k], k);
    }
    for k in ["bias", "sd", "loa_low", "loa_high"] {
        close(&v["bland_altman"][k], &c["bland_altman"][k], k);
    }
    let t = text(&o);
    assert!(t.contains("ICC1k") && t.contains("Kendall"), "{t}");
    assert_eq!(png_count(&dir.path().join("regression_plots")), 6);
}

#[test]
fn regression_with_one_rater_has_one_icc_table() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _) = evaluate(
        dir.path(),
        "regression",
        "rater_a,prediction\n0.1,0.2\n0.5,0.4\n0.9,0.7\n",
        false,
    );
    assert!(v["icc"]["prediction_vs_rater_a"]["ICC2"]["icc"].is_number());
    assert!(v["icc"].get("rater_a_vs_rater_b").is_none());
}

#[test]
fn binary_matches_sklearn() {
    let dir = tempfile::tempdir().unwrap();
    let c = &fixture("binary.json")["cases"]["ties_1dp"];
    let (v, _) = evaluate(
        dir.path(),
        "binary",
        &fixture_csv("evaluate_binary.csv"),
        true,
    );
    for k in ["auc", "average_precision", "accuracy", "f1"] {
        close(&v[k], &c[k], k);
    }
    for k in ["fpr", "tpr"] {
        let (g, w) = (nums(&v["roc"][k]), nums(&c["roc"][k]));
        assert_eq!(g.len(), w.len());
        assert!(g.iter().zip(&w).all(|(a, b)| (a - b).abs() < 1e-12), "{k}");
    }
    assert!(v["roc"]["thresholds"][0].is_null(), "+inf threshold");
    assert_eq!(png_count(&dir.path().join("binary_plots")), 2);
}

#[test]
fn multiclass_matches_sklearn() {
    let dir = tempfile::tempdir().unwrap();
    let c = &fixture("multiclass.json")["cases"]["three_classes_tied_probs"];
    let (v, o) = evaluate(
        dir.path(),
        "multiclass",
        &fixture_csv("evaluate_multiclass.csv"),
        true,
    );
    for k in [
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "f1_weighted",
        "f1_micro",
        "precision_macro",
        "recall_macro",
        "precision_weighted",
        "recall_weighted",
        "kappa",
        "kappa_quadratic",
        "auc_ovr_macro",
        "auc_ovr_weighted",
    ] {
        close(&v[k], &c[k], k);
    }
    assert_eq!(v["confusion_matrix"], c["confusion_matrix"]);
    for (g, w) in v["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .zip(c["per_class"].as_array().unwrap())
    {
        for k in ["sensitivity", "specificity", "precision", "f1", "support"] {
            close(&g[k], &w[k], k);
        }
    }
    assert!(text(&o).contains("balanced accuracy"));
    assert_eq!(png_count(&dir.path().join("multiclass_plots")), 3);
}

/// Runs on bad input and returns the error text (exit status 1 required).
fn fails(task: &str, csv: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input: PathBuf = dir.path().join("in.csv");
    if let Some(csv) = csv {
        std::fs::write(&input, csv).unwrap();
    }
    let out = dir.path().join("out.json");
    let o = histo(&[
        "evaluate",
        "--task",
        task,
        "--predictions",
        input.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{task} {csv:?}: {}", text(&o));
    assert!(!out.exists(), "no JSON on failure");
    let t = text(&o);
    assert!(!t.contains("panicked"), "{t}");
    t
}

#[test]
fn bad_input_gives_clear_errors() {
    let cases: &[(&str, Option<&str>, &[&str])] = &[
        ("binary", None, &["cannot open", "in.csv"]),
        ("binary", Some(""), &["empty", "header row"]),
        ("binary", Some("target,score\n"), &["no data rows"]),
        (
            "binary",
            Some("target,prob\n0,0.5\n"),
            &["missing column `score`", "target, prob"],
        ),
        (
            "binary",
            Some("target,score\n0,0.1\n1,abc\n"),
            &["line 3", "`score`", "`abc` is not a number"],
        ),
        (
            "binary",
            Some("target,score\n0,0.1\n1,NaN\n"),
            &["line 3", "`score`", "NaN"],
        ),
        (
            "binary",
            Some("target,score\n0,0.1\n2,0.3\n"),
            &["line 3", "`target`", "not a class"],
        ),
        (
            "binary",
            Some("target,score\n1,0.1\n1,0.3\n"),
            &["`target`", "only class 1"],
        ),
        ("binary", Some("target,score\n1,0.1,7\n"), &["in.csv"]),
        (
            "multiclass",
            Some("target,prediction,prob_0,prob_1\n0,0,0.6,0.4\n1,1,0.3,0.6\n"),
            &["line 3", "sum to 0.8", "not 1"],
        ),
        (
            "multiclass",
            Some("target,prediction,prob_0,prob_2\n0,0,0.6,0.4\n"),
            &["missing column `prob_1`"],
        ),
        ("multiclass", Some("target,prediction\n0,0\n"), &["prob_0"]),
        (
            "multiclass",
            Some("target,prediction,prob_0,prob_1\n0,0,0.6,0.4\n0,1,0.3,0.7\n"),
            &["`target`", "only class 0"],
        ),
        (
            "multiclass",
            Some("target,prediction,prob_0,prob_1\n0,5,0.6,0.4\n1,1,0.5,0.5\n"),
            &["line 2", "`prediction`"],
        ),
        (
            "regression",
            Some("prediction,rater_a\n0.5,0.4\n"),
            &["at least 2 rows"],
        ),
        (
            "regression",
            Some("prediction,rater_b\n0.5,0.4\n0.1,0.2\n"),
            &["missing column `rater_a`"],
        ),
        (
            "regression",
            Some("prediction,rater_a\n0.5,\n0.1,0.2\n"),
            &["line 2", "`rater_a`"],
        ),
    ];
    for (task, csv, needles) in cases {
        let t = fails(task, *csv);
        for n in *needles {
            assert!(t.contains(n), "{task} {csv:?}: error lacks `{n}`:\n{t}");
        }
    }
}
