//! Augmenting a batch in parallel, deterministically.

use histo_tensor::SampleRng;
use rayon::prelude::*;

use crate::transform::sample_rng;
use crate::{Error, Result};

/// Runs `f` on every item on rayon's thread pool; item `i` gets the stream
/// `sample_rng(seed, epoch, indices[i])` = `SampleRng::stream("augment", seed, epoch, indices[i])`.
///
/// Key the streams by *dataset* index (not position in the batch), so a sample is augmented the
/// same way in an epoch whatever batch it lands in; the output is identical for any thread
/// count. The first error (in item order) is returned.
///
/// ```
/// use histo_augment::{Transform, Weak, par_augment};
/// use histo_tensor::Image;
///
/// let tiles = vec![Image::filled(40, 40, [9, 9, 9]); 4];
/// let weak = Weak::new(32);
/// let out = par_augment(1, 0, &[10, 11, 12, 13], &tiles, |img, rng| weak.apply(img, rng))?;
/// assert_eq!(out.len(), 4);
/// # Ok::<(), histo_augment::Error>(())
/// ```
pub fn par_augment<I, O, F>(
    seed: u64,
    epoch: u64,
    indices: &[u64],
    items: &[I],
    f: F,
) -> Result<Vec<O>>
where
    I: Sync,
    O: Send,
    F: Fn(&I, &mut SampleRng) -> Result<O> + Sync,
{
    if indices.len() != items.len() {
        return Err(Error::Shape {
            op: "par_augment",
            what: format!("{} sample indices for {} items", indices.len(), items.len()),
        });
    }
    indices
        .par_iter()
        .zip(items.par_iter())
        .map(|(&index, item)| f(item, &mut sample_rng(seed, epoch, index)))
        .collect()
}
