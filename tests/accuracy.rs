//! Per-layer SQNR against the float execution of the same IR, top-1 agreement, and the
//! effect of non-default hardware arithmetic (narrow accumulators, other roundings).

use std::path::Path;

use accelsim::import::tflite::import_tflite;
use accelsim::kernels::{
    self, dequantize_per_tensor, layer_sqnr, top1_agreement, Arithmetic, Executor, Overflow, Rounding, Values,
};

fn setup(name: &str) -> (accelsim::import::tflite::TfliteModel, Values, Vec<f32>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tflite");
    let m = import_tflite(root.join(format!("models/{name}.tflite"))).expect("import");
    let raw = std::fs::read(root.join(format!("golden/{name}/input_0.bin"))).expect("input");
    let q: Vec<i32> = raw.iter().map(|&b| b as i8 as i32).collect();
    let t = m.graph.tensor(m.graph.inputs[0]);
    let f = dequantize_per_tensor(&q, t.quant.as_ref().expect("quantized input"));
    (m, Values::Int(q), f)
}

fn output_f32(m: &accelsim::import::tflite::TfliteModel, vals: &[Option<Values>]) -> Vec<f32> {
    let o = m.graph.outputs[0];
    match kernels::value_of(vals, o).expect("output") {
        Values::Int(v) => dequantize_per_tensor(v, m.graph.tensor(o).quant.as_ref().expect("quant")),
        Values::F32(v) => v.clone(),
    }
}

#[test]
fn int8_layers_track_the_float_execution() {
    let (m, q, f) = setup("small_resnet_int8");
    let ints = Executor::new(&m.graph, Arithmetic::default()).expect("exec").run(&[q]).expect("run");
    let floats = kernels::run_float(&m.graph, &[f]).expect("float");
    let s = layer_sqnr(&m.graph, &ints, &floats);
    assert_eq!(s.len(), m.graph.layers.len());
    for l in &s {
        assert!(l.sqnr_db > 15.0, "{} has SQNR {:.1} dB", l.layer, l.sqnr_db);
    }
    let depth = *m.graph.tensor(m.graph.outputs[0]).shape.last().expect("shape");
    assert_eq!(top1_agreement(&output_f32(&m, &ints), &output_f32(&m, &floats), depth), 1.0);
}

#[test]
fn hardware_arithmetic_changes_results_gracefully() {
    let (m, q, f) = setup("small_resnet_int8");
    let floats = kernels::run_float(&m.graph, &[f]).expect("float");
    let reference = output_f32(&m, &floats);
    let sqnr = |a: Arithmetic| {
        let v = Executor::new(&m.graph, a).expect("exec").run(std::slice::from_ref(&q)).expect("run");
        kernels::sqnr_db(&reference, &output_f32(&m, &v))
    };
    let litert = sqnr(Arithmetic::default());
    let single = sqnr(Arithmetic { rounding: Rounding::Single, ..Default::default() });
    let trunc = sqnr(Arithmetic { rounding: Rounding::Truncate, ..Default::default() });
    let acc12 = sqnr(Arithmetic { acc_bits: 12, overflow: Overflow::Wrap, ..Default::default() });
    eprintln!("SQNR dB: litert {litert:.1}, single {single:.1}, truncate {trunc:.1}, 12-bit wrap {acc12:.1}");
    assert!((single - litert).abs() < 3.0);
    assert!(acc12 < litert - 10.0);
}
