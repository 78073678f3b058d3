//! One module per subcommand (stage). Each exposes `Args` and `run(args, &Context)`.

pub mod augment;
pub mod bench;
pub mod consistency;
pub mod convert_checkpoint;
pub mod dataset;
pub mod evaluate;
pub mod evaluate_slides;
pub mod finetune;
pub mod info;
pub mod predict;
pub mod predict_slide;
pub mod pretrain;
pub mod probe;
pub mod slide;
pub mod synth;
pub mod tile;
pub mod train_args;
