//! Mixed precision (bf16 convolutions, f32 master weights): the bf16 forward and gradients
//! agree with f32 to bf16's resolution, and the gradients reach the f32 weights as f32.

use candle_core::{DType, Device, Tensor};
use histo_models::{Mode, Precision, ResNetClassifier, TripletConfig};

/// Seeded standard-normal tensor (candle's own CPU RNG cannot be seeded).
fn randn(seed: u64, std: f32, shape: &[usize]) -> Tensor {
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = histo_tensor::SampleRng::new(seed, 0, 0);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            std * z as f32
        })
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Cosine similarity of two tensors.
fn cosine(a: &Tensor, b: &Tensor) -> f32 {
    let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
    let ab: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    ab / (na * nb).max(1e-30)
}

/// Relative L2 error ‖a − b‖ / ‖a‖.
fn rel_l2(a: &Tensor, b: &Tensor) -> f32 {
    let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
    let d: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
    let n: f32 = a.iter().map(|x| x * x).sum();
    (d / n.max(1e-30)).sqrt()
}

#[test]
fn bf16_forward_and_gradients_match_f32_to_bf16_resolution() {
    let dev = Device::Cpu;
    let cfg = TripletConfig::narrow(18, 8).trunk;
    let build = || ResNetClassifier::new(cfg, 5, &dev, 3).unwrap();
    let (a, b) = (build(), build());
    b.store().set_precision(Precision::Bf16);
    assert_eq!(b.store().precision(), Precision::Bf16);
    // mean/std-normalised pixels (with raw 0–255 inputs the stem's weight gradient, a sum of
    // large positive pixels times a bf16 gradient that nearly cancels, loses most of its
    // digits: use a normalising `input_scale` with bf16)
    let x = randn(1, 1.0, &[16, 3, 64, 64]);
    let w = randn(2, 1.0, &[16, 5]);
    let mut grads = Vec::new();
    let mut outs = Vec::new();
    for m in [&a, &b] {
        let y = m.forward(&x, Mode::TRAIN).unwrap();
        assert_eq!(y.dtype(), DType::F32, "the heads and logits stay f32");
        let g = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let per: Vec<Tensor> = m
            .store()
            .trainable()
            .iter()
            .map(|(_, v)| g.get(v.as_tensor()).unwrap().clone())
            .collect();
        outs.push(y);
        grads.push(per);
    }
    // bf16 keeps 8 bits of mantissa (relative step 2^-8 ≈ 0.4 %); through 17 convolutions and
    // BatchNorms the errors add up to a few percent.
    let d = rel_l2(&outs[0], &outs[1]);
    eprintln!("logits: relative L2 difference {d}");
    assert!(d < 0.06, "logits differ by {d}");
    assert!(d > 0.0, "the bf16 path must really run in bf16");
    for (ga, gb) in grads[0].iter().zip(&grads[1]) {
        assert_eq!(gb.dtype(), DType::F32, "master-weight gradients are f32");
        // PyTorch's bf16 autocast on the same kind of network moves the gradients by 5–41 %
        // relative L2 (precision_torch.py); they must still point the same way.
        let (d, c) = (rel_l2(ga, gb), cosine(ga, gb));
        eprintln!(
            "gradient {:?}: relative L2 difference {d}, cosine {c}",
            ga.dims()
        );
        assert!(
            d < 0.7 && c > 0.75,
            "gradient {:?}: relative L2 difference {d}, cosine {c}",
            ga.dims()
        );
    }
    // the master weights themselves stay f32
    assert!(
        b.store()
            .trainable()
            .iter()
            .all(|(_, v)| v.dtype() == DType::F32)
    );
}

#[test]
fn a_bf16_convolution_and_its_weight_gradient_match_f32_to_bf16_rounding() {
    // Without BatchNorm's cancellation the only error is the rounding of the operands and of
    // the output and its gradient to bf16 (2^-9 relative each).
    let x = randn(3, 1.0, &[4, 6, 12, 12]);
    let w = candle_core::Var::from_tensor(&randn(4, 0.3, &[5, 6, 3, 3])).unwrap();
    let gy = randn(5, 1.0, &[4, 5, 6, 6]);
    let run = |dtype: DType| {
        let xw = x.to_dtype(dtype).unwrap();
        let ww = w.as_tensor().to_dtype(dtype).unwrap();
        let y = histo_models::ops::conv2d(&xw, &ww, 2, 1)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let g = (&y * &gy).unwrap().sum_all().unwrap().backward().unwrap();
        (y, g.get(w.as_tensor()).unwrap().clone())
    };
    let (y32, g32) = run(DType::F32);
    let (y16, g16) = run(DType::BF16);
    assert_eq!(g16.dtype(), DType::F32);
    let (dy, dg) = (rel_l2(&y32, &y16), rel_l2(&g32, &g16));
    assert!(dy > 0.0 && dy < 1e-2, "output relative L2 difference {dy}");
    assert!(
        dg > 0.0 && dg < 1e-2,
        "weight-gradient relative L2 difference {dg}"
    );
}

#[test]
fn precision_parses_and_prints() {
    assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::Bf16);
    assert_eq!("F32".parse::<Precision>().unwrap(), Precision::F32);
    assert!("f16".parse::<Precision>().is_err());
    assert_eq!(Precision::Bf16.to_string(), "bf16");
    assert_eq!(Precision::default(), Precision::F32);
}
