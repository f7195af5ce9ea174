//! `accelsim quantize --out X.onnx` (QDQ export, `sim/export/onnx.rs`):
//!
//! - the committed exports under `tests/fixtures/onnx_export/` (made by
//!   `scripts/make_onnx_export_goldens.py` with onnxruntime's outputs: the digit classifier at
//!   w8a8 and w4a8, small_resnet w8a8, tiny w8a16 at opset 21) run in accelsim's exact-QDQ
//!   reference exactly as onnxruntime runs them with graph optimizations off, and on the
//!   integer kernels (LiteRT's arithmetic) within 2 output LSBs of both onnxruntime runs
//!   (the 16-bit file through the `.aqm` of the same quantize command: accelsim's ONNX
//!   importer reads 8-bit QDQ only);
//! - through the binary, the same quantization written as `.onnx` and as `.aqm` executes
//!   bit-identically (`exec --layout nchw` on the ONNX file's channels-first input);
//! - widths ONNX's QDQ types cannot hold are refused before any work, naming the layer.

mod common;

use std::path::{Path, PathBuf};

use accelsim::import::npy::read_npy_f32;
use accelsim::import::onnx::import_onnx;
use accelsim::ir::Graph;
use accelsim::kernels::{run_qdq_reference, value_of, Arithmetic, Executor, Values};
use common::{accelsim, digits};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx_export")
}

fn npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let a = read_npy_f32(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (a.shape().to_vec(), a.iter().copied().collect())
}

/// NCHW `[c, h, w]` values of one image as the IR's NHWC.
fn nchw_to_nhwc(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for ci in 0..c {
        for y in 0..h {
            for xi in 0..w {
                out[(y * w + xi) * c + ci] = x[(ci * h + y) * w + xi];
            }
        }
    }
    out
}

fn floats(v: Option<&Values>) -> Vec<f32> {
    match v {
        Some(Values::F32(v)) => v.clone(),
        other => panic!("float output expected, got {other:?}"),
    }
}

/// The scale of the integer tensor the graph's final Dequantize reads.
fn output_scale(g: &Graph) -> f32 {
    let l = g.layers.iter().find(|l| l.outputs[0] == g.outputs[0]).expect("output layer");
    g.tensor(l.inputs[0]).quant.as_ref().expect("quantized").scales[0]
}

/// The graph of an export: the committed file read back.
fn imported(model: &str) -> Graph {
    import_onnx(dir().join(format!("{model}.onnx"))).unwrap_or_else(|e| panic!("{model}: {e}"))
}

/// The graph of an export: its quantize command (from the manifest) run again with `.aqm`
/// output and read.
fn requantized(model: &str) -> Graph {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).expect("manifest")).expect("json");
    let cmd = m["models"][model]["command"].as_str().expect("command");
    let d = tempfile::tempdir().expect("tempdir");
    let out = d.path().join("q.aqm").to_string_lossy().into_owned();
    let mut args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
    let last = args.len() - 1;
    args[last] = &out;
    let (ok, _, err) = accelsim(&args);
    assert!(ok, "{args:?}: {err}");
    accelsim::import::aqm::read(Path::new(&out)).expect("aqm")
}

fn check(model: &str, g: Graph) {
    let (shape, x) = npy(&dir().join(format!("{model}.in.npy")));
    let (_, noopt) = npy(&dir().join(format!("{model}.noopt.npy")));
    let (_, opt) = npy(&dir().join(format!("{model}.opt.npy")));
    let n = shape[0];
    let per_in = x.len() / n;
    let per_out = noopt.len() / n;
    let scale = output_scale(&g);
    let exec = Executor::new(&g, Arithmetic::default()).expect("executor");
    let (mut worst_noopt, mut worst_opt) = (0i64, 0i64);
    for i in 0..n {
        let xi = &x[i * per_in..(i + 1) * per_in];
        let xi = match shape[..] {
            [_, c, h, w] => nchw_to_nhwc(xi, c, h, w),
            _ => xi.to_vec(),
        };
        let xi = Values::F32(xi);
        let want = &noopt[i * per_out..(i + 1) * per_out];
        let exact = floats(value_of(&run_qdq_reference(&g, std::slice::from_ref(&xi)).expect("qdq"), g.outputs[0]));
        assert_eq!(exact, want, "{model} input {i}: exact QDQ reference vs onnxruntime (optimizations off)");
        let int = floats(value_of(&exec.run(&[xi]).expect("integer run"), g.outputs[0]));
        let lsb = |a: &[f32], b: &[f32]| {
            a.iter().zip(b).map(|(p, q)| ((p - q) / scale).abs().round() as i64).max().unwrap_or(0)
        };
        worst_noopt = worst_noopt.max(lsb(&int, want));
        worst_opt = worst_opt.max(lsb(&int, &opt[i * per_out..(i + 1) * per_out]));
    }
    eprintln!("{model}: integer kernels vs onnxruntime: {worst_noopt} LSB (no optimizations), {worst_opt} LSB (all)");
    assert!(worst_noopt <= 2 && worst_opt <= 2, "{model}: {worst_noopt} / {worst_opt} LSB");
}

