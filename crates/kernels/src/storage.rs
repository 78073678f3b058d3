//! Access to the CPU buffers behind candle tensors and storages.

use crate::cpu::Elem;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Result, Storage, Tensor, bail};

/// The contiguous buffer of a custom-op input (the public functions make inputs contiguous).
pub(crate) fn slice<'a, T: Elem>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [T]> {
    let Some(data) = T::slice(s) else {
        bail!(
            "{what}: expected {:?} data, got {:?}",
            dtype_of::<T>(),
            s.dtype()
        )
    };
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!(
            "{what}: expected a contiguous tensor, got strides {:?}",
            l.stride()
        ),
    }
}

fn dtype_of<T: Elem>() -> candle_core::DType {
    T::into_storage(Vec::new()).dtype()
}

/// The buffer of a contiguous CPU tensor's storage (from `Tensor::storage_and_layout`).
pub(crate) fn cpu_slice<'a, T: Elem>(s: &'a Storage, l: &Layout, what: &str) -> Result<&'a [T]> {
    match s {
        Storage::Cpu(s) => slice(s, l, what),
        _ => bail!("{what}: expected a CPU tensor"),
    }
}

/// A copy of the values of a CPU tensor.
pub(crate) fn to_vec<T: Elem>(t: &Tensor, what: &str) -> Result<Vec<T>> {
    let t = t.contiguous()?;
    let (s, l) = t.storage_and_layout();
    Ok(cpu_slice::<T>(&s, l, what)?.to_vec())
}

/// Whether the custom CPU kernels handle tensors of this dtype on this device.
pub(crate) fn fast_path(t: &Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
}
