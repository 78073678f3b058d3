//! The batch loader: a [`Dataset`] plus a per-sample transform, batches built on worker
//! threads ahead of the model through bounded queues, seeded shuffling, drop-last.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use histo_tensor::SampleRng;
use rand::seq::SliceRandom;

use crate::{Error, Result};

/// An indexable collection of samples that worker threads can read at once.
///
/// `get` must be deterministic: the same index gives the same sample.
pub trait Dataset: Send + Sync {
    /// What one item is (e.g. an image and its target).
    type Sample: Send;
    /// Number of samples.
    fn len(&self) -> usize;
    /// `true` when there is no sample.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sample `index` (`index < len()`). Errors name the sample (e.g. its file).
    fn get(&self, index: usize) -> std::result::Result<Self::Sample, String>;
}

impl<T: Clone + Send + Sync> Dataset for Vec<T> {
    type Sample = T;
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn get(&self, index: usize) -> std::result::Result<T, String> {
        self.as_slice()
            .get(index)
            .cloned()
            .ok_or_else(|| format!("index {index} out of range ({} samples)", self.len()))
    }
}

/// How batches are drawn.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoaderConfig {
    /// Samples per batch.
    pub batch_size: usize,
    /// Shuffle the order every epoch (seeded by `(seed, epoch)`).
    pub shuffle: bool,
    /// Leave out the last, incomplete batch.
    pub drop_last: bool,
    /// Worker threads building batches (at least 1).
    pub workers: usize,
    /// Batches each worker may hold ready ahead of the model.
    pub prefetch: usize,
    /// Seed of the shuffling and of the per-sample transform streams.
    pub seed: u64,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            batch_size: 32,
            shuffle: true,
            drop_last: false,
            workers: 2,
            prefetch: 2,
            seed: 42,
        }
    }
}

/// The per-sample transform: `(sample, its random stream, dataset index) → item`.
pub type Transform<S, I> =
    dyn Fn(S, &mut SampleRng, usize) -> std::result::Result<I, String> + Send + Sync;
/// Assembles transformed items into a batch.
pub type Collate<I, B> = dyn Fn(Vec<I>) -> std::result::Result<B, String> + Send + Sync;

/// Builds batches of a dataset on worker threads: `epoch(e)` gives the batches of epoch `e`.
///
/// Sample `i` of epoch `e` gets the random stream `SampleRng::stream("loader", seed, e, i)`, and
/// epoch `e`'s order depends only on `(seed, e)`, so batches are the same whatever the number of
/// workers and whatever was loaded before (exact resume from any epoch).
pub struct Loader<D: Dataset, I, B> {
    dataset: Arc<D>,
    transform: Arc<Transform<D::Sample, I>>,
    collate: Arc<Collate<I, B>>,
    config: LoaderConfig,
}

impl<D, I, B> Loader<D, I, B>
where
    D: Dataset + 'static,
    I: Send + 'static,
    B: Send + 'static,
{
    /// A loader; fails on a zero batch size or worker count.
    pub fn new(
        dataset: Arc<D>,
        transform: Arc<Transform<D::Sample, I>>,
        collate: Arc<Collate<I, B>>,
        config: LoaderConfig,
    ) -> Result<Self> {
        if config.batch_size == 0 || config.workers == 0 || config.prefetch == 0 {
            return Err(Error::Config(format!(
                "loader needs batch_size, workers and prefetch ≥ 1, got {}, {}, {}",
                config.batch_size, config.workers, config.prefetch
            )));
        }
        Ok(Self {
            dataset,
            transform,
            collate,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Number of batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.dataset.len(), self.config.batch_size);
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The sample order of `epoch`.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.dataset.len()).collect();
        if self.config.shuffle {
            let mut rng = SampleRng::global("shuffle", self.config.seed, epoch);
            idx.shuffle(&mut rng);
        }
        idx
    }

    /// The batches of `epoch`, built ahead by the workers. Dropping the iterator early stops
    /// the workers.
    pub fn epoch(&self, epoch: u64) -> Batches<B> {
        let order = Arc::new(self.order(epoch));
        let nb = self.batches_per_epoch();
        let workers = self.config.workers.min(nb.max(1));
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(self.config.prefetch);
            receivers.push(rx);
            let job = Job {
                dataset: self.dataset.clone(),
                transform: self.transform.clone(),
                collate: self.collate.clone(),
                order: order.clone(),
                batch_size: self.config.batch_size,
                seed: self.config.seed,
                epoch,
            };
            handles.push(std::thread::spawn(move || job.run(w, workers, nb, tx)));
        }
        Batches {
            receivers,
            handles,
            next: 0,
            total: nb,
        }
    }
}

