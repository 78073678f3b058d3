//! `histo finetune`, `histo consistency`, `histo predict` and `histo predict-slide` end to end
//! on tiny generated data: the CSVs are what `histo evaluate` reads, a killed run resumes to the
//! same result, the heat-map marks the tumour, and bad input gives clear messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use histo_models::Checkpoint;
use histo_tensor::{DType, Device, Image};
use histo_wsi::{PyramidOptions, PyramidWriter};

fn histo(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_histo"))
        .args(["--device", "cpu", "--log-level", "warn"])
        .args(args)
        .output()
        .expect("run histo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const NORMAL: [u8; 3] = [232, 188, 222];
const TUMOUR: [u8; 3] = [96, 44, 150];

/// A 32×32 patch: a flat colour with deterministic ±16 noise.
fn patch(rgb: [u8; 3], k: u32) -> Image {
    let mut img = Image::filled(32, 32, rgb);
    for y in 0..32u32 {
        for x in 0..32u32 {
            let h = (x.wrapping_mul(374_761_393)
                ^ y.wrapping_mul(668_265_263)
                ^ k.wrapping_mul(2_246_822_519))
            .wrapping_mul(3_266_489_917);
            let n = (h >> 27) as i32 - 16;
            let c = rgb.map(|v| (v as i32 + n).clamp(0, 255) as u8);
            img.put_pixel(x as usize, y as usize, c);
        }
    }
    img
}

/// Class folders `a_normal/`, `b_tumour/` (+ `c_other/` with `n_third` images).
fn folders(root: &Path, per_class: u32, n_third: u32) {
    for (name, rgb, n) in [
        ("a_normal", NORMAL, per_class),
        ("b_tumour", TUMOUR, per_class),
        ("c_other", [150, 170, 210], n_third),
    ] {
        if n == 0 {
            continue;
        }
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for k in 0..n {
            patch(rgb, k).save(d.join(format!("{k}.png"))).unwrap();
        }
    }
}

/// A preset for tests: width 8, 32-px inputs.
fn preset(dir: &Path, stage: &str, epochs: u64) -> PathBuf {
    let extra = if stage == "consistency" {
        "[consistency]\nmu = 2\nrandaugment = { n = 2, m = 10, mode = \"sane\", margin = 20 }\n"
    } else {
        "[model]\ndepth = 18\nwidth = 8\n"
    };
    let text = format!(
        "description = \"test\"\n{extra}[input]\nsize = 32\n[train]\nepochs = {epochs}\n\
         batch_size = 4\nlr = 1e-3\nschedule = {{ kind = \"constant\" }}\nfreeze = \"{}\"\n\
         eval_batch_size = 16\ncheckpoint_every = 0\n[split]\nlabel_fraction = 0.5\n",
        if stage == "consistency" {
            "trunk"
        } else {
            "none"
        }
    );
    let p = dir.join(format!("{stage}-test.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn finetune_consistency_predict_and_evaluate_a_multiclass_task() {
    let data = tempfile::tempdir().unwrap();
    folders(data.path(), 10, 10);
    let tmp = tempfile::tempdir().unwrap();
    let spec = format!("folders:{}", data.path().display());
    let ssl = tmp.path().join("ssl");
    let (ok, out, err) = histo(&[
        "finetune",
        "--task",
        "multiclass",
        "--data",
        &spec,
        "--init",
        "random",
        "--labels",
        "0.5",
        "--out",
        s(&ssl),
        "--preset",
        s(&preset(tmp.path(), "finetune", 2)),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("best val_acc"), "{out}");
    for f in [
        "best.safetensors",
        "last.safetensors",
        "config.toml",
        "run.json",
        "split.json",
        "summary.json",
        "train_log.csv",
        "curve_loss.png",
    ] {
        assert!(ssl.join(f).is_file(), "{f}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ssl.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["epochs"], 2);
    assert_eq!(summary["metric"], "val_acc");
    assert!(summary["wall_s"].as_f64().unwrap() > 0.0);

    let cr = tmp.path().join("cr");
    let (ok, out, err) = histo(&[
        "consistency",
        "--task",
        "multiclass",
        "--data",
        &spec,
        "--init",
        s(&ssl.join("best.safetensors")),
        "--labels",
        "0.5",
        "--out",
        s(&cr),
        "--preset",
        s(&preset(tmp.path(), "consistency", 2)),
        "--json",
    ]);
    assert!(ok, "{err}");
    let cr_summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cr_summary["stage"], "consistency");
    assert!(cr_summary["last_metrics"]["loss_u"].as_f64().is_some());

    let preds = tmp.path().join("preds.csv");
    let (ok, out, err) = histo(&[
        "predict",
        "--checkpoint",
        s(&cr.join("best.safetensors")),
        "--dataset",
        &spec,
        "--split",
        "train",
        "--out",
        s(&preds),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("30 multiclass predictions"), "{out}");
    let csv = std::fs::read_to_string(&preds).unwrap();
    assert!(
        csv.starts_with("id,target,prediction,prob_0,prob_1,prob_2\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 31);
    let json = tmp.path().join("metrics.json");
    let (ok, _, err) = histo(&[
        "evaluate",
        "--task",
        "multiclass",
        "--predictions",
        s(&preds),
        "--json",
        s(&json),
    ]);
    assert!(ok, "histo evaluate reads the predictions: {err}");
}

#[test]
fn regression_predictions_carry_both_raters_for_evaluate() {
    let data = tempfile::tempdir().unwrap();
    for (split, csv, n, two) in [
        ("train", "train_labels.csv", 20u32, false),
        ("test", "test_labels.csv", 8, true),
    ] {
        let d = data.path().join(split);
        std::fs::create_dir_all(&d).unwrap();
        let mut text = String::from(if two {
            "slide,rid,pathologist1,pathologist2\n"
        } else {
            "slide,rid,y\n"
        });
        for k in 0..n {
            let y = (k % 5) as f32 / 4.0;
            let v = (230.0 - 140.0 * y) as u8;
            patch([v, v / 2 + 30, v], k)
                .save(d.join(format!("7_{k}.png")))
                .unwrap();
            text.push_str(&if two {
                format!("7,{k},{y},{}\n", (y + 0.1).min(1.0))
            } else {
                format!("7,{k},{y}\n")
            });
        }
        std::fs::write(data.path().join(csv), text).unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = format!("breastpathq:{}", data.path().display());
    let run = tmp.path().join("ssl");
    let (ok, out, err) = histo(&[
        "finetune",
        "--task",
        "regression",
        "--data",
        &spec,
        "--init",
        "random",
        "--out",
        s(&run),
        "--preset",
        s(&preset(tmp.path(), "finetune", 1)),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("best val_loss"), "{out}");
    let preds = tmp.path().join("bpq.csv");
    let (ok, _, err) = histo(&[
        "predict",
        "--checkpoint",
        s(&run.join("last.safetensors")),
        "--dataset",
        &spec,
        "--out",
        s(&preds),
    ]);
    assert!(ok, "{err}");
    let csv = std::fs::read_to_string(&preds).unwrap();
    assert!(csv.starts_with("id,prediction,rater_a,rater_b\n"), "{csv}");
    assert_eq!(csv.lines().count(), 9);
    let (ok, _, err) = histo(&[
        "evaluate",
        "--task",
        "regression",
        "--predictions",
        s(&preds),
        "--json",
        s(&tmp.path().join("m.json")),
    ]);
    assert!(ok, "{err}");
}

fn last_tensors(run: &Path) -> Vec<(String, Vec<f64>)> {
    Checkpoint::load(run.join("last.safetensors"), &Device::Cpu)
        .unwrap()
        .tensors
        .into_iter()
        .map(|(k, t)| {
            (
                k,
                t.to_dtype(DType::F64)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_killed_finetune_run_resumes_to_the_same_weights() {
    let data = tempfile::tempdir().unwrap();
    folders(data.path(), 16, 0);
    let tmp = tempfile::tempdir().unwrap();
    let spec = format!("folders:{}", data.path().display());
    let p = preset(tmp.path(), "finetune", 4);
    let args = |out: &Path| -> Vec<String> {
        [
            "finetune",
            "--task",
            "binary",
            "--data",
            &spec,
            "--init",
            "random",
            "--out",
            s(out),
            "--preset",
            s(&p),
            "--labels",
            "1",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let whole = tmp.path().join("whole");
    let (ok, _, err) = histo(&args(&whole).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{err}");
    // the same run, killed once its first epoch is on disk, then resumed
    let cut = tmp.path().join("cut");
    let mut child = Command::new(env!("CARGO_BIN_EXE_histo"))
        .args(["--device", "cpu", "--log-level", "warn"])
        .args(args(&cut))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !cut.join("last.safetensors").exists() && t0.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    // it was stopped part-way: some epochs are on disk, not all four
    let done = std::fs::read_to_string(cut.join("train_log.csv"))
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0);
    assert!(done < 4, "the run finished before it could be killed");
    let mut resume = args(&cut);
    resume.push("--resume".into());
    let (ok, out, err) = histo(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{err}");
    assert!(out.contains("4 epochs"), "{out}");
    assert_eq!(last_tensors(&whole), last_tensors(&cut));
    // without --resume the finished folder is not overwritten
    let (ok, _, err) = histo(&args(&cut).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!ok && err.contains("already holds a run"), "{err}");
}

#[test]
fn bad_input_gives_clear_messages() {
    let data = tempfile::tempdir().unwrap();
    folders(data.path(), 10, 2);
    let tmp = tempfile::tempdir().unwrap();
    let spec = format!("folders:{}", data.path().display());
    let p = preset(tmp.path(), "finetune", 1);
    for bad in ["--labels=0", "--labels=1.5", "--labels=-0.2"] {
        let (ok, _, err) = histo(&[
            "finetune",
            "--task",
            "multiclass",
            "--data",
            &spec,
            "--init",
            "random",
            bad,
            "--out",
            s(&tmp.path().join("x")),
            "--preset",
            s(&p),
        ]);
        assert!(
            !ok && err.contains("label fraction") && err.contains("(0, 1]"),
            "{bad}: {err}"
        );
    }
    // a class with 2 images of 22 gets no label at 10 %: a warning, and the run goes on
    let run = tmp.path().join("few");
    let (ok, _, err) = Command::new(env!("CARGO_BIN_EXE_histo"))
        .args([
            "--device",
            "cpu",
            "--log-level",
            "warn",
            "finetune",
            "--task",
            "multiclass",
            "--data",
            &spec,
            "--init",
            "random",
            "--labels",
            "0.1",
            "--out",
            s(&run),
            "--preset",
            s(&p),
        ])
        .output()
        .map(|o| {
            (
                o.status.success(),
                (),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert!(ok, "{err}");
    assert!(
        err.contains("no labelled sample of class") && err.contains("c_other"),
        "{err}"
    );
    // a 3-class checkpoint for a binary task
    let (ok, _, err) = histo(&[
        "consistency",
        "--task",
        "binary",
        "--data",
        &spec,
        "--init",
        s(&run.join("last.safetensors")),
        "--out",
        s(&tmp.path().join("cr")),
    ]);
    assert!(!ok && err.contains("3 output(s)"), "{err}");
    // unknown dataset kind, unknown preset, missing checkpoint
    let (ok, _, err) = histo(&[
        "finetune",
        "--task",
        "binary",
        "--data",
        "imagenet:/x",
        "--init",
        "random",
        "--out",
        s(&tmp.path().join("y")),
    ]);
    assert!(!ok && err.contains("unknown kind `imagenet`"), "{err}");
    let (ok, _, err) = histo(&[
        "finetune",
        "--task",
        "multiclass",
        "--data",
        &spec,
        "--init",
        "random",
        "--out",
        s(&tmp.path().join("z")),
        "--preset",
        "fast",
    ]);
    assert!(
        !ok && err.contains("unknown finetune preset `fast`"),
        "{err}"
    );
    let (ok, _, err) = histo(&[
        "predict",
        "--checkpoint",
        "/no/such.safetensors",
        "--dataset",
        &spec,
        "--out",
        s(&tmp.path().join("p.csv")),
    ]);
    assert!(!ok && err.contains("/no/such.safetensors"), "{err}");
}

#[test]
fn the_slide_heat_map_marks_the_tumour() {
    // binary model: tumour-coloured vs normal-coloured patches
    let data = tempfile::tempdir().unwrap();
    folders(data.path(), 12, 0);
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("ssl");
    let (ok, _, err) = histo(&[
        "finetune",
        "--task",
        "binary",
        "--data",
        &format!("folders:{}", data.path().display()),
        "--init",
        "random",
        "--labels",
        "1",
        "--out",
        s(&run),
        "--preset",
        s(&preset(tmp.path(), "finetune", 6)),
    ]);
    assert!(ok, "{err}");
    // a 512×384 slide: white glass, normal tissue, and a tumour block at cells x 8..12, y 4..8
    let mut img = Image::filled(512, 384, [246, 246, 248]);
    for y in 32..352 {
        for x in 32..480 {
            let tumour = (256..384).contains(&x) && (128..256).contains(&y);
            let p = patch(
                if tumour { TUMOUR } else { NORMAL },
                (x / 32 + 16 * (y / 32)) as u32,
            );
            img.put_pixel(x, y, p.pixel(x % 32, y % 32));
        }
    }
    let slide = tmp.path().join("Test_001.tif");
    PyramidWriter::write_image(
        &slide,
        &img,
        PyramidOptions {
            tile_size: 64,
            ..Default::default()
        },
    )
    .unwrap();
    let out = tmp.path().join("maps");
    let (ok, stdout, err) = histo(&[
        "predict-slide",
        "--checkpoint",
        s(&run.join("last.safetensors")),
        "--slide",
        s(&slide),
        "--out",
        s(&out),
        "--tile",
        "32",
        "--thumbnail",
        "256",
        "--tissue",
        "v2",
    ]);
    assert!(ok, "{err}");
    assert!(stdout.contains("Test_001"), "{stdout}");
    for f in [
        "Test_001.npy",
        "Test_001_heatmap.png",
        "Test_001.json",
        "Test_001_tiles.csv",
        "slides.csv",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("Test_001.json")).unwrap()).unwrap();
    assert_eq!(
        (r["cols"].as_u64(), r["rows"].as_u64()),
        (Some(16), Some(12))
    );
    // tile probabilities: high on the tumour block, low on normal tissue
    let tiles = std::fs::read_to_string(out.join("Test_001_tiles.csv")).unwrap();
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for line in tiles.lines().skip(1) {
        let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        let (c, r, p) = (f[0], f[1], f[5]);
        if (8.0..12.0).contains(&c) && (4.0..8.0).contains(&r) {
            inside.push(p);
        } else {
            outside.push(p);
        }
    }
    assert_eq!(inside.len(), 16, "{tiles}");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&inside) > 0.8 && mean(&outside) < 0.2,
        "{} vs {}",
        mean(&inside),
        mean(&outside)
    );
    assert!(
        (r["max"].as_f64().unwrap() - inside.iter().cloned().fold(0.0, f64::max)).abs() < 1e-12
    );
    // the .npy: float64, x-major (cols, rows)
    let npy = std::fs::read(out.join("Test_001.npy")).unwrap();
    let hl = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    assert!(
        std::str::from_utf8(&npy[10..10 + hl])
            .unwrap()
            .contains("'shape': (16, 12)")
    );
    assert_eq!(npy.len(), 10 + hl + 16 * 12 * 8);
    // a file that is not a slide is skipped with a message; all failing is an error
    let junk = tmp.path().join("junk.tif");
    std::fs::write(&junk, b"no tiff").unwrap();
    let (ok, _, err) = histo(&[
        "predict-slide",
        "--checkpoint",
        s(&run.join("best.safetensors")),
        "--slide",
        s(&junk),
        "--out",
        s(&out),
    ]);
    assert!(
        !ok && err.contains("skipping") && err.contains("junk.tif"),
        "{err}"
    );
}
