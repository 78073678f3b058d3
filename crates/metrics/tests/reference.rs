//! Our metrics against the values scikit-learn, SciPy, pingouin and matplotlib give on the same
//! inputs (`data/fixtures/metrics/make_reference.py`, versions recorded in each JSON).
//! Tolerance: 1e-9 absolute (ICC p-values and confidence intervals: 1e-6).

use std::path::PathBuf;

use histo_metrics::*;
use serde_json::Value;

const TOL: f64 = 1e-9;
const TOL_ICC_INFERENCE: f64 = 1e-6;

fn fixture(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/fixtures/metrics")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::Null => f64::NAN,
        _ => v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")),
    }
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(num).collect()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    let ok = (got.is_nan() && want.is_nan()) || got == want || (got - want).abs() <= tol;
    assert!(
        ok,
        "{what}: got {got:e}, want {want:e} (diff {:e})",
        (got - want).abs()
    );
}

fn close_all(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        close(*g, *w, tol, &format!("{what}[{i}]"));
    }
}

#[test]
fn binary_matches_sklearn() {
    let f = fixture("binary.json");
    for (name, c) in f["cases"].as_object().unwrap() {
        let y: Vec<bool> = c["y_true"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v == 1)
            .collect();
        let s = nums(&c["scores"]);
        close(
            roc_auc(&y, &s).unwrap(),
            num(&c["auc"]),
            TOL,
            &format!("{name} auc"),
        );
        close(
            average_precision(&y, &s).unwrap(),
            num(&c["average_precision"]),
            TOL,
            &format!("{name} AP"),
        );
        let roc = roc_curve(&y, &s).unwrap();
        close_all(
            &roc.fpr,
            &nums(&c["roc"]["fpr"]),
            TOL,
            &format!("{name} fpr"),
        );
        close_all(
            &roc.tpr,
            &nums(&c["roc"]["tpr"]),
            TOL,
            &format!("{name} tpr"),
        );
        close_all(
            &roc.thresholds,
            &nums(&c["roc"]["thresholds"]),
            0.0,
            &format!("{name} thr"),
        );
        let yt: Vec<usize> = y.iter().map(|&b| b as usize).collect();
        let yp: Vec<usize> = s.iter().map(|&v| (v >= 0.5) as usize).collect();
        let m = ConfusionMatrix::new(&yt, &yp, 2).unwrap();
        close(
            m.accuracy(),
            num(&c["accuracy"]),
            TOL,
            &format!("{name} accuracy"),
        );
        close(
            m.per_class()[1].f1,
            num(&c["f1"]),
            TOL,
            &format!("{name} f1"),
        );
    }
}

#[test]
fn multiclass_matches_sklearn() {
    let f = fixture("multiclass.json");
    for (name, c) in f["cases"].as_object().unwrap() {
        let k = c["n_classes"].as_u64().unwrap() as usize;
        let labels = |v: &Value| -> Vec<usize> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect()
        };
        let (y, p) = (labels(&c["y_true"]), labels(&c["y_pred"]));
        let probs: Vec<f64> = c["probs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(nums)
            .collect();
        let m = ConfusionMatrix::new(&y, &p, k).unwrap();
        let want_cm: Vec<Vec<u64>> = serde_json::from_value(c["confusion_matrix"].clone()).unwrap();
        assert_eq!(m.rows(), want_cm, "{name} confusion matrix");
        let chk = |got: f64, key: &str| close(got, num(&c[key]), TOL, &format!("{name} {key}"));
        chk(m.accuracy(), "accuracy");
        chk(m.balanced_accuracy(), "balanced_accuracy");
        let (pm, rm, fm) = m.precision_recall_f1(Average::Macro);
        let (pw, rw, fw) = m.precision_recall_f1(Average::Weighted);
        chk(pm, "precision_macro");
        chk(rm, "recall_macro");
        chk(fm, "f1_macro");
        chk(pw, "precision_weighted");
        chk(rw, "recall_weighted");
        chk(fw, "f1_weighted");
        chk(m.f1(Average::Micro), "f1_micro");
        chk(m.cohen_kappa(false), "kappa");
        chk(m.cohen_kappa(true), "kappa_quadratic");
        chk(
            roc_auc_ovr(&y, &probs, k, Average::Macro).unwrap(),
            "auc_ovr_macro",
        );
        chk(
            roc_auc_ovr(&y, &probs, k, Average::Weighted).unwrap(),
            "auc_ovr_weighted",
        );
        for (i, (s, w)) in m
            .per_class()
            .iter()
            .zip(c["per_class"].as_array().unwrap())
            .enumerate()
        {
            for (got, key) in [
                (s.sensitivity, "sensitivity"),
                (s.specificity, "specificity"),
                (s.precision, "precision"),
                (s.f1, "f1"),
                (s.support as f64, "support"),
            ] {
                close(got, num(&w[key]), TOL, &format!("{name} class {i} {key}"));
            }
        }
    }
}

