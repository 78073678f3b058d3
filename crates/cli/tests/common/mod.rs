//! Helpers shared by the CLI tests: run the `histo` binary in a clean environment.
#![allow(dead_code)] // each test crate uses its own subset

use std::process::{Command, Output};

/// `histo` with the `HISTO_*` environment variables that change its behaviour removed.
pub fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_histo"));
    c.env_remove("HISTO_DEVICE")
        .env_remove("HISTO_LOG")
        .env_remove("HISTO_SEED");
    c
}

/// Runs `histo ARGS`.
pub fn histo(args: &[&str]) -> Output {
    command()
        .args(args)
        .output()
        .expect("the histo binary runs")
}

/// Runs `histo ARGS` with `HISTO_LOG` set to `level`.
pub fn histo_log(args: &[&str], level: &str) -> Output {
    command()
        .args(args)
        .env("HISTO_LOG", level)
        .output()
        .expect("the histo binary runs")
}

/// Standard output then standard error, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
