//! [`VarStore`]: the named tensors of one network (PyTorch `state_dict` order), their layer
//! groups, and which of them are trainable.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device, Tensor, Var};
use histo_tensor::SampleRng;

use crate::precision::PrecisionCell;
use crate::{Error, Group, Precision, Result};

/// Whether a tensor is learned (given to optimisers) or a statistic (BatchNorm running stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A learnable parameter (`named_parameters()` in PyTorch).
    Param,
    /// A buffer: `running_mean`, `running_var`, `num_batches_tracked`.
    Buffer,
}

/// One named tensor of a network.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Full torchvision-style name, e.g. `model.layer1.0.bn1.running_mean`.
    pub name: String,
    /// The variable (shared with the layer that uses it).
    pub var: Var,
    /// Parameter or buffer.
    pub kind: Kind,
    /// The layer group it belongs to.
    pub group: Group,
    /// `false` once frozen: optimisers do not receive it.
    pub trainable: bool,
}

/// The tensors of one network in PyTorch `state_dict()` order, with layer groups and freezing.
///
/// Layers hold clones of the same [`Var`]s, so [`VarStore::load`] and optimiser updates are
/// seen by the layers at once.
#[derive(Debug)]
pub struct VarStore {
    device: Device,
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
    bn_eval_flags: Vec<(Group, Arc<AtomicBool>)>,
    precision: PrecisionCell,
}

impl VarStore {
    /// An empty store on `device`.
    pub fn new(device: &Device) -> Self {
        Self {
            device: device.clone(),
            entries: Vec::new(),
            by_name: HashMap::new(),
            bn_eval_flags: Vec::new(),
            precision: PrecisionCell::default(),
        }
    }

    /// The compute precision of the trunks built into this store ([`Precision::F32`] unless
    /// [`set_precision`](Self::set_precision) changed it).
    pub fn precision(&self) -> Precision {
        self.precision.get()
    }

    /// Switches the convolutions of the trunks in this store to `precision` (mixed precision:
    /// the stored weights stay f32); takes effect at the next forward pass.
    pub fn set_precision(&self, precision: Precision) {
        self.precision.set(precision)
    }

    /// The device of every tensor.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Every entry (parameters and buffers), in `state_dict()` order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// Learnable parameters in `named_parameters()` order (frozen ones included).
    pub fn params(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.kind == Kind::Param)
    }

    /// `(name, var)` of the parameters an optimiser should update: not frozen.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        self.params()
            .filter(|e| e.trainable)
            .map(|e| (e.name.clone(), e.var.clone()))
            .collect()
    }

    /// Number of scalar parameters (frozen ones included).
    pub fn num_params(&self) -> usize {
        self.params().map(|e| e.var.elem_count()).sum()
    }

    /// A snapshot of every tensor, `(name, tensor)` in `state_dict()` order. The tensors are
    /// detached copies: later training does not change them.
    pub fn state_dict(&self) -> Result<Vec<(String, Tensor)>> {
        self.entries
            .iter()
            .map(|e| Ok((e.name.clone(), e.var.as_tensor().detach().copy()?)))
            .collect()
    }

    /// Sets every tensor from `tensors` (by name), checking that each one is present with the
    /// right shape and that nothing else is there. `source_name` (a file or part name) is used
    /// in the error messages. Float tensors are converted to f32 and moved to this store's device.
    pub fn load(&self, tensors: &HashMap<String, Tensor>, source_name: &str) -> Result<()> {
        // Check everything before changing anything, so a failed load leaves the network intact.
        let mut staged = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let expected = e.var.dims().to_vec();
            let t = tensors.get(&e.name).ok_or_else(|| Error::Missing {
                source_name: source_name.to_string(),
                name: e.name.clone(),
                expected: expected.clone(),
            })?;
            if t.dims() != expected.as_slice() {
                return Err(Error::ShapeMismatch {
                    source_name: source_name.to_string(),
                    name: e.name.clone(),
                    expected,
                    got: t.dims().to_vec(),
                });
            }
            let want = e.var.dtype();
            let t = t.to_device(&self.device)?.to_dtype(want)?;
            staged.push(t);
        }
        let mut unexpected: Vec<&String> = tensors
            .keys()
            .filter(|k| !self.by_name.contains_key(*k))
            .collect();
        if !unexpected.is_empty() {
            unexpected.sort();
            return Err(Error::Unexpected {
                source_name: source_name.to_string(),
                count: unexpected.len(),
                first: unexpected[0].clone(),
            });
        }
        for (e, t) in self.entries.iter().zip(staged) {
            e.var.set(&t)?;
        }
        Ok(())
    }

    /// Copies every tensor of `other` (same architecture) into this store.
    pub fn copy_from(&self, other: &VarStore) -> Result<()> {
        let map: HashMap<String, Tensor> = other.state_dict()?.into_iter().collect();
        self.load(&map, "copy")
    }

    /// Marks every parameter of the given groups as frozen (not trainable) and the others as
    /// trainable, and chooses how the BatchNorm layers of frozen groups run when the network is
    /// in training mode: `bn_eval = false` keeps batch statistics and running-stat updates (what
    /// the original scripts do, spec B2), `true` uses the running statistics and leaves them alone.
    pub fn freeze_groups(&mut self, groups: &[Group], bn_eval: bool) {
        for e in &mut self.entries {
            e.trainable = !groups.contains(&e.group);
        }
        for (g, flag) in &self.bn_eval_flags {
            flag.store(bn_eval && groups.contains(g), Ordering::Relaxed);
        }
    }

    /// Freezes the first `n` parameters in `named_parameters()` order, exactly as the original
    /// `--modules N` option does (spec §3.2), and unfreezes the rest. BatchNorm layers of groups
    /// frozen in full follow `bn_eval` (see [`freeze_groups`](Self::freeze_groups)).
    pub fn freeze_first(&mut self, n: usize, bn_eval: bool) -> Result<()> {
        let total = self.params().count();
        if n > total {
            return Err(Error::Freeze(format!(
                "cannot freeze the first {n} parameters: this network has {total}"
            )));
        }
        let mut seen = 0;
        for e in &mut self.entries {
            if e.kind == Kind::Param {
                e.trainable = seen >= n;
                seen += 1;
            }
        }
        let fully_frozen: Vec<Group> = Group::ALL
            .into_iter()
            .filter(|g| {
                let mut ps = self.params().filter(|e| e.group == *g).peekable();
                ps.peek().is_some() && ps.all(|e| !e.trainable)
            })
            .collect();
        for (g, flag) in &self.bn_eval_flags {
            flag.store(bn_eval && fully_frozen.contains(g), Ordering::Relaxed);
        }
        Ok(())
    }

    /// The groups having at least one parameter, in order.
    pub fn groups(&self) -> Vec<Group> {
        let mut out: Vec<Group> = Vec::new();
        for e in self.params() {
            if !out.contains(&e.group) {
                out.push(e.group);
            }
        }
        out
    }

    fn push(&mut self, name: String, t: Tensor, kind: Kind, group: Group) -> Result<Var> {
        if self.by_name.contains_key(&name) {
            return Err(Error::Config(format!("tensor `{name}` defined twice")));
        }
        let var = Var::from_tensor(&t)?;
        self.by_name.insert(name.clone(), self.entries.len());
        self.entries.push(Entry {
            name,
            var: var.clone(),
            kind,
            group,
            trainable: kind == Kind::Param,
        });
        Ok(var)
    }
}

