//! Profiling harness: one ResNet-18 training step (forward, cross-entropy, backward, SGD with
//! Nesterov momentum 0.9 and weight decay 1e-4, as `bench_models.py` does in PyTorch), built
//! either from candle's own ops or from this crate's kernels, with timing spans.
//!
//! This minimal network exists only to measure where the time goes; the real ResNet lives in
//! histo-models.
//!
//! ```sh
//! cargo bench -p histo-kernels --bench resnet18_step -- --impl kernels --size 64 --steps 5
//! cargo bench -p histo-kernels --bench resnet18_step -- --impl candle --size 64 --steps 3
//! ```
//! Options: `--impl candle|kernels|both` (both alternates them), `--size PX`, `--batch N`,
//! `--steps N` (timed steps per run), `--runs N`, `--warmup N`.

use candle_core::{DType, Device, Result, Tensor, Var};
use histo_kernels as hk;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Impl {
    Candle,
    Kernels,
}

thread_local! {
    static SPANS: RefCell<BTreeMap<&'static str, Duration>> = const { RefCell::new(BTreeMap::new()) };
}

/// Runs `f` and adds its wall time to the span `name`.
fn span<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    let dt = t.elapsed();
    SPANS.with(|s| *s.borrow_mut().entry(name).or_default() += dt);
    out
}

fn take_spans() -> BTreeMap<&'static str, Duration> {
    SPANS.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

fn randn_var(rng: &mut ChaCha8Rng, shape: &[usize], std: f64) -> Result<Var> {
    let len: usize = shape.iter().product();
    let v: Vec<f32> = (0..len)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            (z * std) as f32
        })
        .collect();
    Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu)?)
}

struct Conv {
    w: Var,
    stride: usize,
    pad: usize,
}

impl Conv {
    fn new(
        rng: &mut ChaCha8Rng,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Result<Self> {
        let std = (2.0 / (cout * k * k) as f64).sqrt();
        Ok(Self {
            w: randn_var(rng, &[cout, cin, k, k], std)?,
            stride,
            pad,
        })
    }

    fn forward(&self, x: &Tensor, imp: Impl) -> Result<Tensor> {
        span("conv", || match imp {
            Impl::Candle => x.conv2d(&self.w, self.pad, self.stride, 1, 1),
            Impl::Kernels => hk::conv2d(x, &self.w, self.stride, self.pad),
        })
    }
}

struct Bn {
    gamma: Var,
    beta: Var,
    mean: Var,
    var: Var,
}

impl Bn {
    fn new(c: usize) -> Result<Self> {
        let dev = &Device::Cpu;
        Ok(Self {
            gamma: Var::ones(c, DType::F32, dev)?,
            beta: Var::zeros(c, DType::F32, dev)?,
            mean: Var::zeros(c, DType::F32, dev)?,
            var: Var::ones(c, DType::F32, dev)?,
        })
    }

