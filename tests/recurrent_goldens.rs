//! ONNX `LSTM` and `GRU` against onnxruntime (`tests/fixtures/onnx_ops/recurrent/`, made by
//! `scripts/make_recurrent_goldens.py`): forward, reverse and bidirectional, GRU's
//! `linear_before_reset` 0 and 1, initial states absent, constant or graph inputs, opsets 7,
//! 14 and 21; every output (Y, Y_h, Y_c) of the float execution within float rounding of
//! onnxruntime's. Also the cost phases (the input projection at once, the recurrent
//! projection as sequential steps, the gates on the vector unit) and the refusals by name.

mod common;

use accelsim::import::onnx::import_onnx;
use accelsim::ir::Op;
use accelsim::kernels::{run_float, value_of, Values};
use accelsim::map::work::{phases_of, Operand, Phase};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx_ops/recurrent")
}

fn read_f32(name: &str) -> Vec<f32> {
    common::read_f32(&dir().join(name))
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest")
}

fn dims(v: &serde_json::Value) -> Vec<usize> {
    v.as_array().expect("shape").iter().map(|d| d.as_u64().expect("dim") as usize).collect()
}

#[test]
fn every_golden_matches_onnxruntime() {
    let m = manifest();
    let models = m["models"].as_object().expect("models");
    assert!(models.len() >= 10, "only {} goldens", models.len());
    for (name, entry) in models {
        let g = import_onnx(dir().join(format!("{name}.onnx"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ins = entry["inputs"].as_array().expect("inputs");
        assert_eq!(g.inputs.len(), ins.len(), "{name}: inputs");
        let xs: Vec<Vec<f32>> = (0..ins.len()).map(|k| read_f32(&format!("{name}.in{k}.bin"))).collect();
        for (k, s) in ins.iter().enumerate() {
            assert_eq!(g.tensor(g.inputs[k]).shape, dims(s), "{name}: input {k}");
        }
        let vals = run_float(&g, &xs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let outs = entry["outputs"].as_array().expect("outputs");
        assert_eq!(g.outputs.len(), outs.len(), "{name}: outputs");
        for (k, s) in outs.iter().enumerate() {
            assert_eq!(g.tensor(g.outputs[k]).shape, dims(s), "{name}: output {k} shape");
            let want = read_f32(&format!("{name}.out{k}.bin"));
            let got = match value_of(&vals, g.outputs[k]) {
                Some(Values::F32(v)) => v.clone(),
                other => panic!("{name}: output {k} is {other:?}"),
            };
            assert_eq!(got.len(), want.len(), "{name}: output {k}");
            // onnxruntime's Sigmoid / Tanh are MLAS approximations and its GEMMs sum in
            // another order: a few float32 ulps, compounded over the steps.
            let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0f32, f32::max);
            eprintln!("{name} output {k}: {worst:e}");
            assert!(worst <= 5e-7, "{name} output {k}: relative diff {worst}\n got {got:?}\nwant {want:?}");
        }
    }
}

#[test]
fn refusals_name_what_is_not_supported() {
    let m = manifest();
    let refused = m["refused"].as_object().expect("refused");
    assert!(refused.len() >= 3);
    for (name, phrase) in refused {
        let e = import_onnx(dir().join(format!("{name}.onnx"))).expect_err(name).to_string();
        let phrase = phrase.as_str().expect("phrase");
        assert!(e.contains(phrase), "{name}: '{e}' does not name '{phrase}'");
    }
}

/// The cost phases: one GEMM of every step's input projection (all directions' W), per
/// direction the recurrent projection as `T` sequential one-step GEMMs (two per step for a
/// GRU that resets before its candidate's projection), then the gates as vector work; their
/// MACs add up to the layer's.
#[test]
fn phases_keep_the_steps_sequential() {
    for (name, t, b, i, h, d, g, per_step) in [
        ("lstm_forward", 5u64, 2u64, 3u64, 4u64, 1u64, 4u64, 1usize),
        ("gru_forward_lbr0", 5, 2, 3, 4, 1, 3, 2),
        ("gru_bidirectional_lbr1_state_input", 4, 2, 3, 5, 2, 3, 1),
    ] {
        let gr = import_onnx(dir().join(format!("{name}.onnx"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        let l = gr.layers.iter().find(|l| matches!(l.op, Op::Recurrent(_))).expect("a recurrent layer");
        let phases = phases_of(&gr, l);
        assert_eq!(phases.len(), 1 + d as usize * per_step + 1, "{name}: {phases:?}");
        let Phase::Gemm { work, operand: Operand::Constant } = phases[0] else { panic!("{name}: {:?}", phases[0]) };
        assert_eq!((work.n, work.c, work.k), (t * b, i, d * g * h), "{name}: input projection");
        let mut macs = work.macs().get();
        for p in &phases[1..phases.len() - 1] {
            let Phase::Gemm { work, operand: Operand::Sequential { steps } } = *p else { panic!("{name}: {p:?}") };
            assert_eq!((steps, work.n, work.c), (t, b, h), "{name}: a recurrent step");
            macs += work.macs().get() * steps;
        }
        assert!(matches!(phases.last(), Some(Phase::Vector(v)) if v.ops > 0), "{name}: gates");
        assert_eq!(macs, t * b * d * g * h * (i + h), "{name}: MACs of the phases");
        assert_eq!(gr.macs(l).get(), macs, "{name}: the layer's MACs");
    }
}

/// `.aqm` writes a recurrent layer (kind, hidden size, direction, GRU's reset form) and its
/// constants, and reads back the same graph.
#[test]
fn aqm_round_trip() {
    use accelsim::import::aqm;
    for name in ["lstm_reverse_const_state", "gru_bidirectional_lbr1_state_input", "gru_forward_lbr0"] {
        let g = import_onnx(dir().join(format!("{name}.onnx"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = aqm::from_bytes(&aqm::to_bytes(&g), "r.aqm").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back.layers, g.layers, "{name}");
        assert_eq!(back.tensors, g.tensors, "{name}");
    }
}

/// The ONNX export writes the `LSTM` / `GRU` node back (`sim/export/onnx.rs`): every golden
/// model exported and read again computes the same outputs bit for bit (`Y_h`, `Y_c`; `Y`,
/// rank 4, is written channels first as the exporter writes every rank-4 tensor, so the file's
/// `Y` is a transpose of the node's), and so do the corpus's keyword spotters.
#[test]
fn onnx_export_reads_back_identically() {
    use accelsim::export::onnx::to_onnx;
    use accelsim::import::onnx::import_onnx_bytes;
    let m = manifest();
    for (name, entry) in m["models"].as_object().expect("models") {
        let g = import_onnx(dir().join(format!("{name}.onnx"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        let bytes = to_onnx(&g).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = import_onnx_bytes(&bytes, "back.onnx").unwrap_or_else(|e| panic!("{name} read back: {e}"));
        let n = entry["inputs"].as_array().expect("inputs").len();
        let xs: Vec<Vec<f32>> = (0..n).map(|k| read_f32(&format!("{name}.in{k}.bin"))).collect();
        let (a, b) = (run_float(&g, &xs).expect("run"), run_float(&back, &xs).expect("run back"));
        assert_eq!(g.outputs.len(), back.outputs.len(), "{name}");
        for (k, (&o, &p)) in g.outputs.iter().zip(&back.outputs).enumerate() {
            if g.tensor(o).shape.len() != 4 {
                assert_eq!(value_of(&a, o), value_of(&b, p), "{name} output {k}");
            }
        }
    }
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    for name in ["kws_gru_torch_onnx", "kws_lstm_torch_onnx"] {
        let g = import_onnx(corpus.join(format!("{name}.onnx"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        let bytes = to_onnx(&g).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = import_onnx_bytes(&bytes, "back.onnx").unwrap_or_else(|e| panic!("{name} read back: {e}"));
        let x: Vec<f32> = (0..490).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let (a, b) = (run_float(&g, std::slice::from_ref(&x)), run_float(&back, &[x]));
        let (a, b) = (a.expect("run"), b.expect("run back"));
        assert_eq!(value_of(&a, g.outputs[0]), value_of(&b, back.outputs[0]), "{name}");
    }
}
