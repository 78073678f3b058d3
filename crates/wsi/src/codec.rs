//! Decoding of one TIFF tile to interleaved RGB: JPEG (zune-jpeg, with the shared `JPEGTables`
//! spliced in), LZW (weezl), Deflate (flate2) and uncompressed, with the horizontal predictor.

use std::io::Read;

use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// TIFF compression schemes this reader decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    /// 1
    None,
    /// 5
    Lzw,
    /// 7 (new-style JPEG)
    Jpeg,
    /// 8 and 32946
    Deflate,
}

impl Compression {
    /// Maps the TIFF `Compression` tag value, or names the unsupported scheme.
    pub(crate) fn from_tag(v: u16) -> Result<Self, String> {
        Ok(match v {
            1 => Self::None,
            5 => Self::Lzw,
            7 => Self::Jpeg,
            8 | 32946 => Self::Deflate,
            6 => return Err("old-style JPEG compression (6)".into()),
            33003 | 33005 => return Err(format!("JPEG 2000 compression ({v}, Aperio)")),
            34712 => return Err("JPEG 2000 compression (34712)".into()),
            34892 => return Err("lossy JPEG compression (34892, DNG)".into()),
            50001 | 34927 => return Err(format!("WebP compression ({v})")),
            50000 => return Err("Zstandard compression (50000)".into()),
            v => return Err(format!("compression scheme {v}")),
        })
    }
}

/// How the samples of one tile are laid out and encoded.
#[derive(Clone, Debug)]
pub(crate) struct TileFormat {
    pub compression: Compression,
    /// Samples per pixel (1 grey, 3 RGB/YCbCr, 4 RGBA).
    pub samples: usize,
    /// TIFF predictor (1 none, 2 horizontal differencing).
    pub predictor: u16,
    /// The `JPEGTables` tag (abbreviated table-specification stream), if any.
    pub jpeg_tables: Option<Vec<u8>>,
    /// JPEG samples are YCbCr (photometric 6) rather than RGB.
    pub ycbcr: bool,
}

/// Splices the shared tables in front of an abbreviated JPEG stream: the tables' EOI (`FFD9`) and
/// the tile's SOI (`FFD8`) are dropped.
pub(crate) fn splice_tables(tables: &[u8], tile: &[u8]) -> Result<Vec<u8>, String> {
    if tile.len() < 4 || tile[0] != 0xFF || tile[1] != 0xD8 {
        return Err("JPEG tile data does not start with an SOI marker".into());
    }
    let t = if tables.len() >= 2 && tables[tables.len() - 2..] == [0xFF, 0xD9] {
        &tables[..tables.len() - 2]
    } else {
        tables
    };
    if t.len() < 2 || t[0] != 0xFF || t[1] != 0xD8 {
        return Err("JPEGTables does not start with an SOI marker".into());
    }
    let mut out = Vec::with_capacity(t.len() + tile.len() - 2);
    out.extend_from_slice(t);
    out.extend_from_slice(&tile[2..]);
    Ok(out)
}

