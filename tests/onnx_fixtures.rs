//! ONNX models as exporters write them (`tests/fixtures/onnx_ops/`, made by
//! `scripts/make_onnx_fixtures.py`): PyTorch exports with shape arithmetic and dynamic
//! dimensions at opsets 11-18, an NHWC input, two inputs, QDQ models. Each is imported and
//! executed and its output compared with onnxruntime's.

mod common;

use accelsim::import::onnx::{import_onnx, import_onnx_with};
use accelsim::import::InputShape;
use accelsim::ir::{Graph, Op};
use accelsim::kernels::{run_float, run_qdq_reference, value_of, Arithmetic, Executor, Values};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx_ops")
}

fn read_f32(name: &str) -> Vec<f32> {
    common::read_f32(&dir().join(name))
}

/// The model's entry in `manifest.json`.
fn manifest(model: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("manifest.json");
    let m: serde_json::Value = serde_json::from_str(&text).expect("manifest");
    m["models"][model].clone()
}

fn shape_of(v: &serde_json::Value) -> Vec<usize> {
    v.as_array().expect("shape").iter().map(|d| d.as_u64().expect("dim") as usize).collect()
}

/// A row-major tensor of ONNX shape [n, c, h, w] reordered to [n, h, w, c].
fn nchw_to_nhwc(x: &[f32], s: &[usize]) -> Vec<f32> {
    let [n, c, h, w] = [s[0], s[1], s[2], s[3]];
    let mut out = Vec::with_capacity(x.len());
    for b in 0..n {
        for y in 0..h {
            for xx in 0..w {
                out.extend((0..c).map(|k| x[((b * c + k) * h + y) * w + xx]));
            }
        }
    }
    out
}

/// The golden inputs, in the IR's layout (an ONNX NCHW input is stored NHWC).
fn inputs(g: &Graph, model: &str) -> Vec<Vec<f32>> {
    let m = manifest(model);
    let ins = m["inputs"].as_array().expect("inputs");
    ins.iter()
        .enumerate()
        .map(|(k, i)| {
            let onnx = shape_of(&i[1]);
            let x = read_f32(&format!("{model}.in{k}.bin"));
            if g.tensor(g.inputs[k]).shape == onnx {
                x
            } else {
                nchw_to_nhwc(&x, &onnx)
            }
        })
        .collect()
}

/// onnxruntime's output, in the IR's layout.
fn golden(g: &Graph, model: &str) -> Vec<f32> {
    let want = read_f32(&format!("{model}.out.bin"));
    let onnx = shape_of(&manifest(model)["output_shapes"][0]);
    if g.tensor(g.outputs[0]).shape == onnx {
        want
    } else {
        nchw_to_nhwc(&want, &onnx)
    }
}

fn floats(v: Option<&Values>) -> Vec<f32> {
    match v {
        Some(Values::F32(v)) => v.clone(),
        other => panic!("expected floats, got {other:?}"),
    }
}

fn fixed(name: &str, dims: &[usize]) -> Vec<InputShape> {
    vec![InputShape { name: name.into(), dims: dims.to_vec() }]
}

/// Float outputs agree with onnxruntime's to 1e-4 (absolute, on outputs of magnitude ~1:
/// the summation order differs).
fn check_float(g: &Graph, model: &str) {
    let vals = run_float(g, &inputs(g, model)).expect("float run");
    let got = floats(value_of(&vals, g.outputs[0]));
    let want = golden(g, model);
    assert_eq!(got.len(), want.len(), "{model}");
    let diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    eprintln!("{model}: max |diff| = {diff:e} over {} outputs", got.len());
    assert!(diff <= 1e-4, "{model}: max diff {diff}\n got {got:?}\nwant {want:?}");
}

#[test]
fn pytorch_exports_with_shape_arithmetic_fold_and_match_onnxruntime() {
    for model in ["torch_shapes_opset11", "torch_shapes_opset13", "torch_shapes_opset17", "torch_shapes_opset18_dynamo"]
    {
        let path = dir().join(format!("{model}.onnx"));
        let g = import_onnx_with(&path, &fixed("x", &[1, 3, 20, 24])).unwrap_or_else(|e| panic!("{model}: {e}"));
        assert_eq!(g.tensor(g.inputs[0]).shape, vec![1, 20, 24, 3], "{model}");
        assert_eq!(g.tensor(g.outputs[0]).shape, vec![1, 10], "{model}");
        // Shape arithmetic is folded away: only compute and data-movement layers remain.
        let names: Vec<String> = g.layers.iter().map(|l| format!("{}", l.op)).collect();
        eprintln!("{model}: {names:?}");
        check_float(&g, model);
    }
}

