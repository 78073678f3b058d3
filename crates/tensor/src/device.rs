//! Choosing the compute device: `auto`, `cpu`, `cuda` or `cuda:N`.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A device request as users write it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// The first CUDA GPU when this build has CUDA support and one is present, else the CPU.
    #[default]
    Auto,
    /// The CPU (all cores, through rayon and gemm).
    Cpu,
    /// CUDA GPU number N (`cuda` means `cuda:0`).
    Cuda(usize),
}

/// `true` when this build was compiled with candle's CUDA kernels (the `cuda` feature).
pub fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

impl DeviceSpec {
    /// Fails early, without touching any GPU, when the request can never be satisfied by this
    /// build (CUDA asked for, CUDA not compiled in).
    pub fn check_compiled(&self) -> Result<()> {
        match self {
            DeviceSpec::Cuda(_) if !cuda_compiled() => Err(Error::Device(format!(
                "device `{self}` was requested, but this histo build has no CUDA support: \
                 rebuild with `--features cuda` (see `cargo xtask build-cuda`) or use `--device cpu`"
            ))),
            _ => Ok(()),
        }
    }

    /// Opens the device.
    pub fn resolve(&self) -> Result<Device> {
        self.check_compiled()?;
        match *self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(i) => Device::new_cuda(i)
                .map_err(|e| Error::Device(format!("cannot open CUDA device {i}: {e}"))),
            DeviceSpec::Auto => {
                if !cuda_compiled() {
                    tracing::info!("device auto: this build has no CUDA support, using the CPU");
                    return Ok(Device::Cpu);
                }
                match Device::new_cuda(0) {
                    Ok(d) => {
                        tracing::info!("device auto: using CUDA device 0");
                        Ok(d)
                    }
                    Err(e) => {
                        tracing::info!("device auto: no usable CUDA device ({e}), using the CPU");
                        Ok(Device::Cpu)
                    }
                }
            }
        }
    }
}

/// Parses a device string (`auto`, `cpu`, `cuda`, `cuda:N`) and opens the device.
///
/// On a build without the `cuda` feature, asking for CUDA is an error that says how to get it;
/// `auto` falls back to the CPU with an info log.
pub fn select_device(spec: &str) -> Result<Device> {
    spec.parse::<DeviceSpec>()?.resolve()
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            _ => t
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| {
                    Error::Device(format!(
                        "unknown device `{s}`: expected `auto`, `cpu`, `cuda` or `cuda:N`"
                    ))
                }),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!("auto".parse::<DeviceSpec>().unwrap(), DeviceSpec::Auto);
        assert_eq!("CPU".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        for bad in ["", "cuda:", "cuda:x", "tpu", "cuda:-1"] {
            let e = bad.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(e.contains("expected `auto`"), "{bad}: {e}");
        }
        assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
    }

    #[test]
    fn cpu_and_auto_work_everywhere() {
        assert!(select_device("cpu").unwrap().is_cpu());
        let auto = select_device("auto").unwrap();
        if !cuda_compiled() {
            assert!(auto.is_cpu());
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_on_a_cpu_build_says_how_to_get_it() {
        let e = select_device("cuda:1").unwrap_err().to_string();
        assert!(e.contains("cuda:1") && e.contains("--features cuda"), "{e}");
    }
}
