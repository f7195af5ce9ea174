//! ONNX operators against onnxruntime (`tests/fixtures/onnx_ops/ops/`, made by
//! `scripts/make_onnx_op_goldens.py`): one tiny model per operator use, in float and in QDQ
//! form (int8, x -> Q -> DQ -> op -> Q -> DQ), with onnxruntime's outputs (graph
//! optimizations off). Float models must agree to float rounding; QDQ models exactly through
//! accelsim's exact-QDQ reference and within the LSBs pinned per model through the integer
//! kernels (LiteRT arithmetic: tables and fixed-point rescales, not float).

mod common;

use accelsim::import::onnx::import_onnx;
use accelsim::ir::Graph;
use accelsim::kernels::{run_float, run_qdq_reference, value_of, Arithmetic, Executor, Values};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx_ops/ops")
}

fn read_f32(name: &str) -> Vec<f32> {
    common::read_f32(&dir().join(name))
}

fn manifest(model: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("manifest.json");
    let m: serde_json::Value = serde_json::from_str(&text).expect("manifest");
    let entry = m["models"][model].clone();
    assert!(entry.is_object(), "{model} is not in manifest.json");
    entry
}

fn shape_of(v: &serde_json::Value) -> Vec<usize> {
    v.as_array().expect("shape").iter().map(|d| d.as_u64().expect("dim") as usize).collect()
}

/// Row-major `x` of ONNX shape [n, c, h, w] reordered to [n, h, w, c].
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

/// `x` of ONNX shape `onnx` in the layout of IR shape `ir`: as it is, or NCHW stored NHWC.
fn to_ir(x: Vec<f32>, onnx: &[usize], ir: &[usize]) -> Vec<f32> {
    if ir == onnx {
        x
    } else {
        assert_eq!(ir, [onnx[0], onnx[2], onnx[3], onnx[1]], "IR shape {ir:?} for ONNX shape {onnx:?}");
        nchw_to_nhwc(&x, onnx)
    }
}

struct Case {
    g: Graph,
    x: Vec<f32>,
    want: Vec<Vec<f32>>,
}

fn load(model: &str) -> Case {
    let g = import_onnx(dir().join(format!("{model}.onnx"))).unwrap_or_else(|e| panic!("{model}: {e}"));
    let m = manifest(model);
    let x = to_ir(read_f32(&format!("{model}.in0.bin")), &shape_of(&m["input"]), &g.tensor(g.inputs[0]).shape);
    let outs = m["outputs"].as_array().expect("outputs");
    assert_eq!(g.outputs.len(), outs.len(), "{model}: outputs");
    let want = outs
        .iter()
        .enumerate()
        .map(|(k, s)| to_ir(read_f32(&format!("{model}.out{k}.bin")), &shape_of(s), &g.tensor(g.outputs[k]).shape))
        .collect();
    Case { g, x, want }
}

fn floats(v: Option<&Values>) -> Vec<f32> {
    match v {
        Some(Values::F32(v)) => v.clone(),
        other => panic!("expected floats, got {other:?}"),
    }
}

/// Float: every output within 2 float32 ulps-ish (relative 1e-6, absolute 1e-6) of
/// onnxruntime's (its Sigmoid / Tanh are MLAS approximations).
fn check_float(model: &str) {
    let c = load(model);
    let vals = run_float(&c.g, std::slice::from_ref(&c.x)).unwrap_or_else(|e| panic!("{model}: {e}"));
    for (k, want) in c.want.iter().enumerate() {
        let got = floats(value_of(&vals, c.g.outputs[k]));
        assert_eq!(got.len(), want.len(), "{model} output {k}");
        let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0f32, f32::max);
        assert!(worst <= 1e-6, "{model} output {k}: relative diff {worst}\n got {got:?}\nwant {want:?}");
    }
}

