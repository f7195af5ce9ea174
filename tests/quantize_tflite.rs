//! `accelsim quantize --out X.tflite` end to end through the binary: MobileNet-v1,
//! small_resnet and tiny quantized to int8 and 16x8 TFLite files, read back by accelsim's
//! reader with LiteRT's conventions (int8 symmetric weights, int32 / int64 biases, int16
//! activations with zero point 0), and executed bit-identically to the same quantization
//! written as `.aqm` (every tensor of the first input, the output of every evaluation input).
//! MobileNet-v1 quantizes four times on its 32-image calibration set: about 2 minutes of
//! CPU with the optimized test profile. The check against LiteRT itself is
//! `scripts/litert_check_export.py` (optional, needs Python; results in
//! `docs/tflite_export.md`).

mod common;

use std::path::{Path, PathBuf};

use accelsim::import::npy::read_npy_f32;
use accelsim::import::tflite::import_tflite;
use accelsim::ir::{DataType, Layout, Op, TensorKind};
use common::accelsim;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tflite")
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn quantize(model: &Path, calib: &Path, abits: &str, out: &Path, extra: &[&str]) {
    let mut args = vec!["quantize", "--wbits", "8", "--abits", abits];
    let (m, c, o) = (s(model), s(calib), s(out));
    args.extend(["--model", &m, "--calib", &c, "--out", &o]);
    args.extend_from_slice(extra);
    let (ok, _, err) = accelsim(&args);
    assert!(ok, "accelsim {args:?} failed: {err}");
}

/// Runs `exec` and returns the output bytes; with `dump`, also every tensor's file by index.
fn exec(model: &Path, input: &Path, dir: &Path, dump: bool) -> (Vec<u8>, Vec<(u64, Vec<u8>)>) {
    let tag = model.extension().and_then(|e| e.to_str()).unwrap_or("x");
    let out = dir.join(format!("out_{tag}.bin"));
    let dump_dir = dir.join(format!("dump_{tag}"));
    let mut args = vec!["exec".to_string(), "--model".into(), s(model), "--input".into(), s(input)];
    args.extend(["--output".into(), s(&out)]);
    if dump {
        args.extend(["--dump".into(), s(&dump_dir)]);
    }
    let refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
    let (ok, _, err) = accelsim(&refs);
    assert!(ok, "exec {} failed: {err}", model.display());
    let mut tensors = Vec::new();
    if dump {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dump_dir.join("index.json")).unwrap()).unwrap();
        for t in index["tensors"].as_array().unwrap() {
            let bytes = std::fs::read(dump_dir.join(t["file"].as_str().unwrap())).unwrap();
            tensors.push((t["index"].as_u64().unwrap(), bytes));
        }
    }
    (std::fs::read(out).unwrap(), tensors)
}

