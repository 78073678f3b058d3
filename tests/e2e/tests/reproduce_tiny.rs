//! `cargo xtask reproduce --scale tiny` end to end, in a temporary folder.
//!
//! The test builds `histo` in the profile it runs under (cargo's own lock is released while
//! tests run, so the nested build reuses the test build's artefacts) and checks the run's
//! outputs: every stage done, every file a stage must write present, every link of `REPORT.md`
//! pointing at a file, and every number of `report.json` a finite number where a stage produced
//! one. It checks no particular value: the tiny scale trains for an epoch or two.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/e2e lies two levels below the workspace root")
        .to_path_buf()
}

/// Every number in a JSON value, with its path.
fn numbers(v: &Value, path: &str, out: &mut Vec<(String, f64)>) {
    match v {
        Value::Number(n) => out.push((path.to_string(), n.as_f64().unwrap_or(f64::NAN))),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                numbers(x, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                numbers(x, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn reproduce_tiny_end_to_end() {
    let root = root();
    let tmp = tempfile::tempdir().expect("temporary folder");
    let run = tmp.path().join("run");
    let cache = tmp.path().join("cache");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The profile this test was built with: debug assertions on = dev.
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    let out = Command::new(&cargo)
        .args(["run", "--quiet", "--package", "xtask", "--", "reproduce"])
        .args(["--scale", "tiny", "--device", "cpu", "--profile", profile])
        .arg("--out")
        .arg(&run)
        .arg("--cache")
        .arg(&cache)
        .current_dir(&root)
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo xtask reproduce --scale tiny failed ({}):\n{stderr}",
        out.status
    );

    // Every stage done, every declared output present.
    let state = read_json(&run.join("state.json"));
    let stages = state["stages"].as_object().expect("state.json has stages");
    assert!(
        stages.len() >= 3 + 3 * 3,
        "too few stages: {}",
        stages.len()
    );
    for (id, s) in stages {
        assert_eq!(s["status"], "done", "stage {id}: {s}");
    }
    let report = read_json(&run.join("report.json"));
    for s in report["stages"]
        .as_array()
        .expect("report.json lists stages")
    {
        assert_eq!(s["status"], "done", "{s}");
        assert!(s["wall_s"].as_f64().is_some_and(|w| w > 0.0), "{s}");
    }

    // The numbers: all finite; the headline ones present for every row.
    let mut nums = vec![];
    numbers(&report, "", &mut nums);
    for (path, x) in &nums {
        assert!(x.is_finite(), "report.json{path} = {x}");
    }
    let acc = report["rsp"]["val_accuracy"]
        .as_f64()
        .expect("RSP validation accuracy in report.json");
    assert!((0.0..=1.0).contains(&acc), "RSP accuracy {acc}");
    let tasks = report["tasks"].as_object().expect("tasks");
    assert_eq!(tasks.len(), 3);
    for (name, t) in tasks {
        let rows = t["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 4 * 3, "{name}: one row per fraction and method");
        for r in rows {
            let test = r["test"].as_object().expect("test metrics");
            let key = match name.as_str() {
                "kather" => "accuracy",
                "breastpathq" => "icc2_vs_rater_a",
                _ => "patch_auc",
            };
            assert!(test[key].is_number(), "{name}: {key} missing in {r}");
            if name == "camelyon16" {
                assert!(test["slide_auc"].is_number(), "{r}");
                assert!(test["froc_score"].is_number(), "{r}");
            }
        }
    }

    // REPORT.md: the tables, and every linked file exists.
    let md = std::fs::read_to_string(run.join("REPORT.md")).expect("REPORT.md");
    for heading in [
        "RSP pretraining",
        "Kather",
        "BreastPathQ",
        "Camelyon16",
        "## Commands",
    ] {
        assert!(md.contains(heading), "REPORT.md lacks `{heading}`");
    }
    let mut links = 0;
    for part in md.split("](").skip(1) {
        let target = &part[..part.find(')').expect("closing parenthesis")];
        assert!(
            run.join(target).exists(),
            "REPORT.md links a missing file: {target}"
        );
        links += 1;
    }
    assert!(md.contains(".png)"), "REPORT.md links no plot");
    assert!(links > 10, "REPORT.md has only {links} links");
    assert!(!md.contains("Incomplete run"), "{md}");
}
