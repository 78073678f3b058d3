//! Small file-system helpers shared by the readers: sorted listings, image extensions.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// File extensions (lower case) read as images: TIFF, PNG, JPEG.
pub const IMAGE_EXTENSIONS: &[&str] = &["tif", "tiff", "png", "jpg", "jpeg"];

/// `true` when `path` has one of [`IMAGE_EXTENSIONS`] (case-insensitive).
pub fn is_image_file(path: &Path) -> bool {
    has_extension(path, IMAGE_EXTENSIONS)
}

/// `true` when `path`'s extension is one of `exts` (lower case, compared case-insensitively).
pub fn has_extension(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// One entry of a directory listing.
pub struct Entry {
    /// Full path.
    pub path: PathBuf,
    /// File name (lossy UTF-8).
    pub name: String,
    /// `true` for a directory (following symlinks).
    pub is_dir: bool,
}

/// The entries of `dir`, sorted by name (byte order), hidden entries (`.name`) left out. Sorting
/// makes every enumeration, and so every split, independent of the file system (fixes B33).
pub fn list_dir(dir: &Path) -> Result<Vec<Entry>> {
    if !dir.exists() {
        return Err(Error::missing(dir, "folder"));
    }
    if !dir.is_dir() {
        return Err(Error::format(dir, "expected a folder, found a file"));
    }
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // `Path::is_dir` follows symlinks, so linked class folders work.
        let is_dir = path.is_dir();
        out.push(Entry { path, name, is_dir });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Reads a whole text file, naming it in the error.
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    if !path.exists() {
        return Err(Error::missing(path, what));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| Error::format(path, format!("not UTF-8 text ({e})")))?;
    // A UTF-8 byte-order mark (spreadsheet exports) is not part of the first field.
    Ok(text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned())
}

/// Width and height of an image file from its header only (no pixel decoding).
pub fn image_dimensions(path: &Path) -> std::result::Result<(u32, u32), String> {
    image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_dimensions()
        .map_err(|e| e.to_string())
}