#[test]
fn digits_w8a8_export_runs_in_onnxruntime_as_in_accelsim() {
    check("digits_w8a8", imported("digits_w8a8"));
}

#[test]
fn digits_w4a8_export_runs_in_onnxruntime_as_in_accelsim() {
    check("digits_w4a8", imported("digits_w4a8"));
}

#[test]
fn small_resnet_w8a8_export_runs_in_onnxruntime_as_in_accelsim() {
    check("small_resnet_w8a8", imported("small_resnet_w8a8"));
}

#[test]
fn tiny_w8a16_export_runs_in_onnxruntime_as_in_accelsim() {
    check("tiny_w8a16", requantized("tiny_w8a16"));
}

/// The CLI end to end: one quantization written both ways executes identically on a batch
/// of real digit images (NCHW for the ONNX file, NHWC for the `.aqm`).
#[test]
fn onnx_and_aqm_exports_execute_identically() {
    let d = tempfile::tempdir().expect("tempdir");
    let p = |f: &str| d.path().join(f).to_string_lossy().into_owned();
    let model = "tests/fixtures/digits/digits_cnn.tflite";
    let calib = digits("calib_x_nhwc.npy");
    for out in ["q.onnx", "q.aqm"] {
        let args = ["quantize", "--model", model, "--calib", &calib, "--wbits", "4", "--out", &p(out)];
        let (ok, _, err) = accelsim(&args);
        assert!(ok, "{args:?}: {err}");
    }
    // 64 evaluation images in both layouts.
    let (shape, x) = npy(Path::new(&digits("eval_x_nchw.npy")));
    let per = shape[1..].iter().product::<usize>();
    let x = &x[..64 * per];
    let nhwc: Vec<f32> =
        x.chunks(per).flat_map(|im| nchw_to_nhwc(im, shape[1], shape[2], shape[3])).collect::<Vec<_>>();
    write_npy(&p("x_nchw.npy"), &[64, shape[1], shape[2], shape[3]], x);
    write_npy(&p("x_nhwc.npy"), &[64, shape[2], shape[3], shape[1]], &nhwc);
    let run = |model: &str, input: &str, layout: &str, out: &str| {
        let args = ["exec", "--model", model, "--input", input, "--layout", layout, "--output", out];
        let (ok, _, err) = accelsim(&args);
        assert!(ok, "{args:?}: {err}");
        std::fs::read(out).expect("output")
    };
    let a = run(&p("q.onnx"), &p("x_nchw.npy"), "nchw", &p("y_onnx.bin"));
    let b = run(&p("q.aqm"), &p("x_nhwc.npy"), "nhwc", &p("y_aqm.bin"));
    assert_eq!(a.len(), 64 * 10 * 4);
    assert_eq!(a, b, "the .onnx and .aqm exports of one quantization");
}

#[test]
fn widths_onnx_cannot_hold_are_refused_naming_the_layer() {
    let d = tempfile::tempdir().expect("tempdir");
    let out = d.path().join("q.onnx").to_string_lossy().into_owned();
    let model = "tests/fixtures/digits/digits_cnn.tflite";
    for (flag, bits, want) in [("--abits", "4", "has 4-bit"), ("--wbits", "12", "has 12-bit")] {
        let args = ["quantize", "--model", model, "--data-free", flag, bits, "--out", &out];
        let (ok, _, err) = accelsim(&args);
        assert!(!ok, "{args:?} succeeded");
        let err = err.split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ");
        assert!(
            err.contains("--out *.onnx takes") && err.contains("layer 'op0_conv2d'") && err.contains(want),
            "{err}"
        );
        assert!(!Path::new(&out).exists(), "no partial output");
    }
}

/// A float32 `.npy` (C order) of `shape`.
fn write_npy(path: &str, shape: &[usize], v: &[f32]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}", dims.join(", "));
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(v.iter().flat_map(|x| x.to_le_bytes()));
    std::fs::write(path, bytes).expect("write npy");
}
