//! The suite every slide backend passes (the pure-Rust reader always; OpenSlide with
//! `--features openslide`): the real Aperio SVS, pyramids from our writer, OpenSlide's
//! read_region semantics, virtual levels, thumbnails.

mod common;

use common::*;
use histo_tensor::Image;
use histo_wsi::{LevelSpec, PyramidOptions, Slide};

#[test]
fn real_svs_levels_mpp_and_properties() {
    for b in backends() {
        let s = open(&svs(), b);
        assert_eq!(s.backend(), b.to_string());
        assert_eq!(s.vendor(), "aperio", "{b}");
        assert_eq!(s.level_count(), 1, "{b}");
        assert_eq!(s.dimensions(), (2220, 2967), "{b}");
        assert_eq!(s.levels()[0].downsample, 1.0);
        let (mx, my) = s.mpp();
        assert!(
            (mx.unwrap() - 0.499).abs() < 1e-9 && (my.unwrap() - 0.499).abs() < 1e-9,
            "{b}"
        );
        assert_eq!(s.objective_power(), Some(20.0), "{b}");
        assert_eq!(s.properties()["aperio.AppMag"], "20", "{b}");
        assert_eq!(
            s.properties()["openslide.level[0].tile-width"],
            "240",
            "{b}"
        );
    }
}

#[test]
fn real_svs_pixels_are_h_and_e() {
    // The Aperio tiles hold RGB samples (photometric RGB): decoded as YCbCr they would turn
    // the white background magenta. Background top-left is near white, tissue is pink/purple.
    for b in backends() {
        let s = open(&svs(), b);
        let bg = s.read_region(0, 2700, 0, 64, 64).unwrap();
        let m = mean_rgb(&bg);
        assert!(m.iter().all(|&c| c > 200.0), "{b}: background {m:?}");
        assert!((m[0] - m[1]).abs() < 15.0, "{b}: background not grey {m:?}");
        // the whole slide: red and blue above green on average (eosin + haematoxylin)
        let t = s.thumbnail(256).unwrap();
        let m = mean_rgb(&t);
        assert!(m[0] > m[1] && m[2] > m[1], "{b}: {m:?}");
    }
}

fn mean_rgb(img: &Image) -> [f64; 3] {
    let mut s = [0.0; 3];
    for p in img.as_slice().chunks_exact(3) {
        for c in 0..3 {
            s[c] += f64::from(p[c]);
        }
    }
    let n = (img.width() * img.height()) as f64;
    [s[0] / n, s[1] / n, s[2] / n]
}

#[test]
fn read_region_semantics() {
    for b in backends() {
        let s = open(&svs(), b);
        let (w, h) = (s.dimensions().0 as i64, s.dimensions().1 as i64);
        // straddling the bottom-right corner: the outside part is black
        let r = s.read_region(w - 10, h - 5, 0, 20, 10).unwrap();
        for y in 0..10 {
            for x in 0..20 {
                let inside = x < 10 && y < 5;
                let p = r.pixel(x, y);
                if !inside {
                    assert_eq!(p, [0, 0, 0], "{b}: ({x},{y}) outside must be black");
                }
            }
        }
        assert_ne!(r.pixel(0, 0), [0, 0, 0]);
        // far outside (negative and beyond): all black, no error
        for (x, y) in [(-100_000, -5), (10 * w, 3 * h), (-300, 10)] {
            let r = s.read_region(x, y, 0, 32, 16).unwrap();
            assert!(r.as_slice().iter().all(|&v| v == 0), "{b}: ({x},{y})");
        }
        // a region straddling the left edge matches the inside read
        let a = s.read_region(-7, 100, 0, 20, 4).unwrap();
        let c = s.read_region(0, 100, 0, 13, 4).unwrap();
        for y in 0..4 {
            for x in 0..13 {
                assert_eq!(a.pixel(x + 7, y), c.pixel(x, y), "{b}");
            }
            assert_eq!(a.pixel(0, y), [0, 0, 0]);
        }
        // bad requests are errors naming the slide
        for (lvl, w, h) in [(0, 0, 10), (0, 10, 0), (3, 10, 10), (0, 1 << 20, 1 << 20)] {
            let e = s.read_region(0, 0, lvl, w, h).unwrap_err().to_string();
            assert!(e.contains("CMU-1-Small-Region.svs"), "{b}: {e}");
        }
    }
}