#[test]
fn a_missing_dynamic_dimension_is_named_with_the_flag_to_give_it() {
    let e = import_onnx(dir().join("torch_shapes_opset13.onnx")).unwrap_err().to_string();
    assert!(e.contains("'x'") && e.contains("dimension 2") && e.contains("height"), "{e}");
    assert!(e.contains("--input-shape x=1x3x<height>x<width>"), "{e}");
    let e = import_onnx_with(dir().join("torch_shapes_opset13.onnx"), &fixed("image", &[1, 3, 8, 8]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("'image'") && e.contains("inputs are: x"), "{e}");
    let e =
        import_onnx_with(dir().join("torch_shapes_opset13.onnx"), &fixed("x", &[1, 4, 8, 8])).unwrap_err().to_string();
    assert!(e.contains("dimension 1 is 4 but the model fixes it to 3"), "{e}");
}

#[test]
fn other_input_shapes_give_other_graphs() {
    let path = dir().join("torch_shapes_opset17.onnx");
    let small = import_onnx_with(&path, &fixed("x", &[1, 3, 20, 24])).expect("import");
    let big = import_onnx_with(&path, &fixed("x", &[2, 3, 40, 48])).expect("import");
    assert_eq!(big.tensor(big.outputs[0]).shape, vec![2, 10]);
    assert!(big.total_macs().0 > 4 * small.total_macs().0 - 1000);
}

#[test]
fn an_nhwc_input_transposed_to_nchw_is_stored_as_it_is() {
    let g = import_onnx(dir().join("nhwc_input.onnx")).expect("import");
    assert_eq!(g.tensor(g.inputs[0]).shape, vec![1, 6, 7, 3]);
    assert_eq!(g.tensor(g.outputs[0]).shape, vec![1, 6, 7, 4]);
    assert_eq!(g.layers.len(), 1, "transposes are layout changes only");
    check_float(&g, "nhwc_input");
}

#[test]
fn two_inputs() {
    let g = import_onnx(dir().join("two_inputs.onnx")).expect("import");
    assert_eq!(g.inputs.len(), 2);
    check_float(&g, "two_inputs");
}

/// QDQ models: accelsim's exact-QDQ reference reproduces onnxruntime (graph optimizations
/// off) exactly; the integer kernels (LiteRT arithmetic) agree within the LSBs pinned below.
fn check_qdq(model: &str) {
    let g = import_onnx(dir().join(format!("{model}.onnx"))).unwrap_or_else(|e| panic!("{model}: {e}"));
    assert!(g.layers.iter().any(|l| matches!(l.op, Op::Conv2d(_)) && g.tensor(l.outputs[0]).dtype.is_int()));
    let x = Values::F32(inputs(&g, model).remove(0));
    let want = golden(&g, model);
    let exact = floats(value_of(&run_qdq_reference(&g, std::slice::from_ref(&x)).expect("qdq run"), g.outputs[0]));
    assert_eq!(exact, want, "{model}: exact QDQ reference vs onnxruntime");
    let int = Executor::new(&g, Arithmetic::default()).expect("executor").run(&[x]).expect("integer run");
    let got = floats(value_of(&int, g.outputs[0]));
    let out_scale = {
        let l = g.layers.iter().find(|l| l.outputs[0] == g.outputs[0]).expect("output layer");
        g.tensor(l.inputs[0]).quant.as_ref().expect("quantized").scales[0]
    };
    let lsb = got.iter().zip(&want).map(|(a, b)| ((a - b) / out_scale).abs().round() as i64).max().unwrap_or(0);
    eprintln!("{model}: integer kernels vs onnxruntime: max {lsb} LSB");
    assert!(lsb <= 2, "{model}: {lsb} LSB");
}

#[test]
fn qdq_export_of_the_pytorch_model() {
    check_qdq("torch_shapes_qdq");
}

#[test]
fn qdq_with_scalar_zero_points_beside_one_element_scales() {
    check_qdq("qdq_scalar_zp");
}
