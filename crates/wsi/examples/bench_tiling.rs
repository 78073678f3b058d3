//! Tiling benchmark (run through `cargo xtask bench tiling`, which builds this in release).
//!
//! 1. Writes (once, cached) a synthetic H&E-like 16384² slide with the project's pyramid writer:
//!    7 levels (16384 … 256), 256² JPEG tiles Q 90, MPP 0.5, Aperio-style description; white
//!    background with smooth pink/purple tissue blobs (~55 % coverage) and nucleus-like dots,
//!    like `../shared/bench/python/make_synthetic_wsi.py`.
//! 2. Times the original's BreastPathQ settings: v1 tissue test (Lab a* > 1.15 μ on ≥ 95 %,
//!    μ on the smallest level), stride 128 on level 2, 256² tiles, levels 0/1/2, corner (the
//!    original) and concentric geometry, with a fresh slide handle per run (cold tile cache), on
//!    a rayon pool of `--threads` threads; reports candidate tests/s, triplets/s (accepted
//!    triplets over the whole per-slide time, as the original's 11/s was measured; the tiles
//!    are read into per-thread buffers, as `tile_rsp` reads them) and the extraction-only rate;
//!    then `tile_rsp` into a tile store (shards written to disk), median of the same number
//!    of runs into a fresh store each, for both geometries; and the peak RSS.
//!
//! Usage: bench_tiling [--size 16384] [--runs 5] [--threads 2] [--cache DIR] [--json FILE]

use std::path::{Path, PathBuf};
use std::time::Instant;

use histo_tensor::Image;
use histo_wsi::sampler::for_each_triplet;
use histo_wsi::{
    Geometry, LevelSpec, PyramidOptions, PyramidWriter, RspConfig, RspRun, Slide, TissueMethod,
    plan_slide, tile_rsp,
};
use rayon::prelude::*;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

/// splitmix64: a small deterministic generator for the synthetic slide.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn hash(x: u64, y: u64, s: u64) -> u64 {
    Mix(x.wrapping_mul(0x1000_0000_01B3) ^ y.wrapping_mul(0x9E37_79B9) ^ s).next()
}

/// Low-resolution fields (one value per 64 level-0 pixels): tissue mask and stain mix.
struct Fields {
    g: usize,
    mask: Vec<f32>,
    stain: Vec<f32>,
}

fn fields(size: usize, seed: u64, coverage: f64) -> Fields {
    let g = (size / 64).max(16);
    let mut rng = Mix(seed);
    let blobs: Vec<[f64; 5]> = (0..14)
        .map(|_| {
            [
                0.1 + 0.8 * rng.unit(),
                0.1 + 0.8 * rng.unit(),
                0.07 + 0.15 * rng.unit(),
                0.07 + 0.15 * rng.unit(),
                std::f64::consts::PI * rng.unit(),
            ]
        })
        .collect();
    let waves: Vec<[f64; 3]> = (0..6)
        .map(|_| {
            [
                rng.unit() * 12.0,
                rng.unit() * 12.0,
                rng.unit() * std::f64::consts::TAU,
            ]
        })
        .collect();
    let mut field = vec![0f64; g * g];
    for j in 0..g {
        for i in 0..g {
            let (x, y) = (i as f64 / g as f64, j as f64 / g as f64);
            let mut f = 0.0;
            for b in &blobs {
                let (c, s) = (b[4].cos(), b[4].sin());
                let (dx, dy) = (x - b[0], y - b[1]);
                let u = (c * dx + s * dy) / b[2];
                let v = (-s * dx + c * dy) / b[3];
                f += (-0.5 * (u * u + v * v)).exp();
            }
            for w in &waves {
                f += 0.04 * (w[0] * x + w[1] * y + w[2]).sin();
            }
            field[j * g + i] = f;
        }
    }
    let mut sorted = field.clone();
    sorted.sort_by(f64::total_cmp);
    let thr = sorted[((1.0 - coverage) * (g * g) as f64) as usize];
    let mean = field.iter().sum::<f64>() / field.len() as f64;
    let sd = (field.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / field.len() as f64).sqrt();
    let mask = field
        .iter()
        .map(|&f| ((f - thr) / (0.08 * sd) + 0.5).clamp(0.0, 1.0) as f32)
        .collect();
    let stain = (0..g * g)
        .map(|k| {
            let (i, j) = ((k % g) as f64 / g as f64, (k / g) as f64 / g as f64);
            (0.5 + 0.45 * ((7.0 * i + 3.0).sin() * (5.0 * j + 1.0).cos())) as f32
        })
        .collect();
    Fields { g, mask, stain }
}

fn bilinear(f: &[f32], g: usize, x: f64, y: f64) -> f32 {
    let (x, y) = ((x - 0.5).max(0.0), (y - 0.5).max(0.0));
    let (i, j) = ((x as usize).min(g - 1), (y as usize).min(g - 1));
    let (i1, j1) = ((i + 1).min(g - 1), (j + 1).min(g - 1));
    let (fx, fy) = ((x - i as f64) as f32, (y - j as f64) as f32);
    let a = f[j * g + i] * (1.0 - fx) + f[j * g + i1] * fx;
    let b = f[j1 * g + i] * (1.0 - fx) + f[j1 * g + i1] * fx;
    a * (1.0 - fy) + b * fy
}

