//! The tile store: a directory of safetensors shards plus `manifest.json`, written by RSP tiling
//! and read memory-mapped (a shard's pages are read only when a triplet of it is asked for).
//!
//! Layout of a store directory:
//!
//! - `manifest.json` ([`Manifest`]): format name and version, tile size, the sampling
//!   parameters, and one entry per slide (path, vendor, levels, mpp, status, reason, counts,
//!   its shards);
//! - `s{slide:05}-{k:04}.safetensors`: the triplets of one slide, at most
//!   `shard_triplets` per shard, with tensors `hr`, `lr1`, `lr2` (u8 `[n, T, T, 3]`, RGB) and
//!   `coords` (i64 `[n, 9]`: slide index, grid x, grid y (LR2 pixels), then the level-0
//!   top-left x, y of the LR2, LR1 and HR tiles).
//!
//! Shards are streamed triplet by triplet into a temporary file ([`ShardWriter`]) and renamed
//! when complete; the manifest is likewise written to a temporary name and renamed after each
//! slide. So an interrupted run leaves a valid store that a re-run completes (slides already
//! `complete` are skipped, and the temporary files of the killed run are removed).

use std::fs::File;
use std::path::{Path, PathBuf};

use histo_tensor::Image;
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::sampler::TripletCoords;
use crate::slide::{LevelInfo, ReadLevel};
use crate::tissue::TissueStats;
use crate::{Error, Result};

/// Name of the format in `manifest.json`.
pub const STORE_FORMAT: &str = "histo-tile-store";
/// Version of the format.
pub const STORE_VERSION: u32 = 1;
/// Columns of the `coords` tensor.
pub const COORD_COLUMNS: [&str; 9] = [
    "slide", "grid_x", "grid_y", "lr2_x", "lr2_y", "lr1_x", "lr1_y", "hr_x", "hr_y",
];

/// Status of one slide in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlideStatus {
    /// Not processed yet (or interrupted).
    Pending,
    /// All its triplets are in the store.
    Complete,
    /// Skipped by a rule (too few levels, no tissue, ...): a warning, not an error.
    Skipped,
    /// Could not be read (damaged file, unsupported format, ...).
    Failed,
}

/// One shard file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// File name inside the store directory.
    pub file: String,
    /// Number of triplets in it.
    pub count: usize,
}

/// One slide of a store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlideEntry {
    /// Index used in the `coords` tensor.
    pub index: usize,
    /// The slide file as given.
    pub path: String,
    /// Processing status.
    pub status: SlideStatus,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    /// Reader backend.
    pub backend: Option<String>,
    /// Vendor as OpenSlide names it.
    pub vendor: Option<String>,
    /// Native levels.
    pub levels: Vec<LevelInfo>,
    /// Microns per pixel at level 0.
    pub mpp_x: Option<f64>,
    /// Microns per pixel at level 0.
    pub mpp_y: Option<f64>,
    /// The HR, LR1, LR2 read levels.
    pub read_levels: Vec<ReadLevel>,
    /// Tissue statistics.
    pub tissue: Option<TissueStats>,
    /// Grid candidates tested.
    pub candidates: usize,
    /// Candidates accepted (= triplets stored when complete).
    pub accepted: usize,
    /// Its shards.
    pub shards: Vec<ShardEntry>,
    /// Wall time spent on it, seconds.
    pub seconds: f64,
}

impl SlideEntry {
    /// A pending entry for `path`.
    pub fn pending(index: usize, path: &Path) -> Self {
        Self {
            index,
            path: path.to_string_lossy().into_owned(),
            status: SlideStatus::Pending,
            reason: None,
            backend: None,
            vendor: None,
            levels: Vec::new(),
            mpp_x: None,
            mpp_y: None,
            read_levels: Vec::new(),
            tissue: None,
            candidates: 0,
            accepted: 0,
            shards: Vec::new(),
            seconds: 0.0,
        }
    }
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`STORE_FORMAT`].
    pub format: String,
    /// [`STORE_VERSION`].
    pub version: u32,
    /// Tile width and height.
    pub tile_size: usize,
    /// Maximum triplets per shard.
    pub shard_triplets: usize,
    /// The sampling parameters (free-form JSON, compared on resume).
    pub params: serde_json::Value,
    /// Columns of the `coords` tensor.
    pub coord_columns: Vec<String>,
    /// The slides.
    pub slides: Vec<SlideEntry>,
}