struct Job<D: Dataset, I, B> {
    dataset: Arc<D>,
    transform: Arc<Transform<D::Sample, I>>,
    collate: Arc<Collate<I, B>>,
    order: Arc<Vec<usize>>,
    batch_size: usize,
    seed: u64,
    epoch: u64,
}

impl<D: Dataset, I, B> Job<D, I, B> {
    fn batch(&self, b: usize) -> Result<B> {
        let start = b * self.batch_size;
        let end = (start + self.batch_size).min(self.order.len());
        let mut items = Vec::with_capacity(end - start);
        for &i in &self.order[start..end] {
            let sample = self
                .dataset
                .get(i)
                .map_err(|e| Error::Data(format!("sample {i}: {e}")))?;
            let mut rng = SampleRng::stream("loader", self.seed, self.epoch, i as u64);
            let item = (self.transform)(sample, &mut rng, i)
                .map_err(|e| Error::Data(format!("transform of sample {i}: {e}")))?;
            items.push(item);
        }
        (self.collate)(items).map_err(|e| Error::Data(format!("batch {b}: {e}")))
    }

    fn run(self, w: usize, workers: usize, nb: usize, tx: SyncSender<Result<B>>) {
        let mut b = w;
        while b < nb {
            let r = self.batch(b);
            let failed = r.is_err();
            if tx.send(r).is_err() || failed {
                return; // the consumer went away, or we reported an error
            }
            b += workers;
        }
    }
}

/// The batches of one epoch, in order.
pub struct Batches<B> {
    receivers: Vec<Receiver<Result<B>>>,
    handles: Vec<JoinHandle<()>>,
    next: usize,
    total: usize,
}

impl<B> Batches<B> {
    /// Number of batches this epoch yields in total.
    pub fn total(&self) -> usize {
        self.total
    }
}

impl<B> Iterator for Batches<B> {
    type Item = Result<B>;

