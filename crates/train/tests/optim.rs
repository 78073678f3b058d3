//! Optimiser and Lookahead steps against PyTorch on a 2-parameter problem.
//!
//! Reference trajectories: `data/fixtures/train/optim_reference.json`, produced by
//! `make_optim_reference.py` beside it (PyTorch, float64). We run in float64 too; tolerance
//! 1e-12 absolute per coordinate. The first SGD step is also worked by hand below.

use std::path::Path;

use candle_core::{Device, Tensor, Var};
use histo_train::{
    Grads, Lookahead, LookaheadConfig, LookaheadMode, Optimizer, OptimizerConfig, ParamGroup,
};

fn reference() -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/fixtures/train/optim_reference.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn traj(v: &serde_json::Value, key: &str) -> Vec<[f64; 2]> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
        .collect()
}

/// L(w) = 0.5(3w0² + 0.5w1²) + 0.8 w0 w1 + 0.3 w0 − 0.7 w1, with w0 and w1 two parameters.
struct Problem {
    w0: Var,
    w1: Var,
}

impl Problem {
    fn new() -> Self {
        Self {
            w0: Var::new(&[1.0f64], &Device::Cpu).unwrap(),
            w1: Var::new(&[-2.0f64], &Device::Cpu).unwrap(),
        }
    }

    fn params(&self) -> Vec<(String, Var)> {
        vec![
            ("w0".into(), self.w0.clone()),
            ("w1".into(), self.w1.clone()),
        ]
    }

    fn loss(&self) -> Tensor {
        let (a, b) = (self.w0.as_tensor(), self.w1.as_tensor());
        let q = ((a.sqr().unwrap() * 1.5).unwrap() + (b.sqr().unwrap() * 0.25).unwrap()).unwrap();
        let cross = ((a * b).unwrap() * 0.8).unwrap();
        let lin = ((a * 0.3).unwrap() - (b * 0.7).unwrap()).unwrap();
        (q + cross + lin).unwrap().sum_all().unwrap()
    }

    fn grads(&self) -> Grads {
        Grads::backward(&self.loss(), &self.params()).unwrap()
    }

    fn w(&self) -> [f64; 2] {
        [
            self.w0.as_tensor().to_vec1::<f64>().unwrap()[0],
            self.w1.as_tensor().to_vec1::<f64>().unwrap()[0],
        ]
    }

    fn optimizer(&self, config: OptimizerConfig, lr: f64) -> Optimizer {
        Optimizer::new(config, lr, vec![ParamGroup::new(self.params())]).unwrap()
    }
}

fn close(got: [f64; 2], want: [f64; 2], what: &str) {
    for i in 0..2 {
        assert!(
            (got[i] - want[i]).abs() <= 1e-12,
            "{what}: w{i} = {} vs PyTorch {}",
            got[i],
            want[i]
        );
    }
}

fn sgd() -> OptimizerConfig {
    OptimizerConfig::Sgd {
        momentum: 0.9,
        nesterov: true,
        weight_decay: 0.01,
    }
}

fn run(config: OptimizerConfig, lr: f64, key: &str) {
    let reference = reference();
    let want = traj(&reference, key);
    let p = Problem::new();
    let mut opt = p.optimizer(config, lr);
    for (i, w) in want.iter().enumerate() {
        opt.step(&p.grads()).unwrap();
        close(p.w(), *w, &format!("{key} step {}", i + 1));
    }
}

#[test]
fn sgd_nesterov_with_l2_first_step_by_hand() {
    // g = ∇L(1, −2) = (3·1 + 0.8·(−2) + 0.3, 0.5·(−2) + 0.8·1 − 0.7) = (1.7, −0.9)
    // d = g + 0.01·w = (1.71, −0.92); buf = d; Nesterov: d + 0.9·buf = 1.9·d
    // w ← w − 0.1·1.9·d = (1 − 0.3249, −2 + 0.1748) = (0.6751, −1.8252)
    let p = Problem::new();
    let mut opt = p.optimizer(sgd(), 0.1);
    opt.step(&p.grads()).unwrap();
    close(p.w(), [0.6751, -1.8252], "by hand");
}

#[test]
fn sgd_nesterov_with_l2_matches_pytorch() {
    run(sgd(), 0.1, "sgd_nesterov_l2");
}

#[test]
fn plain_sgd_matches_pytorch() {
    run(
        OptimizerConfig::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        },
        0.1,
        "sgd_plain",
    );
}

#[test]
fn adam_with_coupled_l2_matches_pytorch() {
    run(
        OptimizerConfig::Adam {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.01,
        },
        0.05,
        "adam_l2",
    );
}

#[test]
fn adamw_matches_pytorch() {
    run(
        OptimizerConfig::AdamW {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.01,
        },
        0.05,
        "adamw",
    );
}

#[test]
fn lookahead_per_step_matches_pytorch() {
    let want = traj(&reference(), "lookahead_per_step");
    let p = Problem::new();
    let mut opt = p.optimizer(sgd(), 0.1);
    let mut la = Lookahead::new(
        LookaheadConfig {
            k: 5,
            alpha: 0.5,
            mode: LookaheadMode::PerStep,
        },
        &opt,
    )
    .unwrap();
    for (i, w) in want.iter().enumerate() {
        la.step(&mut opt, &p.grads()).unwrap();
        close(p.w(), *w, &format!("lookahead step {}", i + 1));
    }
}

