//! `cargo xtask gpu-check`: the one prepared check a session lent a GPU runs (≈ 10 minutes of
//! device time), and its CPU half anywhere.
//!
//! Steps, each through the `histo` binary (`histo bench …`, `cargo xtask reproduce`) so the
//! figures are what a user's build does: (a) CPU-vs-GPU parity of a ResNet-18 forward and
//! backward (`histo bench parity`, GPU only); (b) training-step images/s of ResNet-18 and the
//! RSP TripletNet at a few batch sizes, f32 and bf16 (`histo bench step`); (c) the same steps
//! in the machine's PyTorch (`crates/train/examples/bench_train_torch.py`), alternating with
//! ours, for ratios; (d) peak GPU memory of every step run (`nvidia-smi` polled while it runs;
//! PyTorch's own peak too) or peak RSS on the CPU; (e) RSP pretraining + fine-tuning on
//! histo-synth data end to end (`cargo xtask reproduce --tasks kather`), with its wall time.
//! A time budget bounds the whole: a step that would overrun is cut or skipped, and says so.
//! Writes `gpu-check.json` and `gpu-check.md` into the output folder.
//!
//! `--prepare` (here, on the CPU machine) builds `histo` with `--features cudnn` for sm_90a
//! (`cargo xtask build-cuda`), copies this xtask binary into `dist/`, and writes
//! `dist/gpu-check.sh`, which the GPU machine runs with no Rust toolchain.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::root;

/// Options of `cargo xtask gpu-check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Build the CUDA `histo` and this xtask into `dist/` and write `dist/gpu-check.sh` (run
    /// this on the build machine; the GPU machine then runs `bash dist/gpu-check.sh`).
    #[arg(long)]
    prepare: bool,
    /// `cuda` (the whole check), `cpu` (the CPU half: no parity, small inputs), or `auto`
    /// (`cuda` when `nvidia-smi -L` lists a GPU).
    #[arg(long, default_value = "auto")]
    device: String,
    /// The `histo` binary (default: build one here in release, without CUDA).
    #[arg(long)]
    histo: Option<PathBuf>,
    /// Python with torch and torchvision (the PyTorch side is skipped, with a message, when it
    /// cannot import them).
    #[arg(long, default_value = "python3")]
    python: String,
    /// Output folder (default `results/gpu-check-<device>-<unix time>`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seconds for the whole check; what would overrun is cut or skipped.
    #[arg(long, default_value_t = 540)]
    budget: u64,
    /// Input size of the step benchmarks (default 256 on cuda, 64 on cpu).
    #[arg(long)]
    size: Option<usize>,
    /// ResNet-18 batch sizes (comma-separated; RSP uses half as many triplets, 3 images each).
    /// Default 64,128 on cuda, 8 on cpu.
    #[arg(long, value_delimiter = ',')]
    batches: Vec<usize>,
    /// Synthetic scale of the end-to-end run (`tiny`, `small`, or `none` to skip; default
    /// `small` on cuda, `tiny` on cpu).
    #[arg(long)]
    e2e: Option<String>,
}

