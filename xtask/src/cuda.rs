//! `cargo xtask cuda-toolchain` and `cargo xtask build-cuda`: build histo with candle's CUDA /
//! cuDNN kernels on a machine without a GPU or a system CUDA toolkit.
//!
//! The recipe (measured in `../shared/reference/cuda-build.md`): the CUDA 13.0 compiler comes
//! from PyPI wheels (nvcc must stay at 13.0.x for the GPU machines' driver 580); the libraries
//! that are only needed at link time (libcuda, cublas, cublasLt, curand, nvrtc, cudnn) are
//! generated as stubs exporting the symbol names of cudarc's own bindings, with the right
//! SONAMEs, so the binary's NEEDED list is the real one; at run time the GPU machine's driver and
//! its PyTorch venv's nvidia-* libraries are used.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::root;

/// The pinned wheels: nvcc + cicc/libdevice + crt headers + cudart + cccl, all CUDA 13.0.
const WHEELS: &[&str] = &[
    "nvidia-cuda-nvcc==13.0.88",
    "nvidia-nvvm==13.0.88",
    "nvidia-cuda-crt==13.0.88",
    "nvidia-cuda-runtime==13.0.96",
    "nvidia-cuda-cccl==13.0.85",
];

/// cudarc version whose bindings name the stub symbols (the one candle 0.11.1 resolves to).
const CUDARC: &str = "cudarc-0.19.10";

/// Stub libraries: (name, SONAME, bindings file inside cudarc's `src/`).
const STUBS: &[(&str, &str, &str)] = &[
    ("cuda", "libcuda.so.1", "driver/sys/mod.rs"),
    ("cublas", "libcublas.so.13", "cublas/sys/mod.rs"),
    ("cublasLt", "libcublasLt.so.13", "cublaslt/sys/mod.rs"),
    ("curand", "libcurand.so.10", "curand/sys/mod.rs"),
    ("nvrtc", "libnvrtc.so.13", "nvrtc/sys/mod.rs"),
    ("cudnn", "libcudnn.so.9", "cudnn/sys/mod.rs"),
];

/// Compute capability to compile for: 90 → sm_90a (H100 / H200).
pub const COMPUTE_CAP: &str = "90";

/// The toolchain folder (git-ignored).
pub fn toolchain_dir() -> PathBuf {
    root().join(".cuda-toolchain")
}

/// The toolkit root inside the toolchain folder (`nvidia/cu13`).
fn toolkit_root() -> PathBuf {
    toolchain_dir().join("tc/nvidia/cu13")
}

/// Environment variables a CUDA build needs.
pub fn build_env() -> Vec<(String, String)> {
    let tk = toolkit_root();
    let path = format!(
        "{}:{}",
        tk.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    vec![
        ("CUDA_HOME".into(), tk.display().to_string()),
        ("CUDA_COMPUTE_CAP".into(), COMPUTE_CAP.into()),
        ("PATH".into(), path),
    ]
}

/// Fetches the wheels, unpacks them, generates the stubs; idempotent (a `READY` file records
/// the pinned versions). Prints the environment to export.
pub fn toolchain() -> Result<()> {
    let dir = toolchain_dir();
    let ready = dir.join("READY");
    let stamp = format!("{}\n{CUDARC}\n", WHEELS.join("\n"));
    if fs::read_to_string(&ready).ok().as_deref() == Some(stamp.as_str()) {
        eprintln!("==> CUDA toolchain already in {}", dir.display());
    } else {
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .with_context(|| format!("removing stale {}", dir.display()))?;
        }
        let wheels = dir.join("wheels");
        fs::create_dir_all(&wheels)?;
        run(Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "-d"])
            .arg(&wheels)
            .args(WHEELS))
        .context("downloading the CUDA 13.0 wheels from PyPI (needs python3 with pip)")?;
        unpack_wheels(&wheels, &dir.join("tc"))?;
        let lib = toolkit_root().join("lib");
        let cudart = lib.join("libcudart.so");
        if !cudart.exists() {
            std::os::unix::fs::symlink("libcudart.so.13", &cudart)
                .with_context(|| format!("linking {}", cudart.display()))?;
        }
        make_stubs(&lib.join("stubs"), &dir.join("stub-src"))?;
        fs::write(&ready, stamp)?;
    }
    let env: String = build_env()
        .iter()
        .map(|(k, v)| format!("export {k}=\"{v}\"\n"))
        .collect();
    fs::write(dir.join("env.sh"), &env)?;
    println!(
        "# CUDA build environment (also in {}):",
        dir.join("env.sh").display()
    );
    print!("{env}");
    Ok(())
}

/// Unzips the `nvidia/` tree of every wheel, keeping the executable bits (nvcc, ptxas, cicc…).
fn unpack_wheels(wheels: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest)?;
    let script = r#"
import os, sys, zipfile
dest = sys.argv[1]
for w in sys.argv[2:]:
    with zipfile.ZipFile(w) as z:
        for info in z.infolist():
            if not info.filename.startswith("nvidia/"):
                continue
            path = z.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(path, mode)
"#;
    let mut list: Vec<PathBuf> = fs::read_dir(wheels)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    list.sort();
    if list.len() != WHEELS.len() {
        bail!(
            "expected {} wheels in {}, found {}",
            WHEELS.len(),
            wheels.display(),
            list.len()
        );
    }
    run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dest)
        .args(&list))
    .context("unpacking the wheels")?;
    let nvcc = toolkit_root().join("bin/nvcc");
    if !nvcc.exists() {
        bail!("{} missing after unpacking the wheels", nvcc.display());
    }
    Ok(())
}

