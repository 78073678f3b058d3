//! `histo augment preview` and `histo augment hed`.

mod common;

use std::path::{Path, PathBuf};

use histo_augment::ops::HedShift;
use histo_tensor::Image;

use common::*;

fn tile() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/augment/tile.png")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn preview_writes_a_grid_of_the_input_and_n_views() {
    let dir = tempfile::tempdir().unwrap();
    let t = tile();
    for (pipeline, n, size, want) in [
        // 1 + 8 cells of 256 px in 3 columns, 4 px gaps: 3 * 260 + 4.
        ("strong", "8", "256", (784, 784)),
        ("rsp", "5", "256", (784, 524)),
        ("finetune", "3", "128", (524, 524)),
        ("weak", "3", "200x100", (524, 524)),
        ("hed", "3", "256", (524, 524)),
        ("hsb", "2", "256", (524, 524)),
        ("rsp-v2", "2", "256", (524, 524)),
        ("hed-v2", "2", "256", (524, 524)),
        ("strong-faithful", "2", "256", (524, 524)),
    ] {
        let out = dir.path().join(format!("{pipeline}.png"));
        let o = histo(&[
            "augment",
            "preview",
            "--image",
            s(&t),
            "--pipeline",
            pipeline,
            "--n",
            n,
            "--size",
            size,
            "--out",
            s(&out),
        ]);
        assert!(o.status.success(), "{pipeline}: {}", text(&o));
        let g = Image::open(&out).unwrap();
        assert_eq!((g.width(), g.height()), want, "{pipeline}");
    }
}

#[test]
fn preview_is_deterministic_given_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let t = tile();
    let run = |seed: &str, name: &str| {
        let out = dir.path().join(name);
        let o = histo(&[
            "--seed",
            seed,
            "augment",
            "preview",
            "--image",
            s(&t),
            "--n",
            "3",
            "--out",
            s(&out),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        Image::open(&out).unwrap()
    };
    assert_eq!(run("7", "a.png"), run("7", "b.png"));
    assert_ne!(run("7", "a.png"), run("8", "c.png"));
}

#[test]
fn hed_accepts_negative_deltas_and_matches_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let t = tile();
    let want = HedShift::new([0.02, -0.015, 0.01])
        .apply(&Image::open(&t).unwrap())
        .unwrap();
    let a = dir.path().join("a.png");
    let o = histo(&[
        "augment",
        "hed",
        "--image",
        s(&t),
        "--delta=0.02,-0.015,0.01",
        "--out",
        s(&a),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(Image::open(&a).unwrap(), want);
    // A leading minus after a space parses too.
    let b = dir.path().join("b.png");
    let o = histo(&[
        "augment",
        "hed",
        "--image",
        s(&t),
        "--delta",
        "-0.02,0.015,-0.01",
        "--out",
        s(&b),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let want_b = HedShift::new([-0.02, 0.015, -0.01])
        .apply(&Image::open(&t).unwrap())
        .unwrap();
    assert_eq!(Image::open(&b).unwrap(), want_b);
}

#[test]
fn bad_input_exits_1_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let t = tile();
    let out = dir.path().join("x.png");
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "augment",
                "hed",
                "--image",
                s(&t),
                "--delta=0.1,0.2",
                "--out",
                s(&out),
            ],
            "exactly 3",
        ),
        (
            &[
                "augment",
                "hed",
                "--image",
                s(&t),
                "--delta=nan,0,0",
                "--out",
                s(&out),
            ],
            "invalid delta",
        ),
        (
            &[
                "augment",
                "hed",
                "--image",
                "/nonexistent/in.png",
                "--delta=0,0,0",
                "--out",
                s(&out),
            ],
            "/nonexistent/in.png",
        ),
        (
            &[
                "augment",
                "preview",
                "--image",
                s(&t),
                "--pipeline",
                "weak",
                "--size",
                "300",
                "--out",
                s(&out),
            ],
            "smaller than the 300x300 crop",
        ),
        (
            &[
                "augment",
                "preview",
                "--image",
                s(&t),
                "--n",
                "0",
                "--out",
                s(&out),
            ],
            "--n must be",
        ),
    ];
    for (args, needle) in cases {
        let o = histo(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
    }
    let o = histo(&[
        "augment",
        "preview",
        "--image",
        s(&t),
        "--size",
        "0x5",
        "--out",
        s(&out),
    ]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("WIDTHxHEIGHT"), "{}", text(&o));
}