impl Manifest {
    /// An empty manifest.
    pub fn new(tile_size: usize, shard_triplets: usize, params: serde_json::Value) -> Self {
        Self {
            format: STORE_FORMAT.into(),
            version: STORE_VERSION,
            tile_size,
            shard_triplets,
            params,
            coord_columns: COORD_COLUMNS.iter().map(|s| s.to_string()).collect(),
            slides: Vec::new(),
        }
    }

    /// Reads and checks `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let m: Manifest = serde_json::from_str(&text)
            .map_err(|e| Error::format(&path, format!("not a valid tile-store manifest: {e}")))?;
        if m.format != STORE_FORMAT {
            return Err(Error::format(
                &path,
                format!("format is `{}`, expected `{STORE_FORMAT}`", m.format),
            ));
        }
        if m.version != STORE_VERSION {
            return Err(Error::format(
                &path,
                format!(
                    "version {} is not supported (this build reads version {STORE_VERSION})",
                    m.version
                ),
            ));
        }
        if m.tile_size == 0 {
            return Err(Error::format(&path, "tile_size is 0"));
        }
        Ok(m)
    }

    /// Writes `dir/manifest.json` atomically (temporary file + rename).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join("manifest.json");
        let tmp = temporary_path(&path);
        let text =
            serde_json::to_string_pretty(self).map_err(|e| Error::format(&path, e.to_string()))?;
        std::fs::write(&tmp, text + "\n").map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }

    /// Triplets in complete slides.
    pub fn total(&self) -> usize {
        self.slides
            .iter()
            .filter(|s| s.status == SlideStatus::Complete)
            .map(|s| s.shards.iter().map(|x| x.count).sum::<usize>())
            .sum()
    }
}

