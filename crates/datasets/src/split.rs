//! Seeded train/validation splits and labelled subsets (label fractions), saved as JSON so a run
//! can be audited and repeated.

use std::path::Path;

use histo_tensor::{SampleRng, Target};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::{Error, Result};

/// The file name a run folder keeps its split in.
pub const SPLIT_FILE: &str = "split.json";

/// How the labelled subset is drawn from the training samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// Without replacement: `floor(f · n_train)` distinct samples (default).
    #[default]
    WithoutReplacement,
    /// As the original (`np.random.choice(train_idx, int(f · n_train))`): drawn **with**
    /// replacement, so there are duplicates and f = 1 covers about 63 % of the samples (B11).
    Original,
}

/// What to split and draw. Defaults follow the paper: 20 % validation, 10 % labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// Seed of the split and of the labelled draw.
    pub seed: u64,
    /// Fraction of the samples held out for validation, in [0, 1): `floor(v · n)` samples.
    /// 0 keeps every sample for training (datasets with their own validation set, e.g.
    /// Camelyon16's `*_VALID` folders).
    pub val_fraction: f64,
    /// Fraction f ∈ (0, 1] of the training samples that keep their label.
    pub label_fraction: f64,
    /// With or without replacement.
    pub sampling: Sampling,
    /// Split and draw per class, in proportion to the class sizes (class targets only).
    pub stratified: bool,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            val_fraction: 0.2,
            label_fraction: 0.1,
            sampling: Sampling::WithoutReplacement,
            stratified: false,
        }
    }
}

/// A split of one dataset: sample indices of the training, validation, labelled and unlabelled
/// sets, with the configuration and a fingerprint of the dataset it was made for.
///
/// Without replacement, the labelled subset is a prefix of a seeded permutation of the training
/// set, so for one seed the subsets are nested: the 10 % subset lies inside the 25 % one, and so
/// on. The unlabelled pool is every training sample, labelled ones included (as the original,
/// B42). Index lists are sorted; `labelled` may repeat indices in [`Sampling::Original`] mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitPlan {
    /// How it was made.
    pub config: SplitConfig,
    /// Number of samples of the dataset.
    pub dataset_len: usize,
    /// [`fingerprint`] of the dataset: a different, reordered or relabelled dataset is detected
    /// when the plan is reused.
    pub fingerprint: String,
    /// Training indices.
    pub train: Vec<usize>,
    /// Validation indices.
    pub val: Vec<usize>,
    /// Labelled training indices.
    pub labelled: Vec<usize>,
    /// Ids of the labelled samples, in the order of `labelled` (for people auditing a run).
    pub labelled_ids: Vec<String>,
    /// Unlabelled pool (= all training indices).
    pub unlabelled: Vec<usize>,
}

/// FNV-1a over every sample's id and target (`id\ttarget\n`), as 16 hex digits: changes when
/// samples are added, removed, reordered or relabelled.
pub fn fingerprint<D: Dataset + ?Sized>(dataset: &D) -> Result<String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for i in 0..dataset.len() {
        let target = match dataset.target(i)? {
            Target::Class(c) => format!("c{c}"),
            Target::Score(s) => format!("s{:08x}", s.to_bits()),
        };
        let line = format!("{}\t{target}\n", dataset.id(i)?);
        for b in line.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    Ok(format!("{h:016x}"))
}

/// `floor(f · n)`, tolerant of floating-point noise (0.29 · 100 gives 29, not 28).
fn portion(f: f64, n: usize) -> usize {
    ((f * n as f64) + 1e-9).floor().min(n as f64) as usize
}

/// Splits `total` over groups of the given sizes in proportion (largest remainders; ties go
/// to the earlier group), never giving a group more than its size.
fn apportion(total: usize, sizes: &[usize]) -> Vec<usize> {
    let n: usize = sizes.iter().sum();
    if n == 0 {
        return vec![0; sizes.len()];
    }
    let quotas: Vec<f64> = sizes
        .iter()
        .map(|&s| total as f64 * s as f64 / n as f64)
        .collect();
    let mut out: Vec<usize> = quotas.iter().map(|q| (q + 1e-9).floor() as usize).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (quotas[a] - out[a] as f64, quotas[b] - out[b] as f64);
        rb.partial_cmp(&ra).unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut left = total.saturating_sub(out.iter().sum());
    for &g in order.iter().cycle().take(sizes.len() * 2) {
        if left == 0 {
            break;
        }
        if out[g] < sizes[g] {
            out[g] += 1;
            left -= 1;
        }
    }
    out
}

