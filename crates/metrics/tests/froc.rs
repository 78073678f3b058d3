//! Camelyon16 FROC: a hand-built case, and the official rules as executed with SciPy /
//! scikit-image / NumPy (`data/fixtures/metrics/froc.json`, from `make_reference.py`).

use std::path::PathBuf;

use histo_metrics::froc::*;
use serde_json::Value;

fn fixture() -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/metrics/froc.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{what}: {got:?} vs {want:?}");
    }
}

#[test]
fn hand_built_two_slides() {
    // Geometry with 1 µm level-0 pixels at level 0: dilation radius 37.5 px, ITC below 275 px.
    // Use level 3 (8 level-0 px per mask pixel): radius 75 / (8 · 2) = 4.69 px, ITC < 34.4 px.
    let g = MaskGeometry {
        level0_mpp: 1.0,
        level: 3,
    };
    let (w, h) = (100, 60);
    let mut tumour = vec![false; w * h];
    // Lesion A: a 50-pixel-long bar (major axis ≈ 4·sqrt(var) = 4·50/sqrt(12) + dilation > 34.4).
    for x in 10..60 {
        tumour[20 * w + x] = true;
    }
    // Lesion B: a single pixel far away: after dilation a disc of radius 4.69 → major ≈ 9 < 34.4,
    // an ITC.
    tumour[50 * w + 90] = true;
    let mask = LesionMask::new(&tumour, w, h, g).unwrap();
    assert_eq!((mask.n_regions(), mask.n_lesions()), (2, 1));
    let px = |x: u64, y: u64| (x * 8 + 3, y * 8 + 5); // a level-0 point inside mask pixel (x, y)
    let det = |p: f64, (x, y): (u64, u64)| Detection {
        probability: p,
        x,
        y,
    };
    let slide1 = evaluate_slide(
        Some(&mask),
        &[
            det(0.9, px(30, 20)), // hit on A
            det(0.6, px(30, 23)), // second hit on A (inside the dilation): lower, ignored
            det(0.8, px(90, 50)), // on the ITC: ignored
            det(0.7, px(5, 5)),   // false positive
        ],
    )
    .unwrap();
    assert_eq!(slide1.fp_probs, vec![0.7]);
    assert_eq!(slide1.lesion_probs, vec![0.9, 0.0]);
    let slide2 = evaluate_slide(None, &[det(0.5, (0, 0)), det(0.95, (10, 10))]).unwrap();
    let f = froc(&[slide1, slide2]).unwrap();
    // Thresholds {0, 0.5, 0.7, 0.9, 0.95} minus the smallest:
    //   0.5 → FPs {0.7, 0.5, 0.95} = 1.5 per slide, sensitivity 1
    //   0.7 → 1.0, 1;  0.9 → 0.5, 1;  0.95 → 0.5, 0;  then (0, 0).
    assert_eq!(f.fps_per_slide, vec![1.5, 1.0, 0.5, 0.5, 0.0]);
    assert_eq!(f.sensitivity, vec![1.0, 1.0, 1.0, 0.0, 0.0]);
    // np.interp over fps ascending [0, 0.5, 0.5, 1, 1.5] / sens [0, 0, 1, 1, 1]:
    // 0.25 → 0; 0.5 → 1 (last of the tie); 1, 2, 4, 8 → 1.
    assert_eq!(f.sensitivity_at_fp_rates, [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    assert!((f.score - 5.0 / 6.0).abs() < 1e-15);
}

#[test]
fn bad_inputs_are_errors() {
    let g = MaskGeometry::default();
    assert!(LesionMask::new(&[true; 5], 2, 2, g).is_err());
    let mask = LesionMask::new(&[true; 4], 2, 2, g).unwrap();
    let outside = Detection {
        probability: 0.5,
        x: 64,
        y: 0,
    };
    let e = evaluate_slide(Some(&mask), &[outside]).unwrap_err();
    assert!(e.to_string().contains("detection 0"), "{e}");
    let nan = Detection {
        probability: f64::NAN,
        x: 0,
        y: 0,
    };
    assert!(evaluate_slide(None, &[nan]).is_err());
    assert!(froc(&[]).is_err());
    let no_lesion = evaluate_slide(None, &[]).unwrap();
    assert!(froc(&[no_lesion]).is_err());
    assert!(detect_local_maxima(&[0.5; 3], 2, 2, 0, 1, 0.5).is_err());
}

#[test]
fn official_rules_match_the_python_reference() {
    let f = fixture();
    let g = &f["geometry"];
    let geometry = MaskGeometry {
        level0_mpp: g["level0_mpp"].as_f64().unwrap(),
        level: g["level"].as_u64().unwrap() as u32,
    };
    let (w, h) = (
        g["width"].as_u64().unwrap() as usize,
        g["height"].as_u64().unwrap() as usize,
    );
    let mut outcomes = vec![];
    for (i, s) in f["slides"].as_array().unwrap().iter().enumerate() {
        let mask = s["tumour_rows"].as_array().map(|rows| {
            let bits: Vec<bool> = rows
                .iter()
                .flat_map(|r| r.as_str().unwrap().bytes().map(|b| b == b'1'))
                .collect();
            LesionMask::new(&bits, w, h, geometry).unwrap()
        });
        let dets: Vec<Detection> = s["detections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| Detection {
                probability: d[0].as_f64().unwrap(),
                x: d[1].as_u64().unwrap(),
                y: d[2].as_u64().unwrap(),
            })
            .collect();
        if let Some(m) = &mask {
            assert_eq!(
                m.n_regions() as u64,
                s["n_regions"].as_u64().unwrap(),
                "slide {i}"
            );
        }
        let o = evaluate_slide(mask.as_ref(), &dets).unwrap();
        assert_eq!(
            o.n_lesions as u64,
            s["n_lesions"].as_u64().unwrap(),
            "slide {i}"
        );
        assert_eq!(o.fp_probs, f64s(&s["fp_probs"]), "slide {i}");
        let lesion: Vec<f64> = o.lesion_probs.iter().map(|&v| v as f64).collect();
        assert_eq!(lesion, f64s(&s["lesion_probs"]), "slide {i}");
        outcomes.push(o);
    }
    let r = froc(&outcomes).unwrap();
    assert_close(&r.fps_per_slide, &f64s(&f["fps_per_slide"]), "fps");
    assert_close(&r.sensitivity, &f64s(&f["sensitivity"]), "sensitivity");
    assert_close(
        &r.sensitivity_at_fp_rates,
        &f64s(&f["sensitivity_at_fp_rates"]),
        "at rates",
    );
    assert!((r.score - f["score"].as_f64().unwrap()).abs() < 1e-12);

    let n = &f["nms"];
    let rows = n["probs"].as_array().unwrap();
    let (mh, mw) = (rows.len(), rows[0].as_array().unwrap().len());
    let probs: Vec<f32> = rows
        .iter()
        .flat_map(|r| f64s(r).into_iter().map(|v| v as f32))
        .collect();
    let got = detect_local_maxima(
        &probs,
        mw,
        mh,
        n["level"].as_u64().unwrap() as u32,
        n["radius"].as_u64().unwrap() as usize,
        n["threshold"].as_f64().unwrap(),
    )
    .unwrap();
    let want = n["detections"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.probability, w[0].as_f64().unwrap());
        assert_eq!((g.x, g.y), (w[1].as_u64().unwrap(), w[2].as_u64().unwrap()));
    }
}