/// The temporary name a store file is written under before its rename: `NAME.PID.tmp`.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|s| s.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Removes the temporary files an interrupted run left in a store directory (a shard or
/// manifest being written when the process was killed: `*.safetensors.PID.tmp`,
/// `manifest.json.PID.tmp`). Returns how many were removed. Only one run may write to a store
/// at a time, so such files are never another live run's.
pub fn remove_stale_temporaries(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.ends_with(".tmp")
            && (name.starts_with("manifest.json.")
                || (name.starts_with('s') && name.contains(".safetensors.")));
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            let p = entry.path();
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Name of shard `k` of slide `slide`.
pub fn shard_name(slide: usize, k: usize) -> String {
    format!("s{slide:05}-{k:04}.safetensors")
}

/// Writes one shard (temporary file + rename). `images` are HR, LR1, LR2 as `[n, t, t, 3]`.
pub fn write_shard(
    path: &Path,
    slide: usize,
    tile: usize,
    coords: &[TripletCoords],
    images: &[Vec<u8>; 3],
) -> Result<()> {
    let w = ShardWriter::create(path, slide, tile, coords)?;
    let n = tile * tile * 3;
    if images.iter().any(|v| v.len() != coords.len() * n) {
        return Err(Error::Invalid(format!(
            "shard images of {:?} bytes for {} triplets of {tile}² tiles",
            images.iter().map(Vec::len).collect::<Vec<_>>(),
            coords.len()
        )));
    }
    for i in 0..coords.len() {
        w.write(i, [0, 1, 2].map(|k| &images[k][i * n..(i + 1) * n]))?;
    }
    w.finish()
}

/// Writes a shard triplet by triplet, from any number of threads and in any order, straight
/// into the file (positional writes): no shard is ever assembled in memory.
///
/// The file is a safetensors file laid out as `coords`, `hr`, `lr1`, `lr2` (the i64 tensor
/// first, so that it is 8-byte aligned in the file for any tile size). It is written under a
/// temporary name, renamed into place by [`ShardWriter::finish`], and removed if the writer is
/// dropped unfinished.
#[derive(Debug)]
pub struct ShardWriter {
    file: File,
    tmp: PathBuf,
    path: PathBuf,
    count: usize,
    tile_bytes: u64,
    /// File offsets of the hr, lr1, lr2 data.
    planes: [u64; 3],
    finished: bool,
}

impl ShardWriter {
    /// Creates the temporary file of a shard of `coords.len()` triplets and writes its header
    /// and coordinates.
    pub fn create(
        path: &Path,
        slide: usize,
        tile: usize,
        coords: &[TripletCoords],
    ) -> Result<Self> {
        let n = coords.len();
        let tile_bytes = (tile * tile * 3) as u64;
        let coord_bytes = (n * 9 * 8) as u64;
        let plane = n as u64 * tile_bytes;
        let info = |dtype: &str, shape: Vec<usize>, at: u64, len: u64| serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [at, at + len]});
        let header = serde_json::json!({
            "__metadata__": {"format": STORE_FORMAT, "slide": slide.to_string()},
            "coords": info("I64", vec![n, 9], 0, coord_bytes),
            "hr": info("U8", vec![n, tile, tile, 3], coord_bytes, plane),
            "lr1": info("U8", vec![n, tile, tile, 3], coord_bytes + plane, plane),
            "lr2": info("U8", vec![n, tile, tile, 3], coord_bytes + 2 * plane, plane),
        });
        let mut head = header.to_string().into_bytes();
        head.resize(head.len().next_multiple_of(8), b' ');
        let base = 8 + head.len() as u64;
        let tmp = temporary_path(path);
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let w = Self {
            file,
            tmp,
            path: path.to_path_buf(),
            count: n,
            tile_bytes,
            planes: [0, 1, 2].map(|k| base + coord_bytes + k * plane),
            finished: false,
        };
        let mut c = Vec::with_capacity(8 + head.len() + n * 72);
        c.extend_from_slice(&(head.len() as u64).to_le_bytes());
        c.extend_from_slice(&head);
        for t in coords {
            for v in [
                slide as i64,
                t.grid.0,
                t.grid.1,
                t.lr2.0,
                t.lr2.1,
                t.lr1.0,
                t.lr1.1,
                t.hr.0,
                t.hr.1,
            ] {
                c.extend_from_slice(&v.to_le_bytes());
            }
        }
        w.write_at(&c, 0)?;
        w.file
            .set_len(base + coord_bytes + 3 * plane)
            .map_err(|e| Error::io(&w.tmp, e))?;
        Ok(w)
    }

    /// Writes the three tiles of triplet `i` (`tile*tile*3` bytes each: HR, LR1, LR2).
    pub fn write(&self, i: usize, tiles: [&[u8]; 3]) -> Result<()> {
        if i >= self.count || tiles.iter().any(|t| t.len() as u64 != self.tile_bytes) {
            return Err(Error::Invalid(format!(
                "triplet {i} of a {}-triplet shard with tiles of {:?} bytes (expected {})",
                self.count,
                tiles.map(<[u8]>::len),
                self.tile_bytes
            )));
        }
        for (t, plane) in tiles.into_iter().zip(self.planes) {
            self.write_at(t, plane + i as u64 * self.tile_bytes)?;
        }
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        #[cfg(unix)]
        let r = std::os::unix::fs::FileExt::write_all_at(&self.file, buf, offset);
        #[cfg(windows)]
        let r = {
            use std::os::windows::fs::FileExt;
            let mut done = 0;
            loop {
                if done == buf.len() {
                    break Ok(());
                }
                match self.file.seek_write(&buf[done..], offset + done as u64) {
                    Ok(0) => break Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(k) => done += k,
                    Err(e) => break Err(e),
                }
            }
        };
        r.map_err(|e| Error::io(&self.tmp, e))
    }

    /// Renames the finished shard into place (every triplet must have been written).
    pub fn finish(mut self) -> Result<()> {
        self.finished = true;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// One triplet read back from a store.
#[derive(Clone, Debug, PartialEq)]
pub struct Triplet {
    /// Highest resolution tile.
    pub hr: Image,
    /// Middle resolution tile.
    pub lr1: Image,
    /// Lowest resolution tile.
    pub lr2: Image,
    /// Index of the slide in [`TileStore::slides`].
    pub slide: usize,
    /// Level-0 x of the LR2 tile (the grid candidate).
    pub x: i64,
    /// Level-0 y of the LR2 tile.
    pub y: i64,
    /// All coordinates.
    pub coords: TripletCoords,
}

/// A memory-mapped shard with the byte ranges of its tensors.
struct Shard {
    path: PathBuf,
    map: Mmap,
    count: usize,
    /// Absolute byte offsets of hr, lr1, lr2, coords data.
    starts: [usize; 4],
}

/// A tile store opened for reading. `Send + Sync`: `get` may be called from many threads.
pub struct TileStore {
    dir: PathBuf,
    manifest: Manifest,
    shards: Vec<Shard>,
    /// Cumulative triplet counts: shard `k` holds global indices `[cum[k], cum[k+1])`.
    cum: Vec<usize>,
}

impl std::fmt::Debug for TileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileStore")
            .field("dir", &self.dir)
            .field("len", &self.len())
            .field("tile_size", &self.tile_size())
            .field("shards", &self.shards.len())
            .finish()
    }
}