#[test]
fn rust_reader_matches_openslide_pixels_within_jpeg_tolerance() {
    // Always runs the Rust side; the OpenSlide side when the feature is on. Measured with
    // OpenSlide 3.4.1 / libjpeg-turbo 2.1.5: max |diff| 1, mean 0.0044 over the whole slide
    // (different IDCT rounding only; the tiles are RGB JPEG, so no colour conversion).
    let backs = backends();
    let slides: Vec<Slide> = backs.iter().map(|&b| open(&svs(), b)).collect();
    let a = slides[0].read_region(0, 0, 0, 2220, 2967).unwrap();
    for (b, s) in backs.iter().zip(&slides).skip(1) {
        let o = s.read_region(0, 0, 0, 2220, 2967).unwrap();
        let (mx, mean) = diff(&a, &o);
        eprintln!("real SVS, rust vs {b}: max |diff| {mx}, mean {mean:.5}");
        assert!(mx <= 2 && mean < 0.02, "{b}: max {mx} mean {mean}");
    }
    // Cross-check with pixels OpenSlide produced when the reference file was made: the
    // slide mean of a* differs by the decode differences only.
    let want = reference()["svs"]["mu"].as_f64().unwrap();
    let (sum, n) = histo_wsi::color::sum_lab_a(a.as_slice());
    let mu = sum / n as f64;
    eprintln!("mean a*: rust {mu:.6}, OpenSlide + skimage {want:.6}");
    assert!((mu - want).abs() < 2e-3, "{mu} vs {want}");
}

#[test]
fn own_pyramid_generic_and_aperio() {
    let dir = tempfile::tempdir().unwrap();
    let img = smooth(700, 520);
    let generic = pyramid(
        dir.path(),
        "g.tif",
        &img,
        128,
        PyramidOptions {
            mpp: Some(0.25),
            ..Default::default()
        },
    );
    let aperio = pyramid(
        dir.path(),
        "a.tif",
        &img,
        128,
        PyramidOptions {
            mpp: Some(0.25),
            app_mag: Some(40.0),
            aperio: true,
            ..Default::default()
        },
    );
    for b in backends() {
        for (p, vendor) in [(&generic, "generic-tiff"), (&aperio, "aperio")] {
            let s = open(p, b);
            assert_eq!(s.vendor(), vendor, "{b}");
            let dims: Vec<(u64, u64)> = s.levels().iter().map(|l| (l.width, l.height)).collect();
            assert_eq!(
                dims,
                [(700, 520), (350, 260), (175, 130), (87, 65)],
                "{b} {vendor}"
            );
            assert!((s.levels()[1].downsample - 2.0).abs() < 1e-9);
            if vendor == "aperio" || b == histo_wsi::BackendKind::Rust {
                // OpenSlide 3.4's generic-tiff driver does not report mpp
                assert!((s.mpp().0.unwrap() - 0.25).abs() < 1e-6, "{b} {vendor}");
            }
            if vendor == "aperio" {
                assert_eq!(s.objective_power(), Some(40.0));
            }
            let r = s.read_region(0, 0, 0, 700, 520).unwrap();
            let (mx, mean) = diff(&r, &img);
            assert!(mx <= 12 && mean < 1.5, "{b} {vendor}: max {mx} mean {mean}");
            // level 2 is the 4x box average of the image
            let l2 = s.read_region(0, 0, 2, 175, 130).unwrap();
            let want = box_down(&img, 4);
            let (mx, mean) = diff(&l2, &want);
            assert!(
                mx <= 12 && mean < 1.5,
                "{b} {vendor} level 2: max {mx} mean {mean}"
            );
        }
    }
}

/// Box average by an integer factor (reference for pyramid levels).
fn box_down(img: &Image, f: usize) -> Image {
    let (w, h) = (img.width() / f, img.height() / f);
    let mut out = Image::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let mut s = [0u32; 3];
            for dy in 0..f {
                for dx in 0..f {
                    let p = img.pixel(x * f + dx, y * f + dy);
                    for c in 0..3 {
                        s[c] += u32::from(p[c]);
                    }
                }
            }
            let n = (f * f) as u32;
            out.put_pixel(x, y, [(s[0] / n) as u8, (s[1] / n) as u8, (s[2] / n) as u8]);
        }
    }
    out
}