    fn next(&mut self) -> Option<Result<B>> {
        if self.next >= self.total {
            return None;
        }
        let w = self.next % self.receivers.len();
        self.next += 1;
        match self.receivers[w].recv() {
            Ok(r) => {
                if r.is_err() {
                    self.next = self.total;
                }
                Some(r)
            }
            Err(_) => {
                self.next = self.total;
                Some(Err(Error::Data(
                    "a loader worker stopped unexpectedly".into(),
                )))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total - self.next;
        (left, Some(left))
    }
}

impl<B> Drop for Batches<B> {
    fn drop(&mut self) {
        // Closing the queues makes blocked workers return; then wait for them.
        self.receivers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Pairs the batches of two loaders step by step (e.g. labelled batches of B and unlabelled
/// batches of μ·B in consistency training); the epoch ends with the shorter one, as Python's
/// `zip` over two DataLoaders does.
pub fn paired<A, B>(
    a: impl Iterator<Item = Result<A>>,
    b: impl Iterator<Item = Result<B>>,
) -> impl Iterator<Item = Result<(A, B)>> {
    a.zip(b).map(|(x, y)| Ok((x?, y?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    type Pairs = Loader<Vec<u32>, (u32, u32), Vec<(u32, u32)>>;

    fn loader(n: usize, cfg: LoaderConfig) -> Pairs {
        let data: Vec<u32> = (0..n as u32).collect();
        Loader::new(
            Arc::new(data),
            Arc::new(|s: u32, rng: &mut SampleRng, _i| Ok((s, rng.random_range(0..1000)))),
            Arc::new(|items: Vec<(u32, u32)>| Ok(items)),
            cfg,
        )
        .unwrap()
    }

    #[test]
    fn every_sample_once_per_epoch_with_drop_last_and_shuffle() {
        let cfg = LoaderConfig {
            batch_size: 4,
            drop_last: false,
            ..Default::default()
        };
        let l = loader(10, cfg.clone());
        assert_eq!(l.batches_per_epoch(), 3);
        let batches: Vec<_> = l.epoch(0).map(|b| b.unwrap()).collect();
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![4, 4, 2]
        );
        let mut seen: Vec<u32> = batches.iter().flatten().map(|p| p.0).collect();
        assert_ne!(seen, (0..10).collect::<Vec<_>>(), "shuffled");
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        let l = loader(
            10,
            LoaderConfig {
                drop_last: true,
                ..cfg
            },
        );
        assert_eq!(l.epoch(0).count(), 2);
    }

    #[test]
    fn batches_do_not_depend_on_worker_count_and_epochs_differ() {
        let base = LoaderConfig {
            batch_size: 3,
            ..Default::default()
        };
        let run = |workers: usize, epoch: u64| -> Vec<Vec<(u32, u32)>> {
            let l = loader(
                20,
                LoaderConfig {
                    workers,
                    prefetch: 1,
                    ..base.clone()
                },
            );
            l.epoch(epoch).map(|b| b.unwrap()).collect()
        };
        let one = run(1, 3);
        assert_eq!(one, run(2, 3));
        assert_eq!(one, run(5, 3));
        assert_ne!(one, run(2, 4));
    }

    #[test]
    fn errors_name_the_sample_and_stop_the_epoch() {
        let data: Vec<u32> = (0..10).collect();
        let l: Loader<Vec<u32>, u32, Vec<u32>> = Loader::new(
            Arc::new(data),
            Arc::new(|s: u32, _: &mut SampleRng, _| {
                if s == 7 {
                    Err("unreadable tile".into())
                } else {
                    Ok(s)
                }
            }),
            Arc::new(|v: Vec<u32>| Ok(v)),
            LoaderConfig {
                batch_size: 2,
                shuffle: false,
                ..Default::default()
            },
        )
        .unwrap();
        let results: Vec<_> = l.epoch(0).collect();
        let err = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .unwrap()
            .to_string();
        assert!(
            err.contains("sample 7") && err.contains("unreadable tile"),
            "{err}"
        );
        assert!(results.last().unwrap().is_err());
    }

    #[test]
    fn paired_loaders_of_different_batch_sizes_stop_with_the_shorter() {
        // labelled: 10 samples in batches of 2 (5 batches); unlabelled: 30 in batches of 7
        // with drop-last (4 batches) -> 4 steps, as zip() over two DataLoaders
        let lab = loader(
            10,
            LoaderConfig {
                batch_size: 2,
                ..Default::default()
            },
        );
        let unl = loader(
            30,
            LoaderConfig {
                batch_size: 7,
                drop_last: true,
                seed: 5,
                ..Default::default()
            },
        );
        let steps: Vec<_> = paired(lab.epoch(0), unl.epoch(0))
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(steps.len(), 4);
        assert!(steps.iter().all(|(a, b)| a.len() == 2 && b.len() == 7));
    }

    #[test]
    fn dropping_an_epoch_early_does_not_hang() {
        let l = loader(
            1000,
            LoaderConfig {
                batch_size: 2,
                prefetch: 1,
                ..Default::default()
            },
        );
        let mut it = l.epoch(0);
        assert!(it.next().unwrap().is_ok());
        drop(it);
    }
}