    fn forward(&self, x: &Tensor, relu: bool, imp: Impl) -> Result<Tensor> {
        match imp {
            Impl::Candle => {
                let y = span("bn", || {
                    let bn = candle_nn::BatchNorm::new(
                        x.dim(1)?,
                        self.mean.as_tensor().clone(),
                        self.var.as_tensor().clone(),
                        self.gamma.as_tensor().clone(),
                        self.beta.as_tensor().clone(),
                        1e-5,
                    )?;
                    // The module shares the running statistics' storage and updates it in place.
                    bn.forward_train(x)
                })?;
                if relu {
                    span("relu", || y.relu())
                } else {
                    Ok(y)
                }
            }
            Impl::Kernels => span("bn", || {
                let out = if relu {
                    hk::batch_norm_relu_train(x, &self.gamma, &self.beta, 1e-5)?
                } else {
                    hk::batch_norm_train(x, &self.gamma, &self.beta, 1e-5)?
                };
                out.update_running(&self.mean, &self.var, 0.1)?;
                Ok(out.y)
            }),
        }
    }
}

struct Block {
    c1: Conv,
    b1: Bn,
    c2: Conv,
    b2: Bn,
    down: Option<(Conv, Bn)>,
}

impl Block {
    fn forward(&self, x: &Tensor, imp: Impl) -> Result<Tensor> {
        let y = self.b1.forward(&self.c1.forward(x, imp)?, true, imp)?;
        let y = self.b2.forward(&self.c2.forward(&y, imp)?, false, imp)?;
        let id = match &self.down {
            Some((c, b)) => b.forward(&c.forward(x, imp)?, false, imp)?,
            None => x.clone(),
        };
        span("add+relu", || match imp {
            Impl::Candle => (y + id)?.relu(),
            Impl::Kernels => hk::add_relu(&y, &id),
        })
    }
}

struct ResNet18 {
    stem: Conv,
    bn: Bn,
    blocks: Vec<Block>,
    fc_w: Var,
    fc_b: Var,
}

impl ResNet18 {
    fn new(seed: u64, classes: usize) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let stem = Conv::new(&mut rng, 3, 64, 7, 2, 3)?;
        let mut blocks = Vec::new();
        let mut cin = 64;
        for (i, cout) in [64, 128, 256, 512].into_iter().enumerate() {
            for j in 0..2 {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                let down = if stride != 1 || cin != cout {
                    Some((
                        Conv::new(&mut rng, cin, cout, 1, stride, 0)?,
                        Bn::new(cout)?,
                    ))
                } else {
                    None
                };
                blocks.push(Block {
                    c1: Conv::new(&mut rng, cin, cout, 3, stride, 1)?,
                    b1: Bn::new(cout)?,
                    c2: Conv::new(&mut rng, cout, cout, 3, 1, 1)?,
                    b2: Bn::new(cout)?,
                    down,
                });
                cin = cout;
            }
        }
        Ok(Self {
            stem,
            bn: Bn::new(64)?,
            blocks,
            fc_w: randn_var(&mut rng, &[classes, 512], (1.0 / 512f64).sqrt())?,
            fc_b: Var::zeros(classes, DType::F32, &Device::Cpu)?,
        })
    }

    fn vars(&self) -> Vec<&Var> {
        let mut v = vec![&self.stem.w, &self.bn.gamma, &self.bn.beta];
        for b in &self.blocks {
            v.extend([
                &b.c1.w,
                &b.b1.gamma,
                &b.b1.beta,
                &b.c2.w,
                &b.b2.gamma,
                &b.b2.beta,
            ]);
            if let Some((c, bn)) = &b.down {
                v.extend([&c.w, &bn.gamma, &bn.beta]);
            }
        }
        v.extend([&self.fc_w, &self.fc_b]);
        v
    }

    fn forward(&self, x: &Tensor, imp: Impl) -> Result<Tensor> {
        let y = self.bn.forward(&self.stem.forward(x, imp)?, true, imp)?;
        let mut y = span("maxpool", || hk::max_pool2d(&y, 3, 2, 1))?;
        for b in &self.blocks {
            y = b.forward(&y, imp)?;
        }
        span("head", || {
            let f = y.mean((2, 3))?;
            f.matmul(&self.fc_w.t()?)?.broadcast_add(&self.fc_b)
        })
    }
}

/// SGD, Nesterov momentum 0.9, weight decay 1e-4, lr 0.01 (PyTorch's formulation): candle
/// tensor ops, or this crate's in-place update.
struct Sgd {
    bufs: Vec<Option<Var>>,
    fused: Vec<Option<Tensor>>,
}

impl Sgd {
    fn step(
        &mut self,
        vars: &[&Var],
        grads: &candle_core::backprop::GradStore,
        imp: Impl,
    ) -> Result<()> {
        let (lr, mom, wd) = (0.01, 0.9, 1e-4);
        if imp == Impl::Kernels {
            let cfg = hk::Sgd {
                lr,
                momentum: mom,
                weight_decay: wd,
                nesterov: true,
            };
            for (i, v) in vars.iter().enumerate() {
                if let Some(g) = grads.get(v) {
                    self.fused[i] = cfg.step(v, g, self.fused[i].take())?;
                }
            }
            return Ok(());
        }
        for (i, v) in vars.iter().enumerate() {
            let Some(g) = grads.get(v) else { continue };
            let g = (g + (v.as_tensor() * wd)?)?;
            let buf = match &self.bufs[i] {
                Some(b) => {
                    b.set(&((b.as_tensor() * mom)? + &g)?)?;
                    b.as_tensor().clone()
                }
                None => {
                    let b = Var::from_tensor(&g)?;
                    let t = b.as_tensor().clone();
                    self.bufs[i] = Some(b);
                    t
                }
            };
            let update = (g + (buf * mom)?)?;
            v.set(&(v.as_tensor() - (update * lr)?)?)?;
        }
        Ok(())
    }
}

