//! RSP pretraining without the CLI, for experiments with configurations:
//!
//! ```sh
//! cargo run --release -p histo-ssl --example rsp -- STORE OUT PRESET_OR_TOML [SEED] [--resume]
//! ```
//! Prints the summary as JSON.

use histo_ssl::{PretrainConfig, PretrainOptions, pretrain};
use histo_tensor::Device;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: rsp STORE OUT PRESET_OR_TOML [SEED] [--resume]";
    let (store, out, preset) = match args.as_slice() {
        [s, o, p, ..] => (s.clone(), o.clone(), p.clone()),
        _ => return Err(usage.into()),
    };
    let mut config = PretrainConfig::preset(&preset)?;
    if let Some(seed) = args.get(3).filter(|a| !a.starts_with("--")) {
        config.seed = seed.parse()?;
    }
    let opts = PretrainOptions {
        store: store.into(),
        out: out.into(),
        resume: args.iter().any(|a| a == "--resume"),
        progress: false,
    };
    let s = pretrain(&config, &opts, &Device::Cpu)?;
    println!("{}", serde_json::to_string_pretty(&s)?);
    Ok(())
}
