//! CPU time per call of the main augmentations on the 256x256 fixture tile (median of RUNS runs,
//! each at least 1 s of CPU), as JSON on stdout, for the side-by-side comparison with the original
//! Python code (`benches/compare_python.py`). CPU time (from `/proc/self/stat`, Linux) rather than
//! wall time, because the development machine is shared; wall-clock medians are printed to stderr.
//! `cargo run --release -p histo-augment --example timing -- RUNS`.

use std::time::Instant;

use histo_augment::ops::{self, HedShift};
use histo_augment::pipelines::RandOp;
use histo_augment::{
    Image, Mode, RandAugment, RspPool, RspVersion, Size, Strong, Transform, sample_rng,
};

/// User + system CPU seconds of this process (clock ticks of `/proc/self/stat`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name: state is field 3; utime, stime are 14, 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// (CPU ms, wall ms) per call, medians over `runs` runs of at least 1 s of CPU each.
fn median_ms(name: &str, runs: usize, f: &mut dyn FnMut(u64)) -> f64 {
    let mut cpu = Vec::new();
    let mut wall = Vec::new();
    let mut i = 0u64;
    for _ in 0..runs {
        let (c0, t0) = (cpu_seconds(), Instant::now());
        let mut calls = 0u64;
        while cpu_seconds() - c0 < 1.0 {
            for _ in 0..8 {
                f(i);
                i += 1;
            }
            calls += 8;
        }
        cpu.push((cpu_seconds() - c0) * 1e3 / calls as f64);
        wall.push(t0.elapsed().as_secs_f64() * 1e3 / calls as f64);
    }
    cpu.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    eprintln!(
        "{name}: cpu {:.4} ms, wall {:.4} ms per call",
        cpu[runs / 2],
        wall[runs / 2]
    );
    cpu[runs / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(5);
    // An optional second argument keeps only the items whose name contains it.
    let only = std::env::args().nth(2).unwrap_or_default();
    let median_ms = |name: &str, runs: usize, f: &mut dyn FnMut(u64)| -> f64 {
        if name.contains(&only) {
            median_ms(name, runs, f)
        } else {
            f64::NAN
        }
    };
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/fixtures/augment/tile.png"
    );
    let t = Image::open(path)?;
    let shift = HedShift::new([0.02, -0.015, 0.01]);
    let faithful = RandAugment::default().with_mode(Mode::Faithful);
    let strong = |mode| Strong {
        size: Size::square(256),
        randaugment: RandAugment::default().with_mode(mode),
    };
    let (sane, orig) = (strong(Mode::Sane), strong(Mode::Faithful));
    let triplet = [t.clone(), t.clone(), t.clone()];
    let v1 = RspPool::new(RspVersion::V1);
    let results = [
        (
            "hed_fixed",
            median_ms("hed_fixed", runs, &mut |_| drop(shift.apply(&t))),
        ),
        (
            "hed_random",
            median_ms("hed_random", runs, &mut |i| {
                drop(faithful.apply_op(RandOp::Color, 5, &t, &mut sample_rng(0, 0, i)))
            }),
        ),
        (
            "strong_faithful",
            median_ms("strong_faithful", runs, &mut |i| {
                drop(orig.apply(&t, &mut sample_rng(0, 0, i)))
            }),
        ),
        (
            "strong_sane",
            median_ms("strong_sane", runs, &mut |i| {
                drop(sane.apply(&t, &mut sample_rng(0, 0, i)))
            }),
        ),
        (
            "rsp_v1_triplet",
            median_ms("rsp_v1_triplet", runs, &mut |i| {
                drop(v1.apply_triplet(&triplet, &mut sample_rng(0, 0, i)))
            }),
        ),
    ];
    let ops_results = [
        (
            "op_rotate",
            median_ms("op_rotate", runs, &mut |_| drop(ops::rotate(&t, 37.5))),
        ),
        (
            "op_resize_276",
            median_ms("op_resize_276", runs, &mut |_| {
                drop(ops::resize(&t, Size::square(276)))
            }),
        ),
        (
            "op_scale_2",
            median_ms("op_scale_2", runs, &mut |_| drop(ops::scale(&t, 2.0))),
        ),
        (
            "op_hsv_shift",
            median_ms("op_hsv_shift", runs, &mut |_| {
                drop(ops::hsv_shift(&t, 5.0, -10.0, 12.0))
            }),
        ),
        (
            "op_blur_5",
            median_ms("op_blur_5", runs, &mut |_| drop(ops::box_blur(&t, 5))),
        ),
        (
            "op_noise",
            median_ms("op_noise", runs, &mut |i| {
                drop(ops::gaussian_noise(&t, 12.0, &mut sample_rng(0, 0, i)))
            }),
        ),
        (
            "op_brightness_contrast",
            median_ms("op_brightness_contrast", runs, &mut |_| {
                drop(ops::brightness_contrast(&t, 1.1, 0.05))
            }),
        ),
    ];
    let body: Vec<String> = results
        .iter()
        .chain(&ops_results)
        .filter(|(_, v)| !v.is_nan())
        .map(|(k, v)| format!("\"{k}\": {v:.4}"))
        .collect();
    println!("{{{}}}", body.join(", "));
    Ok(())
}