/// Runs `cargo xtask gpu-check`.
pub fn run(a: Args) -> Result<()> {
    if a.prepare {
        return prepare();
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(a.budget);
    let root = root();
    let cuda = match a.device.as_str() {
        "cuda" => true,
        "cpu" => false,
        "auto" => gpu_present(),
        other => bail!("--device cuda|cpu|auto, got `{other}`"),
    };
    let dev = if cuda { "cuda" } else { "cpu" };
    let histo = match &a.histo {
        Some(h) => std::fs::canonicalize(h).with_context(|| format!("--histo {}", h.display()))?,
        None if cuda => bail!(
            "--device cuda needs --histo (a CUDA build: `cargo xtask gpu-check --prepare` on the \
             build machine makes dist/histo-cudnn-sm90 and dist/gpu-check.sh)"
        ),
        None => {
            crate::cargo(&["build", "--release", "-p", "histo-cli", "--bin", "histo"])?;
            root.join("target/release/histo")
        }
    };
    let out = match &a.out {
        Some(o) => o.clone(),
        None => root.join("results").join(format!(
            "gpu-check-{dev}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        )),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out = std::fs::canonicalize(&out)?;
    let size = a.size.unwrap_or(if cuda { 256 } else { 64 });
    let batches = if a.batches.is_empty() {
        if cuda { vec![64, 128] } else { vec![8] }
    } else {
        a.batches.clone()
    };
    let e2e = a
        .e2e
        .clone()
        .unwrap_or_else(|| if cuda { "small" } else { "tiny" }.into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let env = child_env(cuda, &a.python);
    let mut report = json!({
        "device": dev,
        "histo": histo.display().to_string(),
        "budget_s": a.budget,
        "size": size,
        "cores": cores,
    });
    eprintln!("==> gpu-check on {dev}, output in {}", out.display());

    // the build and the machine
    let info = run_child(
        Command::new(&histo).args(["--device", dev, "info", "--json"]),
        &env,
        60,
        false,
    )?;
    report["histo_info"] = serde_json::from_str(&info.stdout).unwrap_or(Value::Null);
    if !info.ok() {
        bail!(
            "`{} --device {dev} info` failed: {}",
            histo.display(),
            info.stderr_tail()
        );
    }
    if cuda {
        let smi = run_child(
            Command::new("nvidia-smi").args([
                "--query-gpu=name,driver_version,memory.total",
                "--format=csv,noheader",
            ]),
            &env,
            30,
            false,
        )?;
        report["gpu"] = json!(smi.stdout.trim());
    }
    let torch_probe = run_child(
        Command::new(&a.python).args([
            "-c",
            "import torch, torchvision; print(torch.__version__, torch.cuda.is_available())",
        ]),
        &env,
        120,
        false,
    )?;
    let torch_ok = torch_probe.ok() && (!cuda || torch_probe.stdout.contains("True"));
    report["torch"] = json!(if torch_ok {
        torch_probe.stdout.trim().to_string()
    } else {
        format!("unavailable: {}", torch_probe.stderr_tail())
    });
    if !torch_ok {
        eprintln!(
            "    PyTorch is not usable with `{}`: its side is skipped",
            a.python
        );
    }

    // (a) parity
    if cuda {
        eprintln!("==> parity: ResNet-18 forward + backward, CPU vs GPU");
        let r = run_child(
            Command::new(&histo).args(["--device", dev, "bench", "parity"]),
            &env,
            left(deadline).min(180),
            false,
        )?;
        report["parity"] = last_json(&r.stdout).unwrap_or_else(|| json!({"error": r.describe()}));
    } else {
        eprintln!("==> parity skipped: it compares the CPU with a GPU (--device cuda)");
        report["parity"] = json!("skipped: no GPU (--device cpu)");
    }

    // (b)–(d) training steps, ours and PyTorch's, alternating
    let script = root.join("crates/train/examples/bench_train_torch.py");
    let (steps, runs, warmup) = if cuda { (5, 3, 3) } else { (2, 3, 1) };
    let mut rows = Vec::new();
    let mut k = 0;
    // e2e keeps a share of the budget: steps stop when less than that is left
    let reserve = if e2e == "none" { 0 } else { a.budget / 3 };
    // batch size outermost: a run cut by the budget still has both networks at the first size
    'outer: for &b in &batches {
        for model in ["resnet18", "rsp"] {
            let batch = if model == "rsp" { (b / 2).max(2) } else { b };
            for precision in ["f32", "bf16"] {
                if left(deadline) <= reserve + 20 {
                    eprintln!("    budget spent: the remaining step benchmarks are skipped");
                    rows.push(json!({"skipped": "budget", "model": model, "batch": batch,
                        "precision": precision}));
                    break 'outer;
                }
                let common = [
                    "--model".to_string(),
                    model.into(),
                    "--size".into(),
                    size.to_string(),
                    "--batch".into(),
                    batch.to_string(),
                    "--steps".into(),
                    steps.to_string(),
                    "--runs".into(),
                    runs.to_string(),
                    "--warmup".into(),
                    warmup.to_string(),
                ];
                let mut ours = Command::new(&histo);
                ours.args(["--device", dev, "bench", "step", "--precision", precision])
                    .args(&common);
                let mut theirs = Command::new(&a.python);
                theirs
                    .arg(&script)
                    .args(&common)
                    .args(["--device", dev, "--precision", precision])
                    .args(["--threads", &cores.to_string()]);
                let mut order: Vec<(&str, &mut Command)> = vec![("histo", &mut ours)];
                if torch_ok {
                    order.push(("torch", &mut theirs));
                }
                if k % 2 == 1 {
                    order.reverse();
                }
                k += 1;
                let mut row = json!({"model": model, "batch": batch, "precision": precision});
                for (name, cmd) in order {
                    let limit = left(deadline).saturating_sub(reserve).clamp(10, 240);
                    eprintln!("==> {name}: {model} batch {batch} {precision} ({size}²)");
                    let r = run_child(cmd, &env, limit, cuda)?;
                    let mut v = last_json(&r.stdout)
                        .map(|v| v.get("summary").cloned().unwrap_or(v))
                        .unwrap_or_else(|| json!({"error": r.describe()}));
                    if let Some(m) = r.gpu_peak_mib {
                        v["gpu_peak_used_mib"] = json!(m);
                    }
                    row[name] = v;
                }
                if let (Some(h), Some(t)) = (
                    row["histo"]["images_per_s"].as_f64(),
                    row["torch"]["images_per_s"].as_f64(),
                ) {
                    row["ratio_histo_over_torch"] = json!(h / t);
                }
                rows.push(row);
            }
        }
    }
    report["steps"] = json!(rows);

    // (e) end to end
    if e2e == "none" {
        report["e2e"] = json!("skipped (--e2e none)");
    } else if left(deadline) < 30 {
        report["e2e"] = json!("skipped: budget spent");
    } else {
        // outside the output folder, which holds only the reports (a GPU session fetches it)
        let folder = root.join("results").join(format!(
            "gpu-check-e2e-{}",
            out.file_name()
                .map_or("run".into(), |n| n.to_string_lossy().into_owned())
        ));
        let exe = std::env::current_exe().context("locating this xtask binary")?;
        let mut cmd = Command::new(exe);
        cmd.current_dir(&root)
            .args(["reproduce", "--scale", &e2e, "--tasks", "kather"])
            .args(["--fractions", "0.25", "--device", dev, "--histo"])
            .arg(&histo)
            .arg("--out")
            .arg(&folder);
        let limit = left(deadline).saturating_sub(5);
        eprintln!(
            "==> end to end: reproduce --scale {e2e} --tasks kather --fractions 0.25 (≤ {limit} s)"
        );
        let r = run_child(&mut cmd, &env, limit, cuda)?;
        let mut v = json!({
            "scale": e2e,
            "command": format!("cargo xtask reproduce --scale {e2e} --tasks kather --fractions 0.25 --device {dev}"),
            "wall_s": r.wall_s,
            "completed": r.ok(),
            "timed_out": r.timed_out,
            "folder": folder.display().to_string(),
            "gpu_peak_used_mib": r.gpu_peak_mib,
        });
        if !r.ok() {
            v["stderr_tail"] = json!(r.stderr_tail());
        }
        if let Ok(text) = std::fs::read_to_string(folder.join("report.json"))
            && text.len() < 200_000
        {
            v["report"] = serde_json::from_str(&text).unwrap_or(Value::Null);
        }
        report["e2e"] = v;
    }
    report["total_s"] = json!(start.elapsed().as_secs_f64());
    let json_path = out.join("gpu-check.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")?;
    let md = summary(&report);
    std::fs::write(out.join("gpu-check.md"), &md)?;
    println!("{md}");
    eprintln!("==> wrote {} and gpu-check.md", json_path.display());
    Ok(())
}

/// Seconds left before the deadline.
fn left(deadline: Instant) -> u64 {
    deadline.saturating_duration_since(Instant::now()).as_secs()
}

fn gpu_present() -> bool {
    Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// Environment for the children: on a GPU machine, the CUDA libraries of the Python
/// environment's `nvidia-*` wheels (cuBLAS, cuRAND, cuDNN, cudart) on the loader path.
fn child_env(cuda: bool, python: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if cuda {
        let probe = Command::new(python)
            .args([
                "-c",
                "import nvidia, os\nprint(':'.join(p + '/cu13/lib:' + p + '/cudnn/lib' for p in nvidia.__path__))",
            ])
            .output();
        if let Ok(o) = probe
            && o.status.success()
        {
            let nv = String::from_utf8_lossy(&o.stdout).trim().to_string();
            let old = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
            env.push((
                "LD_LIBRARY_PATH".into(),
                format!(
                    "{nv}:/usr/local/cuda/lib64:/usr/local/nvidia/lib64:/usr/local/nvidia/lib:{old}"
                ),
            ));
        }
    }
    env
}

struct Child {
    status: Option<std::process::ExitStatus>,
    timed_out: bool,
    stdout: String,
    stderr: String,
    wall_s: f64,
    gpu_peak_mib: Option<f64>,
}

impl Child {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    fn stderr_tail(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }

    fn describe(&self) -> String {
        if self.timed_out {
            format!("timed out after {:.0} s", self.wall_s)
        } else {
            format!(
                "exit {:?}: {}",
                self.status.and_then(|s| s.code()),
                self.stderr_tail()
            )
        }
    }
}

/// GPU memory in use (MiB) on GPU 0, from `nvidia-smi`.
fn gpu_used_mib() -> Option<f64> {
    let o = Command::new("nvidia-smi")
        .args([
            "--query-gpu=memory.used",
            "--format=csv,noheader,nounits",
            "-i",
            "0",
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&o.stdout).trim().parse().ok()
}

/// Runs a child with a time limit (killed past it), capturing its output; with `poll_gpu`,
/// samples GPU memory every ~0.3 s and reports the peak above what was in use before.
fn run_child(
    cmd: &mut Command,
    env: &[(String, String)],
    limit_s: u64,
    poll_gpu: bool,
) -> Result<Child> {
    for (k, v) in env {
        cmd.env(k, v);
    }
    let base = if poll_gpu { gpu_used_mib() } else { None };
    let t = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let mut so = child.stdout.take().context("child stdout")?;
    let mut se = child.stderr.take().context("child stderr")?;
    let ho = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let he = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let mut peak: Option<f64> = None;
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if t.elapsed().as_secs() >= limit_s {
            let _ = child.kill();
            let _ = child.wait();
            timed_out = true;
            break None;
        }
        if poll_gpu && let (Some(b), Some(u)) = (base, gpu_used_mib()) {
            peak = Some(peak.unwrap_or(0f64).max(u - b));
        }
        std::thread::sleep(Duration::from_millis(if poll_gpu { 300 } else { 50 }));
    };
    Ok(Child {
        status,
        timed_out,
        stdout: ho.join().unwrap_or_default(),
        stderr: he.join().unwrap_or_default(),
        wall_s: t.elapsed().as_secs_f64(),
        gpu_peak_mib: peak,
    })
}

/// The last line of `text` that parses as a JSON object.
fn last_json(text: &str) -> Option<Value> {
    text.lines().rev().find_map(|l| {
        serde_json::from_str::<Value>(l.trim())
            .ok()
            .filter(Value::is_object)
    })
}

fn fmt(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".to_string(), |x| format!("{x:.digits$}"))
}

/// The readable summary (Markdown).
fn summary(r: &Value) -> String {
    let mut s = format!(
        "# gpu-check ({})\n\nhisto: `{}`  \nGPU: {}  \nPyTorch: {}  \ncores: {}, input {}², total {} s\n\n",
        r["device"].as_str().unwrap_or("?"),
        r["histo"].as_str().unwrap_or("?"),
        r["gpu"].as_str().unwrap_or("none"),
        r["torch"].as_str().unwrap_or("?"),
        r["cores"],
        r["size"],
        fmt(&r["total_s"], 0),
    );
    s += "## (a) CPU-vs-GPU parity (ResNet-18 forward + backward)\n\n";
    match &r["parity"] {
        Value::Object(p) => {
            for prec in ["f32", "bf16"] {
                if let Some(v) = p.get(prec) {
                    s += &format!(
                        "- {prec} on the GPU vs f32 on the CPU: logits max rel diff {}, worst gradient max rel diff {} ({})\n",
                        fmt(&v["logits_max_rel_diff"], 6),
                        fmt(&v["grad_max_rel_diff"], 6),
                        v["grad_worst_tensor"].as_str().unwrap_or("?")
                    );
                }
            }
            if let Some(e) = p.get("error") {
                s += &format!("- error: {e}\n");
            }
        }
        other => s += &format!("- {}\n", other.as_str().unwrap_or("?")),
    }
    s += "\n## (b)–(d) training step (forward, cross-entropy, backward, SGD-Nesterov)\n\n";
    s += "| model | batch | precision | histo img/s | torch img/s | histo / torch | histo GPU MiB | torch GPU MiB (nvidia-smi / allocated) | histo peak RSS MiB |\n";
    s += "|---|---|---|---|---|---|---|---|---|\n";
    for row in r["steps"].as_array().into_iter().flatten() {
        if row.get("skipped").is_some() {
            s += &format!(
                "| {} | {} | {} | skipped (budget) | | | | | |\n",
                row["model"].as_str().unwrap_or("?"),
                row["batch"],
                row["precision"].as_str().unwrap_or("?")
            );
            continue;
        }
        let cell = |side: &str| -> String {
            match row[side].get("error") {
                Some(e) => format!("error: {}", e.as_str().unwrap_or("?").replace('\n', " ")),
                None => fmt(&row[side]["images_per_s"], 1),
            }
        };
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} |\n",
            row["model"].as_str().unwrap_or("?"),
            row["batch"],
            row["precision"].as_str().unwrap_or("?"),
            cell("histo"),
            if row.get("torch").is_some() {
                cell("torch")
            } else {
                "–".into()
            },
            fmt(&row["ratio_histo_over_torch"], 2),
            fmt(&row["histo"]["gpu_peak_used_mib"], 0),
            fmt(&row["torch"]["gpu_peak_used_mib"], 0),
            fmt(&row["torch"]["gpu_peak_allocated_mib"], 0),
            fmt(&row["histo"]["peak_rss_mib"], 0),
        );
    }
    s += "\n## (e) end to end (RSP pretraining + Kather-style fine-tuning, synthetic data)\n\n";
    match &r["e2e"] {
        Value::Object(e) => {
            s += &format!(
                "- `{}`: {} in {} s{}\n",
                e["command"].as_str().unwrap_or("?"),
                if e["completed"].as_bool() == Some(true) {
                    "completed"
                } else if e["timed_out"].as_bool() == Some(true) {
                    "cut at the budget"
                } else {
                    "FAILED"
                },
                fmt(&e["wall_s"], 0),
                e.get("stderr_tail")
                    .and_then(Value::as_str)
                    .map(|t| format!("\n\n```\n{t}\n```"))
                    .unwrap_or_default()
            );
        }
        other => s += &format!("- {}\n", other.as_str().unwrap_or("?")),
    }
    s
}

/// `--prepare`: the CUDA build, this xtask binary and the runner script, in `dist/`.
fn prepare() -> Result<()> {
    let root = root();
    crate::cuda::build("cudnn")?;
    let dist = root.join("dist");
    let name = format!("histo-cudnn-sm{}", crate::cuda::COMPUTE_CAP);
    // only the xz travels (the working tree may carry 64 MiB in all)
    let _ = std::fs::remove_file(dist.join(&name));
    // a release xtask of its own (target/debug/xtask is shared with every `cargo xtask`)
    crate::cargo(&[
        "build",
        "--release",
        "-p",
        "xtask",
        "--target-dir",
        "target/cuda",
    ])?;
    let exe = root.join("target/cuda/release/xtask");
    let xt = dist.join("xtask");
    std::fs::copy(&exe, &xt).with_context(|| format!("copying {}", exe.display()))?;
    let _ = Command::new("strip").arg(&xt).status();
    let script = format!(
        r#"#!/usr/bin/env bash
# cargo xtask gpu-check on a GPU machine without a Rust toolchain (written by
# `cargo xtask gpu-check --prepare`). Run from the repository root: bash dist/gpu-check.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${{1:-${{OUT:-results/gpu-check}}}}"
mkdir -p "$out"
if [ ! -x dist/{name} ]; then
  xz -dkf dist/{name}.xz 2>/dev/null || python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' dist/{name}.xz dist/{name}
  chmod +x dist/{name}
fi
NV=$(python3 -c 'import nvidia; print(":".join(p + "/cu13/lib:" + p + "/cudnn/lib" for p in nvidia.__path__))')
export LD_LIBRARY_PATH="$NV:/usr/local/cuda/lib64:/usr/local/nvidia/lib64:/usr/local/nvidia/lib:${{LD_LIBRARY_PATH:-}}"
if ldd dist/{name} | grep 'not found'; then echo "missing CUDA libraries (above)"; exit 1; fi
nvidia-smi -L
dist/xtask gpu-check --device cuda --histo dist/{name} --python python3 --out "$out" "${{@:2}}" 2>&1 | tee "$out/gpu-check.log"
"#
    );
    let sh = dist.join("gpu-check.sh");
    std::fs::write(&sh, script)?;
    let mut size = 0;
    for f in [format!("{name}.xz"), "xtask".into(), "gpu-check.sh".into()] {
        size += std::fs::metadata(dist.join(&f)).map_or(0, |m| m.len());
    }
    println!(
        "dist/ is ready ({:.1} MiB to carry). On the GPU machine (device tool `run`):\n  \
         command: bash dist/gpu-check.sh $OUT\n  \
         carry:   [\"dist/{name}.xz\", \"dist/xtask\", \"dist/gpu-check.sh\"]\n  \
         timeout_s: 600 (the check keeps to --budget 540 s)",
        size as f64 / 1048576.0
    );
    Ok(())
}
