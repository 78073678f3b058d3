//! The data side of training: sample pools over a dataset, the labelled 3-view and unlabelled
//! weak/strong loaders, class-balanced streams, and batch assembly into tensors.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use histo_augment::{FinetuneViews, RandAugment, Size, Strong, Weak, WeakStrong, ops};
use histo_datasets::{Dataset, Sample};
use histo_tensor::{Image, ImageBatch, InputScale, SampleRng, Target, TargetBatch};
use histo_train::{Loader, LoaderConfig};

use crate::{Error, Result};

/// Some samples of a dataset, as a loader dataset (`get(i)` = sample `indices[i]`; repeats
/// allowed, each copy gets its own random stream).
pub struct Pool {
    data: Arc<dyn Dataset>,
    indices: Vec<usize>,
}

impl Pool {
    /// The pool of `indices` of `data`.
    pub fn new(data: Arc<dyn Dataset>, indices: Vec<usize>) -> Self {
        Self { data, indices }
    }
}

impl histo_train::Dataset for Pool {
    type Sample = Sample;
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn get(&self, index: usize) -> std::result::Result<Sample, String> {
        let i = *self
            .indices
            .as_slice()
            .get(index)
            .ok_or_else(|| format!("pool index {index} out of range"))?;
        self.data.get(i).map_err(|e| e.to_string())
    }
}

/// A labelled sample: three views and the target.
pub type Labelled = ([Image; 3], Target);
/// An unlabelled sample: weak view, strong view, and the (hidden) target, used only for the
/// pseudo-label accuracy in the logs.
pub type Unlabelled = (Image, Image, Target);

/// The patch resized to the square network input (bicubic; a no-op at the right size).
pub fn to_input(img: &Image, size: usize) -> Result<Image> {
    Ok(ops::resize(img, Size::square(size))?)
}

type BatchLoader<I> = Loader<Pool, I, Vec<I>>;

/// Batches of one pool, or of one pool per class drawn in equal shares and zipped (the epoch
/// ends with the shortest class, as the original's `zip` over its tumour and normal loaders).
pub struct Stream<I> {
    loaders: Vec<BatchLoader<I>>,
}

/// How a [`Stream`] is drawn.
#[derive(Clone, Copy, Debug)]
pub struct StreamConfig {
    /// Samples per step (split over the classes when balanced).
    pub batch_size: usize,
    /// Leave out incomplete last batches.
    pub drop_last: bool,
    /// Equal shares of every class.
    pub class_balanced: bool,
    /// Loader threads per loader.
    pub workers: usize,
    /// Seed of shuffling and augmentation.
    pub seed: u64,
}