struct Args {
    imps: Vec<Impl>,
    size: usize,
    batch: usize,
    steps: usize,
    runs: usize,
    warmup: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        imps: vec![Impl::Kernels],
        size: 64,
        batch: 32,
        steps: 3,
        runs: 3,
        warmup: 1,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        let num = || {
            val.parse::<usize>()
                .unwrap_or_else(|_| panic!("{} needs a number, got {val:?}", argv[i]))
        };
        match argv[i].as_str() {
            "--impl" => {
                a.imps = match val.as_str() {
                    "candle" => vec![Impl::Candle],
                    "kernels" => vec![Impl::Kernels],
                    "both" => vec![Impl::Candle, Impl::Kernels],
                    other => panic!("--impl candle|kernels|both, got {other:?}"),
                }
            }
            "--size" => a.size = num(),
            "--batch" => a.batch = num(),
            "--steps" => a.steps = num(),
            "--runs" => a.runs = num(),
            "--warmup" => a.warmup = num(),
            _ => {
                i += 1; // `--bench` and other cargo flags
                continue;
            }
        }
        i += 2;
    }
    a
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat` (Linux; clock
/// ticks of 10 ms). Unlike wall time it barely depends on what else runs on the machine.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args = parse_args();
    let classes = 1000;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let xs: Vec<f32> = (0..args.batch * 3 * args.size * args.size)
        .map(|_| rng.random_range(0.0..255.0))
        .collect();
    let x = Tensor::from_vec(xs, (args.batch, 3, args.size, args.size), &Device::Cpu)?;
    let labels: Vec<u32> = (0..args.batch)
        .map(|_| rng.random_range(0..classes as u32))
        .collect();
    let labels = Tensor::new(labels, &Device::Cpu)?;
    println!(
        "ResNet-18 train step, batch {}, {}px, {} rayon threads, {} runs x {} steps",
        args.batch,
        args.size,
        rayon::current_num_threads(),
        args.runs,
        args.steps
    );
    let mut nets: Vec<(Impl, ResNet18, Sgd)> = args
        .imps
        .iter()
        .map(|&imp| {
            let net = ResNet18::new(1, classes)?;
            let n = net.vars().len();
            Ok((
                imp,
                net,
                Sgd {
                    bufs: vec![None; n],
                    fused: vec![None; n],
                },
            ))
        })
        .collect::<Result<_>>()?;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); nets.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); nets.len()];
    let mut spans: Vec<BTreeMap<&str, Duration>> = vec![BTreeMap::new(); nets.len()];
    for run in 0..args.warmup + args.runs {
        for (k, (imp, net, sgd)) in nets.iter_mut().enumerate() {
            take_spans();
            let c0 = process_cpu_seconds();
            let t0 = Instant::now();
            for _ in 0..args.steps {
                let logits = span("forward", || net.forward(&x, *imp))?;
                let loss = span("loss", || candle_nn::loss::cross_entropy(&logits, &labels))?;
                let grads = span("backward", || loss.backward())?;
                let vars = net.vars();
                span("sgd", || sgd.step(&vars, &grads, *imp))?;
            }
            let dt = t0.elapsed().as_secs_f64();
            if run >= args.warmup {
                times[k].push(dt);
                if let (Some(c0), Some(c1)) = (c0, process_cpu_seconds()) {
                    cpu[k].push(c1 - c0);
                }
                for (name, d) in take_spans() {
                    *spans[k].entry(name).or_default() += d;
                }
            }
        }
    }
    for (k, (imp, _, _)) in nets.iter().enumerate() {
        let med = median(times[k].clone());
        let per_step = med / args.steps as f64;
        println!(
            "{imp:?}: {:.1} img/s ({:.0} ms/step, median of {} runs: {:?})",
            args.batch as f64 / per_step,
            per_step * 1e3,
            args.runs,
            times[k]
                .iter()
                .map(|t| format!("{:.2}s", t))
                .collect::<Vec<_>>()
        );
        if cpu[k].len() == times[k].len() {
            println!(
                "  cpu time   {:>8.1} ms/step (median; user + system of all threads)",
                median(cpu[k].clone()) * 1e3 / args.steps as f64
            );
        }
        let total_steps = (args.runs * args.steps) as f64;
        for (name, d) in &spans[k] {
            println!(
                "  {name:<10} {:>8.1} ms/step",
                d.as_secs_f64() * 1e3 / total_steps
            );
        }
    }
    Ok(())
}