impl SplitPlan {
    /// Splits `dataset` as `config` says. Only labels are read (no image is decoded).
    pub fn new<D: Dataset + ?Sized>(dataset: &D, config: &SplitConfig) -> Result<Self> {
        let n = dataset.len();
        if !(0.0..1.0).contains(&config.val_fraction) {
            return Err(Error::Invalid(format!(
                "validation fraction {} is not in [0, 1)",
                config.val_fraction
            )));
        }
        if !(config.label_fraction > 0.0 && config.label_fraction <= 1.0) {
            return Err(Error::Invalid(format!(
                "label fraction {} is not in (0, 1]",
                config.label_fraction
            )));
        }
        if n == 0 {
            return Err(Error::Invalid("cannot split an empty dataset".into()));
        }
        // Groups: one per class when stratified, else one group of everything.
        let groups: Vec<Vec<usize>> = if config.stratified {
            let mut groups: Vec<Vec<usize>> = Vec::new();
            for i in 0..n {
                let c = match dataset.target(i)? {
                    Target::Class(c) => c as usize,
                    Target::Score(_) => {
                        return Err(Error::Invalid(
                            "stratified splits need class targets; this dataset has scores".into(),
                        ));
                    }
                };
                if groups.len() <= c {
                    groups.resize(c + 1, Vec::new());
                }
                groups[c].push(i);
            }
            groups
        } else {
            vec![(0..n).collect()]
        };
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();

        // Validation split: shuffle each group, its first share goes to validation.
        let mut rng = SampleRng::global("split", config.seed, 0);
        let n_val = apportion(portion(config.val_fraction, n), &sizes);
        let mut val = Vec::new();
        let mut train_groups = Vec::with_capacity(groups.len());
        for (g, members) in groups.into_iter().enumerate() {
            let mut members = members;
            members.shuffle(&mut rng);
            let rest = members.split_off(n_val[g]);
            val.extend(members);
            train_groups.push(rest);
        }
        let n_train: usize = train_groups.iter().map(Vec::len).sum();
        if n_train == 0 {
            return Err(Error::Invalid(format!(
                "validation fraction {} leaves no training sample of {n}",
                config.val_fraction
            )));
        }

        // Labelled subset.
        let k = portion(config.label_fraction, n_train);
        if k == 0 {
            return Err(Error::Invalid(format!(
                "label fraction {} of {n_train} training samples selects no sample",
                config.label_fraction
            )));
        }
        let train_sizes: Vec<usize> = train_groups.iter().map(Vec::len).collect();
        let k_per = apportion(k, &train_sizes);
        let mut lrng = SampleRng::global("labelled", config.seed, 0);
        let mut labelled = Vec::with_capacity(k);
        for (g, members) in train_groups.iter().enumerate() {
            match config.sampling {
                // `members` is already a seeded permutation: its prefix is a uniform draw
                // without replacement, and prefixes of one permutation are nested.
                Sampling::WithoutReplacement => labelled.extend(&members[..k_per[g]]),
                Sampling::Original => {
                    for _ in 0..k_per[g] {
                        labelled.push(members[lrng.random_range(0..members.len())]);
                    }
                }
            }
        }
        let mut train: Vec<usize> = train_groups.into_iter().flatten().collect();
        train.sort_unstable();
        val.sort_unstable();
        labelled.sort_unstable();
        let labelled_ids = labelled
            .iter()
            .map(|&i| dataset.id(i))
            .collect::<Result<_>>()?;
        Ok(Self {
            config: config.clone(),
            dataset_len: n,
            fingerprint: fingerprint(dataset)?,
            unlabelled: train.clone(),
            train,
            val,
            labelled,
            labelled_ids,
        })
    }

    /// Checks that this plan was made for `dataset` (same length and ids).
    pub fn verify<D: Dataset + ?Sized>(&self, dataset: &D) -> Result<()> {
        if dataset.len() != self.dataset_len {
            return Err(Error::Invalid(format!(
                "the split was made for {} samples, the dataset has {}",
                self.dataset_len,
                dataset.len()
            )));
        }
        let fp = fingerprint(dataset)?;
        if fp != self.fingerprint {
            return Err(Error::Invalid(format!(
                "the split was made for another dataset (fingerprint {} vs {fp}): same size, \
                 different, reordered or relabelled samples",
                self.fingerprint
            )));
        }
        Ok(())
    }

    /// Writes the plan as pretty JSON (through a temporary file and a rename, so a crash never
    /// leaves half a file).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::format(path, format!("cannot serialise the split: {e}")))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    /// Reads a plan written by [`SplitPlan::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::fsutil::read_text(path, "split file")?;
        serde_json::from_str(&text).map_err(|e| Error::format(path, format!("bad split: {e}")))
    }

    /// The plan saved at `path` if there is one (checked against `dataset` and `config`),
    /// otherwise a new one, saved there. This is how a resumed or repeated run gets the same
    /// split.
    pub fn load_or_create<D: Dataset + ?Sized>(
        path: impl AsRef<Path>,
        dataset: &D,
        config: &SplitConfig,
    ) -> Result<Self> {
        let path = path.as_ref();
        if path.exists() {
            let plan = Self::load(path)?;
            if plan.config != *config {
                return Err(Error::Invalid(format!(
                    "{} was made with {:?}, not the requested {:?}; remove it or use another \
                     run folder",
                    path.display(),
                    plan.config,
                    config
                )));
            }
            plan.verify(dataset)?;
            return Ok(plan);
        }
        let plan = Self::new(dataset, config)?;
        plan.save(path)?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_keeps_totals_and_bounds() {
        assert_eq!(apportion(10, &[50, 30, 20]), vec![5, 3, 2]);
        assert_eq!(apportion(3, &[1, 1, 1, 1]), vec![1, 1, 1, 0]);
        assert_eq!(apportion(5, &[10, 1]).iter().sum::<usize>(), 5);
        assert_eq!(apportion(4, &[2, 2]), vec![2, 2]);
        assert_eq!(apportion(0, &[]), Vec::<usize>::new());
    }

    #[test]
    fn portion_is_floor_without_float_noise() {
        assert_eq!(portion(0.29, 100), 29);
        assert_eq!(portion(0.1, 95), 9);
        assert_eq!(portion(1.0, 7), 7);
        assert_eq!(portion(0.2, 4), 0);
    }
}
