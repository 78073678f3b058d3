//! The pipelines: sizes (square and rectangular), determinism per sample stream, thread-count
//! independence of the batch API, and clear errors on bad input.

use histo_augment::pipelines::{RandOp, V2Op};
use histo_augment::{
    FinetuneViews, Image, Mode, RandAugment, RandAugmentV2, RspPool, RspVersion, Size, Strong,
    Transform, Weak, WeakStrong, ops, par_augment, sample_rng,
};

fn tile(w: usize, h: usize, salt: u8) -> Image {
    let mut img = Image::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let v = ((x * 7 + y * 13) % 200) as u8;
            img.put_pixel(
                x,
                y,
                [v.wrapping_add(salt), 255 - v, (v / 2).wrapping_add(40)],
            );
        }
    }
    img
}

fn real_tile() -> Image {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/fixtures/augment/tile.png"
    );
    Image::open(p).expect("the committed H&E tile")
}

#[test]
fn rsp_pool_keeps_each_tile_size_and_is_deterministic() {
    for version in [RspVersion::V1, RspVersion::V2] {
        let pool = RspPool::new(version);
        let tiles = [tile(64, 48, 0), tile(64, 48, 30), tile(40, 40, 60)];
        let a = pool
            .apply_triplet(&tiles, &mut sample_rng(5, 1, 9))
            .unwrap();
        let b = pool
            .apply_triplet(&tiles, &mut sample_rng(5, 1, 9))
            .unwrap();
        assert_eq!(a, b, "{version:?}");
        for (o, t) in a.iter().zip(&tiles) {
            assert_eq!(Size::of(o), Size::of(t), "{version:?}");
        }
        let c = pool
            .apply_triplet(&tiles, &mut sample_rng(5, 1, 10))
            .unwrap();
        assert_ne!(a, c, "{version:?}: another sample, other draws");
    }
}

#[test]
fn rsp_v1_draws_parameters_per_tile() {
    // Identical tiles come out different: each tile draws its own parameters (the HED op alone,
    // always applied, makes them differ).
    let t = real_tile();
    let out = RspPool::default()
        .apply_triplet(&[t.clone(), t.clone(), t], &mut sample_rng(1, 0, 0))
        .unwrap();
    assert_ne!(out[0], out[1]);
    assert_ne!(out[1], out[2]);
}

#[test]
fn finetune_views_have_the_output_size_and_include_the_resized_input() {
    let img = tile(70, 50, 3);
    let fv = FinetuneViews {
        size: Size::new(40, 32),
        ..FinetuneViews::default()
    };
    let resized = ops::resize(&img, Size::new(40, 32)).unwrap();
    let mut seen_first = [0usize; 3];
    for i in 0..60 {
        let views = fv.views(&img, &mut sample_rng(2, 0, i)).unwrap();
        for v in &views {
            assert_eq!(Size::of(v), Size::new(40, 32));
        }
        let pos = views
            .iter()
            .position(|v| *v == resized)
            .expect("img0 is one of the views");
        seen_first[pos] += 1;
    }
    // The order is random: the resized original lands in every slot.
    assert!(seen_first.iter().all(|&n| n > 5), "{seen_first:?}");
    let strict = FinetuneViews {
        resize: false,
        ..fv
    };
    let e = strict.views(&img, &mut sample_rng(0, 0, 0)).unwrap_err();
    assert!(e.to_string().contains("70x50, not 40x32"), "{e}");
}

#[test]
fn weak_is_a_possibly_flipped_crop() {
    let img = tile(50, 40, 0);
    let weak = Weak {
        size: Size::new(32, 24),
    };
    let mut flipped = 0;
    for i in 0..40 {
        let out = weak.apply(&img, &mut sample_rng(3, 0, i)).unwrap();
        assert_eq!(Size::of(&out), Size::new(32, 24));
        let found = |src: &Image| {
            (0..=16)
                .any(|y| (0..=18).any(|x| ops::crop(src, x, y, Size::new(32, 24)).unwrap() == out))
        };
        if found(&img) {
            continue;
        }
        assert!(
            found(&ops::hflip(&img)),
            "sample {i} is neither a crop nor a flipped crop"
        );
        flipped += 1;
    }
    assert!((5..35).contains(&flipped), "{flipped} of 40 flipped");
    let e = weak
        .apply(&tile(20, 40, 0), &mut sample_rng(0, 0, 0))
        .unwrap_err();
    assert!(e.to_string().contains("smaller than the 32x24 crop"), "{e}");
}

#[test]
fn strong_in_both_modes_at_the_usual_sizes() {
    let t = real_tile();
    for mode in [Mode::Sane, Mode::Faithful] {
        for side in [224, 256] {
            let strong = Strong {
                size: Size::square(side),
                randaugment: RandAugment::default().with_mode(mode),
            };
            for i in 0..6 {
                let a = strong.apply(&t, &mut sample_rng(4, 0, i)).unwrap();
                assert_eq!(Size::of(&a), Size::square(side));
                assert_eq!(a, strong.apply(&t, &mut sample_rng(4, 0, i)).unwrap());
            }
        }
    }
    let rect = Strong {
        size: Size::new(96, 64),
        randaugment: RandAugment::default(),
    };
    assert_eq!(
        Size::of(&rect.apply(&t, &mut sample_rng(0, 0, 0)).unwrap()),
        Size::new(96, 64)
    );
}

