//! `cargo xtask bench tiling`: builds histo-wsi's `bench_tiling` example in release and runs it
//! (the measuring code lives in the crate; this only orchestrates).
//!
//! It writes (once, cached under `cache/bench/`) a 16384² 7-level JPEG pyramid with histo-wsi's
//! writer, then measures candidate tests/s, triplets/s and peak RSS for the original's
//! BreastPathQ settings (v1 tissue, stride 128 at level 2, 256² tiles) on 2 threads. The JSON
//! goes to `results/bench/tiling.json`.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::root;

/// Runs the tiling benchmark; `rest` is passed to the example (e.g. `--runs 9`, `--size 8192`).
pub fn run(rest: &[String]) -> Result<()> {
    let root = root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let cache = root.join("cache/bench");
    let results = root.join("results/bench");
    std::fs::create_dir_all(&results).with_context(|| format!("creating {}", results.display()))?;
    let json = results.join("tiling.json");
    let mut args: Vec<String> = [
        "run",
        "--release",
        "-p",
        "histo-wsi",
        "--example",
        "bench_tiling",
        "--",
        "--threads",
        "2",
        "--cache",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(cache.to_string_lossy().into_owned());
    args.push("--json".into());
    args.push(json.to_string_lossy().into_owned());
    args.extend(rest.iter().cloned());
    eprintln!("==> cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(&args)
        .current_dir(&root)
        .status()
        .with_context(|| format!("cannot run `{cargo}`"))?;
    if !status.success() {
        bail!("the tiling benchmark failed ({status})");
    }
    eprintln!("==> figures written to {}", json.display());
    Ok(())
}
