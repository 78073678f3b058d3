//! `histo convert-checkpoint`: the original scripts' PyTorch checkpoints (`.pt`/`.pth`) to
//! histo's safetensors checkpoints.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args as ClapArgs;
use histo_models::pytorch;

use crate::Context;

/// Options of `histo convert-checkpoint`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The PyTorch checkpoint saved by the original scripts (`.pt` / `.pth`).
    #[arg(long, value_name = "ORIGINAL.pt")]
    from: PathBuf,

    /// Where to write the histo checkpoint (`.safetensors`); not needed with `--list`.
    #[arg(long, value_name = "OUT.safetensors", required_unless_present = "list")]
    to: Option<PathBuf>,

    /// Which state dict to convert: model, classifier, model_student, classifier_student,
    /// model_teacher, classifier_teacher, state_dict. Repeat for several; default: all present.
    /// Each is stored under `PART.` in the output; DataParallel's `module.` prefix is removed
    /// where present.
    #[arg(long, value_name = "PART")]
    part: Vec<String>,

    /// Only list the state dicts the file holds.
    #[arg(long)]
    list: bool,
}

/// Runs `histo convert-checkpoint`.
pub fn run(args: Args, _ctx: &Context) -> Result<()> {
    if args.list {
        let parts = pytorch::available_parts(&args.from)?;
        if parts.is_empty() {
            let n = pytorch::read_part(&args.from, None)?.len();
            println!(
                "{}: a bare state dict with {n} tensors",
                args.from.display()
            );
        }
        for p in parts {
            let n = pytorch::read_part(&args.from, Some(&p))?.len();
            println!("{p}\t{n} tensors");
        }
        return Ok(());
    }
    let Some(to) = args.to else {
        bail!("--to is required unless --list is given");
    };
    // the library's errors already name the file
    let ck = pytorch::convert(&args.from, &args.part)?;
    ck.save(&to)?;
    println!(
        "wrote {} ({} tensors; parts: {})",
        to.display(),
        ck.tensors.len(),
        ck.part_names().join(", ")
    );
    if let Some(t) = ck.meta.triplet {
        println!(
            "  TripletNet: ResNet-{} width {}, pair head {} -> {}{}",
            t.trunk.depth,
            t.trunk.width,
            t.head_hidden,
            t.head_out,
            ck.meta
                .classes
                .map(|c| format!(", classifier outputs {c}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
