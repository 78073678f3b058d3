//! The RSP tile store written by histo-wsi (`histo tile rsp`) as a [`TripletSource`].

use std::path::Path;

use histo_tensor::Image;
use histo_wsi::TileStore;
use histo_wsi::store::SlideStatus;

use crate::rsp::TripletSource;
use crate::{Error, Result};

/// A memory-mapped tile store: triplet `i` is copied out of its shard only when asked for.
///
/// The slide of each triplet comes from the manifest (shards hold one slide each), so splitting
/// by slide reads no pixel; every read checks the slide recorded in the shard against it.
#[derive(Debug)]
pub struct StoreTriplets {
    store: TileStore,
    /// First triplet index of each run of one slide, and the slide's index.
    runs: Vec<(usize, usize)>,
}

impl StoreTriplets {
    /// Opens the store at `dir` (its `manifest.json` and every shard of its complete slides).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let store = TileStore::open(dir.as_ref())?;
        let mut runs = Vec::new();
        let mut start = 0;
        // The order TileStore::open maps shards in: complete slides in manifest order, then
        // their non-empty shards in order.
        for s in store
            .slides()
            .iter()
            .filter(|s| s.status == SlideStatus::Complete)
        {
            let n: usize = s.shards.iter().map(|e| e.count).sum();
            if n > 0 {
                runs.push((start, s.index));
                start += n;
            }
        }
        if start != store.len() {
            return Err(Error::format(
                dir.as_ref().join("manifest.json"),
                format!(
                    "the manifest counts {start} triplets, the shards hold {}",
                    store.len()
                ),
            ));
        }
        Ok(Self { store, runs })
    }

    /// The underlying store.
    pub fn store(&self) -> &TileStore {
        &self.store
    }

    /// Tile width and height.
    pub fn tile_size(&self) -> usize {
        self.store.tile_size()
    }
}

impl TripletSource for StoreTriplets {
    fn len(&self) -> usize {
        self.store.len()
    }

    fn slide(&self, index: usize) -> Result<usize> {
        if index >= self.store.len() {
            return Err(Error::index(index, self.store.len()));
        }
        let k = self.runs.partition_point(|&(s, _)| s <= index) - 1;
        Ok(self.runs[k].1)
    }

    fn slide_name(&self, slide: usize) -> Result<String> {
        let entry = self
            .store
            .slides()
            .iter()
            .find(|s| s.index == slide)
            .ok_or_else(|| Error::Invalid(format!("no slide {slide} in the tile store")))?;
        Ok(Path::new(&entry.path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| entry.path.clone()))
    }

    fn triplet(&self, index: usize) -> Result<[Image; 3]> {
        let expected = self.slide(index)?;
        let t = self.store.get(index)?;
        if t.slide != expected {
            return Err(Error::format(
                self.store.dir().join("manifest.json"),
                format!(
                    "triplet {index} is recorded under slide {} in its shard but slide \
                     {expected} in the manifest",
                    t.slide
                ),
            ));
        }
        Ok([t.hr, t.lr1, t.lr2])
    }
}
