//! `cargo bench -p histo-augment`: time per 256x256 H&E tile (the committed fixture) of
//! - the HED shift (fixed δ; and the random op, which also draws δ and builds the tables),
//! - `strong` (flip + crop + RandAugment n = 7, m = 10; both modes) and `weak`,
//! - the RSP pool on one triplet (v1 and v2) and the fine-tuning views,
//! - tiles/s of `strong` over a batch of 64 tiles with `par_augment` on 1 and 2 threads.
//!
//! Random pipelines use a new sample stream every iteration, so the figures average over the
//! random op mix (as training sees it).

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use histo_augment::ops::{self, HedShift};
use histo_augment::{
    FinetuneViews, Image, Mode, RandAugment, RspPool, RspVersion, Size, Strong, Transform, Weak,
    par_augment, sample_rng,
};

fn tile() -> Image {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/fixtures/augment/tile.png"
    );
    Image::open(path).expect("data/fixtures/augment/tile.png (run from the repository)")
}

fn next(counter: &Cell<u64>) -> u64 {
    let i = counter.get();
    counter.set(i + 1);
    i
}

fn hed(c: &mut Criterion) {
    let t = tile();
    let s = HedShift::new([0.02, -0.015, 0.01]);
    c.bench_function("hed_shift_256", |b| b.iter(|| s.apply(black_box(&t))));
    let ra = RandAugment::default().with_mode(Mode::Faithful);
    let i = Cell::new(0);
    c.bench_function("hed_shift_random_256", |b| {
        b.iter(|| {
            ra.apply_op(
                histo_augment::pipelines::RandOp::Color,
                5,
                black_box(&t),
                &mut sample_rng(0, 0, next(&i)),
            )
        })
    });
}

fn primitives(c: &mut Criterion) {
    let t = tile();
    let mut g = c.benchmark_group("op_256");
    g.bench_function("rotate", |b| b.iter(|| ops::rotate(black_box(&t), 37.5)));
    g.bench_function("shift_scale_rotate", |b| {
        b.iter(|| ops::shift_scale_rotate(black_box(&t), 20.0, 0.8, 0.05, -0.03))
    });
    g.bench_function("resize_276", |b| {
        b.iter(|| ops::resize(black_box(&t), Size::square(276)))
    });
    g.bench_function("scale_2", |b| b.iter(|| ops::scale(black_box(&t), 2.0)));
    g.bench_function("blur_5", |b| b.iter(|| ops::box_blur(black_box(&t), 5)));
    g.bench_function("hsv_shift", |b| {
        b.iter(|| ops::hsv_shift(black_box(&t), 5.0, -10.0, 12.0))
    });
    g.bench_function("brightness_contrast", |b| {
        b.iter(|| ops::brightness_contrast(black_box(&t), 1.1, 0.05))
    });
    let i = Cell::new(0);
    g.bench_function("gaussian_noise", |b| {
        b.iter(|| ops::gaussian_noise(black_box(&t), 12.0, &mut sample_rng(0, 0, next(&i))))
    });
    g.finish();
}

fn pipelines(c: &mut Criterion) {
    let t = tile();
    let i = Cell::new(0);
    for (name, mode) in [
        ("strong_256_sane", Mode::Sane),
        ("strong_256_faithful", Mode::Faithful),
    ] {
        let strong = Strong {
            size: Size::square(256),
            randaugment: RandAugment::default().with_mode(mode),
        };
        c.bench_function(name, |b| {
            b.iter(|| strong.apply(black_box(&t), &mut sample_rng(0, 0, next(&i))))
        });
    }
    let weak = Weak::new(256);
    c.bench_function("weak_256", |b| {
        b.iter(|| weak.apply(black_box(&t), &mut sample_rng(0, 0, next(&i))))
    });
    let triplet = [t.clone(), t.clone(), t.clone()];
    for (name, v) in [
        ("rsp_v1_triplet_256", RspVersion::V1),
        ("rsp_v2_triplet_256", RspVersion::V2),
    ] {
        let pool = RspPool::new(v);
        c.bench_function(name, |b| {
            b.iter(|| pool.apply_triplet(black_box(&triplet), &mut sample_rng(0, 0, next(&i))))
        });
    }
    let fv = FinetuneViews::new(256);
    c.bench_function("finetune_views_256", |b| {
        b.iter(|| fv.views(black_box(&t), &mut sample_rng(0, 0, next(&i))))
    });
}

fn throughput(c: &mut Criterion) {
    let tiles = vec![tile(); 64];
    let strong = Strong::new(256);
    let mut g = c.benchmark_group("strong_batch64");
    g.throughput(Throughput::Elements(tiles.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    let epoch = Cell::new(0);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        let indices: Vec<u64> = (0..tiles.len() as u64).collect();
        g.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| {
                let e = next(&epoch);
                pool.install(|| {
                    par_augment(0, e, &indices, &tiles, |img, rng| strong.apply(img, rng))
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, hed, primitives, pipelines, throughput);
criterion_main!(benches);
