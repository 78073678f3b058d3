//! [`Concat`]: several datasets back to back.

use histo_tensor::Target;

use crate::dataset::{Dataset, Problem, Sample};
use crate::{Error, Result};

/// Datasets one after the other: index `i` of the concatenation is index `i − start(k)` of
/// part `k`. Parts must agree on their class names (e.g. Camelyon16's tumour and normal patch
/// folders, or Kather train folders of several sites).
pub struct Concat {
    parts: Vec<Box<dyn Dataset>>,
    starts: Vec<usize>,
    classes: Vec<String>,
    problems: Vec<Problem>,
}

impl Concat {
    /// Concatenates `parts`; differing class names are an error.
    pub fn new(parts: Vec<Box<dyn Dataset>>) -> Result<Self> {
        let classes = parts
            .first()
            .map(|p| p.class_names().to_vec())
            .unwrap_or_default();
        for (k, p) in parts.iter().enumerate() {
            if p.class_names() != classes.as_slice() {
                return Err(Error::Invalid(format!(
                    "part {k} has classes {:?}, part 0 has {classes:?}",
                    p.class_names()
                )));
            }
        }
        let mut starts = vec![0];
        for p in &parts {
            starts.push(starts.last().copied().unwrap_or(0) + p.len());
        }
        let problems = parts.iter().flat_map(|p| p.problems().to_vec()).collect();
        Ok(Self {
            parts,
            starts,
            classes,
            problems,
        })
    }

    /// The parts.
    pub fn parts(&self) -> &[Box<dyn Dataset>] {
        &self.parts
    }

    /// `(part, index in part)` of global index `index`.
    pub fn locate(&self, index: usize) -> Result<(usize, usize)> {
        crate::dataset::check_index(index, self.len())?;
        let k = self.starts.partition_point(|&s| s <= index) - 1;
        Ok((k, index - self.starts[k]))
    }
}

impl Dataset for Concat {
    fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }
    fn get(&self, index: usize) -> Result<Sample> {
        let (k, i) = self.locate(index)?;
        self.parts[k].get(i)
    }
    fn target(&self, index: usize) -> Result<Target> {
        let (k, i) = self.locate(index)?;
        self.parts[k].target(i)
    }
    fn id(&self, index: usize) -> Result<String> {
        let (k, i) = self.locate(index)?;
        self.parts[k].id(i)
    }
    fn class_names(&self) -> &[String] {
        &self.classes
    }
    fn problems(&self) -> &[Problem] {
        &self.problems
    }
}