fn open_shard(path: &Path, tile: usize, expected: usize) -> Result<Shard> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the map is read-only; a shard is written once to a temporary name and renamed
    // into place, never modified afterwards. (Truncating it while mapped would be a misuse
    // that no reader of memory-mapped files can defend against.)
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    let bad = |msg: String| Error::format(path, format!("corrupt tile-store shard: {msg}"));
    let (n, meta) = SafeTensors::read_metadata(&map).map_err(|e| bad(e.to_string()))?;
    let base = 8 + n;
    let mut starts = [0usize; 4];
    for (i, (name, dtype, cols)) in [
        ("hr", Dtype::U8, vec![tile, tile, 3]),
        ("lr1", Dtype::U8, vec![tile, tile, 3]),
        ("lr2", Dtype::U8, vec![tile, tile, 3]),
        ("coords", Dtype::I64, vec![9]),
    ]
    .into_iter()
    .enumerate()
    {
        let info = meta
            .info(name)
            .ok_or_else(|| bad(format!("no tensor `{name}`")))?;
        let mut want = vec![expected];
        want.extend(cols);
        if info.dtype != dtype || info.shape != want {
            return Err(bad(format!(
                "tensor `{name}` is {:?} {:?}, expected {dtype:?} {want:?}",
                info.dtype, info.shape
            )));
        }
        starts[i] = base + info.data_offsets.0;
    }
    Ok(Shard {
        path: path.to_path_buf(),
        map,
        count: expected,
        starts,
    })
}

impl TileStore {
    /// Opens a store: reads the manifest and maps and checks every shard of every complete
    /// slide (a missing or corrupt manifest or shard is an error naming the file).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let manifest = Manifest::load(&dir)?;
        let mut shards = Vec::new();
        let mut cum = vec![0];
        for s in manifest
            .slides
            .iter()
            .filter(|s| s.status == SlideStatus::Complete)
        {
            for e in &s.shards {
                if e.count == 0 {
                    continue;
                }
                let sh = open_shard(&dir.join(&e.file), manifest.tile_size, e.count)?;
                cum.push(cum.last().copied().unwrap_or(0) + sh.count);
                shards.push(sh);
            }
        }
        Ok(Self {
            dir,
            manifest,
            shards,
            cum,
        })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of triplets.
    pub fn len(&self) -> usize {
        self.cum.last().copied().unwrap_or(0)
    }

    /// `true` when the store holds no triplet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tile width and height.
    pub fn tile_size(&self) -> usize {
        self.manifest.tile_size
    }

    /// The manifest's slide entries (index = the `slide` of a [`Triplet`]).
    pub fn slides(&self) -> &[SlideEntry] {
        &self.manifest.slides
    }