/// Quantizes `net` at `abits` to `.tflite` and (with `--litert`) `.aqm`; checks the file's
/// conventions and that both execute identically on every evaluation input.
fn check(net: &str, calib: &str, eval: &str, abits: &str) {
    let dir = tempfile::tempdir().unwrap();
    let model = shared().join(format!("models/{net}_float32.tflite"));
    let (calib, eval) = (shared().join("data").join(calib), shared().join("data").join(eval));
    let (tfl, aqm) = (dir.path().join("q.tflite"), dir.path().join("q.aqm"));
    quantize(&model, &calib, abits, &tfl, &[]);
    quantize(&model, &calib, abits, &aqm, &["--litert"]);

    // Read back: LiteRT's conventions.
    let g = import_tflite(&tfl).unwrap_or_else(|e| panic!("{net} a{abits}: {e}")).graph;
    let act = DataType::int(abits.parse().unwrap());
    let mut weighted = 0;
    for l in &g.layers {
        let (Some(w), Some(b)) = (g.weights_of(l), g.bias_of(l)) else { continue };
        weighted += 1;
        let wq = w.quant.as_ref().unwrap();
        assert_eq!(w.dtype, DataType::int(8), "{net}: {}", w.name);
        assert!(wq.zero_points.iter().all(|&z| z == 0), "{net}: {} is not symmetric", w.name);
        assert_eq!(b.dtype, DataType::int(if abits == "8" { 32 } else { 64 }), "{net}: {}", b.name);
        let (x, o) = (g.data_input(l), g.output(l));
        assert_eq!((x.dtype, o.dtype), (act, act), "{net}: layer {}", l.name);
        let (sx, sw, sb) = (x.quant.as_ref().unwrap().scales[0], wq.channel(0).0, b.quant.as_ref().unwrap().scales[0]);
        assert!(((sx * sw) / sb - 1.0).abs() < 1e-6, "{net}: bias scale {sb} != {sx} x {sw}");
    }
    assert!(weighted > 0);
    if abits == "16" {
        for t in g.tensors.iter().filter(|t| t.kind == TensorKind::Activation && t.dtype == act) {
            assert_eq!(t.quant.as_ref().unwrap().zero_points, vec![0], "{net}: {} is not symmetric", t.name);
        }
    }
    // LiteRT's CONCATENATION does not rescale: inputs share the output's parameters.
    for l in g.layers.iter().filter(|l| matches!(l.op, Op::Layout(Layout::Concat { .. }))) {
        let q = &g.output(l).quant;
        assert!(l.inputs.iter().all(|&t| &g.tensor(t).quant == q), "{net}: concat {} rescales", l.name);
    }
    let input = g.tensor(g.inputs[0]);
    assert_eq!(input.dtype, DataType::F32, "float interface");
    assert_eq!(g.tensor(g.outputs[0]).dtype, DataType::F32, "float interface");

    // `run` costs the file at its own widths (no --wbits/--abits): the same as the .aqm, and
    // its convolutions write A-bit outputs as --wbits 8 --abits A would (the float interface
    // tensors stay 32-bit and biases keep their stored width in the model's own widths); a
    // 16x8 file is not costed as the 8-bit default. (Every output through DRAM, so each
    // convolution's DRAM writes are its output at its width.)
    let run = |m: &Path, extra: &[&str]| {
        let mut a = vec!["--hw", "mac16", "--model", m.to_str().unwrap(), "--no-accuracy", "--no-onchip-reuse"];
        a.extend_from_slice(extra);
        common::json_run(&a)
    };
    let convs = |r: &serde_json::Value| -> Vec<serde_json::Value> {
        let layers = r["layers"].as_array().unwrap().iter();
        layers.filter(|l| l["op"] == "conv").map(|l| l["dram_write_bytes"].clone()).collect()
    };
    let own = run(&tfl, &[]);
    assert_eq!(own["totals"], run(&aqm, &[])["totals"], "{net} a{abits}: .tflite and .aqm cost differently");
    assert!(!convs(&own).is_empty());
    assert_eq!(convs(&own), convs(&run(&tfl, &["--wbits", "8", "--abits", abits])), "{net} a{abits}: widths");
    if abits == "16" {
        assert_ne!(convs(&own), convs(&run(&tfl, &["--wbits", "8", "--abits", "8"])), "{net}: costed at a8");
    }

    // Bit-identical execution: every tensor on the first input, the output on all of them.
    let images = read_npy_f32(&eval).unwrap();
    assert!(images.shape()[0] > 0);
    for (i, image) in images.outer_iter().enumerate() {
        let x = dir.path().join("x.bin");
        let bytes: Vec<u8> = image.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(bytes.len() as u64, input.elements() * 4, "{net}: eval image size");
        std::fs::write(&x, bytes).unwrap();
        let (out_t, dump_t) = exec(&tfl, &x, dir.path(), i == 0);
        let (out_a, dump_a) = exec(&aqm, &x, dir.path(), i == 0);
        assert_eq!(out_t, out_a, "{net} a{abits}: outputs differ on eval image {i}");
        if i == 0 {
            assert!(!dump_a.is_empty());
            for (idx, bytes) in &dump_a {
                let other = dump_t.iter().find(|(j, _)| j == idx).map(|(_, b)| b);
                assert_eq!(other, Some(bytes), "{net} a{abits}: tensor {idx} differs");
            }
        }
    }
}

#[test]
fn mobilenet_v1_int8_and_16x8_tflite_execute_as_the_aqm() {
    for abits in ["8", "16"] {
        check("mobilenet_v1", "mobilenet_v1_calib_float_inputs.npy", "mobilenet_v1_eval_float_inputs.npy", abits);
    }
}

#[test]
fn small_resnet_int8_and_16x8_tflite_execute_as_the_aqm() {
    for abits in ["8", "16"] {
        check("small_resnet", "small_resnet_golden_float_inputs.npy", "small_resnet_golden_float_inputs.npy", abits);
    }
}

#[test]
fn tiny_int8_and_16x8_tflite_execute_as_the_aqm() {
    for abits in ["8", "16"] {
        check("tiny", "tiny_golden_float_inputs.npy", "tiny_golden_float_inputs.npy", abits);
    }
}

#[test]
fn widths_and_schemes_tflite_cannot_hold_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = s(&shared().join("models/tiny_float32.tflite"));
    let calib = s(&shared().join("data/tiny_golden_float_inputs.npy"));
    let out = dir.path().join("q.tflite");
    let o = s(&out);
    let base = ["quantize", "--model", &model, "--calib", &calib, "--out", &o];
    for (extra, want) in [
        (&["--wbits", "4"][..], ".aqm"),
        (&["--abits", "12"][..], ".aqm"),
        (&["--wbits", "16", "--abits", "16"][..], ".aqm"),
        (&["--scheme", "asymmetric"][..], "symmetric"),
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let (ok, _, err) = accelsim(&args);
        assert!(!ok && err.contains(want), "{extra:?}: {err}");
        assert!(!out.exists(), "{extra:?} left a file");
    }
    let bad = s(&dir.path().join("q.pb"));
    let (ok, _, err) = accelsim(&["quantize", "--model", &model, "--calib", &calib, "--out", &bad]);
    assert!(!ok && err.contains(".aqm") && err.contains(".tflite"), "{err}");
}
