//! Single-threaded int8 MobileNet-v1 inference with the bit-exact executor.

use accelsim::import::tflite::import_tflite;
use accelsim::kernels::{Arithmetic, Executor, Values};
use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/tflite");
    let model = match import_tflite(format!("{root}/models/mobilenet_v1_int8.tflite")) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("skipping: {e}");
            return;
        }
    };
    let input = std::fs::read(format!("{root}/golden/mobilenet_v1_int8/input_0.bin")).unwrap_or_default();
    let x = Values::Int(input.iter().map(|&b| b as i8 as i32).collect());
    let exec = Executor::new(&model.graph, Arithmetic::default()).expect("executor");
    let mut g = c.benchmark_group("exec");
    g.sample_size(20);
    g.bench_function("mobilenet_v1_int8", |b| b.iter(|| exec.run(std::slice::from_ref(&x)).expect("run")));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
