//! Property tests: identity parameters return the input, flips are involutions, every op keeps
//! the size (or produces the requested one), and no parameter — NaN, infinite, huge — panics.

use histo_augment::ops::{self, Enhance, Flip, HedJitter, HedShift, HsbJitter};
use histo_augment::{Image, Size, sample_rng};
use proptest::prelude::*;

fn image() -> impl Strategy<Value = Image> {
    (1usize..24, 1usize..24, any::<u64>()).prop_map(|(w, h, seed)| {
        let mut state = seed | 1;
        let data = (0..w * h * 3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        Image::from_raw(w, h, data).expect("w*h*3 bytes")
    })
}

fn wild() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(1e300),
        -1e6f64..1e6,
        -2.0f64..2.0,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn identity_parameters_return_the_input(img in image()) {
        let mut rng = sample_rng(0, 0, 0);
        prop_assert_eq!(&ops::rotate(&img, 0.0).unwrap(), &img);
        prop_assert_eq!(&ops::shift_scale_rotate(&img, 0.0, 1.0, 0.0, 0.0).unwrap(), &img);
        prop_assert_eq!(&ops::resize(&img, Size::of(&img)).unwrap(), &img);
        prop_assert_eq!(&ops::scale(&img, 1.0).unwrap(), &img);
        prop_assert_eq!(&ops::box_blur(&img, 1).unwrap(), &img);
        prop_assert_eq!(&ops::gaussian_noise(&img, 0.0, &mut rng).unwrap(), &img);
        prop_assert_eq!(&ops::brightness_contrast(&img, 1.0, 0.0).unwrap(), &img);
        for kind in [Enhance::Contrast, Enhance::Brightness, Enhance::Sharpness, Enhance::Color] {
            prop_assert_eq!(&ops::enhance(&img, kind, 1.0).unwrap(), &img);
        }
        prop_assert_eq!(&ops::pil_rotate(&img, 0.0).unwrap(), &img);
        prop_assert_eq!(&ops::translate_x(&img, 0.0).unwrap(), &img);
        prop_assert_eq!(&ops::translate_y(&img, 0.0).unwrap(), &img);
        prop_assert_eq!(&ops::shear_x(&img, 0.0).unwrap(), &img);
        prop_assert_eq!(&ops::shear_y(&img, 0.0).unwrap(), &img);
        prop_assert_eq!(&ops::posterize(&img, 8).unwrap(), &img);
        prop_assert_eq!(&HedShift::new([0.0; 3]).apply(&img).unwrap(), &img);
        let jitter = HedJitter { sigma: [0.0; 3], bias: [0.0; 3], cutoff: (0.0, 1.0) };
        prop_assert_eq!(&jitter.apply(&img).unwrap(), &img);
        prop_assert_eq!(&HsbJitter { hue: 0.0, saturation: 0.0 }.apply(&img).unwrap(), &img);
        prop_assert_eq!(&ops::center_crop(&img, Size::of(&img)).unwrap(), &img);
    }

    #[test]
    fn flips_are_involutions(img in image()) {
        for how in [Flip::Horizontal, Flip::Vertical, Flip::Both] {
            prop_assert_eq!(&ops::flip(&ops::flip(&img, how), how), &img);
        }
        let half = ops::pil_rotate(&img, 180.0).unwrap();
        prop_assert_eq!(&ops::pil_rotate(&half, 180.0).unwrap(), &img);
        prop_assert_eq!(&half, &ops::flip(&img, Flip::Both));
    }

    #[test]
    fn ops_keep_the_size(img in image(), a in -180.0f64..180.0, s in 0.3f64..3.0, k in 0usize..4) {
        let size = Size::of(&img);
        let mut rng = sample_rng(1, 2, 3);
        let outs = [
            ops::rotate(&img, a).unwrap(),
            ops::shift_scale_rotate(&img, a, s, 0.1, -0.1).unwrap(),
            ops::box_blur(&img, 2 * k + 1).unwrap(),
            ops::gaussian_noise(&img, s * 10.0, &mut rng).unwrap(),
            ops::hsv_shift(&img, a, a / 2.0, -a / 3.0).unwrap(),
            ops::brightness_contrast(&img, s, 0.1).unwrap(),
            ops::enhance(&img, Enhance::Sharpness, s).unwrap(),
            ops::autocontrast(&img),
            ops::equalize(&img),
            ops::solarize(&img, k as u8 * 60),
            ops::pil_rotate(&img, a).unwrap(),
            ops::shear_x(&img, s - 1.0).unwrap(),
            HedShift::new([s / 10.0, -0.02, 0.01]).apply(&img).unwrap(),
            HedJitter { sigma: [0.05, -0.1, 0.0], bias: [0.0, 0.02, -0.03], cutoff: (0.0, 1.0) }
                .apply(&img).unwrap(),
            HsbJitter { hue: 0.3, saturation: -0.2 }.apply(&img).unwrap(),
        ];
        for (i, o) in outs.iter().enumerate() {
            prop_assert_eq!(Size::of(o), size, "op {}", i);
        }
        let target = Size::new(1 + (s * 7.0) as usize, 1 + (s * 5.0) as usize);
        prop_assert_eq!(Size::of(&ops::resize(&img, target).unwrap()), target);
    }

    #[test]
    fn wild_parameters_never_panic(img in image(), p in wild(), q in wild()) {
        let mut rng = sample_rng(0, 0, 1);
        let size = Size::of(&img);
        let results = [
            ops::rotate(&img, p).map(|o| Size::of(&o)),
            ops::shift_scale_rotate(&img, p, q, p, q).map(|o| Size::of(&o)),
            ops::scale(&img, p).map(|_| size),
            ops::gaussian_noise(&img, p, &mut rng).map(|o| Size::of(&o)),
            ops::hsv_shift(&img, p, q, p).map(|o| Size::of(&o)),
            ops::brightness_contrast(&img, p, q).map(|o| Size::of(&o)),
            ops::enhance(&img, Enhance::Contrast, p).map(|o| Size::of(&o)),
            ops::pil_rotate(&img, p).map(|o| Size::of(&o)),
            ops::translate_x(&img, p).map(|o| Size::of(&o)),
            ops::shear_y(&img, q).map(|o| Size::of(&o)),
            HedShift::new([p, q, 0.0]).apply(&img).map(|o| Size::of(&o)),
            HedJitter { sigma: [p, 0.0, 0.0], bias: [0.0, q, 0.0], cutoff: (0.0, 1.0) }
                .apply(&img).map(|o| Size::of(&o)),
            HsbJitter { hue: p, saturation: q }.apply(&img).map(|o| Size::of(&o)),
        ];
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(s) => prop_assert!(i == 2 || s == size, "op {}", i),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}

#[test]
fn empty_images_and_oversized_requests_are_errors() {
    let empty = Image::new(0, 0);
    let mut rng = sample_rng(0, 0, 0);
    assert!(ops::rotate(&empty, 1.0).is_err());
    assert!(ops::resize(&empty, Size::square(3)).is_err());
    assert!(ops::box_blur(&empty, 3).is_err());
    assert!(ops::random_crop(&empty, Size::square(1), &mut rng).is_err());
    assert!(ops::gaussian_noise(&Image::new(0, 5), 3.0, &mut rng).is_err());
    let img = Image::new(4, 4);
    let e = ops::resize(&img, Size::new(1 << 17, 2)).unwrap_err();
    assert!(e.to_string().contains("65536"), "{e}");
    assert!(ops::scale(&img, 9000.0).is_err());
}
