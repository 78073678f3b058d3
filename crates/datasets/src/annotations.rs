//! Camelyon16 patch labels from slide annotations (histo-wsi's JSON / ASAP XML polygons).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use histo_wsi::Annotations;

use crate::Result;
use crate::camelyon::CentreLabeller;

/// Reads `{dir}/{pid}.json` or `{dir}/{pid}.xml` once per slide and labels centres 1 iff they
/// lie in a positive polygon (even-odd rule, as the original's `points_in_poly`).
struct AnnotationLabeller {
    dir: PathBuf,
    cache: HashMap<String, Option<Annotations>>,
}

/// The annotation file of slide `pid` in `dir`, if any (`.json` first, then `.xml`).
pub(crate) fn annotation_file(dir: &Path, pid: &str) -> Option<PathBuf> {
    let stem = pid.strip_suffix(".tif").unwrap_or(pid);
    ["json", "xml"]
        .iter()
        .map(|ext| dir.join(format!("{stem}.{ext}")))
        .find(|p| p.is_file())
}

/// `true` for a `Normal_*` slide (which has no tumour, so needs no annotation file).
pub(crate) fn is_normal_slide(pid: &str) -> bool {
    pid.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("normal_"))
}

/// Reads one annotation file (JSON or ASAP XML by extension).
pub(crate) fn read_annotations(path: &Path) -> Result<Annotations> {
    let is_xml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"));
    Ok(if is_xml {
        Annotations::read_asap_xml(path)?
    } else {
        Annotations::read_json(path)?
    })
}

impl CentreLabeller for AnnotationLabeller {
    fn label(&mut self, pid: &str, x: i64, y: i64) -> Result<Option<u32>> {
        if !self.cache.contains_key(pid) {
            let ann = match annotation_file(&self.dir, pid) {
                Some(path) => Some(read_annotations(&path)?),
                None if is_normal_slide(pid) => Some(Annotations::default()),
                None => None,
            };
            self.cache.insert(pid.to_owned(), ann);
        }
        Ok(self.cache[pid]
            .as_ref()
            .map(|a| a.is_positive(x as f64, y as f64) as u32))
    }
}

/// A labeller over the annotation folder `dir` (which must exist).
pub(crate) fn labeller(dir: &Path) -> Result<Box<dyn CentreLabeller>> {
    if !dir.is_dir() {
        return Err(crate::Error::missing(dir, "annotation folder"));
    }
    Ok(Box::new(AnnotationLabeller {
        dir: dir.to_path_buf(),
        cache: HashMap::new(),
    }))
}
