//! A checked wrapper over the `gemm` crate (the GEMM candle itself uses on CPU).

use super::Elem;
use rayon::prelude::*;

/// A strided matrix view over a slice: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A row-major `rows × cols` matrix whose rows are `rs` apart.
    pub fn rows(data: &'a [T], rows: usize, cols: usize, rs: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs,
            cs: 1,
        }
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    fn max_index(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.rs + (self.cols - 1) * self.cs
        }
    }
}

/// `dst = lhs · rhs` (or `dst += lhs · rhs` when `accumulate`), where `dst` is row-major
/// `lhs.rows × rhs.cols` with rows `dst_rs` apart.
///
/// Runs on the current rayon pool with as many threads as it has. `gemm` splits the work over
/// output blocks only, so every output element sums its products in the same order whatever
/// the thread count: results are bit-identical with 1 or N threads.
pub(crate) fn matmul<T: Elem>(
    dst: &mut [T],
    dst_rs: usize,
    accumulate: bool,
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(k, rhs.rows, "gemm: inner dimensions differ");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                dst[i * dst_rs..i * dst_rs + n].fill(T::ZERO);
            }
        }
        return;
    }
    // The raw-pointer call below is only sound if every index it touches is inside its slice.
    assert!(lhs.max_index() < lhs.data.len(), "gemm: lhs out of bounds");
    assert!(rhs.max_index() < rhs.data.len(), "gemm: rhs out of bounds");
    assert!(
        (m - 1) * dst_rs + n - 1 < dst.len(),
        "gemm: dst out of bounds"
    );
    assert!(dst_rs >= n, "gemm: dst rows overlap");
    let threads = rayon::current_num_threads();
    if m < SMALL_M && n >= 2 * MIN_BLOCK {
        // gemm threads poorly over few rows: split the columns into fixed blocks run as
        // single-threaded GEMMs. The blocks depend on the shape only (taken with any thread
        // count), so every element is computed the same way whatever the pool size.
        let blocks = n.div_ceil(COL_BLOCK);
        let width = n.div_ceil(blocks).next_multiple_of(16);
        let dst_addr = dst.as_mut_ptr() as usize;
        (0..n.div_ceil(width)).into_par_iter().for_each(|b| {
            let (j0, nn) = (b * width, width.min(n - b * width));
            let rhs_block = Mat {
                data: &rhs.data[j0 * rhs.cs..],
                cols: nn,
                ..rhs
            };
            // SAFETY: every block writes the disjoint column range j0..j0+nn of `dst`, whose
            // bounds were checked above for the whole matrix.
            unsafe {
                raw_gemm(
                    (dst_addr as *mut T).add(j0),
                    dst_rs,
                    accumulate,
                    lhs,
                    rhs_block,
                    gemm::Parallelism::None,
                )
            };
        });
        return;
    }
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: bounds checked above; `dst` is borrowed mutably and does not alias the inputs.
    unsafe { raw_gemm(dst.as_mut_ptr(), dst_rs, accumulate, lhs, rhs, parallelism) }
}

/// Row counts below this use column blocks instead of gemm's own threading.
const SMALL_M: usize = 128;
/// Target width of a column block.
const COL_BLOCK: usize = 512;
/// Narrowest matrix worth splitting.
const MIN_BLOCK: usize = 128;

/// # Safety
/// `dst` must be valid for writes of `lhs.rows × rhs.cols` elements at row stride `dst_rs`, and
/// the views must be in bounds.
unsafe fn raw_gemm<T: Elem>(
    dst: *mut T,
    dst_rs: usize,
    accumulate: bool,
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    parallelism: gemm::Parallelism,
) {
    unsafe {
        gemm::gemm(
            lhs.rows,
            rhs.cols,
            lhs.cols,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * k + p] * b[p * n + j];
                }
            }
        }
        c
    }

    #[test]
    fn matches_naive_product_plain_transposed_and_accumulated() {
        for (m, k, n) in [(7, 5, 9), (6, 3, 1100)] {
            check(m, k, n);
        }
    }

    fn check(m: usize, k: usize, n: usize) {
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut c = vec![0.0; m * n];
        // Two threads, so the wide case takes the column-block path.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("pool");
        pool.install(|| {
            matmul(
                &mut c,
                n,
                false,
                Mat::rows(&a, m, k, k),
                Mat::rows(&b, k, n, n),
            )
        });
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() < 1e-12);
        }
        // (bᵀ)ᵀ = b given as the transpose of a column-major copy.
        let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        pool.install(|| {
            matmul(
                &mut c,
                n,
                true,
                Mat::rows(&a, m, k, k),
                Mat::rows(&bt, n, k, k).t(),
            )
        });
        for (x, y) in c.iter().zip(&want) {
            assert!((x - 2.0 * y).abs() < 1e-12);
        }
    }
}