    /// The whole manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn locate(&self, i: usize) -> Result<(&Shard, usize)> {
        if i >= self.len() {
            return Err(Error::Invalid(format!(
                "triplet index {i} out of range (the store at {} holds {})",
                self.dir.display(),
                self.len()
            )));
        }
        let k = self.cum.partition_point(|&c| c <= i) - 1;
        Ok((&self.shards[k], i - self.cum[k]))
    }

    /// Copies triplet `i`'s three tiles into `out` (HR, LR1, LR2; `T*T*3` bytes each) and
    /// returns its coordinates; no allocation.
    pub fn get_into(&self, i: usize, out: [&mut [u8]; 3]) -> Result<(usize, TripletCoords)> {
        let (sh, j) = self.locate(i)?;
        let n = self.tile_size() * self.tile_size() * 3;
        for (k, o) in out.into_iter().enumerate() {
            if o.len() != n {
                return Err(Error::Invalid(format!(
                    "output buffer of {} bytes, need {n}",
                    o.len()
                )));
            }
            let s = sh.starts[k] + j * n;
            o.copy_from_slice(&sh.map[s..s + n]);
        }
        let s = sh.starts[3] + j * 72;
        let v: Vec<i64> = sh.map[s..s + 72]
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect();
        let slide = usize::try_from(v[0]).map_err(|_| {
            Error::format(&sh.path, format!("triplet {j} has a negative slide index"))
        })?;
        Ok((
            slide,
            TripletCoords {
                grid: (v[1], v[2]),
                lr2: (v[3], v[4]),
                lr1: (v[5], v[6]),
                hr: (v[7], v[8]),
            },
        ))
    }

    /// Triplet `i` (0 ≤ i < len).
    pub fn get(&self, i: usize) -> Result<Triplet> {
        let t = self.tile_size();
        let n = t * t * 3;
        let (mut a, mut b, mut c) = (vec![0u8; n], vec![0u8; n], vec![0u8; n]);
        let (slide, coords) = self.get_into(i, [&mut a, &mut b, &mut c])?;
        Ok(Triplet {
            hr: Image::from_raw(t, t, a)?,
            lr1: Image::from_raw(t, t, b)?,
            lr2: Image::from_raw(t, t, c)?,
            slide,
            x: coords.lr2.0,
            y: coords.lr2.1,
            coords,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coords(k: i64) -> TripletCoords {
        TripletCoords {
            grid: (k, k + 1),
            lr2: (k + 2, k + 3),
            lr1: (k + 4, k + 5),
            hr: (k + 6, k + 7),
        }
    }

    #[test]
    fn streamed_shard_is_valid_safetensors() {
        let dir = std::env::temp_dir().join(format!("histo-shard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(shard_name(7, 0));
        // tile 5: 75-byte tiles, so only the coords-first layout keeps the i64 data aligned
        let (t, n) = (5usize, 3usize);
        let cs: Vec<TripletCoords> = (0..n as i64).map(|k| coords(10 * k)).collect();
        let tile = |i: usize, k: usize| vec![(i * 3 + k) as u8; t * t * 3];
        let w = ShardWriter::create(&path, 7, t, &cs).unwrap();
        for i in [2, 0, 1] {
            let (a, b, c) = (tile(i, 0), tile(i, 1), tile(i, 2));
            w.write(i, [&a, &b, &c]).unwrap();
        }
        assert!(w.write(3, [&[0; 75], &[0; 75], &[0; 75]]).is_err());
        assert!(w.write(0, [&[0; 74], &[0; 75], &[0; 75]]).is_err());
        assert!(!path.exists(), "renamed only when finished");
        w.finish().unwrap();

        let bytes = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let c = st.tensor("coords").unwrap();
        assert_eq!(c.shape(), &[n, 9]);
        let (head, _) = SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!((8 + head) % 8, 0, "data start is 8-byte aligned");
        let v: Vec<i64> = c
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(&v[9..18], &[7, 10, 11, 12, 13, 14, 15, 16, 17]);
        for (k, name) in ["hr", "lr1", "lr2"].into_iter().enumerate() {
            let x = st.tensor(name).unwrap();
            assert_eq!(x.shape(), &[n, t, t, 3]);
            for i in 0..n {
                assert_eq!(&x.data()[i * 75..(i + 1) * 75], &tile(i, k)[..]);
            }
        }
        // the reader of the store accepts it
        let sh = open_shard(&path, t, n).unwrap();
        assert_eq!(sh.count, n);

        // an unfinished writer leaves nothing behind
        let other = dir.join(shard_name(7, 1));
        drop(ShardWriter::create(&other, 7, t, &cs).unwrap());
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