#[test]
fn lookahead_as_the_original_executes_it_matches_pytorch() {
    // 3 batches per epoch step the inner SGD; once per epoch Lookahead.step() with the stale
    // gradient of the last batch; k = 2.
    let want = traj(&reference(), "lookahead_original");
    let p = Problem::new();
    let mut opt = p.optimizer(sgd(), 0.1);
    let mut la = Lookahead::new(
        LookaheadConfig {
            k: 2,
            alpha: 0.5,
            mode: LookaheadMode::Original,
        },
        &opt,
    )
    .unwrap();
    for (e, w) in want.iter().enumerate() {
        let mut last = None;
        for _ in 0..3 {
            let g = p.grads();
            opt.step(&g).unwrap();
            last = Some(g);
        }
        la.step(&mut opt, &last.unwrap()).unwrap();
        close(p.w(), *w, &format!("original lookahead epoch {}", e + 1));
    }
}

#[test]
fn optimiser_state_round_trips_so_resume_is_exact() {
    for config in [
        sgd(),
        OptimizerConfig::Adam {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.01,
        },
    ] {
        // 6 steps straight vs 3 steps, save, new optimiser, load, 3 steps
        let a = Problem::new();
        let mut oa = a.optimizer(config.clone(), 0.05);
        for _ in 0..6 {
            oa.step(&a.grads()).unwrap();
        }
        let b = Problem::new();
        let mut ob = b.optimizer(config.clone(), 0.05);
        for _ in 0..3 {
            ob.step(&b.grads()).unwrap();
        }
        let (tensors, meta) = ob.state("optim.");
        let mut ob2 = b.optimizer(config.clone(), 0.05);
        ob2.load_state("optim.", &tensors.into_iter().collect(), &meta)
            .unwrap();
        for _ in 0..3 {
            ob2.step(&b.grads()).unwrap();
        }
        assert_eq!(a.w(), b.w(), "{config:?}");
        // and a mismatched configuration is refused
        let mut other = b.optimizer(OptimizerConfig::sgd_nesterov(), 0.05);
        let (tensors, meta) = oa.state("optim.");
        if config != OptimizerConfig::sgd_nesterov() {
            let e = other
                .load_state("optim.", &tensors.into_iter().collect(), &meta)
                .unwrap_err();
            assert!(e.to_string().contains("optimiser"), "{e}");
        }
    }
}

#[test]
fn saved_or_loaded_momentum_buffers_do_not_change_with_later_steps() {
    // SGD updates its momentum buffers in place: tensors handed out by `state` or given to
    // `load_state` must keep their values.
    let values = |ts: &[(String, Tensor)]| -> Vec<f64> {
        ts.iter()
            .flat_map(|(_, t)| t.to_vec1::<f64>().unwrap())
            .collect()
    };
    let p = Problem::new();
    let mut opt = p.optimizer(sgd(), 0.05);
    for _ in 0..2 {
        opt.step(&p.grads()).unwrap();
    }
    let (saved, meta) = opt.state("optim.");
    assert_eq!(saved.len(), 2);
    let before = values(&saved);
    opt.step(&p.grads()).unwrap();
    assert_eq!(values(&saved), before, "saved state changed");
    assert_ne!(
        values(&opt.state("optim.").0),
        before,
        "the buffers did not move"
    );

    let map: std::collections::BTreeMap<String, Tensor> = saved.iter().cloned().collect();
    let q = Problem::new();
    let mut loaded = q.optimizer(sgd(), 0.05);
    loaded.load_state("optim.", &map, &meta).unwrap();
    loaded.step(&q.grads()).unwrap();
    let after: Vec<(String, Tensor)> = map.into_iter().collect();
    let mut sorted = saved.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(values(&after), values(&sorted), "loaded state changed");
}

#[test]
fn bad_settings_are_refused() {
    let p = Problem::new();
    let bad = [
        OptimizerConfig::Sgd {
            momentum: 1.5,
            nesterov: false,
            weight_decay: 0.0,
        },
        OptimizerConfig::Sgd {
            momentum: 0.0,
            nesterov: true,
            weight_decay: 0.0,
        },
        OptimizerConfig::Adam {
            betas: (0.9, 1.0),
            eps: 1e-8,
            weight_decay: 0.0,
        },
        OptimizerConfig::AdamW {
            betas: (0.9, 0.99),
            eps: 0.0,
            weight_decay: -1.0,
        },
    ];
    for c in bad {
        assert!(
            Optimizer::new(c.clone(), 0.1, vec![ParamGroup::new(p.params())]).is_err(),
            "{c:?}"
        );
    }
    assert!(Optimizer::new(sgd(), f64::NAN, vec![]).is_err());
    let dup = vec![ParamGroup::new(p.params()), ParamGroup::new(p.params())];
    assert!(Optimizer::new(sgd(), 0.1, dup).is_err());
}

#[test]
fn parameter_groups_have_their_own_rate_and_decay() {
    // group 1: w0 at the base rate with decay 0.01; group 2: w1 at half the rate, no decay.
    // Plain SGD, one step: w0 ← 1 − 0.1·(1.7 + 0.01·1) = 0.829; w1 ← −2 − 0.05·(−0.9) = −1.955
    let p = Problem::new();
    let params = p.params();
    let groups = vec![
        ParamGroup::new(vec![params[0].clone()]),
        ParamGroup {
            params: vec![params[1].clone()],
            lr_mult: 0.5,
            weight_decay: Some(0.0),
        },
    ];
    let cfg = OptimizerConfig::Sgd {
        momentum: 0.0,
        nesterov: false,
        weight_decay: 0.01,
    };
    let mut opt = Optimizer::new(cfg, 0.1, groups).unwrap();
    opt.step(&p.grads()).unwrap();
    close(p.w(), [0.829, -1.955], "groups");
}
