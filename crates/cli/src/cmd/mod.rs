//! One module per subcommand (stage). Each exposes `Args` and `run(args, &Context)`.

pub mod augment;
pub mod convert_checkpoint;
pub mod dataset;
pub mod evaluate;
pub mod info;
pub mod slide;
pub mod synth;
pub mod tile;