#[test]
fn every_randaugment_op_works_at_every_magnitude() {
    let img = tile(48, 40, 9);
    for mode in [Mode::Sane, Mode::Faithful] {
        let ra = RandAugment::default().with_mode(mode);
        for op in RandOp::ALL {
            for v in 1..=10 {
                let out = ra
                    .apply_op(op, v, &img, &mut sample_rng(v as u64, 0, 0))
                    .unwrap_or_else(|e| panic!("{mode:?} {op:?} v={v}: {e}"));
                assert_eq!(Size::of(&out), Size::of(&img), "{mode:?} {op:?} v={v}");
            }
        }
    }
    for op in V2Op::ALL {
        for val in [1.0, 2.0, 3.0, 10.0] {
            let out = op.apply(&img, val, &mut sample_rng(1, 0, 0)).unwrap();
            assert_eq!(Size::of(&out), Size::of(&img), "{op:?} {val}");
        }
    }
}

#[test]
fn faithful_hsv_op_is_the_lossy_round_trip_of_b15() {
    // In faithful mode the HSV op shifts by less than one level: what remains is OpenCV's u8
    // HSV round trip, a change of a few grey levels at most.
    let t = real_tile();
    let ra = RandAugment::default().with_mode(Mode::Faithful);
    for i in 0..10 {
        let out = ra
            .apply_op(RandOp::Hsv, 9, &t, &mut sample_rng(6, 0, i))
            .unwrap();
        let max = out
            .as_slice()
            .iter()
            .zip(t.as_slice())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(max <= 8, "{max}");
    }
}

#[test]
fn weak_strong_pair_and_bad_configurations() {
    let t = real_tile();
    let (w, s) = WeakStrong::new(256)
        .pair(&t, &mut sample_rng(0, 0, 1))
        .unwrap();
    assert_eq!(
        (Size::of(&w), Size::of(&s)),
        (Size::square(256), Size::square(256))
    );
    let bad = RandAugment {
        m: 1,
        ..RandAugment::default().with_mode(Mode::Faithful)
    };
    assert!(bad.apply(&t, &mut sample_rng(0, 0, 0)).is_err());
    assert!(
        RandAugmentV2::new(15, 3.0)
            .apply(&t, &mut sample_rng(0, 0, 0))
            .is_err()
    );
    assert!(
        RandAugmentV2::new(2, f64::NAN)
            .apply(&t, &mut sample_rng(0, 0, 0))
            .is_err()
    );
    let e = FinetuneViews {
        size: Size::new(0, 5),
        ..FinetuneViews::default()
    }
    .views(&t, &mut sample_rng(0, 0, 0))
    .unwrap_err();
    assert!(e.to_string().contains("at least 1x1"), "{e}");
}

#[test]
fn batches_do_not_depend_on_the_thread_count() {
    let tiles: Vec<Image> = (0..12).map(|i| tile(64, 64, i as u8 * 11)).collect();
    let indices: Vec<u64> = (100..112).collect();
    let strong = Strong::new(56);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| par_augment(7, 3, &indices, &tiles, |img, rng| strong.apply(img, rng)))
            .unwrap()
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(4));
    // Item i uses the stream of its dataset index, whatever its position.
    assert_eq!(
        one[5],
        strong.apply(&tiles[5], &mut sample_rng(7, 3, 105)).unwrap()
    );
    let e = par_augment(0, 0, &[1], &tiles, |img, _| Ok(img.clone())).unwrap_err();
    assert!(
        e.to_string().contains("1 sample indices for 12 items"),
        "{e}"
    );
}

#[test]
fn configurations_round_trip_through_serde_with_defaults() {
    let strong: Strong =
        serde_json::from_str(r#"{"size": {"width": 224, "height": 192}}"#).unwrap();
    assert_eq!(strong.size, Size::new(224, 192));
    assert_eq!(strong.randaugment, RandAugment::default());
    let faithful: RandAugment = serde_json::from_str(r#"{"mode": "faithful"}"#).unwrap();
    assert_eq!(
        (faithful.n, faithful.m, faithful.mode),
        (7, 10, Mode::Faithful)
    );
    let pool: RspPool = serde_json::from_str(r#"{"version": "v2"}"#).unwrap();
    assert_eq!(pool.v2, RandAugmentV2::new(2, 3.0));
    let text = serde_json::to_string(&FinetuneViews::new(512)).unwrap();
    let back: FinetuneViews = serde_json::from_str(&text).unwrap();
    assert_eq!(back, FinetuneViews::new(512));
}
