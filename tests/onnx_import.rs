//! ONNX import of the shared test models, checked against onnxruntime goldens with the float executor.

mod common;

use accelsim::import::onnx::import_onnx;
use accelsim::ir::Graph;
use accelsim::kernels::{run_float, value_of, Values};
use std::path::PathBuf;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/onnx")
}

fn read_f32(p: &PathBuf) -> Vec<f32> {
    common::read_f32(p)
}

/// NCHW [1,c,h,w] -> NHWC.
fn to_nhwc(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for ci in 0..c {
        for y in 0..h {
            for xx in 0..w {
                out[(y * w + xx) * c + ci] = x[(ci * h + y) * w + xx];
            }
        }
    }
    out
}

fn check(g: &Graph, dir: &str, input: &str, output: &str) {
    let s = g.tensor(g.inputs[0]).shape.clone();
    let (h, w, c) = (s[1], s[2], s[3]);
    for k in 0..3 {
        let x = read_f32(&shared().join(format!("golden/{dir}/{}", input.replace('K', &k.to_string()))));
        let want = read_f32(&shared().join(format!("golden/{dir}/{}", output.replace('K', &k.to_string()))));
        let vals = run_float(g, &[to_nhwc(&x, c, h, w)]).expect("float run");
        let got = match value_of(&vals, g.outputs[0]) {
            Some(Values::F32(v)) => v.clone(),
            other => panic!("output {other:?}"),
        };
        assert_eq!(got.len(), want.len());
        let diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        eprintln!("{dir} sample {k}: max |diff| = {diff:e}");
        assert!(diff <= 1e-4, "{dir} sample {k}: max diff {diff} (got {got:?}, want {want:?})");
    }
}

#[test]
fn small_resnet2_float_imports_and_matches_onnxruntime() {
    let g = import_onnx(shared().join("models/small_resnet2_float.onnx")).expect("import");
    assert_eq!(g.tensor(g.inputs[0]).shape, vec![1, 32, 32, 3]);
    assert_eq!(g.tensor(g.outputs[0]).shape, vec![1, 10]);
    let macs = g.total_macs().0;
    assert!(macs > 100_000 && macs < 1_000_000_000, "MACs {macs}");
    assert!(g.layers.iter().any(|l| l.activation != accelsim::ir::Activation::None));
    check(&g, "small_resnet2", "input_K_nchw.bin", "float_output_K.bin");
}

#[test]
fn bn_conv_tiny_folds_bn_and_matches_onnxruntime() {
    let g = import_onnx(shared().join("models/bn_conv_tiny.onnx")).expect("import");
    assert_eq!(g.tensor(g.inputs[0]).shape, vec![1, 8, 8, 3]);
    assert_eq!(g.tensor(g.outputs[0]).shape, vec![1, 5]);
    // conv 8*8*4*27 + fc 4*5; BN is folded (no layer of its own).
    assert_eq!(g.total_macs().0, 8 * 8 * 4 * 27 + 20);
    check(&g, "bn_conv_tiny", "input_K.bin", "output_K.bin");
}

#[test]
fn truncated_file_is_an_error_naming_the_file() {
    let bytes = std::fs::read(shared().join("models/small_resnet2_float.onnx")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.onnx");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = import_onnx(&p).unwrap_err().to_string();
    assert!(e.contains("cut.onnx"), "{e}");
    let e = accelsim::import::onnx::import_onnx_bytes(b"\xff\xff\xff garbage", "junk.onnx").unwrap_err().to_string();
    assert!(e.contains("junk.onnx"), "{e}");
}

#[test]
fn load_model_accepts_onnx() {
    let p = shared().join("models/bn_conv_tiny.onnx");
    let g = accelsim::import::load_model(p.to_str().unwrap(), &Default::default()).expect("load");
    assert_eq!(g.layers.len(), 4);
}
