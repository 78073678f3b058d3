//! The CI step for histo-wsi's optional OpenSlide backend.
//!
//! With `HISTO_CI=1` (set by `.ci/run`, which installs `libopenslide-dev libclang-dev
//! pkg-config`) the step is mandatory; elsewhere it runs only when `pkg-config --exists
//! openslide` succeeds and is skipped with a message otherwise.

use std::process::Command;

use anyhow::{Result, bail};

use crate::cargo;

/// Runs histo-wsi's, the CLI's slide and histo-synth's OpenSlide tests with `--features openslide`.
pub fn ci_step() -> Result<()> {
    let mandatory = std::env::var("HISTO_CI").is_ok_and(|v| v == "1");
    let present = Command::new("pkg-config")
        .args(["--exists", "openslide"])
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        if mandatory {
            bail!(
                "HISTO_CI=1 but `pkg-config --exists openslide` fails: install libopenslide-dev \
                 libclang-dev pkg-config (see .ci/run)"
            );
        }
        eprintln!(
            "==> skipping the OpenSlide backend tests: the OpenSlide library is not installed \
             (apt-get install libopenslide-dev libclang-dev pkg-config)"
        );
        return Ok(());
    }
    cargo(&["test", "-p", "histo-wsi", "--features", "openslide"])?;
    cargo(&[
        "test",
        "-p",
        "histo-cli",
        "--features",
        "openslide",
        "--test",
        "wsi",
    ])?;
    // The synthetic slides must open in OpenSlide too (as `aperio`, with the same pixels).
    cargo(&[
        "test",
        "-p",
        "histo-synth",
        "--features",
        "openslide",
        "--test",
        "openslide",
    ])
}
