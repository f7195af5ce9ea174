//! Times MobileNet-v1 int8 execution: min and median wall time and CPU time per run.
use accelsim::import::tflite::import_tflite;
use accelsim::kernels::{Arithmetic, Executor, Values};
use std::time::Instant;

fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/tflite");
    let model = import_tflite(format!("{root}/models/mobilenet_v1_int8.tflite")).expect("model");
    let input = std::fs::read(format!("{root}/golden/mobilenet_v1_int8/input_0.bin")).expect("input");
    let x = Values::Int(input.iter().map(|&b| b as i8 as i32).collect());
    let exec = Executor::new(&model.graph, Arithmetic::default()).expect("executor");
    exec.run(std::slice::from_ref(&x)).expect("run");
    let n = 40;
    let mut ts = Vec::new();
    let c0 = cpu();
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(exec.run(std::slice::from_ref(&x)).expect("run"));
        ts.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let c = (cpu() - c0) / n as f64 * 1e3;
    ts.sort_by(|a, b| a.total_cmp(b));
    println!("min {:.1} ms, median {:.1} ms, cpu {:.1} ms/run", ts[0], ts[n / 2], c);
}
