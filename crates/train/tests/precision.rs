//! The master-weight update of bf16 mixed precision: the optimiser updates f32 weights from f32
//! gradients of a bf16 forward pass, so updates far below bf16's resolution accumulate.

use candle_core::{DType, Device, Tensor, Var};
use histo_train::{Grads, Optimizer, OptimizerConfig, ParamGroup};

#[test]
fn sub_bf16_resolution_updates_accumulate_in_the_f32_master_weights() {
    let dev = Device::Cpu;
    // w = 1 (bf16 spacing at 1 is 2^-7 ≈ 0.0078); loss = Σ bf16(w)·bf16(x) with x = 1, so
    // dloss/dw = 1 exactly and each plain-SGD step moves w by lr = 1e-4, 1/78 of a bf16 step.
    let w = Var::new(&[1f32, 1.0, 1.0], &dev).unwrap();
    let x = Tensor::ones(3, DType::BF16, &dev).unwrap();
    let mut opt = Optimizer::new(
        OptimizerConfig::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        },
        1e-4,
        vec![ParamGroup::new(vec![("w".into(), w.clone())])],
    )
    .unwrap();
    for step in 1..=10 {
        let loss = (w.as_tensor().to_dtype(DType::BF16).unwrap() * &x)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = Grads::backward(&loss, &opt.params()).unwrap();
        let g = &grads.0["w"];
        assert_eq!(
            g.dtype(),
            DType::F32,
            "the gradient reaches the master weight as f32"
        );
        assert_eq!(g.to_vec1::<f32>().unwrap(), vec![1.0; 3]);
        opt.step(&grads).unwrap();
        assert_eq!(w.dtype(), DType::F32);
        // f32 reference: the same 1e-4 steps, summed in f32
        let mut want = 1f32;
        for _ in 0..step {
            want -= 1e-4f32;
        }
        for v in w.as_tensor().to_vec1::<f32>().unwrap() {
            assert!(
                (v - want).abs() <= 2.0 * f32::EPSILON,
                "step {step}: {v} vs {want}"
            );
        }
    }
    // 10 updates of 1e-4 moved w by 0.001, which a bf16 weight could not represent at all:
    // rounded to bf16 it is still exactly 1.
    let w_bf16 = w.as_tensor().to_dtype(DType::BF16).unwrap();
    assert_eq!(
        w_bf16
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
        vec![1.0; 3]
    );
    let v = w.as_tensor().to_vec1::<f32>().unwrap()[0];
    assert!((v - 0.999).abs() < 1e-6, "{v}");
}