fn synth_tile(fl: &Fields, seed: u64, x0: usize, y0: usize, t: usize) -> Image {
    const WHITE: [f32; 3] = [244.0, 244.0, 246.0];
    const PINK: [f32; 3] = [236.0, 150.0, 196.0];
    const PURPLE: [f32; 3] = [176.0, 104.0, 182.0];
    const NUC: [f32; 3] = [92.0, 48.0, 132.0];
    let mut img = Image::new(t, t);
    let buf = img.as_mut_slice();
    for y in 0..t {
        for x in 0..t {
            let (gx, gy) = (x0 + x, y0 + y);
            let (lx, ly) = (gx as f64 / 64.0, gy as f64 / 64.0);
            let m = bilinear(&fl.mask, fl.g, lx, ly);
            let s = bilinear(&fl.stain, fl.g, lx, ly);
            // nuclei: one candidate dot per 12x12 cell, 30 % of cells, radius 2-4 px
            let (cx, cy) = (gx / 12, gy / 12);
            let h = hash(cx as u64, cy as u64, seed);
            let mut n = 0.0f32;
            if h % 10 < 3 {
                let ox = (cx * 12 + 2 + ((h >> 8) % 8) as usize) as f32;
                let oy = (cy * 12 + 2 + ((h >> 16) % 8) as usize) as f32;
                let r = 2.0 + ((h >> 24) % 3) as f32;
                let d2 = (gx as f32 - ox).powi(2) + (gy as f32 - oy).powi(2);
                if d2 <= r * r {
                    n = 0.85;
                }
            }
            let grain =
                ((hash(gx as u64, gy as u64, seed ^ 0xABCD) % 1000) as f32 / 1000.0 - 0.5) * 10.0;
            let o = (y * t + x) * 3;
            for c in 0..3 {
                let tissue = (PINK[c] * (1.0 - s) + PURPLE[c] * s) * (1.0 - n) + NUC[c] * n;
                let v = WHITE[c] * (1.0 - m) + tissue * m + grain;
                buf[o + c] = v.clamp(0.0, 255.0) as u8;
            }
        }
    }
    img
}

