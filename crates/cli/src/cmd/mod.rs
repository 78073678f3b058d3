//! One module per subcommand (stage). Each exposes `Args` and `run(args, &Context)`.

pub mod info;
