//! `histo dataset info`: what a dataset folder holds (counts per class and split, image sizes,
//! score range) and what is wrong with it (unreadable files, unknown folders, missing
//! annotations).

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use histo_datasets::info::{Kind, inspect};

use crate::Context;

/// Options of `histo dataset`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: DatasetCommand,
}

#[derive(Subcommand, Debug)]
enum DatasetCommand {
    /// Summarise a dataset in its native layout and list the problems found.
    Info(InfoArgs),
}

/// The layouts `histo dataset info` reads.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum KindArg {
    /// Class folders ADI … TUM (a root holding them, or holding train/ and test/).
    Kather,
    /// The challenge release (train/ + train_labels.csv, …) and/or the original's .h5 files.
    Breastpathq,
    /// PATCHES_{TUMOR,NORMAL}_{TRAIN,VALID} folders (list.txt + PNGs), annotations, slides.
    Camelyon16,
    /// An RSP tile store written by `histo tile rsp` (manifest.json + shards).
    TileStore,
}

impl From<KindArg> for Kind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Kather => Kind::Kather,
            KindArg::Breastpathq => Kind::Breastpathq,
            KindArg::Camelyon16 => Kind::Camelyon16,
            KindArg::TileStore => Kind::TileStore,
        }
    }
}

#[derive(ClapArgs, Debug)]
struct InfoArgs {
    /// Dataset layout.
    #[arg(long, value_enum)]
    kind: KindArg,
    /// The dataset's root folder.
    #[arg(long)]
    root: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `histo dataset …`.
pub fn run(args: Args, _ctx: &Context) -> Result<()> {
    match args.command {
        DatasetCommand::Info(a) => {
            let report = inspect(a.kind.into(), &a.root)
                .with_context(|| format!("cannot read the dataset at {}", a.root.display()))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(())
        }
    }
}
