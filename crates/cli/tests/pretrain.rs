//! `histo pretrain` and `histo probe` on histo-synth's tiny slides: the whole stage-1 path
//! (synth → tile rsp → pretrain → resume → probe) and its error messages.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

fn histo(args: &[&str]) -> Output {
    histo_log(args, "warn")
}

fn ok(args: &[&str]) -> String {
    let o = histo(args);
    assert!(o.status.success(), "histo {args:?} failed:\n{}", text(&o));
    text(&o)
}

/// Standard output only (JSON), after checking success.
fn stdout(args: &[&str]) -> String {
    let o = histo(args);
    assert!(o.status.success(), "histo {args:?} failed:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(args: &[&str]) -> String {
    let o = histo(args);
    assert!(
        !o.status.success(),
        "histo {args:?} should fail:\n{}",
        text(&o)
    );
    text(&o)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn pretrain_resume_and_probe_on_synthetic_slides() {
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("synth");
    let store = dir.path().join("store");
    let run = dir.path().join("run");
    ok(&[
        "synth",
        "--scale",
        "tiny",
        "--only",
        "pretrain,kather",
        "--out",
        p(&synth),
    ]);
    ok(&[
        "tile",
        "rsp",
        "--slides",
        p(&synth.join("pretrain")),
        "--out",
        p(&store),
        "--tile",
        "64",
        "--stride",
        "32",
        "--magnifications",
        "20,10,5",
        "--tissue",
        "v2",
    ]);
    // the synthetic preset, made smaller for a test
    let preset = dir.path().join("test-preset.toml");
    std::fs::write(
        &preset,
        "preset = \"test\"\n[store]\ntile = 64\nmagnifications = [20.0, 10.0, 5.0]\n\
         [model]\nwidth = 4\n[data]\norderings = \"one_random\"\nval_max_triplets = 10\n\
         [train]\nepochs = 1\nbatch_size = 32\nworkers = 1\n[outputs]\nembedding_points = 30\n",
    )
    .unwrap();
    let out = ok(&[
        "pretrain",
        "--store",
        p(&store),
        "--out",
        p(&run),
        "--preset",
        p(&preset),
    ]);
    assert!(
        out.contains("validation : accuracy") && out.contains("triplets/s"),
        "{out}"
    );
    for f in [
        "config.toml",
        "curves.png",
        "embedding.png",
        "best.safetensors",
        "last.safetensors",
        "summary.json",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    // a finished run is not overwritten; --resume continues it with its own configuration
    let e = fails(&["pretrain", "--store", p(&store), "--out", p(&run)]);
    assert!(e.contains("--resume"), "{e}");
    let out = stdout(&[
        "pretrain",
        "--store",
        p(&store),
        "--out",
        p(&run),
        "--resume",
        "--epochs",
        "2",
        "--json",
    ]);
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["epochs"], 2);
    assert_eq!(s["epochs_this_run"], 1);
    assert_eq!(s["preset"], "test");
    let v = s["val_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&v));

    // the linear probe of the Kather-style patches, pretrained against random
    let report = dir.path().join("probe.json");
    let out = stdout(&[
        "probe",
        "--checkpoint",
        p(&run.join("best.safetensors")),
        "--dataset",
        p(&synth.join("kather")),
        "--out",
        p(&report),
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["size"], 224); // the patches' own size
    assert_eq!(r["classes"].as_array().unwrap().len(), 9);
    assert!(r["pretrained"]["accuracy"].is_number());
    assert!(r["random"]["accuracy"].is_number());
    assert!(report.is_file());

    // bad input
    let e = fails(&[
        "pretrain",
        "--store",
        p(&store),
        "--out",
        p(&dir.path().join("r2")),
        "--preset",
        "paper-breastpathq",
    ]);
    assert!(e.contains("64×64") && e.contains("256×256"), "{e}");
    let e = fails(&[
        "pretrain",
        "--store",
        p(&store),
        "--out",
        p(&dir.path().join("r3")),
        "--preset",
        "no-such-preset",
    ]);
    assert!(
        e.contains("unknown preset") && e.contains("synthetic"),
        "{e}"
    );
    let e = fails(&[
        "pretrain",
        "--store",
        p(&synth),
        "--out",
        p(&dir.path().join("r4")),
    ]);
    assert!(e.contains("manifest.json"), "{e}");
    let e = fails(&[
        "pretrain",
        "--store",
        p(&store),
        "--out",
        p(&run),
        "--resume",
        "--preset",
        "synthetic",
    ]);
    assert!(e.contains("width") || e.contains("network"), "{e}");
    let e = fails(&[
        "probe",
        "--checkpoint",
        p(&store.join("manifest.json")),
        "--dataset",
        p(&synth.join("kather")),
    ]);
    assert!(e.contains("manifest.json"), "{e}");
}
