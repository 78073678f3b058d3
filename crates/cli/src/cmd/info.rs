//! `histo info`: what this build can do on this machine, for bug reports and set-up checks.

use anyhow::Result;
use clap::Args as ClapArgs;
use serde::Serialize;

use crate::Context;

/// Options of `histo info`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Info {
    version: &'static str,
    cuda_compiled: bool,
    requested_device: String,
    device: String,
    threads: usize,
    seed: u64,
    target: &'static str,
    cpu_features: Vec<&'static str>,
}

fn cpu_features() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut f = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        for (name, on) in [
            ("avx", std::arch::is_x86_feature_detected!("avx")),
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
        ] {
            if on {
                f.push(name);
            }
        }
    }
    #[cfg(target_arch = "aarch64")]
    f.push("neon");
    f
}

/// Runs `histo info`.
pub fn run(args: Args, ctx: &Context) -> Result<()> {
    let device = ctx.device()?;
    let info = Info {
        version: env!("CARGO_PKG_VERSION"),
        cuda_compiled: histo_tensor::cuda_compiled(),
        requested_device: ctx.device.to_string(),
        device: format!("{:?}", device.location()),
        threads: rayon::current_num_threads(),
        seed: ctx.seed,
        target: std::env::consts::ARCH,
        cpu_features: cpu_features(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        println!("histo {}", info.version);
        println!("  CUDA compiled in : {}", info.cuda_compiled);
        println!(
            "  device           : {} (requested {})",
            info.device, info.requested_device
        );
        println!(
            "  CPU threads      : {} (set RAYON_NUM_THREADS to change)",
            info.threads
        );
        println!(
            "  CPU              : {} [{}]",
            info.target,
            info.cpu_features.join(" ")
        );
        println!("  seed             : {}", info.seed);
    }
    Ok(())
}