#[test]
fn virtual_levels_area_average_the_finer_level() {
    for b in backends() {
        let s = open(&svs(), b);
        // 5x on a 20x scan: a virtual level at downsample 4
        let l = s.resolve(LevelSpec::Magnification(5.0)).unwrap();
        assert!(!l.is_native());
        assert_eq!(
            (l.downsample, l.source, l.width, l.height),
            (4.0, 0, 555, 741)
        );
        let v = s.read_at(&l, 100, 200, 50, 40).unwrap();
        let src = s.read_region(400, 800, 0, 200, 160).unwrap();
        let want = box_down(&src, 4);
        let (mx, _) = diff(&v, &want);
        assert!(mx <= 1, "{b}: {mx}"); // rounding of the mean only
        // mpp and magnification agree (0.499 µm at 20x -> 10x = 0.998 µm)
        let by_mpp = s.resolve(LevelSpec::Mpp(0.998)).unwrap();
        let by_mag = s.resolve(LevelSpec::Magnification(10.0)).unwrap();
        assert!((by_mpp.downsample - by_mag.downsample).abs() < 1e-9);
        // the native level is found within tolerance
        assert!(
            s.resolve(LevelSpec::Magnification(20.0))
                .unwrap()
                .is_native()
        );
        // finer than level 0, or a missing level: errors naming the slide
        for spec in [
            LevelSpec::Magnification(40.0),
            LevelSpec::Index(2),
            LevelSpec::Downsample(0.5),
        ] {
            let e = s.resolve(spec).unwrap_err().to_string();
            assert!(e.contains("CMU-1-Small-Region"), "{b}: {e}");
        }
    }
}

#[test]
fn thumbnail_fits_the_requested_size() {
    for b in backends() {
        let s = open(&svs(), b);
        let t = s.thumbnail(300).unwrap();
        assert!(t.width() <= 300 && t.height() <= 300, "{b}");
        assert_eq!(t.height(), 300);
        assert_eq!(t.width(), 224); // 2220 / (2967 / 300) = 224.4
    }
}

/// A read of exactly one whole tile takes a shortcut (decoded straight into the output, not
/// cached): its pixels equal those of the same area cut from a larger read, whether the tile
/// was cached before or not, at every level, the right and bottom edge tiles included.
#[test]
fn whole_tile_reads_equal_crops_of_larger_reads() {
    let dir = tempfile::tempdir().unwrap();
    let written = pyramid(
        dir.path(),
        "p.tif",
        &smooth(300, 200),
        64,
        Default::default(),
    );
    for b in backends() {
        for (path, tile) in [(svs(), 240usize), (written.clone(), 64)] {
            let s = open(&path, b);
            for level in 0..s.level_count() {
                let lvl = s.resolve(LevelSpec::Index(level)).unwrap();
                let (w, h) = (lvl.width as usize, lvl.height as usize);
                let (across, down) = (w.div_ceil(tile), h.div_ceil(tile));
                for (tx, ty) in [
                    (0, 0),
                    (across - 1, 0),
                    (0, down - 1),
                    (across - 1, down - 1),
                ] {
                    let (x, y) = ((tx * tile) as i64, (ty * tile) as i64);
                    // uncached first, then from the cache after the larger read
                    let first = s.read_at(&lvl, x, y, tile, tile).unwrap();
                    let big = s.read_at(&lvl, x - 8, y - 8, tile + 16, tile + 16).unwrap();
                    let again = s.read_at(&lvl, x, y, tile, tile).unwrap();
                    let mut crop = Image::new(tile, tile);
                    for yy in 0..tile {
                        for xx in 0..tile {
                            crop.put_pixel(xx, yy, big.pixel(xx + 8, yy + 8));
                        }
                    }
                    assert_eq!(first, crop, "{b} {path:?} level {level} tile ({tx}, {ty})");
                    assert_eq!(again, crop, "{b} {path:?} level {level} tile ({tx}, {ty})");
                }
            }
        }
    }
}