/// Decodes a JPEG stream to interleaved RGB: straight into `out` when the stream decodes to
/// exactly `out.len()` bytes of RGB that zune-jpeg converts itself (the common case, a whole
/// tile; the pixels returned are then `None`), otherwise into a new buffer. Returns
/// `(width, height, pixels)`.
///
/// The colour space of the samples is taken from the TIFF photometric tag, as OpenSlide does
/// (`ycbcr` = photometric 6), not guessed from the stream: Aperio SVS tiles, for instance, hold
/// RGB samples (photometric 2, one quantisation table, component ids 0, 1, 2) without any
/// Adobe marker, which a JFIF-style guess would wrongly convert from YCbCr.
fn decode_jpeg(
    data: &[u8],
    ycbcr: bool,
    out: Option<&mut [u8]>,
) -> Result<(usize, usize, Option<Vec<u8>>), String> {
    let opts = DecoderOptions::default().set_strict_mode(true);
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(data), opts);
    dec.decode_headers()
        .map_err(|e| format!("bad JPEG headers: {e}"))?;
    let info = dec.info().ok_or("JPEG headers missing")?;
    let (w, h) = (info.width as usize, info.height as usize);
    let input = dec.input_colorspace().unwrap_or(ColorSpace::YCbCr);
    let comps = usize::from(info.components);
    // zune-jpeg converts YCbCr -> RGB itself; everything else is decoded unconverted.
    let convert_in_zune = comps == 1 || (ycbcr && input == ColorSpace::YCbCr);
    let out_cs = if convert_in_zune {
        ColorSpace::RGB
    } else {
        input
    };
    dec.set_options(opts.jpeg_set_out_colorspace(out_cs));
    if let Some(out) = out.filter(|o| convert_in_zune && o.len() == w * h * 3)
        && dec.output_buffer_size() == Some(out.len())
    {
        dec.decode_into(out)
            .map_err(|e| format!("corrupt JPEG data: {e}"))?;
        return Ok((w, h, None));
    }
    let px = dec
        .decode()
        .map_err(|e| format!("corrupt JPEG data: {e}"))?;
    let n = px.len() / (w * h).max(1);
    if px.len() != w * h * n || n < 3 {
        return Err(format!(
            "JPEG decoded to {} bytes for {w}x{h} pixels ({comps} components)",
            px.len()
        ));
    }
    if convert_in_zune && n == 3 {
        return Ok((w, h, Some(px)));
    }
    let mut rgb = Vec::with_capacity(w * h * 3);
    for p in px.chunks_exact(n) {
        if ycbcr && !convert_in_zune {
            rgb.extend(ycc_to_rgb(p[0], p[1], p[2]));
        } else {
            rgb.extend([p[0], p[1], p[2]]);
        }
    }
    Ok((w, h, Some(rgb)))
}

/// JFIF YCbCr -> RGB with libjpeg's rounding (used where zune-jpeg does not convert).
fn ycc_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = (f32::from(y), f32::from(cb) - 128.0, f32::from(cr) - 128.0);
    let c = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    [
        c(y + 1.402 * cr),
        c(y - 0.344_136 * cb - 0.714_136 * cr),
        c(y + 1.772 * cb),
    ]
}

/// Decodes one tile of `tw`×`th` pixels to interleaved RGB (`tw*th*3` bytes).
#[cfg(test)]
pub(crate) fn decode_tile(
    fmt: &TileFormat,
    data: &[u8],
    tw: usize,
    th: usize,
) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; tw * th * 3];
    decode_tile_into(fmt, data, tw, th, &mut out)?;
    Ok(out)
}

/// Decodes one tile of `tw`×`th` pixels into `out` (interleaved RGB, `tw*th*3` bytes; a JPEG
/// tile of exactly that size is decoded in place, without an intermediate buffer).
pub(crate) fn decode_tile_into(
    fmt: &TileFormat,
    data: &[u8],
    tw: usize,
    th: usize,
    out: &mut [u8],
) -> Result<(), String> {
    if out.len() != tw * th * 3 {
        return Err(format!(
            "a buffer of {} bytes for a {tw}x{th} tile",
            out.len()
        ));
    }
    match fmt.compression {
        Compression::Jpeg => {
            let spliced;
            let stream = match &fmt.jpeg_tables {
                Some(t) => {
                    spliced = splice_tables(t, data)?;
                    &spliced[..]
                }
                None => data,
            };
            let (w, h, px) = decode_jpeg(stream, fmt.ycbcr, Some(&mut *out))?;
            let Some(px) = px else {
                return Ok(()); // decoded in place
            };
            if w == tw && h == th {
                out.copy_from_slice(&px);
                return Ok(());
            }
            // Some writers store edge tiles cropped (padded black here), others larger ones.
            out.fill(0);
            let n = w.min(tw) * 3;
            for y in 0..h.min(th) {
                out[y * tw * 3..y * tw * 3 + n].copy_from_slice(&px[y * w * 3..y * w * 3 + n]);
            }
            Ok(())
        }
        Compression::None | Compression::Lzw | Compression::Deflate => {
            let raw = match fmt.compression {
                Compression::None => data.to_vec(),
                Compression::Lzw => {
                    weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                        .decode(data)
                        .map_err(|e| format!("corrupt LZW data: {e}"))?
                }
                _ => {
                    let mut out = Vec::with_capacity(tw * th * fmt.samples);
                    flate2::read::ZlibDecoder::new(data)
                        .take((tw * th * fmt.samples) as u64 + 1)
                        .read_to_end(&mut out)
                        .map_err(|e| format!("corrupt Deflate data: {e}"))?;
                    out
                }
            };
            out.copy_from_slice(&unpack_samples(fmt, raw, tw, th)?);
            Ok(())
        }
    }
}