/// Finds cudarc's sources in the cargo registry (fetching them if needed).
fn cudarc_src() -> Result<PathBuf> {
    let find = || -> Option<PathBuf> {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
        fs::read_dir(home.join("registry/src"))
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join(CUDARC).join("src"))
            .find(|p| p.is_dir())
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo).arg("fetch").current_dir(root())).context("cargo fetch")?;
    find().with_context(|| {
        format!("{CUDARC} sources not found in the cargo registry after `cargo fetch`")
    })
}

/// Generates one link stub per library: every `fn name(` of cudarc's bindings as an empty C
/// function, compiled with the library's SONAME.
fn make_stubs(out: &Path, src_dir: &Path) -> Result<()> {
    let cudarc = cudarc_src()?;
    fs::create_dir_all(out)?;
    fs::create_dir_all(src_dir)?;
    for &(name, soname, bindings) in STUBS {
        let file = cudarc.join(bindings);
        let text =
            fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let mut names: Vec<&str> = text
            .lines()
            .filter_map(|l| {
                l.trim_start()
                    .strip_prefix("pub fn ")
                    .or(l.trim_start().strip_prefix("fn "))
            })
            .filter_map(|rest| rest.split_once('(').map(|(n, _)| n))
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        names.sort_unstable();
        names.dedup();
        if names.is_empty() {
            bail!("no function names found in {}", file.display());
        }
        let c: String = names
            .iter()
            .map(|n| format!("void {n}(void){{}}\n"))
            .collect();
        let c_file = src_dir.join(format!("{name}.c"));
        fs::write(&c_file, c)?;
        let so = out.join(format!("lib{name}.so"));
        run(Command::new("gcc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&so)
            .arg(format!("-Wl,-soname,{soname}"))
            .arg(&c_file))
        .with_context(|| format!("compiling the {name} stub"))?;
        eprintln!("    stub lib{name}.so ({soname}, {} symbols)", names.len());
    }
    Ok(())
}

/// Builds `histo` with `--features cudnn` for sm_90a in its own target folder and packs the
/// stripped binary with xz into `dist/`, ready to carry to a GPU machine.
pub fn build(features: &str) -> Result<()> {
    toolchain()?;
    let target = root().join("target/cuda");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "-p",
        "histo-cli",
        "--features",
        features,
    ])
    .arg("--target-dir")
    .arg(&target)
    .current_dir(root());
    for (k, v) in build_env() {
        cmd.env(k, v);
    }
    let start = std::time::Instant::now();
    run(&mut cmd).with_context(|| format!("building histo with --features {features}"))?;
    eprintln!("    built in {:.0} s", start.elapsed().as_secs_f64());
    let dist = root().join("dist");
    fs::create_dir_all(&dist)?;
    let bin = dist.join(format!("histo-{features}-sm{COMPUTE_CAP}"));
    fs::copy(target.join("release/histo"), &bin)?;
    run(Command::new("strip").arg(&bin)).context("strip")?;
    let _ = fs::remove_file(bin.with_extension("xz"));
    run(Command::new("xz").args(["-6", "-k", "-f"]).arg(&bin)).context("xz")?;
    println!("{}.xz", bin.display());
    Ok(())
}

/// The CUDA compile check of `cargo xtask ci`, so that the GPU path cannot rot unnoticed. Runs
/// when `HISTO_CUDA_CI=1`, or when `HISTO_CI=1` (set by `.ci/run`) unless `HISTO_CUDA_CI=0`:
/// fetches the toolchain (`cuda-toolchain`), then type-checks `histo` with `--features cudnn`
/// (which implies `cuda`).
pub fn ci_step() -> Result<()> {
    let var = |k: &str| std::env::var(k).ok();
    let run_it = match var("HISTO_CUDA_CI").as_deref() {
        Some("1") => true,
        Some("0") => false,
        _ => var("HISTO_CI").as_deref() == Some("1"),
    };
    if !run_it {
        eprintln!(
            "==> skipping the CUDA compile check (HISTO_CUDA_CI=1 runs it: a few minutes on 2 \
             cores, fetches ≈ 105 MB of CUDA 13.0 wheels with pip)"
        );
        return Ok(());
    }
    toolchain()?;
    // `check`, not `build`: nvcc still compiles candle-kernels' PTX (its build script runs
    // either way) and every crate is type-checked with `cuda`/`cudnn` on, but no code is
    // generated or linked, and the CPU build's dependency metadata in `target/` is reused.
    // `cargo xtask build-cuda` does the full release build and link against the stubs.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["check", "-p", "histo-cli", "--features", "cudnn"])
        .current_dir(root());
    for (k, v) in build_env() {
        cmd.env(k, v);
    }
    eprintln!("==> cargo check -p histo-cli --features cudnn (CUDA 13.0, sm_90a)");
    let start = std::time::Instant::now();
    run(&mut cmd)
        .context("the CUDA compile check (`cargo check -p histo-cli --features cudnn`)")?;
    eprintln!("    ({:.1} s)", start.elapsed().as_secs_f64());
    Ok(())
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", cmd.get_program());
    }
    Ok(())
}