/// Builds the layers of a network into a [`VarStore`], naming tensors by path and drawing
/// initial values from a seeded stream.
pub(crate) struct Builder<'a> {
    store: &'a mut VarStore,
    rng: &'a mut SampleRng,
    prefix: String,
    group: Group,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(store: &'a mut VarStore, rng: &'a mut SampleRng, group: Group) -> Self {
        Self {
            store,
            rng,
            prefix: String::new(),
            group,
        }
    }

    /// A builder for the child module `name` (names become `prefix.name.tensor`).
    pub(crate) fn sub(&mut self, name: impl std::fmt::Display) -> Builder<'_> {
        let prefix = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        };
        Builder {
            store: self.store,
            rng: self.rng,
            prefix,
            group: self.group,
        }
    }

    /// The same path, tensors assigned to another group.
    pub(crate) fn group(&mut self, group: Group) -> Builder<'_> {
        Builder {
            store: self.store,
            rng: self.rng,
            prefix: self.prefix.clone(),
            group,
        }
    }

    pub(crate) fn device(&self) -> Device {
        self.store.device.clone()
    }

    pub(crate) fn rng(&mut self) -> &mut SampleRng {
        self.rng
    }

    fn full(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// A learnable f32 tensor from host values.
    pub(crate) fn param(&mut self, name: &str, shape: &[usize], values: Vec<f32>) -> Result<Var> {
        let t = Tensor::from_vec(values, shape, &self.store.device)?;
        let (full, group) = (self.full(name), self.group);
        self.store.push(full, t, Kind::Param, group)
    }

    /// A buffer (statistic) tensor.
    pub(crate) fn buffer(&mut self, name: &str, t: Tensor) -> Result<Var> {
        let (full, group) = (self.full(name), self.group);
        self.store.push(full, t, Kind::Buffer, group)
    }

    /// A flag through which freezing can switch a BatchNorm layer to eval mode.
    pub(crate) fn bn_eval_flag(&mut self) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        self.store.bn_eval_flags.push((self.group, flag.clone()));
        flag
    }

    /// The store's precision, shared with the trunk that reads it at each forward pass.
    pub(crate) fn precision(&self) -> PrecisionCell {
        self.store.precision.clone()
    }

    pub(crate) fn zeros(&self, n: usize, dtype: DType) -> Result<Tensor> {
        Ok(Tensor::zeros(n, dtype, &self.store.device)?)
    }
}
