//! OpenSlide opens the generated slides as Aperio files and reads the same pixels as histo-wsi's
//! own reader (run with `--features openslide`; needs libopenslide).
#![cfg(feature = "openslide")]

use histo_synth::{Scale, Selection, Silent, SynthConfig, generate};
use histo_wsi::{BackendKind, Slide, SlideOptions};

#[test]
fn openslide_reads_synthetic_slides() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig::preset(Scale::Tiny, 1)
        .with_overrides(&[
            "pretrain.slides=1".into(),
            "pretrain.width=1536".into(),
            "pretrain.height=1024".into(),
        ])
        .unwrap();
    let sel = Selection {
        pretrain: true,
        kather: false,
        breastpathq: false,
        camelyon16: false,
    };
    generate(&cfg, dir.path(), sel, false, &Silent).unwrap();
    let path = dir.path().join("pretrain/slide_001.svs");
    let os = Slide::open_with(
        &path,
        &SlideOptions {
            backend: BackendKind::OpenSlide,
            ..Default::default()
        },
    )
    .unwrap();
    let rs = Slide::open(&path).unwrap();
    assert_eq!(os.vendor(), "aperio");
    assert_eq!(os.mpp(), (Some(0.5), Some(0.5)));
    assert_eq!(os.objective_power(), Some(20.0));
    assert_eq!(os.level_count(), rs.level_count());
    assert!(os.level_count() >= 4);
    for level in 0..os.level_count() {
        assert_eq!(os.levels()[level], rs.levels()[level]);
        // Coordinates on the level's pixel grid (OpenSlide interpolates sub-pixel offsets).
        let ds = rs.levels()[level].downsample as i64;
        let (x, y) = (40 * ds, 24 * ds);
        let a = os.read_region(x, y, level, 96, 64).unwrap();
        let b = rs.read_region(x, y, level, 96, 64).unwrap();
        let max = a
            .as_slice()
            .iter()
            .zip(b.as_slice())
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap();
        // Both decode the same JPEG tiles; decoders may differ by a grey level or two.
        assert!(max <= 4, "level {level}: max difference {max}");
    }
}