fn make_slide(path: &Path, size: usize) -> f64 {
    let t0 = Instant::now();
    let seed = 0;
    let fl = fields(size, seed, 0.55);
    let opts = PyramidOptions {
        tile_size: 256,
        quality: 90,
        mpp: Some(0.5),
        app_mag: Some(20.0),
        aperio: true,
        title: Some(format!("histo-wsi synthetic benchmark slide (seed {seed})")),
        ..Default::default()
    };
    let mut w =
        PyramidWriter::create(path, size as u64, size as u64, opts).expect("create pyramid");
    let (across, down) = w.tile_grid();
    for ty in 0..down as usize {
        let row: Vec<Image> = (0..across as usize)
            .into_par_iter()
            .map(|tx| synth_tile(&fl, seed, tx * 256, ty * 256, 256))
            .collect();
        for tile in &row {
            w.push_tile(tile).expect("push tile");
        }
    }
    w.finish().expect("finish pyramid");
    t0.elapsed().as_secs_f64()
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds (user + system) used by this process so far (`/proc/self/stat`, 100 Hz ticks):
/// on a shared machine, CPU time is a steadier measure of work than wall time.
fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // fields after the parenthesised command name; utime and stime are fields 14 and 15
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (tick(11) + tick(12)) / 100.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size: usize = arg(&args, "--size", "16384").parse().expect("--size");
    let runs: usize = arg(&args, "--runs", "5").parse().expect("--runs");
    let threads: usize = arg(&args, "--threads", "2").parse().expect("--threads");
    let cache = PathBuf::from(arg(&args, "--cache", "cache/bench"));
    let json_out = arg(&args, "--json", "");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let slide_path = cache.join(format!("synthetic_{size}_v2.tif"));
    if !slide_path.exists() {
        let secs = pool.install(|| make_slide(&slide_path, size));
        let mb = std::fs::metadata(&slide_path)
            .map(|m| m.len() as f64 / (1 << 20) as f64)
            .unwrap_or(0.0);
        println!(
            "wrote {} ({mb:.1} MiB) in {secs:.1} s",
            slide_path.display()
        );
    }
    let mut report = serde_json::Map::new();
    let base = RspConfig {
        tile: 256,
        stride: 128,
        levels: [
            LevelSpec::Index(0),
            LevelSpec::Index(1),
            LevelSpec::Index(2),
        ],
        geometry: Geometry::Corner,
        tissue: TissueMethod::v1(),
        acceptance: Default::default(),
    };
    for geometry in [Geometry::Corner, Geometry::Concentric] {
        let cfg = RspConfig {
            geometry,
            ..base.clone()
        };
        let (mut plan_t, mut total_t, mut extract_t) = (Vec::new(), Vec::new(), Vec::new());
        let (mut plan_cpu, mut extract_cpu) = (Vec::new(), Vec::new());
        let (mut cands, mut acc, mut decodes) = (0, 0, 0);
        for _ in 0..runs {
            pool.install(|| {
                let c0 = cpu_seconds();
                let t0 = Instant::now();
                let slide = Slide::open(&slide_path).expect("open");
                let plan = plan_slide(&slide, &cfg).expect("plan");
                let t1 = Instant::now();
                let c1 = cpu_seconds();
                for_each_triplet(&slide, &plan.levels, &plan.triplets, 256, |i, tiles| {
                    std::hint::black_box((i, tiles));
                    Ok(())
                })
                .expect("read");
                let t2 = Instant::now();
                let c2 = cpu_seconds();
                plan_cpu.push(c1 - c0);
                extract_cpu.push(c2 - c1);
                plan_t.push((t1 - t0).as_secs_f64());
                extract_t.push((t2 - t1).as_secs_f64());
                total_t.push((t2 - t0).as_secs_f64());
                cands = plan.candidates;
                acc = plan.triplets.len();
                decodes = slide.cache_stats().map_or(0, |(_, misses)| misses);
            });
        }
        let (p, e, t) = (
            median(&mut plan_t),
            median(&mut extract_t),
            median(&mut total_t),
        );
        let (pc, ec) = (median(&mut plan_cpu), median(&mut extract_cpu));
        let name = format!("{geometry:?}").to_lowercase();
        println!(
            "{name:>10}: {cands} candidates, {acc} accepted | tissue+tests {:.3} s ({:.0} candidate tests/s) | \
             extraction {:.3} s ({:.0} triplets/s) | whole slide {:.3} s = {:.0} triplets/s (median of {runs}, {threads} threads)",
            p,
            cands as f64 / p,
            e,
            acc as f64 / e,
            t,
            acc as f64 / t
        );
        println!(
            "{:>10}  CPU time: tissue+tests {pc:.3} s, extraction {ec:.3} s, {:.2} ms per triplet \
             => {:.0} triplets/s if {threads} cores were free; {decodes} tiles decoded",
            "",
            1000.0 * (pc + ec) / acc as f64,
            threads as f64 * acc as f64 / (pc + ec)
        );
        report.insert(
            name,
            serde_json::json!({
                "candidates": cands, "accepted": acc, "plan_s": p, "extract_s": e, "total_s": t,
                "candidate_tests_per_s": cands as f64 / p, "triplets_per_s": acc as f64 / t,
                "extract_triplets_per_s": acc as f64 / e, "runs": runs, "threads": threads,
                "plan_cpu_s": pc, "extract_cpu_s": ec,
            }),
        );
    }
    // `tile_rsp` into a tile store (shards written to disk), default geometry: the whole job
    // a user runs, median of `runs` runs into a fresh store each.
    let run = RspRun {
        config: RspConfig {
            geometry: Geometry::Concentric,
            ..base.clone()
        },
        ..Default::default()
    };
    let store_runs: Vec<(f64, usize, u64)> = [Geometry::Corner, Geometry::Concentric]
        .into_iter()
        .map(|geometry| {
            let run = RspRun {
                config: RspConfig {
                    geometry,
                    ..run.config.clone()
                },
                ..run.clone()
            };
            let mut secs = Vec::new();
            let (mut n, mut bytes) = (0, 0);
            for _ in 0..runs {
                let store = cache.join("bench_store");
                let _ = std::fs::remove_dir_all(&store);
                let summary = pool
                    .install(|| tile_rsp(std::slice::from_ref(&slide_path), &store, &run, &|_| {}))
                    .expect("tile_rsp");
                bytes = std::fs::read_dir(&store)
                    .map(|d| {
                        d.filter_map(|e| e.ok()?.metadata().ok())
                            .map(|m| m.len())
                            .sum()
                    })
                    .unwrap_or(0);
                let _ = std::fs::remove_dir_all(&store);
                secs.push(summary.seconds);
                n = summary.triplets;
            }
            let t = median(&mut secs);
            let name = format!("{geometry:?}").to_lowercase();
            println!(
                "{name:>10}: tile_rsp into a store: {n} triplets in {t:.3} s = {:.0} triplets/s \
                 ({:.0} MiB written; median of {runs})",
                n as f64 / t,
                bytes as f64 / (1 << 20) as f64
            );
            (t, n, bytes)
        })
        .collect();
    report.insert(
        "tile_rsp".into(),
        serde_json::json!({
            "corner": {"triplets": store_runs[0].1, "seconds": store_runs[0].0,
                       "triplets_per_s": store_runs[0].1 as f64 / store_runs[0].0},
            "concentric": {"triplets": store_runs[1].1, "seconds": store_runs[1].0,
                           "triplets_per_s": store_runs[1].1 as f64 / store_runs[1].0},
        }),
    );
    let rss = peak_rss_mib();
    println!("peak RSS: {:.0} MiB", rss.unwrap_or(f64::NAN));
    report.insert("peak_rss_mib".into(), serde_json::json!(rss));
    if !json_out.is_empty() {
        std::fs::write(
            &json_out,
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        )
        .expect("write json");
    }
}