/// QDQ: the exact-QDQ reference equals onnxruntime within `ref_lsb` (0 where the float op is
/// exact; onnxruntime's MLAS Sigmoid and Tanh can land on the other side of a rounding
/// boundary) and the integer kernels within `int_lsb`.
fn check_qdq(model: &str, ref_lsb: i64, int_lsb: i64) {
    let c = load(model);
    assert!(c.g.layers.iter().any(|l| c.g.tensor(l.outputs[0]).dtype.is_int()), "{model}: not quantized");
    let x = Values::F32(c.x.clone());
    let exact = run_qdq_reference(&c.g, std::slice::from_ref(&x)).unwrap_or_else(|e| panic!("{model}: {e}"));
    let int = Executor::new(&c.g, Arithmetic::default())
        .unwrap_or_else(|e| panic!("{model}: {e}"))
        .run(&[x])
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    for (k, want) in c.want.iter().enumerate() {
        let o = c.g.outputs[k];
        let dq = c.g.layers.iter().find(|l| l.outputs[0] == o).expect("output layer");
        let scale = c.g.tensor(dq.inputs[0]).quant.as_ref().expect("quantized").scales[0];
        let lsb = |got: &[f32]| {
            assert_eq!(got.len(), want.len(), "{model} output {k}");
            got.iter().zip(want).map(|(a, b)| ((a - b) / scale).abs().round() as i64).max().unwrap_or(0)
        };
        let (r, i) = (lsb(&floats(value_of(&exact, o))), lsb(&floats(value_of(&int, o))));
        eprintln!("{model} output {k}: exact QDQ {r} LSB, integer kernels {i} LSB");
        assert!(r <= ref_lsb, "{model} output {k}: exact QDQ reference {r} LSB from onnxruntime");
        assert!(i <= int_lsb, "{model} output {k}: integer kernels {i} LSB from onnxruntime");
    }
}

const FLOAT_MODELS: &[&str] = &[
    "sigmoid",
    "tanh",
    "relu",
    "clip6",
    "leaky_relu",
    "hard_swish",
    "sqrt",
    "log",
    "reduce_max_c",
    "reduce_max_hw_opset18",
    "split_attr_opset11",
    "split_input_opset13",
    "split_equal_opset13",
    "split_num_outputs_opset18",
    "gather_channels",
    "gather_one_channel",
    "depth_to_space_dcr",
    "depth_to_space_crd",
    "space_to_depth",
    "transpose_hw",
    "transpose_to_nhwc_then_swap",
    "conv_transpose_s2",
    "conv_transpose_k4s2",
    "conv_transpose_k2s2_nobias",
    "conv_transpose_asym",
    "matmul_self",
    "matmul_transposed",
    "add_bcast_hw",
    "sub_bcast_c",
    "mul_bcast_hw",
    "max_bcast_c",
    "min_bcast_hw",
    "div_bcast_hw",
    "max_const_scalar",
    "min_const_full",
    "div_const_by_act",
    "mul_rank3_last_axis",
    "hard_sigmoid",
    "hard_sigmoid_torch_grid",
    "pow2",
    "pow2_int_exponent",
    "pow_one",
    "pow_half",
    "pow_rsqrt",
    "pow_general",
    "pow_per_channel",
    "reciprocal",
    "hard_swish_torch_opset13",
];

#[test]
fn float_operators_match_onnxruntime() {
    for m in FLOAT_MODELS {
        check_float(m);
    }
}

#[test]
fn qdq_element_wise_operators_match_onnxruntime() {
    for (m, r, i) in [
        ("sigmoid", 0, 0),
        ("tanh", 0, 0),
        ("relu", 0, 0),
        ("clip6", 0, 0),
        ("leaky_relu", 0, 1),
        ("hard_swish", 0, 0),
        // No LiteRT kernel: a table with ONNX QDQ arithmetic, exact (every int8 input in
        // the grid model).
        ("hard_sigmoid", 0, 0),
        ("hard_sigmoid_torch_grid", 0, 0),
        // A Mul of the input by itself (LiteRT's fixed-point MUL rescale; 0 LSB measured).
        ("pow2", 0, 0),
        // The input itself.
        ("pow_one", 0, 0),
        // x * HardSigmoid(x), PyTorch's HardSwish before opset 14: the table, then
        // LiteRT's fixed-point MUL of two activations.
        ("hard_swish_torch_opset13", 0, 1),
    ] {
        check_qdq(&format!("{m}_qdq"), r, i);
    }
}

