//! `histo synth`: the tiny scale is byte-identical across runs, resumes, and bad arguments give
//! clear errors.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

fn histo(args: &[&str]) -> Output {
    histo_log(args, "warn")
}

fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn synth_tiny_is_byte_identical_across_runs_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    for out in [&a, &b] {
        let o = histo(&[
            "--seed",
            "3",
            "synth",
            "--scale",
            "tiny",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let (fa, fb) = (files(&a), files(&b));
    assert!(fa.len() > 100, "only {} files", fa.len());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(v == &fb[k], "{} differs between two runs", k.display());
    }
    for d in ["pretrain", "kather", "breastpathq", "camelyon16"] {
        assert!(a.join(d).is_dir(), "{d}/ missing");
    }
    // Re-running resumes: everything is found complete.
    let o = histo(&[
        "--seed",
        "3",
        "synth",
        "--scale",
        "tiny",
        "--out",
        a.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for d in v["report"]["datasets"].as_array().unwrap() {
        assert_eq!(d["written"], 0, "{d}");
        assert!(d["skipped"].as_u64().unwrap() > 0, "{d}");
    }
    // Another seed in the same folder is refused with an explanation.
    let o = histo(&[
        "--seed",
        "4",
        "synth",
        "--scale",
        "tiny",
        "--out",
        a.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("different configuration"), "{}", text(&o));
}

#[test]
fn synth_dry_run_shows_the_resolved_configuration() {
    let o = histo(&[
        "--seed",
        "9",
        "synth",
        "--scale",
        "small",
        "--out",
        "unused",
        "--dry-run",
        "--set",
        "kather.train_per_class=12",
        "--set",
        "difficulty.overlap=0.2",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["seed"], 9);
    assert_eq!(v["scale"], "small");
    assert_eq!(v["kather"]["train_per_class"], 12);
    assert!((v["difficulty"]["overlap"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert!(!Path::new("unused").exists());
}

#[test]
fn synth_bad_arguments_are_clear_errors() {
    for (args, want) in [
        (
            vec!["synth", "--scale", "huge", "--out", "x"],
            "unknown scale `huge`",
        ),
        (
            vec![
                "synth",
                "--scale",
                "tiny",
                "--out",
                "x",
                "--set",
                "kather.nope=1",
            ],
            "kather.nope",
        ),
        (
            vec![
                "synth",
                "--scale",
                "tiny",
                "--out",
                "x",
                "--set",
                "slide.jpeg_quality=0",
            ],
            "jpeg_quality",
        ),
        (
            vec!["synth", "--scale", "tiny", "--out", "x", "--only", "cifar"],
            "unknown dataset `cifar`",
        ),
        (
            vec![
                "synth",
                "--scale",
                "tiny",
                "--out",
                "x",
                "--config",
                "/nonexistent/over.toml",
            ],
            "/nonexistent/over.toml",
        ),
    ] {
        let o = histo(&args);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert_eq!(o.status.code(), Some(1));
        assert!(text(&o).contains(want), "{args:?}: {}", text(&o));
    }
    // An output path that is a file, not a folder.
    let f = tempfile::NamedTempFile::new().unwrap();
    let o = histo(&[
        "synth",
        "--scale",
        "tiny",
        "--out",
        f.path().to_str().unwrap(),
        "--only",
        "kather",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains(&f.path().display().to_string()),
        "{}",
        text(&o)
    );
}
