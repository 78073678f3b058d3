//! Plain-slice CPU kernels behind the candle ops. Everything here works on contiguous
//! row-major buffers and is generic over `f32`/`f64` through [`Elem`].

pub(crate) mod batch_norm;
pub(crate) mod conv;
pub(crate) mod elementwise;
pub(crate) mod gemm;
pub(crate) mod pool;

use candle_core::CpuStorage;
use std::cell::RefCell;
use std::ops::{Add, AddAssign, Mul, Sub};

thread_local! {
    static SCRATCH_F32: [RefCell<Vec<f32>>; 2] = const { [RefCell::new(Vec::new()), RefCell::new(Vec::new())] };
    static SCRATCH_F64: [RefCell<Vec<f64>>; 2] = const { [RefCell::new(Vec::new()), RefCell::new(Vec::new())] };
}

/// Runs `f` on a scratch buffer of `len` elements from this thread's `slot`, reused across calls
/// (so large temporaries are neither reallocated nor zeroed each time). The contents are
/// whatever the last user left: callers overwrite before reading. A slot that is already in use
/// (re-entrant call) gets a fresh buffer instead.
fn scratch<T: Copy + Default, R>(
    key: &'static std::thread::LocalKey<[RefCell<Vec<T>>; 2]>,
    slot: usize,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    let mut f = Some(f);
    let out = key.with(|slots| {
        let Ok(mut buf) = slots[slot].try_borrow_mut() else {
            return None;
        };
        if buf.len() < len {
            buf.resize(len, T::default());
        }
        f.take().map(|f| f(&mut buf[..len]))
    });
    match (out, f) {
        (Some(r), _) => r,
        (None, Some(f)) => f(&mut vec![T::default(); len]),
        (None, None) => unreachable!("the closure runs exactly once"),
    }
}

/// The float types the CPU kernels support.
pub(crate) trait Elem:
    Copy
    + Send
    + Sync
    + PartialOrd
    + Add<Output = Self>
    + AddAssign
    + Sub<Output = Self>
    + Mul<Output = Self>
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn is_nan(self) -> bool;
    /// The buffer inside a storage of this type, if it is one.
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    fn into_storage(v: Vec<Self>) -> CpuStorage;
    /// See [`scratch`].
    fn with_scratch<R>(slot: usize, len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
}

impl Elem for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn slice(s: &CpuStorage) -> Option<&[Self]> {
        match s {
            CpuStorage::F32(v) => Some(v),
            _ => None,
        }
    }
    fn into_storage(v: Vec<Self>) -> CpuStorage {
        CpuStorage::F32(v)
    }
    fn with_scratch<R>(slot: usize, len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
        scratch(&SCRATCH_F32, slot, len, f)
    }
}

impl Elem for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn slice(s: &CpuStorage) -> Option<&[Self]> {
        match s {
            CpuStorage::F64(v) => Some(v),
            _ => None,
        }
    }
    fn into_storage(v: Vec<Self>) -> CpuStorage {
        CpuStorage::F64(v)
    }
    fn with_scratch<R>(slot: usize, len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
        scratch(&SCRATCH_F64, slot, len, f)
    }
}