#[test]
fn qdq_data_movement_and_reductions_are_exact() {
    for m in FLOAT_MODELS.iter().filter(|m| {
        !matches!(**m, "sigmoid" | "tanh" | "relu" | "clip6" | "leaky_relu" | "hard_swish" | "sqrt" | "log")
            && !m.starts_with("hard_sigmoid")
            && !m.starts_with("pow")
            && **m != "reciprocal"
            && **m != "hard_swish_torch_opset13"
            && !m.starts_with("conv_transpose")
            && !m.starts_with("matmul")
            && !BROADCAST_MODELS.iter().any(|(b, _)| b == *m)
            && !matches!(**m, "div_bcast_hw" | "max_const_scalar" | "min_const_full" | "div_const_by_act")
    }) {
        check_qdq(&format!("{m}_qdq"), 0, 0);
    }
}

/// ConvTranspose with int8 per-channel weights and an int32 bias: the exact-QDQ reference
/// sums floats (in another order than onnxruntime's GEMM + col2im) and the integer kernels
/// requantize in fixed point, so either may land on the other side of a rounding boundary.
#[test]
fn qdq_conv_transpose_matches_onnxruntime() {
    for m in ["conv_transpose_s2", "conv_transpose_k4s2", "conv_transpose_k2s2_nobias", "conv_transpose_asym"] {
        check_qdq(&format!("{m}_qdq"), 0, 1);
    }
}

/// MatMul of two activations: the exact-QDQ reference sums floats, the integer kernels
/// requantize the exact int32 sum in fixed point (LiteRT's BATCH_MATMUL).
#[test]
fn qdq_matmul_of_two_activations_matches_onnxruntime() {
    for m in ["matmul_self", "matmul_transposed"] {
        check_qdq(&format!("{m}_qdq"), 0, 1);
    }
}

/// Element-wise binary ops of two activations with NumPy broadcasting in QDQ form, and the
/// LSBs their integer kernels may differ by (LiteRT's fixed-point ADD / SUB / MUL rescales;
/// MAXIMUM / MINIMUM copy integers, rescaled when the operands' parameters differ).
const BROADCAST_MODELS: &[(&str, i64)] = &[
    ("add_bcast_hw", 1),
    ("sub_bcast_c", 1),
    ("mul_bcast_hw", 1),
    ("max_bcast_c", 1),
    ("min_bcast_hw", 1),
    ("mul_rank3_last_axis", 1),
];

#[test]
fn qdq_broadcasting_binary_operators_match_onnxruntime() {
    for (m, i) in BROADCAST_MODELS {
        check_qdq(&format!("{m}_qdq"), 0, *i);
    }
}

/// A float constant operand beside a quantized activation (an op the quantizer left in float
/// between a DequantizeLinear and a QuantizeLinear) runs as onnxruntime runs it: the
/// activation dequantized, the op in float, its output quantized.
#[test]
fn qdq_binary_with_a_float_constant_operand_runs_in_float_between_its_qdq() {
    let c = load("max_const_scalar_qdq");
    let ops: Vec<String> = c.g.layers.iter().map(|l| c.g.op_name(l).to_string()).collect();
    let at = ops.iter().position(|o| o == "maximum").expect("a Max layer");
    assert_eq!(&ops[at - 1..=at + 1], ["dequantize", "maximum", "quantize"], "{ops:?}");
    let max = &c.g.layers[at];
    assert!(c.g.activation_inputs(max).all(|t| !t.dtype.is_int()), "the Max runs in float");
    check_qdq("max_const_scalar_qdq", 0, 0);
}

/// Pow whose exponent is not 2 (or 1) and Reciprocal have no integer kernel: their QDQ forms
/// run in float between their QDQ as onnxruntime runs them; an exponent computed by the
/// network is refused naming the node.
#[test]
fn pow_without_an_integer_kernel_runs_in_float_between_its_qdq() {
    for m in ["pow_general_qdq", "reciprocal_qdq"] {
        let c = load(m);
        let ops: Vec<&str> = c.g.layers.iter().map(|l| c.g.op_name(l)).collect();
        assert!(ops.windows(3).any(|w| w[0] == "dequantize" && w[2] == "quantize"), "{m}: {ops:?}");
        check_qdq(m, 0, 0);
    }
    let e = import_onnx(dir().join("pow_by_activation.onnx")).err().expect("refused").to_string();
    assert!(e.contains("operator Pow") && e.contains("an exponent computed by the network (constants only)"), "{e}");
}