fn check_icc(got: &[Icc; 6], want: &Value, what: &str) {
    for r in got {
        let w = &want[r.kind.name()];
        assert_eq!(w["pingouin_type"], r.kind.pingouin_name());
        let what = format!("{what} {}", r.kind.name());
        close(r.icc, num(&w["icc"]), TOL, &format!("{what} icc"));
        close(
            r.f,
            num(&w["f"]),
            TOL * num(&w["f"]).abs().max(1.0),
            &format!("{what} F"),
        );
        close(r.df1, num(&w["df1"]), 0.0, &format!("{what} df1"));
        close(r.df2, num(&w["df2"]), 0.0, &format!("{what} df2"));
        close(
            r.pval,
            num(&w["pval"]),
            TOL_ICC_INFERENCE,
            &format!("{what} pval"),
        );
        close(
            r.ci95_low,
            num(&w["ci95_low"]),
            TOL_ICC_INFERENCE,
            &format!("{what} ci low"),
        );
        close(
            r.ci95_high,
            num(&w["ci95_high"]),
            TOL_ICC_INFERENCE,
            &format!("{what} ci high"),
        );
    }
}

#[test]
fn regression_matches_scipy_sklearn_pingouin() {
    let f = fixture("regression.json");
    for (name, c) in f["cases"].as_object().unwrap() {
        let (p, a, b) = (
            nums(&c["prediction"]),
            nums(&c["rater_a"]),
            nums(&c["rater_b"]),
        );
        check_icc(
            &icc_pair(&p, &a).unwrap(),
            &c["icc"]["prediction_vs_rater_a"],
            name,
        );
        check_icc(
            &icc_pair(&p, &b).unwrap(),
            &c["icc"]["prediction_vs_rater_b"],
            name,
        );
        check_icc(
            &icc_pair(&a, &b).unwrap(),
            &c["icc"]["rater_a_vs_rater_b"],
            name,
        );
        let chk = |got: f64, key: &str| close(got, num(&c[key]), TOL, &format!("{name} {key}"));
        chk(pearson(&p, &a).unwrap(), "pearson");
        chk(spearman(&p, &a).unwrap(), "spearman");
        chk(kendall_tau_b(&p, &a).unwrap(), "kendall_tau_b");
        chk(prediction_probability(&a, &p).unwrap(), "pk");
        chk(mse(&p, &a).unwrap(), "mse");
        chk(mae(&p, &a).unwrap(), "mae");
        let ba = bland_altman(&p, &a).unwrap();
        let w = &c["bland_altman"];
        for (got, key) in [
            (ba.bias, "bias"),
            (ba.sd, "sd"),
            (ba.loa_low, "loa_low"),
            (ba.loa_high, "loa_high"),
        ] {
            close(
                got,
                num(&w[key]),
                TOL,
                &format!("{name} bland-altman {key}"),
            );
        }
    }
    // Four raters (pingouin's wine example).
    let w = &f["icc_k4_wine"];
    let table: Vec<f64> = w["ratings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(nums)
        .collect();
    check_icc(
        &icc(&table, table.len() / 4, 4).unwrap(),
        &w["icc"],
        "wine k=4",
    );
}

#[test]
fn jet_matches_matplotlib() {
    let f = fixture("colormap.json");
    for (i, rgb) in f["jet_lut_at_i_over_255"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let want: Vec<u8> = serde_json::from_value(rgb.clone()).unwrap();
        assert_eq!(plot::jet(i as f64 / 255.0).to_vec(), want, "jet lut {i}");
    }
    let s = &f["jet_samples"];
    for (x, rgb) in nums(&s["x"]).iter().zip(s["rgb"].as_array().unwrap()) {
        let want: Vec<u8> = serde_json::from_value(rgb.clone()).unwrap();
        assert_eq!(plot::jet(*x).to_vec(), want, "jet({x})");
    }
}