/// Undoes the predictor and converts 1/3/4 samples per pixel to RGB.
fn unpack_samples(
    fmt: &TileFormat,
    mut raw: Vec<u8>,
    tw: usize,
    th: usize,
) -> Result<Vec<u8>, String> {
    let s = fmt.samples;
    let want = tw * th * s;
    if raw.len() < want {
        return Err(format!(
            "tile decompressed to {} bytes, expected {want} ({tw}x{th}x{s})",
            raw.len()
        ));
    }
    raw.truncate(want);
    match fmt.predictor {
        1 => {}
        2 => {
            for row in raw.chunks_exact_mut(tw * s) {
                for i in s..row.len() {
                    row[i] = row[i].wrapping_add(row[i - s]);
                }
            }
        }
        p => return Err(format!("unsupported predictor {p}")),
    }
    Ok(match s {
        3 => raw,
        1 => raw.iter().flat_map(|&g| [g, g, g]).collect(),
        _ => raw
            .chunks_exact(s)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splicing_drops_eoi_and_soi() {
        let tables = [0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x02, 0xFF, 0xD9];
        let tile = [0xFF, 0xD8, 0xFF, 0xC0, 0x01, 0xFF, 0xD9];
        let s = splice_tables(&tables, &tile).unwrap();
        assert_eq!(
            s,
            [
                0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x02, 0xFF, 0xC0, 0x01, 0xFF, 0xD9
            ]
        );
        assert!(splice_tables(&tables, &[0, 1, 2, 3]).is_err());
    }

    #[test]
    fn predictor_and_grey_expansion() {
        let fmt = TileFormat {
            compression: Compression::None,
            samples: 1,
            predictor: 2,
            jpeg_tables: None,
            ycbcr: false,
        };
        let out = decode_tile(&fmt, &[10, 1, 1, 5, 250, 10], 3, 2).unwrap();
        assert_eq!(
            out,
            [
                10, 10, 10, 11, 11, 11, 12, 12, 12, 5, 5, 5, 255, 255, 255, 9, 9, 9
            ]
        );
        assert!(
            decode_tile(&fmt, &[1, 2], 3, 2)
                .unwrap_err()
                .contains("expected 6")
        );
    }

    #[test]
    fn lzw_and_deflate_round_trip() {
        let px: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
        let lzw = weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
            .encode(&px)
            .unwrap();
        let mut fmt = TileFormat {
            compression: Compression::Lzw,
            samples: 3,
            predictor: 1,
            jpeg_tables: None,
            ycbcr: false,
        };
        assert_eq!(decode_tile(&fmt, &lzw, 4, 3).unwrap(), px);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut z, &px).unwrap();
        fmt.compression = Compression::Deflate;
        assert_eq!(decode_tile(&fmt, &z.finish().unwrap(), 4, 3).unwrap(), px);
        assert!(decode_tile(&fmt, b"garbage!", 4, 3).is_err());
    }
}
