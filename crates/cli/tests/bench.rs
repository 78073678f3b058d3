//! `histo bench`: the step and loader measurements run and print sane JSON; parity refuses a
//! CPU-only run clearly.

mod common;

use std::process::Output;

use common::*;

fn json(o: &Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(out.lines().last().expect("one JSON line")).expect("JSON")
}

#[test]
fn step_reports_images_per_second_in_both_precisions() {
    for precision in ["f32", "bf16"] {
        let v = json(&histo(&[
            "--device",
            "cpu",
            "bench",
            "step",
            "--model",
            "resnet18",
            "--size",
            "32",
            "--batch",
            "2",
            "--steps",
            "1",
            "--runs",
            "2",
            "--warmup",
            "0",
            "--precision",
            precision,
        ]));
        assert_eq!(v["precision"], precision);
        assert_eq!(v["images_per_step"], 2);
        assert_eq!(v["s_per_step"].as_array().map(Vec::len), Some(2));
        assert!(v["images_per_s"].as_f64().is_some_and(|x| x > 0.0), "{v}");
        assert_eq!(v["params"], 11_689_512, "torchvision's ResNet-18");
    }
}

#[test]
fn loader_reports_images_per_second_per_worker_count() {
    let v = json(&histo(&[
        "--device",
        "cpu",
        "bench",
        "loader",
        "--size",
        "64",
        "--batch",
        "2",
        "--batches",
        "2",
        "--workers",
        "1,2",
    ]));
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    for (r, w) in runs.iter().zip([1, 2]) {
        assert_eq!(r["workers"], w);
        assert_eq!(r["batches"], 2);
        assert!(r["images_per_s"].as_f64().is_some_and(|x| x > 0.0), "{r}");
    }
}

#[test]
fn parity_needs_a_gpu_and_says_so() {
    let o = histo(&["--device", "cpu", "bench", "parity"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("--device cuda"), "{e}");
}