impl<I: Send + 'static> Stream<I> {
    /// A stream over `indices` of `data`; `make` builds a loader for a pool.
    pub fn new(
        data: &Arc<dyn Dataset>,
        indices: &[usize],
        cfg: StreamConfig,
        make: impl Fn(Pool, LoaderConfig) -> Result<BatchLoader<I>>,
    ) -> Result<Self> {
        let loader_cfg = |batch_size: usize, seed: u64, drop_last: bool| LoaderConfig {
            batch_size,
            shuffle: true,
            drop_last,
            workers: cfg.workers,
            prefetch: 2,
            seed,
        };
        if !cfg.class_balanced {
            let pool = Pool::new(data.clone(), indices.to_vec());
            let l = make(pool, loader_cfg(cfg.batch_size, cfg.seed, cfg.drop_last))?;
            return Ok(Self { loaders: vec![l] });
        }
        let mut by_class: Vec<Vec<usize>> = Vec::new();
        for &i in indices {
            let c =
                data.target(i)?.class().ok_or_else(|| {
                    Error::Config("class-balanced batches need class targets".into())
                })? as usize;
            if by_class.len() <= c {
                by_class.resize(c + 1, Vec::new());
            }
            by_class[c].push(i);
        }
        let present: Vec<(usize, Vec<usize>)> = by_class
            .into_iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let share = (cfg.batch_size / present.len().max(1)).max(1);
        let mut loaders = Vec::new();
        for (c, members) in present {
            let seed = cfg
                .seed
                .wrapping_add((c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let n = members.len();
            // a class smaller than its share cannot fill a drop-last batch: keep its partial one
            let drop_last = cfg.drop_last && n >= share;
            let l = make(
                Pool::new(data.clone(), members),
                loader_cfg(share.min(n), seed, drop_last),
            )?;
            loaders.push(l);
        }
        Ok(Self { loaders })
    }

    /// Steps per epoch.
    pub fn steps(&self) -> usize {
        self.loaders
            .iter()
            .map(|l| l.batches_per_epoch())
            .min()
            .unwrap_or(0)
    }

    /// The batches of `epoch`.
    pub fn epoch(&self, epoch: u64) -> impl Iterator<Item = histo_train::Result<Vec<I>>> + use<I> {
        let mut its: Vec<_> = self.loaders.iter().map(|l| l.epoch(epoch)).collect();
        let steps = self.steps();
        (0..steps).map_while(move |_| {
            let mut out = Vec::new();
            for it in its.iter_mut() {
                match it.next()? {
                    Ok(mut b) => out.append(&mut b),
                    Err(e) => return Some(Err(e)),
                }
            }
            Some(Ok(out))
        })
    }
}

/// The labelled loader: 3 views per sample (spec §3.3) at `size` pixels.
pub fn labelled_loader(
    pool: Pool,
    size: usize,
    cfg: LoaderConfig,
) -> Result<BatchLoader<Labelled>> {
    let views = FinetuneViews::new(size);
    Ok(Loader::new(
        Arc::new(pool),
        Arc::new(move |s: Sample, rng: &mut SampleRng, _| {
            let v = views
                .views(&s.image, rng)
                .map_err(|e| format!("{}: {e}", s.id))?;
            Ok((v, s.target))
        }),
        Arc::new(|items: Vec<Labelled>| Ok(items)),
        cfg,
    )?)
}

/// The unlabelled loader: the patch resized to `size`, then independent weak (flip + crop) and
/// strong (flip + crop + RandAugment) views (spec §4.2).
pub fn unlabelled_loader(
    pool: Pool,
    size: usize,
    randaugment: RandAugment,
    cfg: LoaderConfig,
) -> Result<BatchLoader<Unlabelled>> {
    let pair = WeakStrong {
        weak: Weak::new(size),
        strong: Strong {
            size: Size::square(size),
            randaugment,
        },
    };
    Ok(Loader::new(
        Arc::new(pool),
        Arc::new(move |s: Sample, rng: &mut SampleRng, _| {
            let img = to_input(&s.image, size).map_err(|e| format!("{}: {e}", s.id))?;
            let (w, st) = pair.pair(&img, rng).map_err(|e| format!("{}: {e}", s.id))?;
            Ok((w, st, s.target))
        }),
        Arc::new(|items: Vec<Unlabelled>| Ok(items)),
        cfg,
    )?)
}

/// Images (all of one size) as an `[N, 3, H, W]` tensor on `device`.
pub fn images_tensor(images: &[Image], scale: InputScale, device: &Device) -> Result<Tensor> {
    let batch = ImageBatch::from_images(images)?;
    let t = batch.to_tensor(&Device::Cpu, scale)?;
    Ok(if device.is_cpu() {
        t
    } else {
        t.to_device(device)?
    })
}

/// The labelled batch flattened sample-major (`[B, 3 views] → [3B]`, as the original's reshape)
/// with its targets repeated per view.
pub fn labelled_tensors(
    batch: &[Labelled],
    scale: InputScale,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let images: Vec<Image> = batch.iter().flat_map(|(v, _)| v.iter().cloned()).collect();
    let targets: Vec<Target> = batch.iter().map(|(_, t)| *t).collect();
    let x = images_tensor(&images, scale, device)?;
    let y = TargetBatch::from_targets(&targets)?
        .repeat_each(3)
        .to_tensor(device)?;
    Ok((x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Toy(Vec<u32>);
    impl Dataset for Toy {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn get(&self, index: usize) -> histo_datasets::Result<Sample> {
            Ok(Sample {
                image: Image::filled(20, 20, [index as u8, 0, 0]),
                target: Target::Class(self.0[index]),
                id: format!("s{index}"),
            })
        }
        fn target(&self, index: usize) -> histo_datasets::Result<Target> {
            Ok(Target::Class(self.0[index]))
        }
        fn id(&self, index: usize) -> histo_datasets::Result<String> {
            Ok(format!("s{index}"))
        }
    }

    #[test]
    fn balanced_streams_take_equal_shares_and_stop_with_the_smallest_class() {
        // 12 samples of class 0, 4 of class 1
        let labels: Vec<u32> = (0..16).map(|i| u32::from(i >= 12)).collect();
        let data: Arc<dyn Dataset> = Arc::new(Toy(labels));
        let idx: Vec<usize> = (0..16).collect();
        let cfg = StreamConfig {
            batch_size: 4,
            drop_last: true,
            class_balanced: true,
            workers: 2,
            seed: 3,
        };
        let s = Stream::new(&data, &idx, cfg, |p, c| labelled_loader(p, 16, c)).unwrap();
        assert_eq!(s.steps(), 2); // class 1: 4 samples in shares of 2
        let batches: Vec<_> = s.epoch(0).map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 2);
        for b in &batches {
            let ones = b.iter().filter(|(_, t)| *t == Target::Class(1)).count();
            assert_eq!((b.len(), ones), (4, 2));
            assert!(b.iter().all(|(v, _)| v.iter().all(|i| i.width() == 16)));
        }
        let (x, y) = labelled_tensors(&batches[0], InputScale::Raw255, &Device::Cpu).unwrap();
        assert_eq!(x.dims(), &[12, 3, 16, 16]);
        let y = y.to_vec1::<u32>().unwrap();
        assert_eq!(&y[..3], &[y[0]; 3]); // targets repeated per view, sample-major
        // plain stream: every sample once
        let plain = StreamConfig {
            class_balanced: false,
            drop_last: false,
            ..cfg
        };
        let s = Stream::new(&data, &idx, plain, |p, c| {
            unlabelled_loader(p, 16, RandAugment::default(), c)
        })
        .unwrap();
        let n: usize = s.epoch(1).map(|b| b.unwrap().len()).sum();
        assert_eq!(n, 16);
    }
}
