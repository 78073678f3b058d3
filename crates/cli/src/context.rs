//! What every subcommand receives: the global options, and logging set-up.

use anyhow::{Context as _, Result};
use histo_tensor::{Device, DeviceSpec};
use tracing_subscriber::EnvFilter;

/// The global options, resolved.
#[derive(Clone, Debug)]
pub struct Context {
    /// The device the user asked for (opened lazily by [`Context::device`]).
    pub device: DeviceSpec,
    /// The global seed.
    pub seed: u64,
}

impl Context {
    /// Fails at once when the device request can never work in this build (e.g. CUDA on a
    /// CPU-only build), before any work is done.
    pub fn check(&self) -> Result<()> {
        self.device.check_compiled()?;
        Ok(())
    }

    /// Opens the requested device. Subcommands that compute call this once.
    #[allow(dead_code)] // used by the training subcommands as they land
    pub fn device(&self) -> Result<Device> {
        self.device
            .resolve()
            .with_context(|| format!("opening device `{}`", self.device))
    }
}

/// Logs to stderr with the given filter (`info`, `debug`, or full tracing directives).
pub fn init_logging(filter: &str) -> Result<()> {
    let filter =
        EnvFilter::try_new(filter).with_context(|| format!("invalid --log-level `{filter}`"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    Ok(())
}
